#!/usr/bin/env bash
# Real-program smoke test for dynamicfs.
#
# Why it exists: syscall-level tests cannot anticipate every access pattern
# of real tools. tar (many small files, utimes, symlinks, hard links), git
# (lock files, renames, fsync, mmap'ed pack files), cp -a (ownership,
# modes, nanosecond timestamps, xattrs, sparse files), rsync -aHAX (hard
# links, ACLs, xattrs) and make (mtime ordering) are what users
# actually run on the mount, so they must work and their results must be
# bit-identical to the host filesystem, also after an unmount/remount.
#
# Usage: real_programs.sh /path/to/dynamicfs
# Env:   REAL_PROGRAMS_SRC       tree to tar (default /usr/include)
#        REAL_PROGRAMS_SMALL_SRC tree for git / cp -a (default
#                                /usr/include/linux, else REAL_PROGRAMS_SRC)
#        REAL_PROGRAMS_DISK_SIZE size of each of the two disks (default 2G)
# Exit:  0 pass, 1 failure, 77 skipped (not root / no /dev/fuse).
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
dfs_require_bin "$@"
dfs_require_root_fuse
BIN=$(realpath "$BIN")

SRC=$(readlink -f "${REAL_PROGRAMS_SRC:-/usr/include}")
SMALL_SRC=${REAL_PROGRAMS_SMALL_SRC:-/usr/include/linux}
[[ -d "$SMALL_SRC" ]] || SMALL_SRC=$SRC
SMALL_SRC=$(readlink -f "$SMALL_SRC")
NAME=$(basename "$SRC")
DISK_SIZE=${REAL_PROGRAMS_DISK_SIZE:-2G}

TMP=$(mktemp -d /tmp/dynamicfs-test-XXXXXX)
VOL=$TMP/volume
MNT=$TMP/mnt
mkdir "$MNT"

cleanup() {
  local rc=$?
  set +e
  cd /
  if mountpoint -q "$MNT"; then
    timeout 60 "$BIN" umount "$MNT" ||
      umount -l "$MNT" || fusermount3 -u -z "$MNT"
  fi
  if grep -qF " $TMP/" /proc/self/mountinfo; then
    echo "WARNING: something is still mounted under $TMP; not removing it" >&2
  else
    rm -rf "$TMP"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' INT TERM HUP   # make signals run the EXIT trap too

START=$SECONDS
step() { echo "--- [$((SECONDS - START))s] $*"; }
fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# Metadata listing that must be identical between two trees: type, mode,
# owner, size (not for directories, whose size is filesystem specific),
# link count, mtime with nanoseconds, path and symlink target.
listing() {
  (cd "$1" && find . \
    \( -type d -printf '%y %m %U:%G - %n %T@ %p\n' \) -o \
    \( -printf '%y %m %U:%G %s %n %T@ %p -> %l\n' \) | LC_ALL=C sort)
}

# user.* xattrs of every file and directory, in a deterministic order.
xattr_listing() {
  (cd "$1" && find . \( -type f -o -type d \) -print0 | LC_ALL=C sort -z |
    xargs -0 getfattr -h -d -m '^user\.' --)
}

same_tree() {  # same_tree A B what
  diff -r --no-dereference "$1" "$2" >"$TMP/diff.out" 2>&1 ||
    { head -20 "$TMP/diff.out" >&2; fail "$3: contents differ"; }
  diff <(listing "$1") <(listing "$2") >"$TMP/diff.out" ||
    { head -20 "$TMP/diff.out" >&2; fail "$3: metadata differs"; }
}

daemon_pid() { cat "$VOL/daemon.pid"; }

wait_gone() {  # bounded wait for a pid to exit (zombies count as gone)
  local pid=$1 i
  for ((i = 0; i < 200; i++)); do
    local state
    state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)
    [[ -z "$state" || "$state" == Z ]] && return 0
    sleep 0.1
  done
  return 1
}

do_umount() {
  local pid
  pid=$(daemon_pid)
  "$BIN" umount "$MNT" || fail "dynamicfs umount exited non-zero"
  ! mountpoint -q "$MNT" || fail "still mounted after dynamicfs umount"
  wait_gone "$pid" || fail "daemon $pid still running after umount"
}

do_mount() {
  "$BIN" mount --volume "$VOL" "$MNT" || fail "dynamicfs mount exited non-zero"
  mountpoint -q "$MNT" || fail "dynamicfs mount returned 0 but nothing is mounted"
}

step "mkfs + mount ($DISK_SIZE x 2) in $TMP"
"$BIN" mkfs --volume "$VOL" --disk "$TMP/disk0.img" --disk "$TMP/disk1.img" \
  --size "$DISK_SIZE" || fail "mkfs exited non-zero"
do_mount
status_out=$("$BIN" status "$MNT") || fail "status exited non-zero"
[[ -n "$status_out" ]] || fail "status printed nothing"
echo "$status_out"

# ---------------------------------------------------------------- tar
step "tar x of $SRC"
tar -C "$(dirname "$SRC")" -cf "$TMP/src.tar" "$NAME"
mkdir "$TMP/ref" "$MNT/tarx"
tar -C "$TMP/ref" -xf "$TMP/src.tar"
tar -C "$MNT/tarx" -xf "$TMP/src.tar" || fail "tar x onto the mount failed"
step "diff tar extraction"
diff -r --no-dereference "$SRC" "$MNT/tarx/$NAME" \
  >"$TMP/diff.out" 2>&1 ||
  { head -20 "$TMP/diff.out" >&2; fail "tar extraction differs from $SRC"; }
# Same tarball extracted on the host: metadata must match exactly.
same_tree "$TMP/ref/$NAME" "$MNT/tarx/$NAME" "tar extraction vs host extraction"

# ---------------------------------------------------------------- git
step "git on the mount"
export HOME=$TMP/home GIT_CONFIG_NOSYSTEM=1
mkdir -p "$HOME"
git config --global safe.directory '*'
git config --global init.defaultBranch main
REPO=$MNT/repo
mkdir "$REPO"
(
  cd "$REPO"
  git init -q
  git config user.name "dynamicfs test"
  git config user.email "dynamicfs-test@example.invalid"
  cp -r "$SMALL_SRC" tree
  git add -A
  git commit -q -m "initial import"
  # Second commit: modifications, deletions and renames.
  find tree -type f | LC_ALL=C sort | head -50 |
    while read -r f; do echo "// changed" >>"$f"; done
  find tree -type f | LC_ALL=C sort | tail -10 | xargs git rm -q
  find tree -type f | LC_ALL=C sort | sed -n '100,104p' |
    while read -r f; do git mv "$f" "$f.renamed"; done
  git add -A
  git commit -q -m "modify, delete, rename"
  git gc -q --aggressive
  git fsck --full --strict
  [[ -z "$(git status --porcelain)" ]] || fail "git status not clean"
  [[ "$(git rev-list --count HEAD)" == 2 ]] || fail "expected 2 commits"
) || fail "git workflow on the mount failed"
# A clone onto the mount (pack files written, mmap'ed and verified there) and
# one off it.
git clone -q --no-local "$REPO" "$MNT/clone" || fail "git clone onto the mount failed"
(cd "$MNT/clone" && git fsck --full --strict) || fail "git fsck of the clone on the mount failed"
git clone -q "$REPO" "$TMP/clone" || fail "git clone from the mount failed"
for clone in "$MNT/clone" "$TMP/clone"; do
  diff -r --exclude=.git "$clone" "$REPO" >"$TMP/diff.out" 2>&1 ||
    { head -20 "$TMP/diff.out" >&2; fail "clone $clone differs from work tree"; }
done

# ---------------------------------------------------------------- cp -a
step "cp -a round trip"
CPSRC=$TMP/cpsrc
cp -a "$SMALL_SRC" "$CPSRC"
# Give the source tree varied metadata that cp -a must carry through.
mkdir -p "$CPSRC/owned/sub" "$CPSRC/sticky" "$CPSRC/setgid" "$CPSRC/empty_dir"
echo "owned" >"$CPSRC/owned/file"
echo "private" >"$CPSRC/owned/sub/private"
chown -R 1234:5678 "$CPSRC/owned"
chown 4321:8765 "$CPSRC/owned/sub/private"
chmod 0600 "$CPSRC/owned/sub/private"
chmod 0000 "$CPSRC/owned/file"
chmod 1777 "$CPSRC/sticky"
chmod 2775 "$CPSRC/setgid"
chmod 0750 "$CPSRC/owned/sub"
: >"$CPSRC/empty_file"
printf 'x' >"$CPSRC/exec" && chmod 0755 "$CPSRC/exec"
ln -s ../empty_file "$CPSRC/owned/rel_link"
ln -s /nonexistent/dangling "$CPSRC/dangling_link"
ln -s "$(printf 'L%.0s' {1..300})" "$CPSRC/long_target_link"
ln "$CPSRC/exec" "$CPSRC/exec_hardlink"
truncate -s 50M "$CPSRC/sparse"
printf 'in the middle' | dd of="$CPSRC/sparse" bs=1 seek=$((10 * 1024 * 1024)) \
  conv=notrunc status=none
setfattr -n user.comment -v "hello xattr" "$CPSRC/exec"
setfattr -n user.binary -v 0x00ff00ff "$CPSRC/owned/sub"
# rsync leaves a directory's or symlink's mtime alone when it already has the
# source's second, so entries made just now could look copied while their
# nanoseconds differ. Give everything made here a time well in the past.
past_times() {  # past_times DIR: entries changed in the last hour get a fixed old time
  find "$1" -newermt '-1 hour' -exec touch -h -d '2020-06-07 08:09:10.111222333' {} +
}
past_times "$CPSRC"
touch -h -d '2001-02-03 04:05:06.123456789' "$CPSRC/owned/rel_link"
touch -d '1999-12-31 23:59:59.987654321' "$CPSRC/empty_file" "$CPSRC/sticky"

cp -a "$CPSRC" "$MNT/cpa" || fail "cp -a to the mount failed"
cp -a "$MNT/cpa" "$TMP/back" || fail "cp -a from the mount failed"
same_tree "$CPSRC" "$MNT/cpa" "cp -a onto the mount"
same_tree "$CPSRC" "$TMP/back" "cp -a round trip"
diff <(xattr_listing "$CPSRC") <(xattr_listing "$MNT/cpa") ||
  fail "xattrs not preserved by cp -a onto the mount"
diff <(xattr_listing "$CPSRC") <(xattr_listing "$TMP/back") ||
  fail "xattrs not preserved by the cp -a round trip"
[[ "$(stat -c %i "$MNT/cpa/exec")" == "$(stat -c %i "$MNT/cpa/exec_hardlink")" ]] ||
  fail "hard link not preserved on the mount"

# ---------------------------------------------------- rsync -aHAX round trip
step "rsync -aHAX round trip"
# A copy of the cp -a tree plus ACLs (access and default) and a second hard
# link.
RSRC=$TMP/rsrc
cp -a "$CPSRC" "$RSRC"
setfacl -m u:1234:r,g:5678:rw "$RSRC/exec"
setfacl -m d:u:1234:rwx,u:4321:rx "$RSRC/owned/sub"
ln "$RSRC/exec" "$RSRC/owned/exec_link2"
past_times "$RSRC"
acl_listing() {
  (cd "$1" && find . -print0 | LC_ALL=C sort -z | xargs -0 getfacl -P -n -- 2>/dev/null)
}
rsync -aHAX "$RSRC/" "$MNT/rsync/" || fail "rsync -aHAX to the mount failed"
rsync -aHAX "$MNT/rsync/" "$TMP/rsync-back/" || fail "rsync -aHAX from the mount failed"
for tree in "$MNT/rsync" "$TMP/rsync-back"; do
  same_tree "$RSRC" "$tree" "rsync -aHAX to $tree"
  diff <(xattr_listing "$RSRC") <(xattr_listing "$tree") || fail "rsync: xattrs differ in $tree"
  diff <(acl_listing "$RSRC") <(acl_listing "$tree") || fail "rsync: ACLs differ in $tree"
done
[[ "$(stat -c %h "$MNT/rsync/exec")" == 3 ]] || fail "rsync -H: hard links not kept on the mount"
# Another run finds nothing at all to change: sizes, modes, owners, ACLs,
# xattrs and mtimes (directories too) are kept exactly.
changed=$(rsync -aHAXi "$RSRC/" "$MNT/rsync/" | grep -c . || true)
[[ "$changed" == 0 ]] || fail "rsync -aHAX transferred $changed items again"

# ---------------------------------------------------------- make a C project
step "make on the mount"
PROJ=$MNT/cproj
mkdir -p "$PROJ/src"
for i in 1 2 3 4 5 6; do
  printf 'int part%d(int x) { return x * %d + 1; }\n' "$i" "$i" >"$PROJ/src/part$i.c"
done
{
  echo '#include <stdio.h>'
  for i in 1 2 3 4 5 6; do echo "int part$i(int x);"; done
  echo 'int main(void) { int t = 0;'
  for i in 1 2 3 4 5 6; do echo "  t += part$i($i);"; done
  echo '  printf("%d\n", t); return 0; }'
} >"$PROJ/src/main.c"
cat >"$PROJ/Makefile" <<'MK'
OBJS := $(patsubst src/%.c,build/%.o,$(wildcard src/*.c))
app: $(OBJS)
	$(CC) -o $@ $^
build/%.o: src/%.c | build
	$(CC) -O1 -c -o $@ $<
build:
	mkdir -p build
MK
make -s -C "$PROJ" -j2 >/dev/null || fail "make failed on the mount"
[[ "$("$PROJ/app")" == 97 ]] || fail "the program built on the mount printed the wrong result"
# make trusts mtimes: nothing to do now, one object after touching a source.
make -q -C "$PROJ" || fail "make wants to rebuild an up-to-date tree"
touch "$PROJ/src/part3.c"
rebuilt=$(make --no-print-directory -C "$PROJ" -n | grep -c -- '-c -o' || true)
[[ "$rebuilt" == 1 ]] || fail "after touching one source make would rebuild $rebuilt objects"
make -s -C "$PROJ" >/dev/null || fail "incremental make failed"

# ---------------------------------------------------------------- remount
step "umount + remount"
sync
do_umount
do_mount
step "verify after remount"
diff -r --no-dereference "$SRC" "$MNT/tarx/$NAME" \
  >"$TMP/diff.out" 2>&1 ||
  { head -20 "$TMP/diff.out" >&2; fail "tar extraction differs after remount"; }
same_tree "$TMP/ref/$NAME" "$MNT/tarx/$NAME" "tar extraction after remount"
same_tree "$CPSRC" "$MNT/cpa" "cp -a copy after remount"
diff <(xattr_listing "$CPSRC") <(xattr_listing "$MNT/cpa") ||
  fail "xattrs lost by remount"
same_tree "$RSRC" "$MNT/rsync" "rsync -aHAX copy after remount"
diff <(acl_listing "$RSRC") <(acl_listing "$MNT/rsync") || fail "ACLs lost by remount"
[[ "$("$PROJ/app")" == 97 ]] || fail "the built program does not run after remount"
(cd "$REPO" && git fsck --full --strict &&
  [[ -z "$(git status --porcelain)" ]]) || fail "git repo broken after remount"

step "final umount"
do_umount
echo "PASS: real programs ($((SECONDS - START))s)"
