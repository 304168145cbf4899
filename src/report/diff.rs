//! `cargo isolate report diff OLD NEW`: what grew and what shrank between
//! two reports, for humans (a terminal table) or a pull request comment
//! (`--format markdown`). Pure: two reports in, text out.

use super::human_bytes;
use serde_json::Value;
use std::collections::BTreeMap;

/// One test present in both reports.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub id: String,
    pub outcome: (String, String),
    pub memory: (Option<f64>, Option<f64>),
    pub time: (Option<f64>, Option<f64>),
    pub cpu: (Option<f64>, Option<f64>),
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

fn tests_of(report: &Value, name: &str) -> Result<BTreeMap<String, Value>, String> {
    if report["schema_version"] != 1 {
        return Err(format!(
            "{name} is not a cargo-isolate report (schema version 1)"
        ));
    }
    let tests = report["tests"]
        .as_array()
        .ok_or_else(|| format!("{name} has no tests array"))?;
    Ok(tests
        .iter()
        .filter_map(|t| Some((t["id"].as_str()?.to_string(), t.clone())))
        .collect())
}

/// Compares `old` with `new`, largest change first.
pub fn compare(old: &Value, new: &Value) -> Result<Diff, String> {
    let (a, b) = (
        tests_of(old, "the old report")?,
        tests_of(new, "the new report")?,
    );
    let mut diff = Diff::default();
    for (id, n) in &b {
        let Some(o) = a.get(id) else {
            diff.new.push(id.clone());
            continue;
        };
        let pair = |k: &str| (o[k].as_f64(), n[k].as_f64());
        diff.rows.push(Row {
            id: id.clone(),
            outcome: (
                o["outcome"].as_str().unwrap_or("").to_string(),
                n["outcome"].as_str().unwrap_or("").to_string(),
            ),
            memory: pair("peak_memory_bytes"),
            time: pair("duration_ms"),
            cpu: pair("cpu_ms"),
        });
    }
    diff.gone = a
        .keys()
        .filter(|id| !b.contains_key(*id))
        .cloned()
        .collect();
    diff.rows
        .sort_by(|x, y| y.largest_change().total_cmp(&x.largest_change()));
    Ok(diff)
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
    let header = ["test", "outcome", "peak memory", "time", "CPU"];
    let rows: Vec<[String; 5]> = diff
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
            ]
        })
        .collect();
    let mut out = String::new();
    if markdown {
        out += "### cargo-isolate: changes against the baseline\n\n";
        out += &format!("| {} |\n|{}\n", header.join(" | "), "---|".repeat(5));
        for r in &rows {
            let cells: Vec<String> = r.iter().map(|c| c.replace('|', "\\|")).collect();
            out += &format!("| `{}` | {} |\n", cells[0], cells[1..].join(" | "));
        }
    } else {
        let widths: Vec<usize> = (0..5)
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
                    format!("- `{id}`\n")
                } else {
                    format!("  {id}\n")
                };
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn report(tests: Value) -> Value {
        json!({"schema_version": 1, "tests": tests})
    }

    #[test]
    fn the_largest_change_comes_first_and_new_and_gone_are_listed() {
        let old = report(json!([
            {"id": "a", "outcome": "passed", "peak_memory_bytes": 100, "duration_ms": 10.0, "cpu_ms": 10.0},
            {"id": "b", "outcome": "passed", "peak_memory_bytes": 100, "duration_ms": 10.0, "cpu_ms": 10.0},
            {"id": "gone", "outcome": "passed"}
        ]));
        let new = report(json!([
            {"id": "a", "outcome": "passed", "peak_memory_bytes": 105, "duration_ms": 10.0, "cpu_ms": 10.0},
            {"id": "b", "outcome": "failed", "peak_memory_bytes": 300, "duration_ms": 5.0, "cpu_ms": 10.0},
            {"id": "new", "outcome": "passed"}
        ]));
        let d = compare(&old, &new).unwrap();
        assert_eq!(d.rows[0].id, "b", "+200% before +5%");
        assert_eq!(
            (d.new.clone(), d.gone.clone()),
            (vec!["new".into()], vec!["gone".into()])
        );
        let md = render(&d, true, 50);
        assert!(
            md.contains("| `b` | passed → failed | 100 B → 300 B (+200.0%)"),
            "{md}"
        );
        assert!(md.contains("- `new`") && md.contains("- `gone`"));
        let text = render(&d, false, 1);
        assert!(text.contains("… and 1 more tests"), "{text}");
    }

    #[test]
    fn not_a_report_is_refused() {
        assert!(
            compare(&json!({}), &report(json!([])))
                .unwrap_err()
                .contains("old report")
        );
    }
}
