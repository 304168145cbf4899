//! How a sandboxed run ended, decided from what the init reported and what
//! the cgroup counted. Pure: [`classify`] takes an [`Execution`] and gives
//! a [`Measured`] result, which a record then takes.

pub use crate::model::Outcome;
use crate::model::{OutsideOom, TestRecord};
use crate::sandbox::{Execution, InitEnd};

/// One finished unit's measurements. `None` means not measured.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Measured {
    pub outcome: Option<Outcome>,
    pub exit_code: Option<i32>,
    pub signal: Option<String>,
    pub duration_ms: Option<f64>,
    pub cpu_ms: Option<f64>,
    pub peak_memory_bytes: Option<u64>,
    pub peak_rss_bytes: Option<u64>,
    pub pids_peak: Option<u64>,
    pub pids_max_hits: Option<u64>,
    pub error: Option<String>,
    /// An OOM kill the test's own memory limit did not make.
    pub outside_oom: Option<OutsideOom>,
}

impl Measured {
    pub fn outcome(&self) -> Outcome {
        self.outcome.unwrap_or(Outcome::SetupError)
    }

    /// Gives `rec` the outcome and figures of a finished sandbox.
    pub fn record_into(self, rec: &mut TestRecord) {
        rec.outcome = self.outcome();
        rec.exit_code = self.exit_code;
        rec.signal = self.signal;
        rec.duration_ms = self.duration_ms;
        rec.cpu_ms = self.cpu_ms;
        rec.peak_memory_bytes = self.peak_memory_bytes;
        rec.peak_rss_bytes = self.peak_rss_bytes;
        rec.pids_peak = self.pids_peak;
        rec.pids_max_hits = self.pids_max_hits;
        rec.error = self.error;
        rec.outside_oom = self.outside_oom;
    }
}

pub fn signal_name(sig: i32) -> String {
    nix::sys::signal::Signal::try_from(sig)
        .map(|s| s.as_str().to_string())
        .unwrap_or_else(|_| format!("SIG{sig}"))
}

pub fn classify(exec: &Execution) -> Measured {
    let stats = &exec.cgroup;
    let oom = stats.oom_kills.unwrap_or(0) > 0;
    let mut m = Measured {
        peak_memory_bytes: stats.peak_memory_bytes,
        pids_peak: stats.pids_peak,
        pids_max_hits: stats.pids_max_hits,
        cpu_ms: stats.cpu_usec.map(|us| us as f64 / 1000.0),
        duration_ms: Some(exec.elapsed.as_secs_f64() * 1000.0),
        ..Measured::default()
    };
    let status = match &exec.end {
        InitEnd::Reported(r) => {
            m.duration_ms = Some(r.wall_us as f64 / 1000.0);
            m.peak_rss_bytes = Some(r.max_rss_kib as u64 * 1024);
            if m.cpu_ms.is_none() {
                m.cpu_ms = Some(r.cpu_us as f64 / 1000.0);
            }
            Some(r.wait_status)
        }
        InitEnd::SetupFailed(msg) => {
            m.outcome = Some(Outcome::SetupError);
            m.error = Some(format!("sandbox setup failed: {msg}"));
            return m;
        }
        InitEnd::Died { .. } => None,
    };
    if let Some(st) = status {
        if libc::WIFEXITED(st) {
            m.exit_code = Some(libc::WEXITSTATUS(st));
        } else if libc::WIFSIGNALED(st) {
            m.signal = Some(signal_name(libc::WTERMSIG(st)));
        }
    }
    if oom && stats.memory_limit_hit == Some(false) {
        m.outside_oom = Some(OutsideOom {
            cgroup: stats.enclosing_oom.as_ref().map(|e| e.cgroup.clone()),
            limit_bytes: stats.enclosing_oom.as_ref().map(|e| e.limit_bytes),
        });
    }
    m.outcome = Some(if exec.timed_out {
        Outcome::TimedOut
    } else if oom {
        Outcome::OomKilled
    } else if let Some(code) = m.exit_code {
        if code == 0 {
            Outcome::Passed
        } else {
            Outcome::Failed
        }
    } else if m.signal.is_some() {
        Outcome::Signaled
    } else if let InitEnd::Died { wait_status } = exec.end {
        m.error = Some(format!(
            "the sandbox init died ({}) before reporting",
            describe_status(wait_status)
        ));
        Outcome::SetupError
    } else {
        Outcome::SetupError
    });
    // Killed, unless it ended in its grace period: then its own exit.
    let killed = exec.timed_out && !exec.grace.is_some_and(|g| g.ended_in_it);
    if killed || (oom && m.signal.is_none() && m.exit_code.is_none()) {
        m.signal = Some("SIGKILL".into());
    }
    m
}

pub fn describe_status(st: i32) -> String {
    if libc::WIFEXITED(st) {
        format!("exit code {}", libc::WEXITSTATUS(st))
    } else if libc::WIFSIGNALED(st) {
        signal_name(libc::WTERMSIG(st))
    } else {
        format!("wait status {st}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroup::LeafStats;
    use crate::sandbox::init::InitReport;
    use std::time::Duration;

    fn exec(end: InitEnd, oom: u64, timed_out: bool) -> Execution {
        Execution {
            end,
            timed_out,
            cancelled: false,
            stdout: Default::default(),
            stderr: Default::default(),
            cgroup: LeafStats {
                peak_memory_bytes: Some(100 << 20),
                oom_kills: Some(oom),
                pids_peak: Some(2),
                pids_max_hits: None,
                cpu_usec: Some(1500),
                ..LeafStats::default()
            },
            elapsed: Duration::from_millis(20),
            hang: None,
            grace: None,
        }
    }

    fn reported(status: i32) -> InitEnd {
        InitEnd::Reported(InitReport {
            wait_status: status,
            max_rss_kib: 1024,
            cpu_us: 1000,
            wall_us: 12_000,
        })
    }

    #[test]
    fn exit_codes_and_signals() {
        let m = classify(&exec(reported(0), 0, false));
        assert_eq!(m.outcome(), Outcome::Passed);
        assert_eq!(m.cpu_ms, Some(1.5), "cgroup CPU wins over rusage");
        assert_eq!(m.peak_rss_bytes, Some(1 << 20));
        let m = classify(&exec(reported(101 << 8), 0, false));
        assert_eq!((m.outcome(), m.exit_code), (Outcome::Failed, Some(101)));
        let m = classify(&exec(reported(libc::SIGSEGV), 0, false));
        assert_eq!(m.outcome(), Outcome::Signaled);
        assert_eq!(m.signal.as_deref(), Some("SIGSEGV"));
    }

    #[test]
    fn a_test_that_ended_in_its_grace_period_keeps_its_own_exit() {
        let grace = |ended_in_it| crate::sandbox::Grace {
            period: Duration::from_secs(3),
            ended_in_it,
        };
        let mut e = exec(reported(0), 0, true);
        e.grace = Some(grace(true));
        let m = classify(&e);
        assert_eq!(m.outcome(), Outcome::TimedOut);
        assert_eq!((m.exit_code, m.signal.as_deref()), (Some(0), None));
        let mut e = exec(
            InitEnd::Died {
                wait_status: libc::SIGKILL,
            },
            0,
            true,
        );
        e.grace = Some(grace(false));
        let m = classify(&e);
        assert_eq!(m.outcome(), Outcome::TimedOut);
        assert_eq!(m.signal.as_deref(), Some("SIGKILL"));
    }

    #[test]
    fn oom_comes_from_the_counter_not_from_sigkill() {
        let m = classify(&exec(reported(libc::SIGKILL), 1, false));
        assert_eq!(m.outcome(), Outcome::OomKilled);
        let m = classify(&exec(reported(libc::SIGKILL), 0, false));
        assert_eq!(m.outcome(), Outcome::Signaled);
        // v2 with memory.oom.group: the init dies too, without a report.
        let m = classify(&exec(
            InitEnd::Died {
                wait_status: libc::SIGKILL,
            },
            1,
            false,
        ));
        assert_eq!(m.outcome(), Outcome::OomKilled);
    }

    #[test]
    fn an_oom_kill_its_own_limit_did_not_make_came_from_outside() {
        let mut e = exec(reported(libc::SIGKILL), 1, false);
        e.cgroup.memory_limit_hit = Some(true);
        assert_eq!(classify(&e).outside_oom, None);
        e.cgroup.memory_limit_hit = Some(false);
        e.cgroup.enclosing_oom = Some(crate::cgroup::Enclosing {
            cgroup: "/ci-job".into(),
            limit_bytes: 150 << 20,
        });
        let m = classify(&e);
        assert_eq!(m.outcome(), Outcome::OomKilled);
        let o = m.outside_oom.expect("outside");
        assert_eq!(o.cgroup.as_deref(), Some("/ci-job"));
        assert_eq!(o.limit_bytes, Some(150 << 20));
        // Not known where: still said to be outside.
        e.cgroup.enclosing_oom = None;
        let o = classify(&e).outside_oom.expect("outside");
        assert_eq!(o.cgroup, None);
        // No OOM kill: nothing to say, whatever the counters.
        let mut e = exec(reported(0), 0, false);
        e.cgroup.memory_limit_hit = Some(false);
        assert_eq!(classify(&e).outside_oom, None);
    }

    #[test]
    fn timeouts_and_setup_errors() {
        let m = classify(&exec(
            InitEnd::Died {
                wait_status: libc::SIGKILL,
            },
            0,
            true,
        ));
        assert_eq!(m.outcome(), Outcome::TimedOut);
        assert_eq!(m.signal.as_deref(), Some("SIGKILL"));
        let m = classify(&exec(InitEnd::SetupFailed("mount: EPERM".into()), 0, false));
        assert_eq!(m.outcome(), Outcome::SetupError);
        assert!(m.error.unwrap().contains("mount: EPERM"));
    }
}
