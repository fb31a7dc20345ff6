"""SPEC --max-hops, RFC 5321 §6.3 loop detection: a message whose header
section carries more than N (default 100) Received: fields is refused after
its final dot with 554 5.4.6, and nothing of it is stored or queued; N
fields pass. Both builds, a real client (smtplib), local and relayed mail,
and a big message that the server streams to its spool as it arrives."""

import smtplib

import pytest

import helpers
from test_relay import relay_server, smarthost  # noqa: F401  (fixture)


def message(received: int, marker: str, body_lines=()) -> bytes:
    hops = b"".join(b"Received: from hop%d.example by hop%d.example; Fri, 4 Dec 2026 21:00:00 +0000\r\n"
                    % (i, i + 1) for i in range(received))
    return hops + helpers.make_message(marker, body_lines)


def send(s, rcpt: str, msg: bytes):
    """smtplib's sendmail; returns (code, text) of the final reply."""
    with smtplib.SMTP(s.host, s.smtp_port, timeout=60) as c:
        try:
            c.sendmail("sender@client.test", [rcpt], msg)
        except smtplib.SMTPDataError as e:
            return e.smtp_code, e.smtp_error
    return 250, b""


def received_count(stored: bytes) -> int:
    header, _ = helpers.split_header(stored)
    return sum(1 for f in header if helpers.field_name(f) == "received")


def test_a_hundred_received_lines_pass_and_are_stored(server):
    s = server()
    assert send(s, "alice@e2e.test", message(100, "hundred")) == (250, b"")
    stored = s.wait_messages("alice", 1)
    # Ours on top: the next hop counts 101 and refuses it (RFC 5321 §6.3).
    assert received_count(stored[0]) == 101
    assert b"marker hundred" in stored[0]


def test_a_hundred_and_one_received_lines_are_refused_554_and_nothing_is_stored(server):
    s = server()
    code, text = send(s, "alice@e2e.test", message(101, "looping"))
    assert code == 554, text
    assert text.startswith(b"5.4.6 "), text
    assert b"Too many hops" in text
    helpers.wait_log_event(s, "smtp", "rejected", detail=r"reason=too many hops")
    helpers.deliver_barrier(s, "bob@e2e.test")
    assert s.messages("alice") == []
    assert helpers.queue_files(s.queue_dir) == []


def test_max_hops_sets_the_limit(server):
    s = server("--max-hops", "5")
    assert send(s, "alice@e2e.test", message(6, "six"))[0] == 554
    assert send(s, "alice@e2e.test", message(5, "five")) == (250, b"")
    assert len(s.wait_messages("alice", 1)) == 1


def test_received_lines_in_the_body_do_not_count(server):
    s = server("--max-hops", "2")
    body = [b"Received: quoted in the body, not a hop"] * 10
    assert send(s, "alice@e2e.test", message(2, "quoted", body)) == (250, b"")
    assert len(s.wait_messages("alice", 1)) == 1


def test_a_big_looping_message_leaves_no_spool_and_the_session_goes_on(server):
    s = server()
    body = [b"x" * 998] * 1100  # ~1.1 MB: spooled in chunks while it arrives
    with smtplib.SMTP(s.host, s.smtp_port, timeout=120) as c:
        with pytest.raises(smtplib.SMTPDataError) as refused:
            c.sendmail("sender@client.test", ["alice@e2e.test"], message(101, "big", body))
        assert refused.value.smtp_code == 554
        # The same session: the next message is taken.
        c.sendmail("sender@client.test", ["alice@e2e.test"], message(1, "after"))
    stored = s.wait_messages("alice", 1)
    assert len(stored) == 1 and b"marker after" in stored[0]
    assert helpers.spool_files(s.queue_dir) == []


def test_relayed_mail_with_a_hundred_and_one_received_lines_is_not_queued(server, smarthost):  # noqa: F811
    h = smarthost()
    s = relay_server(server, h.port)
    code, text = send(s, "far@example.com", message(101, "relay-loop"))
    assert (code, text[:6]) == (554, b"5.4.6 ")
    assert helpers.queue_files(s.queue_dir) == []
    # A hundred pass, reach the next hop, and carry our Received: on top.
    assert send(s, "far@example.com", message(100, "relay-ok")) == (250, b"")
    helpers.wait_until(lambda: h.received, timeout=30, what="message at the smarthost")
    assert len(h.received) == 1
    _, rcpts, data = h.received[0]
    assert rcpts == [b"RCPT TO:<far@example.com>"]
    assert b"marker relay-ok" in data
    assert received_count(data) == 101
