#!/usr/bin/env bash
# Quick start: install dependencies, build dynamicfs (Release), create the
# default volume (two sparse 8 GiB file disks under /var/lib/dynamicfs/vol0)
# if it does not exist yet, mount it (default /mnt) and show its status.
# Safe to re-run: an existing volume is reused, a live mount is left alone.
set -euo pipefail

mountpoint="${1:-/mnt}"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
volume="${DYNAMICFS_VOLUME:-/var/lib/dynamicfs/vol0}"
build="$repo/build-release"
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$repo}"  # reuse compiled objects across checkouts

"$repo/deploy/install-deps.sh"
cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF
cmake --build "$build"
bin="$build/src/cli/dynamicfs"
install -m 0755 "$bin" /usr/local/sbin/dynamicfs

# FUSE needs the kernel module and its device node.
if [ ! -e /dev/fuse ]; then
  modprobe fuse 2>/dev/null || true
fi
if [ ! -e /dev/fuse ]; then
  echo "quickstart: /dev/fuse is missing; load the fuse kernel module (modprobe fuse)" >&2
  exit 1
fi

if [ ! -f "$volume/volume.toml" ]; then
  mkdir -p "$volume"
  dynamicfs mkfs --volume "$volume" --disk "$volume/disk0.img" --disk "$volume/disk1.img" --size 8G
fi

mkdir -p "$mountpoint"
if grep -qs " $(realpath "$mountpoint") fuse.dynamicfs " /proc/self/mounts; then
  echo "quickstart: $mountpoint is already mounted"
else
  dynamicfs mount --volume "$volume" "$mountpoint"
fi
dynamicfs status "$mountpoint"
