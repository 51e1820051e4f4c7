#!/usr/bin/env bash
# Extent cache benchmark: 4 KiB random reads (fio, O_DIRECT, so every read
# reaches the daemon) over a hot set that fits the cache, with the cache on
# and off, switched live on one mount and alternated REPEATS times in the
# same run. Prints the median IOPS of each, their ratio, and the cache's hit
# ratio from the metrics.
#
#   bench/extent_cache.sh [HOT_MIB] [REPEATS] [SECONDS]   (defaults 256, 5, 8)
#
# Environment: DYNAMICFS_BIN (default build/src/cli/dynamicfs), BENCH_ROOT
# (where the volume lives; default /var/tmp), JOBS (fio jobs, default 4).
# Exit: 0 done, 1 error, 77 not root / no /dev/fuse.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HOT_MIB=${1:-256}
REPEATS=${2:-5}
SECS=${3:-8}
JOBS=${JOBS:-4}
BIN=$(realpath "${DYNAMICFS_BIN:-$repo/build/src/cli/dynamicfs}")
[[ $(id -u) -eq 0 && -c /dev/fuse ]] || {
  echo "extent_cache.sh: needs root and /dev/fuse" >&2
  exit 77
}
command -v fio >/dev/null || {
  echo "extent_cache.sh: needs fio (apt-get install fio)" >&2
  exit 1
}
TMP=$(mktemp -d "${BENCH_ROOT:-/var/tmp}/dfs-bench-cache-XXXXXX")
MNT=$TMP/mnt
cleanup() {
  set +e
  mountpoint -q "$MNT" && "$BIN" umount "$MNT"
  rm -rf "$TMP"
}
trap cleanup EXIT
mkdir "$MNT"
"$BIN" mkfs --volume "$TMP/vol" --disk "$TMP/d0.img" --disk "$TMP/d1.img" \
  --size $((HOT_MIB + 1024))M >/dev/null
"$BIN" mount --volume "$TMP/vol" "$MNT" -o extent_cache_mb=$((HOT_MIB * 2))
fio --name=fill --filename="$MNT/hot" --size="${HOT_MIB}M" --rw=write --bs=1M --end_fsync=1 \
  --output-format=terse >/dev/null

one_run() {  # one_run CACHE_MB: prints IOPS
  "$BIN" config set extent_cache_mb "$1" "$MNT" >/dev/null
  # Warm up (fills the cache when on), then the timed run.
  fio --name=warm --filename="$MNT/hot" --size="${HOT_MIB}M" --rw=read --bs=1M --direct=1 \
    --output-format=terse >/dev/null
  fio --name=randread --filename="$MNT/hot" --size="${HOT_MIB}M" --rw=randread --bs=4k \
    --direct=1 --runtime="$SECS" --time_based --numjobs="$JOBS" --group_reporting \
    --output-format=json | python3 -c "import json, sys; print(json.load(sys.stdin)['jobs'][0]['read']['iops'])"
}
on=() off=()
for _ in $(seq "$REPEATS"); do
  on+=("$(one_run $((HOT_MIB * 2)))")
  off+=("$(one_run 0)")
done
"$BIN" config set extent_cache_mb $((HOT_MIB * 2)) "$MNT" >/dev/null
ratio=$("$BIN" status --json "$MNT" | python3 -c "import json, sys; print(json.load(sys.stdin)['extent_cache']['hit_ratio'])")
python3 - "$HOT_MIB" "$JOBS" "$SECS" "$ratio" "${on[*]}" "${off[*]}" <<'PY'
import statistics, sys
hot, jobs, secs, ratio = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
on = [float(x) for x in sys.argv[5].split()]
off = [float(x) for x in sys.argv[6].split()]
mon, moff = statistics.median(on), statistics.median(off)
print(f"4 KiB O_DIRECT random reads, {hot} MiB hot set, {jobs} jobs, {secs} s, {len(on)} repeats")
print(f"cache on : median {mon:9.0f} IOPS (all: {', '.join(f'{x:.0f}' for x in on)})")
print(f"cache off: median {moff:9.0f} IOPS (all: {', '.join(f'{x:.0f}' for x in off)})")
print(f"ratio on/off: {mon / moff:.3f}   hit ratio of the cached runs (metrics, since mount): {ratio:.3f}")
PY
