//! Configuration: `.config/isolate.toml` in the workspace (or
//! `--config-file`), its profiles layered on `[profile.default]`, and
//! per-test overrides matched by filtersets. Resolved once, before the
//! build, into plain data: [`Config::settings_for`] says what settings one
//! test gets; nothing below the plan knows a file exists.
//!
//! Every setting is defined once, in the table of `cli.rs` (see
//! `crate::settings`): its flag, its key (the flag without its dashes), its
//! check and how it layers. Per setting, the command line wins, then the
//! first matching override that sets it, then the chosen profile, then
//! `[profile.default]`. Relative paths in the file are relative to the
//! workspace. Errors name the file, line and column, and show the line as
//! written ([`ConfigError`]). The guide's settings reference is made
//! from the table and [`FileKeys`] (in the `reference` module).
//!
//! `file` is the file as written, `resolve` checks and layers it into
//! `resolved`, `archive` limits what an archive's own file may set,
//! `workspace` finds the file a run uses.

mod archive;
mod file;
mod resolve;
mod resolved;
#[cfg(test)]
mod sweep;
#[cfg(test)]
mod tests;
mod workspace;

pub use crate::settings::ConfigError;
pub use crate::settings::check::Base;
pub use resolve::parse;
pub use resolved::{Override, RunSettings, TestSettings};
pub use workspace::load_for;

use crate::cli;
use crate::filterset::TestInfo;
use crate::settings::Settings;
use std::path::{Path, PathBuf};

/// Every key the file's parser accepts, by the table it is in, from the
/// parser's own lists: for the reference page and its check.
#[cfg(test)]
#[derive(Debug)]
pub struct FileKeys {
    /// The file's top level (`profile`, `test-groups`).
    pub top: &'static [&'static str],
    /// A `[profile.<name>]`: every setting's key and alias, `overrides`.
    pub profile: &'static [&'static str],
    /// An override: its settings' keys and aliases, `filter`.
    pub overrides: &'static [&'static str],
    /// A `[test-groups.<name>]`.
    pub test_group: &'static [&'static str],
}

#[cfg(test)]
impl FileKeys {
    pub fn get() -> FileKeys {
        FileKeys {
            top: file::fields_of::<file::FileToml>(),
            profile: &file::PROFILE_KEYS,
            overrides: &file::OVERRIDE_KEYS,
            test_group: file::fields_of::<file::TestGroupToml>(),
        }
    }
}

/// Where the file is looked for, relative to the workspace root.
pub const DEFAULT_PATH: &str = ".config/isolate.toml";
/// The profile used when none is named.
pub const DEFAULT_PROFILE: &str = "default";

/// The resolved configuration of one run.
#[derive(Debug, Default)]
pub struct Config {
    /// The file it came from, if any.
    pub source: Option<PathBuf>,
    pub profile: String,
    pub run: RunSettings,
    /// The layers `run` was made of, most specific first, by name
    /// (`profile.ci`, `profile.default`): `show-config` says which set what.
    pub layers: Vec<(String, RunSettings)>,
    pub overrides: Vec<Override>,
    /// `[test-groups]`: each group's most tests at once.
    pub test_groups: std::collections::BTreeMap<String, usize>,
}

impl Config {
    /// Reads `explicit` (`--config-file`), or `<workspace>/.config/isolate.toml`
    /// if it exists, and resolves `profile` (default: `default`). A file
    /// that exists but cannot be read is an error, never skipped.
    pub fn load(
        explicit: Option<&Path>,
        workspace_root: Option<&Path>,
        profile: Option<&str>,
    ) -> Result<Config, ConfigError> {
        let path = match (explicit, workspace_root) {
            (Some(p), _) => Some(p.to_path_buf()),
            (None, Some(w)) => Some(w.join(DEFAULT_PATH)).filter(|p| {
                // Absent (or `.config` is not a directory): no file. Any
                // other answer is the reading's to report.
                !matches!(
                    std::fs::symlink_metadata(p).map_err(|e| e.kind()),
                    Err(std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory)
                )
            }),
            (None, None) => None,
        };
        let profile_name = profile.unwrap_or(DEFAULT_PROFILE).to_string();
        let Some(path) = path else {
            if profile_name != DEFAULT_PROFILE {
                return Err(ConfigError::whole(
                    Path::new(DEFAULT_PATH),
                    format!(
                        "profile {} asked for, but there is no config file (looked for {DEFAULT_PATH} in the workspace)",
                        crate::settings::quoted(&profile_name)
                    ),
                ));
            }
            return Ok(Config {
                profile: profile_name,
                ..Config::default()
            });
        };
        let text = read_text(&path)?;
        let base = match workspace_root {
            Some(w) => Base {
                dir: w.to_path_buf(),
                what: "the workspace",
            },
            None => Base {
                dir: std::path::absolute(&path)
                    .ok()
                    .and_then(|p| p.parent().map(Path::to_path_buf))
                    .unwrap_or_default(),
                what: "the directory of the file",
            },
        };
        parse(&text, &path, &profile_name, &base)
    }

    /// The profile's `color`, where it applies: below `--color` (the
    /// caller's to check) and `CARGO_TERM_COLOR`, as cargo's own
    /// `term.color` is.
    pub fn profile_color(&self) -> Option<&str> {
        match std::env::var_os("CARGO_TERM_COLOR") {
            Some(_) => None,
            None => self.run.color.as_deref(),
        }
    }

    /// The command line's flags, with the profile's value for each flag
    /// the command line did not give (as each setting's row says).
    pub fn apply(&self, args: &cli::TestArgs, explicit: &cli::Explicit) -> cli::TestArgs {
        let mut a = args.clone();
        a.apply(&self.run, explicit);
        // The profile's default filter is the -E of a run that gives none.
        if a.filtersets.is_empty()
            && let Some(f) = &a.default_filter
        {
            a.filtersets = vec![f.clone()];
        }
        a
    }

    /// The settings of one test: what the command line gave explicitly
    /// (`cli`), then per setting the first matching override that sets
    /// it, then the profile.
    pub fn test_settings(&self, test: &TestInfo<'_>, cli: &TestSettings) -> TestSettings {
        let mut t = cli.clone();
        for o in self.overrides.iter().filter(|o| o.filter.matches(test)) {
            cli::TestArgs::fill(&mut t, &o.settings);
        }
        cli::TestArgs::fill(&mut t, &cli::TestArgs::per_test(&self.run, false));
        t
    }

    /// Every limit some test of this run may get, for the preflight check
    /// that the cgroup can enforce them.
    pub fn any_limits(&self, run: &crate::cgroup::Limits) -> crate::cgroup::Limits {
        let mut l = *run;
        for o in &self.overrides {
            let s = &o.settings.sandbox;
            l.memory_max_bytes = l.memory_max_bytes.or(s.memory_max);
            l.pids_max = l.pids_max.or(s.pids_max.and_then(cli::PidsMax::limit));
            l.cpus = l.cpus.or(s.cpus);
        }
        l
    }

    /// Whether some override runs its tests without a sandbox.
    pub fn any_override_unsandboxed(&self) -> bool {
        self.overrides
            .iter()
            .any(|o| o.settings.isolation == Some(cli::Isolation::None))
    }

    /// What the configuration sets for one test: per setting, the first
    /// matching override that sets it, then the profile's own values.
    #[cfg(test)]
    pub fn settings_for(&self, test: &TestInfo<'_>) -> TestSettings {
        self.test_settings(test, &TestSettings::default())
    }

    /// The regression thresholds the profile sets (over the defaults).
    pub fn thresholds(&self) -> crate::budget::Thresholds {
        resolved::thresholds(&self.run)
    }
}

/// The largest configuration file read: a config file of more is a
/// mistake (or `--config-file /dev/zero`), not a configuration.
const MAX_FILE_BYTES: u64 = 16 << 20;

/// The file's text: a regular file (not a pipe that never ends or a
/// device), at most [`MAX_FILE_BYTES`], UTF-8 (else an error at the first
/// bad byte).
fn read_text(path: &Path) -> Result<String, ConfigError> {
    use std::io::Read;
    let cannot = |e: std::io::Error| ConfigError::whole(path, format!("cannot read it: {e}"));
    let meta = std::fs::metadata(path).map_err(cannot)?;
    if !meta.is_file() {
        return Err(ConfigError::whole(
            path,
            "cannot read it: not a regular file (a directory, a device or a pipe)",
        ));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(cannot)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(ConfigError::whole(
            path,
            format!(
                "the file is larger than {} MiB: not a configuration",
                MAX_FILE_BYTES >> 20
            ),
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        // The valid text before the bad byte is all a place needs.
        let text = std::str::from_utf8(&bytes[..valid]).unwrap_or_default();
        ConfigError::at(
            path,
            text,
            valid..valid,
            format!(
                "the file is not UTF-8 text: byte 0x{:02x} here (TOML files are UTF-8)",
                bytes.get(valid).copied().unwrap_or_default()
            ),
        )
    })
}
