#!/usr/bin/env bash
# Kills in the middle of operations: with fault injection on, the daemon can
# be told to SIGKILL itself at a named point in the code (see
# src/common/crash_point.h). For each point an operation is started, the
# daemon dies right there, the dead mount is detached, fsck must find the
# volume clean, and after a remount the operation must be all or nothing:
#   - metadata group commit, before its RocksDB write: the change is absent;
#     after the write (not yet synced): a whole directory or none (never a
#     name without its inode, or a wrong link count; fsck checks);
#   - rename over an existing file: both files as they were;
#   - truncate to an unaligned size (copy-on-write of the boundary block):
#     the file as it was;
#   - punch hole with partial edge blocks: the file as it was;
#   - copy_file_range of whole blocks (shared extents): the target as it was.
# Each is paired with the same operation run to completion after the
# remount, which must give the new state (so the checks can fail).
#
# Usage: kill_points.sh /path/to/dynamicfs
# Exit:  0 pass, 1 failure, 77 skipped (not root / no /dev/fuse).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
dfs_require_bin "$@"
dfs_require_root_fuse
dfs_require_tools python3 cmp
BIN=$(realpath "$BIN")

dfs_make_tmp
VOL=$TMP/vol
export DYNAMICFS_FAULT_INJECTION=1

"$BIN" mkfs --volume "$VOL" --disk "$TMP/d0.img" --disk "$TMP/d1.img" --size 128M >/dev/null ||
  die "mkfs failed"
mount_vol() { "$BIN" mount --volume "$VOL" "$MNT" || die "mount failed"; }

# crash_at POINT CMD...: arms POINT, runs CMD (which the daemon's death
# interrupts), waits for the daemon to be gone, detaches the mount, checks
# fsck and remounts.
crash_at() {
  local point=$1 pid
  shift
  pid=$(cat "$VOL/daemon.pid")
  "$BIN" debug crash-point "$MNT" "$point" || die "arming $point failed"
  if "$@" 2>/dev/null; then
    fail "$point: the operation finished although the daemon should have died"
  fi
  poll_until 20 test ! -d "/proc/$pid" || die "$point: the daemon is still alive"
  umount -l "$MNT" 2>/dev/null || fusermount3 -u -z "$MNT" 2>/dev/null || true
  if "$BIN" fsck --volume "$VOL" >"$TMP/fsck.out" 2>&1; then
    pass "$point: fsck is clean after the kill"
  else
    fail "$point: fsck after the kill: $(cat "$TMP/fsck.out")"
  fi
  mount_vol
}
py() { python3 -c "$@"; }
same() {  # same NAME FILE-IN-MOUNT REFERENCE
  dfs_drop_cache "$2"
  cmp -s "$2" "$3" && pass "$1" || fail "$1"
}

mount_vol
mkdir "$TMP/ref"

# ---------------------------------------------------------- group commit
sync "$MNT"
crash_at group_commit.before_write mkdir "$MNT/never"
[[ ! -e "$MNT/never" ]] && pass "killed before the metadata write: the mkdir is absent" ||
  fail "killed before the metadata write: the mkdir is there"
crash_at group_commit.after_write mkdir "$MNT/written"
if [[ ! -e "$MNT/written" ]] ||
  [[ -d "$MNT/written" && "$(stat -c %h "$MNT/written")" == 2 && -z "$(ls -A "$MNT/written")" ]]; then
  pass "killed after the metadata write: the mkdir is all or nothing"
else
  fail "killed after the metadata write: a half-made directory"
fi

# ---------------------------------------------------------------- rename
echo "old a" >"$MNT/a" && echo "old b" >"$MNT/b" && sync "$MNT/a" "$MNT/b" "$MNT"
crash_at rename.before_commit py "import os; os.rename('$MNT/a', '$MNT/b')"
[[ "$(cat "$MNT/a" 2>/dev/null)" == "old a" && "$(cat "$MNT/b")" == "old b" ]] &&
  pass "rename killed before its commit: both files as they were" ||
  fail "rename killed before its commit: a='$(cat "$MNT/a" 2>/dev/null)' b='$(cat "$MNT/b")'"
py "import os; os.rename('$MNT/a', '$MNT/b')"
[[ ! -e "$MNT/a" && "$(cat "$MNT/b")" == "old a" ]] && pass "the same rename completes" ||
  fail "the same rename did not complete"

# -------------------------------------------------------------- truncate
head -c $((1048576 + 100)) /dev/urandom >"$TMP/ref/t"
cp "$TMP/ref/t" "$MNT/t" && sync "$MNT/t" "$MNT"
crash_at truncate.before_commit truncate -s 300000 "$MNT/t"
same "truncate killed before its commit: the file as it was" "$MNT/t" "$TMP/ref/t"
truncate -s 300000 "$MNT/t" "$TMP/ref/t"
same "the same truncate completes" "$MNT/t" "$TMP/ref/t"

# ------------------------------------------------------------ punch hole
head -c $((1 << 20)) /dev/urandom >"$TMP/ref/p"
cp "$TMP/ref/p" "$MNT/p" && sync "$MNT/p" "$MNT"
punch='import os, sys, fcntl, ctypes
libc = ctypes.CDLL(None, use_errno=True)
fd = os.open(sys.argv[1], os.O_RDWR)
# FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
if libc.fallocate(fd, 3, ctypes.c_long(5000), ctypes.c_long(300000)) != 0:
    sys.exit(1)
os.close(fd)'
crash_at punch.before_commit python3 -c "$punch" "$MNT/p"
same "punch killed before its commit: the file as it was" "$MNT/p" "$TMP/ref/p"
python3 -c "$punch" "$MNT/p" || fail "punch failed"
python3 -c "$punch" "$TMP/ref/p" || fail "punch of the reference failed"
same "the same punch completes (zeros in the hole)" "$MNT/p" "$TMP/ref/p"

# ------------------------------------------------------- copy_file_range
head -c $((2 << 20)) /dev/urandom >"$TMP/ref/src"
head -c $((1 << 20)) /dev/urandom >"$TMP/ref/dst"
cp "$TMP/ref/src" "$MNT/src" && cp "$TMP/ref/dst" "$MNT/dst" && sync "$MNT/src" "$MNT/dst" "$MNT"
copy='import os, sys
s = os.open(sys.argv[1], os.O_RDONLY)
d = os.open(sys.argv[2], os.O_WRONLY)
done = 0
while done < (1 << 20):
    n = os.copy_file_range(s, d, (1 << 20) - done, 4096 + done, done)
    if n == 0:
        sys.exit(1)
    done += n'
crash_at copy_range.before_commit python3 -c "$copy" "$MNT/src" "$MNT/dst"
same "copy_file_range killed before its commit: the target as it was" "$MNT/dst" "$TMP/ref/dst"
python3 -c "$copy" "$MNT/src" "$MNT/dst" || fail "copy_file_range failed"
python3 -c "$copy" "$TMP/ref/src" "$TMP/ref/dst" || fail "copy_file_range of the reference failed"
same "the same copy_file_range completes" "$MNT/dst" "$TMP/ref/dst"

"$BIN" umount "$MNT" || fail "umount failed"
"$BIN" fsck --volume "$VOL" >"$TMP/fsck.out" 2>&1 && pass "fsck is clean at the end" ||
  fail "fsck: $(cat "$TMP/fsck.out")"

if [[ $FAILURES -ne 0 ]]; then
  echo "FAIL: $FAILURES check(s) failed" >&2
  exit 1
fi
echo "PASS"
