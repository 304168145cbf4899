//! `commands.md`: every command of `cargo isolate`, walked from clap's
//! `Command` (`Cli::command()`): its about text, its usage line as `-h`
//! prints it, and each argument with its names, value, default, possible
//! values, environment variable and help. A flag that is a setting, on a
//! command that reads the configuration file, links to its key on
//! settings.md.

use super::{Headings, escape, flag, golden, takes_value, value_names};
use crate::cli::{Cli, TestArgs};
use crate::settings::{Row, Scope, rows_of};
use clap::{Arg, ArgAction, Command, CommandFactory};

/// The reference page.
pub fn page() -> String {
    let mut root = Cli::command();
    root.build();
    let commands = commands(&root);
    let rows = rows_of::<TestArgs>();
    let test = commands
        .iter()
        .find(|(p, _)| p == "test")
        .map(|(_, c)| *c)
        .expect("a test command");
    let mut out = head(&root, &commands);
    let mut headings = Headings::default();
    for (path, cmd) in &commands {
        let at = At {
            path,
            cmd,
            test,
            rows: &rows,
        };
        command(&mut out, &mut headings, &at);
    }
    out
}

/// One command being written.
struct At<'a> {
    /// Its words after `cargo isolate`: `report merge`.
    path: &'a str,
    cmd: &'a Command,
    test: &'a Command,
    rows: &'a [Row],
}

/// Every command below the root, each before its own, by its path.
fn commands(root: &Command) -> Vec<(String, &Command)> {
    fn walk<'a>(prefix: &str, cmd: &'a Command, out: &mut Vec<(String, &'a Command)>) {
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            let path = format!("{prefix}{}", sub.get_name());
            out.push((path.clone(), sub));
            walk(&format!("{path} "), sub, out);
        }
    }
    let mut out = Vec::new();
    walk("", root, &mut out);
    out
}

/// The arguments a page shows: all but `-h`, `-V` and hidden ones.
fn shown(cmd: &Command) -> impl Iterator<Item = &Arg> {
    cmd.get_arguments()
        .filter(|a| !a.is_hide_set() && !matches!(a.get_id().as_str(), "help" | "version"))
}

/// Whether `cmd` takes every argument of `test` (and so shows only its own).
fn inherits(cmd: &Command, test: &Command) -> bool {
    cmd.get_name() != test.get_name()
        && shown(test).all(|t| shown(cmd).any(|a| a.get_id() == t.get_id()))
}

/// `Usage: cargo isolate test [OPTIONS] ...`, as `-h` prints it.
fn usage(cmd: &Command) -> String {
    cmd.clone().render_usage().to_string()
}

fn about(cmd: &Command) -> String {
    let text = cmd.get_long_about().or(cmd.get_about());
    sentence(&escape(&text.map(ToString::to_string).unwrap_or_default()))
}

/// `text` ending in a full stop: clap's derive drops the one of a
/// single-paragraph doc comment.
fn sentence(text: &str) -> String {
    let text = text.trim_end();
    match text.ends_with(['.', '!', '?', ':']) || text.is_empty() {
        true => text.to_string(),
        false => format!("{text}."),
    }
}

/// Up to the first full stop, for the table of commands.
fn first_sentence(text: &str) -> &str {
    text.split_once(". ").map_or(text, |(first, _)| first)
}

fn head(root: &Command, commands: &[(String, &Command)]) -> String {
    let mut out = String::from(HEAD);
    out.push_str(&format!(
        "`cargo isolate`: {}\n\n```text\n{}\n```\n\n| Command | What it does |\n| --- | --- |\n",
        about(root),
        usage(root)
    ));
    for (path, cmd) in commands {
        let name = format!("`cargo isolate {path}`");
        let short = cmd.get_about().map(ToString::to_string).unwrap_or_default();
        let link = super::anchor(&name);
        let short = escape(first_sentence(&short));
        out.push_str(&format!("| [{name}](#{link}) | {short} |\n"));
    }
    let after = root.get_after_help().map(ToString::to_string);
    out.push_str(&format!(
        "\nEvery command also takes `-h` (a summary of its help) and `--help` (all of it); \
         `cargo isolate --version` (`-V`) prints the version. {}\n\n",
        after.unwrap_or_default()
    ));
    let reading: Vec<String> = commands
        .iter()
        .filter(|(_, c)| shown(c).any(|a| a.get_id() == "config_file"))
        .map(|(p, _)| format!("`{p}`"))
        .collect();
    out.push_str(&format!(
        "{} read the configuration file: there a flag that is also a key of the file links to \
         it on [Settings](settings.md), and the command line wins over the file.\n\n",
        match reading.split_last() {
            Some((last, [])) => last.clone(),
            Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
            None => "No command".into(),
        }
    ));
    out
}

const HEAD: &str = "# Commands and flags

<!-- Made from clap's definition of the command line, src/cli.rs (src/reference/commands.rs):
     do not edit by hand; `ISOLATE_BLESS=1 cargo test --bin cargo-isolate reference_page`
     rewrites it. -->

";

/// A command's section: its heading, about, usage, and its arguments by
/// their help heading.
fn command(out: &mut String, headings: &mut Headings, at: &At<'_>) {
    let (line, _) = headings.line(2, &format!("`cargo isolate {}`", at.path));
    out.push_str(&line);
    out.push_str(&format!(
        "{}\n\n```text\n{}\n```\n\n",
        about(at.cmd),
        usage(at.cmd)
    ));
    let subs: Vec<String> = at
        .cmd
        .get_subcommands()
        .filter(|s| s.get_name() != "help")
        .map(|s| {
            let name = format!("`cargo isolate {} {}`", at.path, s.get_name());
            format!("[{name}](#{})", super::anchor(&name))
        })
        .collect();
    if !subs.is_empty() {
        out.push_str(&format!("Its commands: {}.\n\n", subs.join(", ")));
    }
    let own: Vec<&Arg> = match inherits(at.cmd, at.test) {
        true => shown(at.cmd)
            .filter(|a| !shown(at.test).any(|t| t.get_id() == a.get_id()))
            .collect(),
        false => shown(at.cmd).collect(),
    };
    if inherits(at.cmd, at.test) {
        out.push_str(INHERITS);
        out.push_str(match own.is_empty() {
            true => ", and no other.\n\n",
            false => "; below are only its own.\n\n",
        });
    }
    for (group, args) in groups(&own) {
        out.push_str(&headings.line(3, &group).0);
        for a in args {
            argument(out, headings, at, a);
        }
    }
}

/// What a command that takes all of `test`'s arguments says.
const INHERITS: &str =
    "Takes every flag and argument of [`cargo isolate test`](#cargo-isolate-test)";

/// The arguments by help heading, in order of first use as `-h` shows
/// them: the positional ones first (`Arguments`), then `Options`.
fn groups<'a>(args: &[&'a Arg]) -> Vec<(String, Vec<&'a Arg>)> {
    let mut out: Vec<(String, Vec<&Arg>)> = Vec::new();
    let positional = args.iter().filter(|a| a.is_positional());
    let options = args.iter().filter(|a| !a.is_positional());
    for a in positional.chain(options) {
        let group = match (a.is_positional(), a.get_help_heading()) {
            (true, _) => "Arguments",
            (false, Some(h)) => h,
            (false, None) => "Options",
        };
        match out.iter_mut().find(|(g, _)| g == group) {
            Some((_, list)) => list.push(a),
            None => out.push((group.to_string(), vec![a])),
        }
    }
    out
}

/// The heading's text of an argument: `--jobs` or `<TESTNAME>`.
fn name(a: &Arg) -> String {
    match a.get_long() {
        Some(l) => format!("--{l}"),
        None => value_names(a),
    }
}

/// An argument's section, and one per visible alias.
fn argument(out: &mut String, headings: &mut Headings, at: &At<'_>, a: &Arg) {
    let (line, id) = headings.line(4, &format!("`{}`", name(a)));
    out.push_str(&line);
    out.push_str(&format!("`{}`\n\n", signature(a)));
    let help = a.get_long_help().or(a.get_help());
    if let Some(h) = help {
        out.push_str(&format!("{}\n\n", sentence(&escape(&h.to_string()))));
    }
    let facts = facts(at, a);
    for f in &facts {
        out.push_str(&format!("- {f}\n"));
    }
    if !facts.is_empty() {
        out.push('\n');
    }
    for alias in a.get_visible_aliases().unwrap_or_default() {
        let alias = format!("--{alias}");
        out.push_str(&headings.line(4, &format!("`{alias}`")).0);
        out.push_str(&format!("Another name for [`{}`](#{id}).\n\n", name(a)));
    }
}

/// `-j, --jobs <N>`, `[TESTNAME]...`, `-- <TEST-BINARY-ARGS>...`.
fn signature(a: &Arg) -> String {
    if let Some(f) = flag(a) {
        return f;
    }
    let many = a.get_num_args().is_some_and(|n| n.max_values() > 1);
    let dots = if many { "..." } else { "" };
    let names = value_names(a);
    match (a.is_last_set(), a.is_required_set()) {
        (true, _) => format!("-- {names}{dots}"),
        (false, true) => format!("{names}{dots}"),
        (false, false) => format!("[{}]{dots}", names.trim_matches(['<', '>'])),
    }
}

/// The list under an argument: default, values, environment, whether it
/// repeats or is required, the setting it is.
fn facts(at: &At<'_>, a: &Arg) -> Vec<String> {
    let mut facts = Vec::new();
    if takes_value(a) {
        let defaults: Vec<String> = a
            .get_default_values()
            .iter()
            .map(|d| format!("`{}`", d.to_string_lossy()))
            .collect();
        if !defaults.is_empty() {
            facts.push(format!("default: {}", defaults.join(" ")));
        }
        let values = possible_values(a);
        let described = values.iter().any(|v| v.contains(':'));
        if described {
            facts.push(format!("values:\n  - {}", values.join("\n  - ")));
        } else if !values.is_empty() {
            facts.push(format!("values: {}", values.join(", ")));
        }
    }
    if let Some(e) = a.get_env() {
        facts.push(format!("environment: `{}`", e.to_string_lossy()));
    }
    let help = a.get_help().map(ToString::to_string).unwrap_or_default();
    if matches!(a.get_action(), ArgAction::Append)
        && !a.is_positional()
        && !help.contains("repeatable")
    {
        facts.push("repeatable".into());
    }
    if a.is_required_set() {
        facts.push("required".into());
    }
    facts.extend(setting(at, a));
    facts
}

/// `` `fail` (Exit 4.) ``, each value the argument takes by name.
fn possible_values(a: &Arg) -> Vec<String> {
    a.get_possible_values()
        .iter()
        .filter(|p| !p.is_hide_set())
        .map(|p| match p.get_help() {
            Some(h) => format!("`{}`: {}", p.get_name(), sentence(&escape(&h.to_string()))),
            None => format!("`{}`", p.get_name()),
        })
        .collect()
}

/// The setting a flag is, where the command reads the configuration:
/// a link to its key, or that it is a flag only that a replay carries.
fn setting(at: &At<'_>, a: &Arg) -> Option<String> {
    let reads_config = shown(at.cmd).any(|x| x.get_id() == "config_file");
    let of_test = shown(at.test).any(|t| t.get_id() == a.get_id());
    let row = at.rows.iter().find(|r| r.field == a.get_id())?;
    if !reads_config || !of_test {
        return None;
    }
    match row.scope {
        Scope::Cli if row.replayed => Some("a replay command carries it".into()),
        Scope::Cli => None,
        _ => Some(format!(
            "setting: [`{k}`](settings.md#{k}), a key of the configuration file",
            k = row.key()
        )),
    }
}

#[cfg(test)]
mod tests {
    /// commands.md is what clap's definition makes now.
    #[test]
    fn reference_page_commands_is_current() {
        super::golden("commands.md", &super::page());
    }
}
