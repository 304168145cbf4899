//! The end-of-run summary on stderr, as cargo-nextest ends a run: the
//! heaviest and the slowest tests that passed, the summary line (only the
//! non-zero counts, coloured by the run's verdict, which follows when the
//! counts alone do not say it), how many tests did not run, then each test
//! that did not pass again, one line each with why, and each flaky test
//! with its failed attempts. Failures' output was shown as they failed
//! (progress.rs); the JSON report keeps all of it. Text from the tests
//! (ids, reasons) is escaped for the terminal.

use super::escape::for_terminal_line;
use super::progress::{outcome_style, status_line, word};
use super::{Report, TestRecord, count, human_bytes};
use crate::model::{Cause, Outcome, Verdict};
use console::Style;

/// Rows of the memory and time tables.
const TABLE_ROWS: usize = 5;
/// Ids of tests that did not run listed by name.
const NOT_RUN_LISTED: usize = 10;

/// The end of a run on the terminal: the heaviest and slowest tests that
/// passed, the counts and the verdict, then each failure, flaky test,
/// broken budget, regression and test not run, as nextest's default
/// final status level lists them.
#[cfg(test)]
pub fn render(report: &Report, verdict: &Verdict) -> String {
    render_listing(report, verdict, Listed::default())
}

/// Which tests the end of a run lists again (`--final-status-level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listed {
    pub fail: bool,
    pub flaky: bool,
    pub skip: bool,
    pub pass: bool,
}

impl Default for Listed {
    /// nextest's default, `flaky`: failures and flaky tests.
    fn default() -> Listed {
        Listed {
            fail: true,
            flaky: true,
            skip: false,
            pass: false,
        }
    }
}

/// As [`render`], listing what `listed` asks for.
pub fn render_listing(report: &Report, verdict: &Verdict, listed: Listed) -> String {
    let mut out = tables(report);
    out += &totals(report, verdict);
    out += &listed_again(report, listed);
    out += &failures(report, listed);
    out += &stress_table(report);
    out += &budgets(report);
    out += &not_run(report);
    out
}

/// The heaviest and slowest tests. Only tests that passed: a failure's
/// figures are not what the test needs (a 33 MiB backtrace, a hang until
/// the timeout) and each failure is listed with its own figures.
fn tables(report: &Report) -> String {
    let mut out = String::new();
    let passed: Vec<&TestRecord> = report
        .tests
        .iter()
        .filter(|t| t.outcome == Outcome::Passed)
        .collect();
    let memory = |t: &TestRecord| t.peak_memory_bytes.or(t.peak_rss_bytes);
    let mut heavy: Vec<&TestRecord> = passed
        .iter()
        .copied()
        .filter(|t| memory(t).is_some())
        .collect();
    heavy.sort_by_key(|t| std::cmp::Reverse(memory(t)));
    if !heavy.is_empty() {
        out += "\nHighest peak memory (tests that passed):\n";
        for t in heavy.iter().take(TABLE_ROWS) {
            out += &format!(
                "  {:>10}  {}\n",
                human_bytes(memory(t).unwrap_or(0)),
                super::progress::styled_id(t)
            );
        }
    }
    let mut slow: Vec<&TestRecord> = passed
        .iter()
        .copied()
        .filter(|t| t.duration_ms.is_some())
        .collect();
    slow.sort_by(|a, b| {
        b.duration_ms
            .unwrap_or(0.0)
            .total_cmp(&a.duration_ms.unwrap_or(0.0))
    });
    if !slow.is_empty() {
        out += "\nSlowest (tests that passed):\n";
        for t in slow.iter().take(TABLE_ROWS) {
            out += &format!(
                "  {:>9.3}s  {}\n",
                t.duration_ms.unwrap_or(0.0) / 1000.0,
                super::progress::styled_id(t)
            );
        }
    }
    out
}

/// `     Summary [   1.988s] 7 tests run: 6 passed, 1 failed`, red when
/// the run fails; then `     Verdict failed: 1 test over budget` when no
/// test's outcome says why, or the run passed with warnings.
fn totals(report: &Report, verdict: &Verdict) -> String {
    let s = &report.summary;
    let summary_style = match verdict.fails() {
        false => outcome_style(Outcome::Passed),
        true => outcome_style(Outcome::Failed),
    };
    let runs = report
        .tests
        .iter()
        .filter_map(|t| t.stress.as_ref())
        .map(|st| st.runs)
        .sum();
    let mut out = "────────────\n".to_string();
    out += &format!(
        "{:>12} [{:>8.3}s] {}\n",
        summary_style.apply_to("Summary"),
        report.duration_ms / 1000.0,
        counts(s, runs)
    );
    if !report.not_run.is_empty() {
        out += &format!(
            "{:>12} {} not run (the run stopped early)\n",
            "",
            count(report.not_run.len(), "test", "tests")
        );
    }
    let unenforced = report.unenforced_limits();
    if !unenforced.is_empty() {
        out += &format!(
            "{:>12} not enforced: {} (no cgroup could set them; the tests ran without them)\n",
            Style::new().yellow().bold().for_stderr().apply_to("Limits"),
            unenforced.join(", ")
        );
    }
    let explained = verdict
        .failures()
        .any(|f| matches!(f.cause, Cause::Outcome { .. }));
    let warns = verdict.warnings().next().is_some();
    if (verdict.fails() && !explained) || (!verdict.fails() && warns) {
        let style = match verdict.fails() {
            true => outcome_style(Outcome::Failed),
            false => Style::new().yellow().bold().for_stderr(),
        };
        out += &format!("{:>12} {}\n", style.apply_to("Verdict"), verdict.headline());
    }
    out
}

/// The tests that passed or were skipped, a status line each, when asked.
fn listed_again(report: &Report, listed: Listed) -> String {
    report
        .tests
        .iter()
        .filter(|t| match t.outcome {
            Outcome::Passed => listed.pass,
            Outcome::Ignored => listed.skip,
            _ => false,
        })
        .map(|t| status_line(t, None) + "\n")
        .collect()
}

/// Each test that did not pass, with why; then each flaky one.
fn failures(report: &Report, listed: Listed) -> String {
    let mut out = String::new();
    let failed = report.tests.iter().filter(|t| !t.outcome.is_success());
    for t in failed.filter(|_| listed.fail) {
        let runs = match &t.stress {
            Some(s) => format!(
                " ({} of {} runs failed, the first: run {})",
                s.failures,
                s.runs,
                t.attempt.unwrap_or(1)
            ),
            None => String::new(),
        };
        out += &format!(
            "{}: {}{runs}\n",
            status_line(t, None),
            for_terminal_line(&t.reason(&report.settings))
        );
    }
    let flaky_style = Style::new().yellow().bold().for_stderr();
    for t in report.tests.iter().filter(|t| t.flaky && listed.flaky) {
        out += &format!(
            "{:>12} {}: passed on attempt {} of {}\n",
            flaky_style.apply_to("FLAKY"),
            super::progress::styled_id(t),
            t.last_attempt(),
            t.attempts.len()
        );
        // Each failed attempt: how it ended, in how long, and why.
        for a in t.attempts.iter().filter(|a| !a.outcome.is_success()) {
            let took = a
                .duration_ms
                .map(|d| format!(" [{:>8.3}s]", d / 1000.0))
                .unwrap_or_default();
            out += &format!(
                "{:>12}{took} {}\n",
                outcome_style(a.outcome).apply_to(format!(
                    "TRY {} {}",
                    a.attempt,
                    word(a.outcome, a.signal.as_deref())
                )),
                for_terminal_line(&t.of_attempt(a).reason(&report.settings))
            );
        }
    }
    out
}

/// Broken budgets, regressions, and the tests new or gone since the
/// baseline.
fn budgets(report: &Report) -> String {
    let mut out = String::new();
    let budget_style = Style::new().yellow().bold().for_stderr();
    for t in &report.tests {
        for what in &t.over_budget {
            out += &format!(
                "{:>12} {}: {}\n",
                budget_style.apply_to("OVER BUDGET"),
                for_terminal_line(&t.id),
                t.budget_line(*what)
            );
        }
        for r in &t.regressions {
            out += &format!(
                "{:>12} {}: {}\n",
                budget_style.apply_to("REGRESSED"),
                for_terminal_line(&t.id),
                r.describe()
            );
        }
    }
    if let Some(b) = &report.baseline
        && !(b.new_tests.is_empty() && b.gone_tests.is_empty())
    {
        out += &format!(
            "{:>12} {} new, {} gone since {}\n",
            "Baseline",
            count(b.new_tests.len(), "test", "tests"),
            count(b.gone_tests.len(), "test", "tests"),
            for_terminal_line(&b.path)
        );
    }
    out
}

/// The first tests a stop left out, by id.
fn not_run(report: &Report) -> String {
    let mut out = String::new();
    let not_run_style = Style::new().yellow().bold().for_stderr();
    for id in report.not_run.iter().take(NOT_RUN_LISTED) {
        out += &format!(
            "{:>12} {}\n",
            not_run_style.apply_to("NOT RUN"),
            for_terminal_line(id)
        );
    }
    if report.not_run.len() > NOT_RUN_LISTED {
        out += &format!(
            "{:>12} and {} more\n",
            "",
            report.not_run.len() - NOT_RUN_LISTED
        );
    }
    out
}

/// Under a stress run, one line per test: runs, failures, pass rate and
/// the spread of time and memory, failing tests first.
fn stress_table(report: &Report) -> String {
    let mut rows: Vec<&TestRecord> = report.tests.iter().filter(|t| t.stress.is_some()).collect();
    if rows.is_empty() {
        return String::new();
    }
    let rate = |t: &TestRecord| t.stress.as_ref().map(|s| s.pass_rate).unwrap_or(1.0);
    rows.sort_by(|a, b| rate(a).total_cmp(&rate(b)).then(a.id.cmp(&b.id)));
    let ms = |v: Option<f64>| v.map(|v| format!("{:.1}", v)).unwrap_or("-".into());
    let mib = |v: Option<f64>| {
        v.map(|v| format!("{:.1}", v / (1u64 << 20) as f64))
            .unwrap_or("-".into())
    };
    // With retries, flaky runs are a column: the pass rate counts first
    // attempts only.
    let retried = rows
        .iter()
        .any(|t| t.stress.as_ref().is_some_and(|s| s.flaky > 0));
    let mut out = String::from(match retried {
        true => {
            "\nStress (per test: runs, failed, flaky, pass rate at the first attempt; time ms and peak MiB as min/median/max):\n"
        }
        false => {
            "\nStress (per test: runs, failed, pass rate; time ms and peak MiB as min/median/max):\n"
        }
    });
    for t in rows {
        let Some(s) = &t.stress else { continue };
        let flaky = match retried {
            true => format!(" {:>5} flaky", s.flaky),
            false => String::new(),
        };
        let style = match s.failures {
            0 => outcome_style(Outcome::Passed),
            _ => outcome_style(Outcome::Failed),
        };
        out += &format!(
            "  {:>6} runs {:>5} failed{flaky} {} {:>17} ms {:>17} MiB  {}\n",
            s.runs,
            s.failures,
            style.apply_to(format!("{:>6.1}%", s.pass_rate * 100.0)),
            format!(
                "{}/{}/{}",
                ms(s.duration_ms.min),
                ms(s.duration_ms.median),
                ms(s.duration_ms.max)
            ),
            format!(
                "{}/{}/{}",
                mib(s.peak_memory_bytes.min),
                mib(s.peak_memory_bytes.median),
                mib(s.peak_memory_bytes.max)
            ),
            super::progress::styled_id(t)
        );
    }
    out
}

/// "14 tests run: 12 passed, 2 failed, 2 skipped": the non-zero counts only.
fn counts(s: &super::Summary, stress_runs: u64) -> String {
    let run = s.total - s.ignored;
    let parts: Vec<String> = [
        (s.passed, "passed".to_string()),
        (s.flaky, "flaky".into()),
        (s.failed, "failed".into()),
        (s.timed_out, "timed out".into()),
        (s.oom_killed, "OOM-killed".into()),
        (s.signaled, "killed by a signal".into()),
        (
            s.setup_error,
            match s.setup_error {
                1 => "setup error".into(),
                _ => "setup errors".into(),
            },
        ),
        (s.ignored, "skipped".into()),
        (s.over_budget, "over budget".into()),
        (s.regressed, "regressed".into()),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{n} {what}"))
    .collect();
    let mut line = format!("{} run", count(run, "test", "tests"));
    if stress_runs > 0 {
        line += &format!(" {stress_runs} times in all");
    }
    if !parts.is_empty() {
        line += ": ";
        line += &parts.join(", ");
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(tests: Vec<TestRecord>) -> Report {
        crate::report::testing::report(tests, "", 330.0)
    }

    /// The summary of `r` as a run without --budgets or --flaky-fails.
    fn render(r: &Report) -> String {
        super::render(r, &Verdict::of(r, crate::model::Policy::default()))
    }

    fn record(name: &str, outcome: &'static str) -> TestRecord {
        let mut t = TestRecord::new(
            format!("demo {name}"),
            "demo",
            "demo",
            "lib",
            Some(name.into()),
        );
        t.outcome = outcome.into();
        if outcome != "ignored" {
            t.duration_ms = Some(12.0);
            t.peak_memory_bytes = Some(1 << 20);
        }
        t
    }

    fn plain(s: &str) -> String {
        console::strip_ansi_codes(s).into_owned()
    }

    fn summary_line(out: &str) -> &str {
        out.lines()
            .find(|l| l.trim_start().starts_with("Summary"))
            .expect("a summary line")
    }

    #[test]
    fn the_summary_names_only_non_zero_counts() {
        let mut tests: Vec<TestRecord> = (0..12)
            .map(|i| record(&format!("tests::ok_{i}"), "passed"))
            .collect();
        tests.push(record("tests::bad_1", "failed"));
        tests.push(record("tests::bad_2", "failed"));
        tests.push(record("tests::later_1", "ignored"));
        tests.push(record("tests::later_2", "ignored"));
        let out = plain(&render(&report(tests)));
        assert_eq!(
            summary_line(&out),
            "     Summary [   0.330s] 14 tests run: 12 passed, 2 failed, 2 skipped"
        );
        let out = plain(&render(&report(vec![
            record("tests::a", "timed_out"),
            record("tests::b", "oom_killed"),
            record("tests::c", "setup_error"),
        ])));
        assert_eq!(
            summary_line(&out),
            "     Summary [   0.330s] 3 tests run: 1 timed out, 1 OOM-killed, 1 setup error"
        );
        assert!(!out.contains(" 0 "), "{out}");
    }

    /// Issue 24: the limits set but not enforced are named once, the
    /// run's and the tests' own together.
    #[test]
    fn limits_not_enforced_are_named() {
        let mut t = record("t", "passed");
        t.limits.pids_max = Some(64);
        t.limits.enforced.pids_max = Some(false);
        let mut r = report(vec![t]);
        r.settings.enforced.memory_max = Some(false);
        let out = plain(&render(&r));
        assert!(
            out.contains("Limits not enforced: memory_max, pids_max (no cgroup"),
            "{out}"
        );
        r.settings.enforced.memory_max = Some(true);
        r.tests[0].limits.enforced.pids_max = None;
        assert!(!plain(&render(&r)).contains("not enforced"));
    }

    #[test]
    fn plurals_follow_the_counts() {
        let out = plain(&render(&report(vec![record("tests::a", "passed")])));
        assert_eq!(
            summary_line(&out),
            "     Summary [   0.330s] 1 test run: 1 passed"
        );
        let out = plain(&render(&report(vec![
            record("tests::a", "setup_error"),
            record("tests::b", "setup_error"),
        ])));
        assert_eq!(
            summary_line(&out),
            "     Summary [   0.330s] 2 tests run: 2 setup errors"
        );
        let out = plain(&render(&report(vec![record("tests::a", "ignored")])));
        assert_eq!(
            summary_line(&out),
            "     Summary [   0.330s] 0 tests run: 1 skipped"
        );
    }

    #[test]
    fn failures_are_listed_after_the_summary_one_line_each() {
        let mut failed = record("tests::fails_on_purpose", "failed");
        failed.panic_message = Some("assertion failed".into());
        failed.stderr = "thread 'x' panicked at src/lib.rs:1:1:\nassertion failed\n".into();
        failed.stdout = "running 1 test\n".into();
        let mut segv = record("tests::crashes", "signaled");
        segv.signal = Some("SIGSEGV".into());
        let out = plain(&render(&report(vec![
            record("tests::adds", "passed"),
            failed,
            segv,
        ])));
        let after: Vec<&str> = out
            .lines()
            .skip_while(|l| !l.trim_start().starts_with("Summary"))
            .collect();
        assert_eq!(
            after,
            [
                "     Summary [   0.330s] 3 tests run: 1 passed, 1 failed, 1 killed by a signal",
                "        FAIL [   0.012s    1.0 MiB] demo tests::fails_on_purpose: panicked: assertion failed",
                "     SIGSEGV [   0.012s    1.0 MiB] demo tests::crashes: SIGSEGV",
            ]
        );
        // The output was shown when the test failed, not again.
        assert!(!out.contains("running 1 test"), "{out}");
        assert!(!out.contains("panicked at"), "{out}");
    }

    #[test]
    fn tests_not_run_are_counted_and_the_first_ten_named() {
        let mut r = report(vec![record("tests::fails", "failed")]);
        r.complete = false;
        r.not_run = (1..=13).map(|i| format!("demo tests::t{i}")).collect();
        let out = plain(&render(&r));
        let after: Vec<&str> = out
            .lines()
            .skip_while(|l| !l.trim_start().starts_with("Summary"))
            .collect();
        assert_eq!(after[0], "     Summary [   0.330s] 1 test run: 1 failed");
        assert_eq!(
            after[1],
            "             13 tests not run (the run stopped early)"
        );
        assert!(after[2].starts_with("        FAIL ["), "{out}");
        assert_eq!(after[3], "     NOT RUN demo tests::t1");
        assert_eq!(after[12], "     NOT RUN demo tests::t10");
        assert_eq!(after[13], "             and 3 more");
        assert_eq!(after.len(), 14, "{out}");
        r.not_run.truncate(1);
        let out = plain(&render(&r));
        assert!(out.contains("             1 test not run (the run stopped early)\n"));
        assert!(!out.contains("more"), "{out}");
    }

    /// A run that fails only on a budget, or passes with warnings, says
    /// its verdict under the counts, which do not show it.
    #[test]
    fn the_verdict_follows_the_counts_when_they_do_not_say_it() {
        let mut big = record("tests::big", "passed");
        big.budgets = Some(crate::model::Budgets {
            memory_bytes: Some(1 << 19),
            ..Default::default()
        });
        big.over_budget = vec!["memory".into()];
        let r = report(vec![big]);
        let out = plain(&render(&r));
        let after: Vec<&str> = out
            .lines()
            .skip_while(|l| !l.trim_start().starts_with("Summary"))
            .collect();
        assert_eq!(
            after[..3],
            [
                "     Summary [   0.330s] 1 test run: 1 passed, 1 over budget",
                "     Verdict failed: 1 test over budget (--budgets fail)",
                " OVER BUDGET demo tests::big: peak memory 1.0 MiB, budget 512.0 KiB",
            ]
        );
        let warn = crate::model::Policy {
            budgets_fail: false,
            ..Default::default()
        };
        let out = plain(&super::render(&r, &Verdict::of(&r, warn)));
        assert!(
            out.contains(
                "\n     Verdict passed with warnings: 1 test over budget (--budgets warn)\n"
            ),
            "{out}"
        );
        // A failed test says it itself: no verdict line.
        let out = plain(&render(&report(vec![record("tests::bad", "failed")])));
        assert!(!out.contains("Verdict"), "{out}");
    }

    /// A flaky test, then each of its failed attempts: how it ended, in
    /// how long, and why.
    #[test]
    fn flaky_tests_list_their_failed_attempts() {
        use crate::model::Attempt;
        let mut first = record("tests::flaky", "timed_out");
        first.duration_ms = Some(3000.0);
        let mut t = record("tests::flaky", "passed");
        t.flaky = true;
        t.attempt = Some(2);
        t.attempts = vec![Attempt::of(&first, 1, 64), Attempt::of(&t, 2, 64)];
        let out = plain(&render(&report(vec![t])));
        assert!(
            out.contains(
                "\n       FLAKY demo tests::flaky: passed on attempt 2 of 2\n\
                 TRY 1 TIMEOUT [   3.000s] timed out after 3s\n"
            ),
            "{out}"
        );
        assert!(out.contains("1 passed, 1 flaky"), "{out}");
        assert!(
            out.contains("     Verdict passed with warnings: 1 flaky test\n"),
            "{out}"
        );
    }

    #[test]
    fn nothing_about_tests_not_run_when_all_ran() {
        let out = plain(&render(&report(vec![record("tests::a", "passed")])));
        assert!(
            !out.contains("not run") && !out.contains("NOT RUN"),
            "{out}"
        );
    }

    #[test]
    fn the_tables_hold_only_tests_that_passed() {
        let mut big_backtrace = record("tests::fails_loudly", "failed");
        big_backtrace.peak_memory_bytes = Some(33 << 20);
        big_backtrace.duration_ms = Some(900.0);
        let mut light = record("tests::light", "passed");
        light.peak_memory_bytes = Some(2 << 20);
        let out = plain(&render(&report(vec![light, big_backtrace])));
        let memory = out
            .split("Highest peak memory (tests that passed):\n")
            .nth(1)
            .unwrap();
        let memory = memory.split("\n\n").next().unwrap();
        assert_eq!(memory, "     2.0 MiB  demo tests::light");
        let slowest = out.split("Slowest (tests that passed):\n").nth(1).unwrap();
        assert!(
            slowest.starts_with("      0.012s  demo tests::light\n────"),
            "{out}"
        );
        // The failure keeps its figures in its own line.
        assert!(
            out.contains("FAIL [   0.900s   33.0 MiB] demo tests::fails_loudly: failed\n"),
            "{out}"
        );
    }

    #[test]
    fn no_tables_without_rows() {
        let out = plain(&render(&report(vec![
            record("tests::bad", "failed"),
            record("tests::later", "ignored"),
        ])));
        assert!(!out.contains("Highest peak memory"), "{out}");
        assert!(!out.contains("Slowest"), "{out}");
        assert!(out.starts_with("────────────\n     Summary"), "{out}");
    }

    #[test]
    fn text_from_tests_is_escaped() {
        let mut t = TestRecord::new("p::b::evil\x1b]0;pwned\x07".into(), "p", "b", "test", None);
        t.outcome = "failed".into();
        t.exit_code = Some(101);
        t.duration_ms = Some(1.0);
        t.peak_memory_bytes = Some(1 << 20);
        t.stdout = "ok line\n\x1b[2J\x1b[Hcleared\r\nprogress 50%\rdone\n".into();
        t.stderr = "\u{9b}31mred\tand tab\n".into();
        t.error = Some("bad\x1b[1A".into());
        let mut r = report(vec![t]);
        r.not_run = vec!["p::b::next\x1b[2J\u{9b}".into()];
        let out = render(&r);
        // console may color the outcome; nothing from the test may add escapes.
        let plain = plain(&out);
        assert!(!plain.contains('\x1b') && !plain.contains('\r') && !plain.contains('\u{9b}'));
        assert!(!plain.contains('\x07'));
        assert!(
            plain.contains(
                "FAIL [   0.001s    1.0 MiB] p::b::evil\\x1b]0;pwned\\x07: bad\\x1b[1A\n"
            ),
            "{plain}"
        );
        assert!(
            plain.contains("NOT RUN p::b::next\\x1b[2J\\u{9b}\n"),
            "{plain}"
        );
    }
}
