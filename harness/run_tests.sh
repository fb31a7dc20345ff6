#!/usr/bin/env bash
# Runs every test: the GoogleTest suites (through meson), the Scapy wire
# suite of the DPDK build (harness/scapy) and the end-to-end
# suite (pytest, real clients against both builds: baremail-kernel on
# loopback, baremail on TAP ports), the latter inside a network namespace of
# its own (harness/e2e/run_in_netns.sh, which deletes it afterwards, also
# when interrupted), then once more with the servers built with ASan and
# UBSan (build-asan, suite e2e-asan; BAREMAIL_ASAN=0 leaves it out, as it
# does in harness/build.sh). Ends with one line "N passed, M failed" and exits
# non-zero if anything failed. Needs root (namespace, TAP ports).
set -uo pipefail
cd "$(dirname "$0")/.."
# Every program the suites call must be installed: one line naming what is
# missing (and its package) now, rather than a traceback mid-suite.
/usr/bin/python3 harness/preflight.py || exit 1

results=build/test-results
rm -rf "$results" && mkdir -p "$results"

# Every suite that must leave results: the GoogleTest binaries meson knows,
# the e2e and the Scapy suites. One that leaves none counts as failed.
# Both builds always: an inherited BAREMAIL_BUILDS cannot drop the DPDK runs
# (BAREMAIL_TEST_BUILDS=kernel is the explicit way to run one build).
builds="${BAREMAIL_TEST_BUILDS:-kernel,dpdk}"
[ "${BAREMAIL_BUILDS:-$builds}" != "$builds" ] && echo "run_tests: ignoring inherited BAREMAIL_BUILDS=$BAREMAIL_BUILDS (e2e builds: $builds)"
expected="$(meson test -C build --list 2>/dev/null | grep -v '^ninja' | paste -sd, -),e2e,scapy,compare,fuzz"
asan="${BAREMAIL_ASAN:-1}"
if [ "$asan" = 0 ]; then
    echo "run_tests: BAREMAIL_ASAN=0: no sanitizer run of the e2e suite"
else
    expected="$expected,e2e-asan"
fi

# meson runs each GoogleTest binary with --gtest_output=xml:build/<suite>.xml
rm -f build/*.xml
meson test -C build --print-errorlogs
unit_rc=$?
cp build/*.xml "$results/" 2>/dev/null

# In the background so that SIGTERM/SIGINT reach the e2e runner, which then
# stops pytest and removes its namespace before we exit.
e2e_pid=""
stop_e2e() {
    [ -n "$e2e_pid" ] && kill -TERM "$e2e_pid" 2>/dev/null && wait "$e2e_pid" 2>/dev/null
    exit "$1"
}
# run_e2e SUITE [VAR=value...]: the e2e suite with those variables set,
# its results in $results/SUITE.xml.
run_e2e() {
    local suite=$1 rc
    shift
    env "$@" BAREMAIL_BUILDS="$builds" harness/e2e/run_in_netns.sh -q -s -p no:cacheprovider \
        -o junit_suite_name="$suite" --junitxml="$PWD/$results/$suite.xml" &
    e2e_pid=$!
    wait "$e2e_pid"
    rc=$?
    e2e_pid=""
    return $rc
}
trap 'stop_e2e 130' INT
trap 'stop_e2e 143' TERM
run_e2e e2e
e2e_rc=$?
# The sanitizer run: only the two servers come from build-asan, every tool
# from build. A report of either sanitizer fails the test during which it
# appeared (harness/testing/sanitizers.py); the reports stay in
# $results/sanitizer-reports.
asan_rc=0
if [ "$asan" != 0 ]; then
    started=$SECONDS
    run_e2e e2e-asan BAREMAIL_SERVER_BUILD_DIR="$PWD/build-asan" \
        BAREMAIL_SANITIZER_REPORTS="$PWD/$results/sanitizer-reports"
    asan_rc=$?
    echo "run_tests: e2e-asan took $((SECONDS - started)) s"
fi
trap - INT TERM

# Wire-level tests of the DPDK build (Scapy); the suite makes and removes
# its own namespace.
/usr/bin/python3 -m pytest harness/scapy -q -s -p no:cacheprovider --junitxml="$PWD/$results/scapy.xml"
scapy_rc=$?

# The comparison tool, short: every setup it can run (the figures of a CI
# machine mean little; that it measures every setup without errors is the test).
harness/compare --quick --out build/compare-quick --junit "$PWD/$results/compare.xml"
compare_rc=$?

# The libFuzzer targets (ASan + UBSan): every seed corpus replayed, then
# each target fuzzed for a bounded time.
harness/fuzz/run.sh --seconds "${BAREMAIL_FUZZ_SECONDS:-30}" --junit "$PWD/$results/fuzz.xml"
fuzz_rc=$?

/usr/bin/python3 harness/summarize_results.py "$results" --expect "$expected"
summary_rc=$?
[ $unit_rc -eq 0 ] && [ $e2e_rc -eq 0 ] && [ $asan_rc -eq 0 ] && [ $scapy_rc -eq 0 ] && [ $compare_rc -eq 0 ] && [ $fuzz_rc -eq 0 ] && [ $summary_rc -eq 0 ]
