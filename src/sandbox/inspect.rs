//! What a test was doing when its timeout came, read just before it is
//! killed: [`inspect`] gives a [`Hang`]. Its processes are the init's
//! descendants and its cgroup's members (host pids); for each thread, its
//! name, state, kernel wait channel and system call come from /proc, and
//! its stack from a debugger when one is installed (eu-stack, else gdb).
//!
//! Bounded in time ([`BUDGET`]) and size; it never fails: what it could not
//! read, its note says, and the test is killed either way. Only the
//! timeout path calls it, so a test that ends in time pays nothing.
//!
//! The debugger runs as the runner, outside the sandbox, on files the test
//! chose: it gets no init files, no debuginfod and no auto-loaded scripts.
//! gdb reads the test's files through the test's own root; eu-stack (0.188
//! has no sysroot) opens them at their paths on the host, so it is used
//! only where each mapped file is the host's file at that path. A test
//! could remap between that check and eu-stack's read: it would then see,
//! in its own report, the symbol names of a host ELF file it named.

use crate::model::{Hang, HungThread};
use std::collections::{BTreeSet, HashMap};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The most an inspection may hold up the kill.
pub const BUDGET: Duration = Duration::from_secs(5);
/// Threads recorded, over all the test's processes.
const MAX_THREADS: usize = 128;
/// Threads of each process recorded before any process gets more.
const THREADS_PER_PROCESS: usize = 8;
/// Frames kept per thread (innermost first).
const MAX_FRAMES: usize = 48;
/// A frame's name, cut beyond this (generic Rust names run long).
const MAX_FRAME_CHARS: usize = 240;
/// Processes a debugger attaches to (each costs it a ptrace round).
const MAX_TRACED: usize = 8;
/// What is read of a debugger's output.
const MAX_DEBUGGER_OUTPUT: u64 = 4 << 20;

/// Where each thread of the test under `init_pid` is, with stacks where a
/// debugger can read them. `cgroup_procs`: the test's `cgroup.procs`.
pub fn inspect(init_pid: i32, cgroup_procs: Option<&Path>) -> Hang {
    let begun = Instant::now();
    let deadline = begun + BUDGET;
    let pids = processes(init_pid, cgroup_procs);
    let mut hang = Hang::default();
    let (kept, omitted) = pick_threads(pids.iter().map(|&p| (p, tasks(p))).collect());
    hang.threads = kept.into_iter().filter_map(|(p, t)| thread(p, t)).collect();
    hang.threads_omitted = omitted as u64;
    if pids.is_empty() {
        hang.note = Some("no process of the test was left to inspect".into());
    } else {
        read_stacks(&mut hang, &pids, deadline);
    }
    let hidden: Vec<String> = pids
        .iter()
        .filter(|p| is_hidden(**p))
        .map(|p| p.to_string())
        .collect();
    if !hidden.is_empty() {
        let why = format!(
            "/proc/PID/syscall of pid {} is not readable here: the process made itself non-dumpable, which only the host's root sees past",
            hidden.join(", ")
        );
        hang.note = Some(match hang.note.take() {
            Some(n) => format!("{why}; {n}"),
            None => why,
        });
    }
    hang.inspect_ms = begun.elapsed().as_secs_f64() * 1000.0;
    hang
}

/// The test's processes: the init's descendants (an orphan in the pid
/// namespace is the init's child) and its cgroup's members, the init
/// itself left out (it is ours).
pub(super) fn processes(init_pid: i32, cgroup_procs: Option<&Path>) -> Vec<i32> {
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            let ppid = read(format!("/proc/{pid}/stat"))
                .and_then(|s| stat_field(&s, 1).and_then(|p| p.parse::<i32>().ok()));
            if let Some(ppid) = ppid {
                children.entry(ppid).or_default().push(pid);
            }
        }
    }
    let mut found = BTreeSet::new();
    let mut todo = vec![init_pid];
    while let Some(p) = todo.pop() {
        for &c in children.get(&p).into_iter().flatten() {
            if found.insert(c) {
                todo.push(c);
            }
        }
    }
    if let Some(text) = cgroup_procs.and_then(|p| std::fs::read_to_string(p).ok()) {
        found.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    }
    found.remove(&init_pid);
    found.into_iter().collect()
}

/// Which threads to record, at most [`MAX_THREADS`]: the first
/// [`THREADS_PER_PROCESS`] of every process, then the rest in order, so
/// that a process with many threads does not hide the others. The picked
/// (pid, tid) pairs in order, and how many were left out.
fn pick_threads(processes: Vec<(i32, Vec<i32>)>) -> (Vec<(i32, i32)>, usize) {
    let all: usize = processes.iter().map(|(_, t)| t.len()).sum();
    let mut picked = Vec::new();
    for first in [true, false] {
        for (pid, tids) in &processes {
            let range = match first {
                true => &tids[..tids.len().min(THREADS_PER_PROCESS)],
                false => &tids[tids.len().min(THREADS_PER_PROCESS)..],
            };
            for &tid in range {
                if picked.len() < MAX_THREADS {
                    picked.push((*pid, tid));
                }
            }
        }
    }
    picked.sort_unstable();
    let left_out = all - picked.len();
    (picked, left_out)
}

/// Whether `pid`'s ptrace-guarded /proc files are closed to the runner (a
/// non-dumpable process's belong to the host's root).
fn is_hidden(pid: i32) -> bool {
    std::fs::read(format!("/proc/{pid}/syscall"))
        .is_err_and(|e| e.kind() == std::io::ErrorKind::PermissionDenied)
}

/// A process's thread ids, in order.
fn tasks(pid: i32) -> Vec<i32> {
    let mut tids: Vec<i32> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    tids.sort_unstable();
    tids
}

/// One thread as /proc shows it; None if it is gone.
fn thread(pid: i32, tid: i32) -> Option<HungThread> {
    let dir = format!("/proc/{pid}/task/{tid}");
    let stat = read(format!("{dir}/stat"))?;
    let name = read(format!("{dir}/comm")).unwrap_or_default();
    Some(HungThread {
        pid,
        tid,
        name: name.strip_suffix('\n').unwrap_or(&name).to_string(),
        state: stat_field(&stat, 0).unwrap_or("?").to_string(),
        wchan: read(format!("{dir}/wchan"))
            .map(|w| w.trim().to_string())
            .filter(|w| !w.is_empty() && w != "0"),
        syscall: read(format!("{dir}/syscall")).and_then(|s| syscall_name(&s)),
        stack: Vec::new(),
    })
}

fn read(path: String) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// Field `n` after the command name of a `stat` line (0: the state, 1:
/// the parent pid). The name may hold spaces and parentheses: it ends at
/// the last ')'.
fn stat_field(stat: &str, n: usize) -> Option<&str> {
    stat.rsplit_once(')')?.1.split_whitespace().nth(n)
}

/// `/proc/.../syscall` in words: "futex", "syscall 999", "running" (in user
/// space); None when not in a system call (-1) or unreadable.
fn syscall_name(text: &str) -> Option<String> {
    let first = text.split_whitespace().next()?;
    if first == "running" {
        return Some("running".into());
    }
    let nr: i64 = first.parse().ok()?;
    if nr < 0 {
        return None;
    }
    let name = usize::try_from(nr)
        .ok()
        .and_then(syscalls::Sysno::new)
        .map(|s| s.name().to_string());
    Some(name.unwrap_or_else(|| format!("syscall {nr}")))
}

/// Which debugger reads the stacks.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Debugger {
    EuStack,
    Gdb,
}

impl Debugger {
    fn name(self) -> &'static str {
        match self {
            Debugger::EuStack => "eu-stack",
            Debugger::Gdb => "gdb",
        }
    }

    /// The command that prints every thread's stack of `pid`.
    fn command(self, program: &Path, pid: i32) -> Command {
        let mut cmd = Command::new(program);
        match self {
            // -r: raw names, which rustc-demangle reads better than the
            // C++ demangler (v0 names stay raw there anyway).
            Debugger::EuStack => cmd.args(["-r", "-n", &MAX_FRAMES.to_string(), "-p"]),
            Debugger::Gdb => cmd.args([
                "-nx",
                "-batch",
                // No script from the test's binary (.debug_gdb_scripts) runs
                // in a debugger that is the runner; no network lookups.
                "-iex",
                "set auto-load off",
                "-iex",
                "set debuginfod enabled off",
                // The test's files as the test sees them, not the host's
                // files at the same paths.
                "-iex",
                &format!("set sysroot /proc/{pid}/root"),
                "-ex",
                &format!("thread apply all bt {MAX_FRAMES}"),
                "-p",
            ]),
        };
        cmd.arg(pid.to_string())
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    fn parse(self, out: &str) -> HashMap<i32, Vec<String>> {
        match self {
            Debugger::EuStack => parse_eu_stack(out),
            Debugger::Gdb => parse_gdb(out),
        }
    }
}

/// `program` in the runner's PATH.
fn find_in_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.mode() & 0o111 != 0)
        })
}

/// Fills the threads' stacks, process by process, while time is left.
fn read_stacks(hang: &mut Hang, pids: &[i32], deadline: Instant) {
    let eu_stack = find_in_path("eu-stack");
    let gdb = find_in_path("gdb");
    if eu_stack.is_none() && gdb.is_none() {
        hang.note =
            Some("no stacks: no debugger here (install elfutils for eu-stack, or gdb)".to_string());
        return;
    }
    let mut notes: Vec<String> = Vec::new();
    let mut used = None;
    let traced: Vec<i32> = pids
        .iter()
        .copied()
        .filter(|p| hang.threads.iter().any(|t| t.pid == *p))
        // What /proc hides from us, a debugger cannot read either (the
        // note says so, below).
        .filter(|p| !is_hidden(*p))
        .collect();
    if traced.len() > MAX_TRACED {
        notes.push(format!(
            "stacks of the first {MAX_TRACED} of {} processes only",
            traced.len()
        ));
    }
    for &pid in traced.iter().take(MAX_TRACED) {
        // eu-stack opens the files the process maps at their paths on the
        // host: only where those are the very files the test maps (its
        // binary, the system's libraries, bound at the same paths). gdb
        // reads them through the test's own root instead.
        let choice = match (&eu_stack, &gdb) {
            (Some(p), _) if maps_host_files(pid) => Some((Debugger::EuStack, p)),
            (_, Some(p)) => Some((Debugger::Gdb, p)),
            _ => None,
        };
        let Some((debugger, program)) = choice else {
            notes.push(format!(
                "no stack for pid {pid}: it maps files that are not the host's at those paths, which eu-stack would read (gdb reads them from the test's root)"
            ));
            continue;
        };
        if Instant::now() >= deadline {
            notes.push(format!("gave up reading stacks after {BUDGET:?}"));
            break;
        }
        match run_bounded(debugger.command(program, pid), deadline) {
            Ok((out, err)) => {
                let stacks = debugger.parse(&out);
                if stacks.is_empty() {
                    notes.push(format!(
                        "{} read no stack of pid {pid}: {}",
                        debugger.name(),
                        last_words(&err)
                    ));
                    continue;
                }
                used.get_or_insert(debugger.name());
                for t in hang.threads.iter_mut().filter(|t| t.pid == pid) {
                    if let Some(s) = stacks.get(&t.tid) {
                        t.stack = s.clone();
                    }
                }
            }
            Err(e) => notes.push(format!("{} on pid {pid}: {e}", debugger.name())),
        }
    }
    hang.debugger = used.map(str::to_string);
    if !notes.is_empty() {
        notes.dedup();
        hang.note = Some(notes.join("; "));
    }
}

/// Whether every file `pid` maps is, at its path on the host, the same
/// file as the one mapped. Same inode number, size and modification time:
/// a test's package dir is an overlay, whose files show another device
/// than the host's, so the device cannot be compared.
fn maps_host_files(pid: i32) -> bool {
    let Some(maps) = read(format!("/proc/{pid}/maps")) else {
        return false;
    };
    maps.lines().all(|line| {
        let mut f = line.splitn(6, ' ');
        let (range, inode) = (f.next(), f.nth(3));
        let path = f.next().map(str::trim_start).unwrap_or("");
        let (Some(range), Some(inode)) = (range, inode) else {
            return false;
        };
        if inode == "0" || !path.starts_with('/') {
            return true; // anonymous, [heap], [stack], [vdso]
        }
        // The mapped file itself (root may open map_files), else the file
        // at that path in the test's root.
        let mapped = std::fs::metadata(format!("/proc/{pid}/map_files/{range}"))
            .or_else(|_| std::fs::metadata(format!("/proc/{pid}/root{path}")));
        match (mapped, std::fs::metadata(path)) {
            (Ok(m), Ok(h)) => {
                m.ino() == h.ino()
                    && inode.parse() == Ok(h.ino())
                    && m.size() == h.size()
                    && (m.mtime(), m.mtime_nsec()) == (h.mtime(), h.mtime_nsec())
                    && h.is_file()
            }
            _ => false,
        }
    })
}

/// Runs `cmd` until it exits or `deadline` passes (then kills it); its
/// stdout and stderr, each cut at [`MAX_DEBUGGER_OUTPUT`].
fn run_bounded(mut cmd: Command, deadline: Instant) -> Result<(String, String), String> {
    let mut child = cmd.spawn().map_err(|e| format!("cannot start it: {e}"))?;
    let (out, err) = (child.stdout.take(), child.stderr.take());
    let mut timed_out = false;
    let (out, err) = std::thread::scope(|s| {
        let out = s.spawn(move || read_capped(out));
        let err = s.spawn(move || read_capped(err));
        loop {
            match child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                _ => {
                    timed_out = true;
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
            }
        }
        (
            out.join().unwrap_or_default(),
            err.join().unwrap_or_default(),
        )
    });
    match timed_out {
        true => Err(format!(
            "killed at the end of the {BUDGET:?} inspection budget"
        )),
        false => Ok((out, err)),
    }
}

/// All of a pipe, the first [`MAX_DEBUGGER_OUTPUT`] bytes kept.
fn read_capped(pipe: Option<impl Read>) -> String {
    let Some(mut pipe) = pipe else {
        return String::new();
    };
    let mut kept = Vec::new();
    let _ = (&mut pipe).take(MAX_DEBUGGER_OUTPUT).read_to_end(&mut kept);
    // The rest is drained, so that the debugger never blocks on a full pipe.
    let _ = std::io::copy(&mut pipe, &mut std::io::sink());
    String::from_utf8_lossy(&kept).into_owned()
}

/// What a debugger said about why it read nothing, for the note: the
/// last line that names the failure (gdb ends with warnings of its own
/// that say nothing about it), else its last non-empty line.
fn last_words(err: &str) -> String {
    const FAILURE: [&str; 5] = [
        "not permitted",
        "ptrace",
        "Could not attach",
        "No such process",
        "rror",
    ];
    let lines: Vec<&str> = err
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let line = lines
        .iter()
        .rfind(|l| FAILURE.iter().any(|f| l.contains(f)))
        .or(lines.last());
    match line {
        Some(l) => l.chars().take(200).collect(),
        None => "it printed nothing".into(),
    }
}

/// `eu-stack -r` output: `TID 12:` then `#0  0x00007f... name` lines.
fn parse_eu_stack(out: &str) -> HashMap<i32, Vec<String>> {
    let mut stacks: HashMap<i32, Vec<String>> = HashMap::new();
    let mut tid = None;
    for line in out.lines() {
        if let Some(rest) = line.strip_prefix("TID ") {
            tid = rest.trim_end_matches(':').trim().parse().ok();
            continue;
        }
        let (Some(t), Some(frame)) = (tid, line.strip_prefix('#')) else {
            continue;
        };
        let mut words = frame.split_whitespace();
        let (_n, addr) = (words.next(), words.next().unwrap_or("??"));
        let name = words.collect::<Vec<_>>().join(" ");
        push_frame(
            stacks.entry(t).or_default(),
            if name.is_empty() { addr } else { &name },
        );
    }
    stacks
}

/// gdb's `thread apply all bt`: `Thread 3 (Thread 0x... (LWP 12) "name"):`
/// then `#0  0x... in name (args) at file:line` (no address and "in" when
/// the frame is at a line's start, or inlined).
fn parse_gdb(out: &str) -> HashMap<i32, Vec<String>> {
    let mut stacks: HashMap<i32, Vec<String>> = HashMap::new();
    let mut tid = None;
    for line in out.lines() {
        if line.starts_with("Thread ") {
            tid = line
                .split_once("(LWP ")
                .and_then(|(_, r)| r.split(')').next())
                .and_then(|n| n.trim().parse().ok());
            continue;
        }
        let (Some(t), Some(frame)) = (tid, line.strip_prefix('#')) else {
            continue;
        };
        let rest = frame
            .trim_start_matches(|c: char| c.is_ascii_digit())
            .trim();
        let rest = match rest.strip_prefix("0x") {
            Some(r) => r.split_once(" in ").map_or(r, |(_, n)| n),
            None => rest,
        };
        push_frame(stacks.entry(t).or_default(), name_before_args(rest));
    }
    stacks
}

/// A gdb frame's function: up to the ` (` of its arguments, outside any
/// `<...>` of generic parameters (which may hold `(` themselves).
fn name_before_args(frame: &str) -> &str {
    let mut depth = 0i32;
    let bytes = frame.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'<' => depth += 1,
            b'>' if i > 0 && bytes[i - 1] != b'-' => depth -= 1,
            b'(' if depth <= 0 && i > 0 && bytes[i - 1] == b' ' => return &frame[..i - 1],
            _ => {}
        }
    }
    frame
}

/// Adds a frame, its Rust name demangled (without the hash), cut to size.
fn push_frame(stack: &mut Vec<String>, name: &str) {
    if stack.len() >= MAX_FRAMES {
        return;
    }
    let name = match rustc_demangle::try_demangle(name) {
        Ok(d) => format!("{d:#}"),
        // A C symbol's version (`clock_nanosleep@GLIBC_2.2.5`) says nothing.
        Err(_) => without_hash(name.split('@').next().unwrap_or(name)).to_string(),
    };
    stack.push(name.chars().take(MAX_FRAME_CHARS).collect());
}

/// A legacy Rust name another demangler left its hash on: `a::b::h0123...`.
fn without_hash(name: &str) -> &str {
    match name.rsplit_once("::") {
        Some((head, h))
            if h.len() == 17
                && h.starts_with('h')
                && h[1..].chars().all(|c| c.is_ascii_hexdigit()) =>
        {
            head
        }
        _ => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_follow_the_last_parenthesis() {
        let stat = "12 (a) b) (c) S 7 12 12 0 -1";
        assert_eq!(stat_field(stat, 0), Some("S"));
        assert_eq!(stat_field(stat, 1), Some("7"));
        assert_eq!(stat_field("garbage", 0), None);
    }

    #[test]
    fn every_process_keeps_some_threads_when_one_has_many() {
        let crowd = (0..1000).collect();
        let (picked, left_out) = pick_threads(vec![(1, crowd), (2, vec![5000, 5001])]);
        assert_eq!(picked.len(), MAX_THREADS);
        assert_eq!(left_out, 1002 - MAX_THREADS);
        assert!(picked.contains(&(2, 5000)) && picked.contains(&(2, 5001)));
        assert_eq!(picked[0], (1, 0));
        let (few, none) = pick_threads(vec![(3, vec![3, 4])]);
        assert_eq!((few, none), (vec![(3, 3), (3, 4)], 0));
    }

    #[test]
    fn syscalls_are_named_by_number() {
        #[cfg(target_arch = "x86_64")]
        {
            assert_eq!(syscall_name("202 0x1 0x2").as_deref(), Some("futex"));
            assert_eq!(syscall_name("288 0x3 0 0").as_deref(), Some("accept4"));
            assert_eq!(syscall_name("35 0x1").as_deref(), Some("nanosleep"));
        }
        assert_eq!(syscall_name("99999 0x1").as_deref(), Some("syscall 99999"));
        assert_eq!(syscall_name("running").as_deref(), Some("running"));
        assert_eq!(syscall_name("-1 0x7ffd 0x7f00"), None);
        assert_eq!(syscall_name(""), None);
    }

    #[test]
    fn eu_stack_output_becomes_demangled_frames_per_thread() {
        let out = "PID 10 - process\nTID 10:\n#0  0x00007f6321711829 syscall\n\
#1  0x000055cd65e98f66 _RNvMs_NtNtCsjrHSEGnQ3l9_3std6thread6threadNtB4_6Thread12park_timeout\n\
TID 11:\n#0  0x00007f63216 __futex_abstimed_wait_common\n\
#1  0x000055cd65e34446 _ZN5hangs26waits_forever_on_a_condvar17hcb32a4fe4b1ae19dE\n#2  0x000055cd65e34447\n";
        let s = parse_eu_stack(out);
        assert_eq!(
            s[&10],
            ["syscall", "<std::thread::thread::Thread>::park_timeout"]
        );
        assert_eq!(
            s[&11],
            [
                "__futex_abstimed_wait_common",
                "hangs::waits_forever_on_a_condvar",
                "0x000055cd65e34447"
            ]
        );
    }

    #[test]
    fn gdb_output_becomes_frames_per_thread() {
        let out = "[New LWP 12]\n\nThread 2 (Thread 0x7f00aafdd6c0 (LWP 12) \"waits_fo (x)\"):\n\
#0  __futex_abstimed_wait_common64 (private=128, cancel=true) at ./nptl/futex-internal.c:57\n\
#1  0x000055bd3d78999e in std::thread::lifecycle::JoinInner<()>::join<()> (self=...) at lifecycle.rs:241\n\
#2  0x000055bd3d78b446 in hangs::waits_forever_on_a_condvar () at tests/hangs.rs:17\n\
#3  0x000055bd3d80443f in alloc::boxed::{impl#31}::call_once<(), (dyn core::ops::function::FnOnce<(), Output=()> + core::marker::Send)> () at boxed.rs:2240\n\
#4  0x000055bd3d789bcb in __rust_try ()\n";
        let s = parse_gdb(out);
        assert_eq!(
            s[&12],
            [
                "__futex_abstimed_wait_common64",
                "std::thread::lifecycle::JoinInner<()>::join<()>",
                "hangs::waits_forever_on_a_condvar",
                "alloc::boxed::{impl#31}::call_once<(), (dyn core::ops::function::FnOnce<(), Output=()> + core::marker::Send)>",
                "__rust_try",
            ]
        );
    }

    #[test]
    fn the_note_quotes_the_failure_not_a_closing_warning() {
        let gdb = "Attaching to process 12\nptrace: Operation not permitted.\n\
                   warning: Target and debugger are in different PID namespaces\n";
        assert_eq!(last_words(gdb), "ptrace: Operation not permitted.");
        assert_eq!(last_words("a\nb\n\n"), "b");
        assert_eq!(last_words(""), "it printed nothing");
    }

    #[test]
    fn frames_are_bounded_in_number_and_length() {
        let mut stack = Vec::new();
        for _ in 0..MAX_FRAMES + 10 {
            push_frame(&mut stack, &"x".repeat(10_000));
        }
        assert_eq!(stack.len(), MAX_FRAMES);
        assert!(stack.iter().all(|f| f.chars().count() == MAX_FRAME_CHARS));
        assert_eq!(without_hash("a::b::h0123456789abcdef"), "a::b");
        assert_eq!(without_hash("a::b::hello"), "a::b::hello");
        push_frame(&mut stack, "__libc_start_main@@GLIBC_2.34");
        let mut libc = Vec::new();
        push_frame(&mut libc, "clock_nanosleep@GLIBC_2.2.5");
        assert_eq!(libc, ["clock_nanosleep"]);
    }

    #[test]
    fn the_inspection_of_a_sleeping_child_names_its_syscall() {
        // A child of ours stands in for the init's: `sleep` waits in
        // clock_nanosleep (nanosleep on older libcs).
        let mut parent = Command::new("sh")
            .args(["-c", "sleep 30 & wait"])
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let hang = inspect(parent.id() as i32, None);
        let _ = parent.kill();
        let _ = parent.wait();
        let sleeper = hang.threads.iter().find(|t| t.name == "sleep");
        let _ = std::process::Command::new("kill")
            .arg(sleeper.map(|t| t.pid.to_string()).unwrap_or_default())
            .status();
        let sleeper = sleeper.unwrap_or_else(|| panic!("{hang:?}"));
        assert_eq!(sleeper.state, "S");
        assert!(
            sleeper
                .syscall
                .as_deref()
                .is_some_and(|s| s.contains("nanosleep")),
            "{sleeper:?}"
        );
        assert!(hang.inspect_ms < BUDGET.as_secs_f64() * 1000.0 + 500.0);
    }
}
