"""harness/compare: the same mailgun workloads against baremail-kernel,
baremail on TAP, baremail on memif (DPDK mailgun) and Postfix + Dovecot, in
one run; report.md, report.json and plots in results/compare-<timestamp>/.
Run it through harness/compare, which gives it a network namespace."""
from __future__ import annotations

import argparse
import datetime
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from compare_lib import cpu, peers, report, servers  # noqa: E402
from compare_lib.workloads import (FULL, PASSWORD, POP3_MESSAGES, POP3_PORT, QUICK, SETUPS, SMTP_PORT,  # noqa: E402
                                   Workload, run_mailgun)

REPO = Path(__file__).resolve().parents[2]
SMTP_USERS = 16
MAX_POP3_SESSIONS = 16


def parse_args():
    p = argparse.ArgumentParser(prog="harness/compare", description=__doc__)
    p.add_argument("--quick", action="store_true", help="a short run (under 2 minutes): fewer workloads, 2 s each")
    p.add_argument("--setups", default="a,b,c,d", help="which setups (a,b,c,d; d only when Postfix is installed)")
    p.add_argument("--duration", type=float, help="seconds per workload (default 8, --quick 2)")
    p.add_argument("--poll", default="", help="the DPDK build's --poll mode (default: the server's own)")
    p.add_argument("--build", default=str(REPO / "build"), help="build folder")
    p.add_argument("--out", help="report folder (default results/compare-<timestamp>)")
    p.add_argument("--only", help="only workloads whose name contains this (e.g. smtp-16)")
    p.add_argument("--junit", help="also write one JUnit test case per run to this file")
    return p.parse_args()


def cpu_layout() -> tuple[str, str]:
    """(server cpu, client cpu): apart when there are two cores or more."""
    cores = sorted(os.sched_getaffinity(0))
    return (str(cores[-1]), str(cores[0])) if len(cores) > 1 else (str(cores[0]), str(cores[0]))


def make_mail(root: Path, pop_users: int) -> tuple[Path, Path]:
    """A mail dir with SMTP users user0.. and POP3 users pop0.. (each with
    POP3_MESSAGES messages of 1 KiB), and the users file."""
    mail = root / "mail"
    shutil.rmtree(mail, ignore_errors=True)
    names = [f"user{i}" for i in range(SMTP_USERS)] + [f"pop{i}" for i in range(pop_users)] + ["postmaster"]
    body = ("Subject: compare\r\n\r\n" + ("x" * 70 + "\r\n") * 14).encode()
    for name in names:
        for sub in ("cur", "new", "tmp"):
            (mail / name / sub).mkdir(parents=True)
    for i in range(pop_users):
        for n in range(POP3_MESSAGES):
            (mail / f"pop{i}" / "cur" / f"1700000000.{n}.compare,S={len(body)}:2,S").write_bytes(body)
    shutil.chown(mail, "nobody", "nogroup")
    for path in mail.rglob("*"):
        shutil.chown(path, "nobody", "nogroup")
    users = root / "users"
    users.write_text("".join(f"{n}:{PASSWORD}\n" for n in names))
    os.chmod(users, 0o600)
    return mail, users


class Target:
    """A started setup: where mailgun goes and how to read the server's CPU."""

    def __init__(self, ip, smtp_port, pop3_port, server_cpu, stop, client_prefix=(), client_suffix=()):
        self.ip, self.smtp_port, self.pop3_port = ip, smtp_port, pop3_port
        self.server_cpu, self.stop = server_cpu, stop
        self.client_prefix, self.client_suffix = list(client_prefix), list(client_suffix)


def start_setup(key, args, work: Path, mail: Path | None, users: Path, cpus) -> Target:
    build = Path(args.build)
    server_cpu, client_cpu = cpus
    mailgun = str(servers.find_binary(build, "mailgun"))
    kernel_client = ["taskset", "-c", client_cpu, mailgun]
    if key == "a":
        s = servers.start_kernel(build, work, mail, users, server_cpu)
        return Target(s.ip, SMTP_PORT, POP3_PORT, s.cpu_seconds, s.stop, kernel_client)
    if key == "b":
        s = servers.start_dpdk_tap(build, work, mail, users, server_cpu, 250, args.poll)
        return Target(s.ip, SMTP_PORT, POP3_PORT, s.cpu_seconds, s.stop, kernel_client)
    if key == "c":
        s, sock = servers.start_dpdk_memif(build, work, mail, users, server_cpu, 251, args.poll)
        eal = ["--no-huge", "-m", "512", "--no-pci", "-l", client_cpu, "--file-prefix", f"bmg251-{os.getpid()}",
               "--vdev", f"net_memif0,role=client,socket={sock},socket-abstract=no"]
        # The generator polls as the server does, so --poll busy compares busy with busy.
        return Target(s.ip, SMTP_PORT, POP3_PORT, s.cpu_seconds, s.stop, [mailgun, *eal, "--"],
                      ["--transport", "dpdk", "--ip", "10.99.251.2/24", *servers.poll_options(args.poll)])
    if key == "d":
        pf = peers.Postfix(work / "postfix", mail, [f"user{i}" for i in range(SMTP_USERS)], "127.0.0.1", 2525,
                           server_cpu)
        pop_users = {p.name: PASSWORD for p in mail.iterdir() if p.name.startswith("pop")}
        dc = peers.Dovecot(work / "dovecot", mail, pop_users, "127.0.0.1", 1110, server_cpu)
        pf.start()
        dc.start()

        def stop():
            pf.stop()
            dc.stop()
        return Target("127.0.0.1", 2525, 1110, lambda: pf.cpu_seconds() + dc.cpu_seconds(), stop, kernel_client)
    raise ValueError(key)


def measure(target: Target, w: Workload, duration: float, json_path: Path) -> dict:
    port = target.smtp_port if w.protocol == "smtp" else target.pop3_port
    argv = [*target.client_prefix, *target.client_suffix, "--server", f"{target.ip}:{port}",
            *w.mailgun_args(duration, SMTP_USERS)]
    machine0, server0, t0 = cpu.machine_busy_seconds(), target.server_cpu(), time.monotonic()
    result = run_mailgun(argv, json_path, duration + 30)
    machine1, server1, t1 = cpu.machine_busy_seconds(), target.server_cpu(), time.monotonic()
    messages = report.messages_of(result)
    per = (lambda seconds: seconds / messages * 1e6) if messages else (lambda seconds: math.nan)
    return {"mailgun": result, "command": argv, "wall_s": t1 - t0, "messages": messages,
            "machine_cpu_us_per_msg": per(machine1 - machine0),
            "server_cpu_us_per_msg": per(server1 - server0)}


def run_setup(key, args, workloads, duration, root, cpus, out: Path) -> list[dict]:
    rows = []
    for store in ("sink", "maildir"):
        mine = [w for w in workloads if w.store == store]
        if not mine:
            continue
        if key == "d" and store == "sink":
            rows += [dict(setup=key, workload=w.name, store=store, skipped="Postfix has no sink mode") for w in mine]
            continue
        work = root / f"{key}-{store}"
        work.mkdir(parents=True)
        os.chmod(work, 0o755)
        os.chmod(root, 0o755)
        mail, users = make_mail(work, min(MAX_POP3_SESSIONS, max(w.sessions for w in mine)))
        print(f"== setup ({key}) {SETUPS[key].description}, {store}", flush=True)
        target = start_setup(key, args, work, mail if store == "maildir" else None, users, cpus)
        try:
            for w in mine:
                row = dict(setup=key, workload=w.name, store=store)
                try:
                    row.update(measure(target, w, duration, out / f"{key}-{store}-{w.name}.json"))
                    print("   " + report.one_line(row), flush=True)
                except Exception as e:  # a failed run is reported, the others still run
                    row["error"] = str(e)[-1500:]
                    print(f"   {w.name}: FAILED {row['error']}", flush=True)
                rows.append(row)
        finally:
            target.stop()
    return rows


def main():
    args = parse_args()
    if os.geteuid() != 0:
        sys.exit("harness/compare: needs root (TAP, memif, namespace)")
    workloads = QUICK if args.quick else FULL
    if args.only:
        workloads = [w for w in workloads if args.only in w.name]
    duration = args.duration or (2.0 if args.quick else 8.0)
    setups = [k.strip() for k in args.setups.split(",") if k.strip()]
    notes = []
    if "d" in setups and not peers.installed():
        setups.remove("d")
        notes.append("setup (d) skipped: Postfix/Dovecot not installed (apt-get install postfix dovecot-pop3d)")
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = Path(args.out or REPO / "results" / f"compare-{stamp}")
    out.mkdir(parents=True, exist_ok=True)
    cpus = cpu_layout()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bm-compare-") as tmp:
        for key in setups:
            try:
                rows += run_setup(key, args, workloads, duration, Path(tmp), cpus, out)
            except Exception as e:
                rows.append(dict(setup=key, workload="*", store="*", error=f"setup failed: {e}"[-1500:]))
                print(f"== setup ({key}) FAILED: {e}", flush=True)
    meta = dict(date=stamp, duration_s=duration, quick=args.quick, server_cpu=cpus[0], client_cpu=cpus[1],
                cores=os.cpu_count(), poll=args.poll or "server default", notes=notes,
                setups={k: SETUPS[k].description for k in setups})
    report.write(out, meta, rows)
    if args.junit:
        report.junit(Path(args.junit), rows)
    print((out / "report.md").read_text())
    failed = [r for r in rows if "error" in r or report.errors(r)]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
