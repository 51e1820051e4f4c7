#!/usr/bin/env bash
# pass/fail always succeed, so `A && pass ... || fail ...` is an if-else here.
# shellcheck disable=SC2015
# Replicating a live volume through its snapshots, between peers on a
# private, namespaced LAN (netns_lib.sh): n1 seeds, n2 and n3 receive.
#
#   1. A snapshot is taken of a mounted volume while a writer keeps
#      overwriting a file in it; `image create --snapshot` makes its torrent
#      and n1 seeds it from the live volume while the writer goes on. Both
#      receivers fetch it with `replicate fetch --volume` at once; each
#      resulting volume mounts (on the host) and `diff -r` against the
#      snapshot mounted read-only on the source is empty; fsck is clean.
#   2. The writer stops and its file is deleted, 1 % of the other data
#      changes, and a newer snapshot is replicated onto the same two
#      volumes: each receives at most 5 % of the image's bytes, and again
#      equals the snapshot exactly.
#   3. Refusals: fetching onto a mounted receiver volume, or onto a
#      directory holding another volume, changes nothing.
#
# Usage: snapshot_replication.sh /path/to/dynamicfs
# Exit:  0 pass, 1 failure, 77 skipped (not root / no FUSE / no `ip netns`).
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
dfs_require_bin "$@"
dfs_require_root_fuse
PY=/usr/bin/python3
dfs_require_tools ip openssl cmp diff timeout "$PY"
BIN=$(realpath "$BIN")

NODES=3
# shellcheck source=netns_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/netns_lib.sh"
PIECE=262144
FILES=32
FILE_MIB=2

VOL=$TMP/src/vol
LIVE=$TMP/src/mnt
RO=$TMP/src/ro
mkdir -p "$LIVE" "$RO" "$TMP/r2" "$TMP/r3" "$TMP/m2" "$TMP/m3"
"$BIN" mkfs --volume "$VOL" --disk "$TMP/src/d0.img" --disk "$TMP/src/d1.img" --size 320M \
  >/dev/null || die "mkfs failed"
"$BIN" mount --volume "$VOL" "$LIVE" || die "mount of the source failed"
for ((i = 1; i <= FILES; i++)); do seeded_bytes "file$i" $((FILE_MIB * MiB)) >"$LIVE/f$i"; done
seeded_bytes scratch $((8 * MiB)) >"$LIVE/scratch"
sync "$LIVE"

# The write load: overwrite the scratch file in place, round after round,
# until told to stop (every round frees the space of the last one).
writer() {
  local round=0
  while [[ ! -e "$TMP/stop-writer" ]]; do
    seeded_bytes "round$round" $((8 * MiB)) | dd of="$LIVE/scratch" bs=1M conv=notrunc status=none
    sync "$LIVE/scratch"
    echo $((++round)) >"$TMP/writer.rounds"
  done
}
writer &
WRITER=$!
PIDS+=("$WRITER")
rounds() { cat "$TMP/writer.rounds" 2>/dev/null || echo 0; }
writer_started() { (($(rounds) >= 1)); }
poll_until 30 writer_started || die "the writer did not start"

# replicate_snapshot NAME TAG: image of snapshot NAME, seeded from n1,
# fetched by n2 and n3 at once into $TMP/r2/vol and $TMP/r3/vol.
replicate_snapshot() {
  local name=$1 tag=$2 node
  "$BIN" image create --snapshot "$LIVE" "$name" -o "$TMP/$name.torrent" --piece-size $PIECE \
    >"$TMP/out" 2>"$TMP/err" || die "image create --snapshot $name failed: $(cat "$TMP/err")"
  echo "    $(head -1 "$TMP/out")"
  seed "seed.$tag" 1 7400 "$TMP/$name.torrent" "$VOL" --no-lsd --listen "$SEEDER:7400"
  for node in 2 3; do
    spawn "$tag.r$node" $node "$BIN" replicate fetch --json "$TMP/$name.torrent" \
      --volume "$TMP/r$node/vol" --no-lsd --peer "$SEEDER:7400" --listen "$(ip_of $node):7401"
  done
  for node in 2 3; do
    reap "$tag.r$node" 300 || fail "$tag.r$node: still running after 300 s"
    if [[ "${RC_OF[$tag.r$node]}" == 0 && "$(jfinal "$tag.r$node" ok)" == true ]]; then
      pass "$tag.r$node: fetched snapshot $name (exit 0, final line ok)"
    else
      fail "$tag.r$node: exit ${RC_OF[$tag.r$node]}: $(head -c 500 "$TMP/$tag.r$node.err")"
    fi
  done
  stop "seed.$tag" || fail "seed.$tag did not exit within 15 s of SIGINT"
}

# same_as_snapshot NAME: both receivers' volumes, mounted, equal snapshot
# NAME mounted read-only on the source; fsck of each is clean afterwards.
same_as_snapshot() {
  local name=$1 node
  "$BIN" mount --volume "$VOL" --snapshot "$name" "$RO" || die "mount of snapshot $name failed"
  for node in 2 3; do
    if ! "$BIN" mount --volume "$TMP/r$node/vol" "$TMP/m$node" 2>"$TMP/err"; then
      fail "receiver $node: its volume does not mount: $(cat "$TMP/err")"
      continue
    fi
    if diff -r "$RO" "$TMP/m$node" >"$TMP/diff.out" 2>&1; then
      pass "receiver $node: diff -r against snapshot $name is empty"
    else
      fail "receiver $node differs from snapshot $name: $(head -5 "$TMP/diff.out")"
    fi
    "$BIN" umount "$TMP/m$node" || fail "umount of receiver $node failed"
    "$BIN" fsck --volume "$TMP/r$node/vol" >"$TMP/fsck.out" 2>&1 &&
      pass "receiver $node: fsck is clean" || fail "receiver $node: fsck: $(cat "$TMP/fsck.out")"
  done
  "$BIN" umount "$RO" || fail "umount of snapshot $name failed"
}

# ---------------------------------------------- 1. a live volume, 2 receivers
echo "--- 1. a snapshot of a volume under write load -> 2 receivers"
t=$(now_ms)
"$BIN" snapshot create "$LIVE" one >/dev/null || die "snapshot create one failed"
before=$(rounds)
replicate_snapshot one s1
after=$(rounds)
((after > before)) && pass "the writer went on during the replication ($before -> $after rounds)" ||
  fail "the writer made no progress while the snapshot was replicated"
same_as_snapshot one
echo "scenario 1: $(secs_since "$t") s"

# ------------------------------------------------- 2. the next snapshot, a delta
echo "--- 2. 1% changed: the newer snapshot re-replicates as a delta"
t=$(now_ms)
touch "$TMP/stop-writer"
wait "$WRITER" || fail "the writer failed"
# The load's file goes (a delete sends nothing); of the 64 MiB in the
# files, 1 % changes: 10 blocks of 64 KiB in 10 files.
rm "$LIVE/scratch"
for ((i = 1; i <= 10; i++)); do
  seeded_bytes "patch$i" $((64 * 1024)) |
    dd of="$LIVE/f$i" bs=64K seek=$((i % FILE_MIB * 8 + 3)) conv=notrunc status=none
done
sync "$LIVE"
"$BIN" snapshot create "$LIVE" two >/dev/null || die "snapshot create two failed"
replicate_snapshot two s2
for node in 2 3; do
  d=$(jfinal "s2.r$node" downloaded)
  total=$(jfinal "s2.r$node" bytes_total)
  if [[ -n "$d" && -n "$total" ]] && ((d * 20 <= total)); then
    pass "receiver $node: the newer snapshot took $d of $total bytes ($(pct "$d" "$total") <= 5%)"
  else
    fail "receiver $node: the newer snapshot took $d of $total bytes ($(pct "${d:-0}" "${total:-1}"))"
  fi
done
same_as_snapshot two
echo "scenario 2: $(secs_since "$t") s"

# ---------------------------------------------------------------- 3. refusals
echo "--- 3. refusals"
"$BIN" mount --volume "$TMP/r2/vol" "$TMP/m2" || die "mount of receiver 2 failed"
sum_before=$(sha256sum "$TMP/r2/vol/volume.toml" | awk '{print $1}')
if "$BIN" replicate fetch "$TMP/two.torrent" --volume "$TMP/r2/vol" --no-lsd \
  --peer "$SEEDER:7400" >/dev/null 2>"$TMP/err"; then
  fail "a fetch onto a mounted volume succeeded"
else
  grep -q "mounted" "$TMP/err" && pass "a fetch onto a mounted volume is refused: $(cat "$TMP/err")" ||
    fail "fetch onto a mounted volume: unclear message: $(cat "$TMP/err")"
fi
"$BIN" umount "$TMP/m2" || fail "umount of receiver 2 failed"
[[ "$(sha256sum "$TMP/r2/vol/volume.toml" | awk '{print $1}')" == "$sum_before" ]] ||
  fail "the refused fetch changed volume.toml"
"$BIN" mkfs --volume "$TMP/other" --disk "$TMP/other.img" --size 64M >/dev/null || die "mkfs other"
if "$BIN" replicate fetch "$TMP/two.torrent" --volume "$TMP/other" --no-lsd \
  --peer "$SEEDER:7400" >/dev/null 2>"$TMP/err"; then
  fail "a fetch onto another volume succeeded"
else
  grep -q "holds volume" "$TMP/err" && pass "a fetch onto another volume is refused: $(cat "$TMP/err")" ||
    fail "fetch onto another volume: unclear message: $(cat "$TMP/err")"
fi

"$BIN" umount "$LIVE" || fail "umount of the source failed"
"$BIN" fsck --volume "$VOL" >"$TMP/fsck.out" 2>&1 && pass "source: fsck is clean" ||
  fail "source: fsck: $(cat "$TMP/fsck.out")"
echo "total: $(secs_since "$TOTAL_START") s (seed $SEED)"
if [[ $FAILURES -ne 0 ]]; then
  echo "FAIL: $FAILURES check(s) failed (seed $SEED)" >&2
  exit 1
fi
echo "PASS"
