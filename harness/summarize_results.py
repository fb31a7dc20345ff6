"""Adds up the JUnit-style XML reports (GoogleTest and pytest) in a folder and
prints "N passed, M failed"; exits 1 when anything failed or nothing ran."""
import pathlib
import sys
import xml.etree.ElementTree as ET


def count(path):
    passed = failed = skipped = 0
    for case in ET.parse(path).getroot().iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
        elif case.find("skipped") is not None or case.get("result") == "skipped":
            skipped += 1
        else:
            passed += 1
    return passed, failed, skipped


def main(folder):
    totals = [0, 0, 0]
    reports = sorted(pathlib.Path(folder).glob("*.xml"))
    for report in reports:
        for i, n in enumerate(count(report)):
            totals[i] += n
    passed, failed, skipped = totals
    line = f"{passed} passed, {failed} failed"
    if skipped:
        line += f", {skipped} skipped"
    print(line)
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
