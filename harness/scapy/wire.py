"""Raw-frame plumbing for the Scapy suite.

`Wire` is one AF_PACKET socket on a server's TAP: it sends frames we build
and a thread records every frame the server writes (with its arrival time,
for the retransmission timing). `TcpConn` is a hand-made TCP client on top
of it: it keeps its own sequence numbers, so each test decides exactly what
goes on the wire and when — including not ACKing, advertising a zero
window, or sending segments out of order.

Every wait is bounded by a timeout; nothing here loops without one.
"""

from __future__ import annotations

import random
import socket
import threading
import time
from dataclasses import dataclass

from scapy.layers.inet import ICMP, IP, TCP
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Packet, Raw

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4


@dataclass
class Frame:
    t: float        # time.monotonic() at arrival
    pkt: Packet     # parsed (Ether / ...)
    raw: bytes


class Wire:
    """Send frames on `iface`, record the frames arriving from it."""

    def __init__(self, iface: str):
        self.iface = iface
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.sock.bind((iface, 0))
        self.sock.settimeout(0.1)
        self.frames: list[Frame] = []
        self.cond = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name=f"wire-{iface}", daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop:
            try:
                data, addr = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                break
            if addr[2] == PACKET_OUTGOING:  # what we (or the kernel) sent
                continue
            t = time.monotonic()
            try:
                pkt = Ether(data)
            except Exception:  # noqa: BLE001 - keep recording whatever comes
                pkt = Raw(data)
            with self.cond:
                self.frames.append(Frame(t, pkt, data))
                self.cond.notify_all()

    def close(self):
        self._stop = True
        self._thread.join(timeout=2)
        self.sock.close()

    def send(self, frame: Packet | bytes):
        self.sock.send(frame if isinstance(frame, (bytes, bytearray)) else bytes(frame))

    def mark(self) -> int:
        with self.cond:
            return len(self.frames)

    def wait(self, pred, timeout: float, start: int = 0) -> tuple[int, Frame | None]:
        """First frame at index >= start satisfying pred: (index, frame), or
        (len, None) after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        i = start
        with self.cond:
            while True:
                while i < len(self.frames):
                    if pred(self.frames[i]):
                        return i, self.frames[i]
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0:
                    return i, None
                self.cond.wait(left)

    def since(self, start: int, pred=lambda f: True) -> list[Frame]:
        with self.cond:
            return [f for f in self.frames[start:] if pred(f)]


# ------------------------------------------------------------ TCP client


def seq_add(a: int, b: int) -> int:
    return (a + b) & 0xFFFFFFFF


def seq_diff(a: int, b: int) -> int:
    """a - b as a signed 32-bit distance."""
    d = (a - b) & 0xFFFFFFFF
    return d - (1 << 32) if d & 0x80000000 else d


def payload_of(pkt: Packet) -> bytes:
    tcp = pkt[TCP]
    return bytes(tcp.payload) if tcp.payload else b""


def flags_of(pkt: Packet) -> str:
    return str(pkt[TCP].flags)


def is_pure_ack(pkt: Packet) -> bool:
    f = int(pkt[TCP].flags)
    return f & 0x10 and not (f & 0x07) and not payload_of(pkt)


class TcpConn:
    """One hand-made connection from (client_ip, sport) to the server."""

    def __init__(self, server, dport: int, sport: int | None = None, client_ip: str | None = None,
                 client_mac: str | None = None, window: int = 65535):
        self.srv = server
        self.wire: Wire = server.wire
        self.dport = dport
        self.sport = sport or random.randint(20000, 60000)
        self.ip = client_ip or server.scapy_ip
        self.mac = client_mac or server.scapy_mac
        self.window = window
        self.isn = random.randint(0, 0xFFFFFFFF)
        self.snd_nxt = self.isn        # next sequence number we send
        self.rcv_nxt = 0               # next we expect from the server
        self.irs = None
        self.cursor = self.wire.mark()
        self.synack = None
        self.peer_fin = False

    # -- building
    def frame(self, flags="A", seq=None, ack=None, payload=b"", window=None, options=None, **ip_kw):
        seq = self.snd_nxt if seq is None else seq
        ack = self.rcv_nxt if ack is None else ack
        tcp = TCP(sport=self.sport, dport=self.dport, seq=seq, ack=ack if "A" in flags else 0,
                  flags=flags, window=self.window if window is None else window,
                  options=options or [])
        pkt = Ether(src=self.mac, dst=self.srv.mac) / IP(src=self.ip, dst=self.srv.ip, **ip_kw) / tcp
        if payload:
            pkt = pkt / Raw(payload)
        return pkt

    def send(self, payload=b"", flags="PA", seq=None, advance=True, **kw):
        """Send a segment; by default at snd_nxt, advancing it by its length."""
        at = self.snd_nxt if seq is None else seq
        if not payload and flags == "PA":
            flags = "A"
        self.wire.send(self.frame(flags=flags, seq=at, payload=payload, **kw))
        if advance and seq is None:
            n = len(payload) + (1 if "S" in flags else 0) + (1 if "F" in flags else 0)
            self.snd_nxt = seq_add(self.snd_nxt, n)
        return at

    def ack(self, **kw):
        self.send(b"", flags="A", **kw)

    # -- receiving
    def _mine(self, f: Frame) -> bool:
        p = f.pkt
        return (TCP in p and IP in p and p[IP].src == self.srv.ip and p[IP].dst == self.ip
                and p[TCP].sport == self.dport and p[TCP].dport == self.sport)

    def next(self, timeout=2.0, pred=None) -> Frame | None:
        """The next server segment of this connection (optionally the next
        one satisfying pred, skipping others)."""
        i, f = self.wire.wait(lambda f: self._mine(f) and (pred is None or pred(f.pkt)), timeout, self.cursor)
        self.cursor = i + 1 if f is not None else i
        return f

    def segments_within(self, seconds: float) -> list[Frame]:
        """Every server segment of this connection in the next `seconds`."""
        time.sleep(seconds)
        out = self.wire.since(self.cursor, self._mine)
        self.cursor = self.wire.mark()
        return out

    # -- the usual moves
    def syn(self, options=(("MSS", 1460),), window=None):
        self.send(b"", flags="S", options=list(options), window=window)

    def handshake(self, options=(("MSS", 1460),), timeout=3.0):
        self.syn(options)
        f = self.next(timeout, lambda p: int(p[TCP].flags) & 0x12 == 0x12 or int(p[TCP].flags) & 0x04)
        assert f is not None, f"no SYN-ACK from {self.srv.ip}:{self.dport} within {timeout} s"
        p = f.pkt
        assert flags_of(p) == "SA", f"expected SYN-ACK, got {flags_of(p)}"
        assert p[TCP].ack == self.snd_nxt, "SYN-ACK does not acknowledge our SYN"
        self.irs = p[TCP].seq
        self.rcv_nxt = seq_add(self.irs, 1)
        self.synack = p
        self.ack()
        return p

    def read(self, until: bytes = b"\r\n", timeout=3.0, ack=True) -> tuple[bytes, list[Frame]]:
        """In-order server data until `until` ends it; ACKs what arrives (if
        `ack`). Returns (data, frames carrying it)."""
        data = b""
        frames = []
        deadline = time.monotonic() + timeout
        while not data.endswith(until):
            left = deadline - time.monotonic()
            f = self.next(max(left, 0), lambda p: payload_of(p) or int(p[TCP].flags) & 0x01) if left > 0 else None
            assert f is not None, f"timed out reading from the server; have {data!r}"
            p = f.pkt
            body = payload_of(p)
            off = seq_diff(self.rcv_nxt, p[TCP].seq)
            if off < 0:
                continue  # beyond a hole we do not have (not expected here)
            new = body[off:]
            if new:
                data += new
                frames.append(f)
                self.rcv_nxt = seq_add(self.rcv_nxt, len(new))
            if int(p[TCP].flags) & 0x01 and seq_add(p[TCP].seq, len(body)) == self.rcv_nxt and not self.peer_fin:
                self.peer_fin = True
                self.rcv_nxt = seq_add(self.rcv_nxt, 1)
            if ack:
                self.ack()
            if self.peer_fin:
                break
        return data, frames

    def command(self, line: bytes, timeout=3.0) -> bytes:
        self.send(line)
        data, _ = self.read(timeout=timeout)
        return data


def arp_resolve(wire: Wire, my_mac: str, my_ip: str, target_ip: str, timeout: float) -> Frame | None:
    """Ask who-has target_ip (re-asking every 0.3 s); the reply frame or None."""
    deadline = time.monotonic() + timeout
    req = Ether(src=my_mac, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=my_mac, psrc=my_ip, pdst=target_ip)

    def is_reply(f):
        p = f.pkt
        return ARP in p and p[ARP].op == 2 and p[ARP].psrc == target_ip and p[ARP].pdst == my_ip

    start = wire.mark()
    while time.monotonic() < deadline:
        wire.send(req)
        _, f = wire.wait(is_reply, min(0.3, max(deadline - time.monotonic(), 0)), start)
        if f is not None:
            return f
    return None


def icmp_echo(wire: Wire, server, ident: int, seq: int, data: bytes, timeout=2.0) -> Frame | None:
    start = wire.mark()
    wire.send(Ether(src=server.scapy_mac, dst=server.mac) / IP(src=server.scapy_ip, dst=server.ip)
              / ICMP(type=8, id=ident, seq=seq) / Raw(data))
    _, f = wire.wait(lambda f: ICMP in f.pkt and f.pkt[IP].src == server.ip and f.pkt[ICMP].type == 0
                     and f.pkt[ICMP].id == ident and f.pkt[ICMP].seq == seq, timeout, start)
    return f
