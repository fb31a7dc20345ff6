"""Clients that try to exhaust the server (issue: back-pressure on replies).

- A connection that floods bare LFs and never reads: every LF is a command
  that earns a 500, so the replies must stay bounded (the server stops
  reading that connection while its unsent output is over the bound), and
  --send-timeout closes it; another client is served meanwhile.
- The same flood with the default --max-errors 20 ends by itself: 20
  500s, then 421 and the connection is closed.
- Slowloris: a command line sent one byte per 0.5 s never completes, so
  the idle timer (restarted by completed commands only) closes it.
"""

import errno
import select
import socket
import threading
import time

import helpers
import sanitizers
from conftest import record_result

FLOOD_BYTES = 30 * 1024 * 1024
FLOOD_SECONDS = 40.0        # the loop's bound in time
RSS_LIMIT = 16 * 1024 * 1024
SEND_TIMEOUT = 3


def flood_lf(host, port):
    """Sends up to FLOOD_BYTES of b"\\n" and never reads. Returns (bytes
    sent, seconds until the server reset the connection, or None)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # our replies back up soon
    sock.settimeout(10)
    sock.connect((host, port))
    sock.setblocking(False)
    chunk = b"\n" * 65536
    sent, start = 0, time.monotonic()
    try:
        while time.monotonic() - start < FLOOD_SECONDS:
            if sent < FLOOD_BYTES:
                _, writable, _ = select.select([], [sock], [], 0.2)
                if writable:
                    try:
                        sent += sock.send(chunk[: min(len(chunk), FLOOD_BYTES - sent)])
                    except BlockingIOError:
                        pass
                    except (ConnectionResetError, BrokenPipeError):
                        return sent, time.monotonic() - start
            else:
                time.sleep(0.2)
            if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) in (errno.ECONNRESET, errno.EPIPE):
                return sent, time.monotonic() - start
        return sent, None
    finally:
        sock.close()


def flood_lf_until_closed(host, port):
    """Sends b"\\n" (up to FLOOD_BYTES, for at most FLOOD_SECONDS) and reads
    the replies, until the server closes (its FIN or a reset). Returns
    (bytes sent, seconds until closed, or None)."""
    sock = socket.create_connection((host, port), timeout=10)
    sock.setblocking(False)
    chunk = b"\n" * 4096
    sent, start = 0, time.monotonic()
    try:
        while time.monotonic() - start < FLOOD_SECONDS:
            readable, writable, _ = select.select([sock], [sock] if sent < FLOOD_BYTES else [], [], 0.2)
            try:
                if readable and sock.recv(65536) == b"":
                    return sent, time.monotonic() - start
                if writable:
                    sent += sock.send(chunk)
            except BlockingIOError:
                pass
            except (ConnectionResetError, BrokenPipeError):
                return sent, time.monotonic() - start
        return sent, None
    finally:
        sock.close()


def normal_delivery(s, marker):
    with s.smtp() as c:
        c.ehlo()
        assert c.cmd("MAIL FROM:<a@example.org>")[0] == 250
        assert c.cmd("RCPT TO:<alice@e2e.test>")[0] == 250
        assert c.data(helpers.make_message(marker))[0] == 250
        assert c.cmd("QUIT")[0] == 221


def test_lf_flood_that_never_reads_is_bounded_and_closed_by_send_timeout(server, build):
    # --max-errors 0: the 500s would otherwise end the flood after 20.
    s = server("--send-timeout", str(SEND_TIMEOUT), "--smtp-idle-timeout", "60", "--max-errors", "0")
    normal_delivery(s, "warm-up")  # the store's paths touched before measuring
    peak = helpers.PeakRss(s.pid)
    result = {}
    flood = threading.Thread(target=lambda: result.update(zip(("sent", "closed"), flood_lf(s.host, s.smtp_port))))
    flood.start()
    time.sleep(1.0)
    normal_delivery(s, "meanwhile")  # another client is served while the flood is held
    flood.join(FLOOD_SECONDS + 15)
    assert not flood.is_alive()
    growth = peak.growth()
    s.wait_messages("alice", 2)
    record_result(f"e2e-hostile-lf-flood [{build.name}]: {result['sent'] / 1e6:.2f} MB of LF accepted, "
                  f"closed after {result['closed']} s, server peak RSS +{growth / 1024:.0f} KiB")
    helpers.wait_log_event(s, "smtp", "timeout", detail="send")
    assert result["closed"] is not None, "the flooding connection was never closed"
    # ASan's quarantine keeps freed replies resident: the bound shows only
    # in the plain build's RSS.
    if not sanitizers.is_sanitized(s.build.binary):
        assert growth < RSS_LIMIT, f"peak RSS grew by {growth} bytes"


def test_lf_flood_ends_by_itself_at_the_error_limit(server):
    """--max-errors (default 20, Postfix's smtpd_hard_error_limit): every
    LF earns a 500, and after 20 the server says 421 and closes, long
    before 30 MB; a client reading its replies sees exactly that."""
    s = server("--send-timeout", "60", "--smtp-idle-timeout", "60")
    sent, closed = flood_lf_until_closed(s.host, s.smtp_port)
    assert closed is not None and closed < 10, (sent, closed)
    assert sent < FLOOD_BYTES // 10, sent
    helpers.wait_log_event(s, "smtp", "refused", detail="reason=too many errors errors=20")
    with socket.create_connection((s.host, s.smtp_port), timeout=10) as sock:
        sock.sendall(b"\n" * 25)
        replies = b""
        while not replies.endswith(b"too many errors\r\n"):
            data = sock.recv(4096)
            if not data:
                break
            replies += data
        lines = replies.split(b"\r\n")
        assert lines[0].startswith(b"220 "), replies
        assert lines[1:21] == [b"500 Error: bad syntax"] * 20, replies
        assert lines[21] == b"421 e2e.test Error: too many errors", replies
        assert sock.recv(4096) == b""  # closed
    normal_delivery(s, "after")  # the server itself is fine


def test_slowloris_command_line_is_closed_by_idle_timeout(server):
    s = server("--smtp-idle-timeout", "2")
    with s.smtp() as c:
        start, closed = time.monotonic(), False
        for byte in b"NOOP NOOP NOOP NOOP NOOP NOOP":  # ~15 s at most, never an LF
            try:
                c.send(bytes([byte]))
                c.sock.settimeout(0.5)
                chunk = c.sock.recv(4096)
            except (socket.timeout, TimeoutError):
                continue
            except (ConnectionResetError, BrokenPipeError):
                closed = True
                break
            c.buf += chunk
            if not chunk or b"\n" in c.buf:
                closed = not chunk or c.is_closed_by_peer(timeout=3)
                break
        seconds = time.monotonic() - start
        assert c.buf.startswith(b"421"), c.buf
        assert closed
        assert seconds < 8, f"closed only after {seconds:.1f} s"


def test_completed_commands_keep_a_session_alive_past_the_idle_timeout(server):
    s = server("--smtp-idle-timeout", "2")
    with s.smtp() as c:
        for _ in range(5):  # 5 s in all, each command within the timeout
            time.sleep(1.0)
            assert c.cmd("NOOP")[0] == 250
        assert c.cmd("QUIT")[0] == 221
