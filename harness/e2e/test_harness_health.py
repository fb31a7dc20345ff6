"""The suite cannot pass a crash: a server that dies after the last checked
reply (here: abort() when a session ends with QUIT, through
BAREMAIL_TEST_ABORT_ON_EVENT) makes the test fail at teardown, naming the
server and showing its stderr. In the sanitizer run (servers built with ASan
+ UBSan) a memory error the server survives unnoticed otherwise — a read
after free at the same moment, BAREMAIL_TEST_FAULT=use-after-free — fails it
the same way, showing the sanitizer's report."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

import sanitizers  # harness/testing, on the path through conftest
import server_health
from conftest import SANITIZER_REPORTS

HERE = Path(__file__).resolve().parent
AT_CLOSE = "disconnect closed"


def run_selftest(build, tmp_path, **env) -> tuple[int, str]:
    """harness_selftest/crash_at_close.py in a pytest of its own, with the
    server's fault hook set; its sanitizer reports in a folder of its own
    (not this run's, where they would fail this test)."""
    env = dict(os.environ, BAREMAIL_TEST_ABORT_ON_EVENT=AT_CLOSE, BAREMAIL_BUILDS=build.name,
               BAREMAIL_SANITIZER_REPORTS=str(tmp_path / "sanitizer-reports"), **env)
    for name in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
        env.pop(name, None)
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c",
                        str(HERE / "pytest.ini"), str(HERE / "harness_selftest" / "crash_at_close.py")],
                       capture_output=True, text=True, timeout=180, env=env, cwd=HERE.parents[1])
    return r.returncode, r.stdout + r.stderr


def test_a_crash_at_session_close_fails_the_test_with_the_servers_stderr(build, tmp_path):
    rc, out = run_selftest(build, tmp_path)
    assert rc != 0, f"the crash went unnoticed:\n{out[-3000:]}"
    assert "server health check failed at teardown" in out, out[-3000:]
    # Dead before teardown looked, or killed by the abort as teardown stopped it.
    assert "died during the test (killed by SIGABRT)" in out or "ended it with killed by SIGABRT" in out, \
        out[-3000:]
    assert "server - start pid=" in out, "the server's stderr (its last log lines) is not shown:\n" + out[-3000:]
    assert "1 passed, 1 error" in out, out[-3000:]


def test_a_use_after_free_at_session_close_fails_the_sanitizer_run_with_its_report(build, tmp_path):
    if SANITIZER_REPORTS is None:
        pytest.skip("the sanitizer run's (servers built with ASan: harness/run_tests.sh, suite e2e-asan)")
    rc, out = run_selftest(build, tmp_path, BAREMAIL_TEST_FAULT="use-after-free")
    assert rc != 0, f"the use after free went unnoticed:\n{out[-3000:]}"
    assert "server health check failed at teardown" in out, out[-3000:]
    assert "crash report (ERROR: AddressSanitizer" in out, out[-3000:]
    assert "heap-use-after-free" in out and "read_after_free" in out, \
        "the sanitizer's report (error and stack) is not shown:\n" + out[-4000:]
    assert "1 passed, 1 error" in out, out[-3000:]


def test_the_injected_use_after_free_goes_unnoticed_without_a_sanitizer(build, tmp_path):
    """The counterpart: the fault above is one only a sanitizer build can
    catch (a plain build reads stale bytes and serves on), so what fails the
    sanitizer run is the sanitizer, not a crash."""
    if SANITIZER_REPORTS is not None:
        pytest.skip("the plain run's")
    rc, out = run_selftest(build, tmp_path, BAREMAIL_TEST_FAULT="use-after-free")
    assert rc == 0 and "1 passed" in out, out[-3000:]


def test_a_sanitizer_report_is_taken_once_and_by_the_process_that_left_it(tmp_path):
    (tmp_path / "report.111").write_text("==111==ERROR: AddressSanitizer: heap-use-after-free\n")
    (tmp_path / "report.222").write_text("==222==ERROR: LeakSanitizer: detected memory leaks\n")
    reports = sanitizers.Reports(tmp_path)
    assert [name for name, _ in reports.take_new(pids=[222, 333])] == ["report.222"]
    assert [name for name, _ in reports.take_new()] == ["report.111"]
    assert reports.take_new() == []


def test_a_sanitizer_report_fails_the_health_check_of_a_server_that_exited_0():
    health = server_health.Health()
    health.on_start()
    report = "==7==ERROR: AddressSanitizer: stack-buffer-overflow on address 0x7ffe"
    found = server_health.problems("kernel server s1", health, True, None, "start\n" + report, 0)
    assert found == ["kernel server s1: crash report (ERROR: AddressSanitizer)"]
    text = server_health.report([(found, "start\n", report)])
    assert "--- its sanitizer report ---\n" + report in text
