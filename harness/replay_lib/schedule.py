"""Interleaves the clients' sessions into one open-loop frame sequence whose
every ACK number the server will accept.

The replay is open loop: the server reads the pcap as fast as it polls,
whatever it has answered. A client segment whose ACK covers octets the
server has not sent yet is dropped (RFC 9293 §3.10.7.4, fifth check: "If
the ACK acknowledges something not yet sent (SEG.ACK > SND.NXT) then send
an ACK, drop the segment, and return"), so each segment may only
acknowledge what is certain to be out when the server reads it. What
makes that certain is the position in the file:

- a reply made while the server handles a segment (greeting, EHLO's 250,
  354, ...) is out before the next frame is read;
- a reply after a store round trip comes when the poll loop collects store
  answers, after the rest of the rx burst (at most BURST frames). In
  --sink mode the answer is ready at that first poll
  (dataplane/common/mail_backend), so every frame BURST or more places
  later finds it sent: such a reply is "sure" after a gap of BURST frames;
- with a real store (POP3) the answer comes from the I/O worker thread
  whenever it is done, which no position guarantees (and an open loop
  reads the input far faster than the worker answers). Such replies are
  not acknowledged by the client's data segments (an ACK below SND.NXT —
  even an old one, down to SND.UNA - MAX.SND.WND, RFC 5961 §5.2 — never
  stops the text from being taken; and a FIN that comes while a reply is
  pending waits for it, tcp/session_glue.cpp check_peer_closed), and one
  last ACK of everything follows the client's FIN `final_gap` frames
  later. If the answers are out by then it closes the connection; if not
  (the usual case on a busy machine), the server drops it with a challenge
  ACK and keeps the connection, retransmitting, until it is stopped. The
  replies are all checked either way.

The clients sit on the server's /16 (harness/replay starts it with --ip
10.99.0.1/16), and each one opens with an ARP request for the server's
address, as a client with an empty cache does: the request is for the
server, so it enters the client in its cache (RFC 826 "Packet Reception")
and its replies go out at once instead of waiting on a request of its own
that no one in the file would answer. With more clients than the server's
cache holds (ARP_CACHE, dataplane/dpdk/arp.hpp) an entry may be pushed out,
so then a client asks before every session. Frames go to the MAC net_pcap
gives its port.

Each client behaves as a real one: after a step (a command, or an RFC 2920
group) it waits until the step's replies are out before it sends the next
step, and opens its next connection when one ends. Clients take turns in
round-robin among those ready; when none is ready, a filler frame for
another station (dropped at the server's Ethernet check) lets the
position advance.
"""
from __future__ import annotations

import collections
import heapq
from dataclasses import dataclass, field

from replay_lib.frames import ACK, CLIENT_MSS, FIN, PSH, SYN, ClientFrames, arp_request, filler_frame
from replay_lib.isn import fixed_isn
from replay_lib.workload import SERVICE_PORT, Piece, Settings, Step, session_steps

BURST = 32  # frames per rx burst of baremail's poll loop (dataplane/dpdk/poll_loop.hpp)
SERVER_IP = 0x0A630001  # 10.99.0.1
SERVER_MAC = "02:70:63:61:70:00"  # what net_pcap gives its first port
ARP_CACHE = 256  # entries of baremail's ARP cache (ArpCache::capacity)
MAX_CLIENTS = 60000
FIRST_PORT, PORTS = 1024, 64000


@dataclass
class SessionPlan:
    """What the check of one session needs."""
    number: int
    client_ip: int
    client_port: int
    server_port: int
    iss: int                  # the server's ISN under --fixed-isn
    connection: int           # the server's connection number (order of handshakes)
    expected: list[Piece]     # the server's whole byte stream
    client_fin_seq: int       # the sequence number of the client's FIN
    first_frame: int          # index of its SYN in the input


@dataclass
class Workload:
    settings: Settings
    clients: int
    frames: list[bytes]
    sessions: list[SessionPlan]
    client_segments: int
    fillers: int
    arp_requests: int
    loose_acks: int           # data segments that acknowledge less than all (unsure store replies)
    filler: bytes             # the filler frame (frames holds this very object for each)


def client_ip(slot: int) -> int:
    return SERVER_IP - 1 + 256 + slot  # 10.99.1.0 and up: on the server's /16


def client_mac(ip: int) -> str:
    return "02:00:0a:63:%02x:%02x" % ((ip >> 8) & 0xFF, ip & 0xFF)


def dotted(ip: int) -> str:
    return ".".join(str((ip >> s) & 0xFF) for s in (24, 16, 8, 0))


@dataclass
class Sent:
    """One reply of the server: where its octets end (offset after ISS+1),
    from which frame on it is out, and whether that is certain."""
    end: int
    ready: int
    sure: bool
    closes: bool


@dataclass
class Live:
    """A session in progress on one client."""
    plan: SessionPlan
    steps: list[Step] = field(default_factory=list)
    step: int = -1          # -1: the SYN is next (-2: an ARP request first)
    chunk: int = 0          # next MSS-sized piece of the current step
    seq: int = 0            # the client's next sequence number
    sent: list[Sent] = field(default_factory=list)
    offset: int = 0         # server octets predicted so far
    final_ack_due: bool = False
    final_ack_at: int = 0


class Scheduler:
    def __init__(self, settings: Settings, sessions: int, clients: int, store_sure: bool,
                 store_gap: int, final_gap: int):
        if not 1 <= clients <= MAX_CLIENTS:
            raise ValueError(f"--clients must be 1..{MAX_CLIENTS}")
        if sessions > clients * PORTS:
            raise ValueError(f"{sessions} sessions need more than {PORTS} ports per client: raise --clients")
        self.s = settings
        self.sessions = sessions
        self.clients = clients
        self.store_sure = store_sure
        self.store_gap = max(store_gap, BURST) if store_sure else store_gap
        self.final_gap = final_gap
        self.service_port = SERVICE_PORT[settings.protocol]
        self.frames: list[bytes] = []
        self.plans: list[SessionPlan] = []
        self.next_connection = 1  # the server numbers sessions from 1 as handshakes complete
        self.client_segments = self.fillers = self.arp_requests = self.loose_acks = 0
        self.asked: set[int] = set()  # clients whose ARP request is in
        self.builders = [ClientFrames(client_mac(client_ip(k)), dotted(client_ip(k)), SERVER_MAC,
                                      dotted(SERVER_IP)) for k in range(min(clients, sessions))]
        self.filler = filler_frame(client_mac(client_ip(0)))
        self.arp = [arp_request(client_mac(client_ip(k)), dotted(client_ip(k)), dotted(SERVER_IP))
                    for k in range(len(self.builders))]

    # ---- the server's side, as predicted

    def ack_for(self, live: Live, index: int) -> int:
        """The highest server sequence number certainly out before frame
        `index` is read: SYN-ACK, then every reply up to the first one not
        certainly out, then the FIN."""
        acked, fin = 0, False
        for reply in live.sent:
            if not (reply.sure and reply.ready <= index):
                break
            acked, fin = reply.end, reply.closes
        return (live.plan.iss + 1 + acked + (1 if fin else 0)) & 0xFFFFFFFF

    def ack_of_all(self, live: Live) -> int:
        closes = bool(live.sent) and live.sent[-1].closes
        return (live.plan.iss + 1 + live.offset + (1 if closes else 0)) & 0xFFFFFFFF

    def all_acked(self, live: Live, ack: int) -> bool:
        return ack == self.ack_of_all(live)

    def predict(self, live: Live, step: Step, index: int) -> int:
        """Records what the server sends for `step`, read at frame `index`;
        returns the frame from which all of it is out (the client waits)."""
        ready = index + 1
        for reply in step.replies:
            if reply.store:
                ready += self.store_gap
            live.offset += reply.length()
            live.sent.append(Sent(live.offset, ready, self.store_sure or not reply.store, reply.closes))
        return ready

    # ---- the client's side

    def start(self, number: int, slot: int, index: int) -> Live:
        ip = client_ip(slot)
        port = FIRST_PORT + (number // self.clients) % PORTS
        plan = SessionPlan(number, ip, port, self.service_port, fixed_isn(SERVER_IP, self.service_port, ip, port),
                           0, [], 0, index)
        ask = slot not in self.asked or self.clients > ARP_CACHE
        self.asked.add(slot)
        return Live(plan, step=-2 if ask else -1, seq=(number * 0x9E3779B1 + 0x10000) & 0xFFFFFFFF)

    def emit(self, live: Live, slot: int, flags: int, payload: bytes = b"", ack: int = 0) -> None:
        p = live.plan
        self.frames.append(self.builders[slot].segment(p.client_port, p.server_port, live.seq, ack, flags, payload))
        self.client_segments += 1
        live.seq = (live.seq + len(payload) + (1 if flags & (SYN | FIN) else 0)) & 0xFFFFFFFF

    def advance(self, live: Live, slot: int) -> int | None:
        """Sends the session's next segment at the current frame; returns the
        frame from which the client's next one may go, or None when the
        session is over."""
        index = len(self.frames)
        if live.step == -2:  # the server answers at once and keeps the client's MAC
            self.frames.append(self.arp[slot])
            self.arp_requests += 1
            live.step = -1
            return index + 1
        if live.step == -1:  # RFC 9293 §3.5: SYN; the SYN-ACK comes at once
            self.emit(live, slot, SYN)
            live.step = 0
            return index + 1
        if live.step == 0 and live.chunk == 0:  # the handshake's ACK opens the session
            live.plan.connection = self.next_connection
            self.next_connection += 1
            live.steps = session_steps(self.s, live.plan.number, live.plan.connection)
            live.plan.expected = [piece for step in live.steps for reply in step.replies for piece in reply.pieces]
        step = live.steps[live.step]
        data = step.data[live.chunk * CLIENT_MSS:(live.chunk + 1) * CLIENT_MSS]
        last_chunk = (live.chunk + 1) * CLIENT_MSS >= len(step.data)
        ack = self.ack_for(live, index)
        flags = ACK | (PSH if data and last_chunk else 0) | (FIN if step.fin and last_chunk else 0)
        if step.fin and last_chunk:
            live.plan.client_fin_seq = (live.seq + len(data)) & 0xFFFFFFFF
        if data and not self.all_acked(live, ack):
            self.loose_acks += 1
        self.emit(live, slot, flags, data, ack)
        if not last_chunk:
            live.chunk += 1
            return index + 1
        ready = self.predict(live, step, index)
        live.step += 1
        live.chunk = 0
        if live.step < len(live.steps):
            return ready
        # After the FIN: one more ACK if the FIN could not acknowledge all.
        latest = max((r.ready for r in live.sent), default=index + 1)
        if self.all_acked(live, ack) or (all(r.sure for r in live.sent) and latest <= index):
            return None
        live.final_ack_due = True
        live.final_ack_at = max(index + 1, latest + (0 if all(r.sure for r in live.sent) else self.final_gap))
        return None

    def final_ack(self, live: Live, slot: int) -> None:
        """The ACK of everything, after the FIN, once the replies are due out."""
        self.emit(live, slot, ACK, ack=self.ack_of_all(live))
        live.final_ack_due = False

    # ---- the whole file

    def run(self) -> Workload:
        queues = [collections.deque(range(k, self.sessions, self.clients)) for k in range(len(self.builders))]
        # (ready frame, turn, slot, session): a session's entry is its last
        # ACK, due apart from its client, which goes on to its next session;
        # equal readiness goes round-robin.
        heap: list[tuple[int, int, int, Live | None]] = []
        turn = 0
        live: list[Live | None] = [None] * len(self.builders)
        for slot in range(len(self.builders)):
            heapq.heappush(heap, (0, turn, slot, None))
            turn += 1
        while heap:
            ready, _, slot, closing = heapq.heappop(heap)
            while len(self.frames) < ready:
                self.frames.append(self.filler)
                self.fillers += 1
            if closing is not None:
                self.final_ack(closing, slot)
                continue
            if live[slot] is None:
                number = queues[slot].popleft()
                live[slot] = self.start(number, slot, len(self.frames))
                self.plans.append(live[slot].plan)
            session = live[slot]
            next_ready = self.advance(session, slot)
            if next_ready is None:
                if session.final_ack_due:
                    heapq.heappush(heap, (session.final_ack_at, turn, slot, session))
                    turn += 1
                live[slot] = None
                if not queues[slot]:
                    continue
                next_ready = len(self.frames)
            heapq.heappush(heap, (next_ready, turn, slot, None))
            turn += 1
        self.plans.sort(key=lambda p: p.number)
        return Workload(self.s, self.clients, self.frames, self.plans, self.client_segments, self.fillers,
                        self.arp_requests, self.loose_acks, self.filler)


def build_workload(settings: Settings, sessions: int, clients: int, store_sure: bool, store_gap: int,
                   final_gap: int) -> Workload:
    return Scheduler(settings, sessions, clients, store_sure, store_gap, final_gap).run()
