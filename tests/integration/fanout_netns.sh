#!/usr/bin/env bash
# pass/fail always succeed, so `A && pass ... || fail ...` is an if-else here.
# shellcheck disable=SC2015
# Fan-out test for dynamicfs: one seeder and four receivers on a shaped,
# private LAN, checking that imaging N machines behaves like BitTorrent and
# not like N copies.
#
# Why it exists: a lab images many machines at once only because every
# receiver passes pieces on to the others. If receivers do not find each
# other, if the seeder sends the same pieces to everyone, or if a receiver
# is left waiting with no peer, 1 -> N takes N times as long and nothing
# else fails. So this test runs real peers, each in its own network
# namespace, on links shaped like 400 Mbit/s LAN ports (tc tbf on both ends
# of every veth, so the network and not this machine's CPUs is the limit),
# tells the receivers only the seeder's address, and checks:
#
#   - every receiver exits 0 with a byte-identical image;
#   - no receiver ever waited with zero peers for more than 3 s;
#   - pieces flowed between receivers: at least 30 % of what the receivers
#     got came from other receivers (each got some), and every receiver
#     found at least one other receiver;
#   - the seeder sent each piece about once: at most 1.75 images in all
#     (1 -> 4 without fan-out needs 4).
#
# The network is netns_lib.sh's private bridge (nothing reaches the host's
# namespace); it and every process are torn down at exit, whatever happens.
# Random data comes from a printed seed (DFS_TEST_SEED reruns it).
#
# Usage: fanout_netns.sh /path/to/dynamicfs
# Exit:  0 pass, 1 failure, 77 skipped (not root / no usable `ip netns`).
# Needs: iproute2 (ip, tc with the tbf qdisc), openssl, python3.
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
dfs_require_bin "$@"
dfs_require_root "network namespaces"
PY=/usr/bin/python3
dfs_require_tools ip tc openssl cmp timeout "$PY"
BIN=$(realpath "$BIN")

NODES=5        # n1 seeds; n2..n5 receive
RATE=400mbit   # every port, both directions
IMG_MIB=128
# shellcheck source=netns_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/netns_lib.sh"
IMG_BYTES=$((IMG_MIB * MiB))

# Shape both ends of every veth: the node's egress (eth0) and the bridge's
# egress toward the node (p$i).
for ((i = 1; i <= NODES; i++)); do
  on $i tc qdisc replace dev eth0 root tbf rate $RATE burst 256kb latency 20ms ||
    die "tc tbf on node $i failed (no sch_tbf in this kernel?)"
  ip netns exec "$BRNS" tc qdisc replace dev p$i root tbf rate $RATE burst 256kb latency 20ms ||
    die "tc tbf on the bridge port of node $i failed"
done
pass "every link shaped to $RATE both ways"

seeded_bytes image $IMG_BYTES >"$TMP/src.img"
"$BIN" image create --disk "$TMP/src.img" -o "$TMP/img.torrent" --used-ranges full \
  --name img >"$TMP/out" 2>"$TMP/err" || die "image create failed: $(cat "$TMP/err")"

seed seed 1 6881 "$TMP/img.torrent" "$TMP/src.img" --listen "$SEEDER:6881"
t=$(now_ms)
for r in 2 3 4 5; do
  spawn "fetch$r" $r "$BIN" replicate fetch "$TMP/img.torrent" --target "$TMP/r$r.img" \
    --listen "$(ip_of $r):6881" --peer "$SEEDER:6881" --json
done
for r in 2 3 4 5; do
  reap "fetch$r" 240 || fail "fetch$r: still running after 240 s"
done
echo "1 -> 4 of $IMG_MIB MiB at $RATE: $(secs_since "$t") s until the last receiver exited"

from_seed=0 from_peers=0
for r in 2 3 4 5; do
  check_fetch "fetch$r" "$TMP/r$r.img" "$TMP/src.img" || continue
  wait_s=$(jfinal "fetch$r" max_no_peer_seconds)
  fs=$(jfinal "fetch$r" from_seed)
  fp=$(jfinal "fetch$r" from_peers)
  seen=$(jfinal "fetch$r" peers_seen)
  echo "    fetch$r: from the seeder $fs, from receivers $fp bytes; peers seen $seen;" \
    "longest wait with no peer $wait_s s; CPU $(jfinal "fetch$r" cpu_seconds_per_gib) s/GiB"
  from_seed=$((from_seed + fs))
  from_peers=$((from_peers + fp))
  fge 3 "$wait_s" && pass "fetch$r never waited over 3 s with no peer ($wait_s s)" ||
    fail "fetch$r waited $wait_s s with no peer at all"
  [[ "$fp" -gt 0 ]] && pass "fetch$r got pieces from other receivers" ||
    fail "fetch$r got everything from the seeder"
  [[ "$seen" -ge 2 ]] && pass "fetch$r found other receivers (peers seen: $seen)" ||
    fail "fetch$r saw only $seen peer(s): it never found another receiver"
done
received=$((from_seed + from_peers))
if [[ $received -gt 0 ]] && fge "$from_peers" "$(awk -v r=$received 'BEGIN {print 0.3 * r}')"; then
  pass "$(pct $from_peers $received) of the received bytes came from other receivers"
else
  fail "only $from_peers of $received received bytes came from other receivers (want >= 30 %)"
fi
sent=$(jget seed uploaded)
ratio=$(awk -v s="$sent" -v b=$IMG_BYTES 'BEGIN {printf "%.2f", s / b}')
fge 1.75 "$ratio" && pass "the seeder sent $ratio images for 4 receivers (<= 1.75)" ||
  fail "the seeder sent $ratio images for 4 receivers: pieces went out again and again"
echo "    seeder: suggestions $(jget seed suggestions_sent), hidden $(jget seed pieces_hidden)," \
  "refused requests $(jget seed requests_refused), introductions $(jget seed introductions)"
stop seed
[[ "${RC_OF[seed]}" == 0 ]] && pass "seeder exits 0 on SIGINT" ||
  fail "seeder exit status on SIGINT: ${RC_OF[seed]}"
echo "total: $(secs_since "$TOTAL_START") s"
if [[ $FAILURES -ne 0 ]]; then
  echo "FAIL: $FAILURES check(s) failed (seed $SEED)" >&2
  exit 1
fi
echo "PASS"
