"""Real clients end to end: swaks in, fetchmail / getmail6 / poplib out."""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

import helpers

CLIENT_TIMEOUT = 30


def norm(b: bytes) -> bytes:
    return b.replace(b"\r\n", b"\n")


def body_of(msg: bytes) -> bytes:
    """The body, LF line ends, without trailing empty lines (swaks always
    sends two empty lines after the body it was given)."""
    m = norm(msg)
    body = m.split(b"\n\n", 1)[1] if b"\n\n" in m else b""
    return body.rstrip(b"\n") + b"\n" if body.strip(b"\n") else b""


def swaks(s, *args, to="alice@localhost", check=True):
    cmd = ["swaks", "--server", s.host, "--port", str(s.smtp_port), "--to", to,
           "--from", "sender@client.test", "--helo", "swaks.client.test", *args]
    r = subprocess.run(cmd, capture_output=True, timeout=CLIENT_TIMEOUT, stdin=subprocess.DEVNULL)
    if check:
        assert r.returncode == 0, r.stdout.decode(errors="replace")[-3000:]
    return r


BODY = "Hello from swaks.\nA second line.\n.a line with a leading dot\n..two dots\nlast line\n"


def test_swaks_delivers_to_user_at_localhost(server, tmp_path):
    s = server()
    body = tmp_path / "body.txt"
    body.write_text(BODY)
    r = swaks(s, "--header", "Subject: swaks e2e", "--body", f"@{body}")
    out = r.stdout.decode(errors="replace")
    assert "<~  250" in out or "<-  250" in out
    [stored] = s.wait_messages("alice", 1)
    assert body_of(stored) == BODY.encode()


def test_swaks_pipelining(server):
    s = server()
    r = swaks(s, "--pipeline", "--body", "pipelined body")
    assert "PIPELINING" in r.stdout.decode(errors="replace")
    [stored] = s.wait_messages("alice", 1)
    assert body_of(stored) == b"pipelined body\n"


def test_swaks_to_unknown_user_fails(server):
    s = server()
    r = swaks(s, to="nobody-here@localhost", check=False)
    assert r.returncode != 0
    assert " 550" in r.stdout.decode(errors="replace")


def test_swaks_relay_denied(server):
    s = server("--relay-from", "192.0.2.0/24")
    r = swaks(s, to="someone@example.com", check=False)
    assert r.returncode != 0
    assert " 554" in r.stdout.decode(errors="replace")


def fetchmail_rc(path: Path, s, user, password, out_file: Path, keep=False):
    path.write_text(
        "set no bouncemail\n"
        f"poll {s.host} service {s.pop3_port} protocol pop3 uidl auth password\n"
        f'  user "{user}" password "{password}" is "{user}" here\n'
        f'  mda "cat >> {out_file}"\n'
        f"  {'keep' if keep else 'nokeep'} fetchall sslproto ''\n")
    path.chmod(0o600)


def run_fetchmail(rc: Path, home: Path):
    env = dict(os.environ, HOME=str(home), FETCHMAILHOME=str(home))
    return subprocess.run(["fetchmail", "-f", str(rc), "--nosyslog", "-v", "--nodetach",
                           "--idfile", str(home / ".fetchids"), "--pidfile", str(home / "fm.pid")],
                          capture_output=True, timeout=CLIENT_TIMEOUT, env=env,
                          stdin=subprocess.DEVNULL)


def test_swaks_then_fetchmail_gives_back_the_same_body(server, tmp_path):
    s = server()
    body = tmp_path / "body.txt"
    body.write_text(BODY)
    swaks(s, "--header", "Subject: via fetchmail", "--body", f"@{body}")
    s.wait_messages("alice", 1)
    home = tmp_path / "fmhome"
    home.mkdir()
    out = tmp_path / "fetched.txt"
    rc = tmp_path / "fetchmailrc"
    fetchmail_rc(rc, s, "alice", "alice-pw", out)
    r = run_fetchmail(rc, home)
    log = (r.stdout + r.stderr).decode(errors="replace")
    assert r.returncode == 0, log[-4000:]
    got = out.read_bytes()
    assert body_of(got) == BODY.encode(), got
    assert b"Subject: via fetchmail" in got
    # nokeep: fetchmail deleted it, which the server did at QUIT.
    assert s.messages("alice") == []


def test_fetchmail_with_nothing_to_fetch_exits_1(server, tmp_path):
    s = server()
    home = tmp_path / "fmhome"
    home.mkdir()
    rc = tmp_path / "fetchmailrc"
    fetchmail_rc(rc, s, "alice", "alice-pw", tmp_path / "none.txt")
    r = run_fetchmail(rc, home)
    assert r.returncode == 1, (r.stdout + r.stderr).decode(errors="replace")[-3000:]  # 1 = no mail


def test_fetchmail_wrong_password_is_an_auth_failure(server, tmp_path):
    s = server()
    home = tmp_path / "fmhome"
    home.mkdir()
    rc = tmp_path / "fetchmailrc"
    fetchmail_rc(rc, s, "alice", "wrong", tmp_path / "none.txt")
    r = run_fetchmail(rc, home)
    assert r.returncode == 3, (r.stdout + r.stderr).decode(errors="replace")[-3000:]  # 3 = auth


def test_swaks_then_getmail6_gives_back_the_same_body(server, tmp_path, request):
    if not shutil.which("getmail"):
        pytest.skip("getmail6 not installed")
    s = server()
    body = tmp_path / "body.txt"
    body.write_text(BODY)
    for i in range(2):
        swaks(s, "--header", f"Subject: via getmail {i}", "--body", f"@{body}")
    s.wait_messages("alice", 2)
    # getmail refuses to deliver as root; as root it must deliver as `user`,
    # which needs a destination outside pytest's private (0700) tmp tree.
    root_dir = Path(tempfile.mkdtemp(prefix="bm-e2e-getmail-"))
    request.addfinalizer(lambda: shutil.rmtree(root_dir, ignore_errors=True))
    root_dir.chmod(0o755)
    dest = root_dir / "dest"
    for sub in ("cur", "new", "tmp"):
        (dest / sub).mkdir(parents=True)
    deliver_as = ""
    if os.geteuid() == 0:
        import pwd

        nobody = pwd.getpwnam("nobody")
        for p in (dest, dest / "cur", dest / "new", dest / "tmp"):
            os.chown(p, nobody.pw_uid, nobody.pw_gid)
        deliver_as = "user = nobody\n"
    gdir = tmp_path / "getmail"
    gdir.mkdir()
    rc = gdir / "getmailrc"
    rc.write_text(
        "[retriever]\ntype = SimplePOP3Retriever\n"
        f"server = {s.host}\nport = {s.pop3_port}\nusername = alice\npassword = alice-pw\n"
        f"[destination]\ntype = Maildir\npath = {dest}/\n{deliver_as}"
        "[options]\nread_all = true\ndelete = true\nverbose = 2\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    r = subprocess.run(["/usr/bin/getmail", f"--getmaildir={gdir}", f"--rcfile={rc}"],
                       capture_output=True, timeout=CLIENT_TIMEOUT, env=env, stdin=subprocess.DEVNULL)
    log = (r.stdout + r.stderr).decode(errors="replace")
    assert r.returncode == 0, log[-4000:]
    got = [p.read_bytes() for p in sorted((dest / "new").iterdir())]
    assert len(got) == 2, log[-3000:]
    for m in got:
        assert body_of(m) == BODY.encode()
    assert sorted(b"via getmail 0" in m for m in got) == [False, True]
    assert s.messages("alice") == []
