//! The one command that runs a test alone again in the same sandbox: its
//! package and target, `--exact` name, and the settings whose row in the
//! table says `replay` (limits and timeout as this test got them,
//! overrides included, network faults, environment choices, seed), each
//! where it differs from the flag's default. Printed under each failure
//! and kept in each record, quoted for a POSIX shell so that any test
//! name pastes safely.

use crate::build::FeatureNames;
use crate::cli::TestArgs;
use crate::execute::BinaryContext;
use crate::plan::RunUnit;
use crate::settings::{Settings, Words as Flags};
use clap::Args;
use std::collections::HashMap;
use std::sync::LazyLock;

/// What a replay is made of, beside the unit itself.
pub struct Replay<'a> {
    /// The run's arguments after the configuration was applied.
    pub args: &'a TestArgs,
    /// The arguments as typed: `--env` values and the profile come from
    /// here, so that the configuration's own variables are not printed.
    pub typed: &'a TestArgs,
    /// libtest arguments that reach each binary (not filters).
    pub passthrough: &'a [String],
}

/// Each flag's `--long` name, by its field.
static LONGS: LazyLock<HashMap<String, String>> = LazyLock::new(|| {
    TestArgs::augment_args(clap::Command::new("test"))
        .get_arguments()
        .filter_map(|a| Some((a.get_id().to_string(), format!("--{}", a.get_long()?))))
        .collect()
});

/// The flags' defaults: `cargo isolate test` with none given.
static BUILT_IN: LazyLock<Option<TestArgs>> = LazyLock::new(|| {
    use clap::FromArgMatches;
    let cmd = TestArgs::augment_args(clap::Command::new("test"));
    let matches = cmd.try_get_matches_from(["test"]).ok()?;
    TestArgs::from_arg_matches(&matches).ok()
});

/// The binary a replay selects, as cargo and the report name it.
struct Binary<'a> {
    package: &'a str,
    /// `-p`'s package id spec (`name@version`); empty: the name.
    spec: &'a str,
    target: &'a str,
    kind: &'a str,
    feature_names: Option<&'a FeatureNames>,
}

impl<'a> From<&'a BinaryContext> for Binary<'a> {
    fn from(b: &'a BinaryContext) -> Binary<'a> {
        Binary {
            package: &b.package,
            spec: &b.package_spec,
            target: &b.target,
            kind: &b.kind,
            feature_names: b.feature_names.as_ref(),
        }
    }
}

impl Replay<'_> {
    pub fn command(&self, b: &BinaryContext, u: &RunUnit) -> String {
        self.command_for(&Binary::from(b), u)
    }

    fn command_for(&self, b: &Binary<'_>, u: &RunUnit) -> String {
        let (args, typed) = (self.args, self.typed);
        let mut w = Words(vec!["cargo".into(), "isolate".into(), "test".into()]);
        selection(&mut w, args, b);
        w.opt("--profile", typed.profile.as_ref());
        w.opt(
            "--config-file",
            typed.config_file.as_ref().map(|p| p.display()),
        );
        if let Some(name) = &u.name {
            w.flag("--exact", true);
            w.0.push(name.clone());
        }
        let mut flags = Flags {
            words: Vec::new(),
            longs: &LONGS,
        };
        if let Some(built_in) = &*BUILT_IN {
            // A replay is made for every test: the arguments are copied
            // only when their cargo flags must change.
            let cargo = &args.cargo;
            let plain = cargo.features.is_empty()
                && !cargo.all_features
                && !cargo.no_default_features
                && args.archive_file.is_none();
            if plain {
                args.replay(&u.settings, typed, built_in, &mut flags);
            } else {
                // The run's features that this package takes: another
                // member's would make cargo refuse the replay.
                let mut own = args.clone();
                own.cargo.features = features_for(b.package, &cargo.features, b.feature_names);
                if args.archive_file.is_some() {
                    // Nothing is built: cargo's flags mean nothing there.
                    own.cargo = Default::default();
                }
                own.replay(&u.settings, typed, built_in, &mut flags);
            }
        }
        w.0.extend(flags.words);
        if !self.passthrough.is_empty() {
            w.0.push("--".into());
            w.0.extend(self.passthrough.iter().cloned());
        }
        w.0.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" ")
    }
}

/// Which binary: from an archive by its binary id, since nothing is
/// built; else cargo's package and target flags and the build's own.
fn selection(w: &mut Words, args: &TestArgs, b: &Binary<'_>) {
    if let Some(archive) = &args.archive_file {
        w.pair("--archive-file", &archive.display().to_string());
        w.opt(
            "--workspace-remap",
            args.workspace_remap.as_ref().map(|p| p.display()),
        );
        w.flag("--trust-archive-config", args.trust_archive_config);
        w.opt("--archive-max-bytes", args.archive_max_bytes.map(size));
        w.opt("--archive-max-entries", args.archive_max_entries);
        let id = crate::model::binary_id(b.package, b.target, b.kind);
        w.pair("-E", &format!("binary_id(={id})"));
        return;
    }
    let c = &args.cargo;
    w.opt(
        "--manifest-path",
        c.manifest_path.as_ref().map(|p| p.display()),
    );
    // By name and version: a bare name is ambiguous to cargo when the
    // graph holds another version of the package.
    let spec = match b.spec.is_empty() {
        true => b.package,
        false => b.spec,
    };
    w.pair("-p", spec);
    match b.kind {
        "bin" | "test" | "example" | "bench" => w.pair(&format!("--{}", b.kind), b.target),
        _ => w.flag("--lib", true),
    }
    w.flag("--release", c.release);
    w.opt("--cargo-profile", c.cargo_profile.as_ref());
    w.opt("--target-dir", c.target_dir.as_ref().map(|p| p.display()));
    w.flag("--locked", c.locked);
    w.flag("--offline", c.offline);
    w.flag("--frozen", c.frozen);
}

/// Of the run's `--features`, those that `-p package` takes (see
/// [`FeatureNames`]), as one list; all of them when the names are unknown.
/// Under resolver 2 a member's feature applies to that member alone, so
/// dropping another's keeps this package's build as it was.
fn features_for(package: &str, given: &[String], names: Option<&FeatureNames>) -> Vec<String> {
    let Some(names) = names else {
        return given.to_vec();
    };
    let takes = |feature: &&str| match feature.split_once('/') {
        None => names.own.iter().any(|f| f == feature),
        Some((dep, _)) => {
            let dep = dep.strip_suffix('?').unwrap_or(dep);
            dep == package || names.dependencies.iter().any(|d| d == dep)
        }
    };
    let kept: Vec<&str> = given
        .iter()
        .flat_map(|f| f.split([' ', ',']))
        .filter(|f| !f.is_empty())
        .filter(takes)
        .collect();
    match kept.is_empty() {
        true => Vec::new(),
        false => vec![kept.join(",")],
    }
}

struct Words(Vec<String>);

impl Words {
    fn flag(&mut self, name: &str, on: bool) {
        if on {
            self.0.push(name.into());
        }
    }

    fn pair(&mut self, name: &str, value: &str) {
        self.0.push(name.into());
        self.0.push(value.into());
    }

    fn opt(&mut self, name: &str, value: Option<impl std::fmt::Display>) {
        if let Some(v) = value {
            self.pair(name, &v.to_string());
        }
    }
}

pub use crate::settings::show::size_text as size;

/// `arg` as one POSIX shell word: bare when it is plain, else in single
/// quotes, or in bash's `$'...'` with escapes when it holds control
/// characters, which single quotes would pass raw to the terminal.
pub fn quote(arg: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:=,+%@".contains(c);
    if !arg.is_empty() && arg.chars().all(plain) {
        return arg.to_string();
    }
    if !arg.chars().any(char::is_control) {
        return format!("'{}'", arg.replace('\'', r"'\''"));
    }
    let mut out = String::from("$'");
    for c in arg.chars() {
        match c {
            '\\' => out.push_str(r"\\"),
            '\'' => out.push_str(r"\'"),
            '\n' => out.push_str(r"\n"),
            '\t' => out.push_str(r"\t"),
            c if c.is_control() => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("\\x{b:02x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_words_stay_bare_and_others_are_quoted() {
        assert_eq!(quote("net::tcp_echo"), "net::tcp_echo");
        assert_eq!(quote("--memory-max"), "--memory-max");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote("$(rm -rf /)"), "'$(rm -rf /)'");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("evil\x1b]0;x\x07\n"), r"$'evil\x1b]0;x\x07\n'");
    }

    /// The flags of a replay come from the table: a test's own values
    /// over the run's, the command line's variables, nothing that is the
    /// default, in the table's order.
    #[test]
    fn a_replay_carries_the_tests_own_settings_and_no_defaults() {
        use crate::cli::{Cli, Command, PortList};
        use clap::Parser;
        let args =
            |argv: &[&str]| match Cli::try_parse_from(["cargo-isolate", "test"].iter().chain(argv))
                .unwrap()
                .command
            {
                Command::Test(t) => *t,
                _ => unreachable!(),
            };
        let typed = args(&[
            "--seed",
            "7",
            "--env",
            "A=1",
            "--hostname",
            "isolate",
            "--isolation",
            "per-test",
            "--timeout",
            "90s",
            "--cpus",
            "1.5",
        ]);
        // The run's values after the configuration: one more variable.
        let mut run = typed.clone();
        run.sandbox
            .env
            .insert(0, crate::cli::parse_env("FROM_FILE=x").unwrap());
        let mut test = crate::config::TestSettings::default();
        test.sandbox.memory_max = Some(64 << 20);
        test.sandbox.timeout = Some(std::time::Duration::from_secs(150));
        test.sandbox.net.net_reject = Some(vec![PortList(vec![7878, 5432])]);
        let mut flags = Flags {
            words: Vec::new(),
            longs: &LONGS,
        };
        run.replay(&test, &typed, BUILT_IN.as_ref().unwrap(), &mut flags);
        assert_eq!(
            flags.words.join(" "),
            "--memory-max 64M --cpus 1.5 --timeout 2m30s --env A=1 --net-reject 7878,5432 --seed 7"
        );
    }

    /// Retries, stress and features shaped the run: the table carries
    /// them too, with a value a shell gets back whole once quoted.
    #[test]
    fn a_replay_carries_retries_stress_and_features() {
        use crate::cli::{Cli, Command};
        use clap::Parser;
        let argv = [
            "cargo-isolate",
            "test",
            "--features",
            "a b",
            "--no-default-features",
            "--retries",
            "1",
            "--flaky-fails",
            "--stress-count",
            "5",
        ];
        let Command::Test(args) = Cli::try_parse_from(argv).unwrap().command else {
            unreachable!()
        };
        let mut flags = Flags {
            words: Vec::new(),
            longs: &LONGS,
        };
        args.replay(
            &Default::default(),
            &args,
            BUILT_IN.as_ref().unwrap(),
            &mut flags,
        );
        let line: Vec<String> = flags.words.iter().map(|w| quote(w)).collect();
        assert_eq!(
            line.join(" "),
            "--features 'a b' --no-default-features --retries 1 --flaky-fails --stress-count 5"
        );
    }

    /// Only the features `-p` of this package takes: another member's
    /// would make cargo refuse the replay.
    #[test]
    fn a_replay_keeps_the_features_its_package_takes() {
        let names = FeatureNames {
            own: vec!["x".into(), "serde".into()],
            dependencies: vec!["dup01".into()],
        };
        let given = [
            "x other".to_string(),
            "dup01/fast,alpha/y".into(),
            "b/z".into(),
        ];
        assert_eq!(
            features_for("b", &given, Some(&names)),
            ["x,dup01/fast,b/z"]
        );
        assert!(features_for("b", &["other".into()], Some(&names)).is_empty());
        assert_eq!(features_for("b", &given, None), given);
    }

    /// Pasted into a shell, a replay is the same words again: a package
    /// spec with a path in it (a whole package id), a manifest path and a
    /// test name full of shell syntax are data, never run.
    #[test]
    fn a_replay_pastes_back_as_the_same_words() {
        use crate::cli::{Cli, Command};
        use clap::Parser;
        let manifest = "/tmp/it's $(touch pwned)/`id`;x/Cargo.toml";
        let argv = ["cargo-isolate", "test", "--manifest-path", manifest];
        let Command::Test(args) = Cli::try_parse_from(argv).unwrap().command else {
            unreachable!()
        };
        let replay = Replay {
            args: &args,
            typed: &args,
            passthrough: &[],
        };
        let spec = "path+file:///tmp/it's%20$(touch%20pwned)/dup#0.2.0";
        let name = "m::it's \"$(touch pwned)\" `id` ; | & > x";
        let binary = Binary {
            package: "dup",
            spec,
            target: "dup",
            kind: "lib",
            feature_names: None,
        };
        let unit = RunUnit {
            id: format!("dup {name}"),
            binary: 0,
            name: Some(name.into()),
            skip_as_ignored: false,
            args: Vec::new(),
            settings: Default::default(),
        };
        let line = replay.command_for(&binary, &unit);
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("set -- {line}; printf '%s\\0' \"$@\""))
            .current_dir(std::env::temp_dir())
            .output()
            .unwrap();
        let words: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .split_terminator('\0')
            .map(String::from)
            .collect();
        let want = [
            "cargo",
            "isolate",
            "test",
            "--manifest-path",
            manifest,
            "-p",
            spec,
            "--lib",
            "--exact",
            name,
        ];
        assert_eq!(words, want, "{line}");
    }

    #[test]
    fn sizes_read_back_exactly() {
        assert_eq!(size(64 << 20), "64M");
        assert_eq!(size(1 << 30), "1G");
        assert_eq!(size((1 << 30) + (1 << 20)), "1025M");
        assert_eq!(size(1000), "1000");
        assert_eq!(crate::cli::parse_memory_max(&size(96 << 20)), Ok(96 << 20));
    }
}
