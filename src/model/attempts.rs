//! What retries and stress runs add to a test's record: every attempt of
//! a retried test ([`Attempt`]), and the spread of a stressed test's runs
//! ([`StressStats`], built by [`StressTally`] as the runs come in).

use super::{Outcome, TestRecord};
use serde::{Deserialize, Serialize};

/// How much of an earlier attempt's stdout and stderr is kept (the tail):
/// the final attempt keeps its whole captured output in the record itself.
pub const ATTEMPT_OUTPUT_TAIL: usize = 16 << 10;

/// One run of a test, as the record's `attempts` list keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Attempt {
    /// 1-based.
    pub attempt: u32,
    pub outcome: Outcome,
    pub exit_code: Option<i32>,
    pub signal: Option<String>,
    pub duration_ms: Option<f64>,
    pub cpu_ms: Option<f64>,
    pub peak_memory_bytes: Option<u64>,
    pub peak_rss_bytes: Option<u64>,
    pub started_at: Option<String>,
    pub error: Option<String>,
    pub panic_message: Option<String>,
    pub panic_location: Option<String>,
    pub stdout: String,
    pub stderr: String,
}

impl Attempt {
    /// `rec`'s figures as attempt `attempt`, its output cut to `tail` bytes.
    pub fn of(rec: &TestRecord, attempt: u32, tail: usize) -> Attempt {
        Attempt {
            attempt,
            outcome: rec.outcome,
            exit_code: rec.exit_code,
            signal: rec.signal.clone(),
            duration_ms: rec.duration_ms,
            cpu_ms: rec.cpu_ms,
            peak_memory_bytes: rec.peak_memory_bytes,
            peak_rss_bytes: rec.peak_rss_bytes,
            started_at: rec.started_at.clone(),
            error: rec.error.clone(),
            panic_message: rec.panic_message.clone(),
            panic_location: rec.panic_location.clone(),
            stdout: tail_of(&rec.stdout, tail),
            stderr: tail_of(&rec.stderr, tail),
        }
    }
}

/// The last `max` bytes of `text`, cut at a character boundary, with a
/// marker when something was cut.
pub fn tail_of(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("[... {} bytes cut ...]\n{}", start, &text[start..])
}

/// min, median and max of one figure over a stressed test's runs (null
/// when no run measured it).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct Spread {
    pub min: Option<f64>,
    pub median: Option<f64>,
    pub max: Option<f64>,
}

impl Spread {
    pub fn of(values: &[f64]) -> Spread {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return Spread::default();
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Spread {
            min: Some(v[0]),
            median: Some(median),
            max: Some(v[n - 1]),
        }
    }
}

/// A stressed test's result over all its runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StressStats {
    pub runs: u64,
    /// Runs that did not pass (with --retries: not on any attempt).
    pub failures: u64,
    /// Runs that passed on their first attempt / runs, from 0 to 1: a
    /// retry that passed does not raise it.
    pub pass_rate: f64,
    /// Added to v1: runs that passed on their first attempt.
    #[serde(default)]
    pub first_attempt_passes: u64,
    /// Added to v1: with --retries, runs that failed and then passed on a
    /// retry (`runs` = first-attempt passes + flaky + failures).
    #[serde(default)]
    pub flaky: u64,
    /// How many runs ended each way, by each run's last attempt
    /// ("passed": 47, "failed": 3).
    pub outcomes: std::collections::BTreeMap<Outcome, u64>,
    pub duration_ms: Spread,
    pub cpu_ms: Spread,
    pub peak_memory_bytes: Spread,
    /// The first run that did not pass, with its complete captured output.
    pub first_failure: Option<Attempt>,
}
