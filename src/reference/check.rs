//! The reference pages against the code, both ways, without the
//! generators: every long flag (and visible alias) and positional argument
//! of every command as clap has them, and every key the file's parser
//! accepts, against the headings of commands.md and settings.md on disk.
//! A command that takes all of `test`'s arguments (and says so) names only
//! its own.

use crate::cli::{Cli, TestArgs};
use crate::config::FileKeys;
use clap::CommandFactory;
use std::collections::{BTreeMap, BTreeSet};

/// Per command (its words after `cargo isolate`), the names of its
/// arguments: `--jobs`, `--test-threads`, `<TESTNAME>`.
type Names = BTreeMap<String, BTreeSet<String>>;

/// What the pages say a command that takes all of `test`'s begins with.
const INHERITS: &str = "Takes every flag and argument of [`cargo isolate test`]";

/// The names of a command's arguments, as clap has them (not `-h`, `-V`).
fn names_of(cmd: &clap::Command) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let args = cmd.get_arguments().filter(|a| !a.is_hide_set());
    for a in args.filter(|a| !matches!(a.get_id().as_str(), "help" | "version")) {
        match a.get_long() {
            Some(long) => {
                out.insert(format!("--{long}"));
                let aliases = a.get_visible_aliases().unwrap_or_default();
                out.extend(aliases.iter().map(|al| format!("--{al}")));
            }
            None => {
                let id = a.get_id().as_str().to_uppercase();
                let name = a.get_value_names().map(|n| n[0].to_string());
                out.insert(format!("<{}>", name.unwrap_or(id)));
            }
        }
    }
    out
}

/// Every command's argument names, those of `test` left out where a
/// command has them all; and which commands have them all.
fn code_arguments() -> (Names, BTreeSet<String>) {
    fn walk(prefix: &str, cmd: &clap::Command, out: &mut Names) {
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            let path = format!("{prefix}{}", sub.get_name());
            out.insert(path.clone(), names_of(sub));
            walk(&format!("{path} "), sub, out);
        }
    }
    let mut all = Names::new();
    walk("", &Cli::command(), &mut all);
    let test = all["test"].clone();
    let mut inherit = BTreeSet::new();
    for (path, names) in all.iter_mut() {
        if path != "test" && names.is_superset(&test) {
            names.retain(|n| !test.contains(n));
            inherit.insert(path.clone());
        }
    }
    (all, inherit)
}

/// A heading's level and text, its `{#id}` left out; `None` for any
/// other line.
fn heading(line: &str) -> Option<(usize, &str)> {
    let level = line.chars().take_while(|&c| c == '#').count();
    let text = line.get(level..)?.strip_prefix(' ')?;
    let text = match text.rfind(" {#") {
        Some(at) if text.ends_with('}') => &text[..at],
        _ => text,
    };
    (level > 0).then_some((level, text.trim()))
}

/// The text of a heading that is one code span.
fn code_span(text: &str) -> Option<&str> {
    let inner = text.strip_prefix('`')?.strip_suffix('`')?;
    (!inner.contains('`')).then_some(inner)
}

/// What commands.md names: per `## \`cargo isolate X\``, the arguments
/// in the headings below it, and the commands that say they take
/// `test`'s.
fn page_arguments(page: &str) -> (Names, BTreeSet<String>) {
    let (mut all, mut inherit) = (Names::new(), BTreeSet::new());
    let mut current: Option<String> = None;
    let mut fenced = false;
    for line in page.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
        }
        if fenced {
            continue;
        }
        if line.starts_with(INHERITS)
            && let Some(c) = &current
        {
            inherit.insert(c.clone());
        }
        let Some((level, text)) = heading(line) else {
            continue;
        };
        let span = code_span(text);
        if let Some(path) = span.and_then(|s| s.strip_prefix("cargo isolate ")) {
            current = (level == 2).then(|| path.to_string());
            all.entry(path.to_string()).or_default();
        } else if let (Some(name), Some(c)) = (span, &current)
            && (name.starts_with('-') || name.starts_with('<'))
        {
            all.entry(c.clone()).or_default().insert(name.to_string());
        }
    }
    (all, inherit)
}

/// Every key the file's parser accepts: its tables' keys, every
/// setting's key and alias, and the keys of a setting's table form.
fn code_keys() -> BTreeSet<String> {
    let k = FileKeys::get();
    let lists = [k.top, k.profile, k.overrides, k.test_group];
    let mut out: BTreeSet<String> = lists
        .iter()
        .flat_map(|l| l.iter())
        .map(|s| s.to_string())
        .collect();
    for row in crate::settings::rows_of::<TestArgs>() {
        out.extend(row.sub_keys.iter().map(|(k, _)| k.to_string()));
    }
    out
}

/// What settings.md names: every heading that is one code span.
fn page_keys(page: &str) -> BTreeSet<String> {
    let mut fenced = false;
    let mut out = BTreeSet::new();
    for line in page.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
        }
        let span = heading(line).and_then(|(_, t)| code_span(t));
        if let (false, Some(key)) = (fenced, span) {
            out.insert(key.to_string());
        }
    }
    out
}

/// What one side has and the other lacks, said both ways.
fn differ(what: &str, code: &BTreeSet<String>, page: &BTreeSet<String>, out: &mut Vec<String>) {
    let missing: Vec<&String> = code.difference(page).collect();
    let extra: Vec<&String> = page.difference(code).collect();
    if !missing.is_empty() {
        out.push(format!("{what}: in the code, not on the page: {missing:?}"));
    }
    if !extra.is_empty() {
        out.push(format!("{what}: on the page, not in the code: {extra:?}"));
    }
}

/// Every disagreement between the code and the two pages.
fn disagreements(commands_md: &str, settings_md: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (code, code_inherit) = code_arguments();
    let (page, page_inherit) = page_arguments(commands_md);
    let paths = |n: &Names| n.keys().cloned().collect::<BTreeSet<String>>();
    differ(
        "commands.md, commands",
        &paths(&code),
        &paths(&page),
        &mut out,
    );
    differ(
        "commands.md, taking test's flags",
        &code_inherit,
        &page_inherit,
        &mut out,
    );
    let none = BTreeSet::new();
    for path in paths(&code).union(&paths(&page)) {
        let (c, p) = (
            code.get(path).unwrap_or(&none),
            page.get(path).unwrap_or(&none),
        );
        differ(
            &format!("commands.md, cargo isolate {path}"),
            c,
            p,
            &mut out,
        );
    }
    differ(
        "settings.md, keys",
        &code_keys(),
        &page_keys(settings_md),
        &mut out,
    );
    out
}

#[test]
fn the_pages_name_every_flag_and_key_and_no_other() {
    let wrong = disagreements(
        &super::on_disk("commands.md"),
        &super::on_disk("settings.md"),
    );
    assert!(
        wrong.is_empty(),
        "the reference pages and the code disagree (run `ISOLATE_BLESS=1 cargo test --bin cargo-isolate reference_page`, and give a new key of the file its words in src/reference/settings.rs):\n{}",
        wrong.join("\n")
    );
}

/// A heading taken away, and one added, on each page: each is named.
#[test]
fn the_two_way_check_can_fail() {
    let commands = super::on_disk("commands.md")
        .replacen("#### `--memory-max`\n", "", 1)
        .replacen(
            "## `cargo isolate run`\n",
            "## `cargo isolate run`\n\n#### `--no-such-flag`\n",
            1,
        );
    let settings = super::on_disk("settings.md")
        .replacen("## `max-threads`\n", "", 1)
        .replacen("## `filter`\n", "## `filter`\n\n### `no-such-key`\n", 1);
    let wrong = disagreements(&commands, &settings).join("\n");
    for said in [
        r#"cargo isolate test: in the code, not on the page: ["--memory-max"]"#,
        r#"cargo isolate run: on the page, not in the code: ["--no-such-flag"]"#,
        r#"settings.md, keys: in the code, not on the page: ["max-threads"]"#,
        r#"settings.md, keys: on the page, not in the code: ["no-such-key"]"#,
    ] {
        assert!(wrong.contains(said), "{said} not in:\n{wrong}");
    }
    let no_inherit = super::on_disk("commands.md").replacen(INHERITS, "Takes", 1);
    let wrong = disagreements(&no_inherit, &super::on_disk("settings.md")).join("\n");
    assert!(
        wrong.contains(r#"taking test's flags: in the code, not on the page: ["list"]"#),
        "{wrong}"
    );
}
