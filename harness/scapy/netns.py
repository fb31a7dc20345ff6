"""A private network namespace for the whole pytest process.

Why this shape: the DPDK TAP PMD creates its interface in the network
namespace of the process that runs `baremail`, and Scapy's raw sockets see
only the interfaces of their own namespace. So the suite creates one named
namespace (`ip netns add bms-<pid>`), moves the pytest process into it with
setns(2) (Python 3.11 has no os.setns, hence ctypes), and everything it
starts afterwards — servers, raw sockets, kernel client sockets, threads —
lives in there. Nothing the suite does touches the host's interfaces,
addresses or routes. At the end the process moves back (setns to the saved
original) and deletes the namespace; a namespace left by a run that was
killed is deleted by the next run (its name carries the dead pid).

Only the main thread is moved, which is the thread that forks the servers
and starts the receiver threads (new threads inherit the namespace of the
thread that creates them).
"""

from __future__ import annotations

import ctypes
import os
import re
import subprocess
from pathlib import Path

CLONE_NEWNET = 0x40000000
PREFIX = "bms-"

_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def remove_stale():
    """Delete bms-<pid> namespaces whose creating process is gone."""
    run_dir = Path("/run/netns")
    if not run_dir.is_dir():
        return
    for entry in run_dir.iterdir():
        m = re.fullmatch(re.escape(PREFIX) + r"(\d+)", entry.name)
        if m and not _pid_alive(int(m.group(1))):
            subprocess.run(["ip", "netns", "del", entry.name], check=False,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class Namespace:
    def __init__(self):
        self.name = f"{PREFIX}{os.getpid()}"
        self._orig_fd: int | None = None
        self.entered = False

    def __enter__(self):
        if os.geteuid() != 0:
            raise RuntimeError("the Scapy suite needs root (network namespaces, raw sockets)")
        remove_stale()
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        try:
            self._orig_fd = os.open("/proc/self/ns/net", os.O_RDONLY)
            fd = os.open(f"/run/netns/{self.name}", os.O_RDONLY)
            try:
                _setns(fd)
            finally:
                os.close(fd)
            self.entered = True
            subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
            # No IPv6 on the TAPs: no router solicitations or MLD reports in
            # the captures (/proc/sys/net follows the reader's namespace).
            for knob in ("all", "default"):
                p = Path(f"/proc/sys/net/ipv6/conf/{knob}/disable_ipv6")
                if p.exists():
                    p.write_text("1\n")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc):
        if self._orig_fd is not None:
            if self.entered:
                _setns(self._orig_fd)
                self.entered = False
            os.close(self._orig_fd)
            self._orig_fd = None
        subprocess.run(["ip", "netns", "del", self.name], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return False
