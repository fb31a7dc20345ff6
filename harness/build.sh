#!/usr/bin/env bash
# Configures (once) and builds into ./build.
set -euo pipefail
cd "$(dirname "$0")/.."
# BAREMAIL_MESON_OPTIONS: e.g. "-Dtests=enabled -Ddpdk=enabled" (CI), so a
# missing gtest or libdpdk fails the build instead of dropping suites.
# shellcheck disable=SC2086
[ -f build/build.ninja ] || meson setup build ${BAREMAIL_MESON_OPTIONS:-} >/dev/null
ninja -C build
