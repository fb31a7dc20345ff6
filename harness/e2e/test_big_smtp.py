"""A 30 MB message over SMTP goes to the store in chunks as it arrives (the
queue's tmp dir holds it as a spool, as Postfix writes its queue file
during DATA): stored byte for byte in Maildir and mbox, and the server's
peak memory grows by far less than the message, on both builds. A spool
whose message is not delivered (disk full, client gone, server killed)
does not stay, and a full disk while spooling gives 452 after the final
dot with the session still in step."""

import time

import pytest

import helpers
from conftest import RSS_BOUNDS_APPLY, record_result

SIZE = 30 * 1024 * 1024
MAX_SIZE = "50000000"
HWM_LIMIT = 8 * 1024 * 1024  # the whole-message path held more than the message


def big_message(size: int) -> bytes:
    """CRLF lines: every ninth starts with a dot (stuffed on the wire), every
    eleventh with "From " (quoted in an mbox)."""
    lines = [b"Subject: big\r\n", b"Message-ID: <big@e2e.test>\r\n",
             b"Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n", b"\r\n"]
    total = sum(map(len, lines))
    i = 0
    while total < size:
        lead = b"." if i % 9 == 0 else b"From " if i % 11 == 0 else b""
        line = lead + b"line %d of a big message, filler filler filler filler\r\n" % i
        lines.append(line)
        total += len(line)
        i += 1
    return b"".join(lines)


def mboxrd(text: bytes) -> bytes:
    """The CRLF text as an mbox stores it: LF lines, ^>*From  quoted once more."""
    out = []
    for line in text.replace(b"\r\n", b"\n").split(b"\n")[:-1]:
        out.append(b">" + line if line.lstrip(b">").startswith(b"From ") else line)
    return b"\n".join(out) + b"\n"



def start_data(c, *rcpts):
    assert c.cmd("MAIL FROM:<sender@client.test>")[0] == 250
    for rcpt in rcpts:
        assert c.cmd(f"RCPT TO:<{rcpt}>")[0] == 250
    code, lines = c.cmd("DATA")
    assert code == 354, lines


def send_big(c, text: bytes, *rcpts):
    """One transaction with `text`; returns (code, lines, seconds)."""
    start_data(c, *rcpts)
    start = time.monotonic()
    c.send(helpers.dot_stuff(text) + b".\r\n")
    code, lines = c.read_reply(timeout=120)
    return code, lines, time.monotonic() - start


@pytest.fixture
def big_server(server):
    return server("--max-msg-size", MAX_SIZE, "--header-fill", "none", mbox_users=("carol",))


def test_30mb_message_is_stored_exact_with_bounded_memory(big_server, build):
    s = big_server
    text = big_message(SIZE)
    with s.smtp() as c:
        c.ehlo()
        start_data(c, "alice@localhost")  # warms the path up before measuring
        c.send(b"Subject: small\r\n\r\nhello\r\n.\r\n")
        assert c.read_reply()[0] == 250
        peak = helpers.PeakRss(s.pid)
        code, lines, seconds = send_big(c, text, "alice@localhost", "carol@localhost")
        growth = peak.growth()
        assert code == 250, lines
    stored = [m for m in s.wait_messages("alice", 2) if len(m) > 1000]
    assert len(stored) == 1 and len(stored[0]) == len(text)
    assert stored[0] == text
    assert any(f.name.endswith(f",S={len(text)}") for f in helpers.maildir_files(s.mail_dir, "alice"))
    assert helpers.mbox_messages(s.mail_dir / "carol.mbox") == [mboxrd(text) + b"\n"]
    assert helpers.spool_files(s.queue_dir) == []
    record_result(f"e2e-big-smtp [{build.name}]: 30 MB DATA to a Maildir and an mbox in "
                  f"{seconds:.2f} s, server peak RSS +{growth / 1024:.0f} KiB")
    if RSS_BOUNDS_APPLY:  # not in the sanitizer run (conftest)
        assert growth < HWM_LIMIT, f"peak RSS grew by {growth} bytes for a {len(text)}-byte message"


def test_big_message_gets_the_same_header_fill(server):
    s = server("--max-msg-size", MAX_SIZE)
    text = b"Subject: no date, no id\r\n" + b"X-Filler: " + b"f" * 70 + b"\r\n" + \
        big_message(3 * 1024 * 1024).split(b"\r\n\r\n", 1)[1]
    with s.smtp() as c:
        c.ehlo()
        code, lines, _ = send_big(c, text, "alice@localhost")
        assert code == 250, lines
    stored = s.wait_messages("alice", 1)[0]
    rest, removed = helpers.strip_received(stored)
    assert removed and rest.endswith(text)
    head = rest[: len(rest) - len(text)]
    assert head.startswith(b"Date: ") and b"\r\nMessage-ID: <" in head and head.endswith(b">\r\n")


def test_disk_full_while_spooling_gives_452_after_the_final_dot(server):
    s = server("--max-msg-size", MAX_SIZE, "--header-fill", "none", start=False)
    queue = s.root / "queue"
    error = helpers.mount_tmpfs(queue, "1m")
    if error:
        pytest.skip(f"cannot mount a tmpfs here: {error}")
    try:
        s.options += ["--queue-dir", str(queue)]
        s.queue_dir = queue
        s.start()
        with s.smtp() as c:
            c.ehlo()
            code, lines, _ = send_big(c, big_message(4 * 1024 * 1024), "alice@localhost")
            assert code == 452 and lines[-1].startswith("452 4.3.1"), lines
            assert c.cmd("NOOP")[0] == 250  # the rest of the data was not taken for commands
            assert helpers.spool_files(queue) == []
            # The space is back: a message that needs most of it goes through.
            fits = big_message(700 * 1024)
            code, lines, _ = send_big(c, fits, "alice@localhost")
            assert code == 250, lines
        assert s.wait_messages("alice", 1) == [fits]
    finally:
        s.kill()
        helpers.umount(queue)


def send_half(s, size):
    """A client that sends `size` octets of DATA and no final dot."""
    c = s.smtp()
    c.ehlo()
    start_data(c, "alice@localhost")
    c.send(helpers.dot_stuff(big_message(size)))
    helpers.wait_until(lambda: helpers.spool_files(s.queue_dir), what="a spool file")
    return c


def test_client_gone_mid_data_leaves_no_spool(big_server):
    s = big_server
    for cut in ("close", "reset"):
        c = send_half(s, 2 * 1024 * 1024)
        c.reset() if cut == "reset" else c.close()
        helpers.wait_until(lambda: not helpers.spool_files(s.queue_dir), what="the spool to go")
    assert s.messages("alice") == []


def test_spool_left_by_a_killed_server_is_removed_at_restart(big_server):
    s = big_server
    c = send_half(s, 2 * 1024 * 1024)
    s.kill()
    assert helpers.spool_files(s.queue_dir) != []
    try:
        c.close()
    except OSError:
        pass
    s.start()
    assert helpers.spool_files(s.queue_dir) == []
    assert s.messages("alice") == []
