"""RFC 1122 §4.2.3.2 (delayed ACK) as the architecture uses it: the ACK of
a request is piggybacked on the segment that carries the reply — no pure ACK goes
out first when the reply is due at once. Where no reply is due at all (an
SMTP DATA body before its final dot) a pushed segment is ACKed at once, so
a Nagle client (RFC 9293 §3.7.4) is not held for the delayed-ACK time."""

from __future__ import annotations

import time

from scapy.layers.inet import TCP

from wire import flags_of, is_pure_ack, payload_of

QUIET_AFTER = 0.15  # s: longer than the 40 ms delayed-ACK time
DELAYED_ACK = 0.040  # s: the server's delayed-ACK time
AT_ONCE = 0.020      # s: an ACK sooner than this was not delayed


def assert_reply_carries_ack(c, line: bytes, expect_prefix: bytes):
    c.send(line)
    sent_up_to = c.snd_nxt
    f = c.next(2.0)
    assert f is not None, f"no segment after {line!r}"
    p = f.pkt
    assert not is_pure_ack(p), (f"the first segment after {line!r} is a pure ACK "
                                f"(flags {flags_of(p)}, ack {p[TCP].ack}); the reply should carry the ACK")
    assert p[TCP].ack == sent_up_to, f"reply ACKs {p[TCP].ack}, request ended at {sent_up_to}"
    assert payload_of(p).startswith(expect_prefix), payload_of(p)
    assert "A" in flags_of(p)
    c.rcv_nxt = (p[TCP].seq + len(payload_of(p))) & 0xFFFFFFFF
    c.ack()
    # And no stray pure ACK for the request afterwards either.
    later = c.segments_within(QUIET_AFTER)
    assert not [x for x in later if is_pure_ack(x.pkt)], "a pure ACK followed the reply"


def test_rfc1122_4_2_3_2_smtp_helo_reply_carries_the_ack(srv):
    c = srv.conn(srv.smtp_port)
    c.handshake()
    g, _ = c.read()
    assert g.startswith(b"220 ")
    assert_reply_carries_ack(c, b"HELO client.scapy\r\n", b"250 ")
    assert_reply_carries_ack(c, b"NOOP\r\n", b"250")


def test_rfc1122_4_2_3_2_pop3_user_reply_carries_the_ack(srv):
    c = srv.conn(srv.pop3_port)
    c.handshake()
    g, _ = c.read()
    assert g.startswith(b"+OK"), g
    assert_reply_carries_ack(c, b"USER alice\r\n", b"+OK")


def test_rfc1122_4_2_3_2_echo_reply_carries_the_ack(srv):
    c = srv.conn(srv.echo_port)
    c.handshake()
    g, _ = c.read()
    assert g.startswith(b"+OK"), g
    assert_reply_carries_ack(c, b"ECHO hello wire\r\n", b"+OK hello wire")


def test_rfc1122_4_2_3_2_partial_line_gets_delayed_pure_ack(srv):
    """The other half of the rule: with no reply due (half a command), the
    ACK is delayed (< 500 ms) and then sent alone."""
    c = srv.conn(srv.echo_port)
    c.handshake()
    c.read()
    t0 = time.monotonic()
    c.send(b"ECHO no end of line yet")
    f = c.next(1.0)
    assert f is not None, "no ACK at all for a partial line within 1 s"
    assert is_pure_ack(f.pkt) and f.pkt[TCP].ack == c.snd_nxt
    delay = f.t - t0
    assert 0.02 <= delay < 0.5, f"pure ACK after {delay * 1000:.0f} ms (delayed ACK is 40 ms, must be < 500)"


def smtp_in_data(srv):
    """A hand-made SMTP session up to the 354 of DATA; the commands answered
    at once (all but RCPT, which waits on the store) carry their ACKs."""
    c = srv.conn(srv.smtp_port)
    c.handshake()
    g, _ = c.read()
    assert g.startswith(b"220 "), g
    assert_reply_carries_ack(c, b"HELO client.scapy\r\n", b"250 ")
    assert_reply_carries_ack(c, b"MAIL FROM:<bob@client.scapy>\r\n", b"250 ")
    reply = c.command(b"RCPT TO:<alice@scapy.test>\r\n")
    assert reply.startswith(b"250 "), reply
    assert_reply_carries_ack(c, b"DATA\r\n", b"354 ")
    return c


def ack_after(c, payload: bytes, flags: str) -> float:
    """Sends a piece of the body; returns how long its (pure) ACK took."""
    t0 = time.monotonic()
    c.send(payload, flags=flags)
    f = c.next(1.0)
    assert f is not None, f"no ACK for {payload!r} within 1 s"
    assert is_pure_ack(f.pkt), f"{payload!r} answered by {flags_of(f.pkt)} {payload_of(f.pkt)!r}"
    assert f.pkt[TCP].ack == c.snd_nxt, f"ACK {f.pkt[TCP].ack}, the piece ended at {c.snd_nxt}"
    return f.t - t0


def test_rfc1122_4_2_3_2_pushed_data_body_piece_is_acked_at_once(srv):
    """No reply is due for a line of the body: a pushed piece gets its pure
    ACK at once, one that is not pushed waits the delayed-ACK time."""
    c = smtp_in_data(srv)
    for piece in (b"Subject: pieces\r\n", b"\r\n", b"first line\r\n"):
        delay = ack_after(c, piece, "PA")
        assert delay < AT_ONCE, f"pushed body piece ACKed after {delay * 1000:.1f} ms (delayed, not at once)"
    delay = ack_after(c, b"not pushed\r\n", "A")
    assert 0.02 <= delay < 0.5, f"unpushed piece ACKed after {delay * 1000:.1f} ms (expected the delayed ACK)"


def test_rfc1122_4_2_3_2_final_dot_is_acked_by_the_250_or_after_the_delayed_ack_time(srv):
    """The final dot is owed the 250 once the message is durable: the 250
    carries the ACK, or — while the durable write takes longer — a pure ACK
    goes out no sooner than the delayed-ACK time, then the 250."""
    c = smtp_in_data(srv)
    ack_after(c, b"Subject: dot\r\n\r\nbody\r\n", "PA")
    t0 = time.monotonic()
    c.send(b".\r\n")
    f = c.next(5.0)
    assert f is not None, "nothing after the final dot within 5 s"
    if is_pure_ack(f.pkt):
        delay = f.t - t0
        assert delay >= DELAYED_ACK * 0.75, (f"pure ACK {delay * 1000:.1f} ms after the final dot, before "
                                             f"the delayed-ACK time: the 250 should have carried it")
        f = c.next(5.0, lambda p: payload_of(p))
        assert f is not None, "no 250 after the final dot"
    assert payload_of(f.pkt).startswith(b"250 "), payload_of(f.pkt)
    assert f.pkt[TCP].ack == c.snd_nxt
    c.rcv_nxt = (f.pkt[TCP].seq + len(payload_of(f.pkt))) & 0xFFFFFFFF
    c.ack()
    assert len(srv.messages("alice")) == 1
