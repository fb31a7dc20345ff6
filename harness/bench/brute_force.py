#!/usr/bin/env python3
"""Reconnecting POP3 password guesses from one address against
baremail-kernel, and SMTP deliveries from another address meanwhile (issue
11: "200 reconnecting password guesses from one address take at least
100 s and do not slow SMTP deliveries from another address"). As root:

    harness/bench/brute_force.py [--guesses 200] [--parallel 50] [--time-limit 900]
                                 [--smtp-interval 0.5] [--build DIR]

The guesser (127.0.0.2) runs --parallel connections at once (50: the
default --max-conn-per-ip, an attacker's best), each one guess: connect,
USER, PASS, answer, close, reconnect. The other client (127.0.0.3) delivers
a 1 KiB message every --smtp-interval seconds, timed from connect to the
250 after DATA, first alone (baseline), then during the guessing. It prints
how long the guesses took (or how many were answered within --time-limit,
which bounds the run) and the SMTP latencies side by side.

Everything runs in a network namespace made here and deleted afterwards;
the users file holds a SHA-512 crypt(3) hash, so every guess costs the
password check it would in production.
"""
from __future__ import annotations

import argparse
import crypt  # noqa: the crypt(3) hash of the users file (as the e2e conftest)
import os
import socket
import subprocess
import sys
import tempfile
import multiprocessing
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))

import own_netns  # noqa: E402

INSIDE = "BM_BRUTE_FORCE_NS"
SERVER, GUESSER, SENDER = "127.0.0.1", "127.0.0.2", "127.0.0.3"
SMTP_PORT, POP3_PORT = 2500, 11000
IO_TIMEOUT = 120.0  # a held answer waits at most 60 s (apps/login_penalty.hpp)


class Lines:
    """A bounded line client bound to a source address."""

    def __init__(self, source: str, port: int):
        self.sock = socket.create_connection((SERVER, port), timeout=IO_TIMEOUT, source_address=(source, 0))
        self.buf = b""

    def line(self) -> str:
        while b"\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise EOFError("closed by the server")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line.decode("latin-1").rstrip("\r")

    def cmd(self, text: str) -> str:
        self.sock.sendall(text.encode() + b"\r\n")
        return self.line()

    def close(self):
        self.sock.close()


def guess(n: int) -> tuple[float, str] | None:
    """One reconnecting guess: seconds from PASS to its answer, and the
    answer; None when the connection was refused (over the per-address
    limit: the previous connection's close not yet seen by the server)."""
    c = Lines(GUESSER, POP3_PORT)
    try:
        greeting = c.line()
        if not greeting.startswith("+OK"):
            return None
        c.cmd("USER alice")
        t0 = time.monotonic()
        answer = c.cmd(f"PASS guess-{n}")
        return time.monotonic() - t0, answer
    finally:
        c.close()


def deliver(n: int) -> float:
    """Seconds from connect to the 250 after DATA of a 1 KiB message."""
    t0 = time.monotonic()
    c = Lines(SENDER, SMTP_PORT)
    try:
        assert c.line().startswith("220")
        for command in ("EHLO sender.test", "MAIL FROM:<sender@example.org>", "RCPT TO:<bob@localhost>", "DATA"):
            reply = c.cmd(command)
            while reply[3:4] == "-":  # a multi-line reply (EHLO)
                reply = c.line()
            assert reply[:1] in "23", f"{command}: {reply}"
        body = f"Subject: probe {n}\r\n\r\n" + ("x" * 70 + "\r\n") * 14
        reply = c.cmd(body + ".")
        assert reply.startswith("250"), reply
        took = time.monotonic() - t0
        c.cmd("QUIT")
        return took
    finally:
        c.close()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def start_server(build: Path, root: Path) -> subprocess.Popen:
    mail = root / "mail"
    for user in ("alice", "bob", "postmaster"):
        for sub in ("cur", "new", "tmp"):
            (mail / user / sub).mkdir(parents=True)
    users = root / "users"
    users.write_text(f"alice:{crypt.crypt('the-real-one', crypt.mksalt(crypt.METHOD_SHA512))}\nbob:bob-pw\n")
    argv = [str(build / "baremail-kernel"), "-d", str(mail), "--users", str(users), "--ip", SERVER,
            "--smtp-port", str(SMTP_PORT), "--pop3-port", str(POP3_PORT), "--echo-port", "0",
            "--relay-from", "192.0.2.0/24", "--log", str(root / "log")]
    server = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=open(root / "stderr", "w"))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection((SERVER, SMTP_PORT), timeout=1).close()
            return server
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit(f"baremail-kernel did not start: {(root / 'stderr').read_text()}")


def probe(interval: float, stop, results) -> None:
    """Delivers from SENDER every `interval` seconds until `stop` is set;
    puts (times, errors) in `results`. A process of its own, so the
    guessers' threads never hold it up (the GIL)."""
    times, errors, n = [], [], 0
    while not stop.is_set():
        try:
            times.append(deliver(n))
        except Exception as e:  # noqa: BLE001 — counted and shown, the run goes on
            errors.append(repr(e))
        n += 1
        stop.wait(interval)
    results.put((times, errors))


class Prober:
    """SMTP deliveries from SENDER in another process, while something else runs."""

    def __init__(self, interval: float):
        ctx = multiprocessing.get_context("fork")
        self.stop, self.results = ctx.Event(), ctx.Queue()
        self.process = ctx.Process(target=probe, args=(interval, self.stop, self.results), daemon=True)
        self.times, self.errors = [], []

    def __enter__(self):
        self.process.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.times, self.errors = self.results.get(timeout=IO_TIMEOUT)
        self.process.join(timeout=IO_TIMEOUT)


def attack(guesses: int, parallel: int, time_limit: float):
    """Runs the guesses; returns (answered waits, answers, seconds)."""
    lock = threading.Lock()
    next_guess = [0]
    waits, answers, refused = [], [], [0]
    t0 = time.monotonic()

    def worker():
        while time.monotonic() - t0 < time_limit:
            with lock:
                if next_guess[0] >= guesses:
                    return
                n = next_guess[0]
                next_guess[0] += 1
            try:
                result = guess(n)
                while result is None and time.monotonic() - t0 < time_limit + IO_TIMEOUT:
                    with lock:
                        refused[0] += 1
                    time.sleep(0.05)
                    result = guess(n)
                wait, answer = result or (0.0, "refused")
            except (OSError, EOFError) as e:
                wait, answer = 0.0, f"error {e!r}"
            with lock:
                waits.append(wait)
                answers.append(answer)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(parallel)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=max(0.0, time_limit + IO_TIMEOUT - (time.monotonic() - t0)))
    return waits, answers, refused[0], time.monotonic() - t0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--guesses", type=int, default=200)
    p.add_argument("--parallel", type=int, default=50, help="connections guessing at once (default 50)")
    p.add_argument("--time-limit", type=float, default=900.0, help="stop guessing after this many seconds")
    p.add_argument("--smtp-interval", type=float, default=0.5)
    p.add_argument("--baseline-seconds", type=float, default=15.0, help="SMTP timed alone first (default 15)")
    p.add_argument("--build", default=str(REPO / "build"))
    args = p.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root (it makes a network namespace)")
    if not own_netns.inside(INSIDE):
        return own_netns.rerun(__file__, sys.argv[1:], INSIDE, "bm-brute")
    for ip in (GUESSER, SENDER):  # loopback holds 127/8 already; named for clarity
        subprocess.run(["ip", "addr", "add", f"{ip}/8", "dev", "lo"], capture_output=True)

    with tempfile.TemporaryDirectory(prefix="bm-brute-") as tmp:
        server = start_server(Path(args.build), Path(tmp))
        try:
            with Prober(args.smtp_interval) as baseline:
                time.sleep(args.baseline_seconds)
            with Prober(args.smtp_interval) as prober:
                waits, answers, refused, took = attack(args.guesses, args.parallel, args.time_limit)
            delayed = (Path(tmp) / "log").read_text(errors="replace").count(" auth-delayed ")
        finally:
            server.terminate()
            rc = server.wait(timeout=30)
            if rc != 0:  # a crash explains any failure above
                print(f"baremail-kernel exited {rc}: {(Path(tmp) / 'stderr').read_text(errors='replace')[-2000:]}")

    other = sum(1 for a in answers if not a.startswith("-ERR [AUTH]"))
    print(f"guesses: {len(answers)} of {args.guesses} answered in {took:.1f} s "
          f"({args.parallel} connections at once from {GUESSER}; time limit {args.time_limit:.0f} s)")
    print(f"  rate {len(answers) / took:.2f} guesses/s; wait per guess p50 {percentile(waits, 50):.1f} s, "
          f"max {max(waits):.1f} s; auth-delayed log lines {delayed}; answers other than -ERR [AUTH] {other}; "
          f"connections refused over the per-address limit (retried) {refused}")
    if len(answers) < args.guesses:
        print(f"  (stopped by the time limit: the {args.guesses} guesses take longer than {took:.0f} s)")
    during = prober.times
    for name, times in (("SMTP from " + SENDER + " before", baseline.times),
                        ("SMTP from " + SENDER + " during", during)):
        if times:
            print(f"{name}: {len(times)} deliveries, p50 {percentile(times, 50) * 1000:.1f} ms, "
                  f"p99 {percentile(times, 99) * 1000:.1f} ms, max {max(times) * 1000:.1f} ms")
    if prober.errors:
        print(f"SMTP errors during the attack: {len(prober.errors)}: {prober.errors[:3]}")
    return 0 if not prober.errors else 1


if __name__ == "__main__":
    sys.exit(main())
