//! The run as a stream of events: the scheduler emits them as tests start
//! and end, and every output (terminal, JSON events, GitHub, the report
//! files) subscribes, as nextest's runner feeds its reporter.

use super::{Report, TestRecord, Verdict};
use std::time::Duration;

/// What a run is about to do, as its banner and first event say it.
#[derive(Debug, Clone)]
pub struct RunStart {
    pub run_id: String,
    /// The configuration profile.
    pub profile: String,
    /// Tests that will run (ignored ones excluded).
    pub tests: usize,
    /// Tests selected but ignored: recorded, never started.
    pub skipped: usize,
    pub binaries: usize,
    /// Sandboxes the tests will take in all: `tests`, or more under a
    /// stress run.
    pub runs: usize,
    pub stress: bool,
    pub jobs: usize,
    pub isolation: &'static str,
    pub cgroup: &'static str,
    pub rootless: bool,
    /// ", 5 runs each", ", for 1m": said after the test count.
    pub stress_note: String,
    /// ", seed 7", ", share hash:1/2": said last.
    pub notes: String,
}

/// One thing that happened in a run.
#[derive(Debug, Clone, Copy)]
pub enum RunEvent<'a> {
    RunStarted(&'a RunStart),
    /// A test's first attempt started (its sandbox is up).
    TestStarted {
        id: &'a str,
    },
    /// A test has been running for `elapsed`: said once a period, with
    /// the memory it holds and the CPU it used so far (from its cgroup;
    /// `None` where not measured).
    TestSlow {
        id: &'a str,
        elapsed: Duration,
        memory_bytes: Option<u64>,
        cpu_ms: Option<f64>,
    },
    /// An attempt that did not pass, with a retry to come; `record.attempt`
    /// is its number.
    AttemptFinished {
        record: &'a TestRecord,
    },
    /// A test's verdict (under a stress run, one run's).
    TestFinished {
        record: &'a TestRecord,
    },
    /// The run's report, complete or not, the exit code it earned, and
    /// its verdict: judged once, for every output to say.
    RunFinished {
        report: &'a Report,
        exit_code: u8,
        verdict: &'a Verdict,
    },
}

/// An output of the run.
pub trait Subscriber {
    fn on(&mut self, event: &RunEvent<'_>);
}
