#!/usr/bin/env bash
# Benchmarks of the concurrency core (issue "Concurrency core"), each a ratio
# measured in this run on the same underlying filesystem, medians of repeats:
#   1. 4 KiB random write + fdatasync, 16 jobs (one file per job): dynamicfs
#      with group commit on vs off, and vs native;
#   2. create of 100,000 empty files with 8 threads: dynamicfs vs native;
#   3. p99 latency of 4 KiB random reads, idle vs while `dynamicfs scrub`
#      floods the same disks with Background-priority reads.
# Usage: bench/concurrency.sh [--repeats N] [--out DIR]   (root; fio installed)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
repeats=3
out="$repo/bench/results/concurrency-$(date +%Y%m%d-%H%M%S)"
while [ $# -gt 0 ]; do
  case "$1" in
    --repeats) repeats="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) echo "usage: $0 [--repeats N] [--out DIR]" >&2; exit 2 ;;
  esac
done
bin="${DYNAMICFS_BIN:-$repo/build/src/cli/dynamicfs}"
[ -x "$bin" ] || { echo "concurrency.sh: no dynamicfs binary at $bin (build first)" >&2; exit 1; }
command -v fio >/dev/null || { echo "concurrency.sh: fio is not installed" >&2; exit 1; }
mkdir -p "$out" "$repo/bench/build"
mb="$repo/bench/build/metabench"
[ -x "$mb" ] && [ "$mb" -nt "$repo/bench/metabench.cc" ] ||
  g++ -std=c++20 -O2 -pthread "$repo/bench/metabench.cc" -o "$mb"

work=$(mktemp -d /var/tmp/dfs-conc-XXXXXX)
mnt="$work/mnt"
scrub_pid=""
cleanup() {
  set +e
  [ -n "$scrub_pid" ] && kill "$scrub_pid" 2>/dev/null && wait "$scrub_pid" 2>/dev/null
  if mountpoint -q "$mnt"; then "$bin" umount "$mnt" || umount -l "$mnt"; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$mnt" "$work/native"
"$bin" mkfs --volume "$work/vol" --disk "$work/d0" --disk "$work/d1" --size 4G >/dev/null
mount_dfs() { "$bin" mount --volume "$work/vol" "$mnt" "$@"; }
umount_dfs() { "$bin" umount "$mnt"; }

median() { python3 -c 'import sys,statistics; v=[float(x) for x in sys.argv[1:]]; print(statistics.median(v))' "$@"; }
results="$out/results.jsonl"
: > "$results"
record() {  # name target unit samples...
  local name=$1 target=$2 unit=$3; shift 3
  python3 -c 'import json,sys,statistics; s=[float(x) for x in sys.argv[4:]];
print(json.dumps({"workload":sys.argv[1],"target":sys.argv[2],"unit":sys.argv[3],"samples":s,"median":statistics.median(s),"min":min(s),"max":max(s)}))' \
    "$name" "$target" "$unit" "$@" >> "$results"
  echo "  $name [$target]: median $(median "$@") $unit (samples: $*)"
}

fio_iops() {  # dir -> write IOPS of 16 jobs, 4k random, fdatasync each
  fio --name=w --directory="$1" --rw=randwrite --bs=4k --size=64M --numjobs=16 --fdatasync=1 \
    --runtime=8 --time_based --group_reporting --output-format=json 2>/dev/null |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["jobs"][0]["write"]["iops"])'
}

echo "== 1. 4 KiB random write + fdatasync, 16 jobs"
s=(); for _ in $(seq "$repeats"); do rm -rf "$work/native/"*; s+=("$(fio_iops "$work/native")"); done
record randwrite_fdatasync_16j native IOPS "${s[@]}"
for gc in on off; do
  mount_dfs -o group_commit=$gc
  s=(); for _ in $(seq "$repeats"); do rm -rf "$mnt/"*; s+=("$(fio_iops "$mnt")"); done
  record randwrite_fdatasync_16j "dynamicfs_gc_$gc" IOPS "${s[@]}"
  umount_dfs
done

echo "== 2. create 100,000 files, 8 threads"
create_rate() {
  "$mb" --dir "$1" --files 100000 --threads 8 --phases create |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["phases"]["create"]["ops_per_sec"])'
}
s=(); for _ in $(seq "$repeats"); do rm -rf "$work/native/"*; s+=("$(create_rate "$work/native")"); done
record create_100k_8t native ops/s "${s[@]}"
mount_dfs
s=(); for _ in $(seq "$repeats"); do rm -rf "$mnt/"*; s+=("$(create_rate "$mnt")"); done
record create_100k_8t dynamicfs ops/s "${s[@]}"

echo "== 3. p99 4 KiB read latency, idle vs Background scrub flood"
rm -rf "$mnt/"*
fio --name=fill --directory="$mnt" --filename=data --rw=write --bs=1M --size=1G --end_fsync=1 >/dev/null 2>&1
p99() {
  fio --name=r --directory="$mnt" --filename=data --rw=randread --bs=4k --size=1G --direct=1 --numjobs=1 \
    --runtime=8 --time_based --output-format=json 2>/dev/null |
    python3 -c 'import json,sys; j=json.load(sys.stdin)["jobs"][0]["read"]["clat_ns"]["percentile"]; print(j["99.000000"]/1000.0)'
}
s=(); for _ in $(seq "$repeats"); do s+=("$(p99)"); done
record randread_p99_us idle us "${s[@]}"
( while true; do "$bin" scrub "$mnt" >/dev/null 2>&1 || true; done ) &
scrub_pid=$!
s=(); for _ in $(seq "$repeats"); do s+=("$(p99)"); done
record randread_p99_us during_scrub us "${s[@]}"
kill "$scrub_pid"; wait "$scrub_pid" 2>/dev/null || true; scrub_pid=""
umount_dfs

python3 - "$results" <<'PY' | tee "$out/summary.txt"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
m = {(r["workload"], r["target"]): r["median"] for r in rows}
def ratio(a, b): return m[a] / m[b] if m.get(b) else float("nan")
print("ratios (medians):")
print(f"  group commit on / off, 16-job fdatasync writes: {ratio(('randwrite_fdatasync_16j','dynamicfs_gc_on'), ('randwrite_fdatasync_16j','dynamicfs_gc_off')):.2f}  (goal >= 3)")
print(f"  dynamicfs / native, 16-job fdatasync writes:    {ratio(('randwrite_fdatasync_16j','dynamicfs_gc_on'), ('randwrite_fdatasync_16j','native')):.2f}  (goal >= 0.5)")
print(f"  dynamicfs / native, create 100k with 8 threads: {ratio(('create_100k_8t','dynamicfs'), ('create_100k_8t','native')):.2f}  (goal >= 1.0)")
print(f"  p99 read latency during scrub / idle:           {ratio(('randread_p99_us','during_scrub'), ('randread_p99_us','idle')):.2f}  (goal <= 2)")
PY
echo "results: $out"
