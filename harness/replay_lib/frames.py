"""Ethernet/IPv4/TCP frames of the workload, and pcap files.

Scapy lays out each client's headers once (a template per client: its MAC
and address, the server's); every frame is then that template with the
per-segment fields packed in place and both checksums computed here —
Scapy building each of a hundred thousand frames would take minutes.
Reading the server's output is plain struct unpacking for the same reason.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import ARP, Ether

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10

ETH, IP_AT, TCP_AT = 14, 14, 34
CLIENT_WINDOW = 65535  # no window scale offered: the server sends within 64 KiB
CLIENT_MSS = 1460
# A frame no one is addressed by (a locally administered unicast MAC that
# is not the server's): baremail drops it at its first check. The schedule
# uses it to let store replies come out when every client is waiting.
FILLER_MAC = "02:00:00:00:00:fe"


def inet_checksum(data: bytes) -> int:
    """RFC 1071 one's-complement sum, complemented. Words add up as the
    number's value modulo 0xffff, since 2**16 = 1 (mod 0xffff)."""
    if len(data) & 1:
        data += b"\0"
    value = int.from_bytes(data, "big")
    folded = value % 0xFFFF
    if folded == 0 and value != 0:
        folded = 0xFFFF
    return ~folded & 0xFFFF


def ip_to_int(text: str) -> int:
    a, b, c, d = (int(x) for x in text.split("."))
    return (a << 24) | (b << 16) | (c << 8) | d


def int_to_ip(value: int) -> str:
    return ".".join(str((value >> s) & 0xFF) for s in (24, 16, 8, 0))


class ClientFrames:
    """Frames from one client (MAC, address) to the server."""

    def __init__(self, client_mac: str, client_ip: str, server_mac: str, server_ip: str):
        self.src = ip_to_int(client_ip)
        self.dst = ip_to_int(server_ip)
        ip = IP(src=client_ip, dst=server_ip, ttl=64, flags="DF", id=0)
        ether = Ether(src=client_mac, dst=server_mac)
        # RFC 9293 §3.7.1: the SYN names our MSS; later segments carry no option.
        self.syn_template = bytes(ether / ip / TCP(flags="S", window=CLIENT_WINDOW, options=[("MSS", CLIENT_MSS)]))
        self.template = bytes(ether / ip / TCP(flags="A", window=CLIENT_WINDOW))
        self.ip_id = 0

    def segment(self, sport: int, dport: int, seq: int, ack: int, flags: int, payload: bytes = b"") -> bytes:
        frame = bytearray(self.syn_template if flags & SYN else self.template)
        tcp_length = len(frame) - TCP_AT + len(payload)
        struct.pack_into("!H", frame, IP_AT + 2, 20 + tcp_length)
        struct.pack_into("!H", frame, IP_AT + 4, self.ip_id)
        self.ip_id = (self.ip_id + 1) & 0xFFFF
        struct.pack_into("!H", frame, IP_AT + 10, 0)
        struct.pack_into("!H", frame, IP_AT + 10, inet_checksum(bytes(frame[IP_AT:TCP_AT])))
        struct.pack_into("!HHII", frame, TCP_AT, sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF if flags & ACK else 0)
        frame[TCP_AT + 13] = flags
        struct.pack_into("!H", frame, TCP_AT + 16, 0)
        frame += payload
        pseudo = struct.pack("!IIBBH", self.src, self.dst, 0, 6, tcp_length)
        struct.pack_into("!H", frame, TCP_AT + 16, inet_checksum(pseudo + bytes(frame[TCP_AT:])))
        return bytes(frame)


def arp_request(client_mac: str, client_ip: str, server_ip: str) -> bytes:
    """RFC 826: who has the server's address, tell the client. The server
    answers and, the request being for it, enters the client in its cache."""
    return bytes(Ether(dst="ff:ff:ff:ff:ff:ff", src=client_mac) /
                 ARP(op="who-has", hwsrc=client_mac, psrc=client_ip, pdst=server_ip))


def filler_frame(client_mac: str) -> bytes:
    """A minimum frame for another station (IEEE 802 local experimental type)."""
    header = bytes(Ether(dst=FILLER_MAC, src=client_mac, type=0x88B5))
    return header + bytes(60 - len(header))


# ---------------------------------------------------------------- pcap files

PCAP_MAGIC_US, PCAP_MAGIC_NS = 0xA1B2C3D4, 0xA1B23C4D
LINKTYPE_ETHERNET = 1


def write_pcap(path: Path, frames: list[bytes]) -> None:
    """Classic pcap, microsecond stamps one microsecond apart (net_pcap's rx
    ignores them: it replays as fast as it is polled)."""
    out = [struct.pack("<IHHiIII", PCAP_MAGIC_US, 2, 4, 0, 0, 65535, LINKTYPE_ETHERNET)]
    for i, frame in enumerate(frames):
        out.append(struct.pack("<IIII", i // 1_000_000, i % 1_000_000, len(frame), len(frame)))
        out.append(frame)
    path.write_bytes(b"".join(out))


@dataclass
class Captured:
    t: float      # seconds, from the capture's stamp
    data: bytes


def read_pcap(path: Path) -> list[Captured]:
    """Every record of a classic pcap (either stamp precision, either byte order)."""
    raw = path.read_bytes()
    if len(raw) < 24:
        return []
    for order in ("<", ">"):
        magic = struct.unpack_from(order + "I", raw)[0]
        if magic in (PCAP_MAGIC_US, PCAP_MAGIC_NS):
            break
    else:
        raise ValueError(f"{path}: not a pcap file")
    scale = 1e-9 if magic == PCAP_MAGIC_NS else 1e-6
    records, at = [], 24
    header = struct.Struct(order + "IIII")
    while at + 16 <= len(raw):
        sec, frac, caplen, _ = header.unpack_from(raw, at)
        at += 16
        records.append(Captured(sec + frac * scale, raw[at:at + caplen]))
        at += caplen
    return records


@dataclass
class ServerSegment:
    client_ip: int
    client_port: int
    seq: int
    ack: int
    flags: int
    payload: bytes


def parse_server_segment(frame: bytes, server_ip: int, server_port: int) -> ServerSegment | None:
    """The TCP segment in a frame the server sent from server_port, else None."""
    if len(frame) < TCP_AT + 20 or frame[12:14] != b"\x08\x00":
        return None
    ihl = (frame[IP_AT] & 0x0F) * 4
    total, protocol = struct.unpack_from("!H", frame, IP_AT + 2)[0], frame[IP_AT + 9]
    src, dst = struct.unpack_from("!II", frame, IP_AT + 12)
    if protocol != 6 or src != server_ip:
        return None
    tcp = IP_AT + ihl
    sport, dport, seq, ack = struct.unpack_from("!HHII", frame, tcp)
    if sport != server_port:
        return None
    data_at = tcp + (frame[tcp + 12] >> 4) * 4
    return ServerSegment(dst, dport, seq, ack, frame[tcp + 13], frame[data_at:IP_AT + total])
