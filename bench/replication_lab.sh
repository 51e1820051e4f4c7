#!/usr/bin/env bash
# Lab sync benchmark (run by bench/replication.sh, or alone): the time from
# `replicate publish --now` to the last of N followers converged (switched
# to the new snapshot), after 1 % of a volume changed, for N = 1 and 4;
# goal: t(4) / t(1) <= 1.3, both measured in this run.
#
#   bench/replication_lab.sh [--quick] [--out FILE] [--mib N] [--repeats R] [--rate RATE]
#
# A master (n0) and four followers (n1..n4) in network namespaces on one
# bridge, every link shaped to RATE (default 400mbit) on both ends, as in
# bench/replication.sh. The master's volume holds MIB MiB (default 1024) of
# files; followers keep their slots in a tmpfs (separate machines would not
# share a disk). Each follower is brought to the steady state first: the
# initial fetch, then one update (which fills its spare slot). Then, per
# repeat, 1 % of the data changes (scattered 256 KiB blocks), `publish
# --now` is timed from its start, and the run ends when every follower's
# `switched` event for the new generation is in. With all four followers
# running, R repeats (default 3); then followers 2-4 stop and follower 1
# alone does R more. Reported: medians of the total (publish included), of
# the publish alone (snapshot + torrent) and of the fetch after it, the
# bytes each follower received, and the ratio of the totals.
# --quick: 512 MiB, one repeat. Results: FILE (JSON; default
# bench/results/lab-sync-DATE.json) and a table on stdout. Root only;
# exit 77 without network namespaces.
set -euo pipefail

bench_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$bench_dir/.." && pwd)"
BIN=${DYNAMICFS_BIN:-$repo/build/src/cli/dynamicfs}
out=""
mib=1024
repeats=3
rate=400mbit
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) mib=512; repeats=1 ;;
    --out) out=$2; shift ;;
    --mib) mib=$2; shift ;;
    --repeats) repeats=$2; shift ;;
    --rate) rate=$2; shift ;;
    -h|--help) sed -n '2,25p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "replication_lab.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
if [ "$(id -u)" -ne 0 ] || ! ip netns list >/dev/null 2>&1; then
  echo "SKIP: needs root and ip netns"
  exit 77
fi
[ -x "$BIN" ] || { echo "replication_lab.sh: no dynamicfs binary at $BIN" >&2; exit 1; }
out=${out:-$bench_dir/results/lab-sync-$(date +%Y%m%d-%H%M%S).json}
mkdir -p "$(dirname "$out")"
work=$(mktemp -d "${BENCH_ROOT:-/var/tmp}/dfs-labbench-XXXXXX")
cp "$BIN" "$work/dynamicfs"
BIN=$work/dynamicfs
tag=$$
br_ns=dfslb-br-$tag
node_ns() { echo "dfslb-n$1-$tag"; }
node_ip() { echo "10.215.77.$(($1 + 10))"; }
declare -A pid_of=()

cleanup() {
  set +e
  local i
  for i in 0 1 2 3 4; do
    ip netns pids "$(node_ns "$i")" 2>/dev/null | xargs -r kill -9
  done
  sleep 0.5
  for i in 0 1 2 3 4; do ip netns del "$(node_ns "$i")" 2>/dev/null; done
  ip netns del "$br_ns" 2>/dev/null
  "$BIN" umount "$work/mnt" 2>/dev/null || umount -l "$work/mnt" 2>/dev/null
  if [ -n "${BENCH_KEEP:-}" ]; then
    mkdir -p "$BENCH_KEEP" && cp "$work"/*.out "$work"/*.err "$BENCH_KEEP"/ 2>/dev/null
  fi
  umount -l "$work/ram" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP PIPE

ip netns add "$br_ns"
ip -n "$br_ns" link add br0 type bridge
ip -n "$br_ns" link set dev br0 type bridge mcast_snooping 0
ip -n "$br_ns" link set br0 up
for i in 0 1 2 3 4; do
  ns=$(node_ns "$i")
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  ip -n "$ns" link add eth0 type veth peer name "p$i" netns "$br_ns"
  ip -n "$ns" addr add "$(node_ip "$i")/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" route add 239.0.0.0/8 dev eth0
  ip -n "$br_ns" link set "p$i" master br0 up
  ip netns exec "$ns" tc qdisc replace dev eth0 root tbf rate "$rate" burst 256kb latency 20ms
  ip netns exec "$br_ns" tc qdisc replace dev "p$i" root tbf rate "$rate" burst 256kb latency 20ms
done

# The master's volume: MIB MiB in 16 MiB files.
mkdir -p "$work/mnt" "$work/ram"
"$BIN" mkfs --volume "$work/vol" --disk "$work/d0.img" --size "$((mib * 2 + 512))M" >/dev/null
"$BIN" mount --volume "$work/vol" "$work/mnt"
files=$((mib / 16))
for f in $(seq 1 "$files"); do head -c $((16 << 20)) /dev/urandom >"$work/mnt/f$f"; done
sync "$work/mnt"
mount -t tmpfs -o "size=$((mib * 9 + 1024))m" dfs-labbench "$work/ram"
"$BIN" replicate secret "$work/secret" >/dev/null

ip netns exec "$(node_ns 0)" "$BIN" replicate publish "$work/mnt" --secret "$work/secret" --json \
  --feed-listen "$(node_ip 0):8086" --peer-host "$(node_ip 0)" >"$work/pub.out" 2>"$work/pub.err" &
pid_of[pub]=$!
gen_published() { local c; c=$(grep -c "\"event\": *\"published\"" "$work/pub.out" 2>/dev/null) || true; echo "${c:-0}"; }
for _ in $(seq 600); do [ "$(gen_published)" -ge 1 ] && break; sleep 0.1; done
[ "$(gen_published)" -ge 1 ] || { echo "the publisher did not publish: $(cat "$work/pub.err")" >&2; exit 1; }

start_follower() {
  ip netns exec "$(node_ns "$1")" "$BIN" replicate follow "http://$(node_ip 0):8086" \
    --volume "$work/ram/f$1" --secret "$work/secret" --poll 0.2 --json \
    --listen "$(node_ip "$1"):6881" >>"$work/f$1.out" 2>>"$work/f$1.err" &
  pid_of[f$1]=$!
}
# switched NODE GEN KEY: KEY of NODE's switch to generation GEN (empty if
# none yet).
switched() { python3 "$repo/tests/integration/lab_event.py" "$work/f$1.out" switched "$3" "$2"; }
wait_gen() { # GEN NODES...: until every node switched to GEN (10 min at most)
  local gen=$1 n
  shift
  for n in "$@"; do
    for _ in $(seq 6000); do
      [ -n "$(switched "$n" "$gen" unix_time)" ] && break
      sleep 0.1
    done
    [ -n "$(switched "$n" "$gen" unix_time)" ] ||
      { echo "follower $n never reached generation $gen: $(tail -3 "$work/f$n.err")" >&2; exit 1; }
  done
}
gen=1
change=0
# change_and_publish: 1 % of the data in scattered 256 KiB blocks, then
# `publish --now`; sets T0 (its start) and T_PUB (when it returned).
change_and_publish() {
  local blocks=$((mib * 4 / 100)) b f
  change=$((change + 1))
  for b in $(seq 1 "$blocks"); do
    f=$(((b * 7 + change * 13) % files + 1))
    head -c $((256 << 10)) /dev/urandom |
      dd of="$work/mnt/f$f" bs=256K seek=$(((b + change * 5) % 64)) conv=notrunc status=none
  done
  sync "$work/mnt"
  T0=$(date +%s.%N)
  "$BIN" replicate publish "$work/mnt" --now >/dev/null
  T_PUB=$(date +%s.%N)
  gen=$((gen + 1))
}

for n in 1 2 3 4; do start_follower "$n"; done
wait_gen 1 1 2 3 4
echo "setup: 4 followers hold generation 1 ($mib MiB)" >&2
change_and_publish
wait_gen "$gen" 1 2 3 4
echo "setup: 4 followers took one update (spare slots filled)" >&2

runs="["
measure() { # N NODES...: one repeat with these followers running
  local count=$1 n last=0 t bytes="["
  shift
  change_and_publish
  wait_gen "$gen" "$@"
  for n in "$@"; do
    t=$(switched "$n" "$gen" unix_time)
    last=$(python3 -c "print(max($last, $t))")
    bytes+="$(switched "$n" "$gen" downloaded),"
  done
  bytes="${bytes%,}]"
  local image
  image=$(switched 1 "$gen" image_bytes)
  local line
  line=$(python3 -c "import json; t0,tp,last=$T0,$T_PUB,$last; print(json.dumps({'n': $count, 'generation': $gen, 'total_seconds': last-t0, 'publish_seconds': tp-t0, 'fetch_seconds': last-tp, 'received_bytes': $bytes, 'image_bytes': $image}))")
  echo "1 -> $count: $line" >&2
  runs+="$line,"
}
for r in $(seq "$repeats"); do measure 4 1 2 3 4; done
for n in 2 3 4; do kill -INT "${pid_of[f$n]}"; wait "${pid_of[f$n]}" || true; done
for r in $(seq "$repeats"); do measure 1 1; done
runs="${runs%,}]"
echo "{\"mib\": $mib, \"rate\": \"$rate\", \"cores\": $(nproc), \"runs\": $runs}" |
  python3 -m json.tool >"$out"
python3 - "$out" <<'PY'
import json, statistics, sys
d = json.load(open(sys.argv[1]))
def med(n, k):
    return statistics.median(r[k] for r in d["runs"] if r["n"] == n)
print(f"lab sync: publish -> last follower converged, 1 % of {d['mib']} MiB changed, "
      f"links {d['rate']} (medians of {sum(1 for r in d['runs'] if r['n'] == 1)})")
print(f"{'followers':>10} {'total s':>8} {'publish s':>10} {'fetch s':>8} {'received/image':>15}")
for n in (1, 4):
    rec = max(max(r["received_bytes"]) / r["image_bytes"] for r in d["runs"] if r["n"] == n)
    print(f"{n:>10} {med(n, 'total_seconds'):8.2f} {med(n, 'publish_seconds'):10.2f} "
          f"{med(n, 'fetch_seconds'):8.2f} {100 * rec:14.2f}%")
ratio = med(4, "total_seconds") / med(1, "total_seconds")
print(f"ratio 1->4 / 1->1 (total): {ratio:.2f}  (goal <= 1.3)"
      f"   fetch only: {med(4, 'fetch_seconds') / med(1, 'fetch_seconds'):.2f}")
PY
echo "results: $out"
