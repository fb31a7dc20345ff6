"""CPU accounting for harness/compare: the whole machine (/proc/stat) and one
server's process tree (/proc/<pid>/stat), both as seconds of CPU.

A server's tree is its main process (its own time plus the time of children
it has already reaped) and every live descendant, so the difference between
two samples counts the work of Postfix's short-lived smtpd/cleanup/virtual
processes as well as of baremail's threads."""
from __future__ import annotations

import os
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU-seconds all cores spent not idle since boot."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    values = [int(v) for v in fields[:8]]  # user nice system idle iowait irq softirq steal
    idle = values[3] + values[4]
    return (sum(values) - idle) / TICK


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()  # fields from 3 (state) on


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields:
                kids.setdefault(int(fields[1]), []).append(int(entry))
    return kids


def tree_seconds(root: int) -> float:
    """CPU-seconds of `root` (with its reaped children) and its live descendants."""
    fields = _stat(root)
    if fields is None:
        return 0.0
    # utime stime cutime cstime are fields 14..17, i.e. [11..14] here.
    total = sum(int(v) for v in fields[11:15])
    kids = _children()
    stack = list(kids.get(root, []))
    while stack:
        pid = stack.pop()
        f = _stat(pid)
        if f:
            total += int(f[11]) + int(f[12])
        stack += kids.get(pid, [])
    return total / TICK
