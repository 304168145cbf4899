//! Reports, once for every test module: [`Run`] (a finished run of the
//! binary and the report it wrote), [`read_report`] (every report the
//! binary writes is checked against `docs/report.schema.json` on the way
//! in, by the `jsonschema` crate: every keyword, `minimum` included),
//! [`write_report`] for reports the `report` commands read, and the
//! builders of records and shard reports that tests forge and merge.

use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use crate::MIB;

/// A finished run of the binary and the report it wrote.
pub(crate) struct Run {
    pub(crate) out: Output,
    pub(crate) report: Value,
}

impl Run {
    /// Runs `cmd`, which writes its report to `report`, and reads that
    /// report; fails with the exit status and stderr when there is none,
    /// or when it breaks the schema.
    pub(crate) fn of(cmd: &mut Command, report: &Path) -> Run {
        let out = cmd.output().expect("run cargo-isolate");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let Ok(text) = std::fs::read_to_string(report) else {
            panic!(
                "no report written to {} (exit {:?}); stderr:\n{stderr}",
                report.display(),
                out.status.code()
            )
        };
        let report = parse_report(&text, report);
        Run { out, report }
    }

    pub(crate) fn code(&self) -> i32 {
        self.out.status.code().unwrap_or(-1)
    }

    pub(crate) fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }

    /// Each record by its libtest name ("" for a whole binary).
    pub(crate) fn tests(&self) -> HashMap<String, Value> {
        self.report["tests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["name"].as_str().unwrap_or("").to_string(), t.clone()))
            .collect()
    }

    pub(crate) fn test(&self, name: &str) -> Value {
        self.tests()
            .remove(name)
            .unwrap_or_else(|| panic!("no test {name} in the report; stderr:\n{}", self.stderr()))
    }

    pub(crate) fn cgroup(&self) -> &str {
        self.report["host"]["cgroup"].as_str().unwrap()
    }
}

/// The report the binary wrote at `path`, which must follow the schema.
pub(crate) fn read_report(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("no report at {}: {e}", path.display()));
    parse_report(&text, path)
}

fn parse_report(text: &str, path: &Path) -> Value {
    let report: Value = serde_json::from_str(text)
        .unwrap_or_else(|e| panic!("the report at {} is not JSON: {e}", path.display()));
    assert_follows_schema(&report, &path.display().to_string());
    report
}

/// Writes `report` to `path`, pretty, for a `report` command to read.
pub(crate) fn write_report(path: &Path, report: &Value) {
    std::fs::write(path, serde_json::to_string_pretty(report).unwrap()).unwrap();
}

/// Writes each (file name, report) into `dir`; their paths.
pub(crate) fn write_reports(dir: &Path, reports: &[(&str, Value)]) -> Vec<PathBuf> {
    reports
        .iter()
        .map(|(name, r)| {
            let path = dir.join(name);
            write_report(&path, r);
            path
        })
        .collect()
}

// ------------------------------------------------------------------ schema

/// `docs/report.schema.json` (the public one; `shared/` holds an older
/// copy), compiled once.
fn validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/report.schema.json");
        let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        jsonschema::validator_for(&schema)
            .unwrap_or_else(|e| panic!("{} does not compile: {e}", path.display()))
    })
}

/// Every way `report` breaks the schema, each with where (a JSON pointer).
pub(crate) fn schema_errors(report: &Value) -> Vec<String> {
    validator()
        .iter_errors(report)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

/// Fails, naming `what` and each error, unless `report` follows the schema.
pub(crate) fn assert_follows_schema(report: &Value, what: &str) {
    let errors = schema_errors(report);
    assert!(
        errors.is_empty(),
        "{what} breaks docs/report.schema.json:\n{}",
        errors.join("\n")
    );
}

// ---------------------------------------------------------------- builders

/// The archive hash the forged shard reports share.
pub(crate) const SHA: &str = "5f2b8e0c9a1d4e7f5f2b8e0c9a1d4e7f5f2b8e0c9a1d4e7f5f2b8e0c9a1d4e7f";

/// One test's record, as a run writes it.
pub(crate) fn record(name: &str, outcome: &str) -> Value {
    let failed = outcome != "passed";
    json!({
        "id": format!("demo {name}"), "binary_id": "demo",
        "package": "demo", "binary": "demo", "kind": "lib", "name": name,
        "outcome": outcome, "exit_code": if failed { 101 } else { 0 }, "signal": null,
        "duration_ms": 12.5, "cpu_ms": 11.0,
        "peak_memory_bytes": 4 * MIB, "peak_rss_bytes": 3 * MIB, "pids_peak": 2,
        "stdout": "", "stderr": if failed { "thread 't' panicked at src/lib.rs:3:5:\nboom\n" } else { "" },
        "error": null, "flaky": false,
        "panic_message": if failed { json!("boom") } else { Value::Null },
        "panic_location": if failed { json!("src/lib.rs:3:5") } else { Value::Null },
        "started_at": "2025-03-01T12:00:00.100Z",
        "limits": { "memory_max": null, "pids_max": null, "cpus": null, "timeout_ms": null },
        "budgets": null, "over_budget": [], "regressions": []
    })
}

/// Share `k` of `hash:k/n` of the archive `sha`, which ran `tests`
/// (name, outcome), started `start_s` seconds after noon and took 2 s.
pub(crate) fn shard(k: u32, n: u32, sha: &str, tests: &[(&str, &str)], start_s: u32) -> Value {
    let records: Vec<Value> = tests.iter().map(|(n, o)| record(n, o)).collect();
    let count = |o: &str| tests.iter().filter(|(_, x)| *x == o).count();
    json!({
        "schema_version": 1,
        "tool": { "name": "cargo-isolate", "version": "0.1.0" },
        "started_at": format!("2025-03-01T12:00:{start_s:02}.000Z"),
        "duration_ms": 2000.0,
        "complete": true,
        "host": { "kernel": format!("6.1.0-{k}"), "cgroup": "v2", "rootless": false },
        "settings": { "isolation": "per-test", "jobs": 4, "memory_max": null,
                      "pids_max": null, "cpus": null, "timeout_ms": 60000 },
        "summary": { "total": tests.len(), "passed": count("passed"), "failed": count("failed"),
                     "ignored": 0, "timed_out": 0, "oom_killed": 0, "signaled": 0,
                     "setup_error": 0, "over_budget": 0, "regressed": 0, "flaky": 0 },
        "tests": records,
        "runner": { "peak_rss_bytes": 20 * MIB + u64::from(k) },
        "not_run": [],
        "baseline": null,
        "archive": { "path": "tests.tar.zst", "sha256": sha },
        "partition": { "scheme": "hash", "index": k, "total": n,
                       "tests": tests.iter().map(|(n, _)| format!("demo {n}")).collect::<Vec<_>>() }
    })
}
