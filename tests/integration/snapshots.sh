#!/usr/bin/env bash
# Snapshots through real mounts (two file disks, two copies):
#   - consistency: while 8 writers append numbered records with fsync to 32
#     files, snapshots are taken one after another; each one, mounted
#     read-only, shows every file as a whole-record prefix of its records
#     (no gap, no torn record), later snapshots never hold fewer records,
#     and `fsck --snapshot` is clean;
#   - a snapshot is immune to later overwrites, truncates, punched holes,
#     deletes and new files (diff -r against a copy is empty), and its
#     mount refuses writes (EROFS);
#   - `snapshot diff --json` reports exactly the changes made;
#   - delete is refused while the snapshot is mounted; deleting returns
#     exactly the space `snapshot list` says only it held;
#   - SIGKILL of the daemon: after remount every snapshot is there and
#     unchanged, fsck is clean;
#   - crash points in the middle of create and delete: no half snapshot,
#     fsck clean.
#
# Usage: snapshots.sh /path/to/dynamicfs
# Exit:  0 pass, 1 failure, 77 skipped (not root / no /dev/fuse).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
dfs_require_bin "$@"
dfs_require_root_fuse
dfs_require_tools python3 cmp diff fallocate truncate
BIN=$(realpath "$BIN")

dfs_make_tmp
VOL=$TMP/vol
RO=$TMP/ro
mkdir "$RO" "$TMP/ref"
export DYNAMICFS_FAULT_INJECTION=1  # for the crash points at the end

"$BIN" mkfs --volume "$VOL" --disk "$TMP/d0.img" --disk "$TMP/d1.img" --size 384M >/dev/null ||
  die "mkfs failed"
mount_vol() { "$BIN" mount --volume "$VOL" "$MNT" || die "mount failed"; }
mount_snap() { "$BIN" mount --volume "$VOL" --snapshot "$1" "$RO" || die "mount of snapshot $1 failed"; }
free_bytes() { dfs_status_json "sum(d['free_bytes'] for d in doc['disks'])"; }
unique_of() {
  "$BIN" snapshot list --json "$MNT" |
    python3 -c "import json,sys; print([s['unique_bytes'] for s in json.load(sys.stdin)['snapshots'] if s['name'] == '$1'][0])"
}
mount_vol

# ------------------------------------------------------ 8 writers, snapshots
mkdir "$MNT/log"
python3 - "$MNT/log" "$TMP/stop" <<'PY' &
import os, sys
from multiprocessing import Process
root, stop = sys.argv[1], sys.argv[2]
def record(w, f, seq):
    return f"{w:02d} {f:02d} {seq:010d} ".ljust(63, "x").encode() + b"\n"
def writer(w):
    fds = [os.open(f"{root}/w{w}_f{f}", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644) for f in range(4)]
    seq = 0
    while not os.path.exists(stop):
        for f, fd in enumerate(fds):
            os.write(fd, record(w, f, seq))
            os.fsync(fd)
        seq += 1
procs = [Process(target=writer, args=(w,)) for w in range(8)]
for p in procs: p.start()
for p in procs: p.join()
PY
WRITERS=$!
poll_until 30 test -s "$MNT/log/w7_f3" || die "the writers did not start"
for i in 1 2 3 4 5 6; do
  "$BIN" snapshot create "$MNT" "live$i" >/dev/null || fail "snapshot create live$i under load failed"
  sleep 0.3  # pacing only: let the writers append between snapshots
done
touch "$TMP/stop"
wait "$WRITERS" || fail "a writer failed"

check_records() {  # check_records DIR PREVIOUS_COUNTS_JSON: prints this snapshot's counts
  python3 - "$1" "$2" <<'PY'
import json, os, sys
root, prev_path = sys.argv[1], sys.argv[2]
prev = json.load(open(prev_path)) if os.path.exists(prev_path) else {}
counts, bad = {}, []
for w in range(8):
    for f in range(4):
        name = f"w{w}_f{f}"
        path = f"{root}/{name}"
        data = open(path, "rb").read() if os.path.exists(path) else b""
        if len(data) % 64:
            bad.append(f"{name}: torn record ({len(data)} bytes)")
        n = len(data) // 64
        for seq in range(n):
            want = f"{w:02d} {f:02d} {seq:010d} ".ljust(63, "x").encode() + b"\n"
            if data[seq * 64:(seq + 1) * 64] != want:
                bad.append(f"{name}: record {seq} is wrong (a gap or garbage)")
                break
        if n < prev.get(name, 0):
            bad.append(f"{name}: {n} records, fewer than the earlier snapshot's {prev[name]}")
        counts[name] = n
json.dump(counts, open(prev_path, "w"))
if bad:
    print("; ".join(bad[:5]))
    sys.exit(1)
print(sum(counts.values()))
PY
}
for i in 1 2 3 4 5 6; do
  mount_snap "live$i"
  if out=$(check_records "$RO/log" "$TMP/counts.json"); then
    pass "snapshot live$i: all 32 files are whole-record prefixes ($out records)"
  else
    fail "snapshot live$i: $out"
  fi
  "$BIN" umount "$RO" || fail "umount of snapshot live$i failed"
  dfs_fsck_clean "snapshot live$i" --snapshot "live$i"
done
for i in 1 2 3 4 5 6; do "$BIN" snapshot delete "$MNT" "live$i" >/dev/null || fail "delete live$i"; done
rm -rf "$MNT/log"

# ------------------------------------------------- immunity to later changes
python3 - "$TMP/ref" <<'PY'
import os, random, sys
seed = int.from_bytes(os.urandom(4), "little")
print(f"file contents seed {seed}")
rnd = random.Random(seed)
for name, size in [("over", 3 << 20), ("trunc", (2 << 20) + 333), ("punch", 4 << 20),
                   ("gone", 700000), ("keep", 12345)]:
    open(f"{sys.argv[1]}/{name}", "wb").write(rnd.randbytes(size))
PY
cp "$TMP/ref"/* "$MNT/"
sync "$MNT"
"$BIN" snapshot create "$MNT" base >/dev/null || die "snapshot create base failed"
dd if=/dev/urandom of="$MNT/over" bs=64K count=16 seek=8 conv=notrunc status=none
truncate -s 10000 "$MNT/trunc"
fallocate -p -o 1048576 -l 1048576 "$MNT/punch"
rm "$MNT/gone"
echo "made later" >"$MNT/new"
sync "$MNT"
"$BIN" snapshot create "$MNT" after >/dev/null || die "snapshot create after failed"
dd if=/dev/urandom of="$MNT/fill" bs=1M count=48 status=none  # reuses whatever space is free
sync "$MNT"

mount_snap base
diff -r "$TMP/ref" "$RO" >"$TMP/diff.out" 2>&1 && pass "snapshot base is unchanged by later writes, truncate, punch, delete" ||
  fail "snapshot base differs from what it captured: $(head -5 "$TMP/diff.out")"
if echo x 2>"$TMP/err" >"$RO/write-here"; then
  fail "a write into a snapshot mount succeeded"
else
  grep -q "Read-only file system" "$TMP/err" && pass "a snapshot mount refuses writes (EROFS)" ||
    fail "writing into a snapshot mount: $(cat "$TMP/err")"
fi
if "$BIN" snapshot delete "$MNT" base >/dev/null 2>"$TMP/err"; then
  fail "deleting a mounted snapshot succeeded"
else
  grep -q "in use" "$TMP/err" && pass "deleting a mounted snapshot is refused: $(cat "$TMP/err")" ||
    fail "deleting a mounted snapshot: unclear message: $(cat "$TMP/err")"
fi
"$BIN" umount "$RO" || fail "umount of snapshot base failed"

# ------------------------------------------------------------------- diff
"$BIN" snapshot diff --json "$MNT" base after >"$TMP/diff.json" || fail "snapshot diff failed"
if python3 - "$TMP/diff.json" <<'PY'; then
import json, sys
d = json.load(open(sys.argv[1]))
ok = True
def check(cond, what):
    global ok
    if not cond:
        print("diff:", what, file=sys.stderr)
        ok = False
check([f["path"] for f in d["added"]] == ["/new"], f"added {d['added']}")
check([f["path"] for f in d["removed"]] == ["/gone"], f"removed {d['removed']}")
changed = {f["path"]: f for f in d["changed"]}
check(sorted(changed) == ["/over", "/punch", "/trunc"], f"changed {sorted(changed)}")
if "/over" in changed:
    check(changed["/over"]["ranges"] == [[512 << 10, 1 << 20]], f"over ranges {changed['/over']['ranges']}")
if "/punch" in changed:
    check(changed["/punch"]["ranges"] == [[1 << 20, 1 << 20]], f"punch ranges {changed['/punch']['ranges']}")
if "/trunc" in changed:
    check(changed["/trunc"]["size"] == 10000 and changed["/trunc"]["data"], "trunc")
new_bytes = d["new_disk_bytes"]
# Two copies of the 1 MiB overwrite, the 10000-byte tail block and the new file.
check(2 * (1 << 20) <= new_bytes <= 2 * ((1 << 20) + 3 * 4096), f"new disk bytes {new_bytes}")
sys.exit(0 if ok else 1)
PY
  pass "snapshot diff reports exactly the changes made"
else
  fail "snapshot diff: $(cat "$TMP/diff.json" | head -c 600)"
fi

# ------------------------------------------------------ space of a delete
rm "$MNT/fill"
sync "$MNT"
poll_until 20 test "$(dfs_status_json "sum(d['deferred_free_bytes'] for d in doc['disks'])")" = 0 ||
  fail "deferred frees did not settle"
before=$(free_bytes)
unique=$(unique_of base)
((unique > 0)) || fail "snapshot base holds no space of its own"
"$BIN" snapshot delete --wait "$MNT" base >/dev/null || fail "snapshot delete base failed"
after=$(free_bytes)
[[ $((after - before)) == "$unique" ]] &&
  pass "deleting base gave back exactly the $unique bytes only it held" ||
  fail "deleting base gave back $((after - before)) bytes, list said $unique"

# --------------------------------------------------------- SIGKILL, remount
cp -r "$TMP/ref" "$TMP/ref-after"
"$BIN" snapshot create "$MNT" post >/dev/null || fail "snapshot create post failed"
pid=$(cat "$VOL/daemon.pid")
kill -KILL "$pid"
poll_until 20 test ! -d "/proc/$pid" || die "the daemon survived SIGKILL"
umount -l "$MNT" 2>/dev/null || fusermount3 -u -z "$MNT" 2>/dev/null || true
dfs_fsck_clean "after SIGKILL"
mount_vol
"$BIN" snapshot list "$MNT" >"$TMP/list" || fail "snapshot list after the kill failed"
grep -q "^after " "$TMP/list" && grep -q "^post " "$TMP/list" &&
  pass "both snapshots are listed after the kill" || fail "snapshots missing after the kill: $(cat "$TMP/list")"
mount_snap after
for f in over trunc punch new keep; do
  cmp -s "$MNT/$f" "$RO/$f" || fail "snapshot after: $f differs from the live file it froze"
done
[[ ! -e "$RO/gone" ]] && pass "snapshot after reads back after the kill" || fail "snapshot after has /gone"
"$BIN" umount "$RO" || fail "umount of snapshot after failed"

# ----------------------------------------------------------- crash points
crash_at() {  # crash_at POINT CMD...
  local point=$1 pid
  shift
  pid=$(cat "$VOL/daemon.pid")
  "$BIN" debug crash-point "$MNT" "$point" || die "arming $point failed"
  "$@" >/dev/null 2>&1 || true
  poll_until 20 test ! -d "/proc/$pid" || die "$point: the daemon is still alive"
  umount -l "$MNT" 2>/dev/null || fusermount3 -u -z "$MNT" 2>/dev/null || true
  dfs_fsck_clean "killed at $point"
  mount_vol
}
crash_at snapshot.before_rename "$BIN" snapshot create "$MNT" half
if "$BIN" snapshot list "$MNT" | grep -q "^half "; then
  fail "a snapshot killed before its rename exists"
else
  pass "a snapshot killed before its rename does not exist"
fi
ls -a "$VOL/snapshots" | grep -q "^\.tmp-" && fail "a .tmp- directory was left" || true
crash_at snapshot_delete.before_release "$BIN" snapshot delete "$MNT" post
if "$BIN" snapshot list "$MNT" | grep -q "^post "; then
  fail "a snapshot killed while deleted came back"
else
  pass "a snapshot killed in the middle of its delete stays deleted"
fi
"$BIN" umount "$MNT" || fail "umount failed"
dfs_fsck_clean "at the end"

if [[ $FAILURES -ne 0 ]]; then
  echo "FAIL: $FAILURES check(s) failed" >&2
  exit 1
fi
echo "PASS"
