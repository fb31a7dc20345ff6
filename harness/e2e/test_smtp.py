"""SPEC "Protocols / SMTP": the receiver's dialogue, rule by rule."""

import re
import smtplib
import time

import pytest

import helpers
from helpers import CRLF

ENHANCED = re.compile(r"^\d{3}[ -]\d\.\d{1,3}\.\d{1,3}( |$)")


def test_greeting_is_220_with_hostname(server):
    s = server()
    with s.smtp(greet=False) as c:
        code, lines = c.read_reply()
        assert code == 220
        assert lines[-1].split()[1] == s.hostname, lines


def test_ehlo_advertises_pipelining_size_8bitmime_enhancedstatuscodes(server):
    s = server()
    with s.smtp() as c:
        lines = c.ehlo()
    assert lines[0].startswith("250-" + s.hostname) or lines[0] == "250 " + s.hostname, lines
    keywords = {l[4:].split()[0].upper() for l in lines[1:]}
    for kw in ("PIPELINING", "SIZE", "8BITMIME", "ENHANCEDSTATUSCODES"):
        assert kw in keywords, f"{kw} not in EHLO reply {lines}"
    assert all(l.startswith("250-") for l in lines[:-1]) and lines[-1].startswith("250 ")


def test_smtplib_sees_the_ehlo_extensions(server):
    s = server()
    with smtplib.SMTP(s.host, s.smtp_port, timeout=10) as c:
        c.ehlo("client.test")
        for kw in ("pipelining", "size", "8bitmime", "enhancedstatuscodes"):
            assert c.has_extn(kw), kw


def test_helo_session_gets_plain_replies(server):
    s = server()
    with s.smtp() as c:
        assert c.cmd("HELO client.test") == (250, [f"250 {s.hostname}"])
        assert c.cmd("MAIL FROM:<sender@client.test>") == (250, ["250 OK"])
        assert c.cmd("RCPT TO:<alice@localhost>") == (250, ["250 OK"])
        assert c.data(helpers.make_message("helo-plain")) == (250, ["250 OK"])
        code, lines = c.cmd("QUIT")
        assert code == 221


def test_helo_session_errors_carry_no_enhanced_codes(server):
    s = server()
    with s.smtp() as c:
        c.helo()
        replies = [c.cmd("RCPT TO:<alice@localhost>"), c.cmd("MAIL FROM:bad address"),
                   c.cmd("FROBNICATE"), c.cmd("RCPT TO:<nobody-here@localhost>"),
                   c.cmd("VRFY alice"), c.cmd("EXPN list"), c.cmd("NOOP"), c.cmd("RSET")]
    for code, lines in replies:
        for l in lines:
            assert not ENHANCED.match(l), f"enhanced code in a HELO session: {l!r}"


def test_ehlo_session_replies_carry_enhanced_codes(server):
    s = server()
    with s.smtp() as c:
        c.ehlo()
        for line in ("MAIL FROM:<sender@client.test>", "RCPT TO:<alice@localhost>"):
            code, lines = c.cmd(line)
            assert code == 250 and re.match(r"^250 2\.\d\.\d", lines[-1]), lines
        code, lines = c.data(helpers.make_message("ehlo-enh"))
        assert code == 250 and re.match(r"^250 2\.\d\.\d", lines[-1]), lines


def test_commands_are_case_insensitive(server):
    s = server()
    with s.smtp() as c:
        assert c.cmd("ehlo client.test")[0] == 250
        assert c.cmd("mail from:<sender@client.test>")[0] == 250
        assert c.cmd("rcpt to:<alice@localhost>")[0] == 250
        assert c.cmd("data")[0] == 354
        c.send(helpers.make_message("lowercase") + b".\r\n")
        assert c.read_reply()[0] == 250
        assert c.cmd("quit")[0] == 221
    assert len(s.wait_messages("alice", 1)) == 1


# ------------------------------------------------------------ 5xx codes


def test_mail_before_helo_is_503(server):
    s = server()
    with s.smtp() as c:
        assert c.cmd("MAIL FROM:<sender@client.test>")[0] == 503


def test_rcpt_before_mail_is_503(server):
    s = server()
    with s.smtp() as c:
        c.ehlo()
        assert c.cmd("RCPT TO:<alice@localhost>")[0] == 503


def test_data_before_rcpt_is_503(server):
    s = server()
    with s.smtp() as c:
        c.ehlo()
        assert c.cmd("DATA")[0] == 503
        assert c.cmd("MAIL FROM:<sender@client.test>")[0] == 250
        assert c.cmd("DATA")[0] == 503


def test_second_mail_in_a_transaction_is_503(server):
    s = server()
    with s.smtp() as c:
        c.ehlo()
        assert c.cmd("MAIL FROM:<sender@client.test>")[0] == 250
        assert c.cmd("MAIL FROM:<sender@client.test>")[0] == 503


@pytest.mark.parametrize("line", ["MAIL FROM:",
                                  "MAIL FROM:<unbalanced@client.test",
                                  "MAIL TO:<sender@client.test>",
                                  "MAIL"])
def test_mail_syntax_error_is_501(server, line):
    s = server()
    with s.smtp() as c:
        c.ehlo()
        code, lines = c.cmd(line)
        assert code == 501, lines


@pytest.mark.parametrize("line", ["RCPT TO:<unbalanced@localhost", "RCPT FROM:<alice@localhost>",
                                  "RCPT"])
def test_rcpt_syntax_error_is_501(server, line):
    s = server()
    with s.smtp() as c:
        c.ehlo()
        assert c.cmd("MAIL FROM:<sender@client.test>")[0] == 250
        code, lines = c.cmd(line)
        assert code == 501, lines


def test_helo_without_domain_is_501(server):
    s = server()
    with s.smtp() as c:
        assert c.cmd("HELO")[0] == 501
        assert c.cmd("EHLO")[0] == 501


def test_unknown_command_is_500(server):
    s = server()
    with s.smtp() as c:
        c.ehlo()
        assert c.cmd("FROBNICATE now")[0] == 500
        assert c.cmd("NOOP")[0] == 250


def test_expn_is_502(server):
    s = server()
    with s.smtp() as c:
        c.ehlo()
        assert c.cmd("EXPN staff")[0] == 502


def test_vrfy_is_252(server):
    s = server()
    with s.smtp() as c:
        c.ehlo()
        assert c.cmd("VRFY alice")[0] == 252


def test_help_is_214(server):
    s = server()
    with s.smtp() as c:
        c.ehlo()
        assert c.cmd("HELP")[0] == 214


def test_noop_is_250(server):
    s = server()
    with s.smtp() as c:
        assert c.cmd("NOOP")[0] == 250


def test_rset_clears_the_transaction(server):
    s = server()
    with s.smtp() as c:
        c.ehlo()
        assert c.cmd("MAIL FROM:<sender@client.test>")[0] == 250
        assert c.cmd("RCPT TO:<alice@localhost>")[0] == 250
        assert c.cmd("RSET")[0] == 250
        assert c.cmd("DATA")[0] == 503
        assert c.cmd("RCPT TO:<alice@localhost>")[0] == 503
        assert c.cmd("MAIL FROM:<sender@client.test>")[0] == 250


def test_quit_is_221_and_closes(server):
    s = server()
    with s.smtp() as c:
        assert c.cmd("QUIT")[0] == 221
        assert c.is_closed_by_peer(timeout=20)


def test_command_line_over_1000_octets_is_500_and_session_survives(server):
    s = server()
    with s.smtp() as c:
        c.ehlo()
        line = "NOOP " + "x" * (1001 - 5 - 2)  # 1001 octets with CRLF
        assert len(line) + 2 == 1001
        code, lines = c.cmd(line)
        assert code == 500, lines
        assert c.cmd("NOOP")[0] == 250
        assert c.cmd("MAIL FROM:<sender@client.test>")[0] == 250
        assert c.cmd("RCPT TO:<alice@localhost>")[0] == 250
        assert c.data(helpers.make_message("after-long-line"))[0] == 250
    assert len(s.wait_messages("alice", 1)) == 1


def test_very_long_command_line_is_500_and_session_survives(server):
    s = server()
    with s.smtp() as c:
        c.ehlo()
        code, lines = c.cmd("NOOP " + "y" * 100_000)
        assert code == 500, lines
        assert c.cmd("NOOP")[0] == 250


def test_command_line_of_exactly_1000_octets_is_accepted(server):
    s = server()
    with s.smtp() as c:
        c.ehlo()
        line = "NOOP " + "x" * (1000 - 5 - 2)
        assert len(line) + 2 == 1000
        assert c.cmd(line)[0] == 250


def test_commands_split_over_many_segments(server):
    s = server()
    with s.smtp() as c:
        for line in (b"EHLO split.test\r\n", b"MAIL FROM:<sender@client.test>\r\n",
                     b"RCPT TO:<alice@localhost>\r\n", b"DATA\r\n"):
            for i in range(len(line)):  # one byte per segment (TCP_NODELAY)
                c.send(line[i : i + 1])
                time.sleep(0.002)
            code, lines = c.read_reply()
            assert code in (250, 354), lines
        msg = helpers.make_message("split") + b".\r\n"
        for i in range(0, len(msg), 7):
            c.send(msg[i : i + 7])
            time.sleep(0.002)
        assert c.read_reply()[0] == 250
    assert len(s.wait_messages("alice", 1)) == 1


def test_pipelined_commands_in_one_segment(server):
    s = server()
    msg = helpers.make_message("pipelined")
    with s.smtp() as c:
        c.ehlo()
        c.send(b"MAIL FROM:<sender@client.test>\r\nRCPT TO:<alice@localhost>\r\n"
               b"RCPT TO:<bob@localhost>\r\nDATA\r\n")
        assert [c.read_reply()[0] for _ in range(4)] == [250, 250, 250, 354]
        c.send(msg + b".\r\nMAIL FROM:<s2@client.test>\r\nRCPT TO:<bob@localhost>\r\nDATA\r\n")
        assert [c.read_reply()[0] for _ in range(4)] == [250, 250, 250, 354]
        c.send(helpers.make_message("pipelined-2") + b".\r\nQUIT\r\n")
        assert [c.read_reply()[0] for _ in range(2)] == [250, 221]
    assert len(s.wait_messages("alice", 1)) == 1
    assert len(s.wait_messages("bob", 2)) == 2


# -------------------------------------------------------- recipients


def test_unknown_local_user_is_rejected_with_550(server):
    s = server()
    with s.smtp() as c:
        c.ehlo()
        c.cmd("MAIL FROM:<sender@client.test>")
        code, lines = c.cmd("RCPT TO:<nobody-here@localhost>")
        assert code == 550, lines


def test_hostname_and_localhost_are_local_domains(server):
    s = server()
    with s.smtp() as c:
        c.ehlo()
        c.cmd("MAIL FROM:<sender@client.test>")
        assert c.cmd(f"RCPT TO:<alice@{s.hostname}>")[0] == 250
        assert c.cmd("RCPT TO:<bob@LOCALHOST>")[0] == 250
        assert c.data(helpers.make_message("local-domains"))[0] == 250
    assert len(s.wait_messages("alice", 1)) == 1
    assert len(s.wait_messages("bob", 1)) == 1


def test_extra_local_domain_option(server):
    s = server("--local-domain", "example.org", "--relay-from", "192.0.2.0/24")
    with s.smtp() as c:
        c.ehlo()
        c.cmd("MAIL FROM:<sender@client.test>")
        assert c.cmd("RCPT TO:<alice@example.org>")[0] == 250
        assert c.data(helpers.make_message("extra-domain"))[0] == 250
    assert len(s.wait_messages("alice", 1)) == 1


def test_domain_literal_of_own_address_is_accepted(server):
    s = server()
    with s.smtp() as c:
        c.ehlo()
        c.cmd("MAIL FROM:<sender@client.test>")
        code, lines = c.cmd(f"RCPT TO:<alice@[{s.host}]>")
        assert code == 250, lines
        assert c.data(helpers.make_message("literal"))[0] == 250
    assert len(s.wait_messages("alice", 1)) == 1


def test_1000_recipients_accepted_and_1001st_gets_452(server):
    # 1001 distinct mailboxes, so no de-duplication can hide the count.
    users = {f"u{i:04d}": None for i in range(1001)}
    s = server(users=users, users_file=False)
    with s.smtp() as c:
        c.ehlo()
        assert c.cmd("MAIL FROM:<sender@client.test>")[0] == 250
        rcpts = [f"RCPT TO:<u{i:04d}@localhost>\r\n".encode() for i in range(1000)]
        codes = []
        for k in range(0, 1000, 100):  # pipelined, 100 at a time
            c.send(b"".join(rcpts[k : k + 100]))
            codes += [c.read_reply()[0] for _ in range(100)]
        assert codes == [250] * 1000
        code, lines = c.cmd("RCPT TO:<u1000@localhost>")
        assert code == 452, lines
        code, lines = c.data(helpers.make_message("thousand"))
        assert code == 250, lines
    for i in (0, 1, 500, 998, 999):
        assert len(s.wait_messages(f"u{i:04d}", 1)) == 1
    assert s.messages("u1000") == []


def test_null_reverse_path_is_accepted(server):
    s = server()
    with s.smtp() as c:
        c.ehlo()
        assert c.cmd("MAIL FROM:<>")[0] == 250
        assert c.cmd("RCPT TO:<alice@localhost>")[0] == 250
        assert c.data(helpers.make_message("null-sender"))[0] == 250
    assert len(s.wait_messages("alice", 1)) == 1


# --------------------------------------------------------------- relay


def test_non_local_rcpt_from_outside_relay_from_is_554(server):
    s = server("--relay-from", "192.0.2.0/24")
    with s.smtp() as c:
        c.ehlo()
        c.cmd("MAIL FROM:<sender@client.test>")
        code, lines = c.cmd("RCPT TO:<someone@example.com>")
        assert code == 554, lines
        assert c.cmd("RCPT TO:<alice@localhost>")[0] == 250, "local mail must still be accepted"
        assert c.data(helpers.make_message("not-relayed"))[0] == 250
    assert helpers.queue_files(s.queue_dir) == []


def dead_relayhost(s):
    """--relayhost HOST:PORT on the client's side of this server's network
    where nothing listens: every relay attempt fails, the queue file stays."""
    from conftest import free_port

    return f"{s.client_ip}:{free_port()}"


def test_non_local_rcpt_from_relay_client_is_queued(server):
    # Clients are relay clients by default (kernel: 127.0.0.0/8; the DPDK build
    # gets --relay-from 10.99.0.0/16 from conftest, see there).
    s = server(start=False)
    s.options += ["--relayhost", dead_relayhost(s)]
    s.start()
    msg = helpers.make_message("queued-relay")
    with s.smtp() as c:
        c.ehlo()
        c.cmd("MAIL FROM:<alice@localhost>")
        assert c.cmd("RCPT TO:<someone@example.com>")[0] == 250
        assert c.data(msg)[0] == 250
    files = helpers.wait_until(lambda: helpers.queue_files(s.queue_dir), timeout=20,
                               what="a queue file")
    assert len(files) == 1, files
    data = files[0].read_bytes()
    assert b"someone@example.com" in data
    assert b"marker queued-relay" in data
    assert s.messages("alice") == []


def test_queue_dir_option_is_used(server, build, tmp_path):
    qdir = tmp_path / "myqueue"
    qdir.mkdir()
    s = server("--queue-dir", str(qdir), "--relay-from", build.client_net, start=False)
    s.options += ["--relayhost", dead_relayhost(s)]
    s.start()
    with s.smtp() as c:
        c.ehlo()
        c.cmd("MAIL FROM:<alice@localhost>")
        assert c.cmd(f"RCPT TO:<x@example.net>")[0] == 250
        assert c.data(helpers.make_message("qdir"))[0] == 250
    helpers.wait_until(lambda: helpers.queue_files(qdir), timeout=20, what="queue file in --queue-dir")
    assert helpers.queue_files(s.mail_dir / ".queue") == []


def test_queued_message_survives_kill_9_and_restart(server):
    s = server("--retry-delay", "1", start=False)
    s.options += ["--relayhost", dead_relayhost(s)]
    s.start()
    with s.smtp() as c:
        c.ehlo()
        c.cmd("MAIL FROM:<alice@localhost>")
        assert c.cmd("RCPT TO:<far@example.com>")[0] == 250
        code, lines = c.data(helpers.make_message("survivor"))
        assert code == 250, lines
    queue_id = lines[-1].rsplit(" ", 1)[-1]
    before = helpers.wait_until(lambda: helpers.queue_files(s.queue_dir), timeout=20, what="queue file")
    s.kill()  # kill -9, then start again
    tried = len(helpers.log_events(s, "relay", event="deferred"))
    s.start()
    # The restarted server has read the queue file once it tries the message
    # again (the relayhost is dead: a deferral, logged, every second).
    helpers.wait_log_event(s, "relay", "deferred", detail=f"id={re.escape(queue_id)} ", count=tried + 1)
    after = helpers.queue_files(s.queue_dir)
    assert len(after) == len(before) == 1
    assert b"marker survivor" in after[0].read_bytes()


# ---------------------------------------------------------------- SIZE


def test_size_is_advertised_from_max_msg_size(server):
    s = server("--max-msg-size", "4000")
    with s.smtp() as c:
        lines = c.ehlo()
    assert any(l[4:].upper() == "SIZE 4000" for l in lines), lines


def test_default_size_is_10485760(server):
    s = server()
    with s.smtp() as c:
        lines = c.ehlo()
    assert any(l[4:].upper() == "SIZE 10485760" for l in lines), lines


def test_mail_with_size_parameter_over_limit_is_552(server):
    s = server("--max-msg-size", "4000")
    with s.smtp() as c:
        c.ehlo()
        code, lines = c.cmd("MAIL FROM:<sender@client.test> SIZE=50000")
        assert code == 552, lines
        assert c.cmd("MAIL FROM:<sender@client.test> SIZE=1000")[0] == 250


def test_message_bigger_than_max_msg_size_is_552_and_not_stored(server):
    s = server("--max-msg-size", "4000")
    big = helpers.make_message("too-big", body_lines=["z" * 70] * 200)  # ~14 kB
    small = helpers.make_message("small-enough")
    with s.smtp() as c:
        c.ehlo()
        c.cmd("MAIL FROM:<sender@client.test>")
        c.cmd("RCPT TO:<alice@localhost>")
        code, lines = c.data(big)
        assert code == 552, lines
        assert c.cmd("NOOP")[0] == 250
        c.cmd("MAIL FROM:<sender@client.test>")
        c.cmd("RCPT TO:<alice@localhost>")
        assert c.data(small)[0] == 250
    # The small message's 250 (on disk, SPEC) came after the 552 in the same
    # session, and the store runs requests in order: had the big one been
    # written, it would be there now.
    msgs = s.messages("alice")
    assert len(msgs) == 1 and b"small-enough" in msgs[0]


# ------------------------------------------------------ dot, bare LF/CR


def test_dot_stuffed_lines_are_stored_unstuffed(server):
    s = server("--header-fill", "none")
    msg = (b"Subject: dots\r\n\r\n.leading dot\r\n..two dots\r\n.\r\n.x\r\nend\r\n")
    with s.smtp() as c:
        c.ehlo()
        c.cmd("MAIL FROM:<sender@client.test>")
        c.cmd("RCPT TO:<alice@localhost>")
        code, _ = c.cmd("DATA")
        assert code == 354
        c.send(b"Subject: dots\r\n\r\n..leading dot\r\n...two dots\r\n..\r\n..x\r\nend\r\n.\r\n")
        assert c.read_reply()[0] == 250
    assert s.wait_messages("alice", 1) == [msg]


@pytest.mark.parametrize("body,name", [
    (b"Subject: lf\r\n\r\nline one\nline two\r\n", "bare-LF"),
    (b"Subject: cr\r\n\r\nline one\rline two\r\n", "bare-CR"),
    (b"Subject: smuggle\r\n\r\nhello\r\n\n.\r\nMAIL FROM:<evil@client.test>\r\n"
     b"RCPT TO:<bob@localhost>\r\nDATA\r\nsmuggled\r\n", "LF-dot-CRLF-smuggling"),
    (b"Subject: smuggle\r\n\r\nhello\r\n.\n\r\nMAIL FROM:<evil@client.test>\r\n"
     b"RCPT TO:<bob@localhost>\r\nDATA\r\nsmuggled\r\n", "CRLF-dot-LF-smuggling"),
], ids=["bare-LF", "bare-CR", "LF-dot-CRLF", "CRLF-dot-LF"])
def test_bare_cr_or_lf_message_is_refused_554_5_5_2_and_nothing_stored(server, body, name):
    s = server()
    with s.smtp() as c:
        c.ehlo()
        c.cmd("MAIL FROM:<sender@client.test>")
        c.cmd("RCPT TO:<alice@localhost>")
        assert c.cmd("DATA")[0] == 354
        c.send(body + b".\r\n")
        code, lines = c.read_reply(timeout=15)
        assert code == 554 and lines[-1].startswith("554 5.5.2"), lines
        # The session goes on; the smuggled text was data, not commands.
        assert c.cmd("NOOP")[0] == 250
        assert c.cmd("QUIT")[0] == 221
        peer = helpers.client_peer(c)
    helpers.wait_session_end(s, "smtp", peer)
    helpers.deliver_barrier(s, "alice@localhost")
    [barrier] = s.messages("alice")
    assert b"marker barrier" in barrier
    assert s.messages("bob") == []


def test_message_with_bare_lf_after_helo_is_554(server):
    s = server()
    with s.smtp() as c:
        c.helo()
        c.cmd("MAIL FROM:<sender@client.test>")
        c.cmd("RCPT TO:<alice@localhost>")
        c.cmd("DATA")
        c.send(b"Subject: lf\r\n\r\na\nb\r\n.\r\n")
        code, lines = c.read_reply()
        assert code == 554, lines
        peer = helpers.client_peer(c)
    helpers.wait_session_end(s, "smtp", peer)
    helpers.deliver_barrier(s, "bob@localhost")
    assert s.messages("alice") == []


def test_eight_bit_body_is_stored_byte_exact(server):
    s = server("--header-fill", "none")
    msg = (b"Subject: 8bit\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=latin-1\r\n"
           b"Content-Transfer-Encoding: 8bit\r\n\r\n" + bytes(range(0x80, 0x100)) + b"\r\n"
           + "Grüße, ÄÖÜ — ✓".encode() + b"\r\n")
    with smtplib.SMTP(s.host, s.smtp_port, timeout=10) as c:
        c.ehlo("client.test")
        c.sendmail("sender@client.test", ["alice@localhost"], msg, mail_options=["BODY=8BITMIME"])
    assert s.wait_messages("alice", 1) == [msg]


def test_empty_body_message_is_accepted(server):
    s = server("--header-fill", "none")
    with s.smtp() as c:
        c.ehlo()
        c.cmd("MAIL FROM:<sender@client.test>")
        c.cmd("RCPT TO:<alice@localhost>")
        assert c.cmd("DATA")[0] == 354
        c.send(b".\r\n")
        assert c.read_reply()[0] == 250
    assert s.wait_messages("alice", 1) == [b""]


def test_two_recipients_get_one_copy_each(server):
    s = server()
    with smtplib.SMTP(s.host, s.smtp_port, timeout=10) as c:
        refused = c.sendmail("sender@client.test", ["alice@localhost", "bob@localhost"],
                             helpers.make_message("two-rcpts"))
        assert refused == {}
    assert len(s.wait_messages("alice", 1)) == 1
    assert len(s.wait_messages("bob", 1)) == 1


def test_several_messages_in_one_session(server):
    s = server()
    with smtplib.SMTP(s.host, s.smtp_port, timeout=10) as c:
        for i in range(5):
            c.sendmail("sender@client.test", ["alice@localhost"], helpers.make_message(f"seq-{i}"))
    msgs = s.wait_messages("alice", 5)
    assert len(msgs) == 5
    for i in range(5):
        assert sum(f"marker seq-{i}\r\n".encode() in m for m in msgs) == 1
