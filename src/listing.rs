//! `cargo isolate list`: the tests a run would run, by binary, as
//! nextest's `list` shows them (human), or as its JSON summary
//! (`--message-format json`: `test-count` and `rust-suites`, each suite
//! with its binary id, name, kind, path and test cases).

use serde_json::{Map, Value, json};

/// One selected test (or a `harness = false` binary: no name).
#[derive(Debug, Clone)]
pub struct Listed {
    pub binary_id: String,
    pub package: String,
    pub binary_name: String,
    pub kind: String,
    pub binary_path: String,
    pub cwd: String,
    pub name: Option<String>,
    pub ignored: bool,
}

/// `binary-id:` then each test indented, binaries in order of their ids.
pub fn human(tests: &[Listed]) -> String {
    let mut out = String::new();
    for (binary_id, cases) in by_binary(tests) {
        out += &format!("{}:\n", crate::report::escape::for_terminal_line(binary_id));
        for t in cases {
            let name = t
                .name
                .as_deref()
                .unwrap_or("(the whole binary: harness = false)");
            let ignored = if t.ignored { " (ignored)" } else { "" };
            out += &format!(
                "    {}{ignored}\n",
                crate::report::escape::for_terminal_line(name)
            );
        }
    }
    out
}

/// nextest's `TestListSummary` shape, for what this run selected.
pub fn json(tests: &[Listed]) -> Value {
    let mut suites = Map::new();
    for (binary_id, cases) in by_binary(tests) {
        let first = cases[0];
        let mut testcases = Map::new();
        for t in &cases {
            let name = t.name.clone().unwrap_or_default();
            testcases.insert(
                name,
                json!({"ignored": t.ignored, "filter-match": {"status": "matches"}}),
            );
        }
        suites.insert(
            binary_id.to_string(),
            json!({
                "binary-id": binary_id,
                "binary-name": first.binary_name,
                "package-name": first.package,
                "kind": first.kind,
                "binary-path": first.binary_path,
                "cwd": first.cwd,
                "testcases": testcases,
            }),
        );
    }
    json!({"test-count": tests.len(), "rust-suites": suites})
}

fn by_binary(tests: &[Listed]) -> std::collections::BTreeMap<&str, Vec<&Listed>> {
    let mut map: std::collections::BTreeMap<&str, Vec<&Listed>> = Default::default();
    for t in tests {
        map.entry(t.binary_id.as_str()).or_default().push(t);
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(binary_id: &str, name: &str, ignored: bool) -> Listed {
        Listed {
            binary_id: binary_id.into(),
            package: "p".into(),
            binary_name: "p".into(),
            kind: "lib".into(),
            binary_path: "/t/p".into(),
            cwd: "/w/p".into(),
            name: Some(name.into()),
            ignored,
        }
    }

    #[test]
    fn grouped_by_binary_and_as_nextests_json() {
        let tests = [
            listed("p::it", "b", false),
            listed("p", "a", true),
            listed("p", "c\u{1b}[2J", false),
        ];
        assert_eq!(
            human(&tests),
            "p:\n    a (ignored)\n    c\\x1b[2J\np::it:\n    b\n"
        );
        let v = json(&tests);
        assert_eq!(v["test-count"], 3);
        assert_eq!(v["rust-suites"]["p"]["testcases"]["a"]["ignored"], true);
        assert_eq!(v["rust-suites"]["p::it"]["binary-id"], "p::it");
    }
}
