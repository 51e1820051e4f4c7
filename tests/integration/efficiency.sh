#!/usr/bin/env bash
# Space and speed efficiency through real mounts (two file disks, two copies):
#   - discard: deleting a large file gives its blocks back to the file
#     system under the disk files (their allocated size shrinks), batched in
#     the background; with the discard setting off nothing is given back
#     until `dynamicfs trim`, which then gives it all back; a kept file
#     reads back identical throughout and fsck is clean;
#   - extent cache: repeated reads of a hot file are served from memory
#     (hit ratio near 1 in the metrics, no disk reads), and overwriting the
#     file shows the new bytes at once.
#
# Usage: efficiency.sh /path/to/dynamicfs
# Exit:  0 pass, 1 failure, 77 skipped (not root / no /dev/fuse).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
dfs_require_bin "$@"
dfs_require_root_fuse
dfs_require_tools python3 cmp stat dd
BIN=$(realpath "$BIN")

dfs_make_tmp
VOL=$TMP/vol
"$BIN" mkfs --volume "$VOL" --disk "$TMP/d0.img" --disk "$TMP/d1.img" --size 512M >/dev/null ||
  die "mkfs failed"
mount_vol() { "$BIN" mount --volume "$VOL" "$MNT" "$@" || die "mount failed"; }
# Bytes the disk files take on the file system under them.
allocated() { echo $(($(stat -c '%b * %B' "$TMP/d0.img") + $(stat -c '%b * %B' "$TMP/d1.img"))); }
fsync_file() { python3 -c 'import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); os.fsync(fd)' "$1"; }
# metric NAME [LABEL=VALUE]: the metric's value (summed over its samples), as an integer.
metric() {
  local label=${2:-}
  dfs_status_json "int(sum(x['value'] for x in doc['metrics']['$1']['samples'] if '$label' == '' or
    x['labels'].get('${label%%=*}') == '${label#*=}'))"
}
mount_vol

# ----------------------------------------------------------------- discard
dd if=/dev/urandom of="$TMP/keep" bs=1M count=8 status=none
cp "$TMP/keep" "$MNT/keep"
dd if=/dev/urandom of="$MNT/big" bs=1M count=96 conv=fsync status=none
before=$(allocated)
echo "disk files allocate $((before >> 20)) MiB with a 96 MiB file (two copies)"
rm "$MNT/big"
fsync_file "$MNT/keep"  # the delete is durable: the space is free now
shrunk() { (($(allocated) <= before - 180 * 1024 * 1024)); }
if poll_until 60 shrunk; then
  pass "deleting a 96 MiB file gave $(((before - $(allocated)) >> 20)) MiB back to the disk files"
else
  fail "disk files still allocate $(($(allocated) >> 20)) MiB after deleting (was $((before >> 20)))"
fi
[[ $(metric discard_bytes_total) -ge $((192 << 20)) ]] ||
  fail "discard_bytes_total is $(metric discard_bytes_total), below the freed 192 MiB"

"$BIN" config set discard off "$MNT" >/dev/null || die "config set discard off failed"
dd if=/dev/urandom of="$MNT/big2" bs=1M count=64 conv=fsync status=none
before=$(allocated)
rm "$MNT/big2"
fsync_file "$MNT/keep"
pending=$(metric discard_pending_bytes)
if [[ $pending -ge $((128 << 20)) && $(allocated) -ge $((before - (8 << 20))) ]]; then
  pass "with discard off, freed space waits ($((pending >> 20)) MiB pending) and stays allocated"
else
  fail "with discard off: pending $pending, allocated $(allocated) (was $before)"
fi
out=$("$BIN" trim "$MNT") || fail "trim failed: $out"
echo "$out"
trimmed=$(echo "$out" | sed -n 's/.*(\([0-9]*\) bytes) trimmed.*/\1/p')
if [[ ${trimmed:-0} -ge $((128 << 20)) ]] && (($(allocated) <= before - (120 << 20))); then
  pass "dynamicfs trim discarded $((trimmed >> 20)) MiB and the disk files shrank"
else
  fail "trim: reported ${trimmed:-?} bytes, allocated $(allocated) (was $before)"
fi
[[ $(metric discard_pending_bytes) -eq 0 ]] || fail "trim left pending bytes"
"$BIN" config set discard on "$MNT" >/dev/null || die "config set discard on failed"
dfs_drop_cache "$MNT/keep"
if cmp -s "$TMP/keep" "$MNT/keep"; then
  pass "the kept file is intact after discards"
else
  fail "the kept file changed"
fi
"$BIN" umount "$MNT" || fail "umount failed"
dfs_fsck_clean "after discards"
mount_vol
dfs_drop_cache "$MNT/keep"
cmp -s "$TMP/keep" "$MNT/keep" || fail "the kept file changed across a remount"
"$BIN" umount "$MNT" || fail "umount failed"

# ------------------------------------------------------------ extent cache
mount_vol -o extent_cache_mb=64
dd if=/dev/urandom of="$TMP/hot" bs=1M count=16 status=none
cp "$TMP/hot" "$MNT/hot"
fsync_file "$MNT/hot"
read_hot() {
  dfs_drop_cache "$MNT/hot"
  cmp -s "$TMP/hot" "$MNT/hot" || fail "the hot file read back wrong"
}
read_hot  # the first read fills the cache
disk_read=$(metric io_bytes_total dir=read)
hits=$(metric extent_cache_hits_total)
misses=$(metric extent_cache_misses_total)
for _ in $(seq 20); do read_hot; done
d_read=$(($(metric io_bytes_total dir=read) - disk_read))
d_hits=$(($(metric extent_cache_hits_total) - hits))
d_misses=$(($(metric extent_cache_misses_total) - misses))
ratio=$(dfs_status_json "doc['extent_cache']['hit_ratio']")
echo "20 reads of a 16 MiB file: $d_hits cache hits, $d_misses misses, $d_read bytes read from disk; hit ratio since mount $ratio"
if [[ $d_read -eq 0 && $d_misses -eq 0 && $d_hits -gt 0 ]] &&
  python3 -c "import sys; sys.exit(0 if float('$ratio') >= 0.9 else 1)"; then
  pass "repeated reads of a hot file come from the extent cache (hit ratio $ratio, no disk reads)"
else
  fail "hot reads: $d_hits hits, $d_misses misses, $d_read disk bytes, ratio $ratio"
fi
dd if=/dev/urandom of="$TMP/hot" bs=1M count=4 seek=6 conv=notrunc status=none
dd if="$TMP/hot" of="$MNT/hot" bs=1M count=4 skip=6 seek=6 conv=notrunc status=none
read_hot
pass "an overwrite of the hot file reads back at once"
"$BIN" config set extent_cache_mb 0 "$MNT" >/dev/null || fail "config set extent_cache_mb 0 failed"
disk_read=$(metric io_bytes_total dir=read)
read_hot
if ! (($(metric io_bytes_total dir=read) - disk_read >= 16 << 20)) ||
  [[ $(dfs_status_json "doc['extent_cache']['bytes']") -ne 0 ]]; then
  fail "with extent_cache_mb=0 reads do not go to the disks, or memory is still held"
fi
"$BIN" umount "$MNT" || fail "umount failed"
dfs_fsck_clean "at the end"

if [[ $FAILURES -ne 0 ]]; then
  echo "FAIL: $FAILURES check(s) failed" >&2
  exit 1
fi
echo "PASS"
