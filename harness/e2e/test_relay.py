"""SPEC "Relay client": the queue drains to a smarthost (--relayhost) on
loopback, retries, and bounces to a local sender (RFC 3464) or drops; and
without an address relayhost it routes by DNS (RFC 5321 §5.1: MX, then A).

The smarthost is a tiny scripted SMTP server in this file, and so is the
DNS server the MX tests give as --dns; nothing leaves the host (the
kernel build: loopback; the DPDK build: its TAP's host side)."""

import re
import socket
import struct
import threading
import time

import pytest

import helpers

from conftest import free_port

IP_FREEBIND = getattr(socket, "IP_FREEBIND", 15)  # Linux; not exported by Python 3.11


class FakeSmarthost:
    """Accepts SMTP sessions one at a time; `rcpt_codes` scripts the RCPT
    answer per attempt (then 250). Records every message it accepted."""

    def __init__(self, rcpt_codes=(), address="127.0.0.1", port=None):
        self.port = port or free_port()
        self.rcpt_codes = list(rcpt_codes)
        self.received = []      # (mail_from, [rcpts], data)
        self.sessions = 0
        self.stop = threading.Event()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # The DPDK build's TAP (and its host-side address) appears only once
        # the server runs: bind to that address before it exists.
        self.sock.setsockopt(socket.SOL_IP, IP_FREEBIND, 1)
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
    helpers.wait_until(lambda: helpers.queue_files(s.queue_dir) == [], timeout=30,
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
    helpers.wait_until(lambda: helpers.queue_files(s.queue_dir) == [], timeout=30,
                       what="queue emptied after the bounce")


def assert_no_bounce_anywhere(s):
    """After the drop is logged and the queue file is gone: a bounce the
    server wrote anyway would be on disk before a later message's 250
    (helpers.deliver_barrier), so none may be in any mailbox then."""
    helpers.deliver_barrier(s, "bob@localhost")
    assert s.messages("alice") == []
    assert [m for m in s.messages("bob") if b"marker barrier" not in m] == []
    assert len(s.messages("bob")) == 1


def test_relay_failure_with_null_sender_is_dropped_with_a_log_line(server, tmp_path):
    log = tmp_path / "relay.log"
    dead = free_port()
    s = relay_server(server, dead, "--log", str(log),
               "--retry-delay", "1", "--max-attempts", "1")
    submit(s, "", "far@example.com", "dropped")
    helpers.wait_log_event(s, "relay", "dropped", detail=r"rcpt=<far@example\.com> reason=null sender")
    helpers.wait_until(lambda: helpers.queue_files(s.queue_dir) == [], timeout=30,
                       what="queue emptied")
    assert_no_bounce_anywhere(s)


def test_relay_failure_with_remote_sender_is_dropped_not_bounced_locally(server, tmp_path):
    dead = free_port()
    s = relay_server(server, dead, "--retry-delay", "1", "--max-attempts", "1")
    submit(s, "someone@elsewhere.test", "far@example.com", "remote-sender")
    helpers.wait_log_event(s, "relay", "dropped", detail=r"from=<someone@elsewhere\.test> .*reason=remote sender")
    helpers.wait_until(lambda: helpers.queue_files(s.queue_dir) == [], timeout=30,
                       what="queue emptied")
    assert_no_bounce_anywhere(s)


# ------------------------------------------------------------ routing by DNS


class FakeDns:
    """A UDP DNS server on `address`:53 (RFC 1035 §4.1): MX and A records
    from `mx` {name: [(preference, exchange)]} and `a` {name: [address]};
    a known name without records of the type asked is NODATA, any other
    name NXDOMAIN. Records each query as (client port, id, name, type)."""

    MX, A = 15, 1

    def __init__(self, address, mx=None, a=None):
        self.mx = {k.lower(): v for k, v in (mx or {}).items()}
        self.a = {k.lower(): v for k, v in (a or {}).items()}
        self.queries = []
        self.stop = threading.Event()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_IP, IP_FREEBIND, 1)
        self.sock.bind((address, 53))
        self.sock.settimeout(0.2)
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    @staticmethod
    def encode_name(name):
        return b"".join(bytes([len(label)]) + label.encode() for label in name.split(".") if label) + b"\0"

    @staticmethod
    def question(packet):
        """(name, type, end of the question) of a query without compression."""
        labels, i = [], 12
        while packet[i]:
            labels.append(packet[i + 1:i + 1 + packet[i]].decode("ascii", "replace"))
            i += 1 + packet[i]
        qtype, = struct.unpack("!H", packet[i + 1:i + 3])
        return ".".join(labels).lower(), qtype, i + 5

    def answers(self, name, qtype):
        if qtype == self.MX:
            return [struct.pack("!H", pref) + self.encode_name(host) for pref, host in self.mx.get(name, [])]
        if qtype == self.A:
            return [socket.inet_aton(ip) for ip in self.a.get(name, [])]
        return []

    def reply(self, packet):
        (qid,) = struct.unpack("!H", packet[:2])
        name, qtype, end = self.question(packet)
        known = name in self.mx or name in self.a
        rdatas = self.answers(name, qtype)
        flags = 0x8180 if known else 0x8183  # QR RD RA; RCODE 3 = NXDOMAIN
        out = struct.pack("!HHHHHH", qid, flags, 1, len(rdatas), 0, 0) + packet[12:end]
        for rdata in rdatas:
            out += struct.pack("!HHHIH", 0xC00C, qtype, 1, 60, len(rdata)) + rdata
        return qid, name, qtype, out

    def serve(self):
        while not self.stop.is_set():
            try:
                packet, peer = self.sock.recvfrom(512)
                qid, name, qtype, out = self.reply(packet)
            except (socket.timeout, OSError, IndexError, struct.error, UnicodeError):
                continue
            self.queries.append((peer[1], qid, name, qtype))
            self.sock.sendto(out, peer)

    def close(self):
        self.stop.set()
        self.sock.close()
        self.thread.join(5)


def dns_host(build, s):
    """Where this host runs the DNS server and the MX host for server `s`:
    the TAP's host side for the DPDK build; for the kernel build a loopback
    address of their own (ports 53 and 25 on 127.0.0.1 may be taken)."""
    return "127.0.53.1" if build.loopback else s.client_ip


def set_option(s, option, value):
    i = s.options.index(option)
    s.options[i + 1] = value


@pytest.fixture
def dns_routed(server, build):
    """server_for(mx=..., a=..., *options) -> (Server, FakeDns, host): a server
    (not started) whose --dns is a FakeDns on `host`; records may name HOST
    for that address. Everything it made is closed at teardown."""
    made = []

    def make(*options, mx=None, a=None, smtp_on_25=False):
        s = server(*options, start=False)
        host = dns_host(build, s)
        fill = lambda v: host if v == "HOST" else v  # noqa: E731
        a = {name: [fill(ip) for ip in ips] for name, ips in (a or {}).items()}
        try:
            dns = FakeDns(host, mx, a)
            made.append(dns)
            smarthost = FakeSmarthost(address=host, port=25 if smtp_on_25 else None)
            made.append(smarthost)
        except OSError as e:
            pytest.skip(f"cannot listen on {host} (ports 53/25): {e}")
        set_option(s, "--dns", host)
        return s, dns, smarthost

    yield make
    for m in made:
        m.close()


def test_relay_routes_by_mx_then_a_record(dns_routed):
    # RFC 5321 §5.1: the domain's MX, then the exchange's A record, port 25.
    s, dns, smarthost = dns_routed(mx={"mx-route.test": [(10, "mail.mx-route.test")]},
                                   a={"mail.mx-route.test": ["HOST"]}, smtp_on_25=True)
    s.start()
    submit(s, "alice@localhost", "far@mx-route.test", "by-mx")
    helpers.wait_until(lambda: smarthost.received, timeout=15,
                       what=f"message at the MX host; log: {s.log_text()[-1500:]}")
    _, rcpts, data = smarthost.received[0]
    assert rcpts == [b"RCPT TO:<far@mx-route.test>"]
    assert b"marker by-mx" in data
    asked = [(name, qtype) for _, _, name, qtype in dns.queries]
    assert asked[:2] == [("mx-route.test", FakeDns.MX), ("mail.mx-route.test", FakeDns.A)], dns.queries
    # RFC 5452 §9.2: each query from a port of its own.
    assert dns.queries[0][0] != dns.queries[1][0], dns.queries
    helpers.wait_until(lambda: helpers.queue_files(s.queue_dir) == [], timeout=30,
                       what="queue file removed after delivery")


def test_relay_resolves_a_relayhost_given_by_name(dns_routed):
    s, dns, smarthost = dns_routed(a={"smarthost.test": ["HOST"]})
    s.options += ["--relayhost", f"smarthost.test:{smarthost.port}"]
    s.start()
    submit(s, "alice@localhost", "far@example.com", "by-name")
    helpers.wait_until(lambda: smarthost.received, timeout=15,
                       what=f"message at the relayhost; log: {s.log_text()[-1500:]}")
    assert [(name, qtype) for _, _, name, qtype in dns.queries] == [("smarthost.test", FakeDns.A)]


def test_relay_bounces_at_once_when_the_domain_does_not_exist(dns_routed):
    # RFC 2308 NXDOMAIN: a permanent failure, reported without retrying.
    s, dns, _ = dns_routed("--retry-delay", "600", mx={"exists.test": []})
    s.start()
    submit(s, "alice@localhost", "far@missing.test", "nxdomain")
    [dsn] = s.wait_messages("alice", 1, timeout=15)
    assert b"far@missing.test" in dsn
    assert re.search(rb"(?i)action:\s*failed", dsn), dsn
    assert [(name, qtype) for _, _, name, qtype in dns.queries] == [("missing.test", FakeDns.MX)]


def test_dpdk_build_says_when_its_dns_server_cannot_be_reached(server, build, tmp_path):
    if build.loopback:
        pytest.skip("the kernel build reaches a loopback DNS server")
    log = tmp_path / "relay.log"
    s = server("--dns", "127.0.0.1", "--log", str(log), "--retry-delay", "600")
    submit(s, "alice@localhost", "far@example.com", "no-dns")
    text = helpers.wait_until(lambda: (lambda t: t if "4.4.3" in t else None)(log.read_text(errors="replace")),
                              timeout=15, what="the failed lookup in the log")
    assert re.search(r"relay - no-dns-server .*127\.0\.0\.1", text), text
    assert len(helpers.queue_files(s.queue_dir)) == 1  # kept for the next attempt
