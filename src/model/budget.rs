//! A test's budgets, and a figure that regressed against a baseline.

use super::Metric;
use super::human::human_bytes;
use serde::{Deserialize, Serialize};
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

/// One figure that grew past its threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Regression {
    /// "memory", "time" or "cpu".
    pub metric: Metric,
    pub baseline: f64,
    pub now: f64,
    /// Growth in percent.
    pub percent: f64,
}

impl Regression {
    /// "memory +30.0% (100.0 MiB -> 130.0 MiB)".
    pub fn describe(&self) -> String {
        let figure = |v: f64| match self.metric {
            Metric::Memory => human_bytes(v as u64),
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
