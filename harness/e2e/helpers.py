"""Small helpers for the baremail end-to-end tests.

Line clients over raw sockets (for what smtplib/poplib cannot express),
readers for what the server stored (Maildir, mbox, queue), and the code
that strips the trace headers the server adds on delivery.

Every wait here is bounded in count and in time.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

IO_TIMEOUT = 10.0  # seconds, for any single socket operation
CRLF = b"\r\n"


# ---------------------------------------------------------------- waits


def wait_until(predicate, timeout=30.0, interval=0.05, what="condition"):
    """Poll `predicate` until truthy; returns its value or raises."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.1f} s waiting for {what}")


def port_accepts(host, port, timeout=0.5):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


# --------------------------------------------------------- line clients


class LineClient:
    """A raw TCP client that reads CRLF lines; every read is bounded."""

    def __init__(self, host, port, timeout=IO_TIMEOUT):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.timeout = timeout

    # -- output
    def send(self, data: bytes | str):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def send_line(self, line: bytes | str):
        if isinstance(line, str):
            line = line.encode()
        self.send(line + CRLF)

    # -- input
    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("read deadline passed")
        self.sock.settimeout(remaining)
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed by server")
        self.buf += chunk

    def read_line(self, timeout=None) -> bytes:
        """One line without its CRLF. Raises EOFError on close."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while b"\n" not in self.buf:
            self._fill(deadline)
        line, _, self.buf = self.buf.partition(b"\n")
        return line[:-1] if line.endswith(b"\r") else line

    def read_line_str(self, timeout=None) -> str:
        return self.read_line(timeout).decode("utf-8", "replace")

    def read_until_closed(self, timeout=None) -> bytes:
        """Everything until the server closes (bounded)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        try:
            while True:
                self._fill(deadline)
        except EOFError:
            pass
        except ConnectionResetError:
            pass
        data, self.buf = self.buf, b""
        return data

    def is_closed_by_peer(self, timeout=2.0) -> bool:
        """True if the server closed (EOF or RST) within `timeout`, ignoring data."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                self._fill(deadline)
                self.buf = b""
        except (EOFError, ConnectionResetError):
            return True
        except (socket.timeout, TimeoutError):
            return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def reset(self):
        """Abort the connection with RST (SO_LINGER 0)."""
        import struct

        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        finally:
            self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class SmtpClient(LineClient):
    """Raw SMTP: replies as (code, [text lines]); keeps the raw lines too."""

    def read_reply(self, timeout=None):
        lines = []
        for _ in range(1000):  # bounded: no reply has 1000 lines
            line = self.read_line_str(timeout)
            lines.append(line)
            if len(line) < 4 or line[3] != "-":
                break
        code = int(lines[-1][:3]) if lines[-1][:3].isdigit() else -1
        self.last_lines = lines
        return code, lines

    def cmd(self, line, timeout=None):
        self.send_line(line)
        return self.read_reply(timeout)

    def greeting(self):
        code, lines = self.read_reply()
        assert code == 220, lines
        return lines

    def ehlo(self, name="client.test"):
        code, lines = self.cmd(f"EHLO {name}")
        assert code == 250, lines
        return lines

    def helo(self, name="client.test"):
        code, lines = self.cmd(f"HELO {name}")
        assert code == 250, lines
        return lines

    def data(self, body: bytes, stuff=True):
        """DATA + body (CRLF lines, dot-stuffed here unless stuff=False) + '.'."""
        code, lines = self.cmd("DATA")
        if code != 354:
            return code, lines
        if stuff:
            body = dot_stuff(body)
        if body and not body.endswith(CRLF):
            body += CRLF
        self.send(body + b"." + CRLF)
        return self.read_reply(timeout=30)


class Pop3Client(LineClient):
    def cmd(self, line, timeout=None) -> str:
        self.send_line(line)
        return self.read_line_str(timeout)

    def read_multiline_raw(self, timeout=None) -> bytes:
        """The raw octets of a multi-line answer after its status line, up to
        and excluding the terminating '.CRLF' (still dot-stuffed)."""
        deadline = time.monotonic() + (timeout or 30.0)
        while True:
            if self.buf.startswith(b".\r\n"):
                self.buf = self.buf[3:]
                return b""
            idx = self.buf.find(b"\r\n.\r\n")
            if idx >= 0:
                data = self.buf[: idx + 2]
                self.buf = self.buf[idx + 5 :]
                return data
            self._fill(deadline)

    def multiline(self, line, timeout=None):
        """Send a command with a multi-line answer: (status, raw stuffed body)."""
        status = self.cmd(line, timeout)
        if not status.startswith("+OK"):
            return status, None
        return status, self.read_multiline_raw(timeout)

    def login(self, user, password):
        r = self.cmd(f"USER {user}")
        assert r.startswith("+OK"), r
        r = self.cmd(f"PASS {password}")
        assert r.startswith("+OK"), r
        return r


def dot_stuff(body: bytes) -> bytes:
    """RFC 5321 §4.5.2 / RFC 1939: a line beginning with '.' gets one more."""
    out = []
    for line in body.split(CRLF):
        out.append(b"." + line if line.startswith(b".") else line)
    return CRLF.join(out)


def dot_unstuff(body: bytes) -> bytes:
    out = []
    for line in body.split(CRLF):
        out.append(line[1:] if line.startswith(b".") else line)
    return CRLF.join(out)


def apop_digest(greeting: str, password: str) -> str:
    m = re.search(r"<[^<>]*@[^<>]*>", greeting)
    assert m, f"POP3 greeting has no <...@host> timestamp: {greeting!r}"
    return hashlib.md5((m.group(0) + password).encode()).hexdigest()


# ------------------------------------------------------------- messages


def make_message(marker: str, body_lines=(), extra_headers=(), date=True, message_id=True) -> bytes:
    """A CRLF message with Date and Message-ID (so the server adds only
    Received:) and a unique marker in a header and in the body."""
    head = [
        b"From: Sender <sender@client.test>",
        b"To: alice@localhost",
        f"Subject: e2e {marker}".encode(),
    ]
    if date:
        head.append(b"Date: Mon, 01 Jan 2024 00:00:00 +0000")
    if message_id:
        head.append(f"Message-ID: <{marker}@client.test>".encode())
    head.append(f"X-E2E-Marker: {marker}".encode())
    head.extend(h if isinstance(h, bytes) else h.encode() for h in extra_headers)
    body = [f"marker {marker}".encode()]
    body.extend(l if isinstance(l, bytes) else l.encode() for l in body_lines)
    return CRLF.join(head) + CRLF + CRLF + CRLF.join(body) + CRLF


def split_header(message: bytes):
    """(list of header fields, each with its folded continuation lines and
    without the final CRLF; body bytes after the blank line)."""
    head, sep, body = message.partition(b"\r\n\r\n")
    if not sep:
        return [], message
    fields = []
    for line in head.split(CRLF):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += CRLF + line
        else:
            fields.append(line)
    return fields, body


def field_name(field: bytes) -> str:
    return field.split(b":", 1)[0].strip().lower().decode("latin-1")


def strip_received(stored: bytes) -> tuple[bytes, list[bytes]]:
    """Remove the Received: fields the server prepended (at the very top).
    Returns (the rest, exactly as stored; the removed fields)."""
    removed = []
    rest = stored
    for _ in range(100):
        if not rest[:9].lower() == b"received:":
            break
        # The field ends at the first CRLF not followed by whitespace.
        end = 0
        while True:
            nl = rest.find(CRLF, end)
            if nl < 0:
                return rest, removed
            end = nl + 2
            if rest[end : end + 1] not in (b" ", b"\t"):
                break
        removed.append(rest[: end - 2])
        rest = rest[end:]
    return rest, removed


# --------------------------------------------------------------- stores


def maildir_files(mail_dir, user, subdirs=("new", "cur")) -> list[Path]:
    out = []
    for sub in subdirs:
        d = Path(mail_dir) / user / sub
        if d.is_dir():
            out.extend(sorted(p for p in d.iterdir() if p.is_file()))
    return out


def maildir_messages(mail_dir, user) -> list[bytes]:
    """All delivered messages of a Maildir user (new/ and cur/, never tmp/)."""
    return [p.read_bytes() for p in maildir_files(mail_dir, user)]


_MBOX_FROM = re.compile(rb"^From \S+ ", re.M)


def mbox_messages(path) -> list[bytes]:
    """Split an mbox into its messages (separator lines removed, contents as
    stored, i.e. still >From-quoted). Accepts LF or CRLF line ends."""
    data = Path(path).read_bytes()
    if not data:
        return []
    starts = [m.start() for m in _MBOX_FROM.finditer(data)
              if m.start() == 0 or data[max(0, m.start() - 2) : m.start()] in (b"\n\n", b"\r\n")
              or data[max(0, m.start() - 4) : m.start()] == b"\r\n\r\n"]
    msgs = []
    for i, s in enumerate(starts):
        e = starts[i + 1] if i + 1 < len(starts) else len(data)
        chunk = data[s:e]
        msgs.append(chunk.split(b"\n", 1)[1] if b"\n" in chunk else b"")
    return msgs


def queue_files(queue_dir) -> list[Path]:
    """The queued messages: QUEUE/<name> files (store/queue.hpp). QUEUE/tmp
    holds files being written (a new message, or the relay client rewriting
    one's state) that are not queue entries until renamed into place."""
    d = Path(queue_dir)
    if not d.is_dir():
        return []
    return sorted(p for p in d.iterdir() if p.is_file() and not p.name.startswith("."))


def spool_files(queue_dir) -> list[Path]:
    """Spools: the octets of messages still being received (QUEUE/tmp/.spool.*)."""
    d = Path(queue_dir) / "tmp"
    if not d.is_dir():
        return []
    return sorted(p for p in d.iterdir() if p.name.startswith(".spool."))


def mount_tmpfs(path, size) -> str | None:
    """A tmpfs of `size` at `path` (root only); the error text if it cannot be mounted."""
    Path(path).mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                       capture_output=True, text=True)
    return None if r.returncode == 0 else (r.stderr.strip() or "mount failed")


def umount(path):
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


# ------------------------------------------------------------- processes


def fd_count(pid) -> int | None:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def pid_alive(pid) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0).
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


class PeakRss:
    """How much a process's peak RSS grew from here: the peak is reset to
    the current RSS (clear_refs 5, Linux >= 4.0), growth() reads VmHWM."""

    def __init__(self, pid: int):
        self.pid = pid
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        self.base = _status_kib(pid, "VmRSS")

    def growth(self) -> int:
        """Bytes the peak RSS rose above the RSS at the start."""
        return (_status_kib(self.pid, "VmHWM") - self.base) * 1024


def counter_report(s, timeout=20.0) -> dict[str, int]:
    """The counters of a running DPDK build (`name value` lines), from the
    report SIGUSR1 makes it print on stderr: waits (bounded) for a report
    newer than any before the signal, complete up to its last counter."""
    before = s.stderr.count("baremail counters")
    s.send_signal(signal.SIGUSR1)

    def report():
        text = s.stderr
        if text.count("baremail counters") <= before:
            return None
        last = text.rsplit("baremail counters", 1)[1]
        return last if "ethdev.rx_nombuf" in last else None

    last = wait_until(report, timeout=timeout, what="counter report after SIGUSR1")
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\S+) (\d+)$", last, re.M)}


# ------------------------------------------------------- server events
#
# "Nothing was stored" can only be checked once the server is known to be
# done with the input. These helpers wait for what proves it: a line of the
# server's event log (`time service peer event detail`, README "Log
# format"; stderr unless --log), or a later message through the same store
# (see deliver_barrier). Their bounds are generous: a loaded 2-core machine
# makes them slower, never wrong.

EVENT_TIMEOUT = 30.0
_EVENT = re.compile(r"^\S+ (\S+) (\S+) (\S+)(?: (.*))?$")


def log_events(s, service=None, peer=None, event=None) -> list[tuple[str, str, str, str]]:
    """(service, peer, event, detail) of every log line of server `s` that
    matches the given fields."""
    out = []
    for line in s.log_text().splitlines():
        m = _EVENT.match(line)
        if not m:
            continue
        fields = (m.group(1), m.group(2), m.group(3), m.group(4) or "")
        if ((service is None or fields[0] == service) and (peer is None or fields[1] == peer)
                and (event is None or fields[2] == event)):
            out.append(fields)
    return out


def wait_log_event(s, service, event, peer=None, detail=None, count=1, timeout=EVENT_TIMEOUT):
    """The first `count` matching events (detail: a regex searched in the
    detail), waiting for them; raises with the log's tail if they do not come."""

    def found():
        hits = [e for e in log_events(s, service, peer, event)
                if detail is None or re.search(detail, e[3])]
        return hits[:count] if len(hits) >= count else None

    try:
        return wait_until(found, timeout=timeout, what=f"{service} {peer or '*'} {event}")
    except AssertionError as e:
        raise AssertionError(f"{e}; log tail:\n{s.log_text()[-2000:]}") from None


def client_peer(client) -> str:
    """How the server names this client's connection in its log: ip:port."""
    ip, port = client.sock.getsockname()[:2]
    return f"{ip}:{port}"


def wait_session_end(s, service, peer, timeout=EVENT_TIMEOUT):
    """Until the server logged the end (disconnect) of the session from `peer`."""
    return wait_log_event(s, service, "disconnect", peer=peer, timeout=timeout)


def wait_sessions_closed(s, service, opened_at_least=1, timeout=EVENT_TIMEOUT):
    """Until the server has logged at least `opened_at_least` sessions of
    `service` as opened and every one of them as closed (e.g. the readiness
    probe of each port of a fresh server: one session per port)."""

    def balanced():
        events = log_events(s, service)
        opened = sum(1 for e in events if e[2] == "connect")
        closed = sum(1 for e in events if e[2] == "disconnect")
        return opened >= opened_at_least and opened == closed

    wait_until(balanced, timeout=timeout, what=f"every {service} session closed")


def deliver_barrier(s, rcpt="bob@localhost", marker="barrier") -> bytes:
    """Send one valid message to `rcpt` and return once it is acknowledged.

    A barrier for "nothing else was stored": the 250 after DATA means the
    message is on disk (SPEC), and the store's I/O worker runs its requests
    in the order they were submitted, so anything the server submitted for
    earlier input (a delivery that should not happen, a bounce) has reached
    the disk before this 250 is sent. Call it once the earlier input is known
    to be finished with (its session's end logged, its queue file gone)."""
    message = make_message(marker)
    with SmtpClient(s.host, s.smtp_port) as c:
        c.greeting()
        c.ehlo()
        assert c.cmd("MAIL FROM:<sender@client.test>")[0] == 250
        code, lines = c.cmd(f"RCPT TO:<{rcpt}>")
        assert code == 250, lines
        code, lines = c.data(message)
        assert code == 250, lines
        c.cmd("QUIT")
    return message
