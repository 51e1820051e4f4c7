#!/usr/bin/env bash
# pass/fail always succeed, so `A && pass ... || fail ...` is an if-else here.
# shellcheck disable=SC2015
# Observability test for dynamicfs: status, metrics, control socket, live
# settings and log levels, driven through the real binary.
#
# Why it exists: an operator debugging a slow or broken volume relies on
# `dynamicfs status`, the Prometheus metrics and the live settings. If the
# numbers are wrong, the scrape format is invalid, a setting silently does
# nothing, or `status` hangs on a stuck daemon, the tools fail exactly when
# they are needed. So this test runs a known workload and checks that every
# view (summary, --json, --metrics, --prometheus, HTTP /metrics) reports it;
# that promtool accepts the exposition; that only the owner may use the
# control socket; that `config set` and `log-level` change what the daemon
# does; and that status of a stopped or dead daemon fails fast (< 2 s) with
# one clear line instead of hanging.
#
# Nothing here sleeps and then asserts: whatever is asynchronous (the log is
# flushed once a second, I/O queues drain, --watch refreshes) is polled with
# a deadline and reported as a failure when the deadline passes.
#
# Usage: observability.sh /path/to/dynamicfs
# Exit:  0 pass, 1 failure, 77 skipped (not root / no /dev/fuse).
# Needs: python3, curl, promtool (Debian package `prometheus`), setpriv.
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
dfs_require_bin "$@"
dfs_require_root_fuse
dfs_require_tools python3 curl promtool setpriv script
BIN=$(realpath "$BIN")

TMP=$(mktemp -d /tmp/dynamicfs-test-XXXXXX)
VOL=$TMP/vol
MNT=$TMP/mnt
LOG=$VOL/log/dynamicfs.log
MiB=$((1024 * 1024))
BIG_MIB=32        # size of the fsync'ed file
NFILES=200        # empty files created
NDIRS=5           # directories created
QUEUE_CAPACITY=256  # IoScheduler's per-disk queue capacity
STOPPED_PID=""    # daemon pid while it is SIGSTOPped (cleanup resumes it)
WATCH_PID=""      # `status --watch` running in the background

# shellcheck source=observability_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/observability_lib.sh"

cd "$TMP"
mkdir "$MNT"

# ------------------------------------------------------------------ setup
run "$BIN" mkfs --volume "$VOL" --disk "$TMP/d0.img" --disk "$TMP/d1.img" \
  --size 256M
[[ $RC -eq 0 ]] || die "mkfs failed: $(cat "$TMP/err")"
run "$BIN" mount --volume "$VOL" "$MNT" -o metrics_listen=127.0.0.1:0
[[ $RC -eq 0 ]] || die "mount failed: $(cat "$TMP/err")"
mountpoint -q "$MNT" || die "mount exited 0 but $MNT is not mounted"
DAEMON_PID=$(cat "$VOL/daemon.pid")
kill -0 "$DAEMON_PID" || die "no daemon with the pid $DAEMON_PID in daemon.pid"

sock_mode=$(stat -c %a "$VOL/control.sock")
[[ "$sock_mode" == 600 ]] && pass "control socket has mode 0600" ||
  fail "control socket $VOL/control.sock has mode $sock_mode, expected 600"

# --------------------------------------------------------------- workload
# The big file is written while `status --json` is polled, so the queue
# bounds are checked under load, not only at rest.
head -c $((BIG_MIB * MiB)) /dev/urandom >"$TMP/big.src"
BIG_SUM=$(sha256sum <"$TMP/big.src" | awk '{print $1}')
dd if="$TMP/big.src" of="$MNT/big" bs=1M conv=fsync status=none &
dd_pid=$!
nload=0
while kill -0 "$dd_pid" 2>/dev/null && ((nload < 100)); do
  if snapshot "$TMP/load-$nload.json"; then
    nload=$((nload + 1))
  else
    fail "status --json during the write: $(cat "$TMP/snap.err")"
    break
  fi
done
dd_rc=0
wait "$dd_pid" || dd_rc=$?
[[ $dd_rc -eq 0 ]] || die "writing $BIG_MIB MiB with dd conv=fsync failed (exit $dd_rc)"
for ((i = 0; i < nload; i++)); do
  jcheck "queue lengths within 0..$QUEUE_CAPACITY during the write (snapshot $i)" \
    "all(0 <= v <= $QUEUE_CAPACITY for v in values('io_queue_length')) and
     all(0 <= d['queue_depth'] <= $QUEUE_CAPACITY for d in disks)" \
    "max(values('io_queue_length'))" "$TMP/load-$i.json"
done
pass "$nload status snapshots taken while writing"

for ((i = 1; i <= NFILES; i++)); do
  : >"$MNT/f$i"
done
for ((i = 1; i <= NDIRS; i++)); do
  mkdir "$MNT/d$i"
done

# ------------------------------------------------------ status --json
# Every queue must drain once the workload is done.
queues_idle() {
  snapshot && jtrue "all(v == 0 for v in values('io_queue_length')) and
                     all(d['queue_depth'] == 0 for d in disks)"
}
if poll_until 10 queues_idle; then
  pass "every I/O queue drained after the workload"
else
  fail "I/O queues did not drain within 10 s: $(cat "$TMP/snap.err")"
fi
take_snapshot

jcheck "fuse_ops_total{op=create} >= $NFILES" "ops('create') >= $NFILES" "ops('create')"
jcheck "fuse_ops_total{op=mkdir} >= $NDIRS" "ops('mkdir') >= $NDIRS" "ops('mkdir')"
jcheck "fuse_ops_total{op=write} > 0" "ops('write') > 0" "ops('write')"
jcheck "fuse_ops_total{op=fsync} >= 1" "ops('fsync') >= 1" "ops('fsync')"
jcheck "fsync_requests_total >= 1" "value('fsync_requests_total') >= 1" \
  "value('fsync_requests_total')"
# fsync_requests_total counts user fsyncs only: while the volume is idle the
# background sync adds rounds but no fsync requests.
FSYNCS_BEFORE=$(jval "value('fsync_requests_total')")
ROUNDS_BEFORE=$(jval "value('sync_rounds_total')")
background_rounds_passed() {
  snapshot && jtrue "value('sync_rounds_total') >= $ROUNDS_BEFORE + 2"
}
if poll_until 15 background_rounds_passed; then
  take_snapshot
  jcheck "idle volume: background syncs are not counted as fsync requests" \
    "value('fsync_requests_total') == $FSYNCS_BEFORE" "value('fsync_requests_total')"
else
  fail "sync_rounds_total did not grow by 2 within 15 s (background sync)"
fi
jcheck "written bytes over all disks >= $BIG_MIB MiB" \
  "sum(d['written_bytes_total'] for d in disks) >= $BIG_MIB * MiB" \
  "[d['written_bytes_total'] for d in disks]"
jcheck "written_bytes_total agrees with io_bytes_total{dir=write}" \
  "all(d['written_bytes_total'] == value('io_bytes_total', disk=str(d['index']), dir='write')
       for d in disks)"
jcheck "the summary lists both disks with their paths" \
  "sorted(d['path'] for d in disks) == ['$TMP/d0.img', '$TMP/d1.img']"
jcheck "every disk ran I/O (io_ops_total > 0)" \
  "len(disks) == 2 and all(total('io_ops_total', disk=str(d['index'])) > 0 for d in disks)" \
  "[total('io_ops_total', disk=str(d['index'])) for d in disks]"
jcheck "queue lengths within 0..$QUEUE_CAPACITY" \
  "len(values('io_queue_length')) > 0 and
   all(0 <= v <= $QUEUE_CAPACITY for v in values('io_queue_length'))"
jcheck "io_workers > 0 for every disk" \
  "all(d['io_workers'] > 0 for d in disks) and all(v > 0 for v in values('io_workers'))"
jcheck "write latency histogram: count > 0, p99 >= p50 > 0" \
  "hist('fuse_op_latency_seconds', op='write')['count'] > 0 and
   hist('fuse_op_latency_seconds', op='write')['p99'] >=
   hist('fuse_op_latency_seconds', op='write')['p50'] > 0" \
  "{k: hist('fuse_op_latency_seconds', op='write')[k] for k in ('count', 'p50', 'p99')}"
jcheck "every op's latency count equals its fuse_ops_total (at rest)" \
  "all(hist('fuse_op_latency_seconds', op=s['labels']['op'])['count'] == s['value']
       for s in samples('fuse_ops_total'))"
jcheck "histogram buckets add up to the count" \
  "all(sum(s['counts']) == s['count'] and len(s['counts']) == len(s['bounds']) + 1
       for s in samples('fuse_op_latency_seconds'))"
jcheck "summary names the volume, mountpoint and daemon pid" \
  "doc['volume'] == '$VOL' and doc['mountpoint'] == '$MNT' and doc['pid'] == $DAEMON_PID"
jcheck "health ok, no checksum errors" \
  "doc['health'] == 'ok' and value('checksum_errors_total') == 0"
jcheck "inodes >= files + dirs" "value('inodes') >= $NFILES + $NDIRS" "value('inodes')"
jcheck "metrics_endpoint is a bound loopback port" \
  "doc['metrics_endpoint'].startswith('127.0.0.1:') and
   int(doc['metrics_endpoint'].rsplit(':', 1)[1]) > 0" "doc['metrics_endpoint']"
ENDPOINT=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["metrics_endpoint"])' "$JSON")

# ------------------------------------------------------------ status
# A burst of small writes right before, so `write` is among the busiest
# operations of the last 10 s however long the steps above took.
dd if=/dev/zero of="$MNT/burst" bs=4k count=2000 status=none
if expect_success "status" "$BIN" status "$MNT"; then
  cp "$TMP/out" "$TMP/summary.txt"
  grep -qF "$VOL" "$TMP/summary.txt" && pass "status names the volume directory" ||
    fail "status does not mention the volume $VOL"
  for disk in "$TMP/d0.img" "$TMP/d1.img"; do
    grep -qF "$disk" "$TMP/summary.txt" && pass "status lists disk $disk" ||
      fail "status does not list disk $disk"
  done
  grep -q "pid $DAEMON_PID" "$TMP/summary.txt" && pass "status shows the daemon pid" ||
    fail "status does not show pid $DAEMON_PID"
  # The busiest-ops table sits between the `fuse ops` and `metadata` lines.
  if sed -n '/^fuse ops/,/^metadata/p' "$TMP/summary.txt" | grep -Eq '^ +write +[0-9]'; then
    pass "status lists write among the busiest operations"
  else
    fail "status does not list write among the busiest operations:"
    sed 's/^/    /' "$TMP/summary.txt" >&2
  fi
fi

# -------------------------------------------------- status --prometheus
if expect_success "status --prometheus" "$BIN" status --prometheus "$MNT"; then
  cp "$TMP/out" "$TMP/prom.txt"
  if promtool check metrics <"$TMP/prom.txt" >"$TMP/promtool.out" 2>&1; then
    pass "promtool check metrics accepts status --prometheus"
  else
    fail "promtool check metrics rejects status --prometheus: $(head -20 "$TMP/promtool.out")"
  fi
  creates=$(awk '$1 == "dynamicfs_fuse_ops_total{op=\"create\"}" {print $2}' "$TMP/prom.txt")
  if [[ -n "$creates" ]] && awk -v v="$creates" -v n="$NFILES" 'BEGIN {exit !(v >= n)}'; then
    pass "prometheus: dynamicfs_fuse_ops_total{op=\"create\"} = $creates >= $NFILES"
  else
    fail "prometheus: dynamicfs_fuse_ops_total{op=\"create\"} is '$creates', expected >= $NFILES"
  fi
  grep -q '^dynamicfs_fuse_op_latency_seconds_bucket{' "$TMP/prom.txt" &&
    pass "prometheus has dynamicfs_fuse_op_latency_seconds_bucket" ||
    fail "prometheus has no dynamicfs_fuse_op_latency_seconds_bucket"
  grep -q '^# TYPE dynamicfs_fuse_op_latency_seconds histogram$' "$TMP/prom.txt" &&
    pass "prometheus declares the latency histogram" ||
    fail "prometheus has no '# TYPE dynamicfs_fuse_op_latency_seconds histogram'"
  bad=$(grep -Ev '^(#|$|dynamicfs_)' "$TMP/prom.txt" | head -3 || true)
  [[ -z "$bad" ]] && pass "every prometheus sample is prefixed dynamicfs_" ||
    fail "prometheus samples without the dynamicfs_ prefix: $bad"
fi

# ------------------------------------------------------- HTTP /metrics
code=$(curl -sS -m 10 -o "$TMP/http.txt" -w '%{http_code} %{content_type}' \
  "http://$ENDPOINT/metrics" 2>"$TMP/err") || code="curl failed: $(cat "$TMP/err")"
if [[ "$code" == "200 text/plain"* ]]; then
  pass "GET /metrics: $code"
  if promtool check metrics <"$TMP/http.txt" >"$TMP/promtool.out" 2>&1; then
    pass "promtool check metrics accepts HTTP /metrics"
  else
    fail "promtool check metrics rejects HTTP /metrics: $(head -20 "$TMP/promtool.out")"
  fi
  grep -q '^dynamicfs_uptime_seconds ' "$TMP/http.txt" &&
    pass "HTTP /metrics has dynamicfs_uptime_seconds" ||
    fail "HTTP /metrics has no dynamicfs_uptime_seconds sample"
else
  fail "GET http://$ENDPOINT/metrics: expected 200 text/plain, got: $code"
fi
code=$(curl -sS -m 10 -o /dev/null -w '%{http_code}' "http://$ENDPOINT/nope" 2>"$TMP/err") ||
  code="curl failed: $(cat "$TMP/err")"
[[ "$code" == 404 ]] && pass "GET /nope: 404" || fail "GET /nope: expected 404, got $code"

# ------------------------------------------------------ status --metrics
if expect_success "status --metrics" "$BIN" status --metrics "$MNT"; then
  for group in volume fuse locks metadata io disks health replication; do
    grep -qx "$group" "$TMP/out" && pass "status --metrics has group '$group'" ||
      fail "status --metrics has no '$group' header line"
  done
  for name in lock_contention_ratio avg_group_commit_ops io_queue_length fuse_ops_total; do
    grep -Eq "^ +$name([ {]|$)" "$TMP/out" && pass "status --metrics lists $name" ||
      fail "status --metrics does not list $name"
  done
fi

# ------------------------------------------------- live settings (config)
if expect_success "config list" "$BIN" config list "$MNT"; then
  grep -Eq '^io_workers +0( |$)' "$TMP/out" && pass "config list shows io_workers 0" ||
    fail "config list does not show 'io_workers 0': $(cat "$TMP/out")"
fi
expect_success "config set io_workers 5" "$BIN" config set io_workers 5 "$MNT"
expect_output "config get io_workers after set" 5 "$BIN" config get io_workers "$MNT"
take_snapshot
jcheck "io_workers is 5 for every disk (summary and metric)" \
  "len(disks) == 2 and all(d['io_workers'] == 5 for d in disks) and
   values('io_workers') == [5, 5]" "values('io_workers')"
# The daemon really runs that many worker threads (named dfs-io), at once.
io_threads() { grep -lx dfs-io /proc/"$DAEMON_PID"/task/*/comm 2>/dev/null | wc -l; }
io_threads_are() { [[ "$(io_threads)" == "$1" ]]; }
expect_io_threads() {  # expect_io_threads N what: waits (bounded) for N threads
  poll_until 10 io_threads_are "$1" && pass "$2: $1 dfs-io threads" ||
    fail "$2: $(io_threads) dfs-io threads, expected $1"
}
expect_io_threads 10 "io_workers 5 on 2 disks"
take_snapshot
jcheck "io_worker_threads is 5 for every disk" "values('io_worker_threads') == [5, 5]" \
  "values('io_worker_threads')"
expect_success "config set io_workers 2" "$BIN" config set io_workers 2 "$MNT"
# Surplus workers are woken and leave when they are idle.
expect_io_threads 4 "io_workers lowered to 2"
expect_success "config set io_workers 5 again" "$BIN" config set io_workers 5 "$MNT"
expect_io_threads 10 "io_workers raised to 5 again"
# The disks still work with the new workers.
dd if=/dev/zero of="$MNT/after-workers" bs=64k count=64 conv=fsync status=none &&
  pass "writes work with 5 I/O workers" || fail "write after config set io_workers 5 failed"

expect_refusal "config set io_workers 100000" "$BIN" config set io_workers 100000 "$MNT"
expect_output "io_workers unchanged by the invalid value" 5 "$BIN" config get io_workers "$MNT"
expect_refusal "config set of an unknown setting" "$BIN" config set no_such_setting 1 "$MNT"
expect_refusal "config set metrics_listen without --persist (mount time only)" \
  "$BIN" config set metrics_listen 1234 "$MNT"
expect_output "metrics_listen unchanged" 127.0.0.1:0 "$BIN" config get metrics_listen "$MNT"

expect_success "config set commit_max_delay_us 20 --persist" \
  "$BIN" config set commit_max_delay_us 20 "$MNT" --persist
expect_output "config get commit_max_delay_us" 20 "$BIN" config get commit_max_delay_us "$MNT"
if awk '/^\[/ {table = $0}
  table == "[settings]" && $0 == "commit_max_delay_us = 20" {found = 1}
  END {exit !found}' "$VOL/volume.toml"; then
  pass "volume.toml has commit_max_delay_us = 20 in [settings]"
else
  fail "volume.toml has no commit_max_delay_us = 20 in [settings]: $(cat "$VOL/volume.toml")"
fi

# ----------------------------------------------- control socket ownership
# The directories are opened up so that the refusal comes from the socket.
chmod 755 "$TMP" "$VOL"
NOBODY_BIN=$TMP/dynamicfs-nobody  # a copy, whatever the build dir allows
cp "$BIN" "$NOBODY_BIN"
chmod 755 "$NOBODY_BIN"
AS_NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups)
# Positive control: uid 65534 can run the binary at all.
expect_success "uid 65534 can run dynamicfs --version" "${AS_NOBODY[@]}" "$NOBODY_BIN" --version
expect_quick_failure "status as uid 65534" 'permission denied.*control socket' \
  "${AS_NOBODY[@]}" "$NOBODY_BIN" status "$MNT"
expect_quick_failure "config set as uid 65534" 'permission denied' \
  "${AS_NOBODY[@]}" "$NOBODY_BIN" config set io_workers 3 "$MNT"
expect_quick_failure "log-level as uid 65534" 'permission denied' \
  "${AS_NOBODY[@]}" "$NOBODY_BIN" log-level debug "$MNT"
# Even if someone loosens the socket mode, the daemon checks the peer's uid.
chmod 666 "$VOL/control.sock"
expect_quick_failure "config set as uid 65534 on a mode 0666 socket" \
  'permission denied: only root and uid 0' \
  "${AS_NOBODY[@]}" "$NOBODY_BIN" config set io_workers 3 "$MNT"
expect_quick_failure "status --json as uid 65534 on a mode 0666 socket" \
  'permission denied: only root and uid 0' \
  "${AS_NOBODY[@]}" "$NOBODY_BIN" status --json "$MNT"
expect_quick_failure "config get as uid 65534 on a mode 0666 socket" \
  'permission denied: only root and uid 0' \
  "${AS_NOBODY[@]}" "$NOBODY_BIN" config get io_workers "$MNT"
[[ ! -s "$TMP/out" ]] && pass "nothing printed on stdout for the refused uid" ||
  fail "status --json as uid 65534 printed: $(head -c 300 "$TMP/out")"
chmod 600 "$VOL/control.sock"
expect_output "io_workers unchanged by uid 65534" 5 "$BIN" config get io_workers "$MNT"

# ----------------------------------------------------------- log levels
expect_output "default log level" info "$BIN" config get log_level "$MNT"
mkdir "$MNT/dbg-before"
expect_success "log-level debug" "$BIN" log-level debug "$MNT"
mkdir "$MNT/dbg-after"
# The log is flushed once a second; the only mkdir at debug must show up,
# and must be the only one (the one at info level logged nothing).
if poll_until 10 mkdirs_logged_at_least 1; then
  n=$(log_count "fuse mkdir")
  [[ $n -eq 1 ]] && pass "at debug level the mkdir is logged, at info it was not" ||
    fail "expected exactly 1 'fuse mkdir' line (the mkdir at debug), found $n"
else
  fail "no 'fuse mkdir' line in $LOG within 10 s of switching to debug"
fi
expect_success "log-level warn" "$BIN" log-level warn "$MNT"
run "$BIN" config get log_level "$MNT"
[[ $RC -eq 0 && "$(cat "$TMP/out")" =~ ^warn(ing)?$ ]] && pass "log level is now warn" ||
  fail "config get log_level after log-level warn: exit $RC, '$(cat "$TMP/out")'"
before=$(log_count "fuse mkdir")
for i in 1 2 3 4 5; do
  mkdir "$MNT/warn-$i"
done
# A single mkdir at debug level as a marker: when its line is in the log,
# any line of the five mkdirs at warn level would be there too.
expect_success "log-level debug again" "$BIN" log-level debug "$MNT"
mkdir "$MNT/marker"
if poll_until 10 mkdirs_logged_at_least $((before + 1)); then
  n=$(log_count "fuse mkdir")
  [[ $n -eq $((before + 1)) ]] &&
    pass "the 5 mkdirs at warn level were not logged, the marker was" ||
    fail "expected $((before + 1)) 'fuse mkdir' lines (only the marker added), found $n"
else
  fail "the marker mkdir at debug level was not logged within 10 s"
fi
expect_refusal "log-level bogus" "$BIN" log-level bogus "$MNT"
expect_output "log level unchanged by the bogus level" debug "$BIN" config get log_level "$MNT"
expect_success "log-level info" "$BIN" log-level info "$MNT"

# ---------------------------------------------------------- status --watch
# Not a terminal: each refresh is printed in full, followed by a blank line.
"$BIN" status --watch 1 "$MNT" >"$TMP/watch.out" 2>"$TMP/watch.err" &
WATCH_PID=$!
refreshes() { grep -c '^volume ' "$TMP/watch.out" || true; }
watch_refreshed_twice() { (($(refreshes) >= 2)); }
watch_exited() { ! kill -0 "$WATCH_PID" 2>/dev/null; }
if poll_until 15 watch_refreshed_twice; then
  pass "status --watch 1 refreshed $(refreshes) times"
else
  fail "status --watch 1 printed $(refreshes) refreshes within 15 s: $(head -c 300 "$TMP/watch.err")"
fi
kill -INT "$WATCH_PID" 2>/dev/null || true
if poll_until 10 watch_exited; then
  watch_rc=0
  wait "$WATCH_PID" || watch_rc=$?
  [[ $watch_rc -eq 0 ]] && pass "status --watch exits 0 on SIGINT" ||
    fail "status --watch exited $watch_rc on SIGINT: $(head -c 300 "$TMP/watch.err")"
else
  fail "status --watch still running 10 s after SIGINT"
  kill -KILL "$WATCH_PID" 2>/dev/null || true
  wait "$WATCH_PID" 2>/dev/null || true
fi
WATCH_PID=""
# Every refresh but the first starts after a blank line; no escape codes.
if awk '/^volume / && NR > 1 && prev != "" {bad = 1} {prev = $0} END {exit bad}' \
  "$TMP/watch.out"; then
  pass "status --watch separates refreshes with a blank line"
else
  fail "status --watch output is not blank-line separated"
fi
if grep -q $'\e' "$TMP/watch.out"; then
  fail "status --watch writes terminal escape codes to a non-terminal"
else
  pass "status --watch writes no escape codes to a non-terminal"
fi

# On a terminal (script(1) gives it one) each refresh redraws in place: it
# starts with cursor-home and clear-screen, and no blank-line separators.
script -qfec "$(printf '%q ' "$BIN" status --watch 1 "$MNT")" /dev/null >"$TMP/watch-tty.out" 2>&1 &
TTY_WATCH_PID=$!
clears() { grep -ao $'\e\[H\e\[2J' "$TMP/watch-tty.out" | grep -c . || true; }
tty_refreshed_twice() { (($(clears) >= 2)); }
if poll_until 15 tty_refreshed_twice; then
  pass "status --watch on a terminal redraws in place ($(clears) clear-screen refreshes)"
else
  fail "status --watch on a terminal: $(clears) clear-screen refreshes within 15 s"
fi
kill -TERM "$TTY_WATCH_PID" 2>/dev/null || true
wait "$TTY_WATCH_PID" 2>/dev/null || true
grep -aq 'Ctrl-C to stop' "$TMP/watch-tty.out" && pass "status --watch on a terminal shows how to stop" ||
  fail "status --watch on a terminal does not say how to stop"

# ---------------------------------------- scrub, and corruption it finds
expect_success "scrub of the intact volume" "$BIN" scrub "$MNT"
take_snapshot
jcheck "clean scrub: counted, no checksum errors, health ok" \
  "doc['scrub']['scrubs_total'] == 1 and doc['scrub']['last_report']['checksum_errors'] == 0
   and value('checksum_errors_total') == 0 and doc['health'] == 'ok'" "doc['scrub']"
# One block with a marker, then one byte of it flipped on its disks behind
# the daemon's back (the volume keeps 2 copies): with one copy damaged the
# scrub repairs it from the other; with both damaged it must report it, and
# every view must say so.
MARKER="scrub-victim-$$-$RANDOM-"
python3 -c "import sys; sys.stdout.write(('$MARKER' * 4096)[:4096])" >"$MNT/victim"
sync "$MNT/victim"
VICTIM_DISKS=() VICTIM_OFFS=()
for img in "$TMP/d0.img" "$TMP/d1.img"; do
  off=$(grep -obaF -m1 "$MARKER" "$img" | head -1 | cut -d: -f1 || true)
  if [[ -n "$off" ]]; then
    VICTIM_DISKS+=("$img") VICTIM_OFFS+=("$off")
  fi
done
byte_at() { dd if="$1" bs=1 skip="$2" count=1 status=none; }
if [[ ${#VICTIM_DISKS[@]} -ne 2 ]]; then
  fail "the victim block has ${#VICTIM_DISKS[@]} copies on the disk images (expected 2)"
else
  want=$(byte_at "${VICTIM_DISKS[0]}" $((VICTIM_OFFS[0] + 100)))
  printf '#' | dd of="${VICTIM_DISKS[0]}" bs=1 seek=$((VICTIM_OFFS[0] + 100)) conv=notrunc status=none
  expect_success "scrub of a volume with one damaged copy (repaired from the other)" \
    "$BIN" scrub "$MNT"
  take_snapshot
  jcheck "the scrub found the bad block and repaired it; health stays ok" \
    "doc['scrub']['last_report']['checksum_errors'] == 1
     and doc['scrub']['last_report']['repaired'] == 1
     and value('checksum_errors_total') == 1 and value('repairs_total') == 1
     and doc['health'] == 'ok'" \
    "(doc['health'], doc['scrub']['last_report'], value('repairs_total'))"
  got=$(byte_at "${VICTIM_DISKS[0]}" $((VICTIM_OFFS[0] + 100)))
  [[ "$got" == "$want" ]] && pass "the damaged copy holds the right byte again" ||
    fail "the damaged copy still holds '$got' (expected '$want')"
  for i in 0 1; do
    printf '#' | dd of="${VICTIM_DISKS[$i]}" bs=1 seek=$((VICTIM_OFFS[i] + 100)) conv=notrunc \
      status=none
  done
  expect_refusal "scrub of a volume with every copy of a block damaged" "$BIN" scrub "$MNT"
  take_snapshot
  jcheck "unrepairable corruption is in checksum_errors_total and health" \
    "doc['scrub']['last_report']['checksum_errors'] == 2
     and doc['scrub']['last_report']['unrepaired'] == 1
     and value('checksum_errors_total') == 3 and doc['health'] == 'errors'" \
    "(doc['health'], value('checksum_errors_total'))"
  "$BIN" status --prometheus "$MNT" >"$TMP/prom-victim.txt" || true
  if grep -Eq '^dynamicfs_checksum_errors_total 3$' "$TMP/prom-victim.txt" &&
    grep -Eq '^dynamicfs_repairs_total 1$' "$TMP/prom-victim.txt"; then
    pass "prometheus shows the checksum errors and the repair"
  else
    fail "status --prometheus does not show dynamicfs_checksum_errors_total 3 and repairs_total 1"
  fi
  dfs_drop_cache "$MNT/victim"
  if cat "$MNT/victim" >/dev/null 2>"$TMP/victim.err"; then
    fail "reading a block with no good copy succeeded"
  else
    grep -q "Input/output error" "$TMP/victim.err" && pass "a block with no good copy reads as EIO" ||
      fail "reading a block with no good copy: $(cat "$TMP/victim.err")"
  fi
  rm -f "$MNT/victim"
fi

# ------------------------------------------------------- stopped daemon
kill -STOP "$DAEMON_PID"
STOPPED_PID=$DAEMON_PID
for args in "" --json --prometheus; do
  # shellcheck disable=SC2086  # $args is one word or none
  expect_quick_failure "status${args:+ $args} of a SIGSTOPped daemon" \
    'not answer|hung|stopped|not responding' "$BIN" status $args "$MNT"
done
expect_quick_failure "config get of a SIGSTOPped daemon" \
  'not answer|hung|stopped|not responding' "$BIN" config get io_workers "$MNT"
kill -CONT "$DAEMON_PID"
STOPPED_PID=""
# Positive control: the daemon answers again once resumed.
if poll_until 10 snapshot; then
  pass "status --json works again after SIGCONT"
else
  fail "status --json fails after SIGCONT: $(cat "$TMP/snap.err")"
fi

# ---------------------------------------------- remount: persisted settings
expect_success "umount" "$BIN" umount "$MNT"
mountpoint -q "$MNT" && fail "$MNT is still mounted after umount"
expect_success "remount" "$BIN" mount --volume "$VOL" "$MNT"
DAEMON_PID=$(cat "$VOL/daemon.pid")
expect_output "persisted commit_max_delay_us survives a remount" 20 \
  "$BIN" config get commit_max_delay_us "$MNT"
expect_output "io_workers (not persisted) is back to 0 after a remount" 0 \
  "$BIN" config get io_workers "$MNT"
# A fresh mount has an empty page cache, so reading the file reaches the disks.
sum=$(sha256sum <"$MNT/big" | awk '{print $1}')
[[ "$sum" == "$BIG_SUM" ]] && pass "the $BIG_MIB MiB file reads back intact" ||
  fail "the $BIG_MIB MiB file reads back with a different checksum"
take_snapshot
jcheck "read bytes over all disks >= $BIG_MIB MiB after reading the file" \
  "sum(d['read_bytes_total'] for d in disks) >= $BIG_MIB * MiB" \
  "[d['read_bytes_total'] for d in disks]"
jcheck "fuse_ops_total{op=read} > 0" "ops('read') > 0" "ops('read')"
jcheck "counters restart at the remount (no creates yet)" "ops('create') == 0" "ops('create')"

# ----------------------------------------------------------- dead daemon
kill -KILL "$DAEMON_PID"
daemon_gone() {
  [[ ! -e /proc/$DAEMON_PID ]] ||
    [[ "$(awk '{print $3}' "/proc/$DAEMON_PID/stat" 2>/dev/null)" == Z ]]
}
poll_until 10 daemon_gone || fail "daemon $DAEMON_PID still alive 10 s after SIGKILL"
for args in "" --json; do
  # shellcheck disable=SC2086
  expect_quick_failure "status${args:+ $args} of a killed daemon" 'not running' \
    "$BIN" status $args "$MNT"
done
expect_success "umount of the stale mount" "$BIN" umount "$MNT"
mountpoint -q "$MNT" && fail "$MNT is still mounted after umount of a dead daemon" ||
  pass "stale mount is gone"
expect_quick_failure "status of an unmounted directory" 'not a mounted|not .*dynamicfs' \
  "$BIN" status "$MNT"

# ------------------------------------------------- journald-style stderr
# Under systemd the daemon's stderr is the journal's stream: it stays open
# after `mount` returns and every line starts with a <N> syslog priority.
: >"$TMP/journal.err"
JOURNAL_STREAM=$(stat -c %d:%i "$TMP/journal.err") "$BIN" mount --volume "$VOL" "$MNT" \
  2>>"$TMP/journal.err" ||
  fail "mount under a journal stream failed: $(head -c 300 "$TMP/journal.err")"
if mountpoint -q "$MNT"; then
  expect_success "log-level debug (journal)" "$BIN" log-level debug "$MNT"
  mkdir "$MNT/journal-marker"
  journal_has_mkdir() { grep -Eq '^<7>fuse mkdir' "$TMP/journal.err"; }
  poll_until 10 journal_has_mkdir && pass "the detached daemon logs to the journal stream at <7>" ||
    fail "no '<7>fuse mkdir' line on the journal stream: $(head -c 300 "$TMP/journal.err")"
  expect_success "umount (journal)" "$BIN" umount "$MNT"
  if grep -Evq '^<[0-7]>' "$TMP/journal.err"; then
    fail "journal stream lines without a <N> prefix: $(grep -Ev '^<[0-7]>' "$TMP/journal.err" | head -3)"
  else
    pass "every journal stream line has a <N> priority prefix"
  fi
fi

# ------------------------ a long volume path with a comma still has control
# VOLUME/control.sock would not fit a socket address: the daemon serves it
# under /run/dynamicfs instead, and the comma must survive the fsname.
LONG_VOL="$TMP/volume,with-comma-$(printf 'x%.0s' {1..90})"
MNT2="$TMP/mnt2"
mkdir -p "$MNT2"
if "$BIN" mkfs --volume "$LONG_VOL" --disk "$TMP/long.img" --size 64M >/dev/null 2>"$TMP/err" &&
  "$BIN" mount --volume "$LONG_VOL" "$MNT2" 2>"$TMP/err"; then
  expect_success "status of a volume with a ${#LONG_VOL}-byte path and a comma" \
    "$BIN" status --json "$MNT2"
  grep -qF "$LONG_VOL" "$TMP/out" && pass "status names the long volume" ||
    fail "status does not name $LONG_VOL: $(head -c 300 "$TMP/out")"
  expect_success "umount of the long-path volume" "$BIN" umount "$MNT2"
else
  fail "mkfs/mount of a volume at a long path with a comma: $(cat "$TMP/err")"
  mountpoint -q "$MNT2" && umount -l "$MNT2"
fi

if [[ $FAILURES -ne 0 ]]; then
  echo "FAIL: $FAILURES check(s) failed" >&2
  exit 1
fi
echo "PASS"
