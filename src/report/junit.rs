//! JUnit XML as cargo-nextest writes it (with the same quick-junit crate),
//! so CI readers (GitLab, Jenkins, dorny/test-reporter,
//! mikepenz/action-junit-report) show it as they show nextest's:
//!
//! - `<testsuites name="cargo-isolate-run" uuid=RUN_ID timestamp= time=>`;
//! - one `<testsuite>` per binary id (`demo`, `demo::api`, `pkg::bin/x`);
//! - `<testcase name=TEST classname=BINARY_ID timestamp= time=>`, with peak
//!   memory, RSS, CPU and pids as `<properties>`;
//! - a non-passing test has a `<failure>` (or `<error>`) whose `type` is
//!   nextest's, whose `message` is the one-line reason and whose text is the
//!   panic and the tail of the output, and `<system-out>`/`<system-err>`;
//!   passing tests' output only with `--junit-store-success-output`;
//! - a retried test is as nextest chooses (`reporter/aggregator/junit.rs`):
//!   one that failed every attempt is its *first* attempt's `<failure>`,
//!   each later attempt a `<rerunFailure>`; one that passed on a retry is
//!   its passing attempt, each failed attempt a `<flakyFailure>`, and with
//!   `--flaky-fails` a `<failure type="flaky failure">` over them; every
//!   rerun carries its own message and output;
//! - whatever else fails the run is a `<failure>` too, its reason the
//!   message (the run's [`Verdict`]): a passing test over its budget
//!   (`type="over budget"`) or regressed (`type="regression"`), each
//!   selected test that did not run (`type="not run"`), and what fails the
//!   run as a whole (an interrupted run, no tests, the runner's own error)
//!   as the testcase `run` of the suite `@cargo-isolate`. What only warns
//!   (`--budgets warn`, a flaky test) is a `warning` property;
//! - an ignored test is `<skipped/>` (nextest leaves skipped tests out).

use super::escape::for_terminal;
use super::{Report, TestRecord};
use crate::error::Error;
use crate::model::{Cause, Finding, NOT_RUN, Outcome, Severity, Verdict};
use quick_junit::{
    FlakyOrRerun, NonSuccessKind, Property, TestCase, TestCaseStatus, TestRerun, TestSuite,
};
use std::borrow::Cow;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// The `<testsuites>` name (nextest's default is "nextest-run").
pub const REPORT_NAME: &str = "cargo-isolate-run";

/// The suite of what fails the run as a whole (nextest names its setup
/// scripts' suites `@setup-script:NAME`).
pub const RUN_SUITE: &str = "@cargo-isolate";

/// Lines of stderr, then of stdout, kept in a failure's text.
const TAIL_LINES: usize = 100;

/// `report` judged as its run was (its settings' policy; a report from
/// before they recorded one, as a run's defaults).
pub fn write(report: &Report, path: &Path, store_success_output: bool) -> Result<(), Error> {
    let verdict = Verdict::of(report, report.settings.policy.unwrap_or_default());
    write_with(report, &verdict, path, store_success_output)
}

/// `report` with the run's own verdict.
pub fn write_with(
    report: &Report,
    verdict: &Verdict,
    path: &Path,
    store_success_output: bool,
) -> Result<(), Error> {
    let xml = to_xml(report, verdict, store_success_output).map_err(|e| Error::WriteReport {
        path: path.to_path_buf(),
        source: std::io::Error::other(e),
    })?;
    super::write_atomically(path, xml.as_bytes())
}

/// The report as JUnit XML.
pub fn to_xml(
    report: &Report,
    verdict: &Verdict,
    store_success_output: bool,
) -> Result<String, quick_junit::SerializeError> {
    let mut junit = quick_junit::Report::new(REPORT_NAME);
    junit.set_time(ms(report.duration_ms));
    // quick-junit takes chrono and uuid types, which this crate does not
    // depend on: both parse from their text, the type inferred from the field.
    junit.timestamp = report.started_at.parse().ok();
    junit.uuid = crate::testenv::run_id().parse().ok();

    // Suites in the order their first test appears (the report is sorted by
    // id, so by binary id as nextest orders them).
    let mut suites: Vec<Suite> = Vec::new();
    let mut suite = |binary_id: &str| match suites.iter().position(|s| s.binary_id == binary_id) {
        Some(i) => i,
        None => {
            suites.push(Suite::new(binary_id));
            suites.len() - 1
        }
    };
    let mut cases: Vec<(usize, TestCase, Option<&TestRecord>)> = Vec::new();
    for (i, t) in report.tests.iter().enumerate() {
        let c = case(report, t, verdict.of_test(i), store_success_output);
        cases.push((suite(&t.binary_id), c, Some(t)));
    }
    // A test that did not run has no record: its id is `BINARY_ID NAME`.
    for id in &report.not_run {
        let (binary_id, name) = id.split_once(' ').unwrap_or((id, id));
        let c = unrecorded(name, binary_id, "not run", NOT_RUN);
        cases.push((suite(binary_id), c, None));
    }
    let run: Vec<&Finding> = verdict
        .of_run()
        .filter(|f| !matches!(f.cause, Cause::NotRun { .. }))
        .collect();
    if !run.is_empty() {
        let message: Vec<&str> = run.iter().map(|f| f.message.as_str()).collect();
        let c = unrecorded("run", RUN_SUITE, "run failure", &message.join("; "));
        cases.push((suite(RUN_SUITE), c, None));
    }
    for (i, c, t) in cases {
        suites[i].add(t, c);
    }
    junit.add_test_suites(suites.into_iter().map(Suite::finish));
    junit.to_string()
}

/// A `<testsuite>` being filled, with the span of its tests.
struct Suite {
    binary_id: String,
    suite: TestSuite,
    first_start: Option<SystemTime>,
    last_end: Option<SystemTime>,
    total: Duration,
}

impl Suite {
    fn new(binary_id: &str) -> Suite {
        Suite {
            binary_id: binary_id.to_string(),
            suite: TestSuite::new(xml_text(binary_id)),
            first_start: None,
            last_end: None,
            total: Duration::ZERO,
        }
    }

    /// A testcase, and the span of its record's run (none: not run).
    fn add(&mut self, t: Option<&TestRecord>, case: TestCase) {
        if let Some(t) = t {
            let took = t.duration_ms.map(ms).unwrap_or_default();
            self.total += took;
            if let Some(start) = t
                .started_at
                .as_deref()
                .and_then(|s| humantime::parse_rfc3339(s).ok())
            {
                self.first_start = Some(self.first_start.map_or(start, |f| f.min(start)));
                let end = start + took;
                self.last_end = Some(self.last_end.map_or(end, |l| l.max(end)));
            }
        }
        self.suite.add_test_case(case);
    }

    /// `timestamp` is when its first test started, `time` the wall-clock
    /// span to when its last one ended (tests run in parallel, so the sum
    /// of their times would overstate it; the sum is the fallback when no
    /// test has a start time).
    fn finish(mut self) -> TestSuite {
        let s = &mut self.suite;
        // quick-junit writes `skipped`; an ignored test is also disabled by
        // design (`#[ignore]`), which older readers count as `disabled`.
        s.disabled = Some(s.skipped);
        match (self.first_start, self.last_end) {
            (Some(first), Some(last)) => {
                s.timestamp = super::rfc3339(first).parse().ok();
                s.set_time(last.duration_since(first).unwrap_or_default());
            }
            _ => {
                s.set_time(self.total);
            }
        }
        self.suite
    }
}

/// The `<failure>`/`<error>` element and `type` nextest writes for an
/// outcome (nextest-runner's `reporter/aggregator/junit.rs`,
/// `non_success_kind_and_type`): a test that failed, timed out or was
/// killed by a signal is a `<failure>` ("test failure with exit code N",
/// "test timeout", "test abort"); one whose process could not be started
/// is an `<error>` ("execution failure"). So: an OOM kill (SIGKILL from the
/// kernel) is a "test abort" failure like any other signal, and a sandbox
/// that could not be made (setup_error) is nextest's execution failure, an
/// `<error>`.
fn kind_and_type(t: &TestRecord) -> (NonSuccessKind, String) {
    match t.outcome {
        Outcome::Failed => (
            NonSuccessKind::Failure,
            match t.exit_code {
                Some(code) => format!("test failure with exit code {code}"),
                None => "test failure".into(),
            },
        ),
        Outcome::TimedOut => (NonSuccessKind::Failure, "test timeout".into()),
        Outcome::OomKilled | Outcome::Signaled => (NonSuccessKind::Failure, "test abort".into()),
        _ => (NonSuccessKind::Error, "execution failure".into()),
    }
}

/// The `type` of a `<failure>` a passing test gets from the verdict.
fn finding_type(cause: Cause) -> &'static str {
    match cause {
        Cause::Flaky => "flaky failure",
        Cause::OverBudget { .. } => "over budget",
        Cause::Regressed { .. } => "regression",
        _ => "test failure",
    }
}

/// Which attempt a retried test's testcase shows and which are its
/// reruns, as nextest chooses: a test that failed every attempt is its
/// first failure (the later attempts rerun failures); a test that passed
/// is its passing attempt (the failed ones before it flaky failures).
/// The last attempt is the record itself, with its whole output.
fn attempts(t: &TestRecord) -> (Cow<'_, TestRecord>, Vec<Cow<'_, TestRecord>>, FlakyOrRerun) {
    let n = t.attempts.len();
    if n < 2 {
        return (Cow::Borrowed(t), Vec::new(), FlakyOrRerun::Rerun);
    }
    let earlier = || {
        t.attempts[..n - 1]
            .iter()
            .map(|a| Cow::Owned(t.of_attempt(a)))
    };
    match t.outcome.is_success() {
        true => (Cow::Borrowed(t), earlier().collect(), FlakyOrRerun::Flaky),
        false => {
            let mut all = earlier();
            let first = all.next().unwrap_or(Cow::Borrowed(t));
            let reruns = all.chain([Cow::Borrowed(t)]).collect();
            (first, reruns, FlakyOrRerun::Rerun)
        }
    }
}

fn case(
    report: &Report,
    t: &TestRecord,
    findings: &[Finding],
    store_success_output: bool,
) -> TestCase {
    let (main, reruns, rerun_kind) = attempts(t);
    let failures: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.severity == Severity::Failure)
        .collect();
    let (mut status, store_output) = match main.outcome {
        // It never ran: there is no output to store.
        Outcome::Ignored => (TestCaseStatus::skipped(), false),
        Outcome::Passed if failures.is_empty() => (TestCaseStatus::success(), store_success_output),
        // It passed; what fails the run is the verdict's (a budget, a
        // regression, --flaky-fails).
        Outcome::Passed => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_type(finding_type(failures[0].cause));
            s.set_message(xml_text(&failures[0].message));
            let text: Vec<&str> = failures.iter().map(|f| f.message.as_str()).collect();
            s.set_description(xml_text(&(text.join("\n") + "\n")));
            (s, true)
        }
        _ => {
            let (kind, ty) = kind_and_type(&main);
            let reason = main.reason(&report.settings);
            let mut text = failure_text(&main, &reason);
            // Anything else that fails the run with it (a broken budget).
            for f in failures
                .iter()
                .filter(|f| !matches!(f.cause, Cause::Outcome { .. }))
            {
                text = format!("{}\n{text}", f.message);
            }
            let mut s = TestCaseStatus::non_success(kind);
            s.set_type(ty);
            s.set_description(xml_text(&text));
            s.set_message(xml_text(&reason));
            (s, true)
        }
    };
    status.set_rerun_kind(rerun_kind);
    status.add_reruns(reruns.iter().map(|a| rerun(report, a)));
    let name = t.name.clone().unwrap_or_else(|| t.binary_id.clone());
    let mut c = TestCase::new(xml_text(&name), status);
    c.set_classname(xml_text(&t.binary_id));
    c.timestamp = main.started_at.as_deref().and_then(|s| s.parse().ok());
    if let Some(d) = main.duration_ms {
        c.set_time(ms(d));
    }
    let props = [
        (
            "peak_memory_bytes",
            main.peak_memory_bytes.map(|v| v.to_string()),
        ),
        ("peak_rss_bytes", main.peak_rss_bytes.map(|v| v.to_string())),
        ("cpu_ms", main.cpu_ms.map(|v| format!("{v:.3}"))),
        ("pids_peak", main.pids_peak.map(|v| v.to_string())),
        // Whether each limit set held: a limit not enforced is never
        // implied by a figure below it.
        (
            "memory_max_enforced",
            t.limits.enforced.memory_max.map(|v| v.to_string()),
        ),
        (
            "pids_max_enforced",
            t.limits.enforced.pids_max.map(|v| v.to_string()),
        ),
        (
            "cpus_enforced",
            t.limits.enforced.cpus.map(|v| v.to_string()),
        ),
    ];
    for (k, v) in props {
        if let Some(v) = v {
            c.add_property(Property::new(k, v));
        }
    }
    // JUnit has no warnings: what only warns is said as a property.
    for f in findings.iter().filter(|f| f.severity == Severity::Warning) {
        c.add_property(Property::new("warning", xml_text(&f.message)));
    }
    if store_output {
        c.set_system_out(xml_text(&main.stdout));
        c.set_system_err(xml_text(&main.stderr));
    }
    c
}

/// A testcase with no record: a test that did not run, or the run itself.
fn unrecorded(name: &str, classname: &str, ty: &str, message: &str) -> TestCase {
    let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
    s.set_type(ty);
    s.set_message(xml_text(message));
    let mut c = TestCase::new(xml_text(name), s);
    c.set_classname(xml_text(classname));
    c
}

fn rerun(report: &Report, a: &TestRecord) -> TestRerun {
    let (kind, ty) = kind_and_type(a);
    let reason = a.reason(&report.settings);
    let mut r = TestRerun::new(kind);
    r.set_type(ty);
    r.set_message(xml_text(&reason));
    r.set_stack_trace(xml_text(&failure_text(a, &reason)));
    r.set_system_out(xml_text(&a.stdout));
    r.set_system_err(xml_text(&a.stderr));
    r.timestamp = a.started_at.as_deref().and_then(|s| s.parse().ok());
    if let Some(d) = a.duration_ms {
        r.set_time(ms(d));
    }
    r
}

/// The text of a `<failure>`: why, where it panicked, then the last
/// [`TAIL_LINES`] lines of stderr and of stdout (libtest prints the panic
/// on stderr, its summary on stdout):
///
/// ```text
/// panicked: assertion `left == right` failed: ...
///     at src/lib.rs:31:9
///
/// --- stderr ---
/// ...
/// --- stdout (last 100 of 250 lines) ---
/// ...
/// ```
fn failure_text(t: &TestRecord, reason: &str) -> String {
    let mut out = String::from(reason);
    if let Some(loc) = &t.panic_location {
        out += &format!("\n    at {loc}");
    }
    out.push('\n');
    for (label, text) in [("stderr", &t.stderr), ("stdout", &t.stdout)] {
        let text = text.trim_matches('\n');
        if text.trim().is_empty() {
            continue;
        }
        let lines: Vec<&str> = text.lines().collect();
        let keep = lines.len().min(TAIL_LINES);
        if keep < lines.len() {
            out += &format!("\n--- {label} (last {keep} of {} lines) ---\n", lines.len());
        } else {
            out += &format!("\n--- {label} ---\n");
        }
        out += &lines[lines.len() - keep..].join("\n");
        out.push('\n');
    }
    out
}

fn ms(ms: f64) -> Duration {
    Duration::try_from_secs_f64(ms / 1000.0).unwrap_or_default()
}

/// `s` made safe for XML 1.0 and for quick-junit, which strips ANSI escape
/// sequences and silently drops every other control character (tabs and
/// carriage returns too) but lets U+FFFE and U+FFFF through, which no XML
/// parser accepts. Here:
/// - ANSI sequences (colours, cursor moves, OSC titles and links) are
///   removed, as nextest's JUnit output does, so coloured output reads as
///   plain text in CI;
/// - a tab becomes spaces to the next multiple of 8 columns, as a terminal
///   shows it, and "\r\n" becomes "\n";
/// - every other control character (a lone ESC or '\r', NUL, BEL, DEL, C1)
///   and U+FFFE/U+FFFF become the visible escapes the terminal output uses
///   (`\x1b`, `\r`, `\0`, `\x7f`, `\u{9b}`, `\u{fffe}`), so nothing
///   vanishes.
///
/// What is left is only printable text and '\n', which quick-junit passes
/// through unchanged and escapes (`<`, `&`, quotes) when it writes.
pub fn xml_text(s: &str) -> Cow<'_, str> {
    let needs_work =
        |c: char| (c.is_control() && c != '\n') || matches!(c, '\u{fffe}' | '\u{ffff}');
    if !s.chars().any(needs_work) {
        return Cow::Borrowed(s);
    }
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut column = 0;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\x1b'
            && let Some(len) = ansi_sequence_len(&chars[i..])
        {
            i += len;
            continue;
        }
        i += 1;
        match c {
            '\n' => {
                out.push('\n');
                column = 0;
            }
            '\r' if chars.get(i) == Some(&'\n') => {}
            '\t' => {
                let n = 8 - column % 8;
                out.extend(std::iter::repeat_n(' ', n));
                column += n;
            }
            '\u{fffe}' | '\u{ffff}' => {
                let e = format!("\\u{{{:x}}}", c as u32);
                column += e.len();
                out += &e;
            }
            c if c.is_control() => {
                let mut buf = [0u8; 4];
                let e = for_terminal(c.encode_utf8(&mut buf));
                column += e.chars().count();
                out += &e;
            }
            c => {
                out.push(c);
                column += 1;
            }
        }
    }
    Cow::Owned(out)
}

/// The length in chars of the ANSI escape sequence at the start of `s`
/// (which starts with ESC), if it is one: CSI (`ESC [ params final`), OSC
/// (`ESC ] ... BEL` or `... ESC \`), a charset designation (`ESC ( B`) or a
/// two-character escape (`ESC 7`, `ESC M`).
fn ansi_sequence_len(s: &[char]) -> Option<usize> {
    match *s.get(1)? {
        '[' => {
            let mut i = 2;
            while matches!(s.get(i), Some('\x20'..='\x3f')) {
                i += 1;
            }
            matches!(s.get(i), Some('\x40'..='\x7e')).then_some(i + 1)
        }
        ']' => {
            let mut i = 2;
            loop {
                match s.get(i)? {
                    '\x07' => return Some(i + 1),
                    '\x1b' => return (s.get(i + 1) == Some(&'\\')).then_some(i + 2),
                    '\n' => return None,
                    _ => i += 1,
                }
            }
        }
        '(' | ')' | '*' | '+' => s.get(2).filter(|c| c.is_ascii_graphic()).map(|_| 3),
        '\x30'..='\x7e' => Some(2),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Policy;

    const STARTED: &str = "2024-05-06T07:08:09.123Z";

    fn report(tests: Vec<TestRecord>) -> Report {
        crate::report::testing::report(tests, STARTED, 2500.0)
    }

    /// A test of `demo`'s library (or, with `kind` "test", of its
    /// integration test `api`) that ran for 100ms from `start_ms` after
    /// the run started.
    fn record(kind: &str, name: &str, outcome: &'static str, start_ms: u64) -> TestRecord {
        let binary = if kind == "test" { "api" } else { "demo" };
        let mut r = TestRecord::new(
            format!("{} {name}", crate::model::binary_id("demo", binary, kind)),
            "demo",
            binary,
            kind,
            Some(name.into()),
        );
        r.outcome = outcome.into();
        if outcome != "ignored" {
            let start = humantime::parse_rfc3339(STARTED).unwrap() + ms(start_ms as f64);
            r.started_at = Some(crate::report::rfc3339(start));
            r.duration_ms = Some(100.0);
            r.cpu_ms = Some(12.5);
            r.peak_memory_bytes = Some(2 << 20);
            r.peak_rss_bytes = Some(3 << 20);
            r.pids_peak = Some(3);
            r.stdout = format!("\nrunning 1 test\ntest {name} ... {outcome}\n");
        }
        r
    }

    fn failed(name: &str) -> TestRecord {
        let mut r = record("lib", name, "failed", 200);
        r.exit_code = Some(101);
        r.stderr = format!(
            "\nthread '{name}' panicked at src/lib.rs:31:9:\nassertion failed: boom\n  left: 4\n"
        );
        r.find_panic();
        r
    }

    fn xml(tests: Vec<TestRecord>, store_success_output: bool) -> String {
        judged(&report(tests), Policy::default(), store_success_output)
    }

    /// `r` as XML, judged under `policy`.
    fn judged(r: &Report, policy: Policy, store_success_output: bool) -> String {
        let xml = to_xml(r, &Verdict::of(r, policy), store_success_output).unwrap();
        // Every output must parse, whatever the tests printed.
        if let Err(e) = roxmltree::Document::parse(&xml) {
            panic!("not well-formed XML ({e}):\n{xml}");
        }
        xml
    }

    fn testcase<'a>(doc: &'a roxmltree::Document, name: &str) -> roxmltree::Node<'a, 'a> {
        doc.descendants()
            .find(|n| n.has_tag_name("testcase") && n.attribute("name") == Some(name))
            .unwrap_or_else(|| panic!("no testcase {name}"))
    }

    fn child<'a>(n: roxmltree::Node<'a, 'a>, tag: &str) -> Option<roxmltree::Node<'a, 'a>> {
        n.children().find(|c| c.has_tag_name(tag))
    }

    fn properties(n: roxmltree::Node) -> Vec<(String, String)> {
        child(n, "properties")
            .map(|p| {
                p.children()
                    .filter(|c| c.has_tag_name("property"))
                    .map(|c| {
                        (
                            c.attribute("name").unwrap().to_string(),
                            c.attribute("value").unwrap().to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn attr<'a>(n: roxmltree::Node<'a, 'a>, name: &str) -> &'a str {
        n.attribute(name)
            .unwrap_or_else(|| panic!("<{}> has no {name}", n.tag_name().name()))
    }

    #[test]
    fn testsuites_carry_the_run() {
        let text = xml(
            vec![
                record("lib", "tests::a", "passed", 0),
                failed("tests::b"),
                record("lib", "tests::c", "ignored", 0),
                record("test", "round_trip", "passed", 900),
                {
                    let mut r = record("test", "crashes", "setup_error", 1000);
                    r.error = Some("no namespaces".into());
                    r
                },
            ],
            false,
        );
        let doc = roxmltree::Document::parse(&text).unwrap();
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "testsuites");
        assert_eq!(attr(root, "name"), "cargo-isolate-run");
        assert_eq!(attr(root, "tests"), "5");
        assert_eq!(attr(root, "failures"), "1");
        assert_eq!(attr(root, "errors"), "1");
        assert_eq!(attr(root, "time"), "2.500");
        assert_eq!(attr(root, "timestamp"), "2024-05-06T07:08:09.123+00:00");
        assert_eq!(attr(root, "uuid"), crate::testenv::run_id());

        let suites: Vec<_> = root
            .children()
            .filter(|n| n.has_tag_name("testsuite"))
            .collect();
        let names: Vec<&str> = suites.iter().map(|s| attr(*s, "name")).collect();
        assert_eq!(names, ["demo", "demo::api"]);
        let lib = suites[0];
        assert_eq!(attr(lib, "tests"), "3");
        assert_eq!(attr(lib, "failures"), "1");
        assert_eq!(attr(lib, "errors"), "0");
        assert_eq!(attr(lib, "disabled"), "1");
        assert_eq!(attr(lib, "skipped"), "1");
        // From its first test's start (0ms) to its last one's end (300ms).
        assert_eq!(attr(lib, "timestamp"), "2024-05-06T07:08:09.123+00:00");
        assert_eq!(attr(lib, "time"), "0.300");
        let api = suites[1];
        assert_eq!(
            (
                attr(api, "tests"),
                attr(api, "failures"),
                attr(api, "errors"),
                attr(api, "skipped")
            ),
            ("2", "0", "1", "0")
        );
        assert_eq!(attr(api, "timestamp"), "2024-05-06T07:08:10.023+00:00");
        assert_eq!(attr(api, "time"), "0.200");
    }

    #[test]
    fn testcases_name_the_test_and_its_binary() {
        let mut whole = record("test", "x", "passed", 0);
        whole.name = None;
        let text = xml(vec![record("lib", "tests::a", "passed", 400), whole], false);
        let doc = roxmltree::Document::parse(&text).unwrap();
        let a = testcase(&doc, "tests::a");
        assert_eq!(attr(a, "classname"), "demo");
        assert_eq!(attr(a, "time"), "0.100");
        assert_eq!(attr(a, "timestamp"), "2024-05-06T07:08:09.523+00:00");
        // A binary run whole is named by its binary id.
        assert_eq!(attr(testcase(&doc, "demo::api"), "classname"), "demo::api");
        assert_eq!(
            properties(a),
            [
                ("peak_memory_bytes", "2097152"),
                ("peak_rss_bytes", "3145728"),
                ("cpu_ms", "12.500"),
                ("pids_peak", "3"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        );
    }

    /// As nextest: a test that passed on a retry is a pass with a
    /// `<flakyFailure>` per failed attempt; one that failed every attempt
    /// is a `<failure>` with a `<rerunFailure>` per earlier attempt, each
    /// with its own message and output.
    #[test]
    fn retried_tests_keep_their_failed_attempts() {
        use crate::report::flaky::Attempt;
        let mut first = failed("tests::flaky");
        first.stdout = "first attempt's output".into();
        let mut flaky = record("lib", "tests::flaky", "passed", 0);
        flaky.flaky = true;
        flaky.attempt = Some(2);
        flaky.attempts = vec![
            Attempt::of(&first, 1, 1 << 20),
            Attempt::of(&flaky, 2, 1 << 20),
        ];
        let mut broken = failed("tests::broken");
        broken.attempt = Some(3);
        broken.attempts = (1..=3).map(|n| Attempt::of(&broken, n, 1 << 20)).collect();
        let text = xml(vec![flaky, broken], false);
        let doc = roxmltree::Document::parse(&text).unwrap();
        let children = |name: &str, tag: &str| {
            testcase(&doc, name)
                .children()
                .filter(|n| n.has_tag_name(tag))
                .count()
        };
        assert_eq!(children("tests::flaky", "flakyFailure"), 1, "{text}");
        assert_eq!(children("tests::flaky", "failure"), 0);
        assert_eq!(children("tests::broken", "rerunFailure"), 2);
        assert_eq!(children("tests::broken", "failure"), 1);
        let rerun = testcase(&doc, "tests::flaky")
            .children()
            .find(|n| n.has_tag_name("flakyFailure"))
            .unwrap();
        assert!(attr(rerun, "message").starts_with("panicked: "), "{text}");
        let out = rerun
            .children()
            .find(|n| n.has_tag_name("system-out"))
            .unwrap();
        assert_eq!(out.text(), Some("first attempt's output"));
    }

    /// nextest's choice for a test that failed every attempt: its first
    /// attempt is the `<failure>` (type, message, time and output), each
    /// later one a `<rerunFailure>`, the last with the record's whole
    /// output.
    #[test]
    fn a_test_that_failed_every_attempt_is_its_first_failure() {
        use crate::report::flaky::Attempt;
        let mut first = record("lib", "tests::broken", "timed_out", 0);
        first.stdout = "first attempt's output".into();
        first.duration_ms = Some(3000.0);
        let mut second = failed("tests::broken");
        second.stdout = "second attempt's output".into();
        let mut last = failed("tests::broken");
        last.stdout = "the last attempt's whole output".into();
        last.attempt = Some(3);
        last.attempts = vec![
            Attempt::of(&first, 1, 1 << 20),
            Attempt::of(&second, 2, 1 << 20),
            Attempt::of(&last, 3, 4),
        ];
        let text = xml(vec![last], false);
        let doc = roxmltree::Document::parse(&text).unwrap();
        let c = testcase(&doc, "tests::broken");
        let failure = child(c, "failure").unwrap();
        assert_eq!(attr(failure, "type"), "test timeout", "{text}");
        assert_eq!(attr(failure, "message"), "timed out after 3s");
        assert_eq!(attr(c, "time"), "3.000");
        assert_eq!(
            child(c, "system-out").unwrap().text(),
            Some("first attempt's output")
        );
        let reruns: Vec<_> = c
            .children()
            .filter(|n| n.has_tag_name("rerunFailure"))
            .collect();
        assert_eq!(reruns.len(), 2, "{text}");
        assert_eq!(attr(reruns[0], "type"), "test failure with exit code 101");
        let out = |n: roxmltree::Node| child(n, "system-out").unwrap().text().unwrap().to_string();
        assert_eq!(out(reruns[0]), "second attempt's output");
        assert_eq!(out(reruns[1]), "the last attempt's whole output");
        assert_eq!(
            c.children()
                .filter(|n| n.has_tag_name("flakyFailure"))
                .count(),
            0
        );
    }

    /// A flaky test is a pass with its failed attempts as
    /// `<flakyFailure>`, and a warning; with --flaky-fails, nextest's
    /// `<failure type="flaky failure">` over the same flaky failures.
    #[test]
    fn a_flaky_test_warns_or_fails_as_the_run_does() {
        use crate::report::flaky::Attempt;
        let mut first = failed("tests::flaky");
        first.stdout = "first attempt's output".into();
        let mut t = record("lib", "tests::flaky", "passed", 0);
        t.flaky = true;
        t.attempt = Some(2);
        t.attempts = vec![Attempt::of(&first, 1, 1 << 20), Attempt::of(&t, 2, 1 << 20)];
        let r = report(vec![t]);
        let text = judged(&r, Policy::default(), false);
        let doc = roxmltree::Document::parse(&text).unwrap();
        let c = testcase(&doc, "tests::flaky");
        assert!(child(c, "failure").is_none(), "{text}");
        assert_eq!(attr(doc.root_element(), "failures"), "0");
        let warning = properties(c)
            .into_iter()
            .find(|(k, _)| k == "warning")
            .unwrap_or_else(|| panic!("no warning property: {text}"));
        assert!(
            warning
                .1
                .starts_with("flaky: failed on attempt 1 (panicked: "),
            "{text}"
        );

        let strict = Policy {
            flaky_fails: true,
            ..Policy::default()
        };
        let text = judged(&r, strict, false);
        let doc = roxmltree::Document::parse(&text).unwrap();
        assert_eq!(attr(doc.root_element(), "failures"), "1", "{text}");
        let c = testcase(&doc, "tests::flaky");
        let failure = child(c, "failure").unwrap();
        assert_eq!(attr(failure, "type"), "flaky failure");
        assert!(attr(failure, "message").ends_with("--flaky-fails fails the run"));
        let flaky = child(c, "flakyFailure").unwrap_or_else(|| panic!("{text}"));
        assert_eq!(
            child(flaky, "system-out").unwrap().text(),
            Some("first attempt's output")
        );
        assert!(child(c, "rerunFailure").is_none());
    }

    /// A test that passed over its budget fails the run: a `<failure>`
    /// naming the budget, so that no JUnit reader shows the run green;
    /// with --budgets warn it passes, with the breach as a warning.
    #[test]
    fn a_budget_breach_is_a_failure_unless_warned() {
        let mut t = record("lib", "tests::big", "passed", 0);
        t.budgets = Some(crate::model::Budgets {
            memory_bytes: Some(1 << 20),
            ..Default::default()
        });
        t.over_budget = vec![crate::model::Metric::Memory];
        let mut r = report(vec![t, record("lib", "tests::ok", "passed", 0)]);
        r.tests[0].regressions = vec![crate::model::Regression {
            metric: crate::model::Metric::Cpu,
            baseline: 1.0,
            now: 2.0,
            percent: 100.0,
        }];
        let text = judged(&r, Policy::default(), false);
        let doc = roxmltree::Document::parse(&text).unwrap();
        assert_eq!(attr(doc.root_element(), "failures"), "1", "{text}");
        let c = testcase(&doc, "tests::big");
        let failure = child(c, "failure").unwrap();
        assert_eq!(attr(failure, "type"), "over budget");
        assert_eq!(
            attr(failure, "message"),
            "over its memory budget: peak memory 2.0 MiB, budget 1.0 MiB"
        );
        assert!(
            failure
                .text()
                .unwrap()
                .contains("\nregressed against the baseline: cpu +100.0%"),
            "{text}"
        );
        // Its output goes with the failure.
        assert!(child(c, "system-out").is_some());

        let warn = Policy {
            budgets_fail: false,
            ..Policy::default()
        };
        let text = judged(&r, warn, false);
        let doc = roxmltree::Document::parse(&text).unwrap();
        assert_eq!(attr(doc.root_element(), "failures"), "0", "{text}");
        let c = testcase(&doc, "tests::big");
        assert!(child(c, "failure").is_none() && child(c, "system-out").is_none());
        let warnings: Vec<String> = properties(c)
            .into_iter()
            .filter(|(k, _)| k == "warning")
            .map(|(_, v)| v)
            .collect();
        assert_eq!(warnings.len(), 2, "{text}");
        assert!(warnings[0].starts_with("over its memory budget: "));
    }

    /// Tests that did not run are failures in their binary's suite; a run
    /// stopped before its tests, or with no tests, is the failing testcase
    /// `run` of `@cargo-isolate`.
    #[test]
    fn what_did_not_run_fails_in_the_file_too() {
        let mut r = report(vec![failed("tests::b")]);
        r.complete = false;
        r.not_run = vec!["demo tests::later".into(), "demo::api".into()];
        let text = judged(&r, Policy::default(), false);
        let doc = roxmltree::Document::parse(&text).unwrap();
        assert_eq!(attr(doc.root_element(), "tests"), "3", "{text}");
        assert_eq!(attr(doc.root_element(), "failures"), "3");
        let later = testcase(&doc, "tests::later");
        assert_eq!(attr(later, "classname"), "demo");
        let failure = child(later, "failure").unwrap();
        assert_eq!(attr(failure, "type"), "not run");
        assert_eq!(attr(failure, "message"), NOT_RUN);
        assert_eq!(attr(testcase(&doc, "demo::api"), "classname"), "demo::api");
        assert!(!text.contains(RUN_SUITE), "{text}");

        let mut r = report(Vec::new());
        r.complete = false;
        let text = judged(&r, Policy::default(), false);
        let doc = roxmltree::Document::parse(&text).unwrap();
        assert_eq!(attr(doc.root_element(), "failures"), "1", "{text}");
        let run = testcase(&doc, "run");
        assert_eq!(attr(run, "classname"), RUN_SUITE);
        assert!(attr(child(run, "failure").unwrap(), "message").starts_with("the run stopped"));
        // The runner's own error: its exit code.
        let r = report(vec![record("lib", "tests::a", "passed", 0)]);
        let v = Verdict::of(&r, Policy::default()).with_exit_code(96);
        let text = to_xml(&r, &v, false).unwrap();
        assert!(
            text.contains("message=\"the run ended with exit code 96\""),
            "{text}"
        );
    }

    #[test]
    fn passing_tests_keep_their_output_only_when_asked() {
        let tests = || vec![record("lib", "tests::a", "passed", 0), failed("tests::b")];
        let text = xml(tests(), false);
        let doc = roxmltree::Document::parse(&text).unwrap();
        let a = testcase(&doc, "tests::a");
        assert_eq!(
            a.children().filter(|n| n.is_element()).count(),
            1,
            "only properties: {text}"
        );
        assert!(child(a, "system-out").is_none() && child(a, "system-err").is_none());
        let b = testcase(&doc, "tests::b");
        assert!(child(b, "system-out").is_some() && child(b, "system-err").is_some());

        let text = xml(tests(), true);
        let doc = roxmltree::Document::parse(&text).unwrap();
        let out = child(testcase(&doc, "tests::a"), "system-out").unwrap();
        assert_eq!(
            out.text().unwrap(),
            "\nrunning 1 test\ntest tests::a ... passed\n"
        );
        assert!(child(testcase(&doc, "tests::a"), "system-err").is_some());
    }

    #[test]
    fn ignored_tests_are_skipped() {
        let text = xml(vec![record("lib", "tests::c", "ignored", 0)], true);
        let doc = roxmltree::Document::parse(&text).unwrap();
        let c = testcase(&doc, "tests::c");
        assert!(child(c, "skipped").is_some());
        assert!(child(c, "system-out").is_none());
        assert!(c.attribute("timestamp").is_none() && child(c, "properties").is_none());
    }

    #[test]
    fn every_outcome_has_nextests_element_type_and_our_reason() {
        let mut cases = vec![failed("f")];
        let mut plain = record("lib", "plain", "failed", 0);
        plain.exit_code = Some(3);
        cases.push(plain);
        cases.push(record("lib", "slow", "timed_out", 0));
        let mut oom = record("lib", "big", "oom_killed", 0);
        oom.panic_message = Some("boom".into());
        cases.push(oom);
        let mut seg = record("lib", "seg", "signaled", 0);
        seg.signal = Some("SIGSEGV".into());
        cases.push(seg);
        let mut setup = record("lib", "setup", "setup_error", 0);
        setup.error = Some("cannot make a cgroup".into());
        cases.push(setup);
        let text = xml(cases, false);
        let doc = roxmltree::Document::parse(&text).unwrap();
        for (name, tag, ty, message) in [
            (
                "f",
                "failure",
                "test failure with exit code 101",
                "panicked: assertion failed: boom",
            ),
            (
                "plain",
                "failure",
                "test failure with exit code 3",
                "exit code 3",
            ),
            ("slow", "failure", "test timeout", "timed out after 3s"),
            (
                "big",
                "failure",
                "test abort",
                "killed at the memory limit of 32.0 MiB, after it panicked: boom",
            ),
            ("seg", "failure", "test abort", "SIGSEGV"),
            (
                "setup",
                "error",
                "execution failure",
                "setup error: cannot make a cgroup",
            ),
        ] {
            let c = testcase(&doc, name);
            let status = child(c, tag).unwrap_or_else(|| panic!("{name}: no <{tag}>"));
            assert_eq!(attr(status, "type"), ty, "{name}");
            assert_eq!(attr(status, "message"), message, "{name}");
            assert!(status.text().unwrap().starts_with(message), "{name}");
            // Output is stored for every non-passing test.
            assert!(child(c, "system-out").is_some(), "{name}");
        }
    }

    #[test]
    fn failure_text_has_the_panic_and_the_output_tail() {
        let mut r = failed("tests::b");
        r.stderr += &(1..=150).map(|i| format!("line {i}\n")).collect::<String>();
        let text = xml(vec![r], false);
        let doc = roxmltree::Document::parse(&text).unwrap();
        let body = child(testcase(&doc, "tests::b"), "failure")
            .unwrap()
            .text()
            .unwrap();
        assert!(
            body.starts_with("panicked: assertion failed: boom\n    at src/lib.rs:31:9\n"),
            "{body}"
        );
        // 3 lines of panic and 150 more: the last 100.
        assert!(body.contains("\n--- stderr (last 100 of 153 lines) ---\nline 51\n"));
        assert!(!body.contains("line 50\n") && !body.contains("left: 4"));
        assert!(
            body.contains("line 150\n\n--- stdout ---\nrunning 1 test\ntest tests::b ... failed\n")
        );

        let body = failure_text(&failed("x"), "why");
        assert!(body.contains("--- stderr ---\nthread 'x' panicked at src/lib.rs:31:9:\nassertion failed: boom\n  left: 4\n"));
    }

    #[test]
    fn control_characters_cannot_break_the_xml() {
        let mut r = failed("tests::\x1b[31mevil\x1b[0m\x07");
        let nasty = "\x1b[1;31mred\x1b[0m \x1b]0;title\x07\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\ \
                     nul\0 bell\x07 bs\x08 vt\x0b ff\x0c so\x0e us\x1f esc\x1b del\x7f c1\u{9b}1m \
                     cr\rlf\r\n tab\tx fffe\u{fffe} ffff\u{ffff} <&\"'> ]]> \x1b";
        r.stdout = nasty.into();
        r.stderr = nasty.into();
        r.error = Some(nasty.into());
        r.signal = Some(nasty.into());
        r.panic_message = Some(nasty.into());
        let mut passed = record("lib", "ok", "passed", 0);
        passed.stdout = nasty.into();
        let text = xml(vec![r, passed], true);
        let doc = roxmltree::Document::parse(&text).unwrap();
        let c = testcase(&doc, "tests::evil\\x07");
        let want = "red link nul\\0 bell\\x07 bs\\x08 vt\\x0b ff\\x0c so\\x0e us\\x1f \
                    esc\\x1b del\\x7f c1\\u{9b}1m cr\\rlf\n tab    x fffe\\u{fffe} \
                    ffff\\u{ffff} <&\"'> ]]> \\x1b";
        assert_eq!(child(c, "system-out").unwrap().text(), Some(want));
        assert_eq!(child(c, "system-err").unwrap().text(), Some(want));
        let failure = child(c, "failure").unwrap();
        assert!(attr(failure, "message").starts_with("red link nul\\0 bell\\x07"));
        assert!(failure.text().unwrap().contains(want));
        let ok = testcase(&doc, "ok");
        assert_eq!(child(ok, "system-out").unwrap().text(), Some(want));
    }

    #[test]
    fn xml_text_keeps_plain_text_and_strips_only_sequences() {
        for s in ["", "tests::it_works", "naïve — ✓ 日本 <&>", "a\nb\n"] {
            assert!(matches!(xml_text(s), Cow::Borrowed(b) if b == s), "{s:?}");
        }
        assert_eq!(xml_text("\x1b[38;5;196mx\x1b[m"), "x");
        assert_eq!(xml_text("\x1b(B\x1b7a\x1b8"), "a");
        // Not a complete sequence: shown, not swallowed with what follows.
        assert_eq!(xml_text("\x1b[12"), "\\x1b[12");
        assert_eq!(xml_text("\x1b]0;no end\nnext"), "\\x1b]0;no end\nnext");
        assert_eq!(xml_text("ab\tc\td\n\te"), "ab      c       d\n        e");
        // Whatever comes in, only printable text and '\n' come out.
        let all: String = (0..=0x10ffff).filter_map(char::from_u32).collect();
        assert!(
            !xml_text(&all)
                .chars()
                .any(|c| (c.is_control() && c != '\n') || matches!(c, '\u{fffe}' | '\u{ffff}'))
        );
    }

    #[test]
    fn write_makes_a_readable_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/junit.xml");
        write(&report(vec![failed("t")]), &path, false).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"));
        roxmltree::Document::parse(&text).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_ne!(mode & 0o044, 0, "readable by group or others: {mode:o}");
    }
}
