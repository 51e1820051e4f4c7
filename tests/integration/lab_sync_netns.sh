#!/usr/bin/env bash
# pass/fail always succeed, so `A && pass ... || fail ...` is an if-else here.
# shellcheck disable=SC2015
# Lab sync end to end on a private, namespaced LAN (netns_lib.sh): n1 runs
# `replicate publish` over a mounted volume, n2..n4 run `replicate follow`.
#
#   1. S1 is published: the three followers converge (the current slot of
#      each, mounted read-only, equals snapshot publish-1 mounted on the
#      master: diff -r), and fsck of each is clean.
#   2. 1 % of the data changes and `publish --now` makes S2: each follower
#      receives at most 3 % of the image's bytes, and converges again.
#   3. A larger change (S3) while n4's link is slow: n4 is killed (SIGKILL)
#      mid-fetch. Its current slot is still exactly S2 (never half
#      updated). Restarted, it resumes (receiving less than a whole fetch)
#      and converges to S3.
#   4. Refusals: a follower given a wrong secret, a forged feed (signed
#      with another key) and an unsigned feed exits 1 and changes nothing.
#
# Usage: lab_sync_netns.sh /path/to/dynamicfs
# Exit:  0 pass, 1 failure, 77 skipped (not root / no FUSE / no `ip netns`).
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LAB_EVENT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lab_event.py
dfs_require_bin "$@"
dfs_require_root_fuse
PY=/usr/bin/python3
dfs_require_tools ip tc openssl diff timeout "$PY"
BIN=$(realpath "$BIN")

NODES=4
# shellcheck source=netns_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/netns_lib.sh"
FILES=24
FILE_MIB=2
FEED="http://$(ip_of 1):8086"

VOL=$TMP/src/vol
LIVE=$TMP/src/mnt
RO=$TMP/src/ro
CHECK=$TMP/check
mkdir -p "$LIVE" "$RO" "$CHECK"
"$BIN" mkfs --volume "$VOL" --disk "$TMP/src/d0.img" --disk "$TMP/src/d1.img" --size 256M \
  >/dev/null || die "mkfs failed"
"$BIN" mount --volume "$VOL" "$LIVE" || die "mount of the source failed"
for ((i = 1; i <= FILES; i++)); do seeded_bytes "file$i" $((FILE_MIB * MiB)) >"$LIVE/f$i"; done
mkdir "$LIVE/dir"
echo "a small file" >"$LIVE/dir/small"
sync "$LIVE"
"$BIN" replicate secret "$TMP/lab.secret" >/dev/null || die "replicate secret failed"

# fdoc NODE EXPR: EXPR (Python, over `doc`) of `replicate status --json`
# of node NODE's follower directory.
fdoc() {
  "$BIN" replicate status --volume "$TMP/f$1" --json 2>/dev/null |
    "$PY" -c "import json, sys; doc = json.load(sys.stdin); print($2)" 2>/dev/null
}
current_gen() { fdoc "$1" "doc['slots'][doc['current']]['generation'] if doc['current'] else 0"; }
at_gen() { [[ "$(current_gen "$1")" == "$2" ]]; }
all_at_gen() {
  local n
  for n in 2 3 4; do at_gen $n "$1" || return 1; done
}
# switched NODE GEN KEY LOG: KEY of NODE's "switched" event for generation
# GEN in $TMP/LOG.out.
switched() { "$PY" "$LAB_EVENT" "$TMP/$4.out" switched "$3" "$2"; }

follow() { # NAME NODE [ARGS...]
  local name=$1 node=$2
  shift 2
  spawn "$name" "$node" "$BIN" replicate follow "$FEED" --volume "$TMP/f$node" \
    --secret "$TMP/lab.secret" --poll 0.5 --json --no-lsd --listen "$(ip_of "$node"):6881" "$@"
}

# same_as NAME NODES...: each node's current slot, mounted read-only, equals
# snapshot NAME of the source (diff -r); then fsck of the slot is clean.
same_as() {
  local name=$1 node slot
  shift
  "$BIN" mount --volume "$VOL" --snapshot "$name" "$RO" || die "mount of snapshot $name failed"
  for node in "$@"; do
    slot=$(realpath "$TMP/f$node/current")
    if ! "$BIN" mount --volume "$slot" "$CHECK" -o ro 2>"$TMP/err"; then
      fail "follower $node: its current slot does not mount: $(cat "$TMP/err")"
      continue
    fi
    diff -r "$RO" "$CHECK" >"$TMP/diff.out" 2>&1 &&
      pass "follower $node: current slot $(basename "$slot") equals snapshot $name (diff -r)" ||
      fail "follower $node differs from snapshot $name: $(head -5 "$TMP/diff.out")"
    "$BIN" umount "$CHECK" || fail "umount of follower $node's slot failed"
    "$BIN" fsck --volume "$slot" >"$TMP/fsck.out" 2>&1 &&
      pass "follower $node: fsck of its current slot is clean" ||
      fail "follower $node: fsck: $(cat "$TMP/fsck.out")"
  done
  "$BIN" umount "$RO" || fail "umount of snapshot $name failed"
}

published() { grep -q "\"generation\":$1" "$TMP/pub.out" 2>/dev/null; }
publish_now() {
  "$BIN" replicate publish "$LIVE" --now >"$TMP/now.out" 2>&1 ||
    die "publish --now failed: $(cat "$TMP/now.out")"
  published "$1" || die "publish --now did not publish generation $1: $(cat "$TMP/now.out")"
}

# ------------------------------------------------------------ 1. first sync
echo "--- 1. S1 published, three followers converge"
t=$(now_ms)
spawn pub 1 "$BIN" replicate publish "$LIVE" --secret "$TMP/lab.secret" --json --no-lsd \
  --feed-listen "$(ip_of 1):8086" --peer-host "$(ip_of 1)"
poll_until 60 published 1 || die "the publisher did not publish generation 1: $(cat "$TMP/pub.err")"
pass "publisher: generation 1 published ($(grep -c published "$TMP/pub.out") line)"
for node in 2 3 4; do follow "f$node" $node; done
poll_until 120 all_at_gen 1 || fail "not every follower reached generation 1 within 120 s"
same_as publish-1 2 3 4
echo "scenario 1: $(secs_since "$t") s"

# ---------------------------------------------------------- 2. a 1 % delta
echo "--- 2. 1% changed: S2 reaches each follower as a delta"
t=$(now_ms)
# Of the 48 MiB in the files, 1 %: 8 blocks of 64 KiB in 8 files.
for ((i = 1; i <= 8; i++)); do
  seeded_bytes "patch$i" $((64 * 1024)) |
    dd of="$LIVE/f$((i * 3))" bs=64K seek=$((i % (FILE_MIB * 16))) conv=notrunc status=none
done
sync "$LIVE"
publish_now 2
poll_until 120 all_at_gen 2 || fail "not every follower reached generation 2 within 120 s"
for node in 2 3 4; do
  d=$(switched $node 2 downloaded "f$node")
  total=$(switched $node 2 image_bytes "f$node")
  if [[ -n "$d" && -n "$total" ]] && ((d * 100 <= total * 3)); then
    pass "follower $node: S2 took $d of $total bytes ($(pct "$d" "$total") <= 3%)"
  else
    fail "follower $node: S2 took ${d:-?} of ${total:-?} bytes"
  fi
done
same_as publish-2 2 3 4
echo "scenario 2: $(secs_since "$t") s"

# ------------------------------------------- 3. killed mid-fetch, resumed
echo "--- 3. a follower killed mid-fetch resumes"
t=$(now_ms)
# n4's link slows to 24 Mbit/s (the bridge's port towards it), so its
# fetch of a 12 MiB change takes seconds.
ip netns exec "$BRNS" tc qdisc add dev p4 root tbf rate 24mbit burst 32k latency 400ms ||
  die "tc on p4 failed"
for ((i = 1; i <= 6; i++)); do seeded_bytes "s3.$i" $((FILE_MIB * MiB)) >"$LIVE/f$i"; done
sync "$LIVE"
publish_now 3
poll_until 120 at_gen 2 3 || fail "follower 2 did not reach generation 3"
poll_until 120 at_gen 3 3 || fail "follower 3 did not reach generation 3"
full=$(switched 3 3 downloaded f3)
# n4 is killed once it has received a third of what a whole fetch takes.
got_third() {
  local d
  d=$(fdoc 4 "(doc['status'] or {}).get('fetch', {}) and doc['status']['fetch'].get('downloaded', 0) or 0")
  [[ -n "$d" && -n "$full" ]] && ((d * 3 >= full))
}
if poll_until 120 got_third; then
  kill -KILL "${PID_OF[f4]}"
  reap f4 10 || true
  pass "follower 4 killed mid-fetch ($(fdoc 4 "doc['status']['fetch']['downloaded']") of ~$full bytes received)"
else
  fail "follower 4 never got a third of the way (or finished first): $(tail -2 "$TMP/f4.out")"
fi
[[ "$(fdoc 4 "doc['slots'][doc['current']]['generation']")" == 2 &&
  "$(fdoc 4 "doc['slots'][doc['current']]['complete']")" == True ]] &&
  pass "follower 4 after the kill: current slot is generation 2, complete" ||
  fail "follower 4 after the kill: $(fdoc 4 doc)"
same_as publish-2 4
ip netns exec "$BRNS" tc qdisc del dev p4 root || fail "tc del on p4 failed"
follow f4b 4
poll_until 120 at_gen 4 3 || fail "follower 4 did not reach generation 3 after its restart"
resumed=$(switched 4 3 resumed f4b)
again=$(switched 4 3 downloaded f4b)
[[ "$resumed" == True ]] && pass "follower 4 resumed the fetch of generation 3" ||
  fail "follower 4 did not resume: $(grep fetching "$TMP/f4b.out" | tail -1)"
[[ -n "$again" ]] && ((again * 100 <= full * 85)) &&
  pass "follower 4 received $again bytes after the restart, a whole fetch takes $full" ||
  fail "follower 4 received ${again:-?} bytes after the restart (a whole fetch: $full)"
same_as publish-3 2 3 4
echo "scenario 3: $(secs_since "$t") s"

# -------------------------------------------------------------- 4. refusals
echo "--- 4. wrong secret, forged and unsigned feeds change nothing"
stop f3 || fail "follower 3 did not stop on SIGINT"
state_sum() {
  (cd "$TMP/f3" && cat follow.json current/volume.toml && ls -l --time-style=+%s.%N slots/*/ slots/*/meta) |
    sha256sum | awk '{print $1}'
}
before=$(state_sum)
"$BIN" replicate secret "$TMP/wrong.secret" >/dev/null
refused() { # WHAT PATTERN FEED SECRET
  if on 3 "$BIN" replicate follow "$3" --volume "$TMP/f3" --secret "$4" --once --no-lsd \
    >"$TMP/ref.out" 2>"$TMP/ref.err"; then
    fail "$1: the follower accepted it"
  else
    grep -q "$2" "$TMP/ref.err" && pass "$1: refused: $(tail -1 "$TMP/ref.err")" ||
      fail "$1: unclear message: $(cat "$TMP/ref.err")"
  fi
}
refused "a wrong secret" "refused this follower's secret" "$FEED" "$TMP/wrong.secret"
# The forger answers every request with a feed announcing generation 99,
# signed with a key of its own, or not signed at all.
cat >"$TMP/forger.py" <<'PYEOF'
import hashlib, hmac, http.server, json, sys
key = b"forged-key-forged-key-forged-key"
body = json.dumps({"format": "dynamicfs-lab-feed-1", "volume_uuid": sys.argv[3],
                   "published": [{"generation": 99, "snapshot": "evil", "torrent_sha256": "0" * 64,
                                  "torrent_size": 100, "peer_port": 6881}]}).encode()
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        if sys.argv[2] == "signed":
            nonce = self.headers.get("Authorization", "x x x").split(" ")[1]
            msg = b"dynamicfs-feed-reply-1\n" + nonce.encode() + b"\n" + body
            self.send_header("X-Dynamicfs-Signature", hmac.new(key, msg, hashlib.sha256).hexdigest())
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.HTTPServer((sys.argv[1], int(sys.argv[4])), H).serve_forever()
PYEOF
uuid=$(fdoc 3 "doc['volume_uuid']")
spawn forger 1 "$PY" "$TMP/forger.py" "$(ip_of 1)" signed "$uuid" 9090
spawn unsigned 1 "$PY" "$TMP/forger.py" "$(ip_of 1)" plain "$uuid" 9091
listening() { on 3 timeout 2 bash -c "exec 3<>/dev/tcp/$(ip_of 1)/$1" 2>/dev/null; }
poll_until 20 listening 9090 && poll_until 20 listening 9091 || die "the forger did not start"
refused "a forged feed" "not signed with this follower's secret" "http://$(ip_of 1):9090" "$TMP/lab.secret"
refused "an unsigned feed" "not signed with this follower's secret" "http://$(ip_of 1):9091" "$TMP/lab.secret"
[[ "$(state_sum)" == "$before" ]] && pass "follower 3's directory is unchanged by the refusals" ||
  fail "a refused feed changed follower 3's directory"
at_gen 3 3 && pass "follower 3 is still on generation 3" || fail "follower 3 left generation 3"

# Every process started in a namespace holds a copy of the source's mount
# (ip netns exec makes a mount namespace): all stop before it is unmounted.
for n in forger unsigned; do  # python ignores the SIGINT of a background job
  kill -TERM "${PID_OF[$n]}" 2>/dev/null || true
  reap $n 15 || fail "$n did not stop on SIGTERM"
done
for n in f2 f4b pub; do stop $n || fail "$n did not stop on SIGINT"; done
"$BIN" umount "$LIVE" || fail "umount of the source failed"
"$BIN" fsck --volume "$VOL" >"$TMP/fsck.out" 2>&1 && pass "source: fsck is clean" ||
  fail "source: fsck: $(cat "$TMP/fsck.out")"
echo "total: $(secs_since "$TOTAL_START") s (seed $SEED)"
if [[ $FAILURES -ne 0 ]]; then
  echo "FAIL: $FAILURES check(s) failed (seed $SEED)" >&2
  exit 1
fi
echo "PASS"
