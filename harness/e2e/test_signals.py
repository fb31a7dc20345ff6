"""Signals as an operator coming from Postfix/Dovecot sends them (issue 12):
HUP after logrotate moved the log reopens it and re-reads the users file
(one log line says what was reloaded), USR1 prints the counters, and the
signals the server does not act on never end it. Both builds."""

import os
import re
import signal
import time

import helpers

RELOAD_TIMEOUT = 20.0


def reload_lines(s):
    return [e for e in helpers.log_events(s, "server", None, "reload")]


def hup_and_wait_reload(s):
    """SIGHUP, then the reload line it makes (bounded), as (service, peer, event, detail)."""
    before = len(reload_lines(s))
    s.send_signal(signal.SIGHUP)
    return helpers.wait_until(lambda: (lambda r: r[before] if len(r) > before else None)(reload_lines(s)),
                              timeout=RELOAD_TIMEOUT, what="reload line after SIGHUP")


def assert_serves(s):
    with s.smtp() as c:
        c.ehlo()
        assert c.cmd("QUIT")[0] == 221


def test_hup_after_logrotate_move_writes_a_new_log_and_a_session_goes_on(server, tmp_path):
    log = tmp_path / "baremail.log"
    s = server("--log", str(log))
    with s.smtp() as c:
        c.ehlo()
        assert c.cmd("MAIL FROM:<sender@client.test>")[0] == 250
        helpers.wait_log_event(s, "smtp", "connect")
        rotated = tmp_path / "baremail.log.1"
        os.rename(log, rotated)  # what logrotate does before it signals
        detail = hup_and_wait_reload(s)[3]  # read from the new file at the old path
        assert "log=ok" in detail and "users=ok" in detail, detail
        # The session that was open across the HUP is unharmed.
        assert c.cmd("RCPT TO:<alice@localhost>")[0] == 250
        assert c.data(helpers.make_message("across-hup"))[0] == 250
        assert c.cmd("QUIT")[0] == 221
    assert s.alive()
    s.wait_messages("alice", 1)
    helpers.wait_log_event(s, "smtp", "accepted")  # this session's lines land in the new file
    old_text = rotated.read_text(errors="replace")
    assert " connect" in old_text and " reload " not in old_text, old_text
    assert " accepted " not in old_text, "a line after the HUP went to the moved file"


def test_hup_rereads_the_users_file_even_when_it_looks_unchanged(server):
    s = server(users={"alice": "old-pw-1", "bob": "bob-pw"})
    with s.pop3() as c:
        c.login("alice", "old-pw-1")
        c.cmd("QUIT")
    # Same inode, same size, same mtime: only a HUP can tell the server.
    st = os.stat(s.users_file)
    s.write_users({"alice": "new-pw-1", "bob": "bob-pw"})
    os.utime(s.users_file, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(s.users_file).st_ino == st.st_ino
    with s.pop3() as c:
        c.cmd("USER alice")
        assert c.cmd("PASS new-pw-1").startswith("-ERR"), "the change was seen without a HUP"
    detail = hup_and_wait_reload(s)[3]
    assert "users=ok" in detail, detail
    with s.pop3() as c:
        c.login("alice", "new-pw-1")
        c.cmd("QUIT")
    assert s.alive()


def test_hup_with_the_users_file_gone_keeps_the_previous_users(server):
    s = server()
    os.rename(s.users_file, s.users_file.with_name("users.away"))
    detail = hup_and_wait_reload(s)[3]
    assert re.search(r"users=error: .*users", detail), detail
    assert s.alive()
    with s.pop3() as c:
        c.login("alice", "alice-pw")
        c.cmd("QUIT")


def test_usr1_prints_the_counters_and_the_server_lives_on(server):
    s = server()
    assert_serves(s)
    before = s.stderr.count("counters")
    s.send_signal(signal.SIGUSR1)
    text = helpers.wait_until(lambda: s.stderr if s.stderr.count("counters") > before else None,
                              timeout=RELOAD_TIMEOUT, what="counters on stderr after SIGUSR1")
    report = text.rsplit("counters", 1)[1]
    assert re.search(r"^\S+ \d+$", report, re.M), report
    time.sleep(0.2)
    assert s.alive()
    assert_serves(s)


def test_signals_it_does_not_act_on_never_end_it(server):
    s = server()
    stray = [signal.SIGUSR2, signal.SIGPIPE, signal.SIGALRM, signal.SIGVTALRM, signal.SIGPROF,
             signal.SIGIO, signal.SIGXFSZ, signal.SIGPWR]
    for sig in stray:
        s.send_signal(sig)
        time.sleep(0.05)
        assert s.alive(), f"ended by {sig}"
    time.sleep(0.3)
    assert s.alive()
    assert_serves(s)
    # TERM still ends it, cleanly.
    assert s.stop(signal.SIGTERM) == 0
