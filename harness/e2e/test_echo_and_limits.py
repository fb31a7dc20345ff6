"""SPEC echo service, --max-conn and --idle-timeout."""

import time

import pytest

import helpers


# ------------------------------------------------------------------- echo


def test_echo_service_transcript(server):
    s = server()
    with s.echo() as c:
        assert c.read_line_str() == "+OK Server ready (baremail)"
        c.send_line("ECHO hello world")
        assert c.read_line_str() == "+OK hello world"
        c.send_line("echo MiXeD case  two  spaces")
        assert c.read_line_str() == "+OK MiXeD case  two  spaces"
        c.send_line("FOO bar")
        assert c.read_line_str() == "-ERR Unknown command"
        c.send_line("QUIT")
        assert c.read_line_str() == "+OK Goodbye!"
        assert c.is_closed_by_peer(timeout=20)


def test_echo_pipelined_and_split(server):
    s = server()
    with s.echo() as c:
        c.read_line_str()
        c.send(b"ECHO a\r\nECHO b\r\nEC")
        time.sleep(0.05)
        c.send(b"HO c\r\n")
        assert [c.read_line_str() for _ in range(3)] == ["+OK a", "+OK b", "+OK c"]
        c.send(b"quit\r\n")
        assert c.read_line_str() == "+OK Goodbye!"


def test_echo_8bit_text_is_echoed_verbatim(server):
    s = server()
    with s.echo() as c:
        c.read_line()
        c.send_line(b"ECHO \xe9t\xe9 \xff")
        assert c.read_line() == b"+OK \xe9t\xe9 \xff"


# --------------------------------------------------------------- max-conn


@pytest.mark.parametrize("service", ["smtp", "pop3", "echo"])
def test_max_conn_next_client_is_refused_then_slot_is_reusable(server, service):
    s = server("--max-conn", "3")
    # The readiness probes must be gone from the count first.
    for probed in ("smtp", "pop3", "echo"):
        helpers.wait_sessions_closed(s, probed)
    refusal = {"smtp": "421", "pop3": "-ERR", "echo": "-ERR"}[service]
    welcome = {"smtp": "220", "pop3": "+OK", "echo": "+OK"}[service]
    port = {"smtp": s.smtp_port, "pop3": s.pop3_port, "echo": s.echo_port}[service]

    held = []
    try:
        for _ in range(3):
            c = helpers.LineClient(s.host, port)
            assert c.read_line_str().startswith(welcome)
            held.append(c)
        extra = helpers.LineClient(s.host, port)
        line = extra.read_line_str()
        assert line.startswith(refusal), f"client 4 of --max-conn 3 got {line!r}"
        assert extra.is_closed_by_peer(timeout=20), "refused client was not closed"
        extra.close()
        # Other services have their own limit.
        other = s.pop3() if service != "pop3" else s.smtp()
        other.close()
        # Free a slot; once the server has ended that session a new client is served.
        freed = held.pop()
        peer = helpers.client_peer(freed)
        freed.close()
        helpers.wait_session_end(s, service, peer)
        c = helpers.LineClient(s.host, port)
        held.append(c)
        line = c.read_line_str()
        assert line.startswith(welcome), f"client after a freed slot got {line!r}"
    finally:
        for c in held:
            c.close()


# ----------------------------------------------------------- idle timeout


@pytest.mark.parametrize("service", ["smtp", "pop3"])
def test_idle_session_is_closed_with_421_or_err(server, service):
    s = server("--idle-timeout", "2")
    c = s.smtp() if service == "smtp" else s.pop3()
    with c:
        if service == "smtp":
            c.ehlo()
        t0 = time.monotonic()
        line = c.read_line_str(timeout=30)
        waited = time.monotonic() - t0
        if service == "smtp":
            assert line.startswith("421"), line
        else:
            assert line.startswith("-ERR"), line
        # The timing is the feature: not before the timeout (a 1 s timer
        # granularity allowed), and well within a loaded machine's slack after.
        assert 1.5 <= waited <= 10, f"closed after {waited:.1f} s with --idle-timeout 2"
        assert c.is_closed_by_peer(timeout=20)


def test_active_session_is_not_closed_by_idle_timeout(server):
    s = server("--idle-timeout", "2")
    with s.smtp() as c:
        c.ehlo()
        for _ in range(8):  # 4 s of activity, every 0.5 s
            time.sleep(0.5)
            assert c.cmd("NOOP")[0] == 250


def test_idle_timeout_during_data_delivers_nothing(server):
    s = server("--idle-timeout", "2")
    with s.smtp() as c:
        c.ehlo()
        c.cmd("MAIL FROM:<sender@client.test>")
        c.cmd("RCPT TO:<alice@localhost>")
        assert c.cmd("DATA")[0] == 354
        c.send(b"Subject: stalled\r\n\r\nhalf a message\r\n")
        line = c.read_line_str(timeout=30)
        assert line.startswith("421"), line
        peer = helpers.client_peer(c)
    helpers.wait_session_end(s, "smtp", peer)
    helpers.deliver_barrier(s, "bob@localhost")
    assert s.messages("alice") == []
