#!/usr/bin/env bash
# copy_file_range benchmark: how long an instant copy of a large file takes on
# dynamicfs (extents shared, nothing copied) and how much pool space it uses,
# next to the same copy_file_range on the native filesystem underneath (which
# copies bytes unless it can reflink), measured in the same run. Prints the
# median of REPEATS runs of each and their ratio.
#
#   bench/copy_range.sh [SIZE_MIB] [REPEATS]      (defaults 1024, 5)
#
# Environment: DYNAMICFS_BIN (default build/src/cli/dynamicfs), BENCH_ROOT
# (where the volume and the native copy live; default /var/tmp).
# Exit: 0 done, 1 error, 77 not root / no /dev/fuse.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SIZE_MIB=${1:-1024}
REPEATS=${2:-5}
BIN=$(realpath "${DYNAMICFS_BIN:-$repo/build/src/cli/dynamicfs}")
[[ $(id -u) -eq 0 && -c /dev/fuse ]] || {
  echo "copy_range.sh: needs root and /dev/fuse" >&2
  exit 77
}
[[ -x "$BIN" ]] || {
  echo "copy_range.sh: no dynamicfs binary at $BIN" >&2
  exit 1
}

TMP=$(mktemp -d "${BENCH_ROOT:-/var/tmp}/dfs-bench-copy-XXXXXX")
MNT=$TMP/mnt
cleanup() {
  set +e
  mountpoint -q "$MNT" && "$BIN" umount "$MNT"
  rm -rf "$TMP"
}
trap cleanup EXIT
mkdir "$MNT" "$TMP/native"
"$BIN" mkfs --volume "$TMP/vol" --disk "$TMP/d0.img" --size $((SIZE_MIB * 3 + 512))M >/dev/null
"$BIN" mount --volume "$TMP/vol" "$MNT"

# The source file, written once on each side.
head -c $((SIZE_MIB << 20)) /dev/urandom >"$TMP/native/src"
cp "$TMP/native/src" "$MNT/src"
sync

# One timed copy_file_range of the whole file (looping over short copies),
# printing milliseconds and the pool's used bytes before and after.
python3 - "$MNT" "$TMP/native" "$REPEATS" "$SIZE_MIB" <<'PY'
import os, statistics, sys, time
mnt, native, repeats, size_mib = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])

def used(path):
    st = os.statvfs(path)
    return (st.f_blocks - st.f_bfree) * st.f_frsize

def one_copy(root, name):
    src = os.open(f"{root}/src", os.O_RDONLY)
    dst = os.open(f"{root}/{name}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    size = os.fstat(src).st_size
    before = used(root)
    t0 = time.perf_counter()
    done = 0
    while done < size:
        n = os.copy_file_range(src, dst, size - done)
        if n == 0:
            break
        done += n
    ms = (time.perf_counter() - t0) * 1000
    os.close(src)
    os.close(dst)
    assert done == size, f"copied {done} of {size}"
    return ms, used(root) - before

results = {}
for label, root in (("dynamicfs", mnt), ("native", native)):
    times, extra = [], []
    for i in range(repeats):
        ms, grew = one_copy(root, f"copy{i}")
        times.append(ms)
        extra.append(grew)
    for i in range(repeats):
        os.unlink(f"{root}/copy{i}")
    results[label] = (statistics.median(times), statistics.median(extra))
    print(f"{label:10s} copy_file_range of {size_mib} MiB: median {results[label][0]:9.1f} ms "
          f"over {repeats} runs (all: {', '.join(f'{t:.1f}' for t in times)}); "
          f"pool use grew by {results[label][1] / 2**20:.1f} MiB")
d, n = results["dynamicfs"][0], results["native"][0]
print(f"ratio dynamicfs/native time: {d / n:.4f} (lower is better; goal: dynamicfs < 50 ms, 0 bytes)")
PY
