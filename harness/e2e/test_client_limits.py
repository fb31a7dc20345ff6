"""Limits per client (issue 11, item 2), on both builds: connections per
address (--max-conn-per-ip, Postfix's anvil count), connections begun per
60 s (--max-conn-rate-per-ip, anvil's rate), and failed POP3 logins counted
per address across connections with a growing wait (Dovecot's
auth_penalty), password checks that tell no user apart by their timing.

Each test uses two client addresses: the kernel build's clients bind
127.0.0.2 and 127.0.0.3 on loopback; the DPDK build's get two more
addresses on the server's TAP (10.99.N.3 and .4 beside the harness's .2). --relay-from names a
network neither is in, since relay clients are exempt from the limits (as
Postfix's smtpd_client_event_limit_exceptions = $mynetworks)."""

import crypt
import re
import socket
import statistics
import subprocess
import threading
import time

import helpers

NOBODY_RELAYS = ("--relay-from", "192.0.2.0/24")  # TEST-NET-1: no client here


class From:
    """A line client bound to a chosen source address."""

    def __init__(self, cls, host, port, source):
        self.client = cls.__new__(cls)
        self.client.sock = socket.create_connection((host, port), timeout=helpers.IO_TIMEOUT,
                                                    source_address=(source, 0))
        self.client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.client.buf = b""
        self.client.timeout = helpers.IO_TIMEOUT


def addresses(s):
    """Two client addresses the server sees as distinct peers."""
    if s.build.loopback:
        return "127.0.0.2", "127.0.0.3"
    # Two of our own beside the harness's (whose readiness probes count too).
    net = s.client_ip.rsplit(".", 1)[0]
    for ip in (f"{net}.3", f"{net}.4"):
        r = subprocess.run(["ip", "addr", "add", f"{ip}/24", "dev", s.net.tap],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode == 0 or "exists" in r.stderr, r.stderr
    return f"{net}.3", f"{net}.4"


def smtp_from(s, source):
    return From(helpers.SmtpClient, s.host, s.smtp_port, source).client


def pop3_from(s, source):
    return From(helpers.Pop3Client, s.host, s.pop3_port, source).client


def greeting_of(client):
    return client.read_line_str(timeout=10)


# ------------------------------------------------------------ connections


def test_the_51st_connection_from_one_address_is_refused_while_another_connects(server):
    s = server(*NOBODY_RELAYS)
    a, b = addresses(s)
    held = []
    try:
        for i in range(50):  # the default --max-conn-per-ip
            c = smtp_from(s, a)
            held.append(c)
            assert greeting_of(c).startswith("220"), f"connection {i + 1}"
        refused = smtp_from(s, a)
        line = greeting_of(refused)
        assert line.startswith("421 4.7.0"), line
        assert refused.is_closed_by_peer(timeout=10), "a refused client must be closed"
        refused.close()
        other = smtp_from(s, b)
        assert greeting_of(other).startswith("220"), "another address is not limited"
        other.close()
        # POP3 counts on its own (per service, as Postfix's anvil counts per smtpd service).
        p = pop3_from(s, a)
        assert greeting_of(p).startswith("+OK")
        p.close()
        held.pop().close()  # one of A's ends: room for the next
        helpers.wait_until(lambda: _admitted(s, a), timeout=10, what="a freed slot for " + a)
    finally:
        for c in held:
            c.close()
    helpers.wait_log_event(s, "smtp", "refused", detail="too many connections from this address")


def _admitted(s, source):
    c = smtp_from(s, source)
    try:
        return greeting_of(c).startswith("220")
    finally:
        c.close()


def test_pop3_past_the_per_address_limit_gets_err(server):
    s = server(*NOBODY_RELAYS, "--max-conn-per-ip", "2")
    a, b = addresses(s)
    held = [pop3_from(s, a), pop3_from(s, a)]
    try:
        for c in held:
            assert greeting_of(c).startswith("+OK")
        refused = pop3_from(s, a)
        assert greeting_of(refused).startswith("-ERR")
        assert refused.is_closed_by_peer(timeout=10)
        refused.close()
        other = pop3_from(s, b)
        assert greeting_of(other).startswith("+OK")
        other.close()
    finally:
        for c in held:
            c.close()


def test_connections_past_the_rate_are_refused_for_the_rest_of_the_minute(server):
    s = server(*NOBODY_RELAYS, "--max-conn-rate-per-ip", "3")
    a, b = addresses(s)
    for i in range(3):
        c = smtp_from(s, a)
        assert greeting_of(c).startswith("220"), f"connection {i + 1}"
        c.send_line("QUIT")
        c.close()
    c = smtp_from(s, a)
    line = greeting_of(c)
    assert line.startswith("421 4.7.0"), line
    c.close()
    other = smtp_from(s, b)
    assert greeting_of(other).startswith("220")
    other.close()
    helpers.wait_log_event(s, "smtp", "refused", detail="connection rate limit exceeded for this address")


def test_relay_clients_are_exempt(server):
    s = server("--max-conn-per-ip", "1", "--relay-from", "0.0.0.0/0")
    a, _ = addresses(s)
    held = [smtp_from(s, a) for _ in range(3)]
    try:
        for c in held:
            assert greeting_of(c).startswith("220")
    finally:
        for c in held:
            c.close()


# ------------------------------------------------------------ login penalty


def failed_login(s, source, user="alice", password="wrong"):
    """One reconnecting guess: connect, USER, PASS; seconds PASS took."""
    p = pop3_from(s, source)
    try:
        assert greeting_of(p).startswith("+OK")
        assert p.cmd(f"USER {user}").startswith("+OK")
        t0 = time.monotonic()
        r = p.cmd(f"PASS {password}", timeout=40)
        took = time.monotonic() - t0
        assert r.startswith("-ERR"), r
        return took
    finally:
        p.close()


def smtp_delivery_seconds(s, source, marker):
    c = smtp_from(s, source)
    try:
        t0 = time.monotonic()
        assert greeting_of(c).startswith("220")
        c.ehlo()
        assert c.cmd("MAIL FROM:<carol@example.org>")[0] == 250
        assert c.cmd("RCPT TO:<bob@localhost>")[0] == 250
        code, lines = c.data(helpers.make_message(marker))
        assert code == 250, lines
        took = time.monotonic() - t0
        c.cmd("QUIT")
        return took
    finally:
        c.close()


def test_failed_logins_slow_down_across_reconnects_and_smtp_from_elsewhere_stays_fast(server, tmp_path):
    log = tmp_path / "limits.log"
    s = server(*NOBODY_RELAYS, "--log", str(log))
    a, b = addresses(s)
    free = [failed_login(s, a) for _ in range(3)]
    assert max(free) < 1.9, f"the first three failures are free: {free}"
    fourth = failed_login(s, a)
    fifth = failed_login(s, a)
    assert 1.9 <= fourth < 6, f"4th guess (new connection) waited {fourth:.2f} s, want 2"
    assert 3.9 <= fifth < 10, f"5th guess waited {fifth:.2f} s, want 4"
    # The 6th waits 8 s; meanwhile SMTP from the other address is as fast as ever.
    sixth = []
    guesser = threading.Thread(target=lambda: sixth.append(failed_login(s, a)))
    guesser.start()
    time.sleep(0.5)
    smtp = [smtp_delivery_seconds(s, b, f"during-penalty-{i}") for i in range(3)]
    guesser.join(timeout=40)
    assert sixth and 7.9 <= sixth[0] < 16, f"6th guess waited {sixth}"
    assert max(smtp) < 1.5, f"SMTP from {b} during the penalty took {smtp} s"
    # The other address is not penalised for A's guesses.
    assert failed_login(s, b) < 1.9
    text = helpers.wait_until(lambda: log.exists() and "wait=8000ms" in log.read_text(errors="replace")
                              and log.read_text(errors="replace"), timeout=20, what="auth-delayed lines")
    delayed = [l for l in text.splitlines() if re.search(rf"pop3 {re.escape(a)}:\d+ auth-delayed", l)]
    assert len(delayed) == 3, "\n".join(delayed)


def test_the_right_password_is_held_too_and_clears_the_penalty(server):
    s = server(*NOBODY_RELAYS)
    a, _ = addresses(s)
    for _ in range(3):
        failed_login(s, a)
    p = pop3_from(s, a)
    try:
        greeting_of(p)
        p.cmd("USER alice")
        t0 = time.monotonic()
        r = p.cmd("PASS alice-pw", timeout=20)
        took = time.monotonic() - t0
        assert r.startswith("+OK"), r
        assert took >= 1.9, f"a right password after failures answered in {took:.2f} s"
        p.cmd("QUIT")
    finally:
        p.close()
    assert failed_login(s, a) < 1.9, "a success forgets the address's failures"


def test_unknown_and_known_users_take_the_same_time(server):
    # 100,000 rounds of SHA-512: ~50-100 ms a check here, so an unknown
    # user answered without crypt would stand out by that much.
    slow = crypt.crypt("alice-pw", "$6$rounds=100000$e2etiming$")
    s = server(*NOBODY_RELAYS, users={"alice": slow, "bob": "bob-pw"})
    a, b = addresses(s)
    # Three each (the free failures of each address): unknown from A, known from B.
    unknown = [failed_login(s, a, user="mallory") for _ in range(3)]
    known = [failed_login(s, b, user="alice") for _ in range(3)]
    mu, mk = statistics.median(unknown), statistics.median(known)
    assert mk > 0.02, f"a known user's check took {mk * 1000:.1f} ms: the hash is not slow enough to tell"
    assert abs(mu - mk) < 0.5 * mk + 0.01, \
        f"unknown {mu * 1000:.1f} ms vs known {mk * 1000:.1f} ms: timing tells users apart"
