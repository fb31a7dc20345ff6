#!/usr/bin/env python3
"""What an idle SMTP connection costs the DPDK build: N of them (default
100,000) held open at once, and the server's memory per connection (as root):

    harness/bench/hundred_k.py [--connections N] [--time-limit S] [--build DIR]

baremail runs --sink on a TAP port (10.99.241.1) in a network namespace made
here and deleted afterwards, with --tcb-capacity and --max-conn a little
above N, pinned to the last CPU. The client is the kernel's TCP on the other
end of the TAP device, on the first CPU: non-blocking connects from several
addresses (10.99.241.10, .11, ...; one address pair has at most ~64k
4-tuples to one server port), at most --in-flight unanswered at a time;
each connection reads its 220 greeting and then stays idle. The
connections are spread over client processes of at most 16,000 each (a
process here may not raise its open-file limit). (The mailgun's
DPDK transport runs whole sessions only; a connection that says nothing is
all this needs, and the kernel holds 100,000 of them cheaply.)

Printed: tcb_size from the server's start line; the server's resident
memory (VmRSS) once started with --tcb-capacity 1000 and with the large
capacity, and from their difference the bytes each TCB slot costs at start
(the TCB and its share of the pools: the table is made, and touched, at
start); the resident memory with the connections open, its growth per
connection (what the connections themselves touched) and the whole divided
by N; the server's open/refused counters. Every loop is bounded in count and time.
"""
from __future__ import annotations

import argparse
import errno
import os
import re
import resource
import select
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HARNESS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HARNESS))

import own_netns  # noqa: E402
from compare_lib import servers  # noqa: E402

REPO = HARNESS.parent
INSIDE = "BM_HUNDRED_K_NS"
NET = 241  # 10.99.241.0/24, TAP bmc241
SERVER_IP, HOST_IP = f"10.99.{NET}.1", f"10.99.{NET}.2"
SMTP_PORT = 2500
PORTS_PER_ADDRESS = 60000  # of ip_local_port_range 1024-65000, set in the namespace
IP_BIND_ADDRESS_NO_PORT = 24  # linux/in.h
SMALL_CAPACITY = 1000  # a first start, so the table's share of the start-up memory shows
PER_WORKER = 16000  # connections per client process: its open-file limit may not be raised


def rss_bytes(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.M).group(1)) * 1024


def start_server(build: Path, work: Path, capacity: int, server_cpu: str) -> servers.DpdkServer:
    tap, prefix = f"bmc{NET}", f"bmc{NET}-{os.getpid()}"
    for sub in ("new", "cur", "tmp"):  # RFC 5321 §4.5.1: a postmaster, even for a sink
        (work / "empty-mail" / "postmaster" / sub).mkdir(parents=True, exist_ok=True)
    users = work / "users"
    users.write_text("user0:secret\n")
    mbuf_mb = 32  # the mempool is sized by frames in flight, not TCBs (dataplane/dpdk/port.cpp)
    argv = [str(servers.find_binary(build, "baremail")), "--no-huge", "-m", str(512 + mbuf_mb), "--no-pci",
            "-l", server_cpu, "--file-prefix", prefix, "--vdev", f"net_tap0,iface={tap}", "--",
            "--sink", "-d", str(work / "empty-mail"), "--users", str(users), "--log", str(work / "server.log"),
            "--ip", f"{SERVER_IP}/24", "--tcb-capacity", str(capacity), "--max-conn", str(capacity),
            "--max-conn-per-ip", "0"]  # a few client addresses hold them all
    server = servers.DpdkServer(argv, work, "baremail", SERVER_IP, prefix)

    def tap_up():
        if not Path(f"/sys/class/net/{tap}").exists():
            return False
        for cmd in (["ip", "addr", "replace", f"{HOST_IP}/24", "dev", tap], ["ip", "link", "set", tap, "up"]):
            subprocess.run(cmd, check=True, capture_output=True, timeout=10)
        return True

    server.wait_accepting(SMTP_PORT, prepare=tap_up)
    return server


def client_addresses(n: int) -> list[str]:
    count = (n + PORTS_PER_ADDRESS - 1) // PORTS_PER_ADDRESS
    addresses = [f"10.99.{NET}.{10 + i}" for i in range(count)]
    for a in addresses:
        subprocess.run(["ip", "addr", "add", f"{a}/24", "dev", f"bmc{NET}"], check=True, capture_output=True)
    Path("/proc/sys/net/ipv4/ip_local_port_range").write_text("1024 65000\n")
    return addresses


class Connections:
    """N idle SMTP connections: connected, greeting read, then left alone."""

    def __init__(self, addresses: list[str], n: int, in_flight: int):
        self.addresses, self.n, self.in_flight = addresses, n, in_flight
        self.epoll = select.epoll()
        self.pending: dict[int, socket.socket] = {}  # connecting or awaiting the greeting
        self.idle: list[socket.socket] = []
        self.started = self.failed = 0

    def open_next(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        # The port is chosen at connect(), unique per 4-tuple, not at bind()
        # (unique per address: slow to find, and bounded by the range).
        s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        s.bind((self.addresses[self.started % len(self.addresses)], 0))
        self.started += 1
        err = s.connect_ex((SERVER_IP, SMTP_PORT))
        if err not in (0, errno.EINPROGRESS):
            self.failed += 1
            s.close()
            return
        self.pending[s.fileno()] = s
        self.epoll.register(s.fileno(), select.EPOLLIN | select.EPOLLERR | select.EPOLLHUP)

    def on_event(self, fd: int, mask: int):
        s = self.pending.pop(fd)
        self.epoll.unregister(fd)
        try:
            greeting = s.recv(512) if mask & select.EPOLLIN else b""
        except OSError:
            greeting = b""
        if greeting.startswith(b"220"):
            self.idle.append(s)
        else:
            self.failed += 1
            s.close()

    def run(self, deadline: float) -> bool:
        """Opens all N (bounded by the deadline); True when every one is idle."""
        while len(self.idle) + self.failed < self.n and time.monotonic() < deadline:
            while self.started < self.n and len(self.pending) < self.in_flight:
                self.open_next()
            for fd, mask in self.epoll.poll(0.2):
                self.on_event(fd, mask)
        return len(self.idle) == self.n

    def close(self):
        for s in [*self.idle, *self.pending.values()]:
            s.close()
        self.epoll.close()


def worker(args) -> int:
    """One client process: opens --connections, prints 'idle N failed F',
    holds them until its stdin closes."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    conns = Connections(args.worker.split(","), args.connections, args.in_flight)
    try:
        conns.run(time.monotonic() + args.time_limit)
        print(f"idle {len(conns.idle)} failed {conns.failed}", flush=True)
        sys.stdin.read()  # until the parent is done measuring
    finally:
        conns.close()
    return 0


def open_connections(args, addresses: list[str]) -> tuple[list[subprocess.Popen], int, int]:
    """Starts the client processes and waits (bounded) for each to report."""
    workers, left = [], args.connections
    while left > 0:
        count = min(left, PER_WORKER)
        left -= count
        workers.append(subprocess.Popen(
            [sys.executable, __file__, "--worker", ",".join(addresses), "--connections", str(count),
             "--in-flight", str(max(1, args.in_flight // 4)), "--time-limit", str(args.time_limit)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
    idle = failed = 0
    for w in workers:
        line = w.stdout.readline()  # the worker's own time limit bounds this
        m = re.match(r"idle (\d+) failed (\d+)", line)
        if m:
            idle, failed = idle + int(m.group(1)), failed + int(m.group(2))
    return workers, idle, failed


def stop_workers(workers: list[subprocess.Popen]):
    for w in workers:
        try:
            w.stdin.close()
            w.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            w.kill()
            w.wait(timeout=10)


def tcb_size(log_text: str) -> str:
    m = re.search(r"tcb_size=(\d+)", log_text)
    return m.group(1) if m else "?"


def counters(server: servers.DpdkServer) -> dict:
    try:
        c = server.counters() or {}
    except OSError:
        return {}
    wanted = ("connections_opened", "connections_closed", "refused_max_conn")
    return {k: v for k, v in c.items() if k.endswith(wanted)}


def measure(args) -> int:
    cpus = os.sched_getaffinity(0)
    server_cpu, client_cpu = str(max(cpus)), min(cpus)
    os.sched_setaffinity(0, {client_cpu})
    capacity = args.connections + args.connections // 20 + 64
    with tempfile.TemporaryDirectory(prefix="bm-100k-") as tmp:
        work = Path(tmp)
        small = start_server(args.build, work, SMALL_CAPACITY, server_cpu)
        try:
            time.sleep(1)
            rss_small = rss_bytes(small.proc.pid)
        finally:
            small.stop()
        server = start_server(args.build, work, capacity, server_cpu)
        workers = []
        try:
            time.sleep(1)  # start-up work settles
            rss_start = rss_bytes(server.proc.pid)
            t0 = time.monotonic()
            workers, n, failed = open_connections(args, client_addresses(args.connections))
            opened_s = time.monotonic() - t0
            complete = n == args.connections
            time.sleep(1)
            server.check_alive()
            rss_open = rss_bytes(server.proc.pid)
            log_text = (work / "server.log").read_text(errors="replace") + server.stderr()
            print(f"connections idle: {n} of {args.connections} ({failed} failed) in {opened_s:.1f} s")
            print(f"tcb_size={tcb_size(log_text)} bytes, --tcb-capacity {capacity}")
            print(f"server RSS at start: {rss_small / 2**20:.1f} MiB with --tcb-capacity {SMALL_CAPACITY}, "
                  f"{rss_start / 2**20:.1f} MiB with {capacity}: "
                  f"{(rss_start - rss_small) / (capacity - SMALL_CAPACITY):.0f} bytes per TCB slot made at start")
            print(f"server RSS with the connections open: {rss_open / 2**20:.1f} MiB")
            if n:
                print(f"bytes per connection: {(rss_open - rss_start) / n:.0f} (RSS delta / connections), "
                      f"{rss_open / n:.0f} (whole RSS / connections)")
            print(f"server counters: {counters(server)}")
            return 0 if complete else 1
        finally:
            stop_workers(workers)
            server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=100_000)
    parser.add_argument("--in-flight", type=int, default=512, help="connects awaiting their greeting at once")
    parser.add_argument("--time-limit", type=float, default=180.0, help="seconds to open them all")
    parser.add_argument("--build", type=Path, default=REPO / "build")
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # a client process: its source addresses
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    if not 0 < args.connections <= 500_000:
        parser.error("--connections must be within 1..500000")
    if os.geteuid() != 0:
        print("hundred_k: needs root (network namespace, TAP, DPDK)", file=sys.stderr)
        return 2
    if not own_netns.inside(INSIDE):
        return own_netns.rerun(__file__, sys.argv[1:], INSIDE, "bm-100k")
    return measure(args)


if __name__ == "__main__":
    sys.exit(main())
