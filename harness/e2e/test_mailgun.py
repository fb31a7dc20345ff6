"""mailgun, the load generator and capture replayer, against both builds:
what it reports must be what the server did (messages stored, replies
seen), its figures must be sane, and every run must end within its bound
whatever the server does."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

import helpers
from conftest import BUILD_DIR, BUILDS, SELECTED, free_port
from test_memif import eal_cpus

SUMMARY = re.compile(r"^summary (.*)$")
LOAD_USERS = {f"load{i}": f"pw{i}" for i in range(4)}


def mailgun_binary() -> Path:
    # The issue names build/mailgun; meson may keep it in its subdir.
    for p in (BUILD_DIR / "mailgun", BUILD_DIR / "harness" / "mailgun" / "mailgun"):
        if p.is_file():
            return p
    pytest.fail(f"mailgun is not built under {BUILD_DIR}")


class Run:
    def __init__(self, proc: subprocess.CompletedProcess, elapsed: float, json_path: Path | None):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.elapsed = elapsed
        self.report = json.loads(json_path.read_text()) if json_path and json_path.exists() else None
        lines = self.stdout.strip().splitlines()
        m = SUMMARY.match(lines[-1]) if lines else None
        self.summary = dict(kv.split("=", 1) for kv in m.group(1).split()) if m else None

    def __repr__(self):
        return f"rc={self.rc}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}"


def mailgun(tmp_path, *args, timeout=60) -> Run:
    json_path = tmp_path / f"mailgun-{time.monotonic_ns()}.json"
    cmd = [str(mailgun_binary()), *args, "--json", str(json_path)]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return Run(proc, time.monotonic() - t0, json_path)


def stored(s, users=LOAD_USERS) -> int:
    return sum(len(s.messages(u)) for u in users)


def assert_sane_latency(run: Run, count: int, bound_ns: float):
    lat = run.report["latency_ns"]
    assert lat["count"] == count, run
    assert 0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p999"] <= lat["max"] < bound_ns, lat
    cdf = run.report["latency_cdf"]
    assert cdf and cdf[-1][1] == pytest.approx(1.0), cdf[-3:]
    # The summary line carries the same figures (µs, rounded).
    assert float(run.summary["p50_us"]) == pytest.approx(lat["p50"] / 1000, abs=0.1), run.summary
    assert float(run.summary["max_us"]) == pytest.approx(lat["max"] / 1000, abs=0.1), run.summary


# ------------------------------------------------------------- SMTP load


@pytest.mark.parametrize("pipelining", [False, True], ids=["lockstep", "pipelining"])
def test_smtp_load_stores_exactly_the_messages_it_reports(server, tmp_path, pipelining):
    s = server(users=LOAD_USERS)
    n = 200
    run = mailgun(tmp_path, "--server", f"{s.host}:{s.smtp_port}", "--rcpt", "load{0..3}@localhost",
                  "--sessions", "4", "--messages", str(n), "--per-connection", "5", "--size", "1024",
                  *(["--pipelining"] if pipelining else []))
    assert run.rc == 0, run
    r = run.report
    assert (r["messages_ok"], r["messages_failed"], r["error_total"]) == (n, 0, 0), run
    assert (r["sessions_ok"], r["sessions_failed"]) == (n // 5, 0), run
    # Each 250 to a final dot is a fsync'd file (SPEC): all there at once.
    assert stored(s) == n
    per_user = [len(s.messages(u)) for u in LOAD_USERS]
    assert per_user == [n // 4] * 4, per_user  # the pattern spreads recipients evenly
    assert all(len(m) >= 1024 for u in LOAD_USERS for m in s.messages(u)[:3])
    assert_sane_latency(run, n, 10e9)
    assert r["messages_per_s"] > 0 and r["sessions_per_s"] > 0
    assert run.summary["messages_ok"] == str(n) and run.summary["errors"] == "0", run.summary


def test_duration_run_ends_on_time_and_counts_what_it_stored(server, tmp_path):
    s = server(users=LOAD_USERS)
    run = mailgun(tmp_path, "--server", f"{s.host}:{s.smtp_port}", "--rcpt", "load{0..3}@localhost",
                  "--sessions", "2", "--duration", "1.5", "--per-connection", "3")
    assert run.rc == 0, run
    assert 1.4 < run.elapsed < 10, run.elapsed
    assert 1.4 < run.report["elapsed_s"] < 10
    assert run.report["messages_ok"] > 0
    assert stored(s) == run.report["messages_ok"]


# ------------------------------------------------------------- POP3 load


def test_pop3_retr_load_reads_without_deleting(server, tmp_path):
    s = server(users=LOAD_USERS)
    fill = mailgun(tmp_path, "--server", f"{s.host}:{s.smtp_port}", "--rcpt", "load{0..3}@localhost",
                   "--sessions", "2", "--messages", "12", "--size", "2048")
    assert fill.rc == 0, fill
    run = mailgun(tmp_path, "--protocol", "pop3", "--server", f"{s.host}:{s.pop3_port}",
                  "--user", "load{0..3}", "--password", "pw{0..3}", "--sessions", "4",
                  "--messages", "100", "--per-connection", "5")
    assert run.rc == 0, run
    r = run.report
    assert (r["messages_ok"], r["messages_failed"], r["error_total"]) == (100, 0, 0), run
    assert r["sessions_ok"] == 20
    assert r["latency_ns"]["what"].startswith("RETR")
    assert_sane_latency(run, 100, 10e9)
    assert stored(s) == 12  # RETR only: nothing deleted


def test_pop3_bad_password_is_counted_by_reply(server, tmp_path):
    s = server(users=LOAD_USERS)
    run = mailgun(tmp_path, "--protocol", "pop3", "--server", f"{s.host}:{s.pop3_port}",
                  "--user", "load0", "--password", "wrong", "--messages", "3")
    assert run.rc == 1, run
    r = run.report
    assert r["messages_ok"] == 0 and r["messages_failed"] == 3, run
    assert r["errors"]["rejected"] == 3
    assert sum(n for code, n in r["reply_codes"].items() if code.startswith("-ERR")) == 3, r["reply_codes"]


# ----------------------------------------------------------------- errors


def test_unknown_recipient_is_counted_by_code_and_nothing_is_stored(server, tmp_path):
    s = server(users=LOAD_USERS)
    run = mailgun(tmp_path, "--server", f"{s.host}:{s.smtp_port}", "--rcpt", "nobody@localhost",
                  "--sessions", "2", "--messages", "10", "--per-connection", "5")
    assert run.rc == 1, run
    r = run.report
    assert (r["messages_ok"], r["messages_failed"]) == (0, 10), run
    assert r["reply_codes"] == {"550": 10}, r["reply_codes"]
    assert r["errors"]["rejected"] == 10
    assert r["sessions_ok"] == 2  # RSET after each refusal, then QUIT: the sessions go on
    assert r["latency_ns"]["count"] == 0
    assert stored(s) == 0


def test_absent_server_is_counted_as_refused_and_ends_at_once(server, tmp_path):
    s = server(users=LOAD_USERS)
    closed_port = free_port()  # nothing listens there (the DPDK stack answers RST)
    run = mailgun(tmp_path, "--server", f"{s.host}:{closed_port}", "--rcpt", "load0@localhost",
                  "--messages", "5", "--timeout", "3")
    assert run.rc == 1, run
    r = run.report
    assert r["errors"]["connect_refused"] == 5, r["errors"]
    assert (r["messages_ok"], r["messages_failed"], r["sessions_failed"]) == (0, 5, 5)
    assert run.elapsed < 5, run.elapsed


class SilentServer:
    """Accepts connections and never answers (bounded: closes after `life` s)."""

    def __init__(self, life=30.0):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.held = []
        self.stop = threading.Event()
        self.deadline = time.monotonic() + life
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop.is_set() and time.monotonic() < self.deadline:
            try:
                conn, _ = self.sock.accept()
                self.held.append(conn)
            except OSError:
                pass

    def close(self):
        self.stop.set()
        self.thread.join(5)
        for c in self.held:
            c.close()
        self.sock.close()


def test_silent_server_is_a_timeout_never_a_hang(tmp_path):
    silent = SilentServer()
    try:
        run = mailgun(tmp_path, "--server", f"127.0.0.1:{silent.port}", "--rcpt", "a@localhost",
                      "--sessions", "3", "--messages", "3", "--timeout", "1")
        assert run.rc == 1, run
        assert run.report["errors"]["timeout"] == 3, run.report["errors"]
        assert run.report["messages_failed"] == 3
        assert run.elapsed < 5, run.elapsed
        # The time limit bounds the run even when each reply would be in time.
        run = mailgun(tmp_path, "--server", f"127.0.0.1:{silent.port}", "--rcpt", "a@localhost",
                      "--sessions", "2", "--messages", "1000", "--timeout", "30", "--time-limit", "1")
        assert run.rc == 1, run
        assert run.report["errors"]["unfinished"] == 2, run.report["errors"]
        assert run.report["messages_failed"] == 1000
        assert run.elapsed < 4, run.elapsed
    finally:
        silent.close()


def test_bad_options_exit_2_with_one_line(tmp_path):
    for args in (["--server", "nowhere"], ["--server", "127.0.0.1"], ["--server", "127.0.0.1", "--rcpt", "a@b",
                                                                      "--messages", "1", "--duration", "1"]):
        proc = subprocess.run([str(mailgun_binary()), *args], capture_output=True, text=True, timeout=10)
        assert proc.returncode == 2, (args, proc.stderr)
        assert proc.stderr.startswith("mailgun: ") and proc.stderr.count("\n") == 1, proc.stderr
    proc = subprocess.run([str(mailgun_binary()), "--help"], capture_output=True, text=True, timeout=10)
    assert proc.returncode == 0 and "--replay" in proc.stdout


# ----------------------------------------------------------------- replay


class Tshark:
    """tshark writing a classic pcap of one TCP port set on one interface."""

    def __init__(self, interface, ports, path):
        expr = " or ".join(f"tcp port {p}" for p in ports)
        self.path = path
        self.err_path = Path(str(path) + ".stderr")
        err = open(self.err_path, "wb")
        self.proc = subprocess.Popen(["tshark", "-i", interface, "-F", "pcap", "-w", str(path), "-f", expr],
                                     stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
        err.close()
        helpers.wait_until(lambda: b"Capturing on" in self.err_path.read_bytes() or self.proc.poll() is not None,
                           timeout=20, what="tshark to start")
        assert self.proc.poll() is None, self.err_path.read_text()

    def stop(self):
        if self.proc.poll() is None:
            time.sleep(0.3)  # the last segments reach the capture
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


def capture_interface(s) -> str:
    return s.net.tap if s.net.tap else "lo"


def swaks(s, to, *args):
    r = subprocess.run(["swaks", "--server", s.host, "--port", str(s.smtp_port), "--to", to,
                        "--from", "sender@client.test", "--helo", "swaks.client.test", *args],
                       capture_output=True, text=True, timeout=30)
    return r


def record_sessions(s, pcap):
    """Three SMTP sessions (plain, refused recipient, pipelined) and one
    POP3 session, captured."""
    tshark = Tshark(capture_interface(s), [s.smtp_port, s.pop3_port], pcap)
    try:
        assert swaks(s, "load1@localhost", "--body", "replayed text\n.leading dot\n").returncode == 0
        assert swaks(s, "nobody@localhost").returncode != 0
        assert swaks(s, "load2@localhost", "--pipeline").returncode == 0
        with s.pop3() as p:
            assert p.cmd("USER load1").startswith("+OK")
            assert p.cmd("PASS pw1").startswith("+OK")
            assert p.cmd("RETR 1").startswith("+OK")
            p.read_multiline_raw()
            assert p.cmd("QUIT").startswith("+OK")
    finally:
        tshark.stop()
    assert pcap.stat().st_size > 0


def test_replay_of_a_capture_gets_the_same_replies_and_stores_again(server, tmp_path):
    s = server(users=LOAD_USERS)
    pcap = tmp_path / "sessions.pcap"
    record_sessions(s, pcap)
    before = {u: len(s.messages(u)) for u in LOAD_USERS}
    assert (before["load1"], before["load2"]) == (1, 1), before
    run = mailgun(tmp_path, "--replay", str(pcap), "--server", s.host, "--speed", "4", timeout=60)
    assert run.rc == 0, run
    r = run.report
    assert r["mode"] == "replay"
    assert r["mismatch_count"] == 0, r["mismatches"]
    assert r["error_total"] == 0, run
    assert r["sessions_ok"] == 4 and r["sessions_failed"] == 0, run
    # greeting..QUIT: 7 + 5 + 7 replies for the SMTP sessions, 5 for POP3.
    assert r["replies_compared"] == 24, run
    assert_sane_latency(run, r["messages_ok"], 10e9)
    assert r["messages_ok"] >= 15
    # The replayed DATA stored the captured text again.
    after = {u: len(s.messages(u)) for u in LOAD_USERS}
    assert (after["load1"], after["load2"]) == (2, 2), after
    texts = [helpers.strip_received(m)[0] for m in s.messages("load1")]
    assert texts[0] == texts[1] and b"\r\n..leading dot" not in texts[0] and b".leading dot" in texts[0]


def test_replay_reports_every_reply_of_another_class(server, tmp_path):
    s = server(users=LOAD_USERS)
    pcap = tmp_path / "sessions.pcap"
    record_sessions(s, pcap)
    # The same capture against a server where load1 and load2 do not exist.
    other = server(users={"someone": "x"})
    run = mailgun(tmp_path, "--replay", str(pcap), "--server", other.host, "--as-fast-as-possible",
                  "--port-map", f"{s.smtp_port}={other.smtp_port}", "--port-map", f"{s.pop3_port}={other.pop3_port}",
                  timeout=60)
    assert run.rc == 1, run
    r = run.report
    assert r["mismatch_count"] == len(r["mismatches"]) > 0
    rcpt = [m for m in r["mismatches"] if m["command"].startswith("RCPT TO:<load1")]
    assert rcpt and rcpt[0]["expected"] == "2xx" and rcpt[0]["got"].startswith("5"), r["mismatches"]
    assert any(m["command"].startswith("PASS") and m["got"].startswith("-ERR") for m in r["mismatches"])
    assert "mismatch  session=" in run.stdout
    assert stored(other, ["someone"]) == 0


# ------------------------------------------------------- --transport dpdk


MEMIF_SERVER_IP, MEMIF_CLIENT_IP = "10.99.252.2", "10.99.252.3"


class MemifServer:
    """baremail as net_memif server, for mailgun's own stack as memif client:
    nothing between the two is the kernel's."""

    def __init__(self, root: Path, cpu: int):
        self.root = root
        self.mail_dir = root / "mail"
        self.socket = root / "memif.sock"
        self.prefix = f"mgs-{os.getpid()}"
        self.out = root / "server.txt"
        for user in [*LOAD_USERS, "postmaster"]:  # no postmaster, no start (RFC 5321 §4.5.1)
            for sub in ("cur", "new", "tmp"):
                (self.mail_dir / user / sub).mkdir(parents=True, exist_ok=True)
        users = root / "users"
        users.write_text("".join(f"{u}:{p}\n" for u, p in LOAD_USERS.items()))
        with open(self.out, "wb") as f:
            self.proc = subprocess.Popen([
                str(BUILDS["dpdk"].binary), "--no-huge", "-m", "512", "--no-pci", "-l", str(cpu),
                "--file-prefix", self.prefix,
                "--vdev", f"net_memif0,role=server,socket={self.socket},socket-abstract=no", "--",
                "--ip", f"{MEMIF_SERVER_IP}/24", "-d", str(self.mail_dir), "--users", str(users),
                "--smtp-port", "2500", "--pop3-port", "11000", "--echo-port", "0",
                "--relay-from", "10.99.0.0/16", "--dns", "127.0.0.1",
            ], stdin=subprocess.DEVNULL, stdout=f, stderr=f, cwd=root, start_new_session=True)

        def started():
            assert self.proc.poll() is None, f"baremail exited: {self.text()}"
            return self.socket.exists() and "server - start" in self.text()

        helpers.wait_until(started, timeout=15, what="baremail on net_memif")

    def text(self):
        return self.out.read_text(errors="replace")

    def messages(self, user):
        return helpers.maildir_messages(self.mail_dir, user)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        shutil.rmtree(f"/var/run/dpdk/{self.prefix}", ignore_errors=True)


def mailgun_on_memif(tmp_path, server: MemifServer, cpu: int, *args, timeout=60) -> Run:
    prefix = f"mgc-{os.getpid()}-{time.monotonic_ns()}"
    try:
        return mailgun(tmp_path, "--no-huge", "-m", "256", "--no-pci", "-l", str(cpu), "--file-prefix", prefix,
                       "--vdev", f"net_memif0,role=client,socket={server.socket},socket-abstract=no", "--",
                       "--transport", "dpdk", "--ip", f"{MEMIF_CLIENT_IP}/24", *args, timeout=timeout)
    finally:
        shutil.rmtree(f"/var/run/dpdk/{prefix}", ignore_errors=True)


@pytest.mark.skipif("dpdk" not in SELECTED, reason="--transport dpdk: set BAREMAIL_BUILDS to include dpdk")
def test_dpdk_transport_over_memif(tmp_path):
    server_cpu, client_cpu = eal_cpus()
    server = MemifServer(tmp_path, server_cpu)
    try:
        smtp = mailgun_on_memif(tmp_path, server, client_cpu, "--server", f"{MEMIF_SERVER_IP}:2500",
                                "--rcpt", "load{0..3}@localhost", "--sessions", "4", "--messages", "100",
                                "--per-connection", "5", "--timeout", "5")
        assert smtp.rc == 0, f"{smtp}\nbaremail: {server.text()}"
        r = smtp.report
        assert r["transport"] == "dpdk"
        assert (r["messages_ok"], r["messages_failed"], r["error_total"]) == (100, 0, 0), smtp
        assert sum(len(server.messages(u)) for u in LOAD_USERS) == 100
        assert_sane_latency(smtp, 100, 5e9)
        pop3 = mailgun_on_memif(tmp_path, server, client_cpu, "--protocol", "pop3",
                                "--server", f"{MEMIF_SERVER_IP}:11000", "--user", "load{0..3}",
                                "--password", "pw{0..3}", "--sessions", "4", "--messages", "40",
                                "--per-connection", "5", "--timeout", "5")
        assert pop3.rc == 0, pop3
        assert (pop3.report["messages_ok"], pop3.report["error_total"]) == (40, 0), pop3
        assert_sane_latency(pop3, 40, 5e9)
        # A port nobody listens on: the server's stack answers RST.
        refused = mailgun_on_memif(tmp_path, server, client_cpu, "--server", f"{MEMIF_SERVER_IP}:2599",
                                   "--rcpt", "load0@localhost", "--messages", "3", "--timeout", "2")
        assert refused.rc == 1, refused
        assert refused.report["errors"]["connect_refused"] == 3, refused.report["errors"]
        # An address nobody answers (not even ARP): a timeout within the bound.
        silent = mailgun_on_memif(tmp_path, server, client_cpu, "--server", "10.99.252.9:2500",
                                  "--rcpt", "load0@localhost", "--messages", "2", "--sessions", "2",
                                  "--timeout", "1")
        assert silent.rc == 1, silent
        assert silent.report["errors"]["timeout"] == 2, silent.report["errors"]
        assert silent.elapsed < 15, silent.elapsed
    finally:
        server.stop()
