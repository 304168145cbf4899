//! What the `report` commands (`merge`, `html`, `diff`) accept as a report:
//! one loader for the three, which refuses a key given twice and figures
//! no run measures, naming the file and the field; and `report diff` of
//! reports whose ids are hostile, its Markdown read by two CommonMark
//! renderers (see `markdown_check`) and its text checked for raw control
//! characters.

use super::merge::{stderr, tmp};
use super::*;
use serde_json::json;

#[path = "../../src/report/markdown_check.rs"]
mod markdown_check;

/// Runs `cargo isolate report SUB ARGS...` on `report`, as each command
/// takes a report, writing its output (if any) under `dir`.
fn report_command(sub: &str, report: &Path, dir: &Path) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(["isolate", "report", sub]);
    match sub {
        "merge" => cmd.arg("-o").arg(dir.join("merged.json")).arg(report),
        "html" => cmd.arg(report).arg("-o").arg(dir.join("page.html")),
        _ => cmd.arg(report).arg(report),
    };
    cmd.env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run cargo-isolate")
}

/// Each report command refuses `text` (written to `name`) with exit 2 and
/// a message naming the file and containing `want`; nothing is written.
fn refused_by_all(name: &str, text: &str, want: &str) {
    let tmp = tmp();
    let path = tmp.path().join(name);
    std::fs::write(&path, text).unwrap();
    for sub in ["merge", "html", "diff"] {
        let out = report_command(sub, &path, tmp.path());
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "report {sub} on {name}: {err}");
        let named = format!("{} is not a cargo-isolate report: ", path.display());
        assert!(err.contains(&named), "report {sub}: {err}");
        assert!(err.contains(want), "report {sub}: want {want:?} in {err}");
        for written in ["merged.json", "page.html"] {
            assert!(!tmp.path().join(written).exists(), "report {sub}");
        }
    }
}

/// A valid one-share report of "demo a" (failed) and "demo b", pretty.
fn valid() -> Value {
    shard(1, 1, SHA, &[("a", "failed"), ("b", "passed")], 0)
}

#[test]
fn the_report_commands_read_a_valid_report() {
    let tmp = tmp();
    let path = write_reports(tmp.path(), &[("ok.json", valid())]).remove(0);
    for sub in ["merge", "html", "diff"] {
        let out = report_command(sub, &path, tmp.path());
        assert!(
            matches!(out.status.code(), Some(0 | 100)),
            "report {sub}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn every_report_command_refuses_a_key_twice() {
    let text = serde_json::to_string_pretty(&valid()).unwrap();
    // The failure, then a second "outcome" saying it passed: a reader that
    // keeps the last key would see a pass.
    let twice = text.replacen(
        "\"outcome\": \"failed\",",
        "\"outcome\": \"failed\",\n      \"outcome\": \"passed\",",
        1,
    );
    assert_ne!(twice, text);
    refused_by_all(
        "twice.json",
        &twice,
        "key \"outcome\" appears twice in tests[0] (line ",
    );
    let top = text.replacen('{', "{\n  \"complete\": false,", 1);
    refused_by_all(
        "top.json",
        &top,
        "key \"complete\" appears twice in the top level",
    );
}

#[test]
fn every_report_command_refuses_negative_and_absurd_figures() {
    let cases: [(&[&str], Value, &str); 6] = [
        (
            &["tests", "0", "duration_ms"],
            json!(-5.0),
            "tests[0].duration_ms (test \"demo a\") is -5.0: a figure is never negative",
        ),
        (
            &["tests", "1", "peak_memory_bytes"],
            json!(-1),
            "tests[1].peak_memory_bytes (test \"demo b\") is -1: a figure is never negative",
        ),
        (
            &["tests", "1", "peak_memory_bytes"],
            json!(1u64 << 60),
            "tests[1].peak_memory_bytes (test \"demo b\") is 1152921504606846976: past 2^53",
        ),
        (
            &["tests", "0", "cpu_ms"],
            json!(4e10),
            "tests[0].cpu_ms (test \"demo a\") is 40000000000.0: more than a year",
        ),
        (
            &["duration_ms"],
            json!(1e13),
            "duration_ms is 10000000000000.0: more than a year",
        ),
        (
            &["runner", "peak_rss_bytes"],
            json!(-20),
            "runner.peak_rss_bytes is -20: a figure is never negative",
        ),
    ];
    for (n, (path, value, want)) in cases.into_iter().enumerate() {
        let mut v = valid();
        let mut at = &mut v;
        for key in path {
            at = match key.parse::<usize>() {
                Ok(i) => &mut at[i],
                Err(_) => &mut at[*key],
            };
        }
        *at = value;
        refused_by_all(&format!("figures-{n}.json"), &v.to_string(), want);
    }
    // JSON has no NaN: the parser stops there, and the message shows where.
    let text = serde_json::to_string_pretty(&valid()).unwrap();
    let nan = text.replacen("\"duration_ms\": 12.5", "\"duration_ms\": NaN", 1);
    assert_ne!(nan, text);
    refused_by_all("nan.json", &nan, "near `\"duration_ms\": NaN");
}

/// The text a renderer must show for an id holding only these control
/// characters: each as the visible escape the tool writes.
fn visible(id: &str) -> String {
    id.replace('\n', "\\n")
        .replace('\r', "\\r")
        .replace('\u{1b}', "\\x1b")
}

/// Issue 20, item 9: ids in `report diff --format markdown` (its table,
/// its New and Gone lists) cannot add a heading, a link or an image, or
/// leave their cell; on the terminal they cannot move the cursor.
#[test]
fn report_diff_shows_hostile_ids_as_text() {
    const HOSTILE: [&str; 4] = [
        "x`\n## INJECTED\n[**approve**](https://evil.example/a) `",
        "a\\|b | c ![i](https://evil.example/i.png) <img src=x>",
        "``` www.evil.example mail@evil.example <https://evil.example>",
        "\u{1b}[2J\r# ok\r\n- [ ] item",
    ];
    let with_ids = |extra: &str, outcome: &str| {
        let mut r = shard(1, 1, SHA, &[("a", outcome), ("b", outcome)], 0);
        let tests = r["tests"].as_array_mut().unwrap();
        let first = tests[0].clone();
        tests.clear();
        for id in HOSTILE.iter().copied().chain([extra]) {
            let mut t = first.clone();
            t["id"] = json!(format!("demo {id}"));
            tests.push(t);
        }
        r["partition"]["tests"] = json!(tests.iter().map(|t| t["id"].clone()).collect::<Vec<_>>());
        r
    };
    let tmp = tmp();
    let gone = format!("{} gone", HOSTILE[0]);
    let new = format!("{} new", HOSTILE[3]);
    let paths = write_reports(
        tmp.path(),
        &[
            ("old.json", with_ids(&gone, "passed")),
            ("new.json", with_ids(&new, "failed")),
        ],
    );
    let diff = |format: &str| {
        let out = Command::new(BIN)
            .args(["isolate", "report", "diff", "--format", format])
            .args(&paths)
            .output()
            .unwrap();
        assert_code(&out, 0);
        String::from_utf8(out.stdout).unwrap()
    };
    let md = diff("markdown");
    let seen = markdown_check::both(&md);
    assert_eq!(seen.markup, Vec::<String>::new(), "{md}");
    assert_eq!(
        seen.headings,
        ["cargo-isolate: changes against the baseline"],
        "{md}"
    );
    let [table] = &seen.tables[..] else {
        panic!("one table: {md}")
    };
    assert!(table.iter().all(|row| row.len() == 6), "{md}");
    let mut ids: Vec<String> = table[1..].iter().map(|r| r[0].clone()).collect();
    ids.sort();
    let mut want: Vec<String> = HOSTILE
        .iter()
        .map(|id| visible(&format!("demo {id}")))
        .collect();
    want.sort();
    assert_eq!(ids, want, "{md}");
    assert_eq!(
        seen.items,
        [
            visible(&format!("demo {new}")),
            visible(&format!("demo {gone}"))
        ],
        "{md}"
    );

    let text = diff("text");
    assert!(!text.contains(['\r', '\u{1b}']), "{text:?}");
    // The header, four rows, a blank line, "New tests (1):", its id, a
    // blank line, "Gone tests (1):", its id: one line each.
    assert_eq!(text.lines().count(), 11, "{text}");
}
