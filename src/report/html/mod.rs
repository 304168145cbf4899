//! The run report as one self-contained HTML page, for a CI user to open
//! from the artifacts: the run's verdict (what fails it, what warns), its
//! facts and counts, a sortable, filterable, paged table of the tests with
//! their output tails and every attempt of a retried test, the flaky tests
//! with each attempt, bar charts of peak memory and time with the budgets,
//! a histogram of durations and, given a baseline report, what grew.
//!
//! [`render`] reads the typed [`Report`]. The header is plain HTML written
//! here; the table and the charts are drawn by the page's script
//! (`page.js`, styled by `page.css`: files of their own, linted by
//! `.ci/lane-web-lint.sh` and built into the binary) from the view model
//! of [`view`], embedded as JSON in a `<script type="application/json">`
//! block. Nothing is loaded from the network (a Content-Security-Policy
//! forbids it).
//!
//! Test names and output are whatever the tests printed: the header text is
//! HTML-escaped, the JSON block has `<`, `>`, `&`, U+2028 and U+2029 escaped
//! (so no `</script>` or `<!--` can end it), and the script only ever puts
//! that text into the page with `textContent` and `setAttribute` on
//! attributes it names itself, never as markup.
//!
//! To keep a 10,000-test page usable the table is drawn a page at a time,
//! and output is cut to its tail (see [`view::PASSED_TAIL_BYTES`]).
//!
//! `#selftest` at the end of the page's URL makes the page check itself
//! after it is drawn (sorting, filtering, expanding a row, that nothing in
//! the data became markup) and write the verdict into
//! `<body data-selftest="ok">`, or `fail: ...`; an uncaught error is written
//! to `data-jserror`. The integration test reads them with a headless
//! browser's `--dump-dom`.

pub mod view;

use super::{Report, Summary, human_bytes, human_duration};
use crate::model::{Policy, Verdict};
use crate::outcome::Outcome;
use std::collections::HashSet;
use std::fmt::Write as _;
use view::{held, measured_ms};

/// The page's style sheet.
const CSS: &str = include_str!("page.css");
/// The page's script.
const JS: &str = include_str!("page.js");

/// One self-contained HTML page of `report`, compared with `baseline` (an
/// earlier report) when given, judged as its run was (its settings'
/// policy; a report from before they recorded one, as a run's defaults).
pub fn render(report: &Report, baseline: Option<&Report>) -> String {
    let policy = report.settings.policy.unwrap_or_default();
    render_with(report, baseline, &Verdict::of(report, policy))
}

/// The page of `report` under the run's own `verdict`.
pub fn render_with(report: &Report, baseline: Option<&Report>, verdict: &Verdict) -> String {
    let json = view::script_json(&view::page_data(report, baseline, verdict));
    let mut out = String::with_capacity(json.len() + CSS.len() + JS.len() + 8192);
    out.push_str(concat!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; ",
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\n",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n",
        "<meta name=\"color-scheme\" content=\"light\">\n<title>",
    ));
    out.push_str(&esc(&title(report, verdict)));
    out.push_str("</title>\n<style>\n");
    out.push_str(CSS);
    out.push_str("</style>\n</head>\n<body>\n");
    header(&mut out, report, baseline, verdict);
    out.push_str(concat!(
        "<main>\n",
        "<noscript><p class=\"banner warn\">The table and the charts of this report are drawn ",
        "by JavaScript, which is off. The data is in the JSON block at the end of this file.",
        "</p></noscript>\n",
        "<section id=\"tests\"><h2>Tests</h2><div id=\"controls\" class=\"controls\"></div>",
        "<div id=\"grid\"></div></section>\n",
    ));
    flaky_section(&mut out, report, verdict.policy);
    out.push_str(concat!(
        "<section id=\"charts\"><h2>Charts</h2>",
        "<div class=\"chart-controls\"><label><input type=\"checkbox\" id=\"chart-follow\" checked> ",
        "only the tests the table's filter shows</label></div>",
        "<div id=\"chart-mem\"></div><div id=\"chart-time\"></div><div id=\"chart-hist\"></div>",
        "</section>\n",
    ));
    if let Some(base) = baseline {
        changes_section(&mut out, report, base);
    }
    not_run_section(&mut out, report);
    out.push_str("</main>\n<script type=\"application/json\" id=\"isolate-data\">");
    out.push_str(&json);
    out.push_str("</script>\n<script>\n");
    out.push_str(JS);
    out.push_str("</script>\n</body>\n</html>\n");
    out
}

// -------------------------------------------------------- the static HTML

/// Text for HTML element content and quoted attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The summary's counts by outcome, in the order the page lists them (the
/// ones to look at first), after the total.
fn counts(s: &Summary) -> [(&'static str, usize); 8] {
    [
        ("total", s.total),
        (Outcome::Failed.as_str(), s.failed),
        (Outcome::TimedOut.as_str(), s.timed_out),
        (Outcome::OomKilled.as_str(), s.oom_killed),
        (Outcome::Signaled.as_str(), s.signaled),
        (Outcome::SetupError.as_str(), s.setup_error),
        (Outcome::Passed.as_str(), s.passed),
        (Outcome::Ignored.as_str(), s.ignored),
    ]
}

fn title(report: &Report, verdict: &Verdict) -> String {
    let mut parts: Vec<String> = counts(&report.summary)
        .iter()
        .skip(1)
        .filter(|(_, n)| *n > 0)
        .map(|(o, n)| format!("{n} {}", o.replace('_', " ")))
        .collect();
    if parts.is_empty() {
        parts.push("no tests".into());
    }
    let mut t = format!("cargo-isolate: {} ({})", verdict.word(), parts.join(", "));
    if !report.complete {
        t.push_str(" (incomplete)");
    }
    let _ = write!(t, " — {}", report.started_at);
    t
}

fn header(out: &mut String, report: &Report, baseline: Option<&Report>, verdict: &Verdict) {
    let _ = write!(
        out,
        "<header>\n<h1>cargo-isolate <span class=\"muted\">test report</span> \
         <span class=\"version\">{}</span></h1>\n",
        esc(&report.tool.version)
    );
    verdict_banner(out, verdict);
    let not_run = report.not_run.len();
    if !report.complete {
        let _ = writeln!(
            out,
            "<p class=\"banner warn\" id=\"incomplete\">Incomplete run: it was interrupted \
             before every test finished. The tests below are the ones that finished{}.</p>",
            if not_run > 0 {
                format!("; <a href=\"#not-run\">{not_run} selected tests did not run</a>")
            } else {
                String::new()
            }
        );
    } else if not_run > 0 {
        let _ = writeln!(
            out,
            "<p class=\"banner warn\">The run stopped early: \
             <a href=\"#not-run\">{not_run} selected tests did not run</a>.</p>"
        );
    }
    if report.host.cgroup == "none" {
        out.push_str(
            "<p class=\"banner info\">No writable cgroup on this host: limits were not \
             enforced and memory and CPU were not measured.</p>\n",
        );
    }
    let unenforced = report.unenforced_limits();
    if !unenforced.is_empty() {
        let _ = writeln!(
            out,
            "<p class=\"banner warn\">Limits not enforced: {} (no cgroup here could set \
             them; the tests ran without them).</p>",
            esc(&unenforced.join(", "))
        );
    }
    badges(out, report);
    out.push_str("<dl class=\"facts\">\n");
    let mut fact = |name: &str, value: &str| {
        let _ = writeln!(
            out,
            "<div><dt>{}</dt><dd>{}</dd></div>",
            esc(name),
            esc(value)
        );
    };
    let or_none = |v: Option<String>| v.unwrap_or_else(|| "none".into());
    let settings = &report.settings;
    fact("started", &pretty_time(&report.started_at));
    fact("duration", &measured_ms(report.duration_ms));
    fact(
        "complete",
        if report.complete {
            "yes"
        } else {
            "NO (interrupted)"
        },
    );
    fact("kernel", &report.host.kernel);
    fact("cgroup", report.host.cgroup);
    fact("rootless", if report.host.rootless { "yes" } else { "no" });
    fact("isolation", settings.isolation);
    fact("jobs", &settings.jobs.to_string());
    fact(
        "memory limit",
        &or_none(
            settings
                .memory_max
                .map(|m| held(human_bytes(m), settings.enforced.memory_max)),
        ),
    );
    fact(
        "pids limit",
        &or_none(
            settings
                .pids_max
                .map(|n| held(n.to_string(), settings.enforced.pids_max)),
        ),
    );
    fact(
        "cpus",
        &or_none(
            settings
                .cpus
                .map(|n| held(n.to_string(), settings.enforced.cpus)),
        ),
    );
    fact("timeout", &or_none(settings.timeout_ms.map(human_duration)));
    if let Some(seccomp) = &settings.seccomp {
        fact("seccomp", seccomp);
    }
    if let Some(b) = report.runner.peak_rss_bytes {
        fact("runner peak RSS", &human_bytes(b));
    }
    fact("cargo-isolate", &report.tool.version);
    if let Some(base) = baseline {
        fact(
            "baseline",
            &format!("the run of {}", pretty_time(&base.started_at)),
        );
    }
    out.push_str("</dl>\n<nav><a href=\"#tests\">Tests</a>");
    if report.summary.flaky > 0 {
        out.push_str(" <a href=\"#flaky\">Flaky tests</a>");
    }
    out.push_str(" <a href=\"#charts\">Charts</a>");
    if baseline.is_some() {
        out.push_str(" <a href=\"#changes\">Changes against the baseline</a>");
    }
    if not_run > 0 {
        out.push_str(" <a href=\"#not-run\">Not run</a>");
    }
    out.push_str("</nav>\n</header>\n");
}

/// The verdict, first: "Failed: 1 test over budget (--budgets fail)", and
/// what only warns; then what fails the run as a whole, each in its words.
fn verdict_banner(out: &mut String, verdict: &Verdict) {
    let class = match (verdict.fails(), verdict.warnings().next().is_some()) {
        (true, _) => "fail",
        (false, true) => "warn",
        (false, false) => "ok",
    };
    let word = verdict.word();
    let _ = write!(
        out,
        "<p class=\"banner {class}\" id=\"verdict\" data-verdict=\"{}\">{}{}",
        esc(word),
        esc(&word[..1].to_uppercase()),
        esc(&word[1..])
    );
    let (failures, warnings) = (verdict.failure_counts(), verdict.warning_counts());
    if !failures.is_empty() {
        let _ = write!(out, ": {}", esc(&failures));
    }
    if !warnings.is_empty() {
        let sep = if failures.is_empty() {
            ": "
        } else {
            "; warnings: "
        };
        let _ = write!(out, "{sep}{}", esc(&warnings));
    }
    out.push_str("</p>\n");
    let run: Vec<&str> = verdict.of_run().map(|f| f.message.as_str()).collect();
    if !run.is_empty() {
        out.push_str("<ul class=\"verdict\">");
        for m in run {
            let _ = write!(out, "<li>{}</li>", esc(m));
        }
        out.push_str("</ul>\n");
    }
}

/// The flaky tests' section: the script draws each with its attempts.
fn flaky_section(out: &mut String, report: &Report, policy: Policy) {
    let n = report.summary.flaky;
    if n == 0 {
        return;
    }
    let _ = writeln!(
        out,
        "<section id=\"flaky\"><h2>Flaky tests ({n})</h2>\
         <p class=\"muted\">They failed, then passed on a retry: {}. Each attempt, \
         how it ended, how long it took and the end of its output.</p>\
         <div id=\"flaky-list\"></div></section>",
        if policy.flaky_fails {
            "with --flaky-fails they fail the run"
        } else {
            "they pass, with a warning"
        }
    );
}

/// The counts as buttons that filter the table.
fn badges(out: &mut String, report: &Report) {
    let badge = |out: &mut String, class: &str, filter: &str, label: &str, n: usize| {
        let _ = write!(
            out,
            "<button type=\"button\" class=\"badge {class}\" data-filter=\"{filter}\" \
             title=\"show only these in the table\">{label} <b>{n}</b></button>"
        );
    };
    out.push_str("<div class=\"badges\" id=\"badges\">");
    for (key, n) in counts(&report.summary) {
        let (filter, zero) = match key {
            "total" => ("all", ""),
            _ if n == 0 => (key, " zero"),
            _ => (key, ""),
        };
        let label = key.replace('_', " ");
        badge(out, &format!("o-{key}{zero}"), filter, &label, n);
    }
    // Counted from the rows, which the badge's filter shows.
    let tests = &report.tests;
    let extra = [
        ("o-flaky", "flaky", "flaky", report.summary.flaky),
        ("o-not_run", "not_run", "not run", report.not_run.len()),
        (
            "o-over",
            "over",
            "over budget",
            tests.iter().filter(|t| !t.over_budget.is_empty()).count(),
        ),
        (
            "o-over",
            "over",
            "regressed",
            tests.iter().filter(|t| !t.regressions.is_empty()).count(),
        ),
    ];
    for (class, filter, label, n) in extra.into_iter().filter(|e| e.3 > 0) {
        badge(out, class, filter, label, n);
    }
    out.push_str("</div>\n");
}

fn changes_section(out: &mut String, report: &Report, base: &Report) {
    let now: HashSet<&str> = report.tests.iter().map(|t| t.id.as_str()).collect();
    let skipped: HashSet<&str> = report.not_run.iter().map(String::as_str).collect();
    let before: HashSet<&str> = base.tests.iter().map(|t| t.id.as_str()).collect();
    let mut new: Vec<&str> = now.difference(&before).copied().collect();
    let mut gone: Vec<&str> = before
        .iter()
        .filter(|id| !now.contains(*id) && !skipped.contains(*id))
        .copied()
        .collect();
    new.sort_unstable();
    gone.sort_unstable();
    let _ = write!(
        out,
        "<section id=\"changes\"><h2>Changes against the baseline</h2>\n\
         <p class=\"muted\">The baseline: the run of {}, {} tests. \
         {} tests are in both runs, {} are new, {} are gone. \
         Of a test that ran more than once, the baseline's largest figures count.</p>\n\
         <h3>What grew</h3><div id=\"grew\"></div>\n",
        esc(&pretty_time(&base.started_at)),
        before.len(),
        now.intersection(&before).count(),
        new.len(),
        gone.len(),
    );
    for (name, ids) in [("New tests", &new), ("Gone tests", &gone)] {
        let _ = write!(
            out,
            "<details{}><summary>{name} ({})</summary>",
            if !ids.is_empty() && ids.len() <= 50 {
                " open"
            } else {
                ""
            },
            ids.len()
        );
        if ids.is_empty() {
            out.push_str("<p class=\"muted\">none</p>");
        } else {
            out.push_str("<ul class=\"ids\">");
            for id in ids.iter() {
                let _ = write!(out, "<li>{}</li>", esc(id));
            }
            out.push_str("</ul>");
        }
        out.push_str("</details>\n");
    }
    out.push_str("</section>\n");
}

fn not_run_section(out: &mut String, report: &Report) {
    let ids = &report.not_run;
    if ids.is_empty() {
        return;
    }
    let _ = write!(
        out,
        "<section id=\"not-run\"><h2>Not run ({})</h2>\
         <p class=\"muted\">Selected, but the run stopped before they ran \
         (--fail-fast, --max-fail, Ctrl-C).</p><details{}><summary>their ids</summary>\
         <ul class=\"ids\">",
        ids.len(),
        if ids.len() <= 50 { " open" } else { "" }
    );
    for id in ids {
        let _ = write!(out, "<li>{}</li>", esc(id));
    }
    out.push_str("</ul></details></section>\n");
}

/// "2026-11-23T15:33:52.798Z" as "2026-11-23 15:33:52 UTC"; anything
/// else as it is.
fn pretty_time(s: &str) -> String {
    let b = s.as_bytes();
    let shaped = b.len() >= 20
        && b[10] == b'T'
        && s.ends_with('Z')
        && s.is_char_boundary(19)
        && s[..19]
            .bytes()
            .all(|c| c.is_ascii_digit() || b"-T:".contains(&c));
    if shaped {
        format!("{} {} UTC", &s[..10], &s[11..19])
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::view::{FAILED_TAIL_BYTES, PASSED_TAIL_BYTES, Shown};
    use super::*;
    use crate::report::{TestLimits, TestRecord, testing};
    use serde_json::{Value, json};

    /// The JSON block's text.
    fn block(html: &str) -> &str {
        let open = "<script type=\"application/json\" id=\"isolate-data\">";
        let start = html.find(open).expect("the data block") + open.len();
        let end = start + html[start..].find("</script>").expect("its end");
        &html[start..end]
    }

    /// The JSON block's text, parsed back.
    fn embedded(html: &str) -> Value {
        serde_json::from_str(block(html)).expect("the data block is JSON")
    }

    fn record(id: &str, outcome: &'static str) -> TestRecord {
        let mut t = TestRecord::new(id.into(), "demo", "demo", "lib", Some(id.into()));
        t.outcome = outcome.into();
        t.exit_code = Some(0);
        t.duration_ms = Some(12.5);
        t.cpu_ms = Some(8.25);
        t.peak_memory_bytes = Some(1_269_760);
        t.peak_rss_bytes = Some(3_985_408);
        t.pids_peak = Some(3);
        t.stdout =
            "\nrunning 1 test\ntest x ... ok\n\ntest result: ok. 1 passed; 0 failed\n\n".into();
        t.started_at = Some("2026-01-01T00:00:00Z".into());
        t
    }

    fn report(tests: Vec<TestRecord>) -> Report {
        let mut r = testing::report(tests, "2026-01-01T00:00:00.000Z", 2194.2);
        r.settings.memory_max = None;
        r.settings.timeout_ms = None;
        r
    }

    /// Occurrences of `needle` in `hay`, ignoring ASCII case.
    fn count(hay: &str, needle: &str) -> usize {
        hay.to_ascii_lowercase()
            .matches(&needle.to_ascii_lowercase())
            .count()
    }

    const HOSTILE_ID: &str = "<script>alert(1)</script>";
    const HOSTILE_OUT: &str = "x</script><script>alert(2)</script><img src=x onerror=alert(3)>\
                               <!-- <svg onload=alert(4)> ]]> & &amp; \u{2028}\u{2029}'\"`${x}";

    #[test]
    fn test_names_and_output_cannot_become_markup() {
        let mut hostile = record(HOSTILE_ID, "failed");
        hostile.stdout = HOSTILE_OUT.into();
        hostile.stderr = HOSTILE_OUT.into();
        hostile.panic_message = Some(HOSTILE_OUT.into());
        hostile.error = Some(HOSTILE_OUT.into());
        hostile.signal = Some("<b>SIG</b>".into());
        hostile.kind = "<i>lib</i>".into();
        // Its attempts, with the same output and error.
        hostile.attempt = Some(2);
        hostile.attempts = (1..=2)
            .map(|n| crate::model::Attempt::of(&hostile, n, 1 << 20))
            .collect();
        let mut rep = report(vec![hostile, record("ok", "passed")]);
        rep.not_run = vec![HOSTILE_OUT.into()];
        rep.complete = false;
        rep.host.kernel = HOSTILE_OUT.into();
        rep.started_at = HOSTILE_ID.into();
        rep.settings.seccomp = Some("\"><img src=x onerror=alert(6)>".into());
        let mut base = report(vec![record(HOSTILE_OUT, "passed")]);
        base.started_at = HOSTILE_OUT.into();

        let html = render(&rep, Some(&base));
        // Our two scripts, and no other element the data could have made.
        assert_eq!(count(&html, "<script"), 2, "{html}");
        assert_eq!(count(&html, "</script"), 2);
        for tag in ["<img", "<svg", "<b>SIG", "<i>", "<!--"] {
            assert_eq!(count(&html, tag), 0, "{tag} in the page");
        }
        let data = block(&html);
        for c in ['<', '>', '&', '\u{2028}', '\u{2029}'] {
            assert!(!data.contains(c), "{c:?} in the data block");
        }
        // The script's own text holds none of what could end its element,
        // and it never turns text into markup or code.
        for s in [CSS, JS] {
            assert!(!s.contains("</") && !s.contains("<!--"));
        }
        for sink in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
            "Function(",
            "setTimeout('",
            "createContextualFragment",
            "DOMParser",
        ] {
            assert!(!JS.contains(sink), "{sink} in the page's script");
        }
        // The text arrives intact.
        let data = embedded(&html);
        let rows = data["tests"].as_array().unwrap();
        assert_eq!(rows[0]["i"], HOSTILE_ID);
        assert_eq!(rows[0]["so"]["t"], HOSTILE_OUT);
        assert_eq!(rows[0]["se"]["t"], HOSTILE_OUT);
        assert_eq!(rows[0]["x"]["sig"], "<b>SIG</b>");
        assert_eq!(rows[0]["at"][0]["so"]["t"], HOSTILE_OUT);
        assert_eq!(rows[0]["at"][0]["r"], HOSTILE_OUT);
        assert_eq!(rows[2]["i"], HOSTILE_OUT);
        assert_eq!(rows[2]["o"], "not_run");
        // In the header it is escaped text.
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("&quot;&gt;&lt;img src=x onerror=alert(6)&gt;"));
        assert!(html.contains("<li>x&lt;/script&gt;&lt;script&gt;alert(2)"));
    }

    #[test]
    fn script_json_escapes_what_could_end_the_block() {
        let v = json!({"a": "</script><!-- & \u{2028}\u{2029} \\< \\\"<"});
        let s = view::script_json(&v);
        assert!(!s.contains('<') && !s.contains('>') && !s.contains('&'));
        assert!(!s.contains('\u{2028}') && !s.contains('\u{2029}'));
        assert_eq!(serde_json::from_str::<Value>(&s).unwrap(), v);
    }

    #[test]
    fn what_was_not_measured_is_left_out() {
        // No tests at all.
        let html = render(&report(Vec::new()), None);
        assert_eq!(embedded(&html)["tests"], json!([]));
        assert!(html.contains("total <b>0</b>"));
        // A record with nothing measured, and one with budgets and limits.
        let bare = TestRecord::new("bare".into(), "p", "b", "lib", None);
        let mut budgeted = record("budgeted", "passed");
        budgeted.budgets = Some(crate::budget::Budgets {
            memory_bytes: Some(1_000_000),
            time_ms: None,
            cpu_ms: Some(100),
        });
        budgeted.over_budget = vec!["memory".into()];
        budgeted.limits = TestLimits {
            memory_max: Some(2_000_000),
            ..TestLimits::default()
        };
        let html = render(&report(vec![bare, budgeted]), None);
        let data = embedded(&html);
        let rows = data["tests"].as_array().unwrap();
        let bid = crate::model::binary_id("p", "b", "lib");
        assert_eq!(
            rows[0],
            json!({"i": "bare", "o": "ignored", "x": {"bid": bid, "k": "lib"}})
        );
        assert_eq!(rows[1]["ob"], json!(["memory"]));
        assert_eq!(rows[1]["bm"], json!([1_000_000, "976.6 KiB"]));
        assert_eq!(rows[1]["bc"], json!([100, "100ms"]));
        assert_eq!(rows[1]["lm"], json!([2_000_000, "1.9 MiB"]));
        assert!(rows[1].get("bt").is_none() && rows[1].get("lt").is_none());
        assert!(rows[1].get("r").is_none(), "a passing test has no reason");
        assert!(!html.contains("Incomplete run"));
    }

    /// Issue 24: a limit set but not enforced reads so, in the facts, a
    /// banner and the test's own limit; an enforced one reads plainly.
    #[test]
    fn a_limit_not_enforced_is_said_not_enforced() {
        let mut t = record("t", "passed");
        t.limits.memory_max = Some(64 << 20);
        t.limits.enforced.memory_max = Some(false);
        t.limits.pids_max = Some(4096);
        t.limits.enforced.pids_max = Some(false);
        t.limits.cpus = Some(0.5);
        t.limits.enforced.cpus = Some(false);
        let mut r = report(vec![t]);
        r.settings.memory_max = Some(32 << 20);
        r.settings.enforced.memory_max = Some(false);
        let html = render(&r, None);
        assert!(html.contains("Limits not enforced: memory_max"), "{html}");
        assert!(html.contains("<dd>32.0 MiB (not enforced)</dd>"), "{html}");
        let data = embedded(&html);
        assert_eq!(
            data["tests"][0]["lm"],
            json!([64 << 20, "64.0 MiB (not enforced)"])
        );
        // Each limit of the row, not only memory's.
        assert_eq!(data["tests"][0]["x"]["lp"], json!("4096 (not enforced)"));
        assert_eq!(data["tests"][0]["x"]["lc"], json!("0.5 (not enforced)"));
        r.settings.enforced.memory_max = Some(true);
        r.tests[0].limits.enforced = crate::model::Enforced {
            memory_max: Some(true),
            pids_max: Some(true),
            cpus: Some(true),
        };
        let html = render(&r, None);
        assert!(!html.contains("not enforced"), "{html}");
        assert!(html.contains("<dd>32.0 MiB</dd>"), "{html}");
        let data = embedded(&html);
        assert_eq!(data["tests"][0]["x"]["lp"], json!("4096"));
        assert_eq!(data["tests"][0]["x"]["lc"], json!("0.5"));
    }

    /// The figures' texts are the terminal's: the page's script has no
    /// formatter of bytes or durations of its own.
    #[test]
    fn figures_come_with_the_terminals_text() {
        let mut t = record("t", "failed");
        t.peak_memory_bytes = Some(96 << 20);
        t.limits.timeout_ms = Some(60_000);
        let data = embedded(&render(&report(vec![t]), None));
        let row = &data["tests"][0];
        assert_eq!(row["m"], json!([96 << 20, human_bytes(96 << 20)]));
        assert_eq!(row["x"]["rss"], json!([3_985_408, human_bytes(3_985_408)]));
        assert_eq!(row["lt"], json!([60_000, human_duration(60_000)]));
        assert_eq!(row["d"], json!([12.5, "12.5 ms"]));
        for unit in ["KiB", "MiB", "1024", "toFixed(3)", "' ms'"] {
            assert!(!JS.contains(unit), "the script formats with {unit}");
        }
        assert_eq!(
            serde_json::to_value(Shown::<u64>(1, "1 B".into())).unwrap(),
            json!([1, "1 B"])
        );
    }

    /// The page says why a test did not pass as the terminal, JUnit and
    /// GitHub do: with [`TestRecord::reason`].
    #[test]
    fn the_reason_is_the_records_own() {
        let mut oom = record("oom", "oom_killed");
        oom.panic_message = Some("alloc".into());
        oom.limits.memory_max = Some(4 << 30);
        oom.pids_max_hits = Some(2);
        let mut timed_out = record("slow", "timed_out");
        timed_out.limits.timeout_ms = Some(60_000);
        let mut failed = record("failed", "failed");
        failed.exit_code = Some(101);
        failed.panic_message = Some("boom".into());
        let mut signaled = record("segv", "signaled");
        signaled.signal = Some("SIGSEGV".into());
        let mut setup = record("setup", "setup_error");
        setup.error = Some("no user namespaces".into());
        let mut rep = report(vec![oom, timed_out, failed, signaled, setup]);
        rep.settings = testing::settings();
        let data = embedded(&render(&rep, None));
        for (t, row) in rep.tests.iter().zip(data["tests"].as_array().unwrap()) {
            assert_eq!(row["r"], t.reason(&rep.settings), "{}", t.id);
        }
    }

    /// The verdict heads the page, as the exit code has it: a run that
    /// fails only on a budget says "Failed"; a flaky test's row has each
    /// attempt, how it ended and its output, and the page lists it.
    #[test]
    fn the_verdict_comes_first_and_flaky_tests_have_their_attempts() {
        use crate::model::{Attempt, Severity};
        let mut first = record("flaky", "failed");
        first.exit_code = Some(101);
        first.panic_message = Some("boom".into());
        first.stderr = "first attempt's stderr\n".into();
        first.duration_ms = Some(7.5);
        let mut flaky = record("flaky", "passed");
        flaky.flaky = true;
        flaky.attempt = Some(2);
        flaky.attempts = vec![Attempt::of(&first, 1, 1024), Attempt::of(&flaky, 2, 1024)];
        let mut big = record("big", "passed");
        big.budgets = Some(crate::budget::Budgets {
            memory_bytes: Some(1 << 20),
            ..Default::default()
        });
        big.over_budget = vec!["memory".into()];
        let rep = report(vec![flaky, big]);
        let html = render_with(&rep, None, &Verdict::of(&rep, Policy::default()));
        assert!(
            html.contains(
                "<p class=\"banner fail\" id=\"verdict\" data-verdict=\"failed\">Failed: \
                 1 test over budget (--budgets fail); warnings: 1 flaky test</p>"
            ),
            "{html}"
        );
        assert!(
            html.contains("<title>cargo-isolate: failed (2 passed) — "),
            "{html}"
        );
        assert!(html.contains("flaky <b>1</b>"), "a badge");
        assert!(html.contains("<section id=\"flaky\"><h2>Flaky tests (1)</h2>"));
        let data = embedded(&html);
        let row = &data["tests"][0];
        assert_eq!(row["fl"], true);
        assert_eq!(row["a"], 2);
        let at = row["at"].as_array().unwrap();
        assert_eq!(at.len(), 2);
        assert_eq!(at[0]["n"], 1);
        assert_eq!(at[0]["o"], "failed");
        assert_eq!(at[0]["r"], "panicked: boom");
        assert_eq!(at[0]["d"], json!([7.5, "7.5 ms"]));
        assert_eq!(at[0]["se"]["t"], "first attempt's stderr\n");
        // The last attempt's output is the row's own.
        assert!(at[1].get("se").is_none() && at[1].get("r").is_none());
        assert_eq!(row["v"][0][0], "warning");
        assert!(
            row["v"][0][1]
                .as_str()
                .unwrap()
                .starts_with("flaky: failed on attempt 1")
        );
        assert_eq!(
            data["tests"][1]["v"],
            json!([[
                "failure",
                "over its memory budget: peak memory 1.2 MiB, budget 1.0 MiB"
            ]])
        );
        // With --budgets warn it passes, with warnings.
        let warn = Policy {
            budgets_fail: false,
            ..Policy::default()
        };
        let verdict = Verdict::of(&rep, warn);
        assert!(
            verdict
                .findings
                .iter()
                .all(|f| f.severity == Severity::Warning)
        );
        let html = render_with(&rep, None, &verdict);
        assert!(html.contains(
            "<p class=\"banner warn\" id=\"verdict\" data-verdict=\"passed with warnings\">"
        ));
        // A clean run says so; what fails the run as a whole is listed.
        let html = render(&report(vec![record("ok", "passed")]), None);
        assert!(
            html.contains(
                "<p class=\"banner ok\" id=\"verdict\" data-verdict=\"passed\">Passed</p>"
            )
        );
        let mut stopped = report(vec![record("ok", "passed")]);
        stopped.not_run = vec!["p later".into()];
        let html = render(&stopped, None);
        assert!(
            html.contains("<ul class=\"verdict\"><li>1 selected test did not run: "),
            "{html}"
        );
    }

    #[test]
    fn output_is_cut_to_its_tail() {
        let mut failing = record("failing", "failed");
        // Multi-byte characters across every cut, and no newline to cut at.
        failing.stderr = "é".repeat(20_000);
        failing.stdout = "short\n".into();
        let mut passing = record("passing", "passed");
        passing.stdout = format!(
            "running 1 test\n{}test passing ... ok\n\ntest result: ok. 1 passed\n\n",
            "printed by the test\n".repeat(500)
        );
        passing.stderr = "ü".repeat(3000);
        let plain = record("plain", "passed");
        let data = embedded(&render(&report(vec![failing, passing, plain]), None));
        let rows = data["tests"].as_array().unwrap();
        let se = rows[0]["se"]["t"].as_str().unwrap();
        assert!(se.len() <= FAILED_TAIL_BYTES && se.len() > FAILED_TAIL_BYTES - 4);
        assert!(se.chars().all(|c| c == 'é'));
        assert_eq!(rows[0]["se"]["n"], "the last 16.0 KiB of 39.1 KiB");
        assert_eq!(rows[0]["so"], json!({"t": "short\n"}));
        let so = &rows[1]["so"];
        let text = so["t"].as_str().unwrap();
        assert!(text.len() <= PASSED_TAIL_BYTES && text.starts_with("printed by the test\n"));
        assert!(
            text.ends_with("printed by the test\n"),
            "libtest's lines left out: {text:?}"
        );
        assert_eq!(so["l"], true);
        assert!(so["n"].as_str().unwrap().ends_with(" of 9.8 KiB"), "{so}");
        assert!(rows[1]["se"]["t"].as_str().unwrap().len() <= PASSED_TAIL_BYTES);
        // Only libtest's lines: nothing kept, and it says so.
        assert_eq!(rows[2]["so"], json!({"l": true}));
        assert!(rows[2].get("se").is_none());
    }

    #[test]
    fn baseline_figures_by_id() {
        let mut a = record("a", "passed");
        a.peak_memory_bytes = Some(2000);
        let mut a_again = record("a", "passed");
        a_again.peak_memory_bytes = Some(3000);
        a_again.duration_ms = None;
        let base = report(vec![
            a,
            a_again,
            record("gone", "passed"),
            record("skipped", "passed"),
        ]);
        let mut now = report(vec![record("a", "passed"), record("new", "passed")]);
        now.not_run = vec!["skipped".into()];
        let html = render(&now, Some(&base));
        let data = embedded(&html);
        assert_eq!(data["baseline"], true);
        assert_eq!(
            data["tests"][0]["p"],
            json!([[3000, "2.9 KiB"], [12.5, "12.5 ms"], [8.25, "8.2 ms"]])
        );
        assert!(data["tests"][1].get("p").is_none());
        assert!(html.contains("<summary>New tests (1)</summary><ul class=\"ids\"><li>new</li>"));
        assert!(html.contains("<summary>Gone tests (1)</summary><ul class=\"ids\"><li>gone</li>"));
    }

    /// A generated report of 10,000 tests: typical libtest output for most,
    /// 10 KiB of output for every 10th, 40 KiB of stderr for the 1% that
    /// fail, budgets on every 5th. Its page must stay under 8 MiB.
    #[test]
    fn ten_thousand_tests_stay_small() {
        let mut tests = Vec::new();
        for n in 0..10_000u64 {
            let id = format!(
                "bigcrate::integration_{} module_{}::test_number_{n}",
                n % 7,
                n % 50
            );
            let failing = n % 100 == 7;
            let mut t = record(&id, if failing { "failed" } else { "passed" });
            t.duration_ms = Some((n % 997) as f64 * 1.37 + 0.123);
            t.cpu_ms = Some((n % 991) as f64 * 1.11);
            t.peak_memory_bytes = Some(1_000_000 + (n * 7919) % 90_000_000);
            t.stdout = format!(
                "\nrunning 1 test\ntest {id} ... ok\n\ntest result: ok. 1 passed; 0 failed; \
                 0 ignored; 0 measured; 5 filtered out; finished in 0.01s\n\n"
            );
            t.limits.timeout_ms = Some(60_000);
            if n % 10 == 3 {
                t.stderr = "some diagnostic line the test printed\n".repeat(280);
            }
            if failing {
                t.exit_code = Some(101);
                t.panic_message = Some("assertion `left == right` failed".into());
                t.stderr = "a long backtrace line of a failing test...\n".repeat(950);
            }
            if n % 5 == 0 {
                t.budgets = Some(crate::budget::Budgets {
                    memory_bytes: Some(50_000_000),
                    time_ms: Some(1000),
                    cpu_ms: None,
                });
            }
            tests.push(t);
        }
        let rep = report(tests);
        let started = std::time::Instant::now();
        let html = render(&rep, Some(&rep));
        let took = started.elapsed();
        let data = embedded(&html);
        assert_eq!(data["tests"].as_array().unwrap().len(), 10_000);
        assert!(
            html.len() < 8 << 20,
            "the 10,000-test page is {} bytes",
            html.len()
        );
        assert!(took.as_secs() < 10, "rendering took {took:?}");
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "10,000-test page: {} bytes, rendered in {took:?}",
            html.len()
        );
    }
}
