#!/usr/bin/env bash
# A full pool, through a real mount (two 64 MiB disk files, two copies):
#   - writing until the pool is full ends in ENOSPC; what was written reads
#     back exactly (a prefix of the source), other files are untouched;
#   - overwrites in a full pool (copy-on-write needs space) fail with
#     ENOSPC chunk by chunk: each 1 MiB chunk holds the old or the new bytes,
#     never a mix or garbage;
#   - after the delete the space comes back (deferred frees included) and a
#     file of most of that size can be written; fsck is clean.
#
# Usage: enospc.sh /path/to/dynamicfs
# Exit:  0 pass, 1 failure, 77 skipped (not root / no /dev/fuse).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
dfs_require_bin "$@"
dfs_require_root_fuse
dfs_require_tools python3 cmp dd df
BIN=$(realpath "$BIN")

dfs_make_tmp
VOL=$TMP/vol
free_kib() { df -k --output=avail "$MNT" | tail -1 | tr -d ' '; }

"$BIN" mkfs --volume "$VOL" --disk "$TMP/d0.img" --disk "$TMP/d1.img" --size 64M >/dev/null ||
  die "mkfs failed"
"$BIN" mount --volume "$VOL" "$MNT" || die "mount failed"
head -c $((8 << 20)) /dev/urandom >"$TMP/keep"
cp "$TMP/keep" "$MNT/keep" && sync "$MNT/keep"
FREE0=$(free_kib)
echo "free before filling: $FREE0 KiB"

head -c $((96 << 20)) /dev/urandom >"$TMP/source"
if dd if="$TMP/source" of="$MNT/fill" bs=1M conv=fsync status=none 2>"$TMP/dd.err"; then
  fail "writing 96 MiB into a $((FREE0 / 1024)) MiB pool succeeded"
else
  grep -q "No space left on device" "$TMP/dd.err" && pass "filling the pool ends in ENOSPC" ||
    fail "filling the pool failed otherwise: $(cat "$TMP/dd.err")"
fi
size=$(stat -c %s "$MNT/fill")
((size > (FREE0 << 10) / 2)) && pass "the fill file got $((size >> 20)) MiB before ENOSPC" ||
  fail "the fill file holds only $size bytes"
dfs_drop_cache "$MNT/fill"
cmp -s -n "$size" "$TMP/source" "$MNT/fill" && pass "what was written before ENOSPC reads back exactly" ||
  fail "the fill file differs from its source"
dfs_drop_cache "$MNT/keep"
cmp -s "$TMP/keep" "$MNT/keep" && pass "the other file is untouched" || fail "keep changed"

# Overwrite 4 MiB of `keep` in place while the pool is full.
head -c $((4 << 20)) /dev/urandom >"$TMP/new"
dd if="$TMP/new" of="$MNT/keep" bs=1M seek=2 conv=notrunc status=none 2>"$TMP/ow.err" || true
dfs_drop_cache "$MNT/keep"
python3 - "$TMP/keep" "$TMP/new" "$MNT/keep" <<'PY' && pass "overwrites in a full pool left each chunk old or new" || fail "an overwrite in a full pool mixed or damaged bytes"
import sys
old = open(sys.argv[1], "rb").read()
new = open(sys.argv[2], "rb").read()
got = open(sys.argv[3], "rb").read()
M = 1 << 20
if len(got) != len(old):
    sys.exit(1)
for c in range(len(old) // M):
    chunk = got[c * M:(c + 1) * M]
    want_old = old[c * M:(c + 1) * M]
    want_new = new[(c - 2) * M:(c - 1) * M] if 2 <= c < 6 else want_old
    if chunk not in (want_old, want_new):
        print("chunk", c, "is neither old nor new")
        sys.exit(1)
PY

rm "$MNT/fill"
if poll_until 20 test "$(free_kib)" -ge $((FREE0 - 4096 - 1024)); then
  pass "the space came back after the delete ($(free_kib) KiB free)"
else
  fail "only $(free_kib) KiB free 20 s after the delete (was $FREE0 KiB)"
fi
want=$(((FREE0 - 4096) * 8 / 10 / 1024))
if dd if="$TMP/source" of="$MNT/again" bs=1M count="$want" conv=fsync status=none 2>"$TMP/dd2.err"; then
  pass "a $want MiB file fits again"
else
  fail "writing $want MiB after the delete failed: $(cat "$TMP/dd2.err")"
fi
dfs_drop_cache "$MNT/again"
cmp -s -n $((want << 20)) "$TMP/source" "$MNT/again" || fail "the new file reads back wrong"
"$BIN" umount "$MNT" || fail "umount failed"
"$BIN" fsck --volume "$VOL" >"$TMP/fsck.out" 2>&1 && pass "fsck is clean" ||
  fail "fsck: $(cat "$TMP/fsck.out")"

if [[ $FAILURES -ne 0 ]]; then
  echo "FAIL: $FAILURES check(s) failed" >&2
  exit 1
fi
echo "PASS"
