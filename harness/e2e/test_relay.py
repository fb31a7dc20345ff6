"""SPEC "Relay client": the queue drains to a smarthost (--relayhost) on
loopback, retries, and bounces to a local sender (RFC 3464) or drops.

The smarthost is a tiny scripted SMTP server in this file; nothing leaves
the host (--relayhost 127.0.0.1:PORT, --dns 127.0.0.1)."""

import re
import socket
import threading
import time

import pytest

import helpers

from conftest import free_port


class FakeSmarthost:
    """Accepts SMTP sessions one at a time; `rcpt_codes` scripts the RCPT
    answer per attempt (then 250). Records every message it accepted."""

    def __init__(self, rcpt_codes=(), address="127.0.0.1"):
        self.port = free_port()
        self.rcpt_codes = list(rcpt_codes)
        self.received = []      # (mail_from, [rcpts], data)
        self.sessions = 0
        self.stop = threading.Event()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((address, self.port))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            try:
                self.session(conn)
            except (OSError, EOFError, socket.timeout):
                pass
            finally:
                conn.close()

    def session(self, conn):
        self.sessions += 1
        code = self.rcpt_codes.pop(0) if self.rcpt_codes else 250
        conn.settimeout(10)
        f = conn.makefile("rb")
        conn.sendall(b"220 fake.smarthost ESMTP\r\n")
        mail_from, rcpts = None, []
        for _ in range(1000):
            line = f.readline(2000)
            if not line:
                return
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                conn.sendall(b"250-fake.smarthost\r\n250 8BITMIME\r\n" if verb == b"EHLO"
                             else b"250 fake.smarthost\r\n")
            elif verb == b"MAIL":
                mail_from, rcpts = line.strip(), []
                conn.sendall(b"250 2.1.0 ok\r\n")
            elif verb == b"RCPT":
                if code == 250:
                    rcpts.append(line.strip())
                    conn.sendall(b"250 2.1.5 ok\r\n")
                else:
                    conn.sendall(f"{code} {code // 100}.0.0 scripted failure\r\n".encode())
            elif verb == b"DATA":
                if not rcpts:
                    conn.sendall(b"503 5.5.1 no recipients\r\n")
                    continue
                conn.sendall(b"354 go\r\n")
                data = b""
                while not data.endswith(b"\r\n.\r\n") and data != b".\r\n":
                    chunk = f.readline(1_000_000)
                    if not chunk:
                        return
                    data += chunk
                self.received.append((mail_from, rcpts, helpers.dot_unstuff(data[:-3])))
                conn.sendall(b"250 2.0.0 queued\r\n")
            elif verb == b"RSET" or verb == b"NOOP":
                conn.sendall(b"250 ok\r\n")
            elif verb == b"QUIT":
                conn.sendall(b"221 bye\r\n")
                return
            else:
                conn.sendall(b"500 what\r\n")

    def close(self):
        self.stop.set()
        self.sock.close()
        self.thread.join(5)


@pytest.fixture
def smarthost(build):
    hosts = []
    # The DPDK build reaches this host at its TAP address (10.99.N.2, made
    # when the server starts), inside the suite's own namespace.
    address = "127.0.0.1" if build.loopback else "0.0.0.0"

    def make(rcpt_codes=()):
        h = FakeSmarthost(rcpt_codes, address)
        hosts.append(h)
        return h

    yield make
    for h in hosts:
        h.close()


def relay_server(server, port, *options):
    """A server relaying through this host's `port`, at the address the
    server sees this host at (loopback, or the TAP's host side)."""
    s = server("--dns", "127.0.0.1", *options, start=False)
    s.options += ["--relayhost", f"{s.client_ip}:{port}"]
    s.start()
    return s


def submit(s, sender, rcpt, marker):
    with s.smtp() as c:
        c.ehlo()
        assert c.cmd(f"MAIL FROM:<{sender}>")[0] == 250
        assert c.cmd(f"RCPT TO:<{rcpt}>")[0] == 250
        code, lines = c.data(helpers.make_message(marker))
        assert code == 250, lines


def test_relay_client_delivers_queued_mail_via_relayhost(server, smarthost):
    h = smarthost()
    s = relay_server(server, h.port)
    submit(s, "alice@localhost", "far@example.com", "relayed")
    helpers.wait_until(lambda: h.received, timeout=15, what="message at the smarthost")
    mail_from, rcpts, data = h.received[0]
    assert b"<alice@localhost>" in mail_from
    assert rcpts == [b"RCPT TO:<far@example.com>"]
    assert b"marker relayed" in data
    helpers.wait_until(lambda: helpers.queue_files(s.queue_dir) == [], timeout=10,
                       what="queue file removed after delivery")


def test_relay_client_retries_after_temporary_failure(server, smarthost):
    h = smarthost(rcpt_codes=[451])
    s = relay_server(server, h.port, "--retry-delay", "1")
    submit(s, "alice@localhost", "far@example.com", "retried")
    helpers.wait_until(lambda: h.received, timeout=15, what="delivery on a later attempt")
    assert h.sessions >= 2
    assert len(h.received) == 1


def test_relay_bounces_to_local_sender_after_max_attempts(server):
    dead = free_port()
    s = relay_server(server, dead, "--retry-delay", "1", "--max-attempts", "2")
    submit(s, "alice@localhost", "far@example.com", "bounced")
    [dsn] = s.wait_messages("alice", 1, timeout=15)
    assert re.search(rb"(?i)content-type:\s*multipart/report;[^\r\n]*(\r\n[ \t][^\r\n]*)*"
                     rb"report-type=\"?delivery-status", dsn), dsn[:1500]
    assert b"far@example.com" in dsn
    assert re.search(rb"(?i)action:\s*failed", dsn), dsn
    assert re.search(rb"(?im)^from:.*(mailer-daemon|postmaster)", dsn), dsn[:800]
    helpers.wait_until(lambda: helpers.queue_files(s.queue_dir) == [], timeout=10,
                       what="queue emptied after the bounce")


def test_relay_failure_with_null_sender_is_dropped_with_a_log_line(server, tmp_path):
    log = tmp_path / "relay.log"
    dead = free_port()
    s = relay_server(server, dead, "--log", str(log),
               "--retry-delay", "1", "--max-attempts", "1")
    submit(s, "", "far@example.com", "dropped")
    helpers.wait_until(lambda: helpers.queue_files(s.queue_dir) == [], timeout=15,
                       what="queue emptied")
    time.sleep(0.5)
    assert s.messages("alice") == [] and s.messages("bob") == []
    assert "far@example.com" in log.read_text(errors="replace")


def test_relay_failure_with_remote_sender_is_dropped_not_bounced_locally(server, tmp_path):
    dead = free_port()
    s = relay_server(server, dead, "--retry-delay", "1", "--max-attempts", "1")
    submit(s, "someone@elsewhere.test", "far@example.com", "remote-sender")
    helpers.wait_until(lambda: helpers.queue_files(s.queue_dir) == [], timeout=15,
                       what="queue emptied")
    time.sleep(0.5)
    assert s.messages("alice") == [] and s.messages("bob") == []
