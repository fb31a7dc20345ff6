#!/usr/bin/python3
"""Writes the seed corpora of the fuzz targets (harness/fuzz/corpus/TARGET/).

Seeds are small, well-formed inputs in each target's input format (see the
comment at the top of each *_fuzz.cpp): libFuzzer mutates from them, and
run.sh replays every one on each run. Run again after changing a format.
"""
from __future__ import annotations

import struct
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent / "corpus"


def write(target: str, name: str, data: bytes) -> None:
    d = OUT / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)


# ---------------------------------------------------------------- SMTP server
# settings: relay/fill/size/rcpt bits, piece-size seed, store seed, 0
def smtp_server() -> None:
    body = b"Subject: hi\r\nFrom: <a@b.test>\r\n\r\n..leading dot\r\nline\r\n"
    write("smtp_server", "esmtp_transaction", b"\x02\x05\x03\x00"
          b"EHLO client.test\r\nMAIL FROM:<a@b.test> SIZE=100 BODY=8BITMIME\r\n"
          b"RCPT TO:<alice@mx.test>\r\nRCPT TO:<Bob@MX.test>\r\nDATA\r\n" + body + b".\r\nQUIT\r\n")
    write("smtp_server", "helo_pipelined_relay", b"\x01\x07\x01\x00"
          b"HELO c\r\nMAIL FROM:<>\r\nRCPT TO:<x@far.test>\r\nRCPT TO:<y@[10.99.0.1]>\r\nDATA\r\n"
          b"x\r\n.\r\nRSET\r\nNOOP\r\nVRFY alice\r\nEXPN list\r\nHELP\r\nQUIT\r\n")
    write("smtp_server", "no_relay", b"\x00\x03\x02\x00"
          b"EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<victim@far.test>\r\nRCPT TO:<alice@mx.test>\r\n"
          b"DATA\r\nbare\nLF\r\n.\r\nquit\r\n")
    write("smtp_server", "errors", b"\x0c\x02\x04\x00"
          b"DATA\r\nMAIL FROM:<a@b>\r\nEHLO\r\nmail from:<a@b.test> SIZE=99999\r\nBDAT 10\r\n"
          + b"X" * 1100 + b"\r\nRCPT TO:<a@mx.test>\r\nRCPT TO:<b@mx.test>\r\nRCPT TO:<c@mx.test>\r\n"
          b"RCPT TO:<d@mx.test>\r\nDATA\r\n" + b"y" * 400 + b"\r\n.\r\nQUIT\r\n")


# ---------------------------------------------------------------- POP3 server
def pop3_server() -> None:
    write("pop3_server", "session", b"\x00\x03\x05\x00"
          b"CAPA\r\nUSER alice\r\nPASS secret\r\nSTAT\r\nLIST\r\nLIST 1\r\nUIDL\r\nUIDL 2\r\n"
          b"RETR 1\r\nTOP 2 1\r\nDELE 1\r\nRSET\r\nDELE 2\r\nNOOP\r\nQUIT\r\n")
    write("pop3_server", "failures_and_apop", b"\x00\x01\x00\x00"
          b"USER bob\r\nPASS a\r\nUSER bob\r\nPASS b\r\nUSER bob\r\nPASS c\r\nUSER bob\r\nPASS d\r\n"
          b"APOP bob 0123456789abcdef0123456789abcdef\r\nQUIT\r\n")
    write("pop3_server", "drop_mid_retr", b"\x00\x09\x07\x01"
          b"user carol\r\npass pw\r\nretr 1\r\nretr 9\r\ntop 1 0\r\ndele 99\r\n")


# ---------------------------------------------------------------- SMTP client
def smtp_client() -> None:
    write("smtp_client", "delivery", b"\x01\x02\x03\x00"
          b"220 mx.far.test ESMTP\r\n250-mx.far.test\r\n250-SIZE 1000000\r\n250-8BITMIME\r\n250 PIPELINING\r\n"
          b"250 2.1.0 ok\r\n250 2.1.5 ok\r\n550 5.1.1 no such user\r\n354 go ahead\r\n250 2.0.0 queued\r\n221 bye\r\n")
    write("smtp_client", "helo_fallback", b"\x00\x01\x01\x00"
          b"220 x\r\n502 no EHLO\r\n250 hi\r\n451 4.3.0 try later\r\n")
    write("smtp_client", "rejected_after_dot", b"\x00\x01\x01\x00"
          b"220-first\r\n220 second\r\n250 ok\r\n250 ok\r\n250 ok\r\n354 send\r\n554 5.6.0 rejected\rbare cr\r\n221 bye\r\n")
    write("smtp_client", "size_too_big", b"\x0b\x05\x02\x10"
          b"220 x\r\n250-x\r\n250 SIZE 10\r\n")


# ---------------------------------------------------------------- DNS
def dns_name(dotted: str) -> bytes:
    return b"".join(bytes([len(p)]) + p.encode() for p in dotted.split(".") if p) + b"\0"


def dns_answer(qid: int, qtype: int, answers: list[bytes], flags: int = 0x8180) -> bytes:
    head = struct.pack("!HHHHHH", qid, flags, 1, len(answers), 0, 0)
    return head + dns_name("example.com") + struct.pack("!HH", qtype, 1) + b"".join(answers)


def rr(rtype: int, rdata: bytes) -> bytes:
    return b"\xc0\x0c" + struct.pack("!HHIH", rtype, 1, 300, len(rdata)) + rdata


def dns() -> None:
    mx = [rr(15, struct.pack("!H", 10) + b"\x03mx1\xc0\x0c"), rr(15, struct.pack("!H", 20) + dns_name("mx2.other.net"))]
    write("dns", "mx_compressed", b"\x01\x12\x34" + dns_answer(0x1234, 15, mx))
    write("dns", "null_mx", b"\x01\x00\x07" + dns_answer(7, 15, [rr(15, b"\x00\x00\x00")]))
    write("dns", "a_after_cname", b"\x00\x00\x09" + dns_answer(9, 1, [rr(5, dns_name("real.example.com")),
                                                                    rr(1, bytes([192, 0, 2, 1]))]))
    write("dns", "nxdomain", b"\x01\x00\x05" + dns_answer(5, 15, [], flags=0x8183))
    write("dns", "truncated", b"\x01\x00\x05" + dns_answer(5, 15, [], flags=0x8380))
    write("dns", "bad_exchange", b"\x01\x00\x06" + dns_answer(6, 15, [rr(15, b"\x00\x05\x06mx\nevil\x00")]))


# ---------------------------------------------------------------- wire (Scapy)
def wire() -> None:
    from scapy.layers.dns import DNS, DNSQR
    from scapy.layers.inet import ICMP, IP, TCP, UDP
    from scapy.layers.l2 import ARP, Ether
    eth = Ether(src="02:00:00:00:00:02", dst="02:00:00:00:00:01")
    ip = IP(src="10.99.0.2", dst="10.99.0.1")
    frames = {
        "arp_request": Ether(dst="ff:ff:ff:ff:ff:ff", src="02:00:00:00:00:02") /
                       ARP(op=1, hwsrc="02:00:00:00:00:02", psrc="10.99.0.2", pdst="10.99.0.1"),
        "tcp_syn_options": eth / ip / TCP(sport=40000, dport=2500, flags="S", seq=1000,
                                          options=[("MSS", 1460), ("SAckOK", b""), ("Timestamp", (1, 0)),
                                                   ("NOP", None), ("WScale", 7)]),
        "tcp_data": eth / ip / TCP(sport=40000, dport=2500, flags="PA", seq=1001, ack=5) / b"EHLO x\r\n",
        "udp_dns": eth / ip / UDP(sport=53, dport=33333) / DNS(id=7, qr=1, qd=DNSQR(qname="example.com", qtype="MX")),
        "icmp_echo": eth / ip / ICMP(type=8, id=1, seq=1) / b"ping data",
        "ip_options": eth / IP(src="10.99.0.2", dst="10.99.0.1", ihl=6, options=b"\x01\x01\x01\x00") /
                      TCP(sport=1, dport=2, flags="A"),
    }
    for name, frame in frames.items():
        write("wire", name, b"\x01" + bytes(frame))


# ---------------------------------------------------------------- TCP engine
class Ops:
    """Operations in tcp_engine_fuzz.cpp's encoding."""

    def __init__(self, settings: bytes = b"\x00\x01\x00\x00"):
        self.out = bytearray(settings)

    def syn(self, k: int, iss: int, mss: int | None = 1460, wscale: int = 7):
        self.out += bytes([8 * k, 0x02, 0, 0, 0xff, 0]) + struct.pack("!H", iss)
        self.out += (b"\x01" + struct.pack("!H", mss)) if mss is not None else b"\x00"
        self.out += bytes([wscale + 1])
        return self

    def segment(self, k: int, flags: int, distance: int = 0, payload: bytes = b""):
        self.out += bytes([8 * k, flags, distance & 0xff, 0, 0xff, len(payload)]) + payload
        return self

    def ack(self, k: int):
        return self.segment(k, 0x10)

    def data(self, k: int, text: bytes):
        self.out += bytes([6 + 8 * k, len(text)]) + text
        return self

    def wait_ms(self, ms: int):
        self.out += bytes([4, ms])
        return self

    def wait_s(self, s: int):
        self.out += bytes([4 | 0x80, s])
        return self

    def answer(self):
        self.out += bytes([5])
        return self

    def answer_all(self):
        self.out += bytes([7])
        return self

    def shutdown(self):
        self.out += bytes([7 | 0x80])
        return self


def tcp_engine() -> None:
    smtp = (Ops().syn(0, 100).ack(0).data(0, b"EHLO c\r\n").ack(0).data(0, b"MAIL FROM:<a@b.test>\r\n")
            .data(0, b"RCPT TO:<alice@mx.test>\r\n").answer().ack(0).data(0, b"DATA\r\n").ack(0)
            .data(0, b"Subject: x\r\n\r\nbody\r\n.\r\n").answer().ack(0).data(0, b"QUIT\r\n").ack(0)
            .segment(0, 0x11).wait_ms(50).ack(0))
    write("tcp_engine", "smtp_session", bytes(smtp.out))
    pop3 = (Ops().syn(1, 200).ack(1).data(1, b"USER alice\r\n").ack(1).data(1, b"PASS pw\r\n").answer().ack(1)
            .data(1, b"LIST\r\n").ack(1).data(1, b"RETR 1\r\n").answer().ack(1).data(1, b"DELE 1\r\n")
            .data(1, b"QUIT\r\n").answer().ack(1).segment(1, 0x11))
    write("tcp_engine", "pop3_session", bytes(pop3.out))
    echo = (Ops(b"\x01\x01\x00\x00").syn(2, 300, mss=1).ack(2).data(2, b"ECHO " + b"e" * 150 + b"\r\n")
            .wait_ms(200).ack(2).segment(2, 0x18, distance=20, payload=b"late\r\n").segment(2, 0x18, payload=b"ECHO a")
            .wait_s(2).ack(2).segment(2, 0x04))
    write("tcp_engine", "echo_small_mss_reorder", bytes(echo.out))
    flood = Ops(b"\x18\x02\x00\x00")
    for k in range(6):
        flood.syn(k, 400 + k, mss=536)
    flood.wait_s(3).ack(0).ack(3).data(0, b"HELO x\r\n").shutdown().wait_s(60)
    write("tcp_engine", "backlog_cookies_refusals", bytes(flood.out))
    window = (Ops(b"\x04\x01\x00\x00").syn(1, 500).ack(1).data(1, b"USER alice\r\nPASS pw\r\n").answer()
              .data(1, b"RETR 1\r\n").answer().wait_s(1).wait_s(3).answer_all().ack(1).segment(1, 0x14))
    write("tcp_engine", "pop3_retransmit_reset", bytes(window.out))


def main() -> int:
    smtp_server()
    pop3_server()
    smtp_client()
    dns()
    wire()
    tcp_engine()
    return 0


if __name__ == "__main__":
    sys.exit(main())
