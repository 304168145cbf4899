//! The run's results: the report model (schema v1 in
//! `shared/report.schema.json`), its JSON and JUnit writers, the terminal
//! summary and the progress display.

pub mod diff;
pub mod escape;
pub mod events;
pub mod flaky;
pub mod github;
pub mod html;
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
    /// Added to v1: ids of selected tests that never ran because the run
    /// stopped early (--fail-fast, --max-fail, Ctrl-C).
    pub not_run: Vec<String>,
    /// Added to v1: the --baseline this run was compared with.
    pub baseline: Option<BaselineInfo>,
}

/// What a comparison with an earlier report found beyond regressions.
#[derive(Debug, Clone, Serialize)]
pub struct BaselineInfo {
    pub path: String,
    /// Tests of this run the baseline does not have.
    pub new_tests: Vec<String>,
    /// Tests of the baseline this run did not select.
    pub gone_tests: Vec<String>,
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
    /// Added to v1: tests that passed over one of their budgets.
    pub over_budget: usize,
    /// Added to v1: tests that grew past a threshold against the baseline.
    pub regressed: usize,
    /// Added to v1: tests that failed, then passed on a retry (counted in
    /// `passed` too: their final outcome).
    pub flaky: usize,
}

#[derive(Debug, Serialize)]
pub struct RunnerInfo {
    pub peak_rss_bytes: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TestRecord {
    pub id: String,
    /// Added to v1: the binary id as cargo-nextest writes it.
    pub binary_id: String,
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
    /// Added to v1: which attempt the record's figures are from, when
    /// there was more than one: the last retry, or under a stress run the
    /// first run that failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    /// Added to v1: it failed, then passed on a retry.
    pub flaky: bool,
    /// Added to v1: with retries, every attempt in order (the last is the
    /// verdict, also in the record's own fields); empty when it ran once.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<flaky::Attempt>,
    /// Added to v1: under --stress-count/--stress-duration, the spread of
    /// its runs; the record's own fields are the first failing run's, or
    /// the last run's when none failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stress: Option<flaky::StressStats>,
    /// Added to v1: the command that runs this test alone again in the
    /// same sandbox (limits, faults, environment choices, seed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay: Option<String>,
    /// Added to v1: the first line of the panic the test printed, if any
    /// (also when it was then killed at the memory limit or timed out).
    pub panic_message: Option<String>,
    /// Added to v1: where it panicked, `file:line:column`.
    pub panic_location: Option<String>,
    /// Added to v1: when the test's sandbox started (RFC 3339 UTC).
    pub started_at: Option<String>,
    /// Added to v1: the limits this test ran under.
    pub limits: TestLimits,
    /// Added to v1: its budgets, from the configuration (null: none).
    pub budgets: Option<crate::budget::Budgets>,
    /// Added to v1: the budgets it broke ("memory", "time", "cpu").
    pub over_budget: Vec<&'static str>,
    /// Added to v1: what grew past the thresholds against --baseline.
    pub regressions: Vec<crate::budget::Regression>,
}

/// The hard limits of one test (null: none).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct TestLimits {
    pub memory_max: Option<u64>,
    pub pids_max: Option<u64>,
    pub cpus: Option<f64>,
    pub timeout_ms: Option<u64>,
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
            binary_id: crate::build::binary_id(package, binary, kind),
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
            flaky: false,
            attempts: Vec::new(),
            stress: None,
            replay: None,
            panic_message: None,
            panic_location: None,
            started_at: None,
            limits: TestLimits::default(),
            budgets: None,
            over_budget: Vec::new(),
            regressions: Vec::new(),
        }
    }

    /// Reads the panic libtest printed on stderr, if any.
    pub fn find_panic(&mut self) {
        if let Some((message, location)) = panic_in(&self.stderr) {
            self.panic_message = Some(message);
            self.panic_location = location;
        }
    }

    /// Why the test did not pass, in one line: "exit code 101",
    /// "panicked: assertion failed", "timed out after 3s", "SIGSEGV",
    /// "killed at the memory limit of 32.0 MiB (after it panicked: ...)".
    pub fn reason(&self, settings: &Settings) -> String {
        let panic = self.panic_message.as_deref();
        match self.outcome {
            "passed" => "passed".into(),
            "ignored" => "ignored".into(),
            "timed_out" => match settings.timeout_ms {
                Some(ms) => format!("timed out after {}", human_duration(ms)),
                None => "timed out".into(),
            },
            "oom_killed" => {
                let mut r = match settings.memory_max {
                    Some(m) => format!("killed at the memory limit of {}", human_bytes(m)),
                    None => "killed by the OOM killer".into(),
                };
                if let Some(p) = panic {
                    r += &format!(", after it panicked: {p}");
                }
                r
            }
            "signaled" => self
                .signal
                .clone()
                .unwrap_or_else(|| "killed by a signal".into()),
            "setup_error" => format!(
                "setup error: {}",
                self.error
                    .as_deref()
                    .unwrap_or("the sandbox could not be made")
            ),
            _ => match (&self.error, panic, self.exit_code) {
                (Some(e), _, _) => e.clone(),
                (None, Some(p), _) => format!("panicked: {p}"),
                (None, None, Some(c)) => format!("exit code {c}"),
                (None, None, None) => "failed".into(),
            },
        }
    }

    /// "peak memory 120.0 MiB, budget 64.0 MiB": one broken budget
    /// (`what`: "memory", "time" or "cpu"), for the terminal and CI.
    pub fn budget_line(&self, what: &str) -> String {
        let b = self.budgets.unwrap_or_default();
        match what {
            "memory" => format!(
                "peak memory {}, budget {}",
                self.peak_memory_bytes.map(human_bytes).unwrap_or_default(),
                b.memory_bytes.map(human_bytes).unwrap_or_default()
            ),
            "time" => format!(
                "time {:.1} ms, budget {} ms",
                self.duration_ms.unwrap_or_default(),
                b.time_ms.unwrap_or_default()
            ),
            _ => format!(
                "CPU {:.1} ms, budget {} ms",
                self.cpu_ms.unwrap_or_default(),
                b.cpu_ms.unwrap_or_default()
            ),
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

/// The message and location of the first panic in libtest's stderr:
/// `thread 'name' panicked at src/lib.rs:30:9:` then the message's first
/// line (Rust 1.73+); older toolchains put both on one line,
/// `panicked at 'message', src/lib.rs:30:9`.
pub fn panic_in(stderr: &str) -> Option<(String, Option<String>)> {
    let mut lines = stderr.lines();
    while let Some(line) = lines.next() {
        let Some((_, rest)) = line.split_once(" panicked at ") else {
            continue;
        };
        if let Some(loc) = rest.strip_suffix(':') {
            let message = lines.next().unwrap_or("").trim().to_string();
            return Some((message, Some(loc.to_string())));
        }
        if let Some(quoted) = rest.strip_prefix('\'')
            && let Some((msg, loc)) = quoted.rsplit_once("', ")
        {
            return Some((msg.to_string(), Some(loc.to_string())));
        }
        return Some((rest.to_string(), None));
    }
    None
}

/// "3s", "1.5s", "250ms", "2m".
pub fn human_duration(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{:.1}s", ms as f64 / 1000.0)
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
            s.over_budget += usize::from(!t.over_budget.is_empty());
            s.regressed += usize::from(!t.regressions.is_empty());
            s.flaky += usize::from(t.flaky);
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
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Umask:"))
                .and_then(|m| u32::from_str_radix(m.trim(), 8).ok())
        })
        .unwrap_or(0o022)
}

pub fn write_json(report: &Report, path: &Path) -> Result<(), Error> {
    let mut bytes = serde_json::to_vec_pretty(report).expect("the report serialises");
    bytes.push(b'\n');
    write_atomically(path, &bytes)
}

/// "1 test", "2 tests"; "1 binary", "3 binaries".
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
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

/// What the report's unit tests build their reports from.
#[cfg(test)]
pub mod testing {
    use super::*;

    /// A run with a 32 MiB memory limit and a 3 s timeout.
    pub fn settings() -> Settings {
        Settings {
            isolation: "per-test",
            jobs: 1,
            memory_max: Some(32 << 20),
            pids_max: None,
            cpus: None,
            timeout_ms: Some(3000),
        }
    }

    /// A complete report of `tests`, as a run would write it.
    pub fn report(tests: Vec<TestRecord>, started_at: &str, duration_ms: f64) -> Report {
        Report {
            schema_version: 1,
            tool: Tool {
                name: "cargo-isolate",
                version: "0",
            },
            started_at: started_at.into(),
            duration_ms,
            complete: true,
            host: HostInfo {
                kernel: String::new(),
                cgroup: "v2",
                rootless: false,
            },
            settings: settings(),
            summary: Summary::of(&tests),
            tests,
            runner: RunnerInfo {
                peak_rss_bytes: None,
            },
            not_run: Vec::new(),
            baseline: None,
        }
    }
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
        r.outcome = "oom_killed";
        assert_eq!(
            r.reason(&settings),
            "killed at the memory limit of 32.0 MiB, after it panicked: boom"
        );
        r.outcome = "timed_out";
        assert_eq!(r.reason(&settings), "timed out after 3s");
        r.outcome = "signaled";
        r.signal = Some("SIGSEGV".into());
        assert_eq!(r.reason(&settings), "SIGSEGV");
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(96 << 20), "96.0 MiB");
    }
}
