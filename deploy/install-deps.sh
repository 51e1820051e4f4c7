#!/usr/bin/env bash
# Installs every build, runtime and test dependency of dynamicfs from Debian.
# Used by both README set-up commands and therefore by CI; safe to re-run.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git
  clang libclang-rt-14-dev
  libfuse3-dev fuse3
  librocksdb-dev
  libtorrent-rasterbar-dev libboost-dev libboost-system-dev libssl-dev
  libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev
  libcli11-dev nlohmann-json3-dev libtoml11-dev
  libisal-dev uuid-dev libblkid-dev libext2fs-dev libmount-dev
  attr acl tar diffutils e2fsprogs python3 procps psmisc util-linux rsync stress-ng
  fio mergerfs python3-matplotlib
  prometheus curl
  python3-libtorrent iproute2 openssl
  dpkg-dev man-db groff-base systemd bash-completion
)

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps.sh: must run as root (apt-get install)" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${packages[@]}"
