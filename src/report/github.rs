//! GitHub Actions: workflow-command annotations (`::error file=...,line=...::`)
//! for failures, budget breaches and regressions, and the markdown appended
//! to `$GITHUB_STEP_SUMMARY`. Pure: a report in, text out.
//!
//! Ids, panic messages and errors are the tests' own text: in a workflow
//! command they are escaped as GitHub's toolkit does (and their other
//! control characters made visible, as on a terminal); in the summary they
//! go through [`escape::markdown_text`] and [`escape::markdown_code_cell`],
//! so they can add no heading, link, image or table cell.

use super::escape::{self, for_terminal, for_terminal_line};
use super::{Report, TestRecord, human_bytes};
use crate::model::Outcome;
use std::path::Path;

/// Escapes a workflow command's message (GitHub's rules: %, CR, LF); any
/// other control character (an ANSI sequence the log would render) is
/// first made visible.
fn escape_data(s: &str) -> String {
    for_terminal(s)
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a workflow command's property value (also `:` and `,`), on one
/// line.
fn escape_property(s: &str) -> String {
    escape_data(&for_terminal_line(s))
        .replace(':', "%3A")
        .replace(',', "%2C")
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
        if !t.outcome.is_success() {
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
                escape_data(&t.budget_line(*what))
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

/// Text for a markdown table cell.
fn cell(s: &str) -> String {
    escape::markdown_text(s)
}

/// A test id for a markdown table cell (as code when it can be).
fn id_cell(id: &str) -> String {
    escape::markdown_code_cell(id)
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
        .filter(|t| !t.outcome.is_success())
        .collect();
    if !failing.is_empty() {
        md += "### Failures\n\n| test | outcome | why |\n|---|---|---|\n";
        for t in &failing {
            md += &format!(
                "| {} | {} | {} |\n",
                id_cell(&t.id),
                cell(t.outcome.as_str()),
                cell(&t.reason(&report.settings))
            );
        }
        md += "\n";
    }
    let breaches: Vec<(&TestRecord, String)> = report
        .tests
        .iter()
        .flat_map(|t| t.over_budget.iter().map(move |w| (t, t.budget_line(*w))))
        .collect();
    if !breaches.is_empty() {
        md += "### Over budget\n\n| test | figure |\n|---|---|\n";
        for (t, line) in &breaches {
            md += &format!("| {} | {} |\n", id_cell(&t.id), cell(line));
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
            md += &format!("| {} | {} |\n", id_cell(&t.id), cell(line));
        }
        md += "\n";
    }
    let mut heavy: Vec<&TestRecord> = report
        .tests
        .iter()
        .filter(|t| t.outcome == Outcome::Passed && t.peak_memory_bytes.is_some())
        .collect();
    heavy.sort_by_key(|t| std::cmp::Reverse(t.peak_memory_bytes));
    if !heavy.is_empty() {
        md += "### Highest peak memory\n\n| test | peak memory | time |\n|---|---|---|\n";
        for t in heavy.iter().take(10) {
            md += &format!(
                "| {} | {} | {:.1} ms |\n",
                id_cell(&t.id),
                t.peak_memory_bytes.map(human_bytes).unwrap_or_default(),
                t.duration_ms.unwrap_or_default()
            );
        }
        md += "\n";
    }
    md
}

/// GitHub Actions' subscriber (with GITHUB_ACTIONS=true): workflow
/// commands stop while tests print (they could otherwise write
/// `::error::` or `::add-mask::` lines GitHub would obey), then the
/// annotations on stdout and the markdown summary appended to the step's.
pub struct GitHubActions {
    /// Each package's directory relative to the repository root.
    package_dirs: std::collections::HashMap<String, std::path::PathBuf>,
    budgets_fail: bool,
    /// The token that ends `::stop-commands::`: random, made once, and
    /// unlike the run id never given to a test.
    token: String,
}

impl GitHubActions {
    /// `None` outside GitHub Actions. `package_dirs`: each package's
    /// directory (absolute), made relative to GITHUB_WORKSPACE here.
    pub fn detect(
        package_dirs: impl IntoIterator<Item = (String, std::path::PathBuf)>,
        budgets_fail: bool,
        token: String,
    ) -> Option<GitHubActions> {
        if std::env::var("GITHUB_ACTIONS").as_deref() != Ok("true") {
            return None;
        }
        let root = std::env::var_os("GITHUB_WORKSPACE")
            .map(std::path::PathBuf::from)
            .or_else(|| std::env::current_dir().ok());
        let package_dirs = package_dirs
            .into_iter()
            .filter_map(|(pkg, dir)| {
                let dir = match &root {
                    Some(r) => dir.strip_prefix(r).ok()?.to_path_buf(),
                    None => dir,
                };
                Some((pkg, dir))
            })
            .collect();
        Some(GitHubActions {
            package_dirs,
            budgets_fail,
            token,
        })
    }

    fn finished(&self, report: &Report) {
        println!("::{}::", self.token);
        let package_dir = |pkg: &str| self.package_dirs.get(pkg).cloned();
        print!("{}", annotations(report, self.budgets_fail, &package_dir));
        if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY") {
            use std::io::Write;
            let written = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(&path)
                .and_then(|mut f| f.write_all(step_summary(report).as_bytes()));
            if let Err(e) = written {
                eprintln!(
                    "warning: cannot append to $GITHUB_STEP_SUMMARY ({}): {e}",
                    std::path::Path::new(&path).display()
                );
            }
        }
    }
}

impl crate::model::Subscriber for GitHubActions {
    fn on(&mut self, event: &crate::model::RunEvent<'_>) {
        use crate::model::RunEvent;
        match *event {
            RunEvent::RunStarted(_) => println!("::stop-commands::{}", self.token),
            RunEvent::RunFinished { report, .. } => self.finished(report),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::markdown_check;
    use crate::report::testing;

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

    /// Ids and panic messages that try to write Markdown of their own.
    const HOSTILE_IDS: [&str; 4] = [
        "p tests::x`\n## INJECTED\n[**approve**](https://evil.example/a) `",
        "p a\\|b | c",
        "p ```` <b>x</b> *em* _u_ ~~s~~ ![i](https://evil.example/i.png)",
        "p \u{1b}[2J\r# ok \u{202e}desrever www.evil.example",
    ];
    const HOSTILE_PANIC: &str = "\r## ALL TESTS PASSED\r[**approve**](https://evil.example/approve) \
        ![img](https://evil.example/i.png) <img src=x onerror=alert(1)> &lt;tag&gt; \
        www.evil.example https://evil.example/x mail@evil.example [^1] - [ ] | col \\| \
        <https://evil.example/auto> [ref]\n\n[ref]: https://evil.example/r";

    /// A report in which every surface of the summary holds hostile text.
    fn hostile_report() -> Report {
        let records = HOSTILE_IDS.iter().enumerate().map(|(n, id)| {
            let mut t = TestRecord::new(id.to_string(), "p", "p", "lib", Some(id.to_string()));
            t.outcome = ["failed", "setup_error", "passed", "passed"][n].into();
            t.panic_message = Some(HOSTILE_PANIC.into());
            t.error = (n == 1).then(|| HOSTILE_PANIC.to_string());
            t.stdout = HOSTILE_PANIC.into();
            t.stderr = HOSTILE_PANIC.into();
            t.peak_memory_bytes = Some(1 << 20);
            t.duration_ms = Some(1.5);
            if n >= 2 {
                t.budgets = Some(crate::budget::Budgets {
                    memory_bytes: Some(1024),
                    time_ms: None,
                    cpu_ms: None,
                });
                t.over_budget = vec!["memory".into()];
                t.regressions = vec![crate::budget::Regression {
                    metric: "memory".into(),
                    baseline: 1024.0,
                    now: 2048.0,
                    percent: 100.0,
                }];
            }
            t
        });
        let mut r = testing::report(records.collect(), "2025-01-01T10:00:00.000Z", 1.0);
        r.complete = false;
        r.not_run = vec![HOSTILE_IDS[0].into()];
        r
    }

    /// The text a renderer must show for `s`: `s` on one visible line.
    fn visible(s: &str) -> String {
        escape::visible_line(s).into_owned()
    }

    #[test]
    fn the_step_summary_renders_test_text_as_text_only() {
        let report = hostile_report();
        let md = step_summary(&report);
        let seen = markdown_check::both(&md);
        // The summary's own "**Incomplete run**", and nothing else.
        assert_eq!(seen.markup, ["Strong"], "{md}");
        assert_eq!(
            seen.headings,
            [
                "cargo-isolate",
                "Failures",
                "Over budget",
                "Regressions against the baseline",
                "Highest peak memory"
            ],
            "{md}"
        );
        assert!(seen.items.is_empty(), "{md}");
        // Every cell is one cell and reads as the text, made visible.
        let [counts, failures, over, regressed, heavy] = &seen.tables[..] else {
            panic!("five tables: {md}");
        };
        assert_eq!(counts.len(), 2);
        let failures: Vec<&[String]> = failures[1..].iter().map(Vec::as_slice).collect();
        let settings = &report.settings;
        let want: Vec<Vec<String>> = report.tests[..2]
            .iter()
            .map(|t| {
                vec![
                    visible(&t.id),
                    t.outcome.as_str().into(),
                    visible(&t.reason(settings)),
                ]
            })
            .collect();
        assert_eq!(failures, want, "{md}");
        for (table, width) in [(over, 2), (regressed, 2), (heavy, 3)] {
            let ids: Vec<&str> = table[1..].iter().map(|r| r[0].as_str()).collect();
            assert_eq!(
                ids,
                [visible(HOSTILE_IDS[2]), visible(HOSTILE_IDS[3])],
                "{md}"
            );
            assert!(table.iter().all(|r| r.len() == width), "{md}");
        }
    }

    /// `::error title=...::message` read as GitHub's runner reads it: the
    /// command, its properties unescaped, the message unescaped.
    fn parse_command(line: &str) -> (String, Vec<(String, String)>, String) {
        let rest = line.strip_prefix("::").expect("a workflow command");
        let (head, message) = rest.split_once("::").expect("two colons after the command");
        let (command, props) = head.split_once(' ').unwrap_or((head, ""));
        let unescape = |s: &str| {
            s.replace("%0D", "\r")
                .replace("%0A", "\n")
                .replace("%3A", ":")
                .replace("%2C", ",")
                .replace("%25", "%")
        };
        let props = props
            .split(',')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').expect("key=value");
                (k.to_string(), unescape(v))
            })
            .collect();
        (command.to_string(), props, unescape(message))
    }

    #[test]
    fn annotations_keep_test_text_inside_their_properties_and_message() {
        let mut report = hostile_report();
        report.tests[0].panic_location = Some("src/a,b:c.rs:7:1".into());
        let out = annotations(&report, true, &|_| Some("crates/x".into()));
        assert!(!out.contains('\r') && !out.contains('\u{1b}'), "{out:?}");
        let lines: Vec<&str> = out.lines().collect();
        // Two failures, then two budget breaches and two regressions.
        assert_eq!(lines.len(), 6, "{out}");
        let (command, props, message) = parse_command(lines[0]);
        assert_eq!(command, "error");
        assert_eq!(
            props,
            [
                ("file".to_string(), "crates/x/src/a,b:c.rs".to_string()),
                ("line".to_string(), "7".to_string()),
                (
                    "title".to_string(),
                    for_terminal_line(&format!("{} failed", HOSTILE_IDS[0])).into_owned()
                ),
            ]
        );
        let reason = report.tests[0].reason(&report.settings);
        assert_eq!(message, for_terminal(&reason));
        for line in &lines[1..] {
            let (command, props, _) = parse_command(line);
            assert_eq!(command, "error", "{line}");
            assert_eq!(props.len(), 1, "{line}");
            assert_eq!(props[0].0, "title", "{line}");
        }
        let (_, props, _) = parse_command(lines[5]);
        assert_eq!(
            props[0].1,
            for_terminal_line(&format!("{} regressed (memory)", HOSTILE_IDS[3]))
        );
    }
}
