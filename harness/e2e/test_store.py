"""SPEC "Storage" and header fill: what lands on disk, byte by byte."""

import email.utils
import os
import re
import smtplib
import time
from pathlib import Path

import pytest

import helpers
from helpers import CRLF


def deliver(s, msg: bytes, rcpts=("alice@localhost",), sender="sender@client.test"):
    with s.smtp() as c:
        c.ehlo()
        assert c.cmd(f"MAIL FROM:<{sender}>")[0] == 250
        for r in rcpts:
            assert c.cmd(f"RCPT TO:<{r}>")[0] == 250
        code, lines = c.data(msg)
        assert code == 250, lines
        c.cmd("QUIT")
    return lines


# ---------------------------------------------------------- header fill


def test_received_is_prepended_and_rest_is_byte_exact(server):
    s = server()
    msg = helpers.make_message("received", body_lines=["x" * 500, "", "  indented", "tail"])
    deliver(s, msg)
    [stored] = s.wait_messages("alice", 1)
    rest, removed = helpers.strip_received(stored)
    assert len(removed) == 1, stored[:600]
    assert rest == msg, "message after the Received: field differs from what was sent"
    rcv = removed[0].decode()
    assert s.hostname in rcv, rcv
    assert "client.test" in rcv or s.client_ip in rcv, rcv  # from whom
    # RFC 5322: the date-time after the last ';' parses.
    assert ";" in rcv and email.utils.parsedate_tz(rcv.rsplit(";", 1)[1].strip()), rcv


def test_received_names_the_queue_id_given_in_the_250_reply(server):
    s = server()
    lines = deliver(s, helpers.make_message("qid"))
    [stored] = s.wait_messages("alice", 1)
    _, [rcv] = helpers.strip_received(stored)
    words = set(re.findall(r"[A-Za-z0-9.\-]{6,}", lines[-1]))
    assert any(w in rcv.decode() for w in words if not w.startswith("2.")), (lines, rcv)


def test_date_and_message_id_added_when_missing(server):
    s = server()
    msg = helpers.make_message("nodate", date=False, message_id=False)
    deliver(s, msg)
    [stored] = s.wait_messages("alice", 1)
    fields, body = helpers.split_header(stored)
    names = [helpers.field_name(f) for f in fields]
    assert names.count("date") == 1, names
    assert names.count("message-id") == 1, names
    assert names[0] == "received", names
    date = fields[names.index("date")].split(b":", 1)[1].strip().decode()
    assert email.utils.parsedate_tz(date), date
    mid = fields[names.index("message-id")].split(b":", 1)[1].strip().decode()
    assert re.fullmatch(r"<[^<>@\s]+@[^<>@\s]+>", mid), mid
    assert mid.endswith(f"@{s.hostname}>"), f"Message-ID {mid} should name {s.hostname}"
    # Everything the client sent is there, in order, unchanged.
    sent_fields, sent_body = helpers.split_header(msg)
    kept = [f for f, n in zip(fields, names) if n not in ("received", "date", "message-id")]
    assert kept == sent_fields
    assert body == sent_body


def test_message_ids_are_unique(server):
    s = server()
    for i in range(3):
        deliver(s, helpers.make_message(f"mid-{i}", message_id=False))
    msgs = s.wait_messages("alice", 3)
    ids = set()
    for m in msgs:
        fields, _ = helpers.split_header(m)
        ids |= {f for f in fields if helpers.field_name(f) == "message-id"}
    assert len(ids) == 3


def test_existing_date_and_message_id_are_kept_not_duplicated(server):
    s = server()
    msg = helpers.make_message("hasdate")
    deliver(s, msg)
    [stored] = s.wait_messages("alice", 1)
    fields, _ = helpers.split_header(stored)
    names = [helpers.field_name(f) for f in fields]
    assert names.count("date") == 1 and names.count("message-id") == 1, names
    assert b"Message-ID: <hasdate@client.test>" in fields


def test_header_fill_none_stores_exactly_what_was_sent(server):
    s = server("--header-fill", "none")
    msg = helpers.make_message("fill-none", date=False, message_id=False,
                               body_lines=[".dot", "", "last"])
    deliver(s, msg)
    assert s.wait_messages("alice", 1) == [msg]


def test_header_fill_all_is_the_default_and_explicit(server):
    s = server("--header-fill", "all")
    msg = helpers.make_message("fill-all", date=False, message_id=False)
    deliver(s, msg)
    [stored] = s.wait_messages("alice", 1)
    names = [helpers.field_name(f) for f in helpers.split_header(stored)[0]]
    assert {"received", "date", "message-id"} <= set(names)


def test_message_without_header_section_gets_fill(server):
    """A client may send a body with no header at all; the stored message
    must still be a valid RFC 5322 message ending with the client's text."""
    s = server()
    msg = b"just a line of text\r\nand another\r\n"
    deliver(s, msg)
    [stored] = s.wait_messages("alice", 1)
    assert stored.endswith(msg)
    names = [helpers.field_name(f) for f in helpers.split_header(stored)[0]]
    assert "received" in names and "date" in names and "message-id" in names


# ---------------------------------------------------------------- Maildir


def test_maildir_delivery_goes_to_new_with_size_suffix(server):
    s = server()
    deliver(s, helpers.make_message("size-suffix", body_lines=["y" * 1000]))
    [path] = helpers.wait_until(lambda: helpers.maildir_files(s.mail_dir, "alice", ("new",)),
                                timeout=20, what="file in new/")
    m = re.search(r",S=(\d+)$", path.name)
    assert m, f"Maildir name {path.name!r} does not end in ,S=<size>"
    assert int(m.group(1)) == path.stat().st_size, (path.name, path.stat().st_size)
    assert list((s.mail_dir / "alice" / "tmp").iterdir()) == []


def test_maildir_names_are_unique(server):
    s = server()
    with smtplib.SMTP(s.host, s.smtp_port, timeout=10) as c:
        for i in range(20):
            c.sendmail("sender@client.test", ["alice@localhost"], helpers.make_message(f"u{i}"))
    files = helpers.maildir_files(s.mail_dir, "alice")
    assert len(files) == 20 and len({f.name for f in files}) == 20


def test_user_name_is_case_insensitive_for_rcpt(server):
    s = server()
    deliver(s, helpers.make_message("case"), rcpts=("Alice@LocalHost",))
    assert len(s.wait_messages("alice", 1)) == 1


# ------------------------------------------------------------------- mbox


def test_mbox_delivery_appends_with_from_line_and_quoting(server):
    s = server(users={"carol": "carol-pw"}, mbox_users=("carol",))
    msg = helpers.make_message("mbox", body_lines=["From the start of a line", "not From here",
                                                    "From: looks like a header"])
    deliver(s, msg, rcpts=("carol@localhost",))
    deliver(s, helpers.make_message("mbox-2"), rcpts=("carol@localhost",))
    mbox = s.mail_dir / "carol.mbox"
    data = helpers.wait_until(lambda: (lambda d: d if d.count(b"marker mbox-2") else None)(
        mbox.read_bytes()), timeout=20, what="two messages in the mbox")
    assert re.match(rb"From \S+ ", data), data[:80]
    assert re.search(rb"(?m)^>From the start of a line\r?$", data), data
    assert not re.search(rb"(?m)^From the start", data)
    assert re.search(rb"(?m)^not From here\r?$", data)
    msgs = helpers.mbox_messages(mbox)
    assert len(msgs) == 2
    assert not (s.mail_dir / "carol.mbox.lock").exists(), "dotlock left behind"
    assert not (s.mail_dir / "carol").exists(), "mbox user must not get a Maildir"


def pop3_retr_all(s, user, password):
    with s.pop3() as p:
        p.login(user, password)
        stat = p.cmd("STAT").split()
        out = []
        for i in range(1, int(stat[1]) + 1):
            status, raw = p.multiline(f"RETR {i}")
            assert status.startswith("+OK"), status
            out.append(helpers.dot_unstuff(raw))
        p.cmd("QUIT")
    return out


def test_mbox_message_reads_back_byte_exact_over_pop3(server):
    s = server(users={"carol": "carol-pw"}, mbox_users=("carol",))
    msg = helpers.make_message("mbox-rt", body_lines=["From quoted on disk", ".leading dot",
                                                       "", "From ", "last line"])
    deliver(s, msg, rcpts=("carol@localhost",))
    deliver(s, helpers.make_message("mbox-rt-2"), rcpts=("carol@localhost",))
    helpers.wait_until(lambda: b"mbox-rt-2" in (s.mail_dir / "carol.mbox").read_bytes(), timeout=20,
                       what="mbox delivery")
    got = pop3_retr_all(s, "carol", "carol-pw")
    assert len(got) == 2
    rest, removed = helpers.strip_received(got[0])
    assert len(removed) == 1
    assert rest == msg


def test_mbox_already_quoted_from_line_reads_back_byte_exact(server):
    """mboxrd: '>From ' in the message must come back as '>From ', not 'From '."""
    s = server(users={"carol": "carol-pw"}, mbox_users=("carol",), hostname="e2e.test")
    msg = helpers.make_message("mboxrd", body_lines=[">From already quoted", ">>From twice"])
    deliver(s, msg, rcpts=("carol@localhost",))
    helpers.wait_until(lambda: b"mboxrd" in (s.mail_dir / "carol.mbox").read_bytes(), timeout=20,
                       what="mbox delivery")
    [got] = pop3_retr_all(s, "carol", "carol-pw")
    assert helpers.strip_received(got)[0] == msg


def test_mbox_header_fill_none_reads_back_exactly(server):
    s = server("--header-fill", "none", users={"carol": "carol-pw"}, mbox_users=("carol",))
    msg = b"Subject: raw\r\n\r\nFrom me\r\nbody\r\n"
    deliver(s, msg, rcpts=("carol@localhost",))
    helpers.wait_until(lambda: (s.mail_dir / "carol.mbox").stat().st_size > 0, timeout=20,
                       what="mbox delivery")
    assert pop3_retr_all(s, "carol", "carol-pw") == [msg]


# ------------------------------------------------------------------- sink


def test_sink_accepts_every_message_and_stores_nothing(server):
    s = server("--sink")
    with smtplib.SMTP(s.host, s.smtp_port, timeout=10) as c:
        for i in range(5):
            assert c.sendmail("sender@client.test", ["alice@localhost"],
                              helpers.make_message(f"sink-{i}")) == {}
    # Same protocol: the rules still apply.
    with s.smtp() as c:
        c.ehlo()
        assert c.cmd("RCPT TO:<alice@localhost>")[0] == 503
    # No wait needed: each 250 was sent once the store had answered that
    # message's delivery request, so a sink that wrote anything has written it.
    for sub in ("new", "cur", "tmp"):
        assert list((s.mail_dir / "alice" / sub).iterdir()) == []
    assert helpers.queue_files(s.queue_dir) == []
