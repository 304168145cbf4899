//! What retries and stress runs add to a test's record: every attempt of
//! a retried test ([`Attempt`]), and the spread of a stressed test's runs
//! ([`StressStats`], built by [`StressTally`] as the runs come in).

pub use crate::model::{Attempt, Spread, StressStats};
use crate::model::{Outcome, TestRecord};

/// Collects a stressed test's runs as they finish, in any order.
#[derive(Debug, Default)]
pub struct StressTally {
    runs: u64,
    /// Runs that failed, then passed on a retry.
    flaky: u64,
    outcomes: std::collections::BTreeMap<Outcome, u64>,
    duration: Vec<f64>,
    cpu: Vec<f64>,
    memory: Vec<f64>,
    /// (run number, record) of the earliest failing run seen so far.
    first_failure: Option<(u32, Box<TestRecord>)>,
    /// The earliest flaky run, whose figures and attempts the record
    /// shows when none failed.
    first_flaky: Option<(u32, Box<TestRecord>)>,
    /// The latest passing run, whose figures the record shows when none
    /// failed nor was flaky.
    last: Option<Box<TestRecord>>,
}

impl StressTally {
    /// One finished run (its last attempt, flaky when a retry passed);
    /// `run` is its 1-based number in the schedule.
    pub fn add(&mut self, run: u32, rec: TestRecord) {
        self.runs += 1;
        *self.outcomes.entry(rec.outcome).or_default() += 1;
        self.duration.extend(rec.duration_ms);
        self.cpu.extend(rec.cpu_ms);
        self.memory.extend(rec.peak_memory_bytes.map(|b| b as f64));
        if rec.outcome == Outcome::Passed && rec.flaky {
            self.flaky += 1;
            if self.first_flaky.as_ref().is_none_or(|(n, _)| run < *n) {
                self.first_flaky = Some((run, Box::new(rec)));
            }
        } else if rec.outcome == Outcome::Passed {
            self.last = Some(Box::new(rec));
        } else if self.first_failure.as_ref().is_none_or(|(n, _)| run < *n) {
            self.first_failure = Some((run, Box::new(rec)));
        }
    }

    /// The test's one record: the first failure's figures and output if
    /// a run failed, else the first flaky run's (flaky, with its
    /// attempts), else the last run's; the spread in `stress`.
    pub fn finish(self) -> Option<TestRecord> {
        let passed = self.outcomes.get(&Outcome::Passed).copied().unwrap_or(0);
        let failures = self.runs - passed;
        let first_attempt_passes = passed - self.flaky;
        let first_failure = self
            .first_failure
            .as_ref()
            .map(|(n, r)| Attempt::of(r, *n, usize::MAX));
        let mut rec = match (self.first_failure, self.first_flaky, self.last) {
            (Some((n, r)), _, _) | (None, Some((n, r)), _) => {
                let mut r = *r;
                r.attempt = Some(n);
                r
            }
            (None, None, Some(r)) => *r,
            (None, None, None) => return None,
        };
        if rec.outcome == Outcome::Passed && !rec.flaky {
            rec.attempt = None;
        }
        // Flaky as a whole when no run failed and one needed a retry:
        // `--flaky-fails` and the summary see it as a retried test.
        rec.flaky = failures == 0 && self.flaky > 0;
        rec.stress = Some(StressStats {
            runs: self.runs,
            failures,
            pass_rate: if self.runs == 0 {
                0.0
            } else {
                first_attempt_passes as f64 / self.runs as f64
            },
            first_attempt_passes,
            flaky: self.flaky,
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
    use crate::model::attempts::tail_of;

    fn run(outcome: &'static str, ms: f64) -> TestRecord {
        let mut r = TestRecord::new("p t".into(), "p", "p", "lib", Some("t".into()));
        r.outcome = outcome.into();
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
        assert_eq!(s.outcomes[&Outcome::Passed], 2);
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

    /// With retries each run counts once: by its first attempt for the
    /// pass rate, as flaky when a retry passed, as a failure when none did.
    #[test]
    fn retried_runs_count_first_attempts_and_flaky_apart() {
        let retried = |outcome: &'static str| {
            let mut r = run(outcome, 2.0);
            r.flaky = outcome == "passed";
            r.attempts = vec![
                Attempt::of(&run("failed", 1.0), 1, 10),
                Attempt::of(&r, 2, 10),
            ];
            r
        };
        let mut t = StressTally::default();
        t.add(1, run("passed", 1.0));
        t.add(3, retried("passed"));
        t.add(2, retried("passed"));
        t.add(4, run("passed", 1.0));
        let rec = t.finish().unwrap();
        let s = rec.stress.as_ref().unwrap();
        assert_eq!((s.runs, s.failures, s.flaky), (4, 0, 2));
        assert_eq!((s.first_attempt_passes, s.pass_rate), (2, 0.5));
        // The record is the first flaky run's, flaky, with its attempts.
        assert!(rec.flaky);
        assert_eq!((rec.outcome, rec.attempt), (Outcome::Passed, Some(2)));
        assert_eq!(rec.attempts.len(), 2);

        let mut t = StressTally::default();
        t.add(1, retried("passed"));
        t.add(2, retried("failed"));
        let rec = t.finish().unwrap();
        let s = rec.stress.as_ref().unwrap();
        assert_eq!((s.runs, s.failures, s.flaky, s.pass_rate), (2, 1, 1, 0.0));
        assert!(!rec.flaky, "a failed run outweighs a flaky one");
        assert_eq!((rec.outcome, rec.attempt), (Outcome::Failed, Some(2)));
    }

    #[test]
    fn tails_cut_at_char_boundaries() {
        assert_eq!(tail_of("short", 10), "short");
        let cut = tail_of("ééééé", 3);
        assert!(cut.ends_with("é"), "{cut}");
        assert!(cut.starts_with("[... "));
    }
}
