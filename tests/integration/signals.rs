//! Signals in every phase (`fixtures/signals`): SIGINT, SIGTERM and SIGHUP
//! sent to the runner's pid alone, as CI systems and `timeout` send them,
//! while it unpacks an archive, builds, lists or runs, end it with exit
//! 130, a report that says `complete: false`, and nothing left behind: no
//! process of the runner's tree (found by parent pid, never by name), no
//! cgroup of its run, no scratch or staging directory.
//!
//! Each phase is caught by a marker, never by a fixed sleep: the build
//! script's file, the lister's process in the runner's tree, the run's
//! `--message-format json` events.

use super::*;
use nix::sys::signal::Signal;
use std::io::{BufRead, Read};
use std::sync::{Arc, Mutex};

const STOPPING: [Signal; 3] = [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP];

/// The runner's grace for a build step that ignores the signal it passed on.
const GRACE: Duration = Duration::from_secs(10);

/// How long a runner may take to end once signalled, cleanup included,
/// on a loaded machine; a runner that hangs fails the test after it.
const EXIT_WITHIN: Duration = Duration::from_secs(90);

/// One process as /proc shows it.
#[derive(Debug, Clone)]
struct Proc {
    pid: i32,
    ppid: i32,
    pgid: i32,
    state: char,
    /// Clock ticks since boot: a pid used again is another process.
    start: u64,
    args: Vec<String>,
}

fn proc_of(pid: i32) -> Option<Proc> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let f: Vec<&str> = stat[stat.rfind(')')? + 2..].split(' ').collect();
    let args = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    Some(Proc {
        pid,
        state: f[0].chars().next()?,
        ppid: f[1].parse().ok()?,
        pgid: f[2].parse().ok()?,
        start: f[19].parse().ok()?,
        args: args
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect(),
    })
}

fn all_procs() -> Vec<Proc> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter_map(proc_of)
        .collect()
}

/// `root` and every process below it.
fn tree(root: i32) -> Vec<Proc> {
    let all = all_procs();
    let mut found: Vec<Proc> = all.iter().filter(|p| p.pid == root).cloned().collect();
    let mut i = 0;
    while i < found.len() {
        let parent = found[i].pid;
        found.extend(all.iter().filter(|p| p.ppid == parent).cloned());
        i += 1;
    }
    found
}

/// The same process (pid and start time), still running.
fn alive(p: &Proc) -> bool {
    proc_of(p.pid).is_some_and(|now| now.start == p.start && now.state != 'Z')
}

/// A runner in a process group of its own, its stdout lines and stderr
/// collected as they come.
struct Runner {
    child: std::process::Child,
    pid: i32,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<String>>,
    /// The threads collecting them, joined once the runner ended.
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Runner {
    fn spawn(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Runner {
        use std::os::unix::process::CommandExt;
        let mut child = Command::new(BIN)
            .arg("isolate")
            .args(args)
            .current_dir(dir)
            .envs(env.iter().copied())
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap();
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let (out, lines) = (child.stdout.take().unwrap(), stdout.clone());
        let out_reader = std::thread::spawn(move || {
            for l in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(l);
            }
        });
        let (mut err, text) = (child.stderr.take().unwrap(), stderr.clone());
        let err_reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                text.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let pid = child.id() as i32;
        Runner {
            child,
            pid,
            stdout,
            stderr,
            readers: vec![out_reader, err_reader],
        }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Whether an event line of `--message-format json` has these fields.
    fn saw_event(&self, kind: &str, id: &str) -> bool {
        self.stdout.lock().unwrap().iter().any(|l| {
            serde_json::from_str::<Value>(l).is_ok_and(|v| v["type"] == kind && v["id"] == id)
        })
    }

    /// Waits for `what`, failing with the runner's stderr if it exits or
    /// the time is up first.
    fn wait_for(&mut self, what: &str, mut cond: impl FnMut(&Runner) -> bool) {
        let start = Instant::now();
        while !cond(self) {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "the runner ended ({status}) before {what}:\n{}",
                    self.stderr()
                );
            }
            assert!(
                start.elapsed() < Duration::from_secs(300),
                "timed out waiting for {what}:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn signal(&self, sig: Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid), sig).unwrap();
    }

    /// The exit code once it ends (killed and failed if it hangs).
    fn exit_code(&mut self) -> Option<i32> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // The readers take what was written last, up to EOF: once
                // the runner and every process that shares its stdout and
                // stderr (cargo, build scripts) are gone.
                let deadline = Instant::now() + EXIT_WITHIN;
                while !self.readers.iter().all(|r| r.is_finished()) {
                    assert!(
                        Instant::now() < deadline,
                        "the runner's stdout or stderr still open {EXIT_WITHIN:?} after it ended:\n{}",
                        self.stderr()
                    );
                    std::thread::sleep(Duration::from_millis(20));
                }
                for reader in self.readers.drain(..) {
                    reader.join().unwrap();
                }
                return status.code();
            }
            if start.elapsed() > EXIT_WITHIN {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "the runner did not end {EXIT_WITHIN:?} after the signal:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Signals the runner and checks the end: exit 130, the report at `report`
/// (valid, following the schema, `complete: false`), none of the processes
/// of `seen` (the runner's tree just before the signal) left, no cgroup of
/// the run, no scratch directory in `dir`'s target dir.
fn interrupt(runner: &mut Runner, sig: Signal, report: &Path, dir: &Path) -> Value {
    let seen = tree(runner.pid);
    runner.signal(sig);
    let code = runner.exit_code();
    let stderr = runner.stderr();
    assert_eq!(code, Some(130), "{sig}: exit status; stderr:\n{stderr}");
    assert!(
        report.exists(),
        "{sig}: no report at {}\n{stderr}",
        report.display()
    );
    let value = read_report(report);
    assert_eq!(value["complete"], false, "{sig}: {value:#}");
    assert_nothing_left(runner.pid, &seen, dir, &format!("{sig}"));
    value
}

/// No cgroup of the run (removed before the runner exits), no scratch
/// directory, and none of `seen` running (the zygote leaves when it sees
/// the runner's end of its socket close: waited for).
fn assert_nothing_left(runner_pid: i32, seen: &[Proc], dir: &Path, what: &str) {
    if is_root() {
        let dirs = cgroup_dirs_of(runner_pid as u32);
        assert!(dirs.is_empty(), "{what}: cgroups left: {dirs:?}");
    }
    let scratch = dir.join("target").join("isolate").join("scratch");
    let left: Vec<_> = std::fs::read_dir(&scratch)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{what}: scratch left: {left:?}");
    let start = Instant::now();
    loop {
        let running: Vec<&Proc> = seen.iter().filter(|p| alive(p)).collect();
        if running.is_empty() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{what}: processes of the runner's tree left: {running:#?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Processes in process group `pgid` (zombies aside).
fn group_members(pgid: i32) -> Vec<Proc> {
    all_procs()
        .into_iter()
        .filter(|p| p.pgid == pgid && p.state != 'Z')
        .collect()
}

/// The build script's marker: its pid, process group, parent (cargo) and
/// the pid of the stubborn sleep it started (0: none).
fn read_marker(path: &Path) -> Option<[i32; 4]> {
    let text = std::fs::read_to_string(path).ok()?;
    let v: Vec<i32> = text
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    v.try_into().ok()
}

/// `--scratch disk` everywhere: its directories are leftovers to look for.
const SCRATCH: [&str; 2] = ["--scratch", "disk"];

#[test]
fn a_signal_during_the_build_stops_cargo_and_its_build_scripts() {
    let (_tmp, dir) = fixture("signals");
    for sig in STOPPING {
        let marker = dir.join(format!("build-{sig}"));
        // SIGTERM without --report: the report goes where a finished
        // build would have put it, found without building.
        let report = match sig {
            Signal::SIGTERM => dir.join("target/isolate/report.json"),
            _ => unique_report(&dir),
        };
        let report_arg = report.to_str().unwrap().to_string();
        let mut args = vec!["test", "--test", "sleeps"];
        args.extend(SCRATCH);
        if sig != Signal::SIGTERM {
            args.extend(["--report", &report_arg]);
        }
        let marker_env = marker.to_str().unwrap().to_string();
        let mut runner = Runner::spawn(&dir, &args, &[("SIGNALS_BUILD_MARKER", &marker_env)]);
        runner.wait_for("the build script", |_| read_marker(&marker).is_some());
        let [script, pgid, cargo, _] = read_marker(&marker).unwrap();
        let in_tree: Vec<i32> = tree(runner.pid).iter().map(|p| p.pid).collect();
        assert!(
            in_tree.contains(&script) && in_tree.contains(&cargo),
            "cargo and its build script run under the runner"
        );
        let r = interrupt(&mut runner, sig, &report, &dir);
        assert!(r["tests"].as_array().unwrap().is_empty(), "{r:#}");
        let left = group_members(pgid);
        assert!(left.is_empty(), "{sig}: cargo's group left: {left:#?}");
        let stderr = runner.stderr();
        assert!(stderr.contains("interrupted"), "{stderr}");
    }
}

#[test]
fn a_build_step_that_ignores_the_signal_is_killed_after_the_grace_or_at_the_second_signal() {
    let (_tmp, dir) = fixture("signals");
    for second in [false, true] {
        let marker = dir.join(format!("stubborn-{second}"));
        let report = unique_report(&dir);
        let marker_env = marker.to_str().unwrap().to_string();
        let mut runner = Runner::spawn(
            &dir,
            &["test", "--report", report.to_str().unwrap()],
            &[
                ("SIGNALS_BUILD_MARKER", &marker_env),
                ("SIGNALS_BUILD_STUBBORN", "1"),
            ],
        );
        runner.wait_for("the build script", |_| read_marker(&marker).is_some());
        let [script, pgid, _, stubborn] = read_marker(&marker).unwrap();
        let script = proc_of(script).unwrap();
        let stubborn = proc_of(stubborn).unwrap();
        let seen = tree(runner.pid);
        let signalled = Instant::now();
        runner.signal(Signal::SIGTERM);
        runner.wait_for("the build script to stop", |_| !alive(&script));
        // The sleep ignores SIGTERM: it is still there, in its grace.
        assert!(alive(&stubborn), "the stubborn step died with SIGTERM");
        if second {
            runner.signal(Signal::SIGTERM);
        }
        let code = runner.exit_code();
        let took = signalled.elapsed();
        assert_eq!(code, Some(130), "{}", runner.stderr());
        if second {
            assert!(
                took < GRACE,
                "the second signal should kill at once, not after the grace ({took:?})"
            );
        } else {
            assert!(took >= GRACE, "killed before the grace was over ({took:?})");
        }
        assert!(!alive(&stubborn), "the stubborn step outlived the runner");
        assert!(group_members(pgid).is_empty());
        let r = read_report(&report);
        assert_eq!(r["complete"], false);
        assert_nothing_left(runner.pid, &seen, &dir, "stubborn");
    }
}

#[test]
fn ctrl_z_stops_the_build_with_the_runner_and_fg_continues_it() {
    let (_tmp, dir) = fixture("signals");
    let marker = dir.join("build-stop");
    let report = unique_report(&dir);
    let marker_env = marker.to_str().unwrap().to_string();
    let mut runner = Runner::spawn(
        &dir,
        &["test", "--report", report.to_str().unwrap()],
        &[("SIGNALS_BUILD_MARKER", &marker_env)],
    );
    runner.wait_for("the build script", |_| read_marker(&marker).is_some());
    let [script, ..] = read_marker(&marker).unwrap();
    let state = |pid: i32| proc_of(pid).map(|p| p.state);
    runner.signal(Signal::SIGTSTP);
    let pid = runner.pid;
    runner.wait_for("the runner and the build to stop", |_| {
        state(pid) == Some('T') && state(script) == Some('T')
    });
    runner.signal(Signal::SIGCONT);
    runner.wait_for("the build to continue", |_| {
        state(pid) != Some('T') && state(script) != Some('T')
    });
    interrupt(&mut runner, Signal::SIGINT, &report, &dir);
}

/// The fixture built (without the slow build step), so that a run gets to
/// its listing at once.
fn built_signals_fixture() -> (Option<tempfile::TempDir>, PathBuf) {
    let (tmp, dir) = fixture("signals");
    let out = Command::new(std::env::var_os("CARGO").unwrap_or("cargo".into()))
        .args(["test", "--no-run", "--quiet"])
        .current_dir(&dir)
        .env_remove("SIGNALS_BUILD_MARKER")
        .output()
        .unwrap();
    assert_code(&out, 0);
    (tmp, dir)
}

#[test]
fn a_signal_during_the_listing_kills_the_listing_sandboxes() {
    let (_tmp, dir) = built_signals_fixture();
    for sig in STOPPING {
        let report = unique_report(&dir);
        let mut args = vec!["test", "--test", "slow_list", "--report"];
        args.push(report.to_str().unwrap());
        args.extend(SCRATCH);
        let mut runner = Runner::spawn(&dir, &args, &[]);
        let pid = runner.pid;
        runner.wait_for("the listing", |_| {
            tree(pid)
                .iter()
                .any(|p| p.args.iter().any(|a| a == "--list"))
        });
        let r = interrupt(&mut runner, sig, &report, &dir);
        assert!(r["tests"].as_array().unwrap().is_empty(), "{r:#}");
    }
}

#[test]
fn a_signal_during_the_run_keeps_the_finished_tests() {
    let (_tmp, dir) = built_signals_fixture();
    for sig in STOPPING {
        let report = unique_report(&dir);
        let mut args = vec!["test", "--test", "sleeps", "-j", "2"];
        args.extend(["--message-format", "json", "--report"]);
        args.push(report.to_str().unwrap());
        args.extend(SCRATCH);
        let mut runner = Runner::spawn(&dir, &args, &[]);
        runner.wait_for("passes to end and sleeps to start", |r| {
            r.saw_event("test-finished", "signals::sleeps passes")
                && r.saw_event("test-started", "signals::sleeps sleeps")
        });
        let r = interrupt(&mut runner, sig, &report, &dir);
        let names: Vec<&str> = r["tests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["passes"], "{sig}: the finished test is kept");
        assert_eq!(r["not_run"], serde_json::json!(["signals::sleeps sleeps"]));
    }
}

/// A closed terminal: the runner leads a session on a pty whose other end
/// goes away, so the kernel sends SIGHUP and every later write to the
/// terminal fails; the runner still cleans up and writes its report.
#[test]
fn a_closed_terminal_stops_the_run_and_still_reports() {
    use nix::fcntl::OFlag;
    use std::os::unix::fs::OpenOptionsExt;
    let (_tmp, dir) = built_signals_fixture();
    let report = unique_report(&dir);
    // Both ends close-on-exec from the start: a copy of the master that
    // another test's child inherited would keep the terminal from closing.
    let master =
        nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC).unwrap();
    nix::pty::grantpt(&master).unwrap();
    nix::pty::unlockpt(&master).unwrap();
    let pts = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(nix::pty::ptsname_r(&master).unwrap())
        .unwrap();
    let slave = |f: &std::fs::File| Stdio::from(f.try_clone().unwrap());
    // setsid -c: a new session whose controlling terminal is the pty.
    let mut args = vec!["-c", BIN, "isolate", "test", "--test", "sleeps"];
    args.extend(["-j", "2", "--report", report.to_str().unwrap()]);
    args.extend(SCRATCH);
    let child = Command::new("setsid")
        .args(&args)
        .current_dir(&dir)
        .stdin(slave(&pts))
        .stdout(slave(&pts))
        .stderr(slave(&pts))
        .spawn()
        .unwrap();
    drop(pts);
    // Read the terminal until told to hang up, then close it.
    let hang_up = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let output = Arc::new(Mutex::new(Vec::new()));
    let (stop, seen) = (hang_up.clone(), output.clone());
    let reader = std::thread::spawn(move || {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        use std::sync::atomic::Ordering;
        let mut buf = [0u8; 4096];
        while !stop.load(Ordering::SeqCst) {
            let mut fds = [PollFd::new(
                std::os::fd::AsFd::as_fd(&master),
                PollFlags::POLLIN,
            )];
            if poll(&mut fds, PollTimeout::from(50u16)).unwrap_or(0) > 0 {
                match nix::unistd::read(&master, &mut buf) {
                    Ok(n) if n > 0 => seen.lock().unwrap().extend_from_slice(&buf[..n]),
                    _ => std::thread::sleep(Duration::from_millis(50)),
                }
            }
        }
        drop(master);
    });
    let mut runner = Runner {
        pid: child.id() as i32,
        child,
        stdout: Default::default(),
        stderr: Default::default(),
        readers: Vec::new(),
    };
    let pid = runner.pid;
    runner.wait_for("the sleeping test", |_| {
        tree(pid)
            .iter()
            .any(|p| p.args.iter().any(|a| a == "sleeps") && p.args.iter().any(|a| a == "--exact"))
    });
    let seen = tree(pid);
    hang_up.store(true, std::sync::atomic::Ordering::SeqCst);
    reader.join().unwrap();
    let code = runner.exit_code();
    let shown = String::from_utf8_lossy(&output.lock().unwrap()).into_owned();
    assert_eq!(code, Some(130), "terminal output:\n{shown}");
    let r = read_report(&report);
    assert_eq!(r["complete"], false);
    assert_nothing_left(pid, &seen, &dir, "hangup");
}

/// An archive whose unpack takes a while: the signals fixture with
/// `files` small files more in its package directory.
fn slow_archive(files: usize) -> (Option<tempfile::TempDir>, PathBuf) {
    let (tmp, dir) = built_signals_fixture();
    let data = dir.join("data");
    for i in 0..files {
        let sub = data.join(format!("{}", i / 1000));
        if i % 1000 == 0 {
            std::fs::create_dir_all(&sub).unwrap();
        }
        std::fs::write(sub.join(format!("{i}.txt")), format!("file {i}\n")).unwrap();
    }
    let archive = dir.join("slow.tar.zst");
    let out = Command::new(BIN)
        .args(["isolate", "archive", "--test", "sleeps", "-o"])
        .arg(&archive)
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_code(&out, 0);
    std::fs::remove_dir_all(&data).unwrap();
    (tmp, archive)
}

/// Every file (not directory) under `dir`.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                _ => found.push(e.path()),
            }
        }
    }
    found
}

#[test]
fn a_signal_during_the_unpack_stops_it_and_leaves_no_staging_dir() {
    let (tmp, archive) = slow_archive(30_000);
    let base = archive.parent().unwrap().to_path_buf();
    for sig in STOPPING {
        // The unpack's temp dir, ours alone: what it leaves is seen.
        let tmpdir = base.join(format!("tmp-{sig}"));
        std::fs::create_dir(&tmpdir).unwrap();
        let report = unique_report(&base);
        let mut runner = Runner::spawn(
            &base,
            &[
                "test",
                "--archive-file",
                archive.to_str().unwrap(),
                "--report",
                report.to_str().unwrap(),
            ],
            // Unpacked under TMPDIR (not a runtime dir of ours).
            &[
                ("TMPDIR", tmpdir.to_str().unwrap()),
                ("XDG_RUNTIME_DIR", ""),
            ],
        );
        runner.wait_for("the unpack to start", |_| {
            std::fs::read_dir(&tmpdir).unwrap().next().is_some()
        });
        interrupt(&mut runner, sig, &report, &base);
        // A complete unpack would be kept; a stopped one leaves nothing.
        let left = files_under(&tmpdir);
        assert!(
            left.is_empty(),
            "{sig}: the unpack was not stopped, or left {} files, e.g. {:?}",
            left.len(),
            left.first()
        );
    }
    drop(tmp);
}
