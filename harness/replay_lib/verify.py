"""Checks the server's output pcap against the workload: for every session,
the SYN-ACK from the --fixed-isn ISN, every reply octet for octet, the FIN
after the last one, the ACK of the client's FIN, and no reset."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from replay_lib.frames import ACK, FIN, RST, SYN, parse_server_segment, read_pcap
from replay_lib.schedule import SERVER_IP, SessionPlan, dotted
from replay_lib.workload import Wild


@dataclass
class Stream:
    """What the server sent on one connection, by sequence number."""
    syn_seqs: set[int] = field(default_factory=set)
    data: dict[int, bytes] = field(default_factory=dict)  # sequence number -> octets
    conflicts: list[int] = field(default_factory=list)
    fin_at: int | None = None
    acks: set[int] = field(default_factory=set)
    resets: int = 0
    segments: int = 0


def collect(path, server_port: int) -> tuple[dict[tuple[int, int], Stream], int, list[float]]:
    """Streams by (client address, client port), the number of frames, and
    their stamps."""
    streams: dict[tuple[int, int], Stream] = {}
    records = read_pcap(path)
    for record in records:
        seg = parse_server_segment(record.data, SERVER_IP, server_port)
        if seg is None:
            continue
        stream = streams.setdefault((seg.client_ip, seg.client_port), Stream())
        stream.segments += 1
        if seg.flags & RST:
            stream.resets += 1
        if seg.flags & ACK:
            stream.acks.add(seg.ack)
        if seg.flags & SYN:
            stream.syn_seqs.add(seg.seq)
        if seg.payload:
            old = stream.data.get(seg.seq)
            if old is not None and not (seg.payload.startswith(old) or old.startswith(seg.payload)):
                stream.conflicts.append(seg.seq)
            if old is None or len(seg.payload) > len(old):
                stream.data[seg.seq] = seg.payload
        if seg.flags & FIN:
            stream.fin_at = (seg.seq + len(seg.payload)) & 0xFFFFFFFF
    return streams, len(records), [r.t for r in records]


def assemble(stream: Stream, iss: int) -> tuple[bytes, int | None, str | None]:
    """The contiguous octets from ISS+1, where the FIN sits (offset), and
    what is wrong with the stream if anything."""
    base = (iss + 1) & 0xFFFFFFFF
    pieces = sorted(((seq - base) & 0xFFFFFFFF, payload) for seq, payload in stream.data.items() if payload)
    out = bytearray()
    for offset, payload in pieces:
        if offset > len(out):
            return bytes(out), None, f"a gap in the server's octets at offset {len(out)} (next segment at {offset})"
        if bytes(out[offset:offset + len(payload)]) != payload[:len(out) - offset]:
            return bytes(out), None, f"a retransmission at offset {offset} differs from the first copy"
        out += payload[len(out) - offset:]
    fin = None if stream.fin_at is None else (stream.fin_at - base) & 0xFFFFFFFF
    return bytes(out), fin, None


class TagCheck:
    """The server's instance tag: 8 hex digits of its start time, then its
    pid in hex (dataplane/dpdk/poll_loop.cpp), the same in every session."""

    def __init__(self, pid: int | None):
        self.pattern = re.compile(rb"[0-9A-F]{8}" + (f"{pid:X}".encode() if pid is not None else rb"[0-9A-F]+"))
        self.seen: bytes | None = None

    def accepts(self, octets: bytes) -> bool:
        if not self.pattern.fullmatch(octets):
            return False
        if self.seen is None:
            self.seen = octets
        return octets == self.seen


def first_difference(expected: list, actual: bytes, tags: TagCheck) -> tuple[int, str] | None:
    """Where `actual` departs from the expected pieces, and what was expected there."""
    at = 0
    for piece in expected:
        if isinstance(piece, Wild):
            got = actual[at:at + piece.length]
            ok = (tags.accepts(got) if piece.kind == "tag" else got.isdigit() and len(got) == piece.length)
            if not ok:
                return at, f"<{piece.length} {'instance-tag' if piece.kind == 'tag' else 'digit'} octets>"
            at += piece.length
            continue
        got = actual[at:at + len(piece)]
        if at >= len(actual):
            return at, piece[:60].decode(errors="replace")
        if got != piece:
            i = next((k for k in range(min(len(got), len(piece))) if got[k] != piece[k]), min(len(got), len(piece)))
            return at + i, piece[i:i + 60].decode(errors="replace")
        at += len(piece)
    if len(actual) > at:
        return at, "<end of the server's data>"
    return None


def expected_length(expected: list) -> int:
    return sum(p.length if isinstance(p, Wild) else len(p) for p in expected)


def check_session(plan: SessionPlan, stream: Stream | None, tags: TagCheck, protocol: str) -> str | None:
    """None when the session is right, else one line saying what differed."""
    who = (f"session {plan.number} ({protocol} connection {plan.connection}, client "
           f"{dotted(plan.client_ip)}:{plan.client_port})")
    if stream is None or not stream.syn_seqs:
        return f"{who}: no SYN-ACK from the server"
    if plan.iss not in stream.syn_seqs:
        got = min(stream.syn_seqs)
        return (f"{who}: the SYN-ACK's sequence number is {got:#010x}, not the --fixed-isn ISN {plan.iss:#010x} "
                f"(was the server started with --fixed-isn?)")
    if stream.conflicts:
        return f"{who}: two segments at sequence number {stream.conflicts[0]:#010x} carry different octets"
    actual, fin, broken = assemble(stream, plan.iss)
    diff = first_difference(plan.expected, actual, tags)
    if stream.resets:
        said = f"; it had sent {actual[-60:].decode(errors='replace')!r}" if actual else ""
        return f"{who}: the server reset the connection ({stream.resets} RST){said}"
    if diff is not None and diff[0] < len(actual):
        at, wanted = diff
        got = actual[at:at + 60].decode(errors="replace")
        return f"{who}: reply octet {at} differs: expected {wanted!r}, got {got!r}"
    if broken:
        return f"{who}: {broken}"
    if diff is not None:
        at, wanted = diff
        return f"{who}: the server's octets end at {at}; missing from there: {wanted!r}"
    length = expected_length(plan.expected)
    if fin != length:
        return f"{who}: no FIN after the last reply (server FIN at octet {fin}, replies end at {length})"
    if (plan.client_fin_seq + 1) & 0xFFFFFFFF not in stream.acks:
        return f"{who}: the server never acknowledged the client's FIN"
    return None


@dataclass
class Verdict:
    failures: list[str]
    output_frames: int
    stamps: list[float]
    tag: bytes | None


def verify(path, sessions: list[SessionPlan], server_port: int, protocol: str, pid: int | None) -> Verdict:
    streams, frames, stamps = collect(path, server_port)
    tags = TagCheck(pid)
    failures = []
    for plan in sessions:
        problem = check_session(plan, streams.get((plan.client_ip, plan.client_port)), tags, protocol)
        if problem:
            failures.append(problem)
    return Verdict(failures, frames, stamps, tags.seen)
