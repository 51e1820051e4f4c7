#!/usr/bin/env bash
# Hot/cold tiering through a real mount: one "ssd" and two "hdd" file disks
# (classes set with mkfs --class and `disk class`), one copy of each extent, tier_high_water
# 50 %, tier_low_water 30 %.
#   - cold files (old mtime, never read) written past the high water mark
#     move to the hdd class until the ssd class is back under it, coldest
#     first;
#   - a new file lands on the ssd class;
#   - a cold file that is read again moves back onto the ssd class once
#     there is room under the low water mark;
#   - a seeded random model (writes, overwrites, reads that bypass the page
#     cache, fsyncs) runs the whole time and never reads a wrong byte; every
#     file is intact after a remount and fsck is clean.
#
# Usage: tiering.sh /path/to/dynamicfs
# Exit:  0 pass, 1 failure, 77 skipped (not root / no /dev/fuse).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
dfs_require_bin "$@"
dfs_require_root_fuse
dfs_require_tools python3 cmp dd touch
BIN=$(realpath "$BIN")

dfs_make_tmp
VOL=$TMP/vol
"$BIN" mkfs --volume "$VOL" --replicas 1 --disk "$TMP/ssd.img" --disk "$TMP/hdd1.img" \
  --disk "$TMP/hdd2.img" --class ssd --class hdd --size 256M >/dev/null || die "mkfs failed"
mount_vol() {
  "$BIN" mount --volume "$VOL" "$MNT" \
    -o tier_high_water=50,tier_low_water=30,tier_interval_ms=200,tier_hot_seconds=3600 ||
    die "mount failed"
}
mount_vol
# Disks 0 and 1 got their classes from mkfs --class; disk 2 is set live.
"$BIN" disk class "$MNT" "$TMP/hdd2.img" hdd >/dev/null || die "disk class by path failed"
"$BIN" disk list "$MNT" | grep -q "^0 .* ssd " || fail "disk list does not show disk 0 as ssd"
grep -q 'class = "hdd"' "$VOL/volume.toml" || fail "volume.toml does not record the classes"

tier() { dfs_status_json "doc['tiering']$1"; }
ssd_pct() { dfs_status_json "int(100 * doc['tiering']['ssd']['used_bytes'] / doc['tiering']['ssd']['capacity_bytes'])"; }
# on_ssd FILE: percent of FILE's copies on the ssd class.
on_ssd() {
  "$BIN" locate --json "$1" | python3 -c "
import json, sys
ex = json.load(sys.stdin)[0]['extents']
tot = sum(e['length'] * len(e['copies']) for e in ex)
ssd = sum(e['length'] for e in ex for c in e['copies'] if c['class'] == 'ssd')
print(100 * ssd // tot if tot else 0)"
}

# ------------------------------------------------ the model, all along
mkdir "$MNT/model"
SEED=${TIER_SEED:-$RANDOM$RANDOM}
echo "model seed $SEED (TIER_SEED=$SEED to repeat)"
python3 - "$MNT/model" "$TMP/stop" "$SEED" >"$TMP/model.out" 2>&1 <<'PY' &
import os, random, sys
root, stop, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
rng = random.Random(seed)
want = {}
ops = 0
def path(i): return f"{root}/m{i}"
def check(i):
    fd = os.open(path(i), os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)  # read from the daemon
    got = b""
    while True:
        b = os.read(fd, 1 << 20)
        if not b: break
        got += b
    os.close(fd)
    if got != want[i]:
        bad = next((k for k in range(min(len(got), len(want[i]))) if got[k] != want[i][k]), None)
        print(f"MISMATCH m{i} after {ops} ops: size {len(got)} want {len(want[i])}, first bad byte {bad}")
        sys.exit(1)
while not os.path.exists(stop) or ops < 300:
    i = rng.randrange(24)
    op = rng.random()
    if i not in want or op < 0.2:
        data = rng.randbytes(rng.randrange(1, 2 << 20))
        with open(path(i), "wb") as f: f.write(data)
        want[i] = data
    elif op < 0.5:
        off = rng.randrange(len(want[i]) + 1)
        data = rng.randbytes(rng.randrange(1, 256 << 10))
        fd = os.open(path(i), os.O_WRONLY)
        os.pwrite(fd, data, off)
        if rng.random() < 0.3: os.fsync(fd)
        os.close(fd)
        cur = want[i]
        if off > len(cur): cur += b"\0" * (off - len(cur))
        want[i] = cur[:off] + data + cur[off + len(data):]
    else:
        check(i)
    ops += 1
for i in want: check(i)
print(f"model: {ops} operations, every read matched")
PY
MODEL=$!
# shellcheck disable=SC2317  # run by dfs_cleanup_tmp at exit
dfs_extra_cleanup() { touch "$TMP/stop"; wait "$MODEL" 2>/dev/null; }

# ------------------------------------------------ cold data moves off
for i in 1 2 3 4 5 6 7 8; do
  dd if=/dev/urandom of="$TMP/cold$i" bs=1M count=20 status=none
  cp "$TMP/cold$i" "$MNT/cold$i"
  touch -d "$((10 - i)) hours ago" "$MNT/cold$i"  # cold1 is the coldest
done
demoted() { (($(tier "['demoted_bytes_total']") > 0 && $(ssd_pct) <= 50)); }
if poll_until 120 demoted; then
  pass "cold data moved to the hdd class: ssd at $(ssd_pct) % (high water 50 %), $(($(tier "['demoted_bytes_total']") >> 20)) MiB moved down"
else
  fail "the ssd class is at $(ssd_pct) % and $(tier "['demoted_bytes_total']") bytes moved down"
fi
[[ $(on_ssd "$MNT/cold1") -eq 0 ]] || fail "the coldest file still has $(on_ssd "$MNT/cold1") % on ssd"
"$BIN" status "$MNT" | grep -q "^tiering     on  ssd" || fail "status shows no tiering line"

# ------------------------------------------------ new data lands on ssd
dd if=/dev/urandom of="$TMP/hot" bs=1M count=8 status=none
cp "$TMP/hot" "$MNT/hot"
if [[ $(on_ssd "$MNT/hot") -eq 100 ]]; then
  pass "a new file is written to the ssd class"
else
  fail "a new file has only $(on_ssd "$MNT/hot") % on ssd"
fi

# ------------------------------------------------ a read makes cold data hot
[[ $(on_ssd "$MNT/cold1") -eq 0 ]] || die "cold1 is not off the ssd class"
dfs_drop_cache "$MNT/cold1"
cmp -s "$TMP/cold1" "$MNT/cold1" || fail "cold1 reads back wrong"
# Room under the low water mark: the marks go up (the model keeps writing).
"$BIN" config set tier_high_water 90 "$MNT" >/dev/null || fail "config set tier_high_water failed"
"$BIN" config set tier_low_water 80 "$MNT" >/dev/null || fail "config set tier_low_water failed"
promoted() { [[ $(on_ssd "$MNT/cold1") -eq 100 ]]; }
if poll_until 120 promoted; then
  pass "a cold file read again moved back to the ssd class ($(($(tier "['promoted_bytes_total']") >> 20)) MiB moved up)"
else
  fail "cold1 has $(on_ssd "$MNT/cold1") % on ssd after being read"
fi

# ------------------------------------------------ correctness throughout
touch "$TMP/stop"
if wait "$MODEL"; then
  pass "$(tail -1 "$TMP/model.out")"
else
  fail "the model failed during migration: $(tail -3 "$TMP/model.out")"
fi
dfs_extra_cleanup() { :; }
for i in 1 2 3 4 5 6 7 8; do
  dfs_drop_cache "$MNT/cold$i"
  cmp -s "$TMP/cold$i" "$MNT/cold$i" || fail "cold$i changed during migration"
done
"$BIN" umount "$MNT" || fail "umount failed"
dfs_fsck_clean "after migrations"
mount_vol
for f in cold1 cold5 cold8 hot; do
  cmp -s "$TMP/$f" "$MNT/$f" || fail "$f changed across a remount"
done
"$BIN" disk list "$MNT" | grep -q "^1 .* hdd " || fail "the classes did not survive a remount"
"$BIN" umount "$MNT" || fail "umount failed"

if [[ $FAILURES -ne 0 ]]; then
  echo "FAIL: $FAILURES check(s) failed" >&2
  exit 1
fi
echo "PASS"
