#!/usr/bin/env python3
"""Syscall-level checks for conformance.sh, one subcommand each.

Each prints one line per check ("ok: ..." or "FAIL: ...") and exits 1 if
any failed. Used only through conformance.sh, on a mounted dynamicfs.
"""
import ctypes
import errno
import mmap
import os
import random
import sys
import threading

FAILED = []


def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + what, flush=True)
    if not cond:
        FAILED.append(what)


def aligned(size, byte):
    """A page-aligned buffer of SIZE bytes of BYTE (O_DIRECT needs alignment)."""
    buf = mmap.mmap(-1, size)
    buf.write(bytes([byte]) * size)
    return buf


def direct_coherence(path, rounds):
    """Buffered readers race with O_DIRECT writes of alternating patterns;
    after each write returns, a buffered read through a descriptor that has
    the pages cached sees the new bytes."""
    seed = int(os.environ.get("DFS_SEED", random.randrange(1 << 30)))
    print(f"direct_coherence seed {seed}", flush=True)
    rng = random.Random(seed)
    chunk, chunks = 128 << 10, 16
    with open(path, "wb") as f:
        f.write(b"\0" * chunk * chunks)
    stop = threading.Event()

    def reader():
        fd = os.open(path, os.O_RDONLY)
        while not stop.is_set():
            os.pread(fd, chunk * chunks, 0)
        os.close(fd)

    readers = [threading.Thread(target=reader) for _ in range(3)]
    for t in readers:
        t.start()
    dfd = os.open(path, os.O_RDWR | os.O_DIRECT)
    cached = os.open(path, os.O_RDONLY)
    stale = 0
    try:
        for i in range(rounds):
            pattern = 0xA5 if i % 2 == 0 else 0x5A
            n = rng.randrange(chunks)
            os.pwritev(dfd, [aligned(chunk, pattern)], n * chunk)
            got = os.pread(cached, chunk, n * chunk)
            if got != bytes([pattern]) * chunk:
                stale += 1
    finally:
        stop.set()
        for t in readers:
            t.join()
        os.close(dfd)
        os.close(cached)
    check(stale == 0, f"buffered reads after {rounds} O_DIRECT writes see the new bytes "
                      f"({stale} stale)")


def expect_pattern(path, byte):
    """After asynchronous direct writes (fio): the cached view holds BYTE."""
    with open(path, "rb") as f:
        data = f.read()
    check(len(data) > 0 and data == bytes([byte]) * len(data),
          f"buffered read after AIO direct writes sees 0x{byte:02x} everywhere")


def direct_mmap(path):
    """mmap of an O_DIRECT descriptor works; O_DIRECT keeps its alignment
    rule (EINVAL for a misaligned offset or length)."""
    size = 64 << 10
    with open(path, "wb") as f:
        f.write(b"x" * size)
    fd = os.open(path, os.O_RDWR | os.O_DIRECT)
    try:
        m = mmap.mmap(fd, size)
        m[0:5] = b"hello"
        m.flush()
        m.close()
        check(True, "mmap of a file opened with O_DIRECT")
    except OSError as e:
        check(False, f"mmap of a file opened with O_DIRECT: {e}")
    try:
        os.pwrite(fd, b"abc", 1)
        check(False, "a misaligned O_DIRECT write fails with EINVAL")
    except OSError as e:
        check(e.errno == errno.EINVAL, f"a misaligned O_DIRECT write fails with EINVAL ({e})")
    os.close(fd)
    with open(path, "rb") as f:
        check(f.read(5) == b"hello", "what was written through the mapping reads back")


def seek_negative(path):
    with open(path, "wb") as f:
        f.write(b"data" * 1024)
    fd = os.open(path, os.O_RDONLY)
    for name, whence in (("SEEK_DATA", os.SEEK_DATA), ("SEEK_HOLE", os.SEEK_HOLE)):
        try:
            os.lseek(fd, -1, whence)
            check(False, f"{name} from a negative offset fails")
        except OSError as e:
            check(e.errno == errno.ENXIO, f"{name} from a negative offset fails with ENXIO ({e})")
    os.close(fd)


def ro_errors(mnt):
    """On a read-only remount: EEXIST for names that exist, EROFS otherwise."""
    def errno_of(fn):
        try:
            fn()
            return 0
        except OSError as e:
            return e.errno
    existing = os.path.join(mnt, "exists")
    check(errno_of(lambda: os.mkdir(existing)) == errno.EEXIST,
          "read-only: mkdir of an existing name gives EEXIST")
    check(errno_of(lambda: os.open(existing, os.O_CREAT | os.O_EXCL | os.O_WRONLY)) ==
          errno.EEXIST, "read-only: O_CREAT|O_EXCL of an existing name gives EEXIST")
    check(errno_of(lambda: os.open(os.path.join(mnt, "new"), os.O_CREAT | os.O_WRONLY)) ==
          errno.EROFS, "read-only: creating a new file gives EROFS")
    check(errno_of(lambda: os.open(existing, os.O_WRONLY)) == errno.EROFS,
          "read-only: opening for writing gives EROFS")
    check(errno_of(lambda: os.mkdir(os.path.join(mnt, "newdir"))) == errno.EROFS,
          "read-only: mkdir gives EROFS")


class FileHandle(ctypes.Structure):
    _fields_ = [("handle_bytes", ctypes.c_uint), ("handle_type", ctypes.c_int),
                ("f_handle", ctypes.c_ubyte * 128)]


def libc():
    lib = ctypes.CDLL(None, use_errno=True)
    lib.name_to_handle_at.argtypes = [ctypes.c_int, ctypes.c_char_p,
                                      ctypes.POINTER(FileHandle),
                                      ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    lib.open_by_handle_at.argtypes = [ctypes.c_int, ctypes.POINTER(FileHandle), ctypes.c_int]
    return lib


def handle_save(path, out):
    """name_to_handle_at: writes the handle to OUT."""
    h = FileHandle()
    h.handle_bytes = 128
    mount_id = ctypes.c_int()
    rc = libc().name_to_handle_at(-100, path.encode(), ctypes.byref(h), ctypes.byref(mount_id), 0)
    check(rc == 0, f"name_to_handle_at ({os.strerror(ctypes.get_errno()) if rc else 'ok'})")
    with open(out, "wb") as f:
        f.write(bytes(h))


def handle_open(mnt, saved, expect):
    """open_by_handle_at with a handle saved before a remount."""
    h = FileHandle.from_buffer_copy(open(saved, "rb").read())
    mfd = os.open(mnt, os.O_RDONLY | os.O_DIRECTORY)
    fd = libc().open_by_handle_at(mfd, ctypes.byref(h), os.O_RDONLY)
    os.close(mfd)
    if fd < 0:
        check(False, f"open_by_handle_at after a remount: {os.strerror(ctypes.get_errno())}")
        return
    data = os.read(fd, 1 << 16)
    os.close(fd)
    check(data == expect.encode(), "open_by_handle_at after a remount opens the same file")


def handle_stale(mnt, saved):
    """open_by_handle_at with the handle of a deleted file: ESTALE."""
    h = FileHandle.from_buffer_copy(open(saved, "rb").read())
    mfd = os.open(mnt, os.O_RDONLY | os.O_DIRECTORY)
    fd = libc().open_by_handle_at(mfd, ctypes.byref(h), os.O_RDONLY)
    err = ctypes.get_errno()
    os.close(mfd)
    if fd >= 0:
        os.close(fd)
    check(fd < 0 and err == errno.ESTALE,
          f"open_by_handle_at of a deleted file gives ESTALE ({os.strerror(err) if fd < 0 else 'opened'})")


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "direct_coherence":
        direct_coherence(args[0], int(args[1]))
    elif cmd == "expect_pattern":
        expect_pattern(args[0], int(args[1], 0))
    elif cmd == "direct_mmap":
        direct_mmap(args[0])
    elif cmd == "seek_negative":
        seek_negative(args[0])
    elif cmd == "ro_errors":
        ro_errors(args[0])
    elif cmd == "handle_save":
        handle_save(args[0], args[1])
    elif cmd == "handle_open":
        handle_open(args[0], args[1], args[2])
    elif cmd == "handle_stale":
        handle_stale(args[0], args[1])
    else:
        sys.exit(f"unknown check {cmd}")
    sys.exit(1 if FAILED else 0)


if __name__ == "__main__":
    main()
