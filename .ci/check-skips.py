#!/usr/bin/env python3
"""Checks a CI lane's skipped tests against the lane's expected list.

Usage: check-skips.py LANE LOG... [--only TEST...]

A test that did not run is either `#[ignore]`d (libtest prints
`test NAME ... ignored, REASON`) or returned through the integration
tests' `skip` (`SKIPPED: NAME: REASON`, tests/integration/support/skip.rs).
Each lane's test output (LOG) must skip exactly what
.ci/expected-skips/LANE.txt lists, as `NAME: REASON` lines: a skip not on
the list fails (a tool CI installs went missing, a capability was lost),
and so does a listed skip that did not happen (the list is stale, or the
test ran somewhere the list says it cannot). With --only, the lane ran
just those tests: only their entries are expected.
"""

import re
import sys
from pathlib import Path

MARKER = "SKIPPED: "
IGNORED = re.compile(r"^test (\S+) \.\.\. ignored(?:, (.*))?$")


def skips_in(text):
    """The `NAME: REASON` of every skip in a test log."""
    found = []
    carry = ""
    for raw in text.splitlines():
        line = carry + raw.replace("\r", "")
        carry = ""
        at = line.find(MARKER)
        if at >= 0:
            found.append(line[at + len(MARKER):].rstrip())
            # libtest flushes "test NAME ... " before the result: a skip
            # written by a test thread in between lands after it, and the
            # result ("ignored, ...") starts the next line.
            if line[:at].startswith("test "):
                carry = line[:at]
            continue
        m = IGNORED.match(line)
        if m:
            found.append(f"{m.group(1)}: {m.group(2) or '(no reason given)'}")
    return found


def expected_in(path):
    lines = path.read_text().splitlines()
    return [l.strip() for l in lines if l.strip() and not l.lstrip().startswith("#")]


def main(argv):
    args = argv[1:]
    only = None
    if "--only" in args:
        at = args.index("--only")
        args, only = args[:at], set(args[at + 1:])
    if len(args) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    lane, logs = args[0], args[1:]
    listed = f".ci/expected-skips/{lane}.txt"
    expected = expected_in(Path(__file__).parent / "expected-skips" / f"{lane}.txt")
    if only is not None:
        expected = [e for e in expected if e.split(": ", 1)[0] in only]
    skipped = []
    for log in logs:
        skipped += skips_in(Path(log).read_text(errors="replace"))

    unexpected = sorted(set(skipped) - set(expected))
    ran = sorted(set(expected) - set(skipped))
    twice = sorted({s for s in skipped if skipped.count(s) > 1})
    print(f"== skips in lane {lane}: {len(skipped)} (expected {len(expected)}, {listed})")
    for s in sorted(skipped):
        print(f"   {s}")
    ok = True
    for s in unexpected:
        print(f"unexpected skip (not in {listed}): {s}")
        ok = False
    for s in ran:
        print(f"expected skip that did not happen (stale entry in {listed}?): {s}")
        ok = False
    for s in twice:
        print(f"skipped more than once (a test named twice?): {s}")
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
