"""Before a test run: is every external program the suites call installed?

    /usr/bin/python3 harness/preflight.py

harness/tools.txt names each program (or python module) the build, the
tests, the demo and the benchmark scripts run, with the Debian package that
provides it. This prints one line naming every missing program and its
package and exits 1, so a machine without, say, iputils-ping fails here at
once instead of with a traceback from the middle of a suite.

It also keeps the list honest, so the next slip cannot pass unseen: every
package of tools.txt must be in harness/packages.txt (which CI installs),
and every program that a harness script starts as a literal command — a
Python subprocess/Popen argument list, a shell script's command word — must
be in tools.txt.
"""
from __future__ import annotations

import importlib.util
import pathlib
import re
import shutil
import sys

HARNESS = pathlib.Path(__file__).resolve().parent

# ["prog", ...] as the first argument of subprocess.run/Popen/check_output...
PY_COMMAND = re.compile(r"""(?:subprocess\.\w+|Popen|run)\(\s*\[\s*["']([A-Za-z0-9_./+-]+)["']""")
# shutil.which("prog") and command -v prog mean the script expects prog.
WHICH = re.compile(r"""(?:shutil\.which\(\s*["']|command -v\s+)([A-Za-z0-9_.+-]+)""")
# A shell line that starts with a program name (after an optional "if"/"!"/
# assignment-free prefix), or runs one after a pipe or && / ||.
SH_COMMAND = re.compile(r"""(?:^|[|;&]\s*|\b(?:then|do|else|if|!)\s+)([a-z][a-z0-9_.+-]+)(?=\s)""")  # 2+ letters: not awk's x
# Shell words that are builtins, keywords or tools of the base system
# (essential packages) rather than programs the project must list.
SH_BASE = set("""
    if then else elif fi for while until do done case esac in function return exit local
    export set unset shift trap wait read echo printf cd pwd test true false exec eval
    source kill command type declare readonly break continue sleep cat grep sed awk head
    tail cut sort uniq tr wc mkdir rm cp mv ln chmod chown touch mktemp seq dirname basename
    env id date tee xargs find ls stat sh bash sudo apt-get sync nproc printenv yes
""".split())


def read_tools():
    tools = {}
    for line in (HARNESS / "tools.txt").read_text().splitlines():
        line = line.split("#", 1)[0].split()
        if len(line) == 2:
            tools[line[0]] = line[1]
    return tools


def read_packages():
    words = []
    for line in (HARNESS / "packages.txt").read_text().splitlines():
        words += line.split("#", 1)[0].split()
    return set(words)


def installed(tool):
    if tool.startswith("python3:"):
        return importlib.util.find_spec(tool.split(":", 1)[1]) is not None
    return shutil.which(tool) is not None


def shell_commands(text):
    """Command words of a shell script, skipping here-documents (config files
    written by the script) and the script's own functions."""
    functions = set(re.findall(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\(\)\s*\{", text, re.M))
    heredoc_end = None
    for line in text.splitlines():
        if heredoc_end is not None:
            if line.strip() == heredoc_end:
                heredoc_end = None
            continue
        start = re.search(r"<<-?\s*['\"]?([A-Za-z_]+)['\"]?", line)
        if start:
            heredoc_end = start.group(1)
        code = "" if line.lstrip().startswith("#") else line
        for match in list(SH_COMMAND.finditer(code)) + list(WHICH.finditer(code)):
            if match.group(1) not in functions:
                yield match.group(1)


def programs_called():
    """Programs the harness scripts start as literal command words."""
    found = {}
    for path in HARNESS.rglob("*.py"):
        if path.name == "preflight.py":
            continue
        text = path.read_text(errors="replace")
        for match in PY_COMMAND.finditer(text):
            found.setdefault(pathlib.Path(match.group(1)).name, path)
        for match in WHICH.finditer(text):
            found.setdefault(match.group(1), path)
    for path in list(HARNESS.rglob("*.sh")) + [HARNESS.parent / ".ci" / "run"]:
        if path.exists():
            for word in shell_commands(path.read_text(errors="replace")):
                found.setdefault(word, path)
    return found


def main():
    tools = read_tools()
    packages = read_packages()
    problems = []
    unlisted_packages = sorted({p for p in tools.values() if p not in packages})
    if unlisted_packages:
        problems.append("packages named in harness/tools.txt but missing from harness/packages.txt: "
                        + ", ".join(unlisted_packages))
    local = {p.stem for p in HARNESS.rglob("*")}  # the harness's own scripts
    unlisted = sorted((prog, path) for prog, path in programs_called().items()
                      if prog not in tools and prog not in local and prog not in SH_BASE)
    if unlisted:
        problems.append("programs called but not in harness/tools.txt: "
                        + ", ".join(f"{prog} ({path.relative_to(HARNESS.parent)})" for prog, path in unlisted))
    missing = [(tool, package) for tool, package in tools.items() if not installed(tool)]
    if missing:
        problems.append("missing programs: "
                        + ", ".join(f"{tool} (package {package})" for tool, package in missing)
                        + " -- install them with: bash harness/install_deps.sh")
    for problem in problems:
        print(f"preflight: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
