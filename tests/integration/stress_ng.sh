#!/usr/bin/env bash
# An outside judge of the POSIX surface: stress-ng's filesystem stressors,
# written by other people against the Linux API, run on a dynamicfs mount
# with --verify (each stressor checks what it reads back, lock semantics,
# link counts, seek positions, fallocate results, copy_file_range contents,
# xattrs, mmap data...). Every stressor is bounded by an operation count; a
# stressor that fails, or reports a verification error, fails the test.
#
# Usage: stress_ng.sh /path/to/dynamicfs
# Exit:  0 pass, 1 failure, 77 skipped (not root / no /dev/fuse).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
dfs_require_bin "$@"
dfs_require_root_fuse
dfs_require_tools stress-ng
BIN=$(realpath "$BIN")

dfs_make_tmp

"$BIN" mkfs --volume "$TMP/vol" --disk "$TMP/d0.img" --disk "$TMP/d1.img" --size 1G >/dev/null ||
  die "mkfs failed"
"$BIN" mount --volume "$TMP/vol" "$MNT" || die "mount failed"

# stressor:ops pairs, sized so the whole run takes a few minutes on 2 cores.
STRESSORS=(
  dir:1000 rename:3000 link:3 symlink:2 filename:1000 dentry:100
  chmod:1000 chown:1000 utime:3000 xattr:10
  lockf:3000 fcntl:3000 flock:3000
  fallocate:50 copy-file:3 seek:1500 hdd:300 mmap:1
)
args=()
for s in "${STRESSORS[@]}"; do
  name=${s%%:*}
  ops=${s##*:}
  args+=("--$name" 1 "--$name-ops" "$ops")
done
echo "stress-ng $(stress-ng --version | awk '{print $3}') on $MNT: ${STRESSORS[*]}"
log=$TMP/stress-ng.log
# --timeout only bounds a hung run; every stressor stops at its op count.
if (cd "$MNT" && stress-ng --temp-path "$MNT" --verify --metrics-brief --timeout 900 \
  --hdd-bytes 32M --mmap-bytes 16M --mmap-file "${args[@]}") >"$log" 2>&1; then
  pass "stress-ng stressors completed"
else
  tail -30 "$log" >&2
  fail "stress-ng exited non-zero"
fi
if grep -Ei 'fail|verif.*(error|mismatch)|unexpected' "$log" | grep -v 'failed: 0' >"$TMP/bad"; then
  head -20 "$TMP/bad" >&2
  fail "stress-ng reported errors"
else
  pass "no stressor reported a failure or a verification error"
fi
grep -E 'metrc: .* (dir|rename|link|lockf|fcntl|flock|fallocate|copy-file|seek|hdd|mmap|xattr) ' "$log" |
  sed 's/^stress-ng: metrc: \[[0-9]*\] /  /' || true
"$BIN" umount "$MNT" || fail "umount failed"

if [[ $FAILURES -ne 0 ]]; then
  echo "FAIL: $FAILURES check(s) failed" >&2
  exit 1
fi
echo "PASS"
