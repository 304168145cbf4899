//! What a cargo-nextest user expects: ids, libtest pass-through, several
//! filters, stopping early, streaming output, the test environment, files
//! others can read, and flags that apply only where they mean something.

use super::*;

fn ids(run: &Run) -> Vec<String> {
    run.report["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_lib_and_a_bin_of_the_same_name_get_distinct_nextest_ids() {
    let (_tmp, dir) = fixture("same");
    let run = isolate_test(&dir, &["t1"]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_eq!(
        ids(&run),
        vec!["same tests::t1", "same::bin/same tests::t1"]
    );
    let binary_ids: Vec<&str> = run.report["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["binary_id"].as_str().unwrap())
        .collect();
    assert_eq!(binary_ids, vec!["same", "same::bin/same"]);
    let listed = Command::new(BIN)
        .args(["isolate", "test", "--list", "t1"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&listed.stdout),
        "same tests::t1\nsame::bin/same tests::t1\n"
    );
}

/// And which test, binary, attempt and profile they are, under our names
/// and nextest's; a host variable of the same name does not leak in.
#[test]
fn tests_know_they_run_under_cargo_isolate() {
    let (_tmp, dir) = fixture("same");
    let run = isolate_test_with_env(
        &dir,
        &["--retries", "2", "shows_env"],
        &[
            ("CARGO_ISOLATE_TEST_NAME", "forged"),
            ("NEXTEST_BINARY_ID", "forged"),
        ],
    );
    let out = run.test("tests::shows_env")["stdout"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(out.contains("CARGO_ISOLATE=1\n"), "{out}");
    for line in [
        "CARGO_ISOLATE_ATTEMPT=1",
        "CARGO_ISOLATE_TOTAL_ATTEMPTS=3",
        "CARGO_ISOLATE_TEST_NAME=tests::shows_env",
        "CARGO_ISOLATE_BINARY_ID=same",
        "CARGO_ISOLATE_PROFILE=default",
        "NEXTEST_TEST_NAME=tests::shows_env",
        "NEXTEST_BINARY_ID=same",
        "NEXTEST_ATTEMPT=1",
    ] {
        assert!(out.contains(&format!("{line}\n")), "{line} in:\n{out}");
    }
    assert!(!out.contains("forged"), "{out}");
    let id = out
        .lines()
        .find_map(|l| l.strip_prefix("CARGO_ISOLATE_RUN_ID="))
        .unwrap();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    assert_eq!(&id[14..15], "4", "version 4: {id}");
}

/// libtest's own flags keep their values: `1` in `--test-threads 1` is
/// not a name filter, `-Z` is not the value of `--format`.
#[test]
fn libtest_arguments_are_read_as_libtest_reads_them() {
    let (_tmp, dir) = fixture("demo");
    let all = isolate_test(&dir, &["--lib"]);
    let n = all.tests().len();
    let threads = isolate_test(&dir, &["--lib", "--", "--test-threads", "1"]);
    assert_eq!(threads.tests().len(), n, "--test-threads 1 selects nothing");
    assert!(threads.stderr().contains("--test-threads has no effect"));
    let skip = isolate_test(&dir, &["--lib", "--", "--skip", "parses"]);
    assert_eq!(skip.tests().len(), n - 1);
    let format = isolate_test(
        &dir,
        &["--lib", "--", "--format", "json", "-Z", "unstable-options"],
    );
    assert_eq!(
        format.tests().len(),
        n,
        "--format's and -Z's values are not filters"
    );
    // Several names: any of them.
    let two = isolate_test(&dir, &["--lib", "adds", "parses"]);
    let mut names: Vec<String> = two.tests().into_keys().collect();
    names.sort();
    assert_eq!(names, vec!["tests::adds_numbers", "tests::parses_config"]);
}

#[test]
fn stopping_early_records_what_never_ran() {
    let (_tmp, dir) = fixture("demo");
    let run = isolate_test(&dir, &["--lib", "--fail-fast", "-j", "1"]);
    assert_eq!(run.code(), 100);
    let not_run = run.report["not_run"].as_array().unwrap();
    let ran = run.tests().len();
    assert!(!not_run.is_empty(), "{}", run.stderr());
    assert_eq!(run.report["complete"], false);
    // Every selected test is either in the report or in not_run.
    let all = isolate_test(&dir, &["--lib"]).tests().len();
    assert_eq!(ran + not_run.len(), all);
    // --no-fail-fast is accepted and is the default; the last flag wins.
    let run = isolate_test(&dir, &["--lib", "--fail-fast", "--no-fail-fast"]);
    assert_eq!(run.tests().len(), all);
    assert_eq!(run.report["not_run"].as_array().unwrap().len(), 0);
    let run = isolate_test(&dir, &["--lib", "--max-fail", "2", "-j", "1"]);
    assert_eq!(run.tests().len(), all, "only one test fails: nothing stops");
}

#[test]
fn no_capture_streams_the_output_and_still_records_it() {
    let (_tmp, dir) = fixture("demo");
    let run = isolate_test(&dir, &["--lib", "--no-capture", "adds_numbers"]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let streamed = String::from_utf8_lossy(&run.out.stdout);
    assert!(streamed.contains("running 1 test"), "streamed: {streamed}");
    let recorded = run.test("tests::adds_numbers")["stdout"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(recorded.contains("running 1 test"));
}

/// A failing assertion whose backtrace does not fit the memory limit:
/// the report and the terminal say both, the panic and the limit.
#[test]
fn a_panic_then_a_kill_at_the_limit_shows_both() {
    let (_tmp, dir) = fixture("demo");
    let report = unique_report(&dir);
    let out = Command::new(BIN)
        .args([
            "isolate",
            "test",
            "--lib",
            "fails_on_purpose",
            "--memory-max",
            "16M",
            "--report",
        ])
        .arg(&report)
        .current_dir(&dir)
        .env("RUST_BACKTRACE", "1")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("cannot be enforced") {
        return skip("no cgroup memory controller here");
    }
    let report = read_report(&report);
    let t = &report["tests"][0];
    let panic = t["panic_message"]
        .as_str()
        .unwrap_or_else(|| panic!("no panic found: {t}"));
    assert!(!panic.is_empty());
    assert!(stderr.contains(panic), "the panic is shown: {stderr}");
    if t["outcome"] == "oom_killed" {
        assert!(stderr.contains("memory limit of 16.0 MiB"), "{stderr}");
    }
}

#[test]
fn written_files_are_readable_by_others() {
    use std::os::unix::fs::PermissionsExt;
    let (_tmp, dir) = fixture("same");
    let junit = dir.join("junit.xml");
    let run = isolate_test(&dir, &["t1", "--junit", junit.to_str().unwrap()]);
    let report = run
        .stderr()
        .lines()
        .find_map(|l| l.trim().strip_prefix("Report "))
        .map(PathBuf::from)
        .expect("the report's path is printed");
    for f in [&report, &junit] {
        let mode = std::fs::metadata(f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o044, 0o044, "{} is {mode:o}", f.display());
    }
    assert!(
        run.stderr().contains(junit.to_str().unwrap()),
        "the JUnit path is printed"
    );
}

#[test]
fn flags_mean_something_where_they_are_offered() {
    let bogus = Command::new(BIN)
        .args(["isolate", "test", "--color", "bogus"])
        .output()
        .unwrap();
    assert_eq!(bogus.status.code(), Some(2));
    let help = Command::new(BIN)
        .args(["isolate", "run", "-h"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        !help.contains("--isolation") && !help.contains("--read-only-source"),
        "{help}"
    );
    let run = Command::new(BIN)
        .args([
            "isolate",
            "run",
            "--isolation",
            "per-binary",
            "--",
            "/bin/true",
        ])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
}

/// `cargo isolate list`, as `cargo nextest list`: by binary for people,
/// nextest's JSON summary for tools.
#[test]
fn list_shows_the_plan_by_binary_and_as_json() {
    let (_tmp, dir) = fixture("demo");
    let list = |extra: &[&str]| {
        let out = Command::new(BIN)
            .args(["isolate", "list"])
            .args(extra)
            .current_dir(&dir)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let human = list(&[]);
    assert!(
        human.starts_with("demo:\n    tests::adds_numbers\n")
            && human.contains("    tests::ignored_for_now (ignored)\n")
            && human.contains("demo::api:\n    reads_fixture_file\n"),
        "{human}"
    );
    let json: Value = serde_json::from_str(&list(&[
        "--message-format",
        "json",
        "-E",
        "binary_id(demo::api)",
    ]))
    .unwrap();
    assert_eq!(json["test-count"], 2, "{json:#}");
    let suite = &json["rust-suites"]["demo::api"];
    assert_eq!(
        (suite["binary-id"].as_str(), suite["kind"].as_str()),
        (Some("demo::api"), Some("test"))
    );
    assert_eq!(suite["testcases"]["round_trip"]["ignored"], false);
    assert!(json["rust-suites"].get("demo").is_none(), "{json:#}");
}

/// nextest's --no-tests: a run that selects nothing fails (exit 4) unless
/// told to warn or pass, on the command line or in the file; the report
/// judges it the same way.
#[test]
fn no_tests_fails_warns_or_passes_as_asked() {
    let (_tmp, dir) = fixture("demo");
    let none = ["--lib", "nothing_is_named_like_this"];
    let run = isolate_test(&dir, &none);
    assert_eq!(run.code(), 4, "{}", run.stderr());
    assert!(
        run.stderr().contains(
            "error: no tests matched; nothing ran (selected by names [\"nothing_is_named_like_this\"])"
        ),
        "{}",
        run.stderr()
    );
    let warned = isolate_test(&dir, &[&none[..], &["--no-tests", "warn"]].concat());
    assert_eq!(warned.code(), 0, "{}", warned.stderr());
    assert!(
        warned.stderr().contains("warning: no tests matched"),
        "{}",
        warned.stderr()
    );
    assert_eq!(warned.report["settings"]["policy"]["no_tests_fail"], false);
    std::fs::create_dir_all(dir.join(".config")).unwrap();
    std::fs::write(
        dir.join(".config/isolate.toml"),
        "[profile.default]\nno-tests = \"pass\"\n",
    )
    .unwrap();
    let passed = isolate_test(&dir, &none);
    assert_eq!(passed.code(), 0, "{}", passed.stderr());
    assert!(
        !passed.stderr().contains("no tests matched"),
        "{}",
        passed.stderr()
    );
    // The command line wins over the file.
    let failed = isolate_test(&dir, &[&none[..], &["--no-tests", "fail"]].concat());
    assert_eq!(failed.code(), 4, "{}", failed.stderr());
}

/// nextest's status levels: which tests get a line as they end, and
/// which the end of the run lists again.
#[test]
fn status_levels_choose_the_lines_as_nextests_do() {
    let (_tmp, dir) = fixture("demo");
    let args = [
        "--lib",
        "-E",
        "test(adds_numbers) | test(ignored_for_now) | test(fails_on_purpose)",
    ];
    let default = isolate_test(&dir, &args);
    let err = default.stderr();
    let summary_at = err.find("Summary").expect("a summary");
    // As nextest by default: passing tests as they end, no skipped ones.
    assert!(err[..summary_at].contains("PASS"), "{err}");
    assert!(!err.contains("SKIP"), "{err}");
    let quiet = isolate_test(
        &dir,
        &[
            &args[..],
            &["--status-level", "fail", "--final-status-level", "all"],
        ]
        .concat(),
    );
    let err = quiet.stderr();
    let summary_at = err.find("Summary").expect("a summary");
    let (during, after) = err.split_at(summary_at);
    assert!(during.contains("FAIL") && !during.contains("PASS"), "{err}");
    assert!(
        after.contains("PASS") && after.contains("SKIP") && after.contains("FAIL"),
        "{err}"
    );
    assert_eq!(quiet.code(), 100);
}

/// A slow test is said slow each period, with the memory it holds and
/// the CPU it used so far, read from its cgroup: one that waits shows
/// next to no CPU.
#[test]
fn a_slow_test_is_said_slow_with_its_memory_and_cpu_so_far() {
    let (_tmp, dir) = fixture("faults");
    let report = unique_report(&dir);
    let out = Command::new(BIN)
        .args(["isolate", "test", "--test", "faults", "-E", "test(=hangs)"])
        .args([
            "--slow-timeout",
            "300ms",
            "--timeout",
            "1500ms",
            "--message-format",
            "json",
        ])
        .arg("--report")
        .arg(&report)
        .current_dir(&dir)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let slow: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["type"] == "test-slow")
        .collect();
    assert!(
        slow.len() >= 2,
        "a SLOW event each period: {slow:?}\n{stderr}"
    );
    assert!(stderr.contains("SLOW"), "{stderr}");
    let run = read_report(&report);
    if run["host"]["cgroup"] == "none" {
        return skip("the figures come from the test's cgroup");
    }
    let last = slow.last().unwrap();
    assert!(
        last["memory_bytes"].as_u64().is_some_and(|b| b > 0),
        "{last}"
    );
    let cpu = last["cpu_ms"].as_f64().expect("CPU so far");
    assert!(cpu < 250.0, "a sleeping test uses next to no CPU: {last}");
    assert!(stderr.contains("(CPU 0."), "{stderr}");
}
