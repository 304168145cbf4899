//! GitHub Actions: workflow-command annotations (`::error file=...,line=...::`)
//! for failures, budget breaches and regressions, and the markdown appended
//! to `$GITHUB_STEP_SUMMARY`. Pure: a report in, text out.

use super::{Report, TestRecord, human_bytes};
use std::path::Path;

/// Escapes a workflow command's message (GitHub's rules: %, CR, LF).
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a workflow command's property value (also `:` and `,`).
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// `src/lib.rs:31:9` -> ("src/lib.rs", 31).
fn file_line(location: &str) -> Option<(&str, u32)> {
    let mut parts = location.rsplitn(3, ':');
    let _col = parts.next()?;
    let line = parts.next()?.parse().ok()?;
    Some((parts.next()?, line))
}

/// Where a panic's file is, relative to the repository root: libtest prints
/// it relative to the package directory (`package_dir`, itself given
/// relative to the repository), or absolute for code outside the package.
fn repo_path(file: &str, package_dir: Option<&Path>) -> String {
    if Path::new(file).is_absolute() {
        return file.to_string();
    }
    match package_dir {
        Some(d) if !d.as_os_str().is_empty() => d.join(file).display().to_string(),
        _ => file.to_string(),
    }
}

/// The workflow commands for `report`, one per line. `package_dir` maps a
/// package name to its directory relative to the repository root.
pub fn annotations(
    report: &Report,
    budgets_fail: bool,
    package_dir: &dyn Fn(&str) -> Option<std::path::PathBuf>,
) -> String {
    let mut out = String::new();
    for t in &report.tests {
        let at = t
            .panic_location
            .as_deref()
            .and_then(file_line)
            .map(|(file, line)| {
                let dir = package_dir(&t.package);
                format!(
                    "file={},line={line},",
                    escape_property(&repo_path(file, dir.as_deref()))
                )
            })
            .unwrap_or_default();
        if !matches!(t.outcome, "passed" | "ignored") {
            out += &format!(
                "::error {at}title={}::{}\n",
                escape_property(&format!("{} {}", t.id, t.outcome)),
                escape_data(&t.reason(&report.settings))
            );
        }
        let level = if budgets_fail { "error" } else { "warning" };
        for what in &t.over_budget {
            out += &format!(
                "::{level} title={}::{}\n",
                escape_property(&format!("{} over its {what} budget", t.id)),
                escape_data(&t.budget_line(what))
            );
        }
        for r in &t.regressions {
            out += &format!(
                "::{level} title={}::{}\n",
                escape_property(&format!("{} regressed ({})", t.id, r.metric)),
                escape_data(&r.describe())
            );
        }
    }
    out
}

/// Escapes text for a markdown table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|")
        .replace('\n', " ")
        .replace('<', "&lt;")
}

/// The step summary: counts, failures, budget breaches, regressions and
/// the heaviest tests.
pub fn step_summary(report: &Report) -> String {
    let s = &report.summary;
    let mut md = String::from("## cargo-isolate\n\n");
    md += "| passed | failed | timed out | OOM-killed | signaled | setup errors | ignored | over budget | regressed |\n";
    md += "|---|---|---|---|---|---|---|---|---|\n";
    let over = report
        .tests
        .iter()
        .filter(|t| !t.over_budget.is_empty())
        .count();
    let regressed = report
        .tests
        .iter()
        .filter(|t| !t.regressions.is_empty())
        .count();
    md += &format!(
        "| {} | {} | {} | {} | {} | {} | {} | {over} | {regressed} |\n\n",
        s.passed, s.failed, s.timed_out, s.oom_killed, s.signaled, s.setup_error, s.ignored
    );
    if !report.complete {
        md += &format!(
            "**Incomplete run**: {} test(s) not run.\n\n",
            report.not_run.len()
        );
    }
    let failing: Vec<&TestRecord> = report
        .tests
        .iter()
        .filter(|t| !matches!(t.outcome, "passed" | "ignored"))
        .collect();
    if !failing.is_empty() {
        md += "### Failures\n\n| test | outcome | why |\n|---|---|---|\n";
        for t in &failing {
            md += &format!(
                "| `{}` | {} | {} |\n",
                cell(&t.id),
                t.outcome,
                cell(&t.reason(&report.settings))
            );
        }
        md += "\n";
    }
    let breaches: Vec<(&TestRecord, String)> = report
        .tests
        .iter()
        .flat_map(|t| t.over_budget.iter().map(move |w| (t, t.budget_line(w))))
        .collect();
    if !breaches.is_empty() {
        md += "### Over budget\n\n| test | figure |\n|---|---|\n";
        for (t, line) in &breaches {
            md += &format!("| `{}` | {} |\n", cell(&t.id), cell(line));
        }
        md += "\n";
    }
    let regs: Vec<(&TestRecord, String)> = report
        .tests
        .iter()
        .flat_map(|t| t.regressions.iter().map(move |r| (t, r.describe())))
        .collect();
    if !regs.is_empty() {
        md += "### Regressions against the baseline\n\n| test | change |\n|---|---|\n";
        for (t, line) in &regs {
            md += &format!("| `{}` | {} |\n", cell(&t.id), cell(line));
        }
        md += "\n";
    }
    let mut heavy: Vec<&TestRecord> = report
        .tests
        .iter()
        .filter(|t| t.outcome == "passed" && t.peak_memory_bytes.is_some())
        .collect();
    heavy.sort_by_key(|t| std::cmp::Reverse(t.peak_memory_bytes));
    if !heavy.is_empty() {
        md += "### Highest peak memory\n\n| test | peak memory | time |\n|---|---|---|\n";
        for t in heavy.iter().take(10) {
            md += &format!(
                "| `{}` | {} | {:.1} ms |\n",
                cell(&t.id),
                t.peak_memory_bytes.map(human_bytes).unwrap_or_default(),
                t.duration_ms.unwrap_or_default()
            );
        }
        md += "\n";
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_commands_escape_what_github_reads_as_syntax() {
        assert_eq!(escape_data("50% done\nnext"), "50%25 done%0Anext");
        assert_eq!(escape_property("a:b,c"), "a%3Ab%2Cc");
    }

    #[test]
    fn panic_locations_become_repository_paths() {
        assert_eq!(file_line("src/lib.rs:31:9"), Some(("src/lib.rs", 31)));
        assert_eq!(file_line("nonsense"), None);
        assert_eq!(
            repo_path("src/lib.rs", Some(Path::new("crates/app"))),
            "crates/app/src/lib.rs"
        );
        assert_eq!(repo_path("/abs/x.rs", Some(Path::new("a"))), "/abs/x.rs");
    }
}
