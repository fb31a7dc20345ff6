"""The DPDK build on a net_memif port (SPEC "Command line": any PMD works).

memif is shared memory between two DPDK processes, so nothing in the kernel
can talk to it directly. The test puts harness/memif_bridge in front of it:

    clients (kernel stack) -- bmm0 (TAP) == memif_bridge == memif socket == baremail
        10.99.250.1/24          net_tap0      net_memif0      net_memif0    10.99.250.2/24
                                              (client)        (server)

baremail is the memif server (it creates the socket under the test's temp
dir), the bridge connects as client and forwards every frame both ways.
Through that: ARP and ping, an SMTP session with smtplib (stored in the
Maildir), POP3 retrieval with poplib (same bytes), and a 1 MB message both
ways (hundreds of full-sized TCP segments through the memif rings), then a
SIGTERM shutdown of both.

Runs only when BAREMAIL_BUILDS names dpdk, inside the runner's network
namespace (harness/e2e/run_in_netns.sh); both processes, the TAP, the socket
and the EAL runtime dirs are removed afterwards, also on failure.
"""

from __future__ import annotations

import os
import poplib
import re
import shutil
import signal
import smtplib
import subprocess
import time
from pathlib import Path

import pytest

import helpers
from conftest import BUILD_DIR, BUILDS, SELECTED, in_own_netns, record_result

TAP = "bmm0"
HOST_IP = "10.99.250.1"     # the kernel side of the TAP: where the clients are
SERVER_IP = "10.99.250.2"   # baremail's stack, behind the memif
SMTP_PORT, POP3_PORT = 2500, 11000
USERS = {"alice": "alice-pw", "bob": "bob-pw"}
START_TIMEOUT = 15.0        # EAL start of both processes plus the memif handshake
STOP_TIMEOUT = 10.0
IO_TIMEOUT = 30.0           # any single client operation
BRIDGE = BUILD_DIR / "harness" / "memif_bridge" / "memif_bridge"

pytestmark = pytest.mark.skipif("dpdk" not in SELECTED,
                                reason="memif runs the DPDK build: set BAREMAIL_BUILDS to include dpdk")


def eal_cpus() -> tuple[int, int]:
    """Two CPUs for two polling processes: baremail on the first one we may
    use, the bridge on the last (the same one on a single-CPU machine)."""
    cpus = sorted(os.sched_getaffinity(0))
    return cpus[0], cpus[-1]


def run(cmd, timeout=10):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


class Rig:
    """baremail on net_memif (server) + memif_bridge (client) + TAP bmm0."""

    def __init__(self, root: Path):
        self.root = root
        self.mail_dir = root / "mail"
        self.socket = root / "memif.sock"
        tag = os.getpid()
        self.prefixes = (f"bmm-srv-{tag}", f"bmm-br-{tag}")
        self.server: subprocess.Popen | None = None
        self.bridge: subprocess.Popen | None = None
        self.server_out = root / "server.txt"
        self.bridge_out = root / "bridge.txt"
        for user in [*USERS, "postmaster"]:  # no postmaster, no start (RFC 5321 §4.5.1)
            for sub in ("cur", "new", "tmp"):
                (self.mail_dir / user / sub).mkdir(parents=True, exist_ok=True)
        self.users = root / "users"
        self.users.write_text("".join(f"{u}:{p}\n" for u, p in USERS.items()))

    # -- processes
    def _spawn(self, argv, out: Path) -> subprocess.Popen:
        with open(out, "ab") as f:
            return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=f, stderr=f, cwd=self.root,
                                    start_new_session=True)

    def start(self):
        server_cpu, bridge_cpu = eal_cpus()
        # socket-abstract=no: a socket file under our temp dir, which tells
        # us when the server listens (22.11's default is an abstract name).
        self.server = self._spawn([
            str(BUILDS["dpdk"].binary), "--no-huge", "-m", "512", "--no-pci", "-l", str(server_cpu),
            "--file-prefix", self.prefixes[0],
            "--vdev", f"net_memif0,role=server,socket={self.socket},socket-abstract=no",
            "--",
            "--ip", f"{SERVER_IP}/24", "-d", str(self.mail_dir), "--users", str(self.users),
            "--smtp-port", str(SMTP_PORT), "--pop3-port", str(POP3_PORT), "--echo-port", "0",
            "--hostname", "e2e.test", "--relay-from", "10.99.0.0/16", "--dns", "127.0.0.1",
        ], self.server_out)

        def listening():
            if self.socket.exists():
                return True
            if self.server.poll() is not None:
                text = self.server_text()
                # What the EAL says when no driver takes the vdev: the DPDK
                # installation has no memif PMD (librte_net_memif).
                if 'failed to parse device "net_memif0"' in text:
                    pytest.skip("the DPDK memif PMD is missing: the EAL cannot probe net_memif0")
                raise AssertionError(f"baremail exited ({self.server.returncode}) before its memif socket "
                                     f"appeared: {text}")
            return False

        helpers.wait_until(listening, timeout=START_TIMEOUT, what="baremail's memif socket")

        self.bridge = self._spawn([
            str(BRIDGE), "--no-huge", "-m", "512", "--no-pci", "-l", str(bridge_cpu),
            "--file-prefix", self.prefixes[1],
            "--vdev", f"net_tap0,iface={TAP}",
            "--vdev", f"net_memif0,role=client,socket={self.socket},socket-abstract=no",
        ], self.bridge_out)

        def tap_appeared():
            if Path(f"/sys/class/net/{TAP}").exists():
                return True
            self._check_alive()
            return False

        helpers.wait_until(tap_appeared, timeout=START_TIMEOUT, what=f"TAP {TAP}")
        for cmd in (["ip", "addr", "replace", f"{HOST_IP}/24", "dev", TAP], ["ip", "link", "set", TAP, "up"]):
            r = run(cmd)
            assert r.returncode == 0, f"{' '.join(cmd)}: {r.stderr.strip()}"

        def ready():
            self._check_alive()
            return "memif_bridge: ready" in self.bridge_text() and "server - start" in self.server_text()

        try:
            helpers.wait_until(ready, timeout=START_TIMEOUT, what="bridge links up and baremail started")
        except AssertionError as e:
            raise AssertionError(f"{e}; baremail: {self.server_text()}\nmemif_bridge: {self.bridge_text()}")
        deadline = time.monotonic() + START_TIMEOUT
        for port in (SMTP_PORT, POP3_PORT):
            while not helpers.port_accepts(SERVER_IP, port, timeout=0.25):
                self._check_alive()
                assert time.monotonic() < deadline, f"port {port} did not accept within {START_TIMEOUT} s"
                time.sleep(0.05)

    def _check_alive(self):
        for name, proc in (("baremail", self.server), ("memif_bridge", self.bridge)):
            if proc is not None and proc.poll() is not None:
                raise AssertionError(f"{name} exited ({proc.returncode}); baremail: {self.server_text()}\n"
                                     f"memif_bridge: {self.bridge_text()}")

    @staticmethod
    def _stop(proc: subprocess.Popen | None) -> int | None:
        """SIGTERM, bounded wait, then SIGKILL. The exit code (None if killed)."""
        if proc is None:
            return None
        if proc.poll() is not None:
            return proc.returncode
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
            return None

    def stop(self) -> tuple[int | None, int | None]:
        """baremail first (its 421/-ERR lines still cross the bridge), then
        the bridge."""
        return self._stop(self.server), self._stop(self.bridge)

    def cleanup(self):
        self.stop()
        # The TAP goes with the bridge (closing net_tap deletes it); make sure.
        if Path(f"/sys/class/net/{TAP}").exists():
            run(["ip", "link", "del", TAP])
        try:
            self.socket.unlink()
        except FileNotFoundError:
            pass
        for prefix in self.prefixes:
            for base in ("/var/run/dpdk", os.path.join(os.environ.get("XDG_RUNTIME_DIR", "/tmp"), "dpdk")):
                shutil.rmtree(os.path.join(base, prefix), ignore_errors=True)

    # -- output
    def server_text(self) -> str:
        try:
            return self.server_out.read_text(errors="replace")
        except OSError:
            return ""

    def bridge_text(self) -> str:
        try:
            return self.bridge_out.read_text(errors="replace")
        except OSError:
            return ""

    def server_mac(self) -> str:
        m = re.search(r"net_memif0 \(net_memif\), mac ([0-9a-f:]{17})", self.server_text())
        assert m, f"no port line in baremail's start log: {self.server_text()}"
        return m.group(1)

    def messages(self, user):
        return helpers.maildir_messages(self.mail_dir, user)


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    if not in_own_netns():
        pytest.fail("the memif test creates a TAP port: run it in a network namespace of its own "
                    "(harness/e2e/run_in_netns.sh)")
    if not BUILDS["dpdk"].binary.exists():
        pytest.fail(f"{BUILDS['dpdk'].binary} does not exist: build it, or set BAREMAIL_BUILD_DIR")
    if not BRIDGE.exists():
        pytest.fail(f"{BRIDGE} does not exist: build it (meson builds it with the DPDK build)")
    if Path(f"/sys/class/net/{TAP}").exists():
        pytest.fail(f"interface {TAP} already exists in this namespace")
    r = Rig(tmp_path_factory.mktemp("memif"))
    try:
        r.start()
        yield r
    finally:
        r.cleanup()


# ----------------------------------------------------------------- tests


def test_arp_and_ping_through_memif(rig):
    # Forget the server's MAC so the ping has to resolve it anew over the memif.
    run(["ip", "neigh", "flush", "dev", TAP])
    r = run(["ping", "-c", "3", "-i", "0.2", "-W", "2", SERVER_IP], timeout=20)
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"\b3 received\b", r.stdout), r.stdout
    neigh = run(["ip", "neigh", "show", SERVER_IP, "dev", TAP]).stdout
    assert f"lladdr {rig.server_mac()}" in neigh, f"neighbour entry {neigh!r}, baremail's MAC {rig.server_mac()}"


def test_smtp_session_then_pop3_retrieval(rig):
    msg = helpers.make_message("memif-small", body_lines=["through shared memory", ".a line with a dot"])
    with smtplib.SMTP(SERVER_IP, SMTP_PORT, local_hostname="client.test", timeout=IO_TIMEOUT) as smtp:
        code, _ = smtp.ehlo()
        assert code == 250
        for ext in ("pipelining", "size", "8bitmime", "enhancedstatuscodes"):
            assert smtp.has_extn(ext), ext
        refused = smtp.sendmail("sender@client.test", ["alice@e2e.test"], msg)
        assert refused == {}
        code, _ = smtp.noop()
        assert code == 250
    stored = helpers.wait_until(lambda: rig.messages("alice"), timeout=10, what="alice's message")
    assert len(stored) == 1
    rest, received = helpers.strip_received(stored[0])
    assert rest == msg and len(received) == 1
    assert f"[{HOST_IP}]".encode() in received[0]  # the peer as baremail saw it, across the bridge

    pop = poplib.POP3(SERVER_IP, POP3_PORT, timeout=IO_TIMEOUT)
    try:
        pop.user("alice")
        pop.pass_(USERS["alice"])
        count, size = pop.stat()
        assert (count, size) == (1, len(stored[0]))
        status, lines, octets = pop.retr(1)
        assert status.startswith(b"+OK")
        assert b"\r\n".join(lines) + b"\r\n" == stored[0]  # poplib undoes the dot-stuffing
        assert octets >= len(stored[0])
    finally:
        pop.quit()


def one_megabyte_message() -> bytes:
    """~1 MiB of CRLF lines, every seventh starting with a dot."""
    head = helpers.make_message("memif-1mb")
    lines, size, i = [], len(head), 0
    while size < 1024 * 1024:
        line = (b"." if i % 7 == 0 else b"") + b"line %07d of the memif message, filler filler filler\r\n" % i
        lines.append(line)
        size += len(line)
        i += 1
    return head + b"".join(lines)


def test_one_megabyte_message_both_ways(rig):
    msg = one_megabyte_message()
    start = time.monotonic()
    with smtplib.SMTP(SERVER_IP, SMTP_PORT, local_hostname="client.test", timeout=IO_TIMEOUT) as smtp:
        assert smtp.sendmail("sender@client.test", ["bob@e2e.test"], msg) == {}
    smtp_s = time.monotonic() - start
    stored = helpers.wait_until(lambda: rig.messages("bob"), timeout=10, what="bob's message")
    assert len(stored) == 1
    rest, _ = helpers.strip_received(stored[0])
    assert len(rest) == len(msg) and rest == msg

    pop = poplib.POP3(SERVER_IP, POP3_PORT, timeout=IO_TIMEOUT)
    try:
        pop.user("bob")
        pop.pass_(USERS["bob"])
        start = time.monotonic()
        status, lines, _ = pop.retr(1)
        retr_s = time.monotonic() - start
        assert status == b"+OK %d octets" % len(stored[0])
        body = b"\r\n".join(lines) + b"\r\n"
        assert len(body) == len(stored[0]) and body == stored[0]
    finally:
        pop.quit()
    mb = len(stored[0]) / 1e6
    record_result(f"e2e-memif: ARP/ping, SMTP+POP3 over net_memif (server role) through a TAP bridge: ok, "
                  f"{mb:.2f} MB DATA in {smtp_s:.2f} s, RETR in {retr_s:.2f} s "
                  f"({mb / retr_s:.1f} MB/s)")


def bridge_counts(text: str, src: str, dst: str) -> dict[str, int]:
    m = re.search(rf"memif_bridge: {src} -> {dst}: rx (\d+) tx (\d+) dropped (\d+) no_link (\d+)", text)
    assert m, f"no {src} -> {dst} counters in: {text}"
    return dict(zip(("rx", "tx", "dropped", "no_link"), map(int, m.groups())))


def test_sigterm_stops_both_cleanly(rig):
    """Last: stops the rig. baremail exits 0 on SIGTERM on a memif port; no
    frame was lost to a full ring on either side of the bridge (only frames
    sent while a link was still down, counted apart); the TAP goes with the
    bridge and the memif socket with baremail."""
    link_s = re.search(r"links up after ([0-9.]+) s", rig.bridge_text())
    server_rc, bridge_rc = rig.stop()
    assert server_rc == 0, rig.server_text()
    assert bridge_rc == 0, rig.bridge_text()
    assert "server - stop ok" in rig.server_text(), rig.server_text()
    up = bridge_counts(rig.bridge_text(), "net_tap0", "net_memif0")
    down = bridge_counts(rig.bridge_text(), "net_memif0", "net_tap0")
    assert up["dropped"] == 0 and down["dropped"] == 0, rig.bridge_text()
    assert up["tx"] > 700 and down["tx"] > 700, rig.bridge_text()  # the 1 MB each way alone is ~720 frames
    helpers.wait_until(lambda: not Path(f"/sys/class/net/{TAP}").exists(), timeout=5, what=f"{TAP} removed")
    assert not rig.socket.exists(), "baremail left its memif socket behind"
    record_result(f"e2e-memif-stop: SIGTERM: baremail and bridge exit 0, TAP and socket gone; "
                  f"memif link up {link_s.group(1) if link_s else '?'} s after the bridge started; "
                  f"frames host->server {up['tx']}, server->host {down['tx']}, none lost to a full ring "
                  f"({up['no_link'] + down['no_link']} before the link was up)")
