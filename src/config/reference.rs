//! `docs/settings.md`, made from the table: each setting's key, flag,
//! environment variable, default, scope, how it layers and its help, as
//! clap and the table's rows say them. A unit test keeps the file
//! current (`ISOLATE_BLESS=1` rewrites it).

use crate::cli::TestArgs;
use crate::settings::{Row, Scope, rows_of};
use clap::Args;

/// The reference page.
pub fn page() -> String {
    let cmd = TestArgs::augment_args(clap::Command::new("test"));
    let mut out = String::from(HEAD);
    for row in rows_of::<TestArgs>() {
        let arg = cmd.get_arguments().find(|a| a.get_id() == row.field);
        section(&mut out, &row, arg);
    }
    out
}

const HEAD: &str = "# Settings

<!-- Made from the table in src/cli.rs (`config::reference`): do not edit by hand;
     `ISOLATE_BLESS=1 cargo test --bin cargo-isolate reference_page` rewrites it. -->

Every setting of `cargo isolate test` is a key of a profile in `.config/isolate.toml`
(`[profile.<name>]`), spelled as its flag without the dashes, and most are flags too.
Per setting, the first of these that sets it wins:

1. the command line, or the flag's environment variable;
2. for a per-test setting, the first `[[profile.<name>.overrides]]` whose filter matches
   the test and that sets it (the chosen profile's overrides, then the default profile's);
3. the chosen profile (`--profile`);
4. `[profile.default]`;
5. the flag's default.

A *group* of settings is set whole by the first layer that sets any key of it. A replay
command (printed under each failure) carries the settings marked so, with the test's own
values.

";

fn section(out: &mut String, row: &Row, arg: Option<&clap::Arg>) {
    out.push_str(&format!("## `{}`\n\n", row.key()));
    let mut facts = Vec::new();
    match arg.and_then(flag) {
        Some(f) => facts.push(format!("flag: {f}")),
        None if row.scope == Scope::Cli => {}
        None => facts.push("flag: none (the file only)".into()),
    }
    if row.has_key() {
        let alias = row
            .alias
            .map(|a| format!(", also spelled `{a}`"))
            .unwrap_or_default();
        facts.push(format!("file: {}{alias}", row.file_type));
    } else {
        facts.push("file: none (a flag only)".into());
    }
    facts.push(
        match row.scope {
            Scope::Run => "scope: the run (a profile)",
            Scope::Test => "scope: per test (a profile or an override)",
            Scope::Extra => "scope: the run (a profile), and per test what an override adds to it",
            Scope::Cli => "scope: the run (the command line only)",
        }
        .into(),
    );
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
    if row.has_key() {
        facts.push(format!("layers: {}", row.merge));
    }
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
    for f in facts {
        out.push_str(&format!("- {f}\n"));
    }
    out.push('\n');
    out.push_str(&help(&row.doc));
    out.push_str("\n\n");
}

/// `` `-j, --jobs <N>` ``, its aliases after.
fn flag(a: &clap::Arg) -> Option<String> {
    let long = a.get_long()?;
    let mut f = String::new();
    if let Some(s) = a.get_short() {
        f.push_str(&format!("-{s}, "));
    }
    f.push_str(&format!("--{long}"));
    let takes_value =
        a.get_num_args().is_some_and(|n| n.takes_values()) || a.get_action().takes_values();
    if takes_value && let Some(names) = a.get_value_names() {
        for n in names {
            f.push_str(&format!(" <{n}>"));
        }
    } else if takes_value {
        f.push_str(&format!(" <{}>", a.get_id().as_str().to_uppercase()));
    }
    let mut shown = format!("`{f}`");
    for al in a.get_visible_aliases().unwrap_or_default() {
        shown.push_str(&format!(" (also `--{al}`)"));
    }
    Some(shown)
}

/// The doc comment as paragraphs.
fn help(doc: &[&str]) -> String {
    let mut out = String::new();
    for line in doc {
        let line = line.strip_prefix(' ').unwrap_or(line);
        if line.is_empty() {
            out.push_str("\n\n");
        } else {
            if !out.is_empty() && !out.ends_with('\n') {
                out.push(' ');
            }
            out.push_str(line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    /// docs/settings.md is what the table makes now.
    #[test]
    fn reference_page_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/settings.md");
        let page = super::page();
        if std::env::var_os("ISOLATE_BLESS").is_some() {
            std::fs::write(&path, &page).unwrap();
        }
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            on_disk == page,
            "docs/settings.md is out of date: run `ISOLATE_BLESS=1 cargo test --bin cargo-isolate reference_page`"
        );
    }
}
