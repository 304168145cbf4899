//! `cargo isolate hunt` (`fixtures/hunt`): it finds the condition a test
//! fails under, writes a table that parses, names the smallest failing
//! condition, and that condition's replay fails as often as the table
//! says; axes the host cannot make are left out with a note; a broad
//! selection and `test`'s own run flags are refused.

use super::*;
use serde_json::json;

/// `cargo isolate hunt ARGS` in `dir`, its table at `<dir>/report-*.hunt.json`:
/// the process, the JSON and the Markdown. Panics never print backtraces
/// (symbolising one under --cpus 0.02 takes seconds).
fn isolate_hunt(dir: &Path, args: &[&str]) -> (Output, Value, String) {
    let json = unique_report(dir).with_extension("hunt.json");
    let out = Command::new(BIN)
        .args(["isolate", "hunt", "-o", json.to_str().unwrap()])
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let table: Value = std::fs::read_to_string(&json)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_else(|| panic!("no table at {}: {stderr}", json.display()));
    let md = std::fs::read_to_string(json.with_extension("md")).unwrap();
    (out, table, md)
}

/// The Markdown table's rows, each as its cells (code spans unwrapped).
fn markdown_rows(md: &str) -> Vec<Vec<String>> {
    md.lines()
        .filter(|l| l.starts_with("| "))
        .skip(1)
        .map(|l| {
            l.trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().trim_matches('`').trim().to_string())
                .collect()
        })
        .collect()
}

fn row<'a>(table: &'a Value, condition: &str) -> &'a Value {
    table["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["condition"] == condition)
        .unwrap_or_else(|| panic!("no row {condition}: {table:#}"))
}

#[test]
fn hunt_finds_cpu_starvation_and_its_replay_fails_as_often() {
    if !is_root() {
        return skip("cgroup limits need root on this machine");
    }
    let (_tmp, dir) = fixture("hunt");
    let test = "cpu::worker_answers_within_deadline";
    let started = Instant::now();
    let (out, table, md) = isolate_hunt(
        &dir,
        &[
            "--exact",
            test,
            // The loss axis first: the one that fails need not be.
            "--axis",
            "loss=5%",
            "--axis",
            "cpus=unlimited,0.02",
            "--runs",
            "4",
            "--stop-after-failures",
            "3",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    note(&format!("hunt took {:?}", started.elapsed()));
    // A failing condition was found: exit 100, as a failed test.
    assert_eq!(out.status.code(), Some(100), "{stderr}");
    assert_eq!(table["complete"], true);
    assert_eq!(
        table["tests"],
        json!(["hunt cpu::worker_answers_within_deadline"])
    );
    let conditions: Vec<&str> = table["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["condition"].as_str().unwrap())
        .collect();
    assert_eq!(
        conditions,
        ["baseline", "loss=5%", "cpus=0.02"],
        "{table:#}"
    );
    let base = row(&table, "baseline");
    assert_eq!(
        (base["runs"].as_u64(), base["passed"].as_u64()),
        (Some(4), Some(4)),
        "{table:#}"
    );
    assert_eq!(row(&table, "loss=5%")["fails"], false, "{table:#}");
    let cpu = row(&table, "cpus=0.02");
    assert_eq!(cpu["fails"], true, "{table:#}");
    // Stopped early, at the third failure.
    assert_eq!(
        (cpu["runs"].as_u64(), cpu["passed"].as_u64()),
        (Some(3), Some(0))
    );
    assert_eq!(cpu["conditions"], json!({"cpus": "0.02"}));
    assert!(cpu["ci_high"].as_f64().unwrap() < 0.6, "{cpu:#}");
    let found = &table["smallest_failing"][0];
    assert_eq!(found["condition"], "cpus=0.02", "{table:#}");
    let replay = found["replay"].as_str().unwrap();
    assert!(
        replay.contains(&format!("--exact {test} --cpus 0.02"))
            && replay.ends_with("-j 1 --stress-count 3"),
        "{replay}"
    );
    // The Markdown table says the same.
    let rows = markdown_rows(&md);
    assert_eq!(rows.len(), 3, "{md}");
    assert_eq!(rows[2][0], "cpus=0.02", "{md}");
    assert_eq!(rows[2][2..5], ["3", "0", "0%"], "{md}");
    assert_eq!(rows[2][6], "**fails**", "{md}");
    assert!(md.contains(replay), "{md}");
    assert!(
        stderr.contains(
            "Smallest failing condition for hunt cpu::worker_answers_within_deadline: cpus=0.02"
        ),
        "{stderr}"
    );

    // The replay, as printed (a POSIX shell line), fails within the
    // table's interval.
    let report = unique_report(&dir);
    let args = replay.strip_prefix("cargo isolate ").unwrap();
    let run = Run::of(
        Command::new("sh")
            .arg("-c")
            .arg(format!("exec \"$0\" isolate {args} --report \"$1\""))
            .arg(BIN)
            .arg(&report)
            .current_dir(&dir)
            .env("NO_COLOR", "1")
            .env("RUST_BACKTRACE", "0")
            .stdin(Stdio::null()),
        &report,
    );
    assert_eq!(run.code(), 100, "{}", run.stderr());
    let t = run.test(test);
    let rate = t["stress"]["pass_rate"].as_f64().unwrap();
    let (lo, hi) = (
        found["ci_low"].as_f64().unwrap(),
        found["ci_high"].as_f64().unwrap(),
    );
    assert!(
        (lo..=hi).contains(&rate),
        "replay pass rate {rate} outside {lo}..{hi}: {t:#}"
    );
    assert_eq!(t["stress"]["runs"], 3);
    assert_eq!(t["limits"]["cpus"], 0.02);
}

#[test]
fn hunt_finds_packet_loss_and_leaves_out_what_the_host_cannot_make() {
    if !is_root() {
        return skip("cgroup limits need root on this machine");
    }
    let (_tmp, dir) = fixture("hunt");
    let (out, table, md) = isolate_hunt(
        &dir,
        &[
            "--exact",
            "net::udp_echo_answers_in_time",
            "--axis",
            "delay=50ms",
            "--axis",
            "loss=1%,5%",
            "--runs",
            "4",
            "--stop-after-failures",
            "2",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(100), "{stderr}");
    assert_eq!(row(&table, "baseline")["passed"], 4, "{table:#}");
    assert_eq!(row(&table, "loss=5%")["fails"], true, "{table:#}");
    // Delay: tried where the host can delay packets (netem or NFQUEUE),
    // else left out with the reason; never a run of setup errors.
    let axes: Vec<&str> = table["axes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    // The smallest: the mildest step that fails (1% if it already failed,
    // else 5%); delay=50ms is a first step too, and wins a tie by its
    // lower pass rate.
    let found = table["smallest_failing"][0]["condition"].as_str().unwrap();
    let one_fails = row(&table, "loss=1%")["fails"].as_bool().unwrap();
    let expected: &[&str] = match (axes.contains(&"delay"), one_fails) {
        (true, true) => &["delay=50ms", "loss=1%"],
        (true, false) => &["delay=50ms"],
        (false, true) => &["loss=1%"],
        (false, false) => &["loss=5%"],
    };
    assert!(expected.contains(&found), "{found}: {table:#}");
    if axes.contains(&"delay") {
        assert_eq!(row(&table, "delay=50ms")["fails"], true, "{table:#}");
    } else {
        assert_eq!(axes, ["loss"]);
        let notes = table["notes"].to_string();
        assert!(notes.contains("delay left out: --net-delay"), "{notes}");
        assert!(stderr.contains("note: delay left out"), "{stderr}");
        assert!(md.contains("delay left out"), "{md}");
    }
    for r in table["rows"].as_array().unwrap() {
        assert_eq!(r["setup_errors"], 0, "{r:#}");
    }
}

/// A hunt is for a few tests: a broad selection is refused before
/// anything runs, with how to narrow it; so are `test`'s run flags.
#[test]
fn hunt_refuses_many_tests_and_test_only_flags() {
    let (_tmp, dir) = fixture("probes");
    let out = isolate_hunt_refused(&dir, &["--runs", "1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("at most 8 are taken; narrow the selection"),
        "{stderr}"
    );
    assert!(stderr.contains("--exact"), "{stderr}");
    let out = isolate_hunt_refused(&dir, &["--retries", "3", "pid_is_small"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--retries is for `cargo isolate test`"),
        "{stderr}"
    );
    let out = isolate_hunt_refused(&dir, &["--axis", "cpu=1", "pid_is_small"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown axis \"cpu\""));
}

/// A hunt that writes no table.
fn isolate_hunt_refused(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(["isolate", "hunt"])
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}
