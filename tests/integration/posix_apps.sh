#!/usr/bin/env bash
# POSIX applications test: SQLite databases written by several processes at
# once (WAL and rollback journals), POSIX record locks (conflicts, F_GETLK,
# release on close of any descriptor, upgrade and downgrade, blocking waits,
# EDEADLK, EINTR), OFD locks, flock, fallocate modes, SEEK_DATA/SEEK_HOLE,
# ext4 edge behaviours, mmap and O_DIRECT, all through a real dynamicfs mount. These are the things users
# of FUSE filesystems find broken first: a database corrupted because locks
# were not real is data loss.
#
# Usage: posix_apps.sh /path/to/dynamicfs
# Exit:  0 pass, 1 failure, 77 skipped (not root / no /dev/fuse).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
dfs_require_bin "$@"
dfs_require_root_fuse
dfs_require_tools python3 dd cmp
BIN=$(realpath "$BIN")

dfs_make_tmp

"$BIN" mkfs --volume "$TMP/vol" --disk "$TMP/d0.img" --disk "$TMP/d1.img" --size 512M >/dev/null ||
  die "mkfs failed"
"$BIN" mount --volume "$TMP/vol" "$MNT" || die "mount failed"

# --- SQLite: 6 writers and a reader on one database, both journal modes.
for mode in wal delete; do
  if python3 - "$MNT/db-$mode.sqlite" "$mode" <<'PY'; then
import multiprocessing as mp, sqlite3, sys, time

path, mode = sys.argv[1], sys.argv[2]
WRITERS, ROWS, BATCH = 6, 300, 10

def connect():
    c = sqlite3.connect(path, timeout=60, isolation_level=None)
    c.execute("PRAGMA busy_timeout=60000")
    return c

def writer(w):
    c = connect()
    for i in range(0, ROWS, BATCH):
        c.execute("BEGIN IMMEDIATE")
        for j in range(i, i + BATCH):
            c.execute("INSERT INTO t(w, n, pad) VALUES (?, ?, randomblob(512))", (w, j))
        c.execute("COMMIT")
    c.close()

def reader(stop, bad):
    c = connect()
    last = 0
    while not stop.is_set():
        n = c.execute("SELECT count(*) FROM t").fetchone()[0]
        if n < last:
            bad.set()
        last = n
        time.sleep(0.01)
    c.close()

c = connect()
c.execute(f"PRAGMA journal_mode={mode}")
c.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, w INT, n INT, pad BLOB)")
c.close()
stop, bad = mp.Event(), mp.Event()
r = mp.Process(target=reader, args=(stop, bad))
r.start()
ws = [mp.Process(target=writer, args=(w,)) for w in range(WRITERS)]
for p in ws: p.start()
for p in ws: p.join()
stop.set(); r.join()
c = connect()
ok = c.execute("PRAGMA integrity_check").fetchone()[0]
n = c.execute("SELECT count(*) FROM t").fetchone()[0]
per = c.execute("SELECT count(DISTINCT w || '/' || n) FROM t").fetchone()[0]
codes = [p.exitcode for p in ws]
print(f"{mode}: integrity {ok}, rows {n}, distinct {per}, writer exits {codes}, reader saw a decrease: {bad.is_set()}")
sys.exit(0 if ok == "ok" and n == WRITERS * ROWS and per == n and codes == [0] * WRITERS and not bad.is_set() else 1)
PY
    pass "sqlite ($mode journal): 6 concurrent writers, no lost or corrupt rows"
  else
    fail "sqlite ($mode journal) with concurrent writers"
  fi
done

# --- Record locks, OFD locks and flock between processes.
if python3 - "$MNT/locks" <<'PY'; then
import errno, fcntl, os, signal, struct, sys, time, multiprocessing as mp

path = sys.argv[1]
open(path, "wb").write(b"x" * 4096)
failures = []
def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond: failures.append(what)

def lockdata(t, start, length):
    return struct.pack("hhqqi", t, 0, start, length, 0)

def try_lock(fd, t, start, length, cmd=fcntl.F_SETLK):
    try:
        fcntl.fcntl(fd, cmd, lockdata(t, start, length))
        return 0
    except OSError as e:
        return e.errno

def child(q, go, action):
    fd = os.open(path, os.O_RDWR)
    q.put(action(fd, go))

def run_child(action, go=None):
    q = mp.Queue()
    p = mp.Process(target=child, args=(q, go, action))
    p.start()
    return p, q

# Process A (this one) holds a write lock on [0, 100).
fa = os.open(path, os.O_RDWR)
fcntl.fcntl(fa, fcntl.F_SETLK, lockdata(fcntl.F_WRLCK, 0, 100))
p, q = run_child(lambda fd, go: try_lock(fd, fcntl.F_WRLCK, 50, 10))
r = q.get(timeout=30); p.join()
check(r in (errno.EAGAIN, errno.EACCES), f"conflicting F_SETLK fails with EAGAIN/EACCES (got {r})")
p, q = run_child(lambda fd, go: try_lock(fd, fcntl.F_WRLCK, 100, 10))
r = q.get(timeout=30); p.join()
check(r == 0, "a lock on the next bytes is granted")
def getlk(fd, go):
    res = fcntl.fcntl(fd, fcntl.F_GETLK, lockdata(fcntl.F_WRLCK, 0, 10))
    t, _, start, length, pid = struct.unpack("hhqqi", res)
    return (t, pid)
p, q = run_child(getlk)
t, pid = q.get(timeout=30); p.join()
check(t == fcntl.F_WRLCK and pid == os.getpid(), f"F_GETLK reports the holder (type {t}, pid {pid})")
# Closing ANY descriptor of the file releases the process's POSIX locks.
other = os.open(path, os.O_RDONLY)
os.close(other)
p, q = run_child(lambda fd, go: try_lock(fd, fcntl.F_WRLCK, 50, 10))
r = q.get(timeout=30); p.join()
check(r == 0, "closing another descriptor released the lock (POSIX semantics)")

# Upgrade and downgrade: a read lock, shared with another reader, then
# upgraded once the other reader is gone.
fcntl.fcntl(fa, fcntl.F_SETLK, lockdata(fcntl.F_RDLCK, 0, 100))
p, q = run_child(lambda fd, go: try_lock(fd, fcntl.F_RDLCK, 0, 100))
r = q.get(timeout=30); p.join()
check(r == 0, "two read locks share a range")
check(try_lock(fa, fcntl.F_WRLCK, 0, 100) == 0, "upgrade to a write lock")
p, q = run_child(lambda fd, go: try_lock(fd, fcntl.F_RDLCK, 0, 100))
r = q.get(timeout=30); p.join()
check(r in (errno.EAGAIN, errno.EACCES), f"the upgraded lock excludes readers (got {r})")
check(try_lock(fa, fcntl.F_RDLCK, 0, 100) == 0, "downgrade to a read lock")
p, q = run_child(lambda fd, go: try_lock(fd, fcntl.F_RDLCK, 0, 100))
r = q.get(timeout=30); p.join()
check(r == 0, "after the downgrade another reader shares the range")
p, q = run_child(lambda fd, go: try_lock(fd, fcntl.F_WRLCK, 0, 100))
r = q.get(timeout=30); p.join()
check(r in (errno.EAGAIN, errno.EACCES), f"after the downgrade a writer still waits (got {r})")
fcntl.fcntl(fa, fcntl.F_SETLK, lockdata(fcntl.F_UNLCK, 0, 0))

# A blocking F_SETLKW is granted once the holder lets go.
fcntl.fcntl(fa, fcntl.F_SETLK, lockdata(fcntl.F_WRLCK, 0, 10))
started = mp.Event()
def waiter(fd, go):
    go.set()
    return try_lock(fd, fcntl.F_WRLCK, 0, 10, fcntl.F_SETLKW)
p, q = run_child(waiter, started)
started.wait(30)
fcntl.fcntl(fa, fcntl.F_SETLK, lockdata(fcntl.F_UNLCK, 0, 0))
r = q.get(timeout=60); p.join()
check(r == 0, f"a blocked F_SETLKW is granted when the holder unlocks (got {r})")

# Deadlock: A holds [0,1) and waits for [1,2); B holds [1,2) and asks for [0,1).
fcntl.fcntl(fa, fcntl.F_SETLK, lockdata(fcntl.F_WRLCK, 0, 1))
go = mp.Event()
def b_side(fd, go):
    fcntl.fcntl(fd, fcntl.F_SETLK, lockdata(fcntl.F_WRLCK, 1, 1))
    go.set()
    time.sleep(0.5)  # let A block on [1,2) first (a waiter, not a timing assertion)
    return try_lock(fd, fcntl.F_WRLCK, 0, 1, fcntl.F_SETLKW)
p, q = run_child(b_side, go)
go.wait(30)
ra = try_lock(fa, fcntl.F_WRLCK, 1, 1, fcntl.F_SETLKW)
if ra == errno.EDEADLK:
    # A came second (B already waits for A's [0,1)): A gives way, so B gets it.
    fcntl.fcntl(fa, fcntl.F_SETLK, lockdata(fcntl.F_UNLCK, 0, 0))
rb = q.get(timeout=60); p.join()
check(errno.EDEADLK in (ra, rb), f"the deadlock is detected with EDEADLK (A {ra}, B {rb})")
check(0 in (ra, rb), f"the other side of the deadlock gets its lock (A {ra}, B {rb})")
fcntl.fcntl(fa, fcntl.F_SETLK, lockdata(fcntl.F_UNLCK, 0, 0))

# A blocking wait is interrupted by a signal (EINTR).
fcntl.fcntl(fa, fcntl.F_SETLK, lockdata(fcntl.F_WRLCK, 0, 10))
class Interrupted(Exception):
    pass
def on_alarm(*args):
    # Python retries a syscall that failed with EINTR unless the handler
    # raises; raising proves the wait returned EINTR.
    raise Interrupted()
def interrupted(fd, go):
    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, 0.3)
    try:
        fcntl.fcntl(fd, fcntl.F_SETLKW, lockdata(fcntl.F_WRLCK, 0, 10))
        return 0
    except Interrupted:
        return errno.EINTR
    except OSError as e:
        return e.errno
p, q = run_child(interrupted)
r = q.get(timeout=30); p.join()
check(r == errno.EINTR, f"F_SETLKW is interrupted by a signal (got {r})")
fcntl.fcntl(fa, fcntl.F_SETLK, lockdata(fcntl.F_UNLCK, 0, 0))

# OFD locks belong to the open file description: two in one process conflict.
f1 = os.open(path, os.O_RDWR); f2 = os.open(path, os.O_RDWR)
fcntl.fcntl(f1, fcntl.F_OFD_SETLK, lockdata(fcntl.F_WRLCK, 0, 10))
r = try_lock(f2, fcntl.F_WRLCK, 0, 10, fcntl.F_OFD_SETLK)
check(r in (errno.EAGAIN, errno.EACCES), f"OFD locks of two descriptions conflict (got {r})")
os.close(f1)
check(try_lock(f2, fcntl.F_WRLCK, 0, 10, fcntl.F_OFD_SETLK) == 0, "closing the description releases its OFD lock")
os.close(f2)

# flock: exclusive between processes; released on close.
fcntl.flock(fa, fcntl.LOCK_EX)
def try_flock(fd, go):
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return 0
    except OSError as e:
        return e.errno
p, q = run_child(try_flock)
r = q.get(timeout=30); p.join()
check(r == errno.EWOULDBLOCK, f"flock LOCK_EX|LOCK_NB conflicts (got {r})")
os.close(fa)
p, q = run_child(try_flock)
r = q.get(timeout=30); p.join()
check(r == 0, "flock is released when its descriptor closes")
sys.exit(1 if failures else 0)
PY
  pass "record locks, OFD locks and flock behave like a local filesystem"
else
  fail "lock semantics"
fi

# --- What ext4 gives that FUSE filesystems often get wrong.
if python3 - "$MNT/edge" <<'PY'; then
import os, stat, sys
root = sys.argv[1]
os.mkdir(root)
failures = []
def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond: failures.append(what)
f = os.path.join(root, "f")
open(f, "w").write("data")
os.chmod(f, 0o6755)
os.chown(f, 1000, 1000)
check(stat.S_IMODE(os.stat(f).st_mode) == 0o755, "chown clears setuid and setgid")
link = os.path.join(root, "link")
os.symlink("f", link)
os.utime(link, (1000000, 1000000), follow_symlinks=False)
check(os.lstat(link).st_mtime == 1000000 and os.stat(f).st_mtime != 1000000,
      "utimensat(AT_SYMLINK_NOFOLLOW) changes the link, not its target")
big = os.path.join(root, "big")
fd = os.open(big, os.O_CREAT | os.O_RDWR)
off = (8 << 40) - 4096
os.pwrite(fd, b"z" * 4096, off)
check(os.fstat(fd).st_size == 8 << 40 and os.pread(fd, 4, off) == b"zzzz", "64-bit offsets up to 8 TiB")
os.close(fd)
os.makedirs(os.path.join(root, "a", "b"))
os.mkdir(os.path.join(root, "c"))
os.link(f, os.path.join(root, "c", "hard"))
check(os.stat(f).st_nlink == 2, "a hard link in another directory counts")
check(os.stat(os.path.join(root, "a")).st_nlink == 3, "a directory's link count includes its subdirectories")
ino_before = os.stat(f).st_ino
# An unlinked file stays readable (and truncatable) while open.
u = os.path.join(root, "unlinked")
open(u, "w").write("still here")
fd = os.open(u, os.O_RDWR)
os.unlink(u)
check(os.pread(fd, 10, 0) == b"still here", "an open file stays readable after unlink")
os.ftruncate(fd, 5)
check(os.pread(fd, 10, 0) == b"still" and os.fstat(fd).st_size == 5, "truncate of an open, unlinked file")
os.close(fd)
# readdir offsets stay valid while the directory changes: names present
# throughout are returned exactly once.
d = os.path.join(root, "many")
os.mkdir(d)
for i in range(300):
    open(os.path.join(d, f"keep{i}"), "w").close()
    if i % 10 == 0:
        open(os.path.join(d, f"gone{i}"), "w").close()
seen = []
with os.scandir(d) as it:
    for n, e in enumerate(it):
        seen.append(e.name)
        if n % 10 == 0:
            open(os.path.join(d, f"new{n}"), "w").close()
            if os.path.exists(os.path.join(d, f"gone{n}")):
                os.unlink(os.path.join(d, f"gone{n}"))
kept = [x for x in seen if x.startswith("keep")]
check(sorted(kept) == sorted(f"keep{i}" for i in range(300)) and len(kept) == 300,
      "readdir returns every stable name exactly once while the directory changes")
# rewinddir: the stream then shows the directory as it is now.
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.opendir.restype = ctypes.c_void_p
libc.opendir.argtypes = [ctypes.c_char_p]
libc.readdir.restype = ctypes.c_void_p
libc.readdir.argtypes = [ctypes.c_void_p]
libc.rewinddir.argtypes = [ctypes.c_void_p]
libc.closedir.argtypes = [ctypes.c_void_p]
NAME_OFF = 19  # struct dirent64: d_ino 8, d_off 8, d_reclen 2, d_type 1, then d_name
def names(dirp):
    out = []
    while True:
        ent = libc.readdir(dirp)
        if not ent:
            return out
        out.append(ctypes.string_at(ent + NAME_OFF).decode())
rd = os.path.join(root, "rewind")
os.mkdir(rd)
open(os.path.join(rd, "old"), "w").close()
dirp = libc.opendir(rd.encode())
first = names(dirp)
open(os.path.join(rd, "new"), "w").close()
os.unlink(os.path.join(rd, "old"))
libc.rewinddir(dirp)
second = names(dirp)
libc.closedir(dirp)
check("old" in first and "new" in second and "old" not in second,
      f"rewinddir shows entries made and removed since opendir ({first} -> {second})")
open(os.path.join(root, "ino"), "w").write(str(ino_before))
sys.exit(1 if failures else 0)
PY
  pass "ext4 behaviours: chown, symlink times, 8 TiB offsets, link counts, unlinked-open files, readdir"
else
  fail "ext4 behaviours"
fi

# A shared writable mapping, made durable with msync, survives the remount.
if python3 - "$MNT/mapped" <<'PY'; then
import mmap, os, sys
fd = os.open(sys.argv[1], os.O_CREAT | os.O_RDWR)
os.ftruncate(fd, 1 << 20)
m = mmap.mmap(fd, 1 << 20, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
m[4096:4107] = b"mapped data"
m.flush()  # msync(MS_SYNC)
m.close()
os.close(fd)
PY
  pass "shared writable mmap and msync"
else
  fail "shared writable mmap"
fi

# st_ino is stable across a remount (inode numbers are stored).
"$BIN" umount "$MNT" || die "umount failed"
"$BIN" mount --volume "$TMP/vol" "$MNT" || die "remount failed"
if [[ "$(dd if="$MNT/mapped" bs=1 skip=4096 count=11 status=none)" == "mapped data" ]]; then
  pass "bytes written through mmap are there after the remount"
else
  fail "bytes written through mmap were lost"
fi
if [[ "$(stat -c %i "$MNT/edge/f")" == "$(cat "$MNT/edge/ino")" ]]; then
  pass "st_ino is stable across remount"
else
  fail "st_ino changed across remount"
fi

# --- fallocate modes and SEEK_DATA/SEEK_HOLE through the mount.
if python3 - "$MNT/falloc" "$MNT" <<'PY'; then
import ctypes, errno, os, sys

path, mnt = sys.argv[1], sys.argv[2]
libc = ctypes.CDLL(None, use_errno=True)
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
KEEP_SIZE, PUNCH_HOLE, COLLAPSE_RANGE, ZERO_RANGE, INSERT_RANGE = 0x1, 0x2, 0x8, 0x10, 0x20
MiB = 1 << 20
failures = []
def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond: failures.append(what)
def falloc(fd, mode, off, length):
    return 0 if libc.fallocate(fd, mode, off, length) == 0 else ctypes.get_errno()
def seek(fd, off, whence):
    try:
        return os.lseek(fd, off, whence)
    except OSError as e:
        return -e.errno
def free_bytes():
    st = os.statvfs(mnt)
    return st.f_bavail * st.f_frsize

fd = os.open(path, os.O_CREAT | os.O_RDWR | os.O_TRUNC, 0o644)
os.write(fd, b"\xab" * (8 * MiB))
os.fsync(fd)
blocks_full = os.fstat(fd).st_blocks
free_full = free_bytes()
check(falloc(fd, PUNCH_HOLE | KEEP_SIZE, 2 * MiB, 4 * MiB) == 0, "PUNCH_HOLE of 4 MiB")
os.fsync(fd)
st = os.fstat(fd)
check(st.st_size == 8 * MiB, f"the punch keeps the size ({st.st_size})")
check(blocks_full - st.st_blocks >= 4 * MiB // 512,
      f"the punch frees the file's blocks ({blocks_full} -> {st.st_blocks} sectors)")
check(free_bytes() - free_full >= 4 * MiB,
      f"the punch returns space to the pool ({free_bytes() - free_full} bytes)")
data = os.pread(fd, 8 * MiB, 0)
check(data[:2 * MiB] == b"\xab" * (2 * MiB) and data[6 * MiB:] == b"\xab" * (2 * MiB)
      and data[2 * MiB:6 * MiB] == bytes(4 * MiB), "the hole reads as zeros, the rest is kept")
check(seek(fd, 0, os.SEEK_DATA) == 0, "SEEK_DATA from 0 is 0")
check(seek(fd, 0, os.SEEK_HOLE) == 2 * MiB, f"SEEK_HOLE from 0 finds the hole ({seek(fd, 0, os.SEEK_HOLE)})")
check(seek(fd, 2 * MiB, os.SEEK_DATA) == 6 * MiB,
      f"SEEK_DATA in the hole finds the data after it ({seek(fd, 2 * MiB, os.SEEK_DATA)})")
check(seek(fd, 6 * MiB, os.SEEK_HOLE) == 8 * MiB, "SEEK_HOLE in the last data is the end of file")
check(seek(fd, 8 * MiB, os.SEEK_DATA) == -errno.ENXIO, "SEEK_DATA at the end of file is ENXIO")
check(falloc(fd, ZERO_RANGE, 0, 4096) == 0 and os.pread(fd, 4096, 0) == bytes(4096)
      and os.fstat(fd).st_size == 8 * MiB, "ZERO_RANGE zeroes a block and keeps the size")
check(falloc(fd, KEEP_SIZE, 8 * MiB, MiB) == 0 and os.fstat(fd).st_size == 8 * MiB,
      "KEEP_SIZE beyond the end keeps the size")
check(falloc(fd, 0, 8 * MiB, MiB) == 0 and os.fstat(fd).st_size == 9 * MiB
      and os.pread(fd, MiB, 8 * MiB) == bytes(MiB), "mode 0 beyond the end grows the file with zeros")
for name, mode in (("COLLAPSE_RANGE", COLLAPSE_RANGE), ("INSERT_RANGE", INSERT_RANGE)):
    r = falloc(fd, mode, 0, MiB)
    check(r == errno.EOPNOTSUPP, f"{name} is refused with EOPNOTSUPP (got {r})")
before = os.pread(fd, 9 * MiB, 0)
r = falloc(fd, 0, 0, 1 << 40)
check(r == errno.ENOSPC, f"fallocate of 1 TiB on a 1 GiB pool is ENOSPC (got {r})")
check(os.fstat(fd).st_size == 9 * MiB and os.pread(fd, 9 * MiB, 0) == before,
      "the refused fallocate changed nothing")
os.close(fd)
# A sparse file: data only where written.
fd = os.open(path + ".sparse", os.O_CREAT | os.O_RDWR, 0o644)
os.ftruncate(fd, 16 * MiB)
os.pwrite(fd, b"x" * 4096, 8 * MiB)
os.fsync(fd)
check(seek(fd, 0, os.SEEK_DATA) == 8 * MiB, "SEEK_DATA skips the leading hole of a sparse file")
check(seek(fd, 8 * MiB, os.SEEK_HOLE) == 8 * MiB + 4096, "SEEK_HOLE after the written block")
os.close(fd)
sys.exit(1 if failures else 0)
PY
  pass "fallocate (punch, zero range, keep size, ENOSPC, EOPNOTSUPP) and SEEK_DATA/SEEK_HOLE"
else
  fail "fallocate and SEEK_DATA/SEEK_HOLE"
fi

# --- O_DIRECT: opens work and the bytes round-trip.
head -c $((8 * 1024 * 1024)) /dev/urandom >"$TMP/direct.src"
if dd if="$TMP/direct.src" of="$MNT/direct" bs=1M oflag=direct status=none &&
  dd if="$MNT/direct" of="$TMP/direct.back" bs=1M iflag=direct status=none &&
  cmp -s "$TMP/direct.src" "$TMP/direct.back"; then
  pass "O_DIRECT writes and reads round-trip"
else
  fail "O_DIRECT round trip"
fi
# Like a block device: 512-byte aligned offsets and sizes work, others are
# refused with EINVAL and change nothing.
if dd if="$TMP/direct.src" of="$MNT/direct" bs=512 count=3 seek=1 conv=notrunc oflag=direct \
  status=none; then
  pass "O_DIRECT with 512-byte aligned I/O"
else
  fail "O_DIRECT with 512-byte aligned I/O was refused"
fi
before=$(sha256sum <"$MNT/direct")
if dd if="$TMP/direct.src" of="$MNT/direct" bs=100 count=1 conv=notrunc oflag=direct \
  status=none 2>"$TMP/direct.err"; then
  fail "an unaligned O_DIRECT write was accepted"
elif grep -q "Invalid argument" "$TMP/direct.err" && [[ "$(sha256sum <"$MNT/direct")" == "$before" ]]; then
  pass "an unaligned O_DIRECT write fails with EINVAL and changes nothing"
else
  fail "unaligned O_DIRECT write: $(cat "$TMP/direct.err")"
fi

if ((FAILURES > 0)); then
  echo "FAILED: $FAILURES check(s)" >&2
  exit 1
fi
echo PASS
