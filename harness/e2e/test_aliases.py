"""SPEC --aliases FILE (aliases(5) lines) and postmaster (RFC 5321 §4.5.1):
expansion at RCPT to local mailboxes and, for remote members, the relay
queue whoever the client is; aliases of aliases; duplicates delivered once;
a bad line stops the start naming FILE:LINE. Both builds, a real client
(smtplib)."""

import signal
import smtplib

import helpers
from test_cli import run_once
from test_relay import relay_server, smarthost  # noqa: F401  (fixture)

# A network the test clients are never in: they may not relay themselves.
NO_CLIENT = "10.99.254.254/32"


def aliases_file(tmp_path, text: str):
    path = tmp_path / "aliases"
    path.write_text(text)
    return str(path)


def send(s, rcpts, marker: str):
    with smtplib.SMTP(s.host, s.smtp_port, timeout=60) as c:
        refused = c.sendmail("sender@client.test", rcpts, helpers.make_message(marker))
    return refused


def markers(s, user):
    return sorted(m.split(b"X-E2E-Marker: ", 1)[1].split(b"\r\n", 1)[0].decode() for m in s.messages(user))


def test_postmaster_in_any_case_is_delivered_through_its_alias(server, tmp_path):
    s = server("--aliases", aliases_file(tmp_path, "# site aliases\nPostmaster: bob\n"))
    assert send(s, ["POSTMASTER"], "bare") == {}
    assert send(s, ["PostMaster@e2e.test"], "domain") == {}
    assert send(s, ["postmaster@localhost"], "localhost") == {}
    s.wait_messages("bob", 3)
    assert markers(s, "bob") == ["bare", "domain", "localhost"]
    assert s.messages("alice") == []


def test_an_alias_delivers_once_per_member_and_relays_its_remote_ones(server, smarthost, tmp_path):  # noqa: F811
    h = smarthost()
    text = ("postmaster: alice\n"
            "staff: alice, team,\n"
            "   far@example.com\n"
            "team: bob, Alice@e2e.test\n")
    s = relay_server(server, h.port, "--relay-from", NO_CLIENT, "--aliases", aliases_file(tmp_path, text))
    with smtplib.SMTP(s.host, s.smtp_port, timeout=60) as c:
        c.ehlo()
        # The client may not relay by itself...
        code, _ = c.docmd("MAIL FROM:<sender@client.test>")
        assert code == 250
        code, text_ = c.docmd("RCPT TO:<far@example.com>")
        assert code == 554 and b"Relay access denied" in text_
        c.docmd("RSET")
        # ...but the alias's remote member is queued all the same.
        assert c.sendmail("sender@client.test", ["Staff@e2e.test", "bob@e2e.test"],
                          helpers.make_message("staff")) == {}
    s.wait_messages("alice", 1)
    s.wait_messages("bob", 1)
    helpers.wait_until(lambda: h.received, timeout=30, what="the remote member's copy at the smarthost")
    _, rcpts, data = h.received[0]
    assert rcpts == [b"RCPT TO:<far@example.com>"]
    assert b"marker staff" in data
    helpers.deliver_barrier(s, "alice@e2e.test", "barrier")
    assert markers(s, "alice") == ["barrier", "staff"]  # named three times, one copy
    assert markers(s, "bob") == ["staff"]
    helpers.wait_until(lambda: helpers.queue_files(s.queue_dir) == [], timeout=30, what="queue drained")
    assert len(h.received) == 1


def test_an_alias_whose_members_are_unknown_is_refused_at_rcpt(server, tmp_path):
    s = server("--aliases", aliases_file(tmp_path, "postmaster: alice\nghosts: nobody, noone\n"))
    with smtplib.SMTP(s.host, s.smtp_port, timeout=60) as c:
        c.ehlo()
        c.docmd("MAIL FROM:<sender@client.test>")
        code, text = c.docmd("RCPT TO:<ghosts@e2e.test>")
    assert code == 550 and text.startswith(b"5.1.1 "), text
    helpers.wait_log_event(s, "smtp", "alias", detail=r"member=nobody reason=user unknown")


def test_a_bad_aliases_line_stops_the_start_naming_file_and_line(build, tmp_path):
    mail = tmp_path / "mail"
    for sub in ("cur", "new", "tmp"):
        (mail / "alice" / sub).mkdir(parents=True)
    path = aliases_file(tmp_path, "postmaster: alice\n# fine so far\nthis line has no colon\n")
    r = run_once(build, ["-d", str(mail), "--aliases", path], tmp_path)
    err = r.stderr.decode(errors="replace").strip()
    assert r.returncode == 2, (r.returncode, err)
    assert f"aliases file {path}:3: " in err, err
    assert len(err.splitlines()) == 1, err


def test_sighup_reads_the_aliases_again_and_a_bad_file_keeps_the_old_table(server, tmp_path):
    path = tmp_path / "aliases"
    path.write_text("postmaster: alice\nteam: alice\n")
    s = server("--aliases", str(path))
    assert send(s, ["team@e2e.test"], "before") == {}
    s.wait_messages("alice", 1)

    path.write_text("postmaster: alice\nteam: bob\n")
    s.send_signal(signal.SIGHUP)
    helpers.wait_log_event(s, "server", "reload", detail=r"aliases=ok")
    assert send(s, ["team@e2e.test"], "after") == {}
    s.wait_messages("bob", 1)

    path.write_text("postmaster: alice\nteam bob\n")  # line 2 has no colon
    s.send_signal(signal.SIGHUP)
    helpers.wait_log_event(s, "server", "reload", detail=r"aliases=error: aliases file .*:2: ", count=1)
    assert s.alive()
    assert send(s, ["team@e2e.test"], "kept") == {}
    s.wait_messages("bob", 2)
    assert markers(s, "bob") == ["after", "kept"]
    assert markers(s, "alice") == ["before"]


def test_an_aliases_file_without_postmaster_stops_the_start(build, tmp_path):
    mail = tmp_path / "mail"
    for sub in ("cur", "new", "tmp"):
        (mail / "alice" / sub).mkdir(parents=True)
    r = run_once(build, ["-d", str(mail), "--aliases", aliases_file(tmp_path, "team: alice\n")], tmp_path)
    err = r.stderr.decode(errors="replace").strip()
    assert r.returncode == 2, (r.returncode, err)
    assert "no postmaster" in err and str(mail / "postmaster") in err, err
    assert len(err.splitlines()) == 1, err
    # An alias is enough; --sink takes every recipient anyway. (A missing
    # users file, read later, stops these starts: past the postmaster check.)
    path = aliases_file(tmp_path, "POSTMASTER: alice\n")
    for options in (["--aliases", path], ["--sink"]):
        r = run_once(build, ["-d", str(mail), *options, "--users", str(tmp_path / "no-users")], tmp_path)
        err = r.stderr.decode(errors="replace")
        assert r.returncode == 2 and "users file" in err and "no postmaster" not in err, (options, err[-300:])


def test_without_aliases_a_missing_postmaster_is_a_warning_and_its_rcpt_refused(build, server, tmp_path):
    # SPEC: the mail dir alone defines the users, so a server started as
    # SPEC describes keeps starting; the warning says how to add postmaster.
    mail = tmp_path / "mail"
    for sub in ("cur", "new", "tmp"):
        (mail / "alice" / sub).mkdir(parents=True)
    r = run_once(build, ["-d", str(mail), "--users", str(tmp_path / "no-users")], tmp_path)
    err = r.stderr.decode(errors="replace")
    assert r.returncode == 2 and "warning: no postmaster" in err and "users file" in err, err[-400:]
    s = server()
    for sub in ("cur", "new", "tmp"):
        (s.mail_dir / "postmaster" / sub).rmdir()
    (s.mail_dir / "postmaster").rmdir()
    with smtplib.SMTP(s.host, s.smtp_port, timeout=60) as c:
        c.ehlo("client.test")
        c.mail("sender@client.test")
        code, _ = c.rcpt("postmaster")
        assert code == 550, code
