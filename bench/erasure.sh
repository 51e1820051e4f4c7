#!/usr/bin/env bash
# Erasure coding benchmark: sequential write (1 MiB, fsync at the end) and
# sequential O_DIRECT read of one file under a 4+2 policy and under 2
# replicas, on one mount over six file disks, alternated REPEATS times in
# the same run. Prints the median MB/s of each and the ratios EC/replicas
# (goals: write >= 0.7, read >= 0.9), with the disk bytes each layout took.
#
#   bench/erasure.sh [SIZE_MIB] [REPEATS]   (defaults 512, 5)
#
# Environment: DYNAMICFS_BIN (default build/src/cli/dynamicfs), BENCH_ROOT
# (where the volume lives; default /var/tmp).
# Exit: 0 done, 1 error, 77 not root / no /dev/fuse.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SIZE_MIB=${1:-512}
REPEATS=${2:-5}
BIN=$(realpath "${DYNAMICFS_BIN:-$repo/build/src/cli/dynamicfs}")
[[ $(id -u) -eq 0 && -c /dev/fuse ]] || {
  echo "erasure.sh: needs root and /dev/fuse" >&2
  exit 77
}
command -v fio >/dev/null || {
  echo "erasure.sh: needs fio (apt-get install fio)" >&2
  exit 1
}
TMP=$(mktemp -d "${BENCH_ROOT:-/var/tmp}/dfs-bench-ec-XXXXXX")
MNT=$TMP/mnt
cleanup() {
  set +e
  mountpoint -q "$MNT" && "$BIN" umount "$MNT"
  rm -rf "$TMP"
}
trap cleanup EXIT
mkdir "$MNT"
disks=()
for i in 0 1 2 3 4 5; do disks+=(--disk "$TMP/d$i.img"); done
"$BIN" mkfs --volume "$TMP/vol" "${disks[@]}" --size $((SIZE_MIB + 1024))M --replicas 2 >/dev/null
"$BIN" mount --volume "$TMP/vol" "$MNT"
mkdir "$MNT/ec" "$MNT/rep"
"$BIN" policy set "$MNT/ec" --ec 4+2 >/dev/null
"$BIN" policy set "$MNT/rep" --replicas 2 >/dev/null

used() { "$BIN" status --json "$MNT" | python3 -c "import json, sys; print(sum(d['used_bytes'] for d in json.load(sys.stdin)['disks']))"; }
bw() { python3 -c "import json, sys; j = json.load(sys.stdin)['jobs'][0]; print(j['$1']['bw_bytes'] / 1e6)"; }
one_run() {  # one_run DIR: prints "WRITE_MBS READ_MBS DISK_BYTES"
  local f=$MNT/$1/f u0 w r u
  u0=$(used)
  w=$(fio --name=w --filename="$f" --size="${SIZE_MIB}M" --rw=write --bs=1M --end_fsync=1 \
    --output-format=json | bw write)
  u=$(($(used) - u0))
  r=$(fio --name=r --filename="$f" --size="${SIZE_MIB}M" --rw=read --bs=1M --direct=1 \
    --output-format=json | bw read)
  rm "$f"
  echo "$w $r $u"
}
ec=() rep=()
for _ in $(seq "$REPEATS"); do
  ec+=("$(one_run ec)")
  rep+=("$(one_run rep)")
done
python3 - "$SIZE_MIB" "$(printf '%s;' "${ec[@]}")" "$(printf '%s;' "${rep[@]}")" <<'PY'
import statistics, sys
size = int(sys.argv[1])
def cols(arg):
    rows = [[float(x) for x in r.split()] for r in arg.split(';') if r.strip()]
    return [list(c) for c in zip(*rows)]
ew, er, eu = cols(sys.argv[2])
rw, rr, ru = cols(sys.argv[3])
m = statistics.median
print(f"sequential 1 MiB I/O of a {size} MiB file on six file disks, {len(ew)} repeats (median MB/s)")
print(f"ec 4+2    : write {m(ew):8.1f}  read {m(er):8.1f}  disk {m(eu) / (size << 20):.2f}x the data")
print(f"replicas 2: write {m(rw):8.1f}  read {m(rr):8.1f}  disk {m(ru) / (size << 20):.2f}x the data")
print(f"ratio ec/replicas: write {m(ew) / m(rw):.3f} (goal >= 0.7), read {m(er) / m(rr):.3f} (goal >= 0.9)")
print("all ec write:  " + ", ".join(f"{x:.0f}" for x in ew))
print("all rep write: " + ", ".join(f"{x:.0f}" for x in rw))
print("all ec read:   " + ", ".join(f"{x:.0f}" for x in er))
print("all rep read:  " + ", ".join(f"{x:.0f}" for x in rr))
PY
