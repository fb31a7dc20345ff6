"""A client with Nagle's algorithm on (no TCP_NODELAY) that writes DATA in
small pieces sends the first piece at once and holds the rest until that
piece is acknowledged (RFC 896; RFC 9293 §3.7.4). No reply is due for a
line of the message body, so a server that delays its ACK (RFC 1122
§4.2.3.2, 40 ms) stalls every such message by the delayed-ACK time. The
DPDK engine learns from the SMTP machine that it is reading a body and
acknowledges a pushed segment there at once; the kernel build asks Linux
for a quick ACK (TCP_QUICKACK) after reading from a message body.

The median over 20 messages is printed for both builds; each must stay
well under the delayed-ACK time (both took 40-44 ms before)."""

import socket
import statistics
import time

from conftest import record_result

MESSAGES = 20
PIECE_GAP = 0.0002  # s between send() calls: later pieces find the first unacknowledged
BOUND_MS = 20.0  # half the delayed-ACK time: fails if a piece waits for it
REPLY_TIMEOUT = 5.0


def pieces(i: int) -> list[bytes]:
    """One message in six writes: header, blank line, three body lines, the final dot."""
    return [b"Subject: nagle %d\r\n" % i, b"\r\n", b"first line of the body\r\n",
            b"second line of the body\r\n", b"third line of the body\r\n", b".\r\n"]


class NagleClient:
    """A plain socket client, Nagle left on, reading CRLF replies."""

    def __init__(self, host: str, port: int):
        self.sock = socket.create_connection((host, port), timeout=REPLY_TIMEOUT)
        assert self.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
        self.buf = b""

    def reply(self) -> bytes:
        """One whole reply (multi-line replies end at 'NNN ')."""
        deadline = time.monotonic() + REPLY_TIMEOUT
        while True:
            lines = self.buf.split(b"\r\n")
            for n, line in enumerate(lines[:-1]):
                if len(line) >= 4 and line[3:4] == b" ":
                    end = sum(len(x) + 2 for x in lines[:n + 1])
                    text, self.buf = self.buf[:end], self.buf[end:]
                    return text
            assert time.monotonic() < deadline, f"no whole reply within {REPLY_TIMEOUT} s: {self.buf!r}"
            chunk = self.sock.recv(4096)
            assert chunk, f"connection closed; have {self.buf!r}"
            self.buf += chunk

    def command(self, line: bytes, code: bytes) -> None:
        self.sock.sendall(line + b"\r\n")
        got = self.reply()
        assert got.startswith(code), f"{line!r}: {got!r}"

    def message_in_pieces(self, i: int) -> tuple[float, float]:
        """Seconds from the first piece of the body to the 250, and of those
        the client's own pauses between pieces."""
        paused = 0.0
        start = time.monotonic()
        for n, piece in enumerate(pieces(i)):
            if n:
                before = time.monotonic()
                time.sleep(PIECE_GAP)
                paused += time.monotonic() - before
            self.sock.sendall(piece)
        got = self.reply()
        elapsed = time.monotonic() - start
        assert got.startswith(b"250 "), got
        return elapsed, paused

    def close(self):
        self.sock.close()


def median_latency_ms(server) -> tuple[float, float]:
    """Median ms per message over MESSAGES, and the median of the client's pauses."""
    c = NagleClient(server.host, server.smtp_port)
    try:
        assert c.reply().startswith(b"220 ")
        c.command(b"EHLO client.test", b"250")
        times, pauses = [], []
        for i in range(MESSAGES):
            c.command(b"MAIL FROM:<alice@client.test>", b"250")
            c.command(b"RCPT TO:<bob@e2e.test>", b"250")
            c.command(b"DATA", b"354")
            elapsed, paused = c.message_in_pieces(i)
            times.append(elapsed)
            pauses.append(paused)
        c.command(b"QUIT", b"221")
    finally:
        c.close()
    return statistics.median(times) * 1000, statistics.median(pauses) * 1000


def test_nagle_client_writing_data_in_six_pieces_is_not_held_by_delayed_acks(server, build):
    s = server("--sink")
    median_ms, paused_ms = median_latency_ms(s)
    record_result(f"e2e-nagle-data [{build.name}]: median {median_ms:.1f} ms per message over "
                  f"{MESSAGES} messages, DATA in six writes with Nagle on (the client's own "
                  f"pauses {paused_ms:.1f} ms of it)")
    assert median_ms < BOUND_MS, f"median {median_ms:.1f} ms: the body's pieces wait for delayed ACKs"
