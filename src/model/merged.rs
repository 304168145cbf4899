//! What `report merge` adds to the report it makes from shards' reports.

use super::Outcome;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What `report merge` adds to the merged report (`merged`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MergeInfo {
    /// Every report given, in the order given.
    pub shards: Vec<ShardInfo>,
    /// Shares (K) of 1..=N no report was given for.
    pub missing: Vec<u32>,
    /// Shares given by more than one report: the first one's run (host,
    /// settings, times) is merged; the records of all count.
    pub duplicated: Vec<u32>,
    /// Tests recorded more than once (two shares given the same test, a
    /// share given twice, a test twice in one report): the worst outcome
    /// is merged, and each is in `duplicate_records`.
    pub duplicate_tests: Vec<String>,
    /// Tests a share was given that its report neither ran nor lists as
    /// not run.
    pub missing_tests: Vec<String>,
    /// Where the shards' runs differed (kernel, settings...): the merged
    /// report holds the first shard's values.
    pub differences: Vec<Difference>,
    /// Added: every record of each test in `duplicate_tests`, in the order
    /// given.
    #[serde(default)]
    pub duplicate_records: Vec<DuplicateRecord>,
    /// Added: records left out because the share of the report holding
    /// them was not given that test.
    #[serde(default)]
    pub foreign_records: Vec<ForeignRecord>,
    /// Added: when the shards recorded their selection and the tests their
    /// shares were given are not exactly it (a share missing, a test left
    /// out of every share, one no share was asked for).
    #[serde(default)]
    pub selection_gap: Option<SelectionGap>,
}

/// The shares were not given exactly the selected tests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SelectionGap {
    /// Tests the shards' selection had.
    pub selected: usize,
    /// Distinct tests the merged shares were given.
    pub given: usize,
}

impl MergeInfo {
    /// Whether the reports add up to one run: every share given once,
    /// every test a share was given reported by it, no record from a share
    /// that was not given its test, no test recorded twice, and the shares
    /// given exactly the tests selected (when the reports say which). When they
    /// do not, the merged report cannot vouch for any pass in it: it is
    /// incomplete, and `report merge` exits 96 even when a test failed.
    pub fn adds_up(&self) -> bool {
        self.missing.is_empty()
            && self.duplicated.is_empty()
            && self.duplicate_tests.is_empty()
            && self.missing_tests.is_empty()
            && self.foreign_records.is_empty()
            && self.selection_gap.is_none()
    }
}

/// The records of one test that more than one report gave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DuplicateRecord {
    pub id: String,
    pub records: Vec<RecordSource>,
}

/// Which report gave a record, and the record's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordSource {
    pub path: String,
    pub outcome: Outcome,
}

/// A record left out: its report's share was not given the test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForeignRecord {
    pub id: String,
    pub path: String,
    pub outcome: Outcome,
    /// The first report whose share was given the test, if any.
    pub given_to: Option<String>,
}

/// One report given to `report merge`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardInfo {
    pub path: String,
    /// null: the run was not sharded (a single report merged to itself).
    pub scheme: Option<String>,
    pub index: Option<u32>,
    pub total: Option<u32>,
    /// How many test records it holds.
    pub tests: usize,
    pub complete: bool,
    /// The report merged for this share when this one was left out as a
    /// second report of the same share (its records still count: the
    /// worst outcome of each test is kept); null when this one was merged.
    pub duplicate_of: Option<String>,
}

/// One field (`host.kernel`, `settings.jobs`...) the merged shards did not
/// agree on, with each shard's value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Difference {
    pub field: String,
    pub values: Vec<ShardValue>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardValue {
    pub path: String,
    pub value: Value,
}
