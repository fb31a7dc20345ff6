"""Runs the DPDK programs of a replay on net_pcap: baremail (rx from the
workload pcap, tx to an output pcap) until it has consumed the whole input
and gone quiet, and null_forward on the same input for the ceiling."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

POLL_S = 0.02
# baremail copies the engine's counters (open connections among them) every
# 100 ms (housekeeping_interval_us); waiting this long after the input is
# consumed gives a copy taken after the last frame.
SNAPSHOT_S = 0.35
QUIET_S = 0.15   # no frame out for this long, nothing at the store: no reply is coming
STOP_S = 20.0    # after SIGTERM, before SIGKILL
KILL_WAIT_S = 30.0
# Connections left open (their last ACK came too early) keep the server's
# shutdown waiting for their retransmissions to give up: it is not waited for.
LINGER_STOP_S = 2.0


def eal_args(lcore: int, prefix: str, vdevs: list[str]) -> list[str]:
    args = ["--no-huge", "-m", "512", "--no-pci", "-l", str(lcore), "--file-prefix", prefix, "--log-level", "*:error"]
    for vdev in vdevs:
        args += ["--vdev", vdev]
    return args


def runtime_dirs(prefix: str) -> list[Path]:
    return [Path("/var/run/dpdk") / prefix, Path(os.environ.get("XDG_RUNTIME_DIR", "/tmp")) / "dpdk" / prefix]


def remove_runtime(prefix: str) -> None:
    for path in runtime_dirs(prefix):
        shutil.rmtree(path, ignore_errors=True)


def telemetry(prefix: str, command: str) -> dict | None:
    """One command to the EAL's telemetry socket, or None if it does not answer."""
    for base in runtime_dirs(prefix):
        path = base / "dpdk_telemetry.v2"
        if not path.exists():
            continue
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
                s.settimeout(2)
                s.connect(str(path))
                s.recv(16384)  # the greeting: version, pid, max_output_len
                s.send(command.encode())
                return json.loads(s.recv(1 << 20).decode()).get(command)
        except (OSError, ValueError):
            return None
    return None


@dataclass
class ServerRun:
    pid: int
    stats: dict                  # the counters once the input was consumed and the server quiet
    wall_s: float                # from start to that moment
    lingering: int = 0           # connections still open then
    exit_code: int | None = None
    log: str = ""
    stderr: str = ""
    mac: str | None = None
    notes: list[str] = field(default_factory=list)


class ServerError(RuntimeError):
    """The run could not be made."""


class ServerDied(ServerError):
    """baremail ended before the replay did: a failure of the server."""


def start_server(argv: list[str], workdir: Path) -> subprocess.Popen:
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=open(workdir / "server.stderr", "wb"),
                            start_new_session=True)


def stop(proc: subprocess.Popen, grace_s: float = STOP_S) -> int | None:
    """SIGTERM, then SIGKILL after grace_s; the exit code, or None if the
    process is still there KILL_WAIT_S after that (a loaded machine)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            try:
                proc.wait(KILL_WAIT_S)
            except subprocess.TimeoutExpired:
                return None
    return proc.returncode


def wait_consumed(proc: subprocess.Popen, prefix: str, frames_in: int, timeout_s: float, stderr_path: Path) -> tuple[dict, int]:
    """Polls the counters until the server has read every input frame and a
    snapshot after that shows no open connection — or, when some stay open,
    no store request in flight and no frame out for QUIET_S: no reply is
    still to come. Bounded by timeout_s. Returns the counters and how many
    connections were still open."""
    start = time.monotonic()
    consumed_at = None
    last_tx, last_change = -1, start
    stats = None
    while True:
        now = time.monotonic()
        if proc.poll() is not None:
            raise ServerDied(f"baremail exited ({proc.returncode}) before the replay ended: "
                              f"{stderr_path.read_text(errors='replace')[-2000:]}")
        if now - start > timeout_s:
            got = stats.get("port_rx_packets") if stats else "?"
            raise ServerError(f"the replay did not end within {timeout_s:.0f} s (read {got} of {frames_in} frames)")
        stats = telemetry(prefix, "/baremail/stats") or stats
        if stats:
            if stats.get("port_tx_packets") != last_tx:
                last_tx, last_change = stats.get("port_tx_packets"), now
            if consumed_at is None and stats.get("port_rx_packets", 0) >= frames_in:
                consumed_at = now
            if consumed_at is not None and now - consumed_at >= SNAPSHOT_S:
                open_now = stats.get("tcp_open_connections", 0)
                idle = stats.get("store_in_flight", 0) == 0
                if idle and (open_now == 0 or now - last_change >= QUIET_S):
                    return stats, open_now
        time.sleep(POLL_S)


def server_mac(log_text: str) -> str | None:
    marker = "), mac "
    at = log_text.find(marker)
    return log_text[at + len(marker):at + len(marker) + 17] if at >= 0 else None


def run_server(argv_for, workdir: Path, prefix: str, frames_in: int, timeout_s: float,
               wanted_pid_hex_length: int | None) -> ServerRun:
    """Starts baremail (argv_for(prefix) gives its command line), waits for
    the replay to end, stops it. With wanted_pid_hex_length, a server whose
    pid has another number of hex digits is stopped at once and None's
    returned in its place (its queue ids would be longer or shorter than
    the workload's ACK numbers assume)."""
    remove_runtime(prefix)
    proc = start_server(argv_for(prefix), workdir)
    try:
        if wanted_pid_hex_length is not None and len(f"{proc.pid:X}") != wanted_pid_hex_length:
            stop(proc)
            return None
        start = time.monotonic()
        stats, lingering = wait_consumed(proc, prefix, frames_in, timeout_s, workdir / "server.stderr")
        wall = time.monotonic() - start
        (workdir / "server.counters.json").write_text(json.dumps(stats, indent=1) + "\n")
    except BaseException:
        stop(proc)
        remove_runtime(prefix)
        raise
    code = stop(proc, LINGER_STOP_S if lingering else STOP_S)
    remove_runtime(prefix)
    log_path = workdir / "server.log"
    log = log_path.read_text(errors="replace") if log_path.exists() else ""
    stderr = (workdir / "server.stderr").read_text(errors="replace")
    return ServerRun(proc.pid, stats, wall, lingering, code, log, stderr, server_mac(log + stderr))


def run_null_forward(binary: Path, pcap_in: Path, workdir: Path, lcore: int, prefix: str, timeout_s: float) -> dict:
    """The same input through null_forward; its "name value" lines."""
    remove_runtime(prefix)
    vdevs = [f"net_pcap0,rx_pcap={pcap_in}", f"net_pcap1,tx_pcap={workdir / 'null_forward.pcap'}"]
    try:
        done = subprocess.run([str(binary), *eal_args(lcore, prefix, vdevs), "--", "--idle-ms", "200"],
                              capture_output=True, text=True, timeout=timeout_s)
    finally:
        remove_runtime(prefix)
    if done.returncode != 0:
        raise ServerError(f"null_forward failed ({done.returncode}): {done.stderr[-2000:]}")
    values = {}
    for text_line in done.stdout.splitlines():
        name, _, value = text_line.partition(" ")
        if value.strip().isdigit():
            values[name] = int(value)
    return values
