//! The model under every other layer: a test's record and how it ended,
//! its budgets, the report that holds a run's records, and the verdict
//! every output says of it. It depends on no other module of the crate;
//! the scheduler fills it, and every output (terminal, JSON, JUnit, HTML,
//! GitHub, events) reads it.

pub mod attempts;
pub mod budget;
pub mod case;
pub mod enforced;
pub mod event;
pub mod hang;
pub mod human;
pub mod merged;
pub mod names;
pub mod outcome;
pub mod record;
pub mod report;
#[cfg(test)]
pub mod testing;
pub mod verdict;

pub use attempts::{Attempt, Spread, StressStats};
pub use budget::{Budgets, Regression};
pub use case::TestCase;
pub use enforced::{Enforced, OutsideOom};
pub use event::{RunEvent, RunStart, Subscriber};
pub use hang::{Hang, HungThread};
pub use outcome::{Metric, Outcome};
pub use record::{GRACE_NOTE, TestLimits, TestRecord, binary_id};
pub use report::{
    ArchiveInfo, BaselineInfo, HostInfo, PartitionInfo, Report, RunnerInfo, Settings, Summary, Tool,
};
pub use verdict::{Cause, Finding, NOT_RUN, Policy, Severity, Verdict};
