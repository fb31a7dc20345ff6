"""Adds up the JUnit-style XML reports (GoogleTest and pytest) in a folder and
prints "N passed, M failed[, K skipped]"; exits 1 when anything failed or
nothing ran.

    summarize_results.py FOLDER [--expect suite1,suite2,...]

Every expected suite must have left FOLDER/<suite>.xml: a GoogleTest binary
that crashed or timed out, or a pytest run that was killed, writes none, and
is counted (and named) as one failed test rather than vanishing from the
line. Suppressed or not-run GoogleTest cases count as skipped."""
import argparse
import pathlib
import sys
import xml.etree.ElementTree as ET


def outcome(case) -> str:
    if case.find("failure") is not None or case.find("error") is not None:
        return "failed"
    if case.find("skipped") is not None or case.get("result") in ("skipped", "suppressed") \
            or case.get("status") == "notrun":
        return "skipped"
    return "passed"


def count(path):
    totals = {"passed": 0, "failed": 0, "skipped": 0}
    for case in ET.parse(path).getroot().iter("testcase"):
        totals[outcome(case)] += 1
    return totals


def main():
    p = argparse.ArgumentParser()
    p.add_argument("folder")
    p.add_argument("--expect", default="", help="comma list of suites that must have results")
    args = p.parse_args()
    folder = pathlib.Path(args.folder)
    totals = {"passed": 0, "failed": 0, "skipped": 0}
    for report in sorted(folder.glob("*.xml")):
        try:
            for k, n in count(report).items():
                totals[k] += n
        except ET.ParseError as e:  # a report cut short by a crash
            print(f"suite {report.stem}: unreadable results ({e}), counted as failed")
            totals["failed"] += 1
    for suite in [s for s in args.expect.split(",") if s]:
        if not (folder / f"{suite}.xml").exists():
            print(f"suite {suite}: no results (crashed, timed out or never ran), counted as failed")
            totals["failed"] += 1
    line = f"{totals['passed']} passed, {totals['failed']} failed"
    if totals["skipped"]:
        line += f", {totals['skipped']} skipped"
    print(line)
    return 0 if totals["failed"] == 0 and totals["passed"] > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
