"""One check for every test fixture that starts a server (e2e, Scapy, relay
sinks): at teardown the server must still be running unless the test ended
it, a stop the test asked for must have ended with exit code 0, and its
stderr must hold no crash report. A failure names the server and shows the
end of its stderr, so a crash after the last checked reply — at session
close, in the relay agent, at shutdown — fails the test that caused it."""
from __future__ import annotations

import signal

# What a crash leaves on stderr: sanitizers, libstdc++, assert(3), glibc.
CRASH_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:", "terminate called",
               "Assertion `", "*** stack smashing", "double free", "free(): invalid", "malloc(): ",
               "Segmentation fault", "Aborted")

# Signals after which the process is expected to live on.
HARMLESS = {signal.SIGUSR1, signal.SIGCONT, 0}


class Health:
    """Kept by a server object: what the test did to the process."""

    def __init__(self):
        self.started = False         # only a started server can have died
        self.ended_by_test = False   # the test stopped, killed or signalled it
        self.bad_stops: list[str] = []

    def on_signal(self, sig):
        if sig not in HARMLESS:
            self.ended_by_test = True

    def on_stop(self, sig, returncode):
        """A stop the test asked for: SIGTERM/SIGINT must end it with 0."""
        self.ended_by_test = True
        if sig in (signal.SIGTERM, signal.SIGINT) and returncode not in (0, None):
            self.bad_stops.append(f"{describe_exit(returncode)} after signal {signal.Signals(sig).name}")

    def on_start(self):
        self.started = True
        self.ended_by_test = False


def describe_exit(returncode) -> str:
    if returncode is not None and returncode < 0:
        return f"killed by {signal.Signals(-returncode).name}"
    return f"exit code {returncode}"


def problems(name: str, health: Health, alive: bool, returncode, stderr: str,
             shutdown_returncode=None) -> list[str]:
    """`alive`/`returncode`: as found when the test ended; `shutdown_returncode`:
    the exit code of the SIGTERM the fixture sent then, if it exited in time;
    `stderr`: its stderr and any sanitizer report it left (whose first line
    is one of the marks, exit code or not)."""
    found = list(health.bad_stops)
    if health.started and not alive and not health.ended_by_test:
        found.append(f"died during the test ({describe_exit(returncode)})")
    if shutdown_returncode not in (None, 0):
        found.append(f"SIGTERM at teardown ended it with {describe_exit(shutdown_returncode)}, not exit code 0")
    marks = [m for m in CRASH_MARKS if m in stderr]
    if marks:
        found.append("crash report (" + ", ".join(marks) + ")")
    return [f"{name}: {p}" for p in found]


def report(failures: list[tuple]) -> str:
    """The message for pytest.fail: each problem, the server's last stderr
    lines and, if any, its sanitizer reports (which the runtimes write to
    files of their own: harness/testing/sanitizers.py). A failure is
    (problems, stderr) or (problems, stderr, sanitizer reports)."""
    parts = []
    for found, stderr, *reports in failures:
        tail = "\n".join(stderr.splitlines()[-40:])
        part = "\n".join(found) + f"\n--- last lines of its stderr ---\n{tail}"
        if reports and reports[0]:
            part += f"\n--- its sanitizer report ---\n{reports[0]}"
        parts.append(part)
    return "server health check failed at teardown:\n" + "\n\n".join(parts)
