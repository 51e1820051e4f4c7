# shellcheck shell=bash
# The private LAN of the replication tests and their process helpers,
# sourced by replication_netns.sh and snapshot_replication.sh after lib.sh.
#
# Before sourcing, set NODES (node namespaces n1..nNODES on one bridge),
# BIN (the dynamicfs binary) and PY (a python3 with libtorrent). It sets
# TMP (removed at exit), SEED (printed; DFS_TEST_SEED reruns it), MiB,
# SEEDER (n1's address) and TOTAL_START, copies BIN into TMP, builds the
# network with a reachability check, and leaves the shell in TMP. On exit,
# however the test ends, every process it spawned is killed, the namespaces
# are deleted, everything mounted below TMP is unmounted and TMP removed.
# A test may set LOOPDEV to a loop device to detach at exit.
TAG=$$                  # names everything, so parallel runs do not clash
BRNS=dfsrt-br-$TAG      # the namespace holding the bridge
# The LAN is private to this run (its own bridge), so no address can clash
# with another run or the host; 10.213/16 is merely unlikely to confuse a
# reader of `ip addr` on some host.
SUBNET=10.213.77
NAMESPACES=()           # created namespaces, deleted by cleanup
PIDS=()                 # every background process, killed by cleanup
declare -A PID_OF=()    # name -> pid of a background process
declare -A RC_OF=()     # name -> its exit status once reaped

# Probe: a namespace with a bridge and a veth pair must work, else skip.
probe=dfsrt-probe-$TAG
if ! ip netns add "$probe" 2>/dev/null; then
  echo "SKIP: 'ip netns add' does not work here"
  exit 77
fi
probe_ok=1
ip -n "$probe" link add br0 type bridge 2>/dev/null &&
  ip -n "$probe" link add va type veth peer name vb 2>/dev/null || probe_ok=0
ip netns exec "$probe" true 2>/dev/null || probe_ok=0
ip netns del "$probe"
if [[ $probe_ok -ne 1 ]]; then
  echo "SKIP: network namespaces lack bridge/veth support or 'ip netns exec' fails"
  exit 77
fi

SEED=${DFS_TEST_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
echo "random seed: $SEED (rerun with DFS_TEST_SEED=$SEED)"

TMP=$(mktemp -d /tmp/dynamicfs-test-XXXXXX)
MiB=$((1024 * 1024))

cleanup() {
  local rc=$?
  set +e
  local pid ns
  {
    for pid in "${PIDS[@]}"; do
      kill -KILL "$pid"
    done
    # Anything else still running in our namespaces was started by us too
    # (e.g. a foreground command when a signal arrived).
    for ns in "${NAMESPACES[@]}"; do
      for pid in $(ip netns pids "$ns"); do
        kill -KILL "$pid"
      done
    done
    for pid in "${PIDS[@]}"; do
      wait "$pid"
    done
  } 2>/dev/null  # also bash's "Killed" job notices
  # Node namespaces first (their veth pairs go with them), the bridge last.
  local i
  for ((i = ${#NAMESPACES[@]} - 1; i >= 0; i--)); do
    ip netns del "${NAMESPACES[$i]}" 2>/dev/null ||
      echo "WARNING: could not delete namespace ${NAMESPACES[$i]}" >&2
  done
  [[ -n "${LOOPDEV:-}" ]] && losetup -d "$LOOPDEV" 2>/dev/null
  dfs_unmount_under "$TMP" && rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' INT TERM HUP


# Runs its own copy: the build directory's binary may be relinked (and so
# missing for a moment) while this test runs for minutes.
cp "$BIN" "$TMP/dynamicfs"
BIN=$TMP/dynamicfs
"$BIN" --version >/dev/null 2>&1 || die "$BIN does not run (copied while being relinked?)"

secs_since() { # START_MS: seconds since START_MS, one decimal
  local ms=$(($(now_ms) - $1))
  printf '%d.%d' $((ms / 1000)) $((ms % 1000 / 100))
}

# seeded_bytes LABEL N: N pseudo-random bytes determined by SEED and LABEL.
seeded_bytes() {
  { openssl enc -aes-256-ctr -pbkdf2 -iter 1 -nosalt -pass "pass:$SEED/$1" \
    </dev/zero 2>/dev/null || true; } | head -c "$2"
}
sha() { sha256sum "$1" | awk '{print $1}'; }
fsize() { stat -c %s "$1"; }

# ------------------------------------------------------------- the network
ns_of() { echo "dfsrt-n$1-$TAG"; }
ip_of() { echo "$SUBNET.$1"; }
# on NODE CMD...: runs CMD in NODE's namespace.
on() {
  local node=$1
  shift
  ip netns exec "$(ns_of "$node")" "$@"
}

ip netns add "$BRNS" || die "cannot create namespace $BRNS"
NAMESPACES+=("$BRNS")
ip -n "$BRNS" link set lo up
ip -n "$BRNS" link add br0 type bridge
ip -n "$BRNS" link set dev br0 type bridge mcast_snooping 0
ip -n "$BRNS" link set br0 up
for ((i = 1; i <= NODES; i++)); do
  ns=$(ns_of $i)
  ip netns add "$ns" || die "cannot create namespace $ns"
  NAMESPACES+=("$ns")
  ip -n "$ns" link set lo up
  # Created inside the node namespace, the peer moved straight into the
  # bridge's: neither end ever exists in the host namespace.
  ip -n "$ns" link add eth0 type veth peer name p$i netns "$BRNS"
  ip -n "$BRNS" link set p$i master br0
  ip -n "$BRNS" link set p$i up
  ip -n "$ns" addr add "$(ip_of $i)/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" route add 239.0.0.0/8 dev eth0
done
# Positive control: every node reaches n1 over TCP (bash's /dev/tcp to a
# listener started in n1; no ping needed).
ip netns exec "$(ns_of 1)" "$PY" -c '
import socket, sys
s = socket.socket(); s.bind((sys.argv[1], 7000)); s.listen(16)
while True:
    s.accept()[0].close()
' "$(ip_of 1)" >/dev/null 2>&1 &
PIDS+=($!)
listener=$!
reach() { on "$1" timeout 2 bash -c "exec 3<>/dev/tcp/$(ip_of 1)/7000" 2>/dev/null; }
for ((i = 2; i <= NODES; i++)); do
  poll_until 10 reach $i || die "node $i cannot reach $(ip_of 1):7000 on the private LAN"
done
{
  kill -KILL $listener
  wait $listener || true
} 2>/dev/null
pass "private LAN: $NODES node namespaces on bridge $BRNS/br0, $SUBNET.0/24"

# ------------------------------------------------------- process helpers
# spawn NAME NODE CMD...: runs CMD in the background in NODE's namespace
# with stdout in $TMP/NAME.out and stderr in $TMP/NAME.err.
spawn() {
  local name=$1 node=$2
  shift 2
  ip netns exec "$(ns_of "$node")" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
  PID_OF[$name]=$!
  PIDS+=($!)
}
alive() { kill -0 "${PID_OF[$1]}" 2>/dev/null; }
exited() { ! alive "$1"; }
# reap NAME SECONDS: waits up to SECONDS for NAME to exit and sets
# RC_OF[NAME]; on the deadline kills it and returns 1.
reap() {
  local name=$1 rc=0
  if ! poll_until "$2" exited "$name"; then
    kill -KILL "${PID_OF[$name]}" 2>/dev/null || true
    wait "${PID_OF[$name]}" 2>/dev/null || true
    RC_OF[$name]=timeout
    return 1
  fi
  wait "${PID_OF[$name]}" 2>/dev/null || rc=$?
  RC_OF[$name]=$rc
}
# stop NAME: SIGINT, then reap within 15 s.
stop() {
  kill -INT "${PID_OF[$1]}" 2>/dev/null || true
  reap "$1" 15
}

# jget NAME KEY: KEY of the last JSON progress line in $TMP/NAME.out (the
# final line included); jfinal NAME KEY: KEY of the final
# {"event":"done"} line. Empty if there is none.
cat >"$TMP/jget.py" <<'EOF'
import json
import sys

last = None
for line in open(sys.argv[1]):
    try:
        d = json.loads(line)
    except ValueError:  # a line still being written
        continue
    if d.get("event") == "listening":
        continue
    if len(sys.argv) > 3 and d.get("event") != "done":
        continue
    last = d
v = last.get(sys.argv[2], "") if last else ""
print(str(v).lower() if isinstance(v, bool) else v)
EOF
jget() { "$PY" "$TMP/jget.py" "$TMP/$1.out" "$2"; }
jfinal() { "$PY" "$TMP/jget.py" "$TMP/$1.out" "$2" final; }
# listening_port NAME: the port of NAME's {"event":"listening"} line.
listening_port() {
  "$PY" -c '
import json, sys
for line in open(sys.argv[1]):
    try:
        d = json.loads(line)
    except ValueError:
        continue
    if d.get("event") == "listening":
        print(d["port"])
        break
' "$TMP/$1.out"
}
has_listening_line() { [[ -n "$(listening_port "$1")" ]]; }
# fge X Y: X >= Y (floats).
fge() { awk -v a="$1" -v b="$2" 'BEGIN {exit !(a + 0 >= b + 0)}'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f%%", 100 * a / b}'; }

# seed NAME NODE PORT TORRENT SOURCE [ARGS...]: starts a seeder and waits
# (10 s) for its listening line, which must name PORT (unless PORT is 0).
seed() {
  local name=$1 node=$2 port=$3 torrent=$4 source=$5
  shift 5
  spawn "$name" "$node" "$BIN" replicate seed "$torrent" --source "$source" --json "$@"
  if ! poll_until 10 has_listening_line "$name"; then
    die "seeder $name printed no listening line within 10 s: $(head -c 500 "$TMP/$name.err")"
  fi
  local got
  got=$(listening_port "$name")
  if [[ "$port" != 0 && "$got" != "$port" ]]; then
    fail "seeder $name reports port $got, expected $port"
  fi
}

# check_fetch NAME TARGET EXPECTED_FILE: NAME (a finished fetch) exited 0,
# its final line says ok, and TARGET equals EXPECTED_FILE.
check_fetch() {
  local name=$1 target=$2 expected=$3
  local rc=${RC_OF[$name]} ok
  ok=$(jfinal "$name" ok)
  if [[ "$rc" != 0 ]]; then
    fail "$name: exit $rc: $(head -c 500 "$TMP/$name.err")"
    return 1
  fi
  [[ "$ok" == true ]] && pass "$name: exit 0, final line ok" ||
    fail "$name: exit 0 but the final JSON line has ok='$ok'"
  if cmp -s "$target" "$expected"; then
    pass "$name: $target is byte-identical to $expected"
  else
    fail "$name: $target differs from $expected: $(cmp "$target" "$expected" 2>&1 | head -1)"
    return 1
  fi
}

# fetch_fg NAME NODE SECONDS ARGS...: a fetch in NODE's namespace (in the
# background, reaped within SECONDS).
fetch_fg() {
  local name=$1 node=$2 secs=$3
  shift 3
  spawn "$name" "$node" "$BIN" replicate fetch --json "$@"
  reap "$name" "$secs" || fail "$name: still running after $secs s"
}

# expect_refusal WHAT CMD...: CMD must exit non-zero within 30 s with
# exactly one non-empty line on stderr.
expect_refusal() {
  local what=$1 rc=0 lines
  shift
  timeout 30 "$@" >"$TMP/out" 2>"$TMP/err" || rc=$?
  lines=$(grep -c '' "$TMP/err" || true)
  if [[ $rc -eq 0 ]]; then
    fail "$what: exited 0 (expected a refusal)"
  elif [[ $rc -eq 124 ]]; then
    fail "$what: still running after 30 s (expected a refusal)"
  elif [[ -z "$(tr -d '[:space:]' <"$TMP/err")" ]]; then
    fail "$what: exit $rc but stderr is empty"
  elif [[ "$lines" -ne 1 ]]; then
    fail "$what: stderr has $lines lines, expected exactly 1: $(cat "$TMP/err")"
  else
    pass "$what (exit $rc: $(cat "$TMP/err"))"
  fi
}

SEEDER=$(ip_of 1)
TOTAL_START=$(now_ms)
cd "$TMP"
