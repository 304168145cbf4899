//! The report as a whole (schema v1, `docs/report.schema.json`): the
//! run's host, settings, summary and records, and what a baseline, an
//! archive, a partition or a merge add to it.

use super::merged::MergeInfo;
use super::names;
use super::{Outcome, TestRecord};
use serde::{Deserialize, Serialize};

/// A name from one of the report's fixed vocabularies (an outcome,
/// "per-test", "v2", "memory"...): one of the crate's own literals, also
/// when read back (see [`names`]). An alias, not `&'static str` written
/// out, because serde's derive takes a field spelled `&str` as borrowed
/// from the input and would then read reports only from `'static` text.
pub type Name = &'static str;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub schema_version: u32,
    pub tool: Tool,
    pub started_at: String,
    pub duration_ms: f64,
    pub complete: bool,
    pub host: HostInfo,
    pub settings: Settings,
    pub summary: Summary,
    pub tests: Vec<TestRecord>,
    /// Added to v1: the runner's own footprint.
    #[serde(default)]
    pub runner: RunnerInfo,
    /// Added to v1: ids of selected tests that never ran because the run
    /// stopped early (--fail-fast, --max-fail, Ctrl-C).
    #[serde(default)]
    pub not_run: Vec<String>,
    /// Added to v1: the --baseline this run was compared with.
    #[serde(default)]
    pub baseline: Option<BaselineInfo>,
    /// Added to v1: the archive the tests came from (`--archive-file`);
    /// null when they were built for this run.
    #[serde(default)]
    pub archive: Option<ArchiveInfo>,
    /// Added to v1: the share of a sharded run (`--partition`); null when
    /// the run was not sharded.
    #[serde(default)]
    pub partition: Option<PartitionInfo>,
    /// Added to v1: how `report merge` made this report from the shards'
    /// reports; absent from a run's own report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged: Option<MergeInfo>,
    /// Added to v1: what the run was asked to run, before `--partition`
    /// took its share; the shards of one run were asked the same. Absent
    /// when the run stopped before its tests were planned (or an older
    /// version wrote the report).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selection: Option<SelectionInfo>,
}

/// What decided which tests a run selected, and the selected tests (their
/// number and a digest of their ids): `report merge` refuses shards whose
/// selections differ and checks that their shares cover exactly it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelectionInfo {
    /// TESTNAME filters (those after `--` too).
    pub filters: Vec<String>,
    /// `--exact`.
    pub exact: bool,
    /// `--skip` patterns (those after `--` too).
    pub skip: Vec<String>,
    /// `-E` expressions given on the command line.
    pub filtersets: Vec<String>,
    /// The profile's `default-filter`, when it applied (no `-E` given).
    pub default_filter: Option<String>,
    /// `--run-ignored`: "default", "only" or "all".
    pub run_ignored: String,
    /// cargo's flags that choose what is built (`--workspace`, `-p`,
    /// `--features`, `--release`...); empty with an archive.
    pub cargo: Vec<String>,
    /// SHA-256 of the archive the tests came from; null when built.
    pub archive_sha256: Option<String>,
    /// How many tests were selected (ignored ones included).
    pub tests: usize,
    /// [`SelectionInfo::digest`] of the selected tests' ids.
    pub tests_sha256: String,
}

impl SelectionInfo {
    /// SHA-256 (hex) of the ids, sorted and deduplicated, each followed by
    /// a newline: the same set of tests gives the same digest on any
    /// machine, in any order.
    pub fn digest<'a>(ids: impl IntoIterator<Item = &'a str>) -> String {
        use sha2::{Digest, Sha256};
        let ids: std::collections::BTreeSet<&str> = ids.into_iter().collect();
        let mut h = Sha256::new();
        for id in ids {
            h.update(id.as_bytes());
            h.update(b"\n");
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Which archive a run's binaries came from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArchiveInfo {
    /// As given on the command line.
    pub path: String,
    /// SHA-256 of the archive file: shards of one run share it.
    pub sha256: String,
}

/// One share of a sharded run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartitionInfo {
    /// "hash", "count", "slice" or "duration".
    pub scheme: String,
    /// K, from 1.
    pub index: u32,
    /// N.
    pub total: u32,
    /// The ids of the tests this share was given, in run order (ignored
    /// ones included: each share reports its own).
    pub tests: Vec<String>,
}

/// What a comparison with an earlier report found beyond regressions.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BaselineInfo {
    pub path: String,
    /// Tests of this run the baseline does not have.
    pub new_tests: Vec<String>,
    /// Tests of the baseline this run did not select.
    pub gone_tests: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tool {
    #[serde(deserialize_with = "names::tool_name")]
    pub name: Name,
    pub version: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HostInfo {
    pub kernel: String,
    #[serde(deserialize_with = "names::cgroup")]
    pub cgroup: Name,
    pub rootless: bool,
    /// Added to v1: the transient systemd scope (with `Delegate=yes`) the
    /// run went into to have a cgroup of its own, rootless on cgroup v2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub systemd_scope: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    #[serde(deserialize_with = "names::isolation")]
    pub isolation: Name,
    pub jobs: usize,
    pub memory_max: Option<u64>,
    pub pids_max: Option<u64>,
    pub cpus: Option<f64>,
    pub timeout_ms: Option<u64>,
    /// Added to v1: the seccomp filter the tests ran under: "default",
    /// "none" or the profile's path (absent: not recorded, or no sandbox).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seccomp: Option<String>,
    /// Added to v1: what fails the run beyond its tests' outcomes
    /// (`--budgets`, `--flaky-fails`), so that a report read back is judged
    /// as its run was (absent: a run's defaults).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<super::Policy>,
    /// Added to v1: whether each run-wide limit above was enforced (a
    /// test's own are in its record's `limits`).
    #[serde(default)]
    pub enforced: super::Enforced,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Summary {
    pub total: usize,
    pub passed: usize,
    pub failed: usize,
    pub ignored: usize,
    pub timed_out: usize,
    pub oom_killed: usize,
    pub signaled: usize,
    pub setup_error: usize,
    /// Added to v1: tests that passed over one of their budgets.
    #[serde(default)]
    pub over_budget: usize,
    /// Added to v1: tests that grew past a threshold against the baseline.
    #[serde(default)]
    pub regressed: usize,
    /// Added to v1: tests that failed, then passed on a retry (counted in
    /// `passed` too: their final outcome).
    #[serde(default)]
    pub flaky: usize,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunnerInfo {
    pub peak_rss_bytes: Option<u64>,
}

impl Summary {
    pub fn of(tests: &[TestRecord]) -> Summary {
        let mut s = Summary {
            total: tests.len(),
            ..Summary::default()
        };
        for t in tests {
            match t.outcome {
                Outcome::Passed => s.passed += 1,
                Outcome::Failed => s.failed += 1,
                Outcome::Ignored => s.ignored += 1,
                Outcome::TimedOut => s.timed_out += 1,
                Outcome::OomKilled => s.oom_killed += 1,
                Outcome::Signaled => s.signaled += 1,
                _ => s.setup_error += 1,
            }
            s.over_budget += usize::from(!t.over_budget.is_empty());
            s.regressed += usize::from(!t.regressions.is_empty());
            s.flaky += usize::from(t.flaky);
        }
        s
    }
}
