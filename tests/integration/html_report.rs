//! The HTML report: `cargo isolate report html REPORT.json -o OUT.html
//! [--baseline BASE.json]` turns a real run's JSON report into one page,
//! which is then opened in a real headless browser (Debian's `chromium`;
//! `CHROMIUM=/path` picks another). The page checks itself when its URL
//! ends in `#selftest` (sorting by peak memory, filtering, expanding a row,
//! that nothing from the data became markup) and writes the verdict into
//! `<body data-selftest="...">`, which `--dump-dom` shows us. Without a
//! browser (or with `CHROMIUM=` set empty) the browser part is skipped
//! (`support::skip`).
//!
//! What the CLI must accept (the test calls it so):
//!
//! ```text
//! cargo-isolate isolate report html <REPORT.json> -o <OUT.html> [--baseline <BASE.json>]
//! ```
//!
//! exiting 0 once OUT.html is written.

use super::*;
use serde_json::json;
use std::sync::OnceLock;

/// The JSON report of one real run of the demo fixture, shared by the
/// tests here: failing, passing, ignored and heavy tests.
fn demo_report() -> &'static Value {
    static REPORT: OnceLock<Value> = OnceLock::new();
    REPORT.get_or_init(|| {
        let (_tmp, dir) = fixture("demo");
        let run = isolate_test(&dir, &["-j", "2"]);
        assert_eq!(run.code(), 100, "{}", run.stderr());
        run.report
    })
}

/// `cargo isolate report html REPORT -o OUT [--baseline BASE]`; the page.
fn report_html(report: &Path, out: &Path, baseline: Option<&Path>) -> String {
    let mut cmd = Command::new(BIN);
    cmd.args(["isolate", "report", "html"])
        .arg(report)
        .arg("-o")
        .arg(out);
    if let Some(b) = baseline {
        cmd.arg("--baseline").arg(b);
    }
    let res = cmd
        .stdin(Stdio::null())
        .output()
        .expect("run cargo-isolate");
    assert!(
        res.status.success(),
        "`report html` failed ({:?}); stderr:\n{}",
        res.status.code(),
        String::from_utf8_lossy(&res.stderr)
    );
    let html = std::fs::read_to_string(out).expect("the page was written");
    // Self-contained: nothing to fetch. (The data block is the tests'
    // text, which may say anything; it is never markup.)
    let start = html.find("id=\"isolate-data\">").expect("the data block");
    let end = start + html[start..].find("</script>").expect("its end");
    let ours = format!("{}{}", &html[..start], &html[end..]);
    for needle in ["https://", "<link", " src=", "@import", "url("] {
        assert!(!ours.contains(needle), "the page refers to {needle}");
    }
    assert_eq!(ours.matches("http://").count(), 1, "only the SVG namespace");
    html
}

/// Occurrences of `needle` in `hay`, ignoring ASCII case.
fn count(hay: &str, needle: &str) -> usize {
    hay.to_ascii_lowercase()
        .matches(&needle.to_ascii_lowercase())
        .count()
}

/// A Chromium to open pages with, if this machine has one: `$CHROMIUM`
/// (set but empty: none), else the first on the PATH.
fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CHROMIUM") {
        return (!p.is_empty()).then(|| PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser", "google-chrome"] {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

fn no_browser() {
    skip("chromium not installed (apt-get install chromium)");
}

/// What the browser printed.
struct Browser {
    stdout: String,
    stderr: String,
}

/// Opens `url` in a headless Chromium with a fresh profile and `args`, and
/// waits for it to exit (at most two minutes).
fn browse(browser: &Path, url: &str, args: &[String]) -> Browser {
    let profile = tempfile::Builder::new()
        .prefix("isolate-chromium-")
        .tempdir()
        .unwrap();
    let out_path = profile.path().join("stdout");
    let err_path = profile.path().join("stderr");
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!(
            "--user-data-dir={}",
            profile.path().join("profile").display()
        ))
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .expect("start chromium");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "chromium did not finish in 2 minutes; stderr:\n{}",
                std::fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Browser {
        stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
    }
}

fn file_url(path: &Path) -> String {
    format!("file://{}", path.canonicalize().unwrap().display())
}

/// Loads the page with `#selftest` and returns the DOM after its scripts
/// ran; fails on any error the page's scripts raised or logged.
fn selftest(browser: &Path, html: &Path) -> String {
    let b = browse(
        browser,
        &format!("{}#selftest", file_url(html)),
        &["--dump-dom".to_string()],
    );
    let console: Vec<&str> = b
        .stderr
        .lines()
        .filter(|l| l.contains("Uncaught") || l.contains("CONSOLE"))
        .collect();
    assert!(
        console.is_empty(),
        "the page logged to the console:\n{}",
        console.join("\n")
    );
    let dom = b.stdout;
    assert!(
        dom.contains("data-rendered=\"ok\""),
        "the page's script did not finish drawing; browser stderr:\n{}\nDOM head:\n{}",
        b.stderr,
        &dom[..dom.len().min(3000)]
    );
    assert!(!dom.contains("data-jserror="), "{}", jserror(&dom));
    let verdict = attribute(&dom, "data-selftest").unwrap_or_default();
    assert_eq!(verdict, "ok", "the page's self-test failed");
    dom
}

fn jserror(dom: &str) -> String {
    attribute(dom, "data-jserror").unwrap_or_default()
}

/// The value of `name="..."` on the first element that has it, unescaped
/// enough to read.
fn attribute(dom: &str, name: &str) -> Option<String> {
    let key = format!(" {name}=\"");
    let start = dom.find(&key)? + key.len();
    let end = start + dom[start..].find('"')?;
    Some(
        dom[start..end]
            .replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

/// The selftest's timings in ms, each the best of three runs: sort (the
/// first, which works out the column's keys), sort2, filter, outcome,
/// charts.
fn timings(dom: &str) -> Value {
    serde_json::from_str(&attribute(dom, "data-selftest-ms").unwrap_or_default())
        .unwrap_or(Value::Null)
}

/// A screenshot of the page at 1400x1000 into `png`.
fn screenshot(browser: &Path, html: &Path, png: &Path) {
    let _ = std::fs::remove_file(png);
    browse(
        browser,
        &file_url(html),
        &[
            format!("--screenshot={}", png.display()),
            "--window-size=1400,1000".to_string(),
        ],
    );
    let bytes = std::fs::read(png).expect("a screenshot");
    assert!(bytes.starts_with(b"\x89PNG"), "not a PNG");
    assert!(bytes.len() > 10_000, "a blank screenshot?");
}

/// `target/`, where the screenshots go.
fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

#[test]
fn html_report_of_the_demo_run_works_in_a_browser() {
    let report = demo_report();
    let tmp = tempfile::tempdir().unwrap();
    let json = tmp.path().join("report.json");
    write_report(&json, report);
    // Next to the screenshot, to look at.
    let html_path = target_dir().join("isolate-html-report.html");
    let html = report_html(&json, &html_path, None);
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("demo tests::fails_on_purpose"));
    assert!(html.contains("failed <b>1</b>"), "the counts as badges");
    assert_eq!(count(&html, "<script"), 2);

    let Some(browser) = chromium() else {
        return no_browser();
    };
    let dom = selftest(&browser, &html_path);
    // The table the script drew: the failure, its reason, human units.
    assert!(dom.contains("demo tests::fails_on_purpose"));
    assert!(dom.contains("panicked: assertion `left == right` failed"));
    assert!(dom.contains(" MiB</td>"));
    let png = target_dir().join("isolate-html-screenshot.png");
    screenshot(&browser, &html_path, &png);
    note(&format!("screenshot: {}", png.display()));
}

const HOSTILE_ID: &str = "<script>alert(1)</script>";
const HOSTILE_OUT: &str = "done</script><script>alert(2)</script>\n\
                           <img src=x onerror=alert(3)> <svg onload=alert(4)> <!-- \u{2028}";

#[test]
fn html_report_with_a_baseline_budgets_and_hostile_names() {
    let demo = demo_report();
    // This run: budgets and limits on every test (64 MiB of the heavy test
    // is over its 32 MiB budget), a hostile test, one that did not run.
    let mut now = demo.clone();
    let tests = now["tests"].as_array_mut().unwrap();
    for t in tests.iter_mut() {
        t["budgets"] = json!({"memory_bytes": 32 * MIB, "time_ms": 250, "cpu_ms": null});
        t["limits"] = json!({"memory_max": 512 * MIB, "pids_max": null, "cpus": null,
                             "timeout_ms": 60_000});
        let mut over = Vec::new();
        if t["peak_memory_bytes"]
            .as_u64()
            .is_some_and(|m| m > 32 * MIB)
        {
            over.push("memory");
        }
        if t["duration_ms"].as_f64().is_some_and(|d| d > 250.0) {
            over.push("time");
        }
        t["over_budget"] = json!(over);
    }
    let mut hostile = tests[0].clone();
    hostile["id"] = json!(HOSTILE_ID);
    hostile["name"] = json!(HOSTILE_ID);
    hostile["outcome"] = json!("failed");
    hostile["stdout"] = json!(HOSTILE_OUT);
    hostile["stderr"] = json!(HOSTILE_OUT);
    hostile["panic_message"] = json!(HOSTILE_OUT);
    tests.push(hostile);
    now["complete"] = json!(false);
    now["not_run"] = json!(["demo tests::never_got_to_run"]);
    // The baseline: the same run, every figure 20% smaller, one test less
    // and one that is gone now.
    let mut base = demo.clone();
    let tests = base["tests"].as_array_mut().unwrap();
    let new_id = tests.remove(0)["id"].as_str().unwrap().to_string();
    for t in tests.iter_mut() {
        for k in ["peak_memory_bytes", "duration_ms", "cpu_ms"] {
            // Bytes stay whole numbers: `report html` reads the baseline
            // as a report, as `report merge` does.
            if let Some(v) = t[k].as_u64() {
                t[k] = json!((v as f64 * 0.8).round() as u64);
            } else if let Some(v) = t[k].as_f64() {
                t[k] = json!((v * 0.8).round());
            }
        }
    }
    let mut gone = tests[0].clone();
    gone["id"] = json!("demo tests::was_deleted");
    tests.push(gone);

    let tmp = tempfile::tempdir().unwrap();
    let (now_path, base_path) = (tmp.path().join("now.json"), tmp.path().join("base.json"));
    write_report(&now_path, &now);
    write_report(&base_path, &base);
    let html_path = target_dir().join("isolate-html-baseline-report.html");
    let html = report_html(&now_path, &html_path, Some(&base_path));
    assert_eq!(count(&html, "<script"), 2, "only the page's own scripts");
    assert_eq!(count(&html, "</script"), 2);
    for tag in ["<img", "<svg", "<!--", "\u{2028}"] {
        assert_eq!(count(&html, tag), 0, "{tag:?} in the page");
    }
    assert!(html.contains("Incomplete run"));
    assert!(html.contains("<li>demo tests::was_deleted</li>"));
    assert!(html.contains(&format!("<li>{new_id}</li>")));
    assert!(html.contains("<li>demo tests::never_got_to_run</li>"));
    assert!(html.contains("over budget <b>"));

    let Some(browser) = chromium() else {
        return no_browser();
    };
    let dom = selftest(&browser, &html_path);
    assert_eq!(count(&dom, "<script"), 2, "no script element from the data");
    assert_eq!(count(&dom, "<img"), 0, "no img element from the data");
    // The hostile id is text in the table.
    assert!(dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    // Over budget rows are marked; the changes are there.
    assert!(dom.contains("class=\"row over"));
    assert!(dom.contains(">over memory<"));
    assert!(dom.contains("\u{0394} memory"));
    assert!(
        dom.contains(">+25.0%<"),
        "the 20% smaller baseline shows as +25%"
    );
    screenshot(
        &browser,
        &html_path,
        &target_dir().join("isolate-html-baseline-screenshot.png"),
    );
}

/// 10,000 tests: the page stays under 8 MiB, only a page of rows is in the
/// DOM, and sorting and filtering in the browser take well under a second.
/// (At most about 12 ms each on a 2-core machine under a load average of 8:
/// the bound is there to catch a page that draws every row or sorts in
/// quadratic time, not to time a machine that four builds share. The
/// timings are the best of three runs.)
#[test]
fn html_report_of_ten_thousand_tests_stays_fast() {
    let demo = demo_report();
    let records = demo["tests"].as_array().unwrap();
    let mut big = demo.clone();
    let tests: Vec<Value> = (0..10_000)
        .map(|n| {
            let mut t = records[n % records.len()].clone();
            t["id"] = json!(format!("big::suite_{} module_{}::case_{n}", n % 9, n % 97));
            if let Some(m) = t["peak_memory_bytes"].as_u64() {
                t["peak_memory_bytes"] = json!(m + (n as u64 * 7919) % (64 * MIB));
            }
            if let Some(d) = t["duration_ms"].as_f64() {
                t["duration_ms"] = json!(d + (n % 1013) as f64 * 0.7);
            }
            t
        })
        .collect();
    big["tests"] = json!(tests);
    let tmp = tempfile::tempdir().unwrap();
    let json_path = tmp.path().join("big.json");
    write_report(&json_path, &big);
    let html_path = tmp.path().join("big.html");
    let html = report_html(&json_path, &html_path, Some(&json_path));
    assert!(html.len() < 8 << 20, "the page is {} bytes", html.len());

    let Some(browser) = chromium() else {
        return no_browser();
    };
    let dom = selftest(&browser, &html_path);
    let ms = timings(&dom);
    note(&format!(
        "10,000 tests: {} bytes; in the browser, ms: {ms}",
        html.len()
    ));
    for k in ["sort", "sort2", "filter", "outcome", "charts"] {
        let t = ms[k].as_f64().unwrap_or(f64::MAX);
        assert!(t < 1000.0, "{k} took {t} ms with 10,000 tests");
    }
    // Only a page of rows is in the DOM: 200 of the tests, 50 of what grew.
    assert!(count(&dom, "<tr class=\"row") <= 250);
}

/// `cargo isolate test --html PAGE --baseline BASE`: the page is drawn from
/// the run and the baseline the run was compared with, read once before the
/// run by the strict loader; a baseline that loader refuses stops the run
/// before it starts (exit 2, naming the file and what is wrong where),
/// never a page drawn without it.
#[test]
fn a_runs_html_page_has_its_baseline_and_a_refused_baseline_stops_the_run() {
    let demo = demo_report();
    let (_tmp, dir) = fixture("demo");
    let base_path = dir.join("base.json");
    write_report(&base_path, demo);
    let page = dir.join("page.html");
    let args = ["-j", "2", "--html", page.to_str().unwrap()];
    let run = isolate_test(
        &dir,
        &[&args[..], &["--baseline", base_path.to_str().unwrap()]].concat(),
    );
    assert_eq!(run.code(), 100, "{}", run.stderr());
    let html = std::fs::read_to_string(&page).expect("the page was written");
    assert!(
        html.contains("<section id=\"changes\">"),
        "no changes section"
    );
    assert!(html.contains("are new, 0 are gone"));
    let start = html.find("id=\"isolate-data\">").unwrap() + "id=\"isolate-data\">".len();
    let end = start + html[start..].find("</script>").unwrap();
    let data: Value = serde_json::from_str(&html[start..end]).unwrap();
    assert_eq!(data["baseline"], true);
    let rows = data["tests"].as_array().unwrap();
    assert!(
        rows.iter().any(|r| r["p"].is_array()),
        "no row has the baseline's figures"
    );

    // A figure no run writes: refused before the build, and no page.
    std::fs::remove_file(&page).unwrap();
    let mut bad = demo.clone();
    bad["tests"][0]["duration_ms"] = json!(-5.0);
    let bad_path = dir.join("bad-base.json");
    write_report(&bad_path, &bad);
    let report = dir.join("refused.json");
    let out = Command::new(BIN)
        .args(["isolate", "test"])
        .args(args)
        .arg("--baseline")
        .arg(&bad_path)
        .arg("--report")
        .arg(&report)
        .current_dir(&dir)
        .stdin(Stdio::null())
        .output()
        .expect("run cargo-isolate");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("bad-base.json is not a cargo-isolate report")
            && stderr.contains("duration_ms")
            && stderr.contains("is -5.0"),
        "{stderr}"
    );
    assert!(
        !report.exists() && !page.exists(),
        "the run went on: {stderr}"
    );
}

/// A hung test's row expands to where each of its threads was, one line
/// each with its stack folded under it; a thread's name and frames are
/// the test's text (here markup), never markup on the page.
#[test]
fn html_report_shows_where_a_hung_tests_threads_were() {
    let (_tmp, dir) = fixture("hang");
    let run = isolate_test(&dir, &["--timeout", "2s", "waits_forever_on_a_condvar"]);
    let mut report = run.report.clone();
    let hung = report["tests"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|t| t["hang"].is_object())
        .unwrap_or_else(|| panic!("no hang in {}", run.stderr()));
    let threads = hung["hang"]["threads"].as_array_mut().unwrap();
    let want = threads.len();
    assert!(want >= 2, "{threads:?}");
    threads[0]["name"] = json!(HOSTILE_ID);
    threads[0]["stack"] = json!([HOSTILE_OUT, "hangs::main"]);
    let tmp = tempfile::tempdir().unwrap();
    let json = tmp.path().join("report.json");
    write_report(&json, &report);
    let html_path = tmp.path().join("hang.html");
    let html = report_html(&json, &html_path, None);
    assert!(html.contains("when killed") || html.contains("\"hg\""));
    let Some(browser) = chromium() else {
        return no_browser();
    };
    let dom = selftest(&browser, &html_path);
    assert_eq!(
        attribute(&dom, "data-selftest-hang").as_deref(),
        Some(want.to_string().as_str()),
        "the page's self-test checked every thread line"
    );
}
