//! The run's outputs, each read from the model (`crate::model`): the JSON
//! report and its strict loader, JUnit, HTML, GitHub's annotations and
//! summary, the terminal's progress and summary, the JSON event stream,
//! and `report merge`/`diff`.

pub mod diff;
pub mod escape;
pub mod events;
pub mod files;
pub mod flaky;
pub mod github;
pub mod html;
pub mod junit;
pub mod load;
#[cfg(test)]
pub mod markdown_check;
pub mod merge;
pub mod progress;
pub mod summary;
pub mod terminal;

use crate::error::Error;
pub use crate::model::human::{count, human_bytes, human_duration, rfc3339};
pub use crate::model::*;
use std::path::Path;

/// Writes `bytes` to `path` through a temp file and a rename, so a reader
/// never sees half a report.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    write_atomically_with(path, |w| w.write_all(bytes))
}

/// As [`write_atomically`], the contents streamed by `write` (a report of
/// 10,000 tests is never held whole in memory).
pub fn write_atomically_with(
    path: &Path,
    write: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> Result<(), Error> {
    use std::io::Write;
    let err = |source| Error::WriteReport {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(err)?;
    let tmp = tempfile::NamedTempFile::new_in(dir).map_err(err)?;
    {
        let mut out = std::io::BufWriter::with_capacity(1 << 16, tmp.as_file());
        write(&mut out).map_err(err)?;
        out.flush().map_err(err)?;
    }
    // A temp file is 0600; the report is for CI uploaders and colleagues
    // too: the mode any new file gets, 0666 less the umask.
    use std::os::unix::fs::PermissionsExt;
    let mode = 0o666 & !umask();
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(err)?;
    tmp.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}

/// The process's umask, read from /proc (setting it to read it back would
/// race with other threads creating files).
fn umask() -> u32 {
    self_status("Umask:")
        .and_then(|m| u32::from_str_radix(&m, 8).ok())
        .unwrap_or(0o022)
}

/// This process's own peak RSS (`VmHWM`). Not getrusage's `ru_maxrss`:
/// that keeps the peak of the image before our exec, so a runner started
/// by a large process (a forking CI agent, a Python harness) would report
/// the parent's size.
pub fn own_peak_rss_bytes() -> Option<u64> {
    let kib = self_status("VmHWM:")?;
    kib.split_whitespace()
        .next()?
        .parse::<u64>()
        .ok()
        .map(|k| k * 1024)
}

/// The value of a `/proc/self/status` line, trimmed.
fn self_status(field: &str) -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let value = status.lines().find_map(|l| l.strip_prefix(field))?;
    Some(value.trim().to_string())
}

pub fn write_json(report: &Report, path: &Path) -> Result<(), Error> {
    write_atomically_with(path, |w| {
        serde_json::to_writer_pretty(&mut *w, report).map_err(std::io::Error::other)?;
        w.write_all(b"\n")
    })
}

#[cfg(test)]
pub use crate::model::testing;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::record::panic_in;

    /// A report read back as `report merge` reads one, the error as text.
    fn from_json(text: &str) -> Result<Report, String> {
        load::parse(text).map_err(|e| e.to_string())
    }

    pub fn record(outcome: &'static str) -> TestRecord {
        let mut r = TestRecord::new("p::b::t".into(), "p", "b", "test", Some("t".into()));
        r.outcome = outcome.into();
        r
    }

    #[test]
    fn summary_counts_by_outcome() {
        let tests = [
            record("passed"),
            record("failed"),
            record("ignored"),
            record("oom_killed"),
        ];
        let s = Summary::of(&tests);
        assert_eq!(
            (s.total, s.passed, s.failed, s.ignored, s.oom_killed),
            (4, 1, 1, 1, 1)
        );
        assert_eq!(s.total - s.passed - s.ignored, 2);
    }

    #[test]
    fn unmeasured_fields_are_null_not_zero() {
        let v = serde_json::to_value(record("ignored")).unwrap();
        assert!(v["peak_memory_bytes"].is_null());
        assert!(v["exit_code"].is_null());
        assert_eq!(v["outcome"], "ignored");
    }

    #[test]
    fn panics_are_found_in_both_formats() {
        let new = "\nthread 'tests::x' panicked at src/lib.rs:30:9:\nassertion `left == right` failed\n  left: 1\n right: 2\nnote: run with `RUST_BACKTRACE=1`";
        assert_eq!(
            panic_in(new),
            Some((
                "assertion `left == right` failed".into(),
                Some("src/lib.rs:30:9".into())
            ))
        );
        let old = "thread 'main' panicked at 'boom', src/main.rs:2:5\nnote: ...";
        assert_eq!(
            panic_in(old),
            Some(("boom".into(), Some("src/main.rs:2:5".into())))
        );
        assert_eq!(panic_in("all fine\n"), None);
    }

    #[test]
    fn reasons_say_what_happened() {
        let settings = testing::settings();
        let mut r = record("failed");
        r.exit_code = Some(101);
        assert_eq!(r.reason(&settings), "exit code 101");
        r.panic_message = Some("boom".into());
        assert_eq!(r.reason(&settings), "panicked: boom");
        r.outcome = "oom_killed".into();
        assert_eq!(
            r.reason(&settings),
            "killed at the memory limit of 32.0 MiB, after it panicked: boom"
        );
        r.outcome = "timed_out".into();
        assert_eq!(r.reason(&settings), "timed out after 3s");
        r.outcome = "signaled".into();
        r.signal = Some("SIGSEGV".into());
        assert_eq!(r.reason(&settings), "SIGSEGV");
    }

    /// A report with every field the model has set.
    fn full_report() -> Report {
        let mut retried = record("passed");
        retried.id = "p::b::retried".into();
        retried.flaky = true;
        retried.attempt = Some(2);
        let mut first = record("failed");
        first.exit_code = Some(101);
        first.stderr = "thread 't' panicked at src/lib.rs:1:2:\nboom\n".into();
        first.find_panic();
        retried.attempts = vec![
            flaky::Attempt::of(&first, 1, 1 << 10),
            flaky::Attempt::of(&retried, 2, 1 << 10),
        ];
        retried.replay = Some("cargo isolate test --exact 'p::b::retried'".into());
        retried.started_at = Some("2025-01-01T10:00:00.500Z".into());
        retried.limits = TestLimits {
            memory_max: Some(32 << 20),
            pids_max: Some(64),
            cpus: Some(1.5),
            timeout_ms: Some(3000),
            enforced: crate::model::Enforced {
                memory_max: Some(true),
                pids_max: Some(false),
                cpus: Some(true),
            },
        };
        retried.budgets = Some(crate::budget::Budgets {
            memory_bytes: Some(1 << 20),
            time_ms: Some(10),
            cpu_ms: None,
        });
        retried.peak_memory_bytes = Some(2 << 20);
        retried.duration_ms = Some(12.25);
        retried.over_budget = vec!["memory".into(), "time".into()];
        retried.regressions = vec![crate::budget::Regression {
            metric: "cpu".into(),
            baseline: 10.0,
            now: 20.5,
            percent: 105.0,
        }];
        let mut stressed = flaky::StressTally::default();
        stressed.add(1, record("passed"));
        stressed.add(2, first.clone());
        let mut stressed = stressed.finish().unwrap();
        stressed.id = "p::b::stressed".into();
        let mut report = testing::report(
            vec![retried, stressed, first],
            "2025-01-01T10:00:00.000Z",
            1500.5,
        );
        report.summary = Summary::of(&report.tests);
        report.complete = false;
        report.host.kernel = "6.1.0-test".into();
        report.runner.peak_rss_bytes = Some(12 << 20);
        report.not_run = vec!["p::b::later".into()];
        report.baseline = Some(BaselineInfo {
            path: "main.json".into(),
            new_tests: vec!["p::b::stressed".into()],
            gone_tests: vec!["p::b::old".into()],
        });
        report.archive = Some(ArchiveInfo {
            path: "tests.tar.zst".into(),
            sha256: "0123abcd".into(),
        });
        report.partition = Some(PartitionInfo {
            scheme: "hash".into(),
            index: 2,
            total: 3,
            tests: vec!["p::b::t".into(), "p::b::later".into()],
        });
        report
    }

    #[test]
    fn a_report_reads_back_to_the_same_json() {
        let report = full_report();
        let written = serde_json::to_string_pretty(&report).unwrap();
        let v: serde_json::Value = serde_json::from_str(&written).unwrap();
        // Every optional part is there to be read back.
        let t = &v["tests"][0];
        for key in [
            "attempts",
            "replay",
            "budgets",
            "over_budget",
            "regressions",
        ] {
            assert!(!t[key].is_null(), "{key}");
        }
        assert!(v["tests"][1]["stress"]["first_failure"].is_object());
        assert!(v["partition"].is_object() && v["baseline"].is_object());
        let back = from_json(&written).unwrap();
        assert_eq!(serde_json::to_string_pretty(&back).unwrap(), written);

        let mut merged = full_report();
        merged.partition = None;
        let merged = merge::merge(vec![("a.json".into(), merged)]).unwrap();
        let written = serde_json::to_string_pretty(&merged).unwrap();
        let back = from_json(&written).unwrap();
        assert_eq!(serde_json::to_string_pretty(&back).unwrap(), written);
    }

    #[test]
    fn an_older_report_reads_with_the_added_fields_defaulted() {
        let old = r#"{
          "schema_version": 1,
          "tool": {"name": "cargo-isolate", "version": "0.1.0-old"},
          "started_at": "2024-01-01T00:00:00.000Z", "duration_ms": 10.0,
          "complete": true,
          "host": {"kernel": "5.10", "cgroup": "v1", "rootless": true},
          "settings": {"isolation": "per-binary", "jobs": 2, "memory_max": null,
                       "pids_max": null, "cpus": null, "timeout_ms": null},
          "summary": {"total": 1, "passed": 1, "failed": 0, "ignored": 0,
                      "timed_out": 0, "oom_killed": 0, "signaled": 0, "setup_error": 0},
          "tests": [{"id": "demo::bin/tool t", "package": "demo", "binary": "tool",
                     "kind": "bin", "name": "t", "outcome": "passed", "exit_code": 0,
                     "signal": null, "duration_ms": 1.5, "cpu_ms": null,
                     "peak_memory_bytes": null, "peak_rss_bytes": null, "pids_peak": null,
                     "stdout": "", "stderr": ""}]
        }"#;
        let r = from_json(old).unwrap();
        assert_eq!(r.tool.version, "0.1.0-old");
        assert_eq!((r.host.cgroup, r.settings.isolation), ("v1", "per-binary"));
        let t = &r.tests[0];
        assert_eq!(t.binary_id, "demo::bin/tool");
        assert!(t.attempts.is_empty() && t.over_budget.is_empty() && !t.flaky);
        assert!(r.not_run.is_empty() && r.partition.is_none() && r.merged.is_none());
        assert_eq!(r.runner.peak_rss_bytes, None);
    }

    #[test]
    fn what_is_not_a_report_is_refused_naming_the_value() {
        let v = serde_json::to_value(full_report()).unwrap();
        let with = |path: &[&str], value: serde_json::Value| {
            let mut v = v.clone();
            let mut at = &mut v;
            for key in path {
                at = match key.parse::<usize>() {
                    Ok(i) => &mut at[i],
                    Err(_) => &mut at[*key],
                };
            }
            *at = value;
            from_json(&v.to_string()).unwrap_err()
        };
        let err = with(&["tests", "0", "outcome"], "exploded".into());
        assert!(
            err.starts_with("unknown variant `exploded`, expected one of `passed`, `failed`"),
            "{err}"
        );
        let err = with(
            &["tests", "1", "stress", "outcomes"],
            serde_json::json!({"won": 1}),
        );
        assert!(err.starts_with("unknown variant `won`"), "{err}");
        let err = with(&["tests", "0", "over_budget", "0"], "disk".into());
        assert!(
            err.starts_with("unknown variant `disk`, expected one of `memory`, `time`, `cpu`"),
            "{err}"
        );
        let err = with(&["tests", "0", "regressions", "0", "metric"], "disk".into());
        assert!(err.starts_with("unknown variant `disk`"), "{err}");
        let err = with(&["settings", "isolation"], "per-crate".into());
        assert!(
            err.starts_with(
                "unknown isolation \"per-crate\" (expected one of: per-test, per-binary, none)"
            ),
            "{err}"
        );
        let err = with(&["host", "cgroup"], "v3".into());
        assert!(
            err.starts_with("unknown cgroup version \"v3\" (expected one of: v1, v2, none)"),
            "{err}"
        );
        let err = with(&["tool", "name"], "cargo-nextest".into());
        assert!(err.starts_with("unknown tool \"cargo-nextest\""), "{err}");
        let err = with(&["schema_version"], 2.into());
        assert_eq!(err, "schema version 2; this cargo-isolate reads 1");
        assert_eq!(from_json("{}").unwrap_err(), "no schema_version");
        let err = from_json(r#"{"schema_version": 1}"#).unwrap_err();
        assert!(err.starts_with("missing field `tool`"), "{err}");
        assert!(from_json("[1, 2]").is_err());
        assert!(from_json("not json").is_err());
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(96 << 20), "96.0 MiB");
    }
}
