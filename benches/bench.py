#!/usr/bin/env python3
"""Benchmark cargo-isolate against cargo test and cargo nextest.

One run measures, interleaved (A B F C D E G H, A B F C D E G H, ... for --rounds), the wall time
and the CPU (user + sys of the whole command tree, from os.wait4) of six runners and two floors on
a generated workspace of trivial tests (benches/gen_workspace.py; 10 binaries x 100 tests by default):

  A  cargo-test     `cargo test`                               in-process baseline
  B  nextest        `cargo nextest run`                        one process per test, no isolation
  F  nextest-bwrap  `cargo nextest run` with CARGO_TARGET_<TRIPLE>_RUNNER = a bubblewrap wrapper:
                    one bwrap sandbox per test, the isolation a user can assemble today
  C  isolate        `cargo-isolate isolate test -j J`          one sandbox per test
  D  isolate-none   `... isolate test -j J --isolation none`   our runner, no sandbox
  E  isolate-netns  `... isolate test -j J --reuse-netns`      one sandbox per test, shared netns
  G  floor-sandbox  `floor J sandbox` (benches/floor.c)         the kernel work of the sandbox alone
  H  floor-process  `floor J process`                          the kernel work of a process per test
  I  isolate-base   `--baseline-bin BIN isolate test -j J`     C with another build (a change's before),
                    only with --baseline-bin: before and after in the same interleaved rounds

The build is excluded: the workspace is built once with `cargo test --no-run` (and
`cargo nextest list`) into a target dir of its own, which all the runners then reuse. Every
command's exit status and number of tests run is checked; a failed run, a run of the wrong number
of tests, or a timed run that recompiled aborts the benchmark.

Options add: --memory (reported peak memory of 16/96/512 MiB tests against the truth), --scale
(cargo-isolate on a 10x larger workspace: is the cost linear?), --json OUT (every figure),
--quick (1 round of 2 x 20 tests: a smoke check that the harness works), --only (a subset of the
runners, e.g. before the cargo-isolate binary exists).

G and H are not test runners but floors: a small C program (benches/floor.c, built with `cc`) that
runs the same tests, a process each, with no runner logic at all. H only forks and execs; G does the
kernel work cargo-isolate's sandbox promises (namespaces, tmpfs root, masked /proc, cgroup leaf...)
and nothing else. What a runner costs above its floor is its own; the floor is the kernel's.

Standard library only; see benches/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ in benches/
sys.path.insert(0, str(Path(__file__).resolve().parent))
import gen_workspace  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DEFAULT_ISOLATE_BIN = REPO / "target" / "release" / "cargo-isolate"
DEFAULT_WORK_DIR = Path("/tmp/isolate-bench")

# The order of the interleaved rounds: nextest-bwrap runs right after nextest. Its letter is F
# because E (isolate-netns) was taken first.
RUNNERS = ("cargo-test", "nextest", "nextest-bwrap", "isolate", "isolate-base", "isolate-none",
           "isolate-netns", "floor-sandbox", "floor-process")
LETTER = {"cargo-test": "A", "nextest": "B", "nextest-bwrap": "F", "isolate": "C", "isolate-none": "D",
          "isolate-netns": "E", "floor-sandbox": "G", "floor-process": "H", "isolate-base": "I"}
# Runners of a cargo-isolate binary, and the one that needs --baseline-bin.
ISOLATE_RUNNERS = ("isolate", "isolate-base", "isolate-none", "isolate-netns")
FLOOR_RUNNERS = ("floor-sandbox", "floor-process")
FLOOR_SOURCE = Path(__file__).resolve().parent / "floor.c"
NEXTEST_RUNNERS = ("nextest", "nextest-bwrap")
DESCRIPTION = {
    "cargo-test": "cargo test (in-process)",
    "nextest": "cargo nextest run",
    "nextest-bwrap": "cargo nextest run + bwrap runner",
    "isolate": "cargo-isolate per-test",
    "isolate-base": "cargo-isolate per-test, baseline",
    "isolate-none": "cargo-isolate --isolation none",
    "isolate-netns": "cargo-isolate --reuse-netns",
    "floor-sandbox": "floor: the sandbox's kernel work",
    "floor-process": "floor: a process per test",
}
ALIASES = {
    "a": "cargo-test", "cargo-test": "cargo-test", "cargo_test": "cargo-test", "test": "cargo-test",
    "cargo": "cargo-test",
    "b": "nextest", "nextest": "nextest", "cargo-nextest": "nextest",
    "f": "nextest-bwrap", "nextest-bwrap": "nextest-bwrap", "nextest_bwrap": "nextest-bwrap",
    "bwrap": "nextest-bwrap", "bubblewrap": "nextest-bwrap",
    "c": "isolate", "isolate": "isolate", "cargo-isolate": "isolate",
    "i": "isolate-base", "isolate-base": "isolate-base", "baseline": "isolate-base",
    "d": "isolate-none", "isolate-none": "isolate-none", "none": "isolate-none",
    "isolate_none": "isolate-none",
    "e": "isolate-netns", "isolate-netns": "isolate-netns", "netns": "isolate-netns",
    "g": "floor-sandbox", "floor-sandbox": "floor-sandbox", "floor": "floor-sandbox",
    "h": "floor-process", "floor-process": "floor-process",
}
MIB = 1024 * 1024


class BenchError(Exception):
    """A run failed or ran the wrong number of tests: the benchmark stops."""

    def __init__(self, summary: str, details: str = ""):
        super().__init__(summary)
        self.summary = summary
        self.details = details


def log(msg: str = "") -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Running one command


@dataclass
class Sample:
    runner: str
    phase: str  # "warmup", "round", "scale", "memory"
    round: int
    wall_s: float
    cpu_user_s: float
    cpu_sys_s: float
    tree_maxrss_bytes: int  # largest ru_maxrss of any process in the tree (not the runner's own)
    tests_run: int
    tests_passed: int
    exit_code: int
    report: dict | None = None  # figures taken from cargo-isolate's report

    @property
    def cpu_s(self) -> float:
        return self.cpu_user_s + self.cpu_sys_s


@dataclass
class Workspace:
    name: str
    path: Path
    target: Path
    tests: int

    @property
    def manifest(self) -> Path:
        return self.path / "Cargo.toml"


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["CARGO_TERM_COLOR"] = "never"
    env["NO_COLOR"] = "1"
    env.pop("CARGO_TARGET_DIR", None)  # every command gets --target-dir explicitly
    env.pop("CARGO_BUILD_TARGET_DIR", None)
    # A target runner set in the caller's environment would wrap every runner's tests; only
    # nextest-bwrap gets one, through `extra`.
    for k in [k for k in env if k.startswith("CARGO_TARGET_") and k.endswith("_RUNNER")]:
        del env[k]
    env.update(extra or {})
    return env


def run_measured(
    cmd: list[str], cwd: Path, logbase: Path, extra_env: dict[str, str] | None = None,
    stdin: Path | None = None,
) -> tuple[int, float, os.stat_result]:
    """Run cmd with stdout/stderr to files; return (exit code, wall seconds, rusage of the tree).

    The rusage comes from wait4 on the direct child, which (as RUSAGE_BOTH) includes every
    descendant that was waited for: cargo, the test binaries, sandbox inits and their tests.
    """
    logbase.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{logbase}.out", "wb") as out, open(f"{logbase}.err", "wb") as err, \
            open(stdin or os.devnull, "rb") as inp:
        prefix = "".join(f"{k}={shlex.quote(v)} " for k, v in (extra_env or {}).items())
        out.write(f"$ {prefix}{' '.join(cmd)}\n".encode())
        out.flush()
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=child_env(extra_env), stdin=inp, stdout=out, stderr=err
        )
        try:
            _, status, ru = os.wait4(proc.pid, 0)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        wall = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    proc.returncode = code  # reaped by wait4 already: keep Popen from trying again
    return code, wall, ru


def tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return "(no output file)"
    return "\n".join("    " + line for line in text[-lines:])


def fail(what: str, logbase: Path, why: str) -> BenchError:
    return BenchError(
        f"{what}: {why} (logs: {logbase}.out, .err)",
        f"  stdout: {logbase}.out\n{tail(Path(f'{logbase}.out'))}\n"
        f"  stderr: {logbase}.err\n{tail(Path(f'{logbase}.err'))}",
    )


RE_CARGO_RESULT = re.compile(
    r"^test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored", re.MULTILINE
)
RE_NEXTEST_SUMMARY = re.compile(r"Summary \[[^\]]*\]\s+(\d+) tests? run: (\d+) passed")
RE_FLOOR_RESULT = re.compile(r"^(\d+) tests, -j \d+: [\d.]+ s", re.MULTILINE)
RE_FLOOR_FAILED = re.compile(r"^test \d+ failed", re.MULTILINE)
RE_COMPILING = re.compile(r"^\s*Compiling (benchsuite|benchmem) ", re.MULTILINE)


def command_for(runner: str, ws: Workspace, jobs: int, args, report: Path) -> list[str]:
    isolate_bin = args.baseline_bin if runner == "isolate-base" else args.isolate_bin
    common = ["--manifest-path", str(ws.manifest), "--target-dir", str(ws.target)]
    if runner == "cargo-test":
        return ["cargo", "test", *common, "--", "--test-threads", str(jobs)]
    if runner in NEXTEST_RUNNERS:  # nextest-bwrap: the same command, plus runner_env()
        return ["cargo", "nextest", "run", *common, "-j", str(jobs)]
    if runner in ISOLATE_RUNNERS:
        cmd = [str(isolate_bin), "isolate", "test", *common, "-j", str(jobs), "--report", str(report)]
        if runner == "isolate-none":
            cmd += ["--isolation", "none"]
        if runner == "isolate-netns":
            cmd += ["--reuse-netns"]
        return cmd
    if runner in FLOOR_RUNNERS:
        mode = "sandbox" if runner == "floor-sandbox" else "process"
        return [str(floor_dir(ws.path.parent) / "floor"), str(jobs), mode, str(ws.target), str(ws.path)]
    raise ValueError(runner)


def _num(v) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def read_report(path: Path) -> dict:
    """The figures we use from a cargo-isolate report, read defensively."""
    data = json.loads(path.read_text())
    summary = data.get("summary") or {}
    runner = data.get("runner") or {}
    tests = data.get("tests") or []
    cpu = [_num(t.get("cpu_ms")) for t in tests]
    dur = [_num(t.get("duration_ms")) for t in tests]
    return {
        "total": summary.get("total"),
        "passed": summary.get("passed"),
        "failed": summary.get("failed"),
        "summary": summary,
        "complete": data.get("complete"),
        "isolation": (data.get("settings") or {}).get("isolation"),
        "duration_ms": _num(data.get("duration_ms")),
        "runner_peak_rss_bytes": _num(runner.get("peak_rss_bytes")),
        "sandbox_setup_cpu_ms": _num(runner.get("sandbox_setup_cpu_ms")),
        "sum_test_cpu_ms": sum(c for c in cpu if c is not None) if any(c is not None for c in cpu) else None,
        "sum_test_duration_ms": sum(d for d in dur if d is not None) if any(d is not None for d in dur) else None,
        "host": data.get("host"),
        "tests": [
            {
                "name": t.get("name"),
                "id": t.get("id"),
                "outcome": t.get("outcome"),
                "peak_memory_bytes": _num(t.get("peak_memory_bytes")),
                "peak_rss_bytes": _num(t.get("peak_rss_bytes")),
                "cpu_ms": _num(t.get("cpu_ms")),
                "duration_ms": _num(t.get("duration_ms")),
            }
            for t in tests
        ],
    }


def run_runner(
    runner: str, ws: Workspace, phase: str, rnd: int, args, keep_tests: bool = False
) -> Sample:
    """Run one runner once on ws, check it, and return its sample."""
    logbase = args.work_dir / "logs" / f"{ws.name}-{phase}{rnd}-{runner}"
    report = args.work_dir / "reports" / f"{ws.name}-{phase}{rnd}-{runner}.json"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.unlink(missing_ok=True)
    cmd = command_for(runner, ws, args.jobs, args, report)
    what = f"{LETTER[runner]} {runner} ({phase} {rnd}, {ws.name})"
    stdin = floor_tests_file(ws) if runner in FLOOR_RUNNERS else None
    code, wall, ru = run_measured(cmd, ws.path, logbase, runner_env(runner, ws, args), stdin)
    out = Path(f"{logbase}.out").read_text(errors="replace")
    err = Path(f"{logbase}.err").read_text(errors="replace")
    if code != 0:
        raise fail(what, logbase, f"exit status {code} (expected 0)")

    rep = None
    if runner == "cargo-test":
        results = RE_CARGO_RESULT.findall(out)
        if not results:
            raise fail(what, logbase, "no `test result:` line in cargo test's output")
        passed = sum(int(p) for p, _, _ in results)
        failed = sum(int(f) for _, f, _ in results)
        ran = passed + failed
    elif runner in NEXTEST_RUNNERS:
        m = RE_NEXTEST_SUMMARY.findall(out + err)
        if not m:
            raise fail(what, logbase, "no `Summary [...] N tests run: N passed` line in nextest's output")
        ran, passed = int(m[-1][0]), int(m[-1][1])
    elif runner in FLOOR_RUNNERS:
        m = RE_FLOOR_RESULT.findall(out)
        if not m:
            raise fail(what, logbase, "no `N tests, -j J: S s` line in the floor's output")
        ran = int(m[-1])
        passed = ran - len(RE_FLOOR_FAILED.findall(err))
    else:
        if not report.exists():
            raise fail(what, logbase, f"exit 0 but no report at {report}")
        try:
            rep = read_report(report)
        except (ValueError, OSError) as e:
            raise fail(what, logbase, f"unreadable report {report}: {e}")
        if not isinstance(rep["total"], int) or not isinstance(rep["passed"], int):
            raise fail(what, logbase, f"report {report} has no integer summary.total / summary.passed")
        ran, passed = rep["total"], rep["passed"]
        want = "none" if runner == "isolate-none" else "per-test"
        got = rep.get("isolation")
        if got is not None and got != want:
            raise fail(what, logbase, f"report says settings.isolation = {got!r}, expected {want!r}")
        if not keep_tests:
            rep = {k: v for k, v in rep.items() if k != "tests"}

    if ran != ws.tests or passed != ws.tests:
        raise fail(what, logbase, f"ran {ran} tests, {passed} passed; expected {ws.tests} run and passed")
    if phase not in ("warmup", "memory") and RE_COMPILING.search(out + err):
        raise fail(
            what,
            logbase,
            "it recompiled the workspace during a timed run: the build is not shared between the "
            "runners (different profile, flags or toolchain?)",
        )
    s = Sample(
        runner=runner,
        phase=phase,
        round=rnd,
        wall_s=wall,
        cpu_user_s=ru.ru_utime,
        cpu_sys_s=ru.ru_stime,
        tree_maxrss_bytes=ru.ru_maxrss * 1024,
        tests_run=ran,
        tests_passed=passed,
        exit_code=code,
        report=rep,
    )
    log(f"  {what}: {wall:7.3f} s wall, {s.cpu_s:7.3f} s cpu, {ran} tests")
    return s


# --------------------------------------------------------------------------------------------
# Preparing workspaces


def prepare(ws: Workspace, kind: str, args, binaries: int = 0, tests_per_binary: int = 0) -> None:
    """(Re)generate ws and build it once, outside any timing."""
    log(f"== preparing {ws.name}: {ws.tests} tests in {ws.path} (target dir {ws.target})")
    if kind == "memory":
        changed = gen_workspace.generate_memory(ws.path)
    else:
        changed = gen_workspace.generate_suite(ws.path, binaries, tests_per_binary)
    log(f"  generated: {len(changed)} file(s) written")
    runners = args.runners_for(ws)
    # JSON on stdout names the test binaries (setup_floor); cargo's progress stays on stderr.
    steps = [("build", ["cargo", "test", "--no-run", "--message-format", "json",
                        "--manifest-path", str(ws.manifest),
                        "--target-dir", str(ws.target)])]
    if any(r in NEXTEST_RUNNERS for r in runners):
        steps.append(("nextest-list", ["cargo", "nextest", "list", "--manifest-path",
                                       str(ws.manifest), "--target-dir", str(ws.target)]))
    for name, cmd in steps:
        logbase = args.work_dir / "logs" / f"{ws.name}-{name}"
        code, wall, _ = run_measured(cmd, ws.path, logbase)
        if code != 0:
            raise fail(f"{name} of {ws.name}", logbase, f"exit status {code}")
        log(f"  {name}: {wall:.1f} s (not timed)")
    if "nextest-bwrap" in runners:
        setup_bwrap(ws, args)
    if any(r in FLOOR_RUNNERS for r in runners):
        setup_floor(ws, args)


# --------------------------------------------------------------------------------------------
# nextest-bwrap (F): cargo nextest run with a bubblewrap wrapper as the target runner
#
# nextest runs every test binary through the target runner, `runner <binary> <args>...`, both to
# list its tests and to run each test, so every test (and every listing) gets a fresh bwrap
# sandbox. The wrapper is written per workspace because it binds that workspace and its target
# dir writable.


def runner_env_var(triple: str) -> str:
    """cargo's name for the target runner of `triple`, e.g. CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER."""
    return "CARGO_TARGET_" + re.sub(r"[-.]", "_", triple.upper()) + "_RUNNER"


def bwrap_argv(bwrap: str, ws: Workspace) -> list[str]:
    """The bwrap command line of the wrapper, without the test's own argv ("$@")."""
    wsd, tgt = str(ws.path), str(ws.target)
    return [
        bwrap,
        "--unshare-all",       # new user (if possible), ipc, pid, net, uts and cgroup namespaces
        "--die-with-parent",   # the sandbox dies with nextest (timeouts, Ctrl-C)
        "--new-session",       # setsid: no access to the controlling terminal (TIOCSTI)
        "--ro-bind", "/", "/",  # the host read-only: toolchain, libs, the test binaries' deps
        "--tmpfs", "/tmp",     # a private, empty /tmp
        "--proc", "/proc",     # a procfs of the new pid namespace
        "--dev", "/dev",       # a minimal /dev (null, zero, random, tty, shm, ...)
        "--bind", wsd, wsd,    # writable, as under cargo: the workspace (the tests' cwd) ...
        "--bind", tgt, tgt,    # ... and the target dir (binaries, OUT_DIR, tmp files)
    ]


def bwrap_wrapper(args, ws: Workspace) -> Path:
    return args.work_dir / "bwrap" / f"{ws.name}-runner.sh"


def runner_env(runner: str, ws: Workspace, args) -> dict[str, str]:
    """Extra environment of a runner's command: the target runner for nextest-bwrap; for the
    floors, the dynamic library path cargo gives a test (the loader searches it in each test)."""
    if runner == "nextest-bwrap":
        return {args.runner_var: str(bwrap_wrapper(args, ws))}
    if runner in FLOOR_RUNNERS:
        lib = Path(args.sysroot) / "lib"
        dirs = [ws.target / "debug" / "deps", ws.target / "debug", lib,
                lib / "rustlib" / args.host_triple / "lib"]
        return {"LD_LIBRARY_PATH": ":".join(str(d) for d in dirs)}
    return {}


def write_script(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "#!/bin/sh\n" + "\n".join(lines) + "\n"
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    path.chmod(0o755)


# Run inside one sandbox by the isolation check. The pids are read with shell builtins only, so
# that no other process exists at that moment: bwrap's init is pid 1, this shell pid 2.
ISOLATION_PROBE = r"""
pids=; for p in /proc/[0-9]*; do pids="$pids ${p#/proc/}"; done; echo "pids:$pids"
n=; while IFS=: read -r a b; do [ -n "$b" ] && n="$n ${a##* }"; done < /proc/net/dev; echo "netdev:$n"
s=; for d in /sys/class/net/*; do s="$s ${d##*/}"; done; echo "sys_class_net:$s"
if (: > /.bench-bwrap-probe) 2>/dev/null; then rm -f /.bench-bwrap-probe; echo "root_fs: writable"; else echo "root_fs: read-only"; fi
for d in "$1" "$2"; do
  if (: > "$d/.bench-bwrap-probe") 2>/dev/null; then rm -f "$d/.bench-bwrap-probe"; echo "bind: writable $d"; else echo "bind: NOT writable $d"; fi
done
t=; for f in /tmp/* /tmp/.[!.]*; do [ -e "$f" ] && t="$t ${f#/tmp/}"; done; echo "tmp:$t"
echo "uid: $(id -u)"
"""


def bwrap_isolation_check(wrapper: Path, ws: Workspace, args) -> dict:
    """Run a shell through the wrapper once (not timed) and check that it is really isolated."""
    logbase = args.work_dir / "logs" / f"{ws.name}-bwrap-isolation-check"
    cmd = [str(wrapper), "/bin/sh", "-c", ISOLATION_PROBE, "probe", str(ws.path), str(ws.target)]
    code, _, _ = run_measured(cmd, ws.path, logbase)
    out = Path(f"{logbase}.out").read_text(errors="replace")
    if code != 0:
        raise fail(f"bwrap isolation check of {ws.name}", logbase,
                   f"exit status {code}: bwrap cannot create the sandbox here")
    fields: dict[str, list[str]] = {}
    for line in out.splitlines()[1:]:
        key, _, val = line.partition(":")
        fields.setdefault(key.strip(), []).append(val.strip())
    first = lambda k: (fields.get(k) or [""])[0]  # noqa: E731
    res = {
        "pids": first("pids").split(),
        "net_devices": first("netdev").split(),
        "sys_class_net": first("sys_class_net").split(),
        "root_fs": first("root_fs"),
        "binds": fields.get("bind", []),
        "tmp": first("tmp").split(),
        "uid": first("uid"),
    }
    problems = []
    if res["pids"] != ["1", "2"]:
        problems.append(f"processes visible in /proc: {res['pids']} (expected 1 and 2: a new pid namespace)")
    if res["net_devices"] != ["lo"]:
        problems.append(f"network devices in /proc/net/dev: {res['net_devices']} (expected only lo)")
    if res["root_fs"] != "read-only":
        problems.append(f"/ is {res['root_fs'] or 'unknown'} (expected read-only)")
    if any(not b.startswith("writable") for b in res["binds"]) or len(res["binds"]) != 2:
        problems.append(f"workspace / target dir binds: {res['binds']} (expected both writable)")
    res["ok"] = not problems
    res["problems"] = problems
    if problems:
        raise fail(f"bwrap isolation check of {ws.name}", logbase, "; ".join(problems))
    return res


def setup_bwrap(ws: Workspace, args) -> None:
    """Write ws's wrapper, check that it isolates, and that nextest really runs tests through it."""
    wrapper = bwrap_wrapper(args, ws)
    argv = bwrap_argv(args.bwrap, ws)
    write_script(wrapper, [
        "# Written by benches/bench.py: the target runner of the nextest-bwrap runner (F).",
        "# nextest runs `<this> <test binary> <args>...`: one bwrap sandbox per test.",
        "exec " + " ".join(shlex.quote(a) for a in argv) + ' "$@"',
    ])
    chk = bwrap_isolation_check(wrapper, ws, args)
    args.bwrap_checks[ws.name] = {"wrapper": str(wrapper), "argv": argv + ['"$@"'], **chk}
    log(f"  bwrap isolation check: pids {' '.join(chk['pids'])}, net devices "
        f"{' '.join(chk['net_devices'])}, / {chk['root_fs']}, workspace and target dir writable, "
        f"uid {chk['uid']} inside (not timed)")

    # Does nextest pick up the runner variable? List once through a probe wrapper that notes
    # each binary it is given before it execs the real wrapper.
    marker = args.work_dir / "bwrap" / f"{ws.name}-probe.log"
    marker.unlink(missing_ok=True)
    probe = args.work_dir / "bwrap" / f"{ws.name}-probe.sh"
    write_script(probe, [
        f'printf "%s\\n" "$1" >> {shlex.quote(str(marker))}',
        "exec " + shlex.quote(str(wrapper)) + ' "$@"',
    ])
    logbase = args.work_dir / "logs" / f"{ws.name}-nextest-bwrap-list"
    cmd = ["cargo", "nextest", "list", "--manifest-path", str(ws.manifest),
           "--target-dir", str(ws.target)]
    code, wall, _ = run_measured(cmd, ws.path, logbase, {args.runner_var: str(probe)})
    if code != 0:
        raise fail(f"nextest-bwrap-list of {ws.name}", logbase, f"exit status {code}")
    seen = set(marker.read_text().split()) if marker.exists() else set()
    want = len(list((ws.path / "tests").glob("*.rs")))
    if len(seen) != want:
        raise fail(f"nextest-bwrap-list of {ws.name}", logbase,
                   f"nextest ran {len(seen)} test binaries through {args.runner_var}, expected "
                   f"{want}: it does not use the bwrap wrapper")
    args.bwrap_checks[ws.name]["binaries_listed_through_runner"] = len(seen)
    log(f"  nextest-bwrap-list: {wall:.1f} s, all {want} test binaries listed through the "
        f"wrapper (not timed)")


def ensure_bwrap() -> str:
    """The path of bwrap; installs Debian's bubblewrap package when it is missing and we can."""
    path = shutil.which("bwrap")
    if path:
        return path
    how = ("install bubblewrap (Debian/Ubuntu: `sudo apt-get install -y bubblewrap`, Fedora: "
           "`sudo dnf install bubblewrap`), or leave the runner out with --only")
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        raise SystemExit(f"bench: the nextest-bwrap runner needs bwrap, which is not on PATH: {how}")
    log("bench: the nextest-bwrap runner needs bwrap, which is not installed: "
        "running `apt-get install -y bubblewrap`")
    install = [apt, "install", "-y", "bubblewrap"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run = lambda c: subprocess.run(c, env=env, stdin=subprocess.DEVNULL,  # noqa: E731
                                   stdout=sys.stderr).returncode
    code = run(install)
    if code != 0:
        log("bench: apt-get install failed: running `apt-get update` and trying once more")
        run([apt, "update"])
        code = run(install)
    path = shutil.which("bwrap")
    if code != 0 or path is None:
        raise SystemExit(f"bench: `apt-get install -y bubblewrap` failed (exit status {code}): {how}")
    log(f"bench: installed {path}")
    return path


def host_triple() -> str:
    try:
        out = subprocess.run(["rustc", "-vV"], capture_output=True, text=True, timeout=60,
                             env=child_env(), stdin=subprocess.DEVNULL).stdout
    except (OSError, subprocess.TimeoutExpired) as e:
        raise SystemExit(f"bench: `rustc -vV` failed: {e}")
    m = re.search(r"^host:\s*(\S+)", out, re.MULTILINE)
    if not m:
        raise SystemExit("bench: no `host:` line in `rustc -vV`: cannot name the target runner variable")
    return m.group(1)


# --------------------------------------------------------------------------------------------
# The floors (G, H): benches/floor.c runs the tests listed in a file, a process each


def floor_dir(work_dir: Path) -> Path:
    """Where the floor program and its test lists go. Every workspace lives directly in the work
    dir, so a runner's command finds it from its workspace: floor_dir(ws.path.parent)."""
    return work_dir / "floor"


def build_floor(args) -> str:
    """Compile benches/floor.c into <work-dir>/floor/floor; the compiler's name."""
    cc = next((c for c in (os.environ.get("CC"), "cc", "gcc", "clang") if c and shutil.which(c)), None)
    if cc is None:
        raise SystemExit("bench: the floor runners (G, H) need a C compiler (`cc`), which is not on "
                         "PATH: install one (Debian/Ubuntu: `sudo apt-get install -y gcc`), or leave "
                         "them out with --only")
    out = floor_dir(args.work_dir) / "floor"
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [cc, "-O2", "-pthread", "-o", str(out), str(FLOOR_SOURCE)]
    res = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if res.returncode != 0:
        raise SystemExit(f"bench: `{' '.join(cmd)}` failed:\n{res.stderr}")
    return cc


def floor_tests_file(ws: Workspace) -> Path:
    return floor_dir(ws.path.parent) / f"{ws.name}.tsv"


def setup_floor(ws: Workspace, args) -> None:
    """Lists every test of ws's test binaries, from the build step's JSON, for the floors."""
    binaries = []
    build_out = args.work_dir / "logs" / f"{ws.name}-build.out"
    for line in build_out.read_text().splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if msg.get("reason") == "compiler-artifact" and msg.get("executable") and \
                (msg.get("profile") or {}).get("test"):
            binaries.append(msg["executable"])
    rows = []
    for b in binaries:
        res = subprocess.run([b, "--list", "--format", "terse"], capture_output=True, text=True,
                             stdin=subprocess.DEVNULL, env=child_env(runner_env("floor-process", ws, args)))
        rows += [f"{b}\t{line[:-len(': test')]}" for line in res.stdout.splitlines()
                 if line.endswith(": test")]
    if len(rows) != ws.tests:
        raise BenchError(f"the floors: listed {len(rows)} tests in {ws.name}'s binaries, expected {ws.tests}")
    path = floor_tests_file(ws)
    path.write_text("\n".join(rows) + "\n")
    log(f"  floor: {len(rows)} tests listed in {path}")


# --------------------------------------------------------------------------------------------
# Statistics and printing


def stats(samples: list[Sample]) -> dict:
    walls = [s.wall_s for s in samples]
    cpus = [s.cpu_s for s in samples]
    d = {
        "rounds": len(samples),
        "wall_s": walls,
        "cpu_s": cpus,
        "median_wall_s": statistics.median(walls),
        "min_wall_s": min(walls),
        "max_wall_s": max(walls),
        "median_cpu_s": statistics.median(cpus),
        "min_cpu_s": min(cpus),
        "tests": samples[0].tests_run,
        "max_tree_maxrss_bytes": max(s.tree_maxrss_bytes for s in samples),
    }
    reps = [s.report for s in samples if s.report]
    if reps:
        def med(key):
            vals = [r[key] for r in reps if r.get(key) is not None]
            return statistics.median(vals) if vals else None

        def mx(key):
            vals = [r[key] for r in reps if r.get(key) is not None]
            return max(vals) if vals else None

        d["report"] = {
            "median_duration_ms": med("duration_ms"),
            "max_runner_peak_rss_bytes": mx("runner_peak_rss_bytes"),
            "median_runner_peak_rss_bytes": med("runner_peak_rss_bytes"),
            "median_sandbox_setup_cpu_ms": med("sandbox_setup_cpu_ms"),
            "median_sum_test_cpu_ms": med("sum_test_cpu_ms"),
            "median_sum_test_duration_ms": med("sum_test_duration_ms"),
            "host": reps[0].get("host"),
        }
    return d


def fmt_mib(b) -> str:
    return "n/a" if b is None else f"{b / MIB:.1f} MiB"


def fmt(v, spec: str = ".3f", unit: str = "") -> str:
    return "n/a" if v is None else f"{v:{spec}}{unit}"


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def print_main(res: dict, tests: int) -> None:
    per = res["runners"]
    print()
    print(f"Runners on {tests} trivial tests ({res['config']['binaries']} binaries x "
          f"{res['config']['tests_per_binary']}), -j {res['config']['jobs']}, "
          f"{res['config']['rounds']} interleaved round(s); build excluded")
    print()
    hdr = f"{'':2} {'runner':32} {'median s':>9} {'min s':>9} {'max s':>9} {'cpu s':>9} {'ms/test':>9}"
    print(hdr)
    print("-" * len(hdr))
    for r in RUNNERS:
        if r not in per:
            continue
        st = per[r]
        print(f"{LETTER[r]:2} {DESCRIPTION[r]:32} {st['median_wall_s']:9.3f} {st['min_wall_s']:9.3f} "
              f"{st['max_wall_s']:9.3f} {st['median_cpu_s']:9.3f} "
              f"{1000 * st['median_wall_s'] / tests:9.3f}")
    print("  (median/min/max of wall seconds; cpu s = median user+sys of the whole command tree)")

    d = res["derived"]
    lines = [
        ("isolate / nextest (C/B)", d.get("ratio_isolate_nextest"), "x"),
        ("isolate / cargo test (C/A)", d.get("ratio_isolate_cargo_test"), "x"),
        ("isolate / isolate-none (C/D)", d.get("ratio_isolate_isolate_none"), "x"),
        ("nextest / cargo test (B/A)", d.get("ratio_nextest_cargo_test"), "x"),
        ("isolate --reuse-netns / nextest (E/B)", d.get("ratio_isolate_netns_nextest"), "x"),
        ("nextest-bwrap / nextest (F/B)", d.get("ratio_nextest_bwrap_nextest"), "x"),
        ("isolate / nextest-bwrap (C/F)", d.get("ratio_isolate_nextest_bwrap"), "x"),
        ("floor of the sandbox / nextest (G/B)", d.get("ratio_floor_sandbox_nextest"), "x"),
        ("isolate / floor of the sandbox (C/G)", d.get("ratio_isolate_floor_sandbox"), "x"),
        ("baseline / nextest (I/B)", d.get("ratio_isolate_base_nextest"), "x"),
        ("baseline / floor of the sandbox (I/G)", d.get("ratio_isolate_base_floor_sandbox"), "x"),
        ("isolate / baseline (C/I)", d.get("ratio_isolate_isolate_base"), "x"),
        ("floor of a process / nextest (H/B)", d.get("ratio_floor_process_nextest"), "x"),
        ("isolate-none / floor of a process (D/H)", d.get("ratio_isolate_none_floor_process"), "x"),
    ]
    if any(v is not None for _, v, _ in lines):
        print()
        print("Ratios of median wall time:")
        width = max(len(label) for label, v, _ in lines if v is not None)
        for label, v, unit in lines:
            if v is not None:
                print(f"  {label:{width}}  {v:8.2f}{unit}")
    if "bwrap_wall_ms_per_test" in d:
        print()
        print("Cost of a bwrap sandbox per test under nextest (F - B, divided by the number of tests):")
        print(f"  wall  (median F - median B) / tests   {fmt(d.get('bwrap_wall_ms_per_test'), '8.3f', ' ms')}"
              f"   (at -j {res['config']['jobs']}: elapsed time, not per-core)")
        print(f"  cpu   (median F - median B) / tests   {fmt(d.get('bwrap_cpu_ms_per_test'), '8.3f', ' ms')}"
              "   (user+sys of the whole tree)")
        print("  (F has no cgroup and measures no memory: see benches/README.md)")
    if "sandbox_wall_ms_per_test" in d or "sandbox_cpu_ms_per_test" in d:
        print()
        print("Cost of the sandbox per test (C - D, divided by the number of tests):")
        print(f"  wall  (median C - median D) / tests   {fmt(d.get('sandbox_wall_ms_per_test'), '8.3f', ' ms')}"
              f"   (at -j {res['config']['jobs']}: elapsed time, not per-core)")
        print(f"  cpu   (median C - median D) / tests   {fmt(d.get('sandbox_cpu_ms_per_test'), '8.3f', ' ms')}"
              "   (user+sys of the whole tree)")
        if d.get("sandbox_setup_cpu_ms_per_test") is not None:
            print(f"  reported runner.sandbox_setup_cpu_ms / tests  {d['sandbox_setup_cpu_ms_per_test']:8.3f} ms")
    iso = [r for r in ("isolate", "isolate-none", "isolate-netns") if r in per and per[r].get("report")]
    if iso:
        print()
        print("From cargo-isolate's report (median over rounds; peak RSS = max over rounds):")
        for r in iso:
            rep = per[r]["report"]
            in_tests = rep["median_sum_test_cpu_ms"]
            outside = (None if in_tests is None
                       else (1000 * per[r]["median_cpu_s"] - in_tests) / tests)
            print(f"  {LETTER[r]} {r:13} runner peak RSS {fmt_mib(rep['max_runner_peak_rss_bytes']):>10}"
                  f"   report duration {fmt(rep['median_duration_ms'], '.0f', ' ms'):>8}"
                  f"   sum of tests' cpu_ms {fmt(in_tests, '.0f', ' ms'):>8}"
                  f"   cpu outside the tests {fmt(outside, '.2f', ' ms/test')}")
        print("  (cpu outside the tests = (tree cpu - sum of the tests' cgroup cpu_ms) / tests: "
              "runner, cargo, listing)")


def print_scale(sc: dict) -> None:
    print()
    print(f"Scale: {sc['small_tests']} -> {sc['large_tests']} tests (x{sc['factor']:g}), "
          f"{sc['rounds']} round(s) at the large size")
    hdr = f"  {'runner':14} {'small med s':>12} {'large med s':>12} {'large min s':>12} {'ratio':>8} {'ms/test small->large':>22}  verdict"
    print(hdr)
    for r, row in sc["runners"].items():
        verdict = ("n/a" if row["ratio"] is None else
                   "linear" if row["ratio"] <= row["linear_limit"] else "SUPERLINEAR")
        print(f"  {r:14} {fmt(row['small_median_s'], '12.3f')} {row['large_median_s']:12.3f} "
              f"{row['large_min_s']:12.3f} {fmt(row['ratio'], '8.2f')} "
              f"{fmt(row['small_ms_per_test'], '9.3f')} -> {row['large_ms_per_test']:8.3f}  "
              f"{verdict} (limit {row['linear_limit']:.2f})")
        small_cpu = row.get("small_cpu_ms_per_test")
        print(f"  {'':14} cpu per test: {fmt(small_cpu, '.3f', ' ms')} at {sc['small_tests']} tests, "
              f"{row['large_cpu_ms_per_test']:.3f} ms at {sc['large_tests']} tests"
              + ("" if small_cpu is None else f" (x{row['large_cpu_ms_per_test'] / small_cpu:.2f})"))
        if "runner_peak_rss_small_bytes" in row or "runner_peak_rss_large_bytes" in row:
            print(f"  {'':14} runner peak RSS: {fmt_mib(row.get('runner_peak_rss_small_bytes'))} at "
                  f"{sc['small_tests']} tests, {fmt_mib(row.get('runner_peak_rss_large_bytes'))} at "
                  f"{sc['large_tests']} tests")


def print_memory(mem: dict) -> None:
    print()
    print("Memory: cargo-isolate's reported figures against the truth (the Vec's size; the test "
          "process adds a few MiB of its own)")
    hdr = (f"  {'test':16} {'truth':>9} {'peak_memory':>12} {'diff':>10} {'peak_rss':>12} {'diff':>10}")
    print(hdr)
    for row in mem["tests"]:
        def cell(v):
            return "n/a" if v is None else f"{v / MIB:.1f}"

        def diff(v):
            return "n/a" if v is None else f"{(v - row['truth_bytes']) / MIB:+.1f}"

        print(f"  {row['name']:16} {row['truth_bytes'] / MIB:9.1f} {cell(row['peak_memory_bytes']):>12} "
              f"{diff(row['peak_memory_bytes']):>10} {cell(row['peak_rss_bytes']):>12} "
              f"{diff(row['peak_rss_bytes']):>10}")
    print("  (MiB; diff = reported - truth)")
    host = mem.get("host")
    if host:
        print(f"  host: {json.dumps(host)}")


# --------------------------------------------------------------------------------------------
# The phases


def main_bench(args, ws: Workspace) -> dict:
    runners = args.runners
    samples: dict[str, list[Sample]] = {r: [] for r in runners}
    warm = []
    for w in range(1, args.warmup + 1):
        log(f"== warm-up {w}/{args.warmup} (not timed)")
        for r in runners:
            warm.append(run_runner(r, ws, "warmup", w, args))
    for rnd in range(1, args.rounds + 1):
        log(f"== round {rnd}/{args.rounds}")
        for r in runners:
            samples[r].append(run_runner(r, ws, "round", rnd, args))

    per = {r: stats(samples[r]) for r in runners}
    med = {r: per[r]["median_wall_s"] for r in runners}
    cpu = {r: per[r]["median_cpu_s"] for r in runners}
    derived: dict = {}
    derived["ratio_isolate_nextest"] = ratio(med.get("isolate"), med.get("nextest"))
    derived["ratio_isolate_cargo_test"] = ratio(med.get("isolate"), med.get("cargo-test"))
    derived["ratio_isolate_isolate_none"] = ratio(med.get("isolate"), med.get("isolate-none"))
    derived["ratio_nextest_cargo_test"] = ratio(med.get("nextest"), med.get("cargo-test"))
    derived["ratio_isolate_netns_nextest"] = ratio(med.get("isolate-netns"), med.get("nextest"))
    derived["ratio_nextest_bwrap_nextest"] = ratio(med.get("nextest-bwrap"), med.get("nextest"))
    derived["ratio_isolate_nextest_bwrap"] = ratio(med.get("isolate"), med.get("nextest-bwrap"))
    derived["ratio_floor_sandbox_nextest"] = ratio(med.get("floor-sandbox"), med.get("nextest"))
    derived["ratio_isolate_floor_sandbox"] = ratio(med.get("isolate"), med.get("floor-sandbox"))
    derived["ratio_floor_process_nextest"] = ratio(med.get("floor-process"), med.get("nextest"))
    derived["ratio_isolate_none_floor_process"] = ratio(med.get("isolate-none"), med.get("floor-process"))
    derived["ratio_isolate_base_nextest"] = ratio(med.get("isolate-base"), med.get("nextest"))
    derived["ratio_isolate_base_floor_sandbox"] = ratio(med.get("isolate-base"), med.get("floor-sandbox"))
    derived["ratio_isolate_isolate_base"] = ratio(med.get("isolate"), med.get("isolate-base"))
    if "isolate" in med and "isolate-base" in med:
        derived["change_wall_ms_per_test"] = 1000 * (med["isolate"] - med["isolate-base"]) / ws.tests
        derived["change_cpu_ms_per_test"] = 1000 * (cpu["isolate"] - cpu["isolate-base"]) / ws.tests
    if "nextest-bwrap" in med and "nextest" in med:
        derived["bwrap_wall_ms_per_test"] = 1000 * (med["nextest-bwrap"] - med["nextest"]) / ws.tests
        derived["bwrap_cpu_ms_per_test"] = 1000 * (cpu["nextest-bwrap"] - cpu["nextest"]) / ws.tests
    if "isolate" in med and "isolate-none" in med:
        derived["sandbox_wall_ms_per_test"] = 1000 * (med["isolate"] - med["isolate-none"]) / ws.tests
        derived["sandbox_cpu_ms_per_test"] = 1000 * (cpu["isolate"] - cpu["isolate-none"]) / ws.tests
        rep = per["isolate"].get("report") or {}
        if rep.get("median_sandbox_setup_cpu_ms") is not None:
            derived["sandbox_setup_cpu_ms_per_test"] = rep["median_sandbox_setup_cpu_ms"] / ws.tests
    for r in runners:
        derived[f"{r}_wall_ms_per_test"] = 1000 * med[r] / ws.tests
        derived[f"{r}_cpu_ms_per_test"] = 1000 * cpu[r] / ws.tests
        rep = per[r].get("report")
        if rep is not None:
            derived[f"{r}_runner_peak_rss_bytes"] = rep.get("max_runner_peak_rss_bytes")
    return {
        "workspace": str(ws.path),
        "target_dir": str(ws.target),
        "tests": ws.tests,
        "runners": per,
        "derived": derived,
        "samples": [asdict(s) for s in warm] + [asdict(s) for r in runners for s in samples[r]],
    }


def scale_bench(args, small: Workspace, large: Workspace, main_res: dict | None) -> dict:
    runners = args.scale_runners
    samples: dict[str, list[Sample]] = {r: [] for r in runners}
    for rnd in range(1, args.scale_rounds + 1):
        log(f"== scale round {rnd}/{args.scale_rounds} ({large.tests} tests)")
        for r in runners:
            samples[r].append(run_runner(r, large, "scale", rnd, args))
    factor = large.tests / small.tests
    out = {"small_tests": small.tests, "large_tests": large.tests, "factor": factor,
           "rounds": args.scale_rounds, "runners": {}}
    for r in runners:
        st = stats(samples[r])
        small_st = (main_res or {}).get("runners", {}).get(r)
        small_med = small_st["median_wall_s"] if small_st else None
        row = {
            "small_median_s": small_med,
            "large_median_s": st["median_wall_s"],
            "large_min_s": st["min_wall_s"],
            "large_median_cpu_s": st["median_cpu_s"],
            "ratio": ratio(st["median_wall_s"], small_med),
            "linear_limit": factor * 1.05,
            "small_ms_per_test": None if small_med is None else 1000 * small_med / small.tests,
            "large_ms_per_test": 1000 * st["median_wall_s"] / large.tests,
            "small_cpu_ms_per_test": None if not small_st else 1000 * small_st["median_cpu_s"] / small.tests,
            "large_cpu_ms_per_test": 1000 * st["median_cpu_s"] / large.tests,
            "stats": st,
        }
        if st.get("report"):
            row["runner_peak_rss_large_bytes"] = st["report"].get("max_runner_peak_rss_bytes")
            if small_st and small_st.get("report"):
                row["runner_peak_rss_small_bytes"] = small_st["report"].get("max_runner_peak_rss_bytes")
        out["runners"][r] = row
    out["samples"] = [asdict(s) for r in runners for s in samples[r]]
    return out


def memory_bench(args, ws: Workspace) -> dict:
    log(f"== memory ({ws.tests} tests, cargo-isolate per-test)")
    s = run_runner("isolate", ws, "memory", 1, args, keep_tests=True)
    rows = []
    by_name = {}
    for t in s.report["tests"]:
        name = t.get("name") or t.get("id") or ""
        by_name[name.rsplit("::", 1)[-1]] = t
    for mib in gen_workspace.MEMORY_SIZES_MIB:
        name = f"touch_{mib}_mib"
        t = by_name.get(name)
        if t is None:
            raise BenchError(f"memory: the report has no test named {name} (names: {sorted(by_name)})")
        rows.append({
            "name": name,
            "truth_bytes": mib * MIB,
            "peak_memory_bytes": t["peak_memory_bytes"],
            "peak_rss_bytes": t["peak_rss_bytes"],
            "peak_memory_diff_bytes": None if t["peak_memory_bytes"] is None else t["peak_memory_bytes"] - mib * MIB,
            "peak_rss_diff_bytes": None if t["peak_rss_bytes"] is None else t["peak_rss_bytes"] - mib * MIB,
            "cpu_ms": t["cpu_ms"],
            "duration_ms": t["duration_ms"],
        })
    return {"workspace": str(ws.path), "tests": rows, "host": s.report.get("host"),
            "wall_s": s.wall_s, "runner_peak_rss_bytes": s.report.get("runner_peak_rss_bytes")}


# --------------------------------------------------------------------------------------------


def cpu_busy_cores(seconds: float = 1.0) -> float | None:
    """How many cores other work keeps busy, from /proc/stat over `seconds` (we are idle)."""
    def sample():
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        return sum(fields[:8]), idle  # user..steal; guest time is already in user

    try:
        t0, i0 = sample()
        time.sleep(seconds)
        t1, i1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    if t1 == t0:
        return None
    return (1 - (i1 - i0) / (t1 - t0)) * (os.cpu_count() or 1)


def version_of(cmd: list[str]) -> str | None:
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=child_env(),
                           stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (r.stdout or r.stderr).strip().splitlines()
    return text[0] if r.returncode == 0 and text else None


def parse_runners(spec: str, what: str) -> list[str]:
    out = []
    for part in spec.split(","):
        part = part.strip().lower()
        if not part:
            continue
        if part == "all":
            out.extend(RUNNERS)
            continue
        if part not in ALIASES:
            raise SystemExit(f"bench: unknown runner {part!r} in {what} (known: {', '.join(RUNNERS)})")
        out.append(ALIASES[part])
    uniq = [r for r in RUNNERS if r in out]  # canonical order: A B F C D E G H
    if not uniq:
        raise SystemExit(f"bench: {what} selects no runner")
    return uniq


def parse_args(argv):
    ap = argparse.ArgumentParser(
        description="Time cargo test, cargo nextest run and cargo-isolate (with and without the "
                    "sandbox) on a generated workspace of trivial tests.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    ap.add_argument("--rounds", type=int, default=5, help="interleaved timed rounds (every runner once each)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed rounds before timing")
    ap.add_argument("--binaries", type=int, default=10, help="test binaries in the workspace")
    ap.add_argument("--tests-per-binary", type=int, default=100, help="tests in each binary")
    ap.add_argument("-j", "--jobs", type=int, default=2,
                    help="parallelism for every runner (cargo test: --test-threads)")
    ap.add_argument("--only", default="all",
                    help="comma-separated runners: cargo-test,nextest,nextest-bwrap,isolate,"
                         "isolate-none,isolate-netns,floor-sandbox,floor-process (or A,B,F,C,D,E,G,H), "
                         "or all")
    ap.add_argument("--isolate-bin", type=Path, default=DEFAULT_ISOLATE_BIN,
                    help="the cargo-isolate binary (build it with `cargo build --release`)")
    ap.add_argument("--baseline-bin", type=Path, default=None,
                    help="another cargo-isolate build (e.g. a change's parent, built in a git "
                         "worktree) timed as runner I in the same interleaved rounds as C")
    ap.add_argument("--work-dir", dest="work_dir", type=Path, default=DEFAULT_WORK_DIR,
                    help="where the workspaces, their shared target dirs, logs and reports go")
    ap.add_argument("--clean", action="store_true", help="delete --work-dir first (forces a rebuild)")
    ap.add_argument("--no-main", action="store_true",
                    help="skip the interleaved timing of the runners (run only --memory and/or --scale)")
    ap.add_argument("--memory", action="store_true",
                    help="also check cargo-isolate's reported memory on 16/96/512 MiB tests")
    ap.add_argument("--scale", action="store_true",
                    help="also time the runners of --scale-runners on a workspace with 10x the binaries")
    ap.add_argument("--scale-rounds", type=int, default=2, help="timed rounds at the large size")
    ap.add_argument("--scale-factor", type=int, default=10, help="binaries multiplier for --scale")
    ap.add_argument("--scale-runners", default="isolate",
                    help="which runners --scale times (only those also selected by --only)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke check: 1 round, no warm-up, 2 binaries x 20 tests, 1 scale round")
    ap.add_argument("--json", type=Path, help="write every figure to this JSON file")
    args = ap.parse_args(argv)

    if args.quick:
        args.rounds, args.warmup, args.binaries, args.tests_per_binary = 1, 0, 2, 20
        args.scale_rounds = 1
    for name in ("rounds", "binaries", "tests_per_binary", "jobs", "scale_rounds", "scale_factor"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.warmup < 0:
        ap.error("--warmup must be >= 0")
    args.runners = parse_runners(args.only, "--only")
    args.scale_runners = [r for r in parse_runners(args.scale_runners, "--scale-runners")
                          if r in args.runners]
    if args.scale and not args.scale_runners:
        ap.error("--scale: none of --scale-runners is selected by --only "
                 "(e.g. --scale-runners nextest to try it without cargo-isolate)")
    if args.memory and "isolate" not in args.runners:
        ap.error("--memory needs cargo-isolate: include `isolate` in --only")
    args.isolate_bin = args.isolate_bin.expanduser().resolve()
    if args.baseline_bin is not None:
        args.baseline_bin = args.baseline_bin.expanduser().resolve()
        if not (args.baseline_bin.is_file() and os.access(args.baseline_bin, os.X_OK)):
            ap.error(f"--baseline-bin {args.baseline_bin}: not an executable file")
        if "isolate-base" not in args.runners and args.only == "all":
            args.runners = [r for r in RUNNERS if r in args.runners or r == "isolate-base"]
    elif "isolate-base" in args.runners:
        if args.only != "all" and any(a in ("i", "isolate-base", "baseline")
                                      for a in args.only.lower().split(",")):
            ap.error("runner I (isolate-base) needs --baseline-bin BIN")
        args.runners = [r for r in args.runners if r != "isolate-base"]
    args.work_dir = args.work_dir.expanduser().resolve()
    args.json = args.json.expanduser().resolve() if args.json else None
    return args


def preflight(args) -> dict:
    env = {
        "python": platform.python_version(),
        "kernel": platform.release(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "cargo": version_of(["cargo", "--version"]),
        "rustc": version_of(["rustc", "--version"]),
    }
    if shutil.which("cargo") is None:
        raise SystemExit("bench: cargo is not on PATH")
    if any(r in NEXTEST_RUNNERS for r in args.runners):
        env["nextest"] = version_of(["cargo", "nextest", "--version"])
        if env["nextest"] is None:
            raise SystemExit("bench: `cargo nextest --version` failed: install cargo-nextest, or "
                             "leave it out with --only")
    if any(r.startswith("isolate") for r in args.runners):
        b = args.isolate_bin
        if not (b.is_file() and os.access(b, os.X_OK)):
            raise SystemExit(
                f"bench: no cargo-isolate binary at {b}.\n"
                "  Build it first (`cargo build --release` in the repo), pass --isolate-bin PATH, or\n"
                "  time only the others with --only cargo-test,nextest")
        env["cargo_isolate_bin"] = str(b)
        env["cargo_isolate"] = version_of([str(b), "isolate", "--version"]) or version_of([str(b), "--version"])
    args.bwrap_checks = {}
    if "nextest-bwrap" in args.runners:
        args.bwrap = ensure_bwrap()
        env["bwrap"] = version_of([args.bwrap, "--version"])
        env["bwrap_path"] = args.bwrap
        if env["bwrap"] is None:
            raise SystemExit(f"bench: `{args.bwrap} --version` failed")
        env["host_triple"] = host_triple()
        args.runner_var = runner_env_var(env["host_triple"])
        env["nextest_bwrap_runner_var"] = args.runner_var
    if any(r in FLOOR_RUNNERS for r in args.runners):
        env["floor_cc"] = build_floor(args)
        args.host_triple = env.get("host_triple") or host_triple()
        args.sysroot = subprocess.run(["rustc", "--print", "sysroot"], capture_output=True, text=True,
                                      env=child_env(), stdin=subprocess.DEVNULL).stdout.strip()
    return env


def main(argv=None) -> int:
    args = parse_args(argv)
    env = preflight(args)
    if args.clean and args.work_dir.exists():
        log(f"== removing {args.work_dir}")
        shutil.rmtree(args.work_dir)
    args.work_dir.mkdir(parents=True, exist_ok=True)

    def workspace(binaries: int) -> Workspace:
        name = f"ws-{binaries}x{args.tests_per_binary}"
        return Workspace(name, args.work_dir / name, args.work_dir / "target" / name,
                         binaries * args.tests_per_binary)

    small = workspace(args.binaries)
    large = workspace(args.binaries * args.scale_factor)
    mem = Workspace("benchmem", args.work_dir / "benchmem", args.work_dir / "target" / "benchmem",
                    len(gen_workspace.MEMORY_SIZES_MIB))
    args.runners_for = lambda ws: (args.scale_runners if ws is large else
                                   ["isolate"] if ws is mem else args.runners)

    result = {
        "schema": "cargo-isolate-bench/1",
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "environment": env,
        "config": {
            "rounds": args.rounds, "warmup": args.warmup, "binaries": args.binaries,
            "tests_per_binary": args.tests_per_binary, "tests": small.tests, "jobs": args.jobs,
            "runners": args.runners, "quick": args.quick, "work_dir": str(args.work_dir),
            "commands": {r: command_for(r, small, args.jobs, args, Path("R.json"))
                         for r in args.runners},
            "command_env": {r: runner_env(r, small, args) for r in args.runners
                            if runner_env(r, small, args)},
        },
    }
    if "nextest-bwrap" in args.runners:
        result["config"]["bwrap_wrapper"] = {
            "path": str(bwrap_wrapper(args, small)),
            "exec": bwrap_argv(args.bwrap, small) + ['"$@"'],
        }
    load = os.getloadavg()
    busy = cpu_busy_cores()
    result["environment"]["loadavg_at_start"] = load
    result["environment"]["busy_cores_at_start"] = busy
    noisy = busy is not None and busy > 0.2
    if noisy:
        log(f"bench: WARNING: other work is using {busy:.2f} of {os.cpu_count()} cores right now "
            f"(load average {load[0]:.2f}): the timings will be noisy; wait for it to finish")
    t_start = time.perf_counter()
    try:
        main_res = None
        if args.no_main and args.scale:
            # --scale compares with the small workspace: time its runners there too
            log("== --no-main with --scale: timing the scale runners on the small workspace too")
            args.runners = list(args.scale_runners)
            result["config"]["runners"] = args.runners
        if not args.no_main or args.scale:
            prepare(small, "suite", args, args.binaries, args.tests_per_binary)
            main_res = main_bench(args, small)
            result["main"] = main_res
            print_main({"runners": main_res["runners"], "derived": main_res["derived"],
                        "config": result["config"]}, small.tests)
        if args.scale:
            prepare(large, "suite", args, args.binaries * args.scale_factor, args.tests_per_binary)
            result["scale"] = scale_bench(args, small, large, main_res)
            print_scale(result["scale"])
        if args.memory:
            prepare(mem, "memory", args)
            result["memory"] = memory_bench(args, mem)
            print_memory(result["memory"])
    except BenchError as e:
        if e.details:
            log(f"\n{e.details}")
        log(f"\nbench: ABORTED: {e.summary}")
        result["error"] = e.summary
        if args.bwrap_checks:
            result["environment"]["bwrap_isolation_checks"] = args.bwrap_checks
        if args.json:
            write_json(args.json, result)
        return 1
    except KeyboardInterrupt:
        log("\nbench: interrupted")
        return 130
    result["elapsed_s"] = time.perf_counter() - t_start
    if args.bwrap_checks:
        result["environment"]["bwrap_isolation_checks"] = args.bwrap_checks
    result["environment"]["loadavg_at_end"] = os.getloadavg()
    if noisy:
        print(f"NOTE: other work used {busy:.2f} cores when the benchmark started: "
              "these timings are noisy")
    print()
    print(f"Logs and reports: {args.work_dir}/logs, {args.work_dir}/reports "
          f"({result['elapsed_s']:.0f} s in all)")
    if args.json:
        write_json(args.json, result)
        print(f"JSON: {args.json}")
    return 0


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    os.replace(tmp, path)


if __name__ == "__main__":
    sys.exit(main())
