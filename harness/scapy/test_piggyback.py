"""RFC 1122 §4.2.3.2 (delayed ACK) as the architecture uses it: the ACK of
a request rides on the segment that carries the reply — no pure ACK goes
out first when the reply is due at once."""

from __future__ import annotations

import time

from scapy.layers.inet import TCP

from wire import flags_of, is_pure_ack, payload_of

QUIET_AFTER = 0.15  # s: longer than the 40 ms delayed-ACK time


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
