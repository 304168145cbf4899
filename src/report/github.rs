//! GitHub Actions: workflow-command annotations (`::error file=...,line=...::`)
//! for what fails the run and what warns (the run's [`Verdict`]), and the
//! markdown appended to `$GITHUB_STEP_SUMMARY`, its verdict first. Pure
//! functions (a report and its verdict in, text out), and their subscriber.
//!
//! Ids, panic messages, errors and output are the tests' own text: in a
//! workflow command they are escaped as GitHub's toolkit does (and their
//! other control characters made visible, as on a terminal); in the
//! summary they go through [`escape::markdown_text`],
//! [`escape::markdown_code_cell`] and fenced code blocks longer than any
//! run of backticks in them, so they can add no heading, link, image or
//! table cell.

use super::escape::{self, for_terminal, for_terminal_line};
use super::html::view::measured_ms;
use super::{Report, TestRecord, human_bytes};
use crate::model::{Attempt, Cause, Finding, Outcome, Policy, Severity, Verdict};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Component, Path, PathBuf};

/// Flaky tests the step summary shows in full; the rest are counted.
const FLAKY_LISTED: usize = 20;
/// Lines of each stream of an attempt's output the step summary shows.
const SUMMARY_TAIL_LINES: usize = 15;

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

/// Where the files a panic names are: the repository's root (the
/// `GITHUB_WORKSPACE` checkout) and each package's directory, absolute.
#[derive(Debug, Default)]
pub struct Places {
    pub root: PathBuf,
    pub package_dirs: HashMap<String, PathBuf>,
}

impl Places {
    /// The file of a panic in a test of `package`, relative to the
    /// repository root; `None` when it is not in the repository (the
    /// standard library, a registry crate) or not a plain path.
    ///
    /// rustc writes the path cargo gave it: relative to the *workspace*
    /// root for a package of the workspace (`beta/tests/api.rs` in a
    /// workspace of several packages, `src/lib.rs` in one of one), absolute
    /// otherwise. The workspace root is the package's directory or one
    /// above it: the nearest where the file is, or else the one the package
    /// directory's own path leads to (`beta/...` from `<root>/beta`).
    pub fn repo_path(&self, package: &str, file: &str) -> Option<String> {
        let path = Path::new(file);
        // A test's stderr says where it panicked: a `..` could point
        // anywhere.
        if path.file_name().is_none()
            || path.components().any(|c| {
                !matches!(
                    c,
                    Component::Normal(_) | Component::RootDir | Component::CurDir
                )
            })
        {
            return None;
        }
        let inside = |p: &Path| {
            p.strip_prefix(&self.root)
                .ok()
                .filter(|r| !r.as_os_str().is_empty())
                .map(|r| r.display().to_string())
        };
        if path.is_absolute() {
            return inside(path);
        }
        let dir = self.package_dirs.get(package)?;
        // The package's directory and those above it, up to the root.
        let candidates: Vec<&Path> = dir
            .ancestors()
            .take_while(|a| a.starts_with(&self.root))
            .collect();
        if let Some(a) = candidates.iter().find(|a| a.join(path).is_file()) {
            return inside(&a.join(path));
        }
        // No such file here (an archive's run): by the package's path.
        let root = candidates
            .iter()
            .rev()
            .find(|a| {
                dir.strip_prefix(a)
                    .is_ok_and(|rel| !rel.as_os_str().is_empty() && path.starts_with(rel))
            })
            .copied()
            .unwrap_or(dir.as_path());
        inside(&root.join(path))
    }
}

/// The panic location a finding points at: the test's own, or for a flaky
/// test its first failed attempt's.
fn location(t: &TestRecord, cause: Cause) -> Option<&str> {
    match cause {
        Cause::Outcome { .. } => t.panic_location.as_deref(),
        Cause::Flaky => t
            .attempts
            .iter()
            .find(|a| !a.outcome.is_success())
            .and_then(|a| a.panic_location.as_deref()),
        _ => None,
    }
}

/// The title of a finding's annotation.
fn title(f: &Finding) -> String {
    let id = f.id.as_deref().unwrap_or("cargo-isolate");
    match f.cause {
        Cause::Outcome { outcome } => format!("{id} {outcome}"),
        Cause::OverBudget { metric } => format!("{id} over its {metric} budget"),
        Cause::Regressed { metric } => format!("{id} regressed ({metric})"),
        Cause::Flaky => format!("{id} is flaky"),
        Cause::NotRun { .. }
        | Cause::Interrupted
        | Cause::NoTests
        | Cause::SharesMissing
        | Cause::ExitCode { .. } => id.to_string(),
    }
}

/// The workflow commands for `verdict`, one per line: an `::error` for
/// each finding that fails the run, a `::warning` for each that only
/// warns, at the file and line of the panic when there is one.
pub fn annotations(report: &Report, verdict: &Verdict, places: &Places) -> String {
    let mut out = String::new();
    for f in &verdict.findings {
        let level = match f.severity {
            Severity::Failure => "error",
            Severity::Warning => "warning",
        };
        let at = f
            .test
            .and_then(|i| report.tests.get(i))
            .and_then(|t| {
                let (file, line) = file_line(location(t, f.cause)?)?;
                Some((places.repo_path(&t.package, file)?, line))
            })
            .map(|(file, line)| format!("file={},line={line},", escape_property(&file)))
            .unwrap_or_default();
        out += &format!(
            "::{level} {at}title={}::{}\n",
            escape_property(&title(f)),
            escape_data(&f.message)
        );
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

/// `text` as a fenced code block that nothing in it can end: one backtick
/// more than its longest run of backticks (three at least), each line made
/// visible (control and bidirectional characters escaped).
fn code_block(text: &str) -> String {
    let lines: Vec<String> = text
        .lines()
        .map(|l| escape::visible_line(l).into_owned())
        .collect();
    let longest = lines
        .iter()
        .flat_map(|l| l.split(|c| c != '`'))
        .map(str::len)
        .max()
        .unwrap_or(0);
    let fence = "`".repeat((longest + 1).max(3));
    format!("{fence}\n{}\n{fence}\n", lines.join("\n"))
}

/// The last `max` lines of `text`, and how many there were.
fn last_lines(text: &str, max: usize) -> (String, usize) {
    let lines: Vec<&str> = text.trim_matches('\n').lines().collect();
    let keep = lines.len().saturating_sub(max);
    (lines[keep..].join("\n"), lines.len())
}

/// The step summary: the verdict, the counts, then what fails or warns
/// (failures, budgets, regressions, flaky tests with each attempt) and the
/// heaviest tests.
pub fn step_summary(report: &Report, verdict: &Verdict) -> String {
    let s = &report.summary;
    let mut md = String::from("## cargo-isolate\n\n");
    let word = verdict.word();
    let mut word_cap = word[..1].to_uppercase();
    word_cap += &word[1..];
    md += &format!("**{word_cap}**");
    let (failures, warnings) = (verdict.failure_counts(), verdict.warning_counts());
    if !failures.is_empty() {
        md += &format!(": {}", cell(&failures));
    }
    if !warnings.is_empty() {
        let sep = if failures.is_empty() {
            ": "
        } else {
            "; warnings: "
        };
        md += &format!("{sep}{}", cell(&warnings));
    }
    md += "\n\n";
    md += "| passed | flaky | failed | timed out | OOM-killed | signaled | setup errors | ignored | not run | over budget | regressed |\n";
    md += "|---|---|---|---|---|---|---|---|---|---|---|\n";
    md += &format!(
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n\n",
        s.passed,
        s.flaky,
        s.failed,
        s.timed_out,
        s.oom_killed,
        s.signaled,
        s.setup_error,
        s.ignored,
        report.not_run.len(),
        s.over_budget,
        s.regressed
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
    let what = |p: Policy| match p.budgets_fail {
        true => "fails the run",
        false => "a warning: --budgets warn",
    };
    let breaches: Vec<(&TestRecord, String)> = report
        .tests
        .iter()
        .flat_map(|t| t.over_budget.iter().map(move |w| (t, t.budget_line(*w))))
        .collect();
    if !breaches.is_empty() {
        md += &format!(
            "### Over budget ({})\n\n| test | figure |\n|---|---|\n",
            cell(what(verdict.policy))
        );
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
        md += &format!(
            "### Regressions against the baseline ({})\n\n| test | change |\n|---|---|\n",
            cell(what(verdict.policy))
        );
        for (t, line) in &regs {
            md += &format!("| {} | {} |\n", id_cell(&t.id), cell(line));
        }
        md += "\n";
    }
    md += &flaky_section(report, verdict.policy);
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

/// Each flaky test: its attempts (outcome, duration, why), then the end
/// of each failed attempt's output.
fn flaky_section(report: &Report, policy: Policy) -> String {
    let flaky: Vec<&TestRecord> = report.tests.iter().filter(|t| t.flaky).collect();
    if flaky.is_empty() {
        return String::new();
    }
    let what = match policy.flaky_fails {
        true => "fails the run: --flaky-fails",
        false => "passed on a retry",
    };
    let mut md = format!("### Flaky tests ({})\n\n", cell(what));
    for t in flaky.iter().take(FLAKY_LISTED) {
        md += &format!(
            "{}: passed on attempt {} of {}\n\n",
            escape::markdown_code(&t.id),
            t.last_attempt(),
            t.attempts.len()
        );
        md += "| attempt | outcome | duration | why |\n|---|---|---|---|\n";
        for a in &t.attempts {
            let why = match a.outcome.is_success() {
                true => String::new(),
                false => cell(&t.of_attempt(a).reason(&report.settings)),
            };
            md += &format!(
                "| {} | {} | {} | {why} |\n",
                a.attempt,
                cell(a.outcome.as_str()),
                a.duration_ms.map(measured_ms).unwrap_or_default(),
            );
        }
        md += "\n";
        for a in t.attempts.iter().filter(|a| !a.outcome.is_success()) {
            md += &attempt_output(a);
        }
    }
    if flaky.len() > FLAKY_LISTED {
        md += &format!(
            "and {} more flaky tests (the report has them all)\n\n",
            flaky.len() - FLAKY_LISTED
        );
    }
    md
}

/// The end of an attempt's stderr and stdout, as code.
fn attempt_output(a: &Attempt) -> String {
    let mut md = String::new();
    for (name, text) in [("stderr", &a.stderr), ("stdout", &a.stdout)] {
        let (tail, lines) = last_lines(text, SUMMARY_TAIL_LINES);
        if tail.trim().is_empty() {
            continue;
        }
        let shown = match lines > SUMMARY_TAIL_LINES {
            true => format!("the last {SUMMARY_TAIL_LINES} of {lines} lines"),
            false => format!("{lines} lines"),
        };
        md += &format!(
            "Attempt {}, {name} ({shown}):\n\n{}\n",
            a.attempt,
            code_block(&tail)
        );
    }
    md
}

/// GitHub Actions' subscriber (with GITHUB_ACTIONS=true): workflow
/// commands stop while tests print (they could otherwise write
/// `::error::` or `::add-mask::` lines GitHub would obey), then the
/// annotations, and the markdown summary appended to the step's. The
/// commands go to stdout, or to stderr when stdout is the JSON event
/// stream (GitHub's runner reads commands from both).
pub struct GitHubActions {
    places: Places,
    /// The token that ends `::stop-commands::`: random, made once, and
    /// unlike the run id never given to a test.
    token: String,
    on_stderr: bool,
}

impl GitHubActions {
    /// `None` outside GitHub Actions. `package_dirs`: each package's
    /// directory (absolute); the repository root is GITHUB_WORKSPACE.
    pub fn detect(
        package_dirs: impl IntoIterator<Item = (String, PathBuf)>,
        token: String,
        on_stderr: bool,
    ) -> Option<GitHubActions> {
        if std::env::var("GITHUB_ACTIONS").as_deref() != Ok("true") {
            return None;
        }
        let root = std::env::var_os("GITHUB_WORKSPACE")
            .map(PathBuf::from)
            .or_else(|| std::env::current_dir().ok())
            .unwrap_or_default();
        // Package dirs are canonical: so is the root they are cut from.
        let root = std::fs::canonicalize(&root).unwrap_or(root);
        Some(GitHubActions {
            places: Places {
                root,
                package_dirs: package_dirs.into_iter().collect(),
            },
            token,
            on_stderr,
        })
    }

    /// Workflow commands, on the stream GitHub reads them from here.
    fn say(&self, text: &str) {
        let _ = match self.on_stderr {
            true => std::io::stderr().lock().write_all(text.as_bytes()),
            false => {
                let mut out = std::io::stdout().lock();
                out.write_all(text.as_bytes()).and_then(|_| out.flush())
            }
        };
    }

    fn finished(&self, report: &Report, verdict: &Verdict) {
        self.say(&format!("::{}::\n", self.token));
        self.say(&annotations(report, verdict, &self.places));
        if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY") {
            let written = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(&path)
                .and_then(|mut f| f.write_all(step_summary(report, verdict).as_bytes()));
            if let Err(e) = written {
                eprintln!(
                    "warning: cannot append to $GITHUB_STEP_SUMMARY ({}): {e}",
                    Path::new(&path).display()
                );
            }
        }
    }
}

impl crate::model::Subscriber for GitHubActions {
    fn on(&mut self, event: &crate::model::RunEvent<'_>) {
        use crate::model::RunEvent;
        match *event {
            RunEvent::RunStarted(_) => self.say(&format!("::stop-commands::{}\n", self.token)),
            RunEvent::RunFinished {
                report, verdict, ..
            } => self.finished(report, verdict),
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

    /// A repository holding a workspace of two packages under `ws/` and
    /// a package of its own under `solo/`, and where each package is.
    fn repository() -> (tempfile::TempDir, Places) {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        for f in [
            "ws/alpha/src/lib.rs",
            "ws/beta/src/lib.rs",
            "ws/beta/tests/api.rs",
            "solo/src/lib.rs",
        ] {
            let p = root.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "").unwrap();
        }
        let package_dirs = [("alpha", "ws/alpha"), ("beta", "ws/beta"), ("solo", "solo")]
            .into_iter()
            .map(|(p, d)| (p.to_string(), root.join(d)))
            .collect();
        (tmp, Places { root, package_dirs })
    }

    /// rustc names a workspace package's files from the workspace root:
    /// `beta/tests/api.rs`, not `src/...` from the package, so the
    /// annotation is not `ws/beta/beta/tests/api.rs`.
    #[test]
    fn panic_locations_become_repository_paths() {
        assert_eq!(file_line("src/lib.rs:31:9"), Some(("src/lib.rs", 31)));
        assert_eq!(file_line("nonsense"), None);
        let (_tmp, places) = repository();
        let at = |pkg: &str, file: &str| places.repo_path(pkg, file);
        let some = |s: &str| Some(s.to_string());
        assert_eq!(
            at("beta", "beta/tests/api.rs"),
            some("ws/beta/tests/api.rs")
        );
        assert_eq!(at("beta", "beta/src/lib.rs"), some("ws/beta/src/lib.rs"));
        // A panic in another package of the workspace, called from beta's.
        assert_eq!(at("beta", "alpha/src/lib.rs"), some("ws/alpha/src/lib.rs"));
        // A workspace of one package: its own directory.
        assert_eq!(at("solo", "src/lib.rs"), some("solo/src/lib.rs"));
        // A file not here (the run of an archive): by the package's path.
        assert_eq!(at("beta", "beta/src/gen.rs"), some("ws/beta/src/gen.rs"));
        assert_eq!(at("solo", "src/gen.rs"), some("solo/src/gen.rs"));
        // Absolute: only inside the repository.
        let inside = places.root.join("ws/beta/src/lib.rs");
        assert_eq!(
            at("beta", inside.to_str().unwrap()),
            some("ws/beta/src/lib.rs")
        );
        assert_eq!(at("beta", "/rustc/0123/library/core/src/option.rs"), None);
        // What a test prints as its panic's place leads nowhere else.
        for hostile in ["../../../etc/passwd", "/etc/passwd", "ws/../../x.rs", ""] {
            assert_eq!(at("beta", hostile), None, "{hostile}");
        }
        assert_eq!(at("unknown", "src/lib.rs"), None);
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

    /// A flaky test (failed, then passed) whose first attempt printed
    /// `output` and panicked at `location`.
    fn flaky_record(id: &str, output: &str, location: &str) -> TestRecord {
        let mut first = TestRecord::new(id.into(), "p", "p", "lib", Some(id.into()));
        first.outcome = "failed".into();
        first.exit_code = Some(101);
        first.panic_message = Some(output.into());
        first.panic_location = Some(location.into());
        first.stderr = output.into();
        first.stdout = output.into();
        first.duration_ms = Some(12.5);
        let mut t = first.clone();
        t.outcome = "passed".into();
        t.exit_code = Some(0);
        t.panic_message = None;
        t.panic_location = None;
        t.flaky = true;
        t.attempt = Some(2);
        t.attempts = vec![
            crate::model::Attempt::of(&first, 1, 1 << 10),
            crate::model::Attempt::of(&t, 2, 1 << 10),
        ];
        t
    }

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
        let mut records: Vec<TestRecord> = records.collect();
        records.push(flaky_record(
            HOSTILE_IDS[0],
            &format!("{HOSTILE_PANIC}\n````\n``` ~~~\n</details>\n# not a heading"),
            "src/lib.rs:3:4",
        ));
        let mut r = testing::report(records, "2025-01-01T10:00:00.000Z", 1.0);
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
        let verdict = Verdict::of(&report, Policy::default());
        let md = step_summary(&report, &verdict);
        let seen = markdown_check::both(&md);
        // The summary's own "**Failed**" and "**Incomplete run**", and
        // nothing else.
        assert_eq!(seen.markup, ["Strong", "Strong"], "{md}");
        assert!(
            md.starts_with("## cargo-isolate\n\n**Failed**: 1 test failed\\, "),
            "{md}"
        );
        assert_eq!(
            seen.headings,
            [
                "cargo-isolate",
                "Failures",
                "Over budget (fails the run)",
                "Regressions against the baseline (fails the run)",
                "Flaky tests (passed on a retry)",
                "Highest peak memory"
            ],
            "{md}"
        );
        assert!(seen.items.is_empty(), "{md}");
        // The flaky test's first attempt: its stderr and stdout, each a
        // code block that holds the output, made visible, and nothing more.
        let output = &report.tests[4].attempts[0].stderr;
        let want: String = output.lines().map(|l| visible(l) + "\n").collect();
        assert_eq!(seen.code_blocks, [want.clone(), want], "{md}");
        // Every cell is one cell and reads as the text, made visible.
        let [counts, failures, over, regressed, attempts, heavy] = &seen.tables[..] else {
            panic!("six tables: {md}");
        };
        assert_eq!(counts.len(), 2);
        assert_eq!(counts[0][1], "flaky");
        assert_eq!(counts[1][1], "1");
        let settings = &report.settings;
        let first = report.tests[4].of_attempt(&report.tests[4].attempts[0]);
        assert_eq!(
            attempts[1],
            ["1", "failed", "12.5 ms", &visible(&first.reason(settings))],
            "{md}"
        );
        assert_eq!(attempts[2][..2], ["2", "passed"]);
        let failures: Vec<&[String]> = failures[1..].iter().map(Vec::as_slice).collect();
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
        for (table, width) in [(over, 2), (regressed, 2)] {
            let ids: Vec<&str> = table[1..].iter().map(|r| r[0].as_str()).collect();
            assert_eq!(
                ids,
                [visible(HOSTILE_IDS[2]), visible(HOSTILE_IDS[3])],
                "{md}"
            );
            assert!(table.iter().all(|r| r.len() == width), "{md}");
        }
        assert!(heavy.iter().all(|r| r.len() == 3), "{md}");
        assert_eq!(heavy.len(), 3, "the two that passed, measured: {md}");
    }

    /// The verdict line says what the exit code says: a run that failed
    /// only on a budget is "Failed"; with --budgets warn, "Passed with
    /// warnings"; a flaky test warns unless --flaky-fails.
    #[test]
    fn the_step_summary_starts_with_the_verdict() {
        let mut over = TestRecord::new("p big".into(), "p", "p", "lib", Some("big".into()));
        over.outcome = "passed".into();
        over.budgets = Some(crate::budget::Budgets {
            time_ms: Some(10),
            ..Default::default()
        });
        over.duration_ms = Some(20.0);
        over.over_budget = vec!["time".into()];
        let report = testing::report(vec![over], "2025-01-01T10:00:00.000Z", 1.0);
        let line = |policy: Policy| {
            let md = step_summary(&report, &Verdict::of(&report, policy));
            md.lines().nth(2).unwrap().to_string()
        };
        assert_eq!(
            line(Policy::default()),
            "**Failed**: 1 test over budget \\(\\-\\-budgets fail\\)"
        );
        let warn = Policy {
            budgets_fail: false,
            ..Policy::default()
        };
        assert_eq!(
            line(warn),
            "**Passed with warnings**: 1 test over budget \\(\\-\\-budgets warn\\)"
        );
        let md = step_summary(&report, &Verdict::of(&report, warn));
        let headings = markdown_check::both(&md).headings;
        assert_eq!(
            headings[1], "Over budget (a warning: --budgets warn)",
            "{md}"
        );
        let flaky = testing::report(
            vec![flaky_record("p f", "boom", "src/lib.rs:1:1")],
            "2025-01-01T10:00:00.000Z",
            1.0,
        );
        let strict = Policy {
            flaky_fails: true,
            ..Policy::default()
        };
        let md = step_summary(&flaky, &Verdict::of(&flaky, strict));
        assert!(
            md.contains("**Failed**: 1 flaky test \\(\\-\\-flaky\\-fails\\)"),
            "{md}"
        );
        let headings = markdown_check::both(&md).headings;
        assert_eq!(
            headings[1], "Flaky tests (fails the run: --flaky-fails)",
            "{md}"
        );
        let md = step_summary(&flaky, &Verdict::of(&flaky, Policy::default()));
        assert!(
            md.contains("**Passed with warnings**: 1 flaky test\n"),
            "{md}"
        );
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

    /// Places with no file on disk: paths by the packages' own.
    fn nowhere() -> Places {
        Places {
            root: "/r".into(),
            package_dirs: [("p".to_string(), PathBuf::from("/r/crates/x"))].into(),
        }
    }

    #[test]
    fn annotations_keep_test_text_inside_their_properties_and_message() {
        let mut report = hostile_report();
        report.tests[0].panic_location = Some("src/a,b:c.rs:7:1".into());
        let verdict = Verdict::of(&report, Policy::default());
        let out = annotations(&report, &verdict, &nowhere());
        assert!(!out.contains('\r') && !out.contains('\u{1b}'), "{out:?}");
        let lines: Vec<&str> = out.lines().collect();
        // Two failures, two budget breaches and two regressions, the flaky
        // test, and the test that did not run.
        assert_eq!(lines.len(), 8, "{out}");
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
        for line in &lines[1..6] {
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
        // The flaky test warns, at its failed attempt's panic.
        let (command, props, message) = parse_command(lines[6]);
        assert_eq!(command, "warning");
        assert_eq!(props[0], ("file".into(), "crates/x/src/lib.rs".into()));
        assert_eq!(props[1], ("line".into(), "3".into()));
        assert!(
            message.starts_with("flaky: failed on attempt 1 (panicked: "),
            "{message}"
        );
        let (command, props, message) = parse_command(lines[7]);
        assert_eq!(command, "error");
        assert_eq!(props, [("title".into(), "cargo-isolate".into())]);
        assert!(
            message.starts_with("1 selected test did not run"),
            "{message}"
        );
    }

    /// With --budgets warn a broken budget or a regression is a warning,
    /// and with --flaky-fails a flaky test an error.
    #[test]
    fn annotation_levels_follow_the_policy() {
        let report = hostile_report();
        let levels = |policy: Policy| -> Vec<String> {
            annotations(&report, &Verdict::of(&report, policy), &nowhere())
                .lines()
                .map(|l| parse_command(l).0)
                .collect()
        };
        let policy = Policy {
            budgets_fail: false,
            flaky_fails: true,
            ..Policy::default()
        };
        assert_eq!(
            levels(policy),
            [
                "error", "error", "warning", "warning", "warning", "warning", "error", "error"
            ]
        );
    }
}
