"""Fixtures for the baremail end-to-end suite.

Every test that takes `server` runs once per selected build:

    BAREMAIL_BUILDS=kernel            (default; comma list: kernel,dpdk)
    BAREMAIL_BUILD_DIR=<repo>/build   (where baremail-kernel / baremail and the tools live)
    BAREMAIL_SERVER_BUILD_DIR=<dir>   (the two servers only from there, e.g. build-asan)

`server(*options, users=..., mbox_users=..., start=True)` starts a build on
its own temporary mail dir and fresh ports and returns a `Server`; all of
them are killed at teardown whatever happened.

A build is described by a `Build`: how to spell its command line, which
address clients reach it at, and which address the server sees them at.

- kernel: listens on 127.0.0.1; clients are 127.0.0.1 (inside the default
  --relay-from 127.0.0.0/8).
- dpdk: every server start gets its own TAP port `bme<N>` (N in 100..199),
  its own EAL --file-prefix, and its own /24: the stack is 10.99.N.1, the
  host side of the TAP is 10.99.N.2 (`ip addr replace` + `link up` once the
  TAP appears). Its clients are not on loopback, so unless a test names its
  own --relay-from the server gets `--relay-from 10.99.0.0/16`, the
  equivalent of the kernel build's 127.0.0.0/8 default.

The DPDK build creates TAP interfaces and needs root, so the suite must run
inside a network namespace of its own (harness/e2e/run_in_netns.sh, used by
harness/run_tests.sh): TAPs, addresses and all traffic stay in there, and
the namespace is deleted afterwards.

Sanitizer run: when the servers are an ASan + UBSan build (build-asan,
harness/run_tests.sh's suite e2e-asan), every server process gets the
runtime options of harness/testing/sanitizers.py (unless the caller set
ASAN_OPTIONS), each report lands in a file of its own
(BAREMAIL_SANITIZER_REPORTS, default a fresh temp dir), and a test during
which any report appeared fails, showing it. Tests whose point is a timing
the sanitizers' slowdown cannot keep carry `@pytest.mark.not_under_sanitizer
(reason=...)` and are skipped in that run only.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import pytest

import helpers

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "testing"))
import sanitizers  # noqa: E402
import server_health  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
BUILD_DIR = Path(os.environ.get("BAREMAIL_BUILD_DIR", REPO / "build"))
SERVER_BUILD_DIR = Path(os.environ.get("BAREMAIL_SERVER_BUILD_DIR", BUILD_DIR))
SELECTED = [b.strip() for b in os.environ.get("BAREMAIL_BUILDS", "kernel").split(",") if b.strip()]
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
# Time a server gets to exit after SIGTERM at teardown; a sanitized one
# checks the heap for leaks on its way out.
TEARDOWN_GRACE = 3.0

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt  # deprecated in 3.11, still the simplest way to make a $6$ hash


def _sigterm_is_an_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config):
    # A runner stopping the suite (run_in_netns.sh) sends SIGTERM: end like
    # Ctrl-C, so fixtures kill the servers they started.
    signal.signal(signal.SIGTERM, _sigterm_is_an_interrupt)
    config.addinivalue_line("markers", "not_under_sanitizer(reason): skipped when the servers are "
                                       "a sanitizer build (a timing its slowdown cannot keep)")


def pytest_collection_modifyitems(config, items):
    if not SANITIZER_REPORTS:
        return
    for item in items:
        mark = item.get_closest_marker("not_under_sanitizer")
        if mark:
            item.add_marker(pytest.mark.skip(reason="sanitizer run: " + mark.kwargs.get("reason", "?")))


# ----------------------------------------------------------------- builds


class Net:
    """Where one server lives: for the kernel build loopback, for the DPDK
    build a TAP port and a /24 of its own."""

    def __init__(self, host, client_ip, tap=None, prefix=None, n=None):
        self.host = host            # where clients connect
        self.client_ip = client_ip  # what the server sees as the peer
        self.tap = tap              # DPDK: TAP interface name
        self.prefix = prefix        # DPDK: EAL --file-prefix
        self.n = n


class Build:
    name = "?"
    binary_name = "?"
    loopback = True          # the server's ports live in this host's stack
    client_net = "127.0.0.0/8"  # a CIDR holding every client address

    @property
    def binary(self) -> Path:
        # SPEC names build/<binary>; meson puts it under the subdir that defines it.
        for sub in ("", "dataplane", "dataplane/kernel", "dataplane/dpdk"):
            p = SERVER_BUILD_DIR / sub / self.binary_name
            if p.is_file():
                return p
        return SERVER_BUILD_DIR / self.binary_name

    def new_net(self) -> Net:
        raise NotImplementedError

    def argv(self, options: list[str], net: Net | None = None) -> list[str]:
        raise NotImplementedError

    def after_start(self, server):
        pass

    def cleanup(self, net: Net):
        pass


class KernelBuild(Build):
    name = "kernel"
    binary_name = "baremail-kernel"

    def new_net(self):
        return Net("127.0.0.1", "127.0.0.1")

    def argv(self, options, net=None):
        return [str(self.binary), *options, "--ip", "127.0.0.1"]


def in_own_netns() -> bool:
    """True when this process runs in a named network namespace (`ip netns
    add`), not in the host's own."""
    try:
        r = subprocess.run(["ip", "netns", "identify", str(os.getpid())], capture_output=True,
                           text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return r.returncode == 0 and bool(r.stdout.strip())


class DpdkBuild(Build):
    """The DPDK build on a TAP port (SPEC "Command line": the default EAL
    options, with a TAP name and file prefix of each server's own)."""

    name = "dpdk"
    binary_name = "baremail"
    loopback = False
    client_net = "10.99.0.0/16"
    FIRST, LAST = 100, 199  # our share of 10.99.0.0/16 (and TAP names bme100..bme199)

    def __init__(self):
        self._next = self.FIRST

    def new_net(self):
        """The next N whose TAP does not exist (cycling through 100..199)."""
        span = self.LAST - self.FIRST + 1
        for _ in range(span):
            n = self._next
            self._next = self.FIRST + (self._next - self.FIRST + 1) % span
            tap = f"bme{n}"
            if not Path(f"/sys/class/net/{tap}").exists():
                return Net(f"10.99.{n}.1", f"10.99.{n}.2", tap=tap, prefix=f"bme{n}-{os.getpid()}", n=n)
        raise RuntimeError("all TAP names bme100..bme199 are in use")

    def argv(self, options, net=None):
        net = net or self.new_net()
        eal = ["--no-huge", "-m", "512", "--no-pci", "--vdev", f"net_tap0,iface={net.tap}",
               "--file-prefix", net.prefix]
        return [str(self.binary), *eal, "--", *options, "--ip", f"{net.host}/24"]

    def after_start(self, server):
        # The TAP interface appears once the EAL has probed the vdev; then the
        # host side gets its address (the previous one went with the old TAP
        # if this is a restart).
        tap = server.net.tap

        def appeared():
            if Path(f"/sys/class/net/{tap}").exists():
                return True
            if not server.alive():
                raise AssertionError(f"server exited ({server.returncode()}) before TAP {tap} "
                                     f"appeared; stderr: {server.stderr}")
            return False

        helpers.wait_until(appeared, timeout=START_TIMEOUT, what=f"TAP interface {tap}")
        for cmd in (["ip", "addr", "replace", f"{server.net.client_ip}/24", "dev", tap],
                    ["ip", "link", "set", tap, "up"]):
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            assert r.returncode == 0, f"{' '.join(cmd)}: {r.stderr.strip()}; server stderr: {server.stderr}"

    def cleanup(self, net):
        # The TAP goes with the process that holds it; make sure (bounded).
        path = Path(f"/sys/class/net/{net.tap}")
        for _ in range(100):
            if not path.exists():
                break
            time.sleep(0.02)
        else:
            subprocess.run(["ip", "link", "del", net.tap], capture_output=True, timeout=10)
        # The EAL's runtime files (config, mp socket, telemetry socket).
        for base in ("/var/run/dpdk", os.path.join(os.environ.get("XDG_RUNTIME_DIR", "/tmp"), "dpdk")):
            shutil.rmtree(os.path.join(base, net.prefix), ignore_errors=True)


BUILDS = {"kernel": KernelBuild(), "dpdk": DpdkBuild()}


def _sanitizer_reports() -> sanitizers.Reports | None:
    """When the selected servers are a sanitizer build: where their reports
    go, with the runtimes' options put in this process's environment (every
    server and every test's own run of a server inherits them)."""
    if not any(sanitizers.is_sanitized(BUILDS[b].binary) for b in SELECTED if b in BUILDS):
        return None
    given = sanitizers.report_dir_from_environment()
    if given is not None:
        return sanitizers.Reports(given)
    directory = Path(os.environ.get("BAREMAIL_SANITIZER_REPORTS") or tempfile.mkdtemp(prefix="bm-sanitizer-"))
    directory.mkdir(parents=True, exist_ok=True)
    os.environ.update(sanitizers.environment(directory))
    return sanitizers.Reports(directory)


SANITIZER_REPORTS = _sanitizer_reports()
if SANITIZER_REPORTS:
    TEARDOWN_GRACE = 15.0
# A bound on a server's peak RSS holds in the plain run only: in the
# sanitizer run the figure counts ASan's quarantine of freed blocks (up to
# 256 MB, so that a use after free finds them poisoned) and shadow memory.
RSS_BOUNDS_APPLY = SANITIZER_REPORTS is None


@pytest.fixture(autouse=True)
def no_sanitizer_report():
    """Sanitizer run: fails the test during which any process (a fixture's
    server, a daemon, a server the test ran itself) left a report that the
    server fixture has not shown already. Set up first, so it looks last."""
    yield
    if SANITIZER_REPORTS is None:
        return
    found = SANITIZER_REPORTS.take_new()
    if found:
        pytest.fail("sanitizer report(s) during the test:\n" + "\n\n".join(
            f"--- {name} ---\n{sanitizers.excerpt(text)}" for name, text in found), pytrace=False)


# ------------------------------------------------------------------ ports

_handed_out: set[int] = set()


def free_port() -> int:
    """A TCP port nobody listens on at 127.0.0.1, not handed out before in
    this run (bounded attempts)."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port
    raise RuntimeError("no free port found")


# ----------------------------------------------------------------- server


class Server:
    def __init__(self, build: Build, root: Path, options, users, mbox_users, users_file, hostname):
        self.build = build
        self.root = root
        self.net = build.new_net()  # kept across restarts: same address, same TAP name
        self.host = self.net.host
        self.client_ip = self.net.client_ip
        self.mail_dir = root / "mail"
        self.mail_dir.mkdir(parents=True, exist_ok=True)
        self.stderr_path = root / "stderr.txt"
        self.options = list(options)
        self.proc: subprocess.Popen | None = None
        self.daemon_pids: list[int] = []
        self.pids: list[int] = []  # every process started, for its sanitizer report
        self.starts = 0
        self.health = server_health.Health()

        def has(opt):
            return any(o == opt or o.startswith(opt + "=") for o in self.options)

        def value(opt):
            for i, o in enumerate(self.options):
                if o == opt and i + 1 < len(self.options):
                    return self.options[i + 1]
            return None

        if not (has("-d") or has("--mail-dir")):
            self.options = ["-d", str(self.mail_dir)] + self.options
        # Ports: fresh ones unless the test named them (0 disables).
        self.smtp_port = int(value("--smtp-port")) if has("--smtp-port") else free_port()
        self.pop3_port = int(value("--pop3-port")) if has("--pop3-port") else free_port()
        self.echo_port = int(value("--echo-port")) if has("--echo-port") else free_port()
        for opt, port in (("--smtp-port", self.smtp_port), ("--pop3-port", self.pop3_port),
                          ("--echo-port", self.echo_port)):
            if not has(opt):
                self.options += [opt, str(port)]
        # Clients of this build are relay clients as loopback is for the kernel
        # build (SPEC default --relay-from 127.0.0.0/8).
        if build.client_net != "127.0.0.0/8" and not has("--relay-from"):
            self.options += ["--relay-from", build.client_net]
        # No test may depend on, or send to, the host's resolver (/etc/resolv.conf):
        # MX/A lookups go to loopback, where nothing answers.
        if not has("--dns"):
            self.options += ["--dns", "127.0.0.1"]
        self.hostname = value("--hostname") or hostname
        if not has("--hostname") and hostname is not None:
            self.options += ["--hostname", hostname]
        self.hostname = self.hostname or "localhost"
        self.log = Path(value("--log")) if has("--log") else None
        self.queue_dir = Path(value("--queue-dir")) if has("--queue-dir") else self.mail_dir / ".queue"
        self.pid_file = Path(value("--pid-file")) if has("--pid-file") else None
        self.daemon = has("--daemon")

        self.users_file = None
        for name in mbox_users:
            self.add_mailbox(name, mbox=True)
        for name in users:
            if name not in mbox_users:
                self.add_mailbox(name)
        # RFC 5321 §4.5.1: the server starts only with a postmaster (README "Aliases").
        if "postmaster" not in mbox_users:
            self.add_mailbox("postmaster")
        if users_file:
            self.users_file = root / "users"
            self.write_users(users)
            if not has("--users"):
                self.options += ["--users", str(self.users_file)]

    # -- mail dir and users
    def add_mailbox(self, name, mbox=False):
        if mbox:
            (self.mail_dir / f"{name}.mbox").touch()
        else:
            for sub in ("cur", "new", "tmp"):
                (self.mail_dir / name / sub).mkdir(parents=True, exist_ok=True)

    def write_users(self, users: dict):
        lines = []
        for name, pw in users.items():
            if pw is None:
                continue
            lines.append(f"{name}:{pw}")
        self.users_file.write_text("\n".join(lines) + "\n")

    @staticmethod
    def crypt_hash(password):
        return crypt.crypt(password, crypt.mksalt(crypt.METHOD_SHA512))

    # -- process
    @property
    def argv(self):
        return self.build.argv(self.options, self.net)

    @property
    def ports(self):
        return [p for p in (self.smtp_port, self.pop3_port, self.echo_port) if p]

    def start(self, wait=True):
        assert self.build.binary.exists(), f"{self.build.binary} not built"
        self.starts += 1
        err = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                     cwd=self.root, start_new_session=True)
        self.health.on_start()  # a process exists that can die
        self.pids.append(self.proc.pid)
        err.close()
        if self.daemon:
            # The foreground process exits once detached; the daemon's pid is in the pid file.
            try:
                rc = self.proc.wait(timeout=START_TIMEOUT)
            except subprocess.TimeoutExpired:
                rc = None
            assert rc == 0, f"--daemon start: exit {rc}; stderr: {self.stderr}"
            if self.pid_file is not None:
                pid = int(helpers.wait_until(lambda: self._read_pid(), timeout=START_TIMEOUT,
                                             what="pid file"))
                self.daemon_pids.append(pid)
                self.pids.append(pid)
        self.build.after_start(self)
        if wait:
            self.wait_ready()
        return self

    def _read_pid(self):
        try:
            text = self.pid_file.read_text().strip()
            return int(text) if text else None
        except (OSError, ValueError):
            return None

    @property
    def pid(self):
        return self.daemon_pids[-1] if self.daemon else self.proc.pid

    def alive(self):
        if self.daemon:
            return bool(self.daemon_pids) and helpers.pid_alive(self.daemon_pids[-1])
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self):
        """Until every enabled port accepts (bounded); then, best effort, end
        the probe sessions politely so they are gone from the server's count."""
        deadline = time.monotonic() + START_TIMEOUT
        for port in self.ports:
            # Short probes: while the DPDK build is still setting up its port,
            # a fresh probe's SYN beats the kernel's 1 s SYN retransmit.
            while not helpers.port_accepts(self.host, port, timeout=0.25):
                if not self.alive():
                    raise AssertionError(f"server exited ({self.returncode()}) before port {port} "
                                         f"accepted; stderr: {self.stderr}")
                if time.monotonic() > deadline:
                    raise AssertionError(f"port {port} did not accept within {START_TIMEOUT} s; "
                                         f"stderr: {self.stderr}")
                time.sleep(0.05)
        # The probes above were closed at once; let the server see that.
        time.sleep(0.05)

    def returncode(self):
        return None if self.proc is None else self.proc.poll()

    def send_signal(self, sig):
        self.health.on_signal(sig)
        os.kill(self.pid, sig)

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Signal and wait; returns the exit code (None for a daemon)."""
        if not self.alive():
            return self.returncode()
        self.send_signal(sig)
        if self.daemon:
            helpers.wait_until(lambda: not helpers.pid_alive(self.pid), timeout=timeout,
                               what="daemon exit")
            self.health.on_stop(sig, None)
            return None
        try:
            rc = self.proc.wait(timeout=timeout)
            self.health.on_stop(sig, rc)
            return rc
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"server did not exit within {timeout} s of signal {sig}")

    def kill(self):
        self.health.ended_by_test = True
        for pid in list(self.daemon_pids):
            if helpers.pid_alive(pid) and self._is_ours(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
        for pid in list(self.daemon_pids):
            for _ in range(100):
                if not helpers.pid_alive(pid):
                    break
                time.sleep(0.05)

    def shutdown_for_teardown(self, grace=None):
        """SIGTERM and a short wait: the exit code, which must be 0 (a crash
        at shutdown, or one just after the last reply, shows here), or None
        when it is still closing sessions (teardown then kills it)."""
        if self.daemon or self.proc is None:
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=TEARDOWN_GRACE if grace is None else grace)
        except subprocess.TimeoutExpired:
            return None

    def _is_ours(self, pid):
        try:
            return str(self.build.binary_name) in Path(f"/proc/{pid}/cmdline").read_bytes().decode(
                "latin-1")
        except OSError:
            return False

    def restart(self, sig=None, wait=True):
        """Stop (SIGKILL by default, or `sig`) and start again on the same
        mail dir, ports and options."""
        if sig is None:
            self.kill()
        else:
            self.stop(sig)
        self.start(wait=wait)
        return self

    # -- output
    @property
    def stderr(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace") if self.log else self.stderr
        except OSError:
            return ""

    # -- clients
    def smtp(self, greet=True) -> helpers.SmtpClient:
        c = helpers.SmtpClient(self.host, self.smtp_port)
        if greet:
            c.greeting()
        return c

    def pop3(self, greet=True) -> helpers.Pop3Client:
        c = helpers.Pop3Client(self.host, self.pop3_port)
        if greet:
            g = c.read_line_str()
            assert g.startswith("+OK"), g
            c.greeting_line = g
        return c

    def echo(self) -> helpers.LineClient:
        return helpers.LineClient(self.host, self.echo_port)

    def messages(self, user):
        return helpers.maildir_messages(self.mail_dir, user)

    def wait_messages(self, user, n, timeout=10.0):
        return helpers.wait_until(lambda: (lambda m: m if len(m) >= n else None)(self.messages(user)),
                                  timeout=timeout, what=f"{n} message(s) for {user}")


DEFAULT_USERS = {"alice": "alice-pw", "bob": "bob-pw"}


@pytest.fixture(params=SELECTED, scope="session")
def build(request) -> Build:
    name = request.param
    if name not in BUILDS:
        pytest.fail(f"unknown build {name!r} in BAREMAIL_BUILDS (known: {', '.join(BUILDS)})")
    b = BUILDS[name]
    if not b.loopback and not in_own_netns():
        pytest.fail(f"the {name} build creates TAP ports: run the suite in a network namespace of "
                    f"its own (harness/e2e/run_in_netns.sh, or harness/run_tests.sh)")
    if not b.binary.exists():
        pytest.fail(f"{b.binary} does not exist: build it, or set BAREMAIL_BUILD_DIR")
    return b


@pytest.fixture
def server(build, tmp_path):
    """Factory: server(*options, users=..., mbox_users=(), users_file=True,
    hostname='e2e.test', start=True) -> Server."""
    started: list[Server] = []
    counter = [0]

    def make(*options, users=None, mbox_users=(), users_file=True, hostname="e2e.test", start=True):
        counter[0] += 1
        root = tmp_path / f"server{counter[0]}"
        root.mkdir()
        s = Server(build, root, options, DEFAULT_USERS if users is None else users, mbox_users,
                   users_file, hostname)
        started.append(s)
        if start:
            s.start()
        return s

    yield make
    failures = []
    for s in started:
        alive, returncode = s.alive(), s.returncode()
        shutdown = s.shutdown_for_teardown() if alive else None
        reports = ""
        if SANITIZER_REPORTS is not None:  # complete once the process has exited
            reports = "\n".join(sanitizers.excerpt(text) for _, text in SANITIZER_REPORTS.take_new(s.pids))
        found = server_health.problems(f"{build.name} server {s.root.name}", s.health, alive,
                                       returncode, s.stderr + reports, shutdown)
        if found:
            failures.append((found, s.stderr, reports))
        s.kill()
        build.cleanup(s.net)
    if failures:
        pytest.fail(server_health.report(failures), pytrace=False)


@pytest.fixture
def bin_path(build) -> Path:
    return build.binary


# ------------------------------------------------------- results summary

RESULTS: list[str] = []


def record_result(line: str):
    RESULTS.append(line)
    out = os.environ.get("BAREMAIL_E2E_RESULTS")  # optional file to append results to
    if out:
        with open(out, "a") as f:
            f.write(time.strftime("%Y-%m-%d %H:%M:%S ") + line + "\n")
    print(line)


def pytest_terminal_summary(terminalreporter):
    if RESULTS:
        terminalreporter.section("baremail e2e results")
        for line in RESULTS:
            terminalreporter.write_line(line)
