//! The run report as one self-contained HTML page, for a CI user to open
//! from the artifacts: the run's facts and counts, a sortable, filterable,
//! paged table of the tests with their output tails, bar charts of peak
//! memory and time with the budgets, a histogram of durations and, given a
//! baseline report, what grew.
//!
//! Nothing is loaded from the network (a Content-Security-Policy forbids
//! it); the CSS and the JavaScript are inline. The header is plain HTML
//! written here; the table and the charts are drawn by the page's
//! JavaScript from the data embedded as JSON in a
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

// ------------------------------------------------------- the CSS and JS

const CSS: &str = r#":root{--bg:#fff;--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--soft:#f6f8fa;
--passed:#1a7f37;--failed:#cf222e;--ignored:#818b98;--timed_out:#bc4c00;--oom_killed:#8250df;
--signaled:#a40e26;--setup_error:#9a6700;--not_run:#b08800;--over:#d1242f;--bar:#4c8bf5}
*{box-sizing:border-box}
html{background:var(--bg)}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--fg)}
code,pre,.mono,td.id,ul.ids{font-family:ui-monospace,SFMono-Regular,"SF Mono",Menlo,Consolas,"Liberation Mono",monospace}
header{padding:14px 24px 6px;border-bottom:1px solid var(--line);background:var(--soft)}
h1{font-size:20px;margin:0 0 6px}
h1 .version{font-size:12px;font-weight:400;color:var(--muted)}
h2{font-size:17px;margin:0 0 8px}
h3{font-size:14px;margin:12px 0 6px}
.muted{color:var(--muted)}
a{color:#0969da}
nav{display:flex;gap:14px;margin:6px 0 4px;font-size:13px}
main{padding:12px 24px 40px}
section{margin:0 0 28px}
.banner{margin:8px 0;padding:8px 12px;border-radius:6px;border:1px solid;font-weight:600}
.banner.warn{background:#fff8c5;border-color:#d4a72c;color:#4d2d00}
.banner.info{background:#ddf4ff;border-color:#54aeff;color:#0a3069;font-weight:400}
.badges{display:flex;flex-wrap:wrap;gap:6px;margin:8px 0}
.badge{border:1px solid var(--c,#57606a);border-radius:999px;padding:2px 11px;font:inherit;font-size:13px;color:#fff;background:var(--c,#57606a);cursor:pointer}
.badge b{margin-left:3px}
.badge.zero{background:transparent;color:var(--muted);border-color:var(--line)}
.badge:focus-visible,th:focus-visible{outline:2px solid #0969da;outline-offset:1px}
.o-total{--c:#32383f}.o-passed{--c:var(--passed)}.o-failed{--c:var(--failed)}.o-ignored{--c:var(--ignored)}
.o-timed_out{--c:var(--timed_out)}.o-oom_killed{--c:var(--oom_killed)}.o-signaled{--c:var(--signaled)}
.o-setup_error{--c:var(--setup_error)}.o-not_run{--c:var(--not_run)}.o-over{--c:var(--over)}.o-unknown{--c:#57606a}
.facts{display:grid;grid-template-columns:repeat(auto-fill,minmax(190px,1fr));gap:4px 18px;margin:8px 0}
.facts div{min-width:0}
.facts dt{font-size:11px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted)}
.facts dd{margin:0;overflow-wrap:anywhere}
.controls,.chart-controls{display:flex;flex-wrap:wrap;align-items:center;gap:6px 14px;margin:0 0 8px}
.controls label,.chart-controls label{white-space:nowrap;font-size:13px}
input[type=search]{padding:4px 8px;width:320px;max-width:100%;border:1px solid var(--line);border-radius:6px;font:inherit}
button{font:inherit;font-size:13px}
.pager button,.chart-head button,.controls button{padding:2px 10px;border:1px solid var(--line);border-radius:6px;background:var(--soft);cursor:pointer}
.pager button:disabled{opacity:.45;cursor:default}
.tablewrap{overflow-x:auto;border:1px solid var(--line);border-radius:6px}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{padding:4px 8px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{position:sticky;top:0;z-index:1;background:var(--soft);cursor:pointer;user-select:none;white-space:nowrap;font-weight:600}
th:hover{background:#eaeef2}
th.num,td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
th[aria-sort=ascending]::after{content:" \25B2";font-size:10px}
th[aria-sort=descending]::after{content:" \25BC";font-size:10px}
td.id{overflow-wrap:anywhere;min-width:280px;max-width:560px}
td.reason{max-width:340px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
tr.row{cursor:pointer}
tr.row:hover{background:#f3f6f9}
tr.row td.id::before{content:"\25B8  ";color:var(--muted)}
tr.row.open td.id::before{content:"\25BE  "}
tr.row.over{background:#ffebe9}
tr.row.over:hover{background:#ffdcd7}
tr.row.over td:first-child{box-shadow:inset 4px 0 var(--over)}
td.over{color:var(--over);font-weight:700}
td.up{color:var(--failed)}
td.down{color:var(--passed)}
.pill{display:inline-block;border-radius:999px;padding:0 8px;font-size:12px;line-height:18px;color:#fff;background:var(--c);white-space:nowrap}
.att{color:var(--muted);font-size:12px}
.sub{display:block;color:var(--muted);font-size:11px;font-weight:400}
tr.detail>td{background:var(--soft);padding:8px 12px 10px}
.detail-box{position:sticky;left:12px;max-width:calc(100vw - 100px)}
dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:0 0 8px}
dl.kv dt{color:var(--muted)}
dl.kv dd{margin:0;overflow-wrap:anywhere}
pre{margin:2px 0 10px;padding:8px 10px;max-height:380px;overflow:auto;background:#fff;border:1px solid var(--line);border-radius:6px;font-size:12px;line-height:1.4;white-space:pre-wrap;overflow-wrap:anywhere}
.outhead{font-weight:600;font-size:12px}
.pager{display:flex;flex-wrap:wrap;gap:8px;align-items:center;margin:8px 0;font-size:13px}
.chart{margin:6px 0 18px}
.chart-head{display:flex;flex-wrap:wrap;align-items:baseline;gap:4px 12px}
.chart-head h3{margin:6px 0}
.chartbox{overflow-x:auto}
.legend{font-size:12px;color:var(--muted);display:flex;gap:14px;flex-wrap:wrap}
.legend i{display:inline-block;width:10px;height:10px;margin-right:4px;vertical-align:-1px;border-radius:2px;background:var(--c)}
.legend i.line{width:3px;height:12px;border-radius:0;background:#24292f}
svg text{font:12px system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;fill:#1f2328}
svg text.lab{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace;font-size:11px}
svg text.small{font-size:10px;fill:#59636e}
svg .bar{fill:var(--bar)}
svg .bar.bad{fill:#e0823d}
svg .bar.over{fill:var(--over)}
svg .budget{stroke:#24292f;stroke-width:2}
svg .axis{stroke:#8c959f;stroke-width:1}
svg .hbar{fill:var(--bar)}
svg .hbar.bad{fill:#e0823d}
ul.ids{margin:6px 0;padding-left:22px;font-size:12px;max-height:320px;overflow:auto}
details{margin:6px 0}
summary{cursor:pointer;font-weight:600}
.empty td{color:var(--muted);text-align:center;padding:16px}
"#;

const JS: &str = r#"(() => {
'use strict';
const body = document.body;
window.addEventListener('error', (e) => {
  body.setAttribute('data-jserror', String((e && e.message) || e));
});

const D = JSON.parse(document.getElementById('isolate-data').textContent);
const T = Array.isArray(D.tests) ? D.tests : [];
const HAS_BASE = !!D.baseline;
const TOP = 50;
const OUTCOMES = ['failed', 'timed_out', 'oom_killed', 'signaled', 'setup_error', 'passed', 'ignored', 'not_run'];
// Keyed by text from the report: no prototype to collide with.
const RANK = Object.create(null);
OUTCOMES.forEach((o, i) => { RANK[o] = i; });
const METRIC = { m: 'memory', d: 'time', c: 'cpu' };

// ---- formatting
function num(v) { return typeof v === 'number' && isFinite(v) ? v : null; }
function fmtBytes(b) {
  b = num(b);
  if (b === null) return '';
  if (b < 1024) return b + ' B';
  const u = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = b / 1024, i = 0;
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return v.toFixed(1) + ' ' + u[i];
}
function fmtMs(ms) {
  ms = num(ms);
  if (ms === null) return '';
  if (ms < 1000) return ms.toFixed(1) + ' ms';
  if (ms < 60000) return (ms / 1000).toFixed(3) + ' s';
  const s = Math.round(ms / 1000);
  return Math.floor(s / 60) + 'm ' + String(s % 60).padStart(2, '0') + 's';
}
function fmtPct(p) {
  p = num(p);
  if (p === null) return '';
  const a = Math.abs(p);
  return (p > 0 ? '+' : p < 0 ? '\u2212' : '\u00b1') + (a >= 100 ? a.toFixed(0) : a.toFixed(1)) + '%';
}
function fmtAxis(ms) {
  if (ms < 1000) return +ms.toPrecision(3) + 'ms';
  if (ms < 60000) return +(ms / 1000).toPrecision(3) + 's';
  return +(ms / 60000).toPrecision(3) + 'min';
}
function pct(now, was) {
  now = num(now); was = num(was);
  if (now === null || was === null || was <= 0) return null;
  return (now - was) / was * 100;
}
function words(o) { return String(o).replace(/_/g, ' '); }
function shorten(s, n) { return s.length <= n ? s : '\u2026' + s.slice(s.length - n + 1); }

// ---- DOM, only ever with textContent and attributes named here
function h(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}
const SVGNS = 'http://www.w3.org/2000/svg';
function s(tag, attrs, text) {
  const e = document.createElementNS(SVGNS, tag);
  for (const k in attrs) e.setAttribute(k, String(attrs[k]));
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}
function pill(o) {
  const p = h('span', 'pill o-' + (RANK[o] === undefined ? 'unknown' : o), words(o));
  return p;
}

// ---- derived fields
for (let n = 0; n < T.length; n++) {
  const r = T[n];
  r.i = String(r.i);
  r.o = String(r.o);
  r.lid = r.i.toLowerCase();
  r.ob = Array.isArray(r.ob) ? r.ob.map(String) : [];
  r.flag = r.ob.length > 0 || (Array.isArray(r.rg) && r.rg.length > 0);
  if (r.p) { r.gm = pct(r.m, r.p[0]); r.gd = pct(r.d, r.p[1]); r.gc = pct(r.c, r.p[2]); }
}

// ---- a sortable, paged table
class Grid {
  constructor(host, rows, cols, opts) {
    this.rows = rows;
    this.cols = cols;
    this.ps = opts.pageSize || 200;
    this.page = 0;
    this.pass = opts.pass || null;
    this.detail = opts.detail || null;
    this.rowClass = opts.rowClass || null;
    this.onchange = opts.onchange || null;
    this.order = rows.map((_, i) => i);
    this.visible = this.order.slice();
    this.open = new Set();
    this.sortCol = -1;
    this.dir = 0;
    const wrap = h('div', 'tablewrap');
    const table = h('table', 'grid');
    const thead = h('thead');
    const tr = h('tr');
    this.ths = cols.map((c, ci) => {
      const th = h('th', (c.num ? 'num ' : '') + (c.cls || ''), c.label);
      th.setAttribute('data-key', c.key);
      th.tabIndex = 0;
      th.title = (c.title ? c.title + '. ' : '') + 'Click to sort.';
      th.addEventListener('click', () => this.clickSort(ci));
      th.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); this.clickSort(ci); }
      });
      tr.append(th);
      return th;
    });
    thead.append(tr);
    this.tbody = h('tbody');
    table.append(thead, this.tbody);
    wrap.append(table);
    this.pager = h('div', 'pager');
    this.prev = h('button', null, '\u2039 previous');
    this.next = h('button', null, 'next \u203a');
    this.prev.type = this.next.type = 'button';
    this.info = h('span', 'muted');
    this.prev.addEventListener('click', () => { this.page--; this.render(); });
    this.next.addEventListener('click', () => { this.page++; this.render(); });
    const size = h('select');
    for (const n of [50, 100, 200, 500, 1000]) {
      const o = h('option', null, n + ' rows a page');
      o.value = String(n);
      if (n === this.ps) o.selected = true;
      size.append(o);
    }
    size.addEventListener('change', () => { this.ps = +size.value; this.page = 0; this.render(); });
    this.pager.append(this.prev, this.next, this.info, size);
    host.append(wrap, this.pager);
    this.tbody.addEventListener('click', (e) => {
      if (!this.detail) return;
      const sel = window.getSelection && window.getSelection();
      if (sel && String(sel).length > 0) return;
      const t = e.target.closest('tr.row');
      if (!t) return;
      const i = +t.getAttribute('data-idx');
      if (this.open.has(i)) this.open.delete(i); else this.open.add(i);
      this.render();
    });
  }
  clickSort(ci) {
    const c = this.cols[ci];
    const dir = this.sortCol === ci ? -this.dir : (c.num ? -1 : 1);
    this.sort(ci, dir);
  }
  keys(ci) {
    const c = this.cols[ci];
    if (!c.keys) {
      c.keys = this.rows.map((r) => {
        const k = c.sort(r);
        if (k === undefined || k === null || (typeof k === 'number' && !isFinite(k))) return null;
        return k;
      });
    }
    return c.keys;
  }
  // Stable: rows that tie keep the order they had.
  sort(ci, dir) {
    const k = this.keys(ci);
    this.order.sort((a, b) => {
      const x = k[a], y = k[b];
      if (x === y) return 0;
      if (x === null) return 1;
      if (y === null) return -1;
      return x < y ? -dir : dir;
    });
    this.sortCol = ci;
    this.dir = dir;
    this.ths.forEach((th, j) => {
      if (j === ci) th.setAttribute('aria-sort', dir > 0 ? 'ascending' : 'descending');
      else th.removeAttribute('aria-sort');
    });
    this.filter(false, false);
  }
  filter(resetPage, setChanged) {
    const p = this.pass, rows = this.rows;
    this.visible = p ? this.order.filter((i) => p(rows[i])) : this.order.slice();
    if (resetPage !== false) this.page = 0;
    this.render();
    if (setChanged !== false && this.onchange) this.onchange();
  }
  render() {
    const pages = Math.max(1, Math.ceil(this.visible.length / this.ps));
    if (this.page >= pages) this.page = pages - 1;
    if (this.page < 0) this.page = 0;
    const start = this.page * this.ps;
    const end = Math.min(this.visible.length, start + this.ps);
    const frag = document.createDocumentFragment();
    for (let j = start; j < end; j++) {
      const i = this.visible[j];
      const r = this.rows[i];
      const tr = h('tr', 'row');
      tr.setAttribute('data-idx', String(i));
      const rc = this.rowClass ? this.rowClass(r) : '';
      if (rc) tr.className += ' ' + rc;
      const open = this.detail && this.open.has(i);
      if (open) tr.className += ' open';
      for (const c of this.cols) {
        const td = h('td', (c.num ? 'num ' : '') + (c.cls || ''));
        c.cell(r, td);
        tr.append(td);
      }
      frag.append(tr);
      if (open) {
        const dtr = h('tr', 'detail');
        const td = h('td');
        td.colSpan = this.cols.length;
        td.append(this.detail(r));
        dtr.append(td);
        frag.append(dtr);
      }
    }
    if (end === start) {
      const tr = h('tr', 'empty');
      const td = h('td', null, this.rows.length ? 'No test matches the filter.' : 'No tests.');
      td.colSpan = this.cols.length;
      tr.append(td);
      frag.append(tr);
    }
    this.tbody.replaceChildren(frag);
    let info = this.visible.length ? (start + 1) + '\u2013' + end + ' of ' + this.visible.length : '0 tests';
    if (this.visible.length !== this.rows.length) info += ' (filtered from ' + this.rows.length + ')';
    this.info.textContent = info + ', page ' + (this.page + 1) + ' of ' + pages;
    this.prev.disabled = this.page === 0;
    this.next.disabled = end >= this.visible.length;
  }
}

// ---- cells
// A figure, with its budget and, when it is not the run's, its limit below.
function numCol(key, label, fmt, title, metric, budgetKey, limitKey, runLimit) {
  return {
    key, label, num: true, title,
    sort: (r) => num(r[key]),
    cell: (r, td) => {
      td.textContent = fmt(r[key]);
      if (metric && r.ob.includes(metric)) { td.classList.add('over'); td.title = 'over its ' + metric + ' budget'; }
      if (budgetKey && num(r[budgetKey]) !== null) td.append(h('span', 'sub', 'budget ' + fmt(r[budgetKey])));
      if (limitKey && num(r[limitKey]) !== null && r[limitKey] !== runLimit) {
        td.append(h('span', 'sub', (limitKey === 'lt' ? 'timeout ' : 'limit ') + fmt(r[limitKey])));
      }
    },
  };
}
function deltaCol(key, label, baseIdx, now, fmt) {
  return {
    key, label, num: true,
    title: 'change against the baseline',
    sort: (r) => r[key],
    cell: (r, td) => {
      if (!r.p) { td.textContent = HAS_BASE && r.o !== 'not_run' ? 'new' : ''; td.className += ' muted'; return; }
      const g = r[key];
      td.textContent = fmtPct(g);
      if (num(r.p[baseIdx]) !== null) td.append(h('span', 'sub', 'was ' + fmt(r.p[baseIdx])));
      if (g !== null && g > 10) td.className += ' up';
      else if (g !== null && g < -10) td.className += ' down';
      td.title = fmt(r.p[baseIdx]) + ' \u2192 ' + fmt(r[now]);
    },
  };
}
const idCol = {
  key: 'i', label: 'test', cls: 'id', title: 'the test id; click a row for its output',
  sort: (r) => r.i,
  cell: (r, td) => {
    td.textContent = r.i;
    if (r.a !== undefined) td.append(' ', h('span', 'att', '#' + r.a));
  },
};
const outcomeCol = {
  key: 'o', label: 'outcome', title: 'how it ended',
  sort: (r) => (RANK[r.o] === undefined ? 99 : RANK[r.o]),
  cell: (r, td) => {
    td.append(pill(r.o));
    if (r.ob.length) td.append(' ', h('span', 'pill o-over', 'over ' + r.ob.join(', ')));
    if (Array.isArray(r.rg) && r.rg.length) {
      td.append(' ', h('span', 'pill o-over', 'regressed ' + r.rg.map((g) => g[0]).join(', ')));
    }
  },
};

// ---- the details of an expanded row
function detail(r) {
  const box = h('div', 'detail-box');
  const dl = h('dl', 'kv');
  const add = (k, v) => {
    if (v === undefined || v === null || v === '') return;
    dl.append(h('dt', null, k), h('dd', null, v));
  };
  const x = r.x || {};
  add('id', r.i);
  add('binary id', x.bid);
  add('kind', x.k);
  add('attempt', r.a);
  add('outcome', words(r.o));
  add('why', r.r);
  add('panicked at', x.pl);
  add('exit code', x.ec);
  add('signal', x.sig);
  add('wall time', fmtMs(r.d));
  add('CPU', fmtMs(r.c));
  add('peak memory', fmtBytes(r.m));
  add('peak RSS', fmtBytes(x.rss));
  add('pids peak', x.pids);
  add('memory limit', fmtBytes(r.lm));
  add('timeout', fmtMs(r.lt));
  add('pids limit', x.lp);
  add('cpus', x.lc);
  const b = [];
  if (num(r.bm) !== null) b.push('memory ' + fmtBytes(r.bm));
  if (num(r.bt) !== null) b.push('time ' + fmtMs(r.bt));
  if (num(r.bc) !== null) b.push('cpu ' + fmtMs(r.bc));
  add('budgets', b.join(' \u00b7 '));
  add('over budget', r.ob.join(', '));
  if (Array.isArray(r.rg)) add('regressed', r.rg.map((g) => g[0] + ' ' + fmtPct(g[1])).join(', '));
  if (r.p) {
    add('baseline', 'memory ' + (fmtBytes(r.p[0]) || '?') + ' (' + (fmtPct(r.gm) || 'n/a') + '), time ' +
      (fmtMs(r.p[1]) || '?') + ' (' + (fmtPct(r.gd) || 'n/a') + '), cpu ' + (fmtMs(r.p[2]) || '?') +
      ' (' + (fmtPct(r.gc) || 'n/a') + ')');
  } else if (HAS_BASE && r.o !== 'not_run') {
    add('baseline', 'not in the baseline: a new test');
  }
  add('started at', x.st);
  box.append(dl);
  const out = (name, text, full, libtest) => {
    text = typeof text === 'string' ? text : '';
    let head = name;
    if (typeof full === 'number') {
      const shown = new TextEncoder().encode(text).length;
      head += shown ? ' \u2014 the last ' + fmtBytes(shown) + ' of ' + fmtBytes(full) : ' \u2014 ' + fmtBytes(full) + ' not shown';
    }
    if (libtest) head += " (libtest's progress lines left out)";
    if (!text && !libtest) return false;
    box.append(h('div', 'outhead', head));
    if (text) box.append(h('pre', null, text));
    return true;
  };
  const a = out('stderr', r.se, r.set, false);
  const c = out('stdout', r.so, r.sot, !!r.sl);
  if (!a && !c) box.append(h('p', 'muted', 'No output captured.'));
  return box;
}

// ---- the tests table and its controls
const cols = [idCol, outcomeCol,
  numCol('d', 'duration', fmtMs, 'wall time; below: its budget, and its timeout when not the run\'s', 'time', 'bt', 'lt', num(D.timeout_ms)),
  numCol('c', 'cpu', fmtMs, 'user + system CPU time; below: its budget', 'cpu', 'bc'),
  numCol('m', 'peak memory', fmtBytes, 'the sandbox\'s memory high-water mark; below: its budget, and its limit when not the run\'s', 'memory', 'bm', 'lm', num(D.memory_max))];
if (HAS_BASE) {
  cols.push(deltaCol('gm', '\u0394 memory', 0, 'm', fmtBytes));
  cols.push(deltaCol('gd', '\u0394 time', 1, 'd', fmtMs));
  cols.push(deltaCol('gc', '\u0394 cpu', 2, 'c', fmtMs));
}
cols.push({
  key: 'r', label: 'why', cls: 'reason', title: 'why it did not pass',
  sort: (r) => r.r || null,
  cell: (r, td) => { if (r.r) { td.textContent = r.r; td.title = r.r; } },
});

const present = [];
const counts = Object.create(null);
for (const r of T) { if (!(r.o in counts)) { counts[r.o] = 0; present.push(r.o); } counts[r.o]++; }
present.sort((a, b) => (RANK[a] === undefined ? 99 : RANK[a]) - (RANK[b] === undefined ? 99 : RANK[b]) || (a < b ? -1 : a > b ? 1 : 0));
const state = { terms: [], outcomes: new Set(present), flagged: false };
const pass = (r) => {
  if (!state.outcomes.has(r.o)) return false;
  if (state.flagged && !r.flag) return false;
  for (const t of state.terms) if (!r.lid.includes(t)) return false;
  return true;
};

const controls = document.getElementById('controls');
const search = h('input');
search.type = 'search';
search.placeholder = 'filter by test id (words, all must match)';
search.setAttribute('aria-label', 'filter by test id');
controls.append(search);
const boxes = Object.create(null);
for (const o of present) {
  const l = h('label');
  const cb = h('input');
  cb.type = 'checkbox';
  cb.checked = true;
  cb.setAttribute('data-outcome', o);
  cb.addEventListener('change', () => {
    if (cb.checked) state.outcomes.add(o); else state.outcomes.delete(o);
    grid.filter();
  });
  boxes[o] = cb;
  l.append(cb, ' ', pill(o), ' ' + counts[o]);
  controls.append(l);
}
let flaggedBox = null;
if (T.some((r) => r.flag)) {
  const l = h('label');
  flaggedBox = h('input');
  flaggedBox.type = 'checkbox';
  flaggedBox.addEventListener('change', () => { state.flagged = flaggedBox.checked; grid.filter(); });
  l.append(flaggedBox, ' only over budget or regressed');
  controls.append(l);
}
const reset = h('button', null, 'show all');
reset.type = 'button';
reset.addEventListener('click', () => showOnly(null));
controls.append(reset);

function setText(v) {
  search.value = v;
  state.terms = v.toLowerCase().split(/\s+/).filter(Boolean);
  grid.filter();
}
let timer = 0;
search.addEventListener('input', () => {
  clearTimeout(timer);
  timer = setTimeout(() => setText(search.value), 120);
});
function showOnly(what) {
  state.outcomes = new Set(what === null || what === 'over' ? present : [what]);
  for (const o of present) boxes[o].checked = state.outcomes.has(o);
  state.flagged = what === 'over';
  if (flaggedBox) flaggedBox.checked = state.flagged;
  if (what === null) { search.value = ''; state.terms = []; }
  grid.filter();
  document.getElementById('tests').scrollIntoView();
}
for (const b of document.querySelectorAll('#badges .badge')) {
  b.addEventListener('click', () => {
    const f = b.getAttribute('data-filter');
    if (f === 'all') showOnly(null);
    else if (f === 'over' || present.includes(f)) showOnly(f);
  });
}

const grid = new Grid(document.getElementById('grid'), T, cols, {
  pageSize: 200,
  pass,
  detail,
  rowClass: (r) => (r.flag ? 'over' : ''),
  onchange: () => { if (follow.checked) drawChartsSoon(); },
});

// ---- charts
const follow = document.getElementById('chart-follow');
follow.addEventListener('change', () => drawCharts());
function chartRows() {
  if (!follow.checked) return T;
  return grid.visible.map((i) => T[i]);
}
function legend(items) {
  const l = h('div', 'legend');
  for (const [cls, text, color] of items) {
    const s = h('span');
    const i = h('i', cls);
    if (color) i.style.setProperty('--c', color);
    s.append(i, text);
    l.append(s);
  }
  return l;
}
function barChart(hostId, title, key, budgetKey, fmt) {
  const host = document.getElementById(hostId);
  const box = h('div', 'chart');
  const head = h('div', 'chart-head');
  const sub = h('span', 'muted');
  const btn = h('button');
  btn.type = 'button';
  head.append(h('h3', null, title), sub, btn);
  const holder = h('div', 'chartbox');
  const keys = [['', 'passed', '#4c8bf5'], ['', 'did not pass', '#e0823d']];
  if (T.some((r) => num(r[budgetKey]) !== null || r.ob.includes(METRIC[key]))) {
    keys.push(['', 'over its budget', '#d1242f'], ['line', 'its budget']);
  }
  box.append(head, holder, legend(keys));
  host.append(box);
  let all = false;
  btn.addEventListener('click', () => { all = !all; draw(); });
  function draw() {
    const items = chartRows().filter((r) => num(r[key]) !== null);
    items.sort((a, b) => b[key] - a[key]);
    const total = items.length;
    const shown = all ? items : items.slice(0, TOP);
    btn.hidden = total <= TOP;
    btn.textContent = all ? 'show the top ' + TOP : 'show all ' + total;
    sub.textContent = total === 0 ? '' : shown.length < total ? 'the top ' + shown.length + ' of ' + total + ' tests' : total + ' tests';
    holder.replaceChildren(total ? bars(shown, key, budgetKey, fmt) : h('p', 'muted', 'Nothing measured.'));
  }
  return draw;
}
function bars(rows, key, bk, fmt) {
  const W = 1120, LW = 380, VW = 120, RH = 19, PAD = 4;
  const BW = W - LW - VW - 10;
  let max = 0;
  for (const r of rows) max = Math.max(max, r[key], num(r[bk]) || 0);
  if (!(max > 0)) max = 1;
  const H = rows.length * RH + 2 * PAD;
  const svg = s('svg', { viewBox: '0 0 ' + W + ' ' + H, width: W, height: H, class: 'bars', role: 'img' });
  svg.append(s('line', { x1: LW, x2: LW, y1: 0, y2: H, class: 'axis' }));
  rows.forEach((r, j) => {
    const y = PAD + j * RH;
    const v = r[key], b = num(r[bk]);
    const over = r.ob.includes(METRIC[key]) || (b !== null && v > b);
    const g = s('g', {});
    g.append(s('title', {}, r.i + ': ' + fmt(v) + (b !== null ? ' (budget ' + fmt(b) + ')' : '') + ', ' + words(r.o)));
    g.append(s('text', { x: LW - 8, y: y + RH - 6, 'text-anchor': 'end', class: 'lab' }, shorten(r.i, 54)));
    const w = Math.max(1, v / max * BW);
    g.append(s('rect', { x: LW, y: y + 3, width: w.toFixed(1), height: RH - 6, rx: 2, class: 'bar' + (over ? ' over' : r.o === 'passed' ? '' : ' bad') }));
    let vx = LW + w;
    if (b !== null) {
      const bx = LW + b / max * BW;
      g.append(s('line', { x1: bx.toFixed(1), x2: bx.toFixed(1), y1: y + 1, y2: y + RH - 1, class: 'budget' }));
      vx = Math.max(vx, bx);
    }
    g.append(s('text', { x: (vx + 6).toFixed(1), y: y + RH - 6 }, fmt(v)));
    svg.append(g);
  });
  return svg;
}
function edges125(lo, hi) {
  const list = [];
  for (let d = Math.floor(Math.log10(lo)) - 1; ; d++) {
    for (const f of [1, 2, 5]) list.push(f * Math.pow(10, d));
    if (Math.pow(10, d) > hi) break;
  }
  let a = 0;
  while (a + 1 < list.length && list[a + 1] <= lo) a++;
  let b = list.length - 1;
  while (b - 1 > a && list[b - 1] > hi) b--;
  return list.slice(a, b + 1);
}
function histogram() {
  const host = document.getElementById('chart-hist');
  const box = h('div', 'chart');
  const head = h('div', 'chart-head');
  const sub = h('span', 'muted');
  head.append(h('h3', null, 'Durations'), sub);
  const holder = h('div', 'chartbox');
  box.append(head, holder, legend([['', 'passed', '#4c8bf5'], ['', 'did not pass', '#e0823d']]));
  host.append(box);
  return () => {
    const rows = chartRows().filter((r) => num(r.d) !== null);
    if (!rows.length) { sub.textContent = ''; holder.replaceChildren(h('p', 'muted', 'Nothing measured.')); return; }
    let lo = Infinity, hi = 0;
    for (const r of rows) { if (r.d > 0) lo = Math.min(lo, r.d); hi = Math.max(hi, r.d); }
    if (!isFinite(lo)) lo = 0.001;
    if (!(hi > 0)) hi = lo;
    const e = edges125(lo, hi);
    const nb = e.length - 1;
    const ok = new Array(nb).fill(0), bad = new Array(nb).fill(0);
    for (const r of rows) {
      let j = 0;
      while (j + 1 < nb && r.d >= e[j + 1]) j++;
      if (r.o === 'passed') ok[j]++; else bad[j]++;
    }
    let top = 1;
    for (let j = 0; j < nb; j++) top = Math.max(top, ok[j] + bad[j]);
    sub.textContent = rows.length + ' tests, on a logarithmic scale of time';
    const W = 1120, H = 250, L = 40, B = 40, TP = 18;
    const bw = Math.min(90, (W - L - 10) / nb), ph = H - B - TP;
    const svg = s('svg', { viewBox: '0 0 ' + W + ' ' + H, width: W, height: H, class: 'hist', role: 'img' });
    svg.append(s('line', { x1: L, x2: L + nb * bw, y1: H - B, y2: H - B, class: 'axis' }));
    for (let j = 0; j < nb; j++) {
      const x = L + j * bw;
      const n = ok[j] + bad[j];
      const g = s('g', {});
      g.append(s('title', {}, fmtMs(e[j]) + ' to ' + fmtMs(e[j + 1]) + ': ' + n + ' tests (' + bad[j] + ' did not pass)'));
      const hOk = ok[j] / top * ph, hBad = bad[j] / top * ph;
      g.append(s('rect', { x: (x + 2).toFixed(1), y: (H - B - hOk).toFixed(1), width: Math.max(1, bw - 4).toFixed(1), height: hOk.toFixed(1), class: 'hbar' }));
      g.append(s('rect', { x: (x + 2).toFixed(1), y: (H - B - hOk - hBad).toFixed(1), width: Math.max(1, bw - 4).toFixed(1), height: hBad.toFixed(1), class: 'hbar bad' }));
      if (n) g.append(s('text', { x: (x + bw / 2).toFixed(1), y: (H - B - hOk - hBad - 4).toFixed(1), 'text-anchor': 'middle', class: 'small' }, n));
      g.append(s('text', { x: x.toFixed(1), y: H - B + 14, 'text-anchor': 'middle', class: 'small' }, fmtAxis(e[j])));
      svg.append(g);
    }
    svg.append(s('text', { x: (L + nb * bw).toFixed(1), y: H - B + 14, 'text-anchor': 'middle', class: 'small' }, fmtAxis(e[nb])));
    svg.append(s('text', { x: L, y: H - 6, class: 'small' }, 'wall time per test \u2192'));
    holder.replaceChildren(svg);
  };
}
const drawMem = barChart('chart-mem', 'Peak memory per test', 'm', 'bm', fmtBytes);
const drawTime = barChart('chart-time', 'Time per test', 'd', 'bt', fmtMs);
const drawHist = histogram();
function drawCharts() { clearTimeout(chartTimer); drawMem(); drawTime(); drawHist(); }
// After the table is on the screen: a filter answers at once.
let chartTimer = 0;
function drawChartsSoon() { clearTimeout(chartTimer); chartTimer = setTimeout(drawCharts, 30); }

// ---- what grew against the baseline
let grew = null;
const grewHost = document.getElementById('grew');
if (HAS_BASE && grewHost) {
  const both = T.filter((r) => r.p);
  const was = (k, i, fmt) => ({ key: k, label: 'before', num: true, sort: (r) => num(r.p[i]), cell: (r, td) => { td.textContent = fmt(r.p[i]); } });
  const now = (k, fmt) => ({ key: k, label: 'now', num: true, sort: (r) => num(r[k]), cell: (r, td) => { td.textContent = fmt(r[k]); } });
  const d = (k, label) => ({
    key: k, label, num: true, sort: (r) => r[k],
    cell: (r, td) => {
      td.textContent = fmtPct(r[k]);
      if (r[k] !== null && r[k] > 10) td.className += ' up'; else if (r[k] !== null && r[k] < -10) td.className += ' down';
    },
  });
  const gcols = [idCol, outcomeCol,
    was('pm', 0, fmtBytes), now('m', fmtBytes), d('gm', '\u0394 memory'),
    was('pd', 1, fmtMs), now('d', fmtMs), d('gd', '\u0394 time'),
    was('pc', 2, fmtMs), now('c', fmtMs), d('gc', '\u0394 cpu')];
  const note = h('p', 'muted', both.length + ' tests are in both runs. Sorted by the growth of peak memory; click a header to sort by another.');
  grewHost.append(note);
  if (both.length) {
    grew = new Grid(grewHost, both, gcols, { pageSize: 50, detail });
    grew.sort(gcols.findIndex((c) => c.key === 'gm'), -1);
  }
}

// ---- first draw: the tests that did not pass first, then in report order
grid.sort(1, 1);
drawCharts();
body.setAttribute('data-rendered', 'ok');

// ---- #selftest: check the page and write the verdict into <body>
function selftest() {
  const errs = [];
  const ms = {};
  const fail = (m) => errs.push(m);
  try {
    if (document.querySelectorAll('script').length !== 2) fail(document.querySelectorAll('script').length + ' script elements');
    if (document.querySelectorAll('img,iframe,object,embed,link,style:not(head style)').length) fail('an element from the data');
    for (const e of document.querySelectorAll('*')) {
      for (const a of e.attributes) if (/^on/i.test(a.name)) fail('an event handler attribute ' + a.name);
    }
    const pageRows = () => Array.from(grid.tbody.querySelectorAll('tr.row')).map((t) => +t.getAttribute('data-idx'));
    const sorted = (key, dir) => {
      let seenNull = false;
      for (let j = 1; j < grid.visible.length; j++) {
        const a = num(T[grid.visible[j - 1]][key]), b = num(T[grid.visible[j]][key]);
        if (a === null) seenNull = true;
        if (seenNull && b !== null) return 'a measured test after an unmeasured one at ' + j;
        if (a !== null && b !== null && (b - a) * dir < 0) return 'out of order at ' + j;
      }
      const want = grid.visible.slice(grid.page * grid.ps, grid.page * grid.ps + grid.ps);
      const got = pageRows();
      if (got.length !== want.length || got.some((v, j) => v !== want[j])) return 'the page shows other rows than the order';
      return null;
    };
    const mi = grid.cols.findIndex((c) => c.key === 'm');
    const th = grid.ths[mi];
    let t0 = performance.now();
    th.click();
    ms.sort = performance.now() - t0;
    const d1 = grid.dir;
    let bad = sorted('m', d1);
    if (bad) fail('sorting by peak memory: ' + bad);
    if (th.getAttribute('aria-sort') !== (d1 > 0 ? 'ascending' : 'descending')) fail('aria-sort not set');
    const first = grid.tbody.querySelector('tr.row');
    if (first && T[grid.visible[0]].m !== undefined) {
      const cell = first.children[mi].firstChild.textContent;
      if (cell !== fmtBytes(T[grid.visible[0]].m)) fail('the first row shows ' + cell);
    }
    t0 = performance.now();
    th.click();
    ms.sort2 = performance.now() - t0;
    if (grid.dir !== -d1) fail('a second click did not reverse');
    bad = sorted('m', grid.dir);
    if (bad) fail('sorting by peak memory, reversed: ' + bad);
    // filter by the id of the first row
    if (T.length) {
      const term = T[grid.visible[0]].i.slice(-12).toLowerCase();
      t0 = performance.now();
      setText(term);
      ms.filter = performance.now() - t0;
      const want = T.filter((r) => r.lid.includes(term)).length;
      if (grid.visible.length !== want) fail('filter: ' + grid.visible.length + ' rows, want ' + want);
      if (grid.visible.some((i) => !T[i].lid.includes(term))) fail('filter let through a row that does not match');
      setText('');
      if (grid.visible.length !== T.length) fail('clearing the filter left ' + grid.visible.length + ' rows');
    }
    // an outcome checkbox
    const o = present[0];
    if (o) {
      t0 = performance.now();
      boxes[o].click();
      ms.outcome = performance.now() - t0;
      if (grid.visible.some((i) => T[i].o === o)) fail('unchecking ' + o + ' kept its rows');
      boxes[o].click();
      if (grid.visible.length !== T.length) fail('checking ' + o + ' again did not bring its rows back');
    }
    // expand and collapse the first row
    const row = grid.tbody.querySelector('tr.row');
    if (row) {
      row.click();
      const d = grid.tbody.querySelector('tr.detail');
      if (!d || !d.querySelector('dl.kv')) fail('a clicked row did not expand');
      grid.tbody.querySelector('tr.row').click();
      if (grid.tbody.querySelector('tr.detail')) fail('a clicked row did not collapse');
    }
    t0 = performance.now();
    drawCharts();
    ms.charts = performance.now() - t0;
    if (T.some((r) => num(r.m) !== null) && !document.querySelector('#chart-mem rect')) fail('no memory bars');
    if (T.some((r) => num(r.d) !== null) && !document.querySelector('#chart-hist rect')) fail('no histogram');
    if (HAS_BASE && T.some((r) => r.p) && !grew) fail('no what-grew table');
    // leave it sorted by peak memory, largest first
    if (grid.dir !== -1) th.click();
  } catch (e) {
    fail('exception: ' + (e && e.message));
  }
  body.setAttribute('data-selftest-ms', JSON.stringify(ms));
  body.setAttribute('data-selftest', errs.length ? 'fail: ' + errs.join('; ') : 'ok');
}
if (location.hash === '#selftest') selftest();
})();
"#;

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
