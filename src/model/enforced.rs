//! Whether the limits a run or a test was given were enforced, and where
//! an OOM kill that was not the test's own limit came from: the report
//! never lets a limit that the host could not set read as one that held.

use super::human::human_bytes;
use serde::{Deserialize, Serialize};

/// One flag per cgroup limit: `true` enforced, `false` set but not
/// enforced (`--allow-unenforced-limits` on a host without the cgroup or
/// controller), null when the limit is not set (or the report predates the
/// field). The timeout is the runner's own and always enforced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enforced {
    #[serde(default)]
    pub memory_max: Option<bool>,
    #[serde(default)]
    pub pids_max: Option<bool>,
    #[serde(default)]
    pub cpus: Option<bool>,
}

impl Enforced {
    /// What a host that can enforce what `can` says does with the limits
    /// that are set (`memory`, `pids`, `cpus`): `can`'s answer for each
    /// one set, null for the others.
    pub fn of(can: &Enforced, memory: bool, pids: bool, cpus: bool) -> Enforced {
        Enforced {
            memory_max: can.memory_max.filter(|_| memory),
            pids_max: can.pids_max.filter(|_| pids),
            cpus: can.cpus.filter(|_| cpus),
        }
    }

    /// The limits set but not enforced, by report key.
    pub fn unenforced(&self) -> Vec<&'static str> {
        [
            ("memory_max", self.memory_max),
            ("pids_max", self.pids_max),
            ("cpus", self.cpus),
        ]
        .into_iter()
        .filter(|(_, e)| *e == Some(false))
        .map(|(k, _)| k)
        .collect()
    }
}

/// An OOM kill whose trigger was not the test's own memory limit: its
/// cgroup never reached it (or it had none), so the limit that ran out was
/// an enclosing cgroup's (a container's, a CI job's) or the machine's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutsideOom {
    /// The nearest enclosing cgroup whose memory limit was hit, as
    /// `/proc/self/cgroup` names it (null: not known, none readable).
    #[serde(default)]
    pub cgroup: Option<String>,
    /// That cgroup's memory limit.
    #[serde(default)]
    pub limit_bytes: Option<u64>,
}

impl OutsideOom {
    /// "the memory limit of 150.0 MiB of the enclosing cgroup /ci-job",
    /// or that it is not known.
    pub fn describe(&self) -> String {
        match (&self.cgroup, self.limit_bytes) {
            (Some(c), Some(l)) => format!(
                "the memory limit of {} of the enclosing cgroup {c}",
                human_bytes(l)
            ),
            (Some(c), None) => format!("the memory limit of the enclosing cgroup {c}"),
            _ => "an enclosing cgroup's memory limit (a container's or CI job's) or the \
                  machine's memory"
                .into(),
        }
    }
}

impl super::Report {
    /// Every limit of the run or of one of its tests that was set but not
    /// enforced, by report key, each once.
    pub fn unenforced_limits(&self) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = Vec::new();
        let all = std::iter::once(self.settings.enforced)
            .chain(self.tests.iter().map(|t| t.limits.enforced));
        for e in all {
            for k in e.unenforced() {
                if !out.contains(&k) {
                    out.push(k);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_limits_set_say_whether_they_held() {
        let can = Enforced {
            memory_max: Some(false),
            pids_max: Some(true),
            cpus: Some(false),
        };
        let e = Enforced::of(&can, true, true, false);
        assert_eq!(e.memory_max, Some(false));
        assert_eq!(e.pids_max, Some(true));
        assert_eq!(e.cpus, None);
        assert_eq!(e.unenforced(), ["memory_max"]);
        assert!(Enforced::default().unenforced().is_empty());
    }

    /// A kill under a limit that did not hold, or at an enclosing limit,
    /// never reads as the test's own limit.
    #[test]
    fn the_reason_of_an_oom_kill_names_whose_limit_it_was() {
        use crate::model::{Outcome, TestRecord, testing};
        let run = testing::settings();
        let mut r = TestRecord::new("p::t".into(), "p", "p", "lib", Some("t".into()));
        r.outcome = Outcome::OomKilled;
        r.limits.memory_max = Some(1 << 30);
        r.limits.enforced.memory_max = Some(true);
        assert_eq!(r.reason(&run), "killed at the memory limit of 1.0 GiB");
        r.outside_oom = Some(OutsideOom {
            cgroup: Some("/ci-job".into()),
            limit_bytes: Some(150 << 20),
        });
        assert_eq!(
            r.reason(&run),
            "killed by the OOM killer outside the test's own memory limit of 1.0 GiB: \
             the memory limit of 150.0 MiB of the enclosing cgroup /ci-job was hit"
        );
        r.outside_oom = None;
        r.limits.enforced.memory_max = Some(false);
        assert_eq!(
            r.reason(&run),
            "killed by the OOM killer (the memory limit of 1.0 GiB was not enforced)"
        );
    }

    #[test]
    fn an_outside_kill_names_the_cgroup_when_known() {
        let known = OutsideOom {
            cgroup: Some("/ci-job".into()),
            limit_bytes: Some(150 << 20),
        };
        assert_eq!(
            known.describe(),
            "the memory limit of 150.0 MiB of the enclosing cgroup /ci-job"
        );
        let unknown = OutsideOom {
            cgroup: None,
            limit_bytes: None,
        };
        assert!(unknown.describe().contains("enclosing cgroup"));
    }
}
