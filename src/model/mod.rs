//! The model under every other layer: a test's record and how it ended,
//! its budgets, and the report that holds a run's records. It depends on
//! no other module of the crate; the scheduler fills it, and every output
//! (terminal, JSON, JUnit, HTML, GitHub, events) reads it.

pub mod attempts;
pub mod budget;
pub mod case;
pub mod event;
pub mod human;
pub mod merged;
pub mod names;
pub mod outcome;
pub mod record;
pub mod report;
#[cfg(test)]
pub mod testing;

pub use attempts::{Attempt, Spread, StressStats};
pub use budget::{Budgets, Regression};
pub use case::TestCase;
pub use event::{RunEvent, RunStart, Subscriber};
pub use outcome::{Metric, Outcome};
pub use record::{TestLimits, TestRecord, binary_id};
pub use report::{
    ArchiveInfo, BaselineInfo, HostInfo, PartitionInfo, Report, RunnerInfo, Settings, Summary, Tool,
};
