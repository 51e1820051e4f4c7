#!/usr/bin/env bash
# Installs dependencies, builds dynamicfs with its tests, and runs the whole
# suite with CTest: unit tests per layer and FUSE integration tests that
# mount real volumes under temp directories.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${DYNAMICFS_BUILD_DIR:-$repo/build}"

"$repo/deploy/install-deps.sh"
if [ ! -e /dev/fuse ]; then
  modprobe fuse 2>/dev/null || true
fi
cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=ON
cmake --build "$build"
cd "$build"
ctest --output-on-failure --timeout 1200 -j2
