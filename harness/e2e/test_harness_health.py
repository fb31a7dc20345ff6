"""The suite cannot pass a crash: a server that dies after the last checked
reply (here: abort() when a session ends with QUIT, through
BAREMAIL_TEST_ABORT_ON_EVENT)
makes the test fail at teardown, naming the server and showing its stderr."""
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def test_a_crash_at_session_close_fails_the_test_with_the_servers_stderr(build):
    env = dict(os.environ, BAREMAIL_TEST_ABORT_ON_EVENT="disconnect closed", BAREMAIL_BUILDS=build.name)
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c",
                        str(HERE / "pytest.ini"), str(HERE / "harness_selftest" / "crash_at_close.py")],
                       capture_output=True, text=True, timeout=120, env=env, cwd=HERE.parents[1])
    out = r.stdout + r.stderr
    assert r.returncode != 0, f"the crash went unnoticed:\n{out[-3000:]}"
    assert "server health check failed at teardown" in out, out[-3000:]
    # Dead before teardown looked, or killed by the abort as teardown stopped it.
    assert "died during the test (killed by SIGABRT)" in out or "ended it with killed by SIGABRT" in out, \
        out[-3000:]
    assert "disconnect closed" in out, "the server's stderr (its last log lines) is not shown:\n" + out[-3000:]
    assert "1 passed, 1 error" in out, out[-3000:]
