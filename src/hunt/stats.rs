//! How sure a pass rate is: the Wilson score interval (95%), which stays
//! inside [0, 1] and says something useful at 0 or n failures of n runs,
//! where the normal approximation collapses to a point. Pure.

/// z for a two-sided 95% interval.
const Z95: f64 = 1.959_963_984_540_054;

/// Runs of one test under one condition, and how many passed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub runs: u64,
    pub passed: u64,
}

impl Tally {
    pub fn failures(&self) -> u64 {
        self.runs - self.passed
    }

    /// The share that passed; 0 runs say nothing (`None`).
    pub fn pass_rate(&self) -> Option<f64> {
        (self.runs > 0).then(|| self.passed as f64 / self.runs as f64)
    }

    /// The 95% Wilson interval of the pass rate; [0, 1] with no runs.
    pub fn interval(&self) -> (f64, f64) {
        wilson(self.passed, self.runs)
    }

    pub fn add(&mut self, other: Tally) {
        self.runs += other.runs;
        self.passed += other.passed;
    }
}

/// The Wilson score interval of `successes` in `n` trials at 95%.
pub fn wilson(successes: u64, n: u64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let n_f = n as f64;
    let p = successes.min(n) as f64 / n_f;
    let z2 = Z95 * Z95;
    let denom = 1.0 + z2 / n_f;
    let centre = (p + z2 / (2.0 * n_f)) / denom;
    let half = Z95 * (p * (1.0 - p) / n_f + z2 / (4.0 * n_f * n_f)).sqrt() / denom;
    // At 0 and n the bounds are exactly 0 and 1; the float arithmetic
    // leaves a few ulps, which would put an observed 0% outside.
    let lo = if successes == 0 {
        0.0
    } else {
        (centre - half).max(0.0)
    };
    let hi = if successes >= n {
        1.0
    } else {
        (centre + half).min(1.0)
    };
    (lo, hi)
}

/// Whether a condition fails: some run failed, and the whole interval of
/// its pass rate lies below the baseline's observed pass rate. Against a
/// clean baseline that is any failure; against a flaky one, only a rate
/// clearly worse than it.
pub fn fails_against(cell: Tally, baseline: Tally) -> bool {
    let base = baseline.pass_rate().unwrap_or(1.0);
    cell.failures() > 0 && cell.interval().1 < base
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: (f64, f64), b: (f64, f64)) -> bool {
        (a.0 - b.0).abs() < 5e-4 && (a.1 - b.1).abs() < 5e-4
    }

    /// Worked by hand from the closed form, among them Newcombe's (1998)
    /// examples 0/20, 1/29 and 81/263.
    #[test]
    fn wilson_matches_the_tables() {
        assert!(close(wilson(0, 20), (0.0, 0.1611)), "{:?}", wilson(0, 20));
        assert!(close(wilson(20, 20), (0.8389, 1.0)), "{:?}", wilson(20, 20));
        assert!(
            close(wilson(10, 20), (0.2993, 0.7007)),
            "{:?}",
            wilson(10, 20)
        );
        assert!(
            close(wilson(1, 29), (0.0061, 0.1718)),
            "{:?}",
            wilson(1, 29)
        );
        assert!(
            close(wilson(81, 263), (0.2553, 0.3662)),
            "{:?}",
            wilson(81, 263)
        );
        assert!(close(wilson(0, 5), (0.0, 0.4345)), "{:?}", wilson(0, 5));
    }

    #[test]
    fn the_interval_holds_the_rate_and_narrows_with_runs() {
        for n in 1..60 {
            for k in 0..=n {
                let (lo, hi) = wilson(k, n);
                let p = k as f64 / n as f64;
                assert!((0.0..=1.0).contains(&lo) && (0.0..=1.0).contains(&hi));
                assert!(lo <= p + 1e-12 && p <= hi + 1e-12, "{k}/{n}: {lo}..{hi}");
            }
        }
        let width = |k, n| {
            let (lo, hi) = wilson(k, n);
            hi - lo
        };
        assert!(width(50, 100) < width(5, 10));
        assert_eq!(wilson(0, 0), (0.0, 1.0));
        // Exact at the ends, so that 0% and 100% are inside.
        for n in 1..200 {
            assert_eq!(wilson(0, n).0, 0.0, "0/{n}");
            assert_eq!(wilson(n, n).1, 1.0, "{n}/{n}");
        }
        // More successes than trials is clamped, never NaN.
        assert_eq!(wilson(7, 5), wilson(5, 5));
    }

    #[test]
    fn a_condition_fails_only_clearly_below_the_baseline() {
        let t = |passed, runs| Tally { runs, passed };
        // A clean baseline: one failure is enough.
        assert!(fails_against(t(19, 20), t(20, 20)));
        assert!(!fails_against(t(20, 20), t(20, 20)));
        // A flaky baseline (90%): 16/20 is within noise (its interval
        // reaches 91.9%), 15/20 (to 88.8%) and 10/20 are not.
        assert!(!fails_against(t(16, 20), t(18, 20)));
        assert!(fails_against(t(15, 20), t(18, 20)));
        assert!(fails_against(t(10, 20), t(18, 20)));
        // No baseline runs: judged against a clean one.
        assert!(fails_against(t(0, 3), t(0, 0)));
        assert!(!fails_against(t(0, 0), t(20, 20)));
    }
}
