#!/usr/bin/env bash
# Bad-input test for the dynamicfs CLI.
#
# Why it exists: the most destructive bugs in storage tools are the ones
# where an operator's mistake (wrong disk, reused disk, mount over data,
# corrupted disk) silently destroys or hides data. mkfs and mount must
# refuse such input with a non-zero exit and exactly one line on stderr,
# and a refused mount must not write a single byte to any of the disks.
# Every refusal is paired with a positive control so the test can not pass
# merely because the setup is broken.
#
# Usage: bad_input.sh /path/to/dynamicfs
# Exit:  0 pass, 1 failure, 77 skipped (not root / no /dev/fuse).
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
dfs_require_bin "$@"
dfs_require_root_fuse

TMP=$(mktemp -d /tmp/dynamicfs-test-XXXXXX)
DISK_SIZE=128M
MiB=$((1024 * 1024))

cleanup() {
  local rc=$?
  set +e
  dfs_unmount_under "$TMP" && rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' INT TERM HUP


checksums() { sha256sum "$@" | awk '{print $1}' | tr '\n' ' '; }

# expect_refusal DESCRIPTION CMD...: CMD must exit non-zero and print exactly
# one non-empty line on stderr.
expect_refusal() {
  local what=$1
  shift
  local rc=0
  "$@" >"$TMP/out" 2>"$TMP/err" || rc=$?
  local lines
  lines=$(grep -c '' "$TMP/err" || true)
  if [[ $rc -eq 0 ]]; then
    fail "$what: exited 0 (expected a refusal)"
  elif [[ ! -s "$TMP/err" || -z "$(tr -d '[:space:]' <"$TMP/err")" ]]; then
    fail "$what: exit $rc but stderr is empty"
  elif [[ "$lines" -ne 1 ]]; then
    fail "$what: stderr has $lines lines, expected exactly 1:"
    sed 's/^/    /' "$TMP/err" >&2
  else
    pass "$what (exit $rc: $(cat "$TMP/err"))"
  fi
}

# expect_usage DESCRIPTION CMD...: non-zero exit and a usage message.
expect_usage() {
  local what=$1
  shift
  local rc=0
  "$@" >"$TMP/out" 2>"$TMP/err" || rc=$?
  if [[ $rc -eq 0 ]]; then
    fail "$what: exited 0"
  elif ! grep -qi 'usage' "$TMP/out" "$TMP/err"; then
    fail "$what: exit $rc but no usage text"
  else
    pass "$what (exit $rc)"
  fi
}

expect_success() {
  local what=$1
  shift
  local rc=0
  "$@" >"$TMP/out" 2>"$TMP/err" || rc=$?
  if [[ $rc -ne 0 ]]; then
    fail "$what: exit $rc: $(cat "$TMP/err")"
    return 1
  fi
  pass "$what"
}

expect_unchanged() {  # expect_unchanged WHAT BEFORE FILES...
  local what=$1 before=$2
  shift 2
  local after
  after=$(checksums "$@")
  if [[ "$before" == "$after" ]]; then
    pass "$what left the disks untouched"
  else
    fail "$what modified the disks"
  fi
}

expect_not_mounted() {
  if mountpoint -q "$1"; then
    fail "$2: $1 is mounted after a refused mount"
    umount -l "$1" || true
  fi
}

# Overwrites 8 bytes at OFFSET of FILE with their bitwise complement, so the
# bytes are guaranteed to change.
damage() {
  local file=$1 offset=$2 bytes=""
  local b
  for b in $(od -An -tu1 -j "$offset" -N 8 "$file"); do
    bytes+=$(printf '\\x%02x' $((255 - b)))
  done
  printf "$bytes" | dd of="$file" bs=1 seek="$offset" conv=notrunc status=none
}

# mkvol NAME: volume NAME with disks NAME0.img NAME1.img and one copy of each
# extent, so a missing disk cannot be served around (replicas.sh covers the
# degraded mount of a volume with two copies).
mkvol() {
  "$BIN" mkfs --volume "$TMP/$1" --disk "$TMP/${1}0.img" \
    --disk "$TMP/${1}1.img" --size "$DISK_SIZE" --replicas 1 >"$TMP/out" 2>"$TMP/err" ||
    die "mkfs of volume $1 failed: $(cat "$TMP/err")"
}

cd "$TMP"
mkdir m1 m2 m_nonempty
echo "precious" >m_nonempty/file

# ------------------------------------------------------------ usage errors
expect_usage "unknown global option" "$BIN" --no-such-option
expect_usage "unknown subcommand" "$BIN" no-such-command
expect_usage "unknown mkfs option" "$BIN" mkfs --no-such-option
expect_usage "unknown mount option" "$BIN" mount --no-such-option
rc=0
"$BIN" >/dev/null 2>&1 || rc=$?
[[ $rc -ne 0 ]] && pass "no arguments -> exit $rc" || fail "no arguments exited 0"

# --------------------------------------------------------------------- mkfs
mkvol A   # positive control: fresh sparse disks are accepted
mkvol B
pass "mkfs of two fresh volumes"

sums=$(checksums A0.img A1.img)
expect_refusal "mkfs on a disk that holds a dynamicfs volume" \
  "$BIN" mkfs --volume "$TMP/A2" --disk "$TMP/A0.img"
expect_refusal "mkfs on a fresh disk plus a dynamicfs disk" \
  "$BIN" mkfs --volume "$TMP/A3" --disk "$TMP/fresh.img" --disk "$TMP/A1.img" \
  --size "$DISK_SIZE"
expect_unchanged "refused re-mkfs" "$sums" A0.img A1.img

truncate -s 64M ext4.img
mkfs.ext4 -q -F ext4.img
sums=$(checksums ext4.img)
expect_refusal "mkfs on a disk with an ext4 signature" \
  "$BIN" mkfs --volume "$TMP/E" --disk "$TMP/ext4.img"
expect_unchanged "refused mkfs on ext4" "$sums" ext4.img

truncate -s 63M small.img
sums=$(checksums small.img)
expect_refusal "mkfs on a 63 MiB disk" \
  "$BIN" mkfs --volume "$TMP/S" --disk "$TMP/small.img"
expect_unchanged "refused mkfs on a small disk" "$sums" small.img
expect_refusal "mkfs creating a 32 MiB disk" \
  "$BIN" mkfs --volume "$TMP/S2" --disk "$TMP/new_small.img" --size 32M

# --force overrides the signature check; exactly 64 MiB is big enough.
expect_success "mkfs --force on the 64 MiB ext4 disk" \
  "$BIN" mkfs --force --volume "$TMP/E2" --disk "$TMP/ext4.img"

# -------------------------------------------------------------------- mount
sums=$(checksums A0.img A1.img)
# A mountpoint that would hide the volume directory from its own daemon.
mkdir -p "$TMP/A/inside"
expect_refusal "mount inside the volume directory" \
  "$BIN" mount --volume "$TMP/A" "$TMP/A/inside"
expect_not_mounted "$TMP/A/inside" "mountpoint inside the volume"
expect_unchanged "mount refused for a mountpoint inside the volume" "$sums" \
  A0.img A1.img
rmdir "$TMP/A/inside"
# A non-empty directory is a mountpoint as on any Linux filesystem; what it
# holds is hidden while mounted and there again afterwards.
if expect_success "mount on a non-empty mountpoint" \
  "$BIN" mount --volume "$TMP/A" "$TMP/m_nonempty"; then
  [[ ! -e m_nonempty/file ]] && pass "the mount hides the directory's own file" ||
    fail "the directory's own file shows through the mount"
  "$BIN" umount "$TMP/m_nonempty" || fail "umount of the non-empty mountpoint failed"
fi
[[ "$(cat m_nonempty/file)" == precious ]] &&
  pass "non-empty mountpoint content intact" ||
  fail "non-empty mountpoint content changed"

if expect_success "mount volume A" "$BIN" mount --volume "$TMP/A" "$TMP/m1"; then
  mountpoint -q m1 || fail "mount A returned 0 but m1 is not mounted"
  echo hello >m1/hello || fail "cannot write to mounted volume A"
  expect_refusal "mount volume B on an already mounted mountpoint" \
    "$BIN" mount --volume "$TMP/B" "$TMP/m1"
  [[ "$(cat m1/hello 2>/dev/null)" == hello ]] &&
    pass "volume A still served at m1" || fail "volume A no longer served at m1"
  "$BIN" umount "$TMP/m1" || fail "umount of volume A failed"
fi

sums_b=$(checksums B0.img B1.img)
mv B1.img B1.away
expect_refusal "mount with a missing disk" \
  "$BIN" mount --volume "$TMP/B" "$TMP/m2"
expect_not_mounted "$TMP/m2" "missing disk"
mv B1.away B1.img
expect_unchanged "mount refused for a missing disk" "$sums_b" B0.img B1.img

cp --sparse=always B1.img B1.orig
cp --sparse=always A1.img B1.img
sums=$(checksums B0.img B1.img A0.img A1.img)
expect_refusal "mount with a disk of another volume" \
  "$BIN" mount --volume "$TMP/B" "$TMP/m2"
expect_not_mounted "$TMP/m2" "foreign disk"
expect_unchanged "mount refused for a foreign disk" "$sums" \
  B0.img B1.img A0.img A1.img
mv B1.orig B1.img

for offset in 0 24; do
  cp --sparse=always B0.img B0.orig
  damage B0.img "$offset"
  sums=$(checksums B0.img B1.img)
  [[ "$sums" != "$sums_b" ]] || die "damaging B0.img at $offset changed nothing"
  expect_refusal "mount with a superblock damaged at byte $offset" \
    "$BIN" mount --volume "$TMP/B" "$TMP/m2"
  expect_not_mounted "$TMP/m2" "damaged superblock"
  expect_unchanged "mount refused for a damaged superblock (byte $offset)" \
    "$sums" B0.img B1.img
  mv B0.orig B0.img
done

# Positive control: with the original disks back, volume B mounts.
expect_unchanged "the refused mounts of volume B" "$sums_b" B0.img B1.img
if expect_success "mount volume B with its own intact disks" \
  "$BIN" mount --volume "$TMP/B" "$TMP/m2"; then
  "$BIN" umount "$TMP/m2" || fail "umount of volume B failed"
fi

# --force re-mkfs takes the disks over: the new volume mounts, the old one
# is refused because its disks now belong to another volume.
expect_success "mkfs --force over volume B's disks" \
  "$BIN" mkfs --force --volume "$TMP/C" --disk "$TMP/B0.img" --disk "$TMP/B1.img"
if expect_success "mount the forced volume C" \
  "$BIN" mount --volume "$TMP/C" "$TMP/m2"; then
  "$BIN" umount "$TMP/m2" || fail "umount of volume C failed"
fi
sums=$(checksums B0.img B1.img)
expect_refusal "mount of volume B whose disks were re-formatted" \
  "$BIN" mount --volume "$TMP/B" "$TMP/m2"
expect_unchanged "mount refused for re-formatted disks" "$sums" B0.img B1.img

if [[ $FAILURES -ne 0 ]]; then
  echo "$FAILURES check(s) failed" >&2
  exit 1
fi
echo "PASS: all bad-input checks"
