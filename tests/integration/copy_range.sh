#!/usr/bin/env bash
# Instant copies: copy_file_range(2) shares extents instead of copying bytes.
# Checks, through a real mount:
#   - `cp --reflink=auto` (coreutils >= 9 uses copy_file_range) of a large
#     file takes no extra space and gives identical bytes;
#   - random partial, unaligned and same-file copies, interleaved with writes,
#     truncates and punched holes on both sides, always match a byte model
#     (the seed is printed; DFS_SEED=N repeats a run);
#   - overlapping ranges of one file are refused with EINVAL;
#   - shared blocks survive a clean remount and a SIGKILL (the reference
#     counts are rebuilt from the extent map), and deleting every copy gives
#     all of the space back.
#
# Usage: copy_range.sh /path/to/dynamicfs
# Exit:  0 pass, 1 failure, 77 skipped (not root / no /dev/fuse).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
dfs_require_bin "$@"
dfs_require_root_fuse
dfs_require_tools python3 cp cmp sha256sum
BIN=$(realpath "$BIN")

dfs_make_tmp
VOL=$TMP/vol

BIG_MIB=${DFS_COPY_MIB:-512}
"$BIN" mkfs --volume "$VOL" --disk "$TMP/d0.img" --disk "$TMP/d1.img" --size 1G >/dev/null ||
  die "mkfs failed"
"$BIN" mount --volume "$VOL" "$MNT" || die "mount failed"

# Used bytes of the pool, once every freed block has been recycled (the
# background sync makes frees reusable within about a second).
used_bytes() { stat -f -c '%b %f %S' "$MNT" | awk '{print ($1 - $2) * $3}'; }
settled_used() {
  sync -f "$MNT"
  local a b
  a=$(used_bytes)
  for _ in $(seq 1 50); do
    sleep 0.1
    b=$(used_bytes)
    [[ "$a" == "$b" ]] && break
    a=$b
  done
  echo "$a"
}
BASE=$(settled_used)

# ------------------------------------------------ cp --reflink=auto, large
head -c $((BIG_MIB << 20)) /dev/urandom >"$MNT/big"
sync -f "$MNT"
BIG_SUM=$(sha256sum <"$MNT/big" | awk '{print $1}')
before=$(settled_used)
start=$(now_ms)
cp --reflink=auto "$MNT/big" "$MNT/big.copy" || fail "cp --reflink=auto failed"
took=$(($(now_ms) - start))
after=$(settled_used)
echo "cp --reflink=auto of $BIG_MIB MiB took $took ms; pool use $((before >> 20)) MiB before, grew by $(((after - before) >> 10)) KiB"
# A byte copy would need BIG_MIB more; sharing needs only metadata.
if ((after - before < (8 << 20))); then
  pass "copy of $BIG_MIB MiB took no extra space"
else
  fail "copy of $BIG_MIB MiB used $(((after - before) >> 20)) MiB"
fi
cmp "$MNT/big" "$MNT/big.copy" && pass "the copy is identical" || fail "the copy differs"
python3 - "$MNT" <<'PY' || fail "copy_file_range syscall checks"
import errno, os, sys
mnt = sys.argv[1]
fd = os.open(f"{mnt}/big", os.O_RDWR)
try:
    os.copy_file_range(fd, fd, 1 << 20, 0, 4096)  # [0,1M) onto [4K, 1M+4K)
    print("overlapping same-file copy was accepted", file=sys.stderr)
    sys.exit(1)
except OSError as e:
    if e.errno != errno.EINVAL:
        raise
print("ok: overlapping ranges of one file: EINVAL")
# Past the end of the source there is nothing to copy.
out = os.open(f"{mnt}/empty-target", os.O_CREAT | os.O_WRONLY, 0o644)
size = os.fstat(fd).st_size
n = os.copy_file_range(fd, out, 4096, size + 100, 0)
assert n == 0, f"copy past EOF returned {n}"
print("ok: copy from past the end returns 0")
PY

# ---------------------------------------- random copies against a model
SEED=${DFS_SEED:-$RANDOM$RANDOM}
echo "copy model seed: DFS_SEED=$SEED"
python3 - "$MNT" "$SEED" <<'PY' || fail "random copies differ from the model (DFS_SEED=$SEED)"
import ctypes, os, random, sys
mnt, seed = sys.argv[1], int(sys.argv[2])
libc = ctypes.CDLL(None, use_errno=True)
rng = random.Random(seed)
B = 4096
NFILES, MAXSZ = 4, 3 << 20
model = [bytearray() for _ in range(NFILES)]
paths = [f"{mnt}/m{i}" for i in range(NFILES)]
fds = [os.open(p, os.O_CREAT | os.O_RDWR | os.O_TRUNC, 0o644) for p in paths]

def offset():
    # Half block aligned, half anywhere, so both sharing and edge copies run.
    o = rng.randrange(0, MAXSZ)
    return o - o % B if rng.random() < 0.5 else o

def write(i, off, data):
    m = model[i]
    if len(m) < off:
        m.extend(b"\0" * (off - len(m)))
    m[off:off + len(data)] = data
    assert os.pwrite(fds[i], data, off) == len(data)

for i in range(NFILES):
    write(i, 0, rng.randbytes(rng.randrange(B, MAXSZ)))

ops = {"copy": 0, "write": 0, "truncate": 0, "punch": 0}
for step in range(400):
    kind = rng.choices(["copy", "write", "truncate", "punch"], [6, 2, 1, 1])[0]
    i = rng.randrange(NFILES)
    if kind == "copy":
        j = rng.randrange(NFILES)
        src_off, dst_off = offset(), offset()
        length = rng.choice([rng.randrange(1, 3 * B), rng.randrange(1, MAXSZ)])
        if i == j and src_off < dst_off + length and dst_off < src_off + length:
            continue  # overlapping: refused, checked elsewhere
        want = max(0, min(length, len(model[i]) - src_off))
        done = 0
        while done < want:  # copy_file_range may copy less; loop like cp
            n = os.copy_file_range(fds[i], fds[j], want - done, src_off + done, dst_off + done)
            if n == 0:
                break
            done += n
        assert done == want, f"step {step}: copied {done} of {want}"
        if want:
            data = bytes(model[i][src_off:src_off + want])
            m = model[j]
            if len(m) < dst_off:
                m.extend(b"\0" * (dst_off - len(m)))
            m[dst_off:dst_off + want] = data
    elif kind == "write":
        write(i, offset(), rng.randbytes(rng.randrange(1, 5 * B)))
    elif kind == "truncate":
        size = offset()
        os.ftruncate(fds[i], size)
        m = model[i]
        del m[size:]
        m.extend(b"\0" * (size - len(m)))
    else:
        off, length = offset(), rng.randrange(1, 64 * B)
        # FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
        if libc.fallocate(fds[i], 3, ctypes.c_long(off), ctypes.c_long(length)) != 0:
            raise OSError(ctypes.get_errno(), "fallocate punch")
        m = model[i]
        end = min(off + length, len(m))
        if off < end:
            m[off:end] = b"\0" * (end - off)
    ops[kind] += 1
    if step % 25 == 24 or step == 399:
        for k in range(NFILES):
            got = os.pread(fds[k], len(model[k]) + B, 0)
            if got != bytes(model[k]):
                bad = next((x for x in range(min(len(got), len(model[k])))
                            if got[x] != model[k][x]), min(len(got), len(model[k])))
                print(f"step {step} ({kind}): m{k} differs at byte {bad} "
                      f"(size {len(got)}, model {len(model[k])})", file=sys.stderr)
                sys.exit(1)
print(f"ok: {ops} match the model")
for k in range(NFILES):
    with open(f"{paths[k]}.model", "wb") as f:
        f.write(model[k])
PY
models_match() {
  local f
  for f in "$MNT"/m?; do cmp -s "$f" "$f.model" || return 1; done
}

# ------------------------------------------------ remounts and a crash
"$BIN" umount "$MNT" || fail "umount failed"
"$BIN" mount --volume "$VOL" "$MNT" || die "remount failed"
models_match && pass "copies match the model after a clean remount" ||
  fail "copies differ after a clean remount"
[[ "$(sha256sum <"$MNT/big.copy" | awk '{print $1}')" == "$BIG_SUM" ]] &&
  pass "big.copy intact after remount" || fail "big.copy changed after remount"

# One more shared copy, then SIGKILL: the shared counts come back from the
# extent map.
cp --reflink=auto "$MNT/big" "$MNT/big.copy2" || fail "second cp failed"
sync "$MNT/big.copy2" "$MNT"  # fsync: only fsync'd data is promised to survive a crash
DAEMON_PID=$(cat "$VOL/daemon.pid")
kill -KILL "$DAEMON_PID"
poll_until 10 test ! -e "/proc/$DAEMON_PID" || fail "daemon still alive after SIGKILL"
"$BIN" umount "$MNT" 2>/dev/null || umount -l "$MNT"
"$BIN" mount --volume "$VOL" "$MNT" || die "mount after SIGKILL failed"
models_match && pass "copies match the model after SIGKILL" || fail "copies differ after SIGKILL"
for f in big big.copy big.copy2; do
  [[ "$(sha256sum <"$MNT/$f" | awk '{print $1}')" == "$BIG_SUM" ]] ||
    fail "$f changed after SIGKILL"
done

# Dropping one copy frees nothing the others still use; dropping all frees
# everything.
rm "$MNT/big"
[[ "$(sha256sum <"$MNT/big.copy2" | awk '{print $1}')" == "$BIG_SUM" ]] &&
  pass "a copy stays intact after the original is deleted" ||
  fail "deleting the original damaged a copy"
rm -f "$MNT"/big.copy "$MNT"/big.copy2 "$MNT"/m? "$MNT"/m?.model "$MNT/empty-target"
end=$(settled_used)
echo "pool use: $((BASE >> 10)) KiB at the start, $((end >> 10)) KiB after deleting every file"
if ((end - BASE < (4 << 20) && BASE - end < (4 << 20))); then
  pass "deleting every copy returned the space"
else
  fail "space not returned: $(((end - BASE) >> 20)) MiB still used"
fi
"$BIN" umount "$MNT" || fail "final umount failed"

if [[ $FAILURES -ne 0 ]]; then
  echo "FAIL: $FAILURES check(s) failed" >&2
  exit 1
fi
echo "PASS"
