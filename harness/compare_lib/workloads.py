"""What harness/compare runs: the setups (server + client transport) and the
mailgun workloads, and how mailgun is invoked for each."""
from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path

SMTP_PORT, POP3_PORT = 2500, 11000
PASSWORD = "compare"


@dataclasses.dataclass(frozen=True)
class Setup:
    key: str          # a, b, c, d
    name: str
    description: str


SETUPS = {
    "a": Setup("a", "kernel", "baremail-kernel on loopback, kernel mailgun"),
    "b": Setup("b", "dpdk-tap", "baremail on its TAP port, kernel mailgun"),
    "c": Setup("c", "dpdk-memif", "baremail on net_memif, DPDK mailgun (no kernel on either side)"),
    "d": Setup("d", "postfix", "Postfix (SMTP) + Dovecot (POP3), private instance, kernel mailgun"),
}


@dataclasses.dataclass(frozen=True)
class Workload:
    name: str
    protocol: str     # smtp | pop3
    sessions: int
    store: str        # sink | maildir
    size: int = 1024
    per_connection: int = 1

    def mailgun_args(self, duration: float, users: int) -> list[str]:
        args = ["--protocol", self.protocol, "--sessions", str(self.sessions), "--duration", str(duration),
                "--size", str(self.size), "--per-connection", str(self.per_connection), "--timeout", "10"]
        if self.protocol == "smtp":
            args += ["--rcpt", f"user{{0..{users - 1}}}@localhost"]
        else:
            args += ["--user", f"pop{{0..{self.sessions - 1}}}", "--password", PASSWORD]
        return args


FULL = [
    Workload("smtp-1", "smtp", 1, "sink"), Workload("smtp-16", "smtp", 16, "sink"),
    Workload("smtp-256", "smtp", 256, "sink"),
    Workload("smtp-1", "smtp", 1, "maildir"), Workload("smtp-16", "smtp", 16, "maildir"),
    Workload("smtp-256", "smtp", 256, "maildir"),
    Workload("pop3-16", "pop3", 16, "maildir", per_connection=10),
]
QUICK = [
    Workload("smtp-1", "smtp", 1, "sink"), Workload("smtp-16", "smtp", 16, "sink"),
    Workload("smtp-16", "smtp", 16, "maildir"), Workload("pop3-4", "pop3", 4, "maildir", per_connection=10),
]
POP3_MESSAGES = 20  # prefilled per POP3 user


def run_mailgun(argv: list[str], json_path: Path, time_limit: float) -> dict:
    """One mailgun run; its JSON report (raises with its output if it failed
    to produce one)."""
    r = subprocess.run([*argv, "--json", str(json_path), "--time-limit", str(time_limit)],
                       capture_output=True, text=True, timeout=time_limit + 60)
    try:
        report = json.loads(json_path.read_text())
    except (OSError, ValueError):
        raise RuntimeError(f"mailgun gave no report (exit {r.returncode}): {' '.join(argv)}\n"
                           f"{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    report["_exit"] = r.returncode
    report["_stdout_tail"] = r.stdout.strip().splitlines()[-1:] if r.stdout.strip() else []
    return report
