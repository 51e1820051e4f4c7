#!/usr/bin/env bash
# POSIX ACLs through a real mount, judged against the kernel's own ACL code:
# one script of setfacl/chmod/create/access steps runs in a directory on
# tmpfs (reference) and in a dynamicfs mount, and everything it prints
# (getfacl listings, modes, whether an unprivileged user may read or write)
# must be identical. Covers access and default ACLs, inheritance on create
# (the umask ignored under a default ACL, applied without one), chmod keeping
# the mask in step, ACLs the mode alone expresses, removal, enforcement of
# named user and group entries and of the mask, EACCES for a default ACL on
# a file, and persistence across a remount.
#
# Usage: acl.sh /path/to/dynamicfs
# Exit:  0 pass, 1 failure, 77 skipped (not root / no /dev/fuse).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
dfs_require_bin "$@"
dfs_require_root_fuse
dfs_require_tools setfacl getfacl setpriv diff
BIN=$(realpath "$BIN")

dfs_make_tmp
REF=$TMP/ref
dfs_extra_cleanup() { umount "$REF" 2>/dev/null; }

mkdir "$REF"
mount -t tmpfs -o size=16m,mode=0755 tmpfs "$REF" || die "cannot mount the tmpfs reference"
"$BIN" mkfs --volume "$TMP/vol" --disk "$TMP/d0.img" --size 256M >/dev/null || die "mkfs failed"
"$BIN" mount --volume "$TMP/vol" "$MNT" || die "mount failed"

# As an unprivileged user with one group: prints ok or denied for each try.
as_user() {
  local uid=$1 gid=$2
  shift 2
  setpriv --reuid="$uid" --regid="$gid" --clear-groups -- "$@" 2>/dev/null && echo ok || echo denied
}

# The steps; run with cwd on the filesystem under test.
steps() {
  umask 022
  mkdir shared && chmod 0750 shared
  echo data >shared/file && chmod 0640 shared/file
  echo "-- before any ACL: user 1234 reads the file"
  as_user 1234 1234 cat shared/file
  setfacl -m u:1234:x,g:2345:x shared
  setfacl -m u:1234:r,g:2345:rw shared/file
  getfacl -n shared shared/file
  stat -c '%A %n' shared/file
  echo "-- named user entry: read yes, write no"
  as_user 1234 1234 cat shared/file
  as_user 1234 1234 sh -c 'echo x >>shared/file'
  echo "-- named group entry: write yes"
  as_user 4321 2345 sh -c 'echo y >>shared/file'
  echo "-- chmod 0600 makes the mask ---: the named user loses read"
  chmod 0600 shared/file
  getfacl -n shared/file
  as_user 1234 1234 cat shared/file
  echo "-- setfacl -m m::r restores it"
  setfacl -m m::r shared/file
  stat -c '%A %n' shared/file
  as_user 1234 1234 cat shared/file
  echo "-- an ACL the mode expresses leaves no xattr behind"
  touch plain
  setfacl -m u::rwx,g::r,o::- plain
  stat -c '%A %n' plain
  getfacl -n plain
  getfattr -n system.posix_acl_access plain 2>&1 | sed 's/^.*plain: //' || true
  echo "-- default ACL: inherited, and the umask ignored"
  mkdir inherit
  setfacl -m d:u:1234:rwx,d:g::rx,d:o::- inherit
  (
    umask 077
    touch inherit/f
    mkdir inherit/sub
    mkdir inherit/sub/deeper
    mknod inherit/fifo p
    ln -s target inherit/link
  )
  getfacl -n inherit inherit/f inherit/sub inherit/sub/deeper inherit/fifo
  stat -c '%A %n' inherit/f inherit/sub inherit/fifo
  echo "-- without a default ACL the umask applies"
  (
    umask 027
    touch nodefault
    mkdir nodefault.d
  )
  stat -c '%A %n' nodefault nodefault.d
  echo "-- removing ACLs"
  setfacl -b shared/file
  getfacl -n shared/file
  setfacl -k inherit
  getfacl -n inherit
  (
    umask 077
    touch inherit/after
  )
  getfacl -n inherit/after
  echo "-- a default ACL on a file"
  setfacl -m d:u::rwx plain 2>&1 | sed 's/^setfacl: //'
  setfattr -n system.posix_acl_default -v 0x02000000 plain 2>&1 | sed 's/^.*plain: //' || true
}

(cd "$REF" && steps) >"$TMP/ref.out" 2>&1 || true
(cd "$MNT" && steps) >"$TMP/dfs.out" 2>&1 || true
if diff -u "$TMP/ref.out" "$TMP/dfs.out"; then
  pass "ACL behaviour matches tmpfs ($(wc -l <"$TMP/ref.out") lines of output)"
else
  fail "ACL behaviour differs from tmpfs (diff above: - tmpfs, + dynamicfs)"
fi
grep -q "user:1234:r--" "$TMP/dfs.out" || fail "the script did not exercise named entries"
grep -c '^ok$' "$TMP/dfs.out" | grep -qv '^0$' || fail "no access was granted at all"
grep -c '^denied$' "$TMP/dfs.out" | grep -qv '^0$' || fail "no access was denied at all"
grep -A1 -- '-- named group entry' "$TMP/dfs.out" | grep -q '^ok$' ||
  fail "the named group entry did not grant write"

# Persistence: the same listings after a remount.
list_all() { (cd "$1" && getfacl -R -n . 2>&1 && find . -printf '%M %p\n' | sort); }
list_all "$MNT" >"$TMP/before.out"
"$BIN" umount "$MNT" || fail "umount failed"
"$BIN" mount --volume "$TMP/vol" "$MNT" || die "remount failed"
list_all "$MNT" >"$TMP/after.out"
diff -u "$TMP/before.out" "$TMP/after.out" && pass "ACLs and modes survive a remount" ||
  fail "ACLs or modes changed across a remount"
"$BIN" umount "$MNT" || fail "final umount failed"

if [[ $FAILURES -ne 0 ]]; then
  echo "FAIL: $FAILURES check(s) failed" >&2
  exit 1
fi
echo "PASS"
