# Sourced by bench/run.sh: how each target is mounted, torn down and
# profiled. Uses run.sh's globals (work, DFS, pt_bin, memfs_bin, ...).
# shellcheck shell=bash

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
    memfs)
      [ -z "$memfs_build_error" ] || { TFAIL[$t]="$memfs_build_error"; return 1; }
      mkdir -p "$m"
      "$memfs_bin" -f "$m" >>"$lg" 2>&1 &
      TPID[$t]=$!; started_pids+=("$!")
      wait_mounted "$m" "${TPID[$t]}" || { TFAIL[$t]="memfs did not mount: $(tail -1 "$lg")"; return 1; }
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
    memfs) ;;
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

