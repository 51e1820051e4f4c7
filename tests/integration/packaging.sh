#!/usr/bin/env bash
# pass/fail always succeed, so `A && pass ... || fail ...` is an if-else here.
# shellcheck disable=SC2015
# The Debian package and the operating-system integration, used the way an
# operator uses them (docs/operations.md):
#   - `cpack -G DEB` in the build directory makes the package, and
#     `apt-get install ./dynamicfs_*.deb` installs it with its dependencies;
#     it holds the binary, the mount helpers, the systemd units, the man
#     pages, bash completion and the documentation;
#   - `man -l` renders each man page without a warning;
#   - `systemd-analyze verify` accepts the units (systemd is not PID 1 here);
#   - with the installed binary: `mount -t dynamicfs` and `mount -t
#     fuse.dynamicfs` mount a volume, an fstab line mounts it with `mount
#     DIR`; data written is read back; `umount` flushes, the daemon exits 0
#     (its log says so), and the data is there at the next mount;
#   - `-o snapshot=NAME` through mount(8) mounts a snapshot read-only;
#   - /etc/dynamicfs/NAME.toml settings apply, and -o overrides them;
#   - `dynamicfs service NAME` (what dynamicfs@NAME.service runs) sends
#     READY=1 to $NOTIFY_SOCKET once mounted, and on SIGTERM unmounts and
#     exits 0.
# The package is removed again at the end (unless it was installed before),
# and /etc/fstab is restored however the test ends.
#
# Usage: packaging.sh BUILD_DIR
# Exit:  0 pass, 1 failure, 77 skipped (not root / no FUSE).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BUILD=$(realpath "${1:?usage: packaging.sh BUILD_DIR}")
BIN=$BUILD/src/cli/dynamicfs  # for lib.sh's unmount helper until the package is in
dfs_require_root_fuse
dfs_require_tools cpack apt-get dpkg dpkg-deb man systemd-analyze python3 findmnt mount umount

dfs_make_tmp
FSTAB_SAVED=""
WAS_INSTALLED=0
dpkg -s dynamicfs >/dev/null 2>&1 && WAS_INSTALLED=1
dfs_extra_cleanup() {
  if [[ -n "$FSTAB_SAVED" ]]; then
    if [[ "$FSTAB_SAVED" == none ]]; then rm -f /etc/fstab; else cp "$FSTAB_SAVED" /etc/fstab; fi
  fi
  dfs_unmount_under "$TMP"
  if [[ $WAS_INSTALLED == 0 ]] && dpkg -s dynamicfs >/dev/null 2>&1; then
    dpkg --purge dynamicfs >/dev/null 2>&1 || echo "WARNING: could not remove the package" >&2
  fi
}

# ------------------------------------------------------------- the package
(cd "$BUILD" && cpack -G DEB -B "$TMP/pkg") >"$TMP/cpack.out" 2>&1 ||
  die "cpack -G DEB failed: $(tail -5 "$TMP/cpack.out")"
DEB=$(ls "$TMP"/pkg/dynamicfs_*.deb)
pass "cpack built $(basename "$DEB")"
dpkg-deb -f "$DEB" Depends | grep -q "fuse3" && dpkg-deb -f "$DEB" Depends | grep -q "librocksdb" &&
  pass "Depends: $(dpkg-deb -f "$DEB" Depends | cut -c1-100)..." ||
  fail "the package's Depends misses fuse3 or RocksDB: $(dpkg-deb -f "$DEB" Depends)"
(cd "$TMP/pkg" && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --reinstall "./$(basename "$DEB")") \
  >"$TMP/apt.out" 2>&1 || die "apt-get install ./$(basename "$DEB") failed: $(tail -5 "$TMP/apt.out")"
pass "apt-get install ./$(basename "$DEB")"
# What the package holds (man pages and docs are checked in the package:
# minimal images tell dpkg not to install /usr/share/{man,doc}).
dpkg-deb -c "$DEB" | awk '{print $6}' | sed 's|^\.||' >"$TMP/contents"
for f in /usr/sbin/dynamicfs /usr/sbin/mount.dynamicfs /usr/sbin/mount.fuse.dynamicfs \
  /usr/sbin/umount.dynamicfs /usr/sbin/umount.fuse.dynamicfs \
  /usr/lib/systemd/system/dynamicfs@.service /usr/lib/systemd/system/dynamicfs-seed@.service \
  /usr/lib/systemd/system/dynamicfs-follow@.service /usr/lib/systemd/system/dynamicfs-publish@.service \
  /usr/share/man/man8/dynamicfs.8 /usr/share/man/man8/mount.dynamicfs.8 \
  /usr/share/man/man8/umount.dynamicfs.8 /usr/share/bash-completion/completions/dynamicfs \
  /usr/share/doc/dynamicfs/operations.md /usr/share/doc/dynamicfs/examples/vol0.toml; do
  grep -qxF "$f" "$TMP/contents" || fail "the package lacks $f"
done
for f in /usr/sbin/dynamicfs /usr/sbin/mount.dynamicfs /usr/sbin/umount.fuse.dynamicfs \
  /usr/lib/systemd/system/dynamicfs@.service /usr/share/bash-completion/completions/dynamicfs; do
  [[ -e "$f" ]] || fail "apt-get install did not install $f"
done
dpkg-deb -x "$DEB" "$TMP/root"
[[ -d /var/lib/dynamicfs && -d /etc/dynamicfs ]] || fail "postinst made no /var/lib/dynamicfs, /etc/dynamicfs"
BIN=/usr/sbin/dynamicfs
"$BIN" --version >/dev/null || die "the installed dynamicfs does not run"
bash -c 'source /usr/share/bash-completion/completions/dynamicfs 2>/dev/null; complete -p dynamicfs' \
  >/dev/null 2>&1 && pass "bash completion registers dynamicfs" || fail "bash completion does not load"

# -------------------------------------------------------------- man pages
for page in dynamicfs mount.dynamicfs umount.dynamicfs; do
  dir=$TMP/root/usr/share/man  # `.so` links resolve against it
  warnings=$(cd "$dir" && MANWIDTH=80 man --warnings -l "man8/$page.8" 2>&1 >/dev/null || true)
  lines=$(cd "$dir" && MANWIDTH=80 man -l "man8/$page.8" 2>/dev/null | wc -l)
  if [[ -z "$warnings" && "$lines" -gt 20 ]]; then
    pass "man -l $page.8 renders $lines lines, no warnings"
  else
    fail "man -l $page.8: $lines lines; warnings: $warnings"
  fi
done

# ------------------------------------------------------------ systemd units
mkdir "$TMP/units"
cp /usr/lib/systemd/system/dynamicfs@.service "$TMP/units/dynamicfs@vol0.service"
cp /usr/lib/systemd/system/dynamicfs-seed@.service "$TMP/units/dynamicfs-seed@vol0.service"
cp /usr/lib/systemd/system/dynamicfs-follow@.service "$TMP/units/dynamicfs-follow@lab.service"
cp /usr/lib/systemd/system/dynamicfs-publish@.service "$TMP/units/dynamicfs-publish@lab.service"
cp "$TMP/root/usr/share/doc/dynamicfs/examples/srv-vol0.mount" "$TMP/units/srv-vol0.mount"
for u in dynamicfs@vol0.service dynamicfs-seed@vol0.service dynamicfs-follow@lab.service \
  dynamicfs-publish@lab.service srv-vol0.mount; do
  if (cd "$TMP/units" && SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --man=no "./$u") \
    >"$TMP/verify.out" 2>&1; then
    pass "systemd-analyze verify $u"
  else
    fail "systemd-analyze verify $u: $(head -5 "$TMP/verify.out")"
  fi
done

# --------------------------------------------------------- mount(8) and fstab
VOL=$TMP/vol
"$BIN" mkfs --volume "$VOL" --disk "$TMP/d0.img" --disk "$TMP/d1.img" --size 128M >/dev/null ||
  die "mkfs failed"
daemon_exit_ok() {  # the daemon's last words in the volume's log
  tail -3 "$VOL/log/dynamicfs.log" | grep -q "daemon exiting with status 0"
}
for type in dynamicfs fuse.dynamicfs; do
  mount -t "$type" "$VOL" "$MNT" 2>"$TMP/err" || die "mount -t $type failed: $(cat "$TMP/err")"
  [[ "$(findmnt -n -o FSTYPE "$MNT")" == fuse.dynamicfs ]] && pass "mount -t $type mounted it" ||
    fail "mount -t $type: findmnt says $(findmnt -n -o FSTYPE,SOURCE "$MNT")"
  echo "written through mount -t $type" >"$MNT/$type.txt"
  umount "$MNT" 2>"$TMP/err" || fail "umount after mount -t $type: $(cat "$TMP/err")"
  ! findmnt "$MNT" >/dev/null && daemon_exit_ok && pass "umount: unmounted, the daemon exited 0" ||
    fail "umount after mount -t $type: still mounted or the daemon did not exit 0"
done

FSTAB_SAVED=none
[[ -e /etc/fstab ]] && cp /etc/fstab "$TMP/fstab.orig" && FSTAB_SAVED=$TMP/fstab.orig
FSMNT=$TMP/fstab-mnt
mkdir "$FSMNT"
echo "$VOL $FSMNT dynamicfs defaults,_netdev,noauto,io_workers=3 0 0 # dynamicfs packaging test" \
  >>/etc/fstab
mount "$FSMNT" 2>"$TMP/err" || die "mount $FSMNT (fstab) failed: $(cat "$TMP/err")"
pass "mount $FSMNT from the fstab line"
for type in dynamicfs fuse.dynamicfs; do
  [[ "$(cat "$FSMNT/$type.txt")" == "written through mount -t $type" ]] ||
    fail "$type.txt did not survive the remount"
done
[[ "$(MNT=$FSMNT dfs_status_json "doc['settings']['io_workers']")" == 3 ]] &&
  pass "the fstab option io_workers=3 reached the daemon" || fail "fstab option io_workers=3 lost"
head -c 3M /dev/urandom >"$TMP/big"
cp "$TMP/big" "$FSMNT/big"
umount "$FSMNT" || fail "umount $FSMNT failed"
daemon_exit_ok && pass "umount $FSMNT: the daemon exited 0" || fail "the daemon did not exit 0"
mount "$FSMNT" || die "second mount $FSMNT failed"
cmp -s "$TMP/big" "$FSMNT/big" && pass "the data is there after the next mount" ||
  fail "big differs after the next mount"
# mount(8)'s remount runs the helper, which changes the live mount.
mount -o remount,ro "$FSMNT" 2>"$TMP/err" || fail "mount -o remount,ro: $(cat "$TMP/err")"
! touch "$FSMNT/ro-test" 2>/dev/null && findmnt -no OPTIONS "$FSMNT" | grep -qw ro &&
  pass "mount -o remount,ro: read-only" || fail "mount -o remount,ro left the mount writable"
mount -o remount,rw,noatime "$FSMNT" 2>"$TMP/err" || fail "mount -o remount,rw: $(cat "$TMP/err")"
touch "$FSMNT/rw-test" && [[ "$(MNT=$FSMNT dfs_status_json "doc['settings']['atime']")" == noatime ]] &&
  pass "mount -o remount,rw,noatime: writable, the daemon keeps noatime" ||
  fail "mount -o remount,rw,noatime did not reach the daemon"

# A snapshot through mount(8).
"$BIN" snapshot create "$FSMNT" pkg >/dev/null || fail "snapshot create failed"
mkdir "$TMP/snap"
mount -t dynamicfs -o snapshot=pkg "$VOL" "$TMP/snap" 2>"$TMP/err" ||
  fail "mount -o snapshot=pkg failed: $(cat "$TMP/err")"
cmp -s "$TMP/big" "$TMP/snap/big" && ! touch "$TMP/snap/x" 2>/dev/null &&
  pass "mount -o snapshot=pkg: the snapshot, read-only" || fail "the snapshot mount is wrong"
umount "$TMP/snap" || fail "umount of the snapshot failed"
umount "$FSMNT" || fail "umount $FSMNT failed"

# ------------------------------------------- /etc/dynamicfs/NAME.toml, service
export DYNAMICFS_CONFIG_DIR=$TMP/etc
mkdir "$DYNAMICFS_CONFIG_DIR"
SVCMNT=$TMP/svc/mnt  # created by `service`
cat >"$DYNAMICFS_CONFIG_DIR/vol.toml" <<EOF
volume = "$VOL"
mountpoint = "$SVCMNT"
options = ["sync_interval_ms=700"]
[settings]
io_workers = 5
scrub_rate_mb = 33
EOF
"$BIN" mount --volume "$VOL" -o io_workers=2 "$MNT" || die "mount with a host config failed"
got=$(dfs_status_json "' '.join(str(doc['settings'][k]) for k in ('io_workers', 'scrub_rate_mb', 'sync_interval_ms'))")
[[ "$got" == "2 33 700" ]] && pass "NAME.toml settings and options apply, -o overrides them ($got)" ||
  fail "settings from NAME.toml/-o: got '$got', want '2 33 700'"
"$BIN" umount "$MNT" || fail "umount failed"

python3 - "$TMP/notify.sock" "$TMP/notify.got" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(60)
msgs = []
try:
    while not any("READY=1" in m for m in msgs):
        msgs.append(s.recv(4096).decode())
except socket.timeout:
    pass
open(sys.argv[2], "w").write("\n".join(msgs))
PY
LISTENER=$!
poll_until 10 test -S "$TMP/notify.sock" || die "the notify listener did not start"
NOTIFY_SOCKET=$TMP/notify.sock "$BIN" service vol >"$TMP/service.out" 2>&1 &
SERVICE=$!
wait "$LISTENER" || true
if grep -q "READY=1" "$TMP/notify.got" 2>/dev/null && findmnt "$SVCMNT" >/dev/null; then
  pass "service vol: READY=1 arrived with $SVCMNT mounted ($(grep STATUS "$TMP/notify.got" | head -1))"
else
  fail "service vol: no READY=1 or not mounted: $(cat "$TMP/notify.got" 2>/dev/null) $(tail -3 "$TMP/service.out")"
fi
kill -TERM "$SERVICE"
rc=0
wait "$SERVICE" || rc=$?
[[ $rc == 0 ]] && ! findmnt "$SVCMNT" >/dev/null && daemon_exit_ok &&
  pass "service vol: SIGTERM unmounted it and the daemon exited 0" ||
  fail "service vol after SIGTERM: exit $rc, $(findmnt -n "$SVCMNT" || echo unmounted): $(tail -3 "$TMP/service.out")"
unset DYNAMICFS_CONFIG_DIR

"$BIN" fsck --volume "$VOL" >"$TMP/fsck.out" 2>&1 && pass "fsck is clean" ||
  fail "fsck: $(cat "$TMP/fsck.out")"
if [[ $FAILURES -ne 0 ]]; then
  echo "FAIL: $FAILURES check(s) failed" >&2
  exit 1
fi
echo "PASS"
