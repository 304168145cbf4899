//! `cargo isolate report diff OLD NEW`: what grew and what shrank between
//! two reports, for humans (a terminal table) or a pull request comment
//! (`--format markdown`). What the regression thresholds flag (as a run's
//! `--baseline` would) comes first and is marked; the rest follows by its
//! largest change. Pure: two reports (read by [`super::load`]) in, text
//! out.
//!
//! Ids are the tests' own text: on the terminal they go through
//! [`escape::for_terminal_line`], in Markdown through the escapes of
//! [`escape`], so no id can move the cursor, add a heading, a link or an
//! image, or leave its table cell or list item.

use super::escape::{self, for_terminal_line};
use super::{Report, TestRecord, human_bytes};
use crate::budget::{Baseline, Thresholds};
use crate::model::Metric;
use std::collections::BTreeMap;

/// One test present in both reports.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub id: String,
    pub outcome: (String, String),
    pub memory: (Option<f64>, Option<f64>),
    pub time: (Option<f64>, Option<f64>),
    pub cpu: (Option<f64>, Option<f64>),
    /// What grew past the thresholds (a run with this baseline would call
    /// it a regression).
    pub flagged: Vec<Metric>,
}

impl Row {
    /// The largest relative change of the three figures, for sorting.
    fn largest_change(&self) -> f64 {
        [self.memory, self.time, self.cpu]
            .iter()
            .filter_map(|&(a, b)| percent(a?, b?))
            .map(f64::abs)
            .fold(0.0, f64::max)
    }
}

/// What the comparison found.
#[derive(Debug, Default, PartialEq)]
pub struct Diff {
    pub rows: Vec<Row>,
    pub new: Vec<String>,
    pub gone: Vec<String>,
}

fn percent(old: f64, new: f64) -> Option<f64> {
    (old > 0.0).then(|| (new - old) / old * 100.0)
}

/// A report's records by id (of an id recorded twice, the last).
fn tests_of(report: &Report) -> BTreeMap<&str, &TestRecord> {
    report.tests.iter().map(|t| (t.id.as_str(), t)).collect()
}

/// Compares `old` with `new`: what `thresholds` flag first, then the
/// largest change first.
pub fn compare(old: &Report, new: &Report, thresholds: &Thresholds) -> Diff {
    let (a, b) = (tests_of(old), tests_of(new));
    let baseline = Baseline::of(old, "");
    let mut diff = Diff::default();
    for (id, n) in &b {
        let Some(o) = a.get(id) else {
            diff.new.push(id.to_string());
            continue;
        };
        let bytes = |t: &TestRecord| t.peak_memory_bytes.map(|m| m as f64);
        diff.rows.push(Row {
            id: id.to_string(),
            outcome: (o.outcome.to_string(), n.outcome.to_string()),
            memory: (bytes(o), bytes(n)),
            time: (o.duration_ms, n.duration_ms),
            cpu: (o.cpu_ms, n.cpu_ms),
            flagged: baseline
                .regressions(n, thresholds)
                .iter()
                .map(|r| r.metric)
                .collect(),
        });
    }
    diff.gone = a
        .keys()
        .filter(|id| !b.contains_key(*id))
        .map(|id| id.to_string())
        .collect();
    diff.rows.sort_by(|x, y| {
        (x.flagged.is_empty().cmp(&y.flagged.is_empty()))
            .then(y.largest_change().total_cmp(&x.largest_change()))
    });
    diff
}

fn change(old: Option<f64>, new: Option<f64>, show: impl Fn(f64) -> String) -> String {
    match (old, new) {
        (Some(o), Some(n)) => match percent(o, n) {
            Some(p) => format!("{} → {} ({p:+.1}%)", show(o), show(n)),
            None => format!("{} → {}", show(o), show(n)),
        },
        (None, Some(n)) => format!("– → {}", show(n)),
        (Some(o), None) => format!("{} → –", show(o)),
        (None, None) => "–".into(),
    }
}

fn bytes(v: f64) -> String {
    human_bytes(v as u64)
}

fn ms(v: f64) -> String {
    format!("{v:.1} ms")
}

/// The comparison as a markdown table (a PR comment) or as aligned text.
pub fn render(diff: &Diff, markdown: bool, limit: usize) -> String {
    let header = ["test", "outcome", "peak memory", "time", "CPU", "regressed"];
    let rows: Vec<[String; 6]> = diff
        .rows
        .iter()
        .take(limit)
        .map(|r| {
            let outcome = if r.outcome.0 == r.outcome.1 {
                r.outcome.1.clone()
            } else {
                format!("{} → {}", r.outcome.0, r.outcome.1)
            };
            [
                r.id.clone(),
                outcome,
                change(r.memory.0, r.memory.1, bytes),
                change(r.time.0, r.time.1, ms),
                change(r.cpu.0, r.cpu.1, ms),
                r.flagged
                    .iter()
                    .map(|m| m.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            ]
        })
        .collect();
    let mut out = String::new();
    if markdown {
        out += "### cargo-isolate: changes against the baseline\n\n";
        out += &format!("| {} |\n|{}\n", header.join(" | "), "---|".repeat(6));
        for r in &rows {
            let rest: Vec<String> = r[1..].iter().map(|c| escape::markdown_text(c)).collect();
            out += &format!(
                "| {} | {} |\n",
                escape::markdown_code_cell(&r[0]),
                rest.join(" | ")
            );
        }
    } else {
        let rows: Vec<[String; 6]> = rows
            .iter()
            .map(|r| r.clone().map(|c| for_terminal_line(&c).into_owned()))
            .collect();
        let widths: Vec<usize> = (0..6)
            .map(|i| {
                rows.iter()
                    .map(|r| r[i].chars().count())
                    .chain([header[i].len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: &[String]| {
            let padded: Vec<String> = cells
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            padded.join("  ").trim_end().to_string() + "\n"
        };
        out += &line(&header.map(String::from));
        for r in &rows {
            out += &line(r);
        }
    }
    if diff.rows.len() > limit {
        out += &format!("\n… and {} more tests\n", diff.rows.len() - limit);
    }
    for (what, ids) in [("New", &diff.new), ("Gone", &diff.gone)] {
        if !ids.is_empty() {
            out += &format!("\n{what} tests ({}):\n", ids.len());
            for id in ids {
                out += &if markdown {
                    format!("- {}\n", escape::markdown_code(id))
                } else {
                    format!("  {}\n", for_terminal_line(id))
                };
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testing;

    /// A record of `id` with its peak memory, time and CPU.
    fn record(id: &str, outcome: &'static str, figures: Option<(u64, f64, f64)>) -> TestRecord {
        let mut t = TestRecord::new(id.into(), "p", "p", "lib", Some(id.into()));
        t.outcome = outcome.into();
        if let Some((m, d, c)) = figures {
            (t.peak_memory_bytes, t.duration_ms, t.cpu_ms) = (Some(m), Some(d), Some(c));
        }
        t
    }

    fn report(tests: Vec<TestRecord>) -> Report {
        testing::report(tests, "2025-01-01T10:00:00.000Z", 1.0)
    }

    #[test]
    fn the_largest_change_comes_first_and_new_and_gone_are_listed() {
        let old = report(vec![
            record("a", "passed", Some((100, 10.0, 10.0))),
            record("b", "passed", Some((100, 10.0, 10.0))),
            record("gone", "passed", None),
        ]);
        let new = report(vec![
            record("a", "passed", Some((105, 10.0, 10.0))),
            record("b", "failed", Some((300, 5.0, 10.0))),
            record("new", "passed", None),
        ]);
        let d = compare(&old, &new, &Thresholds::default());
        assert_eq!(d.rows[0].id, "b", "+200% before +5%");
        assert_eq!(
            (d.new.clone(), d.gone.clone()),
            (vec!["new".into()], vec!["gone".into()])
        );
        let md = render(&d, true, 50);
        assert!(
            md.contains("| ` b ` | passed → failed | 100 B → 300 B \\(\\+200\\.0\\%\\)"),
            "{md}"
        );
        assert!(
            md.contains("- ` new `") && md.contains("- ` gone `"),
            "{md}"
        );
        let text = render(&d, false, 1);
        assert!(text.contains("… and 1 more tests"), "{text}");
    }

    /// Ids that try to write Markdown or move a terminal's cursor.
    const HOSTILE: [&str; 4] = [
        "p x`\n## INJECTED\n[**approve**](https://evil.example/a) `",
        "p a\\|b | c ![i](https://evil.example/i.png)",
        "p ``` <img src=x> www.evil.example mail@evil.example",
        "p \u{1b}[2J\r# ok\r\n- [ ] item",
    ];

    fn hostile_diff() -> Diff {
        let records = |outcome| -> Vec<TestRecord> {
            HOSTILE
                .iter()
                .map(|id| record(id, outcome, Some((100, 1.0, 1.0))))
                .collect()
        };
        let mut old = records("passed");
        let mut new = records("failed");
        old.push(record(&format!("{} gone", HOSTILE[0]), "passed", None));
        new.push(record(&format!("{} new", HOSTILE[3]), "passed", None));
        compare(&report(old), &report(new), &Thresholds::default())
    }

    /// A memory regression past the thresholds comes before a larger
    /// change of timing noise under them, marked.
    #[test]
    fn what_the_thresholds_flag_comes_first_and_is_marked() {
        let mb = 1 << 20;
        let old = report(vec![
            record("noisy", "passed", Some((10 * mb, 1.0, 1.0))),
            record("grew", "passed", Some((10 * mb, 10.0, 100.0))),
        ]);
        let new = report(vec![
            // +900% time and CPU, but CPU under its 50 ms floor.
            record("noisy", "passed", Some((10 * mb, 10.0, 10.0))),
            // +50% memory, past 10% and 1 MiB.
            record("grew", "passed", Some((15 * mb, 10.0, 100.0))),
        ]);
        let d = compare(&old, &new, &Thresholds::default());
        assert_eq!(d.rows[0].id, "grew", "{d:?}");
        assert_eq!(d.rows[0].flagged, vec![Metric::Memory]);
        assert!(d.rows[1].flagged.is_empty());
        let text = render(&d, false, 50);
        let grew = text.lines().nth(1).unwrap();
        assert!(
            grew.starts_with("grew") && grew.ends_with("memory"),
            "{text}"
        );
    }

    #[test]
    fn markdown_renders_ids_as_text_only() {
        let d = hostile_diff();
        let md = render(&d, true, 50);
        let seen = crate::report::markdown_check::both(&md);
        assert_eq!(seen.markup, Vec::<String>::new(), "{md}");
        assert_eq!(
            seen.headings,
            ["cargo-isolate: changes against the baseline"],
            "{md}"
        );
        let [table] = &seen.tables[..] else {
            panic!("one table: {md}")
        };
        assert!(table.iter().all(|row| row.len() == 6), "{md}");
        let mut ids: Vec<String> = table[1..].iter().map(|r| r[0].clone()).collect();
        ids.sort();
        let mut want: Vec<String> = HOSTILE.iter().map(|id| visible(id)).collect();
        want.sort();
        assert_eq!(ids, want, "{md}");
        assert!(table[1..].iter().all(|r| r[1] == "passed → failed"), "{md}");
        let items = [
            visible(&format!("{} new", HOSTILE[3])),
            visible(&format!("{} gone", HOSTILE[0])),
        ];
        assert_eq!(seen.items, items, "{md}");
    }

    fn visible(s: &str) -> String {
        escape::visible_line(s).into_owned()
    }

    #[test]
    fn text_shows_ids_on_one_visible_line_each() {
        let text = render(&hostile_diff(), false, 50);
        assert!(!text.contains(['\r', '\u{1b}']), "{text:?}");
        // A header, four rows, then a blank line, "New tests (1):", the
        // id, a blank line, "Gone tests (1):", the id.
        assert_eq!(text.lines().count(), 11, "{text}");
        assert!(text.contains(&format!(
            "  {}\n",
            for_terminal_line(&format!("{} gone", HOSTILE[0]))
        )));
    }
}
