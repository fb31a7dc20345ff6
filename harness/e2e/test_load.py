"""The heavy end-to-end cases: concurrency, byte-exact round trips, crashes
in the middle of a load, cut clients and connection churn."""

import collections
import random
import re
import signal
import smtplib
import socket
import threading
import time

import pytest

import helpers
from conftest import DEFAULT_USERS, record_result
from helpers import CRLF

MARKER = re.compile(rb"^X-E2E-Marker: (\S+)\r?$", re.M)


def markers_in(mail_dir, users):
    """Counter of markers over every delivered file (new/ and cur/, never tmp/)."""
    count = collections.Counter()
    for u in users:
        for m in helpers.maildir_messages(mail_dir, u):
            found = MARKER.findall(m)
            assert len(found) == 1, f"file without exactly one marker: {m[:300]!r}"
            count[found[0].decode()] += 1
    return count


def run_threads(threads, timeout):
    deadline = time.monotonic() + timeout
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    alive = [t for t in threads if t.is_alive()]
    assert not alive, f"{len(alive)} client threads still running after {timeout} s"


# ------------------------------------------------------------ concurrency


def test_200_concurrent_sessions_deliver_2000_messages_exactly_once(server):
    sessions, per_session = 200, 10
    users = {f"load{i}": f"pw{i}" for i in range(4)}
    s = server(users=users)
    barrier = threading.Barrier(sessions + 1, timeout=60)
    errors = []
    sent = {}
    lock = threading.Lock()

    def client(i):
        try:
            barrier.wait()
            user = f"load{i % 4}"
            with smtplib.SMTP(s.host, s.smtp_port, timeout=120) as c:
                c.ehlo(f"client{i}.test")
                for k in range(per_session):
                    marker = f"c{i:03d}-{k:02d}"
                    msg = helpers.make_message(marker, body_lines=[f"line {j} of {marker}" for j in range(20)])
                    refused = c.sendmail("sender@client.test", [f"{user}@localhost"], msg)
                    assert refused == {}
                    with lock:
                        sent[marker] = (user, msg)
        except Exception as e:  # noqa: BLE001 - reported below
            with lock:
                errors.append(f"client {i}: {e!r}")

    old = threading.stack_size(256 * 1024)
    try:
        threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(sessions)]
    finally:
        threading.stack_size(old)
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.monotonic()
    deadline = t0 + 240
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    elapsed = time.monotonic() - t0
    assert not [t for t in threads if t.is_alive()], "clients still running after 240 s"
    assert not errors, f"{len(errors)} sessions failed, e.g. {errors[:5]}"
    total = sessions * per_session
    assert len(sent) == total
    record_result(f"e2e-concurrent: {total} messages in {elapsed:.2f} s = {total / elapsed:.0f} msg/s "
                  f"({sessions} concurrent SMTP sessions, {s.build.name} build)")
    count = markers_in(s.mail_dir, users)
    missing = [m for m in sent if count[m] == 0]
    dup = [m for m, n in count.items() if n > 1]
    extra = [m for m in count if m not in sent]
    assert not missing and not dup and not extra, (
        f"missing {len(missing)} {missing[:5]}, duplicated {len(dup)} {dup[:5]}, unknown {extra[:5]}")
    # Each landed in the right mailbox, byte-exact after Received:.
    for u in users:
        for m in helpers.maildir_messages(s.mail_dir, u):
            marker = MARKER.search(m).group(1).decode()
            assert sent[marker][0] == u
            assert helpers.strip_received(m)[0] == sent[marker][1]


# ---------------------------------------------------- POP3 round trip


def tricky_messages():
    rnd = random.Random(1234)
    eight_bit = bytes(b for b in range(0x80, 0x100))
    yield b"\r\n".join([
        b"From: Sender <sender@client.test>", b"To: alice@localhost", b"Subject: dots and edges",
        b"Date: Mon, 01 Jan 2024 00:00:00 +0000", b"Message-ID: <rt-1@client.test>",
        b"X-Folded: first part", b"\tsecond part", b"",
        b".", b"..", b"...", b".leading", b"..leading2", b" . space dot", b"", b"",
        b"trailing spaces   ", b"\ttab", b"end"]) + b"\r\n"
    yield b"\r\n".join([
        b"Subject: long lines", b"Date: Mon, 01 Jan 2024 00:00:00 +0000",
        b"Message-ID: <rt-2@client.test>", b"",
        b"a" * 998, b"." + b"b" * 997, b"c" * 500, b"." * 998]) + b"\r\n"
    yield b"\r\n".join([
        b"Subject: 8bit", b"Date: Mon, 01 Jan 2024 00:00:00 +0000", b"Message-ID: <rt-3@client.test>",
        b"Content-Type: text/plain; charset=iso-8859-1", b"Content-Transfer-Encoding: 8bit", b"",
        eight_bit, b"." + eight_bit, "Grüße ✓ 日本語".encode(), b"del\x7f esc\x1b"]) + b"\r\n"
    # ~1 MB of random printable lines, some starting with '.'
    lines = []
    for i in range(9000):
        n = rnd.randint(0, 200)
        line = bytes(rnd.choice(b"abcdefghijklmnopqrstuvwxyz .0123456789") for _ in range(n))
        if i % 13 == 0:
            line = b"." + line
        lines.append(line)
    yield (b"Subject: big\r\nDate: Mon, 01 Jan 2024 00:00:00 +0000\r\nMessage-ID: <rt-4@client.test>\r\n\r\n"
           + b"\r\n".join(lines) + b"\r\n")
    # no trailing CRLF on the last line: the client adds one before the dot
    yield b"Subject: no final newline\r\nDate: Mon, 01 Jan 2024 00:00:00 +0000\r\nMessage-ID: <rt-5@x>\r\n\r\nlast"


@pytest.mark.parametrize("fill", ["all", "none"])
def test_pop3_round_trip_is_byte_exact(server, fill):
    s = server("--header-fill", fill)
    sent = list(tricky_messages())
    with smtplib.SMTP(s.host, s.smtp_port, timeout=60) as c:
        c.ehlo("client.test")
        for m in sent:
            assert c.sendmail("sender@client.test", ["alice@localhost"], m,
                              mail_options=["BODY=8BITMIME"]) == {}
    expected = [m if m.endswith(CRLF) else m + CRLF for m in sent]  # SMTP can only carry lines
    s.wait_messages("alice", len(sent))
    with s.pop3() as p:
        p.login("alice", "alice-pw")
        _, raw = p.multiline("LIST")
        sizes = [int(l.split()[1]) for l in raw.decode().split("\r\n") if l]
        got = []
        for i in range(1, len(sent) + 1):
            status, raw = p.multiline(f"RETR {i}", timeout=60)
            assert status.startswith("+OK")
            got.append(helpers.dot_unstuff(raw))
        p.cmd("QUIT")
    assert sizes == [len(g) for g in got], "LIST sizes differ from the octets RETR sent"
    if fill == "all":
        got = [helpers.strip_received(g)[0] for g in got]
    by_subject = {re.search(rb"Subject: ([^\r]*)", g).group(1): g for g in got}
    for m in expected:
        subj = re.search(rb"Subject: ([^\r]*)", m).group(1)
        assert by_subject.get(subj) == m, f"message {subj!r} differs after SMTP -> store -> POP3"


# ------------------------------------------------------ crash mid-load


class LoadRun:
    """Clients sending messages in a loop until told to stop or the server dies."""

    def __init__(self, s, users, clients=12):
        self.s = s
        self.users = users
        self.acked = {}       # marker -> (user, message) for every 250 received
        self.attempted = {}   # marker -> (user, message) for every DATA started
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.client, args=(i,), daemon=True)
                        for i in range(clients)]

    def client(self, i):
        rnd = random.Random(i)
        k = 0
        while not self.stop.is_set() and k < 10_000:
            try:
                with smtplib.SMTP(self.s.host, self.s.smtp_port, timeout=20) as c:
                    c.ehlo(f"load{i}.test")
                    for _ in range(20):
                        if self.stop.is_set():
                            return
                        k += 1
                        marker = f"k{i:02d}-{k:05d}"
                        user = self.users[k % len(self.users)]
                        size = rnd.choice([10, 100, 2000])  # lines of 100 bytes: 1 kB .. 200 kB
                        msg = helpers.make_message(
                            marker, body_lines=[(f"{marker} {j:06d} " + "p" * 80).encode() for j in range(size)])
                        with self.lock:
                            self.attempted[marker] = (user, msg)
                        c.sendmail("sender@client.test", [f"{user}@localhost"], msg)
                        with self.lock:
                            self.acked[marker] = (user, msg)
            except (OSError, smtplib.SMTPException, EOFError):
                if self.stop.is_set():
                    return
                time.sleep(0.05)  # server gone or restarting: back off, bounded by k and stop

    def start(self):
        for t in self.threads:
            t.start()

    def wait_acked(self, n, timeout=30):
        helpers.wait_until(lambda: len(self.acked) >= n, timeout=timeout, what=f"{n} acked messages")

    def finish(self, timeout=30):
        self.stop.set()
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.0, deadline - time.monotonic()))
        assert not [t for t in self.threads if t.is_alive()], "load clients did not stop"


def check_no_acked_message_lost(s, run: LoadRun):
    """Every 250'd message is in new/ or cur/ exactly once and byte-exact; every
    visible file is a complete message that some client sent."""
    seen = collections.Counter()
    for u in run.users:
        for path in helpers.maildir_files(s.mail_dir, u):
            data = path.read_bytes()
            found = MARKER.findall(data)
            assert len(found) == 1, f"{path} is not one whole message ({len(data)} bytes)"
            marker = found[0].decode()
            assert marker in run.attempted, f"{path}: unknown marker {marker}"
            want_user, want = run.attempted[marker]
            assert u == want_user, f"{marker} delivered to {u}, sent to {want_user}"
            assert helpers.strip_received(data)[0] == want, f"{path} is partial or altered ({len(data)} bytes)"
            seen[marker] += 1
    lost = [m for m in run.acked if seen[m] == 0]
    dup = [m for m, n in seen.items() if n > 1]
    assert not lost, f"{len(lost)} of {len(run.acked)} acknowledged messages lost, e.g. {lost[:5]}"
    assert not dup, f"duplicated: {dup[:5]}"
    return seen


def test_kill_9_mid_load_keeps_every_acknowledged_message(server):
    users = ["alice", "bob"]
    s = server()
    run = LoadRun(s, users)
    run.start()
    rounds = 3
    try:
        for r in range(rounds):  # the clients keep going (and retrying) across restarts
            run.wait_acked(60 * (r + 1), timeout=60)
            time.sleep(0.2)
            s.kill()  # SIGKILL, mid-load
            assert s.returncode() == -signal.SIGKILL
            if r < rounds - 1:
                s.start()  # same mail dir, same ports
    finally:
        run.finish()
    s.start()
    seen = check_no_acked_message_lost(s, run)
    record_result(f"e2e-kill9: {rounds} kill -9/restart rounds, {len(run.acked)} acknowledged, "
                  f"{len(run.attempted)} attempted, {sum(seen.values())} visible after restart; none lost")
    # tmp/ leftovers may exist but must not be counted as mail.
    for u in users:
        visible = len(helpers.maildir_files(s.mail_dir, u))
        with s.pop3() as p:
            p.login(u, DEFAULT_USERS[u])
            assert p.cmd("STAT").split()[1] == str(visible), f"POP3 count for {u} != new/+cur/"
            p.cmd("QUIT")
    # And the restarted server works.
    with smtplib.SMTP(s.host, s.smtp_port, timeout=10) as c:
        c.sendmail("sender@client.test", ["alice@localhost"], helpers.make_message("after-restart"))


def test_sigterm_mid_load_keeps_every_acknowledged_message_and_exits_0(server):
    users = ["alice", "bob"]
    s = server()
    run = LoadRun(s, users, clients=8)
    run.start()
    try:
        run.wait_acked(40, timeout=60)
        rc = s.stop(signal.SIGTERM)
    finally:
        run.finish()
    assert rc == 0
    check_no_acked_message_lost(s, run)


# ------------------------------------------------------ cut in DATA


@pytest.mark.parametrize("cut", ["mid-line", "after-crlf-dot", "after-crlf-dot-cr"])
@pytest.mark.parametrize("how", ["fin", "rst"])
def test_client_cut_in_middle_of_data_delivers_nothing(server, cut, how):
    s = server()
    c = s.smtp()
    c.ehlo()
    c.cmd("MAIL FROM:<sender@client.test>")
    c.cmd("RCPT TO:<alice@localhost>")
    c.cmd("RCPT TO:<bob@localhost>")
    assert c.cmd("DATA")[0] == 354
    body = helpers.make_message("cut", body_lines=["q" * 100] * 500)
    tail = {"mid-line": b"half a li", "after-crlf-dot": b".", "after-crlf-dot-cr": b".\r"}[cut]
    c.send(body + tail)
    peer = helpers.client_peer(c)
    if how == "rst":
        c.reset()
    else:
        c.close()
    helpers.wait_session_end(s, "smtp", peer)
    # The server is fine and a complete message still works; its 250 is
    # also the barrier (helpers.deliver_barrier) after which a delivery of
    # the cut message would be on disk.
    with smtplib.SMTP(s.host, s.smtp_port, timeout=10) as c2:
        c2.sendmail("sender@client.test", ["bob@localhost"], helpers.make_message("whole"))
    assert s.messages("alice") == []
    bob = s.messages("bob")
    assert len(bob) == 1 and b"marker whole" in bob[0]


# ------------------------------------------------------------ churn


def test_1000_rapid_connect_disconnects_leave_server_healthy(server, build):
    s = server()
    time.sleep(0.2)
    base_fds = helpers.fd_count(s.pid) if build.loopback else None
    ports = [s.smtp_port, s.pop3_port, s.echo_port]
    t0 = time.monotonic()
    failures = 0
    for i in range(1000):
        if time.monotonic() - t0 > 120:
            pytest.fail(f"only {i} connect/disconnects in 120 s")
        port = ports[i % 3]
        style = (i // 3) % 4
        try:
            sock = socket.create_connection((s.host, port), timeout=10)
        except OSError:
            failures += 1
            continue
        try:
            if style == 0:
                sock.close()
            elif style == 1:
                import struct
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.close()
            elif style == 2:
                sock.recv(512)  # greeting
                sock.close()
            else:
                sock.sendall(b"NOOP\r\nHALF A COMM")
                sock.close()
        except OSError:
            sock.close()
    elapsed = time.monotonic() - t0
    assert failures == 0, f"{failures} of 1000 connects failed"
    assert s.alive()
    record_result(f"e2e-churn: 1000 connect/disconnects in {elapsed:.2f} s")
    with smtplib.SMTP(s.host, s.smtp_port, timeout=10) as c:
        c.sendmail("sender@client.test", ["alice@localhost"], helpers.make_message("after-churn"))
    assert len(s.wait_messages("alice", 1)) == 1
    with s.pop3() as p:
        p.login("alice", "alice-pw")
        assert p.cmd("STAT").startswith("+OK 1 ")
    with s.echo() as e:
        e.read_line()
        e.send_line("ECHO alive")
        assert e.read_line_str() == "+OK alive"
    if base_fds is not None:
        helpers.wait_until(lambda: helpers.fd_count(s.pid) <= base_fds + 3, timeout=30,
                           what=f"descriptors back near {base_fds} (now {helpers.fd_count(s.pid)})")
    else:
        # DPDK build: no descriptor per connection; its TCB count must come back
        # down the same way (SIGUSR1 prints the counters).
        helpers.wait_until(lambda: helpers.counter_report(s)["tcp.open_connections"] <= 3, interval=0.5,
                           timeout=30, what="tcp.open_connections back near 0")

