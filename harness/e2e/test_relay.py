"""SPEC "Relay client": the queue drains to a smarthost (--relayhost) on
loopback, retries, and bounces to a local sender (RFC 3464) or drops; and
without an address relayhost it routes by DNS (RFC 5321 §5.1: MX, then A).

The smarthost is a tiny scripted SMTP server in this file, and so is the
DNS server the MX tests give as --dns; nothing leaves the host (the
kernel build: loopback; the DPDK build: its TAP's host side)."""

import re
import socket
import struct
import subprocess
import threading
import time

import pytest

import helpers

from conftest import free_port

IP_FREEBIND = getattr(socket, "IP_FREEBIND", 15)  # Linux; not exported by Python 3.11


class FakeSmarthost:
    """Accepts SMTP sessions one at a time and records every message it
    accepted. Scripts, each consumed one per session (then the default):
    `rcpt_codes` the answer to every RCPT (250), `data_codes` the answer to
    the final dot (250), `silent_at` the step left unanswered while the
    connection is held open ("greeting", "mail", "rcpt", "data", "dot";
    None = none). `rcpt_code_for` {address: code} answers one recipient
    the same way in every session."""

    def __init__(self, rcpt_codes=(), address="127.0.0.1", port=None, *, data_codes=(),
                 silent_at=(), rcpt_code_for=None):
        self.port = port or free_port()
        self.rcpt_codes = list(rcpt_codes)
        self.data_codes = list(data_codes)
        self.silent_at = list(silent_at)
        self.rcpt_code_for = {k.lower(): v for k, v in (rcpt_code_for or {}).items()}
        self.received = []      # (mail_from, [rcpts], data)
        self.refused = []       # (mail_from, [rcpts], code) of texts refused at the final dot
        self.sessions = 0
        self.holding = False    # a session is being left without an answer right now
        self.cuts = []          # (step, seconds from the unanswered step to the client's close)
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

    def hold(self, conn, step):
        """Answer nothing; record when the client gives up (closes), bounded
        by close() of this host."""
        t0 = time.monotonic()
        self.holding = True
        conn.settimeout(0.2)
        try:
            while not self.stop.is_set():
                try:
                    if not conn.recv(65536):
                        self.cuts.append((step, time.monotonic() - t0))
                        return
                except socket.timeout:
                    continue
                except OSError:
                    self.cuts.append((step, time.monotonic() - t0))
                    return
        finally:
            self.holding = False

    @staticmethod
    def address_of(line):
        m = re.search(rb"<([^<>]*)>", line)
        return m.group(1).decode("utf-8", "replace").lower() if m else ""

    def session(self, conn):
        self.sessions += 1
        code = self.rcpt_codes.pop(0) if self.rcpt_codes else 250
        data_code = self.data_codes.pop(0) if self.data_codes else 250
        silent = self.silent_at.pop(0) if self.silent_at else None
        if silent == "greeting":
            return self.hold(conn, silent)
        conn.settimeout(10)
        f = conn.makefile("rb")
        conn.sendall(b"220 fake.smarthost ESMTP\r\n")
        mail_from, rcpts = None, []
        for _ in range(1000):
            line = f.readline(2000)
            if not line:
                return
            verb = line[:4].upper()
            if verb.decode("ascii", "replace").lower() == silent:
                return self.hold(conn, silent)
            if verb in (b"EHLO", b"HELO"):
                conn.sendall(b"250-fake.smarthost\r\n250 8BITMIME\r\n" if verb == b"EHLO"
                             else b"250 fake.smarthost\r\n")
            elif verb == b"MAIL":
                mail_from, rcpts = line.strip(), []
                conn.sendall(b"250 2.1.0 ok\r\n")
            elif verb == b"RCPT":
                answer = self.rcpt_code_for.get(self.address_of(line), code)
                if answer == 250:
                    rcpts.append(line.strip())
                    conn.sendall(b"250 2.1.5 ok\r\n")
                else:
                    conn.sendall(f"{answer} {answer // 100}.0.0 scripted failure\r\n".encode())
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
                if silent == "dot":
                    return self.hold(conn, silent)
                if data_code != 250:
                    self.refused.append((mail_from, rcpts, data_code))
                    conn.sendall(f"{data_code} {data_code // 100}.0.0 scripted failure at the dot\r\n"
                                 .encode())
                    continue
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

    def make(rcpt_codes=(), **script):
        h = FakeSmarthost(rcpt_codes, address, **script)
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
    name NXDOMAIN; names in `servfail` get SERVFAIL (RCODE 2) and names in
    `silent` no answer at all. Records each query as (client port, id, name,
    type)."""

    MX, A = 15, 1

    def __init__(self, address, mx=None, a=None, servfail=(), silent=()):
        self.mx = {k.lower(): v for k, v in (mx or {}).items()}
        self.a = {k.lower(): v for k, v in (a or {}).items()}
        self.servfail = {n.lower() for n in servfail}
        self.silent = {n.lower() for n in silent}
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
        rdatas = [] if name in self.servfail else self.answers(name, qtype)
        flags = 0x8182 if name in self.servfail else 0x8180 if known else 0x8183  # QR RD RA; RCODE
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
            if name not in self.silent:
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


def second_host(build, s):
    """A second address of this host for server `s` (another MX host):
    another loopback address, or a second address on the DPDK build's TAP
    (given by add_second_host once the TAP exists)."""
    return "127.0.53.2" if build.loopback else f"10.99.{s.net.n}.3"


def add_second_host(build, s):
    if build.loopback:
        return
    cmd = ["ip", "addr", "add", f"{second_host(build, s)}/24", "dev", s.net.tap]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, f"{' '.join(cmd)}: {r.stderr.strip()}"


class DnsRouted:
    """dns_routed(*options, mx=..., a=..., ...) -> (Server, FakeDns,
    FakeSmarthost): a server (not started) whose --dns is a FakeDns on this
    host's address for it; records may name HOST (that address) or HOST2
    (second_host). The smarthost listens on HOST (port 25 with
    smtp_on_25=True); `servfail`/`silent` and the smarthost's scripts pass
    through. second_mx() adds an SMTP host on HOST2:25, start() starts the
    server with HOST2 in place. Everything is closed at teardown."""

    def __init__(self, server, build):
        self.server, self.build, self.made = server, build, []

    def __call__(self, *options, mx=None, a=None, smtp_on_25=False, servfail=(), silent=(), **script):
        s = self.server(*options, start=False)
        host = dns_host(self.build, s)
        names = {"HOST": host, "HOST2": second_host(self.build, s)}
        a = {name: [names.get(ip, ip) for ip in ips] for name, ips in (a or {}).items()}
        try:
            dns = FakeDns(host, mx, a, servfail, silent)
            self.made.append(dns)
            smarthost = FakeSmarthost(address=host, port=25 if smtp_on_25 else None, **script)
            self.made.append(smarthost)
        except OSError as e:
            pytest.skip(f"cannot listen on {host} (ports 53/25): {e}")
        set_option(s, "--dns", host)
        return s, dns, smarthost

    def second_mx(self, s, **script):
        h = FakeSmarthost(address=second_host(self.build, s), port=25, **script)
        self.made.append(h)
        return h

    def start(self, s):
        s.start()
        add_second_host(self.build, s)
        return s

    def close(self):
        for m in self.made:
            m.close()


@pytest.fixture
def dns_routed(server, build):
    routed = DnsRouted(server, build)
    yield routed
    routed.close()


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


# ------------------------------------------------------------ error paths
#
# What each next-hop answer does to the queued message (SPEC "Relay client",
# RFC 5321 §4.2.1 and §6.1): a 5yz for a recipient is final — bounced to a
# local sender at once, never retried; a 4yz, a lost connection, a timeout
# or a failed lookup is temporary — the message stays queued for the next
# attempt. Where SPEC and README say nothing, the test says what Postfix does.


def submit_to(s, sender, rcpts, marker):
    """One message to several recipients; returns the queue id of its 250."""
    with s.smtp() as c:
        c.ehlo()
        assert c.cmd(f"MAIL FROM:<{sender}>")[0] == 250
        for rcpt in rcpts:
            code, lines = c.cmd(f"RCPT TO:<{rcpt}>")
            assert code == 250, (rcpt, lines)
        code, lines = c.data(helpers.make_message(marker))
        assert code == 250, lines
    return lines[-1].rsplit(" ", 1)[-1]


def dsn_failures(dsn: bytes) -> dict[str, tuple[str, str]]:
    """{recipient: (Status, Diagnostic-Code)} of an RFC 3464 report's
    per-recipient fields (§2.3), for the recipients whose Action is failed."""
    out = {}
    for block in re.split(rb"\r\n\r\n", dsn):
        final = re.search(rb"(?im)^final-recipient:\s*rfc822;\s*(\S+)", block)
        if not final or not re.search(rb"(?im)^action:\s*failed", block):
            continue
        status = re.search(rb"(?im)^status:\s*(\S+)", block)
        diagnostic = re.search(rb"(?im)^diagnostic-code:\s*([^\r\n]*)", block)
        out[final.group(1).decode().lower()] = (status.group(1).decode() if status else "",
                                                diagnostic.group(1).decode() if diagnostic else "")
    return out


def wait_queue_empty(s):
    helpers.wait_until(lambda: helpers.queue_files(s.queue_dir) == [], timeout=30,
                       what=f"queue emptied; log: {s.log_text()[-1500:]}")


def test_relay_5xx_for_a_recipient_bounces_at_once_and_is_not_retried(server, smarthost):
    h = smarthost(rcpt_codes=[550])
    # A retry would come after a second: nothing is waited for but the bounce.
    s = relay_server(server, h.port, "--retry-delay", "1", "--max-attempts", "5")
    submit(s, "alice@localhost", "far@example.com", "refused-rcpt")
    [dsn] = s.wait_messages("alice", 1, timeout=30)
    failures = dsn_failures(dsn)
    assert list(failures) == ["far@example.com"], dsn
    status, diagnostic = failures["far@example.com"]
    assert status == "5.0.0" and diagnostic.startswith("smtp; 550 "), failures
    wait_queue_empty(s)
    # The queue file is gone, so no later attempt can come: one session in all.
    assert h.sessions == 1
    assert h.received == []
    helpers.wait_log_event(s, "relay", "failed", detail=r"rcpt=<far@example\.com> reply=550 ")


def test_relay_4xx_at_the_final_dot_is_retried(server, smarthost):
    # RFC 5321 §4.2.1/§6.1: the text was refused for now; the next attempt sends it again.
    h = smarthost(data_codes=[451])
    s = relay_server(server, h.port, "--retry-delay", "1")
    queue_id = submit_to(s, "alice@localhost", ["far@example.com"], "dot-451")
    helpers.wait_until(lambda: h.received, timeout=30, what="delivery on a later attempt")
    assert [code for _, _, code in h.refused] == [451]
    assert len(h.received) == 1 and b"marker dot-451" in h.received[0][2]
    helpers.wait_log_event(s, "relay", "deferred", detail=rf"id={re.escape(queue_id)} .*attempt=1 reason=451 ")
    wait_queue_empty(s)
    helpers.deliver_barrier(s, "bob@localhost")
    assert s.messages("alice") == [], "a delivered message was bounced"


def test_relay_5xx_at_the_final_dot_bounces(server, smarthost):
    h = smarthost(data_codes=[554])
    s = relay_server(server, h.port, "--retry-delay", "1")
    submit(s, "alice@localhost", "far@example.com", "dot-554")
    [dsn] = s.wait_messages("alice", 1, timeout=30)
    assert dsn_failures(dsn) == {"far@example.com": ("5.0.0", "smtp; 554 5.0.0 scripted failure at the dot")}
    wait_queue_empty(s)
    assert h.sessions == 1 and h.received == []


def test_relay_bounce_names_only_the_refused_one_of_two_recipients(server, smarthost):
    # Postfix: the accepted recipient is delivered, the refused one bounced
    # alone; the report lists failed recipients only (RFC 3464 §2.3 allows
    # either; our reports say "Action: failed" for every listed one).
    h = smarthost(rcpt_code_for={"bad@example.com": 550})
    s = relay_server(server, h.port, "--retry-delay", "1")
    submit_to(s, "alice@localhost", ["good@example.com", "bad@example.com"], "mixed")
    [dsn] = s.wait_messages("alice", 1, timeout=30)
    assert list(dsn_failures(dsn)) == ["bad@example.com"], dsn
    assert b"good@example.com" not in dsn
    wait_queue_empty(s)
    assert h.sessions == 1
    [(mail_from, rcpts, data)] = h.received
    assert rcpts == [b"RCPT TO:<good@example.com>"]
    assert b"marker mixed" in data


def test_relay_null_mx_bounces_at_once_with_5_1_10(dns_routed):
    # RFC 7505 §3: a single MX "." of preference 0 — the domain takes no
    # mail; §4.3 asks for 556 5.1.10 and no attempt at any host.
    s, dns, smarthost = dns_routed("--retry-delay", "1", mx={"nullmx.test": [(0, ".")]})
    s.start()
    submit(s, "alice@localhost", "far@nullmx.test", "null-mx")
    [dsn] = s.wait_messages("alice", 1, timeout=30)
    failures = dsn_failures(dsn)
    assert list(failures) == ["far@nullmx.test"], dsn
    assert failures["far@nullmx.test"][0] == "5.1.10", failures
    wait_queue_empty(s)
    assert [(name, qtype) for _, _, name, qtype in dns.queries] == [("nullmx.test", FakeDns.MX)]
    assert smarthost.sessions == 0


def test_relay_domain_without_mx_records_gets_mail_at_its_a_record(dns_routed):
    # RFC 5321 §5.1: no MX records (NODATA, not NXDOMAIN) — the domain is its
    # own host (the implicit MX).
    s, dns, smarthost = dns_routed(a={"implicit.test": ["HOST"]}, smtp_on_25=True)
    s.start()
    submit(s, "alice@localhost", "far@implicit.test", "implicit-mx")
    helpers.wait_until(lambda: smarthost.received, timeout=30,
                       what=f"message at the domain's own host; log: {s.log_text()[-1500:]}")
    assert smarthost.received[0][1] == [b"RCPT TO:<far@implicit.test>"]
    asked = [(name, qtype) for _, _, name, qtype in dns.queries]
    assert asked[:2] == [("implicit.test", FakeDns.MX), ("implicit.test", FakeDns.A)], dns.queries
    wait_queue_empty(s)


def test_relay_first_mx_that_does_not_resolve_gives_way_to_the_next(dns_routed):
    # RFC 5321 §5.1: each MX in preference order until one takes the mail.
    s, dns, smarthost = dns_routed(mx={"two.test": [(20, "mail.two.test"), (10, "gone.two.test")]},
                                   a={"mail.two.test": ["HOST"]}, smtp_on_25=True)
    s.start()
    submit(s, "alice@localhost", "far@two.test", "second-mx")
    helpers.wait_until(lambda: smarthost.received, timeout=30,
                       what=f"message at the second MX; log: {s.log_text()[-1500:]}")
    asked = [(name, qtype) for _, _, name, qtype in dns.queries]
    assert asked[:3] == [("two.test", FakeDns.MX), ("gone.two.test", FakeDns.A),
                         ("mail.two.test", FakeDns.A)], dns.queries
    wait_queue_empty(s)


def test_relay_first_mx_that_refuses_the_connection_gives_way_to_the_next(dns_routed):
    s, dns, smarthost = dns_routed(mx={"three.test": [(10, "refusing.three.test"), (20, "mail.three.test")]},
                                   a={"refusing.three.test": ["HOST2"], "mail.three.test": ["HOST"]},
                                   smtp_on_25=True)
    dns_routed.start(s)  # nothing listens on HOST2:25: the host answers the SYN with RST
    submit(s, "alice@localhost", "far@three.test", "refused-mx")
    helpers.wait_until(lambda: smarthost.received, timeout=30,
                       what=f"message at the second MX; log: {s.log_text()[-1500:]}")
    assert smarthost.received[0][1] == [b"RCPT TO:<far@three.test>"]
    # The second exchange is looked up only once every address of the first
    # has failed (RFC 5321 §5.1; relay_agent_test has the step by step).
    asked = [(name, qtype) for _, _, name, qtype in dns.queries]
    assert asked[:3] == [("three.test", FakeDns.MX), ("refusing.three.test", FakeDns.A),
                         ("mail.three.test", FakeDns.A)], dns.queries
    wait_queue_empty(s)


@pytest.mark.parametrize("failure", ["servfail", "timeout"])
def test_relay_lookup_failure_is_temporary_and_the_message_stays_queued(dns_routed, failure):
    # RFC 2308 §2.1/§7: SERVFAIL or no answer says nothing about the domain:
    # try again later (Postfix: "Host or domain name not found ... type=MX:
    # Host not found, try again", deferred).
    broken = {"servfail": "servfail", "timeout": "silent"}[failure]
    s, dns, smarthost = dns_routed("--retry-delay", "600", **{broken: ["flaky.test"]})
    s.start()
    queue_id = submit_to(s, "alice@localhost", ["far@flaky.test"], f"dns-{failure}")
    # A timeout takes the resolver's three tries of 3 s (README).
    helpers.wait_log_event(s, "relay", "deferred",
                           detail=rf"id={re.escape(queue_id)} .*reason=4\.4\.3 MX lookup for flaky\.test failed",
                           timeout=60)
    assert len(helpers.queue_files(s.queue_dir)) == 1
    mx_queries = [q for q in dns.queries if q[2:] == ("flaky.test", FakeDns.MX)]
    assert len(mx_queries) == (3 if failure == "timeout" else 1), dns.queries
    assert smarthost.sessions == 0
    helpers.deliver_barrier(s, "bob@localhost")
    assert s.messages("alice") == [], "a temporary failure was bounced"


def test_relay_to_a_domain_literal_connects_to_that_address_without_dns(dns_routed):
    # RFC 5321 §4.1.3 / §5.1: an address literal names the host; no lookup.
    s, dns, smarthost = dns_routed(smtp_on_25=True)
    s.start()
    literal = f"far@[{dns_host(dns_routed.build, s)}]"
    submit(s, "alice@localhost", literal, "literal")
    helpers.wait_until(lambda: smarthost.received, timeout=30,
                       what=f"message at the literal's address; log: {s.log_text()[-1500:]}")
    assert smarthost.received[0][1] == [f"RCPT TO:<{literal}>".encode()]
    assert dns.queries == []
    wait_queue_empty(s)


def test_relay_slow_mx_of_one_domain_does_not_delay_another_domain(dns_routed):
    # SPEC "Relay client": every recipient domain is delivered on its own,
    # concurrently; a host that never even greets holds up only its domain.
    s, dns, slow = dns_routed(mx={"slow.test": [(10, "mail.slow.test")],
                                  "fast.test": [(10, "mail.fast.test")]},
                              a={"mail.slow.test": ["HOST"], "mail.fast.test": ["HOST2"]},
                              smtp_on_25=True, silent_at=["greeting"] * 5)
    fast = dns_routed.second_mx(s)
    dns_routed.start(s)
    submit_to(s, "alice@localhost", ["one@slow.test", "two@fast.test"], "both-domains")
    helpers.wait_until(lambda: slow.holding, timeout=30, what="the slow MX holding a session")
    submit_to(s, "alice@localhost", ["three@fast.test"], "fast-only")
    helpers.wait_until(lambda: len(fast.received) == 2, timeout=30,
                       what=f"both messages at the fast MX; log: {s.log_text()[-1500:]}")
    assert slow.holding and slow.cuts == [], "the slow MX's session ended; it proves nothing"
    assert sorted(r for _, rcpts, _ in fast.received for r in rcpts) == \
        [b"RCPT TO:<three@fast.test>", b"RCPT TO:<two@fast.test>"]
    # The first message still waits for its slow domain.
    assert len(helpers.queue_files(s.queue_dir)) == 1


def test_relay_timeout_gives_up_on_a_next_hop_that_stops_answering(server, smarthost, build):
    # SPEC --relay-timeout: the wait for each reply (RFC 5321 §4.5.3.2); then
    # the attempt is over, temporary, and the next one goes through.
    h = smarthost(silent_at=["rcpt"])
    s = relay_server(server, h.port, "--relay-timeout", "2", "--retry-delay", "1")
    queue_id = submit_to(s, "alice@localhost", ["far@example.com"], "stalled")
    helpers.wait_until(lambda: h.cuts, timeout=25,
                       what=f"the stalled session given up; log: {s.log_text()[-1500:]}")
    helpers.wait_until(lambda: h.received, timeout=30,
                       what=f"delivery after the stalled session; log: {s.log_text()[-1500:]}")
    [(step, after)] = h.cuts
    assert step == "rcpt"
    # The timing is the feature: not before the timeout, and not the 300 s default.
    assert 1.5 <= after <= 20, f"the stalled session was given up after {after:.1f} s"
    helpers.wait_log_event(s, "relay", "deferred",
                           detail=rf"id={re.escape(queue_id)} .*attempt=1 reason=.*timeout")
    wait_queue_empty(s)
