//! The run report as one self-contained HTML page, for a CI user to open
//! from the artifacts: the run's facts and counts, a sortable, filterable,
//! paged table of the tests with their output tails, bar charts of peak
//! memory and time with the budgets, a histogram of durations and, given a
//! baseline report, what grew.
//!
//! Nothing is loaded from the network (a Content-Security-Policy forbids
//! it); the CSS and the JavaScript are inline: `page.css` and `page.js`,
//! files of their own (linted by `.ci/lane-web-lint.sh`) built into the
//! binary. The header is plain HTML written here; the table and the charts
//! are drawn by the page's JavaScript from the data embedded as JSON in a
//! `<script type="application/json">` block.
//!
//! Test names and output are whatever the tests printed: the header text is
//! HTML-escaped, the JSON block has `<`, `>`, `&`, U+2028 and U+2029 escaped
//! (so no `</script>` or `<!--` can end it), and the JavaScript only ever
//! puts that text into the page with `textContent` and `setAttribute` on
//! attributes it names itself, never as markup.
//!
//! To keep a 10,000-test page usable the table is drawn a page at a time,
//! and output is cut to its tail: [`PASSED_TAIL_BYTES`] for a test that
//! passed (whose libtest progress lines, the only thing libtest prints for a
//! passing test it captured, are left out), [`FAILED_TAIL_BYTES`] for one
//! that did not, until [`FAILED_TAILS_TOTAL_BYTES`] of those are in the page.
//!
//! `#selftest` at the end of the page's URL makes the page check itself
//! after it is drawn (sorting, filtering, expanding a row, that nothing in
//! the data became markup) and write the verdict into
//! `<body data-selftest="ok">`, or `fail: ...`; an uncaught error is written
//! to `data-jserror`. The integration test reads them with a headless
//! browser's `--dump-dom`.

use serde_json::{Map, Value, json};
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

/// The most of a passing test's stdout and stderr kept in the page, each.
pub const PASSED_TAIL_BYTES: usize = 2 * 1024;
/// The most of a failing test's stdout and stderr kept in the page, each.
pub const FAILED_TAIL_BYTES: usize = 16 * 1024;
/// Once failing tests' tails add up to this, the next ones are cut to
/// [`PASSED_TAIL_BYTES`] too: a run where everything failed stays openable.
pub const FAILED_TAILS_TOTAL_BYTES: usize = 32 << 20;

/// The page's style sheet.
const CSS: &str = include_str!("page.css");
/// The page's script.
const JS: &str = include_str!("page.js");

/// The outcomes in the order the page lists them: the ones to look at first.
const OUTCOMES: [&str; 8] = [
    "failed",
    "timed_out",
    "oom_killed",
    "signaled",
    "setup_error",
    "passed",
    "ignored",
    "not_run",
];

/// One self-contained HTML page of `report` (a cargo-isolate report, schema
/// version 1, as JSON), compared with `baseline` (an earlier report) when
/// given. Any field may be absent or of the wrong type: what is missing is
/// left out, never guessed, and nothing panics.
pub fn render(report: &Value, baseline: Option<&Value>) -> String {
    let data = page_data(report, baseline);
    let json = script_json(&data);
    let mut out = String::with_capacity(json.len() + CSS.len() + JS.len() + 8192);
    out.push_str(concat!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; ",
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\n",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n",
        "<meta name=\"color-scheme\" content=\"light\">\n<title>",
    ));
    out.push_str(&esc(&title(report)));
    out.push_str("</title>\n<style>\n");
    out.push_str(CSS);
    out.push_str("</style>\n</head>\n<body>\n");
    header(&mut out, report, baseline);
    out.push_str(concat!(
        "<main>\n",
        "<noscript><p class=\"banner warn\">The table and the charts of this report are drawn ",
        "by JavaScript, which is off. The data is in the JSON block at the end of this file.",
        "</p></noscript>\n",
        "<section id=\"tests\"><h2>Tests</h2><div id=\"controls\" class=\"controls\"></div>",
        "<div id=\"grid\"></div></section>\n",
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

// ---------------------------------------------------------------- the data

/// The JSON the page's script draws from: `{"baseline": bool, "tests":
/// [row...]}`, a row per test record and per test that did not run, with
/// short keys (see [`row`]) and nothing null written.
fn page_data(report: &Value, baseline: Option<&Value>) -> Value {
    let settings = &report["settings"];
    let base = baseline.map(baseline_figures);
    let mut failed_left = FAILED_TAILS_TOTAL_BYTES;
    let mut rows: Vec<Value> = tests(report)
        .enumerate()
        .map(|(n, t)| row(n, t, settings, base.as_ref(), &mut failed_left))
        .collect();
    for id in not_run(report) {
        let mut r = Map::new();
        r.insert("i".into(), json!(id));
        r.insert("o".into(), json!("not_run"));
        r.insert(
            "r".into(),
            json!("did not run: the run stopped before it (--fail-fast, --max-fail or Ctrl-C)"),
        );
        rows.push(Value::Object(r));
    }
    let run_limit = |k: &str| number(&settings[k]).unwrap_or(Value::Null);
    json!({
        "baseline": baseline.is_some(),
        "memory_max": run_limit("memory_max"),
        "timeout_ms": run_limit("timeout_ms"),
        "tests": rows,
    })
}

/// One test's row. Keys: `i` id, `o` outcome, `a` attempt, `d` duration
/// ms, `c` cpu ms, `m` peak memory bytes, `lm`/`lt` its memory limit and
/// timeout, `bm`/`bt`/`bc` its memory/time/cpu budgets, `ob` the budgets it
/// broke, `rg` its regressions `[[metric, percent]...]`, `r` why it did not
/// pass, `so`/`se` the tails of stdout/stderr, `sot`/`set` their full
/// lengths when cut, `sl` when libtest's lines were left out of stdout, `x`
/// details, `p` `[memory, time, cpu]` in the baseline (absent: not in it).
fn row(
    n: usize,
    t: &Value,
    settings: &Value,
    base: Option<&HashMap<String, [Option<f64>; 3]>>,
    failed_left: &mut usize,
) -> Value {
    let mut r = Map::new();
    let id = match t["id"].as_str() {
        Some(id) => id.to_string(),
        None => match t["name"].as_str() {
            Some(name) => name.to_string(),
            None => format!("(test #{} without an id)", n + 1),
        },
    };
    let outcome = t["outcome"].as_str().unwrap_or("unknown");
    r.insert("i".into(), json!(id));
    r.insert("o".into(), json!(outcome));
    let mut put = |key: &str, v: &Value| {
        if let Some(x) = number(v) {
            r.insert(key.into(), x);
        }
    };
    put("a", &t["attempt"]);
    put("d", &t["duration_ms"]);
    put("c", &t["cpu_ms"]);
    put("m", &t["peak_memory_bytes"]);
    put("lm", &t["limits"]["memory_max"]);
    put("lt", &t["limits"]["timeout_ms"]);
    put("bm", &t["budgets"]["memory_bytes"]);
    put("bt", &t["budgets"]["time_ms"]);
    put("bc", &t["budgets"]["cpu_ms"]);

    let over = over_budget(t);
    if !over.is_empty() {
        r.insert("ob".into(), json!(over));
    }
    if let Some(rg) = t["regressions"].as_array() {
        let rg: Vec<Value> = rg
            .iter()
            .filter_map(|g| {
                let metric = g["metric"].as_str()?;
                Some(json!([metric, number(&g["percent"])]))
            })
            .collect();
        if !rg.is_empty() {
            r.insert("rg".into(), Value::Array(rg));
        }
    }
    let why = reason(t, outcome, settings);
    if !why.is_empty() {
        r.insert("r".into(), json!(why));
    }

    // The output tails.
    let failing = !matches!(outcome, "passed" | "ignored");
    let max = if failing && *failed_left >= 2 * FAILED_TAIL_BYTES {
        FAILED_TAIL_BYTES
    } else {
        PASSED_TAIL_BYTES
    };
    for (field, key, len_key) in [("stdout", "so", "sot"), ("stderr", "se", "set")] {
        let Some(full) = t[field].as_str() else {
            continue;
        };
        let stripped = (outcome == "passed" && field == "stdout")
            .then(|| without_libtest_lines(full))
            .flatten();
        if stripped.is_some() {
            r.insert("sl".into(), json!(1));
        }
        let tail = tail(stripped.as_deref().unwrap_or(full), max);
        if failing {
            *failed_left = failed_left.saturating_sub(tail.len());
        }
        if !tail.is_empty() {
            r.insert(key.into(), json!(tail));
        }
        if tail.len() != full.len() {
            r.insert(len_key.into(), json!(full.len()));
        }
    }

    let mut x = Map::new();
    for (key, field) in [
        ("bid", "binary_id"),
        ("k", "kind"),
        ("sig", "signal"),
        ("pl", "panic_location"),
        ("st", "started_at"),
    ] {
        if let Some(s) = t[field].as_str() {
            x.insert(key.into(), json!(s));
        }
    }
    for (key, v) in [
        ("ec", &t["exit_code"]),
        ("rss", &t["peak_rss_bytes"]),
        ("pids", &t["pids_peak"]),
        ("lp", &t["limits"]["pids_max"]),
        ("lc", &t["limits"]["cpus"]),
    ] {
        if let Some(v) = number(v) {
            x.insert(key.into(), v);
        }
    }
    if !x.is_empty() {
        r.insert("x".into(), Value::Object(x));
    }

    if let Some(base) = base
        && let Some(p) = base.get(&id)
    {
        r.insert("p".into(), json!(p.map(|v| v.map(figure))));
    }
    Value::Object(r)
}

/// A finite number, else nothing.
fn number(v: &Value) -> Option<Value> {
    match v {
        Value::Number(n) if n.as_f64().is_some_and(f64::is_finite) => Some(v.clone()),
        _ => None,
    }
}

/// The budgets the record says it broke; when it does not say (a report
/// from before budgets), the ones its figures are over.
fn over_budget(t: &Value) -> Vec<String> {
    if let Some(over) = t["over_budget"].as_array() {
        return over
            .iter()
            .filter_map(|o| o.as_str().map(str::to_string))
            .collect();
    }
    let mut over = Vec::new();
    for (metric, budget, value) in [
        ("memory", "memory_bytes", "peak_memory_bytes"),
        ("time", "time_ms", "duration_ms"),
        ("cpu", "cpu_ms", "cpu_ms"),
    ] {
        if let (Some(b), Some(v)) = (t["budgets"][budget].as_f64(), t[value].as_f64())
            && v > b
        {
            over.push(metric.to_string());
        }
    }
    over
}

/// Why a test did not pass, in one line; empty when it passed or was ignored.
fn reason(t: &Value, outcome: &str, settings: &Value) -> String {
    let panic = t["panic_message"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(|m| format!("panicked: {m}"));
    let error = t["error"].as_str().filter(|s| !s.is_empty());
    let code = t["exit_code"].as_i64();
    let signal = t["signal"].as_str();
    let mut parts: Vec<String> = Vec::new();
    match outcome {
        "passed" | "ignored" => {}
        "failed" => parts.push(match (&panic, code, signal) {
            (Some(p), _, _) => p.clone(),
            (None, Some(c), _) => format!("exit code {c}"),
            (None, None, Some(s)) => format!("killed by {s}"),
            (None, None, None) => "failed".into(),
        }),
        "timed_out" => {
            let limit = t["limits"]["timeout_ms"]
                .as_f64()
                .or_else(|| settings["timeout_ms"].as_f64());
            parts.push(match limit {
                Some(ms) => format!("timed out after {}", fmt_ms(ms)),
                None => "timed out".into(),
            });
            parts.extend(panic.clone());
        }
        "oom_killed" => {
            let limit = t["limits"]["memory_max"]
                .as_f64()
                .or_else(|| settings["memory_max"].as_f64());
            parts.push(match limit {
                Some(b) => format!("killed at the memory limit of {}", fmt_bytes(b)),
                None => "killed at the memory limit".into(),
            });
            parts.extend(panic.clone());
        }
        "signaled" => {
            parts.push(match signal {
                Some(s) => format!("killed by {s}"),
                None => "killed by a signal".into(),
            });
            parts.extend(panic.clone());
        }
        "setup_error" => parts.push(error.unwrap_or("setup error").to_string()),
        _ => {
            parts.extend(panic.clone());
            if let Some(c) = code {
                parts.push(format!("exit code {c}"));
            }
            if let Some(s) = signal {
                parts.push(format!("killed by {s}"));
            }
        }
    }
    if outcome != "setup_error"
        && let Some(e) = error
    {
        parts.push(e.to_string());
    }
    parts.join(" — ")
}

/// Stdout without libtest's progress lines ("running 1 test", "test x ...
/// ok", "test result: ok. ..."), and without blank lines at either end;
/// `None` when it has none of them.
fn without_libtest_lines(s: &str) -> Option<String> {
    let libtest = |l: &str| {
        let l = l.trim_end_matches('\r');
        (l.starts_with("running ") && (l.ends_with(" test") || l.ends_with(" tests")))
            || (l.starts_with("test ") && l.ends_with(" ... ok"))
            || l.starts_with("test result: ok.")
    };
    if !s.split('\n').any(libtest) {
        return None;
    }
    let kept: Vec<&str> = s.split('\n').filter(|l| !libtest(l)).collect();
    let start = kept.iter().position(|l| !l.trim().is_empty());
    let end = kept.iter().rposition(|l| !l.trim().is_empty());
    Some(match (start, end) {
        (Some(a), Some(b)) => kept[a..=b].join("\n") + "\n",
        _ => String::new(),
    })
}

/// The last `max` bytes of `s` or a little less: cut at a character, and at
/// a line when one starts soon after.
fn tail(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    if let Some(nl) = s[start..]
        .find('\n')
        .filter(|&n| n < 200 && n + 1 < s.len() - start)
    {
        start += nl + 1;
    }
    &s[start..]
}

fn tests(report: &Value) -> impl Iterator<Item = &Value> {
    report["tests"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t.is_object())
}

fn not_run(report: &Value) -> impl Iterator<Item = &str> {
    report["not_run"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

/// A baseline's peak memory, time and CPU by test id; of a test that ran
/// more than once (--repeat), the largest of each.
fn baseline_figures(base: &Value) -> HashMap<String, [Option<f64>; 3]> {
    let mut by_id: HashMap<String, [Option<f64>; 3]> = HashMap::new();
    for t in tests(base) {
        let Some(id) = t["id"].as_str() else { continue };
        let now = [
            t["peak_memory_bytes"].as_f64(),
            t["duration_ms"].as_f64(),
            t["cpu_ms"].as_f64(),
        ];
        let e = by_id.entry(id.to_string()).or_insert(now);
        for (old, new) in e.iter_mut().zip(now) {
            *old = match (*old, new) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
        }
    }
    by_id
}

/// A figure as JSON: whole numbers without a fraction.
fn figure(v: f64) -> Value {
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        json!(v as i64)
    } else {
        json!(v)
    }
}

/// `<`, `>`, `&`, U+2028 and U+2029 as `\uXXXX`: the JSON text then holds
/// no `</script`, no `<!--` and no JavaScript line terminator. Outside
/// strings JSON has none of these characters, so this only rewrites string
/// contents, into escapes that parse back to the same characters.
fn script_json(v: &Value) -> String {
    let s = serde_json::to_string(v).unwrap_or_else(|_| "null".into());
    let mut out = String::with_capacity(s.len() + s.len() / 32);
    for c in s.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
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

/// The summary's counts, or the counts of the tests when it has none.
fn counts(report: &Value) -> Vec<(&'static str, u64)> {
    let summary = &report["summary"];
    let mut counted: HashMap<&str, u64> = HashMap::new();
    let mut total = 0;
    for t in tests(report) {
        total += 1;
        if let Some(o) = t["outcome"].as_str() {
            *counted.entry(o).or_default() += 1;
        }
    }
    let get = |key: &'static str, fallback: u64| (key, summary[key].as_u64().unwrap_or(fallback));
    let mut out = vec![get("total", total)];
    for o in OUTCOMES.iter().filter(|&&o| o != "not_run") {
        out.push(get(o, counted.get(o).copied().unwrap_or(0)));
    }
    out
}

fn title(report: &Value) -> String {
    let counts = counts(report);
    let mut parts: Vec<String> = counts
        .iter()
        .skip(1)
        .filter(|(_, n)| *n > 0)
        .map(|(o, n)| format!("{n} {}", o.replace('_', " ")))
        .collect();
    if parts.is_empty() {
        parts.push("no tests".into());
    }
    let mut t = format!("cargo-isolate: {}", parts.join(", "));
    if report["complete"] == false {
        t.push_str(" (incomplete)");
    }
    if let Some(s) = report["started_at"].as_str() {
        let _ = write!(t, " — {s}");
    }
    t
}

fn header(out: &mut String, report: &Value, baseline: Option<&Value>) {
    let version = report["tool"]["version"].as_str().unwrap_or("");
    let _ = write!(
        out,
        "<header>\n<h1>cargo-isolate <span class=\"muted\">test report</span> \
         <span class=\"version\">{}</span></h1>\n",
        esc(version)
    );
    let not_run = not_run(report).count();
    if report["complete"] == false {
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
    if report["host"]["cgroup"] == "none" {
        out.push_str(
            "<p class=\"banner info\">No writable cgroup on this host: limits were not \
             enforced and memory and CPU were not measured.</p>\n",
        );
    }

    out.push_str("<div class=\"badges\" id=\"badges\">");
    for (key, n) in counts(report) {
        let (filter, label) = if key == "total" {
            ("all", "total")
        } else {
            (key, key)
        };
        let _ = write!(
            out,
            "<button type=\"button\" class=\"badge o-{key}{}\" data-filter=\"{filter}\" \
             title=\"show only these in the table\">{} <b>{n}</b></button>",
            if n == 0 && key != "total" {
                " zero"
            } else {
                ""
            },
            label.replace('_', " "),
        );
    }
    if not_run > 0 {
        let _ = write!(
            out,
            "<button type=\"button\" class=\"badge o-not_run\" data-filter=\"not_run\" \
             title=\"show only these in the table\">not run <b>{not_run}</b></button>"
        );
    }
    let over = tests(report).filter(|t| !over_budget(t).is_empty()).count();
    if over > 0 {
        let _ = write!(
            out,
            "<button type=\"button\" class=\"badge o-over\" data-filter=\"over\" \
             title=\"show only these in the table\">over budget <b>{over}</b></button>"
        );
    }
    let regressed = tests(report)
        .filter(|t| t["regressions"].as_array().is_some_and(|a| !a.is_empty()))
        .count();
    if regressed > 0 {
        let _ = write!(
            out,
            "<button type=\"button\" class=\"badge o-over\" data-filter=\"over\" \
             title=\"show only these in the table\">regressed <b>{regressed}</b></button>"
        );
    }
    out.push_str("</div>\n<dl class=\"facts\">\n");

    let mut fact = |name: &str, value: String| {
        let _ = writeln!(
            out,
            "<div><dt>{}</dt><dd>{}</dd></div>",
            esc(name),
            esc(&value)
        );
    };
    if let Some(s) = report["started_at"].as_str() {
        fact("started", pretty_time(s));
    }
    if let Some(ms) = report["duration_ms"].as_f64() {
        fact("duration", fmt_ms(ms));
    }
    let complete = match report["complete"].as_bool() {
        Some(true) => "yes",
        Some(false) => "NO (interrupted)",
        None => "not recorded",
    };
    fact("complete", complete.to_string());
    let host = &report["host"];
    if let Some(k) = host["kernel"].as_str() {
        fact("kernel", k.to_string());
    }
    if let Some(c) = host["cgroup"].as_str() {
        fact("cgroup", c.to_string());
    }
    if let Some(r) = host["rootless"].as_bool() {
        fact("rootless", if r { "yes" } else { "no" }.to_string());
    }
    if let Some(settings) = report["settings"].as_object() {
        const KNOWN: [&str; 6] = [
            "isolation",
            "jobs",
            "memory_max",
            "pids_max",
            "cpus",
            "timeout_ms",
        ];
        let known = KNOWN.iter().filter_map(|k| settings.get_key_value(*k));
        let others = settings
            .iter()
            .filter(|(k, _)| !KNOWN.contains(&k.as_str()));
        for (key, v) in known.chain(others) {
            let shown = match (key.as_str(), v) {
                (_, Value::Null) => "none".to_string(),
                ("memory_max", v) if v.is_number() => fmt_bytes(v.as_f64().unwrap_or(0.0)),
                ("timeout_ms", v) if v.is_number() => fmt_ms(v.as_f64().unwrap_or(0.0)),
                (_, Value::String(s)) => s.clone(),
                (_, v) => v.to_string(),
            };
            let name = match key.as_str() {
                "memory_max" => "memory limit",
                "pids_max" => "pids limit",
                "timeout_ms" => "timeout",
                k => k,
            };
            fact(&name.replace('_', " "), shown);
        }
    }
    if let Some(b) = report["runner"]["peak_rss_bytes"].as_f64() {
        fact("runner peak RSS", fmt_bytes(b));
    }
    if let Some(v) = report["tool"]["version"].as_str() {
        fact("cargo-isolate", v.to_string());
    }
    if let Some(base) = baseline {
        let when = base["started_at"].as_str().unwrap_or("unknown time");
        fact("baseline", format!("the run of {}", pretty_time(when)));
    }
    out.push_str("</dl>\n<nav><a href=\"#tests\">Tests</a> <a href=\"#charts\">Charts</a>");
    if baseline.is_some() {
        out.push_str(" <a href=\"#changes\">Changes against the baseline</a>");
    }
    if not_run > 0 {
        out.push_str(" <a href=\"#not-run\">Not run</a>");
    }
    out.push_str("</nav>\n</header>\n");
}

fn changes_section(out: &mut String, report: &Value, base: &Value) {
    let now: HashSet<&str> = tests(report).filter_map(|t| t["id"].as_str()).collect();
    let skipped: HashSet<&str> = not_run(report).collect();
    let before: HashSet<&str> = tests(base).filter_map(|t| t["id"].as_str()).collect();
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
        esc(base["started_at"].as_str().unwrap_or("an unknown time")),
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

fn not_run_section(out: &mut String, report: &Value) {
    let ids: Vec<&str> = not_run(report).collect();
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

fn fmt_bytes(b: f64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if b < 1024.0 {
        return format!("{b} B");
    }
    let mut v = b / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

fn fmt_ms(ms: f64) -> String {
    if ms < 1000.0 {
        format!("{ms:.1} ms")
    } else if ms < 60_000.0 {
        format!("{:.3} s", ms / 1000.0)
    } else {
        let s = (ms / 1000.0).round() as u64;
        format!("{}m {:02}s", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn record(id: &str, outcome: &str) -> Value {
        json!({
            "id": id, "binary_id": "demo", "package": "demo", "binary": "demo", "kind": "lib",
            "name": id, "outcome": outcome, "exit_code": 0, "signal": null,
            "duration_ms": 12.5, "cpu_ms": 8.25, "peak_memory_bytes": 1_269_760,
            "peak_rss_bytes": 3_985_408, "pids_peak": 3,
            "stdout": "\nrunning 1 test\ntest x ... ok\n\ntest result: ok. 1 passed; 0 failed\n\n",
            "stderr": "", "error": null, "panic_message": null, "panic_location": null,
            "started_at": "2026-01-01T00:00:00Z",
        })
    }

    fn report(tests: Vec<Value>) -> Value {
        json!({
            "schema_version": 1,
            "tool": {"name": "cargo-isolate", "version": "0.1.0"},
            "started_at": "2026-01-01T00:00:00Z",
            "duration_ms": 2194.2,
            "complete": true,
            "host": {"kernel": "6.1.0", "cgroup": "v2", "rootless": false},
            "settings": {"isolation": "per-test", "jobs": 2, "memory_max": null,
                         "pids_max": null, "cpus": null, "timeout_ms": null},
            "summary": {"total": tests.len(), "passed": tests.len(), "failed": 0, "ignored": 0,
                        "timed_out": 0, "oom_killed": 0, "signaled": 0, "setup_error": 0},
            "tests": tests,
            "not_run": [],
            "runner": {"peak_rss_bytes": 8_974_336},
        })
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
        hostile["stdout"] = json!(HOSTILE_OUT);
        hostile["stderr"] = json!(HOSTILE_OUT);
        hostile["panic_message"] = json!(HOSTILE_OUT);
        hostile["error"] = json!(HOSTILE_OUT);
        hostile["signal"] = json!("<b>SIG</b>");
        hostile["over_budget"] = json!(["<i>memory</i>"]);
        let mut rep = report(vec![hostile, record("ok", "passed")]);
        rep["not_run"] = json!([HOSTILE_OUT]);
        rep["complete"] = json!(false);
        rep["host"]["kernel"] = json!(HOSTILE_OUT);
        rep["started_at"] = json!(HOSTILE_ID);
        rep["settings"]["isolation"] = json!("<svg onload=alert(5)>");
        rep["settings"]["<b>new</b>"] = json!("\"><img src=x onerror=alert(6)>");
        rep["tool"]["version"] = json!(HOSTILE_ID);
        let mut base = report(vec![record(HOSTILE_OUT, "passed")]);
        base["started_at"] = json!(HOSTILE_OUT);

        let html = render(&rep, Some(&base));
        // Our two scripts, and no other element the data could have made.
        assert_eq!(count(&html, "<script"), 2, "{html}");
        assert_eq!(count(&html, "</script"), 2);
        for tag in ["<img", "<svg", "<b>SIG", "<b>new", "<i>", "<!--"] {
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
        assert_eq!(rows[0]["so"], HOSTILE_OUT);
        assert_eq!(rows[0]["se"], HOSTILE_OUT);
        assert_eq!(rows[2]["i"], HOSTILE_OUT);
        assert_eq!(rows[2]["o"], "not_run");
        // In the header it is escaped text.
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("&lt;svg onload=alert(5)&gt;"));
        assert!(html.contains("&quot;&gt;&lt;img src=x onerror=alert(6)&gt;"));
        assert!(html.contains("<li>x&lt;/script&gt;&lt;script&gt;alert(2)"));
    }

    #[test]
    fn script_json_escapes_what_could_end_the_block() {
        let v = json!({"a": "</script><!-- & \u{2028}\u{2029} \\< \\\"<"});
        let s = script_json(&v);
        assert!(!s.contains('<') && !s.contains('>') && !s.contains('&'));
        assert!(!s.contains('\u{2028}') && !s.contains('\u{2029}'));
        assert_eq!(serde_json::from_str::<Value>(&s).unwrap(), v);
    }

    #[test]
    fn missing_fields_are_left_out() {
        // Nothing at all.
        for r in [json!({}), json!(null), json!([]), json!({"tests": "no"})] {
            let html = render(&r, None);
            assert!(html.contains("id=\"isolate-data\""));
            assert_eq!(embedded(&html)["tests"], json!([]));
        }
        // A record with an id alone, one with every figure null, one with
        // budgets but no over_budget, one from before budgets and limits.
        let bare = json!({"id": "bare"});
        let mut nulls = record("nulls", "ignored");
        for k in [
            "duration_ms",
            "cpu_ms",
            "peak_memory_bytes",
            "exit_code",
            "started_at",
        ] {
            nulls[k] = Value::Null;
        }
        nulls["budgets"] = Value::Null;
        nulls["limits"] = json!({"memory_max": null, "timeout_ms": null});
        nulls["over_budget"] = json!([]);
        let mut budgeted = record("budgeted", "passed");
        budgeted["budgets"] = json!({"memory_bytes": 1_000_000, "time_ms": null, "cpu_ms": 100});
        budgeted["limits"] = json!({"memory_max": 2_000_000});
        let mut rep = report(vec![bare, nulls, budgeted, json!("not an object")]);
        rep.as_object_mut().unwrap().remove("summary");
        rep.as_object_mut().unwrap().remove("complete");
        rep.as_object_mut().unwrap().remove("not_run");
        rep["host"] = Value::Null;
        let html = render(&rep, None);
        let data = embedded(&html);
        let rows = data["tests"].as_array().unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0], json!({"i": "bare", "o": "unknown"}));
        let n = rows[1].as_object().unwrap();
        for k in ["d", "c", "m", "lm", "lt", "bm", "bt", "bc", "ob", "p", "r"] {
            assert!(!n.contains_key(k), "{k} in {n:?}");
        }
        // Over budget derived from the figures when the record does not say.
        assert_eq!(rows[2]["ob"], json!(["memory"]));
        assert_eq!(rows[2]["bm"], 1_000_000);
        assert_eq!(rows[2]["bc"], 100);
        assert_eq!(rows[2]["lm"], 2_000_000);
        assert!(rows[2].get("bt").is_none());
        // Counted from the tests, as there is no summary; no false banner.
        assert!(html.contains("total <b>3</b>"));
        assert!(!html.contains("Incomplete run"));
    }

    #[test]
    fn the_reason_a_test_did_not_pass() {
        let settings = json!({"timeout_ms": 3000, "memory_max": 67_108_864});
        let cases = [
            (
                json!({"panic_message": "boom", "exit_code": 101}),
                "failed",
                "panicked: boom",
            ),
            (json!({"exit_code": 3}), "failed", "exit code 3"),
            (json!({}), "timed_out", "timed out after 3.000 s"),
            (
                json!({"limits": {"memory_max": 1_048_576}, "panic_message": "alloc"}),
                "oom_killed",
                "killed at the memory limit of 1.0 MiB — panicked: alloc",
            ),
            (
                json!({"signal": "SIGSEGV"}),
                "signaled",
                "killed by SIGSEGV",
            ),
            (
                json!({"error": "no user namespaces"}),
                "setup_error",
                "no user namespaces",
            ),
            (json!({}), "setup_error", "setup error"),
            (json!({"panic_message": "x"}), "passed", ""),
        ];
        for (t, outcome, want) in cases {
            assert_eq!(reason(&t, outcome, &settings), want, "{t}");
        }
    }

    #[test]
    fn output_is_cut_to_its_tail() {
        let mut failing = record("failing", "failed");
        // Multi-byte characters across every cut, and no newline to cut at.
        failing["stderr"] = json!("é".repeat(20_000));
        failing["stdout"] = json!("short\n");
        let mut passing = record("passing", "passed");
        passing["stdout"] = json!(format!(
            "running 1 test\n{}test passing ... ok\n\ntest result: ok. 1 passed\n\n",
            "printed by the test\n".repeat(500)
        ));
        passing["stderr"] = json!("ü".repeat(3000));
        let plain = record("plain", "passed");
        let data = embedded(&render(&report(vec![failing, passing, plain]), None));
        let rows = data["tests"].as_array().unwrap();
        let se = rows[0]["se"].as_str().unwrap();
        assert!(se.len() <= FAILED_TAIL_BYTES && se.len() > FAILED_TAIL_BYTES - 4);
        assert!(se.chars().all(|c| c == 'é'));
        assert_eq!(rows[0]["set"], 40_000);
        assert_eq!(rows[0]["so"], "short\n");
        assert!(rows[0].get("sot").is_none());
        let so = rows[1]["so"].as_str().unwrap();
        assert!(so.len() <= PASSED_TAIL_BYTES && so.starts_with("printed by the test\n"));
        assert!(
            so.ends_with("printed by the test\n"),
            "libtest's lines left out: {so:?}"
        );
        assert_eq!(rows[1]["sl"], 1);
        assert!(rows[1]["se"].as_str().unwrap().len() <= PASSED_TAIL_BYTES);
        // Only libtest's lines: nothing kept, and it says so.
        assert!(rows[2].get("so").is_none());
        assert_eq!(rows[2]["sl"], 1);
        assert!(rows[2]["sot"].as_u64().unwrap() > 0);
    }

    #[test]
    fn baseline_figures_by_id() {
        let mut a = record("a", "passed");
        a["peak_memory_bytes"] = json!(2000);
        let mut a_again = record("a", "passed");
        a_again["peak_memory_bytes"] = json!(3000);
        a_again["duration_ms"] = Value::Null;
        let base = report(vec![
            a,
            a_again,
            record("gone", "passed"),
            record("skipped", "passed"),
        ]);
        let mut now = report(vec![record("a", "passed"), record("new", "passed")]);
        now["not_run"] = json!(["skipped"]);
        let html = render(&now, Some(&base));
        let data = embedded(&html);
        assert_eq!(data["baseline"], true);
        assert_eq!(data["tests"][0]["p"], json!([3000, 12.5, 8.25]));
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
            t["duration_ms"] = json!((n % 997) as f64 * 1.37 + 0.123);
            t["cpu_ms"] = json!((n % 991) as f64 * 1.11);
            t["peak_memory_bytes"] = json!(1_000_000 + (n * 7919) % 90_000_000);
            t["stdout"] = json!(format!(
                "\nrunning 1 test\ntest {id} ... ok\n\ntest result: ok. 1 passed; 0 failed; \
                 0 ignored; 0 measured; 5 filtered out; finished in 0.01s\n\n"
            ));
            t["limits"] =
                json!({"memory_max": null, "pids_max": null, "cpus": null, "timeout_ms": 60000});
            if n % 10 == 3 {
                t["stderr"] = json!("some diagnostic line the test printed\n".repeat(280));
            }
            if failing {
                t["exit_code"] = json!(101);
                t["panic_message"] = json!("assertion `left == right` failed");
                t["stderr"] = json!("a long backtrace line of a failing test...\n".repeat(950));
            }
            if n % 5 == 0 {
                t["budgets"] = json!({"memory_bytes": 50_000_000, "time_ms": 1000, "cpu_ms": null});
                t["over_budget"] = json!([]);
            }
            tests.push(t);
        }
        let rep = report(tests);
        let base = rep.clone();
        let started = std::time::Instant::now();
        let html = render(&rep, Some(&base));
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
