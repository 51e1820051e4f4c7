#!/usr/bin/env bash
# Erasure coding through real mounts: six file disks, a 4+2 policy on the
# root (the volume keeps 3 copies of small pieces, so it mounts with two
# disks missing):
#   - files written under the policy are stripes over six distinct disks,
#     and the disk space they take is about 1.5 times their size (reported);
#   - a corrupted data unit block reads back right, rebuilt from the other
#     units, and is rewritten on its disk;
#   - two disk files deleted (a seeded random pair): the volume mounts
#     degraded and every byte of every file reads back identical;
#   - two disks added: the stripes are rebuilt off the missing disks, which
#     can then be removed; removing an online disk (after adding a spare)
#     moves its units; the data is still identical;
#   - `policy set` on a directory converts a file written with 2 copies into
#     stripes in the background; fsck is clean at the end.
#
# Usage: erasure.sh /path/to/dynamicfs
# Exit:  0 pass, 1 failure, 77 skipped (not root / no /dev/fuse).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
dfs_require_bin "$@"
dfs_require_root_fuse
dfs_require_tools python3 cmp dd
BIN=$(realpath "$BIN")

dfs_make_tmp
VOL=$TMP/vol
disks=()
for i in 0 1 2 3 4 5; do disks+=(--disk "$TMP/d$i.img"); done
"$BIN" mkfs --volume "$VOL" "${disks[@]}" --size 256M --replicas 3 >/dev/null || die "mkfs failed"
mount_vol() { "$BIN" mount --volume "$VOL" "$MNT" || die "mount failed"; }
fsync_file() { python3 -c 'import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); os.fsync(fd)' "$1"; }
metric() { dfs_status_json "int(sum(x['value'] for x in doc['metrics']['$1']['samples']))"; }
used_bytes() { dfs_status_json "sum(d['used_bytes'] for d in doc['disks'])"; }
# locate_py FILE EXPR: EXPR over `locate --json FILE` (as `ext`, its extents).
locate_py() {
  "$BIN" locate --json "$1" | python3 -c "import json, sys; ext = json.load(sys.stdin)[0]['extents']; print($2)"
}
mount_vol

# ------------------------------------------------ layout and space used
"$BIN" policy set "$MNT" --ec 4+2 >/dev/null || die "policy set failed"
got=$("$BIN" policy get "$MNT") || die "policy get failed"
[[ $got == *"ec 4+2"* ]] || fail "policy get says: $got"
mkdir "$TMP/ref"
dd if=/dev/urandom of="$TMP/ref/big" bs=1M count=24 status=none
dd if=/dev/urandom of="$TMP/ref/odd" bs=4099 count=1777 status=none
dd if=/dev/urandom of="$TMP/ref/small" bs=3000 count=1 status=none
used0=$(used_bytes)
for f in big odd small; do
  cp "$TMP/ref/$f" "$MNT/$f"
  fsync_file "$MNT/$f"
done
mkdir "$MNT/sub"
[[ $("$BIN" policy get "$MNT/sub") == *"ec 4+2"* ]] || fail "a new directory did not inherit 4+2"
bad=$(locate_py "$MNT/big" "sum(1 for e in ext if e.get('ec') != '4+2' or len({c['disk'] for c in e['copies']}) != 6)")
if [[ $bad -eq 0 ]]; then
  pass "a 24 MiB file is all 4+2 stripes over six distinct disks"
else
  fail "$bad extents of big are not 4+2 stripes on six disks"
fi
small_copies=$(locate_py "$MNT/small" "','.join(str(len(e['copies'])) + e.get('ec', '') for e in ext)")
[[ $small_copies == 3 ]] || fail "a 3000-byte file should be 3 copies, locate says $small_copies"
data=$(($(stat -c %s "$TMP/ref/big") + $(stat -c %s "$TMP/ref/odd") + $(stat -c %s "$TMP/ref/small")))
used=$(($(used_bytes) - used0))
ratio=$(python3 -c "print(f'{$used / $data:.3f}')")
echo "erasure 4+2: $data bytes of files take $used bytes of disk space (${ratio}x; 2 replicas would be 2x)"
if python3 -c "import sys; sys.exit(0 if 1.45 <= $ratio <= 1.6 else 1)"; then
  pass "space used is ${ratio}x the data"
else
  fail "space used is ${ratio}x the data, not about 1.5x"
fi

# --------------------------------------- a corrupt unit is rebuilt, repaired
# Unit 1 of big's first stripe holds file bytes [unit, 2 * unit).
read -r disk off unit < <(locate_py "$MNT/big" \
  "'%d %d %d' % (ext[0]['copies'][1]['disk'], ext[0]['copies'][1]['offset'], ext[0]['unit_bytes'])")
dd if=/dev/urandom of="$TMP/d$disk.img" bs=4096 count=1 seek=$(((off + 8192) / 4096)) \
  conv=notrunc status=none
rebuilt0=$(metric ec_rebuilt_blocks_total)
dfs_drop_cache "$MNT/big"
cmp -s "$TMP/ref/big" "$MNT/big" || fail "big reads back wrong with a corrupt unit block"
repaired() {
  cmp -s <(dd if="$TMP/d$disk.img" bs=4096 skip=$(((off + 8192) / 4096)) count=1 status=none) \
    <(dd if="$TMP/ref/big" bs=4096 skip=$(((unit + 8192) / 4096)) count=1 status=none)
}
if poll_until 30 repaired && (($(metric ec_rebuilt_blocks_total) > rebuilt0)); then
  pass "a corrupt data unit block was rebuilt from the other units and rewritten on disk $disk"
else
  fail "the corrupt unit block on disk $disk was not rebuilt and rewritten"
fi

# ------------------------------------------- two disks gone, every byte reads
"$BIN" umount "$MNT" || die "umount failed"
seed=${DFS_TEST_SEED:-$RANDOM}
echo "seed $seed"
read -r lost1 lost2 < <(python3 -c "import random; random.seed($seed); print(*random.sample(range(6), 2))")
rm "$TMP/d$lost1.img" "$TMP/d$lost2.img"
mount_vol
[[ $(dfs_status_json "doc['health']") == degraded ]] || fail "health is not degraded with two disks gone"
if dfs_same_files "$TMP/ref"; then
  pass "with disks $lost1 and $lost2 deleted every file reads back identical"
else
  fail "a file reads back wrong with disks $lost1 and $lost2 deleted"
fi

# -------------------------------------------- rebuild onto new disks, remove
for n in 6 7; do
  "$BIN" disk add "$MNT" "$TMP/n$n.img" --size 256M >/dev/null || fail "disk add n$n failed"
done
left=0
for f in big odd small; do
  n=$(locate_py "$MNT/$f" "sum(1 for e in ext for c in e['copies'] if c['disk'] in ($lost1, $lost2))")
  left=$((left + n))
done
if [[ $left -eq 0 ]] && [[ $(locate_py "$MNT/big" "sum(1 for e in ext if e.get('ec') != '4+2')") -eq 0 ]]; then
  pass "after two disks were added, every stripe was rebuilt off the missing disks"
else
  fail "$left copies or units are still on the missing disks (or big is no longer 4+2)"
fi
for d in "$lost1" "$lost2"; do
  "$BIN" disk remove "$MNT" "$d" >/dev/null || fail "disk remove $d failed"
done
[[ $(dfs_status_json "doc['health']") == ok ]] || fail "health is not ok after the rebuild"
dfs_same_files "$TMP/ref" || fail "a file reads back wrong after the rebuild"
# Draining an online disk (with a spare added first) moves its units.
"$BIN" disk add "$MNT" "$TMP/n8.img" --size 256M >/dev/null || fail "disk add n8 failed"
drain=$(locate_py "$MNT/big" "ext[0]['copies'][0]['disk']")
"$BIN" disk remove "$MNT" "$drain" >/dev/null || fail "disk remove $drain (online) failed"
on=0
for f in big odd small; do
  on=$((on + $(locate_py "$MNT/$f" "sum(1 for e in ext for c in e['copies'] if c['disk'] == $drain)")))
done
if [[ $on -eq 0 ]] && [[ $(locate_py "$MNT/big" "sum(1 for e in ext if e.get('ec') != '4+2')") -eq 0 ]] &&
  dfs_same_files "$TMP/ref"; then
  pass "disk remove of online disk $drain moved its units; the files are still 4+2 and identical"
else
  fail "after removing disk $drain: $on units left on it, or a file is wrong or no longer 4+2"
fi

# ------------------------------------------------- background conversion
mkdir "$MNT/plain"
"$BIN" policy set "$MNT/plain" --replicas 2 >/dev/null || fail "policy set --replicas 2 failed"
dd if=/dev/urandom of="$TMP/conv" bs=1M count=6 status=none
cp "$TMP/conv" "$MNT/plain/f"
fsync_file "$MNT/plain/f"
[[ $(locate_py "$MNT/plain/f" "sum(1 for e in ext if e.get('ec') or len(e['copies']) != 2)") -eq 0 ]] ||
  fail "a file under --replicas 2 is not 2 copies"
out=$("$BIN" policy set "$MNT/plain" --ec 4+2) || fail "policy set --ec 4+2 on plain failed"
echo "$out"
converted() {
  [[ $(dfs_status_json "doc['policy_convert']['pending_files']") -eq 0 ]] &&
    [[ $(locate_py "$MNT/plain/f" "sum(1 for e in ext if e.get('ec') != '4+2')") -eq 0 ]]
}
if poll_until 60 converted; then
  pass "policy set converted an existing 2-copy file to 4+2 stripes in the background"
else
  fail "plain/f was not converted to 4+2"
fi
dfs_drop_cache "$MNT/plain/f"
cmp -s "$TMP/conv" "$MNT/plain/f" || fail "the converted file reads back wrong"
"$BIN" status "$MNT" | grep -q "^policy " || fail "status has no policy line after a conversion"

"$BIN" umount "$MNT" || fail "umount failed"
dfs_fsck_clean "at the end"
mount_vol
dfs_same_files "$TMP/ref" || fail "a file reads back wrong after a remount"
"$BIN" umount "$MNT" || fail "umount failed"

if [[ $FAILURES -ne 0 ]]; then
  echo "FAIL: $FAILURES check(s) failed" >&2
  exit 1
fi
echo "PASS"
