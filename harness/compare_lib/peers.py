"""Postfix (SMTP) and Dovecot (POP3) as a private instance for harness/compare:
configuration, queue, mail and logs in one folder, their own ports, the
same Maildir layout baremail uses (<mail>/<user>/{cur,new,tmp}), mail owned
by `nobody`. Nothing of the system's own Postfix or Dovecot is touched; the
daemons of the Debian packages need not run (and are not started)."""
from __future__ import annotations

import pwd
import shutil
import subprocess
import time
from pathlib import Path

from compare_lib import cpu


def installed() -> bool:
    return bool(shutil.which("postfix") and shutil.which("dovecot") and shutil.which("postconf"))


def _wait_for_file(path: Path, timeout: float, what: str) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return int(path.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            time.sleep(0.05)
    raise RuntimeError(f"{what}: no pid file {path} after {timeout} s")


class Postfix:
    """postfix -c <dir>: smtpd on ip:port, every recipient user@localhost of
    `users` delivered by virtual(8) into <mail>/<user>/."""

    def __init__(self, root: Path, mail: Path, users: list[str], ip: str, port: int, cpu_list: str):
        self.root, self.mail, self.ip, self.port, self.cpu_list = root, mail, ip, port, cpu_list
        self.conf = root / "conf"
        self.queue = root / "queue"
        self.log = root / "maillog"
        self.master_pid = 0
        self._write_config(users)

    def _write_config(self, users: list[str]):
        nobody = pwd.getpwnam("nobody")
        for d in (self.conf, self.queue, self.root / "data"):
            d.mkdir(parents=True, exist_ok=True)
        shutil.chown(self.root / "data", "postfix")
        (self.conf / "mailboxes").write_text("".join(f"{u}@localhost {u}/\n" for u in users))
        (self.conf / "main.cf").write_text(f"""\
compatibility_level = 3.6
queue_directory = {self.queue}
data_directory = {self.root / 'data'}
inet_interfaces = {self.ip}
inet_protocols = ipv4
myhostname = compare.test
mydestination =
mynetworks = {self.ip}/32 127.0.0.0/8 10.99.0.0/16
virtual_mailbox_domains = localhost
virtual_mailbox_base = {self.mail}
virtual_mailbox_maps = texthash:{self.conf / 'mailboxes'}
virtual_uid_maps = static:{nobody.pw_uid}
virtual_gid_maps = static:{nobody.pw_gid}
alias_maps =
alias_database =
maillog_file = {self.log}
maillog_file_prefixes = {self.root}
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
smtpd_client_message_rate_limit = 0
default_process_limit = 400
in_flow_delay = 0
""")
        # The stock master.cf, smtpd on our address and port, nothing chrooted
        # (a chroot would need copies of /etc files under the queue).
        out = []
        for line in Path("/etc/postfix/master.cf").read_text().splitlines():
            fields = line.split()
            if line and not line[0].isspace() and not line.startswith("#") and len(fields) >= 8:
                if fields[0] == "smtp" and fields[1] == "inet":
                    fields[0] = f"{self.ip}:{self.port}"
                fields[4] = "n"
                line = "  ".join(fields[:8]) + ("  " + " ".join(fields[8:]) if len(fields) > 8 else "")
            out.append(line)
        (self.conf / "master.cf").write_text("\n".join(out) + "\n")

    def start(self):
        env_cmd = ["taskset", "-c", self.cpu_list]
        err = self.root / "postfix.stderr"
        for action in ("check", "start"):
            with open(err, "wb") as f:  # not a pipe: the master keeps what it is given
                r = subprocess.run([*env_cmd, "postfix", "-c", str(self.conf), action],
                                   stdin=subprocess.DEVNULL, stdout=f, stderr=f, timeout=60)
            if r.returncode != 0:
                raise RuntimeError(f"postfix {action} failed ({r.returncode}): {err.read_text()[-1000:]} "
                                   f"{self.log.read_text()[-2000:] if self.log.exists() else ''}")
        self.master_pid = _wait_for_file(self.queue / "pid" / "master.pid", 20, "postfix")

    def cpu_seconds(self) -> float:
        return cpu.tree_seconds(self.master_pid)

    def stop(self):
        subprocess.run(["postfix", "-c", str(self.conf), "stop"], capture_output=True, timeout=60)
        for _ in range(100):
            if not Path(f"/proc/{self.master_pid}").exists():
                break
            time.sleep(0.05)

    def flush_wait(self, timeout: float) -> bool:
        """True once the queue is empty (every accepted message delivered)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not any(p.is_file() for d in ("incoming", "active", "deferred", "maildrop")
                       for p in (self.queue / d).rglob("*")):
                return True
            time.sleep(0.1)
        return False


class Dovecot:
    """dovecot -c <file>: POP3 on ip:port over <mail>/<user> Maildirs, plain
    passwords from a passwd-file, no TLS."""

    def __init__(self, root: Path, mail: Path, users: dict[str, str], ip: str, port: int, cpu_list: str):
        self.root, self.mail, self.ip, self.port, self.cpu_list = root, mail, ip, port, cpu_list
        self.conf = root / "dovecot.conf"
        self.master_pid = 0
        nobody = pwd.getpwnam("nobody")
        run = root / "run"
        run.mkdir(parents=True, exist_ok=True)
        (root / "passwd").write_text("".join(f"{u}:{{PLAIN}}{p}\n" for u, p in users.items()))
        self.conf.write_text(f"""\
base_dir = {run}
state_dir = {root / 'state'}
protocols = pop3
listen = {ip}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
log_path = {root / 'dovecot.log'}
mail_location = maildir:{mail}/%u
pop3_uidl_format = %08Xu%08Xv
first_valid_uid = {nobody.pw_uid}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root / 'passwd'}
}}
userdb {{
  driver = static
  args = uid={nobody.pw_uid} gid={nobody.pw_gid} home={mail}/%u
}}
service pop3-login {{
  inet_listener pop3 {{
    port = {port}
  }}
  process_min_avail = 4
  service_count = 0
}}
service imap-login {{
  inet_listener imap {{
    port = 0
  }}
}}
""")
        (root / "state").mkdir(exist_ok=True)

    def start(self):
        # The daemon keeps the descriptors it was given: a file, not a pipe
        # that would never reach end of file.
        err = self.root / "dovecot.stderr"
        with open(err, "wb") as f:
            r = subprocess.run(["taskset", "-c", self.cpu_list, "dovecot", "-c", str(self.conf)],
                               stdin=subprocess.DEVNULL, stdout=f, stderr=f, timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"dovecot failed ({r.returncode}): {err.read_text()[-2000:]}")
        self.master_pid = _wait_for_file(self.root / "run" / "master.pid", 20, "dovecot")

    def cpu_seconds(self) -> float:
        return cpu.tree_seconds(self.master_pid)

    def stop(self):
        subprocess.run(["doveadm", "-c", str(self.conf), "stop"], capture_output=True, timeout=60)
        for _ in range(100):
            if not Path(f"/proc/{self.master_pid}").exists():
                return
            time.sleep(0.05)
        subprocess.run(["kill", "-KILL", str(self.master_pid)], capture_output=True)
