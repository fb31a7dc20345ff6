"""POP3's side of a workload: a mail dir with one Maildir per session (its
own user, so no two sessions ever contend for a maildrop lock), each
holding the one message the session retrieves, and the users file."""
from __future__ import annotations

from pathlib import Path

from replay_lib.workload import Settings, message_text, pop3_user


def prepare_maildrops(mail_dir: Path, sessions: int, s: Settings) -> Path:
    """Fills `mail_dir`; returns the users file (next to it)."""
    users = []
    for sub in ("cur", "new", "tmp"):  # no postmaster, no start (RFC 5321 §4.5.1)
        (mail_dir / "postmaster" / sub).mkdir(parents=True, exist_ok=True)
    for number in range(sessions):
        user = pop3_user(number)
        box = mail_dir / user
        for sub in ("cur", "new", "tmp"):
            (box / sub).mkdir(parents=True, exist_ok=True)
        text = message_text(number, s.size)
        # A Maildir name with its size, as baremail's own (store/maildir.cpp).
        (box / "new" / f"1700000000.R{number}.replay,S={len(text)}").write_bytes(text)
        users.append(f"{user}:{s.password}\n")
    users_file = mail_dir.parent / "users"
    users_file.write_text("".join(users))
    return users_file
