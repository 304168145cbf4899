//! Configuration: `.config/isolate.toml` in the workspace (or
//! `--config-file`), its profiles layered on `[profile.default]`, and
//! per-test overrides matched by filtersets, first match wins. Resolved
//! once, before the build, into plain data: [`Config::settings_for`] says
//! what settings one test gets; nothing below the plan knows a file exists.
//!
//! Every flag of `cargo isolate test` is a key of a profile, spelled as the
//! flag without its dashes; the command line wins over the file. Relative
//! paths in the file are relative to the workspace. Errors name the file,
//! line and column, and show the line as written ([`ConfigError`]).
//!
//! `file` is the file as written, `resolve` checks and resolves it into
//! `settings`, `diagnostic` renders errors (`strings` places them inside
//! escaped strings), `archive` limits what an archive's own file may set,
//! `workspace` finds the file a run uses.

mod archive;
mod diagnostic;
mod file;
mod resolve;
mod settings;
mod strings;
#[cfg(test)]
mod sweep;
#[cfg(test)]
mod tests;
mod workspace;

pub use diagnostic::ConfigError;
pub use resolve::{Base, parse};
pub use settings::{NetSettings, Override, RunSettings, TestSettings};
pub use workspace::load_for;

use crate::cli;
use crate::filterset::TestInfo;
use std::path::{Path, PathBuf};

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
    pub overrides: Vec<Override>,
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
                        diagnostic::quoted(&profile_name)
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
    /// the command line did not give.
    pub fn apply(&self, args: &cli::TestArgs, explicit: &cli::Explicit) -> cli::TestArgs {
        let mut a = args.clone();
        let r = &self.run;
        macro_rules! set {
            ($($field:ident).+ = $value:expr) => {{
                let name = [$(stringify!($field)),+];
                if !explicit.has(name[name.len() - 1]) {
                    if let Some(v) = $value {
                        a.$($field).+ = v;
                    }
                }
            }};
        }
        set!(jobs = r.jobs.map(Some));
        if !["fail_fast", "no_fail_fast", "max_fail"]
            .iter()
            .any(|f| explicit.has(f))
        {
            if let Some(ff) = r.fail_fast {
                a.fail_fast = ff;
            }
            if r.max_fail.is_some() {
                a.max_fail = r.max_fail;
            }
        }
        set!(no_capture = r.no_capture);
        // One stress bound: whichever the command line gives wins whole.
        if !explicit.has("stress_count") && !explicit.has("stress_duration") {
            set!(stress_count = r.stress_count.map(Some));
            set!(stress_duration = r.stress_duration.map(Some));
        }
        set!(flaky_fails = r.flaky_fails);
        set!(output_limit = r.output_limit);
        set!(slow_timeout = r.slow_timeout);
        set!(memory_total = r.memory_total.map(Some));
        set!(run_ignored = r.run_ignored);
        // Paths in the file were made absolute when it was read.
        set!(report = r.report.clone().map(Some));
        set!(junit = r.junit.clone().map(Some));
        set!(junit_store_success_output = r.junit_store_success_output);
        set!(html = r.html.clone().map(Some));
        set!(message_format = r.message_format);
        set!(color = self.profile_color().map(|c| Some(c.to_string())));
        if !explicit.has("filtersets")
            && let Some(f) = &r.default_filter
        {
            a.filtersets = vec![f.clone()];
        }
        set!(isolation = r.isolation);
        set!(read_only_source = r.read_only_source);
        set!(reuse_netns = r.reuse_netns);
        set!(budgets = r.budgets.map(Some));
        set!(baseline = r.baseline.clone().map(Some));
        set!(sandbox.hostname = r.hostname.clone());
        set!(sandbox.env_clear = r.env_clear);
        set!(sandbox.no_sys = r.no_sys);
        set!(sandbox.scratch = r.scratch);
        set!(sandbox.tmpfs_size = r.tmpfs_size.map(Some));
        set!(sandbox.tmpfs_inodes = r.tmpfs_inodes.map(Some));
        set!(sandbox.scratch_size = r.scratch_size.map(Some));
        set!(sandbox.allow_unenforced_limits = r.allow_unenforced_limits);
        set!(sandbox.seccomp = r.seccomp.clone());
        set!(sandbox.memory_max = r.test.memory_max.map(Some));
        set!(sandbox.pids_max = r.test.pids_max.map(|n| Some(cli::PidsMax::Limit(n))));
        set!(sandbox.cpus = r.test.cpus.map(Some));
        set!(sandbox.timeout = r.test.timeout.map(Some));
        // The command line's entries first: a name given in both keeps the
        // command line's address (the sandbox writes each name once).
        if !r.hosts.is_empty() {
            let mut hosts = a.sandbox.hosts.clone();
            hosts.extend(r.hosts.iter().cloned());
            a.sandbox.hosts = hosts;
        }
        if !explicit.has("ro_bind") && !r.ro_bind.is_empty() {
            a.sandbox.ro_bind = r.ro_bind.clone();
        }
        // The file's variables first, so that --env given later wins.
        let mut env = r.env.clone();
        env.extend(a.sandbox.env);
        a.sandbox.env = env;
        a
    }

    /// The settings of one test: what the command line gave explicitly
    /// (`cli`), then the first matching override, then the profile.
    pub fn test_settings(&self, test: &TestInfo<'_>, cli: &TestSettings) -> TestSettings {
        cli.clone().or(&self.settings_for(test))
    }

    /// Every limit some test of this run may get, for the preflight check
    /// that the cgroup can enforce them.
    pub fn any_limits(&self, run: &crate::cgroup::Limits) -> crate::cgroup::Limits {
        let mut l = *run;
        for o in &self.overrides {
            l.memory_max_bytes = l.memory_max_bytes.or(o.settings.memory_max);
            l.pids_max = l.pids_max.or(o.settings.pids_max);
            l.cpus = l.cpus.or(o.settings.cpus);
        }
        l
    }

    /// Whether some override runs its tests without a sandbox.
    pub fn any_override_unsandboxed(&self) -> bool {
        self.overrides
            .iter()
            .any(|o| o.settings.isolation == Some(cli::Isolation::None))
    }

    /// What the configuration sets for one test: the first matching
    /// override, then the profile's own values.
    pub fn settings_for(&self, test: &TestInfo<'_>) -> TestSettings {
        match self.overrides.iter().find(|o| o.filter.matches(test)) {
            Some(o) => o.settings.clone().or(&self.run.test),
            None => self.run.test.clone(),
        }
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
