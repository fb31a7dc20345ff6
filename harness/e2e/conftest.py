"""Fixtures for the baremail end-to-end suite.

Every test that takes `server` runs once per selected build:

    BAREMAIL_BUILDS=kernel            (default; comma list: kernel,dpdk)
    BAREMAIL_BUILD_DIR=<repo>/build   (where baremail-kernel / baremail live)

`server(*options, users=..., mbox_users=..., start=True)` starts a build on
its own temporary mail dir and fresh ports and returns a `Server`; all of
them are killed at teardown whatever happened.

A build is described by a `Build`: how to spell its command line, which
address clients reach it at, and which address the server sees them at.
The kernel build listens on 127.0.0.1. The DPDK build (a later issue) runs
its own stack behind a TAP port (SPEC "Command line"): it is 10.99.0.1 and
the host is 10.99.0.2 on bm0; that path is written but not yet exercised.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import warnings
from pathlib import Path

import pytest

import helpers

REPO = Path(__file__).resolve().parents[2]
BUILD_DIR = Path(os.environ.get("BAREMAIL_BUILD_DIR", REPO / "build"))
SELECTED = [b.strip() for b in os.environ.get("BAREMAIL_BUILDS", "kernel").split(",") if b.strip()]
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt  # deprecated in 3.11, still the simplest way to make a $6$ hash


# ----------------------------------------------------------------- builds


class Build:
    name = "?"
    binary_name = "?"
    host = "127.0.0.1"       # where clients connect
    client_ip = "127.0.0.1"  # what the server sees as the peer
    loopback = True          # the server's ports live in this host's stack

    @property
    def binary(self) -> Path:
        # SPEC names build/<binary>; meson puts it under the subdir that defines it.
        for sub in ("", "dataplane", "dataplane/kernel", "dataplane/dpdk"):
            p = BUILD_DIR / sub / self.binary_name
            if p.is_file():
                return p
        return BUILD_DIR / self.binary_name

    def argv(self, options: list[str]) -> list[str]:
        raise NotImplementedError

    def after_start(self, server):
        pass


class KernelBuild(Build):
    name = "kernel"
    binary_name = "baremail-kernel"

    def argv(self, options):
        return [str(self.binary), *options, "--ip", self.host]


class DpdkBuild(Build):
    """Not exercised yet (DPDK build is a later issue). TAP default of SPEC:
    the stack is 10.99.0.1/24, the host gets 10.99.0.2 on bm0."""

    name = "dpdk"
    binary_name = "baremail"
    host = os.environ.get("BAREMAIL_DPDK_IP", "10.99.0.1")
    client_ip = os.environ.get("BAREMAIL_DPDK_HOST_IP", "10.99.0.2")
    loopback = False

    def argv(self, options):
        return [str(self.binary), "--", *options, "--ip", f"{self.host}/24"]

    def after_start(self, server):
        # The TAP interface appears once the EAL is up; give the host its address.
        helpers.wait_until(lambda: Path("/sys/class/net/bm0").exists(), timeout=START_TIMEOUT,
                           what="TAP interface bm0")
        subprocess.run(["ip", "addr", "replace", f"{self.client_ip}/24", "dev", "bm0"], check=True)
        subprocess.run(["ip", "link", "set", "bm0", "up"], check=True)


BUILDS = {"kernel": KernelBuild(), "dpdk": DpdkBuild()}


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
        self.host = build.host
        self.client_ip = build.client_ip
        self.mail_dir = root / "mail"
        self.mail_dir.mkdir(parents=True, exist_ok=True)
        self.stderr_path = root / "stderr.txt"
        self.options = list(options)
        self.proc: subprocess.Popen | None = None
        self.daemon_pids: list[int] = []
        self.starts = 0

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
        return self.build.argv(self.options)

    @property
    def ports(self):
        return [p for p in (self.smtp_port, self.pop3_port, self.echo_port) if p]

    def start(self, wait=True):
        assert self.build.binary.exists(), f"{self.build.binary} not built"
        self.starts += 1
        err = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                     cwd=self.root, start_new_session=True)
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
            while not helpers.port_accepts(self.host, port, timeout=0.5):
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
        os.kill(self.pid, sig)

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Signal and wait; returns the exit code (None for a daemon)."""
        if not self.alive():
            return self.returncode()
        self.send_signal(sig)
        if self.daemon:
            helpers.wait_until(lambda: not helpers.pid_alive(self.pid), timeout=timeout,
                               what="daemon exit")
            return None
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"server did not exit within {timeout} s of signal {sig}")

    def kill(self):
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
    for s in started:
        s.kill()


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
