#!/usr/bin/env bash
# Replication benchmark: how the time to image N machines at once grows with
# N. BitTorrent's promise is that every receiver also uploads, so 1 -> 8
# should take about as long as 1 -> 1; this measures how close we get, as
# ratios t(1->N) / t(1->1) measured in the same run.
#
#   bench/replication.sh [--quick] [--out DIR] [--rate RATE] [--counts "1 2 4 8"]
#                        [--mib N] [--repeats R] [--stall-runs S] [--hashes hybrid|v1]
#
# Topology: one seeder and N receivers, each in its own network namespace,
# joined by veth pairs to one bridge (in a namespace of its own; no traffic
# leaves them). Every link is shaped like a LAN port: `tc tbf` at RATE
# (default 400mbit) on both ends of each veth, so the network and not the
# two CPUs of this machine is the bottleneck, as in a real lab. Receivers
# are told only the seeder's address (they find each other by peer
# exchange and local service discovery) and write to a tmpfs, so they do
# not share one disk as they would not on separate machines.
#
#   fan-out   N = 1, 2, 4, 8: seconds until the last receiver has verified
#             every piece, ratio to 1 -> 1    goals: <= 1.2 at 4, <= 1.3 at 8
#             with, per N: what the seeder sent as a multiple of the image
#             (1.0 = each piece once), the share of received bytes that
#             came from other receivers, the longest time any receiver had
#             no peer, and the share of both cores busy
#   stalls    S runs of 1 -> 4 (default 25); a stall is a run over 1.5x
#             their median, or a receiver with no peer for over 2 s
#                                                  goal: none
#   unshaped  1 -> 1 without shaping: how fast one receiver takes in data
#             when CPU is the limit, and its CPU seconds per GiB received,
#             for the default hybrid torrent (SHA-1 and SHA-256 checked)
#             and for `--hashes v1` (each piece hashed once)
#   lab sync  bench/replication_lab.sh: `replicate publish --now` to the
#             last of 4 followers converged after 1 % of a 1 GiB volume
#             changed, ratio to one follower     goal: <= 1.3
#   --quick   N = 1, 4, 8, one repeat, 5 stall runs (about two minutes);
#             lab sync on 512 MiB, one repeat
#   --lab-only / --no-lab   only the lab-sync phase / all but it
#   --hashes  the torrent of the shaped runs: hybrid (default, as `image
#             create` makes it) or v1
#
# Figures are medians of R repeats (default 3). Results: OUT/results.json
# and a table on stdout. Environment: DYNAMICFS_BIN (default
# build/src/cli/dynamicfs), BENCH_ROOT (where images live; default
# /var/tmp). Root only; exit 77 when network namespaces are unavailable.
set -euo pipefail

bench_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$bench_dir/.." && pwd)"
BIN=${DYNAMICFS_BIN:-$repo/build/src/cli/dynamicfs}
out=""
rate=400mbit
counts="1 2 4 8"
mib=256
repeats=3
stall_runs=25
hashes=hybrid
lab=yes
lab_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) counts="1 4 8"; repeats=1; stall_runs=5; lab_args+=(--quick) ;;
    --lab-only) lab=only ;;
    --no-lab) lab=no ;;
    --out) out=$2; shift ;;
    --rate) rate=$2; shift ;;
    --counts) counts=$2; shift ;;
    --mib) mib=$2; shift ;;
    --repeats) repeats=$2; shift ;;
    --stall-runs) stall_runs=$2; shift ;;
    --hashes) hashes=$2; shift ;;
    -h|--help) sed -n '2,44p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "replication.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
if [ "$(id -u)" -ne 0 ] || ! ip netns list >/dev/null 2>&1; then
  echo "SKIP: needs root and ip netns"
  exit 77
fi
[ -x "$BIN" ] || { echo "replication.sh: no dynamicfs binary at $BIN" >&2; exit 1; }
out=${out:-$bench_dir/results/replication-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"
if [ "$lab" = only ]; then
  exec bash "$bench_dir/replication_lab.sh" "${lab_args[@]}" --out "$out/lab-sync.json"
fi
work=$(mktemp -d "${BENCH_ROOT:-/var/tmp}/dfs-replbench-XXXXXX")
cp "$BIN" "$work/dynamicfs"  # the build may relink meanwhile
BIN=$work/dynamicfs
tag=$$
br_ns=dfsrb-br-$tag
max_n=0
for n in $counts; do [ "$n" -gt "$max_n" ] && max_n=$n; done
[ "$max_n" -ge 4 ] || max_n=4  # the stall runs use four receivers
nodes=$((max_n + 1))           # n0 seeds
node_ns() { echo "dfsrb-n$1-$tag"; }
node_ip() { echo "10.214.77.$(($1 + 10))"; }

cleanup() {
  set +e
  for i in $(seq 0 $((nodes - 1))); do
    ip netns pids "$(node_ns "$i")" 2>/dev/null | xargs -r kill -9
    ip netns del "$(node_ns "$i")" 2>/dev/null
  done
  ip netns del "$br_ns" 2>/dev/null
  umount "$work/ram" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP PIPE

ip netns add "$br_ns"
ip -n "$br_ns" link add br0 type bridge
ip -n "$br_ns" link set dev br0 type bridge mcast_snooping 0
ip -n "$br_ns" link set br0 up
for i in $(seq 0 $((nodes - 1))); do
  ns=$(node_ns "$i")
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  ip -n "$ns" link add eth0 type veth peer name "p$i" netns "$br_ns"
  ip -n "$ns" addr add "$(node_ip "$i")/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" route add 239.0.0.0/8 dev eth0
  ip -n "$br_ns" link set "p$i" master br0 up
done
# shape on|off: tbf at $rate on both ends of every veth (a full-duplex port).
shape() {
  local i
  for i in $(seq 0 $((nodes - 1))); do
    if [ "$1" = on ]; then
      ip netns exec "$(node_ns "$i")" tc qdisc replace dev eth0 root tbf rate "$rate" burst 256kb latency 20ms
      ip netns exec "$br_ns" tc qdisc replace dev "p$i" root tbf rate "$rate" burst 256kb latency 20ms
    else
      ip netns exec "$(node_ns "$i")" tc qdisc del dev eth0 root 2>/dev/null || true
      ip netns exec "$br_ns" tc qdisc del dev "p$i" root 2>/dev/null || true
    fi
  done
}

now() { date +%s.%N; }
cpu_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8, $5 + $6}' /proc/stat; }  # busy idle
# busy_fraction "BUSY0 IDLE0" "BUSY1 IDLE1": share of all cores busy between the two.
busy_fraction() {
  python3 -c 'import sys; b0,i0,b1,i1=map(float,sys.argv[1:]); print((b1-b0)/max(1,(b1-b0)+(i1-i0)))' $1 $2
}
median() { python3 -c 'import sys,statistics; print(statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }

name=img$mib
head -c "$((mib * 1024 * 1024))" /dev/urandom >"$work/$name.img"
"$BIN" image create --disk "$work/$name.img" -o "$work/$name.torrent" --used-ranges full \
  --name "$name" >/dev/null
# The same image with SHA-1 pieces only: a receiver hashes each piece once.
"$BIN" image create --disk "$work/$name.img" -o "$work/$name.v1.torrent" --used-ranges full \
  --name "$name" --hashes v1 >/dev/null
torrent=$work/$name.torrent
[ "$hashes" = v1 ] && torrent=$work/$name.v1.torrent
mkdir -p "$work/ram"
mount -t tmpfs -o "size=$(((max_n + 1) * mib + 256))m" dfs-replbench "$work/ram"

seed_pid=""
start_seed() {
  ip netns exec "$(node_ns 0)" "$BIN" replicate seed "$torrent" --source "$work/$name.img" \
    --listen "$(node_ip 0):6881" --json >"$work/seed.out" 2>"$work/seed.err" &
  seed_pid=$!
  for _ in $(seq 200); do
    grep -q '"listening"' "$work/seed.out" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "seeder did not start: $(cat "$work/seed.err")" >&2
  exit 1
}
stop_seed() { kill -INT "$seed_pid" 2>/dev/null || true; wait "$seed_pid" 2>/dev/null || true; }

# run_fanout COUNT: one seeder (started here, so its counters cover this run
# only) and COUNT receivers started together; prints one JSON object: the
# seconds until the last receiver verified its last piece, and the swarm
# figures of the receivers' and the seeder's final JSON lines.
run_fanout() {
  local count=$1 i pids=()
  rm -f "$work/ram/"*.target
  start_seed
  local c0 t0
  c0=$(cpu_ticks)
  t0=$(now)
  for i in $(seq 1 "$count"); do
    ip netns exec "$(node_ns "$i")" "$BIN" replicate fetch "$torrent" \
      --target "$work/ram/$i.target" --listen "$(node_ip "$i"):6881" \
      --peer "$(node_ip 0):6881" --json >"$work/fetch$i.out" 2>"$work/fetch$i.err" &
    pids+=($!)
  done
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || { echo "fetch $((i + 1)) failed: $(cat "$work/fetch$((i + 1)).err")" >&2; exit 1; }
  done
  local busy
  busy=$(busy_fraction "$c0" "$(cpu_ticks)")
  stop_seed
  for i in $(seq 1 "$count"); do
    cmp "$work/$name.img" "$work/ram/$i.target" || { echo "fetched image $i differs" >&2; exit 1; }
  done
  python3 "$bench_dir/replication_run.py" --started "$t0" --busy "$busy" --seed "$work/seed.out" \
    "$work"/fetch*.out
  rm -f "$work/ram/"*.target "$work"/fetch*.out
}

shape on
json_runs="["
declare -A times=()
for n in $counts; do
  for r in $(seq "$repeats"); do
    line=$(run_fanout "$n")
    json_runs+="{\"phase\": \"fanout\", \"n\": $n, \"repeat\": $r, \"run\": $line},"
    echo "1->$n #$r: $line" >&2
  done
done
for r in $(seq "$stall_runs"); do
  line=$(run_fanout 4)
  json_runs+="{\"phase\": \"stalls\", \"n\": 4, \"repeat\": $r, \"run\": $line},"
  echo "stall run 1->4 #$r: $line" >&2
done
shape off
for r in $(seq "$repeats"); do
  torrent=$work/$name.torrent
  line=$(run_fanout 1)
  json_runs+="{\"phase\": \"unshaped\", \"n\": 1, \"repeat\": $r, \"run\": $line},"
  torrent=$work/$name.v1.torrent
  line=$(run_fanout 1)
  json_runs+="{\"phase\": \"unshaped_v1\", \"n\": 1, \"repeat\": $r, \"run\": $line},"
done
json_runs="${json_runs%,}]"
echo "{\"mib\": $mib, \"hashes\": \"$hashes\", \"rate\": \"$rate\", \"cores\": $(nproc), \"runs\": $json_runs}" |
  python3 -m json.tool >"$out/results.json"
python3 "$bench_dir/replication_report.py" "$out/results.json"
echo "results: $out/results.json"
if [ "$lab" = yes ]; then
  # Its own namespaces and volume; this run's are gone first.
  cleanup
  trap - EXIT
  bash "$bench_dir/replication_lab.sh" "${lab_args[@]}" --out "$out/lab-sync.json"
fi
