"""A 10 MB POP3 RETR streams from the store: the bytes arrive exact, and the
server's peak memory grows by far less than the message (SPEC POP3; the
store is read piece by piece as the connection drains), on both builds."""

import socket
import time
from pathlib import Path

import pytest

import helpers
from conftest import RSS_BOUNDS_APPLY, record_result

SIZE = 10 * 1024 * 1024
HWM_LIMIT = 4 * 1024 * 1024  # the old whole-message path held > 20 MB


def big_message() -> bytes:
    """~10 MB of CRLF lines; every ninth starts with a dot (stuffed on the wire)."""
    lines = [b"Subject: big\r\n", b"Message-ID: <big@e2e.test>\r\n", b"\r\n"]
    size = sum(map(len, lines))
    i = 0
    while size < SIZE:
        line = (b"." if i % 9 == 0 else b"") + b"line %d of a big message, filler filler filler\r\n" % i
        lines.append(line)
        size += len(line)
        i += 1
    return b"".join(lines)


def stuffed(text: bytes) -> bytes:
    return text.replace(b"\r\n.", b"\r\n..")  # no line of ours starts the text with "."


def put_in_maildir(mail_dir: Path, user: str, text: bytes, name: str):
    """As another delivery agent would: tmp, then new, with the size in the name."""
    tmp = mail_dir / user / "tmp" / name
    tmp.write_bytes(text)
    tmp.rename(mail_dir / user / "new" / f"{name},S={len(text)}")



class Reader:
    """A POP3 client for big answers: scans only new bytes for the terminator."""

    def __init__(self, host, port, rcvbuf=None):
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(30)
        self.sock.connect((host, port))
        self.buf = bytearray()

    def line(self) -> bytes:
        while b"\r\n" not in self.buf:
            self.fill()
        end = self.buf.index(b"\r\n")
        out = bytes(self.buf[:end])
        del self.buf[: end + 2]
        return out

    def fill(self, size=262144):
        chunk = self.sock.recv(size)
        if not chunk:
            raise EOFError("closed by server")
        self.buf += chunk

    def cmd(self, line: str) -> bytes:
        self.sock.sendall(line.encode() + b"\r\n")
        return self.line()

    def multiline(self, pause_every=0, pause=0.0) -> bytes:
        """The stuffed body up to the terminator; optionally a slow reader."""
        scanned, got = 0, 0
        while True:
            at = self.buf.find(b"\r\n.\r\n", max(0, scanned - 4))
            if at >= 0:
                out = bytes(self.buf[: at + 2])
                del self.buf[: at + 5]
                return out
            scanned = len(self.buf)
            before = len(self.buf)
            self.fill()
            got += len(self.buf) - before
            if pause_every and got >= pause_every:
                got = 0
                time.sleep(pause)


def retr(s, text, **slow):
    """Logs in, RETRs message 1 pipelined with NOOP; returns (body, seconds, HWM growth)."""
    r = Reader(s.host, s.pop3_port, rcvbuf=65536 if slow else None)
    assert r.line().startswith(b"+OK")
    assert r.cmd("USER alice").startswith(b"+OK")
    assert r.cmd("PASS alice-pw").startswith(b"+OK")
    status, small = r.cmd("RETR 2"), r.multiline()  # warms the path up before measuring
    assert status.startswith(b"+OK") and small == b"Subject: small\r\n\r\nhello\r\n"
    peak = helpers.PeakRss(s.pid)
    start = time.monotonic()
    r.sock.sendall(b"RETR 1\r\nNOOP\r\n")
    status = r.line()
    body = r.multiline(**slow)
    seconds = time.monotonic() - start
    assert r.line() == b"+OK"  # the pipelined NOOP, after the terminator
    growth = peak.growth()
    assert r.cmd("QUIT").startswith(b"+OK")
    r.sock.close()
    assert status == b"+OK %d octets" % len(text), status
    return body, seconds, growth


@pytest.fixture
def big(server):
    s = server("--header-fill", "none", start=False)
    text = big_message()
    put_in_maildir(s.mail_dir, "alice", text, "1700000000.M1P1.big")
    put_in_maildir(s.mail_dir, "alice", b"Subject: small\r\n\r\nhello\r\n", "1700000001.M1P1.small")
    s.start()
    return s, text


def test_10mb_retr_streams_exact_with_bounded_memory(big, build):
    s, text = big
    body, seconds, growth = retr(s, text)
    assert len(body) == len(stuffed(text))
    assert body == stuffed(text)
    record_result(f"e2e-big-retr [{build.name}]: 10 MB RETR in {seconds:.2f} s "
                  f"({len(body) / seconds / 1e6:.1f} MB/s), server peak RSS +{growth / 1024:.0f} KiB")
    if RSS_BOUNDS_APPLY:  # not in the sanitizer run (conftest)
        assert growth < HWM_LIMIT, f"peak RSS grew by {growth} bytes for a {len(text)}-byte RETR"


def test_10mb_retr_to_a_slow_reader_waits_without_buffering(big, build):
    s, text = big
    body, seconds, growth = retr(s, text, pause_every=1024 * 1024, pause=0.2)
    assert body == stuffed(text)
    record_result(f"e2e-big-retr-slow [{build.name}]: 10 MB RETR to a reader pausing 0.2 s "
                  f"per MiB in {seconds:.2f} s, server peak RSS +{growth / 1024:.0f} KiB")
    if RSS_BOUNDS_APPLY:  # not in the sanitizer run (conftest)
        assert growth < HWM_LIMIT


def test_top_of_a_10mb_message_reads_only_its_head(big):
    s, text = big
    r = Reader(s.host, s.pop3_port)
    assert r.line().startswith(b"+OK")
    assert r.cmd("USER alice").startswith(b"+OK")
    assert r.cmd("PASS alice-pw").startswith(b"+OK")
    assert r.cmd("TOP 1 2") == b"+OK"
    head = text[: text.index(b"\r\n\r\n") + 4]
    rest = text[len(head):].split(b"\r\n")
    assert r.multiline() == stuffed(head + b"\r\n".join(rest[:2]) + b"\r\n")
    r.sock.close()
