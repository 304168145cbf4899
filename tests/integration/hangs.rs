//! A test killed at its timeout is inspected first (`fixtures/hang`): the
//! report names each thread, its state, wait channel and system call and,
//! where a debugger is installed, its stack with the test's functions.

use super::*;

/// `cargo isolate test --timeout 2s FILTERS` on the hang fixture.
fn hang_run(args: &[&str]) -> (Option<tempfile::TempDir>, Run) {
    let (tmp, dir) = fixture("hang");
    let run = isolate_test(&dir, args);
    (tmp, run)
}

/// The first thread named `name` in a record's hang.
fn thread<'a>(t: &'a Value, name: &str) -> &'a Value {
    t["hang"]["threads"]
        .as_array()
        .unwrap_or_else(|| panic!("no hang in {t}"))
        .iter()
        .find(|th| th["name"] == name)
        .unwrap_or_else(|| panic!("no thread {name:?} in {}", t["hang"]))
}

fn frames(th: &Value) -> Vec<&str> {
    th["stack"]
        .as_array()
        .map(|s| s.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

#[test]
fn a_hung_test_says_where_each_thread_waits() {
    let (_tmp, run) = hang_run(&[
        "--timeout",
        "2s",
        "waits_forever_on_a_condvar",
        "accepts_forever",
        "ends_in_time",
        "spins_forever",
    ]);
    let stderr = run.stderr();
    assert_eq!(run.code(), 100, "{stderr}");
    support::report::assert_follows_schema(&run.report, "a report with hangs");
    let passed = run.test("ends_in_time");
    assert_eq!(outcome(&passed), "passed");
    assert!(passed.get("hang").is_none(), "{passed}");

    let condvar = run.test("waits_forever_on_a_condvar");
    assert_eq!(outcome(&condvar), "timed_out");
    let waiter = thread(&condvar, "waiter");
    assert_eq!(waiter["syscall"], "futex", "{waiter}");
    assert_eq!(waiter["state"], "S", "{waiter}");
    assert!(
        waiter["wchan"]
            .as_str()
            .is_some_and(|w| w.contains("futex")),
        "{waiter}"
    );
    // Host pids: the test's processes are not pid 1 or 2 of its namespace.
    assert!(waiter["pid"].as_i64().unwrap() > 2, "{waiter}");
    assert!(condvar["hang"]["inspect_ms"].as_f64().unwrap() < 5500.0);

    let accept = run.test("accepts_forever");
    let server = thread(&accept, "accepts_forever");
    assert!(
        matches!(server["syscall"].as_str(), Some("accept4" | "accept")),
        "{server}"
    );
    // A busy loop is not a wait: running, in no system call.
    let spin = run.test("spins_forever");
    let spinner = thread(&spin, "spins_forever");
    assert_eq!(spinner["state"], "R", "{spinner}");
    assert_eq!(spinner["syscall"], "running", "{spinner}");
    // The terminal says it in one line per thread, under the failure.
    assert!(
        stderr.contains("thread 'waiter' (tid ") && stderr.contains("  futex"),
        "{stderr}"
    );
    assert!(
        stderr.contains("thread 'accepts_forever' (tid "),
        "{stderr}"
    );

    // slow-timeout's terminate-after kills it as a timeout, inspected too.
    let (_tmp, run) = hang_run(&["--slow-timeout", "1s,terminate-after=2", "accepts_forever"]);
    let accept = run.test("accepts_forever");
    assert_eq!(outcome(&accept), "timed_out", "{}", run.stderr());
    let server = thread(&accept, "accepts_forever");
    assert!(
        matches!(server["syscall"].as_str(), Some("accept4" | "accept")),
        "{server}"
    );
}

#[test]
fn a_hung_test_shows_its_stacks_with_the_tests_functions() {
    let debugger = match (
        has_tool("eu-stack", &["--version"]),
        has_tool("gdb", &["--version"]),
    ) {
        (true, _) => "eu-stack",
        (false, true) => "gdb",
        _ => return skip("no debugger here (.ci/run installs elfutils and gdb)"),
    };
    let (_tmp, run) = hang_run(&[
        "--timeout",
        "2s",
        "waits_forever_on_a_condvar",
        "accepts_forever",
    ]);
    let stderr = run.stderr();
    let condvar = run.test("waits_forever_on_a_condvar");
    assert_eq!(condvar["hang"]["debugger"], debugger, "{}", condvar["hang"]);
    let waiter = thread(&condvar, "waiter");
    assert!(
        frames(waiter).contains(&"hangs::hang_waiter_blocks_on_condvar"),
        "{waiter}"
    );
    let test_thread = thread(&condvar, "waits_forever_o");
    assert!(
        frames(test_thread).contains(&"hangs::waits_forever_on_a_condvar"),
        "{test_thread}"
    );
    let accept = run.test("accepts_forever");
    let server = thread(&accept, "accepts_forever");
    assert!(
        frames(server).contains(&"hangs::hang_accept_loop"),
        "{server}"
    );
    assert!(
        stderr.contains("  futex  at hangs::hang_waiter_blocks_on_condvar"),
        "{stderr}"
    );
    assert!(stderr.contains("at hangs::hang_accept_loop"), "{stderr}");
}

/// Hostile to the report: 300 threads, names with an escape sequence and
/// markup, a second process. The report keeps 128 threads, the second
/// process among them; the terminal shows the names escaped.
#[test]
fn a_hung_crowd_is_bounded_and_its_names_escaped() {
    let (_tmp, run) = hang_run(&["--timeout", "2s", "a_crowd_with_hostile_names"]);
    let stderr = run.stderr();
    let crowd = run.test("a_crowd_with_hostile_names");
    let hang = &crowd["hang"];
    let threads = hang["threads"].as_array().unwrap();
    assert_eq!(threads.len(), 128, "{hang}");
    assert!(hang["threads_omitted"].as_u64().unwrap() >= 170, "{hang}");
    let sleep = thread(&crowd, "sleep");
    assert_ne!(sleep["pid"], threads[0]["pid"], "{sleep}");
    assert!(
        sleep["syscall"]
            .as_str()
            .is_some_and(|s| s.contains("nanosleep")),
        "{sleep}"
    );
    assert!(threads.iter().any(|t| t["name"] == "\u{1b}[31m<b>x</b>"));
    assert!(!stderr.contains('\u{1b}'), "{stderr}");
    assert!(stderr.contains("thread '\\x1b[31m<b>x</b>'"), "{stderr}");
    assert!(
        hang["inspect_ms"].as_f64().unwrap() < 5500.0,
        "{}",
        hang["inspect_ms"]
    );
    support::report::assert_follows_schema(&run.report, "a report with a crowd");
}

/// Rootless (uid 65534, from an archive): the test's user namespace is
/// owned by the runner's uid, so the runner reads /proc and its debugger
/// may attach as it does as root (there is no Yama ptrace_scope here; where
/// one forbids it, the note says what the debugger said). The archive's
/// workspace is remapped to its original paths, where the host holds other
/// files: eu-stack would read those, so gdb reads the test's own.
#[test]
fn a_hung_test_is_inspected_rootless() {
    if !is_root() {
        return skip("needs root to switch to uid 65534 with setpriv");
    }
    if !nobody_has_user_namespaces() {
        return skip("unprivileged user namespaces are off here");
    }
    let (bin_tmp, bin) = binary_for_nobody();
    let archive = archive_of("hang", bin_tmp.path());
    let work = nobodys_dir(bin_tmp.path(), "work");
    nobodys_dir(&work, "home");
    let report = work.join("report.json");
    let run = Run::of(
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&bin)
            // One at a time: gdb (see below) takes a second of CPU each.
            .args(["isolate", "test", "-j", "1", "--timeout", "2s"])
            .arg("--archive-file")
            .arg(&archive)
            .arg("--workspace-remap")
            .arg(work.join("ws"))
            .arg("--report")
            .arg(&report)
            .args([
                "waits_forever_on_a_condvar",
                "accepts_forever",
                "hides_from_debuggers",
            ])
            .current_dir(&work)
            .env("HOME", work.join("home"))
            .env("NO_COLOR", "1")
            .stdin(Stdio::null()),
        &report,
    );
    let stderr = run.stderr();
    assert_eq!(run.report["host"]["rootless"], true, "{stderr}");
    let condvar = run.test("waits_forever_on_a_condvar");
    assert_eq!(outcome(&condvar), "timed_out", "{stderr}");
    let waiter = thread(&condvar, "waiter");
    assert_eq!(waiter["syscall"], "futex", "{waiter}");
    assert!(
        waiter["wchan"]
            .as_str()
            .is_some_and(|w| w.contains("futex")),
        "{waiter}"
    );
    let accept = run.test("accepts_forever");
    let server = thread(&accept, "accepts_forever");
    assert!(
        matches!(server["syscall"].as_str(), Some("accept4" | "accept")),
        "{server}"
    );
    note(&format!(
        "rootless hang: debugger {}, note {}",
        condvar["hang"]["debugger"], condvar["hang"]["note"]
    ));
    if has_tool("eu-stack", &["--version"]) || has_tool("gdb", &["--version"]) {
        assert!(
            frames(waiter).contains(&"hangs::hang_waiter_blocks_on_condvar"),
            "{}",
            condvar["hang"]
        );
    }
    // A test that made itself non-dumpable is the host root's to trace:
    // its threads are still named, with the state /proc shows anyone, and
    // the note says why the rest is missing.
    let hidden = run.test("hides_from_debuggers");
    assert_eq!(outcome(&hidden), "timed_out", "{stderr}");
    let th = thread(&hidden, "hides_from_debu");
    assert_eq!(th["state"], "S", "{th}");
    assert!(frames(th).is_empty(), "{th}");
    let why = hidden["hang"]["note"].as_str().unwrap_or_default();
    assert!(
        why.contains("non-dumpable") && why.contains("not readable"),
        "{}",
        hidden["hang"]
    );
    note(&format!("rootless, non-dumpable: {}", hidden["hang"]));
}

/// `cargo isolate run` says it too, on stderr, for any program.
#[test]
fn run_says_where_a_timed_out_program_waits() {
    let out = Command::new(BIN)
        .args(["run", "--timeout", "1s", "--", "/bin/sleep", "100"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(124), "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.starts_with("cargo-isolate: thread 'sleep' (tid "))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(line.contains("nanosleep"), "{line}");
}

/// `test` alone under `--slow-timeout SLOW` (and `extra` flags): its
/// record, timed out, and the whole run's milliseconds.
fn graced(test: &str, slow: &str, extra: &[&str]) -> (Value, f64) {
    let mut args = vec!["--slow-timeout", slow, "--exact", test];
    args.extend_from_slice(extra);
    let (_tmp, run) = hang_run(&args);
    assert_eq!(run.code(), 100, "{}", run.stderr());
    support::report::assert_follows_schema(&run.report, "a timed-out test");
    let t = run.test(test);
    assert_eq!(outcome(&t), "timed_out", "{t}");
    (t, run.report["duration_ms"].as_f64().unwrap())
}

fn error_of(t: &Value) -> &str {
    t["error"].as_str().unwrap_or_default()
}

/// nextest's grace period: at the timeout each of the test's processes
/// gets SIGTERM and the time to clean up, and the test is still timed
/// out; one that ignores SIGTERM is killed when the grace period ends,
/// which never runs past a hard --timeout. Without one the kill comes at
/// once, and the cleanup never runs.
#[test]
fn a_grace_period_lets_a_timed_out_test_clean_up_and_then_kills() {
    let slow = "500ms,terminate-after=2,grace-period=30s";
    let (t, run_ms) = graced("ends_on_sigterm_saying_so", slow, &[]);
    let stdout = t["stdout"].as_str().unwrap_or_default();
    assert!(stdout.contains("cleaned up on SIGTERM"), "{t}");
    // Its own exit, not a kill, and the error says which.
    assert_eq!(
        (t["exit_code"].as_i64(), t["signal"].as_str()),
        (Some(0), None),
        "{t}"
    );
    let says = "timed out after 1s; sent SIGTERM, ended within the grace period of 30s";
    assert!(error_of(&t).contains(says), "{t}");
    // It ended at the SIGTERM: nothing waited for the 30 s.
    assert!(run_ms < 20_000.0, "the run took {run_ms} ms");

    let slow = "500ms,terminate-after=2,grace-period=1s";
    let (t, _) = graced("ignores_sigterm", slow, &[]);
    assert_eq!(t["signal"], "SIGKILL", "{t}");
    let says = "timed out after 1s; sent SIGTERM, killed after the grace period of 1s";
    assert!(error_of(&t).contains(says), "{t}");

    // Hostile: a configuration (an archive's, say) with a long grace period
    // cannot stretch a hard --timeout: of its 60 s, 2 s are left.
    let slow = "500ms,terminate-after=2,grace-period=60s";
    let (t, run_ms) = graced("ignores_sigterm", slow, &["--timeout", "3s"]);
    let says = "killed after the grace period of 2s";
    assert!(error_of(&t).contains(says), "{t}");
    assert!(run_ms < 30_000.0, "the run took {run_ms} ms");

    let (t, _) = graced("ends_on_sigterm_saying_so", "500ms,terminate-after=2", &[]);
    let stdout = t["stdout"].as_str().unwrap_or_default();
    assert!(!stdout.contains("cleaned up"), "killed at once, yet: {t}");
}
