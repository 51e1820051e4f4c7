#!/usr/bin/env bash
# Benchmark harness: dynamicfs side by side with a native directory, libfuse's
# passthrough_ll (the cost of FUSE alone) and mergerfs (the disk-pooling peer),
# all on the same underlying filesystem and in one run. It exists because
# these machines are noisy: the project's speed claims are ratios measured in
# one run, never absolute numbers compared across runs.
#
#   bench/run.sh [--quick] [--only LIST] [--out DIR] [--targets LIST] [--perf]
#
#   --quick        smaller sizes, still 3 repeats (about 9 minutes on 2 cores)
#   --only LIST    comma-separated workload families: seq, randread, randwrite,
#                  meta, realwork, memory, churn (fio = seq,randread,randwrite), or
#                  smoke (a tiny version of every family, 1 repeat, ~2 minutes)
#   --out DIR      where results go (default bench/results/<timestamp>; a
#                  'latest' symlink is made next to it)
#   --targets LIST subset of native,memfs,passthrough,mergerfs,dynamicfs,
#                  dynamicfs_r2 (memfs: bench/memfs.cc, an in-memory FUSE
#                  daemon, the limit of the FUSE round trip itself)
#   --perf         perf record -g the dynamicfs daemon during each measured
#                  dynamicfs run (into OUT/perf/; perturbs dynamicfs numbers)
#
# Environment: DYNAMICFS_BIN (binary to test; default build/src/cli/dynamicfs,
# else built into BENCH_BUILD_DIR), BENCH_BUILD_DIR (default bench/build),
# BENCH_ROOT (where the temporary targets live; default /var/tmp).
#
# Must run as root (FUSE mounts, drop_caches, apt-get). Exit status 0 when the
# run completed (failed targets are recorded in the results, not fatal), 1 on
# a harness error, 77 when the machine cannot run it (not root, no /dev/fuse).
set -euo pipefail

bench_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$bench_dir/.." && pwd)"

usage() { sed -n '/^#   bench/,/^# Environment/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }

mode=full
only=""
out=""
target_list="native,memfs,passthrough,mergerfs,dynamicfs,dynamicfs_r2"
perf_enabled=0
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) mode=quick ;;
    --only) only="${2:?--only needs a value}"; shift ;;
    --out) out="${2:?--out needs a value}"; shift ;;
    --targets) target_list="${2:?--targets needs a value}"; shift ;;
    --perf) perf_enabled=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

all_families=(seq randread randwrite meta realwork memory churn)
families=()
if [ -z "$only" ]; then
  families=("${all_families[@]}")
else
  IFS=, read -r -a requested <<<"$only"
  for f in "${requested[@]}"; do
    case "$f" in
      smoke) mode=smoke; families=("${all_families[@]}") ;;
      fio) families+=(seq randread randwrite) ;;
      seq|randread|randwrite|meta|realwork|memory|churn) families+=("$f") ;;
      *) echo "run.sh: unknown workload family '$f' (seq randread randwrite meta realwork memory churn fio smoke)" >&2; exit 2 ;;
    esac
  done
fi
IFS=, read -r -a targets <<<"$target_list"
for t in "${targets[@]}"; do
  case "$t" in
    native|memfs|passthrough|mergerfs|dynamicfs|dynamicfs_r2) ;;
    *) echo "run.sh: unknown target '$t'" >&2; exit 2 ;;
  esac
done

# Sizes per mode. RAND_TIME is the fio runtime in seconds of each random run;
# RAND16_SIZE the size of each of the 16 files of the 16-file fdatasync row.
case "$mode" in
  full)  REPS=3; SEQ_SIZE=1g;   RAND_SIZE=1g;   RAND_TIME=8; META_N=100000; TREE_COPIES=40; RSS_N=1000000; CHURN_ROUNDS=10000; RAND16_SIZE=64m ;;
  quick) REPS=3; SEQ_SIZE=256m; RAND_SIZE=256m; RAND_TIME=2; META_N=10000;  TREE_COPIES=8;  RSS_N=100000;  CHURN_ROUNDS=10000; RAND16_SIZE=16m ;;
  smoke) REPS=1; SEQ_SIZE=16m;  RAND_SIZE=16m;  RAND_TIME=1; META_N=1000;   TREE_COPIES=1;  RSS_N=2000;    CHURN_ROUNDS=1000;  RAND16_SIZE=1m ;;
esac
DFS_DISK_SIZE=4G

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

if [ "$(id -u)" -ne 0 ]; then
  echo "run.sh: must run as root (FUSE mounts, drop_caches, apt-get); skipping" >&2
  exit 77
fi
if [ ! -e /dev/fuse ]; then
  modprobe fuse 2>/dev/null || true
  [ -e /dev/fuse ] || { echo "run.sh: /dev/fuse is missing; skipping" >&2; exit 77; }
fi

# --- dependencies ----------------------------------------------------------
install_deps() {
  local pkgs=(fio mergerfs python3-matplotlib libfuse3-dev fuse3 gcc g++ pkg-config git tar)
  local missing=() p
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing from Debian: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >&2; then
    apt-get update -q >&2 || true
    # One by one, so that a missing mergerfs does not block fio.
    for p in "${missing[@]}"; do
      apt-get install -y -q --no-install-recommends "$p" >&2 || log "warning: could not install $p"
    done
  fi
}
install_deps

# Debian's python3 is the one python3-matplotlib installs into.
PY=/usr/bin/python3
[ -x "$PY" ] || PY="$(command -v python3)"
command -v fio >/dev/null || die "fio is not installed and could not be installed"

# --- build the tools -------------------------------------------------------
build_dir="${BENCH_BUILD_DIR:-$bench_dir/build}"
mkdir -p "$build_dir"
examples=/usr/share/doc/libfuse3-dev/examples
pt_bin="$build_dir/passthrough_ll"
pt_build_error=""
if [ ! -x "$pt_bin" ] || [ "$examples/passthrough_ll.c" -nt "$pt_bin" ]; then
  src="$examples/passthrough_ll.c"
  if [ ! -f "$src" ] && [ -f "$src.gz" ]; then
    gunzip -c "$src.gz" >"$build_dir/passthrough_ll.c"; src="$build_dir/passthrough_ll.c"
  fi
  log "building passthrough_ll from $examples"
  # shellcheck disable=SC2046
  if ! gcc -O2 -Wall -I"$examples" $(pkg-config --cflags fuse3) "$src" -o "$pt_bin" \
      $(pkg-config --libs fuse3) 2>"$build_dir/passthrough_ll.log"; then
    pt_build_error="passthrough_ll did not build: $(tail -1 "$build_dir/passthrough_ll.log")"
    log "warning: $pt_build_error"
  fi
fi
memfs_bin="$build_dir/memfs"
memfs_build_error=""
if [ ! -x "$memfs_bin" ] || [ "$bench_dir/memfs.cc" -nt "$memfs_bin" ]; then
  log "building memfs"
  # shellcheck disable=SC2046
  if ! g++ -std=c++20 -O2 -Wall -Wextra $(pkg-config --cflags fuse3) "$bench_dir/memfs.cc" \
      -o "$memfs_bin" $(pkg-config --libs fuse3) 2>"$build_dir/memfs.log"; then
    memfs_build_error="memfs did not build: $(tail -1 "$build_dir/memfs.log")"
    log "warning: $memfs_build_error"
  fi
fi
mb_bin="$build_dir/metabench"
if [ ! -x "$mb_bin" ] || [ "$bench_dir/metabench.cc" -nt "$mb_bin" ]; then
  log "building metabench"
  g++ -std=c++20 -O2 -Wall -Wextra -pthread "$bench_dir/metabench.cc" -o "$mb_bin" \
    || die "metabench did not build"
fi
dfs_src_bin="${DYNAMICFS_BIN:-}"
if [ -z "$dfs_src_bin" ] && [ -x "$repo/build/src/cli/dynamicfs" ]; then
  dfs_src_bin="$repo/build/src/cli/dynamicfs"
fi
if [ -z "$dfs_src_bin" ]; then
  log "building dynamicfs (RelWithDebInfo) in $build_dir/dynamicfs"
  cmake -S "$repo" -B "$build_dir/dynamicfs" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DBUILD_TESTING=OFF >&2 || die "cmake failed"
  cmake --build "$build_dir/dynamicfs" --target dynamicfs >&2 || die "dynamicfs did not build"
  dfs_src_bin="$build_dir/dynamicfs/src/cli/dynamicfs"
fi
[ -x "$dfs_src_bin" ] || die "dynamicfs binary $dfs_src_bin is not executable"

# --- work area, output and cleanup -----------------------------------------
if [ -z "$out" ]; then
  out="$bench_dir/results/$(date +%Y%m%d-%H%M%S)"
fi
mkdir -p "$out"
out="$(cd "$out" && pwd)"
samples="$out/samples.jsonl"
: >"$samples"
# The log copy ignores Ctrl-C so that it still records the cleanup.
exec 2> >(trap '' INT TERM; exec tee -a "$out/run.log" >&2)

bench_root="${BENCH_ROOT:-/var/tmp}"
work="$(mktemp -d "$bench_root/dynamicfs-bench.XXXXXX")"
mkdir -p "$work/bin" "$work/mnt" "$work/logs"
# A private copy: the binary under test must not change under a running
# benchmark when someone rebuilds the tree.
cp "$dfs_src_bin" "$work/bin/dynamicfs"
DFS="$work/bin/dynamicfs"

declare -A TDIR=() TPID=() TMNT=() TFAIL=()
started_pids=()
perf_pid=""

mounts_under() { awk -v p="$1/" 'index($2, p) == 1 { print $2 }' /proc/self/mounts | sort -r; }

detach() {  # detach one FUSE mountpoint, however it got stuck
  local m="$1"
  if awk -v m="$m" '$2 == m { f = 1 } END { exit !f }' /proc/self/mounts; then
    if grep -qs " $m fuse.dynamicfs " /proc/self/mounts; then
      timeout 120 "$DFS" umount "$m" >/dev/null 2>&1 && return 0
    fi
    fusermount3 -u "$m" >/dev/null 2>&1 || umount "$m" >/dev/null 2>&1 || umount -l "$m" >/dev/null 2>&1 || true
  fi
}

cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  if [ -n "$perf_pid" ]; then kill -INT "$perf_pid" 2>/dev/null; wait "$perf_pid" 2>/dev/null; fi
  if [ -n "${work:-}" ] && [ -d "$work" ]; then
    local m
    for m in $(mounts_under "$work"); do
      log "cleanup: unmounting $m"
      detach "$m"
    done
    local p
    for p in "${started_pids[@]}"; do
      kill "$p" 2>/dev/null
    done
    if [ -n "$(mounts_under "$work")" ]; then
      log "cleanup: mounts remain under $work; leaving it in place"
    else
      case "$work" in
        */dynamicfs-bench.*) rm -rf --one-file-system "$work" ;;
      esac
    fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

# Every daemon gets as many file descriptors as this machine allows
# (passthrough_ll keeps one open per inode it knows).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
fd_limit="$(ulimit -n)"
# passthrough_ll fails with EMFILE past the fd limit; its metadata runs are
# capped below it and marked so.
pt_max_files=$(( fd_limit > 4000 ? fd_limit - 2000 : fd_limit / 2 ))

can_drop=0
if sync && echo 3 >/proc/sys/vm/drop_caches 2>/dev/null; then can_drop=1; fi
drop_caches() { if [ "$can_drop" = 1 ]; then sync; echo 3 >/proc/sys/vm/drop_caches; fi; }

# --- recording -------------------------------------------------------------
json_str() { local s="${1//\\/ }"; s="${s//\"/\'}"; printf '%s' "$s" | tr '\n\t\r' '   '; }

# record TARGET WORKLOAD FAMILY REP VALUE UNIT HIGHER_IS_BETTER [NOTE]
record() {
  if ! [[ "$5" =~ ^[0-9]+(\.[0-9]+)?$ ]]; then
    record_error "$1" "$2" "$3" "not a number: '$5'"; return 0
  fi
  printf '{"target":"%s","workload":"%s","family":"%s","rep":%s,"value":%s,"unit":"%s","higher_is_better":%s,"note":"%s"}\n' \
    "$1" "$2" "$3" "$4" "$5" "$6" "$7" "$(json_str "${8:-}")" >>"$samples"
  log "  $1 $2 rep $4: $5 $6${8:+ ($8)}"
}
# record_error TARGET WORKLOAD FAMILY MESSAGE
record_error() {
  printf '{"target":"%s","workload":"%s","family":"%s","error":"%s"}\n' \
    "$1" "$2" "$3" "$(json_str "$4")" >>"$samples"
  log "  $1 $2: FAILED: $4"
}

# shellcheck source=bench/targets.sh
. "$bench_dir/targets.sh"
# shellcheck source=bench/families.sh
. "$bench_dir/families.sh"

# --- run -------------------------------------------------------------------
drop_note="caches dropped before reading"
[ "$can_drop" = 1 ] || drop_note="caches NOT dropped (not permitted)"

fs_type="$(findmnt -n -o FSTYPE -T "$work" 2>/dev/null || stat -f -c %T "$work")"
fs_source="$(findmnt -n -o SOURCE -T "$work" 2>/dev/null || echo unknown)"
dfs_version="$(git -C "$repo" describe --always --dirty 2>/dev/null || echo unknown)"
"$PY" - "$out/machine.json" <<EOF
import json, sys
json.dump({
  "date": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "mode": "$mode",
  "families": "${families[*]}",
  "targets": "${targets[*]}",
  "nproc": $(nproc),
  "mem_total_mib": $(awk '/MemTotal/ { print int($2 / 1024) }' /proc/meminfo),
  "cpu": "$(json_str "$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)")",
  "kernel": "$(uname -r)",
  "bench_dir": "$work",
  "bench_fs_type": "$fs_type",
  "bench_fs_source": "$fs_source",
  "drop_caches": bool($can_drop),
  "fd_limit": $fd_limit,
  "dynamicfs_binary": "$dfs_src_bin",
  "dynamicfs_version": "$dfs_version",
  "fio_version": "$(fio --version)",
  "mergerfs_version": "$(mergerfs --version 2>&1 | awk 'NR==1 { print \$3 }')",
  "libfuse_version": "$(pkg-config --modversion fuse3 2>/dev/null)",
  "params": {"repeats": $REPS, "seq_size": "$SEQ_SIZE", "rand_size": "$RAND_SIZE",
             "rand_runtime_s": $RAND_TIME, "meta_files": $META_N, "tree_copies": $TREE_COPIES,
             "rss_files": $RSS_N, "churn_rounds": $CHURN_ROUNDS, "dynamicfs_disks": "2 file disks of $DFS_DISK_SIZE (sparse)",
             "passthrough_max_files": $pt_max_files},
  "perf": bool($perf_enabled),
}, open(sys.argv[1], "w"), indent=2)
EOF

log "mode $mode; families: ${families[*]}; targets: ${targets[*]}"
log "all targets live under $work ($fs_type on $fs_source); results in $out"
log "$drop_note"
start_all=$EPOCHREALTIME
for fam in "${families[@]}"; do
  log "== $fam"
  setup_family "$fam"
  "family_$fam"
  teardown_family
done
log "workloads done in $(awk -v a="$start_all" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }') s"

"$PY" "$bench_dir/report.py" "$out"
ln -sfn "$(basename "$out")" "$(dirname "$out")/latest"
log "results: $out/results.json, $out/table.txt, $out/chart.png"
