//! `cargo isolate show-config`: the configuration a run with the same
//! flags would use, setting by setting, with where each value came from
//! (command line, environment, a profile, the default), then the
//! overrides in the order they are tried and the test groups. Everything
//! is derived from the settings table (`crate::settings`), so a new
//! setting shows up here with no code of its own.

use crate::cli::{Explicit, MessageFormat, TestArgs};
use crate::config::{self, Config};
use crate::error::{EXIT_OK, Error};
use crate::report::escape::for_terminal_line;
use crate::settings::{Explained, Settings as _, Source};
use serde_json::json;

/// What the configuration says, for these flags.
pub struct Shown {
    pub file: Option<String>,
    pub profile: String,
    pub settings: Vec<Explained>,
    pub overrides: Vec<ShownOverride>,
    pub test_groups: Vec<(String, usize)>,
}

/// An override: where it is written, its filter, what it sets (`key`,
/// value as its flag writes it).
pub type ShownOverride = (String, String, Vec<(String, String)>);

pub fn run(cli_args: &TestArgs, explicit: &Explicit) -> Result<u8, Error> {
    if cli_args.archive_file.is_some() {
        return Err(Error::Usage(
            "show-config reads the workspace's configuration, not an archive's: run it in the workspace the archive was made from, or unpack the archive and pass --config-file DIR/workspace/.config/isolate.toml".into(),
        ));
    }
    let config = config::load_for(cli_args, None)?;
    let shown = explain(&config, cli_args, explicit);
    match cli_args.message_format {
        MessageFormat::Json => println!("{}", to_json(&shown)),
        MessageFormat::Human => print!("{}", human(&shown)),
    }
    Ok(EXIT_OK)
}

/// The run's settings as `config` and `explicit` make them.
pub fn explain(config: &Config, cli_args: &TestArgs, explicit: &Explicit) -> Shown {
    let args = config.apply(cli_args, explicit);
    let layers: Vec<(&str, &config::RunSettings)> =
        config.layers.iter().map(|(n, l)| (n.as_str(), l)).collect();
    let mut settings = Vec::new();
    args.explain(&layers, explicit, &mut settings);
    let overrides = config
        .overrides
        .iter()
        .map(|o| {
            let mut sets = Vec::new();
            TestArgs::explain_test(&o.settings, &mut sets);
            (o.layer.clone(), o.filter.source().to_string(), sets)
        })
        .collect();
    Shown {
        file: config.source.as_ref().map(|p| p.display().to_string()),
        profile: config.profile.clone(),
        settings,
        overrides,
        test_groups: config
            .test_groups
            .iter()
            .map(|(n, m)| (n.clone(), *m))
            .collect(),
    }
}

fn sources_text(sources: &[Source]) -> String {
    let words: Vec<String> = sources.iter().map(Source::to_string).collect();
    words.join(" + ")
}

/// Settings set by something come first; those at their defaults after.
pub fn human(s: &Shown) -> String {
    let mut out = match &s.file {
        Some(f) => format!(
            "configuration: {} (profile {})\n",
            for_terminal_line(f),
            for_terminal_line(&s.profile)
        ),
        None => "configuration: no file (built-in defaults)\n".to_string(),
    };
    let (set, default): (Vec<&Explained>, Vec<&Explained>) = s
        .settings
        .iter()
        .partition(|e| e.sources != [Source::Default]);
    let width = s.settings.iter().map(|e| e.key.len()).max().unwrap_or(0);
    let row = |e: &Explained, from: bool| {
        let value = e.value.as_deref().unwrap_or("(not set)");
        let mut line = format!("  {:width$}  {}", e.key, for_terminal_line(value));
        if from {
            line += &format!("  [{}]", sources_text(&e.sources));
        }
        line + "\n"
    };
    out += "\nset by the command line, the environment or the file:\n";
    if set.is_empty() {
        out += "  (nothing)\n";
    }
    for e in set {
        out += &row(e, true);
    }
    out += "\nat their defaults:\n";
    for e in default {
        out += &row(e, false);
    }
    out += "\noverrides, in the order they are tried (per setting, the first matching one that sets it wins):\n";
    if s.overrides.is_empty() {
        out += "  (none)\n";
    }
    for (i, (layer, filter, sets)) in s.overrides.iter().enumerate() {
        out += &format!(
            "  {}. {layer}: filter = {}\n",
            i + 1,
            for_terminal_line(filter)
        );
        for (k, v) in sets {
            out += &format!("       {k} = {}\n", for_terminal_line(v));
        }
    }
    out += "\ntest groups:\n";
    if s.test_groups.is_empty() {
        out += "  (none)\n";
    }
    for (name, max) in &s.test_groups {
        out += &format!("  {} max-threads = {max}\n", for_terminal_line(name));
    }
    out
}

pub fn to_json(s: &Shown) -> serde_json::Value {
    json!({
        "config-file": s.file,
        "profile": s.profile,
        "settings": s.settings,
        "overrides": s.overrides.iter().map(|(layer, filter, sets)| json!({
            "profile": layer,
            "filter": filter,
            "settings": sets.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
        })).collect::<Vec<_>>(),
        "test-groups": s.test_groups.iter().map(|(n, m)| (n.clone(), json!({"max-threads": m}))).collect::<serde_json::Map<_, _>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Base, ConfigError};
    use std::path::{Path, PathBuf};

    fn load(text: &str, profile: &str) -> Result<Config, ConfigError> {
        let base = Base {
            dir: PathBuf::from("/"),
            what: "the workspace",
        };
        crate::config::parse(text, Path::new(".config/isolate.toml"), profile, &base)
    }

    /// `cargo isolate test ARGS` as parsed, and which flags were given.
    fn typed(args: &[&str]) -> (TestArgs, Explicit) {
        use clap::{CommandFactory, FromArgMatches};
        let argv = ["cargo-isolate", "test"].iter().chain(args);
        let matches = crate::cli::Cli::command()
            .try_get_matches_from(argv)
            .unwrap();
        let explicit = Explicit::of(&matches);
        match crate::cli::Cli::from_arg_matches(&matches).unwrap().command {
            crate::cli::Command::Test(t) => (*t, explicit),
            _ => unreachable!("a test command"),
        }
    }

    #[test]
    fn show_config_names_the_layer_each_value_came_from() {
        use crate::settings::Source;
        let text = r#"
    [profile.default]
    memory-max = "256M"
    env = { A = "1" }

    [profile.ci]
    retries = 2
    stress-count = 3

    [[profile.ci.overrides]]
    filter = "test(/slow/)"
    timeout = "5m"
    "#;
        let c = load(text, "ci").unwrap();
        let (args, explicit) = typed(&["--env", "B=2", "--cpus", "0.5"]);
        let shown = explain(&c, &args, &explicit);
        let of = |key: &str| {
            let e = shown.settings.iter().find(|e| e.key == key).unwrap();
            (e.value.clone(), e.sources.clone())
        };
        let profile = |p: &str| Source::Profile(p.to_string());
        assert_eq!(
            of("memory-max"),
            (Some("256M".into()), vec![profile("profile.default")])
        );
        assert_eq!(
            of("retries"),
            (Some("2".into()), vec![profile("profile.ci")])
        );
        assert_eq!(of("cpus"), (Some("0.5".into()), vec![Source::CommandLine]));
        assert_eq!(
            of("env"),
            (
                Some("[A=1, B=2]".into()),
                vec![Source::CommandLine, profile("profile.default")]
            ),
            "a list has the command line's and the file's"
        );
        // The stress group is the chosen profile's, whole.
        assert_eq!(of("stress-duration"), (None, vec![profile("profile.ci")]));
        assert_eq!(
            of("no-capture"),
            (Some("false".into()), vec![Source::Default])
        );
        assert_eq!(shown.overrides.len(), 1);
        let (layer, filter, sets) = &shown.overrides[0];
        assert_eq!(
            (layer.as_str(), filter.as_str()),
            ("profile.ci override 1", "test(/slow/)")
        );
        assert_eq!(sets, &[("timeout".to_string(), "5m".to_string())]);
    }

    #[test]
    fn show_config_lists_every_setting_of_the_table() {
        let c = load("", "default").unwrap();
        let (args, explicit) = typed(&[]);
        let shown = explain(&c, &args, &explicit);
        let keys: Vec<String> = shown.settings.iter().map(|e| e.key.clone()).collect();
        let rows: Vec<String> = crate::settings::rows_of::<TestArgs>()
            .iter()
            .map(|r| r.key())
            .collect();
        assert_eq!(keys, rows);
    }
}
