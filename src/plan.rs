//! The plan: filters and isolation turn discovered tests into the list of
//! [`RunUnit`]s to execute. Pure data, no I/O.

use crate::build::TestBinary;
use crate::cli::{Isolation, RunIgnored};
use crate::config::TestSettings;
use crate::model::TestCase;

/// Which tests to run, as libtest understands its own arguments.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Substrings (or exact names with `exact`); empty: every test.
    pub names: Vec<String>,
    pub exact: bool,
    pub skip: Vec<String>,
    pub run_ignored: Option<RunIgnored>,
    /// Other arguments for the test binary.
    pub passthrough: Vec<String>,
    /// Flags accepted but meaningless per test, with why: said once.
    pub notes: Vec<String>,
}

/// libtest's options that take a value (`--name VALUE` or `--name=VALUE`).
const LIBTEST_VALUE_FLAGS: &[&str] = &[
    "--skip",
    "--test-threads",
    "--logfile",
    "--color",
    "--format",
    "-Z",
    "--shuffle-seed",
];

impl Filter {
    /// TESTNAMEs, the flags, and libtest arguments after `--`, read as
    /// libtest reads them: a flag's value is never taken for a filter.
    pub fn new(
        names: &[String],
        exact: bool,
        skip: &[String],
        run_ignored: RunIgnored,
        test_args: &[String],
    ) -> Filter {
        let mut f = Filter {
            names: names.to_vec(),
            exact,
            skip: skip.to_vec(),
            run_ignored: Some(run_ignored),
            passthrough: Vec::new(),
            notes: Vec::new(),
        };
        let mut it = test_args.iter();
        while let Some(arg) = it.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((k, v)) if k.starts_with('-') => (k, Some(v.to_string())),
                _ => (arg.as_str(), None),
            };
            let value = if LIBTEST_VALUE_FLAGS.contains(&flag) {
                inline.or_else(|| it.next().cloned())
            } else {
                inline
            };
            match flag {
                "--exact" => f.exact = true,
                "--ignored" => f.run_ignored = Some(RunIgnored::Only),
                "--include-ignored" => f.run_ignored = Some(RunIgnored::All),
                "--skip" => f.skip.extend(value),
                "--test-threads" => f.notes.push(
                    "--test-threads has no effect: each test runs alone in its sandbox; -j sets how many at once".into(),
                ),
                "--nocapture" | "--no-capture" | "--show-output" => f.notes.push(format!(
                    "{flag} after -- has no effect: output is always captured in the report; --no-capture (before --) streams it"
                )),
                "-q" | "--quiet" => {}
                s if !s.starts_with('-') => f.names.push(arg.clone()),
                _ => {
                    f.passthrough.push(flag.to_string());
                    f.passthrough.extend(value);
                }
            }
        }
        f
    }

    pub fn matches(&self, name: &str) -> bool {
        let hit = |p: &String| {
            if self.exact {
                name == p
            } else {
                name.contains(p.as_str())
            }
        };
        (self.names.is_empty() || self.names.iter().any(hit))
            && !self.skip.iter().any(|s| name.contains(s.as_str()))
    }

    fn run_ignored(&self) -> RunIgnored {
        self.run_ignored.unwrap_or(RunIgnored::Default)
    }

    /// Whether a test that is (or is not) `#[ignore]`d runs.
    fn runs(&self, ignored: bool) -> bool {
        match self.run_ignored() {
            RunIgnored::Default => !ignored,
            RunIgnored::Only => ignored,
            RunIgnored::All => true,
        }
    }
}

/// One sandbox to run (or one ignored test to report).
#[derive(Debug, Clone, PartialEq)]
pub struct RunUnit {
    pub id: String,
    pub binary: usize,
    /// The libtest name; None for a whole binary.
    pub name: Option<String>,
    /// Reported as ignored, not run.
    pub skip_as_ignored: bool,
    pub args: Vec<String>,
    /// Its limits, timeout, env and budgets (the configuration's, with the
    /// command line's on top); empty: the run's.
    pub settings: TestSettings,
}

pub fn plan(
    binaries: &[TestBinary],
    cases: &[TestCase],
    filter: &Filter,
    isolation: Isolation,
) -> Vec<RunUnit> {
    let mut units = Vec::new();
    for (i, b) in binaries.iter().enumerate() {
        // nextest's test id: "<binary id> <test name>".
        let prefix = b.binary_id();
        if b.custom_harness {
            // cargo test hands a custom harness the filters as arguments.
            let mut args = filter.names.clone();
            args.extend(filter.passthrough.iter().cloned());
            units.push(RunUnit {
                id: prefix,
                binary: i,
                name: None,
                skip_as_ignored: false,
                args,
                settings: TestSettings::default(),
            });
            continue;
        }
        let mine = cases
            .iter()
            .filter(|c| c.binary == i && filter.matches(&c.name));
        match isolation {
            Isolation::PerBinary => {
                if !mine.clone().any(|c| filter.runs(c.ignored)) {
                    continue;
                }
                let mut args = filter.names.clone();
                if filter.exact {
                    args.push("--exact".into());
                }
                for s in &filter.skip {
                    args.extend(["--skip".to_string(), s.clone()]);
                }
                match filter.run_ignored() {
                    RunIgnored::Default => {}
                    RunIgnored::Only => args.push("--ignored".into()),
                    RunIgnored::All => args.push("--include-ignored".into()),
                }
                args.extend(filter.passthrough.iter().cloned());
                units.push(RunUnit {
                    id: prefix,
                    binary: i,
                    name: None,
                    skip_as_ignored: false,
                    args,
                    settings: TestSettings::default(),
                });
            }
            Isolation::PerTest | Isolation::None => {
                for c in mine {
                    let run = filter.runs(c.ignored);
                    if !run && filter.run_ignored() == RunIgnored::Only {
                        continue;
                    }
                    let mut args = vec![c.name.clone(), "--exact".into(), "--nocapture".into()];
                    if c.ignored {
                        args.push("--include-ignored".into());
                    }
                    args.extend(filter.passthrough.iter().cloned());
                    units.push(RunUnit {
                        id: format!("{prefix} {}", c.name),
                        binary: i,
                        name: Some(c.name.clone()),
                        skip_as_ignored: !run,
                        args,
                        settings: TestSettings::default(),
                    });
                }
            }
        }
    }
    units
}

#[cfg(test)]
mod tests {
    use super::*;
    use cargo_metadata::PackageId;

    fn bin(target: &str, custom: bool) -> TestBinary {
        TestBinary {
            package: "pkg".into(),
            package_spec: "pkg@0.1.0".into(),
            feature_names: None,
            package_id: PackageId { repr: "pkg".into() },
            target: target.into(),
            kind: "test".into(),
            executable: "/x".into(),
            manifest_dir: "/m".into(),
            custom_harness: custom,
        }
    }

    fn cases() -> Vec<TestCase> {
        let c = |name: &str, ignored| TestCase {
            binary: 0,
            name: name.into(),
            ignored,
        };
        vec![
            c("conn::open", false),
            c("conn::close", false),
            c("slow", true),
        ]
    }

    fn ids(units: &[RunUnit]) -> Vec<&str> {
        units.iter().map(|u| u.id.as_str()).collect()
    }

    #[test]
    fn per_test_units_with_substring_filter() {
        let f = Filter::new(&["conn".to_string()], false, &[], RunIgnored::Default, &[]);
        let u = plan(&[bin("api", false)], &cases(), &f, Isolation::PerTest);
        assert_eq!(ids(&u), vec!["pkg::api conn::open", "pkg::api conn::close"]);
        assert_eq!(u[0].args, vec!["conn::open", "--exact", "--nocapture"]);
    }

    #[test]
    fn ignored_tests_are_reported_not_run() {
        let f = Filter::new(&[], false, &[], RunIgnored::Default, &[]);
        let u = plan(&[bin("api", false)], &cases(), &f, Isolation::PerTest);
        assert!(u[2].skip_as_ignored);
        let f = Filter::new(&[], false, &[], RunIgnored::Only, &[]);
        let u = plan(&[bin("api", false)], &cases(), &f, Isolation::PerTest);
        assert_eq!(ids(&u), vec!["pkg::api slow"]);
        assert!(!u[0].skip_as_ignored);
        assert!(u[0].args.contains(&"--include-ignored".to_string()));
    }

    #[test]
    fn libtest_flags_keep_their_values() {
        let args: Vec<String> = [
            "--test-threads",
            "1",
            "--skip",
            "slow",
            "--format",
            "json",
            "-Z",
            "unstable-options",
            "--color=never",
            "conn",
            "--shuffle-seed",
            "7",
        ]
        .map(String::from)
        .into();
        let f = Filter::new(&[], false, &[], RunIgnored::Default, &args);
        assert_eq!(f.names, vec!["conn"], "only a bare word is a filter");
        assert_eq!(f.skip, vec!["slow"]);
        assert_eq!(
            f.passthrough,
            vec![
                "--format",
                "json",
                "-Z",
                "unstable-options",
                "--color",
                "never",
                "--shuffle-seed",
                "7"
            ]
        );
        assert_eq!(f.notes.len(), 1, "--test-threads is noted: {:?}", f.notes);
    }

    #[test]
    fn several_names_select_any_of_them() {
        let names = ["adds".to_string(), "parses".to_string()];
        let f = Filter::new(&names, false, &[], RunIgnored::Default, &[]);
        assert!(f.matches("tests::adds_numbers") && f.matches("tests::parses_config"));
        assert!(!f.matches("tests::slow"));
    }

    #[test]
    fn exact_skip_and_trailing_args() {
        let args = ["conn::close".to_string(), "--exact".to_string()];
        let f = Filter::new(&[], false, &[], RunIgnored::Default, &args);
        let u = plan(&[bin("api", false)], &cases(), &f, Isolation::PerTest);
        assert_eq!(ids(&u), vec!["pkg::api conn::close"]);
        let f = Filter::new(&[], false, &["close".into()], RunIgnored::All, &[]);
        let u = plan(&[bin("api", false)], &cases(), &f, Isolation::PerTest);
        assert_eq!(ids(&u), vec!["pkg::api conn::open", "pkg::api slow"]);
    }

    #[test]
    fn per_binary_and_custom_harness() {
        let f = Filter::new(&["conn".to_string()], false, &[], RunIgnored::Default, &[]);
        let bins = [bin("api", false), bin("custom", true)];
        let u = plan(&bins, &cases(), &f, Isolation::PerBinary);
        assert_eq!(ids(&u), vec!["pkg::api", "pkg::custom"]);
        assert_eq!(u[0].args, vec!["conn"]);
        assert_eq!(u[0].name, None);
    }
}
