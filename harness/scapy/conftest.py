"""Fixtures for the wire-level (Scapy) suite of the DPDK build.

Run from the repository root, as root:

    /usr/bin/python3 -m pytest harness/scapy
    BAREMAIL_BUILD_DIR=/tmp/build-scapy /usr/bin/python3 -m pytest harness/scapy

* `netns` (session, autouse): the whole pytest process moves into a network
  namespace of its own (see netns.py for why and how) and leaves and
  deletes it at the end, whatever happened.
* `server(*options)` (function): starts `baremail` with its own TAP
  (`bms<pid>x<n>`), its own `--file-prefix`, its own subnet 10.99.N.0/24
  (N in 200..249): the stack is 10.99.N.1, the namespace's kernel gets
  10.99.N.2 on the TAP (for real kernel clients), and Scapy speaks as
  10.99.N.3 with a made-up MAC — an address the kernel does not own, so it
  never answers our hand-made connections with RSTs. The server's MAC is
  learnt with an ARP request. Killed at teardown whatever happened.
* Every test has a wall-clock bound (SIGALRM, default 60 s,
  `@pytest.mark.time_limit(S)` to change it).
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

import netns as netns_mod
import sys
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "testing"))
import server_health  # noqa: E402
from wire import TcpConn, Wire, arp_resolve

REPO = Path(__file__).resolve().parents[2]
BUILD_DIR = Path(os.environ.get("BAREMAIL_BUILD_DIR", REPO / "build"))
START_TIMEOUT = 30.0
DEFAULT_TIME_LIMIT = 60
USERS = {"alice": "alice-pw", "bob": "bob-pw"}

_starts = itertools.count()


def binary() -> Path:
    for sub in ("", "dataplane", "dataplane/dpdk"):
        p = BUILD_DIR / sub / "baremail"
        if p.is_file():
            return p
    return BUILD_DIR / "baremail"


# ------------------------------------------------------------ time bound


def pytest_configure(config):
    config.addinivalue_line("markers", "time_limit(seconds): wall-clock bound of one test")


class TestTimeout(Exception):
    pass


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    m = item.get_closest_marker("time_limit")
    limit = int(m.args[0]) if m else DEFAULT_TIME_LIMIT

    def on_alarm(signum, frame):
        raise TestTimeout(f"test exceeded its {limit} s bound")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(limit)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


# -------------------------------------------------------------- namespace


@pytest.fixture(scope="session", autouse=True)
def netns():
    with netns_mod.Namespace() as ns:
        yield ns


# ----------------------------------------------------------------- server


def iface_exists(name: str) -> bool:
    try:
        socket.if_nametoindex(name)
        return True
    except OSError:
        return False


class Server:
    def __init__(self, root: Path, options, users=USERS):
        n = next(_starts)
        self.net = 200 + (os.getpid() + n) % 50
        self.iface = f"bms{os.getpid() % 100000}x{n}"[:15]
        self.prefix = f"bms-{os.getpid()}-{n}"
        self.ip = f"10.99.{self.net}.1"
        self.host_ip = f"10.99.{self.net}.2"     # the namespace kernel (real clients)
        self.scapy_ip = f"10.99.{self.net}.3"    # hand-made frames
        self.scapy_mac = f"02:00:00:63:{self.net:02x}:03"
        self.root = root
        self.mail_dir = root / "mail"
        self.stderr_path = root / "stderr.txt"
        self.smtp_port, self.pop3_port, self.echo_port = 2500, 11000, 10000
        self.options = list(options)
        self.proc: subprocess.Popen | None = None
        self.health = server_health.Health()
        self.wire: Wire | None = None
        self.mac: str | None = None
        for name in [*users, "postmaster"]:  # no postmaster, no start (RFC 5321 §4.5.1)
            for sub in ("cur", "new", "tmp"):
                (self.mail_dir / name / sub).mkdir(parents=True, exist_ok=True)
        self.users_file = root / "users"
        self.users_file.write_text("".join(f"{u}:{p}\n" for u, p in users.items()))

    @property
    def argv(self):
        eal = ["--no-huge", "-m", "512", "--no-pci", "--vdev", f"net_tap0,iface={self.iface}",
               "--file-prefix", self.prefix]
        opts = ["-d", str(self.mail_dir), "--users", str(self.users_file), "--ip", f"{self.ip}/24",
                "--hostname", "scapy.test", "--smtp-port", str(self.smtp_port),
                "--pop3-port", str(self.pop3_port), "--echo-port", str(self.echo_port)]
        return [str(binary()), *eal, "--", *opts, *self.options]

    def start(self):
        assert binary().is_file(), f"{binary()} not built (set BAREMAIL_BUILD_DIR)"
        err = open(self.stderr_path, "ab")
        self.health.on_start()
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                     cwd=self.root, start_new_session=True)
        err.close()
        deadline = time.monotonic() + START_TIMEOUT
        while not iface_exists(self.iface):
            if self.proc.poll() is not None:
                raise AssertionError(f"baremail exited ({self.proc.returncode}) before its TAP "
                                     f"appeared; stderr:\n{self.stderr}")
            if time.monotonic() > deadline:
                raise AssertionError(f"TAP {self.iface} did not appear in {START_TIMEOUT} s; "
                                     f"stderr:\n{self.stderr}")
            time.sleep(0.05)
        subprocess.run(["ip", "addr", "add", f"{self.host_ip}/24", "dev", self.iface], check=True)
        subprocess.run(["ip", "link", "set", self.iface, "up"], check=True)
        self.wire = Wire(self.iface)
        f = arp_resolve(self.wire, self.scapy_mac, self.scapy_ip, self.ip,
                        timeout=max(deadline - time.monotonic(), 5))
        assert f is not None, f"no ARP reply from {self.ip}; stderr:\n{self.stderr}"
        self.mac = f.pkt["ARP"].hwsrc
        return self

    # -- process
    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        self.health.ended_by_test = True
        if self.wire is not None:
            self.wire.close()
            self.wire = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=1.5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass
        shutil.rmtree(f"/var/run/dpdk/{self.prefix}", ignore_errors=True)

    @property
    def stderr(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""

    def counters(self, timeout=5.0) -> dict[str, int]:
        """SIGUSR1, then the counter block the server prints on stderr."""
        before = self.stderr.count("baremail counters")
        os.kill(self.pid, signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.stderr
            if text.count("baremail counters") > before:
                block = text[text.rfind("baremail counters"):]
                if "ethdev.rx_nombuf" in block:
                    out = {}
                    for line in block.splitlines()[1:]:
                        m = re.fullmatch(r"([\w.]+) (\d+)", line.strip())
                        if m:
                            out[m.group(1)] = int(m.group(2))
                        if line.startswith("ethdev.rx_nombuf"):
                            break
                    return out
            time.sleep(0.05)
        raise AssertionError(f"no counter report within {timeout} s of SIGUSR1; stderr:\n{self.stderr[-2000:]}")

    def vm_rss_kib(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")

    # -- clients
    def conn(self, port=None, **kw) -> TcpConn:
        return TcpConn(self, self.smtp_port if port is None else port, **kw)

    def messages(self, user):
        d = self.mail_dir / user / "new"
        return sorted(d.iterdir()) if d.is_dir() else []


@pytest.fixture
def server(tmp_path):
    """Factory: server(*options) -> started Server."""
    started: list[Server] = []

    def make(*options):
        s = Server(tmp_path / f"server{len(started)}", options)
        started.append(s)
        try:
            return s.start()
        except BaseException:
            s.kill()
            raise

    yield make
    failures = []
    for s in started:
        # Before the kill: hand-made connections are left half-open, so the
        # SIGTERM below may end in SIGKILL and its exit code says nothing.
        found = server_health.problems(f"baremail on {s.iface}", s.health, s.alive(),
                                       None if s.proc is None else s.proc.poll(), s.stderr)
        if found:
            failures.append((found, s.stderr))
        s.kill()
        print(f"--- stderr of {s.iface} ---\n{s.stderr[-3000:]}")
    if failures:
        pytest.fail(server_health.report(failures), pytrace=False)


@pytest.fixture
def srv(server):
    """A server with default options."""
    return server()


# -------------------------------------------------------- shared checks


def smtp_session(server: Server, sport=None) -> None:
    """A complete, polite SMTP session by hand: handshake, greeting, HELO,
    QUIT, both FINs. Asserts every step."""
    c = server.conn(sport=sport)
    c.handshake()
    greeting, _ = c.read()
    assert greeting.startswith(b"220 "), greeting
    assert c.command(b"HELO client.scapy\r\n").startswith(b"250 "), "HELO"
    c.send(b"QUIT\r\n")
    data, _ = c.read()
    assert data.startswith(b"221 "), data
    if not c.peer_fin:
        f = c.next(3.0, lambda p: int(p["TCP"].flags) & 0x01)
        assert f is not None, "no FIN after 221"
        c.rcv_nxt = (f.pkt["TCP"].seq + 1) & 0xFFFFFFFF
        c.peer_fin = True
    c.send(b"", flags="FA")
    f = c.next(3.0, lambda p: p["TCP"].ack == c.snd_nxt)
    assert f is not None, "our FIN was not acknowledged"


# ------------------------------------------------------- results summary

RESULTS: list[str] = []


def record_result(line: str):
    """A figure worth seeing without -s: printed now and again in the
    terminal summary (and appended to $BAREMAIL_SCAPY_RESULTS if set)."""
    RESULTS.append(line)
    out = os.environ.get("BAREMAIL_SCAPY_RESULTS")
    if out:
        with open(out, "a") as f:
            f.write(time.strftime("%Y-%m-%d %H:%M:%S ") + line + "\n")
    print(line)


def pytest_terminal_summary(terminalreporter):
    if RESULTS:
        terminalreporter.section("baremail scapy results")
        for line in RESULTS:
            terminalreporter.write_line(line)
