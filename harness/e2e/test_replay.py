"""harness/replay: the deterministic open-loop pcap replay of the DPDK build.

Small workloads through the real tool: SMTP against --sink (not pipelined
and pipelined) and POP3 against a prepared maildrop must come out with every
reply verified and the figures printed; a server whose replies differ from
the expected ones, or one started without --fixed-isn, must fail the run
with a line that names the session and what differed. The generated frames
themselves are checked with Scapy: checksums, flags, and the ACK of each
SYN-ACK computed from the --fixed-isn ISN.

The replay needs no network (net_pcap reads and writes files), only root
for the EAL and the DPDK build; it runs when BAREMAIL_BUILDS names dpdk.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import BUILD_DIR, SELECTED, record_result

REPLAY = Path(__file__).resolve().parents[1] / "replay"
sys.path.insert(0, str(REPLAY.parent))

from replay_lib.frames import ACK, SYN  # noqa: E402
from replay_lib.isn import fixed_isn, siphash24  # noqa: E402
from replay_lib.schedule import SERVER_IP, build_workload  # noqa: E402
from replay_lib.workload import Settings  # noqa: E402

RUN_TIMEOUT = 180.0

pytestmark = pytest.mark.skipif("dpdk" not in SELECTED,
                                reason="the replay runs the DPDK build: set BAREMAIL_BUILDS to include dpdk")


def replay(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, dict | None]:
    figures = tmp_path / "figures.json"
    done = subprocess.run([sys.executable, str(REPLAY), "--build", str(BUILD_DIR), "--keep", str(tmp_path / "run"),
                           "--json", str(figures), *args], capture_output=True, text=True, timeout=RUN_TIMEOUT)
    return done, json.loads(figures.read_text()) if figures.exists() else None


def assert_verified(done: subprocess.CompletedProcess, figures: dict | None, sessions: int):
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert f"every reply of the {sessions} sessions verified" in out, out
    last = done.stdout.strip().splitlines()[-3:]
    assert any("sessions/s" in line and "ns/session" in line for line in last), out
    assert any("% of the null-forward ceiling" in line for line in last), out
    assert figures is not None and figures["sessions"] == sessions
    assert figures["sessions_per_s"] > 0 and figures["ns_per_session"] > 0 and 0 < figures["fraction_of_ceiling"]


@pytest.mark.parametrize("pipelining", [False, True], ids=["lockstep", "pipelined"])
def test_smtp_replay_verifies_every_reply(tmp_path, pipelining):
    args = ["--sessions", "50", "--clients", "10"] + (["--pipelining"] if pipelining else [])
    done, figures = replay(tmp_path, *args)
    assert_verified(done, figures, 50)
    assert "poll loop's busy cycles" in done.stdout, done.stdout
    record_result(f"replay smtp 50 sessions {'pipelined' if pipelining else 'lockstep'}: "
                  f"{figures['sessions_per_s']:,.0f} sessions/s, {figures['ns_per_session']:,.0f} ns/session, "
                  f"{100 * figures['fraction_of_ceiling']:.1f}% of the null-forward ceiling")


def test_pop3_replay_verifies_every_reply(tmp_path):
    done, figures = replay(tmp_path, "--protocol", "pop3", "--sessions", "20", "--clients", "5", "--size", "3000")
    assert_verified(done, figures, 20)
    # Every user's message was read and kept (QUIT without DELE).
    mail = tmp_path / "run" / "mail"
    assert sum(1 for _ in mail.glob("user*/*/*,S=3000*")) == 20


def test_a_reply_that_differs_fails_the_run(tmp_path):
    # Same length, other digits: the sessions run to the end, the EHLO reply differs.
    done, _ = replay(tmp_path, "--sessions", "5", "--clients", "5", "--no-ceiling",
                     "--server-arg=--max-msg-size=20971520")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "5 of 5 sessions wrong" in done.stdout, done.stdout
    assert "reply octet 80 differs: expected '10485760\\r\\n', got '20971520" in done.stdout, done.stdout
    assert "FAIL session 0 (smtp connection 1, client 10.99.1.0:1024)" in done.stdout, done.stdout


def test_a_server_without_fixed_isn_fails_the_run(tmp_path):
    done, _ = replay(tmp_path, "--sessions", "5", "--clients", "5", "--no-ceiling", "--omit-fixed-isn")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "not the --fixed-isn ISN" in done.stdout and "was the server started with --fixed-isn?" in done.stdout


def test_generated_frames_are_valid_tcp_with_the_fixed_isn_acks():
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import ARP, Ether

    # SipHash-2-4 against the paper's test vector (key 00..0f, message 00..0e).
    key = bytes(range(16))
    assert siphash24(int.from_bytes(key[:8], "little"), int.from_bytes(key[8:], "little"),
                     bytes(range(15))) == 0xA129CA6149BE45E5
    workload = build_workload(Settings(), sessions=6, clients=3, store_sure=True, store_gap=32, final_gap=0)
    assert workload.client_segments == 6 * 9 and workload.arp_requests == 3
    assert len(workload.frames) == workload.client_segments + workload.fillers + workload.arp_requests
    handshakes = 0
    for raw in workload.frames:
        frame = Ether(raw)
        if ARP in frame:  # each client first asks for the server, as one with an empty cache does
            assert frame[ARP].op == 1 and frame[ARP].pdst == "10.99.0.1" and frame.dst == "ff:ff:ff:ff:ff:ff"
            assert frame[ARP].hwsrc == frame.src and frame[ARP].psrc.startswith("10.99.")
            continue
        if IP not in frame:
            continue
        ip, tcp = frame[IP], frame[TCP]
        sent_ip, sent_tcp = ip.chksum, tcp.chksum
        del ip.chksum, tcp.chksum
        again = Ether(bytes(frame))
        assert (again[IP].chksum, again[TCP].chksum) == (sent_ip, sent_tcp)
        assert ip.dst == "10.99.0.1" and tcp.dport == 2500
        if int(tcp.flags) == SYN:
            assert ("MSS", 1460) in tcp.options
        elif int(tcp.flags) == ACK and not tcp.payload:
            handshakes += 1  # the first pure ACK: the SYN-ACK's ISN + 1
            client = int.from_bytes(bytes(map(int, ip.src.split("."))), "big")
            assert tcp.ack == (fixed_isn(SERVER_IP, 2500, client, tcp.sport) + 1) & 0xFFFFFFFF
    assert handshakes == 6
