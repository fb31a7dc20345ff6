"""Wire hardening of the DPDK build against a hostile peer on the link:
a tiny announced MSS (CVE-2019-11479) and ARP cache poisoning through the
source addresses of IPv4 frames."""

from __future__ import annotations

from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import ARP, Ether

from wire import payload_of

LINE = b"x" * 980  # the echo reply is 986 octets: two segments at MSS 536


def echo_reply_sizes(srv, c) -> list[int]:
    greeting, _ = c.read()
    assert greeting.startswith(b"+OK"), greeting
    c.send(b"ECHO " + LINE + b"\r\n")
    data, frames = c.read()
    assert data == b"+OK " + LINE + b"\r\n"
    return [len(payload_of(f.pkt)) for f in frames]


def test_rfc9293_3_7_1_announced_mss_1_is_raised_to_536(srv):
    c = srv.conn(port=srv.echo_port)
    c.handshake(options=[("MSS", 1)])
    sizes = echo_reply_sizes(srv, c)
    # Before the floor each reply octet left in a segment of its own.
    assert sizes == [536, 450], sizes


def test_min_mss_option_lowers_the_floor(server):
    s = server("--min-mss", "200")
    c = s.conn(port=s.echo_port)
    c.handshake(options=[("MSS", 100)])
    sizes = echo_reply_sizes(s, c)
    assert sizes == [200] * 4 + [186], sizes


def test_rfc826_an_ipv4_source_is_never_learnt_only_arp_binds_an_address(srv):
    """A SYN from an on-link address the server has no entry for, sent from
    a forged MAC: the SYN-ACK must wait for ARP (who-has) and go to the MAC
    the ARP reply names, never to the frame's source MAC."""
    victim_ip = srv.ip.rsplit(".", 1)[0] + ".77"
    forged_mac, real_mac = "02:00:00:66:66:66", "02:00:00:77:77:77"
    c = srv.conn(client_ip=victim_ip, client_mac=forged_mac)
    start = srv.wire.mark()
    c.syn()
    _, who_has = srv.wire.wait(lambda f: ARP in f.pkt and f.pkt[ARP].op == 1 and f.pkt[ARP].pdst == victim_ip,
                               5.0, start)
    assert who_has is not None, "no ARP request for the SYN's source"
    to_forged = srv.wire.since(start, lambda f: TCP in f.pkt and f.pkt[Ether].dst == forged_mac)
    assert not to_forged, "answered the frame's source MAC without ARP"
    srv.wire.send(Ether(src=real_mac, dst=srv.mac) /
                  ARP(op=2, hwsrc=real_mac, psrc=victim_ip, hwdst=srv.mac, pdst=srv.ip))
    _, synack = srv.wire.wait(lambda f: TCP in f.pkt and IP in f.pkt and f.pkt[IP].dst == victim_ip
                              and int(f.pkt[TCP].flags) & 0x12 == 0x12, 5.0, start)
    assert synack is not None, "no SYN-ACK after the ARP reply"
    assert synack.pkt[Ether].dst == real_mac
