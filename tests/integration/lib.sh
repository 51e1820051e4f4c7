# shellcheck shell=bash
# Shared by the shell integration tests: argument and privilege checks, the
# pass/fail bookkeeping, polling with a deadline, and unmounting whatever a
# test left mounted under its temporary directory. Source it right after
# `set -euo pipefail`:
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   dfs_require_bin "$@"        # BIN from $1 or $DYNAMICFS_BIN (exit 2 if none)
#   dfs_require_root_fuse       # exit 77 (skip) unless root with /dev/fuse
#
# Exit codes of the tests: 0 pass, 1 failure, 2 usage, 77 skipped.

dfs_require_bin() {
  BIN=${1:-${DYNAMICFS_BIN:-}}
  if [[ -z "$BIN" ]]; then
    echo "usage: $0 /path/to/dynamicfs" >&2
    exit 2
  fi
}

# dfs_require_root WHY: skips (77) unless run as root.
dfs_require_root() {
  if [[ "$(id -u)" -ne 0 ]]; then
    echo "SKIP: needs root ($1)"
    exit 77
  fi
}

dfs_require_root_fuse() {
  if [[ "$(id -u)" -ne 0 || ! -e /dev/fuse ]]; then
    echo "SKIP: needs root and /dev/fuse"
    exit 77
  fi
}

# dfs_require_tools TOOL...: fails (not skips) when a dependency that the
# README's test command installs is missing.
dfs_require_tools() {
  local tool
  for tool in "$@"; do
    if ! command -v "$tool" >/dev/null; then
      echo "FAIL: required tool '$tool' is not installed" >&2
      exit 1
    fi
  done
}

FAILURES=0
pass() { echo "ok: $*"; }
fail() {
  echo "FAIL: $*" >&2
  FAILURES=$((FAILURES + 1))
}
die() {
  echo "FAIL: $*" >&2
  exit 1
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# poll_until SECONDS CMD...: runs CMD every 0.1 s until it succeeds; returns
# 1 if it still fails after SECONDS. Waiting is never a timing assertion.
poll_until() {
  local deadline=$(($(now_ms) + $1 * 1000))
  shift
  until "$@"; do
    (($(now_ms) < deadline)) || return 1
    sleep 0.1
  done
}

# Evicts FILE's pages from the kernel's page cache, so the next read goes to
# the daemon (and so to the disks).
dfs_drop_cache() {
  python3 -c 'import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
os.close(fd)' "$1"
}

# dfs_status_json EXPR: prints EXPR (Python) evaluated over
# `dynamicfs status --json $MNT` as `doc`.
dfs_status_json() {
  "$BIN" status --json "$MNT" | python3 -c "import json, sys; doc = json.load(sys.stdin); print($1)"
}

# dfs_fsck_clean WHAT [FSCK ARGS...]: fsck of $VOL (e.g. --snapshot NAME)
# passes or fails the check WHAT, with fsck's output on failure.
dfs_fsck_clean() {
  local what=$1
  shift
  if "$BIN" fsck --volume "$VOL" "$@" >"$TMP/fsck.out" 2>&1; then
    pass "$what: fsck is clean"
  else
    fail "$what: fsck: $(cat "$TMP/fsck.out")"
  fi
}

# dfs_same_files REFDIR: every file in REFDIR reads back identical from $MNT
# (uncached reads).
dfs_same_files() {
  local f
  for f in "$1"/*; do
    dfs_drop_cache "$MNT/$(basename "$f")"
    cmp -s "$f" "$MNT/$(basename "$f")" || return 1
  done
}

# dfs_unmount_under DIR: unmounts every mount below DIR, deepest first
# (dynamicfs umount, else lazy umount); returns 1 if anything stays mounted.
dfs_unmount_under() {
  local dir=$1 m
  # shellcheck disable=SC2013  # mount points of the tests have no spaces
  for m in $(awk -v p="$dir/" 'index($5, p) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
    timeout 60 "$BIN" umount "$m" || umount -l "$m" || fusermount3 -u -z "$m"
  done
  if grep -qF " $dir/" /proc/self/mountinfo; then
    echo "WARNING: something is still mounted under $dir" >&2
    return 1
  fi
}

# dfs_make_tmp: sets TMP (a fresh directory under /tmp) and MNT=$TMP/mnt
# (created), and arranges that on exit, however the test ends, everything
# mounted below TMP is unmounted and TMP is removed. A test that needs more
# at exit defines dfs_extra_cleanup, which runs first.
dfs_make_tmp() {
  TMP=$(mktemp -d /tmp/dynamicfs-test-XXXXXX)
  MNT=$TMP/mnt
  mkdir "$MNT"
  trap dfs_cleanup_tmp EXIT
  trap 'exit 143' INT TERM HUP
}
dfs_cleanup_tmp() {
  local rc=$?
  set +e
  cd /
  if declare -F dfs_extra_cleanup >/dev/null; then dfs_extra_cleanup; fi
  dfs_unmount_under "$TMP" && rm -rf "$TMP"
  exit "$rc"
}
