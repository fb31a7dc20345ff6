#!/bin/bash
# The fuzz targets (libFuzzer, ASan, UBSan): build them with clang in a
# build dir of their own, replay every seed corpus, then fuzz each target
# for a bounded time. Exits non-zero if anything crashes or breaks an
# invariant; prints executions and coverage per target.
#
#   harness/fuzz/run.sh [--seconds N] [--only "T1 T2"] [--build-only] [--build-dir DIR] [--junit FILE]
#
# --seconds N   fuzzing time per target (default 60; 0: replay the corpora only)
# --junit FILE  also write the outcome as JUnit XML (suite "fuzz", one case per target)
# A crash leaves its input in BUILD_DIR/crashes/TARGET-crash-*; reproduce
# with BUILD_DIR/TARGET FILE. The corpus a run grows stays in
# BUILD_DIR/corpus/TARGET (the seeds in harness/fuzz/corpus are not touched).
#
# Needs clang-14 and libclang-rt-14-dev (libFuzzer and the sanitizer
# runtimes), ninja, and libssl-dev (apps/ uses libcrypto's MD5).
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
seconds=60
only=""
build_only=0
build_dir="$repo/build-fuzz"
junit=""
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) seconds=$2; shift 2 ;;
        --only) only=$2; shift 2 ;;
        --build-only) build_only=1; shift ;;
        --build-dir) build_dir=$2; shift 2 ;;
        --junit) junit=$2; shift 2 ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "run.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
    esac
done
case "$seconds" in ''|*[!0-9]*) echo "run.sh: --seconds needs a whole number" >&2; exit 2 ;; esac

cxx=clang++-14
if ! command -v clang++-14 >/dev/null; then
    echo "run.sh: $cxx not found (Debian packages clang-14 and libclang-rt-14-dev)" >&2
    exit 2
fi

# What each target links, by group. apps/ and tcp/ are taken whole (every
# .cpp outside tests/), so a new source file there needs no change here.
apps_sources=$(cd "$repo" && find apps -name '*.cpp' -not -path '*/tests/*' | sort)
tcp_sources=$(cd "$repo" && ls tcp/*.cpp)
wire_sources="dataplane/dpdk/arp.cpp dataplane/dpdk/ipv4.cpp dataplane/dpdk/udp.cpp dataplane/dpdk/tcp_wire.cpp dataplane/dpdk/icmp.cpp"
log_sources="dataplane/common/event_log.cpp dataplane/common/log_writer.cpp"

declare -A target_sources=(
    [smtp_server]="$apps_sources $log_sources"
    [pop3_server]="$apps_sources $log_sources"
    [smtp_client]="$apps_sources $log_sources"
    [dns]="apps/dns/message.cpp apps/log_escape.cpp $log_sources"
    [wire]="$wire_sources apps/log_escape.cpp $log_sources"
    [tcp_engine]="$apps_sources $tcp_sources $log_sources"
)
all_targets="smtp_server pop3_server smtp_client dns wire tcp_engine"
targets=${only:-$all_targets}
for t in $targets; do
    [ -n "${target_sources[$t]+x}" ] || { echo "run.sh: no target $t (have: $all_targets)" >&2; exit 2; }
done

# ---- build: a ninja file of our own (objects shared between targets)
mkdir -p "$build_dir"
sanitizers="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
{
    echo "cxx = $cxx"
    echo "cflags = -std=c++20 -O1 -g -gline-tables-only -fno-omit-frame-pointer $sanitizers -fsanitize=fuzzer-no-link -I$repo -DBAREMAIL_VERSION=\\\"fuzz\\\" -Wall -Wno-unused-parameter"
    echo "ldflags = $sanitizers -fsanitize=fuzzer"
    echo "rule cxx"
    echo "  command = \$cxx \$cflags -MD -MF \$out.d -c \$in -o \$out"
    echo "  depfile = \$out.d"
    echo "  deps = gcc"
    echo "  description = CXX \$out"
    echo "rule link"
    echo "  command = \$cxx \$ldflags \$in -o \$out -lcrypto -lpthread"
    echo "  description = LINK \$out"
    declare -A seen=()
    for t in $all_targets; do
        for s in ${target_sources[$t]} harness/fuzz/${t}_fuzz.cpp; do
            [ -n "${seen[$s]+x}" ] && continue
            seen[$s]=1
            echo "build obj/${s%.cpp}.o: cxx $repo/$s"
        done
        objs=""
        for s in ${target_sources[$t]} harness/fuzz/${t}_fuzz.cpp; do objs="$objs obj/${s%.cpp}.o"; done
        echo "build $t: link$objs"
    done
} > "$build_dir/build.ninja.new"
mv "$build_dir/build.ninja.new" "$build_dir/build.ninja"
echo "fuzz: building $targets in $build_dir"
ninja -C "$build_dir" $targets | grep -v '^\[' || true
for t in $targets; do
    [ -x "$build_dir/$t" ] || { echo "fuzz: $t did not build" >&2; exit 2; }
done
[ "$build_only" = 1 ] && exit 0

# ---- replay the seeds, then fuzz
failed=0
mkdir -p "$build_dir/crashes"
cases=""
# One JUnit test case: name, seconds, failure text ("" when it passed),
# the figures line.
add_case() {
    local body="<system-out>$(xml_text "$4")</system-out>"
    [ -n "$3" ] && body="<failure message=\"$(xml_text "$3")\"/>$body"
    cases="$cases<testcase classname=\"fuzz\" name=\"$1\" time=\"$2\">$body</testcase>"$'\n'
}
xml_text() { sed -e 's/&/\&amp;/g; s/</\&lt;/g; s/>/\&gt;/g; s/"/\&quot;/g' <<<"$1" | tr -d '\000-\010\013\014\016-\037' | tr '\n' ' '; }
for t in $targets; do
    started=$SECONDS
    problem=""
    seeds="$repo/harness/fuzz/corpus/$t"
    work="$build_dir/corpus/$t"
    mkdir -p "$work"
    dict=()
    [ -f "$repo/harness/fuzz/$t.dict" ] && dict=(-dict="$repo/harness/fuzz/$t.dict")
    log="$build_dir/$t.log"
    common=(-artifact_prefix="$build_dir/crashes/$t-" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1)
    if ! "$build_dir/$t" "${common[@]}" -runs=0 "$seeds" >"$log" 2>&1; then
        echo "fuzz: $t FAILED replaying its seed corpus ($seeds), log $log:" >&2
        problem=$(grep -m5 -E 'INVARIANT|ERROR|SUMMARY' "$log" || tail -5 "$log")
        echo "$problem" >&2
        failed=1
        add_case "$t" $((SECONDS - started)) "seed corpus: $problem" ""
        continue
    fi
    if [ "$seconds" -gt 0 ]; then
        if ! "$build_dir/$t" "${common[@]}" "${dict[@]}" -max_total_time="$seconds" -max_len=4096 \
                "$work" "$seeds" >"$log" 2>&1; then
            echo "fuzz: $t FAILED (log $log, input in $build_dir/crashes/):" >&2
            problem=$(grep -m5 -E 'INVARIANT|ERROR|SUMMARY|Test unit written' "$log" || tail -5 "$log")
            echo "$problem" >&2
            failed=1
        fi
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    edges=$(sed -n 's/.*(\([0-9]*\) inline 8-bit counters).*/\1/p' "$log" | head -1)
    last=$(grep -E '^#[0-9]+' "$log" | tail -1)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$last")
    line=$(printf 'fuzz: %-12s %10s executions  cov %6s of %6s edges  ft %6s  corpus %5s' \
        "$t" "${runs:-?}" "${cov:-?}" "${edges:-?}" "${ft:-?}" "${corp:-?}")
    echo "$line"
    add_case "$t" $((SECONDS - started)) "$problem" "$line"
done
if [ -n "$junit" ]; then
    { echo '<?xml version="1.0" encoding="UTF-8"?>'
      echo "<testsuite name=\"fuzz\" tests=\"$(wc -w <<<"$targets")\">"
      printf '%s' "$cases"
      echo '</testsuite>'; } > "$junit"
fi
if [ "$failed" != 0 ]; then
    echo "fuzz: FAILED"
    exit 1
fi
echo "fuzz: all targets passed (${seconds} s each)"
