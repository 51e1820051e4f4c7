#!/usr/bin/env bash
# Replication benchmark: how fast `dynamicfs replicate` clones a disk image
# to other machines, as ratios against a baseline measured in the same run
# (a local copy of the same image with fsync), because these machines are
# noisy. Machines are network namespaces joined by veth pairs through a
# bridge in its own namespace; no traffic leaves them.
#
#   bench/replication.sh [--quick] [--out DIR]
#
#   1->1      fetch time of a 256 MiB and a 2 GiB image; throughput ratio =
#             (cp + fsync time) / (fetch time)                   goal >= 0.5
#   1->3      time until all three receivers are done, as a ratio of the
#             1->1 time of the same image                       goal <= 1.2
#             Measured twice: with the targets on the disk (all receivers
#             then share one disk, which real receivers do not) and with
#             the targets in a tmpfs (each receiver limited only by CPU and
#             network, as on separate machines).
#   cpu busy  share of all cores busy during the tmpfs 1->1 and 1->3 runs:
#             near 100 % means the namespaces share too few cores for
#             the fan-out ratio to mean what it would on separate machines
#   stalls    25 repeated 1->2 runs of the 256 MiB image; a stall is a run
#             over 3x the median                                goal: none
#   --quick   256 MiB only, 5 repeated runs (about a minute)
#
# Every figure is the median of 3 repeats. Results: OUT/results.json and a
# table on stdout. Environment: DYNAMICFS_BIN (default build/src/cli/dynamicfs),
# BENCH_ROOT (where images live; default /var/tmp). Root only; exit 77 when
# network namespaces are unavailable.
set -euo pipefail

bench_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$bench_dir/.." && pwd)"
BIN=${DYNAMICFS_BIN:-$repo/build/src/cli/dynamicfs}
quick=0
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --out) out=$2; shift ;;
    -h|--help) sed -n '2,25p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
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
work=$(mktemp -d "${BENCH_ROOT:-/var/tmp}/dfs-replbench-XXXXXX")
tag=$$
br_ns=dfsrb-br-$tag
nodes=4  # n0 seeds, n1..n3 fetch
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
ip -n "$br_ns" link set br0 up
for i in $(seq 0 $((nodes - 1))); do
  ns=$(node_ns "$i")
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  ip link add "rb$i-$tag" netns "$ns" type veth peer name "p$i" netns "$br_ns"
  ip -n "$ns" link set "rb$i-$tag" name eth0
  ip -n "$ns" addr add "$(node_ip "$i")/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$br_ns" link set "p$i" master br0 up
done

now() { date +%s.%N; }
cpu_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8, $5 + $6}' /proc/stat; }  # busy idle
# busy_fraction "BUSY0 IDLE0" "BUSY1 IDLE1": share of all cores busy between the two.
busy_fraction() {
  python3 -c 'import sys; b0,i0,b1,i1=map(float,sys.argv[1:]); print((b1-b0)/max(1,(b1-b0)+(i1-i0)))' $1 $2
}
median() { python3 -c 'import sys,statistics; print(statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }

make_image() {  # make_image NAME MIB
  head -c "$(($2 * 1024 * 1024))" /dev/urandom >"$work/$1.img"
  "$BIN" image create --disk "$work/$1.img" -o "$work/$1.torrent" --used-ranges full \
    --piece-size 1048576 >/dev/null
}

seed_pid=""
start_seed() {  # start_seed NAME
  ip netns exec "$(node_ns 0)" "$BIN" replicate seed "$work/$1.torrent" --source "$work/$1.img" \
    --listen "$(node_ip 0):6881" --no-lsd >"$work/seed.log" 2>&1 &
  seed_pid=$!
  # Ready once it listens.
  for _ in $(seq 100); do
    grep -q "on port" "$work/seed.log" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "seeder did not start: $(cat "$work/seed.log")" >&2
  exit 1
}
stop_seed() { kill -INT "$seed_pid" 2>/dev/null || true; wait "$seed_pid" 2>/dev/null || true; }

# fetch_parallel NAME COUNT [DIR]: prints the seconds until every receiver
# is done; targets go to DIR (default: next to the image).
fetch_parallel() {
  local name=$1 count=$2 dir=${3:-$work} i pids=()
  for i in $(seq 1 "$count"); do rm -f "$dir/$name.target$i"; done
  sync
  local t0 c0
  c0=$(cpu_ticks)
  t0=$(now)
  for i in $(seq 1 "$count"); do
    # Every receiver knows the seeder and the other receivers, so pieces
    # spread between receivers from the start (as LSD gives on a LAN).
    local peers=(--peer "$(node_ip 0):6881") j
    for j in $(seq 1 "$count"); do
      [ "$j" -eq "$i" ] || peers+=(--peer "$(node_ip "$j"):6881")
    done
    ip netns exec "$(node_ns "$i")" "$BIN" replicate fetch "$work/$name.torrent" \
      --target "$dir/$name.target$i" --listen "$(node_ip "$i"):6881" --no-lsd \
      "${peers[@]}" >/dev/null 2>"$work/fetch$i.err" &
    pids+=($!)
  done
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || { echo "fetch $((i + 1)) failed: $(cat "$work/fetch$((i + 1)).err")" >&2; exit 1; }
  done
  python3 -c "print($(now) - $t0)"
  busy_fraction "$c0" "$(cpu_ticks)" >"$work/busy.last"
  for i in $(seq 1 "$count"); do
    cmp "$work/$name.img" "$dir/$name.target$i" || { echo "fetched image $i differs" >&2; exit 1; }
  done
  rm -f "$dir/$name".target*
}

copy_time() {  # copy_time NAME: local cp + fsync
  rm -f "$work/$1.copy"
  sync
  local t0
  t0=$(now)
  dd if="$work/$1.img" of="$work/$1.copy" bs=4M conv=fsync status=none
  python3 -c "print($(now) - $t0)"
  rm -f "$work/$1.copy"
}

mkdir -p "$work/ram"
mount -t tmpfs -o size=7g dfs-replbench "$work/ram"

sizes=(256 2048)
stall_runs=25
[ "$quick" -eq 1 ] && sizes=(256) && stall_runs=5
json="{"
for mib in "${sizes[@]}"; do
  name=img$mib
  make_image "$name" "$mib"
  start_seed "$name"
  cps=() one=() three=() one_ram=() three_ram=() busy1=() busy3=()
  for _ in 1 2 3; do
    cps+=("$(copy_time "$name")")
    one+=("$(fetch_parallel "$name" 1)")
    three+=("$(fetch_parallel "$name" 3)")
    one_ram+=("$(fetch_parallel "$name" 1 "$work/ram")")
    busy1+=("$(cat "$work/busy.last")")
    three_ram+=("$(fetch_parallel "$name" 3 "$work/ram")")
    busy3+=("$(cat "$work/busy.last")")
  done
  stop_seed
  cp_med=$(median "${cps[@]}")
  one_med=$(median "${one[@]}")
  three_med=$(median "${three[@]}")
  one_ram_med=$(median "${one_ram[@]}")
  three_ram_med=$(median "${three_ram[@]}")
  json+="\"${mib}MiB\": {\"copy_fsync_s\": $cp_med, \"fetch_1to1_s\": $one_med, \"fetch_1to3_s\": $three_med,"
  json+=" \"throughput_ratio\": $(python3 -c "print($cp_med / $one_med)"),"
  json+=" \"fanout_ratio\": $(python3 -c "print($three_med / $one_med)"),"
  json+=" \"fetch_1to1_tmpfs_s\": $one_ram_med, \"fetch_1to3_tmpfs_s\": $three_ram_med,"
  json+=" \"fanout_ratio_tmpfs\": $(python3 -c "print($three_ram_med / $one_ram_med)"),"
  json+=" \"cpu_busy_1to1_tmpfs\": $(median "${busy1[@]}"), \"cpu_busy_1to3_tmpfs\": $(median "${busy3[@]}"),"
  json+=" \"fetch_MBps\": $(python3 -c "print($mib * 1.048576 / $one_med)")},"
  rm -f "$work/$name".target*
done

name=img256
[ -f "$work/$name.img" ] || make_image "$name" 256
start_seed "$name"
runs=()
for _ in $(seq "$stall_runs"); do runs+=("$(fetch_parallel "$name" 2)"); done
stop_seed
stall_med=$(median "${runs[@]}")
stalls=$(python3 -c "import sys; m=float(sys.argv[1]); print(sum(1 for x in sys.argv[2:] if float(x) > 3*m))" "$stall_med" "${runs[@]}")
worst=$(python3 -c "import sys; print(max(float(x) for x in sys.argv[1:]))" "${runs[@]}")
json+="\"stalls_1to2\": {\"runs\": ${#runs[@]}, \"median_s\": $stall_med, \"worst_s\": $worst, \"stalls\": $stalls}}"
echo "$json" | python3 -m json.tool >"$out/results.json"

python3 - "$out/results.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"{'image':<8} {'cp+fsync s':>10} {'1->1 s':>8} {'MB/s':>7} {'ratio':>6} {'1->3 s':>8} {'1->3/1->1':>10} {'tmpfs 1->1':>11} {'1->3':>6} {'ratio':>6}")
for k, v in r.items():
    if k.endswith("MiB"):
        print(f"{k:<8} {v['copy_fsync_s']:>10.2f} {v['fetch_1to1_s']:>8.2f} {v['fetch_MBps']:>7.0f} "
              f"{v['throughput_ratio']:>6.2f} {v['fetch_1to3_s']:>8.2f} {v['fanout_ratio']:>10.2f} "
              f"{v['fetch_1to1_tmpfs_s']:>11.2f} {v['fetch_1to3_tmpfs_s']:>6.2f} {v['fanout_ratio_tmpfs']:>6.2f}")
for k, v in r.items():
    if k.endswith("MiB"):
        print(f"{k}: share of all {__import__('os').cpu_count()} cores busy during tmpfs fetches: "
              f"1->1 {v['cpu_busy_1to1_tmpfs']:.0%}, 1->3 {v['cpu_busy_1to3_tmpfs']:.0%}")
s = r["stalls_1to2"]
print(f"1->2 x{s['runs']}: median {s['median_s']:.2f} s, worst {s['worst_s']:.2f} s, stalls (>3x median): {s['stalls']}")
PY
echo "results: $out/results.json"
