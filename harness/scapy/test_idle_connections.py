"""Hold 10,000 concurrent idle SMTP connections on one polling core, then
complete a normal session, and report the server's memory per connection.

Real kernel TCP clients from the suite's namespace (10.99.N.2 on the TAP)
connect to the DPDK stack (10.99.N.1); each connection is established and
has received its 220 greeting before it counts as held. Opened in waves of
WAVE so the half-open count stays below the SYN backlog (no cookies
needed, though they would work too).
"""

from __future__ import annotations

import errno
import re
import resource
import selectors
import smtplib
import socket
import time

import pytest

from conftest import record_result

CONNECTIONS = 10_000
WAVE = 500
OPEN_BOUND_S = 240.0


def raise_nofile(need: int):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= need:
        return
    target = need if hard == resource.RLIM_INFINITY or hard >= need else hard
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, max(hard, target)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        pytest.skip(f"RLIMIT_NOFILE cannot be raised to {need} (have {soft})")


def open_wave(srv, count, sel, pending):
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.bind((srv.host_ip, 0))
        rc = s.connect_ex((srv.ip, srv.smtp_port))
        if rc not in (0, errno.EINPROGRESS):
            s.close()
            raise AssertionError(f"connect: {errno.errorcode.get(rc, rc)}")
        pending[s] = b""
        sel.register(s, selectors.EVENT_READ)


@pytest.mark.time_limit(420)
def test_idle_connections_10000_held_then_a_normal_session(server):
    # All from one address: no per-address limit (it would refuse the 51st).
    srv = server("--tcb-capacity", "12000", "--max-conn", "12000", "--max-conn-per-ip", "0")
    raise_nofile(CONNECTIONS + 2000)
    time.sleep(0.5)
    rss_before = srv.vm_rss_kib()

    held: list[socket.socket] = []
    sel = selectors.DefaultSelector()
    pending: dict[socket.socket, bytes] = {}
    t0 = time.monotonic()
    deadline = t0 + OPEN_BOUND_S
    try:
        while len(held) < CONNECTIONS:
            assert time.monotonic() < deadline, \
                f"only {len(held)} greeted connections after {OPEN_BOUND_S} s ({len(pending)} waiting)"
            if not pending:
                open_wave(srv, min(WAVE, CONNECTIONS - len(held)), sel, pending)
            for key, _ in sel.select(timeout=1.0):
                s = key.fileobj
                try:
                    chunk = s.recv(512)
                except BlockingIOError:
                    continue
                except OSError as e:
                    raise AssertionError(f"connection {len(held)} failed: {e}") from e
                assert chunk, f"server closed connection #{len(held)} (greeting so far {pending[s]!r})"
                pending[s] += chunk
                if pending[s].endswith(b"\r\n"):
                    assert pending[s].startswith(b"220 "), pending[s]
                    sel.unregister(s)
                    del pending[s]
                    held.append(s)
            assert srv.alive(), "server died while connections were opening"
        opened_in = time.monotonic() - t0
        time.sleep(1.0)  # delayed ACKs, housekeeping
        rss_after = srv.vm_rss_kib()
        counters = srv.counters()
        assert counters["tcp.open_connections"] >= CONNECTIONS, counters["tcp.open_connections"]

        # A complete, normal session while all of them are held.
        with smtplib.SMTP(srv.ip, srv.smtp_port, local_hostname="idle.test", timeout=15,
                          source_address=(srv.host_ip, 0)) as smtp:
            code, _ = smtp.ehlo()
            assert code == 250
            refused = smtp.sendmail("bob@example.org", ["alice@localhost"],
                                    b"Subject: idle test\r\n\r\nheld 10000 idle connections\r\n")
            assert not refused
        assert len(srv.messages("alice")) == 1, "the message was not delivered"
        # Every held connection is still there after the session.
        assert srv.counters()["tcp.open_connections"] >= CONNECTIONS
    finally:
        for s in list(pending) + held:
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")  # RST, no FIN wait
                s.close()
            except OSError:
                pass
        sel.close()

    per_conn = (rss_after - rss_before) * 1024 / CONNECTIONS
    record_result(f"idle-connections: {CONNECTIONS} held, RSS before {rss_before / 1024:.1f} MiB "
                  f"after {rss_after / 1024:.1f} MiB = {per_conn:.0f} bytes per connection "
                  f"(opened and greeted in {opened_in:.1f} s)")
    m = re.search(r"tcb[_ ]size[ =:]+(\d+)", srv.stderr, re.IGNORECASE)
    # The TCB pool is allocated and touched at start, so the RSS growth is
    # what a connection costs beyond its preallocated TCB.
    record_result(f"idle-connections: Engine::tcb_size = {m.group(1)} bytes preallocated per TCB, "
                  f"+{per_conn:.0f} bytes grown per idle connection" if m
                  else "idle-connections: Engine::tcb_size not logged by the server")
