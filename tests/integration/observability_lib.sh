# Helpers of observability.sh (sourced by it after its variables are set):
# cleanup on exit, running the binary with a deadline, expecting success,
# refusal, quick failure or output, JSON checks and log counts.
# shellcheck shell=bash
# shellcheck disable=SC2015,SC2154
cleanup() {
  local rc=$?
  set +e
  if [[ -n "$STOPPED_PID" ]]; then
    kill -CONT "$STOPPED_PID" 2>/dev/null
  fi
  if [[ -n "$WATCH_PID" ]]; then
    kill -KILL "$WATCH_PID" 2>/dev/null
    wait "$WATCH_PID" 2>/dev/null
  fi
  dfs_unmount_under "$TMP" && rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' INT TERM HUP


# run CMD...: runs CMD with its output in $TMP/out and $TMP/err; sets RC.
run() {
  RC=0
  "$@" >"$TMP/out" 2>"$TMP/err" || RC=$?
}

# expect_success WHAT CMD...: CMD must exit 0.
expect_success() {
  local what=$1
  shift
  run "$@"
  if [[ $RC -ne 0 ]]; then
    fail "$what: exit $RC: $(head -c 500 "$TMP/err")"
    return 1
  fi
  pass "$what"
}

# expect_refusal WHAT CMD...: CMD must exit non-zero with exactly one
# non-empty line on stderr.
expect_refusal() {
  local what=$1
  shift
  run timeout 10 "$@"
  local lines
  lines=$(grep -c '' "$TMP/err" || true)
  if [[ $RC -eq 0 ]]; then
    fail "$what: exited 0 (expected a refusal)"
  elif [[ $RC -eq 124 ]]; then
    fail "$what: still running after 10 s"
  elif [[ -z "$(tr -d '[:space:]' <"$TMP/err")" ]]; then
    fail "$what: exit $RC but stderr is empty"
  elif [[ "$lines" -ne 1 ]]; then
    fail "$what: stderr has $lines lines, expected exactly 1: $(cat "$TMP/err")"
  else
    pass "$what (exit $RC: $(cat "$TMP/err"))"
  fi
}

# expect_quick_failure WHAT REGEX CMD...: CMD must exit non-zero in under
# 2 s (10 s hard limit) with one stderr line that matches REGEX
# (extended, case-insensitive).
expect_quick_failure() {
  local what=$1 re=$2
  shift 2
  local start ms lines
  start=$(now_ms)
  run timeout 10 "$@"
  ms=$(($(now_ms) - start))
  lines=$(grep -c '' "$TMP/err" || true)
  if [[ $RC -eq 0 ]]; then
    fail "$what: exited 0 (expected a failure)"
  elif [[ $RC -eq 124 ]]; then
    fail "$what: hung (killed after 10 s)"
  elif ((ms >= 2000)); then
    fail "$what: took $ms ms to fail (limit 2000 ms)"
  elif [[ "$lines" -ne 1 ]]; then
    fail "$what: stderr has $lines lines, expected exactly 1: $(cat "$TMP/err")"
  elif ! grep -Eqi -- "$re" "$TMP/err"; then
    fail "$what: stderr does not match /$re/: $(cat "$TMP/err")"
  else
    pass "$what (exit $RC after $ms ms: $(cat "$TMP/err"))"
  fi
}

# expect_output WHAT EXPECTED CMD...: CMD must exit 0 and print EXPECTED.
expect_output() {
  local what=$1 expected=$2
  shift 2
  run "$@"
  if [[ $RC -ne 0 ]]; then
    fail "$what: exit $RC: $(cat "$TMP/err")"
  elif [[ "$(cat "$TMP/out")" != "$expected" ]]; then
    fail "$what: printed '$(cat "$TMP/out")', expected '$expected'"
  else
    pass "$what ($expected)"
  fi
}

# The JSON checks: `check.py FILE EXPR [SHOW]` evaluates the Python
# expression EXPR over the `status --json` document in FILE; it exits 0 if
# it is true, 1 if false, 2 if it raised (e.g. a metric is missing).
cat >"$TMP/check.py" <<'EOF'
import json
import sys

doc = json.load(open(sys.argv[1]))
M = doc.get("metrics", {})
disks = doc.get("disks", [])
MiB = 1 << 20


def samples(name):
    if name not in M:
        raise KeyError("metric %s is missing" % name)
    return M[name]["samples"]


def _match(s, labels):
    return all(s["labels"].get(k) == v for k, v in labels.items())


def one(name, **labels):
    found = [s for s in samples(name) if _match(s, labels)]
    if len(found) != 1:
        raise LookupError("%s%s: %d samples match" % (name, labels, len(found)))
    return found[0]


def value(name, **labels):
    return one(name, **labels)["value"]


def values(name, **labels):
    return [s["value"] for s in samples(name) if _match(s, labels)]


def total(name, **labels):
    return sum(values(name, **labels))


def ops(op):
    return value("fuse_ops_total", op=op)


def hist(name, **labels):
    return one(name, **labels)


env = dict(globals())
try:
    # Parenthesized, so an expression may span lines.
    ok = eval("(%s)" % sys.argv[2], env)
    shown = eval("(%s)" % sys.argv[3], env) if len(sys.argv) > 3 and sys.argv[3] else None
except Exception as e:  # report a missing metric as a failure, not a crash
    print("%s: %s" % (type(e).__name__, e))
    sys.exit(2)
if shown is not None:
    print(shown)
sys.exit(0 if ok else 1)
EOF

JSON=$TMP/status.json
# snapshot [FILE]: `status --json` into FILE (default $JSON), which must be
# valid JSON.
snapshot() {
  local file=${1:-$JSON}
  timeout 10 "$BIN" status --json "$MNT" >"$file" 2>"$TMP/snap.err" || return 1
  python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$file" 2>"$TMP/snap.err"
}
take_snapshot() {
  snapshot || die "status --json failed: $(cat "$TMP/snap.err")"
}

# jcheck WHAT EXPR [SHOW] [FILE]: EXPR (see check.py) must hold for FILE
# (default: the last snapshot); SHOW is printed with the result.
jcheck() {
  local what=$1 expr=$2 show=${3:-} file=${4:-$JSON}
  local out rc=0
  out=$(python3 "$TMP/check.py" "$file" "$expr" "$show" 2>&1) || rc=$?
  if [[ $rc -eq 0 ]]; then
    pass "$what${out:+ ($out)}"
  else
    fail "$what: '$expr' does not hold${out:+ (got: $out)}"
  fi
}
jtrue() { python3 "$TMP/check.py" "${2:-$JSON}" "$1" >/dev/null 2>&1; }
# jval EXPR: prints the value of EXPR for the last snapshot.
jval() { python3 "$TMP/check.py" "$JSON" "True" "$1"; }

log_count() { grep -c "$1" "$LOG" || true; }
mkdirs_logged_at_least() { (($(log_count "fuse mkdir") >= $1)); }
