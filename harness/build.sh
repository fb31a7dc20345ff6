#!/usr/bin/env bash
# Configures (once) and builds into ./build; then the two servers again,
# with AddressSanitizer and UndefinedBehaviorSanitizer, into ./build-asan,
# for the e2e suite's sanitizer run (harness/run_tests.sh, suite e2e-asan).
# BAREMAIL_ASAN=0 skips the sanitizer build.
set -euo pipefail
cd "$(dirname "$0")/.."
# BAREMAIL_MESON_OPTIONS: e.g. "-Dtests=enabled -Ddpdk=enabled" (CI), so a
# missing gtest or libdpdk fails the build instead of dropping suites.
fresh=0
if [ ! -f build/build.ninja ]; then
    fresh=1
    # shellcheck disable=SC2086
    meson setup build ${BAREMAIL_MESON_OPTIONS:-} >/dev/null
fi
ninja -C build

[ "${BAREMAIL_ASAN:-1}" = 0 ] && exit 0
# A fresh ./build gets a fresh ./build-asan: same sources, same options.
[ "$fresh" = 1 ] && rm -rf build-asan
started=$SECONDS
if [ ! -f build-asan/build.ninja ]; then
    # b_lundef=false: meson's -Wl,--no-undefined does not go with the
    # sanitizers' runtime symbols. DPDK stays uninstrumented (the system's
    # libdpdk), and its memory (mbufs, rings: --no-huge, anonymous mmap) is
    # not ASan's heap, so an overrun inside an mbuf goes unseen; everything
    # the C++ heap and the stacks hold is checked.
    # shellcheck disable=SC2086
    meson setup build-asan ${BAREMAIL_MESON_OPTIONS:-} -Db_sanitize=address,undefined -Db_lundef=false \
        >/dev/null
fi
# Only the servers: every tool the e2e suite runs comes from ./build.
ninja -C build-asan baremail baremail-kernel
echo "build.sh: sanitizer build of the servers (build-asan): $((SECONDS - started)) s"
