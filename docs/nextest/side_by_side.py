#!/usr/bin/env python3
"""Runs the same habits under cargo-nextest and cargo-isolate, side by side,
on a copy of fixtures/multi (two packages; failing, flaky and slow tests
with MULTI_VERDICTS=1), and writes what each did as a Markdown table:
the exit code and the figure that tells the outcome (tests run, failed,
listed, JUnit failures). The guide's page "Coming from cargo-nextest"
(docs/guide/src/coming-from-nextest.md) shows the table with
{{#include}}, so the file is a fragment: no title of its own. Regenerate
it when either tool changes, and check the page's prose against it.

    python3 docs/nextest/side_by_side.py [--isolate PATH] [--out FILE]
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CONFIG = """
[test-groups.serial]
max-threads = 1

[profile.default]
{extra}

[[profile.default.overrides]]
filter = "test(/^api_/)"
test-group = "serial"

[profile.slow]
slow-timeout = {{ period = "100ms", terminate-after = 2 }}
"""


def run(argv, cwd, env):
    p = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    return p.returncode, p.stdout, p.stderr


def summary_line(text):
    """The tool's last summary line: nextest's `Summary [...]`, ours `N passed...`."""
    for line in reversed(text.splitlines()):
        s = re.sub(r"\x1b\[[0-9;]*m", "", line).strip()
        if s.startswith("Summary") or re.search(r"\d+ (passed|failed)", s):
            return re.sub(r"\s+", " ", s)[:110]
    return ""


def cut(s, n=160):
    """At most n characters, cut at a word, with an ellipsis when cut."""
    return s if len(s) <= n else s[:n].rsplit(" ", 1)[0] + " …"


def said(text):
    """The first error or warning line, else the last line. An error
    that ends in a colon is followed by its reason: nextest's on the next
    `error:` line, ours on the last line (after the expression and its
    carets)."""
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", l).strip() for l in text.splitlines()]
    lines = [l for l in lines if l and not l.startswith(("Finished", "Compiling", "Blocking", "Config"))]
    for i, l in enumerate(lines):
        if l.startswith(("error", "warning")):
            if l.endswith(":") or l.startswith("error: for config file"):
                more = [m for m in lines[i + 1 :] if m.startswith("error")]
                l = f"{l} {more[0] if more else lines[-1]}"
            elif l == "error: failed to parse filterset":
                continue
            return cut(l)
    return cut(lines[-1]) if lines else "(nothing)"


def listed_or_said(out, err):
    """A listing's count when it listed (JSON on stdout), else the error."""
    try:
        json.loads(out)
    except ValueError:
        return said(err + out)
    return listed(out)


def listed(stdout):
    try:
        v = json.loads(stdout)
    except ValueError:
        return "?"
    # nextest lists every test with its `filter-match`; ours, the selected.
    names = [
        n
        for s in v.get("rust-suites", {}).values()
        for n, case in s.get("testcases", {}).items()
        if case.get("filter-match", {"status": "matches"}).get("status") == "matches"
    ]
    return f"{len(names)} selected"


def junit_failures(path):
    if not os.path.exists(path):
        return "no file"
    root = ET.parse(path).getroot()
    return f"JUnit failures={root.get('failures')} errors={root.get('errors')}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--isolate", default=os.path.join(REPO, "target/debug/cargo-isolate"))
    ap.add_argument("--out", default=os.path.join(REPO, "docs/nextest/side-by-side.md"))
    args = ap.parse_args()
    nextest_version = subprocess.run(
        ["cargo", "nextest", "--version"], capture_output=True, text=True
    ).stdout.splitlines()[0]
    tmp = tempfile.mkdtemp(prefix="side-by-side-")
    try:
        ws = os.path.join(tmp, "multi")
        shutil.copytree(os.path.join(REPO, "fixtures/multi"), ws)
        os.makedirs(os.path.join(ws, ".config"))
        with open(os.path.join(ws, ".config/nextest.toml"), "w") as f:
            f.write(CONFIG.format(extra="") + '\n[profile.default.junit]\npath = "junit.xml"\n')
        with open(os.path.join(ws, ".config/isolate.toml"), "w") as f:
            f.write(CONFIG.format(extra=""))
        env = dict(os.environ, MULTI_VERDICTS="1", NO_COLOR="1", CARGO_TERM_COLOR="never")
        env.pop("GITHUB_ACTIONS", None)
        nx = ["cargo", "nextest"]
        iso = [args.isolate, "isolate"]
        junit_n = os.path.join(ws, "target/nextest/default/junit.xml")
        junit_i = os.path.join(ws, "junit-isolate.xml")
        LIST_JSON = ["list", "--message-format", "json"]
        # (habit, nextest args, isolate args, what to read from the output
        # [, an override added to both configuration files for this case])
        cases = [
            ("a red run", ["run", "--no-fail-fast"], ["test", "--junit", junit_i], "summary"),
            ("retries: a flaky test passes", ["run", "--no-fail-fast", "--retries", "1"], ["test", "--retries", "1"], "summary"),
            ("list as JSON", ["list", "--message-format", "json"], ["list", "--message-format", "json"], "listed"),
            ("rdeps(alpha)", ["list", "--message-format", "json", "-E", "rdeps(alpha)"], ["list", "--message-format", "json", "-E", "rdeps(alpha)"], "listed"),
            ("group(serial)", ["list", "--message-format", "json", "-E", "group(serial)"], ["list", "--message-format", "json", "-E", "group(serial)"], "listed"),
            ("count:1/2 partition", ["list", "--message-format", "json", "--partition", "count:1/2"], ["list", "--message-format", "json", "--partition", "count:1/2"], "listed"),
            ("package(nope)", ["run", "-E", "package(nope)"], ["test", "-E", "package(nope)"], "exit"),
            ("a syntax error in -E", ["run", "-E", "test("], ["test", "-E", "test("], "exit"),
            ("kind(nope)", ["run", "-E", "kind(nope)"], ["test", "-E", "kind(nope)"], "exit"),
            ("default()", ["list", "--message-format", "json", "-E", "default()"], ["list", "--message-format", "json", "-E", "default()"], "listed-or-said"),
            ("no test selected", ["run", "-E", "none()"], ["test", "-E", "none()"], "exit"),
            ("list, no test selected", ["list", "--message-format", "json", "-E", "none()"], ["list", "--message-format", "json", "-E", "none()"], "listed-or-said"),
            ("an override filter test(", LIST_JSON, LIST_JSON, "listed-or-said", 'filter = "test("'),
            ("an override filter package(nope)", LIST_JSON, LIST_JSON, "listed-or-said", 'filter = "package(nope)"'),
            ("an override filter rdeps(alpha)", LIST_JSON, LIST_JSON, "listed-or-said", 'filter = "rdeps(alpha)"'),
            ("--no-tests warn", ["run", "-E", "none()", "--no-tests", "warn"], ["test", "-E", "none()", "--no-tests", "warn"], "exit"),
            ("--status-level fail", ["run", "--no-fail-fast", "--status-level", "fail", "--final-status-level", "none"], ["test", "--status-level", "fail", "--final-status-level", "none"], "summary"),
            ("slow-timeout terminate-after", ["run", "--profile", "slow", "-E", "test(api_slow)"], ["test", "--profile", "slow", "-E", "test(api_slow)"], "summary"),
            ("stress runs", ["run", "--stress-count", "3", "-E", "test(alpha_greets)"], ["test", "--stress-count", "3", "-E", "test(alpha_greets)"], "summary"),
            ("show-config", ["show-config", "test-groups"], ["show-config"], "lines"),
            ("archive", ["archive", "--archive-file", os.path.join(tmp, "n.tar.zst")], ["archive", "--archive-file", os.path.join(tmp, "i.tar.zst")], "exit"),
            ("run from the archive", ["run", "--archive-file", os.path.join(tmp, "n.tar.zst"), "--workspace-remap", ws, "-E", "package(alpha)"], ["test", "--archive-file", os.path.join(tmp, "i.tar.zst"), "--workspace-remap", os.path.join(tmp, "unpacked"), "-E", "package(alpha)"], "summary"),
        ]
        rows = []
        for habit, n_args, i_args, read, *override in cases:
            cells = []
            for tool, argv in ((nx, n_args), (iso, i_args)):
                conf = os.path.join(ws, ".config", "nextest.toml" if tool is nx else "isolate.toml")
                with open(conf) as f:
                    kept = f.read()
                if override:
                    with open(conf, "a") as f:
                        f.write(f"\n[[profile.default.overrides]]\n{override[0]}\nretries = 1\n")
                try:
                    code, out, err = run(tool + argv, ws, env)
                finally:
                    with open(conf, "w") as f:
                        f.write(kept)
                out, err = out.replace(tmp, "$TMP"), err.replace(tmp, "$TMP")
                seen = {
                    "summary": lambda: summary_line(err + out),
                    "listed": lambda: listed(out),
                    "lines": lambda: f"{len(out.splitlines())} lines of output",
                    "exit": lambda: said(err + out),
                    "listed-or-said": lambda: listed_or_said(out, err),
                }[read]()
                cells.append((str(code), seen))
                print(f"{habit:32} {tool[-1]:8} exit {code:3} {seen}", file=sys.stderr)
            rows.append((habit, cells))
            if habit == "a red run":
                rows.append(("its JUnit file", [("", junit_failures(junit_n)), ("", junit_failures(junit_i))]))
        isolate_version = run([args.isolate, "isolate", "--version"], ws, env)[1].strip()
        lines = [
            "<!-- Generated by docs/nextest/side_by_side.py: do not edit by hand. -->",
            f"Generated by `python3 docs/nextest/side_by_side.py` with {nextest_version} and",
            f"{isolate_version}, on a copy of `fixtures/multi` with `MULTI_VERDICTS=1` (failing,",
            "flaky and slow tests in two packages) and the same test group and `slow` profile in",
            "`.config/nextest.toml` and `.config/isolate.toml` (the `override` rows add one",
            "override with that filter to both). Exit codes, then what the output said.",
            "",
            "| habit | nextest exit | nextest said | isolate exit | isolate said |",
            "|---|---|---|---|---|",
        ]
        esc = lambda s: s.replace("|", "\\|")
        for habit, (n, i) in rows:
            lines.append(f"| {habit} | {n[0]} | {esc(n[1])} | {i[0]} | {esc(i[1])} |")
        with open(args.out, "w") as f:
            f.write("\n".join(lines) + "\n")
        print(f"wrote {args.out}", file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
