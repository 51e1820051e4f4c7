#!/usr/bin/env bash
# pass/fail always succeed, so `A && pass ... || fail ...` is an if-else here.
# shellcheck disable=SC2015
# Lab sync's mounted view, on loopback: `replicate follow --mount`.
#
#   kiosk:    the follower mounts its current slot read-only (writes fail
#             with EROFS); `status` and the mount's metrics show the
#             generation; a new publish remounts it on the new snapshot;
#             `replicate rollback` (follower running) remounts the previous
#             one, which stays current until a newer generation appears;
#             the follower's own /metrics follows along.
#   writable: local changes are allowed; the next snapshot replaces them,
#             and rollback brings them back (the previous slot kept them).
#
# Usage: lab_sync_mount.sh /path/to/dynamicfs
# Exit:  0 pass, 1 failure, 77 skipped (not root / no FUSE).
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LAB_EVENT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lab_event.py
dfs_require_bin "$@"
dfs_require_root_fuse
dfs_require_tools curl python3 timeout
BIN=$(realpath "$BIN")
dfs_make_tmp
PIDS=()
dfs_extra_cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill -INT "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do timeout 20 tail --pid="$p" -f /dev/null; done
}

LIVE=$MNT
"$BIN" mkfs --volume "$TMP/vol" --disk "$TMP/d0.img" --size 128M >/dev/null || die "mkfs failed"
"$BIN" mount --volume "$TMP/vol" "$LIVE" || die "mount failed"
for i in 1 2 3; do head -c $((1024 * 1024)) /dev/urandom >"$LIVE/f$i"; done
echo one >"$LIVE/version"
sync "$LIVE"
"$BIN" replicate secret "$TMP/s" >/dev/null || die "replicate secret failed"

jfield() { python3 "$LAB_EVENT" "$@"; }  # FILE EVENT KEY
"$BIN" replicate publish "$LIVE" --secret "$TMP/s" --feed-listen 127.0.0.1:0 --peer-host 127.0.0.1 \
  --no-lsd --json >"$TMP/pub.out" 2>"$TMP/pub.err" &
PIDS+=($!)
has_feed() { [[ -n "$(jfield "$TMP/pub.out" published generation)" ]]; }
poll_until 60 has_feed || die "the publisher did not publish: $(cat "$TMP/pub.err")"
FEED=http://$(jfield "$TMP/pub.out" feed endpoint)
publish_now() {
  "$BIN" replicate publish "$LIVE" --now >/dev/null || die "publish --now failed"
}

follow() { # NAME MOUNTPOINT MODE
  mkdir -p "$2"
  "$BIN" replicate follow "$FEED" --volume "$TMP/$1" --secret "$TMP/s" --mount "$2" --mode "$3" \
    --poll 0.5 --json --no-lsd --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 \
    >"$TMP/$1.out" 2>"$TMP/$1.err" &
  PIDS+=($!)
}
shows() { [[ "$(cat "$1/version" 2>/dev/null)" == "$2" ]]; }
gen_of() { # DIR: generation of the follower directory's current slot
  "$BIN" replicate status --volume "$1" --json |
    python3 -c "import json, sys; d = json.load(sys.stdin); print(d['slots'][d['current']]['generation'] if d['current'] else 0)"
}

# ------------------------------------------------------------------ kiosk
echo "--- kiosk"
K=$TMP/kiosk
follow fk "$K" kiosk
poll_until 60 shows "$K" one || die "the kiosk mount never showed generation 1: $(cat "$TMP/fk.err")"
diff -r "$LIVE" "$K" >/dev/null && pass "kiosk mount equals the published volume" ||
  fail "kiosk mount differs from the published volume"
if echo x 2>"$TMP/err" >"$K/new"; then
  fail "a write to the kiosk mount succeeded"
else
  grep -q "Read-only file system" "$TMP/err" && pass "kiosk mount is read-only (EROFS)" ||
    fail "kiosk write failed oddly: $(cat "$TMP/err")"
fi
"$BIN" status "$K" >"$TMP/status.out" 2>&1
grep -q "^lab sync    generation 1 (publish-1)" "$TMP/status.out" &&
  pass "status: $(grep '^lab sync' "$TMP/status.out")" ||
  fail "status has no lab sync line: $(cat "$TMP/status.out")"
g=$("$BIN" status --json "$K" | python3 -c "import json, sys; print(json.load(sys.stdin)['lab_sync']['generation'])")
[[ "$g" == 1 ]] && pass "status --json: lab_sync.generation 1" || fail "status --json: lab_sync.generation '$g'"
"$BIN" status --metrics "$K" | grep -q "lab_sync_generation.* 1$\|lab_sync_generation *1" &&
  pass "the mount's metrics carry lab_sync_generation" ||
  fail "the mount's metrics lack lab_sync_generation: $("$BIN" status --metrics "$K" | grep -i lab)"

echo two >"$LIVE/version"
sync "$LIVE"
publish_now
poll_until 60 shows "$K" two && pass "a new publish remounted the kiosk on generation 2" ||
  fail "the kiosk mount did not switch to generation 2: $(tail -3 "$TMP/fk.err")"

"$BIN" replicate rollback --volume "$TMP/fk" >"$TMP/rb.out" 2>&1 &&
  pass "rollback: $(tr '\n' ' ' <"$TMP/rb.out")" || fail "rollback failed: $(cat "$TMP/rb.out")"
shows "$K" one && pass "after rollback the kiosk shows generation 1 again" ||
  fail "after rollback the kiosk shows '$(cat "$K/version")'"
# The follower reads the feed (generation 2) and stays: a rollback holds.
t=$(date +%s)
fresh_status() {
  python3 -c "import json, sys; d = json.load(open(sys.argv[1])); sys.exit(0 if d['updated_unix'] > $t + 2 and d['latest_published'] == 2 else 1)" "$TMP/fk/status.json"
}
poll_until 30 fresh_status || fail "the follower's status stopped updating"
[[ "$(gen_of "$TMP/fk")" == 1 ]] && shows "$K" one &&
  pass "generation 2 is not fetched again after the rollback" ||
  fail "the follower went back to generation $(gen_of "$TMP/fk") after the rollback"
echo three >"$LIVE/version"
sync "$LIVE"
publish_now
poll_until 60 shows "$K" three && pass "generation 3 (newer than the rollback) is applied" ||
  fail "the kiosk did not move on to generation 3"
ep=$(jfield "$TMP/fk.out" started metrics_endpoint)
curl -s "http://$ep/metrics" | grep -q "^dynamicfs_lab_sync_generation 3$" &&
  pass "the follower's /metrics: dynamicfs_lab_sync_generation 3" ||
  fail "the follower's /metrics: $(curl -s "http://$ep/metrics" | grep lab_sync_generation)"

# --------------------------------------------------------------- writable
echo "--- writable"
W=$TMP/writable
follow fw "$W" writable
poll_until 60 shows "$W" three || die "the writable mount never showed generation 3"
echo "local change" >"$W/local" && pass "the writable mount takes local changes" ||
  fail "a write to the writable mount failed"
echo four >"$LIVE/version"
sync "$LIVE"
publish_now
poll_until 60 shows "$W" four && pass "generation 4 replaced the writable mount's contents" ||
  fail "the writable mount did not switch to generation 4"
[[ ! -e "$W/local" ]] && pass "the local change is gone from the new snapshot" ||
  fail "the local change survived the switch"
"$BIN" replicate rollback --volume "$TMP/fw" >/dev/null 2>&1 || fail "rollback (writable) failed"
[[ "$(cat "$W/local" 2>/dev/null)" == "local change" ]] && shows "$W" three &&
  pass "rollback brought back generation 3 with its local change" ||
  fail "rollback did not bring back the local change"

for p in "${PIDS[@]}"; do kill -INT "$p" 2>/dev/null || true; done
for p in "${PIDS[@]}"; do
  timeout 30 tail --pid="$p" -f /dev/null || fail "process $p did not stop on SIGINT"
done
PIDS=()
for m in "$K" "$W"; do "$BIN" umount "$m" || fail "umount $m failed"; done
"$BIN" umount "$LIVE" || fail "umount of the source failed"
if [[ $FAILURES -ne 0 ]]; then
  echo "FAIL: $FAILURES check(s) failed" >&2
  exit 1
fi
echo "PASS"
