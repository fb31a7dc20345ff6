"""Runs a bench script again inside a network namespace of its own, so its
servers, addresses and traffic stay out of the host's: the script calls
rerun(__file__, argv, marker, prefix) when the marker is not yet in its
environment, and does its work when it is."""
from __future__ import annotations

import os
import subprocess
import sys
import time


def inside(marker: str) -> bool:
    return bool(os.environ.get(marker))


def rerun(script: str, argv: list[str], marker: str, prefix: str) -> int:
    """Runs `script argv` in a fresh namespace (loopback up, `marker` set in
    its environment); removes the namespace, and whatever still runs in it,
    afterwards. Returns the script's exit code."""
    ns = f"{prefix}-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"], check=True)
        env = dict(os.environ, **{marker: "1"})
        return subprocess.run(["ip", "netns", "exec", ns, sys.executable, script, *argv], env=env).returncode
    finally:
        for sig in ("TERM", "KILL"):
            pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split()
            if not pids:
                break
            subprocess.run(["kill", f"-{sig}", *pids], capture_output=True)
            time.sleep(1)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
