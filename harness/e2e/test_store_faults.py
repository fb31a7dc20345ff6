"""Failure paths that never lie (issue 11 item 3), both builds: the server
runs with the fault shim preloaded (harness/testing/fault_shim.cpp,
configured by BM_FAULT_*), so chosen fsync/fdatasync calls fail as on a
failing disk. A failed sync before the reply gives 451 (452 for a full
disk) and every message answered 250 is in the mailbox; a failed directory
fsync after a queue rewrite's rename leaves the queue file in place (it
was unlinked, and the message lost); a job that throws (the test-only
BAREMAIL_TEST_ONLY_THROW_IN) answers with a failure, never 250/+OK."""

import os

import pytest

import helpers
from conftest import BUILD_DIR, free_port
from test_big_smtp import big_message, send_big
from test_relay import relay_server, submit

SHIM = BUILD_DIR / "harness" / "testing" / "libfault_shim.so"


@pytest.fixture
def faults(monkeypatch, tmp_path):
    """faults(calls, path, errno='EIO', after=0, times=-1): the servers
    started after this call run with the shim armed. Returns the file in
    which the shim notes each fault it injects."""
    if not SHIM.exists():
        pytest.fail(f"{SHIM} is not built (ninja -C build harness/testing/libfault_shim.so)")
    log = tmp_path / "faults.log"

    def arm(calls, path, errno="EIO", after=0, times=-1):
        monkeypatch.setenv("LD_PRELOAD", str(SHIM))
        # A sanitizer runtime wants to be first; the shim only wraps libc calls.
        monkeypatch.setenv("ASAN_OPTIONS", "verify_asan_link_order=0:" + os.environ.get("ASAN_OPTIONS", ""))
        monkeypatch.setenv("BM_FAULT_CALLS", calls)
        monkeypatch.setenv("BM_FAULT_PATH", str(path))
        monkeypatch.setenv("BM_FAULT_ERRNO", errno)
        monkeypatch.setenv("BM_FAULT_AFTER", str(after))
        monkeypatch.setenv("BM_FAULT_TIMES", str(times))
        monkeypatch.setenv("BM_FAULT_LOG", str(log))
        return log

    return arm


def injected(log) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def send(s, marker, rcpt="alice@localhost"):
    """One message in its own session: (code, reply lines, the message)."""
    body = helpers.make_message(marker)
    with s.smtp() as c:
        c.ehlo()
        assert c.cmd("MAIL FROM:<bob@example.org>")[0] == 250
        assert c.cmd(f"RCPT TO:<{rcpt}>")[0] == 250
        code, lines = c.data(body)
    return code, lines, body


def stored_markers(s, user) -> list[bytes]:
    return [m for m in s.messages(user) if b"marker " in m]


@pytest.mark.parametrize("errno,code,enhanced", [("EIO", 451, "4.3.0"), ("ENOSPC", 452, "4.3.1")])
def test_failing_fsync_on_delivery_is_a_temporary_failure_and_no_250_is_lost(server, faults, errno,
                                                                              code, enhanced):
    s = server(start=False)
    # The first two deliveries sync, the third fails, the fourth syncs again.
    log = faults("fdatasync", s.mail_dir / "alice" / "tmp" / "*", errno, after=2, times=1)
    s.start()
    answers = [send(s, f"m{i}") for i in range(4)]
    codes = [a[0] for a in answers]
    assert codes == [250, 250, code, 250], [a[1] for a in answers]
    assert answers[2][1][-1].startswith(f"{code} {enhanced}"), answers[2][1]
    assert len(injected(log)) == 1 and injected(log)[0].startswith("fdatasync "), injected(log)
    acknowledged = [a[2] for a in answers if a[0] == 250]
    stored = s.wait_messages("alice", 3)
    for body in acknowledged:
        assert any(body.split(b"\r\n\r\n", 1)[1] in m for m in stored), body[:200]
    assert not any(b"marker m2" in m for m in stored)  # refused: not kept either
    assert helpers.queue_files(s.queue_dir) == []


def test_failing_dir_fsync_after_a_queue_rewrite_keeps_the_queue_file(server, faults, tmp_path):
    dead = free_port()  # nothing listens: each attempt fails at once
    s = server(start=False)
    # The first fsync of the queue directory (the new message's) succeeds;
    # every later one (the rewrites after failed attempts) fails.
    log = faults("fsync", s.queue_dir, "EIO", after=1)
    s.options += ["--dns", "127.0.0.1", "--relayhost", f"{s.client_ip}:{dead}", "--retry-delay", "1"]
    s.start()
    submit(s, "alice@localhost", "far@example.com", "queued")
    helpers.wait_until(lambda: injected(log), timeout=30, what="a failed fsync of the queue directory")
    assert injected(log)[0] == f"fsync {s.queue_dir} 5", injected(log)
    files = helpers.queue_files(s.queue_dir)
    assert len(files) == 1, files  # the rename stands: the new version is the only copy
    assert b"marker queued" in files[0].read_bytes()
    helpers.wait_until(lambda: "never unlinked" in s.stderr + s.log_text(), timeout=10,
                       what="the log line that says what happened")
    # Still there after more failed rounds.
    helpers.wait_until(lambda: len(injected(log)) >= 2, timeout=30, what="a second failed rewrite")
    assert len(helpers.queue_files(s.queue_dir)) == 1


def test_throwing_delivery_job_answers_451_and_stores_nothing(server, monkeypatch):
    monkeypatch.setenv("BAREMAIL_TEST_ONLY_THROW_IN", "deliver")
    s = server()
    code, lines, _ = send(s, "thrown")
    assert code == 451 and lines[-1].startswith("451 4.3.0"), lines
    code, lines, _ = send(s, "thrown-remote", rcpt="far@example.com")
    assert code == 451, lines
    assert s.messages("alice") == []
    assert helpers.queue_files(s.queue_dir) == []
    assert "I/O job failed" in s.stderr + s.log_text()


def test_throwing_maildrop_job_answers_pop3_err(server, monkeypatch):
    monkeypatch.setenv("BAREMAIL_TEST_ONLY_THROW_IN", "open-maildrop")
    s = server()
    with s.pop3() as p:
        assert p.cmd("USER alice").startswith("+OK")
        reply = p.cmd("PASS alice-pw")
        assert reply.startswith("-ERR"), reply
    assert "I/O job failed" in s.stderr + s.log_text()


def test_a_store_failure_lands_in_the_log_file_escaped(server, faults, tmp_path):
    # A queue dir whose name holds a line feed, a carriage return and an
    # ESC: the store's line names the file, and must stay one line.
    queue_dir = tmp_path / "q\n2026-01-01T00:00:00.000Z pop3 10.99.9.9:1 auth-failed\r\x1b[2J"
    s = server("--queue-dir", str(queue_dir), "--log", str(tmp_path / "events.log"), start=False)
    log = faults("rename", f"{queue_dir}/*", "EIO", times=1)
    s.start()
    code, lines, _ = send(s, "renamed", rcpt="far@example.com")
    assert code == 451, lines
    assert injected(log), "the rename was not failed"
    store_lines = [line for line in s.log_text().splitlines() if " store - store rename " in line]
    assert len(store_lines) == 1, s.log_text()
    assert "q\\x0a2026-01-01T00:00:00.000Z pop3 10.99.9.9:1 auth-failed\\x0d\\x1b[2J/" in store_lines[0], store_lines
    assert not any(" auth-failed" in line and " store " not in line for line in s.log_text().splitlines())
    assert "\x1b" not in s.log_text() and "\r" not in s.log_text()
    assert "baremail store:" not in s.stderr  # not the default sink's stderr line


def test_a_delivery_that_throws_before_the_store_takes_its_spool_gives_the_spool_back(server, monkeypatch):
    """The session hands its spool to the Deliver job; a job that throws
    before the store took it must drop it (RequestJob::failed), or the file
    and its share of --max-spool stay until a restart. Three messages of
    3/4 of the budget each: with the spool kept, the second finds the
    budget spent (452 4.3.1); given back, each reaches the throwing job."""
    budget = 1024 * 1024
    monkeypatch.setenv("BAREMAIL_TEST_ONLY_THROW_IN", "deliver:before")
    s = server("--max-msg-size", "50000000", "--header-fill", "none", "--max-spool", str(budget))
    with s.smtp() as c:
        c.ehlo()
        for i in range(3):
            code, lines, _ = send_big(c, big_message(budget * 3 // 4), "alice@localhost")
            assert code == 451 and lines[-1].startswith("451 4.3.0"), (i, lines)
            assert helpers.spool_files(s.queue_dir) == [], i
    assert s.messages("alice") == []
    assert "test-only throw in a deliver:before job" in s.stderr + s.log_text()
