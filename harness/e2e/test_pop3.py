"""SPEC "Protocols / POP3" (RFC 1939 + RFC 2449), rule by rule."""

import poplib
import re
import smtplib
import time

import pytest

import helpers
from helpers import CRLF


def send_messages(s, user, msgs):
    with smtplib.SMTP(s.host, s.smtp_port, timeout=10) as c:
        c.ehlo("client.test")
        for m in msgs:
            assert c.sendmail("sender@client.test", [f"{user}@localhost"], m) == {}
    s.wait_messages(user, len(msgs))


MSGS = [
    b"Subject: one\r\nMessage-ID: <1@x>\r\n\r\nfirst body\r\nline 2\r\nline 3\r\nline 4\r\n",
    b"Subject: two\r\nMessage-ID: <2@x>\r\nX-Long: " + b"h" * 300 + b"\r\n\r\n" + (b"b" * 998 + b"\r\n") * 3,
    b"Subject: three\r\nMessage-ID: <3@x>\r\n\r\nthird\r\n",
]


@pytest.fixture
def pop(server):
    """A server (header fill off, so stored == sent) with MSGS for alice."""
    s = server("--header-fill", "none")
    send_messages(s, "alice", MSGS)
    return s


def retr_all(p, n):
    out = []
    for i in range(1, n + 1):
        status, raw = p.multiline(f"RETR {i}")
        assert status.startswith("+OK"), status
        out.append(helpers.dot_unstuff(raw))
    return out


# ------------------------------------------------------------------- login


def test_greeting_carries_apop_timestamp(server):
    s = server()
    with s.pop3() as p:
        assert re.fullmatch(r"\+OK .*<[^<>\s]+@[^<>\s]+>.*", p.greeting_line), p.greeting_line


def test_apop_timestamp_differs_between_connections(server):
    s = server()
    stamps = set()
    for _ in range(3):
        with s.pop3() as p:
            stamps.add(re.search(r"<[^<>]+>", p.greeting_line).group(0))
            p.cmd("QUIT")
    assert len(stamps) == 3


def test_user_pass_login(server):
    s = server()
    with s.pop3() as p:
        assert p.cmd("USER alice").startswith("+OK")
        assert p.cmd("PASS alice-pw").startswith("+OK")
        assert p.cmd("STAT").startswith("+OK 0 0")


def test_wrong_password_is_err(server):
    s = server()
    with s.pop3() as p:
        p.cmd("USER alice")
        assert p.cmd("PASS wrong").startswith("-ERR")
        assert p.cmd("STAT").startswith("-ERR"), "STAT must not work after a failed login"


def test_unknown_user_is_err(server):
    s = server()
    with s.pop3() as p:
        r = p.cmd("USER mallory")
        if r.startswith("+OK"):  # RFC 1939 allows deferring the answer to PASS
            r = p.cmd("PASS whatever")
        assert r.startswith("-ERR"), r


def test_pass_without_user_is_err(server):
    s = server()
    with s.pop3() as p:
        assert p.cmd("PASS alice-pw").startswith("-ERR")


def test_apop_login_with_digest_from_greeting(server):
    s = server()
    with s.pop3() as p:
        digest = helpers.apop_digest(p.greeting_line, "alice-pw")
        assert p.cmd(f"APOP alice {digest}").startswith("+OK")
        assert p.cmd("STAT").startswith("+OK")


def test_apop_with_wrong_digest_is_err(server):
    s = server()
    with s.pop3() as p:
        digest = helpers.apop_digest(p.greeting_line, "not-the-password")
        assert p.cmd(f"APOP alice {digest}").startswith("-ERR")


def test_poplib_apop(server):
    s = server()
    c = poplib.POP3(s.host, s.pop3_port, timeout=10)
    try:
        assert c.apop("alice", "alice-pw").startswith(b"+OK")
        assert c.stat() == (0, 0)
    finally:
        c.quit()


def test_crypt_sha512_password_login(server):
    from conftest import Server

    s = server(users={"alice": Server.crypt_hash("s3cret-hashed"), "bob": "bob-pw"})
    assert "$6$" in s.users_file.read_text()
    with s.pop3() as p:
        p.cmd("USER alice")
        assert p.cmd("PASS s3cret-hashed").startswith("+OK")
    with s.pop3() as p:
        p.cmd("USER alice")
        assert p.cmd("PASS wrong").startswith("-ERR")


def test_apop_refused_for_crypt_hashed_user(server):
    from conftest import Server

    s = server(users={"alice": Server.crypt_hash("pw"), "bob": "bob-pw"})
    with s.pop3() as p:
        digest = helpers.apop_digest(p.greeting_line, "pw")
        assert p.cmd(f"APOP alice {digest}").startswith("-ERR")


def test_no_users_file_refuses_every_login(server):
    s = server(users_file=False)
    assert "--users" not in s.options
    with s.pop3() as p:
        p.cmd("USER alice")
        assert p.cmd("PASS alice-pw").startswith("-ERR")
        digest = helpers.apop_digest(p.greeting_line, "alice-pw")
        assert p.cmd(f"APOP alice {digest}").startswith("-ERR")


def test_user_with_password_but_no_mailbox_cannot_log_in_to_a_mailbox(server):
    s = server(start=False)
    s.users_file.write_text(s.users_file.read_text() + "ghost:ghost-pw\n")
    s.start()
    with s.pop3() as p:
        p.cmd("USER ghost")
        r = p.cmd("PASS ghost-pw")
        # Either refused, or an empty maildrop; never someone else's mail.
        if r.startswith("+OK"):
            assert p.cmd("STAT").startswith("+OK 0 0")


def test_transaction_commands_before_login_are_err(server):
    s = server()
    with s.pop3() as p:
        for cmd in ("STAT", "LIST", "UIDL", "RETR 1", "TOP 1 0", "DELE 1", "RSET"):
            assert p.cmd(cmd).startswith("-ERR"), cmd


# The server holds a slowed login answer back 2 s (apps/config.hpp
# login_delay_ms): an answer in less than that was not held back, however
# loaded the machine; a slowed one can never come sooner.
NOT_SLOWED = 1.9


def test_three_failed_logins_then_slow_replies_and_a_log_line(server, tmp_path):
    log = tmp_path / "pop.log"
    s = server("--log", str(log))
    with s.pop3() as p:
        for i in range(3):
            t0 = time.monotonic()
            p.cmd("USER alice")
            assert p.cmd(f"PASS wrong-{i}").startswith("-ERR")
            took = time.monotonic() - t0
            assert took < NOT_SLOWED, f"failure {i + 1} was already slow ({took:.2f} s)"
        t0 = time.monotonic()
        p.cmd("USER alice")
        r = p.cmd("PASS wrong-again", timeout=30)
        slow = time.monotonic() - t0
        assert r.startswith("-ERR")
        assert slow >= 1.0, f"4th attempt answered in {slow:.2f} s: not slowed"
    text = helpers.wait_until(lambda: log.exists() and log.read_text(errors="replace"), timeout=20,
                              what="log")
    fail_lines = [l for l in text.splitlines()
                  if s.client_ip in l and re.search(r"fail|auth|denied|invalid", l, re.I)]
    assert fail_lines, f"no fail2ban-matchable line (peer IP + failure) in log:\n{text}"


def test_login_attempt_after_three_failures_is_slow_even_with_the_right_password(server):
    """SPEC: after three failed logins, *further attempts* are answered slowly.
    A fast +OK for the right password would tell a guesser to stop waiting."""
    s = server()
    with s.pop3() as p:
        for i in range(3):
            p.cmd("USER alice")
            assert p.cmd(f"PASS wrong-{i}").startswith("-ERR")
        t0 = time.monotonic()
        p.cmd("USER alice", timeout=30)
        r = p.cmd("PASS alice-pw", timeout=30)
        took = time.monotonic() - t0
    assert took >= 1.0, f"4th attempt (right password) answered {r!r} in {took:.2f} s"


def test_failed_logins_are_counted_per_address_across_connections(server):
    """Reconnecting starts no fresh count (Dovecot's auth_penalty; more in
    test_client_limits.py): three connections with one failure each are
    answered at once, the fourth waits."""
    s = server()
    for i in range(4):
        with s.pop3() as p:
            t0 = time.monotonic()
            p.cmd("USER alice")
            assert p.cmd("PASS wrong", timeout=30).startswith("-ERR")
            took = time.monotonic() - t0
            if i < 3:
                assert took < NOT_SLOWED, f"connection {i + 1}: answered in {took:.2f} s, slowed"
            else:
                assert took >= 1.0, f"connection 4 after three failures answered in {took:.2f} s"


# --------------------------------------------------------- transaction


def test_stat_counts_messages_and_octets(pop):
    with pop.pop3() as p:
        p.login("alice", "alice-pw")
        assert p.cmd("STAT") == f"+OK {len(MSGS)} {sum(len(m) for m in MSGS)}"


def test_list_sizes_equal_the_octets_retr_sends(pop):
    with pop.pop3() as p:
        p.login("alice", "alice-pw")
        status, raw = p.multiline("LIST")
        listing = [l.split() for l in raw.decode().split("\r\n") if l]
        got = retr_all(p, len(MSGS))
        assert [int(n) for n, _ in listing] == list(range(1, len(MSGS) + 1))
        assert [int(sz) for _, sz in listing] == [len(m) for m in got]
        for i, m in enumerate(got, 1):
            assert p.cmd(f"LIST {i}") == f"+OK {i} {len(m)}"
        assert got == MSGS


def test_list_of_missing_message_is_err(pop):
    with pop.pop3() as p:
        p.login("alice", "alice-pw")
        assert p.cmd("LIST 99").startswith("-ERR")
        assert p.cmd("RETR 99").startswith("-ERR")
        assert p.cmd("RETR 0").startswith("-ERR")
        assert p.cmd("RETR x").startswith("-ERR")


def test_uidl_unique_and_stable_across_sessions(pop):
    def uidls():
        with pop.pop3() as p:
            p.login("alice", "alice-pw")
            status, raw = p.multiline("UIDL")
            p.cmd("QUIT")
        rows = [l.split() for l in raw.decode().split("\r\n") if l]
        return {int(n): u for n, u in rows}

    first = uidls()
    assert len(first) == len(MSGS) and len(set(first.values())) == len(MSGS)
    for u in first.values():
        assert 1 <= len(u) <= 70 and all(0x21 <= ord(ch) <= 0x7E for ch in u), u
    assert uidls() == first
    pop.restart()
    assert uidls() == first, "UIDLs changed across a restart"
    # Deleting one keeps the others' UIDLs.
    with pop.pop3() as p:
        p.login("alice", "alice-pw")
        assert p.cmd("DELE 1").startswith("+OK")
        p.cmd("QUIT")
    after = uidls()
    assert sorted(after.values()) == sorted(v for k, v in first.items() if k != 1)


def test_uidl_single_message_form(pop):
    with pop.pop3() as p:
        p.login("alice", "alice-pw")
        _, raw = p.multiline("UIDL")
        rows = [l.split() for l in raw.decode().split("\r\n") if l]
        assert p.cmd("UIDL 2") == f"+OK 2 {rows[1][1]}"


def test_retr_dot_stuffs_lines_starting_with_dot(server):
    s = server("--header-fill", "none")
    msg = b"Subject: dots\r\n\r\n.one\r\n..two\r\n.\r\nplain\r\n"
    send_messages(s, "alice", [msg])
    with s.pop3() as p:
        p.login("alice", "alice-pw")
        status, raw = p.multiline("RETR 1")
    assert raw == b"Subject: dots\r\n\r\n..one\r\n...two\r\n..\r\nplain\r\n"


def test_top_returns_header_blank_line_and_n_body_lines(pop):
    with pop.pop3() as p:
        p.login("alice", "alice-pw")
        status, raw = p.multiline("TOP 1 2")
        assert status.startswith("+OK")
        assert helpers.dot_unstuff(raw) == b"Subject: one\r\nMessage-ID: <1@x>\r\n\r\nfirst body\r\nline 2\r\n"
        status, raw = p.multiline("TOP 1 0")
        assert helpers.dot_unstuff(raw) == b"Subject: one\r\nMessage-ID: <1@x>\r\n\r\n"
        status, raw = p.multiline("TOP 3 100")
        assert helpers.dot_unstuff(raw) == MSGS[2]
        assert p.cmd("TOP 99 1").startswith("-ERR")


def test_dele_marks_message_and_retr_of_deleted_is_err(pop):
    with pop.pop3() as p:
        p.login("alice", "alice-pw")
        assert p.cmd("DELE 2").startswith("+OK")
        assert p.cmd("DELE 2").startswith("-ERR")
        assert p.cmd("RETR 2").startswith("-ERR")
        assert p.cmd("LIST 2").startswith("-ERR")
        assert p.cmd("STAT") == f"+OK 2 {len(MSGS[0]) + len(MSGS[2])}"
        _, raw = p.multiline("LIST")
        assert [l.split()[0] for l in raw.decode().split("\r\n") if l] == ["1", "3"]


def login_when_unlocked(s, user, password, timeout=helpers.EVENT_TIMEOUT):
    """A session logged in as `user` once the maildrop lock of an earlier
    session is gone (-ERR [IN-USE] until the server has handled its end)."""

    def attempt():
        p = s.pop3()
        p.cmd(f"USER {user}")
        r = p.cmd(f"PASS {password}")
        if r.startswith("+OK"):
            return p
        p.close()
        assert r.startswith("-ERR [IN-USE]"), r
        return None

    return helpers.wait_until(attempt, timeout=timeout, interval=0.2, what=f"{user}'s maildrop unlocked")


def test_deletions_happen_only_on_quit(pop):
    with pop.pop3() as p:
        p.login("alice", "alice-pw")
        assert p.cmd("DELE 1").startswith("+OK")
        # connection dropped without QUIT
    # The next login succeeds only once the server has closed the dropped
    # session's maildrop — where a deletion would have happened.
    with login_when_unlocked(pop, "alice", "alice-pw") as p:
        assert p.cmd("STAT").startswith(f"+OK {len(MSGS)} ")
        assert len(pop.messages("alice")) == 3
    with login_when_unlocked(pop, "alice", "alice-pw") as p:
        assert p.cmd("DELE 1").startswith("+OK")
        assert len(pop.messages("alice")) == 3, "deleted before QUIT"
        assert p.cmd("QUIT").startswith("+OK")
        assert p.is_closed_by_peer(timeout=20)
    msgs = pop.messages("alice")
    assert len(msgs) == 2 and MSGS[0] not in msgs


def test_rset_unmarks_deleted_messages(pop):
    with pop.pop3() as p:
        p.login("alice", "alice-pw")
        p.cmd("DELE 1")
        p.cmd("DELE 3")
        assert p.cmd("RSET").startswith("+OK")
        assert p.cmd("STAT") == f"+OK 3 {sum(len(m) for m in MSGS)}"
        assert p.cmd("QUIT").startswith("+OK")
    assert len(pop.messages("alice")) == 3


def test_noop_is_ok(pop):
    with pop.pop3() as p:
        p.login("alice", "alice-pw")
        assert p.cmd("NOOP").startswith("+OK")


def test_quit_in_authorization_state_is_ok_and_closes(server):
    s = server()
    with s.pop3() as p:
        assert p.cmd("QUIT").startswith("+OK")
        assert p.is_closed_by_peer(timeout=20)


def test_unknown_command_is_err(server):
    s = server()
    with s.pop3() as p:
        assert p.cmd("FROB").startswith("-ERR")
        p.login("alice", "alice-pw")
        assert p.cmd("FROB").startswith("-ERR")
        assert p.cmd("NOOP").startswith("+OK")


@pytest.mark.parametrize("logged_in", [False, True], ids=["authorization", "transaction"])
def test_capa_lists_top_uidl_user_resp_codes_pipelining(server, logged_in):
    s = server()
    with s.pop3() as p:
        if logged_in:
            p.login("alice", "alice-pw")
        status, raw = p.multiline("CAPA")
    assert status.startswith("+OK")
    caps = {l.split()[0].upper() for l in raw.decode().split("\r\n") if l}
    assert {"TOP", "UIDL", "USER", "RESP-CODES", "PIPELINING"} <= caps, caps


def test_commands_are_case_insensitive(pop):
    with pop.pop3() as p:
        assert p.cmd("user alice").startswith("+OK")
        assert p.cmd("pass alice-pw").startswith("+OK")
        assert p.cmd("stat").startswith("+OK 3 ")
        status, raw = p.multiline("retr 3")
        assert helpers.dot_unstuff(raw) == MSGS[2]


def test_pipelined_commands_in_one_segment(pop):
    with pop.pop3() as p:
        p.send(b"USER alice\r\nPASS alice-pw\r\nSTAT\r\nLIST 1\r\nRETR 3\r\nNOOP\r\nQUIT\r\n")
        assert p.read_line_str().startswith("+OK")
        assert p.read_line_str().startswith("+OK")
        assert p.read_line_str().startswith("+OK 3 ")
        assert p.read_line_str() == f"+OK 1 {len(MSGS[0])}"
        assert p.read_line_str().startswith("+OK")
        assert helpers.dot_unstuff(p.read_multiline_raw()) == MSGS[2]
        assert p.read_line_str().startswith("+OK")
        assert p.read_line_str().startswith("+OK")


def test_commands_split_over_many_segments(pop):
    with pop.pop3() as p:
        for line in (b"USER alice\r\n", b"PASS alice-pw\r\n", b"STAT\r\n"):
            for i in range(len(line)):
                p.send(line[i : i + 1])
                time.sleep(0.002)
            assert p.read_line_str().startswith("+OK")


# --------------------------------------------------------------- locking


def test_second_concurrent_login_gets_err_in_use(pop):
    with pop.pop3() as first:
        first.login("alice", "alice-pw")
        with pop.pop3() as second:
            second.cmd("USER alice")
            t0 = time.monotonic()
            r = second.cmd("PASS alice-pw")
            assert r.startswith("-ERR [IN-USE]"), r
            # At once, not after waiting for the first session (which never
            # ends here) or for a lock wait of the store (10 s for an mbox).
            took = time.monotonic() - t0
            assert took < 5.0, f"IN-USE answered after {took:.2f} s"
        with pop.pop3() as third:
            digest = helpers.apop_digest(third.greeting_line, "alice-pw")
            assert third.cmd(f"APOP alice {digest}").startswith("-ERR [IN-USE]")
        assert first.cmd("STAT").startswith("+OK")


def test_lock_is_released_by_quit_and_by_disconnect(pop):
    with pop.pop3() as p:
        p.login("alice", "alice-pw")
        p.cmd("QUIT")
    with pop.pop3() as p:
        p.login("alice", "alice-pw")
        # dropped without QUIT
    def can_login():
        with pop.pop3() as p:
            p.cmd("USER alice")
            ok = p.cmd("PASS alice-pw").startswith("+OK")
            p.cmd("QUIT")
            return ok
    helpers.wait_until(can_login, timeout=helpers.EVENT_TIMEOUT, interval=0.2,
                       what="lock released after disconnect")


def test_other_users_are_not_locked(pop):
    with pop.pop3() as a:
        a.login("alice", "alice-pw")
        with pop.pop3() as b:
            b.login("bob", "bob-pw")


# ----------------------------------------------------------- maildir view


def test_messages_in_cur_and_new_are_listed_but_not_tmp(server):
    s = server()
    d = s.mail_dir / "alice"
    (d / "cur" / "1700000000.M1P1.host,S=24:2,S").write_bytes(b"Subject: cur\r\n\r\nseen\r\n")
    (d / "new" / "1700000001.M2P2.host,S=23").write_bytes(b"Subject: new\r\n\r\nnew\r\n")
    (d / "tmp" / "1700000002.M3P3.host").write_bytes(b"Subject: tmp\r\n\r\npartial")
    with s.pop3() as p:
        p.login("alice", "alice-pw")
        assert p.cmd("STAT").split()[1] == "2"
        got = sorted(retr_all(p, 2))
    assert got == sorted([b"Subject: cur\r\n\r\nseen\r\n", b"Subject: new\r\n\r\nnew\r\n"])


def test_lf_only_message_file_is_sent_with_crlf(server):
    """A Maildir file written by another MDA with LF line ends is sent as CRLF
    lines and LIST counts those octets."""
    s = server()
    (s.mail_dir / "alice" / "new" / "1700000003.M4P4.host").write_bytes(b"Subject: lf\n\nbody\n.dot\n")
    with s.pop3() as p:
        p.login("alice", "alice-pw")
        status, raw = p.multiline("RETR 1")
        assert raw == b"Subject: lf\r\n\r\nbody\r\n..dot\r\n"
        assert p.cmd("LIST 1") == f"+OK 1 {len(b'Subject: lf' + CRLF + CRLF + b'body' + CRLF + b'.dot' + CRLF)}"


def test_poplib_full_session(pop):
    c = poplib.POP3(pop.host, pop.pop3_port, timeout=10)
    try:
        c.user("alice")
        c.pass_("alice-pw")
        count, size = c.stat()
        assert count == 3
        resp, lines, octets = c.retr(2)
        assert b"\r\n".join(lines) + b"\r\n" == MSGS[1]
        resp, lines, _ = c.top(1, 1)
        assert lines == [b"Subject: one", b"Message-ID: <1@x>", b"", b"first body"]
        assert len(c.uidl()[1]) == 3
        caps = c.capa()
        assert "TOP" in caps and "UIDL" in caps
    finally:
        c.quit()
