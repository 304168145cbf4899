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
pub mod load;
#[cfg(test)]
pub mod markdown_check;
pub mod merge;
pub mod progress;
pub mod summary;

use crate::error::Error;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// A name from one of the report's fixed vocabularies (an outcome,
/// "per-test", "v2", "memory"...): one of the crate's own literals, also
/// when read back (see [`names`]). An alias, not `&'static str` written
/// out, because serde's derive takes a field spelled `&str` as borrowed
/// from the input and would then read reports only from `'static` text.
pub type Name = &'static str;

#[derive(Debug, Serialize, Deserialize)]
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
    #[serde(default)]
    pub runner: RunnerInfo,
    /// Added to v1: ids of selected tests that never ran because the run
    /// stopped early (--fail-fast, --max-fail, Ctrl-C).
    #[serde(default)]
    pub not_run: Vec<String>,
    /// Added to v1: the --baseline this run was compared with.
    #[serde(default)]
    pub baseline: Option<BaselineInfo>,
    /// Added to v1: the archive the tests came from (`--archive-file`);
    /// null when they were built for this run.
    #[serde(default)]
    pub archive: Option<ArchiveInfo>,
    /// Added to v1: the share of a sharded run (`--partition`); null when
    /// the run was not sharded.
    #[serde(default)]
    pub partition: Option<PartitionInfo>,
    /// Added to v1: how `report merge` made this report from the shards'
    /// reports; absent from a run's own report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged: Option<merge::MergeInfo>,
}

/// Which archive a run's binaries came from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArchiveInfo {
    /// As given on the command line.
    pub path: String,
    /// SHA-256 of the archive file: shards of one run share it.
    pub sha256: String,
}

/// One share of a sharded run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartitionInfo {
    /// "hash", "slice" or "duration".
    pub scheme: String,
    /// K, from 1.
    pub index: u32,
    /// N.
    pub total: u32,
    /// The ids of the tests this share was given, in run order (ignored
    /// ones included: each share reports its own).
    pub tests: Vec<String>,
}

/// What a comparison with an earlier report found beyond regressions.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BaselineInfo {
    pub path: String,
    /// Tests of this run the baseline does not have.
    pub new_tests: Vec<String>,
    /// Tests of the baseline this run did not select.
    pub gone_tests: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Tool {
    #[serde(deserialize_with = "names::tool_name")]
    pub name: Name,
    /// Not a fixed vocabulary: read back, see [`names::tool_version`].
    #[serde(deserialize_with = "names::tool_version")]
    pub version: Name,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct HostInfo {
    pub kernel: String,
    #[serde(deserialize_with = "names::cgroup")]
    pub cgroup: Name,
    pub rootless: bool,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Settings {
    #[serde(deserialize_with = "names::isolation")]
    pub isolation: Name,
    pub jobs: usize,
    pub memory_max: Option<u64>,
    pub pids_max: Option<u64>,
    pub cpus: Option<f64>,
    pub timeout_ms: Option<u64>,
    /// Added to v1: the seccomp filter the tests ran under: "default",
    /// "none" or the profile's path (absent: not recorded, or no sandbox).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seccomp: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
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
    #[serde(default)]
    pub over_budget: usize,
    /// Added to v1: tests that grew past a threshold against the baseline.
    #[serde(default)]
    pub regressed: usize,
    /// Added to v1: tests that failed, then passed on a retry (counted in
    /// `passed` too: their final outcome).
    #[serde(default)]
    pub flaky: usize,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct RunnerInfo {
    pub peak_rss_bytes: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TestRecord {
    pub id: String,
    /// Added to v1: the binary id as cargo-nextest writes it (read back
    /// from an older report: see [`load::parse`]).
    #[serde(default)]
    pub binary_id: String,
    pub package: String,
    pub binary: String,
    pub kind: String,
    pub name: Option<String>,
    #[serde(deserialize_with = "names::outcome")]
    pub outcome: Name,
    pub exit_code: Option<i32>,
    pub signal: Option<String>,
    pub duration_ms: Option<f64>,
    pub cpu_ms: Option<f64>,
    pub peak_memory_bytes: Option<u64>,
    pub peak_rss_bytes: Option<u64>,
    pub pids_peak: Option<u64>,
    /// Added to v1: forks and clones the pids limit refused (null: not
    /// measured here, no cgroup).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids_max_hits: Option<u64>,
    pub stdout: String,
    pub stderr: String,
    #[serde(default)]
    pub error: Option<String>,
    /// Added to v1: which attempt the record's figures are from, when
    /// there was more than one: the last retry, or under a stress run the
    /// first run that failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    /// Added to v1: it failed, then passed on a retry.
    #[serde(default)]
    pub flaky: bool,
    /// Added to v1: with retries, every attempt in order (the last is the
    /// verdict, also in the record's own fields); empty when it ran once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<flaky::Attempt>,
    /// Added to v1: under --stress-count/--stress-duration, the spread of
    /// its runs; the record's own fields are the first failing run's, or
    /// the last run's when none failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stress: Option<flaky::StressStats>,
    /// Added to v1: the command that runs this test alone again in the
    /// same sandbox (limits, faults, environment choices, seed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<String>,
    /// Added to v1: the first line of the panic the test printed, if any
    /// (also when it was then killed at the memory limit or timed out).
    #[serde(default)]
    pub panic_message: Option<String>,
    /// Added to v1: where it panicked, `file:line:column`.
    #[serde(default)]
    pub panic_location: Option<String>,
    /// Added to v1: when the test's sandbox started (RFC 3339 UTC).
    #[serde(default)]
    pub started_at: Option<String>,
    /// Added to v1: the limits this test ran under.
    #[serde(default)]
    pub limits: TestLimits,
    /// Added to v1: its budgets, from the configuration (null: none).
    #[serde(default)]
    pub budgets: Option<crate::budget::Budgets>,
    /// Added to v1: the budgets it broke ("memory", "time", "cpu").
    #[serde(default, deserialize_with = "names::budget_kinds")]
    pub over_budget: Vec<&'static str>,
    /// Added to v1: what grew past the thresholds against --baseline.
    #[serde(default)]
    pub regressions: Vec<crate::budget::Regression>,
}

/// The hard limits of one test (null: none).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
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
            pids_max_hits: None,
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
        let mut reason = self.bare_reason(settings);
        // A test that hit its pids limit usually fails of it: say so.
        if let Some(hits) = self.pids_max_hits.filter(|h| *h > 0)
            && !matches!(self.outcome, "passed" | "ignored")
        {
            let limit = self
                .limits
                .pids_max
                .map(|n| format!(" of {n}"))
                .unwrap_or_default();
            let s = if hits == 1 { "" } else { "s" };
            reason += &format!(" ({hits} fork{s} refused at the pids limit{limit})");
        }
        reason
    }

    fn bare_reason(&self, settings: &Settings) -> String {
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
        self.pids_max_hits = m.pids_max_hits;
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

/// Reading the fixed vocabularies back (`deserialize_with` helpers): each
/// maps a name to the crate's own literal for it and refuses a name the
/// crate never writes, naming it.
pub(crate) mod names {
    use crate::outcome::Outcome;
    use serde::de::{Deserialize, Deserializer, Error};
    use std::collections::BTreeMap;

    /// What a budget or a regression is about.
    const BUDGET_KINDS: [&str; 3] = ["memory", "time", "cpu"];

    fn known<E: Error>(what: &str, name: &str, all: &[&'static str]) -> Result<&'static str, E> {
        all.iter().copied().find(|k| *k == name).ok_or_else(|| {
            E::custom(format_args!(
                "unknown {what} {name:?} (expected one of: {})",
                all.join(", ")
            ))
        })
    }

    fn outcome_named<E: Error>(name: &str) -> Result<&'static str, E> {
        use Outcome::*;
        let all = [
            Passed, Failed, Ignored, TimedOut, OomKilled, Signaled, SetupError,
        ]
        .map(Outcome::as_str);
        known("outcome", name, &all)
    }

    // A new outcome stops the build here until the list above has it.
    const _: fn(Outcome) = |o| match o {
        Outcome::Passed
        | Outcome::Failed
        | Outcome::Ignored
        | Outcome::TimedOut
        | Outcome::OomKilled
        | Outcome::Signaled
        | Outcome::SetupError => {}
    };

    pub fn outcome<'de, D: Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
        outcome_named(&String::deserialize(d)?)
    }

    /// A stressed test's runs by outcome.
    pub fn outcome_counts<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<&'static str, u64>, D::Error> {
        BTreeMap::<String, u64>::deserialize(d)?
            .into_iter()
            .map(|(name, n)| Ok((outcome_named(&name)?, n)))
            .collect()
    }

    pub fn isolation<'de, D: Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
        use clap::ValueEnum;
        let all: Vec<&'static str> = crate::cli::Isolation::value_variants()
            .iter()
            .map(|i| i.as_str())
            .collect();
        known("isolation", &String::deserialize(d)?, &all)
    }

    pub fn cgroup<'de, D: Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
        use crate::cgroup::Version;
        let all = [Version::V1.as_str(), Version::V2.as_str(), "none"];
        known("cgroup version", &String::deserialize(d)?, &all)
    }

    pub fn budget_kind<'de, D: Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
        known("budget", &String::deserialize(d)?, &BUDGET_KINDS)
    }

    pub fn budget_kinds<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<&'static str>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|name| known("budget", name, &BUDGET_KINDS))
            .collect()
    }

    pub fn tool_name<'de, D: Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
        known("tool", &String::deserialize(d)?, &["cargo-isolate"])
    }

    /// Any version: this one's own literal, or the string leaked once per
    /// distinct version (interned). `Tool` is built with `env!` in
    /// `test_command::assemble`; a leak bounded by the versions a process
    /// reads (a handful, in a short-lived command) keeps that unchanged.
    pub fn tool_version<'de, D: Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
        use std::sync::{Mutex, PoisonError};
        static SEEN: Mutex<std::collections::BTreeSet<&'static str>> =
            Mutex::new(std::collections::BTreeSet::new());
        let version = String::deserialize(d)?;
        if version == env!("CARGO_PKG_VERSION") {
            return Ok(env!("CARGO_PKG_VERSION"));
        }
        let mut seen = SEEN.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(v) = seen.get(version.as_str()) {
            return Ok(v);
        }
        let leaked: &'static str = Box::leak(version.into_boxed_str());
        seen.insert(leaked);
        Ok(leaked)
    }
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
            seccomp: None,
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
            archive: None,
            partition: None,
            merged: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A report read back as `report merge` reads one, the error as text.
    fn from_json(text: &str) -> Result<Report, String> {
        load::parse(text).map_err(|e| e.to_string())
    }

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
        };
        retried.budgets = Some(crate::budget::Budgets {
            memory_bytes: Some(1 << 20),
            time_ms: Some(10),
            cpu_ms: None,
        });
        retried.peak_memory_bytes = Some(2 << 20);
        retried.duration_ms = Some(12.25);
        retried.over_budget = vec!["memory", "time"];
        retried.regressions = vec![crate::budget::Regression {
            metric: "cpu",
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
        // The same version read twice is one string.
        let again = from_json(old).unwrap();
        assert!(std::ptr::eq(r.tool.version, again.tool.version));
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
            err.starts_with("unknown outcome \"exploded\" (expected one of: passed, failed"),
            "{err}"
        );
        let err = with(
            &["tests", "1", "stress", "outcomes"],
            serde_json::json!({"won": 1}),
        );
        assert!(err.starts_with("unknown outcome \"won\""), "{err}");
        let err = with(&["tests", "0", "over_budget", "0"], "disk".into());
        assert!(
            err.starts_with("unknown budget \"disk\" (expected one of: memory, time, cpu)"),
            "{err}"
        );
        let err = with(&["tests", "0", "regressions", "0", "metric"], "disk".into());
        assert!(err.starts_with("unknown budget \"disk\""), "{err}");
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
