"""--user NAME (issue 12), both builds: the server opens its ports (or DPDK
port), log and queue as root, then runs as NAME — every uid and gid of the
process is NAME's, delivered mail is NAME's with mode 0600, SIGHUP's reload
still works, an unknown user is one line and exit 2. The account is a
system user made for the test (useradd, package passwd) and removed after."""

import os
import pwd
import signal
import subprocess
import uuid
from pathlib import Path

import pytest

import helpers


@pytest.fixture
def system_user():
    name = "bmt" + uuid.uuid4().hex[:8]
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                   check=True, capture_output=True, timeout=30)
    try:
        yield pwd.getpwnam(name)
    finally:
        subprocess.run(["userdel", name], capture_output=True, timeout=30)


@pytest.fixture
def traversable_tmp(tmp_path):
    """pytest's temporary dirs are 0700 root: let others pass through them
    (x only) up to the base dir, so the user can reach the mail dir."""
    changed = []
    for p in [tmp_path, *tmp_path.parents]:
        if p == Path("/tmp") or p == Path("/"):
            break
        mode = p.stat().st_mode & 0o777
        changed.append((p, mode))
        p.chmod(mode | 0o011)
    yield tmp_path
    for p, mode in changed:
        p.chmod(mode)


def chown_tree(path: Path, uid, gid):
    os.chown(path, uid, gid)
    for p in path.rglob("*"):
        os.chown(p, uid, gid, follow_symlinks=False)


def status_ids(pid, field):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return [int(x) for x in line.split()[1:]]
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def test_runs_as_the_user_and_its_mail_is_the_users(server, system_user, traversable_tmp):
    tmp_path = traversable_tmp
    log_dir = tmp_path / "log"
    log_dir.mkdir()
    os.chown(log_dir, system_user.pw_uid, system_user.pw_gid)  # so a HUP can make a new log
    log = log_dir / "baremail.log"
    s = server("--user", system_user.pw_name, "--log", str(log), start=False)
    chown_tree(s.mail_dir, system_user.pw_uid, system_user.pw_gid)
    s.start()
    helpers.wait_log_event(s, "server", "start")
    uid, gid = system_user.pw_uid, system_user.pw_gid
    assert status_ids(s.pid, "Uid") == [uid] * 4
    assert status_ids(s.pid, "Gid") == [gid] * 4
    assert 0 not in status_ids(s.pid, "Groups")

    with s.smtp() as c:
        c.ehlo()
        assert c.cmd("MAIL FROM:<sender@client.test>")[0] == 250
        assert c.cmd("RCPT TO:<alice@localhost>")[0] == 250
        assert c.data(helpers.make_message("as-user"))[0] == 250
        c.cmd("QUIT")
    files = helpers.wait_until(lambda: helpers.maildir_files(s.mail_dir, "alice") or None, timeout=10,
                               what="delivered file")
    st = files[0].stat()
    assert (st.st_uid, st.st_gid) == (uid, gid)
    assert st.st_mode & 0o777 == 0o600, oct(st.st_mode)
    queue = s.queue_dir.stat()
    assert queue.st_uid == uid, "the queue dir was not given to the user"
    with s.pop3() as c:
        c.login("alice", "alice-pw")
        assert "1 message" in c.cmd("STAT") or c.cmd("STAT").startswith("+OK 1 ")
        c.cmd("QUIT")

    # logrotate's move + HUP: the new log is made by the user now.
    os.rename(log, log_dir / "baremail.log.1")
    s.send_signal(signal.SIGHUP)
    event = helpers.wait_log_event(s, "server", "reload")[0]
    assert "log=ok" in event[3] and "users=ok" in event[3], event
    assert log.stat().st_uid == uid
    assert s.alive()
    assert status_ids(s.pid, "Uid") == [uid] * 4


def test_an_unknown_user_is_one_line_and_exit_2(build, tmp_path):
    mail = tmp_path / "mail"
    for box in ("alice", "postmaster"):
        for sub in ("cur", "new", "tmp"):
            (mail / box / sub).mkdir(parents=True)
    net = build.new_net()
    try:
        r = subprocess.run(build.argv(["-d", str(mail), "--user", "no-such-user-bm"], net),
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=20, cwd=tmp_path)
    finally:
        build.cleanup(net)
    err = r.stderr.decode(errors="replace").strip()
    assert r.returncode == 2, (r.returncode, err)
    assert err.splitlines()[-1].endswith("--user no-such-user-bm: no such user"), err
    assert not (mail / ".queue").exists(), "something was created before the user was checked"


def test_a_mail_dir_the_user_cannot_write_is_refused_at_start(server, system_user):
    s = server("--user", system_user.pw_name, start=False)  # mail dir left to root
    proc = subprocess.run(s.argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=30, cwd=s.root)
    s.build.cleanup(s.net)
    err = proc.stderr.decode(errors="replace")
    assert proc.returncode == 2, (proc.returncode, err)
    assert f"not writable by user {system_user.pw_name}" in err, err
