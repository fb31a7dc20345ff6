"""SPEC "Bad input ... disk full": a mailbox that cannot be written gives the
client a 4xx (452 when the disk is full, 451 otherwise), the session goes
on, and nothing is lost or half-written. The mail dir sits on a small tmpfs
that the test mounts (CI runs as root)."""

import os
import subprocess

import pytest

import helpers


def mount_tmpfs(path, size):
    path.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")


def umount(path):
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


def send(c, marker, body_octets):
    """One transaction; returns the reply code after DATA (or the RCPT code)."""
    code, lines = c.cmd("MAIL FROM:<sender@client.test>")
    assert code == 250, lines
    code, lines = c.cmd("RCPT TO:<alice@localhost>")
    if code != 250:
        return code
    line = b"x" * 76 + b"\r\n"
    body = b"Subject: " + marker.encode() + b"\r\n\r\n" + line * (body_octets // len(line))
    code, _ = c.data(body)
    return code, body


@pytest.fixture
def small_disk_server(server):
    s = server("--header-fill", "none", start=False)
    mount_tmpfs(s.mail_dir, "600k")
    try:
        s.add_mailbox("alice")
        s.add_mailbox("bob")
        s.start()
        yield s
    finally:
        s.kill()
        umount(s.mail_dir)


def test_disk_full_gives_452_keeps_every_accepted_message_and_recovers(small_disk_server):
    s = small_disk_server
    accepted = []
    full_code = None
    with s.smtp() as c:
        c.ehlo()
        for i in range(40):  # 40 x 64 KiB > 600 KiB: the disk fills on the way
            code, body = send(c, f"fill-{i}", 64 * 1024)
            if code == 250:
                accepted.append(body)
                continue
            full_code = code
            break
        assert full_code == 452, f"expected 452 once the disk is full, got {full_code}"
        # The session survives the refusal.
        assert c.cmd("NOOP")[0] == 250
    stored = s.wait_messages("alice", len(accepted))
    assert sorted(stored) == sorted(accepted), "an accepted message is missing or altered"
    assert os.listdir(s.mail_dir / "alice" / "tmp") == [], "a refused message left a temporary file"

    # Room again: delivery works without a restart.
    for f in helpers.maildir_files(s.mail_dir, "alice")[:4]:
        f.unlink()
    with s.smtp() as c:
        c.ehlo()
        code, body = send(c, "after-full", 16 * 1024)
        assert code == 250


def test_unwritable_mailbox_gives_451_and_no_other_recipient_gets_a_copy(server):
    s = server("--header-fill", "none")
    # Root ignores permissions: a read-only bind mount makes writes fail (EROFS).
    tmp = s.mail_dir / "alice" / "tmp"
    for args in (["--bind", str(tmp), str(tmp)], ["-o", "remount,bind,ro", str(tmp)]):
        r = subprocess.run(["mount", *args], capture_output=True, text=True)
        if r.returncode != 0:
            umount(tmp)
            pytest.skip(f"cannot make a read-only bind mount here: {r.stderr.strip()}")
    try:
        unwritable_mailbox_session(s)
    finally:
        umount(tmp)


def unwritable_mailbox_session(s):
    with s.smtp() as c:
        c.ehlo()
        assert c.cmd("MAIL FROM:<sender@client.test>")[0] == 250
        assert c.cmd("RCPT TO:<alice@localhost>")[0] == 250
        assert c.cmd("RCPT TO:<bob@localhost>")[0] == 250
        code, lines = c.data(b"Subject: broken\r\n\r\nbody\r\n")
        assert code == 451, lines
        assert c.cmd("NOOP")[0] == 250
        # bob alone still gets mail.
        assert c.cmd("MAIL FROM:<sender@client.test>")[0] == 250
        assert c.cmd("RCPT TO:<bob@localhost>")[0] == 250
        code, _ = c.data(b"Subject: fine\r\n\r\nbody\r\n")
        assert code == 250
    assert s.wait_messages("bob", 1) == [b"Subject: fine\r\n\r\nbody\r\n"]
