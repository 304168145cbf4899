//! Memory-aware scheduling: with `--memory-total`, heavy tests start only
//! while their memory limits fit, and light tests keep running beside them.

use super::*;

/// Each test's (name, start, end) in milliseconds since the epoch.
fn intervals(report: &Value) -> Vec<(String, f64, f64)> {
    report["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let start = humantime::parse_rfc3339(t["started_at"].as_str().unwrap())
                .unwrap()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs_f64()
                * 1000.0;
            let end = start + t["duration_ms"].as_f64().unwrap();
            (t["name"].as_str().unwrap().to_string(), start, end)
        })
        .collect()
}

/// How long two tests ran at once, in milliseconds. A start is the
/// runner's clock and a duration the sandbox's: one test's end and the
/// next one's start may seem to overlap by a millisecond or two.
fn overlap(x: &(String, f64, f64), y: &(String, f64, f64)) -> f64 {
    (x.2.min(y.2) - x.1.max(y.1)).max(0.0)
}

/// Two tests ran together: for longer than the clocks' disagreement.
const TOGETHER_MS: f64 = 100.0;

/// The most intervals of `set` open at once (beside each one's start).
fn most_at_once(set: &[&(String, f64, f64)]) -> usize {
    set.iter()
        .map(|t| {
            set.iter()
                .filter(|u| u.1 <= t.1 + TOGETHER_MS && overlap(t, u) > TOGETHER_MS)
                .count()
        })
        .max()
        .unwrap_or(0)
}

/// The heavy tests' memory limits, from an override.
const HEAVY: &str =
    "[[profile.default.overrides]]\nfilter = \"test(/^tests::heavy/)\"\nmemory-max = \"300MiB\"\n";

/// `fixtures/memsched` with `config` as its `.config/isolate.toml`.
fn memsched_with(config: &str) -> (Option<tempfile::TempDir>, PathBuf) {
    let (tmp, dir) = fixture("memsched");
    std::fs::create_dir_all(dir.join(".config")).unwrap();
    std::fs::write(dir.join(".config/isolate.toml"), config).unwrap();
    (tmp, dir)
}

#[test]
fn heavy_tests_share_the_memory_total_and_light_ones_run_beside_them() {
    let (_tmp, dir) = memsched_with(HEAVY);
    let run = isolate_test(&dir, &["--memory-total", "700M", "-j", "4"]);
    if run.cgroup() == "none" {
        return skip("a memory limit needs a cgroup");
    }
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let all = intervals(&run.report);
    assert_eq!(all.len(), 44);
    let heavy: Vec<_> = all.iter().filter(|t| t.0.contains("heavy")).collect();
    let light: Vec<_> = all.iter().filter(|t| t.0.contains("light")).collect();
    // Two heavy tests fit in 700 MiB, a third does not.
    assert_eq!(most_at_once(&heavy), 2, "heavy tests at once: {heavy:?}");
    // Light tests ran while two heavy ones held their memory.
    let beside = light
        .iter()
        .any(|(_, s, e)| heavy.iter().filter(|(_, a, b)| a < e && s < b).count() == 2);
    assert!(beside, "no light test ran beside two heavy ones");
    // The heavy tests that waited say how long.
    let waited: Vec<f64> = run.report["tests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["memory_wait_ms"].as_f64())
        .collect();
    assert!(
        waited.len() >= 2 && waited.iter().all(|w| *w > 0.0),
        "memory waits: {waited:?}"
    );
}

/// Without a memory total the same suite runs its heavy tests four at a
/// time: the check above can fail.
#[test]
fn without_a_memory_total_heavy_tests_run_at_j() {
    let (_tmp, dir) = memsched_with(HEAVY);
    let run = isolate_test(
        &dir,
        &[
            "--memory-total",
            "unlimited",
            "-j",
            "4",
            "-E",
            "test(/heavy/)",
        ],
    );
    if run.cgroup() == "none" {
        return skip("a memory limit needs a cgroup");
    }
    let all = intervals(&run.report);
    let heavy: Vec<_> = all.iter().collect();
    assert!(most_at_once(&heavy) > 2, "heavy tests at once: {heavy:?}");
}

/// nextest's threads-required: a test that needs two of -j 2 runs alone.
#[test]
fn a_test_that_requires_all_the_threads_runs_alone() {
    let (_tmp, dir) = memsched_with(
        "[[profile.default.overrides]]\nfilter = \"test(/^tests::heavy_[12]$/)\"\nthreads-required = 2\n",
    );
    let run = isolate_test(
        &dir,
        &[
            "-j",
            "2",
            "--memory-total",
            "unlimited",
            "-E",
            "test(/heavy_[12]$/) | test(/light_0/)",
        ],
    );
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let all = intervals(&run.report);
    for alone in all.iter().filter(|t| t.0.contains("heavy")) {
        let beside: Vec<_> = all
            .iter()
            .filter(|u| u.0 != alone.0 && overlap(alone, u) > TOGETHER_MS.min(20.0))
            .collect();
        assert!(beside.is_empty(), "{} ran beside {beside:?}", alone.0);
    }
    // Without it, the two heavy tests run together at -j 2.
    std::fs::remove_file(dir.join(".config/isolate.toml")).unwrap();
    let run = isolate_test(
        &dir,
        &[
            "-j",
            "2",
            "--memory-total",
            "unlimited",
            "-E",
            "test(/heavy_[12]$/)",
        ],
    );
    let all = intervals(&run.report);
    assert!(overlap(&all[0], &all[1]) > TOGETHER_MS, "{all:?}");
}

/// nextest's test groups: at most `max-threads` of a group's tests at
/// once, whatever -j; the rest of the suite runs beside them. A group an
/// override names must be defined.
#[test]
fn a_test_group_runs_at_most_its_max_threads() {
    let (_tmp, dir) = memsched_with(
        "[test-groups.heavy]\nmax-threads = 1\n\n[[profile.default.overrides]]\nfilter = \"test(/^tests::heavy/)\"\ntest-group = \"heavy\"\n",
    );
    let run = isolate_test(&dir, &["-j", "4", "--memory-total", "unlimited"]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let all = intervals(&run.report);
    let heavy: Vec<_> = all.iter().filter(|t| t.0.contains("heavy")).collect();
    assert_eq!(most_at_once(&heavy), 1, "{heavy:?}");
    let light: Vec<_> = all.iter().filter(|t| t.0.contains("light")).collect();
    assert!(
        light
            .iter()
            .any(|l| heavy.iter().any(|h| overlap(l, h) > 0.0)),
        "light tests ran beside the group"
    );
    std::fs::write(
        dir.join(".config/isolate.toml"),
        "[[profile.default.overrides]]\nfilter = \"all()\"\ntest-group = \"nope\"\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["isolate", "test"])
        .current_dir(&dir)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("no test group \"nope\"") && stderr.contains('^'),
        "{stderr}"
    );
}

/// nextest's `group()` on the command line: the tests the overrides put in
/// a group (or in none: `@global`); a name matching no group is a bad
/// filterset (exit 94) that lists the groups there are.
#[test]
fn group_selects_the_tests_the_overrides_put_in_it() {
    let (_tmp, dir) = memsched_with(
        "[test-groups.heavy]\nmax-threads = 1\n\n[[profile.default.overrides]]\nfilter = \"test(/^tests::heavy_[12]$/)\"\ntest-group = \"heavy\"\n",
    );
    let list = |expr: &str| {
        let out = Command::new(BIN)
            .args(["isolate", "list", "--message-format", "json", "-E", expr])
            .current_dir(&dir)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        if !out.status.success() {
            return Err((out.status.code(), stderr));
        }
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let mut names: Vec<String> = v["rust-suites"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|s| s["testcases"].as_object().unwrap().keys().cloned())
            .collect();
        names.sort();
        Ok(names)
    };
    assert_eq!(
        list("group(heavy)").unwrap(),
        ["tests::heavy_1", "tests::heavy_2"]
    );
    let global = list("group(=@global) & test(heavy)").unwrap();
    assert_eq!(global, ["tests::heavy_3", "tests::heavy_4"]);
    let (code, stderr) = list("group(hevay)").unwrap_err();
    assert_eq!(code, Some(94), "{stderr}");
    assert!(
        stderr.contains("no test group matches 'hevay' (groups: heavy;"),
        "{stderr}"
    );
}

/// `-j 1` runs the tests one after the other as listed, even when the
/// next one's sandbox (set up while the previous test runs) is slow: the
/// one after it, ready first, waits its turn. On the old scheduler the
/// stalled test started third.
#[test]
fn with_one_job_tests_start_in_the_listed_order_when_a_setup_is_slow() {
    let (_tmp, dir) = fixture("memsched");
    let run = isolate_test_with_env(
        &dir,
        &["-j", "1", "-E", "test(/light_0/)"],
        &[(
            "CARGO_ISOLATE_FAILPOINT",
            "slow-setup:memsched tests::light_02",
        )],
    );
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let mut started = intervals(&run.report);
    started.sort_by(|x, y| x.1.total_cmp(&y.1));
    let order: Vec<&str> = started.iter().map(|t| t.0.as_str()).collect();
    let listed: Vec<String> = (1..=9).map(|n| format!("tests::light_0{n}")).collect();
    assert_eq!(order, listed, "the starts: {started:?}");
}
