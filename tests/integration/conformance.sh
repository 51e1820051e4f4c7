#!/usr/bin/env bash
# Behaviours users meet where dynamicfs must act as ext4 does, through real
# mounts (issue 20):
#   1. O_DIRECT writes (synchronous, and asynchronous through fio's libaio)
#      never leave stale pages for buffered readers;
#   2. writes, truncates, chmod and ACL changes by an unprivileged user drop
#      setuid/setgid as the kernel's rules say;
#   3. mount -o remount,ro and back to rw on a live mount (EROFS, EEXIST
#      first); umount(8) followed at once by a new mount of the volume;
#   4. noatime, relatime, strictatime and nodiratime (at mount and remount);
#   5. mounting over a non-empty directory; refusing mountpoints that would
#      hide the volume;
#   6. mmap of a file opened with O_DIRECT, O_DIRECT alignment errors;
#   7. fallocate reservations: st_blocks, df, no ENOSPC inside the range
#      with the pool otherwise full, space back on punch/truncate/unlink,
#      kept across a remount;
#   8. SEEK_DATA/SEEK_HOLE from a negative offset, -o dev,suid, file handles
#      across a remount, unknown subcommands.
#
# Usage: conformance.sh /path/to/dynamicfs
# Exit:  0 pass, 1 failure, 77 skipped (not root / no /dev/fuse).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
dfs_require_bin "$@"
dfs_require_root_fuse
dfs_require_tools python3 fio setfacl setpriv findmnt mknod
BIN=$(realpath "$BIN")
CHECKS="python3 $(dirname "$(realpath "${BASH_SOURCE[0]}")")/conformance_checks.py"

dfs_make_tmp
chmod 755 "$TMP" # the unprivileged user must reach the mountpoint
VOL=$TMP/vol
# mount(8) runs the helper by this name; the helper is the binary itself.
ln -s "$BIN" "$TMP/mount.dynamicfs"
HELPER=$TMP/mount.dynamicfs
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"; }
run_checks() { $CHECKS "$@" || FAILURES=$((FAILURES + 1)); }
atime() { stat -c %X "$1"; }

"$BIN" mkfs --volume "$VOL" --disk "$TMP/d0.img" --size 96M --replicas 1 >/dev/null ||
  die "mkfs failed"

echo "== 5. a non-empty mountpoint; mountpoints that would hide the volume"
echo "underneath" >"$MNT/hidden"
"$BIN" mount --volume "$VOL" "$MNT" || die "mount over a non-empty directory failed"
[[ ! -e "$MNT/hidden" ]] && pass "mounted over a non-empty directory" ||
  fail "the directory's own file shows through the mount"
if "$BIN" mount --volume "$VOL" "$MNT" 2>"$TMP/err"; then
  fail "a second mount of the volume at the same place succeeded"
else
  pass "the same volume at the same mountpoint is refused: $(cat "$TMP/err")"
fi
mkdir -p "$VOL/inside"
if "$BIN" mount --volume "$VOL" "$VOL/inside" 2>"$TMP/err"; then
  fail "a mountpoint inside the volume directory was accepted"
else
  grep -q "hide the volume" "$TMP/err" && pass "a mountpoint inside the volume is refused" ||
    fail "mountpoint inside the volume: $(cat "$TMP/err")"
fi
if "$BIN" mount --volume "$VOL" "$TMP" 2>"$TMP/err"; then
  fail "a mountpoint holding the volume directory was accepted"
else
  pass "a mountpoint holding the volume is refused"
fi

echo "== 1. O_DIRECT writes and buffered readers"
run_checks direct_coherence "$MNT/direct" 400
head -c $((4 << 20)) /dev/zero >"$MNT/aio"
for pattern in 0xaa 0x55 0xaa; do
  # Buffered readers keep the pages cached while fio writes asynchronously.
  python3 -c 'import sys, time
end = time.monotonic() + 30
while time.monotonic() < end:
    with open(sys.argv[1], "rb") as f:
        f.read()' "$MNT/aio" &
  reader=$!
  fio --name=aio --filename="$MNT/aio" --ioengine=libaio --direct=1 --iodepth=16 \
    --rw=randwrite --bs=128k --size=4m --io_size=8m --buffer_pattern="$pattern" \
    --randrepeat=0 --output=/dev/null || fail "fio with pattern $pattern failed"
  fio --name=aio --filename="$MNT/aio" --ioengine=libaio --direct=1 --iodepth=16 \
    --rw=write --bs=128k --size=4m --buffer_pattern="$pattern" --output=/dev/null ||
    fail "fio with pattern $pattern failed"
  run_checks expect_pattern "$MNT/aio" "$pattern"
  kill "$reader" 2>/dev/null || true
  wait "$reader" 2>/dev/null || true
done

echo "== 6. mmap with O_DIRECT"
run_checks direct_mmap "$MNT/mapped"

echo "== 2. setuid and setgid"
head -c 65536 /dev/zero >"$MNT/suid"
chmod 6777 "$MNT/suid"
as_nobody dd if=/dev/zero of="$MNT/suid" bs=4096 count=1 oflag=direct conv=notrunc status=none ||
  fail "the O_DIRECT write by nobody failed"
[[ $(stat -c %a "$MNT/suid") == 777 ]] && pass "an O_DIRECT write by a non-owner drops setuid and setgid" ||
  fail "after an O_DIRECT write by a non-owner the mode is $(stat -c %a "$MNT/suid")"
chmod 6777 "$MNT/suid"
as_nobody sh -c "printf x >>'$MNT/suid'" || fail "the buffered write by nobody failed"
[[ $(stat -c %a "$MNT/suid") == 777 ]] && pass "a buffered write by a non-owner drops setuid and setgid" ||
  fail "after a buffered write by a non-owner the mode is $(stat -c %a "$MNT/suid")"
chmod 6777 "$MNT/suid"
as_nobody truncate -s 100 "$MNT/suid" || fail "truncate by nobody failed"
[[ $(stat -c %a "$MNT/suid") == 777 ]] && pass "a truncate by a non-owner drops setuid and setgid" ||
  fail "after a truncate by a non-owner the mode is $(stat -c %a "$MNT/suid")"
chmod 6777 "$MNT/suid"
printf y >>"$MNT/suid"
[[ $(stat -c %a "$MNT/suid") == 6777 ]] && pass "a write by root (CAP_FSETID) keeps the bits" ||
  fail "after root's write the mode is $(stat -c %a "$MNT/suid")"
touch "$MNT/sgid_file" && mkdir "$MNT/sgid_dir"
chown 65534:0 "$MNT/sgid_file" "$MNT/sgid_dir"
for f in sgid_file sgid_dir; do
  as_nobody chmod 2775 "$MNT/$f" || fail "chmod by the owner failed"
  [[ $(stat -c %a "$MNT/$f") == 775 ]] && pass "chmod g+s by an owner outside the group: dropped ($f)" ||
    fail "chmod by an owner outside the group left mode $(stat -c %a "$MNT/$f") ($f)"
  chmod 2775 "$MNT/$f"
  as_nobody setfacl -m u:65534:rwx "$MNT/$f" || fail "setfacl by the owner failed"
  [[ $(($(stat -c '0%a' "$MNT/$f") & 02000)) -eq 0 ]] &&
    pass "an ACL change by an owner outside the group drops setgid ($f)" ||
    fail "an ACL change by an owner outside the group left mode $(stat -c %a "$MNT/$f") ($f)"
done
chown 0:0 "$MNT/sgid_file"
chmod 2755 "$MNT/sgid_file"
[[ $(stat -c %a "$MNT/sgid_file") == 2755 ]] && pass "root keeps setgid on chmod" ||
  fail "root's chmod 2755 gave $(stat -c %a "$MNT/sgid_file")"

echo "== 4. access times"
echo data >"$MNT/at"
mkdir "$MNT/atdir"
future=$(($(date +%s) + 3600))
# relatime (the default): an atime older than the last change is updated.
touch -m -d @1600000000 "$MNT/at" && touch -a -d @1500000000 "$MNT/at"
cat "$MNT/at" >/dev/null
(($(atime "$MNT/at") > 1600000000)) && pass "relatime: a read after a change updates atime" ||
  fail "relatime: atime stayed $(atime "$MNT/at")"
# An atime newer than every change (here in the future) stays under relatime...
touch -a -d "@$future" "$MNT/at"
cat "$MNT/at" >/dev/null
(($(atime "$MNT/at") == future)) && pass "relatime: a fresh atime stays" ||
  fail "relatime: a fresh atime changed to $(atime "$MNT/at")"
# ...and is updated on every read under strictatime.
"$HELPER" "$VOL" "$MNT" -o remount,strictatime || fail "remount,strictatime failed"
cat "$MNT/at" >/dev/null
(($(atime "$MNT/at") < future)) && pass "strictatime: every read updates atime" ||
  fail "strictatime: atime stayed $(atime "$MNT/at")"
# mount(8) hands a remount's helper every option the mount table shows:
# the table must say strictatime (no relatime), so that it stays.
opts=$(findmnt -no OPTIONS "$MNT")
[[ ",$opts," != *,relatime,* ]] && pass "the mount table shows no relatime under strictatime" ||
  fail "under strictatime the mount table says $opts"
"$HELPER" "$VOL" "$MNT" -o "$opts,remount" || fail "a remount repeating the table's options failed"
[[ $(dfs_status_json "doc['settings']['atime']") == strictatime ]] &&
  pass "a remount repeating the table's options keeps strictatime" ||
  fail "after the repeated options atime is $(dfs_status_json "doc['settings']['atime']")"
touch -a -d @1500000000 "$MNT/at" "$MNT/atdir"
"$HELPER" "$VOL" "$MNT" -o remount,noatime,nodiratime || fail "remount,noatime failed"
cat "$MNT/at" >/dev/null
ls "$MNT/atdir" >/dev/null
(($(atime "$MNT/at") == 1500000000)) && pass "noatime: a read leaves atime" ||
  fail "noatime: atime changed to $(atime "$MNT/at")"
(($(atime "$MNT/atdir") == 1500000000)) && pass "nodiratime: a listing leaves atime" ||
  fail "nodiratime: the directory's atime changed"
"$HELPER" "$VOL" "$MNT" -o remount,relatime,diratime || fail "remount,relatime failed"
ls "$MNT/atdir" >/dev/null
(($(atime "$MNT/atdir") > 1500000000)) && pass "relatime: a listing updates a directory's atime" ||
  fail "relatime: the directory's atime stayed"

echo "== 3. remount read-only and back"
echo keep >"$MNT/exists"
"$HELPER" "$VOL" "$MNT" -o remount,ro || fail "remount,ro failed"
findmnt -no OPTIONS "$MNT" | grep -qw ro && pass "the mount is read-only" ||
  fail "after remount,ro the options are $(findmnt -no OPTIONS "$MNT")"
findmnt -no OPTIONS "$MNT" | grep -qw nosuid && pass "remount kept nosuid" ||
  fail "remount lost nosuid: $(findmnt -no OPTIONS "$MNT")"
run_checks ro_errors "$MNT"
touch -a -d @1500000000 "$MNT/exists" 2>/dev/null && fail "touch on a read-only mount succeeded"
[[ $(cat "$MNT/exists") == keep ]] && pass "read-only: files read" || fail "read-only: read failed"
"$HELPER" "$VOL" "$MNT" -o remount,rw || fail "remount,rw failed"
echo more >>"$MNT/exists" && pass "read-write again: writes work" || fail "write after remount,rw failed"
if "$HELPER" "$VOL" "$MNT" -o remount,writeback_cache=on 2>"$TMP/err"; then
  fail "remount accepted a mount-time-only setting"
else
  pass "remount refuses a mount-time-only setting: $(cat "$TMP/err")"
fi

echo "== 8. file handles across a remount; negative SEEK_DATA"
echo "handle me" >"$MNT/handled"
run_checks handle_save "$MNT/handled" "$TMP/handle"
run_checks seek_negative "$MNT/seek"

echo "== 3. umount(8) followed at once by mount"
mkdir "$MNT/many"
for i in $(seq 1 500); do echo "$i" >"$MNT/many/$i"; done
umount "$MNT" || fail "umount(8) failed"
"$BIN" mount --volume "$VOL" "$MNT" 2>"$TMP/err" && pass "mount right after umount(8) succeeds" ||
  fail "mount right after umount(8): $(cat "$TMP/err")"
[[ $(cat "$MNT/many/500") == 500 ]] && pass "the 500 files are there" || fail "files lost"
run_checks handle_open "$MNT" "$TMP/handle" "handle me
"
rm "$MNT/handled"
run_checks handle_stale "$MNT" "$TMP/handle"

echo "== 7. fallocate reservations"
"$BIN" umount "$MNT" || fail "umount failed"
"$BIN" mount --volume "$VOL" "$MNT" -o strictatime,nodiratime || die "mount -o strictatime failed"
# The daemon sets these flags once it serves requests.
poll_until 10 bash -c "findmnt -no OPTIONS '$MNT' | grep -qw nodiratime" &&
  [[ ",$(findmnt -no OPTIONS "$MNT")," != *,relatime,* ]] &&
  pass "-o strictatime,nodiratime shows in the mount table" ||
  fail "-o strictatime,nodiratime: the table says $(findmnt -no OPTIONS "$MNT")"
"$BIN" umount "$MNT" || fail "umount failed"
"$BIN" mount --volume "$VOL" "$MNT" -o noatime || die "mount -o noatime failed"
findmnt -no OPTIONS "$MNT" | grep -qw noatime && pass "-o noatime shows in the mount table" ||
  fail "-o noatime missing: $(findmnt -no OPTIONS "$MNT")"
rm -rf "$MNT/many" "$MNT/aio" "$MNT/direct"
sync -f "$MNT"
avail() { df -B1 --output=avail "$MNT" | tail -1 | tr -d ' '; }
before=$(avail)
fallocate -l 32M "$MNT/reserved" || fail "fallocate 32 MiB failed"
blocks=$(stat -c %b "$MNT/reserved")
((blocks * 512 >= 32 << 20)) && pass "st_blocks counts the reservation ($blocks)" ||
  fail "st_blocks is $blocks after fallocate of 32 MiB"
after=$(avail)
((before - after >= 32 << 20)) && pass "df shows the reservation used" ||
  fail "df: available went from $before to $after"
metric=$("$BIN" status --prometheus "$MNT" | awk '$1 == "dynamicfs_space_reserved_bytes" {print $2}')
[[ -n "$metric" ]] && awk -v v="$metric" 'BEGIN {exit !(v >= 32 * 1048576)}' &&
  pass "space_reserved_bytes reports the reservation ($metric)" ||
  fail "space_reserved_bytes is '$metric'"
"$BIN" umount "$MNT" && "$BIN" mount --volume "$VOL" "$MNT" || die "remount failed"
((after - $(avail) < 1 << 20 && $(avail) - after < 1 << 20)) && pass "the reservation survives a remount" ||
  fail "after a remount available is $(avail), was $after"
# Fill the rest of the pool with another file.
if dd if=/dev/zero of="$MNT/filler" bs=1M status=none 2>"$TMP/dd.err"; then
  fail "filling the pool did not end in ENOSPC"
else
  grep -q "No space left" "$TMP/dd.err" && pass "the rest of the pool fills up (ENOSPC)" ||
    fail "fill failed otherwise: $(cat "$TMP/dd.err")"
fi
head -c $((32 << 20)) /dev/urandom >"$TMP/payload"
dd if="$TMP/payload" of="$MNT/reserved" bs=1M conv=notrunc,fsync status=none 2>"$TMP/dd.err" &&
  pass "writing the whole reserved range in a full pool succeeds" ||
  fail "writing the reserved range: $(cat "$TMP/dd.err")"
dfs_drop_cache "$MNT/reserved"
cmp -s "$TMP/payload" "$MNT/reserved" && pass "the reserved range reads back" ||
  fail "the reserved range reads back wrong"
# Reserve again past the end (KEEP_SIZE), then give it back by truncating,
# by punching and by unlinking: each time the space returns.
rm -f "$MNT/filler"
sync -f "$MNT"
base=$(avail)
fallocate -n -o $((32 << 20)) -l 8M "$MNT/reserved" || fail "fallocate --keep-size failed"
(($(stat -c %s "$MNT/reserved") == 32 << 20)) && pass "fallocate --keep-size keeps the size" ||
  fail "the size changed to $(stat -c %s "$MNT/reserved")"
res=$(avail)
((base - res >= 8 << 20)) && pass "a reservation past the end is used space" ||
  fail "reserving 8 MiB past the end changed available by $((base - res))"
truncate -s 16M "$MNT/reserved"
(($(avail) - res >= (16 + 8) << 20)) &&
  pass "truncate gives back the reservation past the end and the data" ||
  fail "after truncate available is $(avail), was $res"
fallocate -l 8M "$MNT/punched"
mid=$(avail)
fallocate -p -o 0 -l 8M "$MNT/punched"
(($(avail) - mid >= 8 << 20)) && pass "punching a reserved hole gives the reservation back" ||
  fail "after the punch available is $(avail), was $mid"
fallocate -l 8M "$MNT/unlinked"
mid=$(avail)
rm "$MNT/unlinked"
(($(avail) - mid >= 8 << 20)) && pass "unlink gives the reservation back" ||
  fail "after unlink available is $(avail), was $mid"

echo "== 8. -o dev,suid; unknown subcommands"
"$BIN" umount "$MNT" || fail "umount failed"
"$BIN" mount --volume "$VOL" "$MNT" -o dev,suid || die "mount -o dev,suid failed"
opts=$(findmnt -no OPTIONS "$MNT")
[[ ",$opts," != *,nodev,* && ",$opts," != *,nosuid,* ]] && pass "-o dev,suid is honoured ($opts)" ||
  fail "-o dev,suid gave $opts"
mknod "$MNT/null" c 1 3
echo discard >"$MNT/null" && pass "a device node works with -o dev" || fail "writing to a device node failed"
"$BIN" umount "$MNT" || fail "umount failed"
"$BIN" mount --volume "$VOL" "$MNT" || die "mount failed"
opts=$(findmnt -no OPTIONS "$MNT")
[[ ",$opts," == *,nodev,* && ",$opts," == *,nosuid,* ]] && pass "the default stays nodev,nosuid" ||
  fail "the default options are $opts"
if (echo x >"$MNT/null") 2>/dev/null; then fail "a device node opened under nodev"; else pass "nodev refuses the device node"; fi
rc=0
"$BIN" replicate frobnicate --help >/dev/null 2>"$TMP/err" || rc=$?
((rc == 2)) && pass "an unknown subcommand is a usage error: $(head -1 "$TMP/err")" ||
  fail "an unknown subcommand exited $rc"

"$BIN" umount "$MNT" || fail "umount failed"
dfs_fsck_clean "after the conformance checks"
[[ $(cat "$MNT/hidden") == underneath ]] && pass "the directory's own file is back after unmount" ||
  fail "the file under the mountpoint is gone"

if [[ $FAILURES -ne 0 ]]; then
  echo "FAIL: $FAILURES check(s) failed" >&2
  exit 1
fi
echo "PASS"
