"""The sanitizer run of the e2e suite (harness/run_tests.sh, suite
"e2e-asan"): servers built with AddressSanitizer and UndefinedBehaviorSanitizer
(build-asan, harness/build.sh), the runtime options they run with, and the
reports they leave.

Every ASan or LeakSanitizer report goes to a file of its own,
`<dir>/report.<pid>` (ASan's log_path), not to stderr: a daemon that closed
its stdio, or a server a test runs by hand, still leaves it where the
fixtures look. The e2e fixtures fail the test during which a report appeared
and show it. UBSan's runtime (GCC 12's libubsan) writes to stderr whatever
log_path says: the fixtures find its "runtime error:" there, and its abort()
ends the process as any crash does."""
from __future__ import annotations

import os
from pathlib import Path

# The first line of every report of the two runtimes (and of LeakSanitizer,
# part of ASan): "==PID==ERROR: AddressSanitizer: heap-use-after-free ...",
# "file:line:col: runtime error: ...".
REPORT_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")

SUPPRESSIONS = Path(__file__).resolve().parent / "lsan.supp"


def is_sanitized(binary: Path) -> bool:
    """True when `binary` was built with AddressSanitizer (its runtime's
    entry point is linked in)."""
    try:
        with open(binary, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


def environment(report_dir: Path) -> dict[str, str]:
    """ASAN_OPTIONS, UBSAN_OPTIONS and LSAN_OPTIONS for the servers: stop at
    the first error (abort(), so the process ends by SIGABRT as any crash
    does), with stack traces, leaks checked at exit, every report into
    report_dir."""
    log = f"log_path={report_dir / 'report'}"
    return {
        "ASAN_OPTIONS": ":".join(("halt_on_error=1", "abort_on_error=1", "detect_leaks=1",
                                  "print_summary=1", "disable_coredump=1", log)),
        "UBSAN_OPTIONS": ":".join(("halt_on_error=1", "abort_on_error=1", "print_stacktrace=1",
                                   "print_summary=1")),
        "LSAN_OPTIONS": f"suppressions={SUPPRESSIONS}:print_suppressions=0",
    }


class Reports:
    """The report files in one directory, and which of them a test has
    already been shown."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.shown: set[str] = set()

    def _files(self) -> list[Path]:
        try:
            return sorted(p for p in self.directory.iterdir() if p.name.startswith("report."))
        except OSError:
            return []

    def take_new(self, pids=None) -> list[tuple[str, str]]:
        """(file name, text) of every report not taken before; only those of
        `pids` when given."""
        out = []
        for path in self._files():
            if path.name in self.shown:
                continue
            if pids is not None and path.name.rsplit(".", 1)[-1] not in {str(p) for p in pids}:
                continue
            self.shown.add(path.name)
            out.append((path.name, path.read_text(errors="replace")))
        return out


def excerpt(text: str, lines: int = 60) -> str:
    """The head of a report: the error line and the stacks that matter (the
    shadow-byte legend at its end does not)."""
    kept = text.splitlines()
    return "\n".join(kept[:lines]) + (f"\n[... {len(kept) - lines} more lines]" if len(kept) > lines else "")


def report_dir_from_environment() -> Path | None:
    """Where reports go when the runtimes' options were given by the caller."""
    for part in os.environ.get("ASAN_OPTIONS", "").split(":"):
        if part.startswith("log_path="):
            return Path(part[len("log_path="):]).parent
    return None
