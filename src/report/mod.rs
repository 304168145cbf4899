//! The run's results: the report model (schema v1 in
//! `shared/report.schema.json`), its JSON and JUnit writers, the terminal
//! summary and the progress display.

pub mod escape;
pub mod junit;
pub mod progress;
pub mod summary;

use crate::error::Error;
use serde::Serialize;
use std::path::Path;

#[derive(Debug, Serialize)]
pub struct Report {
    pub schema_version: u32,
    pub tool: Tool,
    pub started_at: String,
    pub duration_ms: f64,
    pub complete: bool,
    pub host: HostInfo,
    pub settings: Settings,
    pub summary: Summary,
    pub tests: Vec<TestRecord>,
    /// Added to v1: the runner's own footprint.
    pub runner: RunnerInfo,
}

#[derive(Debug, Serialize)]
pub struct Tool {
    pub name: &'static str,
    pub version: &'static str,
}

#[derive(Debug, Serialize)]
pub struct HostInfo {
    pub kernel: String,
    pub cgroup: &'static str,
    pub rootless: bool,
}

#[derive(Debug, Serialize)]
pub struct Settings {
    pub isolation: &'static str,
    pub jobs: usize,
    pub memory_max: Option<u64>,
    pub pids_max: Option<u64>,
    pub cpus: Option<f64>,
    pub timeout_ms: Option<u64>,
}

#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Summary {
    pub total: usize,
    pub passed: usize,
    pub failed: usize,
    pub ignored: usize,
    pub timed_out: usize,
    pub oom_killed: usize,
    pub signaled: usize,
    pub setup_error: usize,
}

#[derive(Debug, Serialize)]
pub struct RunnerInfo {
    pub peak_rss_bytes: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TestRecord {
    pub id: String,
    pub package: String,
    pub binary: String,
    pub kind: String,
    pub name: Option<String>,
    pub outcome: &'static str,
    pub exit_code: Option<i32>,
    pub signal: Option<String>,
    pub duration_ms: Option<f64>,
    pub cpu_ms: Option<f64>,
    pub peak_memory_bytes: Option<u64>,
    pub peak_rss_bytes: Option<u64>,
    pub pids_peak: Option<u64>,
    pub stdout: String,
    pub stderr: String,
    pub error: Option<String>,
    /// Added to v1: which run of the test this is, with `--repeat`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
}

impl TestRecord {
    /// A record with nothing measured yet (every figure null).
    pub fn new(
        id: String,
        package: &str,
        binary: &str,
        kind: &str,
        name: Option<String>,
    ) -> TestRecord {
        TestRecord {
            id,
            package: package.to_string(),
            binary: binary.to_string(),
            kind: kind.to_string(),
            name,
            outcome: crate::outcome::Outcome::Ignored.as_str(),
            exit_code: None,
            signal: None,
            duration_ms: None,
            cpu_ms: None,
            peak_memory_bytes: None,
            peak_rss_bytes: None,
            pids_peak: None,
            stdout: String::new(),
            stderr: String::new(),
            error: None,
            attempt: None,
        }
    }

    /// Takes the outcome and figures of a finished sandbox.
    pub fn set_measured(&mut self, m: crate::outcome::Measured) {
        self.outcome = m.outcome().as_str();
        self.exit_code = m.exit_code;
        self.signal = m.signal;
        self.duration_ms = m.duration_ms;
        self.cpu_ms = m.cpu_ms;
        self.peak_memory_bytes = m.peak_memory_bytes;
        self.peak_rss_bytes = m.peak_rss_bytes;
        self.pids_peak = m.pids_peak;
        self.error = m.error;
    }
}

impl Summary {
    pub fn of(tests: &[TestRecord]) -> Summary {
        let mut s = Summary {
            total: tests.len(),
            ..Summary::default()
        };
        for t in tests {
            match t.outcome {
                "passed" => s.passed += 1,
                "failed" => s.failed += 1,
                "ignored" => s.ignored += 1,
                "timed_out" => s.timed_out += 1,
                "oom_killed" => s.oom_killed += 1,
                "signaled" => s.signaled += 1,
                _ => s.setup_error += 1,
            }
        }
        s
    }

    pub fn not_passed(&self) -> usize {
        self.total - self.passed - self.ignored
    }
}

/// Writes `bytes` to `path` through a temp file and a rename, so a reader
/// never sees half a report.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), Error> {
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
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(err)?;
    tmp.write_all(bytes).map_err(err)?;
    tmp.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}

pub fn write_json(report: &Report, path: &Path) -> Result<(), Error> {
    let mut bytes = serde_json::to_vec_pretty(report).expect("the report serialises");
    bytes.push(b'\n');
    write_atomically(path, &bytes)
}

/// "96.0 MiB".
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// RFC 3339 UTC with milliseconds.
pub fn rfc3339(t: std::time::SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn record(outcome: &'static str) -> TestRecord {
        let mut r = TestRecord::new("p::b::t".into(), "p", "b", "test", Some("t".into()));
        r.outcome = outcome;
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
        assert_eq!(s.not_passed(), 2);
    }

    #[test]
    fn unmeasured_fields_are_null_not_zero() {
        let v = serde_json::to_value(record("ignored")).unwrap();
        assert!(v["peak_memory_bytes"].is_null());
        assert!(v["exit_code"].is_null());
        assert_eq!(v["outcome"], "ignored");
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(96 << 20), "96.0 MiB");
    }
}
