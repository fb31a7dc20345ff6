#!/usr/bin/env bash
# Runs every test: the GoogleTest suites (through meson) and the end-to-end
# suite (pytest, real clients against the servers). Ends with one line
# "N passed, M failed" and exits non-zero if anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."
results=build/test-results
rm -rf "$results" && mkdir -p "$results"

# meson runs each GoogleTest binary with --gtest_output=xml:build/<suite>.xml
rm -f build/*.xml
meson test -C build --print-errorlogs
unit_rc=$?
cp build/*.xml "$results/" 2>/dev/null

/usr/bin/python3 -m pytest harness/e2e -q -s -p no:cacheprovider --junitxml="$results/e2e.xml"
e2e_rc=$?

/usr/bin/python3 harness/summarize_results.py "$results"
summary_rc=$?
[ $unit_rc -eq 0 ] && [ $e2e_rc -eq 0 ] && [ $summary_rc -eq 0 ]
