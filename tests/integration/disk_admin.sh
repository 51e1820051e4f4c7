#!/usr/bin/env bash
# disk list / add / remove on a mounted volume (three disk files, two copies
# of every extent):
#   - remove moves every copy off the disk, the files stay intact, status
#     reports the finished rebalance, the disk's superblock is wiped;
#   - removing a disk that would leave fewer disks than copies is refused
#     and changes nothing;
#   - add grows the pool; adding a disk already in the volume is refused;
#   - a remove while a writer appends and fsyncs: nothing the writer wrote
#     is lost and nothing stays on the removed disk;
#   - the layout survives a remount and fsck is clean.
#
# Usage: disk_admin.sh /path/to/dynamicfs
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
WRITER_PID=""
dfs_extra_cleanup() { [[ -n "$WRITER_PID" ]] && kill "$WRITER_PID" 2>/dev/null; }

json() { dfs_status_json "$1"; }
online_disks() { "$BIN" disk list "$MNT" | awk 'NR > 1 && $2 == "online" {print $1}' | xargs; }
same_files() { dfs_same_files "$TMP/ref"; }
has_magic() { head -c 8 "$1" | grep -q DYNFSDSK; }

"$BIN" mkfs --volume "$VOL" --disk "$TMP/d0.img" --disk "$TMP/d1.img" --disk "$TMP/d2.img" \
  --size 128M >/dev/null || die "mkfs failed"
"$BIN" mount --volume "$VOL" "$MNT" || die "mount failed"
mkdir "$TMP/ref"
for i in 1 2 3 4 5; do head -c $((i * 1500000)) /dev/urandom >"$TMP/ref/f$i"; done
cp "$TMP"/ref/* "$MNT/" && sync -f "$MNT"

[[ "$(online_disks)" == "0 1 2" ]] && pass "disk list shows three online disks" ||
  fail "disk list: '$(online_disks)'"

# ------------------------------------------------------------ remove
if "$BIN" disk remove "$MNT" "$TMP/d1.img" >"$TMP/out" 2>"$TMP/err"; then
  pass "disk remove (by path): $(cat "$TMP/out")"
else
  fail "disk remove failed: $(cat "$TMP/err")"
fi
[[ "$(online_disks)" == "0 2" ]] && pass "disk 1 is gone from disk list" ||
  fail "disk list after remove: '$(online_disks)'"
[[ "$(json "doc['rebalance']['result'] == 'ok' and doc['rebalance']['extents_moved'] > 0")" == True ]] &&
  pass "status reports the finished rebalance" ||
  fail "rebalance status: $(json "doc['rebalance']")"
"$BIN" status "$MNT" | grep -q "rebalance   idle; last: removing disk 1 (ok" &&
  pass "status text names the last rebalance" || fail "status text has no rebalance line"
has_magic "$TMP/d1.img" && fail "the removed disk still has its superblock" ||
  pass "the removed disk's superblock is wiped"
same_files && pass "every file intact after the remove" || fail "a file differs after the remove"
grep -q "removed = true" "$VOL/volume.toml" && pass "volume.toml records the removal" ||
  fail "volume.toml does not record the removal"

if "$BIN" disk remove "$MNT" 0 >/dev/null 2>"$TMP/err"; then
  fail "removing one of the last two disks of a 2-copy volume succeeded"
else
  grep -q "copies" "$TMP/err" && pass "removing one of the last two disks is refused: $(cat "$TMP/err")" ||
    fail "unclear refusal: $(cat "$TMP/err")"
fi
[[ "$(online_disks)" == "0 2" ]] && pass "the refused remove changed nothing" ||
  fail "disk list after the refusal: '$(online_disks)'"
"$BIN" disk remove "$MNT" 7 >/dev/null 2>&1 && fail "removing a disk that does not exist succeeded" ||
  pass "removing a disk that does not exist is refused"

# ------------------------------------------------------------ add
"$BIN" disk add "$MNT" "$TMP/d0.img" >/dev/null 2>"$TMP/err" &&
  fail "adding a disk that is already in the volume succeeded" ||
  pass "adding a disk already in the volume is refused: $(cat "$TMP/err")"
free_before=$(df -k --output=size "$MNT" | tail -1)
if "$BIN" disk add "$MNT" "$TMP/d3.img" --size 128M >"$TMP/out" 2>"$TMP/err"; then
  pass "disk add: $(cat "$TMP/out")"
else
  fail "disk add failed: $(cat "$TMP/err")"
fi
[[ "$(online_disks)" == "0 2 3" ]] && pass "disk list shows the new disk" ||
  fail "disk list after add: '$(online_disks)'"
free_after=$(df -k --output=size "$MNT" | tail -1)
((free_after > free_before)) && pass "df grew ($free_before -> $free_after KiB)" ||
  fail "df did not grow ($free_before -> $free_after KiB)"

# ------------------------------- remove while a writer appends and fsyncs
python3 - "$MNT/log" "$TMP/writer.count" <<'PY' &
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
n = 0
while not os.path.exists(sys.argv[2] + ".stop"):
    os.write(fd, (b"record %08d " % n) * 256)
    os.fsync(fd)
    n += 1
    with open(sys.argv[2], "w") as f:
        f.write(str(n))
os.close(fd)
PY
WRITER_PID=$!
poll_until 20 test -s "$TMP/writer.count" || fail "the writer did not start"
if "$BIN" disk remove "$MNT" 3 >"$TMP/out" 2>"$TMP/err"; then
  pass "disk remove under a writer: $(cat "$TMP/out")"
else
  fail "disk remove under a writer failed: $(cat "$TMP/err")"
fi
touch "$TMP/writer.count.stop"
wait "$WRITER_PID" || fail "the writer failed"
WRITER_PID=""
n=$(cat "$TMP/writer.count")
python3 - "$MNT/log" "$n" <<'PY' && pass "all $n fsync'd records of the writer are intact" || fail "the writer's file is damaged"
import sys
data = open(sys.argv[1], "rb").read()
n = int(sys.argv[2])
want = b"".join((b"record %08d " % i) * 256 for i in range(n))
sys.exit(0 if data == want else 1)
PY
[[ "$(online_disks)" == "0 2" ]] && pass "disk 3 is gone" || fail "disk list: '$(online_disks)'"
same_files && pass "every file intact" || fail "a file differs"

"$BIN" umount "$MNT" || fail "umount failed"
if "$BIN" fsck --volume "$VOL" >"$TMP/fsck.out" 2>&1; then
  pass "fsck is clean after the removes and the add"
else
  fail "fsck: $(cat "$TMP/fsck.out")"
fi
"$BIN" mount --volume "$VOL" "$MNT" || die "remount failed"
[[ "$(online_disks)" == "0 2" ]] && pass "the layout survives a remount" ||
  fail "disk list after remount: '$(online_disks)'"
same_files && pass "every file intact after the remount" || fail "a file differs after remount"
"$BIN" umount "$MNT" || fail "umount failed"

if [[ $FAILURES -ne 0 ]]; then
  echo "FAIL: $FAILURES check(s) failed" >&2
  exit 1
fi
echo "PASS"
