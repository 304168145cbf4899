//! One report from the reports of a sharded run (`report merge`): the
//! shards of `--partition SCHEME:K/N` each report the share they ran;
//! [`merge`] checks that they belong together (one archive, one scheme and
//! N, one schema, one selection: the same filters, `-E`, ignored mode,
//! default filter and build), finds the shares missing or given twice, and
//! makes the report the whole run would have written, with a [`MergeInfo`]
//! saying how. Pure: reports in, a report out.
//!
//! Complete means every selected test ran exactly once: each report
//! records how many tests its run selected and a digest of their ids, and
//! the tests the merged shares were given must be exactly those.
//!
//! A merge must not turn a failure into a pass, whatever the reports say:
//! a record is taken only from a report whose share was given that test
//! (its `partition.tests`; a report of a whole run, which merges only on
//! its own, was given every test it recorded), and when more than one
//! record of a test is taken (two shares given the same test, a share
//! given twice, a test recorded twice in one report) the worst outcome is
//! kept ([`badness`]). Either makes the merge incomplete: see
//! [`MergeInfo::adds_up`].

use super::escape::for_terminal_line;
pub use crate::model::merged::*;
use crate::model::report::SelectionInfo;
use crate::model::{BaselineInfo, Outcome, Report, RunnerInfo, Summary, TestRecord};
use serde_json::Value;
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::PathBuf;
use std::time::SystemTime;

/// Why reports cannot be merged: nothing is written.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum MergeError {
    #[error("no reports to merge")]
    Empty,
    #[error("{a} and {b} have different schema versions ({va} and {vb})")]
    SchemaVersions {
        a: String,
        va: u32,
        b: String,
        vb: u32,
    },
    #[error(
        "{a} and {b} ran different archives (sha256 {sha_a} and {sha_b}): they are not shards of one run"
    )]
    Archives {
        a: String,
        sha_a: String,
        b: String,
        sha_b: String,
    },
    #[error(
        "{with} ran the tests of an archive (--archive-file) and {without} did not: they are not shards of one run"
    )]
    ArchiveMixed { with: String, without: String },
    #[error(
        "{a} and {b} are shares of different partitions ({pa} and {pb}): they are not shards of one run"
    )]
    Partitions {
        a: String,
        pa: String,
        b: String,
        pb: String,
    },
    #[error(
        "{sharded} is a share of a sharded run ({share}) and {plain} is not (no --partition): they are not shards of one run"
    )]
    PartitionMixed {
        sharded: String,
        share: String,
        plain: String,
    },
    #[error(
        "{a} and {b} are both reports of whole runs (no --partition): only the shards of one run merge, or a single report on its own"
    )]
    Unsharded { a: String, b: String },
    #[error(
        "{a} and {b} were asked to run different tests ({field}: {va} in {a}, {vb} in {b}): they are not shards of one run; run every shard with the same filters, -E, --run-ignored, default filter and build (or archive)"
    )]
    Selections {
        a: String,
        b: String,
        field: String,
        va: String,
        vb: String,
    },
    #[error(
        "{with} records what it was asked to run and {without} does not (written by an older cargo-isolate, or by a run stopped before its tests were planned): they cannot be checked as shards of one run"
    )]
    SelectionMixed { with: String, without: String },
    #[error("{path} says it is share {index} of {total}: shares go from 1 to {total}")]
    BadShare {
        path: String,
        index: u32,
        total: u32,
    },
    #[error("{path}: started_at {value:?} is not an RFC 3339 time")]
    BadTime { path: String, value: String },
}

/// A shard's report as `merge` works with it.
struct Shard {
    path: String,
    report: Report,
    start: SystemTime,
}

/// Merges the reports of one sharded run (or a single report, which
/// merges to itself), in the order given: see the module doc. The result
/// is `complete` when every share is there exactly once and every shard
/// was complete.
pub fn merge(reports: Vec<(PathBuf, Report)>) -> Result<Report, MergeError> {
    let shards = reports
        .into_iter()
        .map(|(path, report)| {
            let path = path.display().to_string();
            let start =
                humantime::parse_rfc3339(&report.started_at).map_err(|_| MergeError::BadTime {
                    path: path.clone(),
                    value: report.started_at.clone(),
                })?;
            Ok(Shard {
                path,
                report,
                start,
            })
        })
        .collect::<Result<Vec<_>, MergeError>>()?;
    check(&shards)?;

    let mut info = MergeInfo::default();
    let merged_here = assign_shares(&shards, &mut info);
    let kept: Vec<&Shard> = shards
        .iter()
        .zip(&merged_here)
        .filter_map(|(s, merged)| merged.then_some(s))
        .collect();

    info.missing_tests = missing_tests(&kept);
    info.selection_gap = selection_gap(&kept);
    info.differences = differences(&kept);
    let earliest = kept.iter().min_by_key(|s| s.start).expect("one shard");
    let started_at = earliest.report.started_at.clone();
    let duration_ms = kept
        .iter()
        .map(|s| ms_between(earliest.start, s.start) + s.report.duration_ms)
        .fold(0.0, f64::max);
    let peak_rss_bytes = kept
        .iter()
        .filter_map(|s| s.report.runner.peak_rss_bytes)
        .max();
    let baseline = baseline(&kept);
    // The tests each report's share was given (None: a whole run's report,
    // given all it recorded).
    let given_tests: Vec<(String, Option<HashSet<String>>)> = shards
        .iter()
        .map(|s| {
            let tests = s.report.partition.as_ref();
            let tests = tests.map(|p| p.tests.iter().cloned().collect());
            (s.path.clone(), tests)
        })
        .collect();

    // The records move: each id once, its worst record kept. A BTreeMap
    // orders them by id, as a run sorts its records.
    let mut tests: BTreeMap<String, (TestRecord, Vec<RecordSource>)> = BTreeMap::new();
    let mut not_run = BTreeSet::new();
    let mut head = None;
    for ((s, merged), (path, given)) in shards.into_iter().zip(merged_here).zip(&given_tests) {
        let mut report = s.report;
        for t in std::mem::take(&mut report.tests) {
            if given.as_ref().is_some_and(|g| !g.contains(&t.id)) {
                let given_to = given_tests
                    .iter()
                    .find(|(_, g)| g.as_ref().is_some_and(|g| g.contains(&t.id)))
                    .map(|(p, _)| p.clone());
                info.foreign_records.push(ForeignRecord {
                    id: t.id,
                    path: path.clone(),
                    outcome: t.outcome,
                    given_to,
                });
                continue;
            }
            let source = RecordSource {
                path: path.clone(),
                outcome: t.outcome,
            };
            match tests.entry(t.id.clone()) {
                Entry::Vacant(e) => {
                    e.insert((t, vec![source]));
                }
                Entry::Occupied(mut e) => {
                    let (kept, sources) = e.get_mut();
                    sources.push(source);
                    if badness(&t) > badness(kept) {
                        *kept = t;
                    }
                }
            }
        }
        if merged {
            not_run.extend(std::mem::take(&mut report.not_run));
            head.get_or_insert(report);
        }
    }
    for (id, (_, sources)) in &tests {
        if sources.len() > 1 {
            info.duplicate_tests.push(id.clone());
            info.duplicate_records.push(DuplicateRecord {
                id: id.clone(),
                records: sources.clone(),
            });
        }
    }
    let tests: Vec<TestRecord> = tests.into_values().map(|(t, _)| t).collect();
    // A test that ran somewhere did run.
    let recorded: HashSet<&str> = tests.iter().map(|t| t.id.as_str()).collect();
    let not_run: Vec<String> = not_run
        .into_iter()
        .filter(|id| !recorded.contains(id.as_str()))
        .collect();
    let complete = info.adds_up() && info.shards.iter().all(|s| s.complete);
    // The first report is always merged (the first for its share): the
    // run's host, settings, tool and archive are its.
    let head = head.expect("one shard");
    Ok(Report {
        schema_version: head.schema_version,
        tool: head.tool,
        started_at,
        duration_ms,
        complete,
        host: head.host,
        settings: head.settings,
        summary: Summary::of(&tests),
        tests,
        runner: RunnerInfo { peak_rss_bytes },
        not_run,
        baseline,
        archive: head.archive,
        partition: None,
        merged: Some(info),
        selection: head.selection,
    })
}

/// Who gives each share: the first report for it; a later one is left
/// out (its records still count). Whether each report is merged, and the
/// shares given twice or not at all, in `info`.
fn assign_shares(shards: &[Shard], info: &mut MergeInfo) -> Vec<bool> {
    let mut given: BTreeMap<u32, &str> = BTreeMap::new();
    let mut merged_here = Vec::with_capacity(shards.len());
    for s in shards {
        let p = s.report.partition.as_ref();
        let mut duplicate_of = None;
        if let Some(p) = p {
            match given.get(&p.index) {
                Some(first) => {
                    duplicate_of = Some(first.to_string());
                    if !info.duplicated.contains(&p.index) {
                        info.duplicated.push(p.index);
                    }
                }
                None => {
                    given.insert(p.index, &s.path);
                }
            }
        }
        merged_here.push(duplicate_of.is_none());
        info.shards.push(ShardInfo {
            path: s.path.clone(),
            scheme: p.map(|p| p.scheme.clone()),
            index: p.map(|p| p.index),
            total: p.map(|p| p.total),
            tests: s.report.tests.len(),
            complete: s.report.complete,
            duplicate_of,
        });
    }
    info.duplicated.sort_unstable();
    if let Some(p) = &shards[0].report.partition {
        info.missing = (1..=p.total).filter(|k| !given.contains_key(k)).collect();
    }
    merged_here
}

/// Tests a share was given that its report neither ran nor lists as not
/// run.
fn missing_tests(kept: &[&Shard]) -> Vec<String> {
    let mut missing_tests = BTreeSet::new();
    for s in kept {
        if let Some(p) = &s.report.partition {
            let accounted: HashSet<&str> = s
                .report
                .tests
                .iter()
                .map(|t| t.id.as_str())
                .chain(s.report.not_run.iter().map(String::as_str))
                .collect();
            missing_tests.extend(
                p.tests
                    .iter()
                    .filter(|id| !accounted.contains(id.as_str()))
                    .cloned(),
            );
        }
    }
    missing_tests.into_iter().collect()
}

/// Refuses reports that are not shards of one run.
fn check(shards: &[Shard]) -> Result<(), MergeError> {
    let Some(first) = shards.first() else {
        return Err(MergeError::Empty);
    };
    let a = || first.path.clone();
    for s in &shards[1..] {
        let (ra, rb) = (&first.report, &s.report);
        if ra.schema_version != rb.schema_version {
            return Err(MergeError::SchemaVersions {
                a: a(),
                va: ra.schema_version,
                b: s.path.clone(),
                vb: rb.schema_version,
            });
        }
        match (&ra.archive, &rb.archive) {
            (None, None) => {}
            (Some(x), Some(y)) if x.sha256 == y.sha256 => {}
            (Some(x), Some(y)) => {
                return Err(MergeError::Archives {
                    a: a(),
                    sha_a: x.sha256.clone(),
                    b: s.path.clone(),
                    sha_b: y.sha256.clone(),
                });
            }
            (Some(_), None) => {
                return Err(MergeError::ArchiveMixed {
                    with: a(),
                    without: s.path.clone(),
                });
            }
            (None, Some(_)) => {
                return Err(MergeError::ArchiveMixed {
                    with: s.path.clone(),
                    without: a(),
                });
            }
        }
        check_selections(&first.path, ra, &s.path, rb)?;
        match (&ra.partition, &rb.partition) {
            (None, None) => {
                return Err(MergeError::Unsharded {
                    a: a(),
                    b: s.path.clone(),
                });
            }
            (Some(p), None) => {
                return Err(MergeError::PartitionMixed {
                    sharded: a(),
                    share: share(p),
                    plain: s.path.clone(),
                });
            }
            (None, Some(p)) => {
                return Err(MergeError::PartitionMixed {
                    sharded: s.path.clone(),
                    share: share(p),
                    plain: a(),
                });
            }
            (Some(x), Some(y)) if x.scheme != y.scheme || x.total != y.total => {
                return Err(MergeError::Partitions {
                    a: a(),
                    pa: share(x),
                    b: s.path.clone(),
                    pb: share(y),
                });
            }
            (Some(_), Some(_)) => {}
        }
    }
    for s in shards {
        if let Some(p) = &s.report.partition
            && !(1..=p.total).contains(&p.index)
        {
            return Err(MergeError::BadShare {
                path: s.path.clone(),
                index: p.index,
                total: p.total,
            });
        }
    }
    Ok(())
}

/// Shards of one run were asked to run the same tests: equal selections,
/// or none recorded by either (reports of older versions).
fn check_selections(a: &str, ra: &Report, b: &str, rb: &Report) -> Result<(), MergeError> {
    let (sa, sb) = match (&ra.selection, &rb.selection) {
        (None, None) => return Ok(()),
        (Some(x), Some(y)) if x == y => return Ok(()),
        (Some(x), Some(y)) => (x, y),
        (Some(_), None) => {
            return Err(MergeError::SelectionMixed {
                with: a.into(),
                without: b.into(),
            });
        }
        (None, Some(_)) => {
            return Err(MergeError::SelectionMixed {
                with: b.into(),
                without: a.into(),
            });
        }
    };
    let fields = |s: &SelectionInfo| match serde_json::to_value(s) {
        Ok(Value::Object(map)) => map,
        _ => Default::default(),
    };
    let (fa, fb) = (fields(sa), fields(sb));
    // The first field that differs, in the struct's order: what chose the
    // tests before how many they came to.
    let (field, va, vb) = fa
        .iter()
        .find(|(k, v)| fb.get(*k) != Some(v))
        .map(|(k, v)| (k.clone(), v.to_string(), fb[k].to_string()))
        .unwrap_or_default();
    Err(MergeError::Selections {
        a: a.into(),
        b: b.into(),
        field: format!("selection.{field}"),
        va,
        vb,
    })
}

/// When the shards recorded their (common) selection: whether the tests
/// the merged shares were given (a whole run's report: those it recorded
/// or lists as not run) are exactly the selected ones.
fn selection_gap(kept: &[&Shard]) -> Option<SelectionGap> {
    let selection = kept.first()?.report.selection.as_ref()?;
    let mut given: BTreeSet<&str> = BTreeSet::new();
    for s in kept {
        let r = &s.report;
        match &r.partition {
            Some(p) => given.extend(p.tests.iter().map(String::as_str)),
            None => {
                given.extend(r.tests.iter().map(|t| t.id.as_str()));
                given.extend(r.not_run.iter().map(String::as_str));
            }
        }
    }
    let covered = given.len() == selection.tests
        && SelectionInfo::digest(given.iter().copied()) == selection.tests_sha256;
    (!covered).then_some(SelectionGap {
        selected: selection.tests,
        given: given.len(),
    })
}

/// How bad a record's outcome is, to keep the worst of two records of one
/// test: a pass is the least bad (a flaky one worse than a clean one),
/// then a test that was not run (ignored: it claims no pass), then every
/// way of failing.
fn badness(t: &TestRecord) -> u8 {
    match t.outcome {
        Outcome::Passed => u8::from(t.flaky),
        Outcome::Ignored => 2,
        Outcome::Failed => 3,
        Outcome::TimedOut => 4,
        Outcome::OomKilled => 5,
        Outcome::Signaled => 6,
        _ => 7,
    }
}

/// "hash 2/3".
fn share(p: &super::PartitionInfo) -> String {
    format!("{} {}/{}", p.scheme, p.index, p.total)
}

/// Milliseconds from `from` to `to` (negative when `to` is earlier).
fn ms_between(from: SystemTime, to: SystemTime) -> f64 {
    match to.duration_since(from) {
        Ok(d) => d.as_secs_f64() * 1000.0,
        Err(e) => -e.duration().as_secs_f64() * 1000.0,
    }
}

/// The shards' comparison with a baseline, when they all made the same
/// one: tests new to any of them; tests of the baseline none of them ran.
/// None when they did not all compare with the same file (noted among
/// the differences).
fn baseline(kept: &[&Shard]) -> Option<BaselineInfo> {
    let first = kept[0].report.baseline.as_ref()?;
    let all: Vec<&BaselineInfo> = kept
        .iter()
        .filter_map(|s| s.report.baseline.as_ref())
        .filter(|b| b.path == first.path)
        .collect();
    if all.len() != kept.len() {
        return None;
    }
    let ran: HashSet<&str> = kept
        .iter()
        .flat_map(|s| &s.report.tests)
        .map(|t| t.id.as_str())
        .collect();
    let new_tests: BTreeSet<&String> = all.iter().flat_map(|b| &b.new_tests).collect();
    // Gone from the whole run: gone from (not selected by) every shard.
    let gone_tests = first
        .gone_tests
        .iter()
        .filter(|id| !ran.contains(id.as_str()))
        .filter(|id| all.iter().all(|b| b.gone_tests.contains(id)))
        .cloned()
        .collect();
    Some(BaselineInfo {
        path: first.path.clone(),
        new_tests: new_tests.into_iter().cloned().collect(),
        gone_tests,
    })
}

/// The run-wide fields on which the merged shards differ: every field of
/// `tool`, `host` and `settings`, and the archive's and baseline's paths.
fn differences(kept: &[&Shard]) -> Vec<Difference> {
    let fields = |r: &Report| -> BTreeMap<String, Value> {
        let mut out = BTreeMap::new();
        let sections = [
            ("tool", serde_json::to_value(&r.tool)),
            ("host", serde_json::to_value(&r.host)),
            ("settings", serde_json::to_value(&r.settings)),
        ];
        for (section, value) in sections {
            if let Ok(Value::Object(map)) = value {
                for (k, v) in map {
                    out.insert(format!("{section}.{k}"), v);
                }
            }
        }
        let path = |p: Option<&String>| p.map_or(Value::Null, |p| Value::String(p.clone()));
        out.insert(
            "archive.path".into(),
            path(r.archive.as_ref().map(|a| &a.path)),
        );
        out.insert(
            "baseline.path".into(),
            path(r.baseline.as_ref().map(|b| &b.path)),
        );
        out
    };
    let each: Vec<BTreeMap<String, Value>> = kept.iter().map(|s| fields(&s.report)).collect();
    let names: BTreeSet<&String> = each.iter().flat_map(|f| f.keys()).collect();
    names
        .into_iter()
        .filter(|name| each.iter().any(|f| f.get(*name) != each[0].get(*name)))
        .map(|name| Difference {
            field: name.clone(),
            values: kept
                .iter()
                .zip(&each)
                .map(|(s, f)| ShardValue {
                    path: s.path.clone(),
                    value: f.get(name).cloned().unwrap_or(Value::Null),
                })
                .collect(),
        })
        .collect()
}

/// What `report merge` says about a merged report, one line each:
/// "Merged 3 reports (hash 1/3, 2/3, 3/3): 120 tests: 118 passed, 2
/// failed", then what is missing, given twice or inconsistent. Ids, paths
/// and schemes are made visible for a terminal.
pub fn describe(report: &Report) -> Vec<String> {
    let Some(info) = &report.merged else {
        return Vec::new();
    };
    let vis = |s: &str| for_terminal_line(s).into_owned();
    let merged: Vec<&ShardInfo> = info
        .shards
        .iter()
        .filter(|s| s.duplicate_of.is_none())
        .collect();
    let shares = match merged.first().map(|s| (&s.scheme, s.total)) {
        Some((Some(scheme), Some(total))) => {
            let mut ks: Vec<u32> = merged.iter().filter_map(|s| s.index).collect();
            ks.sort_unstable();
            let ks: Vec<String> = ks.iter().map(|k| format!("{k}/{total}")).collect();
            format!("{} {}", vis(scheme), ks.join(", "))
        }
        _ => "not sharded".to_string(),
    };
    let mut lines = vec![format!(
        "Merged {} ({shares}): {}",
        super::count(merged.len(), "report", "reports"),
        counts(&report.summary)
    )];
    if let Some(total) = info.shards.first().and_then(|s| s.total)
        && !info.missing.is_empty()
    {
        let ks: Vec<String> = info.missing.iter().map(u32::to_string).collect();
        lines.push(format!("missing shares: {} (of {total})", ks.join(", ")));
    }
    for s in &info.shards {
        if let (Some(first), Some(k)) = (&s.duplicate_of, s.index) {
            lines.push(format!(
                "duplicated share {k}: {} and {} (the first is merged)",
                vis(first),
                vis(&s.path)
            ));
        }
    }
    for s in info.shards.iter().filter(|s| !s.complete) {
        lines.push(format!(
            "incomplete shard: {} (its run stopped early)",
            vis(&s.path)
        ));
    }
    const SHOWN: usize = 10;
    let more = |n: usize, what: &str| format!("and {} more {what}", n - SHOWN);
    for d in info.duplicate_records.iter().take(SHOWN) {
        let each: Vec<String> = d
            .records
            .iter()
            .map(|r| format!("{} in {}", r.outcome, vis(&r.path)))
            .collect();
        let kept = report
            .tests
            .iter()
            .find(|t| t.id == d.id)
            .map_or("", |t| t.outcome.as_str());
        lines.push(format!(
            "test {} recorded more than once: {} (the worst, {kept}, is merged)",
            vis(&d.id),
            each.join(", ")
        ));
    }
    if info.duplicate_records.len() > SHOWN {
        lines.push(more(
            info.duplicate_records.len(),
            "tests recorded more than once",
        ));
    }
    for f in info.foreign_records.iter().take(SHOWN) {
        let given_to = match &f.given_to {
            Some(p) => format!("{} was", vis(p)),
            None => "no share was".into(),
        };
        lines.push(format!(
            "record of {} in {} ({}) left out: that report's share was not given the test ({given_to})",
            vis(&f.id),
            vis(&f.path),
            f.outcome
        ));
    }
    if info.foreign_records.len() > SHOWN {
        lines.push(more(
            info.foreign_records.len(),
            "records from a share not given their test",
        ));
    }
    if let Some(gap) = &info.selection_gap {
        lines.push(format!(
            "the shares were given {} distinct tests, not exactly the {} the shards selected: not every selected test ran exactly once",
            gap.given, gap.selected
        ));
    }
    if !info.missing_tests.is_empty() {
        let ids = &info.missing_tests;
        let shown: Vec<String> = ids.iter().take(SHOWN).map(|id| vis(id)).collect();
        let mut line = format!(
            "tests a share was given but did not report: {}",
            shown.join(", ")
        );
        if ids.len() > SHOWN {
            line += &format!(" {}", more(ids.len(), "tests"));
        }
        lines.push(line);
    }
    for d in &info.differences {
        let values: Vec<String> = d
            .values
            .iter()
            .map(|v| format!("{} in {}", v.value, vis(&v.path)))
            .collect();
        lines.push(format!(
            "shards differ on {}: {}",
            d.field,
            values.join(", ")
        ));
    }
    lines
}

/// "120 tests: 118 passed, 2 failed": the non-zero counts.
fn counts(s: &Summary) -> String {
    let parts: Vec<String> = [
        (s.passed, "passed"),
        (s.failed, "failed"),
        (s.timed_out, "timed out"),
        (s.oom_killed, "OOM-killed"),
        (s.signaled, "killed by a signal"),
        (s.setup_error, "setup error"),
        (s.ignored, "ignored"),
        (s.flaky, "flaky"),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{n} {what}"))
    .collect();
    let mut line = super::count(s.total, "test", "tests");
    if !parts.is_empty() {
        line += ": ";
        line += &parts.join(", ");
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{ArchiveInfo, PartitionInfo, testing};

    fn record(id: &str, outcome: &'static str) -> TestRecord {
        let mut r = TestRecord::new(id.into(), "p", "p", "lib", Some(id.into()));
        r.outcome = outcome.into();
        r
    }

    /// Share `k` of `hash:K/n` of the archive "aa11", given `tests` and
    /// running them all.
    fn shard(k: u32, n: u32, tests: &[(&str, &'static str)]) -> Report {
        let records = tests.iter().map(|(id, o)| record(id, o)).collect();
        let mut r = testing::report(records, "2025-01-01T10:00:00.000Z", 1000.0);
        r.archive = Some(ArchiveInfo {
            path: "tests.tar.zst".into(),
            sha256: "aa11".into(),
        });
        r.partition = Some(PartitionInfo {
            scheme: "hash".into(),
            index: k,
            total: n,
            tests: tests.iter().map(|(id, _)| id.to_string()).collect(),
        });
        r
    }

    fn named(reports: Vec<(&str, Report)>) -> Vec<(PathBuf, Report)> {
        reports
            .into_iter()
            .map(|(p, r)| (PathBuf::from(p), r))
            .collect()
    }

    fn ids(r: &Report) -> Vec<&str> {
        r.tests.iter().map(|t| t.id.as_str()).collect()
    }

    fn info(r: &Report) -> &MergeInfo {
        r.merged.as_ref().expect("merge info")
    }

    #[test]
    fn every_share_once_makes_the_whole_run() {
        let mut a = shard(1, 3, &[("p z", "passed"), ("p b", "passed")]);
        a.runner.peak_rss_bytes = Some(10);
        let mut b = shard(2, 3, &[("p c", "failed")]);
        // Started 2 s later and ran 3 s: the last to end.
        b.started_at = "2025-01-01T10:00:02.000Z".into();
        b.duration_ms = 3000.0;
        b.runner.peak_rss_bytes = Some(30);
        let mut c = shard(3, 3, &[("p a", "ignored")]);
        c.started_at = "2025-01-01T09:59:59.500Z".into();
        let r = merge(named(vec![("a.json", a), ("b.json", b), ("c.json", c)])).unwrap();
        assert_eq!(ids(&r), ["p a", "p b", "p c", "p z"]);
        assert_eq!(r.summary, Summary::of(&r.tests));
        assert_eq!((r.summary.passed, r.summary.failed), (2, 1));
        assert!(r.complete);
        assert_eq!(r.started_at, "2025-01-01T09:59:59.500Z");
        assert_eq!(r.duration_ms, 5500.0);
        assert_eq!(r.runner.peak_rss_bytes, Some(30));
        assert_eq!(r.archive.as_ref().unwrap().sha256, "aa11");
        assert!(r.partition.is_none());
        let m = info(&r);
        assert!(m.missing.is_empty() && m.duplicated.is_empty());
        assert!(m.duplicate_tests.is_empty() && m.missing_tests.is_empty());
        assert!(m.differences.is_empty(), "{:?}", m.differences);
        let shards: Vec<(&str, Option<u32>, usize)> = m
            .shards
            .iter()
            .map(|s| (s.path.as_str(), s.index, s.tests))
            .collect();
        assert_eq!(
            shards,
            [
                ("a.json", Some(1), 2),
                ("b.json", Some(2), 1),
                ("c.json", Some(3), 1)
            ]
        );
        assert_eq!(m.shards[0].scheme.as_deref(), Some("hash"));
        assert_eq!(m.shards[0].total, Some(3));
        assert_eq!(
            describe(&r)[0],
            "Merged 3 reports (hash 1/3, 2/3, 3/3): 4 tests: 2 passed, 1 failed, 1 ignored"
        );
        assert_eq!(describe(&r).len(), 1);
    }

    #[test]
    fn a_missing_share_is_listed_and_the_merge_is_incomplete() {
        let a = shard(1, 3, &[("p a", "passed")]);
        let c = shard(3, 3, &[("p c", "passed")]);
        let r = merge(named(vec![("c.json", c), ("a.json", a)])).unwrap();
        assert!(!r.complete);
        assert_eq!(info(&r).missing, [2]);
        assert_eq!(ids(&r), ["p a", "p c"]);
        let lines = describe(&r);
        assert_eq!(
            lines[0],
            "Merged 2 reports (hash 1/3, 3/3): 2 tests: 2 passed"
        );
        assert_eq!(lines[1], "missing shares: 2 (of 3)");
    }

    #[test]
    fn a_duplicated_share_counts_every_record_and_keeps_the_worst() {
        let first = shard(1, 2, &[("p a", "passed"), ("p c", "failed")]);
        let again = shard(1, 2, &[("p a", "failed"), ("p c", "passed")]);
        let b = shard(2, 2, &[("p b", "passed")]);
        let r = merge(named(vec![
            ("a.json", first),
            ("b.json", b),
            ("c.json", again),
        ]))
        .unwrap();
        assert!(!r.complete);
        let m = info(&r);
        assert!(!m.adds_up());
        assert_eq!(m.duplicated, [1]);
        assert!(m.missing.is_empty());
        assert_eq!(m.shards[2].duplicate_of.as_deref(), Some("a.json"));
        assert_eq!(m.shards[0].duplicate_of, None);
        // Whichever report came first, neither failure is hidden.
        let outcomes: Vec<&str> = r.tests.iter().map(|t| t.outcome.as_str()).collect();
        assert_eq!(ids(&r), ["p a", "p b", "p c"]);
        assert_eq!(outcomes, ["failed", "passed", "failed"]);
        assert_eq!(m.duplicate_tests, ["p a", "p c"]);
        assert_eq!(
            m.duplicate_records[0].records,
            [
                RecordSource {
                    path: "a.json".into(),
                    outcome: "passed".into()
                },
                RecordSource {
                    path: "c.json".into(),
                    outcome: "failed".into()
                }
            ]
        );
        assert_eq!(r.summary.total, 3);
        let lines = describe(&r);
        assert!(
            lines.contains(
                &"duplicated share 1: a.json and c.json (the first is merged)".to_string()
            ),
            "{lines:?}"
        );
        assert!(
            lines.contains(
                &"test p a recorded more than once: passed in a.json, failed in c.json (the worst, failed, is merged)".to_string()
            ),
            "{lines:?}"
        );
    }

    #[test]
    fn a_test_two_shares_were_given_keeps_its_worst_record() {
        let a = shard(1, 2, &[("p a", "passed"), ("p x", "passed")]);
        let b = shard(2, 2, &[("p b", "passed"), ("p x", "timed_out")]);
        let r = merge(named(vec![("a.json", a), ("b.json", b)])).unwrap();
        assert_eq!(info(&r).duplicate_tests, ["p x"]);
        assert_eq!(ids(&r), ["p a", "p b", "p x"]);
        assert_eq!(r.tests[2].outcome, "timed_out");
        // Every share is there once, but the shares overlap: not one run.
        assert!(!r.complete && !info(&r).adds_up());
        assert!(
            describe(&r).contains(
                &"test p x recorded more than once: passed in a.json, timed_out in b.json (the worst, timed_out, is merged)".to_string()
            ),
            "{:?}",
            describe(&r)
        );
    }

    /// Issue 20, item 5: shard 2's report, given first, with a record
    /// added claiming that shard 1's failed test passed.
    #[test]
    fn a_record_from_a_share_not_given_the_test_is_left_out() {
        let one = shard(1, 2, &[("p a", "failed"), ("p c", "passed")]);
        let mut two = shard(2, 2, &[("p b", "passed")]);
        two.tests.push(record("p a", "passed"));
        two.tests.push(record("p nowhere", "passed"));
        two.summary = Summary::of(&two.tests);
        let r = merge(named(vec![("two.json", two), ("one.json", one)])).unwrap();
        assert_eq!(ids(&r), ["p a", "p b", "p c"]);
        assert_eq!(r.tests[0].outcome, "failed");
        assert_eq!((r.summary.passed, r.summary.failed), (2, 1));
        assert!(!r.complete);
        let m = info(&r);
        assert!(!m.adds_up());
        assert!(m.duplicate_tests.is_empty());
        assert_eq!(
            m.foreign_records,
            [
                ForeignRecord {
                    id: "p a".into(),
                    path: "two.json".into(),
                    outcome: "passed".into(),
                    given_to: Some("one.json".into()),
                },
                ForeignRecord {
                    id: "p nowhere".into(),
                    path: "two.json".into(),
                    outcome: "passed".into(),
                    given_to: None,
                }
            ]
        );
        let lines = describe(&r);
        assert!(
            lines.contains(&"record of p a in two.json (passed) left out: that report's share was not given the test (one.json was)".to_string()),
            "{lines:?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("record of p nowhere") && l.ends_with("(no share was)")),
            "{lines:?}"
        );
    }

    #[test]
    fn a_whole_runs_report_keeps_the_worst_of_a_test_recorded_twice() {
        // A report without partition info merges only on its own and was
        // given every test it recorded; a test twice in it is not one run.
        let r = testing::report(
            vec![
                record("p a", "passed"),
                record("p a", "failed"),
                record("p b", "passed"),
            ],
            "2025-01-01T10:00:00.000Z",
            1.0,
        );
        let m = merge(named(vec![("run.json", r)])).unwrap();
        assert_eq!(ids(&m), ["p a", "p b"]);
        assert_eq!(m.tests[0].outcome, "failed");
        assert!(!m.complete && !info(&m).adds_up());
        assert_eq!(info(&m).duplicate_tests, ["p a"]);
        assert!(info(&m).foreign_records.is_empty());
    }

    #[test]
    fn the_worst_outcome_is_any_failure_then_not_run_then_a_flaky_pass() {
        let mut flaky = record("p", "passed");
        flaky.flaky = true;
        let order = [
            record("p", "passed"),
            flaky,
            record("p", "ignored"),
            record("p", "failed"),
            record("p", "timed_out"),
            record("p", "oom_killed"),
            record("p", "signaled"),
            record("p", "setup_error"),
        ];
        for pair in order.windows(2) {
            assert!(badness(&pair[0]) < badness(&pair[1]), "{}", pair[1].outcome);
        }
    }

    #[test]
    fn tests_a_share_was_given_but_did_not_report_are_listed() {
        let mut a = shard(1, 2, &[("p a", "passed")]);
        let p = a.partition.as_mut().unwrap();
        p.tests
            .extend(["p lost".to_string(), "p stopped".to_string()]);
        a.not_run = vec!["p stopped".into()];
        a.complete = false;
        let mut b = shard(2, 2, &[("p b", "passed")]);
        b.not_run = vec!["p later".into()];
        b.partition.as_mut().unwrap().tests.push("p later".into());
        let r = merge(named(vec![("a.json", a), ("b.json", b)])).unwrap();
        assert_eq!(info(&r).missing_tests, ["p lost"]);
        assert_eq!(r.not_run, ["p later", "p stopped"]);
        // Every share there, but one stopped early and lost a test.
        assert!(!r.complete);
        assert!(info(&r).missing.is_empty());
        assert!(!info(&r).adds_up());
        let lines = describe(&r);
        assert!(lines.contains(&"incomplete shard: a.json (its run stopped early)".into()));
        assert!(lines.iter().any(|l| l.ends_with(": p lost")), "{lines:?}");
    }

    #[test]
    fn differences_between_the_shards_runs_are_noted() {
        let mut a = shard(1, 2, &[("p a", "passed")]);
        a.host.kernel = "6.1.0".into();
        let mut b = shard(2, 2, &[("p b", "passed")]);
        b.host.kernel = "6.8.0".into();
        b.settings.jobs = 4;
        b.archive.as_mut().unwrap().path = "/ci/tests.tar.zst".into();
        let r = merge(named(vec![("a.json", a), ("b.json", b)])).unwrap();
        assert_eq!(r.host.kernel, "6.1.0");
        assert_eq!(r.settings.jobs, 1);
        let d = &info(&r).differences;
        let fields: Vec<&str> = d.iter().map(|d| d.field.as_str()).collect();
        assert_eq!(fields, ["archive.path", "host.kernel", "settings.jobs"]);
        assert_eq!(
            d[1].values,
            [
                ShardValue {
                    path: "a.json".into(),
                    value: "6.1.0".into()
                },
                ShardValue {
                    path: "b.json".into(),
                    value: "6.8.0".into()
                }
            ]
        );
        assert!(
            describe(&r).contains(
                &"shards differ on host.kernel: \"6.1.0\" in a.json, \"6.8.0\" in b.json".into()
            ),
            "{:?}",
            describe(&r)
        );
    }

    #[test]
    fn a_common_baseline_is_merged() {
        let baseline = |new: &[&str], gone: &[&str]| BaselineInfo {
            path: "main.json".into(),
            new_tests: new.iter().map(|s| s.to_string()).collect(),
            gone_tests: gone.iter().map(|s| s.to_string()).collect(),
        };
        let mut a = shard(1, 2, &[("p a", "passed"), ("p n1", "passed")]);
        // Each shard's gone tests include the other shards' tests.
        a.baseline = Some(baseline(&["p n1"], &["p b", "p old"]));
        let mut b = shard(2, 2, &[("p b", "passed"), ("p n2", "passed")]);
        b.baseline = Some(baseline(&["p n2"], &["p a", "p old"]));
        let r = merge(named(vec![("a.json", a), ("b.json", b)])).unwrap();
        let base = r.baseline.as_ref().unwrap();
        assert_eq!(base.new_tests, ["p n1", "p n2"]);
        assert_eq!(base.gone_tests, ["p old"]);

        let mut c = shard(1, 2, &[("p a", "passed")]);
        c.baseline = Some(baseline(&[], &[]));
        let d = shard(2, 2, &[("p b", "passed")]);
        let r = merge(named(vec![("c.json", c), ("d.json", d)])).unwrap();
        assert!(r.baseline.is_none());
        assert_eq!(info(&r).differences[0].field, "baseline.path");
    }

    #[test]
    fn a_single_unsharded_report_merges_to_itself() {
        let mut r = testing::report(
            vec![record("p b", "passed"), record("p a", "failed")],
            "2025-01-01T10:00:00.000Z",
            1234.5,
        );
        r.not_run = vec!["p c".into()];
        r.complete = false;
        let m = merge(named(vec![("run.json", r)])).unwrap();
        assert_eq!(ids(&m), ["p a", "p b"]);
        assert_eq!((m.duration_ms, m.complete), (1234.5, false));
        assert_eq!(m.not_run, ["p c"]);
        let i = info(&m);
        assert!(i.missing.is_empty() && i.duplicated.is_empty());
        assert_eq!(i.shards[0].scheme, None);
        assert_eq!(
            describe(&m)[0],
            "Merged 1 report (not sharded): 2 tests: 1 passed, 1 failed"
        );
    }

    fn refused(reports: Vec<(&str, Report)>) -> String {
        merge(named(reports)).unwrap_err().to_string()
    }

    #[test]
    fn reports_of_different_archives_are_refused() {
        let a = shard(1, 2, &[]);
        let mut b = shard(2, 2, &[]);
        b.archive.as_mut().unwrap().sha256 = "bb22".into();
        assert_eq!(
            refused(vec![("a.json", a), ("b.json", b)]),
            "a.json and b.json ran different archives (sha256 aa11 and bb22): they are not shards of one run"
        );
        let a = shard(1, 2, &[]);
        let mut b = shard(2, 2, &[]);
        b.archive = None;
        assert_eq!(
            refused(vec![("b.json", b), ("a.json", a)]),
            "a.json ran the tests of an archive (--archive-file) and b.json did not: they are not shards of one run"
        );
    }

    #[test]
    fn shares_of_different_partitions_are_refused() {
        let a = shard(1, 2, &[]);
        let b = shard(2, 3, &[]);
        assert_eq!(
            refused(vec![("a.json", a), ("b.json", b)]),
            "a.json and b.json are shares of different partitions (hash 1/2 and hash 2/3): they are not shards of one run"
        );
        let a = shard(1, 2, &[]);
        let mut b = shard(2, 2, &[]);
        b.partition.as_mut().unwrap().scheme = "slice".into();
        assert!(refused(vec![("a.json", a), ("b.json", b)]).contains("hash 1/2 and slice 2/2"));
    }

    #[test]
    fn a_report_without_a_partition_is_refused_among_shards() {
        let a = shard(1, 2, &[]);
        let mut whole = shard(2, 2, &[]);
        whole.partition = None;
        assert_eq!(
            refused(vec![("whole.json", whole), ("a.json", a)]),
            "a.json is a share of a sharded run (hash 1/2) and whole.json is not (no --partition): they are not shards of one run"
        );
        let mut x = shard(1, 2, &[]);
        x.partition = None;
        let mut y = shard(1, 2, &[]);
        y.partition = None;
        assert!(
            refused(vec![("x.json", x), ("y.json", y)])
                .starts_with("x.json and y.json are both reports of whole runs")
        );
    }

    #[test]
    fn different_schema_versions_are_refused() {
        let a = shard(1, 2, &[]);
        let mut b = shard(2, 2, &[]);
        b.schema_version = 2;
        assert_eq!(
            refused(vec![("a.json", a), ("b.json", b)]),
            "a.json and b.json have different schema versions (1 and 2)"
        );
    }

    #[test]
    fn malformed_shares_and_times_are_refused() {
        let a = shard(3, 2, &[]);
        assert_eq!(
            refused(vec![("a.json", a)]),
            "a.json says it is share 3 of 2: shares go from 1 to 2"
        );
        let mut a = shard(1, 1, &[]);
        a.started_at = "yesterday".into();
        assert_eq!(
            refused(vec![("a.json", a)]),
            "a.json: started_at \"yesterday\" is not an RFC 3339 time"
        );
        assert_eq!(merge(Vec::new()).unwrap_err(), MergeError::Empty);
    }

    /// The selection a run of `ids` with these name filters records.
    fn selection(filters: &[&str], ids: &[&str]) -> SelectionInfo {
        SelectionInfo {
            filters: filters.iter().map(|f| f.to_string()).collect(),
            exact: false,
            skip: Vec::new(),
            filtersets: Vec::new(),
            default_filter: None,
            run_ignored: "default".into(),
            cargo: Vec::new(),
            archive_sha256: Some("aa11".into()),
            tests: ids.len(),
            tests_sha256: SelectionInfo::digest(ids.iter().copied()),
        }
    }

    /// Issue 22: shard 1 of a run plus shard 2 of a run filtered by name
    /// (one of its tests) merged as complete. Their selections differ:
    /// refused, naming the field.
    #[test]
    fn shards_asked_to_run_different_tests_are_refused() {
        let all = ["p a", "p b", "p c"];
        let mut one = shard(1, 2, &[("p a", "passed")]);
        one.selection = Some(selection(&[], &all));
        let mut two = shard(2, 2, &[("p b", "passed")]);
        two.selection = Some(selection(&["b"], &["p b"]));
        assert_eq!(
            refused(vec![("one.json", one.clone()), ("two.json", two)]),
            "one.json and two.json were asked to run different tests (selection.filters: [] in one.json, [\"b\"] in two.json): they are not shards of one run; run every shard with the same filters, -E, --run-ignored, default filter and build (or archive)"
        );
        // The same flags, another build: the tests differ.
        let mut other = shard(2, 2, &[("p b", "passed")]);
        other.selection = Some(selection(&[], &["p a", "p b"]));
        assert!(
            refused(vec![("one.json", one.clone()), ("other.json", other)])
                .contains("(selection.tests: 3 in one.json, 2 in other.json)")
        );
        // One that says nothing of its selection cannot be checked with it.
        let silent = shard(2, 2, &[("p b", "passed")]);
        assert!(
            refused(vec![("silent.json", silent), ("one.json", one)])
                .starts_with("one.json records what it was asked to run and silent.json does not")
        );
    }

    /// Complete means every selected test ran exactly once: shares that
    /// were given fewer tests than the selection had (a share's list
    /// edited, or the shards split differently) are not.
    #[test]
    fn the_shares_must_be_given_exactly_the_selected_tests() {
        let all = ["p a", "p b", "p c"];
        let mut one = shard(1, 2, &[("p a", "passed")]);
        one.selection = Some(selection(&[], &all));
        let mut two = shard(2, 2, &[("p b", "passed"), ("p c", "passed")]);
        two.selection = Some(selection(&[], &all));
        let r = merge(named(vec![("one.json", one.clone()), ("two.json", two)])).unwrap();
        assert!(r.complete, "{:?}", describe(&r));
        assert_eq!(r.selection, Some(selection(&[], &all)));
        assert_eq!(info(&r).selection_gap, None);

        let mut short = shard(2, 2, &[("p b", "passed")]);
        short.selection = Some(selection(&[], &all));
        let r = merge(named(vec![("one.json", one), ("short.json", short)])).unwrap();
        assert!(!r.complete);
        assert_eq!(
            info(&r).selection_gap,
            Some(SelectionGap {
                selected: 3,
                given: 2
            })
        );
        assert!(
            describe(&r).contains(&"the shares were given 2 distinct tests, not exactly the 3 the shards selected: not every selected test ran exactly once".to_string()),
            "{:?}",
            describe(&r)
        );

        // A whole run's report: what it recorded and what it did not run.
        let mut whole = testing::report(
            vec![record("p a", "passed"), record("p b", "passed")],
            "2025-01-01T10:00:00.000Z",
            1.0,
        );
        whole.not_run = vec!["p c".into()];
        whole.selection = Some(selection(&[], &all));
        let r = merge(named(vec![("run.json", whole.clone())])).unwrap();
        assert_eq!(info(&r).selection_gap, None);
        whole.not_run.clear();
        let r = merge(named(vec![("run.json", whole)])).unwrap();
        assert!(info(&r).selection_gap.is_some() && !r.complete);
    }

    #[test]
    fn the_merge_info_reads_back() {
        let a = shard(1, 2, &[("p a", "passed")]);
        let r = merge(named(vec![("a.json", a)])).unwrap();
        let text = serde_json::to_string(&r).unwrap();
        let back = crate::report::load::parse(&text).unwrap();
        assert_eq!(back.merged, r.merged);
        assert_eq!(serde_json::to_string(&back).unwrap(), text);
    }
}
