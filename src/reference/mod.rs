//! The guide's reference pages, made from the code so that they cannot
//! drift: `commands.md` from clap's `Command` (`commands`), `settings.md`
//! from the table of `cli.rs` and the file parser's own key lists
//! (`settings`). A golden test per page keeps the file current
//! (`ISOLATE_BLESS=1` rewrites it), and `check` compares the flags and keys
//! the code accepts with the headings of the pages on disk, without the
//! generators.

mod check;
mod commands;
mod settings;

use std::collections::BTreeSet;

/// Where the pages are, relative to the repository.
const DIR: &str = "docs/guide/src/reference";

/// The page `name` on disk, empty when missing.
fn on_disk(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(DIR)
        .join(name);
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Fails unless the page `name` on disk is `page`; `ISOLATE_BLESS=1`
/// writes it first.
fn golden(name: &str, page: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(DIR)
        .join(name);
    if std::env::var_os("ISOLATE_BLESS").is_some() {
        std::fs::write(&path, page).unwrap();
    }
    assert!(
        on_disk(name) == page,
        "{DIR}/{name} is out of date: run `ISOLATE_BLESS=1 cargo test --bin cargo-isolate reference_page`"
    );
}

/// The id mdBook gives a heading: its text lower-cased, blanks as `-`,
/// everything but letters, digits, `-` and `_` dropped.
fn anchor(text: &str) -> String {
    text.chars()
        .filter_map(|c| match c {
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c.to_ascii_lowercase()),
            c if c.is_whitespace() => Some('-'),
            _ => None,
        })
        .collect()
}

/// The headings of a page and the ids mdBook gives them: a text's first
/// heading its id, a later one `-1`, `-2`... after it, so an id depends
/// only on the headings before it on the generated page.
#[derive(Default)]
struct Headings(BTreeSet<String>);

impl Headings {
    /// `#` × `level` and `text`; and the heading's id.
    fn line(&mut self, level: usize, text: &str) -> (String, String) {
        let natural = anchor(text);
        let mut id = natural.clone();
        let mut n = 0;
        while !self.0.insert(id.clone()) {
            n += 1;
            id = format!("{natural}-{n}");
        }
        (format!("{} {text}\n\n", "#".repeat(level)), id)
    }
}

/// Help text for Markdown: outside code spans, `<` and `*` are shown as
/// they are rather than read as HTML or emphasis.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_code = false;
    for c in text.chars() {
        match c {
            '`' => in_code = !in_code,
            '<' if !in_code => {
                out.push_str("&lt;");
                continue;
            }
            '*' if !in_code => out.push('\\'),
            _ => {}
        }
        out.push(c);
    }
    out
}

/// The doc comment as paragraphs.
fn paragraphs(doc: &[&str]) -> String {
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
    escape(&out)
}

/// `-j, --jobs <N>` as clap's help writes it; `None` for a positional.
fn flag(a: &clap::Arg) -> Option<String> {
    let long = a.get_long()?;
    let mut f = String::new();
    if let Some(s) = a.get_short() {
        f.push_str(&format!("-{s}, "));
    }
    f.push_str(&format!("--{long}"));
    if takes_value(a) {
        f.push(' ');
        f.push_str(&value_names(a));
    }
    Some(f)
}

/// Whether the argument takes a value.
fn takes_value(a: &clap::Arg) -> bool {
    a.get_num_args().is_some_and(|n| n.takes_values()) || a.get_action().takes_values()
}

/// `<N>`, or `<RUN_IGNORED>` where no value name is given (as clap).
fn value_names(a: &clap::Arg) -> String {
    match a.get_value_names() {
        Some(names) => names
            .iter()
            .map(|n| format!("<{n}>"))
            .collect::<Vec<_>>()
            .join(" "),
        None => format!("<{}>", a.get_id().as_str().to_uppercase()),
    }
}
