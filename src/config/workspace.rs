//! Which configuration a run uses: `--config-file`, an archive's own file,
//! or the workspace's `.config/isolate.toml`, the workspace found by
//! `cargo locate-project` as the build finds it. When cargo cannot say
//! where the workspace is, the run stops with cargo's words: it never goes
//! on without the user's configuration.

use super::{Config, ConfigError, DEFAULT_PATH, archive};
use crate::cli::TestArgs;
use crate::error::Error;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The configuration of `cargo isolate test ARGS`: `archive_root` is the
/// workspace of an unpacked `--archive-file`, whose own file may only
/// select tests and set limits and budgets unless the user trusts it. A
/// `color` in the profile takes effect here, below `--color` and
/// `CARGO_TERM_COLOR`.
pub fn load_for(args: &TestArgs, archive_root: Option<&Path>) -> Result<Config, Error> {
    let root = match archive_root {
        Some(r) => Some(r.to_path_buf()),
        None => workspace_root(
            args.cargo.manifest_path.as_deref(),
            args.config_file.is_some(),
        )?,
    };
    if let Some(r) = archive_root
        && args.config_file.is_none()
        && !args.trust_archive_config
    {
        archive::check_archive_config(r).map_err(usage)?;
    }
    let config = Config::load(
        args.config_file.as_deref(),
        root.as_deref(),
        args.profile.as_deref(),
    )
    .map_err(usage)?;
    if args.color.is_none()
        && let Some(color) = config.profile_color()
    {
        crate::report::progress::init_color(Some(color));
    }
    Ok(config)
}

fn usage(e: ConfigError) -> Error {
    Error::Usage(e.render(console::colors_enabled_stderr()))
}

/// `cargo locate-project --workspace`: where `.config/isolate.toml` lives.
/// `None` only when there is no workspace at all and the configuration
/// comes from `--config-file` (the build will say what cargo says).
fn workspace_root(manifest: Option<&Path>, config_file: bool) -> Result<Option<PathBuf>, Error> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(&cargo);
    cmd.args(["locate-project", "--workspace", "--message-format", "plain"]);
    if let Some(m) = manifest {
        cmd.arg("--manifest-path").arg(m);
    }
    let out = cmd.stdin(Stdio::null()).output().map_err(|e| {
        Error::setup(format!(
            "failed to run {} locate-project to find the workspace: {e}: is cargo in PATH?",
            Path::new(&cargo).display()
        ))
    })?;
    if out.status.success() {
        use std::os::unix::ffi::OsStrExt;
        let stdout = out.stdout.trim_ascii_end();
        let manifest = Path::new(std::ffi::OsStr::from_bytes(stdout));
        return Ok(manifest.parent().map(Path::to_path_buf));
    }
    if manifest.is_none() && config_file && !any_manifest_above_cwd() {
        return Ok(None);
    }
    let said = String::from_utf8_lossy(&out.stderr);
    let said: Vec<String> = said.trim_end().lines().map(|l| format!("  {l}")).collect();
    Err(Error::Build(format!(
        "cannot find the workspace, nor so its {DEFAULT_PATH}: `cargo locate-project --workspace` failed ({}):\n{}",
        match out.status.code() {
            Some(c) => format!("exit code {c}"),
            None => "killed by a signal".to_string(),
        },
        said.join("\n")
    )))
}

/// Whether the current directory or one above it has a Cargo.toml (where
/// cargo looks for a workspace when no --manifest-path is given).
fn any_manifest_above_cwd() -> bool {
    match std::env::current_dir() {
        Ok(cwd) => cwd.ancestors().any(|d| d.join("Cargo.toml").exists()),
        // Cargo could not tell either: say what it said.
        Err(_) => true,
    }
}
