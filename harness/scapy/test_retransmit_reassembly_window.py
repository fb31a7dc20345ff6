"""Retransmission back-off (RFC 6298), out-of-order reassembly (RFC 9293
§3.10.7.4 seventh step, RFC 5681 §4.2), zero-window probing (RFC 9293
§3.8.6.1)."""

from __future__ import annotations

import time

import pytest
from scapy.layers.inet import TCP

from wire import is_pure_ack, payload_of, seq_add, seq_diff


@pytest.mark.time_limit(40)
def test_rfc6298_5_5_unacked_greeting_is_retransmitted_with_backoff(srv):
    c = srv.conn()
    c.handshake()
    # Do not ACK the greeting: collect the server's copies of it.
    copies = []
    deadline = time.monotonic() + 8.0
    while len(copies) < 5 and time.monotonic() < deadline:
        f = c.next(max(deadline - time.monotonic(), 0), lambda p: payload_of(p))
        if f is None:
            break
        copies.append(f)
    assert len(copies) >= 4, f"only {len(copies)} copies of the greeting in 8 s (expected the original + 3 retransmissions)"
    first = copies[0].pkt
    for f in copies[1:]:
        assert f.pkt[TCP].seq == first[TCP].seq, "a retransmission must start at SND.UNA"
        assert payload_of(f.pkt) == payload_of(first), "retransmitted bytes differ"
    gaps = [b.t - a.t for a, b in zip(copies, copies[1:])]
    print("retransmission intervals (s):", ", ".join(f"{g:.3f}" for g in gaps))
    # RFC 6298: RTO >= the 200 ms floor the engine uses (1 s initial when
    # no RTT sample), at most 60 s; (5.5) doubles after each expiry.
    assert 0.18 <= gaps[0] <= 1.3, f"first retransmission after {gaps[0]:.3f} s"
    for a, b in zip(gaps, gaps[1:]):
        # Doubling, with 100 ms of slack for a busy machine's scheduling.
        assert 2 * a - 0.1 - 0.2 * a <= b <= 2 * a + 0.1 + 0.25 * a, f"intervals {gaps} do not double"
    # ACK it now: the session goes on normally.
    c.rcv_nxt = seq_add(first[TCP].seq, len(payload_of(first)))
    c.ack()
    assert c.command(b"HELO client.scapy\r\n").startswith(b"250 ")
    counters = srv.counters()
    assert counters["tcp.retransmits"] >= 3


def test_rfc9293_3_10_7_4_out_of_order_text_is_reassembled(srv):
    c = srv.conn()
    c.handshake()
    g, _ = c.read()
    assert g.startswith(b"220 ")
    line = b"HELO out-of-order.scapy\r\n"
    first, second = line[:9], line[9:]
    base = c.snd_nxt
    # The second half first: held, and (RFC 5681 §4.2) a duplicate ACK at once.
    c.send(second, seq=seq_add(base, len(first)))
    f = c.next(1.0)
    assert f is not None, "no immediate ACK for an out-of-order segment"
    assert is_pure_ack(f.pkt) and f.pkt[TCP].ack == base, \
        f"expected a duplicate ACK of {base}, got ack {f.pkt[TCP].ack} flags {f.pkt[TCP].flags}"
    # Then the first half: the whole line is there, the reply ACKs all of it.
    c.send(first, seq=base)
    c.snd_nxt = seq_add(base, len(line))
    f = c.next(2.0, lambda p: payload_of(p))
    assert f is not None, "no reply once the hole was filled"
    assert f.pkt[TCP].ack == c.snd_nxt, "the reply must acknowledge both halves"
    assert payload_of(f.pkt).startswith(b"250 "), payload_of(f.pkt)


@pytest.mark.time_limit(40)
def test_rfc9293_3_8_6_1_zero_window_is_probed_and_respected(srv):
    c = srv.conn()
    c.handshake()
    g, _ = c.read(ack=False)
    assert g.startswith(b"220 ")
    # ACK the greeting with a zero window, and ask for a reply (EHLO: several lines).
    c.window = 0
    base_seen = c.rcv_nxt
    c.send(b"EHLO zero-window.scapy\r\n")
    probes = []
    deadline = time.monotonic() + 6.0
    while len(probes) < 3 and time.monotonic() < deadline:
        f = c.next(max(deadline - time.monotonic(), 0))
        if f is None:
            break
        p = f.pkt
        body = payload_of(p)
        if body:
            # Nothing beyond the window: at most one octet of probe, at RCV.NXT.
            assert len(body) <= 1, f"{len(body)} bytes sent into a zero window"
            assert p[TCP].seq == base_seen, "a probe must carry the next octet (at SND.UNA)"
            probes.append(f)
        # Answer like a receiver whose window is still closed: ACK nothing new.
        c.ack()
    assert len(probes) >= 2, f"only {len(probes)} zero-window probes in 6 s"
    gaps = [b.t - a.t for a, b in zip(probes, probes[1:])]
    print("zero-window probe intervals (s):", ", ".join(f"{x:.3f}" for x in gaps))
    # Open the window: the whole reply comes.
    c.window = 65535
    c.ack()
    data, _ = c.read(until=b"\r\n", timeout=3.0)
    deadline = time.monotonic() + 3.0
    while b"\r\n250 " not in b"\r\n" + data and time.monotonic() < deadline:
        more, _ = c.read(timeout=max(deadline - time.monotonic(), 0.1))
        data += more
    assert data.startswith(b"250"), data
    assert b"PIPELINING" in data, data
    assert c.command(b"NOOP\r\n").startswith(b"250")


@pytest.mark.time_limit(40)
def test_rfc6298_3_karn_no_rtt_sample_from_a_retransmitted_synack(srv):
    """Karn (RFC 6298 §3): an ACK of a retransmitted SYN-ACK gives no RTT
    sample; §5.7: after a SYN(-ACK) timeout the RTO for data is 3 s. So
    with the handshake ACK held back past two SYN-ACK retransmissions, the
    greeting's first retransmission comes after about 3 s (4 s if the
    backed-off RTO is kept) — not after an RTO computed from a bogus
    ~3 s "sample" (3 + 4 * 1.5 = 9 s)."""
    c = srv.conn()
    c.syn()
    synacks = []
    deadline = time.monotonic() + 6.0
    while len(synacks) < 3 and time.monotonic() < deadline:
        f = c.next(max(deadline - time.monotonic(), 0), lambda p: int(p[TCP].flags) & 0x12 == 0x12)
        if f is None:
            break
        synacks.append(f)
    assert len(synacks) == 3, f"{len(synacks)} SYN-ACKs in 6 s (the original and 2 retransmissions expected)"
    print("SYN-ACK retransmission intervals (s):",
          ", ".join(f"{b.t - a.t:.3f}" for a, b in zip(synacks, synacks[1:])))
    c.irs = synacks[0].pkt[TCP].seq
    c.rcv_nxt = seq_add(c.irs, 1)
    c.ack()
    greeting = c.next(2.0, lambda p: payload_of(p))
    assert greeting is not None, "no greeting after the handshake"
    again = c.next(12.0, lambda p: payload_of(p))
    assert again is not None, "greeting never retransmitted within 12 s"
    rto = again.t - greeting.t
    print(f"first data RTO after a retransmitted SYN-ACK: {rto:.3f} s")
    assert rto <= 4.5, (f"greeting retransmitted after {rto:.2f} s: the ACK of a retransmitted SYN-ACK "
                        f"was taken as an RTT sample (Karn's rule)")
