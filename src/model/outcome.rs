//! How a test ended, and what a budget or a regression is about: the
//! report's fixed vocabularies as enums, serialised as the schema's
//! strings.

use serde::{Deserialize, Serialize};

/// How one test (or one attempt of it) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Passed,
    Failed,
    Ignored,
    TimedOut,
    OomKilled,
    Signaled,
    SetupError,
}

impl Outcome {
    /// Every outcome, worst first.
    #[cfg(test)]
    pub const ALL: [Outcome; 7] = [
        Outcome::Failed,
        Outcome::TimedOut,
        Outcome::OomKilled,
        Outcome::Signaled,
        Outcome::SetupError,
        Outcome::Passed,
        Outcome::Ignored,
    ];

    /// The schema's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Failed => "failed",
            Outcome::Ignored => "ignored",
            Outcome::TimedOut => "timed_out",
            Outcome::OomKilled => "oom_killed",
            Outcome::Signaled => "signaled",
            Outcome::SetupError => "setup_error",
        }
    }

    /// Whether the run is still green with it: passed, or never meant to
    /// run.
    pub fn is_success(self) -> bool {
        matches!(self, Outcome::Passed | Outcome::Ignored)
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// By name, so that maps keyed by outcome list them as the report always
/// has (alphabetically).
impl Ord for Outcome {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl PartialOrd for Outcome {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// What a budget or a regression is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    Memory,
    Time,
    Cpu,
}

impl Metric {
    #[cfg(test)]
    pub const ALL: [Metric; 3] = [Metric::Memory, Metric::Time, Metric::Cpu];

    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Memory => "memory",
            Metric::Time => "time",
            Metric::Cpu => "cpu",
        }
    }
}

impl std::fmt::Display for Metric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_schemas() {
        for o in Outcome::ALL {
            let json = serde_json::to_string(&o).unwrap();
            assert_eq!(json, format!("\"{}\"", o.as_str()));
            assert_eq!(serde_json::from_str::<Outcome>(&json).unwrap(), o);
        }
        for m in Metric::ALL {
            assert_eq!(serde_json::to_string(&m).unwrap(), format!("\"{m}\""));
        }
        let err = serde_json::from_str::<Outcome>("\"exploded\"").unwrap_err();
        assert!(
            err.to_string().contains("unknown variant `exploded`"),
            "{err}"
        );
    }
}

/// Tests spell outcomes and metrics as the report does.
#[cfg(test)]
mod spelled {
    use super::{Metric, Outcome};

    impl From<&str> for Outcome {
        fn from(name: &str) -> Outcome {
            Outcome::ALL
                .into_iter()
                .find(|o| o.as_str() == name)
                .unwrap_or_else(|| panic!("no outcome {name:?}"))
        }
    }

    impl From<&str> for Metric {
        fn from(name: &str) -> Metric {
            Metric::ALL
                .into_iter()
                .find(|m| m.as_str() == name)
                .unwrap_or_else(|| panic!("no metric {name:?}"))
        }
    }

    impl PartialEq<&str> for Outcome {
        fn eq(&self, other: &&str) -> bool {
            self.as_str() == *other
        }
    }

    impl PartialEq<&str> for Metric {
        fn eq(&self, other: &&str) -> bool {
            self.as_str() == *other
        }
    }
}
