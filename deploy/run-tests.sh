#!/usr/bin/env bash
# Installs dependencies, builds dynamicfs with its tests, and runs the whole
# suite with CTest: unit tests per layer, FUSE integration tests that mount
# real volumes under temp directories, the benchmark smoke test, and then the
# unit and stress tests again under AddressSanitizer+UBSan and
# ThreadSanitizer builds.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${DYNAMICFS_BUILD_DIR:-$repo/build}"
# ccache keys on paths relative to the checkout, so a fresh clone elsewhere
# reuses what an earlier build compiled.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$repo}"
# Warnings fail the build only where asked (CI and developers set
# DYNAMICFS_WERROR=ON); a user's build of any checkout must not.
werror="-DDYNAMICFS_WERROR=${DYNAMICFS_WERROR:-OFF}"

"$repo/deploy/install-deps.sh"
if [ ! -e /dev/fuse ]; then
  modprobe fuse 2>/dev/null || true
fi

# -g1 (line tables, no variables): enough for a failing test's backtrace,
# and it compiles a heavy file about a fifth faster than -g and links the
# ~45 test programs with a fifth of the debug info (CI's time budget).
cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=ON "$werror" \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG"
cmake --build "$build"
(cd "$build" && ctest --output-on-failure --timeout 1500 -j2)

# libFuzzer (clang) over the superblock, key and record decoders, briefly,
# from the checked-in seed corpus.
fbuild="$build-fuzz"
echo "=== fuzz build: decoders (${DYNAMICFS_FUZZ_SECONDS:-30} s)"
cmake -S "$repo" -B "$fbuild" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF \
  -DDYNAMICFS_FUZZ=ON "$werror" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DDFS_FUZZ_SECONDS="${DYNAMICFS_FUZZ_SECONDS:-30}"
cmake --build "$fbuild" --target fuzz_decode
(cd "$fbuild" && ctest --output-on-failure -L fuzz)

if [ "${DYNAMICFS_SKIP_SANITIZERS:-0}" != "1" ]; then
  for san in address thread; do
    sbuild="$build-$san"
    echo "=== $san sanitizer build: unit and stress tests"
    # A unity build of the libraries halves these builds' compile time (the
    # heavy headers are parsed once per batch); the build above stays a
    # plain one, as users build it, so a missing include still shows there.
    cmake -S "$repo" -B "$sbuild" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=ON \
      -DDYNAMICFS_SANITIZE="$san" "$werror" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" \
      -DCMAKE_UNITY_BUILD=ON
    cmake --build "$sbuild" --target sanitizer_tests
    (cd "$sbuild" && STRESS_OPS=600 ctest --output-on-failure --timeout 1500 -j2 -L "unit|stress")
  done
fi
