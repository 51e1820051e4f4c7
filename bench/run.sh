#!/usr/bin/env bash
# Benchmark harness: dynamicfs side by side with a native directory, libfuse's
# passthrough_ll (the cost of FUSE alone) and mergerfs (the disk-pooling peer),
# all on the same underlying filesystem and in one run. It exists because
# these machines are noisy: the project's speed claims are ratios measured in
# one run, never absolute numbers compared across runs.
#
#   bench/run.sh [--quick] [--only LIST] [--out DIR] [--targets LIST] [--perf]
#
#   --quick        smaller sizes, still 3 repeats (about 5 minutes on 2 cores)
#   --only LIST    comma-separated workload families: seq, randread, randwrite,
#                  meta, realwork, memory (fio = seq,randread,randwrite), or
#                  smoke (a tiny version of every family, 1 repeat, ~1 minute)
#   --out DIR      where results go (default bench/results/<timestamp>; a
#                  'latest' symlink is made next to it)
#   --targets LIST subset of native,passthrough,mergerfs,dynamicfs,dynamicfs_r2
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

usage() { sed -n '9,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

mode=full
only=""
out=""
target_list="native,passthrough,mergerfs,dynamicfs,dynamicfs_r2"
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

all_families=(seq randread randwrite meta realwork memory)
families=()
if [ -z "$only" ]; then
  families=("${all_families[@]}")
else
  IFS=, read -r -a requested <<<"$only"
  for f in "${requested[@]}"; do
    case "$f" in
      smoke) mode=smoke; families=("${all_families[@]}") ;;
      fio) families+=(seq randread randwrite) ;;
      seq|randread|randwrite|meta|realwork|memory) families+=("$f") ;;
      *) echo "run.sh: unknown workload family '$f' (seq randread randwrite meta realwork memory fio smoke)" >&2; exit 2 ;;
    esac
  done
fi
IFS=, read -r -a targets <<<"$target_list"
for t in "${targets[@]}"; do
  case "$t" in
    native|passthrough|mergerfs|dynamicfs|dynamicfs_r2) ;;
    *) echo "run.sh: unknown target '$t'" >&2; exit 2 ;;
  esac
done

# Sizes per mode. RAND_TIME is the fio runtime in seconds of each random run.
case "$mode" in
  full)  REPS=3; SEQ_SIZE=1g;   RAND_SIZE=1g;   RAND_TIME=8; META_N=100000; TREE_COPIES=40; RSS_N=1000000 ;;
  quick) REPS=3; SEQ_SIZE=256m; RAND_SIZE=256m; RAND_TIME=2; META_N=10000;  TREE_COPIES=8;  RSS_N=100000 ;;
  smoke) REPS=1; SEQ_SIZE=16m;  RAND_SIZE=16m;  RAND_TIME=1; META_N=1000;   TREE_COPIES=1;  RSS_N=2000 ;;
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

# --- targets ---------------------------------------------------------------
wait_mounted() {  # MOUNTPOINT PID
  local i
  for i in $(seq 1 200); do
    mountpoint -q "$1" && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

# setup_target NAME: makes the target ready; its work directory in TDIR.
setup_target() {
  local t="$1" m="$work/mnt/$1" lg="$work/logs/$1.log"
  TPID[$t]=""
  TFAIL[$t]=""
  case "$t" in
    native)
      mkdir -p "$work/native"
      TDIR[$t]="$work/native" ;;
    passthrough)
      [ -z "$pt_build_error" ] || { TFAIL[$t]="$pt_build_error"; return 1; }
      mkdir -p "$work/pt_src" "$m"
      "$pt_bin" -f -o source="$work/pt_src" "$m" >>"$lg" 2>&1 &
      TPID[$t]=$!; started_pids+=("$!")
      wait_mounted "$m" "${TPID[$t]}" || { TFAIL[$t]="passthrough_ll did not mount: $(tail -1 "$lg")"; return 1; }
      TMNT[$t]="$m"; TDIR[$t]="$m" ;;
    mergerfs)
      command -v mergerfs >/dev/null || { TFAIL[$t]="mergerfs is not installed"; return 1; }
      mkdir -p "$work/mfs_a" "$work/mfs_b" "$m"
      mergerfs -f -o fsname=mergerfs-bench,cache.files=partial "$work/mfs_a:$work/mfs_b" "$m" >>"$lg" 2>&1 &
      TPID[$t]=$!; started_pids+=("$!")
      wait_mounted "$m" "${TPID[$t]}" || { TFAIL[$t]="mergerfs did not mount: $(tail -1 "$lg")"; return 1; }
      TMNT[$t]="$m"; TDIR[$t]="$m" ;;
    dynamicfs|dynamicfs_r2)
      local vol="$work/vol_$t" replicas=1
      [ "$t" = dynamicfs_r2 ] && replicas=2
      mkdir -p "$vol" "$m"
      if ! "$DFS" mkfs --volume "$vol" --disk "$vol/disk0.img" --disk "$vol/disk1.img" \
          --size "$DFS_DISK_SIZE" --replicas "$replicas" >>"$lg" 2>&1; then
        TFAIL[$t]="mkfs: $(tail -1 "$lg")"; return 1
      fi
      if ! "$DFS" mount --volume "$vol" "$m" >>"$lg" 2>&1; then
        TFAIL[$t]="mount: $(tail -1 "$lg")"; return 1
      fi
      TPID[$t]="$(cat "$vol/daemon.pid" 2>/dev/null || true)"
      TMNT[$t]="$m"; TDIR[$t]="$m" ;;
  esac
  return 0
}

teardown_target() {
  local t="$1" m="${TMNT[$1]:-}" pid="${TPID[$1]:-}" i
  if [ -n "$m" ]; then
    detach "$m"
    if [ -n "$pid" ]; then
      for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill "$pid" 2>/dev/null || true
    fi
  fi
  TMNT[$t]=""; TPID[$t]=""
  if [ -n "$(mounts_under "$work/mnt/$t")" ] || mountpoint -q "$work/mnt/$t" 2>/dev/null; then
    log "warning: $work/mnt/$t is still mounted; not deleting its backing files"
    return 0
  fi
  case "$t" in
    native) rm -rf "$work/native" ;;
    passthrough) rm -rf "$work/pt_src" ;;
    mergerfs) rm -rf "$work/mfs_a" "$work/mfs_b" ;;
    dynamicfs|dynamicfs_r2) rm -rf "$work/vol_$t" ;;
  esac
}

live=()  # targets set up for the current family
setup_family() {
  local fam="$1" t
  live=()
  for t in "${targets[@]}"; do
    if setup_target "$t"; then
      live+=("$t")
    else
      record_error "$t" "*" "$fam" "target not available: ${TFAIL[$t]}"
      teardown_target "$t"
    fi
  done
}
teardown_family() {
  local t
  for t in "${live[@]}"; do teardown_target "$t"; done
  live=()
}
is_failed() { [ -n "${TFAIL[$1]:-}" ]; }
mark_failed() {  # the target died under a workload: skip it for the family
  TFAIL[$1]="$2"
  if [ -n "${TMNT[$1]:-}" ] && ! mountpoint -q "${TMNT[$1]}" 2>/dev/null; then
    TFAIL[$1]="$2 (mount is gone)"
  fi
}

perf_start() {  # TARGET TAG
  [ "$perf_enabled" = 1 ] && [ "$1" = dynamicfs ] && [ -n "${TPID[$1]:-}" ] || return 0
  mkdir -p "$out/perf"
  perf record -g -q -p "${TPID[$1]}" -o "$out/perf/$2.data" >/dev/null 2>&1 &
  perf_pid=$!
  sleep 0.3
}
perf_stop() {
  [ -n "$perf_pid" ] || return 0
  kill -INT "$perf_pid" 2>/dev/null || true
  wait "$perf_pid" 2>/dev/null || true
  perf_pid=""
}

# --- fio -------------------------------------------------------------------
# fio_run JSON_OUT ARGS...: runs fio, prints "VALUE" of the metric asked by
# FIO_METRIC (read_bw_mib, write_bw_mib, read_iops, write_iops).
fio_run() {
  local json="$1"; shift
  if ! timeout 600 fio --output-format=json --output="$json" "$@" >"$json.log" 2>&1; then
    tail -2 "$json.log" | tr '\n' ' '
    return 1
  fi
  "$PY" - "$json" "$FIO_METRIC" <<'EOF'
import json, sys
text = open(sys.argv[1]).read()
job = json.loads(text[text.index("{"):])["jobs"][0]
if job.get("error"):
    print("fio job error %d" % job["error"]); sys.exit(1)
op, what = sys.argv[2].split("_", 1)
side = job[op]
print(round(side["bw_bytes"] / 1048576.0, 2) if what == "bw_mib" else round(side["iops"], 1))
EOF
}

family_seq() {
  local rep t d v j
  for rep in $(seq 1 "$REPS"); do
    for t in "${live[@]}"; do
      is_failed "$t" && continue
      d="${TDIR[$t]}/seq"; j="$work/logs/fio-$t"
      rm -rf "$d"; mkdir -p "$d" || { mark_failed "$t" "mkdir failed"; record_error "$t" seq_write seq "${TFAIL[$t]}"; continue; }
      perf_start "$t" "seq_write-$rep"
      if v=$(FIO_METRIC=write_bw_mib fio_run "$j.json" --name=seqwrite --filename="$d/seq.dat" \
          --rw=write --bs=1M --size="$SEQ_SIZE" --ioengine=psync --end_fsync=1); then
        perf_stop; record "$t" seq_write seq "$rep" "$v" MiB/s true "end_fsync=1"
      else
        perf_stop; record_error "$t" seq_write seq "$v"; mark_failed "$t" "seq_write failed"; continue
      fi
      drop_caches
      perf_start "$t" "seq_read-$rep"
      if v=$(FIO_METRIC=read_bw_mib fio_run "$j.json" --name=seqread --filename="$d/seq.dat" \
          --rw=read --bs=1M --size="$SEQ_SIZE" --ioengine=psync); then
        perf_stop; record "$t" seq_read seq "$rep" "$v" MiB/s true "$drop_note"
      else
        perf_stop; record_error "$t" seq_read seq "$v"
      fi
      rm -rf "$d"
    done
  done
}

layout_rand_files() {  # FAMILY: one RAND_SIZE file per target, not timed
  local fam="$1" t v
  for t in "${live[@]}"; do
    mkdir -p "${TDIR[$t]}/rand"
    if ! v=$(FIO_METRIC=write_bw_mib fio_run "$work/logs/layout-$t.json" --name=layout \
        --filename="${TDIR[$t]}/rand/rand.dat" --rw=write --bs=1M --size="$RAND_SIZE" --end_fsync=1); then
      mark_failed "$t" "laying out the test file failed: $v"
      record_error "$t" "*" "$fam" "${TFAIL[$t]}"
    fi
  done
}

family_randread() {
  local rep t jobs v note wl
  layout_rand_files randread
  for rep in $(seq 1 "$REPS"); do
    for t in "${live[@]}"; do
      for jobs in 1 16; do
        is_failed "$t" && continue
        wl="randread_4k_${jobs}j"
        drop_caches
        note="O_DIRECT"
        perf_start "$t" "$wl-$rep"
        if ! v=$(FIO_METRIC=read_iops fio_run "$work/logs/rr-$t.json" --name=randread \
            --filename="${TDIR[$t]}/rand/rand.dat" --rw=randread --bs=4k --size="$RAND_SIZE" \
            --direct=1 --ioengine=psync --numjobs="$jobs" --group_reporting \
            --runtime="$RAND_TIME" --time_based); then
          # A target that refuses O_DIRECT is measured buffered, and marked so.
          note="buffered: O_DIRECT refused ($v)"
          drop_caches
          v=$(FIO_METRIC=read_iops fio_run "$work/logs/rr-$t.json" --name=randread \
              --filename="${TDIR[$t]}/rand/rand.dat" --rw=randread --bs=4k --size="$RAND_SIZE" \
              --direct=0 --ioengine=psync --numjobs="$jobs" --group_reporting \
              --runtime="$RAND_TIME" --time_based) || note=""
        fi
        perf_stop
        if [ -n "$note" ]; then
          record "$t" "$wl" randread "$rep" "$v" IOPS true "$note"
        else
          record_error "$t" "$wl" randread "$v"
        fi
      done
    done
  done
}

family_randwrite() {
  local rep t jobs v wl
  layout_rand_files randwrite
  for rep in $(seq 1 "$REPS"); do
    for t in "${live[@]}"; do
      for jobs in 1 16; do
        is_failed "$t" && continue
        wl="randwrite_fdatasync_4k_${jobs}j"
        perf_start "$t" "$wl-$rep"
        if v=$(FIO_METRIC=write_iops fio_run "$work/logs/rw-$t.json" --name=randwrite \
            --filename="${TDIR[$t]}/rand/rand.dat" --rw=randwrite --bs=4k --size="$RAND_SIZE" \
            --fdatasync=1 --ioengine=psync --numjobs="$jobs" --group_reporting \
            --runtime="$RAND_TIME" --time_based); then
          perf_stop; record "$t" "$wl" randwrite "$rep" "$v" IOPS true "buffered, fdatasync after every write"
        else
          perf_stop; record_error "$t" "$wl" randwrite "$v"
        fi
      done
    done
  done
}

# --- metadata --------------------------------------------------------------
family_meta() {
  local rep t threads n note phases res d
  phases="create,stat,readdir,rename,unlink"
  [ "$can_drop" = 1 ] && phases="create,stat,stat_cold,readdir,rename,unlink"
  for rep in $(seq 1 "$REPS"); do
    for t in "${live[@]}"; do
      for threads in 1 8; do
        is_failed "$t" && continue
        n="$META_N"; note="$threads threads, one subdirectory each"
        if [ "$t" = passthrough ] && [ "$n" -gt "$pt_max_files" ]; then
          n="$pt_max_files"
          note="$note; capped at $n files (passthrough_ll holds an fd per inode, fd hard limit $fd_limit)"
        fi
        d="${TDIR[$t]}/meta"
        rm -rf "$d"; mkdir -p "$d"
        perf_start "$t" "meta_${threads}t-$rep"
        if res=$(timeout 1200 "$mb_bin" --dir "$d" --files "$n" --threads "$threads" \
            --phases "$phases" $([ "$can_drop" = 1 ] && echo --drop-caches) 2>"$work/logs/meta-$t.err"); then
          perf_stop
          while read -r phase value; do
            record "$t" "${phase}_${threads}t" meta "$rep" "$value" ops/s true "$n files; $note"
          done < <("$PY" -c '
import json, sys
names = {"stat": "stat_warm"}
for k, v in json.loads(sys.argv[1])["phases"].items():
    print(names.get(k, k), v["ops_per_sec"])' "$res")
        else
          perf_stop
          record_error "$t" "meta_${threads}t" meta "$(tail -1 "$work/logs/meta-$t.err")"
        fi
        rm -rf "$d"
      done
    done
  done
}

# --- real work: tar x, git status, rm -rf of a source tree -----------------
make_tree_tarball() {
  local src="$work/tree-src" i
  rm -rf "$src"; mkdir -p "$src"
  for i in $(seq 1 "$TREE_COPIES"); do
    mkdir -p "$src/copy$i"
    if git -C "$repo" rev-parse --git-dir >/dev/null 2>&1; then
      git -C "$repo" archive --format=tar HEAD | tar x -C "$src/copy$i"
    else
      tar c -C "$repo" --exclude=./build --exclude=./bench/build --exclude=./bench/results . | tar x -C "$src/copy$i"
    fi
  done
  git -C "$src" init -q
  git -C "$src" add -A
  git -C "$src" -c user.name=bench -c user.email=bench@localhost commit -qm "bench tree"
  tar cf "$work/tree.tar" -C "$src" .
  tree_files=$(find "$src" | wc -l)
  tree_mib=$(du -sm "$src" | cut -f1)
  rm -rf "$src"
  log "source tree: $TREE_COPIES copies of the project tree + .git = $tree_files entries, $tree_mib MiB"
}

timed() {  # prints elapsed seconds of "$@", fails with it
  local t0=$EPOCHREALTIME
  "$@" >/dev/null 2>"$work/logs/timed.err" || { tail -1 "$work/logs/timed.err"; return 1; }
  awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f\n", b - a }'
}

family_realwork() {
  local rep t d v note
  make_tree_tarball
  note="$tree_files entries, $tree_mib MiB"
  for rep in $(seq 1 "$REPS"); do
    for t in "${live[@]}"; do
      is_failed "$t" && continue
      d="${TDIR[$t]}/tree"
      rm -rf "$d"; mkdir -p "$d"
      perf_start "$t" "tar_x-$rep"
      if v=$(timed tar xf "$work/tree.tar" -C "$d"); then
        perf_stop; record "$t" tar_x realwork "$rep" "$v" s false "$note; without the final sync"
      else
        perf_stop; record_error "$t" tar_x realwork "$v"; continue
      fi
      sync -f "$d" 2>/dev/null || sync
      # The first status after extraction re-reads every file (the index's
      # stat data no longer match); the second one is the everyday, stat-bound one.
      if v=$(timed git -C "$d" status --porcelain); then
        record "$t" git_status_first realwork "$rep" "$v" s false "$note; rehashes every file"
      else
        record_error "$t" git_status_first realwork "$v"
      fi
      perf_start "$t" "git_status-$rep"
      if v=$(timed git -C "$d" status --porcelain); then
        perf_stop; record "$t" git_status realwork "$rep" "$v" s false "$note; warm"
      else
        perf_stop; record_error "$t" git_status realwork "$v"
      fi
      perf_start "$t" "rm_rf-$rep"
      if v=$(timed rm -rf "$d"); then
        perf_stop; record "$t" rm_rf realwork "$rep" "$v" s false "$note"
      else
        perf_stop; record_error "$t" rm_rf realwork "$v"
      fi
    done
  done
}

# --- memory: daemon RSS idle and after RSS_N files -------------------------
rss_mib() {  # PID FIELD (VmRSS or VmHWM)
  awk -v f="$2:" '$1 == f { printf "%.1f\n", $2 / 1024 }' "/proc/$1/status"
}

family_memory() {
  local t pid v d
  for t in "${live[@]}"; do
    pid="${TPID[$t]:-}"
    if [ "$t" = native ]; then continue; fi
    if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
      record_error "$t" rss_idle memory "no daemon pid"; continue
    fi
    if [ "$t" = passthrough ] && [ "$RSS_N" -gt "$pt_max_files" ]; then
      record_error "$t" rss_peak_1m_files memory "skipped: $RSS_N files exceed the fd hard limit $fd_limit (passthrough_ll holds an fd per inode)"
      sleep 1
      record "$t" rss_idle memory 1 "$(rss_mib "$pid" VmRSS)" MiB false "VmRSS after mount"
      continue
    fi
    sleep 1
    record "$t" rss_idle memory 1 "$(rss_mib "$pid" VmRSS)" MiB false "VmRSS after mount"
    d="${TDIR[$t]}/many"
    mkdir -p "$d"
    perf_start "$t" "create_many"
    if timeout 3000 "$mb_bin" --dir "$d" --files "$RSS_N" --threads 2 --phases create,stat --keep \
        >"$work/logs/many-$t.json" 2>"$work/logs/many-$t.err"; then
      perf_stop
      record "$t" rss_peak_1m_files memory 1 "$(rss_mib "$pid" VmHWM)" MiB false "VmHWM after creating and stat-ing $RSS_N files (2 threads)"
      sleep 2
      record "$t" rss_after_1m_files memory 1 "$(rss_mib "$pid" VmRSS)" MiB false "VmRSS 2 s later, $RSS_N files present"
    else
      perf_stop
      record_error "$t" rss_peak_1m_files memory "$(tail -1 "$work/logs/many-$t.err")"
    fi
  done
}

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
             "rss_files": $RSS_N, "dynamicfs_disks": "2 file disks of $DFS_DISK_SIZE (sparse)",
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
