"""SPEC "Command line": options, start-up failures, -a, -v, --log,
--daemon/--pid-file, signals."""

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

import helpers


def run_once(build, options, cwd, timeout=10):
    """Run the binary expecting it to exit by itself (bounded). For the DPDK
    build: no TAP port may be left behind."""
    net = build.new_net()
    try:
        r = subprocess.run(build.argv(options, net), stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=timeout, cwd=cwd)
        if net.tap:
            assert not Path(f"/sys/class/net/{net.tap}").exists(), f"TAP {net.tap} left behind"
        return r
    finally:
        build.cleanup(net)


def tree(path: Path):
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def assert_exit_2_one_line(r, *words):
    err = r.stderr.decode(errors="replace").strip()
    assert r.returncode == 2, f"exit {r.returncode}, stderr {err!r}"
    assert len(err.splitlines()) == 1, f"expected one line on stderr, got {err!r}"
    for w in words:
        assert w.lower() in err.lower(), f"stderr {err!r} should name {w!r}"


@pytest.fixture
def mail_dir(tmp_path):
    d = tmp_path / "mail"
    for user in ("alice", "postmaster"):  # no postmaster, no start (RFC 5321 §4.5.1)
        for sub in ("cur", "new", "tmp"):
            (d / user / sub).mkdir(parents=True)
    return d


def test_a_prints_name_and_version_and_exits_0(build, tmp_path):
    r = run_once(build, ["-a"], tmp_path)
    err = r.stderr.decode(errors="replace")
    assert r.returncode == 0, (r.returncode, err)
    assert "baremail" in err.lower(), err
    assert re.search(r"\d+\.\d+(\.\d+)?", err), f"no version number in {err!r}"


def test_unknown_option_exits_2_with_one_line_and_touches_nothing(build, tmp_path, mail_dir):
    before = tree(mail_dir)
    r = run_once(build, ["-d", str(mail_dir), "--no-such-option"], tmp_path)
    assert_exit_2_one_line(r, "--no-such-option")
    assert tree(mail_dir) == before


def test_bad_option_value_exits_2_with_one_line(build, tmp_path, mail_dir):
    r = run_once(build, ["-d", str(mail_dir), "--smtp-port", "not-a-port"], tmp_path)
    assert_exit_2_one_line(r)


def test_bad_header_fill_value_exits_2_with_one_line(build, tmp_path, mail_dir):
    r = run_once(build, ["-d", str(mail_dir), "--header-fill", "some"], tmp_path)
    assert_exit_2_one_line(r)


def test_missing_mail_dir_option_exits_2_with_one_line(build, tmp_path):
    r = run_once(build, ["--smtp-port", "0", "--pop3-port", "0", "--echo-port", "0"], tmp_path)
    assert_exit_2_one_line(r)


def test_nonexistent_mail_dir_exits_2_naming_it_and_is_not_created(build, tmp_path):
    missing = tmp_path / "no-such-mail-dir"
    r = run_once(build, ["-d", str(missing)], tmp_path)
    assert_exit_2_one_line(r, "no-such-mail-dir")
    assert not missing.exists()


def test_mail_dir_that_is_a_file_exits_2(build, tmp_path):
    f = tmp_path / "plainfile"
    f.write_text("x")
    r = run_once(build, ["-d", str(f)], tmp_path)
    assert_exit_2_one_line(r)


def test_busy_port_exits_2_with_one_line_and_touches_nothing(build, tmp_path, mail_dir):
    if not build.loopback:
        pytest.skip("kernel-only: the DPDK build's ports live in its own stack, which nothing "
                    "else can hold")
    from conftest import free_port

    with socket.socket() as busy:
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        before = tree(mail_dir)
        r = run_once(build, ["-d", str(mail_dir), "--smtp-port", str(port),
                             "--pop3-port", str(free_port()), "--echo-port", str(free_port())],
                     tmp_path)
    assert_exit_2_one_line(r, str(port))
    assert tree(mail_dir) == before


def test_unreadable_users_file_exits_2(build, tmp_path, mail_dir):
    r = run_once(build, ["-d", str(mail_dir), "--users", str(tmp_path / "no-such-users")], tmp_path)
    assert_exit_2_one_line(r)


# SPEC "Command line": every option value the server refuses, on both
# builds: exit code 2, one line naming the option, nothing touched (and, for
# the DPDK build, no TAP port left behind: run_once). The exact lines are in
# dataplane/common/tests/options_test.cpp.
REFUSED_VALUES = [
    (["--daemon"], "--daemon needs --log"),  # README: a daemon has no terminal
    (["--daemon", "--pid-file", "p.pid"], "--daemon needs --log"),
    (["--relay-from", "10.0.0.0/33"], "--relay-from"),
    (["--relay-from", "mail.example"], "--relay-from"),
    (["--relayhost", "smart.example:0"], "--relayhost"),
    (["--relayhost", "[smart.example"], "--relayhost"),
    (["--dns", "dns.example"], "--dns"),
    (["--dns", "10.0.0.1:53"], "--dns"),
    (["--ip", "10.99.0.300"], "--ip"),
    (["--gateway", "router.example"], "--gateway"),
    (["--retry-delay", "0"], "--retry-delay"),
    (["--relay-timeout", "never"], "--relay-timeout"),
    (["--max-conn", "0"], "--max-conn"),
    (["--hostname", ""], "--hostname"),
]


@pytest.mark.parametrize("options,named", REFUSED_VALUES, ids=[" ".join(o) or "empty" for o, _ in REFUSED_VALUES])
def test_refused_option_value_exits_2_naming_it_and_touches_nothing(build, tmp_path, mail_dir, options, named):
    before = tree(mail_dir)
    r = run_once(build, ["-d", str(mail_dir), *options], tmp_path)
    assert_exit_2_one_line(r, named)
    assert tree(mail_dir) == before


DPDK_ONLY = [["--fixed-isn"], ["--tcb-capacity", "100"], ["--gateway", "10.99.0.254"], ["--poll", "busy"],
             ["--poll-idle-us", "50"], ["--ip", "127.0.0.1/8"]]


@pytest.mark.parametrize("options", DPDK_ONLY, ids=[" ".join(o) for o in DPDK_ONLY])
def test_dpdk_only_option_given_to_the_kernel_build_exits_2_naming_it(build, tmp_path, mail_dir, options):
    if not build.loopback:
        pytest.skip("the DPDK build takes these")
    r = run_once(build, ["-d", str(mail_dir), *options], tmp_path)
    assert_exit_2_one_line(r, options[0])
    err = r.stderr.decode(errors="replace")
    assert "DPDK build" in err or "without /prefix" in err, err


def test_long_option_without_its_argument_exits_2_naming_it(build, tmp_path, mail_dir):
    net = build.new_net()
    try:
        # The suite's own --ip goes after the options: leave it out, so that
        # --users is the last word and has no argument.
        argv = build.argv(["-d", str(mail_dir), "--users"], net)[:-2]
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=10, cwd=tmp_path)
    finally:
        build.cleanup(net)
    assert_exit_2_one_line(r, "--users")


def listening_ports(pid):
    """TCP ports the process listens on (kernel build: via ss)."""
    out = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True, timeout=10).stdout
    ports = set()
    for line in out.splitlines():
        if f"pid={pid}," in line:
            ports.add(int(line.split()[3].rsplit(":", 1)[1]))
    return ports


def test_port_zero_disables_the_service(server, build):
    s = server("--echo-port", "0")
    assert s.echo_port == 0
    with s.smtp() as c:
        assert c.cmd("QUIT")[0] == 221
    if build.loopback:
        assert listening_ports(s.pid) == {s.smtp_port, s.pop3_port}
    else:
        # The stack's own ports: SMTP and POP3 answer; the echo default (10000)
        # and any other port are refused (RST).
        with s.pop3() as c:
            assert c.cmd("QUIT").startswith("+OK")
        for port in (10000, 2500, 11000, s.smtp_port + 1):
            if port not in (s.smtp_port, s.pop3_port):
                with pytest.raises(ConnectionRefusedError):
                    socket.create_connection((s.host, port), timeout=5).close()


def test_default_ports_are_2500_11000_10000(server, build):
    for p in (2500, 11000, 10000):
        if build.loopback and helpers.port_accepts("127.0.0.1", p, timeout=0.2):
            pytest.skip(f"port {p} is in use on this host")
    s = server("--smtp-port", "2500", "--pop3-port", "11000", "--echo-port", "10000", start=False)
    # Start with the port options removed, i.e. the defaults.
    s.options = [o for o in s.options]
    for opt in ("--smtp-port", "--pop3-port", "--echo-port"):
        i = s.options.index(opt)
        del s.options[i : i + 2]
    s.start()
    with s.smtp() as c:
        assert c.cmd("QUIT")[0] == 221
    with s.pop3() as c:
        assert c.cmd("QUIT").startswith("+OK")
    with s.echo() as c:
        assert c.read_line_str().startswith("+OK")


def test_server_starts_and_serves_when_the_dns_server_has_no_route(server):
    """SPEC --dns: the resolver is only for the relay client's MX/A lookups.
    Like Postfix, the server must start when the nameserver cannot be reached
    yet (no route, e.g. the uplink is down): lookups fail and are retried,
    local mail flows. The suite's namespace has no route to 10.99.199.53."""
    s = server("--dns", "10.99.199.53")
    with s.smtp() as c:
        c.ehlo()
        assert c.cmd("MAIL FROM:<sender@client.test>")[0] == 250
        assert c.cmd("RCPT TO:<alice@localhost>")[0] == 250
        assert c.cmd("RCPT TO:<someone@example.com>")[0] == 250  # queued for the relay client
        assert c.data(helpers.make_message("dns-unreachable"))[0] == 250
        c.cmd("QUIT")
    assert len(s.wait_messages("alice", 1)) == 1
    assert s.alive()


# ----------------------------------------------------------------- -v / --log


def test_v_prints_debug_lines_in_exact_format(server):
    s = server("-v")
    with s.smtp() as c:
        c.cmd("EHLO verbose-client.test")
        c.cmd("NOOP")
        assert c.cmd("QUIT")[0] == 221
        c.read_until_closed(timeout=5)
    def session_closed(text):
        # The close line is written after the socket closes: wait for the
        # one of the connection that sent QUIT, not the readiness probe's.
        quit_ids = re.findall(r"^\[(\d+)\] C: QUIT$", text, re.M)
        return text if quit_ids and f"[{quit_ids[0]}] Connection closed" in text else None

    lines = helpers.wait_until(lambda: session_closed(s.stderr), timeout=20, what="-v lines").splitlines()
    m = [re.fullmatch(r"\[(\d+)\] C: EHLO verbose-client\.test", l) for l in lines]
    ids = [x.group(1) for x in m if x]
    assert len(ids) == 1, f"no exact '[N] C: EHLO verbose-client.test' line in:\n{s.stderr}"
    n = ids[0]
    mine = [l for l in lines if l.startswith(f"[{n}] ")]
    assert mine[0] == f"[{n}] New connection", mine
    assert mine[-1] == f"[{n}] Connection closed", mine
    assert re.fullmatch(rf"\[{n}\] S: 220 .*", mine[1]), mine
    assert f"[{n}] C: NOOP" in mine
    assert f"[{n}] C: QUIT" in mine
    assert any(re.fullmatch(rf"\[{n}\] S: 221( .*)?", l) for l in mine), mine
    for l in mine[1:-1]:
        assert re.fullmatch(rf"\[{n}\] [CS]: .*", l), f"unexpected -v line {l!r}"
    order = [mine.index(f"[{n}] C: EHLO verbose-client.test"), mine.index(f"[{n}] C: NOOP"),
             mine.index(f"[{n}] C: QUIT")]
    assert order == sorted(order)


def test_log_file_gets_a_line_per_delivery_with_service_and_peer(server, tmp_path):
    log = tmp_path / "baremail.log"
    s = server("--log", str(log))
    with s.smtp() as c:
        c.ehlo()
        assert c.cmd("MAIL FROM:<sender@client.test>")[0] == 250
        assert c.cmd("RCPT TO:<alice@localhost>")[0] == 250
        assert c.data(helpers.make_message("logline"))[0] == 250
        c.cmd("QUIT")
    text = helpers.wait_until(lambda: log.exists() and s.client_ip in log.read_text(errors="replace")
                              and log.read_text(errors="replace"), timeout=20, what="log lines")
    lines = [l for l in text.splitlines() if s.client_ip in l]
    assert lines, text
    assert any(re.search(r"smtp", l, re.I) for l in lines), f"no line names the SMTP service:\n{text}"
    assert any(re.search(r"\d{2}:\d{2}:\d{2}", l) for l in lines), f"no time on log lines:\n{text}"


# ------------------------------------------------------------ daemon / pid


def test_daemon_detaches_writes_pid_file_and_serves(server, tmp_path):
    pid_file = tmp_path / "bm.pid"
    s = server("--daemon", "--pid-file", str(pid_file), "--log", str(tmp_path / "d.log"))
    assert s.returncode() == 0  # the foreground process exited
    pid = s.pid
    assert pid != s.proc.pid and helpers.pid_alive(pid)
    with s.smtp() as c:
        assert c.cmd("QUIT")[0] == 221
    s.stop()
    assert not helpers.pid_alive(pid)


def test_second_instance_on_same_pid_file_refuses_to_start(server, tmp_path, build):
    pid_file = tmp_path / "bm.pid"
    first = server("--daemon", "--pid-file", str(pid_file), "--log", str(tmp_path / "d1.log"))
    second = server("--daemon", "--pid-file", str(pid_file), "--log", str(tmp_path / "d2.log"),
                    start=False)
    r = subprocess.run(second.argv, capture_output=True, timeout=10, stdin=subprocess.DEVNULL)
    assert r.returncode != 0, "second instance on the same pid file started"
    assert r.stderr.strip(), "second instance refused without saying why"
    now = pid_file.read_text().strip()
    if now.isdigit() and int(now) != first.pid:
        second.daemon_pids.append(int(now))  # a rogue second daemon: make teardown kill it
    assert first.alive()
    assert now == str(first.pid), "second instance overwrote the pid file"
    for p in second.ports:
        assert not helpers.port_accepts(second.host, p), "second instance opened its ports"
    if second.net.tap:
        assert not Path(f"/sys/class/net/{second.net.tap}").exists(), "second instance created its TAP"


# ------------------------------------------------------------------ signals


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_sends_shutdown_lines_to_every_session_and_exits_0(server, sig):
    s = server()
    smtp = s.smtp()
    smtp.helo()  # HELO session: plain reply expected
    smtp_ehlo = s.smtp()
    smtp_ehlo.ehlo()
    pop = s.pop3()
    echo = s.echo()
    assert echo.read_line_str().startswith("+OK")  # every session is open: each was greeted
    s.send_signal(sig)
    assert smtp.read_line_str() == f"421 {s.hostname} shutting down"
    assert re.fullmatch(rf"421 (4\.\d{{1,3}}\.\d{{1,3}} )?{re.escape(s.hostname)} shutting down",
                        smtp_ehlo.read_line_str())
    assert pop.read_line_str() == "-ERR Server shutting down"
    assert echo.read_line_str() == "-ERR Server shutting down"
    for c in (smtp, smtp_ehlo, pop, echo):
        assert c.is_closed_by_peer(timeout=20)
        c.close()
    assert s.proc.wait(timeout=10) == 0


def test_sigterm_stops_accepting_new_connections(server):
    s = server()
    s.stop()
    for p in s.ports:
        assert not helpers.port_accepts(s.host, p)


# ------------------------------------------- --help, --version, man, dist/

REPO = Path(__file__).resolve().parents[2]
# Every option of SPEC "Command line" and of issue 12.
SPEC_OPTIONS = ["--mail-dir", "--users", "--smtp-port", "--pop3-port", "--echo-port", "--hostname",
                "--local-domain", "--relay-from", "--queue-dir", "--relayhost", "--dns", "--relay-timeout",
                "--retry-delay", "--max-attempts", "--max-conn", "--max-msg-size", "--idle-timeout",
                "--smtp-idle-timeout", "--pop3-idle-timeout", "--log", "--daemon", "--pid-file",
                "--header-fill", "-v", "-a", "--ip", "--sink", "--user", "--help", "--version"]
DPDK_ONLY = ["--gateway", "--fixed-isn", "--tcb-capacity", "--poll", "--poll-idle-us", "--min-mss"]


def help_options(text):
    """The option words at the start of --help's option lines."""
    words = set()
    for line in text.splitlines():
        m = re.match(r"^  (-\w)?(?:, )?(--[\w-]+)?", line)
        if m:
            words.update(w for w in m.groups() if w)
    return words


def test_help_is_complete_on_stdout_and_exit_0(build, tmp_path):
    r = run_once(build, ["--help"], tmp_path)
    out = r.stdout.decode()
    assert r.returncode == 0, (r.returncode, r.stderr)
    assert out.startswith("usage: "), out[:200]
    listed = help_options(out)
    expected = SPEC_OPTIONS + (DPDK_ONLY if build.name == "dpdk" else [])
    assert not [o for o in expected if o not in listed], f"missing from --help: {expected} vs {sorted(listed)}"
    if build.name != "dpdk":
        assert not [o for o in DPDK_ONLY if o in listed]
    assert "[default: 2500]" in out and "[default: 600]" in out
    assert "EAL" in out.splitlines()[0] or build.name != "dpdk"


def test_version_on_stdout_and_exit_0(build, tmp_path):
    r = run_once(build, ["--version"], tmp_path)
    assert r.returncode == 0
    assert re.match(r"^baremail(-kernel)? \d+\.\d+\.\d+ ", r.stdout.decode()), r.stdout


def groff_warnings(page: Path) -> str:
    r = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", str(page)], capture_output=True, timeout=60,
                       env={**os.environ, "LC_ALL": "C.UTF-8"})
    assert r.returncode == 0, r.stderr
    return r.stderr.decode()


def test_man_page_renders_without_warnings_and_has_every_option(build, tmp_path):
    page = REPO / "man" / "baremail.8"
    assert groff_warnings(page) == ""
    man = subprocess.run(["man", "-l", str(page)], capture_output=True, timeout=60,
                         env={**os.environ, "LC_ALL": "C.UTF-8", "MANWIDTH": "100"}).stdout.decode()
    options = help_options(run_once(build, ["--help"], tmp_path).stdout.decode())
    assert len(options) > 30
    missing = [o for o in options if not re.search(r"(^|[\s,])" + re.escape(o) + r"\b", man, re.M)]
    assert not missing, f"in --help but not in baremail(8): {missing}"
    assert (REPO / "man" / "baremail-kernel.8").read_text().strip() == ".so man8/baremail.8"


def test_systemd_units_verify(tmp_path):
    """dist/*.service as systemd 252 reads them, with ExecStart pointed at
    the build (verify wants the binaries to exist)."""
    units = []
    for unit in sorted((REPO / "dist").glob("*.service")):
        text = unit.read_text().replace("/usr/local/bin/", str(helpers_build_dir()) + "/")
        assert "--user baremail" in text and "ExecReload=/bin/kill -HUP $MAINPID" in text, unit
        (tmp_path / unit.name).write_text(text)
        units.append(str(tmp_path / unit.name))
    assert len(units) == 2
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", *units], capture_output=True, timeout=120)
    assert r.returncode == 0 and r.stderr.decode().strip() == "", r.stderr.decode()


def helpers_build_dir() -> Path:
    return Path(os.environ.get("BAREMAIL_BUILD_DIR", REPO / "build"))


def test_logrotate_snippet_creates_for_the_user_and_sends_hup():
    text = (REPO / "dist" / "baremail.logrotate").read_text()
    assert re.search(r"^/var/log/baremail/\*\.log \{$", text, re.M)
    assert re.search(r"^\s+create 0640 baremail \S+$", text, re.M)
    post = text.split("postrotate", 1)[1].split("endscript", 1)[0]
    assert "--signal=HUP" in post and "baremail-kernel.service" in post
    assert text.count("{") == text.count("}") == 1


# ------------------------------------------------ separate idle timeouts


@pytest.mark.parametrize("short,long_", [("smtp", "pop3"), ("pop3", "smtp")])
def test_each_service_has_its_own_idle_timeout(server, short, long_):
    """--smtp-idle-timeout / --pop3-idle-timeout (issue 12): the short one
    closes its session; the other service's session, idle as long, stays."""
    s = server(f"--{short}-idle-timeout", "2", f"--{long_}-idle-timeout", "60", "--idle-timeout", "30")
    open_client = {"smtp": s.smtp, "pop3": s.pop3}
    with open_client[short]() as a, open_client[long_]() as b:
        t0 = time.monotonic()
        line = a.read_line_str(timeout=30)
        waited = time.monotonic() - t0
        assert line.startswith("421" if short == "smtp" else "-ERR"), line
        assert 1.5 <= waited <= 10, f"closed after {waited:.1f} s with --{short}-idle-timeout 2"
        assert not b.is_closed_by_peer(timeout=1.0), f"the {long_} session was closed too"
        if long_ == "smtp":
            assert b.cmd("NOOP")[0] == 250
        else:
            assert b.cmd("USER alice").startswith("+OK")  # NOOP needs a login (RFC 1939)
