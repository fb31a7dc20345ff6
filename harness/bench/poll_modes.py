#!/usr/bin/env python3
"""The DPDK build's poll modes side by side with the kernel build, on this
machine, in one run (as root):

    harness/bench/poll_modes.py [--idle S] [--sessions N] [--load-duration S] [--store sink|maildir]
                                [--servers kernel,dpdk-busy,dpdk-adaptive] [--build DIR]

For each server — baremail-kernel on loopback, baremail on TAP with
--poll busy, baremail on TAP with --poll adaptive (`dpdk`: the build's own
default, e.g. of an older build given with --build) — pinned to the last CPU
(`-l N` for the DPDK build, taskset for the kernel build), clients on the
first CPU:

- idle: the server's CPU (utime+stime of every thread, /proc) over --idle
  seconds with no client, as a share of one core;
- session latency: --sessions sequential SMTP sessions (connect, EHLO, MAIL,
  RCPT, DATA of 1 KiB, QUIT) by smtplib, one at a time: p50/p90/p99 in ms;
- load: build/harness/mailgun/mailgun, 10 concurrent sessions for
  --load-duration seconds: messages/s, per-message latency p50/p99, and the
  server's CPU per message (process time; for the DPDK build also the poll
  loop's busy cycles, busy_cycles / tsc_hz / messages).

Everything runs in a network namespace made here and deleted afterwards.
Figures taken while other work shares the machine are noisy: compare the
columns of one run.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HARNESS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HARNESS))

import own_netns  # noqa: E402
from compare_lib import cpu, servers  # noqa: E402
from compare_lib.main import cpu_layout, make_mail  # noqa: E402
from compare_lib.workloads import SMTP_PORT, run_mailgun  # noqa: E402

REPO = HARNESS.parent
INSIDE = "BM_POLL_MODES_NS"
NET = 240  # 10.99.240.0/24, TAP bmc240

# One SMTP session per iteration, timed from connect to the end of QUIT.
SESSION_LOOP = r"""
import json, smtplib, sys, time
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
body = ("Subject: poll modes\r\n\r\n" + ("x" * 70 + "\r\n") * 14).encode()
times = []
for i in range(n + 10):
    t0 = time.perf_counter()
    with smtplib.SMTP(host, port, timeout=10) as s:
        s.sendmail("bench@example.org", ["user0@localhost"], body)
    if i >= 10:  # the first ten warm up ARP, caches and the server
        times.append(time.perf_counter() - t0)
print(json.dumps(times))
"""


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def idle_share(pid: int, seconds: float) -> float:
    before = cpu.tree_seconds(pid)
    time.sleep(seconds)
    return (cpu.tree_seconds(pid) - before) / seconds


def session_latencies(client_cpu: str, ip: str, n: int) -> list[float]:
    r = subprocess.run(["taskset", "-c", client_cpu, sys.executable, "-c", SESSION_LOOP, ip, str(SMTP_PORT),
                        str(n)], capture_output=True, text=True, timeout=60 + n)
    if r.returncode != 0:
        raise RuntimeError(f"session loop failed: {r.stderr[-2000:]}")
    return json.loads(r.stdout)


def load(client_cpu: str, ip: str, duration: float, json_path: Path) -> dict:
    mailgun = servers.find_binary(REPO / "build", "mailgun")
    argv = ["taskset", "-c", client_cpu, str(mailgun), "--server", f"{ip}:{SMTP_PORT}", "--sessions", "10",
            "--duration", str(duration), "--size", "1024", "--rcpt", "user{0..15}@localhost", "--timeout", "10"]
    return run_mailgun(argv, json_path, duration + 30)


def busy_seconds(server) -> float:
    return server.cpu_seconds() if isinstance(server, servers.DpdkServer) else float("nan")


def measure(name: str, server, client_cpu: str, args, work: Path) -> dict:
    row = {"server": name}
    time.sleep(1)  # start-up work settles
    row["idle_cpu_share"] = idle_share(server.proc.pid, args.idle)
    times = session_latencies(client_cpu, server.ip, args.sessions)
    row.update({f"session_p{p}_ms": percentile(times, p) * 1e3 for p in (50, 90, 99)})
    process0, busy0 = cpu.tree_seconds(server.proc.pid), busy_seconds(server)
    report = load(client_cpu, server.ip, args.load_duration, work / f"{name}-load.json")
    process1, busy1 = cpu.tree_seconds(server.proc.pid), busy_seconds(server)
    messages = int(report.get("messages_ok", 0))
    latency = report.get("latency_ns", {})
    row["load_report"] = report
    row["load_messages"] = messages
    row["load_msgs_per_s"] = float(report.get("messages_per_s", 0))
    for p in ("p50", "p99"):
        row[f"load_{p}_ms"] = float(latency[p]) / 1e6 if latency.get("count") and p in latency else float("nan")
    if messages:
        row["load_process_us_per_msg"] = (process1 - process0) / messages * 1e6
        row["load_busy_us_per_msg"] = (busy1 - busy0) / messages * 1e6
    return row


def start(name: str, build: Path, work: Path, mail, users: Path, server_cpu: str):
    if name == "kernel":
        return servers.start_kernel(build, work, mail, users, server_cpu)
    return servers.start_dpdk_tap(build, work, mail, users, server_cpu, NET, name.partition("-")[2])


def run(args) -> int:
    server_cpu, client_cpu = cpu_layout()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bm-poll-") as tmp:
        root = Path(tmp)
        os.chmod(root, 0o755)
        for i, name in enumerate(args.servers.split(",")):
            work = root / f"{i}-{name}"
            work.mkdir()
            os.chmod(work, 0o755)
            mail, users = make_mail(work, 0)
            server = start(name, Path(args.build), work, mail if args.store == "maildir" else None, users,
                           server_cpu)
            try:
                rows.append(measure(name, server, client_cpu, args, work))
            finally:
                server.stop()
    print(f"server on CPU {server_cpu}, clients on CPU {client_cpu}, store {args.store}; "
          f"idle over {args.idle:g} s, {args.sessions} sequential sessions, 10-session load for "
          f"{args.load_duration:g} s")
    header = ("server", "idle CPU", "session p50", "p90", "p99", "load msg/s", "msg p50", "msg p99",
              "CPU us/msg", "busy us/msg")
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for r in rows:
        print(f"| {r['server']} | {r['idle_cpu_share'] * 100:.1f} % | {r['session_p50_ms']:.2f} ms | "
              f"{r['session_p90_ms']:.2f} | {r['session_p99_ms']:.2f} | {r['load_msgs_per_s'] or 0:.0f} | "
              f"{r['load_p50_ms']:.2f} ms | {r['load_p99_ms']:.2f} ms | "
              f"{r.get('load_process_us_per_msg', float('nan')):.1f} | {r.get('load_busy_us_per_msg', float('nan')):.1f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1, default=str))
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--idle", type=float, default=10.0, help="seconds of idle CPU measurement (default 10)")
    p.add_argument("--sessions", type=int, default=200, help="sequential SMTP sessions timed (default 200)")
    p.add_argument("--load-duration", type=float, default=8.0, help="seconds of the 10-session load (default 8)")
    p.add_argument("--store", choices=("sink", "maildir"), default="sink")
    p.add_argument("--servers", default="kernel,dpdk-busy,dpdk-adaptive",
                   help="which, in order (kernel, dpdk, dpdk-busy, dpdk-adaptive)")
    p.add_argument("--build", default=str(REPO / "build"), help="where the servers are built (mailgun: build/)")
    p.add_argument("--json", help="also write the rows here")
    args = p.parse_args()
    if os.geteuid() != 0:
        sys.exit("poll_modes: needs root (namespace, TAP)")
    if not own_netns.inside(INSIDE):
        return own_netns.rerun(__file__, sys.argv[1:], INSIDE, "bm-poll")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
