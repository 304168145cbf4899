//! One verdict everywhere (`fixtures/multi`, a workspace of two packages,
//! whose tests fail on purpose with `--env MULTI_VERDICTS=1`): whatever
//! fails the run is a failure in JUnit, GitHub's annotations and step
//! summary, the HTML page and the last JSON event, and only a warning in
//! each with `--budgets warn`; annotations name the file that panicked
//! from the repository's root; the JSON event stream stays pure JSON under
//! GitHub Actions; a flaky test is shown, with its attempts, in each.

use super::*;

/// A run of `cargo isolate test` with its outputs.
struct Ran {
    out: Output,
    report: Value,
}

impl Ran {
    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }

    fn code(&self) -> Option<i32> {
        self.out.status.code()
    }
}

/// `cargo isolate test ARGS` in `dir` with `env` set, the report in the
/// tempdir.
fn isolate(dir: &Path, args: &[&str], env: &[(&str, &Path)]) -> Ran {
    let report = unique_report(dir);
    let mut cmd = Command::new(BIN);
    cmd.args(["isolate", "test", "--report"])
        .arg(&report)
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove("GITHUB_WORKSPACE")
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run cargo-isolate");
    let text = std::fs::read_to_string(&report).unwrap_or_else(|_| {
        panic!(
            "no report (exit {:?}); stderr:\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    Ran {
        out,
        report: serde_json::from_str(&text).unwrap(),
    }
}

/// GitHub Actions' variables: on, with the step summary at `summary` and
/// the repository at `root`.
fn github<'a>(summary: &'a Path, root: &'a Path) -> [(&'static str, &'a Path); 3] {
    [
        ("GITHUB_ACTIONS", Path::new("true")),
        ("GITHUB_STEP_SUMMARY", summary),
        ("GITHUB_WORKSPACE", root),
    ]
}

/// Every line of `stdout` as JSON; a line that is not fails the test.
fn events(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}")))
        .collect()
}

/// The workflow commands in `text` (a line starting with `::`).
fn commands(text: &str) -> Vec<&str> {
    text.lines().filter(|l| l.starts_with("::")).collect()
}

/// The JUnit testcase `name`.
fn testcase<'a>(doc: &'a roxmltree::Document, name: &str) -> roxmltree::Node<'a, 'a> {
    doc.descendants()
        .find(|n| n.has_tag_name("testcase") && n.attribute("name") == Some(name))
        .unwrap_or_else(|| panic!("no testcase {name}"))
}

fn child<'a>(n: roxmltree::Node<'a, 'a>, tag: &str) -> Option<roxmltree::Node<'a, 'a>> {
    n.children().find(|c| c.has_tag_name(tag))
}

/// The `warning` properties of a testcase.
fn warnings(case: roxmltree::Node) -> Vec<String> {
    case.descendants()
        .filter(|p| p.has_tag_name("property") && p.attribute("name") == Some("warning"))
        .map(|p| p.attribute("value").unwrap_or_default().to_string())
        .collect()
}

/// The line of `file` (in the fixture) holding `needle`, 1-based.
fn line_of(dir: &Path, file: &str, needle: &str) -> usize {
    let text = std::fs::read_to_string(dir.join(file)).unwrap();
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle} not in {file}"))
        + 1
}

/// A run that fails only because a test that passed broke its time
/// budget exits 100, and every CI surface says it failed, naming the
/// budget: JUnit has a `<failure>`, GitHub an `::error` and a "Failed"
/// verdict line, the page a failed verdict, the last event the failing
/// finding. With `--budgets warn` it exits 0 and each says "warning".
#[test]
fn a_run_failed_only_by_a_budget_is_red_everywhere() {
    let (_tmp, dir) = fixture("multi");
    let config = dir.join("budgets.toml");
    std::fs::write(
        &config,
        "[[profile.default.overrides]]\nfilter = \"test(=api_slow)\"\ntime-budget = \"100ms\"\n",
    )
    .unwrap();
    let (junit, html, summary) = (
        dir.join("junit.xml"),
        dir.join("page.html"),
        dir.join("summary.md"),
    );
    let run = |extra: &[&str]| {
        let _ = std::fs::remove_file(&summary);
        let args = [
            "--workspace",
            "--config-file",
            config.to_str().unwrap(),
            "--junit",
            junit.to_str().unwrap(),
            "--html",
            html.to_str().unwrap(),
            "--message-format",
            "json",
        ];
        isolate(&dir, &[&args[..], extra].concat(), &github(&summary, &dir))
    };

    let red = run(&[]);
    assert_eq!(red.code(), Some(100), "{}", red.stderr());
    let s = &red.report["summary"];
    assert_eq!(
        (s["passed"].as_u64(), s["failed"].as_u64()),
        (Some(7), Some(0))
    );
    assert_eq!(s["over_budget"], 1, "{s}");
    // JUnit: a failure, its message the budget.
    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    assert_eq!(doc.root_element().attribute("failures"), Some("1"), "{xml}");
    let failure = child(testcase(&doc, "api_slow"), "failure").expect("a <failure>");
    assert_eq!(failure.attribute("type"), Some("over budget"));
    let message = failure.attribute("message").unwrap();
    assert!(
        message.starts_with("over its time budget: time ") && message.ends_with("budget 100 ms"),
        "{message}"
    );
    // GitHub: an error, and the verdict line first in the step summary.
    let stderr = red.stderr();
    let budget = commands(&stderr)
        .into_iter()
        .find(|l| l.contains("api_slow over its time budget"))
        .unwrap_or_else(|| panic!("no annotation: {stderr}"));
    assert!(
        budget.starts_with("::error title=beta%3A%3Aapi api_slow"),
        "{budget}"
    );
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(
        md.starts_with("## cargo-isolate\n\n**Failed**: 1 test over budget "),
        "{md}"
    );
    // The page.
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("<p class=\"banner fail\" id=\"verdict\" data-verdict=\"failed\">"),
        "{page}"
    );
    // The last event: the exit code and why.
    let last = events(&red.stdout()).pop().unwrap();
    assert_eq!(last["type"], "run-finished");
    assert_eq!(last["exit_code"], 100);
    assert_eq!(last["verdict"]["result"], "failed", "{last}");
    let finding = &last["verdict"]["findings"][0];
    assert_eq!(finding["severity"], "failure");
    assert_eq!(finding["kind"], "over_budget");
    assert_eq!(finding["id"], "beta::api api_slow");
    // The terminal says it too.
    assert!(
        stderr.contains("     Verdict failed: 1 test over budget (--budgets fail)"),
        "{stderr}"
    );

    let warned = run(&["--budgets", "warn"]);
    assert_eq!(warned.code(), Some(0), "{}", warned.stderr());
    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    assert_eq!(doc.root_element().attribute("failures"), Some("0"), "{xml}");
    let case = testcase(&doc, "api_slow");
    assert!(child(case, "failure").is_none(), "{xml}");
    assert_eq!(warnings(case).len(), 1, "{xml}");
    let stderr = warned.stderr();
    let budget = commands(&stderr)
        .into_iter()
        .find(|l| l.contains("api_slow over its time budget"))
        .unwrap_or_else(|| panic!("no annotation: {stderr}"));
    assert!(budget.starts_with("::warning "), "{budget}");
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(
        md.starts_with("## cargo-isolate\n\n**Passed with warnings**: 1 test over budget "),
        "{md}"
    );
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("data-verdict=\"passed with warnings\""));
    let last = events(&warned.stdout()).pop().unwrap();
    assert_eq!(last["exit_code"], 0);
    assert_eq!(last["verdict"]["result"], "passed with warnings");
    assert_eq!(last["verdict"]["findings"][0]["severity"], "warning");
}

/// rustc names a workspace package's files from the workspace root
/// (`beta/tests/api.rs`): an annotation for a panic in a member's
/// integration test or library names that file and line from the
/// repository's root, not `beta/beta/tests/api.rs`; and from a repository
/// whose workspace is a directory of it, `multi/beta/...`.
#[test]
fn annotations_name_the_file_that_panicked_in_a_workspace() {
    let (_tmp, dir) = fixture("multi");
    let summary = dir.join("summary.md");
    let args = [
        "--workspace",
        "--env",
        "MULTI_VERDICTS=1",
        "-E",
        "test(=api_answers) | test(=tests::beta_checks)",
    ];
    let api_line = line_of(
        &dir,
        "beta/tests/api.rs",
        "\"api_answers fails on purpose\"",
    );
    let lib_line = line_of(&dir, "beta/src/lib.rs", "\"beta_checks fails on purpose\"");
    let at = |root: &Path, prefix: &str| {
        let run = isolate(&dir, &args, &github(&summary, root));
        assert_eq!(run.code(), Some(100), "{}", run.stderr());
        let stdout = run.stdout();
        let find = |id: &str| {
            commands(&stdout)
                .into_iter()
                .find(|l| l.contains(id))
                .unwrap_or_else(|| panic!("no annotation for {id}: {stdout}"))
                .to_string()
        };
        let api = find("title=beta%3A%3Aapi api_answers failed");
        assert!(
            api.starts_with(&format!(
                "::error file={prefix}beta/tests/api.rs,line={api_line},"
            )),
            "{api}"
        );
        assert!(
            api.ends_with("::panicked: api_answers fails on purpose"),
            "{api}"
        );
        let lib = find("title=beta tests%3A%3Abeta_checks failed");
        assert!(
            lib.starts_with(&format!(
                "::error file={prefix}beta/src/lib.rs,line={lib_line},"
            )),
            "{lib}"
        );
    };
    at(&dir, "");
    at(dir.parent().unwrap(), "multi/");
}

/// `--message-format json` under GitHub Actions: stdout holds the event
/// stream and nothing else (every line parses); the workflow commands,
/// annotations included, go to stderr, where GitHub's runner reads them
/// too.
#[test]
fn the_json_stream_stays_pure_under_github_actions() {
    let (_tmp, dir) = fixture("multi");
    let summary = dir.join("summary.md");
    let run = isolate(
        &dir,
        &[
            "--workspace",
            "--env",
            "MULTI_VERDICTS=1",
            "--message-format",
            "json",
        ],
        &github(&summary, &dir),
    );
    assert_eq!(run.code(), Some(100), "{}", run.stderr());
    let stdout = run.stdout();
    let events = events(&stdout);
    assert!(events.len() > 10, "{stdout}");
    assert_eq!(events[0]["type"], "run-started");
    assert_eq!(events.last().unwrap()["type"], "run-finished");
    let stderr = run.stderr();
    let cmds = commands(&stderr);
    let token = cmds
        .first()
        .and_then(|l| l.strip_prefix("::stop-commands::"))
        .unwrap_or_else(|| panic!("commands not stopped first on stderr: {stderr}"));
    let resumed = cmds
        .iter()
        .position(|l| *l == format!("::{token}::"))
        .expect("resumed");
    assert!(
        cmds[resumed..]
            .iter()
            .any(|l| l.starts_with("::error file=beta/tests/api.rs,")),
        "{stderr}"
    );
}

/// A chromium for the page, if this machine has one (`$CHROMIUM`, set
/// but empty: none).
fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CHROMIUM") {
        return (!p.is_empty()).then(|| PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|d| ["chromium", "chromium-browser", "google-chrome"].map(|n| d.join(n)))
        .find(|p| p.is_file())
}

/// The DOM of `page` after its script and its self-test ran, in a
/// headless chromium (at most two minutes).
fn dom_after_selftest(browser: &Path, page: &Path) -> String {
    let profile = tempfile::Builder::new()
        .prefix("isolate-chromium-")
        .tempdir()
        .unwrap();
    let dom_path = profile.path().join("dom.html");
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--dump-dom",
        ])
        .arg(format!(
            "--user-data-dir={}",
            profile.path().join("p").display()
        ))
        .arg(format!(
            "file://{}#selftest",
            page.canonicalize().unwrap().display()
        ))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&dom_path).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish in 2 minutes");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::fs::read_to_string(&dom_path).unwrap()
}

/// A test that fails, then passes on its retry: the summary counts it, the
/// terminal, the step summary and the page list it with each attempt's
/// outcome, duration and output, the event stream has an event per
/// attempt, every event its time, and JUnit a `<flakyFailure>` with the
/// failed attempt's output. It warns; with `--flaky-fails` it fails the
/// run in each.
#[test]
fn a_flaky_test_is_shown_with_its_attempts_everywhere() {
    let (_tmp, dir) = fixture("multi");
    let (junit, html, summary) = (
        dir.join("junit.xml"),
        dir.join("page.html"),
        dir.join("summary.md"),
    );
    let run = |extra: &[&str]| {
        let _ = std::fs::remove_file(&summary);
        let args = [
            "--workspace",
            "--env",
            "MULTI_VERDICTS=1",
            "--retries",
            "1",
            "-E",
            "test(=api_flaky) | test(=tests::alpha_greets)",
            "--junit",
            junit.to_str().unwrap(),
            "--html",
            html.to_str().unwrap(),
            "--message-format",
            "json",
        ];
        isolate(&dir, &[&args[..], extra].concat(), &github(&summary, &dir))
    };
    let ran = run(&[]);
    assert_eq!(ran.code(), Some(0), "{}", ran.stderr());
    assert_eq!(ran.report["summary"]["flaky"], 1);
    let stderr = ran.stderr();
    assert!(
        stderr.contains("2 tests run: 2 passed, 1 flaky"),
        "{stderr}"
    );
    assert!(
        stderr.contains("FLAKY beta::api api_flaky: passed on attempt 2 of 2"),
        "{stderr}"
    );
    assert!(
        stderr.contains("\n  TRY 1 FAIL [")
            && stderr.contains("] panicked: api_flaky fails on attempt 1\n"),
        "{stderr}"
    );

    // The step summary: counted, and each attempt with its output.
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(
        md.contains("**Passed with warnings**: 1 flaky test\n"),
        "{md}"
    );
    assert!(md.contains("### Flaky tests (passed on a retry)"), "{md}");
    assert!(
        md.contains("` beta::api api_flaky `: passed on attempt 2 of 2"),
        "{md}"
    );
    assert!(
        md.contains("| 1 | failed | ")
            && md.contains("| panicked\\: api\\_flaky fails on attempt 1 |"),
        "{md}"
    );
    assert!(md.contains("| 2 | passed | "), "{md}");
    assert!(
        md.contains("Attempt 1, stdout (") && md.contains("\napi_flaky attempt 1\n"),
        "{md}"
    );
    assert!(commands(&stderr).iter().any(|l| l.starts_with("::warning ")
        && l.contains("title=beta%3A%3Aapi api_flaky is flaky::flaky: failed on attempt 1")));

    // The events: one per attempt, each with its time.
    let stream = events(&ran.stdout());
    let mut last_time = std::time::UNIX_EPOCH;
    for e in &stream {
        let t = e["time"]
            .as_str()
            .unwrap_or_else(|| panic!("an event without its time: {e}"));
        let t = humantime::parse_rfc3339(t).unwrap();
        assert!(t >= last_time, "events out of order: {e}");
        last_time = t;
    }
    let attempts: Vec<&Value> = stream
        .iter()
        .filter(|e| e["type"] == "attempt-finished" && e["id"] == "beta::api api_flaky")
        .collect();
    assert_eq!(attempts.len(), 2, "{stream:#?}");
    assert_eq!(
        (
            &attempts[0]["attempt"],
            &attempts[0]["outcome"],
            &attempts[0]["retry"]
        ),
        (&json_u(1), &Value::from("failed"), &Value::Bool(true))
    );
    assert!(attempts[0]["duration_ms"].as_f64().unwrap() > 0.0);
    assert!(
        attempts[0]["test"]["stdout"]
            .as_str()
            .unwrap()
            .contains("api_flaky attempt 1")
    );
    assert_eq!(
        (&attempts[1]["attempt"], &attempts[1]["outcome"]),
        (&json_u(2), &Value::from("passed"))
    );
    let finished = stream
        .iter()
        .find(|e| e["type"] == "test-finished" && e["id"] == "beta::api api_flaky")
        .unwrap();
    assert_eq!(finished["test"]["flaky"], true);
    let last = stream.last().unwrap();
    assert_eq!(last["verdict"]["result"], "passed with warnings");
    assert_eq!(last["verdict"]["findings"][0]["kind"], "flaky");

    // JUnit: a pass, the failed attempt a <flakyFailure> with its output.
    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let case = testcase(&doc, "api_flaky");
    assert!(child(case, "failure").is_none(), "{xml}");
    let flaky = child(case, "flakyFailure").unwrap_or_else(|| panic!("{xml}"));
    let out = child(flaky, "system-out")
        .and_then(|n| n.text())
        .unwrap_or_default();
    assert!(out.contains("api_flaky attempt 1"), "{xml}");
    assert_eq!(warnings(case).len(), 1);

    // The page, in a browser: the flaky section lists both attempts, the
    // failed one with its output; its self-test expands the row.
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<section id=\"flaky\"><h2>Flaky tests (1)</h2>"));
    match chromium() {
        None => skip("chromium not installed (apt-get install chromium)"),
        Some(browser) => {
            let dom = dom_after_selftest(&browser, &html);
            assert!(
                dom.contains("data-selftest=\"ok\""),
                "{}",
                &dom[..dom.len().min(4000)]
            );
            let list = &dom[dom.find("id=\"flaky-list\"").expect("the flaky list")..];
            let list = &list[..list.find("</section>").unwrap()];
            assert_eq!(list.matches("class=\"attempt\"").count(), 2, "{list}");
            assert!(list.contains("attempt 1 of 2") && list.contains("attempt 2 of 2"));
            assert!(
                list.contains("panicked: api_flaky fails on attempt 1"),
                "{list}"
            );
            assert!(list.contains("api_flaky attempt 1"), "its output: {list}");
        }
    }

    // --flaky-fails: the same run fails, and every output says so.
    let strict = run(&["--flaky-fails"]);
    assert_eq!(strict.code(), Some(100), "{}", strict.stderr());
    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let case = testcase(&doc, "api_flaky");
    let failure = child(case, "failure").unwrap_or_else(|| panic!("{xml}"));
    assert_eq!(failure.attribute("type"), Some("flaky failure"));
    assert!(child(case, "flakyFailure").is_some(), "{xml}");
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.contains("**Failed**: 1 flaky test "), "{md}");
    assert!(
        commands(&strict.stderr())
            .iter()
            .any(|l| l.starts_with("::error ") && l.contains("api_flaky is flaky")),
        "{}",
        strict.stderr()
    );
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("data-verdict=\"failed\""));
    let last = events(&strict.stdout()).pop().unwrap();
    assert_eq!(last["verdict"]["result"], "failed");
}

fn json_u(n: u64) -> Value {
    Value::from(n)
}
