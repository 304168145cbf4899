//! Budgets and baselines, judged after a test ran (nothing is killed):
//! [`over_budget`] compares a record's figures with its budgets;
//! [`Baseline`] compares them with an earlier report's, past a threshold
//! in percent and an absolute floor, so that tiny tests do not flap.
//! Pure: records in, verdicts out.

use crate::report::{Report, TestRecord};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

/// A test's budgets (from the configuration).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Budgets {
    pub memory_bytes: Option<u64>,
    pub time_ms: Option<u64>,
    pub cpu_ms: Option<u64>,
}

impl Budgets {
    pub fn new(memory: Option<u64>, time: Option<Duration>, cpu: Option<Duration>) -> Budgets {
        let ms = |d: Duration| d.as_millis().min(u64::MAX as u128) as u64;
        Budgets {
            memory_bytes: memory,
            time_ms: time.map(ms),
            cpu_ms: cpu.map(ms),
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == Budgets::default()
    }
}

/// Which budgets a finished test broke: "memory", "time", "cpu". Only a
/// figure that was measured can break one.
pub fn over_budget(rec: &TestRecord, b: &Budgets) -> Vec<&'static str> {
    let mut over = Vec::new();
    if let (Some(max), Some(v)) = (b.memory_bytes, rec.peak_memory_bytes)
        && v > max
    {
        over.push("memory");
    }
    if let (Some(max), Some(v)) = (b.time_ms, rec.duration_ms)
        && v > max as f64
    {
        over.push("time");
    }
    if let (Some(max), Some(v)) = (b.cpu_ms, rec.cpu_ms)
        && v > max as f64
    {
        over.push("cpu");
    }
    over
}

/// How much a figure may grow before it is a regression: more than
/// `percent` AND more than `floor` (bytes or milliseconds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Threshold {
    pub percent: f64,
    pub floor: f64,
}

/// The thresholds of a baseline comparison; `None`: not compared.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    pub memory: Option<Threshold>,
    pub time: Option<Threshold>,
    pub cpu: Option<Threshold>,
}

impl Default for Thresholds {
    /// Memory and CPU, not wall time: wall time is noisy on shared CI
    /// machines, CPU much less so.
    fn default() -> Thresholds {
        Thresholds {
            memory: Some(Threshold {
                percent: 10.0,
                floor: (1 << 20) as f64,
            }),
            time: None,
            cpu: Some(Threshold {
                percent: 20.0,
                floor: 50.0,
            }),
        }
    }
}

/// One figure that grew past its threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Regression {
    /// "memory", "time" or "cpu".
    #[serde(deserialize_with = "crate::report::names::budget_kind")]
    pub metric: crate::report::Name,
    pub baseline: f64,
    pub now: f64,
    /// Growth in percent.
    pub percent: f64,
}

impl Regression {
    /// "memory +30.0% (100.0 MiB -> 130.0 MiB)".
    pub fn describe(&self) -> String {
        let figure = |v: f64| match self.metric {
            "memory" => crate::report::human_bytes(v as u64),
            _ => format!("{v:.1} ms"),
        };
        format!(
            "{} {:+.1}% ({} -> {})",
            self.metric,
            self.percent,
            figure(self.baseline),
            figure(self.now)
        )
    }
}

/// An earlier report and its figures by test id.
#[derive(Debug)]
pub struct Baseline {
    pub path: String,
    /// The report itself, read once: the HTML page draws it too.
    pub report: Report,
    figures: HashMap<String, Figures>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Figures {
    memory: Option<f64>,
    time: Option<f64>,
    cpu: Option<f64>,
    passed: bool,
}

impl Baseline {
    /// Reads a report written by this tool (any version 1) with the one
    /// strict loader of `report merge`, `report html` and `report diff`:
    /// a baseline is input from elsewhere (main's last report).
    pub fn read(path: &Path) -> Result<Baseline, String> {
        let report = crate::report::load::read(path).map_err(|e| {
            let e = crate::report::escape::for_terminal_line(&e.to_string()).into_owned();
            format!("the baseline: {e}")
        })?;
        Ok(Baseline::of(path.display().to_string(), report))
    }

    /// The figures of `report`, read from `path`.
    pub fn of(path: String, report: Report) -> Baseline {
        let figures = report
            .tests
            .iter()
            .map(|t| {
                let figures = Figures {
                    memory: t.peak_memory_bytes.map(|b| b as f64),
                    time: t.duration_ms,
                    cpu: t.cpu_ms,
                    passed: t.outcome == "passed",
                };
                (t.id.clone(), figures)
            })
            .collect();
        Baseline {
            path,
            report,
            figures,
        }
    }

    pub fn contains(&self, id: &str) -> bool {
        self.figures.contains_key(id)
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.figures.keys().map(String::as_str)
    }

    /// What grew past its threshold, comparing only tests that passed in
    /// both runs (a failing test's figures say nothing of its cost).
    pub fn regressions(&self, rec: &TestRecord, th: &Thresholds) -> Vec<Regression> {
        let Some(old) = self.figures.get(&rec.id) else {
            return Vec::new();
        };
        if !old.passed || rec.outcome != "passed" {
            return Vec::new();
        }
        let now = Figures {
            memory: rec.peak_memory_bytes.map(|b| b as f64),
            time: rec.duration_ms,
            cpu: rec.cpu_ms,
            passed: true,
        };
        let mut out = Vec::new();
        let pairs = [
            ("memory", th.memory, old.memory, now.memory),
            ("time", th.time, old.time, now.time),
            ("cpu", th.cpu, old.cpu, now.cpu),
        ];
        for (metric, threshold, before, after) in pairs {
            let (Some(t), Some(before), Some(after)) = (threshold, before, after) else {
                continue;
            };
            let grown = after - before;
            let percent = if before > 0.0 {
                grown / before * 100.0
            } else {
                f64::INFINITY
            };
            if grown > t.floor && percent > t.percent {
                out.push(Regression {
                    metric,
                    baseline: before,
                    now: after,
                    percent,
                });
            }
        }
        out
    }
}

/// "10%" or "10" (percent).
pub fn parse_percent(s: &str) -> Result<f64, String> {
    let n = s.trim().trim_end_matches('%').trim();
    match n.parse::<f64>() {
        Ok(p) if p.is_finite() && p >= 0.0 => Ok(p),
        _ => Err(format!("invalid percentage {s:?}: expected e.g. 10%")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str, mem: u64, time: f64, cpu: f64) -> TestRecord {
        let mut r = TestRecord::new(id.into(), "p", "p", "lib", Some(id.into()));
        r.outcome = "passed";
        r.peak_memory_bytes = Some(mem);
        r.duration_ms = Some(time);
        r.cpu_ms = Some(cpu);
        r
    }

    #[test]
    fn budgets_broken_are_named() {
        let r = rec("a", 100 << 20, 1500.0, 900.0);
        let b = Budgets::new(
            Some(64 << 20),
            Some(Duration::from_secs(1)),
            Some(Duration::from_secs(1)),
        );
        assert_eq!(over_budget(&r, &b), vec!["memory", "time"]);
        assert!(over_budget(&r, &Budgets::default()).is_empty());
        let mut unmeasured = r.clone();
        unmeasured.peak_memory_bytes = None;
        assert_eq!(
            over_budget(&unmeasured, &b),
            vec!["time"],
            "no figure, no verdict"
        );
    }

    /// A baseline of a test that grew, a tiny one and one that failed.
    fn old() -> Baseline {
        let mut was_failing = rec("was_failing", 1, 1.0, 1.0);
        was_failing.outcome = "failed";
        let tests = vec![
            rec("a", 100 << 20, 10.0, 1000.0),
            rec("tiny", 1 << 20, 1.0, 1.0),
            was_failing,
        ];
        let report = crate::report::testing::report(tests, "2025-01-01T10:00:00.000Z", 1.0);
        Baseline::of("old.json".into(), report)
    }

    #[test]
    fn growth_past_percent_and_floor_is_a_regression() {
        let base = old();
        let th = Thresholds::default();
        // +30% memory, +50% CPU: both past their thresholds and floors.
        let r = base.regressions(&rec("a", 130 << 20, 10.0, 1500.0), &th);
        let metrics: Vec<&str> = r.iter().map(|r| r.metric).collect();
        assert_eq!(metrics, vec!["memory", "cpu"]);
        assert!((r[0].percent - 30.0).abs() < 0.01);
        // +5% memory: within the threshold.
        assert!(
            base.regressions(&rec("a", 105 << 20, 10.0, 1000.0), &th)
                .is_empty()
        );
        // Tiny test tripling: over the percent, under the floors.
        assert!(
            base.regressions(&rec("tiny", 3 << 20 >> 1, 3.0, 3.0), &th)
                .is_empty()
        );
        // Wall time is not compared by default, even when it doubles.
        assert!(
            base.regressions(&rec("a", 100 << 20, 1000.0, 1000.0), &th)
                .is_empty()
        );
        // A test that failed before, or is new, is not compared.
        assert!(
            base.regressions(&rec("was_failing", 1 << 30, 1.0, 1.0), &th)
                .is_empty()
        );
        assert!(
            base.regressions(&rec("new", 1 << 30, 1.0, 1.0), &th)
                .is_empty()
        );
    }

    #[test]
    fn percentages() {
        assert_eq!(parse_percent("10%"), Ok(10.0));
        assert_eq!(parse_percent("2.5"), Ok(2.5));
        assert!(parse_percent("-1%").is_err() && parse_percent("lots").is_err());
    }
}
