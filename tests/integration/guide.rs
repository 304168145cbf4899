//! Every `console` example of the guide (`docs/guide/src`) and the README
//! runs here as written, and fails when its output or exit code drifts
//! (the format: `support::examples`). The guide's links are checked too.
//!
//! Each page runs in a scratch directory of its own holding a copy of
//! `fixtures/` (as in a clone of this repository), with the binary under
//! test first on `PATH`; the scratch path shows as `~/cargo-isolate`.
//! `GUIDE_PAGE=<file stem>` runs one page; `ISOLATE_BLESS=1` rewrites each
//! failing step's output with what it printed.

use crate::support::examples::{self, Block, Console, Step};
use crate::support::skip::{is_root, note, skip};
use crate::{BIN, copy_dir, fixtures_dir};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// How the scratch directory is written in the pages.
const SHOWN_AS: &str = "~/cargo-isolate";

/// The pages with examples, each run by a test of its own below; the
/// test `every_page_is_run` keeps this list whole.
const PAGES: &[&str] = &[
    "README.md",
    "docs/guide/src/introduction.md",
    "docs/guide/src/getting-started.md",
    "docs/guide/src/coming-from-nextest.md",
    "docs/guide/src/ci-budgets.md",
    "docs/guide/src/flaky-tests.md",
    "docs/guide/src/past-one-machine.md",
    "docs/guide/src/sandbox.md",
    "docs/guide/src/report.md",
    "docs/guide/src/how-it-is-built.md",
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Where a page's commands run, and as whom.
struct Scratch {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    /// `PATH` for root: the binary under test first.
    path: String,
    /// `PATH` and `HOME` for uid 65534, who cannot read our target dir.
    nobody_path: String,
    nobody_home: PathBuf,
}

impl Scratch {
    fn new() -> Scratch {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::Builder::new()
            .prefix("isolate-guide-")
            .tempdir()
            .unwrap();
        // Canonical, as the paths the tool prints are, so that it shows
        // as `~/cargo-isolate` also under a TMPDIR behind a symlink.
        let dir = tmp.path().canonicalize().unwrap().join("cargo-isolate");
        copy_dir(&fixtures_dir(), &dir.join("fixtures"));
        // One binary for both users, where uid 65534 can read it (not our
        // target dir): a hard link where the file systems allow, else a
        // copy (115 MB a page, a debug build).
        let bin = tmp.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let exe = bin.join("cargo-isolate");
        if std::fs::hard_link(BIN, &exe).is_err() {
            std::fs::copy(BIN, &exe).unwrap();
        }
        // cargo finds `cargo-isolate` on PATH, but puts its own bin dir
        // first unless PATH names it: name it, after ours.
        let cargo_home = std::env::var("CARGO_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap()).join(".cargo"));
        let host_path = std::env::var("PATH").unwrap_or_default();
        let path = format!(
            "{}:{}:{host_path}",
            bin.display(),
            cargo_home.join("bin").display()
        );
        // uid 65534 gets a `cargo` that only knows `isolate` (cargo and its
        // toolchain live under /root, which it cannot read).
        let nobin = tmp.path().join("nobody-bin");
        std::fs::create_dir(&nobin).unwrap();
        std::fs::write(
            nobin.join("cargo"),
            "#!/bin/sh\n[ \"$1\" = isolate ] && exec cargo-isolate \"$@\"\necho 'cargo: only `cargo isolate` is here' >&2; exit 127\n",
        )
        .unwrap();
        for p in [tmp.path(), &bin, &nobin, &nobin.join("cargo")] {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let nobody_home = crate::nobodys_dir(tmp.path(), "home");
        chown_tree(&dir);
        Scratch {
            nobody_path: format!(
                "{}:{}:/usr/local/bin:/usr/bin:/bin",
                nobin.display(),
                bin.display()
            ),
            nobody_home,
            _tmp: tmp,
            dir,
            path,
        }
    }

    /// `command` run by bash in `cwd`: (exit code, output as shown).
    fn run(&self, command: &str, cwd: &Path, as_nobody: bool) -> (i32, Vec<String>) {
        let mut cmd = if as_nobody {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]);
            c.env_clear()
                .env("PATH", &self.nobody_path)
                .env("HOME", &self.nobody_home)
                .env("USER", "nobody");
            c
        } else {
            let mut c = Command::new("env");
            c.env("PATH", &self.path);
            c
        };
        // The reader's terminal, not this test's: no CI system, no host
        // configuration of the tool, no colours.
        for (key, _) in std::env::vars() {
            let ours = [
                "CARGO_ISOLATE",
                "NEXTEST",
                "GITHUB_",
                "GITLAB",
                "CARGO_TARGET_DIR",
            ];
            if ours.iter().any(|p| key.starts_with(p))
                || ["CI", "RUST_BACKTRACE", "RUST_LOG", "CARGO_TERM_COLOR"].contains(&key.as_str())
            {
                cmd.env_remove(key);
            }
        }
        cmd.args(["timeout", "--kill-after=10", "300", "bash", "-c", command])
            .env("NO_COLOR", "1")
            .env("COLUMNS", "100")
            .env("TERM", "dumb")
            .current_dir(cwd)
            .stdin(Stdio::null());
        // One pipe for both streams, so that they interleave as on a terminal.
        let (reader, writer) = std::io::pipe().unwrap();
        cmd.stdout(writer.try_clone().unwrap()).stderr(writer);
        let mut child = cmd.spawn().unwrap();
        drop(cmd);
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::BufReader::new(reader), &mut text)
            .unwrap_or_default();
        let status = child.wait().unwrap();
        let shown = text.replace(self.dir.to_str().unwrap(), SHOWN_AS);
        let code = status.code().unwrap_or(128 + 9);
        (
            code,
            shown.lines().map(|l| l.trim_end().to_string()).collect(),
        )
    }
}

fn chown_tree(dir: &Path) {
    std::os::unix::fs::chown(dir, Some(65534), Some(65534)).unwrap();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            chown_tree(&p);
        } else {
            std::os::unix::fs::chown(&p, Some(65534), Some(65534)).unwrap();
        }
    }
}

/// A step whose output or code drifted: what the page says, what ran.
struct Drift<'a> {
    step: &'a Step,
    code: i32,
    output: Vec<String>,
}

/// Runs every example of `page` (relative to the repository), in order.
fn run_page(page: &str) {
    let stem = Path::new(page).file_stem().unwrap().to_str().unwrap();
    if std::env::var("GUIDE_PAGE").is_ok_and(|p| p != stem) {
        return;
    }
    if !is_root() {
        // The examples show a root's run (limits enforced, cgroup v1 or
        // v2), and the rootless ones switch to uid 65534 with setpriv.
        return skip("the guide's examples run as root");
    }
    let file = root().join(page);
    let text = std::fs::read_to_string(&file).unwrap();
    let blocks = examples::parse(&text).unwrap_or_else(|e| panic!("{page}: {e}"));
    let scratch = Scratch::new();
    let mut cwd = scratch.dir.clone();
    let mut drifts = Vec::new();
    let mut count = 0;
    for block in &blocks {
        match block {
            Block::File { path, text } => {
                let to = cwd.join(path);
                std::fs::create_dir_all(to.parent().unwrap()).unwrap();
                std::fs::write(&to, text).unwrap();
            }
            Block::Console(console) => {
                count += run_console(&scratch, console, &mut cwd, &mut drifts);
            }
        }
    }
    note(&format!("GUIDE-EXAMPLES {page}: {count} commands"));
    if drifts.is_empty() {
        return;
    }
    if std::env::var_os("ISOLATE_BLESS").is_some() {
        bless(&file, &text, &drifts);
        note(&format!("{page}: {} examples rewritten", drifts.len()));
        return;
    }
    let mut msg = String::new();
    for d in &drifts {
        msg.push_str(&format!(
            "\n$ {}\n--- the page says (exit {}):\n{}\n--- it printed (exit {}):\n{}\n",
            d.step.command,
            d.step.code,
            d.step.output.join("\n"),
            d.code,
            d.output.join("\n")
        ));
    }
    panic!(
        "{page}: {} examples drifted (`ISOLATE_BLESS=1 GUIDE_PAGE={stem} cargo test --test integration guide::` rewrites them):{msg}",
        drifts.len()
    );
}

/// Runs a block's commands; how many ran (a `cd` is not one).
fn run_console<'a>(
    scratch: &Scratch,
    console: &'a Console,
    cwd: &mut PathBuf,
    drifts: &mut Vec<Drift<'a>>,
) -> usize {
    let mut ran = 0;
    for step in &console.steps {
        // `cd DIR` alone moves the page, as it would the reader's shell.
        if let Some(to) = step
            .command
            .strip_prefix("cd ")
            .filter(|t| !t.contains(['&', ';', '|']))
        {
            *cwd = cwd.join(to.trim());
            assert!(cwd.is_dir(), "$ {}: no such directory", step.command);
            // Commands run as root: a page never leaves its scratch copy.
            *cwd = cwd.canonicalize().unwrap();
            assert!(
                cwd.starts_with(&scratch.dir),
                "$ {}: outside the page's copy of the repository",
                step.command
            );
            continue;
        }
        ran += 1;
        let (code, output) = scratch.run(&step.command, cwd, console.as_nobody);
        if code != step.code || !examples::output_matches(&step.output, &output, console.any_order)
        {
            drifts.push(Drift { step, code, output });
        }
    }
    ran
}

/// Each drifted step's `?` line and output replaced by what it printed.
fn bless(file: &Path, text: &str, drifts: &[Drift]) {
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let mut sorted: Vec<&Drift> = drifts.iter().collect();
    sorted.sort_by_key(|d| std::cmp::Reverse(d.step.lines.start));
    for d in sorted {
        let indent = &d.step.indent;
        let mut new = Vec::new();
        if d.code != 0 {
            new.push(format!("{indent}? {}", d.code));
        }
        new.extend(
            d.output
                .iter()
                .map(|l| format!("{indent}{l}").trim_end().to_string()),
        );
        lines.splice(d.step.lines.clone(), new);
    }
    std::fs::write(file, lines.join("\n") + "\n").unwrap();
}

#[test]
fn readme() {
    run_page("README.md");
}

#[test]
fn introduction() {
    run_page("docs/guide/src/introduction.md");
}

#[test]
fn getting_started() {
    run_page("docs/guide/src/getting-started.md");
}

#[test]
fn coming_from_nextest() {
    run_page("docs/guide/src/coming-from-nextest.md");
}

#[test]
fn ci_budgets() {
    run_page("docs/guide/src/ci-budgets.md");
}

#[test]
fn flaky_tests() {
    run_page("docs/guide/src/flaky-tests.md");
}

#[test]
fn past_one_machine() {
    run_page("docs/guide/src/past-one-machine.md");
}

#[test]
fn sandbox() {
    run_page("docs/guide/src/sandbox.md");
}

#[test]
fn report() {
    run_page("docs/guide/src/report.md");
}

#[test]
fn how_it_is_built() {
    run_page("docs/guide/src/how-it-is-built.md");
}

/// Markdown files of the guide and the README, relative to the repository.
fn markdown_files() -> Vec<String> {
    let mut files = vec!["README.md".to_string()];
    let mut stack = vec![root().join("docs/guide/src")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "md") {
                files.push(
                    p.strip_prefix(root())
                        .unwrap()
                        .to_str()
                        .unwrap()
                        .to_string(),
                );
            }
        }
    }
    files.sort();
    files
}

/// A page with a `console` block that no test above runs would never be
/// checked: every such page must be in `PAGES`, and every `PAGES` entry
/// must have a test (the test names are the stems).
#[test]
fn every_page_with_examples_is_run() {
    let source = include_str!("guide.rs");
    for file in markdown_files() {
        let text = std::fs::read_to_string(root().join(&file)).unwrap();
        let blocks = examples::parse(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        let has_console = blocks.iter().any(|b| matches!(b, Block::Console(_)));
        if has_console || PAGES.contains(&file.as_str()) {
            assert!(
                PAGES.contains(&file.as_str()),
                "{file} has examples: add it to PAGES in tests/integration/guide.rs, with a test"
            );
            let call = format!("run_page(\"{file}\")");
            assert!(source.contains(&call), "no test calls {call}");
        }
    }
}

/// Every relative link and image of the guide and the README leads to a
/// file, and its `#anchor` to a heading there; a guide page links only
/// inside the book (a file outside `docs/guide/src` is not in the built
/// site: it is shown with `{{#include}}` instead), and every include names
/// a file that exists.
#[test]
fn guide_links_resolve() {
    let mut broken = Vec::new();
    for file in markdown_files() {
        let path = root().join(&file);
        let text = std::fs::read_to_string(&path).unwrap();
        let dir = path.parent().unwrap();
        for target in links_of(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            if let Err(why) = check_link(&file, dir, &target) {
                broken.push(format!("{file}: ({target}) {why}"));
            }
        }
        for inc in text
            .match_indices("{{#include ")
            .map(|(i, _)| &text[i + 11..])
        {
            let rel = inc.split(['}', ':', ' ']).next().unwrap_or("");
            if !dir.join(rel).is_file() {
                broken.push(format!("{file}: {{{{#include {rel}}}}}: no such file"));
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

fn links_of(text: &str) -> Vec<String> {
    use pulldown_cmark::{Event, Parser, Tag};
    Parser::new_ext(text, pulldown_cmark::Options::ENABLE_TABLES)
        .filter_map(|e| match e {
            Event::Start(Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. }) => {
                Some(dest_url.to_string())
            }
            _ => None,
        })
        .collect()
}

fn check_link(file: &str, dir: &Path, target: &str) -> Result<(), String> {
    let (rel, anchor) = target.split_once('#').unwrap_or((target, ""));
    let to = if rel.is_empty() {
        root().join(file)
    } else {
        dir.join(rel)
    };
    let to = to.canonicalize().map_err(|_| "no such file".to_string())?;
    let book = root().join("docs/guide/src").canonicalize().unwrap();
    if file.starts_with("docs/guide/src") && !to.starts_with(&book) {
        return Err("outside the book: it would be a broken link on the site".into());
    }
    if anchor.is_empty() || to.extension().is_none_or(|x| x != "md") {
        return Ok(());
    }
    let text = std::fs::read_to_string(&to).unwrap();
    let ids = heading_ids(&text);
    if ids.iter().any(|id| id == anchor) {
        Ok(())
    } else {
        Err(format!("no heading with the id `{anchor}`"))
    }
}

/// The ids mdBook gives a page's headings: the heading's text lower-cased,
/// spaces to `-`, other punctuation dropped, `-1`, `-2`... on repeats.
fn heading_ids(text: &str) -> Vec<String> {
    use pulldown_cmark::{Event, Parser, Tag, TagEnd};
    let mut ids: Vec<String> = Vec::new();
    let mut current: Option<String> = None;
    for e in Parser::new_ext(text, pulldown_cmark::Options::ENABLE_TABLES) {
        match e {
            Event::Start(Tag::Heading { .. }) => current = Some(String::new()),
            Event::Text(t) | Event::Code(t) if current.is_some() => {
                current.as_mut().unwrap().push_str(&t)
            }
            Event::End(TagEnd::Heading(_)) => {
                let base: String = current
                    .take()
                    .unwrap()
                    .chars()
                    .filter_map(|c| match c {
                        c if c.is_alphanumeric() || c == '_' || c == '-' => {
                            Some(c.to_lowercase().next().unwrap())
                        }
                        c if c.is_whitespace() => Some('-'),
                        _ => None,
                    })
                    .collect();
                let repeats = ids
                    .iter()
                    .filter(|i| {
                        **i == base
                            || i.strip_prefix(&format!("{base}-"))
                                .is_some_and(|n| n.parse::<u32>().is_ok())
                    })
                    .count();
                ids.push(if repeats == 0 {
                    base
                } else {
                    format!("{base}-{repeats}")
                });
            }
            _ => {}
        }
    }
    ids
}

#[test]
fn heading_ids_are_mdbooks() {
    let ids = heading_ids("# Limits and budgets in CI\n## `--memory-max`\n## A, b!\n## A, b\n");
    assert_eq!(
        ids,
        ["limits-and-budgets-in-ci", "--memory-max", "a-b", "a-b-1"]
    );
}
