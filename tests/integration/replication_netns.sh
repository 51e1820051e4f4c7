#!/usr/bin/env bash
# pass/fail always succeed, so `A && pass ... || fail ...` is an if-else here.
# shellcheck disable=SC2015
# Replication test for dynamicfs: `image create`, `replicate seed` and
# `replicate fetch` between peers on a private, namespaced LAN.
#
# Why it exists: the replication agent is how a lab gets a disk image onto
# many machines at once. If discovery does not work, if an interrupted fetch
# starts over, if a small change re-sends the whole disk, if a fetched
# filesystem is damaged, if a wrong target is overwritten, or if stock
# BitTorrent clients cannot read what we serve, the tool fails exactly where
# it is supposed to save time or data. So this test runs real peers, each in
# its own network namespace, and checks the bytes and the byte counters:
#
#   1. one seeder -> three receivers at once, peers found by local service
#      discovery (LSD multicast) only; every target is identical.
#   2. resume: a rate-limited fetch is SIGKILLed part way; the rerun finishes
#      and receives at most 75 % of the image.
#   3. delta: 1 % of the source changes; a receiver holding the old copy
#      receives at most 5 % of the image.
#   4. ext4: only used blocks are imaged; the fetched filesystem passes
#      e2fsck and every file reads back.
#   5. refusals: a target smaller than the image, and a torrent whose file
#      names are not hex disk offsets, are refused and the target untouched.
#   6. interoperability: a stock libtorrent client (python3-libtorrent)
#      fetches from `replicate seed`.
#   7. `--listen 0.0.0.0:0` reports a port that other peers can reach.
#
# The network: a namespace holding a Linux bridge and NODES node namespaces,
# each linked to the bridge by a veth pair (created inside the namespaces,
# never in the host's). Nothing is connected to the host namespace, so all
# traffic, multicast included, stays on this private LAN. LSD needs no
# multicast route (libtorrent sends its announces on each interface), but the
# nodes get one anyway, and the bridge has multicast snooping turned off so
# that it floods the announces whatever the kernel's IGMP state.
#
# Random data comes from a seed that is printed (set DFS_TEST_SEED to rerun
# with the same data). Nothing sleeps and then asserts: every asynchronous
# step is polled with a deadline.
#
# Usage: replication_netns.sh /path/to/dynamicfs
# Exit:  0 pass, 1 failure, 77 skipped (not root / no usable `ip netns`).
# Needs: iproute2, openssl, /usr/bin/python3 with libtorrent
#        (python3-libtorrent), e2fsprogs (mkfs.ext4, debugfs, e2fsck,
#        dumpe2fs).
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
dfs_require_bin "$@"
dfs_require_root "network namespaces"
PY=/usr/bin/python3  # the system python: python3-libtorrent is installed there
dfs_require_tools ip openssl cmp sha256sum mkfs.ext4 debugfs e2fsck dumpe2fs timeout "$PY"
if ! "$PY" -c 'import libtorrent' 2>/dev/null; then
  echo "FAIL: $PY has no libtorrent module (Debian package python3-libtorrent)" >&2
  exit 1
fi
BIN=$(realpath "$BIN")

NODES=5                 # n1 seeds; n2..n4 receive; n5 runs the stock client
# shellcheck source=netns_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/netns_lib.sh"
IMG_MIB=256                     # the random image of scenarios 1-3, 5, 6
IMG_BYTES=$((IMG_MIB * MiB))
PIECE=262144                    # its piece size
EXT_MIB=128                     # the ext4 image of scenario 4

# -------------------------------------------------------------- the image
t=$(now_ms)
seeded_bytes image $IMG_BYTES >"$TMP/src.img"
[[ $(fsize "$TMP/src.img") -eq $IMG_BYTES ]] || die "could not generate $TMP/src.img"
echo "source image: $IMG_MIB MiB, sha256 $(sha "$TMP/src.img")"
"$BIN" image create --disk "$TMP/src.img" -o "$TMP/old.torrent" --used-ranges full \
  --piece-size $PIECE --name img >"$TMP/out" 2>"$TMP/err" ||
  die "image create of the source failed: $(cat "$TMP/err")"
grep -q "$IMG_BYTES bytes in 1 ranges" "$TMP/out" &&
  pass "image create --used-ranges full: $(head -1 "$TMP/out")" ||
  fail "image create --used-ranges full: expected '$IMG_BYTES bytes in 1 ranges': $(cat "$TMP/out")"
echo "setup: $(secs_since "$t") s"

# ------------------------------------------- 1. one seeder, three receivers
# Defaults everywhere (listen 0.0.0.0:6881, LSD on) and no --peer: the
# receivers can only find the seeder (and each other) by LSD multicast.
echo "--- 1. one seeder -> 3 receivers, LSD discovery only"
t=$(now_ms)
seed s1.seed 1 6881 "$TMP/old.torrent" "$TMP/src.img"
for r in 2 3 4; do
  spawn "s1.fetch$r" $r "$BIN" replicate fetch "$TMP/old.torrent" \
    --target "$TMP/r$r.img" --json
done
for r in 2 3 4; do
  reap "s1.fetch$r" 240 || fail "s1.fetch$r: still running after 240 s"
done
s1_secs=$(secs_since "$t")
total_down=0
for r in 2 3 4; do
  if check_fetch "s1.fetch$r" "$TMP/r$r.img" "$TMP/src.img"; then
    d=$(jfinal "s1.fetch$r" downloaded)
    total_down=$((total_down + d))
    echo "    s1.fetch$r: downloaded $d bytes in $(jfinal "s1.fetch$r" time) s," \
      "peers $(jfinal "s1.fetch$r" peers)"
  fi
done
# Every piece leaves the seeder at least once.
seeder_uploaded_all() { fge "$(jget s1.seed uploaded)" $IMG_BYTES; }
if poll_until 10 seeder_uploaded_all; then
  pass "seeder uploaded $(jget s1.seed uploaded) bytes (>= one image)"
else
  fail "seeder reports uploaded=$(jget s1.seed uploaded), expected >= $IMG_BYTES"
fi
if [[ $total_down -ge $((3 * IMG_BYTES)) ]]; then
  pass "the receivers downloaded $total_down bytes in all (>= 3 images)"
else
  fail "the receivers downloaded $total_down bytes in all, expected >= $((3 * IMG_BYTES))"
fi
if stop s1.seed && [[ "${RC_OF[s1.seed]}" == 0 ]]; then
  pass "seeder exits 0 on SIGINT"
else
  fail "seeder exit status on SIGINT: ${RC_OF[s1.seed]}: $(head -c 300 "$TMP/s1.seed.err")"
fi
[[ "$(jfinal s1.seed event)" == "done" ]] && pass "seeder printed a final done line" ||
  fail "seeder printed no final {\"event\":\"done\"} line"
echo "scenario 1: 3 x $IMG_MIB MiB in $s1_secs s"
rm -f "$TMP/r2.img" "$TMP/r4.img"  # r3 keeps the old copy for scenario 3

# From here on explicit peers, no LSD: one seeder per torrent on n1.
seed seed.old 1 6881 "$TMP/old.torrent" "$TMP/src.img" --no-lsd \
  --listen "$SEEDER:6881"

# ----------------------------------------------------------- 2. resume
echo "--- 2. resume after SIGKILL"
t=$(now_ms)
RESUME=$TMP/resume.img
RATE_MB=20  # MB/s: 256 MiB take about 13 s
spawn s2.first 2 "$BIN" replicate fetch "$TMP/old.torrent" --target "$RESUME" --json \
  --no-lsd --peer "$SEEDER:6881" --max-rate $RATE_MB
progress_at_least_30() { fge "$(jget s2.first progress)" 0.30 || exited s2.first; }
poll_until 120 progress_at_least_30 || true
killed_at=$(jget s2.first progress)
if alive s2.first; then
  {
    kill -KILL "${PID_OF[s2.first]}"
    reap s2.first 10 || true
  } 2>/dev/null  # bash's "Killed" job notice
  # The last line it printed before it died.
  killed_at=$(jget s2.first progress)
  killed_in_range=0
  if fge "$killed_at" 0.30 && ! fge "$killed_at" 0.90; then
    pass "rate-limited fetch SIGKILLed at progress $killed_at"
    killed_in_range=1
  else
    fail "rate-limited fetch killed at progress '$killed_at', expected 0.30 <= p < 0.90"
  fi
  # --max-rate must hold on a LAN too (a 1.5x margin plus an 8 MiB burst).
  k_bytes=$(jget s2.first downloaded)
  k_time=$(jget s2.first time)
  k_rate=$(awk -v b="$k_bytes" -v t="$k_time" 'BEGIN {printf "%.1f", (t > 0 ? b / t / 1e6 : 0)}')
  if awk -v b="$k_bytes" -v t="$k_time" -v r=$RATE_MB -v m=$MiB \
    'BEGIN {exit !(b <= 1.5 * r * 1e6 * t + 8 * m)}'; then
    pass "--max-rate $RATE_MB holds: $k_bytes bytes in $k_time s ($k_rate MB/s)"
  else
    fail "--max-rate $RATE_MB is not applied: the fetch received $k_bytes bytes in $k_time s ($k_rate MB/s) from a peer on the LAN"
  fi
  fetch_fg s2.resume 2 180 "$TMP/old.torrent" --target "$RESUME" --no-lsd \
    --peer "$SEEDER:6881"
  if check_fetch s2.resume "$RESUME" "$TMP/src.img"; then
    d=$(jfinal s2.resume downloaded)
    if [[ $killed_in_range -ne 1 ]]; then
      echo "    (not checking the resumed fetch's downloaded=$d: the first fetch was not killed part way)"
    elif [[ "$d" -eq 0 ]]; then
      fail "resume not exercised: the killed fetch had already verified every piece (its last line was up to 1 s old; it ran too fast to be interrupted part way)"
    elif [[ "$d" -le $((IMG_BYTES * 3 / 4)) ]]; then
      pass "resumed fetch downloaded $d bytes ($(pct "$d" $IMG_BYTES) <= 75%)"
    else
      fail "resumed fetch downloaded $d bytes ($(pct "$d" $IMG_BYTES)), expected 0 < d <= 75% of $IMG_BYTES"
    fi
  fi
else
  reap s2.first 10 || true
  fail "the rate-limited fetch exited (status ${RC_OF[s2.first]}, progress '$killed_at', $(jget s2.first time) s) before it could be killed between 30% and 90%: $(head -c 300 "$TMP/s2.first.err")"
fi
echo "scenario 2: $(secs_since "$t") s (killed at $killed_at," \
  "resumed in $(jfinal s2.resume time) s, downloaded $(jfinal s2.resume downloaded))"
rm -f "$RESUME"

# ------------------------------------------------------------ 3. delta
echo "--- 3. delta: 1% of the source changed"
t=$(now_ms)
cp "$TMP/src.img" "$TMP/new.img"
CHUNK=$((320 * 1024))
# 8 chunks at piece-aligned offsets, one in each eighth of the image, so
# no two share a piece. Prints the offsets and the pieces they touch.
"$PY" - "$TMP/new.img" "$SEED" $IMG_BYTES $PIECE $CHUNK >"$TMP/delta.txt" <<'EOF'
import random
import sys

path, seed, size, piece, chunk = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:])
rng = random.Random("delta/" + seed)
npieces = size // piece
slot = npieces // 8
pieces = set()
with open(path, "r+b") as f:
    for k in range(8):
        p = k * slot + rng.randrange(slot - (chunk + piece - 1) // piece)
        off = p * piece
        f.seek(off)
        f.write(rng.randbytes(chunk))
        print("chunk %d: offset 0x%x (piece %d), %d bytes" % (k, off, p, chunk))
        pieces.update(range(off // piece, (off + chunk - 1) // piece + 1))
print("pieces changed: %d" % len(pieces))
EOF
sed 's/^/    /' "$TMP/delta.txt"
changed_pieces=$(awk '/^pieces changed:/ {print $3}' "$TMP/delta.txt")
"$BIN" image create --disk "$TMP/new.img" -o "$TMP/new.torrent" --used-ranges full \
  --piece-size $PIECE --name img >"$TMP/out" 2>"$TMP/err" ||
  die "image create of the changed source failed: $(cat "$TMP/err")"
seed seed.new 1 6882 "$TMP/new.torrent" "$TMP/new.img" --no-lsd --listen "$SEEDER:6882"
cmp -s "$TMP/r3.img" "$TMP/src.img" || fail "receiver 3 does not hold the old copy"
fetch_fg s3.delta 3 180 "$TMP/new.torrent" --target "$TMP/r3.img" --no-lsd \
  --peer "$SEEDER:6882"
if check_fetch s3.delta "$TMP/r3.img" "$TMP/new.img"; then
  d=$(jfinal s3.delta downloaded)
  min=$((changed_pieces * PIECE))
  if [[ "$d" -le $((IMG_BYTES / 20)) && "$d" -ge "$min" ]]; then
    pass "delta fetch downloaded $d bytes ($(pct "$d" $IMG_BYTES) <= 5%, >= the $changed_pieces changed pieces)"
  else
    fail "delta fetch downloaded $d bytes ($(pct "$d" $IMG_BYTES)), expected $min <= d <= 5% of $IMG_BYTES"
  fi
fi
stop seed.new || fail "seed.new did not exit within 15 s of SIGINT"
echo "scenario 3: $(secs_since "$t") s (fetch $(jfinal s3.delta time) s," \
  "downloaded $(jfinal s3.delta downloaded))"
rm -f "$TMP/r3.img" "$TMP/new.img"

# ------------------------------------------------------------- 4. ext4
echo "--- 4. ext4: used blocks only"
t=$(now_ms)
EXT=$TMP/ext.img
truncate -s ${EXT_MIB}M "$EXT"
mkfs.ext4 -q -F "$EXT" || die "mkfs.ext4 failed"
mkdir "$TMP/extfiles"
seeded_bytes ext-big $((5 * MiB)) >"$TMP/extfiles/big.bin"
seeded_bytes ext-small $((100 * 1024 + 7)) >"$TMP/extfiles/small.bin"
printf 'dynamicfs replication test, seed %s\n' "$SEED" >"$TMP/extfiles/note.txt"
EXT_FILES=(big.bin small.bin dir/note.txt)
debugfs -w -R "mkdir dir" "$EXT" >/dev/null 2>&1 || die "debugfs mkdir failed"
for f in "${EXT_FILES[@]}"; do
  debugfs -w -R "write $TMP/extfiles/$(basename "$f") $f" "$EXT" >/dev/null 2>&1 ||
    die "debugfs write $f failed"
done
files_bytes=$(cat "$TMP/extfiles"/* | wc -c)
"$BIN" image create --disk "$EXT" -o "$TMP/ext.torrent" --piece-size 65536 --name ext \
  >"$TMP/out" 2>"$TMP/err" || die "image create of the ext4 image failed: $(cat "$TMP/err")"
EXT_LINE=$(head -1 "$TMP/out")
echo "    $EXT_LINE"
[[ "$EXT_LINE" == *"used blocks of an ext2/3/4 filesystem"* ]] &&
  pass "image create recognises the ext4 filesystem" ||
  fail "image create does not say 'used blocks of an ext2/3/4 filesystem': $EXT_LINE"
ext_data=$(sed -nE 's/.*, ([0-9]+) bytes in [0-9]+ ranges.*/\1/p' <<<"$EXT_LINE")
if [[ -n "$ext_data" && "$ext_data" -lt $((EXT_MIB * MiB / 2)) && "$ext_data" -ge "$files_bytes" ]]; then
  pass "ext4 torrent holds $ext_data bytes ($(pct "$ext_data" $((EXT_MIB * MiB))) of $EXT_MIB MiB, >= the $files_bytes bytes of files)"
else
  fail "ext4 torrent holds '$ext_data' bytes, expected $files_bytes <= n < half of $EXT_MIB MiB"
fi
seed seed.ext 1 6883 "$TMP/ext.torrent" "$EXT" --no-lsd --listen "$SEEDER:6883"
EXT_TARGET=$TMP/ext-target.img
fetch_fg s4.ext 4 120 "$TMP/ext.torrent" --target "$EXT_TARGET" --no-lsd \
  --peer "$SEEDER:6883"
if [[ "${RC_OF[s4.ext]}" == 0 && "$(jfinal s4.ext ok)" == true ]]; then
  pass "ext4 fetch onto a fresh target: exit 0, downloaded $(jfinal s4.ext downloaded) bytes"
  # The fetched disk must hold the whole filesystem: a target that ends
  # before the filesystem does cannot be mounted ("bad geometry").
  fs_bytes=$(dumpe2fs -h "$EXT_TARGET" 2>/dev/null |
    awk -F: '/^Block count/ {c = $2} /^Block size/ {s = $2} END {print c * s}')
  tsize=$(fsize "$EXT_TARGET")
  if [[ -n "$fs_bytes" && "$tsize" -ge "$fs_bytes" ]]; then
    pass "fresh target has $tsize bytes, the filesystem needs $fs_bytes"
  else
    fail "fresh target has $tsize bytes but its ext4 filesystem is '$fs_bytes' bytes (the source disk has $((EXT_MIB * MiB))): the fetched filesystem is truncated and cannot be mounted"
  fi
  rc=0
  e2fsck -fn "$EXT_TARGET" >"$TMP/fsck.out" 2>&1 || rc=$?
  if [[ $rc -eq 0 ]] && ! grep -qi 'physical size of the device' "$TMP/fsck.out"; then
    pass "e2fsck -fn of the fetched filesystem is clean"
  else
    fail "e2fsck -fn of the fetched filesystem: exit $rc: $(grep -v '^Pass\|^e2fsck 1' "$TMP/fsck.out" | head -5 | tr '\n' ' ')"
  fi
  for f in "${EXT_FILES[@]}"; do
    if debugfs -R "cat $f" "$EXT_TARGET" 2>/dev/null | cmp -s - "$TMP/extfiles/$(basename "$f")"; then
      pass "debugfs cat $f of the fetched filesystem equals the source file"
    else
      fail "debugfs cat $f of the fetched filesystem differs from the source file"
    fi
  done
else
  fail "ext4 fetch: exit ${RC_OF[s4.ext]}, ok=$(jfinal s4.ext ok): $(head -c 500 "$TMP/s4.ext.err")"
fi
echo "scenario 4: $(secs_since "$t") s (fetch $(jfinal s4.ext time) s," \
  "downloaded $(jfinal s4.ext downloaded))"
rm -f "$EXT_TARGET"

# --------------------------------------------------------- 5. refusals
echo "--- 5. refusals leave the target untouched"
t=$(now_ms)
SMALL=$TMP/small.img
seeded_bytes small $MiB >"$SMALL"
before=$(sha "$SMALL")
expect_refusal "fetch onto a 1 MiB target of a $IMG_MIB MiB image" \
  ip netns exec "$(ns_of 2)" "$BIN" replicate fetch "$TMP/old.torrent" --target "$SMALL" --no-lsd \
  --peer "$SEEDER:6881"
[[ "$(sha "$SMALL")" == "$before" && $(fsize "$SMALL") -eq $MiB ]] &&
  pass "the too-small target is unchanged (size and sha256)" ||
  fail "the too-small target changed: size $(fsize "$SMALL"), sha256 $(sha "$SMALL") (was $before)"

# A torrent whose files are not named by hex disk offsets.
mkdir -p "$TMP/badsrc/data"
seeded_bytes bad-a 70000 >"$TMP/badsrc/data/hello.txt"
seeded_bytes bad-b 16384 >"$TMP/badsrc/data/0000000000000000"
"$PY" - "$TMP/badsrc" "$TMP/bad.torrent" <<'EOF' || die "could not make bad.torrent"
import os
import sys

import libtorrent as lt

root, out = sys.argv[1], sys.argv[2]
fs = lt.file_storage()
lt.add_files(fs, os.path.join(root, "data"))
ct = lt.create_torrent(fs, 16384)
lt.set_piece_hashes(ct, root)
with open(out, "wb") as f:
    f.write(lt.bencode(ct.generate()))
EOF
cp "$SMALL" "$TMP/small2.img"
expect_refusal "fetch of a torrent whose file names are not hex offsets" \
  ip netns exec "$(ns_of 2)" "$BIN" replicate fetch "$TMP/bad.torrent" --target "$TMP/small2.img" --no-lsd \
  --peer "$SEEDER:6881"
[[ "$(sha "$TMP/small2.img")" == "$before" && $(fsize "$TMP/small2.img") -eq $MiB ]] &&
  pass "the target of the non-hex torrent is unchanged" ||
  fail "the target of the non-hex torrent changed"
expect_refusal "fetch of the non-hex torrent onto a missing target" \
  ip netns exec "$(ns_of 2)" "$BIN" replicate fetch "$TMP/bad.torrent" --target "$TMP/absent.img" --no-lsd \
  --peer "$SEEDER:6881"
[[ ! -e "$TMP/absent.img" ]] && pass "no target file was created for the non-hex torrent" ||
  fail "a refused fetch created $TMP/absent.img"
expect_refusal "seed of the non-hex torrent" \
  ip netns exec "$(ns_of 2)" "$BIN" replicate seed "$TMP/bad.torrent" --source "$TMP/src.img" --no-lsd

# Torrents whose ranges overlap or are not sector aligned (hex names, so only
# the layout check can refuse them).
make_layout_torrent() {  # make_layout_torrent OUT NAME:BYTES...
  local out=$1 dir
  shift
  dir=$(mktemp -d "$TMP/layout-XXXXXX")
  mkdir "$dir/data"
  for spec in "$@"; do seeded_bytes "${spec%%:*}" "${spec##*:}" >"$dir/data/${spec%%:*}"; done
  "$PY" - "$dir" "$out" <<'PYEOF' || die "could not make $out"
import os
import sys

import libtorrent as lt

root, out = sys.argv[1], sys.argv[2]
fs = lt.file_storage()
lt.add_files(fs, os.path.join(root, "data"))
ct = lt.create_torrent(fs, 16384, flags=lt.create_torrent.v1_only)
lt.set_piece_hashes(ct, root)
with open(out, "wb") as f:
    f.write(lt.bencode(ct.generate()))
PYEOF
}
make_layout_torrent "$TMP/overlap.torrent" 0000000000000000:8192 0000000000001000:8192
make_layout_torrent "$TMP/misaligned.torrent" 0000000000000000:4096 0000000000002100:4096
for kind in overlap misaligned; do
  cp "$SMALL" "$TMP/$kind.img"
  expect_refusal "fetch of a torrent whose ranges are $kind" \
    ip netns exec "$(ns_of 2)" "$BIN" replicate fetch "$TMP/$kind.torrent" --target "$TMP/$kind.img" \
    --no-lsd --peer "$SEEDER:6881"
  grep -Eq 'overlap|512-byte sector' "$TMP/err" || fail "the $kind refusal does not say why: $(cat "$TMP/err")"
  [[ "$(sha "$TMP/$kind.img")" == "$before" ]] && pass "the target of the $kind torrent is unchanged" ||
    fail "the target of the $kind torrent changed"
done

# A disk of a mounted dynamicfs volume is never written, whatever its name.
"$BIN" mkfs --volume "$TMP/livevol" --disk "$TMP/live.disk" --size "$((IMG_MIB + 64))M" >/dev/null ||
  die "mkfs of the live volume failed"
mkdir -p "$TMP/livemnt"
"$BIN" mount --volume "$TMP/livevol" "$TMP/livemnt" || die "mount of the live volume failed"
echo "live data" >"$TMP/livemnt/file"
sync "$TMP/livemnt/file"
live_before=$(sha "$TMP/live.disk")
ln -s "$TMP/live.disk" "$TMP/live-alias.disk"
ln "$TMP/live.disk" "$TMP/live-hardlink.disk"  # another name: found by its superblock's UUID
for target in "$TMP/live.disk" "$TMP/live-alias.disk" "$TMP/live-hardlink.disk"; do
  expect_refusal "fetch onto a disk of a mounted dynamicfs volume ($(basename "$target"))" \
    ip netns exec "$(ns_of 2)" "$BIN" replicate fetch "$TMP/old.torrent" --target "$target" \
    --no-lsd --peer "$SEEDER:6881"
  grep -q 'mounted on' "$TMP/err" || fail "the refusal does not name the mount: $(cat "$TMP/err")"
done
[[ "$(sha "$TMP/live.disk")" == "$live_before" ]] && pass "the live volume's disk is unchanged" ||
  fail "the live volume's disk changed"
[[ "$(cat "$TMP/livemnt/file")" == "live data" ]] && pass "the live volume still reads its file" ||
  fail "the live volume lost its file"
"$BIN" umount "$TMP/livemnt" || fail "umount of the live volume failed"

# A target another fetch is writing is held (flock) until that fetch ends:
# a second fetch onto it is refused, whatever namespace it runs in.
spawn holder 3 "$BIN" replicate fetch --json "$TMP/old.torrent" --target "$TMP/held.img" \
  --no-lsd --peer "$(ip_of 3):1"
poll_until 10 has_listening_line holder || fail "the holding fetch did not start: $(cat "$TMP/holder.err")"
expect_refusal "a second fetch onto a target another fetch holds" \
  ip netns exec "$(ns_of 2)" "$BIN" replicate fetch "$TMP/old.torrent" --target "$TMP/held.img" \
  --no-lsd --peer "$SEEDER:6881"
grep -q 'held by another process' "$TMP/err" || fail "the refusal does not say why: $(cat "$TMP/err")"
stop holder

# The backing file of a loop device is in use by the kernel.
if LOOPDEV=$(losetup -f --show "$TMP/small2.img" 2>/dev/null); then
  expect_refusal "fetch onto the backing file of $LOOPDEV" \
    ip netns exec "$(ns_of 2)" "$BIN" replicate fetch "$TMP/old.torrent" --target "$TMP/small2.img" \
    --no-lsd --peer "$SEEDER:6881"
  grep -q 'backing file' "$TMP/err" || fail "the loop refusal does not say why: $(cat "$TMP/err")"
  losetup -d "$LOOPDEV" && LOOPDEV=""
  [[ "$(sha "$TMP/small2.img")" == "$before" ]] && pass "the loop-backed target is unchanged" ||
    fail "the loop-backed target changed"
else
  echo "note: no loop device here; the loop-backing refusal is not exercised"
fi
echo "scenario 5: $(secs_since "$t") s"

# ------------------------------------------------ 6. stock libtorrent client
echo "--- 6. a stock libtorrent client fetches from replicate seed"
cat >"$TMP/ltclient.py" <<'EOF'
# ltclient.py TORRENT LISTEN PEER_IP PEER_PORT SAVE_PATH SOURCE DEADLINE_S
# Fetches TORRENT from the peer with a stock libtorrent session, then checks
# that every (non-pad) file equals the source range its hex name gives.
import os
import sys
import time

import libtorrent as lt

torrent, listen, peer_ip, peer_port, save, source, deadline = sys.argv[1:]
ses = lt.session({
    "listen_interfaces": listen,
    "enable_dht": False,
    "enable_lsd": False,
    "enable_upnp": False,
    "enable_natpmp": False,
})
ti = lt.torrent_info(torrent)
atp = lt.add_torrent_params()
atp.ti = ti
atp.save_path = save
h = ses.add_torrent(atp)
h.connect_peer((peer_ip, int(peer_port)))
start = time.monotonic()
end = start + float(deadline)
while True:
    s = h.status()
    if s.is_seeding:
        break
    if time.monotonic() > end:
        sys.exit("not complete after %s s: %d of %d pieces, %d peers, state %s, error '%s'"
                 % (deadline, s.num_pieces, ti.num_pieces(), s.num_peers, s.state,
                    s.errc.message() if s.errc else ""))
    time.sleep(0.1)
took = time.monotonic() - start
down = h.status().total_payload_download
ses.pause()
del h, ses
fs = ti.files()
files = compared = 0
with open(source, "rb") as src:
    for i in range(fs.num_files()):
        if fs.file_flags(i) & lt.file_storage.flag_pad_file:
            continue
        path = os.path.join(save, fs.file_path(i))
        size = fs.file_size(i)
        offset = int(os.path.basename(path), 16)
        if os.path.getsize(path) != size:
            sys.exit("%s has %d bytes, expected %d" % (path, os.path.getsize(path), size))
        src.seek(offset)
        with open(path, "rb") as f:
            left = size
            while left:
                n = min(left, 1 << 20)
                if f.read(n) != src.read(n):
                    sys.exit("%s differs from the source at offset 0x%x" % (path, offset))
                left -= n
        files += 1
        compared += size
print("files %d bytes %d downloaded %d seconds %.1f" % (files, compared, down, took))
EOF
# ltfetch WHAT TORRENT PORT SOURCE EXPECT_FILES: the stock client on n5.
ltfetch() {
  local what=$1 torrent=$2 port=$3 source=$4 expect_files=$5
  local save=$TMP/lt-$port rc=0
  mkdir "$save"
  spawn "lt.$port" 5 "$PY" "$TMP/ltclient.py" "$torrent" "$(ip_of 5):6881" "$SEEDER" \
    "$port" "$save" "$source" 120
  reap "lt.$port" 150 || fail "stock client ($what): still running after 150 s"
  rc=${RC_OF[lt.$port]}
  if [[ "$rc" == 0 ]]; then
    local out
    out=$(cat "$TMP/lt.$port.out")
    if [[ "$out" == "files $expect_files "* ]]; then
      pass "stock libtorrent client fetched $what; every file equals its source range ($out)"
    else
      fail "stock libtorrent client ($what): expected $expect_files file(s): $out"
    fi
  else
    fail "stock libtorrent client ($what): exit $rc: $(tail -3 "$TMP/lt.$port.err")"
  fi
  rm -rf "$save"
}
t=$(now_ms)
ltfetch "the $IMG_MIB MiB whole-disk image" "$TMP/old.torrent" 6881 "$TMP/src.img" 1
ext_ranges=$(sed -nE 's/.* bytes in ([0-9]+) ranges.*/\1/p' <<<"$EXT_LINE")
ltfetch "the ext4 used-blocks image ($ext_ranges ranges)" "$TMP/ext.torrent" 6883 "$EXT" \
  "$ext_ranges"
echo "scenario 6: $(secs_since "$t") s"

# ------------------------------------------------ 7. --listen with port 0
echo "--- 7. --listen 0.0.0.0:0 reports a reachable port"
seed seed.any 1 0 "$TMP/ext.torrent" "$EXT" --no-lsd --listen 0.0.0.0:0
any_port=$(listening_port seed.any)
if [[ "$any_port" =~ ^[0-9]+$ && "$any_port" -gt 0 ]] &&
  on 2 timeout 5 bash -c "exec 3<>/dev/tcp/$SEEDER/$any_port" 2>/dev/null; then
  pass "the reported port $any_port accepts connections on $SEEDER"
else
  fail "seed --listen 0.0.0.0:0 reports port '$any_port' but $SEEDER:$any_port refuses connections from another node (listening: $(on 1 ss -Htln 2>/dev/null | awk '{print $4}' | tr '\n' ' '))"
fi
stop seed.any || fail "seed.any did not exit within 15 s of SIGINT"

for s in seed.old seed.ext; do
  if stop $s && [[ "${RC_OF[$s]}" == 0 ]]; then
    pass "$s exits 0 on SIGINT"
  else
    fail "$s exit status on SIGINT: ${RC_OF[$s]}: $(head -c 300 "$TMP/$s.err")"
  fi
done

echo "total: $(secs_since "$TOTAL_START") s (seed $SEED)"
if [[ $FAILURES -ne 0 ]]; then
  echo "FAIL: $FAILURES check(s) failed (seed $SEED)" >&2
  exit 1
fi
echo "PASS"
