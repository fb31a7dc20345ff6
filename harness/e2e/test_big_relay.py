"""A 20 MB message to a remote recipient goes out through the relay client
piece by piece from its queue file (SPEC "Relay client"): it arrives at the
smarthost byte for byte, and the server's peak memory grows by far less
than the message, on both builds. A bounce of such a message reads only its
header section (RFC 3464 reports quote text/rfc822-headers)."""

import re
import time

import pytest

import helpers
from conftest import free_port, RSS_BOUNDS_APPLY, record_result
from test_big_smtp import big_message
from test_relay import FakeSmarthost, relay_server

SIZE = 20 * 1024 * 1024
MAX_SIZE = "50000000"
HWM_LIMIT = 8 * 1024 * 1024  # the whole-message relay held the message two or three times


class BigSmarthost(FakeSmarthost):
    """The relay tests' smarthost, reading DATA in large chunks and keeping
    each message's un-stuffed text."""

    def __init__(self, address):
        self.data_seconds = []  # from the 354 to the final dot, per message
        super().__init__(address=address)

    def session(self, conn):
        conn.settimeout(30)
        buf = bytearray()

        def line():
            while b"\r\n" not in buf:
                chunk = conn.recv(65536)
                if not chunk:
                    raise EOFError
                buf.extend(chunk)
            end = buf.index(b"\r\n")
            out = bytes(buf[:end])
            del buf[: end + 2]
            return out

        def data():
            scanned = 0
            while True:
                if buf.startswith(b".\r\n"):
                    del buf[:3]
                    return b""
                at = buf.find(b"\r\n.\r\n", max(0, scanned - 4))
                if at >= 0:
                    out = bytes(buf[: at + 2])
                    del buf[: at + 5]
                    return out
                scanned = len(buf)
                chunk = conn.recv(1 << 20)
                if not chunk:
                    raise EOFError
                buf.extend(chunk)

        conn.sendall(b"220 big.smarthost ESMTP\r\n")
        mail_from, rcpts = None, []
        while True:
            cmd = line()
            verb = cmd[:4].upper()
            if verb == b"EHLO":
                conn.sendall(b"250-big.smarthost\r\n250-SIZE 100000000\r\n250 8BITMIME\r\n")
            elif verb == b"MAIL":
                mail_from, rcpts = cmd, []
                conn.sendall(b"250 2.1.0 ok\r\n")
            elif verb == b"RCPT":
                rcpts.append(cmd)
                conn.sendall(b"250 2.1.5 ok\r\n")
            elif verb == b"DATA":
                conn.sendall(b"354 go\r\n")
                start = time.monotonic()
                body = data()
                self.data_seconds.append(time.monotonic() - start)
                self.received.append((mail_from, rcpts, helpers.dot_unstuff(body)))
                conn.sendall(b"250 2.0.0 queued\r\n")
            elif verb == b"QUIT":
                conn.sendall(b"221 bye\r\n")
                return
            else:
                conn.sendall(b"250 ok\r\n")


@pytest.fixture
def big_smarthost(build):
    h = BigSmarthost("127.0.0.1" if build.loopback else "0.0.0.0")
    yield h
    h.close()


def submit(s, sender, rcpt, text: bytes):
    with s.smtp() as c:
        c.ehlo()
        assert c.cmd(f"MAIL FROM:<{sender}>")[0] == 250
        assert c.cmd(f"RCPT TO:<{rcpt}>")[0] == 250
        code, lines = c.cmd("DATA")
        assert code == 354, lines
        c.send(helpers.dot_stuff(text) + b".\r\n")
        code, lines = c.read_reply(timeout=120)
        assert code == 250, lines


def test_20mb_message_is_relayed_exact_with_bounded_memory(server, big_smarthost, build):
    h = big_smarthost
    s = relay_server(server, h.port, "--max-msg-size", MAX_SIZE, "--header-fill", "none")
    small = b"Subject: small\r\n\r\n.warm-up\r\n"
    submit(s, "alice@localhost", "far@example.com", small)  # warms the relay path up
    helpers.wait_until(lambda: h.received, timeout=15, what="the small message at the smarthost")
    assert h.received[0][2] == small
    helpers.wait_until(lambda: helpers.queue_files(s.queue_dir) == [], timeout=30, what="queue emptied")

    text = big_message(SIZE)
    peak = helpers.PeakRss(s.pid)
    start = time.monotonic()
    submit(s, "alice@localhost", "far@example.com", text)
    queued = time.monotonic()
    helpers.wait_until(lambda: len(h.received) == 2, timeout=120, what="the big message at the smarthost")
    relayed = time.monotonic()
    growth = peak.growth()
    mail_from, rcpts, got = h.received[1]
    assert b"<alice@localhost>" in mail_from and b"SIZE=%d" % len(text) in mail_from
    assert rcpts == [b"RCPT TO:<far@example.com>"]
    assert len(got) == len(text)
    assert got == text
    helpers.wait_until(lambda: helpers.queue_files(s.queue_dir) == [], timeout=30, what="queue emptied")
    seconds = h.data_seconds[1]
    record_result(f"e2e-big-relay [{build.name}]: 20 MB received in {queued - start:.2f} s, at the "
                  f"smarthost {relayed - queued:.2f} s later, its DATA in {seconds:.2f} s "
                  f"({len(text) / seconds / 1e6:.1f} MB/s), server peak RSS +{growth / 1024:.0f} KiB")
    if RSS_BOUNDS_APPLY:  # not in the sanitizer run (conftest)
        assert growth < HWM_LIMIT, f"peak RSS grew by {growth} bytes for a {len(text)}-byte relay"


def test_bounce_of_a_20mb_message_quotes_only_its_header(server, build):
    s = relay_server(server, free_port(), "--max-msg-size", MAX_SIZE, "--header-fill", "none",
                     "--retry-delay", "1", "--max-attempts", "1")
    text = big_message(SIZE)
    peak = helpers.PeakRss(s.pid)
    submit(s, "alice@localhost", "far@example.com", text)
    [dsn] = s.wait_messages("alice", 1, timeout=30)
    growth = peak.growth()
    head = text[: text.index(b"\r\n\r\n") + 4]
    assert re.search(rb"(?i)content-type:\s*text/rfc822-headers", dsn), dsn[:2000]
    assert head in dsn
    assert len(dsn) < 64 * 1024
    helpers.wait_until(lambda: helpers.queue_files(s.queue_dir) == [], timeout=30, what="queue emptied")
    record_result(f"e2e-big-bounce [{build.name}]: bounce of a 20 MB message, "
                  f"server peak RSS +{growth / 1024:.0f} KiB")
    if RSS_BOUNDS_APPLY:  # not in the sanitizer run (conftest)
        assert growth < HWM_LIMIT
