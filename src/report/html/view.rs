//! The data the page's script draws from: [`PageData`], a view of the
//! typed report (a model field renamed is a compile error here, not a
//! column gone quiet), with short keys to keep a 10,000-test page small and
//! nothing null written. Every figure comes with its text, written by the
//! same functions as the terminal's ([`human_bytes`], [`human_duration`]),
//! so the script formats no bytes or durations of its own.

use crate::model::{Cause, Finding, Metric, NOT_RUN, Severity, Verdict};
use crate::report::{Report, TestRecord, human_bytes, human_duration};
use serde::Serialize;
use std::collections::HashMap;

/// The most of a passing test's stdout and stderr kept in the page, each.
pub const PASSED_TAIL_BYTES: usize = 2 * 1024;
/// The most of a failing test's stdout and stderr kept in the page, each.
pub const FAILED_TAIL_BYTES: usize = 16 * 1024;
/// Once failing tests' tails add up to this, the next ones are cut to
/// [`PASSED_TAIL_BYTES`] too: a run where everything failed stays openable.
pub const FAILED_TAILS_TOTAL_BYTES: usize = 32 << 20;

/// The page's data, in `<script type="application/json" id="isolate-data">`.
#[derive(Debug, Serialize)]
pub struct PageData<'a> {
    /// A baseline was given: the page has the columns and the section of
    /// what changed.
    pub baseline: bool,
    /// The run's memory limit: a test's own is shown where it differs.
    pub memory_max: Option<u64>,
    /// The run's timeout: a test's own is shown where it differs.
    pub timeout_ms: Option<u64>,
    /// A row per test record, then one per test that did not run.
    pub tests: Vec<Row<'a>>,
}

/// A figure and how it reads: `[1269760,"1.2 MiB"]`. The script sorts,
/// compares and draws with the number and shows the text.
#[derive(Debug, Serialize, PartialEq)]
pub struct Shown<N>(pub N, pub String);

impl Shown<u64> {
    fn bytes(b: u64) -> Self {
        Shown(b, human_bytes(b))
    }

    /// A configured duration (a limit, a budget): "3s", "250ms".
    fn limit_ms(ms: u64) -> Self {
        Shown(ms, human_duration(ms))
    }
}

impl Shown<f64> {
    /// A measured duration: "12.5 ms", "1.234 s"; the number to the
    /// microsecond, which is all a page sorts and draws by (and the
    /// shortest JSON).
    fn ms(ms: f64) -> Self {
        Shown((ms * 1000.0).round() / 1000.0, measured_ms(ms))
    }
}

/// One test's row, keys short (a 10,000-test page repeats each 10,000
/// times).
#[derive(Debug, Default, Serialize)]
pub struct Row<'a> {
    #[serde(rename = "i")]
    pub id: &'a str,
    #[serde(rename = "o")]
    pub outcome: &'static str,
    /// Which attempt the figures are from, when there was more than one.
    #[serde(rename = "a", skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    /// It failed, then passed on a retry.
    #[serde(rename = "fl", skip_serializing_if = "std::ops::Not::not")]
    pub flaky: bool,
    /// Each attempt of a retried test, in order; the last one's output is
    /// the row's own.
    #[serde(rename = "at", skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<AttemptRow>,
    /// What the run's verdict says of it besides its outcome (a broken
    /// budget, a regression, flakiness): whether it fails the run or
    /// warns, and why.
    #[serde(rename = "v", skip_serializing_if = "Vec::is_empty")]
    pub verdict: Vec<(Severity, String)>,
    #[serde(rename = "d", skip_serializing_if = "Option::is_none")]
    pub duration: Option<Shown<f64>>,
    #[serde(rename = "c", skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Shown<f64>>,
    #[serde(rename = "m", skip_serializing_if = "Option::is_none")]
    pub peak_memory: Option<Shown<u64>>,
    #[serde(rename = "lm", skip_serializing_if = "Option::is_none")]
    pub memory_limit: Option<Shown<u64>>,
    #[serde(rename = "lt", skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Shown<u64>>,
    #[serde(rename = "bm", skip_serializing_if = "Option::is_none")]
    pub memory_budget: Option<Shown<u64>>,
    #[serde(rename = "bt", skip_serializing_if = "Option::is_none")]
    pub time_budget: Option<Shown<u64>>,
    #[serde(rename = "bc", skip_serializing_if = "Option::is_none")]
    pub cpu_budget: Option<Shown<u64>>,
    /// The budgets it broke: "memory", "time", "cpu".
    #[serde(rename = "ob", skip_serializing_if = "<[_]>::is_empty")]
    pub over_budget: &'a [Metric],
    /// What grew past its threshold against the run's baseline, and by
    /// how many percent.
    #[serde(rename = "rg", skip_serializing_if = "Vec::is_empty")]
    pub regressions: Vec<(Metric, f64)>,
    /// Why it did not pass ([`TestRecord::reason`]); absent when it did.
    #[serde(rename = "r", skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(rename = "so", skip_serializing_if = "Option::is_none")]
    pub stdout: Option<Output>,
    #[serde(rename = "se", skip_serializing_if = "Option::is_none")]
    pub stderr: Option<Output>,
    /// What an expanded row shows besides.
    #[serde(rename = "x", skip_serializing_if = "Details::is_empty")]
    pub details: Details<'a>,
    /// Killed at its timeout: where each of its threads was.
    #[serde(rename = "hg", skip_serializing_if = "Option::is_none")]
    pub hang: Option<HangRow<'a>>,
    /// Its figures in the baseline; absent: not in it.
    #[serde(rename = "p", skip_serializing_if = "Option::is_none")]
    pub before: Option<Before>,
}

/// One attempt of a retried test.
#[derive(Debug, Serialize)]
pub struct AttemptRow {
    #[serde(rename = "n")]
    pub attempt: u32,
    #[serde(rename = "o")]
    pub outcome: &'static str,
    #[serde(rename = "d", skip_serializing_if = "Option::is_none")]
    pub duration: Option<Shown<f64>>,
    /// Why it did not pass; absent when it did.
    #[serde(rename = "r", skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(rename = "st", skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(rename = "so", skip_serializing_if = "Option::is_none")]
    pub stdout: Option<Output>,
    #[serde(rename = "se", skip_serializing_if = "Option::is_none")]
    pub stderr: Option<Output>,
}

/// A hung test's threads, as the terminal says them (one line each, by
/// [`crate::model::HungThread::line`]) with each one's stack.
#[derive(Debug, Serialize)]
pub struct HangRow<'a> {
    /// "3 threads, stacks by eu-stack, read in 29 ms".
    #[serde(rename = "h")]
    pub head: String,
    #[serde(rename = "t")]
    pub threads: Vec<HangThreadRow<'a>>,
    /// Why stacks or threads are missing.
    #[serde(rename = "n", skip_serializing_if = "Option::is_none")]
    pub note: Option<&'a str>,
}

#[derive(Debug, Serialize)]
pub struct HangThreadRow<'a> {
    #[serde(rename = "l")]
    pub line: String,
    /// Innermost frame first.
    #[serde(rename = "s", skip_serializing_if = "<[_]>::is_empty")]
    pub stack: &'a [String],
}

impl<'a> HangRow<'a> {
    fn of(hang: &'a crate::model::Hang) -> HangRow<'a> {
        let total = hang.threads.len() as u64 + hang.threads_omitted;
        let mut head = format!("{total} thread{}", if total == 1 { "" } else { "s" });
        if hang.threads_omitted > 0 {
            head += &format!(" ({} kept)", hang.threads.len());
        }
        if let Some(d) = &hang.debugger {
            head += &format!(", stacks by {d}");
        }
        head += &format!(", read in {:.0} ms", hang.inspect_ms);
        HangRow {
            head,
            threads: hang
                .threads
                .iter()
                .map(|t| HangThreadRow {
                    line: t.line(),
                    stack: &t.stack,
                })
                .collect(),
            note: hang.note.as_deref(),
        }
    }
}

/// The tail of one output stream.
#[derive(Debug, Serialize, PartialEq)]
pub struct Output {
    /// The text kept: its tail, at most the row's share.
    #[serde(rename = "t", skip_serializing_if = "String::is_empty")]
    pub text: String,
    /// When it was cut: "the last 2.0 KiB of 40.0 KiB".
    #[serde(rename = "n", skip_serializing_if = "Option::is_none")]
    pub cut: Option<String>,
    /// libtest's progress lines were left out (of a passing test's stdout).
    #[serde(rename = "l", skip_serializing_if = "std::ops::Not::not")]
    pub libtest_left_out: bool,
}

/// The figures and facts only an expanded row shows.
#[derive(Debug, Default, Serialize)]
pub struct Details<'a> {
    #[serde(rename = "bid", skip_serializing_if = "str::is_empty")]
    pub binary_id: &'a str,
    #[serde(rename = "k", skip_serializing_if = "str::is_empty")]
    pub kind: &'a str,
    #[serde(rename = "sig", skip_serializing_if = "Option::is_none")]
    pub signal: Option<&'a str>,
    #[serde(rename = "pl", skip_serializing_if = "Option::is_none")]
    pub panic_location: Option<&'a str>,
    #[serde(rename = "st", skip_serializing_if = "Option::is_none")]
    pub started_at: Option<&'a str>,
    #[serde(rename = "ec", skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(rename = "rss", skip_serializing_if = "Option::is_none")]
    pub peak_rss: Option<Shown<u64>>,
    #[serde(rename = "pids", skip_serializing_if = "Option::is_none")]
    pub pids_peak: Option<u64>,
    /// The limits as text, "(not enforced)" where no cgroup set them.
    #[serde(rename = "lp", skip_serializing_if = "Option::is_none")]
    pub pids_limit: Option<String>,
    #[serde(rename = "lc", skip_serializing_if = "Option::is_none")]
    pub cpus_limit: Option<String>,
}

impl Details<'_> {
    fn is_empty(&self) -> bool {
        self.binary_id.is_empty()
            && self.kind.is_empty()
            && self.signal.is_none()
            && self.panic_location.is_none()
            && self.started_at.is_none()
            && self.exit_code.is_none()
            && self.peak_rss.is_none()
            && self.pids_peak.is_none()
            && self.pids_limit.is_none()
            && self.cpus_limit.is_none()
    }
}

/// A test's peak memory, time and CPU in the baseline; of a test that ran
/// there more than once, the largest of each.
#[derive(Debug, Default, Serialize, PartialEq)]
pub struct Before(
    pub Option<Shown<u64>>,
    pub Option<Shown<f64>>,
    pub Option<Shown<f64>>,
);

/// The page's data for `report` under its `verdict`, compared with
/// `baseline` when given.
pub fn page_data<'a>(
    report: &'a Report,
    baseline: Option<&Report>,
    verdict: &Verdict,
) -> PageData<'a> {
    let before = baseline.map(figures_by_id);
    let mut failed_left = FAILED_TAILS_TOTAL_BYTES;
    let mut tests: Vec<Row> = report
        .tests
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let findings = verdict.of_test(i);
            row(t, report, findings, before.as_ref(), &mut failed_left)
        })
        .collect();
    tests.extend(report.not_run.iter().map(|id| Row {
        id,
        outcome: "not_run",
        reason: Some(NOT_RUN.into()),
        ..Row::default()
    }));
    PageData {
        baseline: baseline.is_some(),
        memory_max: report.settings.memory_max,
        timeout_ms: report.settings.timeout_ms,
        tests,
    }
}

/// The outcome's name: the one place the page reads a record's outcome.
pub fn outcome(t: &TestRecord) -> &'static str {
    t.outcome.as_str()
}

fn row<'a>(
    t: &'a TestRecord,
    report: &Report,
    findings: &[Finding],
    before: Option<&HashMap<&str, [Option<f64>; 3]>>,
    failed_left: &mut usize,
) -> Row<'a> {
    let outcome = outcome(t);
    let passed = matches!(outcome, "passed" | "ignored");
    let budgets = t.budgets.unwrap_or_default();
    // The output tails: a failing test's longer while the page has room.
    let max = if !passed && *failed_left >= 2 * FAILED_TAIL_BYTES {
        FAILED_TAIL_BYTES
    } else {
        PASSED_TAIL_BYTES
    };
    let mut tail_of = |full: &str, strip_libtest: bool| {
        let out = output(full, max, strip_libtest && outcome == "passed");
        if !passed && let Some(o) = &out {
            *failed_left = failed_left.saturating_sub(o.text.len());
        }
        out
    };
    let stderr = tail_of(&t.stderr, false);
    let stdout = tail_of(&t.stdout, true);
    // The earlier attempts' tails: a failed one's as long as a failing
    // test's while the page has room.
    let last = t.attempts.len().saturating_sub(1);
    let attempts = t
        .attempts
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let failed = !a.outcome.is_success();
            let max = match failed && *failed_left >= 2 * FAILED_TAIL_BYTES {
                true => FAILED_TAIL_BYTES,
                false => PASSED_TAIL_BYTES,
            };
            let mut tail_of = |full: &str| {
                let out = output(full, max, false).filter(|_| i < last);
                if failed && let Some(o) = &out {
                    *failed_left = failed_left.saturating_sub(o.text.len());
                }
                out
            };
            AttemptRow {
                attempt: a.attempt,
                outcome: a.outcome.as_str(),
                duration: a.duration_ms.map(Shown::ms),
                reason: failed.then(|| t.of_attempt(a).reason(&report.settings)),
                started_at: a.started_at.clone(),
                stderr: tail_of(&a.stderr),
                stdout: tail_of(&a.stdout),
            }
        })
        .collect();
    Row {
        id: &t.id,
        outcome,
        attempt: t.attempt,
        flaky: t.flaky,
        attempts,
        verdict: findings
            .iter()
            .filter(|f| !matches!(f.cause, Cause::Outcome { .. }))
            .map(|f| (f.severity, f.message.clone()))
            .collect(),
        duration: t.duration_ms.map(Shown::ms),
        cpu: t.cpu_ms.map(Shown::ms),
        peak_memory: t.peak_memory_bytes.map(Shown::bytes),
        memory_limit: t
            .limits
            .memory_max
            .map(|m| Shown(m, held(human_bytes(m), t.limits.enforced.memory_max))),
        timeout: t.limits.timeout_ms.map(Shown::limit_ms),
        memory_budget: budgets.memory_bytes.map(Shown::bytes),
        time_budget: budgets.time_ms.map(Shown::limit_ms),
        cpu_budget: budgets.cpu_ms.map(Shown::limit_ms),
        over_budget: &t.over_budget,
        regressions: t
            .regressions
            .iter()
            .map(|g| (g.metric, g.percent))
            .collect(),
        reason: (!passed).then(|| t.reason(&report.settings)),
        stdout,
        stderr,
        details: Details {
            binary_id: &t.binary_id,
            kind: &t.kind,
            signal: t.signal.as_deref(),
            panic_location: t.panic_location.as_deref(),
            started_at: t.started_at.as_deref(),
            exit_code: t.exit_code,
            peak_rss: t.peak_rss_bytes.map(Shown::bytes),
            pids_peak: t.pids_peak,
            pids_limit: t
                .limits
                .pids_max
                .map(|p| held(p.to_string(), t.limits.enforced.pids_max)),
            cpus_limit: t
                .limits
                .cpus
                .map(|c| held(c.to_string(), t.limits.enforced.cpus)),
        },
        hang: t.hang.as_ref().map(HangRow::of),
        before: before.and_then(|b| b.get(t.id.as_str())).map(|[m, d, c]| {
            Before(
                m.map(|m| Shown::bytes(m as u64)),
                d.map(Shown::ms),
                c.map(Shown::ms),
            )
        }),
    }
}

/// The tail of one stream, at most `max` bytes, and what was cut; without
/// libtest's progress lines when `strip_libtest` and it has them. `None`
/// when there is nothing to show or say.
fn output(full: &str, max: usize, strip_libtest: bool) -> Option<Output> {
    let stripped = strip_libtest.then(|| without_libtest_lines(full)).flatten();
    let source = stripped.as_deref().unwrap_or(full);
    let text = tail(source, max);
    let cut = (text.len() != source.len()).then(|| {
        format!(
            "the last {} of {}",
            human_bytes(text.len() as u64),
            human_bytes(source.len() as u64)
        )
    });
    let out = Output {
        text: text.to_string(),
        cut,
        libtest_left_out: stripped.is_some(),
    };
    (!out.text.is_empty() || out.libtest_left_out).then_some(out)
}

/// A baseline's peak memory, time and CPU by test id; of a test that ran
/// more than once (--repeat), the largest of each.
fn figures_by_id(base: &Report) -> HashMap<&str, [Option<f64>; 3]> {
    let mut by_id: HashMap<&str, [Option<f64>; 3]> = HashMap::new();
    for t in &base.tests {
        let now = [
            t.peak_memory_bytes.map(|b| b as f64),
            t.duration_ms,
            t.cpu_ms,
        ];
        let e = by_id.entry(&t.id).or_insert(now);
        for (old, new) in e.iter_mut().zip(now) {
            *old = match (*old, new) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
        }
    }
    by_id
}

/// Stdout without libtest's progress lines ("running 1 test", "test x ...
/// ok", "test result: ok. ..."), and without blank lines at either end;
/// `None` when it has none of them.
fn without_libtest_lines(s: &str) -> Option<String> {
    let libtest = |l: &str| {
        let l = l.trim_end_matches('\r');
        (l.starts_with("running ") && (l.ends_with(" test") || l.ends_with(" tests")))
            || (l.starts_with("test ") && l.ends_with(" ... ok"))
            || l.starts_with("test result: ok.")
    };
    if !s.split('\n').any(libtest) {
        return None;
    }
    let kept: Vec<&str> = s.split('\n').filter(|l| !libtest(l)).collect();
    let start = kept.iter().position(|l| !l.trim().is_empty());
    let end = kept.iter().rposition(|l| !l.trim().is_empty());
    Some(match (start, end) {
        (Some(a), Some(b)) => kept[a..=b].join("\n") + "\n",
        _ => String::new(),
    })
}

/// The last `max` bytes of `s` or a little less: cut at a character, and at
/// a line when one starts soon after.
fn tail(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    if let Some(nl) = s[start..]
        .find('\n')
        .filter(|&n| n < 200 && n + 1 < s.len() - start)
    {
        start += nl + 1;
    }
    &s[start..]
}

/// A measured duration: "12.5 ms", "1.234 s", "2m 05s".
/// A limit's text, marked where it was set but no cgroup enforced it.
pub fn held(text: String, enforced: Option<bool>) -> String {
    match enforced {
        Some(false) => format!("{text} (not enforced)"),
        _ => text,
    }
}

pub fn measured_ms(ms: f64) -> String {
    if ms < 1000.0 {
        format!("{ms:.1} ms")
    } else if ms < 60_000.0 {
        format!("{:.3} s", ms / 1000.0)
    } else {
        let s = (ms / 1000.0).round() as u64;
        format!("{}m {:02}s", s / 60, s % 60)
    }
}

/// The data as the text of a `<script type="application/json">`: `<`, `>`,
/// `&`, U+2028 and U+2029 as `\uXXXX`, so it holds no `</script`, no `<!--`
/// and no JavaScript line terminator. Outside strings JSON has none of
/// these characters, so this only rewrites string contents, into escapes
/// that parse back to the same characters.
pub fn script_json(data: &impl Serialize) -> String {
    let s = serde_json::to_string(data).unwrap_or_else(|_| "null".into());
    let mut out = String::with_capacity(s.len() + s.len() / 32);
    for c in s.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}
