//! The CI examples under `docs/`: each parses as YAML and has the shape its
//! comments promise; every cargo-isolate command line in it (shell steps,
//! container commands, and the commands its comments suggest) uses only
//! flags that the real binary's `-h` lists, so the docs cannot drift from
//! the CLI; and the Kubernetes manifest goes through `kubectl apply
//! --dry-run=client`.
//!
//! Even a client-side dry run asks an API server which kinds exist (to map
//! `batch/v1 Job` to a resource), so the kubectl check runs against a fake
//! one in this process that answers discovery and says "not found" to
//! everything else; its address is in a kubeconfig in a tempdir. Without
//! kubectl that test is skipped; `.ci/run` installs it, so CI never skips it.

use super::*;
use serde_json::json;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use yaml_rust2::{Yaml, YamlLoader};

const GITHUB: &str = "docs/ci/github-actions.yml";
const GITLAB: &str = "docs/ci/gitlab-ci.yml";
const SHARDED_GITHUB: &str = "docs/ci/sharded-github-actions.yml";
const SHARDED_GITLAB: &str = "docs/ci/sharded-gitlab-ci.yml";
const K8S: &str = "docs/k8s/cargo-isolate-shards.yaml";
const GITHUB_CONTAINER: &str = "docs/ci/github-actions-container.yml";
const GITLAB_DOCKER: &str = "docs/ci/gitlab-ci-docker.yml";
const K8S_JOB: &str = "docs/ci/kubernetes-job.yaml";

fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// A doc's text and its YAML documents.
fn load(rel: &str) -> (String, Vec<Yaml>) {
    let text = std::fs::read_to_string(repo_path(rel))
        .unwrap_or_else(|e| panic!("cannot read {rel}: {e}"));
    let docs =
        YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{rel} is not YAML: {e}"));
    assert!(!docs.is_empty(), "{rel} holds no YAML document");
    (text, docs)
}

/// A scalar as the string a shell or a container would get.
fn scalar(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

fn str_of<'a>(y: &'a Yaml, what: &str) -> &'a str {
    y.as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {y:?}"))
}

fn vec_of<'a>(y: &'a Yaml, what: &str) -> &'a [Yaml] {
    y.as_vec()
        .unwrap_or_else(|| panic!("{what} is not a list: {y:?}"))
}

/// A string, or each string of a list (`needs: build`, `needs: [a, b]`).
fn strings(y: &Yaml) -> Vec<String> {
    match y {
        Yaml::Array(a) => a.iter().filter_map(scalar).collect(),
        other => scalar(other).into_iter().collect(),
    }
}

/// Every command text in a YAML tree: `run`, `script`, `before_script`
/// and `after_script` (a string or a list of them), and a container's
/// `command` and `args` joined into one line.
fn command_texts(y: &Yaml, out: &mut Vec<String>) {
    match y {
        Yaml::Hash(h) => {
            let argv: Vec<String> = ["command", "args"]
                .iter()
                .flat_map(|k| strings(&y[*k]))
                .collect();
            if !argv.is_empty() {
                out.push(argv.join(" "));
            }
            for (k, v) in h {
                if let Some("run" | "script" | "before_script" | "after_script") = k.as_str() {
                    out.extend(strings(v));
                }
                command_texts(v, out);
            }
        }
        Yaml::Array(a) => a.iter().for_each(|v| command_texts(v, out)),
        _ => {}
    }
}

/// The text of a doc's comment lines (the commands they suggest are
/// checked too).
fn comments(text: &str) -> String {
    text.lines()
        .filter_map(|l| l.trim_start().strip_prefix('#'))
        .collect::<Vec<_>>()
        .join("\n")
}

/// One `cargo isolate ...` (or `cargo-isolate isolate ...`) command line.
#[derive(Debug)]
struct Invocation {
    /// `["test"]`, `["report", "merge"]`...
    sub: Vec<String>,
    /// The words after the subcommand, up to the end of the command (a
    /// shell operator, a redirection) or a lone `--`.
    args: Vec<String>,
    /// The whole line, for messages.
    line: String,
}

impl Invocation {
    fn sub(&self) -> String {
        self.sub.join(" ")
    }

    /// The value of `--flag VALUE` or `--flag=VALUE`.
    fn value(&self, flag: &str) -> Option<&str> {
        let prefix = format!("{flag}=");
        self.args.iter().enumerate().find_map(|(i, a)| {
            if a == flag {
                self.args.get(i + 1).map(String::as_str)
            } else {
                a.strip_prefix(&prefix)
            }
        })
    }

    fn has(&self, flag: &str) -> bool {
        self.value(flag).is_some() || self.args.iter().any(|a| a == flag)
    }
}

/// Quotes, backticks and the `$( )` of a command substitution around a
/// word, as in `"$(command -v cargo)"`.
fn bare(word: &str) -> &str {
    word.trim_matches(|c| matches!(c, '"' | '\'' | '`' | '(' | ')' | '$' | ','))
}

/// `cargo`, `./cargo-isolate`, `"$(command -v cargo-isolate)"`...
fn is_cargo_isolate(word: &str) -> bool {
    let last = bare(word).rsplit([' ', '/']).next().unwrap_or_default();
    last == "cargo" || last == "cargo-isolate"
}

/// A line's words as a shell splits them, roughly: a quote that opens a
/// word (`"$(command -v cargo)"`, `--env="A B"`) runs to its closing
/// quote, and a GitHub expression `${{ ... }}` is one piece of a word.
fn words(line: &str) -> Vec<String> {
    let chars: Vec<char> = line.chars().collect();
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote = None;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if let Some(q) = quote {
            word.push(c);
            if c == q {
                quote = None;
            }
        } else if chars[i..].starts_with(&['$', '{', '{']) {
            let end = (i..chars.len())
                .find(|&j| chars[j..].starts_with(&['}', '}']))
                .map_or(chars.len(), |j| j + 2);
            word.extend(&chars[i..end]);
            i = end;
            continue;
        } else if (c == '"' || c == '\'') && (word.is_empty() || word.ends_with('=')) {
            word.push(c);
            quote = Some(c);
        } else if c.is_whitespace() || c == ';' {
            if !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            if c == ';' {
                words.push(";".to_owned());
            }
        } else {
            word.push(c);
        }
        i += 1;
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// Every cargo-isolate command line in `text`: continued lines (`\`)
/// joined, each line cut at shell operators.
fn invocations(text: &str) -> Vec<Invocation> {
    let joined = text.replace("\\\n", " ");
    let mut found = Vec::new();
    for line in joined.lines() {
        let words = words(line);
        for seg in words.split(|w| matches!(w.as_str(), "&&" | "||" | ";" | "|")) {
            for i in 1..seg.len() {
                if seg[i] != "isolate" || !is_cargo_isolate(&seg[i - 1]) {
                    continue;
                }
                let rest: Vec<String> = seg[i + 1..].iter().map(|w| bare(w).to_owned()).collect();
                let n = match rest.first().map(String::as_str) {
                    Some("report") => 2,
                    _ => 1,
                };
                let sub: Vec<String> = rest.iter().take(n).cloned().collect();
                let args = rest
                    .iter()
                    .skip(n)
                    .take_while(|w| *w != "--" && !w.starts_with('>') && !w.starts_with("2>"))
                    .cloned()
                    .collect();
                found.push(Invocation {
                    sub,
                    args,
                    line: line.trim().to_owned(),
                });
            }
        }
    }
    found
}

/// The cargo-isolate command lines of a doc: in its steps and containers,
/// and in its comments.
fn doc_invocations(text: &str, docs: &[Yaml]) -> Vec<Invocation> {
    let mut texts = Vec::new();
    docs.iter().for_each(|d| command_texts(d, &mut texts));
    texts.push(comments(text));
    texts.iter().flat_map(|t| invocations(t)).collect()
}

/// `cargo-isolate isolate <sub> -h`, once per subcommand.
#[derive(Default)]
struct Helps(HashMap<String, String>);

impl Helps {
    fn get(&mut self, sub: &[String]) -> &str {
        self.0.entry(sub.join(" ")).or_insert_with(|| {
            let out = Command::new(BIN)
                .arg("isolate")
                .args(sub)
                .arg("-h")
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "cargo isolate {} -h failed ({}): {}",
                sub.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap()
        })
    }
}

/// Whether `help` lists `flag` as a flag of its own (`--junit` is not
/// `--junit-store-success-output`; `-o` is listed as `-o, --output`).
fn help_knows(help: &str, flag: &str) -> bool {
    if !flag.starts_with("--") {
        return help.contains(&format!("{flag},"));
    }
    help.match_indices(flag).any(|(at, _)| {
        let before = help[..at].chars().next_back();
        let after = help[at + flag.len()..].chars().next();
        !matches!(before, Some(c) if c.is_alphanumeric() || c == '-')
            && !matches!(after, Some(c) if c.is_alphanumeric() || c == '-' || c == '_')
    })
}

/// The flags of a help section (`Cargo options:`).
fn section_flags(help: &str, heading: &str) -> Vec<String> {
    let mut inside = false;
    let mut flags = Vec::new();
    for line in help.lines() {
        if !line.starts_with(' ') && line.ends_with(':') {
            inside = line == heading;
            continue;
        }
        // `  -p, --package <SPEC>  Package to test`: the flags, not the
        // words of the description after them.
        let spec = line.trim_start().split("  ").next().unwrap_or_default();
        if inside && spec.starts_with('-') {
            flags.extend(
                spec.split([' ', ','])
                    .filter(|w| w.starts_with("--") && w.len() > 2)
                    .map(str::to_owned),
            );
        }
    }
    flags
}

const SUBCOMMANDS: [&str; 6] = [
    "test",
    "run",
    "archive",
    "report diff",
    "report html",
    "report merge",
];

/// What is wrong with one command line: an unknown subcommand, a flag its
/// help does not list, cargo's flags with `--archive-file`.
fn check_invocation(inv: &Invocation, helps: &mut Helps) -> Vec<String> {
    let sub = inv.sub();
    if !SUBCOMMANDS.contains(&sub.as_str()) {
        return vec![format!(
            "`cargo isolate {sub}` is not a subcommand: {}",
            inv.line
        )];
    }
    let help = helps.get(&inv.sub).to_owned();
    let mut problems = Vec::new();
    for arg in &inv.args {
        let flag = arg.split('=').next().unwrap_or(arg);
        let is_flag = (flag.starts_with("--") && flag.len() > 2)
            || (flag.len() == 2
                && flag.starts_with('-')
                && flag.as_bytes()[1].is_ascii_alphabetic());
        if is_flag && !help_knows(&help, flag) {
            problems.push(format!(
                "`cargo isolate {sub} -h` does not list {flag}: {}",
                inv.line
            ));
        }
    }
    if sub == "test" && inv.has("--archive-file") {
        for flag in section_flags(&help, "Cargo options:") {
            if inv.has(&flag) {
                problems.push(format!(
                    "{flag} is cargo's: with --archive-file nothing is built: {}",
                    inv.line
                ));
            }
        }
    }
    problems
}

/// Checks every cargo-isolate command line of a doc against the real
/// binary's help, and returns them.
fn checked_invocations(rel: &str, text: &str, docs: &[Yaml]) -> Vec<Invocation> {
    let found = doc_invocations(text, docs);
    let mut helps = Helps::default();
    let problems: Vec<String> = found
        .iter()
        .flat_map(|inv| check_invocation(inv, &mut helps))
        .collect();
    assert!(problems.is_empty(), "{rel}:\n{}", problems.join("\n"));
    found
}

/// The command lines of one subcommand.
fn of<'a>(found: &'a [Invocation], sub: &str) -> Vec<&'a Invocation> {
    found.iter().filter(|i| i.sub() == sub).collect()
}

/// The one command line of `sub` found in `text` (a step's run, a job's
/// script).
fn one_in(text: &str, sub: &str) -> Invocation {
    let mut found: Vec<Invocation> = invocations(text)
        .into_iter()
        .filter(|i| i.sub() == sub)
        .collect();
    assert_eq!(found.len(), 1, "one `cargo isolate {sub}` in {text}");
    found.pop().unwrap()
}

#[test]
fn the_scanner_finds_the_command_lines_and_their_flags() {
    let text = "sudo --preserve-env=PATH \"$(command -v cargo)\" isolate test --workspace \\\n  \
                --profile ci -- --exact a && cargo isolate report merge s*.json -o r.json > log\n\
                ./cargo-isolate isolate archive -o t.tar.zst; echo --not-ours";
    let found = invocations(text);
    let subs: Vec<String> = found.iter().map(Invocation::sub).collect();
    assert_eq!(subs, ["test", "report merge", "archive"]);
    assert_eq!(found[0].args, ["--workspace", "--profile", "ci"]);
    assert_eq!(found[0].value("--profile"), Some("ci"));
    assert_eq!(found[1].value("-o"), Some("r.json"));
    assert_eq!(found[2].args, ["-o", "t.tar.zst"]);

    let mut helps = Helps::default();
    for (line, bad) in [
        (
            "cargo isolate test --partition hash:1/2 --no-such-flag",
            true,
        ),
        ("cargo isolate test --jun x.xml", true),
        ("cargo isolate test --junit x.xml -E 'all()'", false),
        (
            "cargo isolate test --archive-file t.tar.zst --workspace",
            true,
        ),
        (
            "cargo isolate report merge a.json -o b.json --html c.html",
            false,
        ),
        (
            "cargo isolate report merge a.json -o b.json --baseline c.json",
            true,
        ),
        ("cargo isolate frobnicate", true),
    ] {
        let inv = one_in(line, &invocations(line)[0].sub());
        let problems = check_invocation(&inv, &mut helps);
        assert_eq!(!problems.is_empty(), bad, "{line}: {problems:?}");
    }
}

#[test]
fn single_machine_examples_use_real_flags() {
    let (text, docs) = load(GITHUB);
    let found = checked_invocations(GITHUB, &text, &docs);
    assert!(
        !of(&found, "test").is_empty(),
        "{GITHUB}: no cargo isolate test"
    );
    let steps = vec_of(&docs[0]["jobs"]["test"]["steps"], "jobs.test.steps");
    assert!(steps.iter().any(|s| {
        strings(&s["run"])
            .iter()
            .any(|r| r.contains("kernel.apparmor_restrict_unprivileged_userns=0"))
    }));

    let (text, docs) = load(GITLAB);
    let found = checked_invocations(GITLAB, &text, &docs);
    assert!(
        !of(&found, "test").is_empty(),
        "{GITLAB}: no cargo isolate test"
    );
    assert!(
        docs[0]["test"]["artifacts"]["reports"]["junit"]
            .as_str()
            .is_some()
    );
}

/// The steps of a GitHub job that use `action` (`actions/upload-artifact`).
fn uses<'a>(steps: &'a [Yaml], action: &str) -> Vec<&'a Yaml> {
    steps
        .iter()
        .filter(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with(&format!("{action}@")))
        })
        .collect()
}

/// The text of every `run` of a job's steps.
fn runs(steps: &[Yaml]) -> String {
    steps
        .iter()
        .flat_map(|s| strings(&s["run"]))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn sharded_github_workflow_builds_once_runs_three_shards_and_merges() {
    let (text, docs) = load(SHARDED_GITHUB);
    let found = checked_invocations(SHARDED_GITHUB, &text, &docs);
    for sub in ["archive", "test", "report merge"] {
        assert!(!of(&found, sub).is_empty(), "no cargo isolate {sub}");
    }
    let jobs = &docs[0]["jobs"];
    let steps = |job: &str| vec_of(&jobs[job]["steps"], &format!("jobs.{job}.steps"));

    // build: the archive, uploaded.
    let build = steps("build");
    let archive = one_in(&runs(build), "archive");
    let file = archive.value("-o").expect("archive -o FILE");
    assert!(
        uses(build, "actions/upload-artifact")
            .iter()
            .any(|s| strings(&s["with"]["path"]).iter().any(|p| p.contains(file))),
        "the build job uploads {file}"
    );

    // test: a matrix of shards, no sources, the archive run as root.
    let test = &jobs["test"];
    assert!(strings(&test["needs"]).contains(&"build".to_owned()));
    assert_eq!(test["strategy"]["fail-fast"].as_bool(), Some(false));
    let shards: Vec<i64> = vec_of(&test["strategy"]["matrix"]["shard"], "matrix.shard")
        .iter()
        .map(|s| s.as_i64().expect("shard numbers"))
        .collect();
    assert_eq!(shards, [1, 2, 3]);
    let test_steps = steps("test");
    assert!(
        uses(test_steps, "actions/checkout").is_empty(),
        "the shards need no sources"
    );
    assert!(!uses(test_steps, "actions/download-artifact").is_empty());
    let test_runs = runs(test_steps);
    assert!(test_runs.contains("sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0"));
    let run = one_in(&test_runs, "test");
    assert!(run.line.starts_with("sudo "), "as root: {}", run.line);
    assert_eq!(run.value("--archive-file"), Some(file));
    assert_eq!(
        run.value("--partition"),
        Some(format!("hash:${{{{ matrix.shard }}}}/{}", shards.len()).as_str())
    );
    let report = run.value("--report").expect("--report");
    assert!(report.contains("${{ matrix.shard }}"), "{report}");
    assert!(
        uses(test_steps, "actions/upload-artifact").iter().any(|s| {
            s["if"].as_str() == Some("always()")
                && strings(&s["with"]["path"]).contains(&report.to_owned())
        }),
        "each shard uploads {report}, also when a test failed"
    );
    // The duration-balanced variant, in a comment.
    let duration = of(&found, "test")
        .into_iter()
        .find(|i| {
            i.value("--partition")
                .is_some_and(|p| p.starts_with("duration:"))
        })
        .expect("a duration-balanced variant");
    assert!(duration.value("--timings").is_some(), "{}", duration.line);

    // merge: after every shard, whatever they gave.
    let merge = &jobs["merge"];
    assert!(strings(&merge["needs"]).contains(&"test".to_owned()));
    assert!(str_of(&merge["if"], "merge.if").contains("always()"));
    let merge_steps = steps("merge");
    let merged = one_in(&runs(merge_steps), "report merge");
    assert!(
        merged.args.contains(&"shard-*.json".to_owned()),
        "{}",
        merged.line
    );
    let junit = merged.value("--junit").expect("merge --junit");
    assert!(merged.value("--html").is_some());
    let publish = uses(merge_steps, "mikepenz/action-junit-report");
    assert_eq!(publish.len(), 1);
    assert_eq!(publish[0]["if"].as_str(), Some("always()"));
    assert_eq!(publish[0]["with"]["report_paths"].as_str(), Some(junit));
}

#[test]
fn sharded_gitlab_pipeline_builds_once_runs_parallel_shards_and_merges() {
    let (text, docs) = load(SHARDED_GITLAB);
    let found = checked_invocations(SHARDED_GITLAB, &text, &docs);
    for sub in ["archive", "test", "report merge"] {
        assert!(!of(&found, sub).is_empty(), "no cargo isolate {sub}");
    }
    let ci = &docs[0];
    let script = |job: &str| strings(&ci[job]["script"]).join("\n");
    assert!(
        text.contains("privileged = true"),
        "says what the runner must allow"
    );

    let archive = one_in(&script("build"), "archive");
    let file = archive.value("-o").expect("archive -o FILE");
    assert!(strings(&ci["build"]["artifacts"]["paths"]).contains(&file.to_owned()));

    let test = &ci["test"];
    assert_eq!(test["parallel"].as_i64(), Some(3));
    assert!(strings(&test["needs"]).contains(&"build".to_owned()));
    let run = one_in(&script("test"), "test");
    assert_eq!(run.value("--archive-file"), Some(file));
    let partition = run.value("--partition").expect("--partition");
    assert!(
        partition == "auto" || partition.ends_with(":auto"),
        "K/N from CI_NODE_INDEX/CI_NODE_TOTAL: {partition}"
    );
    let report = run.value("--report").expect("--report");
    assert!(report.contains("$CI_NODE_INDEX"), "{report}");
    assert_eq!(test["artifacts"]["when"].as_str(), Some("always"));
    assert!(strings(&test["artifacts"]["paths"]).contains(&report.to_owned()));

    let merge = &ci["merge"];
    assert_eq!(merge["when"].as_str(), Some("always"));
    assert!(strings(&merge["needs"]).contains(&"test".to_owned()));
    let merged = one_in(&script("merge"), "report merge");
    assert!(
        merged.args.contains(&"shard-*.json".to_owned()),
        "{}",
        merged.line
    );
    let junit = merged.value("--junit").expect("merge --junit");
    assert_eq!(merge["artifacts"]["reports"]["junit"].as_str(), Some(junit));
    assert_eq!(merge["artifacts"]["when"].as_str(), Some("always"));
}

/// The message `explain_namespace_failure` gives root in a pod without
/// CAP_SYS_ADMIN, as src/confinement.rs spells it: the string literal of
/// that case, with Rust's line continuations and escapes applied.
fn root_namespace_failure_message() -> String {
    let src = std::fs::read_to_string(repo_path("src/confinement.rs")).unwrap();
    let start = src
        .find("\"  no CAP_SYS_ADMIN:")
        .expect("src/confinement.rs: the no-CAP_SYS_ADMIN case moved; update this test")
        + 1;
    let mut out = String::new();
    let mut chars = src[start..].chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => break,
            '\\' => match chars.next() {
                Some('\n') => {
                    while chars.peek().is_some_and(|c| c.is_whitespace()) {
                        chars.next();
                    }
                }
                Some('n') => out.push('\n'),
                Some(other) => out.push(other),
                None => break,
            },
            c => out.push(c),
        }
    }
    let host = std::fs::read_to_string(repo_path("src/host.rs")).unwrap();
    assert!(
        host.contains("\"cannot create the sandbox's namespaces: {detail}\\n{}\""),
        "src/host.rs: the first line of explain_namespace_failure changed; update this test"
    );
    format!("error: cannot create the sandbox's namespaces: <detail>\n{out}")
}

/// A path given to the container lies on one of its volume mounts; the
/// volume's name.
fn volume_of<'a>(container: &'a Yaml, path: &str) -> &'a str {
    vec_of(&container["volumeMounts"], "volumeMounts")
        .iter()
        .find(|m| {
            let dir = str_of(&m["mountPath"], "mountPath");
            path.strip_prefix(dir)
                .is_some_and(|rest| rest.starts_with('/'))
        })
        .map(|m| str_of(&m["name"], "volumeMounts.name"))
        .unwrap_or_else(|| panic!("{path} is on none of the container's volumes"))
}

#[test]
fn kubernetes_manifest_is_an_indexed_job_with_the_sandboxs_privileges() {
    let (text, docs) = load(K8S);
    let found = checked_invocations(K8S, &text, &docs);
    assert!(!of(&found, "report merge").is_empty(), "says how to merge");
    let job = docs
        .iter()
        .find(|d| d["kind"].as_str() == Some("Job"))
        .expect("a Job");
    assert_eq!(job["apiVersion"].as_str(), Some("batch/v1"));
    let spec = &job["spec"];
    assert_eq!(spec["completionMode"].as_str(), Some("Indexed"));
    let completions = spec["completions"].as_i64().expect("completions");
    assert_eq!(completions, 4);
    assert_eq!(spec["parallelism"].as_i64(), Some(completions));
    assert!(spec["backoffLimit"].as_i64().is_some(), "backoffLimit");
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["restartPolicy"].as_str(), Some("Never"));

    // The container that runs a share.
    let containers = vec_of(&pod["containers"], "containers");
    let (container, run) = containers
        .iter()
        .find_map(|c| {
            let mut texts = Vec::new();
            command_texts(c, &mut texts);
            texts
                .iter()
                .flat_map(|t| invocations(t))
                .find(|i| i.sub() == "test")
                .map(|i| (c, i))
        })
        .expect("a container running cargo isolate test");
    let partition = run.value("--partition").expect("--partition");
    assert!(
        partition.ends_with("auto"),
        "from JOB_COMPLETION_INDEX: {partition}"
    );
    assert_eq!(
        run.value("--partition-total"),
        Some(completions.to_string().as_str()),
        "--partition-total is the Job's completions"
    );
    let report = run.value("--report").expect("--report");
    assert!(
        report.contains("$(JOB_COMPLETION_INDEX)"),
        "one report per share, named as Kubernetes expands it: {report}"
    );
    let name = str_of(&container["name"], "container name");
    for rule in pod_failure_rules(spec) {
        if let Some(c) = rule["onExitCodes"]["containerName"].as_str() {
            assert_eq!(c, name, "podFailurePolicy names the shard's container");
        }
    }

    // The sandbox's privileges, and the narrower alternative in comments.
    let security = &container["securityContext"];
    assert_eq!(security["privileged"].as_bool(), Some(true));
    for word in [
        "SYS_ADMIN",
        "seccompProfile",
        "appArmorProfile",
        "Unconfined",
    ] {
        assert!(comments(&text).contains(word), "the comments name {word}");
    }
    let mut helps = Helps::default();
    assert!(help_knows(
        helps.get(&["test".into()]),
        "--allow-unenforced-limits"
    ));
    assert!(comments(&text).contains("--allow-unenforced-limits"));
    assert!(
        container["resources"]["limits"]["memory"]
            .as_str()
            .is_some()
    );

    // Files: the archive on a volume an init container fills (or one that
    // holds it already), the reports and the unpacked workspace on volumes.
    let archive = run.value("--archive-file").expect("--archive-file");
    let volume = volume_of(container, archive);
    let filled = pod["initContainers"]
        .as_vec()
        .into_iter()
        .flatten()
        .any(|c| {
            c["volumeMounts"]
                .as_vec()
                .into_iter()
                .flatten()
                .any(|m| m["name"].as_str() == Some(volume))
        });
    let volumes = vec_of(&pod["volumes"], "volumes");
    let declared = volumes
        .iter()
        .find(|v| v["name"].as_str() == Some(volume))
        .unwrap_or_else(|| panic!("no volume {volume}"));
    assert!(
        filled || declared["emptyDir"].is_badvalue(),
        "nothing puts the archive on {volume}"
    );
    volume_of(container, report);
    if let Some(dir) = run.value("--workspace-remap") {
        volume_of(container, &format!("{dir}/"));
    }

    // What a pod without these privileges prints, quoted as it is.
    let comment_text = comments(&text);
    let quoted: Vec<&str> = comment_text.lines().map(str::trim).collect();
    for line in root_namespace_failure_message().lines() {
        assert!(
            quoted.contains(&line.trim()),
            "{K8S} quotes cargo-isolate's message as src/host.rs has it; missing:\n{line}"
        );
    }
}

fn pod_failure_rules(spec: &Yaml) -> &[Yaml] {
    spec["podFailurePolicy"]["rules"]
        .as_vec()
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// A Kubernetes API server that only knows discovery: the kinds the
/// manifest may use, and "not found" for any object.
struct FakeApiServer {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeApiServer {
    fn start() -> FakeApiServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (requests, stop) = (requests.clone(), stop.clone());
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(conn) = conn {
                        let requests = requests.clone();
                        std::thread::spawn(move || serve(conn, &requests));
                    }
                }
            })
        };
        FakeApiServer {
            addr,
            requests,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One request, one answer, then the connection closes.
fn serve(mut conn: TcpStream, requests: &Mutex<Vec<String>>) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let Ok(read) = conn.try_clone() else { return };
    let mut reader = BufReader::new(read);
    let mut request = String::new();
    if reader.read_line(&mut request).is_err() || request.is_empty() {
        return;
    }
    loop {
        let mut header = String::new();
        match reader.read_line(&mut header) {
            Ok(0) | Err(_) => return,
            Ok(_) if header.trim().is_empty() => break,
            Ok(_) => {}
        }
    }
    let target = request.split_whitespace().nth(1).unwrap_or("/").to_owned();
    requests.lock().unwrap().push(request.trim().to_owned());
    let path = target.split('?').next().unwrap_or("/");
    let (status, body) = match discovery(path) {
        Some(body) => ("200 OK", body),
        None => (
            "404 Not Found",
            json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                   "reason": "NotFound", "code": 404}),
        ),
    };
    let body = body.to_string();
    let _ = write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
}

/// The legacy discovery documents (kubectl falls back to them when the
/// answer is not the aggregated kind).
fn discovery(path: &str) -> Option<Value> {
    let resource = |name: &str, kind: &str| {
        json!({"name": name, "singularName": "", "namespaced": true, "kind": kind,
               "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]})
    };
    Some(match path {
        "/version" => json!({"major": "1", "minor": "33", "gitVersion": "v1.33.0",
                             "platform": "linux/amd64"}),
        "/api" => json!({"kind": "APIVersions", "versions": ["v1"],
                         "serverAddressByClientCIDRs": []}),
        "/apis" => json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [{
            "name": "batch",
            "versions": [{"groupVersion": "batch/v1", "version": "v1"}],
            "preferredVersion": {"groupVersion": "batch/v1", "version": "v1"}}]}),
        "/api/v1" => json!({"kind": "APIResourceList", "groupVersion": "v1", "resources": [
            resource("pods", "Pod"),
            resource("configmaps", "ConfigMap"),
            resource("secrets", "Secret"),
            resource("persistentvolumeclaims", "PersistentVolumeClaim"),
            resource("serviceaccounts", "ServiceAccount")]}),
        "/apis/batch/v1" => json!({"kind": "APIResourceList", "groupVersion": "batch/v1",
                                   "resources": [resource("jobs", "Job"),
                                                 resource("cronjobs", "CronJob")]}),
        _ => return None,
    })
}

/// `kubectl apply --dry-run=client -f rel` against a fake API server:
/// whether it succeeded, its stdout, and a message for a failure.
fn kubectl_dry_run(rel: &str) -> (bool, String, String) {
    let server = FakeApiServer::start();
    let tmp = tempfile::Builder::new()
        .prefix("isolate-kubectl-")
        .tempdir()
        .unwrap();
    let kubeconfig = tmp.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\n\
             clusters:\n- name: fake\n  cluster:\n    server: http://{}\n\
             contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n    namespace: default\n\
             users:\n- name: fake\n  user: {{}}\n\
             current-context: fake\n",
            server.addr
        ),
    )
    .unwrap();
    let out = Command::new("kubectl")
        .args([
            "apply",
            "--dry-run=client",
            "--validate=false",
            "--request-timeout=30s",
            "-f",
        ])
        .arg(repo_path(rel))
        .env("KUBECONFIG", &kubeconfig)
        // Its discovery cache and any client config go to the tempdir.
        .env("HOME", tmp.path())
        .output()
        .expect("run kubectl");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let requests = server.requests.lock().unwrap().join("\n");
    let why = format!(
        "kubectl apply --dry-run=client {rel}: {}\n{stdout}{}\nrequests to the fake server:\n{requests}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(requests.contains("/apis/batch/v1"), "{why}");
    (out.status.success(), stdout, why)
}

#[test]
fn kubectl_accepts_the_kubernetes_manifest() {
    if !has_tool("kubectl", &["version", "--client"]) {
        return skip("kubectl is not installed (apt-get install kubernetes-client; .ci/run does)");
    }
    let (ok, stdout, why) = kubectl_dry_run(K8S);
    assert!(ok, "{why}");
    for object in [
        "job.batch/cargo-isolate-shards",
        "persistentvolumeclaim/cargo-isolate-reports",
    ] {
        assert!(
            stdout.contains(&format!("{object} created (dry run)")),
            "{stdout}"
        );
    }
}

/// Issue 24: the examples for a job in a container (GitHub Actions
/// `container:`, GitLab's Docker executor, a Kubernetes Job) give the
/// container what the sandbox needs, name the narrower alternative and
/// its flag, and use real flags; kubectl accepts the Job.
#[test]
fn container_examples_give_the_sandbox_what_it_needs() {
    let mut helps = Helps::default();
    let knows_unenforced = help_knows(helps.get(&["test".into()]), "--allow-unenforced-limits");
    assert!(knows_unenforced);
    for rel in [GITHUB_CONTAINER, GITLAB_DOCKER, K8S_JOB] {
        let (text, docs) = load(rel);
        let found = checked_invocations(rel, &text, &docs);
        assert!(
            !of(&found, "test").is_empty(),
            "{rel}: no cargo isolate test"
        );
        let said = comments(&text);
        for word in ["SYS_ADMIN", "--allow-unenforced-limits", "exit 96"] {
            assert!(said.contains(word), "{rel}: the comments name {word}");
        }
    }

    let (_, docs) = load(GITHUB_CONTAINER);
    let job = &docs[0]["jobs"]["test"];
    assert!(job["container"]["image"].as_str().is_some());
    assert_eq!(job["container"]["options"].as_str(), Some("--privileged"));
    let steps = vec_of(&job["steps"], "jobs.test.steps");
    assert!(
        !runs(steps).contains("sudo"),
        "a container job runs as the image's root"
    );

    let (text, docs) = load(GITLAB_DOCKER);
    assert!(docs[0]["test"]["image"].as_str().is_some());
    assert!(
        docs[0]["test"]["artifacts"]["reports"]["junit"]
            .as_str()
            .is_some()
    );
    let said = comments(&text);
    for line in [
        "privileged = true",
        "cap_add = [\"SYS_ADMIN\"]",
        "security_opt = [\"apparmor=unconfined\"]",
    ] {
        assert!(said.contains(line), "{GITLAB_DOCKER}: config.toml's {line}");
    }

    let (_, docs) = load(K8S_JOB);
    let job = docs
        .iter()
        .find(|d| d["kind"].as_str() == Some("Job"))
        .expect("a Job");
    let container = &job["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        container["securityContext"]["privileged"].as_bool(),
        Some(true)
    );
    assert!(
        container["resources"]["limits"]["memory"]
            .as_str()
            .is_some()
    );
    if !has_tool("kubectl", &["version", "--client"]) {
        return skip("kubectl is not installed (apt-get install kubernetes-client; .ci/run does)");
    }
    let (ok, stdout, why) = kubectl_dry_run(K8S_JOB);
    assert!(ok, "{why}");
    assert!(
        stdout.contains("job.batch/cargo-isolate-tests created (dry run)"),
        "{stdout}"
    );
}

/// The example runs the tests as root (memory limits need a writable
/// cgroup): the steps after it, as the runner's user, must be able to
/// write to target/ again (`report html` wrote "Permission denied").
#[test]
fn the_github_example_gives_target_back_after_its_root_run() {
    let yml = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(GITHUB)).unwrap();
    let root_run = yml.find("sudo --preserve-env").expect("a root run");
    let chown = yml
        .find("sudo chown -R \"$(id -u):$(id -g)\" target")
        .expect("target/ handed back to the runner's user");
    let html = yml.find("report html").expect("an HTML step");
    assert!(root_run < chown && chown < html, "{yml}");
}
