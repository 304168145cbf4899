//! What retries and stress runs add to a test's record: every attempt of
//! a retried test ([`Attempt`]), and the spread of a stressed test's runs
//! ([`StressStats`], built by [`StressTally`] as the runs come in).

use super::TestRecord;
use serde::{Deserialize, Serialize};

/// How much of an earlier attempt's stdout and stderr is kept (the tail):
/// the final attempt keeps its whole captured output in the record itself.
pub const ATTEMPT_OUTPUT_TAIL: usize = 16 << 10;

/// One run of a test, as the record's `attempts` list keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Attempt {
    /// 1-based.
    pub attempt: u32,
    #[serde(deserialize_with = "super::names::outcome")]
    pub outcome: super::Name,
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
    /// Runs that did not pass.
    pub failures: u64,
    /// passed runs / runs, from 0 to 1.
    pub pass_rate: f64,
    /// How many runs ended each way ("passed": 47, "failed": 3).
    #[serde(deserialize_with = "super::names::outcome_counts")]
    pub outcomes: std::collections::BTreeMap<&'static str, u64>,
    pub duration_ms: Spread,
    pub cpu_ms: Spread,
    pub peak_memory_bytes: Spread,
    /// The first run that did not pass, with its complete captured output.
    pub first_failure: Option<Attempt>,
}

/// Collects a stressed test's runs as they finish, in any order.
#[derive(Debug, Default)]
pub struct StressTally {
    runs: u64,
    outcomes: std::collections::BTreeMap<&'static str, u64>,
    duration: Vec<f64>,
    cpu: Vec<f64>,
    memory: Vec<f64>,
    /// (run number, record) of the earliest failing run seen so far.
    first_failure: Option<(u32, Box<TestRecord>)>,
    /// The latest passing run, whose figures the record shows when none
    /// failed.
    last: Option<Box<TestRecord>>,
}

impl StressTally {
    /// One finished run; `run` is its 1-based number in the schedule.
    pub fn add(&mut self, run: u32, rec: TestRecord) {
        self.runs += 1;
        *self.outcomes.entry(rec.outcome).or_default() += 1;
        self.duration.extend(rec.duration_ms);
        self.cpu.extend(rec.cpu_ms);
        self.memory.extend(rec.peak_memory_bytes.map(|b| b as f64));
        if rec.outcome == "passed" {
            self.last = Some(Box::new(rec));
        } else if self.first_failure.as_ref().is_none_or(|(n, _)| run < *n) {
            self.first_failure = Some((run, Box::new(rec)));
        }
    }

    /// The test's one record: the first failure's figures and output if
    /// a run failed, else the last run's; the spread in `stress`.
    pub fn finish(self) -> Option<TestRecord> {
        let passed = self.outcomes.get("passed").copied().unwrap_or(0);
        let failures = self.runs - passed;
        let first_failure = self
            .first_failure
            .as_ref()
            .map(|(n, r)| Attempt::of(r, *n, usize::MAX));
        let mut rec = match (self.first_failure, self.last) {
            (Some((n, r)), _) => {
                let mut r = *r;
                r.attempt = Some(n);
                r
            }
            (None, Some(r)) => *r,
            (None, None) => return None,
        };
        if rec.outcome == "passed" {
            rec.attempt = None;
        }
        rec.stress = Some(StressStats {
            runs: self.runs,
            failures,
            pass_rate: if self.runs == 0 {
                0.0
            } else {
                passed as f64 / self.runs as f64
            },
            outcomes: self.outcomes,
            duration_ms: Spread::of(&self.duration),
            cpu_ms: Spread::of(&self.cpu),
            peak_memory_bytes: Spread::of(&self.memory),
            first_failure,
        });
        Some(rec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(outcome: &'static str, ms: f64) -> TestRecord {
        let mut r = TestRecord::new("p t".into(), "p", "p", "lib", Some("t".into()));
        r.outcome = outcome;
        r.duration_ms = Some(ms);
        r.stdout = format!("run took {ms}");
        r
    }

    #[test]
    fn spread_is_min_median_max() {
        let s = Spread::of(&[5.0, 1.0, 3.0]);
        assert_eq!((s.min, s.median, s.max), (Some(1.0), Some(3.0), Some(5.0)));
        assert_eq!(Spread::of(&[1.0, 2.0, 3.0, 10.0]).median, Some(2.5));
        assert_eq!(Spread::of(&[]), Spread::default());
        assert_eq!(Spread::of(&[f64::NAN]).min, None);
    }

    #[test]
    fn the_tally_keeps_the_earliest_failure_whatever_the_arrival_order() {
        let mut t = StressTally::default();
        t.add(1, run("passed", 1.0));
        t.add(4, run("failed", 4.0));
        t.add(3, run("timed_out", 3.0));
        t.add(2, run("passed", 2.0));
        let rec = t.finish().unwrap();
        let s = rec.stress.as_ref().unwrap();
        assert_eq!((s.runs, s.failures, s.pass_rate), (4, 2, 0.5));
        assert_eq!(rec.outcome, "timed_out");
        assert_eq!(rec.attempt, Some(3));
        let first = s.first_failure.as_ref().unwrap();
        assert_eq!((first.attempt, first.stdout.as_str()), (3, "run took 3"));
        assert_eq!(s.duration_ms.median, Some(2.5));
        assert_eq!(s.outcomes["passed"], 2);
    }

    #[test]
    fn a_clean_stress_run_shows_the_last_pass() {
        let mut t = StressTally::default();
        t.add(1, run("passed", 1.0));
        t.add(2, run("passed", 2.0));
        let rec = t.finish().unwrap();
        assert_eq!(rec.outcome, "passed");
        assert_eq!(rec.stress.as_ref().unwrap().pass_rate, 1.0);
        assert!(rec.stress.as_ref().unwrap().first_failure.is_none());
        assert!(StressTally::default().finish().is_none());
    }

    #[test]
    fn tails_cut_at_char_boundaries() {
        assert_eq!(tail_of("short", 10), "short");
        let cut = tail_of("ééééé", 3);
        assert!(cut.ends_with("é"), "{cut}");
        assert!(cut.starts_with("[... "));
    }
}
