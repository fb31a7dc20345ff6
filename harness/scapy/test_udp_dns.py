"""UDP on the stack and the relay client's DNS queries (RFC 768, RFC 1035
§4.1/§4.2.1, RFC 1123 §6.1.3.3, RFC 5452 §9): what leaves the DPDK build
is a well-formed Ethernet/IPv4/UDP/DNS frame with valid checksums, a lost
query is sent again unchanged, a forged answer (wrong id) is ignored, the
right one leads to the next lookup from a new port, and datagrams to ports
nobody listens on are counted and not answered.

Scapy plays the DNS server at its own address (10.99.N.3)."""

from __future__ import annotations

import smtplib
import time

import pytest
from scapy.layers.dns import DNS, DNSQR, DNSRRMX
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from conftest import Server

SILENCE = 0.5
DOMAIN = "example.test"


@pytest.fixture
def dns_srv(tmp_path):
    """A server whose --dns is Scapy's address, relaying for the namespace."""
    s = Server(tmp_path / "server0", [])
    s.options += ["--dns", s.scapy_ip, "--relay-from", f"10.99.{s.net}.0/24", "--retry-delay", "600"]
    try:
        yield s.start()
    finally:
        s.kill()
        print(f"--- stderr of {s.iface} ---\n{s.stderr[-3000:]}")


def queue_mail(srv, rcpt):
    with smtplib.SMTP(srv.ip, srv.smtp_port, timeout=10) as c:
        c.sendmail("alice@scapy.test", [rcpt], b"Subject: dns\r\n\r\nbody\r\n")


def is_query(srv, f, qtype=None, start_port=None):
    p = f.pkt
    return (UDP in p and p[IP].src == srv.ip and p[IP].dst == srv.scapy_ip and p[UDP].dport == 53
            and DNS in p and (qtype is None or p[DNSQR].qtype == qtype)
            and (start_port is None or p[UDP].sport != start_port))


def checksums_valid(ip_bytes: bytes) -> tuple[bool, bool]:
    """(IP header checksum, UDP checksum) as Scapy recomputes them."""
    original = IP(ip_bytes)
    fresh = original.copy()
    del fresh[IP].chksum
    del fresh[UDP].chksum
    fresh = IP(bytes(fresh))
    return original[IP].chksum == fresh[IP].chksum, original[UDP].chksum == fresh[UDP].chksum


def assert_well_formed_query(srv, f, name, qtype):
    p = f.pkt
    assert p[Ether].dst == srv.scapy_mac and p[Ether].src == srv.mac and p[Ether].type == 0x0800
    ip = p[IP]
    assert ip.version == 4 and ip.ihl == 5 and ip.flags == "DF" and ip.frag == 0 and ip.ttl == 64
    assert ip.proto == 17 and ip.len == len(bytes(ip))
    udp = p[UDP]
    assert 49152 <= udp.sport <= 65535, udp.sport  # RFC 6335 dynamic ports
    assert udp.len == 8 + len(bytes(udp.payload))
    assert udp.chksum != 0, "RFC 768: we always compute the checksum"
    ip_ok, udp_ok = checksums_valid(bytes(ip))
    assert ip_ok, "bad IPv4 header checksum"
    assert udp_ok, "bad UDP checksum"
    dns = p[DNS]
    assert dns.qr == 0 and dns.opcode == 0 and dns.rd == 1 and dns.tc == 0
    assert dns.qdcount == 1 and dns.ancount == 0 and dns.nscount == 0 and dns.arcount == 0
    assert dns.qd.qname == f"{name}.".encode() and dns.qd.qtype == qtype and dns.qd.qclass == 1


def answer(srv, query, ident=None, an=None):
    q = query.pkt
    return (Ether(src=srv.scapy_mac, dst=srv.mac) / IP(src=srv.scapy_ip, dst=srv.ip)
            / UDP(sport=53, dport=q[UDP].sport)
            / DNS(id=q[DNS].id if ident is None else ident, qr=1, rd=1, ra=1, qd=q[DNS].qd, an=an))


@pytest.mark.time_limit(60)
def test_dns_query_is_a_well_formed_udp_datagram_and_the_answer_leads_on(dns_srv):
    srv = dns_srv
    start = srv.wire.mark()
    queue_mail(srv, f"far@{DOMAIN}")
    _, first = srv.wire.wait(lambda f: is_query(srv, f, qtype=15), 10, start)
    assert first is not None, f"no MX query left the server; stderr:\n{srv.stderr[-2000:]}"
    assert_well_formed_query(srv, first, DOMAIN, 15)

    # RFC 1123 §6.1.3.3: unanswered, the same query (id, port) goes again.
    i, again = srv.wire.wait(lambda f: is_query(srv, f, qtype=15) and f is not first, 6,
                             srv.wire.mark())
    assert again is not None, "the query was not retransmitted"
    assert again.pkt[UDP].sport == first.pkt[UDP].sport and again.pkt[DNS].id == first.pkt[DNS].id

    # RFC 5452 §9.1: an answer with another id is not ours.
    # type given: Scapy 2.5's DNSRRMX defaults to 6 (SOA)
    mx = DNSRRMX(rrname=f"{DOMAIN}.", type=15, preference=10, exchange=f"mail.{DOMAIN}.")
    mark = srv.wire.mark()
    srv.wire.send(answer(srv, first, ident=(first.pkt[DNS].id + 1) & 0xFFFF, an=mx))
    time.sleep(SILENCE)
    assert not srv.wire.since(mark, lambda f: is_query(srv, f, qtype=1)), "a forged answer was taken"

    mark = srv.wire.mark()
    srv.wire.send(answer(srv, first, an=mx))
    _, a_query = srv.wire.wait(lambda f: is_query(srv, f, qtype=1), 5, mark)
    assert a_query is not None, f"no A query after the MX answer; stderr:\n{srv.stderr[-2000:]}"
    assert_well_formed_query(srv, a_query, f"mail.{DOMAIN}", 1)
    assert a_query.pkt[UDP].sport != first.pkt[UDP].sport, "RFC 5452 §9.2: a new port per query"

    # The MX query's port closed with it: a duplicate answer is counted, not answered.
    before = srv.counters()
    mark = srv.wire.mark()
    srv.wire.send(answer(srv, first, an=mx))
    time.sleep(SILENCE)
    assert not srv.wire.since(mark, lambda f: IP in f.pkt and f.pkt[IP].src == srv.ip
                              and not is_query(srv, f))
    after = srv.counters()
    assert after.get("drop.udp_no_service", 0) - before.get("drop.udp_no_service", 0) == 1, after


def test_datagram_to_a_port_nobody_listens_on_is_counted_not_answered(srv):
    before = srv.counters()
    mark = srv.wire.mark()
    frame = (Ether(src=srv.scapy_mac, dst=srv.mac) / IP(src=srv.scapy_ip, dst=srv.ip)
             / UDP(sport=40000, dport=9) / b"discard me")
    srv.wire.send(frame)
    time.sleep(SILENCE)
    assert not srv.wire.since(mark, lambda f: IP in f.pkt and f.pkt[IP].src == srv.ip)
    after = srv.counters()
    assert after.get("drop.udp_no_service", 0) - before.get("drop.udp_no_service", 0) == 1, after
    assert after.get("udp.rx", 0) - before.get("udp.rx", 0) == 1, after
    assert srv.alive()
