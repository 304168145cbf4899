//! `cargo isolate report merge SHARD.json... -o ALL.json [--junit X]
//! [--html Y]` on shard reports written here (shaped as `cargo isolate
//! test --archive-file A --partition hash:K/N` writes them): what the
//! merged report holds, the exit codes (0, 100, 96 for a missing share or
//! reports that do not add up, 2 for reports that are not shards of one
//! run) and the extra outputs; and forged shards, which cannot turn a
//! failure into a pass.

use super::*;
use serde_json::json;

/// `cargo isolate report merge -o OUT EXTRA... REPORTS...`.
pub(super) fn merge(out: &Path, extra: &[&str], reports: &[PathBuf]) -> Output {
    Command::new(BIN)
        .args(["isolate", "report", "merge", "-o"])
        .arg(out)
        .args(extra)
        .args(reports)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run cargo-isolate")
}

pub(super) fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub(super) fn tmp() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("isolate-it-merge-")
        .tempdir()
        .unwrap()
}

#[test]
fn the_shares_of_a_run_merge_into_one_report() {
    let tmp = tmp();
    let shards = write_reports(
        tmp.path(),
        &[
            ("s3.json", shard(3, 3, SHA, &[("c", "passed")], 4)),
            (
                "s1.json",
                shard(1, 3, SHA, &[("b", "passed"), ("z", "passed")], 0),
            ),
            ("s2.json", shard(2, 3, SHA, &[("a", "passed")], 1)),
        ],
    );
    let out_path = tmp.path().join("all.json");
    let out = merge(&out_path, &[], &shards);
    assert_code(&out, 0);
    let m = read_report(&out_path);
    let ids: Vec<&str> = m["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["demo a", "demo b", "demo c", "demo z"]);
    assert_eq!(m["summary"]["total"], 4);
    assert_eq!(m["summary"]["passed"], 4);
    assert_eq!(m["complete"], true);
    assert_eq!(m["started_at"], "2025-03-01T12:00:00.000Z");
    // From the first start (:00) to the last end (:04 + 2 s).
    assert_eq!(m["duration_ms"], 6000.0);
    assert_eq!(m["runner"]["peak_rss_bytes"], 20 * MIB + 3);
    assert_eq!(m["archive"]["sha256"], SHA);
    assert!(m["partition"].is_null());
    // The first report given is the one whose host the report keeps.
    assert_eq!(m["host"]["kernel"], "6.1.0-3");
    let merged = &m["merged"];
    assert_eq!(merged["missing"], json!([]));
    assert_eq!(merged["duplicated"], json!([]));
    assert_eq!(merged["duplicate_tests"], json!([]));
    assert_eq!(merged["shards"].as_array().unwrap().len(), 3);
    assert_eq!(merged["shards"][0]["path"], shards[0].to_str().unwrap());
    assert_eq!(merged["shards"][0]["index"], 3);
    assert_eq!(merged["shards"][1]["tests"], 2);
    assert_eq!(merged["shards"][1]["scheme"], "hash");
    assert_eq!(merged["differences"][0]["field"], "host.kernel");
    let err = stderr(&out);
    assert!(
        err.contains("Merged 3 reports (hash 1/3, 2/3, 3/3): 4 tests: 4 passed"),
        "{err}"
    );

    // The merged report is a report of schema v1 (`read_report` checks).
    assert_eq!(m["schema_version"], 1);
}

#[test]
fn a_failed_test_in_any_share_exits_100() {
    let tmp = tmp();
    let shards = write_reports(
        tmp.path(),
        &[
            ("s1.json", shard(1, 2, SHA, &[("a", "passed")], 0)),
            ("s2.json", shard(2, 2, SHA, &[("b", "failed")], 0)),
        ],
    );
    let out_path = tmp.path().join("all.json");
    let out = merge(&out_path, &[], &shards);
    assert_code(&out, 100);
    let m = read_report(&out_path);
    assert_eq!(m["complete"], true);
    assert_eq!(
        (
            m["summary"]["passed"].clone(),
            m["summary"]["failed"].clone()
        ),
        (json!(1), json!(1))
    );
    assert!(
        stderr(&out).contains("2 tests: 1 passed, 1 failed"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_missing_share_is_written_incomplete_and_exits_96() {
    let tmp = tmp();
    let shards = write_reports(
        tmp.path(),
        &[
            ("s1.json", shard(1, 3, SHA, &[("a", "passed")], 0)),
            ("s3.json", shard(3, 3, SHA, &[("c", "failed")], 0)),
        ],
    );
    let out_path = tmp.path().join("all.json");
    let out = merge(&out_path, &[], &shards);
    assert_code(&out, 96);
    let m = read_report(&out_path);
    assert_eq!(m["complete"], false);
    assert_eq!(m["merged"]["missing"], json!([2]));
    assert_eq!(m["summary"]["total"], 2);
    let err = stderr(&out);
    assert!(err.contains("missing shares: 2 (of 3)"), "{err}");
}

#[test]
fn a_share_given_twice_is_named_and_exits_96() {
    let tmp = tmp();
    let shards = write_reports(
        tmp.path(),
        &[
            ("a.json", shard(1, 2, SHA, &[("a", "passed")], 0)),
            ("b.json", shard(2, 2, SHA, &[("b", "passed")], 0)),
            ("c.json", shard(1, 2, SHA, &[("a", "failed")], 0)),
        ],
    );
    let out_path = tmp.path().join("all.json");
    let out = merge(&out_path, &[], &shards);
    assert_code(&out, 96);
    let m = read_report(&out_path);
    assert_eq!(m["complete"], false);
    assert_eq!(m["merged"]["duplicated"], json!([1]));
    // The second report of share 1 failed "demo a": the failure is kept,
    // though the first report said it passed.
    assert_eq!(m["summary"]["passed"], 1);
    assert_eq!(m["summary"]["failed"], 1);
    assert_eq!(m["tests"][0]["outcome"], "failed");
    assert_eq!(m["merged"]["duplicate_tests"], json!(["demo a"]));
    let err = stderr(&out);
    let want = format!(
        "duplicated share 1: {} and {}",
        shards[0].display(),
        shards[2].display()
    );
    assert!(err.contains(&want), "{err}");
}

#[test]
fn reports_of_different_archives_are_refused_and_nothing_is_written() {
    let tmp = tmp();
    let other = SHA.replace('5', "6");
    let shards = write_reports(
        tmp.path(),
        &[
            ("s1.json", shard(1, 2, SHA, &[("a", "passed")], 0)),
            ("s2.json", shard(2, 2, &other, &[("b", "passed")], 0)),
        ],
    );
    let out_path = tmp.path().join("all.json");
    let junit = tmp.path().join("all.xml");
    let out = merge(&out_path, &["--junit", junit.to_str().unwrap()], &shards);
    assert_code(&out, 2);
    assert!(!out_path.exists() && !junit.exists());
    let err = stderr(&out);
    assert!(err.contains("different archives"), "{err}");
    for s in &shards {
        assert!(err.contains(s.to_str().unwrap()), "{err}");
    }
}

#[test]
fn files_that_are_not_reports_are_refused_by_name() {
    let tmp = tmp();
    let mut shards = write_reports(
        tmp.path(),
        &[
            ("s1.json", shard(1, 2, SHA, &[("a", "passed")], 0)),
            ("notes.json", json!({ "hello": "world" })),
        ],
    );
    let out_path = tmp.path().join("all.json");
    let out = merge(&out_path, &[], &shards);
    assert_code(&out, 2);
    assert!(!out_path.exists());
    let err = stderr(&out);
    let want = format!("{} is not a cargo-isolate report", shards[1].display());
    assert!(err.contains(&want), "{err}");

    shards[1] = tmp.path().join("absent.json");
    let out = merge(&out_path, &[], &shards);
    assert_code(&out, 2);
    let want = format!("cannot read {}", shards[1].display());
    assert!(stderr(&out).contains(&want), "{}", stderr(&out));
    assert!(!out_path.exists());
}

#[test]
fn junit_and_html_are_written_when_asked() {
    let tmp = tmp();
    let shards = write_reports(
        tmp.path(),
        &[
            ("s1.json", shard(1, 2, SHA, &[("a", "passed")], 0)),
            (
                "s2.json",
                shard(2, 2, SHA, &[("b", "failed"), ("c", "passed")], 0),
            ),
        ],
    );
    let out_path = tmp.path().join("all.json");
    let junit = tmp.path().join("out/all.xml");
    let html = tmp.path().join("out/all.html");
    let out = merge(
        &out_path,
        &[
            "--junit",
            junit.to_str().unwrap(),
            "--html",
            html.to_str().unwrap(),
        ],
        &shards,
    );
    assert_code(&out, 100);
    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let cases: Vec<roxmltree::Node> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    let names: Vec<&str> = cases.iter().filter_map(|c| c.attribute("name")).collect();
    assert_eq!(names, ["a", "b", "c"]);
    let failures = doc
        .descendants()
        .filter(|n| n.has_tag_name("failure"))
        .count();
    assert_eq!(failures, 1);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.starts_with("<!DOCTYPE html>") || page.contains("<html"),
        "{}",
        &page[..200.min(page.len())]
    );
    assert!(page.contains("demo b"));
    let err = stderr(&out);
    assert!(
        err.contains(junit.to_str().unwrap()) && err.contains(html.to_str().unwrap()),
        "{err}"
    );
}

/// The ids of a merged report's records with their outcomes.
fn outcomes(m: &Value) -> Vec<(String, String)> {
    m["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let s = |k: &str| t[k].as_str().unwrap().to_string();
            (s("id"), s("outcome"))
        })
        .collect()
}

/// Issue 20, item 5: shard 1 ran "demo a" and it failed; shard 2's report,
/// with one record added claiming it passed, is given first.
#[test]
fn a_shard_cannot_pass_a_test_another_shard_failed() {
    let tmp = tmp();
    let mut forged = shard(2, 2, SHA, &[("b", "passed")], 0);
    forged["tests"]
        .as_array_mut()
        .unwrap()
        .push(record("a", "passed"));
    forged["summary"]["total"] = json!(2);
    forged["summary"]["passed"] = json!(2);
    let shards = write_reports(
        tmp.path(),
        &[
            ("s2.json", forged),
            (
                "s1.json",
                shard(1, 2, SHA, &[("a", "failed"), ("c", "passed")], 0),
            ),
        ],
    );
    let out_path = tmp.path().join("all.json");
    let out = merge(&out_path, &[], &shards);
    assert_code(&out, 96);
    let m = read_report(&out_path);
    let want = [
        ("demo a", "failed"),
        ("demo b", "passed"),
        ("demo c", "passed"),
    ]
    .map(|(i, o)| (i.to_string(), o.to_string()));
    assert_eq!(outcomes(&m), want);
    assert_eq!(m["complete"], false);
    assert_eq!(m["summary"]["failed"], 1);
    let foreign = &m["merged"]["foreign_records"];
    assert_eq!(foreign[0]["id"], "demo a");
    assert_eq!(foreign[0]["path"], shards[0].to_str().unwrap());
    assert_eq!(foreign[0]["given_to"], shards[1].to_str().unwrap());
    let err = stderr(&out);
    let line = format!(
        "record of demo a in {} (passed) left out: that report's share was not given the test ({} was)",
        shards[0].display(),
        shards[1].display()
    );
    assert!(err.contains(&line), "{err}");
}

/// The same forgery, with the test added to the forged shard's
/// `partition.tests` too: two shares were given it, and the worst outcome
/// is kept.
#[test]
fn a_shard_claiming_the_test_too_cannot_pass_it_either() {
    let tmp = tmp();
    let mut forged = shard(2, 2, SHA, &[("b", "passed"), ("a", "passed")], 0);
    forged["partition"]["tests"] = json!(["demo b", "demo a"]);
    let shards = write_reports(
        tmp.path(),
        &[
            ("s2.json", forged),
            ("s1.json", shard(1, 2, SHA, &[("a", "failed")], 0)),
        ],
    );
    let out_path = tmp.path().join("all.json");
    let out = merge(&out_path, &[], &shards);
    assert_code(&out, 96);
    let m = read_report(&out_path);
    assert_eq!(m["tests"][0]["id"], "demo a");
    assert_eq!(m["tests"][0]["outcome"], "failed");
    assert_eq!(m["complete"], false);
    assert_eq!(m["merged"]["duplicate_tests"], json!(["demo a"]));
    let err = stderr(&out);
    let line = format!(
        "test demo a recorded more than once: passed in {}, failed in {} (the worst, failed, is merged)",
        shards[0].display(),
        shards[1].display()
    );
    assert!(err.contains(&line), "{err}");
}

/// A share's report that drops a test it was given (here the one that
/// failed) does not make a green merge.
#[test]
fn a_test_a_share_did_not_report_exits_96() {
    let tmp = tmp();
    let mut dropped = shard(1, 2, SHA, &[("a", "passed")], 0);
    dropped["partition"]["tests"] = json!(["demo a", "demo x"]);
    let shards = write_reports(
        tmp.path(),
        &[
            ("s1.json", dropped),
            ("s2.json", shard(2, 2, SHA, &[("b", "passed")], 0)),
        ],
    );
    let out_path = tmp.path().join("all.json");
    let out = merge(&out_path, &[], &shards);
    assert_code(&out, 96);
    let m = read_report(&out_path);
    assert_eq!(m["complete"], false);
    assert_eq!(m["merged"]["missing_tests"], json!(["demo x"]));
    let err = stderr(&out);
    assert!(
        err.contains("tests a share was given but did not report: demo x"),
        "{err}"
    );
}
