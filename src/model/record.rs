//! One test's record: what it ran under, how it ended, what it measured,
//! and why it did not pass, said once for every output.

use super::attempts::{Attempt, StressStats};
use super::budget::{Budgets, Regression};
use super::enforced::{Enforced, OutsideOom};
use super::hang::Hang;
use super::human::{human_bytes, human_duration};
use super::{Metric, Outcome, Settings};
use serde::{Deserialize, Serialize};

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
    pub outcome: Outcome,
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
    pub attempts: Vec<Attempt>,
    /// Added to v1: under --stress-count/--stress-duration, the spread of
    /// its runs; the record's own fields are the first failing run's, or
    /// the last run's when none failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stress: Option<StressStats>,
    /// One run of a stress run: its number, for the terminal's `RUN 3 TRY
    /// 2` (the report's `attempt` says it too, but not apart from a retry).
    #[serde(skip)]
    pub stress_run: Option<u32>,
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
    /// Added to v1: how long the test, its sandbox ready and a slot free,
    /// waited for its memory limit to fit in `--memory-total` (absent:
    /// it did not wait).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_wait_ms: Option<f64>,
    /// Added to v1: when the test's sandbox started (RFC 3339 UTC).
    #[serde(default)]
    pub started_at: Option<String>,
    /// Added to v1: the limits this test ran under.
    #[serde(default)]
    pub limits: TestLimits,
    /// Added to v1: its budgets, from the configuration (null: none).
    #[serde(default)]
    pub budgets: Option<Budgets>,
    /// Added to v1: the budgets it broke ("memory", "time", "cpu").
    #[serde(default)]
    pub over_budget: Vec<Metric>,
    /// Added to v1: what grew past the thresholds against --baseline.
    #[serde(default)]
    pub regressions: Vec<Regression>,
    /// Added to v1: an OOM kill that was not at the test's own memory
    /// limit: where it came from (absent: its own limit, or no OOM kill).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outside_oom: Option<OutsideOom>,
    /// Added to v1: killed at its timeout, where each of its threads was
    /// (absent: it was not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hang: Option<Hang>,
    /// Added to v1: what made its --net-delay/--net-jitter, "netem" or
    /// "nfqueue" (absent: no delay).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net_delay_mechanism: Option<String>,
}

/// The hard limits of one test (null: none).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct TestLimits {
    pub memory_max: Option<u64>,
    pub pids_max: Option<u64>,
    pub cpus: Option<f64>,
    pub timeout_ms: Option<u64>,
    /// Added to v1: whether each limit above was enforced.
    #[serde(default)]
    pub enforced: Enforced,
}

/// Where a timed-out test's error says how its grace period went (after
/// SIGTERM: "ended within" or "killed after" it).
pub const GRACE_NOTE: &str = "; sent SIGTERM";

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
            binary_id: binary_id(package, binary, kind),
            package: package.to_string(),
            binary: binary.to_string(),
            kind: kind.to_string(),
            name,
            outcome: Outcome::Ignored,
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
            stress_run: None,
            replay: None,
            panic_message: None,
            panic_location: None,
            started_at: None,
            memory_wait_ms: None,
            limits: TestLimits::default(),
            budgets: None,
            over_budget: Vec::new(),
            regressions: Vec::new(),
            outside_oom: None,
            hang: None,
            net_delay_mechanism: None,
        }
    }

    /// The number of the attempt the record's figures are from, among
    /// its attempts: the last listed (under a stress run `attempt` is the
    /// run's number instead).
    pub fn last_attempt(&self) -> u32 {
        self.attempts
            .last()
            .map_or(self.attempt.unwrap_or(1), |a| a.attempt)
    }

    /// One attempt of this test as a record of its own: its
    /// figures, outcome and output tails, this record's names and limits.
    pub fn of_attempt(&self, a: &Attempt) -> TestRecord {
        let mut r = TestRecord::new(
            self.id.clone(),
            &self.package,
            &self.binary,
            &self.kind,
            self.name.clone(),
        );
        r.binary_id = self.binary_id.clone();
        r.outcome = a.outcome;
        r.exit_code = a.exit_code;
        r.signal = a.signal.clone();
        r.duration_ms = a.duration_ms;
        r.cpu_ms = a.cpu_ms;
        r.peak_memory_bytes = a.peak_memory_bytes;
        r.peak_rss_bytes = a.peak_rss_bytes;
        r.started_at = a.started_at.clone();
        r.error = a.error.clone();
        r.panic_message = a.panic_message.clone();
        r.panic_location = a.panic_location.clone();
        r.stdout = a.stdout.clone();
        r.stderr = a.stderr.clone();
        r.attempt = Some(a.attempt);
        r.limits = self.limits;
        r.budgets = self.budgets;
        r
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
    /// The limits named are the test's own (an override may have given it
    /// others than the run's); `run` fills in for a report written before
    /// records carried their limits. Every output says it with this.
    pub fn reason(&self, run: &Settings) -> String {
        let mut reason = self.bare_reason(run);
        // A test that hit its pids limit usually fails of it: say so.
        if let Some(hits) = self.pids_max_hits.filter(|h| *h > 0)
            && !self.outcome.is_success()
        {
            let limit = self
                .limits
                .pids_max
                .or(run.pids_max)
                .map(|n| format!(" of {n}"))
                .unwrap_or_default();
            let s = if hits == 1 { "" } else { "s" };
            reason += &format!(" ({hits} fork{s} refused at the pids limit{limit})");
        }
        reason
    }

    /// The memory limit this test ran under.
    pub fn memory_limit(&self, run: &Settings) -> Option<u64> {
        self.limits.memory_max.or(run.memory_max)
    }

    /// Whether the memory limit this test ran under was enforced (null:
    /// no limit, or not recorded).
    pub fn memory_limit_enforced(&self, run: &Settings) -> Option<bool> {
        match self.limits.memory_max {
            Some(_) => self.limits.enforced.memory_max,
            None => run.enforced.memory_max,
        }
    }

    /// The timeout this test ran under, in milliseconds.
    pub fn timeout_limit_ms(&self, run: &Settings) -> Option<u64> {
        self.limits.timeout_ms.or(run.timeout_ms)
    }

    fn bare_reason(&self, run: &Settings) -> String {
        let panic = self.panic_message.as_deref();
        match self.outcome {
            Outcome::Passed | Outcome::Ignored => self.outcome.as_str().into(),
            Outcome::TimedOut => {
                let after = match self.timeout_limit_ms(run) {
                    Some(ms) => format!("timed out after {}", human_duration(ms)),
                    None => "timed out".into(),
                };
                // How its grace period went, as the error says it.
                let grace = self
                    .error
                    .as_deref()
                    .and_then(|e| e.find(GRACE_NOTE).map(|i| &e[i..]));
                format!("{after}{}", grace.unwrap_or_default())
            }
            Outcome::OomKilled => {
                let limit = self.memory_limit(run);
                let mut r = match (&self.outside_oom, limit) {
                    (Some(o), Some(m)) => format!(
                        "killed by the OOM killer outside the test's own memory limit of {}: {} was hit",
                        human_bytes(m),
                        o.describe()
                    ),
                    (Some(o), None) => format!(
                        "killed by the OOM killer outside the test (it had no memory limit): {} was hit",
                        o.describe()
                    ),
                    (None, Some(m)) if self.memory_limit_enforced(run) == Some(false) => format!(
                        "killed by the OOM killer (the memory limit of {} was not enforced)",
                        human_bytes(m)
                    ),
                    (None, Some(m)) => {
                        format!("killed at the memory limit of {}", human_bytes(m))
                    }
                    (None, None) => "killed by the OOM killer".into(),
                };
                if let Some(p) = panic {
                    r += &format!(", after it panicked: {p}");
                }
                r
            }
            Outcome::Signaled => self
                .signal
                .clone()
                .unwrap_or_else(|| "killed by a signal".into()),
            Outcome::SetupError => format!(
                "setup error: {}",
                self.error
                    .as_deref()
                    .unwrap_or("the sandbox could not be made")
            ),
            Outcome::Failed => match (&self.error, panic, self.exit_code) {
                (Some(e), _, _) => e.clone(),
                (None, Some(p), _) => format!("panicked: {p}"),
                (None, None, Some(c)) => format!("exit code {c}"),
                (None, None, None) => "failed".into(),
            },
        }
    }

    /// "peak memory 120.0 MiB, budget 64.0 MiB": one broken budget, for
    /// the terminal and CI.
    pub fn budget_line(&self, what: Metric) -> String {
        let b = self.budgets.unwrap_or_default();
        match what {
            Metric::Memory => format!(
                "peak memory {}, budget {}",
                self.peak_memory_bytes.map(human_bytes).unwrap_or_default(),
                b.memory_bytes.map(human_bytes).unwrap_or_default()
            ),
            Metric::Time => format!(
                "time {:.1} ms, budget {} ms",
                self.duration_ms.unwrap_or_default(),
                b.time_ms.unwrap_or_default()
            ),
            Metric::Cpu => format!(
                "CPU {:.1} ms, budget {} ms",
                self.cpu_ms.unwrap_or_default(),
                b.cpu_ms.unwrap_or_default()
            ),
        }
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

/// The binary id as cargo-nextest writes it, so ids cross-reference:
/// `pkg` for the library, `pkg::name` for an integration test,
/// `pkg::bin/name`, `pkg::example/name`, `pkg::bench/name`.
pub fn binary_id(package: &str, target: &str, kind: &str) -> String {
    match kind {
        "test" => format!("{package}::{target}"),
        "bin" | "example" | "bench" => format!("{package}::{kind}/{target}"),
        // lib, rlib, dylib, proc-macro...: the package's one library.
        _ => package.to_string(),
    }
}
