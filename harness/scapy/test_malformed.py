"""Malformed and unsupported frames are dropped without harm: no answer,
the matching drop counter moves (SIGUSR1 report), the process lives, and a
normal session works right afterwards."""

from __future__ import annotations

import random
import time

from scapy.layers.inet import ICMP, IP, TCP, IPOption
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from conftest import smtp_session

SILENCE = 0.5


def syn_frame(srv, sport, **ip_kw):
    return (Ether(src=srv.scapy_mac, dst=srv.mac) / IP(src=srv.scapy_ip, dst=srv.ip, **ip_kw)
            / TCP(sport=sport, dport=srv.smtp_port, flags="S", seq=random.randint(0, 2**32 - 1),
                  options=[("MSS", 1460)]))


def assert_dropped_without_harm(srv, frames, counter, at_least=None):
    before = srv.counters()
    start = srv.wire.mark()
    for f in frames:
        srv.wire.send(f)
    time.sleep(SILENCE)
    answers = srv.wire.since(start, lambda f: IP in f.pkt and f.pkt[IP].src == srv.ip)
    assert not answers, f"the server answered a malformed frame: {answers[0].pkt.summary()}"
    after = srv.counters()
    want = len(frames) if at_least is None else at_least
    got = after.get(counter, 0) - before.get(counter, 0)
    assert got >= want, f"{counter} moved by {got}, expected {want} (report: {after})"
    assert srv.alive(), "the server died"
    smtp_session(srv)


def test_rfc1122_3_2_1_2_bad_ip_header_checksum_is_discarded(srv):
    f = syn_frame(srv, 30001)
    raw = bytearray(bytes(f))
    raw[14 + 10] ^= 0x5A  # corrupt the IP header checksum
    assert_dropped_without_harm(srv, [bytes(raw)], "drop.ip_bad_checksum")


def test_rfc9293_3_1_bad_tcp_checksum_is_discarded(srv):
    f = syn_frame(srv, 30002)
    f[TCP].chksum = 0xBEEF
    assert_dropped_without_harm(srv, [f], "drop.tcp_bad_checksum")


def test_rfc791_truncated_ip_header_is_discarded(srv):
    whole = bytes(syn_frame(srv, 30003))
    short = whole[:14 + 12]  # 12 of the 20 IP header bytes
    assert_dropped_without_harm(srv, [short], "drop.ip_truncated")
    # Total length beyond what arrived (header checksum right).
    lying = syn_frame(srv, 30013, len=len(whole) - 14 + 100)
    assert_dropped_without_harm(srv, [lying], "drop.ip_bad_total_length")


def test_rfc9293_3_1_truncated_tcp_header_is_discarded(srv):
    base = Ether(src=srv.scapy_mac, dst=srv.mac) / IP(src=srv.scapy_ip, dst=srv.ip, proto=6)
    short = base / Raw(bytes(TCP(sport=30004, dport=srv.smtp_port, flags="S"))[:12])  # 12 of 20 bytes
    # Data offset says 60 bytes of header, 20 arrived (checksum right).
    long_offset = base / TCP(sport=30005, dport=srv.smtp_port, flags="S", dataofs=15)
    assert_dropped_without_harm(srv, [short], "drop.tcp_truncated")
    assert_dropped_without_harm(srv, [long_offset], "drop.tcp_bad_header_length")


def test_rfc9293_3_1_illegal_tcp_option_length_is_discarded(srv):
    """MUST-7: be prepared for an illegal option length (e.g. zero)."""
    def with_option_bytes(sport, opt: bytes):
        assert len(opt) % 4 == 0
        return (Ether(src=srv.scapy_mac, dst=srv.mac) / IP(src=srv.scapy_ip, dst=srv.ip)
                / TCP(sport=sport, dport=srv.smtp_port, flags="S", seq=12345, dataofs=5 + len(opt) // 4)
                / Raw(opt))
    frames = [
        with_option_bytes(30006, b"\x02\x00\x05\xb4"),          # MSS with length 0
        with_option_bytes(30007, b"\x01\x01\x08\x40"),          # timestamps running past the header
        with_option_bytes(30008, b"\x03\x04\x07\x00"),          # window scale with length 4
    ]
    assert_dropped_without_harm(srv, frames, "drop.tcp_bad_options")


def test_rfc9293_3_1_unknown_tcp_option_is_ignored(srv):
    """MUST-6: an option of unknown kind is skipped by its length, the
    segment is processed."""
    c = srv.conn()
    synack = c.handshake(options=[("MSS", 1460), (254, b"\xde\xad"), ("NOP", None), ("NOP", None)])
    assert synack is not None
    g, _ = c.read()
    assert g.startswith(b"220 ")


def test_rfc791_ip_fragments_are_dropped_without_harm(srv):
    """The stack does not reassemble (its own rule: DF on everything it
    sends, MSS keeps peers below the MTU); fragments are counted, not used."""
    first = syn_frame(srv, 30009, flags="MF", id=777)
    later = syn_frame(srv, 30010, frag=4, id=778)
    assert_dropped_without_harm(srv, [first, later], "drop.ip_fragment")


def synack_for(srv, frame, sport, timeout=3.0):
    start = srv.wire.mark()
    srv.wire.send(frame)
    _, f = srv.wire.wait(lambda f: TCP in f.pkt and f.pkt[IP].src == srv.ip and f.pkt[TCP].dport == sport
                         and f.pkt[TCP].flags == "SA", timeout, start)
    return f


def test_rfc1122_3_2_1_8_ip_options_are_ignored_not_dropped(srv):
    """A host ignores the options it does not implement: NOP/EOL padding,
    record route and timestamp do not stop a SYN (nor an echo request)."""
    for sport, option in ((30011, b"\x01\x01\x01\x00"),                   # NOP NOP NOP EOL
                          (30012, b"\x07\x07\x04\x00\x00\x00\x00\x00"),   # record route
                          (30013, b"\x44\x08\x05\x00\x00\x00\x00\x00")):  # timestamp
        f = synack_for(srv, syn_frame(srv, sport, options=[IPOption(option)]), sport)
        assert f is not None, f"no SYN-ACK to a SYN with IP option {option.hex()}"
        assert f.pkt[IP].ihl == 5, "our own datagrams carry no options"
    ping = (Ether(src=srv.scapy_mac, dst=srv.mac) / IP(src=srv.scapy_ip, dst=srv.ip, options=[IPOption(b"\x01" * 4)])
            / ICMP(type=8, id=7, seq=1) / Raw(b"with-options"))
    start = srv.wire.mark()
    srv.wire.send(ping)
    _, reply = srv.wire.wait(lambda f: ICMP in f.pkt and f.pkt[ICMP].type == 0, 3.0, start)
    assert reply is not None, "no echo reply to a request with IP options"
    assert reply.pkt[IP].ihl == 5 and bytes(reply.pkt[ICMP].payload) == b"with-options"


def test_source_route_options_are_refused_on_purpose(srv):
    """Deliberate (README): a loose or strict source route is dropped, not
    reversed, so no one can have us answer along a path they chose."""
    lsrr = syn_frame(srv, 30014, options=[IPOption(b"\x83\x07\x04\x0a\x63\x00\x09\x00")])
    ssrr = syn_frame(srv, 30015, options=[IPOption(b"\x89\x07\x04\x0a\x63\x00\x09\x00")])
    assert_dropped_without_harm(srv, [lsrr, ssrr], "drop.ip_source_route")


def test_rfc1122_3_2_1_7_ttl_zero_is_not_a_reason_to_drop(srv):
    assert synack_for(srv, syn_frame(srv, 30016, ttl=0), 30016) is not None, "a SYN with TTL 0 got no SYN-ACK"
