//! The environment and the sandbox layout of one test binary: what
//! `cargo test` gives a test (CARGO_MANIFEST_DIR, CARGO_PKG_*,
//! CARGO_TARGET_TMPDIR, CARGO_BIN_EXE_*, OUT_DIR, the dylib search path)
//! on top of the user's environment.

use crate::build::{BuildOutput, TestBinary};
use crate::cli::SandboxArgs;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

pub type EnvVars = Vec<(OsString, OsString)>;

/// The rustc sysroot's library dirs, for suites that link dylibs
/// (a `dylib` dependency links libstd dynamically).
pub fn sysroot_lib_dirs() -> Vec<PathBuf> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let mut dirs = Vec::new();
    if let Ok(out) = std::process::Command::new(rustc)
        .args(["--print", "target-libdir"])
        .output()
        && out.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if let Some(sysroot) = dir.ancestors().nth(4) {
            dirs.push(sysroot.join("lib"));
        }
        dirs.push(dir);
    }
    dirs
}

pub fn target_dir(build: &BuildOutput, cli_target_dir: Option<&Path>) -> PathBuf {
    let dir = cli_target_dir
        .map(Path::to_path_buf)
        .unwrap_or_else(|| build.metadata.target_directory.clone().into_std_path_buf());
    std::fs::canonicalize(&dir).unwrap_or(dir)
}

/// The variables a sandboxed program starts from: the host's, or with
/// `--env-clear` only PATH. TMPDIR always points at the sandbox's /tmp;
/// `CARGO_ISOLATE=1`, the run's id and the attempt tell a test where it
/// runs (as nextest's NEXTEST, NEXTEST_RUN_ID, NEXTEST_ATTEMPT do).
pub fn base_env(args: &SandboxArgs) -> EnvVars {
    let ours = [
        "TMPDIR",
        "CARGO_ISOLATE",
        "CARGO_ISOLATE_RUN_ID",
        "CARGO_ISOLATE_ATTEMPT",
    ];
    let mut env: EnvVars = std::env::vars_os()
        .filter(|(k, _)| !ours.iter().any(|o| k == o) && (!args.env_clear || k == "PATH"))
        .collect();
    env.push(("TMPDIR".into(), "/tmp".into()));
    env.push(("CARGO_ISOLATE".into(), "1".into()));
    env.push(("CARGO_ISOLATE_RUN_ID".into(), run_id().into()));
    env.push(("CARGO_ISOLATE_ATTEMPT".into(), "1".into()));
    env
}

/// This run's id: a random (version 4) UUID, made once.
pub fn run_id() -> &'static str {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(random_uuid)
}

/// A fresh random (version 4) UUID.
pub fn random_uuid() -> String {
    let mut b = [0u8; 16];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = std::io::Read::read_exact(&mut f, &mut b);
    }
    uuid_v4(b)
}

fn uuid_v4(mut b: [u8; 16]) -> String {
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// `--env KEY=VALUE` sets, `--env KEY` passes the host's value through;
/// applied last, so they win over everything else.
pub fn apply_env_settings(env: &mut EnvVars, args: &SandboxArgs) {
    for setting in &args.env {
        let value = match &setting.value {
            Some(v) => Some(OsString::from(v)),
            None => std::env::var_os(&setting.key),
        };
        env.retain(|(k, _)| k != setting.key.as_str());
        if let Some(v) = value {
            env.push((setting.key.clone().into(), v));
        }
    }
}

pub fn env_for(
    b: &TestBinary,
    build: &BuildOutput,
    target_dir: &Path,
    sysroot_libs: &[PathBuf],
    args: &SandboxArgs,
) -> EnvVars {
    let mut env = base_env(args);
    let mut set = |k: &str, v: OsString| {
        env.retain(|(key, _)| key != k);
        env.push((k.into(), v));
    };
    set("CARGO_MANIFEST_DIR", b.manifest_dir.clone().into());
    set(
        "CARGO_MANIFEST_PATH",
        b.manifest_dir.join("Cargo.toml").into(),
    );
    set("CARGO_CRATE_NAME", b.target.replace('-', "_").into());
    if let Some(pkg) = build
        .metadata
        .packages
        .iter()
        .find(|p| p.id == b.package_id)
    {
        let v = &pkg.version;
        set("CARGO_PKG_NAME", pkg.name.to_string().into());
        set("CARGO_PKG_VERSION", v.to_string().into());
        set("CARGO_PKG_VERSION_MAJOR", v.major.to_string().into());
        set("CARGO_PKG_VERSION_MINOR", v.minor.to_string().into());
        set("CARGO_PKG_VERSION_PATCH", v.patch.to_string().into());
        set("CARGO_PKG_VERSION_PRE", v.pre.to_string().into());
        set("CARGO_PKG_AUTHORS", pkg.authors.join(":").into());
        let opt = |o: &Option<String>| o.clone().unwrap_or_default().into();
        set("CARGO_PKG_DESCRIPTION", opt(&pkg.description));
        set("CARGO_PKG_HOMEPAGE", opt(&pkg.homepage));
        set("CARGO_PKG_REPOSITORY", opt(&pkg.repository));
        set("CARGO_PKG_LICENSE", opt(&pkg.license));
        set(
            "CARGO_PKG_LICENSE_FILE",
            pkg.license_file
                .as_ref()
                .map(|p| p.to_string())
                .unwrap_or_default()
                .into(),
        );
        set(
            "CARGO_PKG_RUST_VERSION",
            pkg.rust_version
                .as_ref()
                .map(|v| v.to_string())
                .unwrap_or_default()
                .into(),
        );
        set(
            "CARGO_PKG_README",
            pkg.readme
                .as_ref()
                .map(|p| p.to_string())
                .unwrap_or_default()
                .into(),
        );
    }
    if matches!(b.kind.as_str(), "test" | "bench") {
        set("CARGO_TARGET_TMPDIR", target_dir.join("tmp").into());
    }
    if let Some(out) = build.out_dirs.get(&b.package_id) {
        set("OUT_DIR", out.clone().into());
    }
    for (name, exe) in build.bin_exes.get(&b.package_id).into_iter().flatten() {
        set(&format!("CARGO_BIN_EXE_{name}"), exe.clone().into());
    }
    // cargo's dylib search path: the deps dir, the profile dir, native
    // library dirs from build scripts, then the sysroot.
    let mut paths: Vec<PathBuf> = Vec::new();
    if let Some(deps) = b.executable.parent() {
        paths.push(deps.to_path_buf());
        if let Some(profile) = deps.parent() {
            paths.push(profile.to_path_buf());
        }
    }
    paths.extend(build.linked_paths.iter().cloned());
    paths.extend(sysroot_libs.iter().cloned());
    if let Some(existing) = std::env::var_os("LD_LIBRARY_PATH") {
        paths.extend(std::env::split_paths(&existing));
    }
    if let Ok(joined) = std::env::join_paths(paths) {
        set("LD_LIBRARY_PATH", joined);
    }
    apply_env_settings(&mut env, args);
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_v4_uuids() {
        let id = uuid_v4([0xff; 16]);
        assert_eq!(id, "ffffffff-ffff-4fff-bfff-ffffffffffff");
        assert_eq!(run_id().len(), 36);
        assert_eq!(run_id(), run_id(), "one id per run");
    }
}
