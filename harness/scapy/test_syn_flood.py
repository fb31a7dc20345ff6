"""RFC 4987 §3.6: when the SYN backlog is full (1024 half-open TCBs by
default), SYN cookies keep the listener open for real clients."""

from __future__ import annotations

import random
import time

import pytest
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether

from wire import flags_of, payload_of

FLOOD = 3000


@pytest.mark.time_limit(90)
def test_rfc4987_3_6_syn_flood_from_spoofed_ports_still_admits_a_real_client(srv):
    template = Ether(src=srv.scapy_mac, dst=srv.mac) / IP(src=srv.scapy_ip, dst=srv.ip)
    frames = [bytes(template / TCP(sport=10000 + i, dport=srv.smtp_port, flags="S",
                                   seq=random.randint(0, 2**32 - 1), options=[("MSS", 1460)]))
              for i in range(FLOOD)]
    t0 = time.monotonic()
    before = srv.counters()
    for i in range(0, FLOOD, 50):  # paced: the TAP's queue holds 1000 frames
        for f in frames[i:i + 50]:
            srv.wire.send(f)
        time.sleep(0.003)
    print(f"sent {FLOOD} SYNs in {time.monotonic() - t0:.2f} s")
    # Until the server has taken them all in (or stops taking more).
    arrived, last = 0, -1
    deadline = time.monotonic() + 10
    while arrived != last and arrived < FLOOD and time.monotonic() < deadline:
        time.sleep(0.3)
        last = arrived
        mid = srv.counters()
        arrived = mid["tcp.segments_in"] - before["tcp.segments_in"]
    print(f"{arrived} SYNs reached the engine; report: "
          f"syn_cookies_sent {mid['tcp.syn_cookies_sent']}, open {mid['tcp.open_connections']}")
    # A busy machine may lose some in the TAP queue; the flood must still
    # overrun the 1024-entry backlog for this test to mean anything.
    assert arrived >= 1500, f"only {arrived} of {FLOOD} SYNs reached the engine"
    assert mid["tcp.syn_cookies_sent"] >= arrived - 1024, \
        f"{arrived} SYNs, backlog 1024, but only {mid['tcp.syn_cookies_sent']} cookies"

    # A real client (another port, never ACKing the flood) gets in.
    c = srv.conn(sport=65000)
    synack = c.handshake(options=[("MSS", 1460), ("NOP", None), ("WScale", 7)])
    print("real client's SYN-ACK options:", synack[TCP].options)
    greeting, _ = c.read(timeout=5.0)
    assert greeting.startswith(b"220 "), greeting
    assert c.command(b"HELO real.client\r\n").startswith(b"250 ")
    c.send(b"QUIT\r\n")
    data, _ = c.read()
    assert data.startswith(b"221 ")

    after = srv.counters()
    print({k: v for k, v in after.items() if k.startswith("tcp.")})
    assert after["tcp.syn_cookies_accepted"] >= 1, "the real client did not come in through a cookie"
    assert srv.alive()
