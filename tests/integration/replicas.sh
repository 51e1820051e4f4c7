#!/usr/bin/env bash
# Replicas through a real mount: a volume of three disk files keeping two
# copies of every extent.
#   - mkfs records the copy count; impossible counts are refused;
#   - df reports what a user can store (half the pool);
#   - one byte flipped in one copy of a data block behind the daemon's back:
#     every read returns the right bytes, the copy is rewritten on disk,
#     repairs_total and checksum_errors_total count it and the log names
#     the inode, offset and disk;
#   - with scrub_interval set, a periodic scrub repairs a damaged copy that
#     nobody reads;
#   - scrub draws a progress bar on a terminal;
#   - a disk missing at mount: the volume mounts degraded (status says so,
#     disk_state 0), every byte reads, new writes work; with the disk back
#     the volume is healthy and still holds everything;
#   - fsck is clean at the end.
#
# Usage: replicas.sh /path/to/dynamicfs
# Exit:  0 pass, 1 failure, 77 skipped (not root / no /dev/fuse).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
dfs_require_bin "$@"
dfs_require_root_fuse
dfs_require_tools python3 cmp grep dd
BIN=$(realpath "$BIN")

dfs_make_tmp
VOL=$TMP/vol
DISKS=("$TMP/d0.img" "$TMP/d1.img" "$TMP/d2.img")

json() { dfs_status_json "$1"; }
metric() {  # metric NAME_WITH_LABELS: its value in --prometheus output
  "$BIN" status --prometheus "$MNT" | awk -v m="dynamicfs_$1" '$1 == m {print $2}'
}
same_files() { dfs_same_files "$TMP/ref"; }

# ------------------------------------------------------------------ mkfs
if "$BIN" mkfs --volume "$TMP/bad" --disk "$TMP/x0.img" --disk "$TMP/x1.img" --size 64M \
  --replicas 3 >/dev/null 2>"$TMP/err"; then
  fail "mkfs --replicas 3 over 2 disks succeeded"
else
  grep -q "replicas" "$TMP/err" && pass "mkfs --replicas 3 over 2 disks is refused: $(cat "$TMP/err")" ||
    fail "mkfs --replicas 3 over 2 disks: unclear message: $(cat "$TMP/err")"
fi
"$BIN" mkfs --volume "$VOL" --disk "${DISKS[0]}" --disk "${DISKS[1]}" --disk "${DISKS[2]}" \
  --size 128M >"$TMP/out" 2>"$TMP/err" || die "mkfs failed: $(cat "$TMP/err")"
grep -q "2 copies" "$TMP/out" && pass "mkfs over 3 disks keeps 2 copies by default" ||
  fail "mkfs did not report 2 copies: $(cat "$TMP/out")"
grep -q "^replicas = 2" "$VOL/volume.toml" || fail "volume.toml does not say replicas = 2"

"$BIN" mount --volume "$VOL" "$MNT" || die "mount failed"
[[ "$(json "doc['replicas']")" == 2 ]] && pass "status reports 2 replicas" ||
  fail "status does not report 2 replicas"

# df: three 127 MiB data areas hold 190 MiB of user data with two copies.
size_kib=$(df -k --output=size "$MNT" | tail -1 | tr -d ' ')
if ((size_kib > 185 * 1024 && size_kib < 195 * 1024)); then
  pass "df shows half the pool ($((size_kib / 1024)) MiB)"
else
  fail "df shows $((size_kib / 1024)) MiB (expected about 190 MiB)"
fi

mkdir "$TMP/ref"
head -c $((6 << 20)) /dev/urandom >"$TMP/ref/big"
head -c 300000 /dev/urandom >"$TMP/ref/odd"
MARKER="replica-victim-$$-$RANDOM-"
python3 -c "import sys; sys.stdout.write(('$MARKER' * 4096)[:16384])" >"$TMP/ref/victim"
cp "$TMP"/ref/* "$MNT/"
sync "$MNT/big" "$MNT/odd" "$MNT/victim"

# ------------------------------------------- damaged copy: read repairs it
HITS=()
for img in "${DISKS[@]}"; do
  off=$(grep -obaF -m1 "$MARKER" "$img" | head -1 | cut -d: -f1 || true)
  [[ -n "$off" ]] && HITS+=("$img:$off")
done
if [[ ${#HITS[@]} -ne 2 ]]; then
  fail "the victim block is on ${#HITS[@]} disk images (expected exactly 2)"
else
  img=${HITS[0]%:*} off=${HITS[0]#*:}
  at=$((off + 4096 + 77))
  want=$(dd if="$img" bs=1 skip="$at" count=1 status=none)
  printf '~' | dd of="$img" bs=1 seek="$at" conv=notrunc status=none
  ok=1
  # Equally idle copies take turns, so two uncached reads reach both.
  for i in 1 2; do
    dfs_drop_cache "$MNT/victim"
    cmp -s "$TMP/ref/victim" "$MNT/victim" || ok=0
  done
  ((ok)) && pass "reads of a block with one damaged copy return the right bytes" ||
    fail "a read returned wrong bytes or failed with one damaged copy"
  if poll_until 10 test "$(metric repairs_total)" = 1; then
    pass "repairs_total counts the repair"
  else
    fail "repairs_total is '$(metric repairs_total)' (expected 1)"
  fi
  [[ "$(metric checksum_errors_total)" == 1 ]] && pass "checksum_errors_total counts the bad block" ||
    fail "checksum_errors_total is '$(metric checksum_errors_total)' (expected 1)"
  got=$(dd if="$img" bs=1 skip="$at" count=1 status=none)
  [[ "$got" == "$want" ]] && pass "the damaged copy on $(basename "$img") was rewritten" ||
    fail "the damaged copy still holds '$got' (expected '$want')"
  disk=$(basename "$img" .img)
  disk=${disk#d}
  if grep -rqE "repaired inode [0-9]+ offset 4096 disk $disk" "$VOL/log/"; then
    pass "the log names the repaired file, offset and disk"
  else
    fail "no 'repaired inode N offset 4096 disk $disk' line in the daemon log"
  fi
  [[ "$(json "doc['health']")" == ok ]] && pass "health is ok after the repair" ||
    fail "health is $(json "doc['health']") after the repair"
fi
same_files && pass "all files intact" || fail "a file differs after the repair"

# ------------------------------ periodic scrub repairs what no one reads
if [[ ${#HITS[@]} -eq 2 ]]; then
  img=${HITS[1]%:*} off=${HITS[1]#*:}
  at=$((off + 2 * 4096 + 5))
  want=$(dd if="$img" bs=1 skip="$at" count=1 status=none)
  printf '~' | dd of="$img" bs=1 seek="$at" conv=notrunc status=none
  "$BIN" config set scrub_interval 1 "$MNT" >/dev/null || fail "config set scrub_interval failed"
  [[ "$(json "doc['scrub']['interval_seconds']")" == 1 ]] && pass "status shows the scrub interval" ||
    fail "status scrub interval is $(json "doc['scrub']['interval_seconds']")"
  if poll_until 30 test "$(metric repairs_total)" = 2; then
    pass "a periodic scrub found and repaired a damaged copy nobody read"
  else
    fail "repairs_total is '$(metric repairs_total)' 30 s after scrub_interval=1 (expected 2)"
  fi
  got=$(dd if="$img" bs=1 skip="$at" count=1 status=none)
  [[ "$got" == "$want" ]] && pass "the periodic scrub rewrote the copy on $(basename "$img")" ||
    fail "the copy still holds '$got' after the periodic scrub (expected '$want')"
  (($(json "doc['scrub']['scrubs_total']") >= 1)) && pass "the periodic scrub is counted" ||
    fail "scrubs_total is $(json "doc['scrub']['scrubs_total']")"
  "$BIN" config set scrub_interval 0 "$MNT" >/dev/null || fail "config set scrub_interval 0 failed"
fi

# ------------------------------------------- scrub progress on a terminal
# At 4 MB/s the scrub of about 14 MB (both copies) lasts seconds: long enough
# for the bar, which is drawn twice a second.
if script -qfec "$(printf '%q ' "$BIN" scrub --rate 4 "$MNT")" /dev/null >"$TMP/scrub-tty.out" 2>&1; then
  if grep -aqE '\[#* *\] +[0-9.]+%  scrub: ' "$TMP/scrub-tty.out"; then
    pass "scrub on a terminal draws a progress bar"
  else
    fail "scrub on a terminal drew no progress bar: $(tr -d '\r' <"$TMP/scrub-tty.out" | head -c 300)"
  fi
else
  fail "scrub under script(1) failed: $(head -c 300 "$TMP/scrub-tty.out")"
fi
"$BIN" umount "$MNT" || fail "umount failed"

# ------------------------------------------- a disk missing at mount
mv "${DISKS[1]}" "$TMP/d1.away"
if "$BIN" mount --volume "$VOL" "$MNT" 2>"$TMP/err"; then
  pass "a volume with 2 copies mounts with one disk missing"
  [[ "$(json "doc['health']")" == degraded ]] && pass "status says degraded" ||
    fail "health is $(json "doc['health']") with a disk missing"
  [[ "$(json "doc['disks'][1]['state']")" == failed ]] && pass "the missing disk is failed" ||
    fail "disk 1 state is $(json "doc['disks'][1]['state']")"
  [[ "$(metric 'disk_state{disk="1"}')" == 0 && "$(metric 'disk_state{disk="0"}')" == 1 ]] &&
    pass "disk_state is 0 for the missing disk, 1 for the others" ||
    fail "disk_state: disk 1 '$(metric 'disk_state{disk="1"}')', disk 0 '$(metric 'disk_state{disk="0"}')'"
  "$BIN" status "$MNT" >"$TMP/status.txt" || true
  grep -q "degraded" "$TMP/status.txt" && pass "status text says degraded" ||
    fail "status text does not say degraded"
  same_files && pass "every byte reads with a disk missing" || fail "a file differs with a disk missing"
  head -c $((2 << 20)) /dev/urandom >"$TMP/ref/while_degraded"
  cp "$TMP/ref/while_degraded" "$MNT/" && sync "$MNT/while_degraded" &&
    pass "writes work while degraded" || fail "a write failed while degraded"
  "$BIN" umount "$MNT" || fail "umount of the degraded volume failed"
else
  fail "mount with one of three disks missing (2 copies) was refused: $(cat "$TMP/err")"
fi
mv "$TMP/d1.away" "${DISKS[1]}"
"$BIN" mount --volume "$VOL" "$MNT" || die "remount with every disk failed"
[[ "$(json "doc['health']")" == ok ]] && pass "with the disk back the volume is healthy" ||
  fail "health is $(json "doc['health']") with every disk present"
same_files && pass "every file reads after the disk came back" ||
  fail "a file differs after the disk came back"
"$BIN" umount "$MNT" || fail "umount failed"

if "$BIN" fsck --volume "$VOL" >"$TMP/fsck.out" 2>&1; then
  pass "fsck is clean"
else
  fail "fsck: $(cat "$TMP/fsck.out")"
fi
if [[ $FAILURES -ne 0 ]]; then
  echo "FAIL: $FAILURES check(s) failed" >&2
  exit 1
fi
echo "PASS"
