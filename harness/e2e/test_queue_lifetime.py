"""Queue lifetime on both builds (issue 12 item 5, Postfix's
delay_warning_time, maximal_queue_lifetime, maximal_backoff_time): with a
next hop that never answers and tiny values, the sender first gets one
delay warning (RFC 3464 Action: delayed), then, at the lifetime and not
before, the bounce (Action: failed) — although --max-attempts is far from
spent; a remote sender's warning is queued for it from the null sender."""

import re
import time

import helpers

from conftest import free_port
from test_relay import relay_server, submit

TINY = ("--retry-delay", "1", "--max-retry-delay", "2", "--delay-warning", "3s",
        "--max-queue-lifetime", "10s", "--max-attempts", "1000")


def action(report: bytes) -> str:
    m = re.search(rb"(?im)^action:\s*(\S+)", report)
    return m.group(1).decode().lower() if m else ""


def test_delay_warning_once_then_bounce_at_the_lifetime(server, tmp_path):
    s = relay_server(server, free_port(), *TINY, "--log", str(tmp_path / "log"))
    start = time.time()
    submit(s, "alice@localhost", "far@example.com", "slow")

    [warning] = s.wait_messages("alice", 1, timeout=30)
    warned_at = time.time()
    assert action(warning) == "delayed", warning[:2000]
    assert re.search(rb"(?im)^subject: delayed mail", warning), warning[:800]
    assert re.search(rb"(?im)^will-retry-until: ", warning), warning[:2000]
    assert b"far@example.com" in warning
    assert warned_at - start >= 2, "warned before --delay-warning"

    reports = s.wait_messages("alice", 2, timeout=40)
    bounced_at = time.time()
    bounce = [r for r in reports if action(r) == "failed"]
    assert len(bounce) == 1, [action(r) for r in reports]
    assert b"far@example.com" in bounce[0]
    # The lifetime (10 s from the message's second of arrival) ended it, not the attempts.
    assert bounced_at - start >= 8, f"bounced after {bounced_at - start:.1f} s"
    helpers.wait_until(lambda: helpers.queue_files(s.queue_dir) == [], timeout=20, what="queue emptied")
    assert len(helpers.log_events(s, "relay", event="delay-warning")) == 1
    deferred = helpers.log_events(s, "relay", event="deferred")
    assert 3 <= len(deferred) < 1000, len(deferred)
    helpers.wait_log_event(s, "relay", "bounced", detail=r"rcpt=<far@example\.com>")


def test_remote_senders_delay_warning_is_queued_from_the_null_sender(server, tmp_path):
    s = relay_server(server, free_port(), *TINY, "--log", str(tmp_path / "log"))
    submit(s, "someone@elsewhere.test", "far@example.com", "remote-slow")
    helpers.wait_log_event(s, "relay", "delay-warning", detail=r"to=<someone@elsewhere\.test>", timeout=30)

    def queued_warning():
        for f in helpers.queue_files(s.queue_dir):
            text = f.read_bytes()
            if b"\nsender: \n" in text and b"rcpt: pending someone@elsewhere.test\n" in text:
                return text
        return None

    text = helpers.wait_until(queued_warning, timeout=10, what="the warning queued for the remote sender")
    assert re.search(rb"(?im)^action:\s*delayed", text), text[:2000]
