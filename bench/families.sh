# Sourced by bench/run.sh: the workload families, one function each
# (family_NAME), recording samples with run.sh's record/record_error.
# shellcheck shell=bash

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
      # 16 jobs, each on its own file: an fsync of one file must not wait
      # for the others' data or metadata.
      is_failed "$t" && continue
      wl="randwrite_fdatasync_4k_16f"
      rm -rf "${TDIR[$t]}/rand16"; mkdir -p "${TDIR[$t]}/rand16"
      perf_start "$t" "$wl-$rep"
      if v=$(FIO_METRIC=write_iops fio_run "$work/logs/rw16-$t.json" --name=randwrite16 \
          --directory="${TDIR[$t]}/rand16" --rw=randwrite --bs=4k --size="$RAND16_SIZE" \
          --fdatasync=1 --ioengine=psync --numjobs=16 --group_reporting \
          --runtime="$RAND_TIME" --time_based); then
        perf_stop; record "$t" "$wl" randwrite "$rep" "$v" IOPS true "16 files of $RAND16_SIZE, fdatasync after every write"
      else
        perf_stop; record_error "$t" "$wl" randwrite "$v"
      fi
      rm -rf "${TDIR[$t]}/rand16"
    done
  done
}

# --- overwrite churn: random 4 KiB write + random truncate on one file -----
family_churn() {
  local rep t res seed first last
  for rep in $(seq 1 "$REPS"); do
    seed=$((rep * 7919))
    for t in "${live[@]}"; do
      is_failed "$t" && continue
      perf_start "$t" "churn-$rep"
      if res=$(timeout 1200 "$PY" "$bench_dir/churn.py" "${TDIR[$t]}/churn.dat" "$CHURN_ROUNDS" \
          "$seed" 2>"$work/logs/churn-$t.err"); then
        perf_stop
        read -r first last < <("$PY" -c 'import json, sys; r = json.loads(sys.argv[1]); print(r["first_1k"], r["last_1k"])' "$res")
        record "$t" churn_first_1k churn "$rep" "$first" s false "$CHURN_ROUNDS rounds, seed $seed: the first 1,000"
        record "$t" churn_last_1k churn "$rep" "$last" s false "$CHURN_ROUNDS rounds, seed $seed: the last 1,000"
      else
        perf_stop; record_error "$t" churn_last_1k churn "$(tail -1 "$work/logs/churn-$t.err")"
      fi
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

