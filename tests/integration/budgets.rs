//! Budgets for CI: the configuration file and its overrides, budgets,
//! baselines, -E filtersets, GitHub Actions output and the JSON event
//! stream, on the demo fixture (tests of known memory and time).

use super::*;

/// The demo fixture with `.config/isolate.toml` holding `toml`.
fn demo_with_config(toml: &str) -> (Option<tempfile::TempDir>, PathBuf) {
    let (tmp, dir) = fixture("demo");
    std::fs::create_dir_all(dir.join(".config")).unwrap();
    std::fs::write(dir.join(".config/isolate.toml"), toml).unwrap();
    (tmp, dir)
}

/// Everything in the lib but the test that fails on purpose.
const PASSING: [&str; 3] = ["--lib", "-E", "not test(fails_on_purpose)"];

#[test]
fn overrides_apply_to_the_tests_they_match_only() {
    let (_tmp, dir) = demo_with_config(
        r#"
[profile.default]
memory-budget = "512M"

[[profile.default.overrides]]
filter = "test(allocates)"
memory-max = "256M"
timeout = "20s"
env = { DEMO_MARK = "heavy" }
"#,
    );
    let run = isolate_test(&dir, &PASSING);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let heavy = run.test("tests::allocates_64_mib");
    assert_eq!(heavy["limits"]["memory_max"], 256 << 20);
    assert_eq!(heavy["limits"]["timeout_ms"], 20_000);
    assert_eq!(
        heavy["budgets"]["memory_bytes"],
        512 << 20,
        "the profile's budget"
    );
    let plain = run.test("tests::adds_numbers");
    assert!(plain["limits"]["memory_max"].is_null(), "{plain}");
    assert!(plain["limits"]["timeout_ms"].is_null());
    assert!(
        !run.tests().contains_key("tests::fails_on_purpose"),
        "-E left it out"
    );
    // The command line wins over the file, overrides included.
    let run = isolate_test(&dir, &["--lib", "allocates", "--timeout", "30s"]);
    assert_eq!(
        run.test("tests::allocates_64_mib")["limits"]["timeout_ms"],
        30_000
    );
}

#[test]
fn a_test_over_budget_fails_the_run_unless_warned() {
    let (_tmp, dir) = demo_with_config(
        r#"
[[profile.default.overrides]]
filter = "test(=tests::allocates_64_mib)"
memory-budget = "16M"

[profile.relaxed]
budgets = "warn"
"#,
    );
    let run = isolate_test(&dir, &PASSING);
    if run.cgroup() == "none" {
        return skip("peak memory of the cgroup is needed");
    }
    assert_eq!(run.code(), 100, "{}", run.stderr());
    let t = run.test("tests::allocates_64_mib");
    assert_eq!(t["outcome"], "passed", "a budget is soft: the test passed");
    assert_eq!(t["over_budget"], serde_json::json!(["memory"]));
    assert_eq!(run.report["summary"]["over_budget"], 1);
    assert!(run.stderr().contains("OVER BUDGET"), "{}", run.stderr());
    let warned = isolate_test(&dir, &[&PASSING[..], &["--profile", "relaxed"]].concat());
    assert_eq!(warned.code(), 0, "{}", warned.stderr());
    assert_eq!(warned.report["summary"]["over_budget"], 1);
    let flag = isolate_test(&dir, &[&PASSING[..], &["--budgets", "warn"]].concat());
    assert_eq!(flag.code(), 0);
}

#[test]
fn growth_against_a_baseline_is_a_regression_within_the_threshold_it_is_not() {
    let (_tmp, dir) = demo_with_config("[profile.default]\nmax-memory-regression = \"20%\"\n");
    let first = isolate_test(&dir, &PASSING);
    if first.cgroup() == "none" {
        return skip("peak memory of the cgroup is needed");
    }
    let mut old = first.report.clone();
    for t in old["tests"].as_array_mut().unwrap() {
        if t["name"] == "tests::allocates_64_mib" {
            // It used half as much before: +100% now.
            t["peak_memory_bytes"] = (t["peak_memory_bytes"].as_u64().unwrap() / 2).into();
        }
    }
    // A test the baseline has and this run does not: a record like the
    // others (the baseline is read as strictly as any report).
    let mut gone = old["tests"][0].clone();
    gone["id"] = "demo tests::gone".into();
    gone["name"] = "tests::gone".into();
    old["tests"].as_array_mut().unwrap().push(gone);
    let smaller = dir.join("smaller.json");
    std::fs::write(&smaller, old.to_string()).unwrap();
    let run = isolate_test(
        &dir,
        &[&PASSING[..], &["--baseline", smaller.to_str().unwrap()]].concat(),
    );
    assert_eq!(run.code(), 100, "{}", run.stderr());
    let t = run.test("tests::allocates_64_mib");
    assert_eq!(t["regressions"][0]["metric"], "memory", "{t}");
    assert_eq!(
        run.report["baseline"]["gone_tests"],
        serde_json::json!(["demo tests::gone"])
    );
    assert!(run.stderr().contains("REGRESSED"));

    // The same figures: nothing regressed (CPU and memory are within 20%
    // or under their floors for these small tests).
    let same = dir.join("same.json");
    std::fs::write(&same, first.report.to_string()).unwrap();
    let run = isolate_test(
        &dir,
        &[&["--baseline", same.to_str().unwrap()][..], &PASSING[..]].concat(),
    );
    let regressed: Vec<String> = run
        .tests()
        .values()
        .filter(|t| !t["regressions"].as_array().unwrap().is_empty())
        .map(|t| t.to_string())
        .collect();
    assert!(regressed.is_empty(), "{regressed:?}");
}

#[test]
fn a_broken_config_is_a_usage_error_with_its_place() {
    for (toml, line, col, what) in [
        (
            "[profile.default]\nmemory-max = \"1\"\n",
            2,
            14,
            "memory-max",
        ),
        (
            "[profile.default]\nmemroy-max = \"1G\"\n",
            2,
            1,
            "memroy-max",
        ),
        (
            "[[profile.default.overrides]]\nfilter = \"test(a) &\"\n",
            2,
            20,
            "invalid filter",
        ),
        ("[profile.default\n", 1, 17, ""),
    ] {
        let (_tmp, dir) = demo_with_config(toml);
        let out = Command::new(BIN)
            .args(["isolate", "test"])
            .current_dir(&dir)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{toml}: {stderr}");
        let place = format!("isolate.toml:{line}:{col}: ");
        assert!(
            stderr.contains(&place),
            "{toml}: wanted {place} in {stderr}"
        );
        assert!(stderr.contains(what), "{stderr}");
        assert!(
            !dir.join("target").exists(),
            "nothing is built before the config is checked"
        );
    }
    // An -E expression is checked as early, its place shown.
    let (_tmp, dir) = fixture("demo");
    let out = Command::new(BIN)
        .args(["isolate", "test", "-E", "test(a) | packge(b)"])
        .current_dir(&dir)
        .output()
        .unwrap();
    // nextest's INVALID_FILTERSET.
    assert_eq!(out.status.code(), Some(94));
    assert!(!dir.join("target").exists());
}

#[test]
fn github_actions_get_annotations_and_a_step_summary() {
    let (_tmp, dir) = demo_with_config("[profile.default]\ntime-budget = \"100ms\"\n");
    let summary = dir.join("step-summary.md");
    let report = unique_report(&dir);
    let out = Command::new(BIN)
        .args([
            "isolate",
            "test",
            "--lib",
            "--report",
            report.to_str().unwrap(),
        ])
        .current_dir(&dir)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_WORKSPACE", &dir)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Tests' output is printed during the run: GitHub must not read
    // workflow commands in it. Commands stop first and resume, with a
    // token the tests never saw, only for ours.
    let first = stdout.lines().next().unwrap_or_default();
    let token = first
        .strip_prefix("::stop-commands::")
        .unwrap_or_else(|| panic!("commands are not stopped first: {stdout}"));
    let resume = stdout.find(&format!("::{token}::")).expect("resumed");
    assert!(stdout.find("::error").unwrap() > resume, "{stdout}");
    let failure = stdout
        .lines()
        .find(|l| l.contains("fails_on_purpose"))
        .unwrap_or_else(|| panic!("no annotation for the failure: {stdout}"));
    assert!(
        failure.starts_with("::error file=src/lib.rs,line="),
        "{failure}"
    );
    assert!(failure.contains("panicked"), "{failure}");
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("slow_but_fine over its time budget")),
        "{stdout}"
    );
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(
        md.contains("## cargo-isolate") && md.contains("### Failures"),
        "{md}"
    );
    assert!(
        md.contains("### Over budget") && md.contains("slow_but_fine"),
        "{md}"
    );
    // Without GITHUB_ACTIONS: no workflow commands.
    let run = isolate_test(&dir, &["--lib"]);
    assert!(!String::from_utf8_lossy(&run.out.stdout).contains("::error"));
}

#[test]
fn the_event_stream_parses_line_by_line() {
    let (_tmp, dir) = fixture("demo");
    let run = isolate_test(&dir, &["--lib", "--message-format", "json"]);
    let stdout = String::from_utf8_lossy(&run.out.stdout);
    let events: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds.first(), Some(&"run-started"));
    assert_eq!(kinds.last(), Some(&"run-finished"));
    let finished: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "test-finished")
        .collect();
    let started = kinds.iter().filter(|k| **k == "test-started").count();
    assert_eq!(started, events[0]["tests"].as_u64().unwrap() as usize);
    assert!(finished.iter().any(|e| e["test"]["outcome"] == "failed"));
    assert_eq!(events.last().unwrap()["exit_code"], 100);
    assert_eq!(events.last().unwrap()["summary"], run.report["summary"]);
}

#[test]
fn report_diff_shows_what_grew_for_humans_and_pull_requests() {
    let (_tmp, dir) = fixture("demo");
    let run = isolate_test(&dir, &PASSING);
    let mut old = run.report.clone();
    for t in old["tests"].as_array_mut().unwrap() {
        if t["name"] == "tests::allocates_64_mib" {
            t["peak_memory_bytes"] = (t["peak_memory_bytes"].as_u64().unwrap_or(2) / 2).into();
        }
    }
    let (old_path, new_path) = (dir.join("old.json"), dir.join("new.json"));
    std::fs::write(&old_path, old.to_string()).unwrap();
    std::fs::write(&new_path, run.report.to_string()).unwrap();
    let diff = |extra: &[&str]| {
        let out = Command::new(BIN)
            .args(["isolate", "report", "diff"])
            .args([&old_path, &new_path])
            .args(extra)
            .output()
            .unwrap();
        assert_code(&out, 0);
        String::from_utf8(out.stdout).unwrap()
    };
    let md = diff(&["--format", "markdown"]);
    let first = md.lines().find(|l| l.starts_with("| `")).unwrap();
    if run.cgroup() != "none" {
        assert!(
            first.contains("allocates_64_mib") && first.contains("+"),
            "largest first: {md}"
        );
    }
    let text = diff(&[]);
    assert!(text.starts_with("test "), "{text}");
    let bad = Command::new(BIN)
        .args([
            "isolate",
            "report",
            "diff",
            "/dev/null",
            new_path.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2), "not a report: a usage error");
}

/// An override may change a test's sandbox too: isolation none for one
/// probe (it sees the host's pids), a read-only source for another (its
/// write fails), and the rest of the probes keep the full sandbox.
#[test]
fn an_override_can_change_a_tests_sandbox() {
    let (_tmp, dir) = fixture("probes");
    std::fs::create_dir_all(dir.join(".config")).unwrap();
    std::fs::write(
        dir.join(".config/isolate.toml"),
        r#"
[[profile.default.overrides]]
filter = "test(=pid_is_small)"
isolation = "none"

[[profile.default.overrides]]
filter = "test(=writes_to_source_stay_private)"
read-only-source = true

[profile.bad]
[[profile.bad.overrides]]
filter = "all()"
isolation = "per-binary"
"#,
    )
    .unwrap();
    let run = isolate_test(&dir, &["--test", "isolation"]);
    assert_outcome(&run, "pid_is_small", "failed");
    assert_outcome(&run, "writes_to_source_stay_private", "failed");
    for (name, t) in run.tests() {
        if !["pid_is_small", "writes_to_source_stay_private"].contains(&name.as_str()) {
            assert_eq!(
                outcome(&t),
                "passed",
                "{name} keeps the full sandbox: {}",
                t["stderr"]
            );
        }
    }
    let bad = Command::new(BIN)
        .args(["isolate", "test", "--profile", "bad"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("per-binary cannot be set for some tests")
    );
}

/// The token that resumes workflow commands is not something a test can
/// know: a test sees the run id (and prints it here), never the token.
#[test]
fn the_workflow_command_token_is_not_the_run_id() {
    let (_tmp, dir) = fixture("same");
    let report = unique_report(&dir);
    let out = Command::new(BIN)
        .args([
            "isolate",
            "test",
            "shows_env",
            "--report",
            report.to_str().unwrap(),
        ])
        .current_dir(&dir)
        .env("GITHUB_ACTIONS", "true")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let token = stdout
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("::stop-commands::"))
        .unwrap_or_else(|| panic!("{stdout}"));
    let seen = std::fs::read_to_string(&report).unwrap();
    assert!(
        seen.contains("CARGO_ISOLATE_RUN_ID="),
        "the test printed what it sees"
    );
    assert!(
        !seen.contains(token),
        "a test could resume workflow commands"
    );
}

/// A binary the -E expressions exclude whatever its tests is not even
/// listed: here its listing would fail the run.
#[test]
fn binaries_excluded_by_filtersets_are_not_listed() {
    let (_tmp, dir) = fixture("hostile");
    let run = |extra: &[&str]| {
        Command::new(BIN)
            .args(["isolate", "test", "--report"])
            .arg(unique_report(&dir))
            .args(extra)
            .current_dir(&dir)
            .env("HOSTILE_LIST_FAILS", "1")
            .output()
            .unwrap()
    };
    let all = run(&[]);
    assert_code(&all, 96);
    assert!(String::from_utf8_lossy(&all.stderr).contains("listing the tests of"));
    let one = run(&["-E", "binary(escape) & test(=no_controlling_terminal)"]);
    assert_code(&one, 0);
    // test() alone cannot decide for a whole binary: both are listed.
    let undecided = run(&["-E", "test(=no_controlling_terminal)"]);
    assert_code(&undecided, 96);
}
