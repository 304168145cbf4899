//! `--junit PATH` on the demo suite: the file parses and holds what CI
//! readers (GitLab, Jenkins, GitHub test-report actions) use, laid out as
//! cargo-nextest lays it out.

use super::*;

/// The test's JSON record, by name.
fn json_record<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["tests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in the JSON report"))
}

/// RFC 3339 as quick-junit writes it, `2024-05-06T07:08:09.123+00:00`
/// (we write UTC), parsed.
fn timestamp(s: &str) -> std::time::SystemTime {
    let utc = s
        .strip_suffix("+00:00")
        .unwrap_or_else(|| panic!("not UTC: {s}"));
    humantime::parse_rfc3339(&format!("{utc}Z"))
        .unwrap_or_else(|e| panic!("not RFC 3339: {s}: {e}"))
}

fn attr<'a>(n: roxmltree::Node<'a, 'a>, name: &str) -> &'a str {
    n.attribute(name)
        .unwrap_or_else(|| panic!("<{}> has no {name}", n.tag_name().name()))
}

fn child<'a>(n: roxmltree::Node<'a, 'a>, tag: &str) -> Option<roxmltree::Node<'a, 'a>> {
    n.children().find(|c| c.has_tag_name(tag))
}

#[test]
fn junit_file_reads_like_nextests() {
    use std::os::unix::fs::PermissionsExt;
    let (_tmp, dir) = fixture("demo");
    let report = unique_report(&dir);
    let junit = report.with_extension("xml");
    // Under umask 022, set for the runner alone (not for this process,
    // whose other tests create files too).
    let out = Command::new("sh")
        .args([
            "-c",
            "umask 022 && exec \"$@\"",
            "sh",
            BIN,
            "isolate",
            "test",
        ])
        .args(["--report", report.to_str().unwrap()])
        .args(["--junit", junit.to_str().unwrap(), "-j", "2"])
        .current_dir(&dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(100), "{stderr}");
    let json = read_report(&report);

    let mode = std::fs::metadata(&junit).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644, "{mode:o}");
    let text = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&text)
        .unwrap_or_else(|e| panic!("not well-formed ({e}):\n{text}"));

    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    assert_eq!(attr(root, "name"), "cargo-isolate-run");
    assert_eq!(attr(root, "tests"), "8", "{text}");
    assert_eq!(attr(root, "failures"), "1");
    assert_eq!(attr(root, "errors"), "0");
    let run_started = timestamp(attr(root, "timestamp"));
    assert_eq!(
        run_started,
        humantime::parse_rfc3339(json["started_at"].as_str().unwrap()).unwrap()
    );
    assert!(attr(root, "time").parse::<f64>().unwrap() > 0.0);
    let uuid = attr(root, "uuid");
    assert_eq!(
        uuid.split('-').map(str::len).collect::<Vec<_>>(),
        [8, 4, 4, 4, 12],
        "{uuid}"
    );

    // One suite per binary id, named as nextest names them.
    let suites: Vec<_> = root
        .children()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    let names: Vec<&str> = suites.iter().map(|s| attr(*s, "name")).collect();
    assert_eq!(names, ["demo", "demo::api"]);
    for (suite, counts) in suites.iter().zip([("6", "1", "1"), ("2", "0", "0")]) {
        assert_eq!(
            (
                attr(*suite, "tests"),
                attr(*suite, "failures"),
                attr(*suite, "skipped")
            ),
            counts
        );
        assert_eq!(attr(*suite, "errors"), "0");
        assert_eq!(attr(*suite, "disabled"), attr(*suite, "skipped"));
        assert!(timestamp(attr(*suite, "timestamp")) >= run_started);
        assert!(attr(*suite, "time").parse::<f64>().is_ok());
    }

    let cases: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), 8);
    for case in &cases {
        let name = attr(*case, "name");
        let suite = case.parent().unwrap();
        assert_eq!(attr(*case, "classname"), attr(suite, "name"), "{name}");
        let record = json_record(&json, name);
        if name == "tests::ignored_for_now" {
            assert!(child(*case, "skipped").is_some());
            continue;
        }
        assert!(timestamp(attr(*case, "timestamp")) >= run_started, "{name}");
        let time: f64 = attr(*case, "time").parse().unwrap();
        assert!(time > 0.0, "{name}");
        // The figures the JSON report has, as properties.
        let props: HashMap<&str, &str> = child(*case, "properties")
            .unwrap_or_else(|| panic!("{name} has no properties"))
            .children()
            .filter(|p| p.has_tag_name("property"))
            .map(|p| (attr(p, "name"), attr(p, "value")))
            .collect();
        assert!(props.contains_key("peak_rss_bytes"), "{name}: {props:?}");
        for key in ["peak_memory_bytes", "peak_rss_bytes", "pids_peak"] {
            assert_eq!(
                props.get(key).map(|v| v.parse::<u64>().unwrap()),
                record[key].as_u64(),
                "{name} {key}"
            );
        }
        assert_eq!(props.contains_key("cpu_ms"), record["cpu_ms"].is_f64());
        if name == "tests::fails_on_purpose" {
            continue;
        }
        // Passing: no status element and no output by default.
        assert_eq!(record["outcome"], "passed", "{name}");
        for tag in ["failure", "error", "skipped", "system-out", "system-err"] {
            assert!(child(*case, tag).is_none(), "{name} has <{tag}>");
        }
    }
    let heavy = cases
        .iter()
        .find(|c| attr(**c, "name") == "tests::allocates_64_mib")
        .unwrap();
    let rss = child(*heavy, "properties")
        .unwrap()
        .children()
        .find(|p| p.attribute("name") == Some("peak_rss_bytes"))
        .unwrap();
    assert!(attr(rss, "value").parse::<u64>().unwrap() >= 64 * MIB);

    // The failure: nextest's type, our one-line reason, the panic and the
    // output in its text, and the output itself.
    let failing = cases
        .iter()
        .find(|c| attr(**c, "name") == "tests::fails_on_purpose")
        .unwrap();
    assert_eq!(attr(*failing, "classname"), "demo");
    let failure = child(*failing, "failure").expect("a <failure>");
    assert_eq!(attr(failure, "type"), "test failure with exit code 101");
    let message = attr(failure, "message");
    assert!(
        message.starts_with("panicked: assertion `left == right` failed: this test fails so the demo shows a failure"),
        "{message}"
    );
    let body = failure.text().unwrap();
    assert!(body.starts_with(message), "{body}");
    assert!(body.contains("\n    at src/lib.rs:"), "{body}");
    assert!(
        body.contains("panicked at src/lib.rs:") && body.contains("  left: 4\n right: 5"),
        "the panic from stderr: {body}"
    );
    assert!(
        body.contains("test tests::fails_on_purpose ... FAILED"),
        "libtest's stdout: {body}"
    );
    let system_out = child(*failing, "system-out").unwrap().text().unwrap();
    assert!(system_out.contains("test tests::fails_on_purpose ... FAILED"));
    let system_err = child(*failing, "system-err").unwrap().text().unwrap();
    assert!(system_err.contains("this test fails so the demo shows a failure"));
}

/// (suite, classname, name, status) of every testcase: what a CI reader
/// shows. Status is the first child that says how it ended.
fn cases(xml: &str) -> Vec<(String, String, String, String)> {
    let doc = roxmltree::Document::parse(xml).unwrap();
    let mut out = Vec::new();
    for suite in doc.descendants().filter(|n| n.has_tag_name("testsuite")) {
        for case in suite.children().filter(|n| n.has_tag_name("testcase")) {
            let status = ["failure", "error", "skipped"]
                .into_iter()
                .find(|t| child(case, t).is_some())
                .unwrap_or("passed");
            out.push((
                attr(suite, "name").to_string(),
                attr(case, "classname").to_string(),
                attr(case, "name").to_string(),
                status.to_string(),
            ));
        }
    }
    out.sort();
    out
}

/// The same suite under cargo-nextest (installed on this project's
/// machines) and under cargo-isolate: the same suites, the same testcases
/// with the same classnames and names, failing and skipped alike. Ignored
/// tests: nextest leaves them out of its JUnit file, we mark them
/// <skipped/>; that is the one difference, and it is checked as such.
#[test]
fn the_junit_file_matches_nextests_for_the_same_suite() {
    if !has_tool("cargo", &["nextest", "--version"]) {
        return skip("cargo-nextest is not installed (cargo install --locked cargo-nextest)");
    }
    let (_tmp, dir) = fixture("demo");
    std::fs::create_dir_all(dir.join(".config")).unwrap();
    std::fs::write(
        dir.join(".config/nextest.toml"),
        "[profile.default.junit]\npath = \"nextest-junit.xml\"\n",
    )
    .unwrap();
    let nextest = Command::new("cargo")
        .args(["nextest", "run", "--no-fail-fast"])
        .current_dir(&dir)
        .output()
        .unwrap();
    let theirs = std::fs::read_to_string(dir.join("target/nextest/default/nextest-junit.xml"))
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&nextest.stderr)));
    let junit = dir.join("ours.xml");
    isolate_test(&dir, &["--junit", junit.to_str().unwrap()]);
    let ours = std::fs::read_to_string(&junit).unwrap();
    let (theirs, ours) = (cases(&theirs), cases(&ours));
    let ours_run: Vec<_> = ours.iter().filter(|c| c.3 != "skipped").cloned().collect();
    let theirs_run: Vec<_> = theirs
        .iter()
        .filter(|c| c.3 != "skipped")
        .cloned()
        .collect();
    assert_eq!(
        ours_run, theirs_run,
        "the same suites, cases, classnames and outcomes"
    );
    let skipped: Vec<&String> = ours
        .iter()
        .filter(|c| c.3 == "skipped")
        .map(|c| &c.2)
        .collect();
    assert_eq!(skipped, vec!["tests::ignored_for_now"]);
}
