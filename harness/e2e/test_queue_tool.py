"""build/baremail-queue against a running server on both builds (issue 12,
Postfix's mailq/postqueue/postsuper): a message to a dead next hop is
listed with its attempts and last error; hold keeps it from being tried
(also across a restart); release and flush deliver it to the next hop once
that answers; delete removes it for good and says so in the log; list and
show work with the server stopped, the rest say plainly that it is not
running. The next hop is the scripted smarthost of test_relay, first as a
port nobody listens on, then as a listener on that same port."""

import json
import subprocess
import time

import helpers

from conftest import BUILD_DIR, free_port
from test_relay import FakeSmarthost, relay_server, submit, smarthost  # noqa: F401 (fixture)

QUEUE_TOOL = BUILD_DIR / "baremail-queue"
EX_UNAVAILABLE = 69


def queue_tool(s, *args):
    return subprocess.run([str(QUEUE_TOOL), "--queue-dir", str(s.queue_dir), *args],
                          capture_output=True, text=True, timeout=60)


def listing(s):
    r = queue_tool(s, "--json", "list")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["messages"]


def message_with(s, marker):
    """The queue id of the message whose header section holds `marker`."""
    for m in listing(s):
        shown = queue_tool(s, "show", m["id"])
        if f"X-E2E-Marker: {marker}\n" in shown.stdout:
            return m["id"]
    raise AssertionError(f"no queued message with marker {marker}: {listing(s)}")


def test_queue_tool_lists_holds_releases_flushes_and_deletes(server, smarthost, tmp_path):
    dead = free_port()
    # One attempt each, then the next is 10 minutes away: only a flush retries.
    s = relay_server(server, dead, "--retry-delay", "600", "--log", str(tmp_path / "log"))
    submit(s, "alice@localhost", "far@example.com", "kept")
    submit(s, "alice@localhost", "gone@example.com", "dropped-by-operator")
    helpers.wait_log_event(s, "relay", "deferred", count=2)

    # list: id, size, age, sender, each recipient's state and last error, attempts, next try.
    helpers.wait_until(lambda: all(m["attempts"] == 1 for m in listing(s)) and len(listing(s)) == 2,
                       timeout=20, what="both attempts recorded in the queue files")
    messages = listing(s)
    for m in messages:
        assert m["sender"] == "alice@localhost"
        assert m["size"] > 0 and m["age"] >= 0
        assert m["next_try"] > time.time() + 300
        assert m["held"] is False
        [rcpt] = m["recipients"]
        assert rcpt["state"] == "pending"
        assert rcpt["last_error"], m
    text = queue_tool(s, "list").stdout
    assert "<far@example.com>" in text and "<gone@example.com>" in text and "attempts 1" in text, text
    kept, dropped = message_with(s, "kept"), message_with(s, "dropped-by-operator")
    shown = queue_tool(s, "show", kept).stdout
    assert f"id: {kept}" in shown and "sender: <alice@localhost>" in shown and "Subject:" in shown, shown

    # hold: durable before the reply; delete: gone from disk and logged.
    r = queue_tool(s, "hold", kept)
    assert r.returncode == 0, r.stderr
    [held] = [m for m in listing(s) if m["id"] == kept]
    assert held["held"] is True
    r = queue_tool(s, "delete", dropped)
    assert r.returncode == 0, r.stderr
    assert [m["id"] for m in listing(s)] == [kept]
    helpers.wait_log_event(s, "relay", "deleted", detail=rf"id={dropped}\b")

    # Unknown ids: exit 1 with a message.
    for verb in ("hold", "release", "delete", "flush", "show"):
        r = queue_tool(s, verb, "NOSUCHID")
        assert r.returncode == 1, (verb, r)
        assert "no message NOSUCHID" in r.stderr, (verb, r.stderr)

    # The next hop answers now; a held message is still never tried, even
    # after a flush and across a restart.
    sink = smarthost(port=dead)
    assert queue_tool(s, "flush").returncode == 0
    s.stop()
    s.start()
    assert queue_tool(s, "flush").returncode == 0
    time.sleep(3)
    assert sink.sessions == 0, sink.received
    assert [m["held"] for m in listing(s)] == [True]

    # release + flush: delivered at once; the deleted one never is.
    assert queue_tool(s, "release", kept).returncode == 0
    r = queue_tool(s, "flush", kept)
    assert r.returncode == 0, r.stderr
    helpers.wait_until(lambda: sink.received, timeout=20, what="the released message at the next hop")
    helpers.wait_until(lambda: listing(s) == [], timeout=20, what="queue emptied after delivery")
    assert [b"marker kept" in data for _, _, data in sink.received] == [True]
    log = s.log_text()
    assert f"id={kept} by=baremail-queue" in log  # held/released lines name the tool
    assert "marker dropped-by-operator" not in "".join(d.decode(errors="replace") for _, _, d in sink.received)


def test_queue_tool_without_a_server(server, tmp_path):
    dead = free_port()
    s = relay_server(server, dead, "--retry-delay", "600")
    submit(s, "alice@localhost", "far@example.com", "offline")
    helpers.wait_until(lambda: listing(s) and listing(s)[0]["attempts"] == 1, timeout=20,
                       what="the first attempt recorded")
    s.stop()
    [m] = listing(s)  # list and show read the files: no server needed
    assert queue_tool(s, "show", m["id"]).returncode == 0
    for args in (("flush",), ("hold", m["id"]), ("delete", m["id"]), ("release", m["id"])):
        r = queue_tool(s, *args)
        assert r.returncode == EX_UNAVAILABLE, (args, r)
        assert "the server is not running" in r.stderr, r.stderr
    assert [x["id"] for x in listing(s)] == [m["id"]]  # nothing changed


def test_queue_tool_usage_errors_exit_2(server):
    s = server()
    for args in ((), ("frobnicate",), ("hold",), ("hold", "../etc")):
        r = queue_tool(s, *args)
        assert r.returncode == 2, (args, r)
        assert r.stderr.startswith("baremail-queue: "), r.stderr
    r = subprocess.run([str(QUEUE_TOOL), "list"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "--queue-dir" in r.stderr


def test_man_page_renders_without_warnings_and_has_every_command_and_option(tmp_path):
    from test_cli import REPO, groff_warnings
    page = REPO / "man" / "baremail-queue.8"
    assert groff_warnings(page) == ""
    man = subprocess.run(["man", "-l", str(page)], capture_output=True, timeout=60, text=True,
                         env={"LC_ALL": "C.UTF-8", "MANWIDTH": "100", "PATH": "/usr/bin:/bin"}).stdout
    usage = subprocess.run([str(QUEUE_TOOL), "--help"], capture_output=True, text=True, timeout=60)
    assert usage.returncode == 0 and usage.stdout.startswith("usage: baremail-queue"), usage
    words = set()
    for line in usage.stdout.splitlines()[1:]:
        if line.startswith("  ") and not line.startswith("   "):  # an entry, not a continuation
            words.add(line.split()[0])
    assert {"list", "show", "flush", "delete", "hold", "release", "--queue-dir", "--json"} <= words, words
    missing = [w for w in sorted(words) if w not in man]
    assert not missing, f"in --help but not in baremail-queue(8): {missing}"
