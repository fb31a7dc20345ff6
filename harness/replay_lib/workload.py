"""What each client of the workload says, and exactly what the server must
answer: SMTP (against --sink) and POP3 (against a prepared maildrop).

A session is a list of steps, each a client segment (the commands a
client sends before it waits) and the replies that segment draws. The
reply texts are those of apps/smtp_server.cpp and apps/pop3_server.cpp for
the options harness/replay starts the server with (--hostname,
--max-msg-size). Two things in them are known only when the server runs:
its instance tag (8 hex digits of its start time and its pid in hex, in SMTP
queue ids and the POP3 greeting) and the POP3 greeting's clock reading;
they are Wild pieces of a known length, so every ACK number is exact, and
the check takes the tag from the output and requires it to be one tag
throughout.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Wild:
    """Octets known only by their form: 'tag' (upper-case hex, the same in
    every session) or 'digits' (decimal)."""
    kind: str
    length: int


Piece = bytes | Wild


@dataclass
class Reply:
    pieces: list[Piece]
    store: bool = False  # the server answers after a store round trip
    closes: bool = False  # the server's FIN follows it

    def length(self) -> int:
        return sum(p.length if isinstance(p, Wild) else len(p) for p in self.pieces)


@dataclass
class Step:
    data: bytes
    replies: list[Reply] = field(default_factory=list)
    fin: bool = False  # the client's FIN rides on this segment


@dataclass(frozen=True)
class Settings:
    protocol: str = "smtp"
    size: int = 1024
    pipelining: bool = False
    hostname: str = "mx.replay.test"
    max_msg_size: int = 10485760
    tag_length: int = 12  # 8 hex digits of the start time + the pid in hex
    password: str = "secret"


def line(text: str) -> bytes:
    return text.encode() + b"\r\n"


def message_text(number: int, size: int) -> bytes:
    """A message of exactly `size` octets of CRLF lines, none starting with
    a dot (so neither side stuffs), ending in CRLF."""
    head = (f"From: <client@client.test>\r\nTo: <user@replay.test>\r\nSubject: replay {number}\r\n"
            f"Message-ID: <{number}@client.test>\r\n\r\n").encode()
    if size < len(head):
        raise ValueError(f"a message of {size} octets cannot hold its header ({len(head)} octets)")
    row = b"the quick brown fox jumps over the lazy dog 0123456789 abcdefghij\r\n"
    rows, left = divmod(size - len(head), len(row))
    text = head + row * rows
    if left:  # one shorter row (at least its CRLF)
        text += b"x" * (left - 2) + b"\r\n" if left >= 2 else b""
        if left == 1:  # no room for a row of its own: lengthen the last
            text = text[:-2] + b"x\r\n"
    return text


def rows_valid(text: bytes) -> bool:
    return all(not row.startswith(b".") and b"\r" not in row for row in text.split(b"\r\n"))


# ---------------------------------------------------------------- SMTP

def smtp_steps(s: Settings, number: int, connection: int) -> list[Step]:
    """A client of RFC 5321 §3.3 (with RFC 2920 groups when pipelining):
    EHLO, one transaction of one message to one local recipient, QUIT."""
    host = s.hostname
    greeting = Reply([line(f"220 {host} ESMTP baremail")])
    ehlo = Reply([line(f"250-{host}"), line("250-PIPELINING"), line(f"250-SIZE {s.max_msg_size}"),
                  line("250-8BITMIME"), line("250-ENHANCEDSTATUSCODES"), line("250 HELP")])
    mail_ok = Reply([line("250 2.1.0 Ok")])
    rcpt_ok = Reply([line("250 2.1.5 Ok")], store=True)  # LookupUser
    go_ahead = Reply([line("354 End data with <CR><LF>.<CR><LF>")])
    queued = Reply([b"250 2.0.0 Ok: queued as ", Wild("tag", s.tag_length), f".{connection:x}.1\r\n".encode()],
                   store=True)  # Deliver
    bye = Reply([line("221 2.0.0 Bye")], closes=True)
    client = number
    commands = [line(f"EHLO client{client}.test"), line(f"MAIL FROM:<client{client}@client.test>"),
                line(f"RCPT TO:<user{client}@{host}>"), line("DATA")]
    text = message_text(number, s.size) + b".\r\n"  # RFC 5321 §4.1.1.4
    if s.pipelining:
        # RFC 2920 §3.1: DATA ends a group; the message may open the next,
        # which QUIT ends.
        steps = [Step(b"", [greeting]), Step(commands[0], [ehlo]),
                 Step(b"".join(commands[1:]), [mail_ok, rcpt_ok, go_ahead]),
                 Step(text + line("QUIT"), [queued, bye])]
    else:
        steps = [Step(b"", [greeting]), Step(commands[0], [ehlo]), Step(commands[1], [mail_ok]),
                 Step(commands[2], [rcpt_ok]), Step(commands[3], [go_ahead]), Step(text, [queued]),
                 Step(line("QUIT"), [bye])]
    steps.append(Step(b"", [], fin=True))
    return steps


# ---------------------------------------------------------------- POP3

def pop3_user(number: int) -> str:
    return f"user{number}"


def pop3_steps(s: Settings, number: int, connection: int) -> list[Step]:
    """RFC 1939: USER/PASS, RETR of the one message, QUIT (nothing deleted);
    pipelined (RFC 2449 §6.6) in two groups."""
    host = s.hostname
    text = message_text(number, s.size)
    greeting = Reply([b"+OK baremail POP3 ready <", Wild("tag", s.tag_length), f".{connection}.".encode(),
                      Wild("digits", 10), f"@{host}>\r\n".encode()])
    user_ok = Reply([line("+OK")])
    logged_in = Reply([line(f"+OK Logged in, 1 messages ({s.size} octets)")], store=True)  # OpenMaildrop
    retr = Reply([line(f"+OK {s.size} octets"), text, b".\r\n"], store=True)  # ReadMessage
    bye = Reply([line("+OK baremail POP3 server signing off (1 messages left)")], store=True,
                closes=True)  # CloseMaildrop
    commands = [line(f"USER {pop3_user(number)}"), line(f"PASS {s.password}"), line("RETR 1"), line("QUIT")]
    if s.pipelining:
        steps = [Step(b"", [greeting]), Step(commands[0] + commands[1], [user_ok, logged_in]),
                 Step(commands[2] + commands[3], [retr, bye])]
    else:
        steps = [Step(b"", [greeting]), Step(commands[0], [user_ok]), Step(commands[1], [logged_in]),
                 Step(commands[2], [retr]), Step(commands[3], [bye])]
    steps.append(Step(b"", [], fin=True))
    return steps


SERVICE_PORT = {"smtp": 2500, "pop3": 11000}


def session_steps(s: Settings, number: int, connection: int) -> list[Step]:
    return (smtp_steps if s.protocol == "smtp" else pop3_steps)(s, number, connection)
