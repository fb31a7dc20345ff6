"""The DPDK build's poll modes (SPEC "Command line": --poll adaptive|busy,
--poll-idle-us): adaptive polling serves SMTP, POP3 and the relay client as
busy polling does, sleeps when idle (its CPU stays low; the rx interrupt of
the TAP port wakes it), and the busy-cycle counters add up. The I/O worker
and log writer threads never share the polling lcore's CPU.

The idle bound here is generous (20 % of a core over 3 s) so that it holds
on a loaded machine; the benchmark figure (harness/bench/poll_modes.py)
shows the real one. DPDK build only."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

import helpers
from conftest import record_result
from test_relay import FakeSmarthost, relay_server, submit

IDLE_SECONDS = 3.0
IDLE_BOUND = 0.20  # share of one core


@pytest.fixture(autouse=True)
def dpdk_only(build):
    if build.name != "dpdk":
        pytest.skip("poll modes are the DPDK build's")


def cpu_seconds(pid: int) -> float:
    """utime + stime of every thread of `pid`."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def deliver_and_retrieve(s, marker: str):
    with s.smtp() as c:
        c.ehlo()
        assert c.cmd("MAIL FROM:<bob@localhost>")[0] == 250
        assert c.cmd("RCPT TO:<alice@localhost>")[0] == 250
        code, lines = c.data(helpers.make_message(marker))
        assert code == 250, lines
    s.wait_messages("alice", 1)
    with s.pop3() as p:
        p.login("alice", "alice-pw")
        status, body = p.multiline("RETR 1")
        assert status.startswith("+OK"), status
        assert f"marker {marker}".encode() in helpers.dot_unstuff(body)
        assert p.cmd("QUIT").startswith("+OK")


def test_adaptive_serves_smtp_and_pop3_and_counts_busy_cycles(server):
    s = server("--poll", "adaptive")
    helpers.wait_log_event(s, "server", "start", detail=r"poll=adaptive \(rx interrupts\)")
    deliver_and_retrieve(s, "adaptive")
    c = helpers.counter_report(s)
    assert c["poll.rx_interrupts"] == 1, "net_tap has rx interrupts: the loop should sleep on them"
    assert c["poll.sleeps"] > 0
    assert c["poll.tsc_hz"] > 0
    assert c["poll.iterations_busy"] > 0 and c["poll.iterations_idle"] > 0
    assert 0 < c["poll.busy_cycles"] < c["poll.total_cycles"]
    # The sessions' work is a small part of the time the server has been up.
    busy_s = c["poll.busy_cycles"] / c["poll.tsc_hz"]
    total_s = c["poll.total_cycles"] / c["poll.tsc_hz"]
    assert busy_s < total_s / 2, f"busy {busy_s:.3f} s of {total_s:.3f} s"
    record_result(f"poll-modes: adaptive, one SMTP + one POP3 session: busy {busy_s * 1e3:.1f} ms "
                  f"of {total_s:.1f} s up, {c['poll.sleeps']} sleeps")


def test_busy_mode_serves_and_never_sleeps(server):
    s = server("--poll", "busy")
    helpers.wait_log_event(s, "server", "start", detail=r"poll=busy")
    deliver_and_retrieve(s, "busy")
    c = helpers.counter_report(s)
    assert c["poll.sleeps"] == 0
    assert c["poll.rx_interrupts"] == 0
    assert 0 < c["poll.busy_cycles"] < c["poll.total_cycles"]


def test_adaptive_relays_through_a_smarthost(server):
    """test_relay.py covers the relay client in the default (adaptive) mode;
    here with a short idle spell, and the queued message must leave as
    promptly as in busy mode (about 0.3 s: the relay agent's tick wakes the
    loop), well within the bound."""
    h = FakeSmarthost(address="0.0.0.0")
    try:
        s = relay_server(server, h.port, "--poll", "adaptive", "--poll-idle-us", "50")
        t0 = time.monotonic()
        submit(s, "alice@localhost", "far@example.com", "relayed-adaptive")
        helpers.wait_until(lambda: h.received, timeout=15, what="message at the smarthost")
        took = time.monotonic() - t0
        assert b"marker relayed-adaptive" in h.received[0][2]
        record_result(f"poll-modes: adaptive relay, 250 to the smarthost's copy: {took * 1e3:.0f} ms")
        assert took < 5.0
    finally:
        h.close()


def test_idle_adaptive_server_uses_little_cpu_and_wakes_for_a_client(server):
    s = server()  # adaptive is the default
    time.sleep(0.5)  # start-up settles
    before, sleeps_before = cpu_seconds(s.pid), helpers.counter_report(s)["poll.sleeps"]
    time.sleep(IDLE_SECONDS)
    used = (cpu_seconds(s.pid) - before) / IDLE_SECONDS
    sleeps = helpers.counter_report(s)["poll.sleeps"] - sleeps_before
    record_result(f"poll-modes: idle adaptive server: {used * 100:.1f} % of a core over {IDLE_SECONDS:g} s, "
                  f"{sleeps} sleeps")
    assert used < IDLE_BOUND, f"idle server used {used * 100:.1f} % of a core"
    assert sleeps > 0
    # Asleep, it still answers at once: a frame wakes it.
    t0 = time.monotonic()
    with s.smtp() as c:
        assert c.cmd("QUIT")[0] == 221
    assert time.monotonic() - t0 < 2.0


def cpu_list(text: str) -> set[int]:
    cpus = set()
    for part in text.strip().split(","):
        if part:
            first, _, last = part.partition("-")
            cpus.update(range(int(first), int(last or first) + 1))
    return cpus


def test_helper_threads_never_run_on_the_polling_cpu(server):
    s = server()
    event = helpers.wait_log_event(s, "server", "cpus")[0]
    m = re.match(r"polling=(\S+) helpers=(\S+)( \(no other CPU.*)?$", event[3])
    assert m, event
    polling, helper_cpus, shared = cpu_list(m.group(1)), cpu_list(m.group(2)), bool(m.group(3))
    allowed = os.sched_getaffinity(s.pid)  # the main thread: the polling lcore
    assert allowed == polling
    # The I/O worker and the log writer are the threads named after the
    # program, besides the main thread (the EAL's own have other names).
    helpers_found = 0
    for task in Path(f"/proc/{s.pid}/task").iterdir():
        if int(task.name) == s.pid or (task / "comm").read_text().strip() != "baremail":
            continue
        helpers_found += 1
        status = (task / "status").read_text()
        cpus = cpu_list(re.search(r"^Cpus_allowed_list:\s*(\S+)", status, re.M).group(1))
        assert cpus == helper_cpus, f"thread {task.name} on {cpus}, logged helpers {helper_cpus}"
        if not shared:
            assert not cpus & polling, f"thread {task.name} may run on the polling CPU {polling}"
    assert helpers_found >= 2, "expected the I/O worker and log writer threads"
    # Shared only when the server was given no CPU but the polling one.
    assert shared == (not os.sched_getaffinity(0) - polling)
