//! What a hunt found, as data ([`HuntReport`]: one row per condition and
//! test, and per test the smallest condition that fails) and as the three
//! things made of it: the JSON file, a Markdown table for an issue or a
//! pull request, and the table on the terminal. Test names go through
//! `report::escape` in Markdown and on the terminal; the JSON keeps them
//! raw.

use crate::report::escape::{for_terminal_line, markdown_code, markdown_code_cell};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;

/// The whole hunt, as `hunt.json` holds it.
#[derive(Debug, Clone, Serialize)]
pub struct HuntReport {
    /// "cargo-isolate hunt", and the format's version.
    pub tool: &'static str,
    pub format_version: u32,
    pub version: &'static str,
    /// The tests hunted, by id.
    pub tests: Vec<String>,
    /// The axes tried, in order, and their values, mildest first.
    pub axes: Vec<AxisValues>,
    /// Axes left out and why (e.g. no netem for delay on this kernel).
    pub notes: Vec<String>,
    /// How long each cell ran: at most `runs` runs per test, stopped early
    /// at `stop_after_failures`, within `time_budget_ms` in all if given.
    pub runs: u32,
    pub stop_after_failures: u64,
    pub time_budget_ms: Option<u64>,
    /// Every condition and test tried, in the order tried.
    pub rows: Vec<Row>,
    /// Per test: the smallest condition that failed, if any did.
    pub smallest_failing: Vec<Finding>,
    pub duration_ms: f64,
    /// False when a signal stopped the hunt.
    pub complete: bool,
}

/// One axis of the grid as tried.
#[derive(Debug, Clone, Serialize)]
pub struct AxisValues {
    pub name: &'static str,
    pub values: Vec<String>,
}

/// One test under one condition.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// `baseline`, `cpus=0.1`, `cpus=0.1 + loss=5%`.
    pub condition: String,
    /// `baseline`, `single` or `combined`.
    pub phase: &'static str,
    /// Axis name to value, as the flags write them; empty for the baseline.
    pub conditions: BTreeMap<String, String>,
    pub test: String,
    pub runs: u64,
    pub passed: u64,
    pub failures: u64,
    /// Runs whose sandbox could not be made: counted in no rate.
    pub setup_errors: u64,
    pub pass_rate: Option<f64>,
    /// The 95% Wilson interval of the pass rate.
    pub ci_low: f64,
    pub ci_high: f64,
    /// Clearly below the baseline's pass rate (see `stats::fails_against`).
    pub fails: bool,
    /// How the runs ended: "passed": 3, "failed": 2, "timed_out": 1.
    pub outcomes: BTreeMap<String, u64>,
    /// The first failure's message (a panic's, or the runner's).
    pub first_failure: Option<String>,
    /// The `cargo isolate test` line that runs this test under this
    /// condition as many times again.
    pub replay: String,
    pub duration_ms: f64,
}

/// The smallest condition under which one test fails.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub test: String,
    /// None: no condition tried made it fail.
    pub condition: Option<String>,
    pub conditions: BTreeMap<String, String>,
    pub runs: u64,
    pub passed: u64,
    pub pass_rate: Option<f64>,
    pub ci_low: f64,
    pub ci_high: f64,
    pub replay: Option<String>,
}

fn percent(x: f64) -> String {
    let p = x * 100.0;
    if (p - p.round()).abs() < 0.05 {
        format!("{p:.0}%")
    } else {
        format!("{p:.1}%")
    }
}

fn rate(row_rate: Option<f64>) -> String {
    row_rate.map(percent).unwrap_or_else(|| "-".into())
}

fn interval(lo: f64, hi: f64) -> String {
    format!("{}-{}", percent(lo), percent(hi))
}

impl HuntReport {
    /// The Markdown page: the table, then per test its finding and replay.
    pub fn markdown(&self) -> String {
        let mut out = String::from("## cargo isolate hunt\n\n");
        for n in &self.notes {
            let _ = writeln!(out, "> {}\n", crate::report::escape::markdown_text(n));
        }
        out.push_str("| condition | test | runs | passed | pass rate | 95% CI | |\n");
        out.push_str("|---|---|---:|---:|---:|---|---|\n");
        for r in &self.rows {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} |",
                markdown_code_cell(&r.condition),
                markdown_code_cell(&r.test),
                r.runs,
                r.passed,
                rate(r.pass_rate),
                interval(r.ci_low, r.ci_high),
                if r.fails { "**fails**" } else { "" },
            );
        }
        out.push('\n');
        for f in &self.smallest_failing {
            match (&f.condition, &f.replay) {
                (Some(c), Some(replay)) => {
                    let _ = writeln!(
                        out,
                        "Smallest failing condition for {}: {} ({} of {} runs passed, 95% CI {}); to reproduce:\n\n{}\n",
                        markdown_code(&f.test),
                        markdown_code(c),
                        f.passed,
                        f.runs,
                        interval(f.ci_low, f.ci_high),
                        markdown_code(replay),
                    );
                }
                _ => {
                    let _ = writeln!(
                        out,
                        "No condition tried made {} fail.\n",
                        markdown_code(&f.test)
                    );
                }
            }
        }
        out
    }

    /// The table for the terminal, names made safe to print.
    pub fn terminal(&self) -> String {
        let cells: Vec<[String; 6]> = self
            .rows
            .iter()
            .map(|r| {
                [
                    for_terminal_line(&r.condition).into_owned(),
                    format!("{}/{}", r.passed, r.runs),
                    rate(r.pass_rate),
                    interval(r.ci_low, r.ci_high),
                    if r.fails {
                        "FAILS".into()
                    } else {
                        String::new()
                    },
                    for_terminal_line(&r.test).into_owned(),
                ]
            })
            .collect();
        let head = ["condition", "passed", "rate", "95% CI", "", "test"];
        let width = |i: usize| {
            cells
                .iter()
                .map(|c| c[i].chars().count())
                .chain([head[i].len()])
                .max()
                .unwrap_or(0)
        };
        let widths: Vec<usize> = (0..6).map(width).collect();
        let line = |c: [&str; 6]| {
            format!(
                "  {:<w0$}  {:>w1$}  {:>w2$}  {:<w3$}  {:<w4$}  {}\n",
                c[0],
                c[1],
                c[2],
                c[3],
                c[4],
                c[5],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2],
                w3 = widths[3],
                w4 = widths[4],
            )
        };
        let mut out = line(head);
        for c in &cells {
            out += &line([&c[0], &c[1], &c[2], &c[3], &c[4], &c[5]]);
        }
        for f in &self.smallest_failing {
            let test = for_terminal_line(&f.test);
            match (&f.condition, &f.replay) {
                (Some(c), Some(replay)) => {
                    let _ = write!(
                        out,
                        "\nSmallest failing condition for {test}: {} ({}/{} passed, 95% CI {})\n  {}\n",
                        for_terminal_line(c),
                        f.passed,
                        f.runs,
                        interval(f.ci_low, f.ci_high),
                        for_terminal_line(replay),
                    );
                }
                _ => {
                    let _ = writeln!(out, "\nNo condition tried made {test} fail.");
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(test: &str) -> HuntReport {
        let row = |condition: &str, passed, runs, fails| Row {
            condition: condition.into(),
            phase: "single",
            conditions: BTreeMap::new(),
            test: test.into(),
            runs,
            passed,
            failures: runs - passed,
            setup_errors: 0,
            pass_rate: Some(passed as f64 / runs as f64),
            ci_low: crate::hunt::stats::wilson(passed, runs).0,
            ci_high: crate::hunt::stats::wilson(passed, runs).1,
            fails,
            outcomes: BTreeMap::new(),
            first_failure: None,
            replay: "cargo isolate test --exact x".into(),
            duration_ms: 1.0,
        };
        HuntReport {
            tool: "cargo-isolate hunt",
            format_version: 1,
            version: "0",
            tests: vec![test.into()],
            axes: Vec::new(),
            notes: vec!["delay left out: no netem".into()],
            runs: 20,
            stop_after_failures: 5,
            time_budget_ms: None,
            rows: vec![row("baseline", 20, 20, false), row("cpus=0.02", 0, 5, true)],
            smallest_failing: vec![Finding {
                test: test.into(),
                condition: Some("cpus=0.02".into()),
                conditions: BTreeMap::new(),
                runs: 5,
                passed: 0,
                pass_rate: Some(0.0),
                ci_low: 0.0,
                ci_high: 0.4344,
                replay: Some("cargo isolate test --cpus 0.02 --stress-count 5".into()),
            }],
            duration_ms: 1.0,
            complete: true,
        }
    }

    #[test]
    fn the_markdown_table_has_one_row_per_condition_and_the_replay() {
        let md = report("hunt cpu::deadline").markdown();
        let rows: Vec<&str> = md.lines().filter(|l| l.starts_with('|')).collect();
        assert_eq!(rows.len(), 4, "{md}");
        assert_eq!(
            rows[3],
            "| ` cpus=0.02 ` | ` hunt cpu::deadline ` | 5 | 0 | 0% | 0%-43.4% | **fails** |"
        );
        assert!(
            md.contains("` cargo isolate test --cpus 0.02 --stress-count 5 `"),
            "{md}"
        );
        assert!(md.contains("> delay left out\\: no netem"), "{md}");
    }

    /// A hostile test name cannot break out of its cell, add rows or
    /// write to the terminal.
    #[test]
    fn hostile_names_stay_in_their_cell() {
        let evil = "t | x |\n| forged | row |\x1b]0;owned\x07";
        let md = report(evil).markdown();
        let rows: Vec<&str> = md.lines().filter(|l| l.starts_with('|')).collect();
        assert_eq!(rows.len(), 4, "{md}");
        for r in &rows[2..] {
            // Seven cells: eight unescaped pipes.
            let pipes = r.matches('|').count() - r.matches("\\|").count();
            assert_eq!(pipes, 8, "{r}");
        }
        assert!(!md.contains('\x1b'));
        let term = report(evil).terminal();
        assert!(!term.contains('\x1b') && !term.contains('\x07'), "{term}");
        assert_eq!(term.lines().filter(|l| l.contains("forged")).count(), 3);
    }

    #[test]
    fn the_terminal_table_lines_up() {
        let t = report("hunt cpu::deadline").terminal();
        assert!(t.contains("baseline "), "{t}");
        assert!(t.contains("0/5"), "{t}");
        assert!(t.contains("FAILS"), "{t}");
        assert!(
            t.contains("Smallest failing condition for hunt cpu::deadline: cpus=0.02 (0/5 passed, 95% CI 0%-43.4%)"),
            "{t}"
        );
    }
}
