//! Why a run fails or only warns, said once for every output: the
//! [`Verdict`] of a report under the run's [`Policy`] (`--budgets`,
//! `--flaky-fails`). JUnit, GitHub's annotations and step summary, the
//! HTML page, the terminal and the last event all read it, so that none
//! of them can call a run green that exited red.

use super::human::count;
use super::{Attempt, Metric, Outcome, Report, Settings, TestRecord};
use serde::{Deserialize, Serialize};

/// Why a selected test has no record: it never ran.
pub const NOT_RUN: &str =
    "did not run: the run stopped before it (--fail-fast, --max-fail or a signal)";

/// What the run's settings make of what does not fail a test by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// A broken budget or a regression fails the run (`--budgets fail`,
    /// the default); otherwise it is a warning.
    pub budgets_fail: bool,
    /// A flaky test fails the run (`--flaky-fails`); otherwise it is a
    /// warning.
    pub flaky_fails: bool,
    /// A run that selected no test fails (`--no-tests fail`, the
    /// default); otherwise it is a warning.
    #[serde(default = "yes")]
    pub no_tests_fail: bool,
}

fn yes() -> bool {
    true
}

impl Default for Policy {
    /// As a run without `--budgets` or `--flaky-fails` judges.
    fn default() -> Policy {
        Policy {
            budgets_fail: true,
            flaky_fails: false,
            no_tests_fail: true,
        }
    }
}

/// Whether a finding fails the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Failure,
    Warning,
}

/// What a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Cause {
    /// The test did not pass: it failed, timed out, was OOM-killed or
    /// killed by a signal, or its sandbox could not be made.
    Outcome { outcome: Outcome },
    /// It passed over one of its budgets.
    OverBudget { metric: Metric },
    /// It grew past a threshold against the baseline.
    Regressed { metric: Metric },
    /// It failed, then passed on a retry.
    Flaky,
    /// Selected tests never ran: the run stopped early.
    NotRun { tests: usize },
    /// The run stopped before its tests finished, and no test that did not
    /// run is named.
    Interrupted,
    /// No test was selected.
    NoTests,
    /// The reports `report merge` was given do not add up to one run.
    SharesMissing,
    /// The run ended with an exit code nothing in the report explains (the
    /// runner's own failure).
    ExitCode { code: u8 },
}

/// One reason the run fails or warns.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    #[serde(flatten)]
    pub cause: Cause,
    /// The test it is about; absent: the run as a whole.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The test's index in the report's records.
    #[serde(skip)]
    pub test: Option<usize>,
    /// Why, in one line (the test's own text, unescaped).
    pub message: String,
}

/// Every finding of a run: those of each test in the order of the
/// report's records, then those of the run as a whole.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub policy: Policy,
    pub findings: Vec<Finding>,
}

impl Verdict {
    /// The verdict of `report` under `policy`.
    pub fn of(report: &Report, policy: Policy) -> Verdict {
        let mut findings = Vec::new();
        for (i, t) in report.tests.iter().enumerate() {
            test_findings(t, i, &report.settings, policy, &mut findings);
        }
        let run = |cause, message: String| Finding {
            severity: Severity::Failure,
            cause,
            id: None,
            test: None,
            message,
        };
        let not_run = report.not_run.len();
        if not_run > 0 {
            findings.push(run(
                Cause::NotRun { tests: not_run },
                format!(
                    "{} did not run: the run stopped early (--fail-fast, --max-fail or a signal)",
                    count(not_run, "selected test", "selected tests")
                ),
            ));
        } else if !report.complete {
            findings.push(run(
                Cause::Interrupted,
                "the run stopped before its tests finished: the report is incomplete".into(),
            ));
        } else if report.tests.is_empty() {
            let mut none = run(Cause::NoTests, "no tests ran".into());
            if !policy.no_tests_fail {
                none.severity = Severity::Warning;
            }
            findings.push(none);
        }
        if report.merged.as_ref().is_some_and(|m| !m.adds_up()) {
            findings.push(run(
                Cause::SharesMissing,
                "the merged reports do not add up to one run: a share is missing or given \
                 twice, or a test is missing or recorded twice"
                    .into(),
            ));
        }
        Verdict { policy, findings }
    }

    /// The verdict of a run that ended with `exit_code`: a failing exit
    /// code the report does not explain (the runner's own error) is a
    /// finding too, so that no output calls that run green.
    pub fn with_exit_code(mut self, exit_code: u8) -> Verdict {
        if exit_code != 0 && !self.fails() {
            self.findings.push(Finding {
                severity: Severity::Failure,
                cause: Cause::ExitCode { code: exit_code },
                id: None,
                test: None,
                message: format!("the run ended with exit code {exit_code}"),
            });
        }
        self
    }

    /// Whether anything fails the run.
    pub fn fails(&self) -> bool {
        self.failures().next().is_some()
    }

    pub fn failures(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Failure)
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Warning)
    }

    /// The findings of the report's `index`-th test record.
    pub fn of_test(&self, index: usize) -> &[Finding] {
        // Per-test findings come first, in record order.
        let start = self
            .findings
            .partition_point(|f| f.test.is_some_and(|t| t < index));
        let len = self.findings[start..]
            .iter()
            .take_while(|f| f.test == Some(index))
            .count();
        &self.findings[start..start + len]
    }

    /// The findings about the run as a whole.
    pub fn of_run(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.test.is_none())
    }

    /// "failed", "passed with warnings" or "passed".
    pub fn word(&self) -> &'static str {
        match (self.fails(), self.warnings().next().is_some()) {
            (true, _) => "failed",
            (false, true) => "passed with warnings",
            (false, false) => "passed",
        }
    }

    /// What fails the run, counted: "1 test failed, 2 tests over budget".
    pub fn failure_counts(&self) -> String {
        counts(self.failures(), self.policy)
    }

    /// What only warns, counted: "1 flaky test, 1 test over budget".
    pub fn warning_counts(&self) -> String {
        counts(self.warnings(), self.policy)
    }

    /// The verdict in one line: "failed: 1 test over budget (--budgets
    /// fail)", "passed with warnings: 1 flaky test", "passed".
    pub fn headline(&self) -> String {
        let (failures, warnings) = (self.failure_counts(), self.warning_counts());
        match (failures.is_empty(), warnings.is_empty()) {
            (true, true) => self.word().into(),
            (true, false) => format!("{}: {warnings}", self.word()),
            (false, true) => format!("{}: {failures}", self.word()),
            (false, false) => format!("{}: {failures}; warnings: {warnings}", self.word()),
        }
    }
}

/// One test's findings, in the order outputs list them.
fn test_findings(
    t: &TestRecord,
    index: usize,
    settings: &Settings,
    policy: Policy,
    out: &mut Vec<Finding>,
) {
    let mut add = |severity, cause, message| {
        out.push(Finding {
            severity,
            cause,
            id: Some(t.id.clone()),
            test: Some(index),
            message,
        })
    };
    let soft = |fails: bool| match fails {
        true => Severity::Failure,
        false => Severity::Warning,
    };
    if !t.outcome.is_success() {
        add(
            Severity::Failure,
            Cause::Outcome { outcome: t.outcome },
            t.reason(settings),
        );
    }
    if t.flaky {
        add(
            soft(policy.flaky_fails),
            Cause::Flaky,
            flaky_message(t, settings, policy.flaky_fails),
        );
    }
    for &metric in &t.over_budget {
        add(
            soft(policy.budgets_fail),
            Cause::OverBudget { metric },
            format!("over its {metric} budget: {}", t.budget_line(metric)),
        );
    }
    for r in &t.regressions {
        add(
            soft(policy.budgets_fail),
            Cause::Regressed { metric: r.metric },
            format!("regressed against the baseline: {}", r.describe()),
        );
    }
}

/// "flaky: failed on attempt 1 (panicked: boom), passed on attempt 2 of 2".
fn flaky_message(t: &TestRecord, settings: &Settings, fails: bool) -> String {
    let failed: Vec<&Attempt> = t
        .attempts
        .iter()
        .filter(|a| !a.outcome.is_success())
        .collect();
    let numbers: Vec<String> = failed.iter().map(|a| a.attempt.to_string()).collect();
    let first = failed
        .first()
        .map(|a| format!(" ({})", t.of_attempt(a).reason(settings)))
        .unwrap_or_default();
    let which = match numbers.len() {
        0 => "failed".to_string(),
        1 => format!("failed on attempt {}{first}", numbers[0]),
        _ => format!(
            "failed on attempts {}{}",
            numbers.join(", "),
            first.replacen(" (", " (the first: ", 1)
        ),
    };
    let mut m = format!(
        "flaky: {which}, passed on attempt {} of {}",
        t.last_attempt(),
        t.attempts.len().max(1)
    );
    if fails {
        m += "; --flaky-fails fails the run";
    }
    m
}

/// "1 test failed, 1 test timed out, 2 tests over budget (--budgets
/// fail)": each kind of finding once, its tests counted.
fn counts<'a>(findings: impl Iterator<Item = &'a Finding>, policy: Policy) -> String {
    // Kinds in a fixed order; a test with two broken budgets counts once.
    let mut outcomes: Vec<(Outcome, usize)> = Vec::new();
    let (mut over, mut regressed, mut flaky) = (Vec::new(), Vec::new(), Vec::new());
    let mut run = Vec::new();
    for f in findings {
        match f.cause {
            Cause::Outcome { outcome } => match outcomes.iter_mut().find(|(o, _)| *o == outcome) {
                Some((_, n)) => *n += 1,
                None => outcomes.push((outcome, 1)),
            },
            Cause::OverBudget { .. } => over.push(f.test),
            Cause::Regressed { .. } => regressed.push(f.test),
            Cause::Flaky => flaky.push(f.test),
            Cause::NotRun { tests } => {
                run.push(format!("{} not run", count(tests, "test", "tests")))
            }
            Cause::Interrupted => run.push("the run was interrupted".into()),
            Cause::NoTests => run.push("no tests ran".into()),
            Cause::SharesMissing => run.push("shares missing".into()),
            Cause::ExitCode { code } => run.push(format!("exit code {code}")),
        }
    }
    let distinct = |mut v: Vec<Option<usize>>| {
        v.dedup();
        v.len()
    };
    let mut parts: Vec<String> = outcomes
        .iter()
        .map(|(o, n)| format!("{} {}", count(*n, "test", "tests"), outcome_words(*o)))
        .collect();
    let budgets = if policy.budgets_fail { "fail" } else { "warn" };
    let n = distinct(over);
    if n > 0 {
        parts.push(format!(
            "{} over budget (--budgets {budgets})",
            count(n, "test", "tests")
        ));
    }
    let n = distinct(regressed);
    if n > 0 {
        parts.push(format!(
            "{} regressed (--budgets {budgets})",
            count(n, "test", "tests")
        ));
    }
    let n = distinct(flaky);
    if n > 0 {
        let note = if policy.flaky_fails {
            " (--flaky-fails)"
        } else {
            ""
        };
        parts.push(format!("{}{note}", count(n, "flaky test", "flaky tests")));
    }
    parts.extend(run);
    parts.join(", ")
}

/// "failed", "timed out", "killed by a signal"...: after "1 test".
fn outcome_words(o: Outcome) -> &'static str {
    match o {
        Outcome::Failed => "failed",
        Outcome::TimedOut => "timed out",
        Outcome::OomKilled => "OOM-killed",
        Outcome::Signaled => "killed by a signal",
        Outcome::SetupError => "not started (setup error)",
        Outcome::Passed => "passed",
        Outcome::Ignored => "ignored",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testing;
    use crate::model::{Budgets, Regression};

    fn record(name: &str, outcome: &'static str) -> TestRecord {
        let mut t = TestRecord::new(format!("p {name}"), "p", "p", "lib", Some(name.into()));
        t.outcome = outcome.into();
        t
    }

    fn over_memory(name: &str) -> TestRecord {
        let mut t = record(name, "passed");
        t.budgets = Some(Budgets {
            memory_bytes: Some(1 << 20),
            ..Budgets::default()
        });
        t.peak_memory_bytes = Some(3 << 20);
        t.over_budget = vec![Metric::Memory];
        t
    }

    fn flaky(name: &str) -> TestRecord {
        let mut first = record(name, "failed");
        first.exit_code = Some(101);
        first.panic_message = Some("boom".into());
        let mut t = record(name, "passed");
        t.flaky = true;
        t.attempt = Some(2);
        t.attempts = vec![Attempt::of(&first, 1, 1024), Attempt::of(&t, 2, 1024)];
        t
    }

    fn report(tests: Vec<TestRecord>) -> Report {
        testing::report(tests, "2025-01-01T00:00:00.000Z", 1.0)
    }

    fn warn_all() -> Policy {
        Policy {
            budgets_fail: false,
            flaky_fails: false,
            no_tests_fail: false,
        }
    }

    #[test]
    fn a_budget_alone_fails_the_run_unless_warned() {
        let r = report(vec![record("ok", "passed"), over_memory("big")]);
        let v = Verdict::of(&r, Policy::default());
        assert!(v.fails());
        assert_eq!(v.headline(), "failed: 1 test over budget (--budgets fail)");
        let f = &v.findings[0];
        assert_eq!(f.id.as_deref(), Some("p big"));
        assert_eq!(
            f.message,
            "over its memory budget: peak memory 3.0 MiB, budget 1.0 MiB"
        );
        let v = Verdict::of(&r, warn_all());
        assert!(!v.fails());
        assert_eq!(v.word(), "passed with warnings");
        assert_eq!(v.findings[0].severity, Severity::Warning);
        assert_eq!(
            v.headline(),
            "passed with warnings: 1 test over budget (--budgets warn)"
        );
    }

    #[test]
    fn flaky_tests_warn_or_fail_with_their_attempts() {
        let r = report(vec![flaky("f")]);
        let v = Verdict::of(&r, Policy::default());
        assert!(!v.fails());
        assert_eq!(
            v.findings[0].message,
            "flaky: failed on attempt 1 (panicked: boom), passed on attempt 2 of 2"
        );
        assert_eq!(v.headline(), "passed with warnings: 1 flaky test");
        let strict = Policy {
            flaky_fails: true,
            ..Policy::default()
        };
        let v = Verdict::of(&r, strict);
        assert!(v.fails());
        assert_eq!(v.headline(), "failed: 1 flaky test (--flaky-fails)");
        assert!(
            v.findings[0]
                .message
                .ends_with("; --flaky-fails fails the run")
        );
    }

    #[test]
    fn failures_regressions_and_run_findings_are_counted_once_each() {
        let mut big = over_memory("big");
        big.over_budget.push(Metric::Time);
        big.regressions = vec![Regression {
            metric: Metric::Cpu,
            baseline: 10.0,
            now: 20.0,
            percent: 100.0,
        }];
        let mut failed = record("bad", "failed");
        failed.exit_code = Some(101);
        let mut r = report(vec![failed, big, record("slow", "timed_out")]);
        r.not_run = vec!["p later".into(), "p never".into()];
        r.complete = false;
        let v = Verdict::of(&r, Policy::default());
        assert_eq!(
            v.headline(),
            "failed: 1 test failed, 1 test timed out, 1 test over budget (--budgets fail), \
             1 test regressed (--budgets fail), 2 tests not run"
        );
        // Each test's own, in record order, then the run's.
        assert_eq!(v.of_test(0).len(), 1);
        assert_eq!(v.of_test(1).len(), 3);
        assert_eq!(v.of_test(2)[0].message, "timed out after 3s");
        assert!(v.of_test(3).is_empty());
        let run: Vec<&Finding> = v.of_run().collect();
        assert_eq!(run.len(), 1);
        assert_eq!(run[0].cause, Cause::NotRun { tests: 2 });
    }

    #[test]
    fn an_exit_code_the_report_does_not_explain_is_a_failure() {
        let r = report(vec![record("ok", "passed")]);
        let v = Verdict::of(&r, Policy::default());
        assert_eq!(v.headline(), "passed");
        assert!(!v.clone().with_exit_code(0).fails());
        let v = v.with_exit_code(96);
        assert_eq!(v.headline(), "failed: exit code 96");
        // An exit code the findings explain adds nothing.
        let r = report(vec![record("bad", "failed")]);
        let v = Verdict::of(&r, Policy::default()).with_exit_code(100);
        assert_eq!(v.findings.len(), 1);
        // Reports merged that are not one run.
        let mut merged = report(vec![record("ok", "passed")]);
        merged.merged = Some(crate::model::merged::MergeInfo {
            missing: vec![2],
            ..Default::default()
        });
        let v = Verdict::of(&merged, Policy::default());
        assert_eq!(v.headline(), "failed: shares missing");
        // No tests, and a run stopped before its tests.
        let v = Verdict::of(&report(Vec::new()), Policy::default());
        assert_eq!(v.headline(), "failed: no tests ran");
        let mut r = report(Vec::new());
        r.complete = false;
        let v = Verdict::of(&r, Policy::default());
        assert_eq!(v.headline(), "failed: the run was interrupted");
    }

    #[test]
    fn findings_serialise_flat() {
        let v = Verdict::of(&report(vec![over_memory("big")]), Policy::default());
        let json = serde_json::to_value(&v).unwrap();
        assert_eq!(
            json["findings"][0],
            serde_json::json!({
                "severity": "failure",
                "kind": "over_budget",
                "metric": "memory",
                "id": "p big",
                "message": "over its memory budget: peak memory 3.0 MiB, budget 1.0 MiB",
            })
        );
        assert_eq!(
            json["policy"],
            serde_json::json!({"budgets_fail": true, "flaky_fails": false, "no_tests_fail": true})
        );
    }
}
