"""The servers harness/compare measures: baremail-kernel on loopback,
baremail on a TAP port, baremail on a memif port; each started on its own
mail dir (or --sink), pinned to the server core, with a way to read the CPU
it spent (process time for the kernel build, the poll loop's busy cycles
for the DPDK build)."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from compare_lib import cpu

START_TIMEOUT = 15.0


def find_binary(build: Path, name: str) -> Path:
    for sub in ("", "dataplane", "dataplane/kernel", "dataplane/dpdk", "harness/mailgun"):
        p = build / sub / name
        if p.is_file():
            return p
    raise FileNotFoundError(f"{name} not built under {build} (bash harness/build.sh)")


def port_accepts(ip: str, port: int) -> bool:
    try:
        with socket.create_connection((ip, port), timeout=0.3):
            return True
    except OSError:
        return False


def telemetry(prefix: str, command: str) -> dict:
    """One DPDK telemetry command (v2 socket of the EAL with this file prefix)."""
    path = f"/var/run/dpdk/{prefix}/dpdk_telemetry.v2"
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
        s.settimeout(2)
        s.connect(path)
        s.recv(16384)  # the greeting: version, pid, max_output_len
        s.send(command.encode())
        return json.loads(s.recv(1 << 20).decode())[command]


class Server:
    """A running baremail (either build). `endpoint` is where clients go."""

    def __init__(self, argv: list[str], workdir: Path, name: str, ip: str, wait_ip: str | None = None):
        self.name, self.ip, self.workdir = name, ip, workdir
        self.stderr_path = workdir / f"{name}.stderr"
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=open(self.stderr_path, "wb"),
                                     start_new_session=True)
        self.wait_ip = wait_ip

    def stderr(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def check_alive(self):
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited ({self.proc.returncode}): {self.stderr()}")

    def wait_accepting(self, port: int, prepare=None):
        deadline = time.monotonic() + START_TIMEOUT
        prepared = prepare is None
        while time.monotonic() < deadline:
            self.check_alive()
            if not prepared:
                prepared = prepare()
            elif port_accepts(self.ip, port):
                return
            time.sleep(0.05)
        raise RuntimeError(f"{self.name}: port {port} not accepting after {START_TIMEOUT} s: {self.stderr()}")

    def cpu_seconds(self) -> float:
        """CPU the server spent on work (override: busy cycles)."""
        return cpu.tree_seconds(self.proc.pid)

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        return self.proc.returncode


class DpdkServer(Server):
    def __init__(self, argv, workdir, name, ip, prefix):
        super().__init__(argv, workdir, name, ip)
        self.prefix = prefix

    def counters(self) -> dict:
        return telemetry(self.prefix, "/baremail/stats")

    def cpu_seconds(self) -> float:
        """Seconds of the poll loop's iterations that did work: the CPU the
        server needed, without the polls that found nothing."""
        c = self.counters()
        if c is None:
            # The counters are registered once the poll loop starts; a memif
            # server waits for its client first, so before the run: no work yet.
            return 0.0
        busy = next((v for k, v in c.items() if k.endswith("busy_cycles")), None)
        hz = next((v for k, v in c.items() if k.endswith("tsc_hz")), None)
        if busy is None or not hz:
            return float("nan")
        return busy / hz

    def stop(self):
        rc = super().stop()
        shutil.rmtree(f"/var/run/dpdk/{self.prefix}", ignore_errors=True)
        return rc


def common_options(mail: Path | None, users: Path, log: Path) -> list[str]:
    opts = ["--users", str(users), "--log", str(log), "--max-conn", "4096"]
    return opts + (["-d", str(mail)] if mail else ["--sink", "-d", str(log.parent / "empty-mail")])


def start_kernel(build: Path, workdir: Path, mail: Path | None, users: Path, server_cpu: str) -> Server:
    (workdir / "empty-mail").mkdir(exist_ok=True)
    argv = ["taskset", "-c", server_cpu, str(find_binary(build, "baremail-kernel")),
            *common_options(mail, users, workdir / "kernel.log"), "--ip", "127.0.0.1"]
    s = Server(argv, workdir, "baremail-kernel", "127.0.0.1")
    s.wait_accepting(2500)
    return s


def _eal(server_cpu: str, prefix: str, vdev: str) -> list[str]:
    return ["--no-huge", "-m", "512", "--no-pci", "-l", server_cpu, "--file-prefix", prefix, "--vdev", vdev]


def start_dpdk_tap(build: Path, workdir: Path, mail: Path | None, users: Path, server_cpu: str,
                   net: int, poll: str) -> DpdkServer:
    """baremail on TAP bmc<net>: the stack 10.99.<net>.1, the host .2."""
    (workdir / "empty-mail").mkdir(exist_ok=True)
    tap, prefix = f"bmc{net}", f"bmc{net}-{os.getpid()}"
    ip, host = f"10.99.{net}.1", f"10.99.{net}.2"
    argv = [str(find_binary(build, "baremail")), *_eal(server_cpu, prefix, f"net_tap0,iface={tap}"), "--",
            *common_options(mail, users, workdir / "dpdk-tap.log"), "--ip", f"{ip}/24",
            "--relay-from", "10.99.0.0/16", *poll_options(poll)]
    s = DpdkServer(argv, workdir, "baremail-tap", ip, prefix)

    def tap_up():
        if not Path(f"/sys/class/net/{tap}").exists():
            return False
        for cmd in (["ip", "addr", "replace", f"{host}/24", "dev", tap], ["ip", "link", "set", tap, "up"]):
            subprocess.run(cmd, check=True, capture_output=True, timeout=10)
        return True

    s.wait_accepting(2500, prepare=tap_up)
    return s


def start_dpdk_memif(build: Path, workdir: Path, mail: Path | None, users: Path, server_cpu: str,
                     net: int, poll: str) -> tuple[DpdkServer, Path]:
    """baremail as the memif server on a socket in workdir, the stack
    10.99.<net>.1; the DPDK mailgun joins as the client (10.99.<net>.2)."""
    (workdir / "empty-mail").mkdir(exist_ok=True)
    sock = workdir / f"memif{net}.sock"
    prefix = f"bmc{net}-{os.getpid()}"
    ip = f"10.99.{net}.1"
    vdev = f"net_memif0,role=server,socket={sock},socket-abstract=no"
    argv = [str(find_binary(build, "baremail")), *_eal(server_cpu, prefix, vdev), "--",
            *common_options(mail, users, workdir / "dpdk-memif.log"), "--ip", f"{ip}/24",
            "--relay-from", "10.99.0.0/16", *poll_options(poll)]
    s = DpdkServer(argv, workdir, "baremail-memif", ip, prefix)
    deadline = time.monotonic() + START_TIMEOUT
    while not sock.exists():
        s.check_alive()
        if time.monotonic() > deadline:
            raise RuntimeError(f"baremail: no memif socket after {START_TIMEOUT} s: {s.stderr()}")
        time.sleep(0.05)
    return s, sock


def poll_options(poll: str) -> list[str]:
    return ["--poll", poll] if poll else []
