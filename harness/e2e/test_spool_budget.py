"""--max-spool: all sessions' spooled message text together stays within
the budget; the message that would pass it gets 452 after its final dot
(as on a full disk, README "Big messages in"), leaves no spool behind, and
the session and the budget are fine for the next message. Both builds."""

import helpers
from test_big_smtp import big_message, send_big, start_data

BUDGET = 1024 * 1024


def spooled(s) -> int:
    total = 0
    for f in helpers.spool_files(s.queue_dir):
        try:
            total += f.stat().st_size
        except FileNotFoundError:  # delivered or dropped meanwhile
            pass
    return total


def test_message_past_the_spool_budget_gets_452_and_the_budget_comes_back(server):
    s = server("--max-msg-size", "50000000", "--header-fill", "none", "--max-spool", str(BUDGET))
    with s.smtp() as c:
        c.ehlo()
        code, lines, _ = send_big(c, big_message(3 * BUDGET), "alice@localhost")
        assert code == 452 and lines[-1].startswith("452 4.3.1"), lines
        assert c.cmd("NOOP")[0] == 250  # the rest of the data was read, not taken for commands
        assert helpers.spool_files(s.queue_dir) == []
        fits = big_message(BUDGET // 2)
        code, lines, _ = send_big(c, fits, "alice@localhost")
        assert code == 250, lines
    assert s.wait_messages("alice", 1) == [fits]


def test_the_budget_is_shared_by_concurrent_sessions(server):
    """One session holds most of the budget in its spool (its message not
    yet ended); another's message that needs more than is left gets 452."""
    s = server("--max-msg-size", "50000000", "--header-fill", "none", "--max-spool", str(BUDGET))
    with s.smtp() as first, s.smtp() as second:
        first.ehlo()
        second.ehlo()
        start_data(first, "alice@localhost")
        held = big_message(BUDGET * 3 // 4)
        first.send(helpers.dot_stuff(held))  # no final dot yet: its spool stays open
        helpers.wait_until(lambda: spooled(s) >= BUDGET // 2, timeout=20, what="the first session's text spooled")
        # Alone it would fit; on top of the first one's spool it passes the budget.
        code, lines, _ = send_big(second, big_message(BUDGET), "alice@localhost")
        assert code == 452, lines
        first.send(b".\r\n")
        code, lines = first.read_reply(timeout=60)
        assert code == 250, lines
    assert s.wait_messages("alice", 1) == [held]
