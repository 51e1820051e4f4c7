#!/usr/bin/env bash
# ctest FIXTURES_CLEANUP step for the integration tests.
#
# Why it exists: an integration test that crashes, is killed by a ctest
# timeout or hits a hung daemon can not run its own cleanup, and a stale
# FUSE mount under /tmp breaks later runs (and `rm -rf /tmp`). This lazily
# detaches every dead mount below /tmp/dynamicfs-test-* (deepest first): one
# whose daemon is gone (ENOTCONN) or does not answer within 5 s. A mount that
# answers belongs to a test still running (another ctest, a long crash run)
# and is left alone. It only touches mounts made by these tests, and it does
# not delete directories; leftovers are listed.
set -uo pipefail

status=0
# Field 5 of mountinfo is the mount point, with octal escapes (\040).
mapfile -t mounts < <(awk '{print $5}' /proc/self/mountinfo |
  grep '^/tmp/dynamicfs-test-' | sort -r)
for raw in "${mounts[@]}"; do
  m=$(printf '%b' "$raw")
  if timeout 5 stat -f "$m" >/dev/null 2>&1; then
    echo "cleanup_mounts: $m is alive (a running test's); left alone"
    continue
  fi
  echo "cleanup_mounts: detaching stale mount $m"
  umount -l "$m" 2>/dev/null || fusermount3 -u -z "$m" 2>/dev/null || {
    echo "cleanup_mounts: could not detach $m" >&2
    status=1
  }
done

shopt -s nullglob
leftovers=(/tmp/dynamicfs-test-*)
if ((${#leftovers[@]})); then
  echo "cleanup_mounts: leftover test directories (safe to remove when no" \
    "test is running): ${leftovers[*]}"
fi
exit "$status"
