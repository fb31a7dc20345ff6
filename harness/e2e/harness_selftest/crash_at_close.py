"""Not part of the suite: test_harness_health.py runs this file in a pytest
of its own, with the server set to abort() when it logs the end of a
session closed by QUIT. Everything checked here passes; only the fixture's
teardown can notice the crash."""
import helpers


def test_one_session_then_the_server_crashes_at_close(server):
    s = server()
    c = s.smtp()
    c.helo()
    assert c.cmd("QUIT")[0] == 221
    c.close()
    # The session's end is logged (and the abort taken) once the server has
    # seen the close, which on the DPDK build follows the FIN exchange. The
    # line may not reach stderr: the log writer thread may not have written
    # it when abort() ends the process; then the server's death shows it.
    helpers.wait_until(lambda: "disconnect closed" in s.stderr or not s.alive(), timeout=30,
                       what="the session's end in the log, or the server's end")
