//! `settings.md`: every key of the configuration file. The settings come
//! from the table of `cli.rs` (each one's key, flag, environment variable,
//! default, scope, how it layers and its help, as clap and the rows say
//! them); the file's other keys (`profile`, `overrides`, `filter`,
//! `test-groups`, `max-threads`) from the parser's own lists
//! ([`FileKeys`]), with the words of [`TABLE_KEYS`].

use super::{Headings, flag, golden, paragraphs};
use crate::cli::TestArgs;
use crate::config::FileKeys;
use crate::settings::{Row, Scope, rows_of};
use clap::Args;

/// The reference page.
pub fn page() -> String {
    let cmd = TestArgs::augment_args(clap::Command::new("test"));
    let rows = rows_of::<TestArgs>();
    let mut out = String::from(HEAD);
    let mut headings = Headings::default();
    out.push_str(EXAMPLE_INTRO);
    out.push_str(&format!("```toml\n{EXAMPLE}```\n\n"));
    for (key, text) in table_keys(&rows) {
        out.push_str(&headings.line(2, &format!("`{key}`")).0);
        out.push_str(text);
        out.push_str("\n\n");
    }
    for row in rows.iter().filter(|r| r.has_key()) {
        let arg = cmd.get_arguments().find(|a| a.get_id() == row.field);
        section(&mut out, &mut headings, row, arg);
    }
    for row in rows.iter().filter(|r| r.alias.is_some()) {
        let (alias, key) = (row.alias.unwrap_or_default(), row.key());
        out.push_str(&headings.line(2, &format!("`{alias}`")).0);
        out.push_str(&format!("Another spelling of [`{key}`](#{key}).\n\n"));
    }
    out
}

const HEAD: &str = "# Settings

<!-- Made from the table in src/cli.rs and the file's parser (src/reference/settings.rs):
     do not edit by hand; `ISOLATE_BLESS=1 cargo test --bin cargo-isolate reference_page`
     rewrites it. -->

Every setting of `cargo isolate test` is a key of a profile in `.config/isolate.toml`
(`[profile.<name>]`), spelled as its flag without the dashes, and most are flags too
(see [Commands and flags](commands.md)). The file is looked for in the workspace's root;
`--config-file PATH` names another. `test`, `list`, `show-config` and `hunt` read it;
`cargo isolate show-config` shows what each setting comes to and where it came from.
Per setting, the first of these that sets it wins:

1. the command line, or the flag's environment variable;
2. for a per-test setting, the first `[[profile.<name>.overrides]]` whose filter matches
   the test and that sets it (the chosen profile's overrides, then the default profile's);
3. the chosen profile (`--profile`);
4. `[profile.default]`;
5. the flag's default.

A *group* of settings is set whole by the first layer that sets any key of it. A replay
command (printed under each failure) carries the settings marked so, with the test's own
values. A key the parser does not know is an error at its line, as is a value its flag
would refuse.

";

const EXAMPLE_INTRO: &str = "## The file

Its tables, and a few keys of each:

";

/// A file that uses every table (a unit test parses it).
const EXAMPLE: &str = r#"[profile.default]
memory-max = "512M"
timeout = "2m"

[[profile.default.overrides]]
filter = "test(/^db::/)"
test-group = "database"
memory-max = "1G"

[profile.ci]
retries = 2
junit = "target/isolate/junit.xml"

[test-groups.database]
max-threads = 1
"#;

/// The words for the file's keys that are not settings, by key: a key the
/// parser accepts with no words here fails the page's test.
const TABLE_KEYS: &[(&str, &str)] = &[
    (
        "profile",
        "`[profile.<name>]`: a profile, a table of the settings below. `[profile.default]` \
         is used by every run; another profile, chosen with `--profile NAME` (or \
         `CARGO_ISOLATE_PROFILE`), is layered over it setting by setting. Asking for a \
         profile the file does not have is an error.",
    ),
    (
        "overrides",
        "`[[profile.<name>.overrides]]`: an array of tables, each a [`filter`](#filter) and \
         per-test settings for the tests it matches (the settings whose scope says \
         \"per test\"). For each setting a test gets the value of the first override that \
         matches it and sets it: the chosen profile's overrides in the order written, then \
         the default profile's.",
    ),
    (
        "filter",
        "An override's filterset expression (as `-E`, e.g. `\"test(/slow/) & package(app)\"`): \
         the tests it applies to. Required in every override; an invalid one is an error at \
         its place.",
    ),
    (
        "test-groups",
        "`[test-groups.<name>]`, at the top of the file: a test group, named with letters, \
         digits, `-` and `_`, that overrides put tests in with [`test-group`](#test-group). \
         An archive's own file may define them.",
    ),
    (
        "max-threads",
        "The most tests of the group that run at once (an integer, at least 1), within `-j`. \
         Required in each `[test-groups.<name>]`.",
    ),
];

/// The file's keys that are not settings, in the parser's order: its top
/// level, then what a profile, an override and a test group hold beside
/// the settings, each with its words.
fn table_keys(rows: &[Row]) -> Vec<(&'static str, &'static str)> {
    let keys = FileKeys::get();
    let is_row = |k: &str| rows.iter().any(|r| r.key() == k || r.alias == Some(k));
    let mut order: Vec<&str> = Vec::new();
    for top in keys.top {
        order.push(*top);
        let inside: &[&[&str]] = match *top {
            "profile" => &[keys.profile, keys.overrides],
            "test-groups" => &[keys.test_group],
            _ => &[],
        };
        let own = inside.iter().flat_map(|l| l.iter()).filter(|k| !is_row(k));
        order.extend(own.copied());
    }
    let mut out: Vec<(&'static str, &'static str)> = Vec::new();
    for key in order {
        let Some((k, text)) = TABLE_KEYS.iter().find(|(k, _)| *k == key) else {
            panic!(
                "the file's key `{key}` has no words: add it to TABLE_KEYS in src/reference/settings.rs"
            );
        };
        if !out.iter().any(|(o, _)| o == k) {
            out.push((k, text));
        }
    }
    out
}

fn section(out: &mut String, headings: &mut Headings, row: &Row, arg: Option<&clap::Arg>) {
    out.push_str(&headings.line(2, &format!("`{}`", row.key())).0);
    for f in facts(row, arg) {
        out.push_str(&format!("- {f}\n"));
    }
    out.push('\n');
    out.push_str(&paragraphs(&row.doc));
    out.push_str("\n\n");
    for (key, text) in row.sub_keys {
        out.push_str(&headings.line(3, &format!("`{key}`")).0);
        out.push_str(&format!("In the table form of `{}`. {text}\n\n", row.key()));
    }
}

/// The list under a setting's heading.
fn facts(row: &Row, arg: Option<&clap::Arg>) -> Vec<String> {
    let mut facts = Vec::new();
    match arg.and_then(flag) {
        Some(f) => facts.push(format!(
            "flag: [`{}`](commands.md#--{}){}",
            f,
            arg.and_then(|a| a.get_long()).unwrap_or_default(),
            aliases(arg)
        )),
        None => facts.push("flag: none (the file only)".into()),
    }
    let alias = row
        .alias
        .map(|a| format!(", also spelled [`{a}`](#{a})"))
        .unwrap_or_default();
    facts.push(format!("file: {}{alias}", row.file_type));
    facts.push(scope(row.scope).into());
    let env = arg
        .and_then(|a| a.get_env())
        .map(|e| e.to_string_lossy().into_owned())
        .or(row.given_by_env.map(String::from));
    if let Some(e) = env {
        facts.push(format!(
            "environment: `{e}`, which counts as the flag given"
        ));
    }
    let defaults: Vec<String> = arg
        .map(|a| {
            a.get_default_values()
                .iter()
                .map(|d| d.to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    if !defaults.is_empty() {
        facts.push(format!("default: `{}`", defaults.join(" ")));
    }
    facts.push(format!("layers: {}", row.merge));
    if let Some(g) = row.group {
        facts.push(format!("group: {g}"));
    }
    let mut notes = Vec::new();
    if row.archive {
        notes.push("an archive's own configuration may set it");
    }
    if row.replayed {
        notes.push("a replay carries it");
    }
    if !notes.is_empty() {
        facts.push(notes.join("; "));
    }
    facts
}

/// ` (also `--test-threads`)` for a flag's visible aliases.
fn aliases(arg: Option<&clap::Arg>) -> String {
    let all = arg
        .and_then(|a| a.get_visible_aliases())
        .unwrap_or_default();
    all.iter().map(|al| format!(" (also `--{al}`)")).collect()
}

fn scope(s: Scope) -> &'static str {
    match s {
        Scope::Run => "scope: the run (a profile)",
        Scope::Test => "scope: per test (a profile or an override)",
        Scope::Extra => "scope: the run (a profile), and per test what an override adds to it",
        Scope::Cli => "scope: the run (the command line only)",
    }
}

#[cfg(test)]
mod tests {
    /// settings.md is what the table and the parser make now.
    #[test]
    fn reference_page_settings_is_current() {
        super::golden("settings.md", &super::page());
    }

    /// The page's example is a file the parser takes.
    #[test]
    fn the_example_parses() {
        let base = crate::config::Base {
            dir: std::path::PathBuf::from("/w"),
            what: "the workspace",
        };
        let path = std::path::Path::new("isolate.toml");
        for profile in ["default", "ci"] {
            let parsed = crate::config::parse(super::EXAMPLE, path, profile, &base);
            assert!(parsed.is_ok(), "{:?}", parsed.err());
        }
    }
}
