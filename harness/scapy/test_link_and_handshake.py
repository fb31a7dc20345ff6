"""ARP, ICMP echo, and the three-way handshake with its options."""

from __future__ import annotations

from scapy.layers.inet import TCP
from scapy.layers.l2 import ARP

from conftest import smtp_session
from wire import arp_resolve, icmp_echo, seq_add


def opts(pkt) -> dict:
    out = {}
    for o in pkt[TCP].options:
        if isinstance(o, tuple):
            out[o[0]] = o[1]
    return out


def test_rfc826_arp_request_for_own_address_is_answered(srv):
    f = arp_resolve(srv.wire, srv.scapy_mac, srv.scapy_ip, srv.ip, timeout=3)
    assert f is not None, "no ARP reply"
    a = f.pkt[ARP]
    assert a.op == 2 and a.psrc == srv.ip and a.hwdst == srv.scapy_mac and a.pdst == srv.scapy_ip
    assert f.pkt.dst == srv.scapy_mac, "reply must be unicast to the asker"
    assert a.hwsrc == f.pkt.src == srv.mac
    # RFC 826: a request for another address gets no reply.
    other = arp_resolve(srv.wire, srv.scapy_mac, srv.scapy_ip, srv.ip.rsplit(".", 1)[0] + ".77", timeout=0.6)
    assert other is None, "answered ARP for an address that is not its own"


def test_rfc1122_3_2_2_6_icmp_echo_request_is_answered_with_same_data(srv):
    data = bytes(range(64)) * 2
    for seq in range(3):
        f = icmp_echo(srv.wire, srv, ident=0x4242, seq=seq, data=data)
        assert f is not None, f"no echo reply to ping #{seq}"
        assert bytes(f.pkt["ICMP"].payload) == data, "echo reply must carry the request's data"


def test_rfc9293_3_5_three_way_handshake_synack_carries_mss(srv):
    c = srv.conn()
    synack = c.handshake(options=[("MSS", 1400)])
    o = opts(synack)
    assert "MSS" in o, f"SYN-ACK without MSS option: {synack[TCP].options}"
    assert 536 <= o["MSS"] <= 1460, o
    assert synack[TCP].ack == seq_add(c.isn, 1)
    # The handshake is complete: the greeting comes, nothing resets it.
    greeting, _ = c.read()
    assert greeting.startswith(b"220 "), greeting


def test_rfc7323_2_2_window_scale_only_if_offered(srv):
    plain = srv.conn()
    synack = plain.handshake(options=[("MSS", 1460)])
    assert "WScale" not in opts(synack), "window scale sent although the SYN did not offer it"
    scaled = srv.conn()
    synack = scaled.handshake(options=[("MSS", 1460), ("NOP", None), ("WScale", 7)])
    o = opts(synack)
    assert "WScale" in o, "window scale offered in SYN but not in SYN-ACK"
    assert 0 <= o["WScale"] <= 14
    # RFC 7323 §2.2: the window field of a SYN-ACK is never scaled.
    assert synack[TCP].window > 0
    for c in (plain, scaled):
        g, _ = c.read()
        assert g.startswith(b"220 ")


def test_rfc9293_3_5_full_smtp_session_by_hand(srv):
    smtp_session(srv)
