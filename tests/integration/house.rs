//! What the layers above the sandbox promise: a panic of the runner is an
//! error exit naming what it lost, never a pass; every output names the
//! limits a test actually ran under; and the code keeps its shape (no
//! cycle between modules, short functions).

use super::*;
use std::collections::{BTreeMap, BTreeSet};

/// `cargo isolate test` with the failpoint `point` set (debug builds).
fn with_failpoint(dir: &Path, point: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(["isolate", "test", "--report"])
        .arg(unique_report(dir))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("CARGO_ISOLATE_FAILPOINT", point)
        .stdin(Stdio::null())
        .output()
        .expect("run cargo-isolate")
}

#[test]
fn a_listing_thread_that_panics_fails_the_run_naming_the_binary() {
    let (_tmp, dir) = fixture("demo");
    let out = with_failpoint(&dir, "list:api", &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(96), "{stderr}");
    assert!(
        stderr.contains("error: internal error: listing the tests of")
            && stderr.contains("(demo::api) panicked: failpoint list:api"),
        "{stderr}"
    );
    assert!(!stderr.contains("Starting"), "no test may run: {stderr}");
}

#[test]
fn a_scheduler_thread_that_panics_is_an_error_not_a_pass() {
    let (_tmp, dir) = fixture("demo");
    let report = unique_report(&dir);
    let out = Command::new(BIN)
        .args(["isolate", "test", "--lib", "-j1", "--report"])
        .arg(&report)
        .args(["-E", "test(adds_numbers) | test(parses_config)"])
        .current_dir(&dir)
        .env("NO_COLOR", "1")
        .env("CARGO_ISOLATE_FAILPOINT", "run:demo tests::parses_config")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(96), "{stderr}");
    assert!(
        stderr.contains(
            "internal error: a scheduler thread panicked: failpoint run:demo tests::parses_config"
        ),
        "{stderr}"
    );
    // What finished is kept, and the report says the run is incomplete.
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(report["complete"], false, "{report:#}");
    let ids: Vec<&str> = report["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert!(!ids.contains(&"demo tests::parses_config"), "{ids:?}");
}

/// An override gives one test a larger memory limit than the run's, and
/// it is killed there: the terminal, JUnit, GitHub's annotation and the
/// HTML page name that test's own limit, not the run's.
#[test]
fn every_output_names_the_limit_the_test_ran_under() {
    let (_tmp, dir) = fixture("demo");
    std::fs::create_dir_all(dir.join(".config")).unwrap();
    std::fs::write(
        dir.join(".config/isolate.toml"),
        r#"
[profile.default]
memory-max = "32MiB"

[[profile.default.overrides]]
filter = "test(allocates_64_mib)"
memory-max = "48MiB"
"#,
    )
    .unwrap();
    let junit = dir.join("junit.xml");
    let html = dir.join("report.html");
    let summary = dir.join("step-summary.md");
    let report = unique_report(&dir);
    let out = Command::new(BIN)
        .args([
            "isolate",
            "test",
            "--lib",
            "-E",
            "test(allocates_64_mib)",
            "--report",
        ])
        .arg(&report)
        .arg("--junit")
        .arg(&junit)
        .arg("--html")
        .arg(&html)
        .current_dir(&dir)
        .env("NO_COLOR", "1")
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_WORKSPACE", &dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    if report["host"]["cgroup"] == "none" {
        return skip("a memory limit needs a cgroup");
    }
    let t = &report["tests"][0];
    assert_eq!(t["outcome"], "oom_killed", "{stderr}");
    assert_eq!(t["limits"]["memory_max"], 48 << 20);
    assert_eq!(report["settings"]["memory_max"], 32 << 20);
    let said = "killed at the memory limit of 48.0 MiB";
    let junit = std::fs::read_to_string(&junit).unwrap();
    let html = std::fs::read_to_string(&html).unwrap();
    for (what, text) in [
        ("terminal", stderr.as_ref()),
        ("annotation", stdout.as_ref()),
        ("JUnit", junit.as_str()),
        ("HTML", html.as_str()),
    ] {
        assert!(text.contains(said), "{what} does not say {said:?}:\n{text}");
        assert!(
            !text.contains("limit of 32.0 MiB"),
            "{what} names the run's limit:\n{text}"
        );
    }
}

/// The module graph from the `use crate::` lines of `src/`: which
/// top-level module each file's code names.
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            match p.is_dir() {
                true => dirs.push(p),
                false if p.extension().is_some_and(|x| x == "rs") => files.push(p),
                false => {}
            }
        }
    }
    let top = |p: &Path| {
        let rel = p.strip_prefix(src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        first.trim_end_matches(".rs").to_string()
    };
    let tops: BTreeSet<String> = files.iter().map(|p| top(p)).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for p in &files {
        let from = top(p);
        let text = std::fs::read_to_string(p).unwrap();
        let entry = graph.entry(from.clone()).or_default();
        for (i, _) in text.match_indices("crate::") {
            let name: String = text[i + 7..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if name != from && tops.contains(&name) {
                entry.insert(name);
            }
        }
    }
    graph
}

/// A cycle of `graph`, if it has one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == n) {
            return Some(path[at..].iter().cloned().chain([n.to_string()]).collect());
        }
        if done.contains(n) {
            return None;
        }
        path.push(n.to_string());
        for next in graph.get(n).into_iter().flatten() {
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(n.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|n| visit(n, graph, &mut Vec::new(), &mut done))
}

/// `text` with what is inside string and char literals and comments
/// blanked, so that only the code's own braces count.
fn code_only(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    // What a literal or comment is replaced with: newlines kept.
    let blank = |out: &mut String, ch: char| out.push(if ch == '\n' { '\n' } else { ' ' });
    while i < c.len() {
        match c[i] {
            '/' if c.get(i + 1) == Some(&'/') => {
                while i < c.len() && c[i] != '\n' {
                    blank(&mut out, c[i]);
                    i += 1;
                }
            }
            '/' if c.get(i + 1) == Some(&'*') => {
                while i < c.len() && !(c[i] == '*' && c.get(i + 1) == Some(&'/')) {
                    blank(&mut out, c[i]);
                    i += 1;
                }
                out.push_str("  ");
                i += 2;
            }
            'r' if matches!(c.get(i + 1), Some('"') | Some('#'))
                && (i == 0 || !(c[i - 1].is_alphanumeric() || c[i - 1] == '_')) =>
            {
                let hashes = c[i + 1..].iter().take_while(|&&x| x == '#').count();
                if c.get(i + 1 + hashes) != Some(&'"') {
                    out.push(c[i]);
                    i += 1;
                    continue;
                }
                let close: String = std::iter::once('"')
                    .chain(std::iter::repeat_n('#', hashes))
                    .collect();
                let start = i + 2 + hashes;
                let body: String = c[start..].iter().collect();
                let end = body
                    .find(&close)
                    .map_or(c.len(), |e| start + body[..e].chars().count() + close.len());
                for &ch in &c[i..end.min(c.len())] {
                    blank(&mut out, ch);
                }
                i = end;
            }
            '"' => {
                blank(&mut out, c[i]);
                i += 1;
                while i < c.len() && c[i] != '"' {
                    if c[i] == '\\' {
                        blank(&mut out, c[i]);
                        i += 1;
                    }
                    if i < c.len() {
                        blank(&mut out, c[i]);
                        i += 1;
                    }
                }
                out.push(' ');
                i += 1;
            }
            // A char literal ('{', '\'', '\u{7b}'), not a lifetime ('a).
            '\'' if c.get(i + 2) == Some(&'\'') || c.get(i + 1) == Some(&'\\') => {
                // '\'' and '\u{7b}' end at the first quote after the
                // escaped character; '{' two characters on.
                let end = match c[i + 1] {
                    '\\' => (i + 3..c.len()).find(|&j| c[j] == '\''),
                    _ => Some(i + 2),
                };
                let end = end.map_or(c.len(), |e| e + 1);
                for &ch in &c[i..end] {
                    blank(&mut out, ch);
                }
                i = end;
            }
            ch => {
                out.push(ch);
                i += 1;
            }
        }
    }
    out
}

/// Each `fn` of `text` and its length in lines, its body found by
/// matching braces in the code (see [`code_only`]).
fn function_lengths(text: &str) -> Vec<(String, usize)> {
    let code = code_only(text);
    let lines: Vec<&str> = code.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        let t = t
            .strip_prefix("pub(crate) ")
            .or(t.strip_prefix("pub "))
            .unwrap_or(t);
        let t = t.strip_prefix("const ").unwrap_or(t);
        let t = t.strip_prefix("unsafe ").unwrap_or(t);
        let Some(rest) = t.strip_prefix("fn ") else {
            continue;
        };
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let (mut depth, mut opened) = (0i64, false);
        for (j, l) in lines.iter().enumerate().skip(i) {
            if !opened && l.trim_end().ends_with(';') && !l.contains('{') {
                break;
            }
            for c in l.chars() {
                match c {
                    '{' => {
                        depth += 1;
                        opened = true;
                    }
                    '}' => depth -= 1,
                    _ => {}
                }
            }
            if opened && depth == 0 {
                out.push((name.clone(), j - i + 1));
                break;
            }
        }
    }
    out
}

#[test]
fn no_module_cycle_and_no_long_function() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = module_graph(&src);
    assert!(graph.contains_key("model") && graph.contains_key("run"));
    assert_eq!(find_cycle(&graph), None, "a cycle between modules");
    // The model depends on no other module.
    assert_eq!(graph["model"], BTreeSet::new(), "the model's dependencies");
    let mut longest = Vec::new();
    let mut dirs = vec![src.clone()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&p).unwrap();
                for (name, len) in function_lengths(&text) {
                    if p.ends_with("test_command.rs") && name == "run" {
                        assert!(len < 80, "test_command::run is {len} lines");
                    }
                    longest.push((len, format!("{}::{name}", p.display())));
                }
            }
        }
    }
    longest.sort();
    for (len, name) in longest.iter().rev().take(3) {
        eprintln!("{len:>4} lines  {name}");
    }
    let (len, name) = longest.last().unwrap();
    assert!(*len < 150, "{name} is {len} lines: split it");
}

#[test]
fn the_checks_above_can_fail() {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    g.entry("a".into()).or_default().insert("b".into());
    g.entry("b".into()).or_default().insert("a".into());
    assert_eq!(
        find_cycle(&g),
        Some(vec!["a".into(), "b".into(), "a".into()])
    );
    let text = "fn short() {\n    x(\"{\", '{', r#\"}\"#);\n}\n\npub fn longer(a: u8) -> u8 {\n    let b = a; // }\n    if b { 1 } else { '\\'' as u8 }\n}\n";
    assert_eq!(
        function_lengths(text),
        [("short".to_string(), 3), ("longer".to_string(), 4)]
    );
}
