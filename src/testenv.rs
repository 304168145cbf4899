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

/// Every variable an identity (`execute::Identity`) may set: none is taken from the host.
pub const IDENTITY_VARS: [&str; 7] = [
    "BINARY_ID",
    "PROFILE",
    "ATTEMPT",
    "TOTAL_ATTEMPTS",
    "TEST_NAME",
    "STRESS_CURRENT",
    "STRESS_TOTAL",
];

/// The variables a sandboxed program starts from: the host's, or with
/// `--env-clear` only PATH. TMPDIR always points at the sandbox's /tmp;
/// `CARGO_ISOLATE=1` and the run's id tell a test where it runs (each
/// sandbox adds which test and attempt it is for: execute::Identity).
pub fn base_env(args: &SandboxArgs) -> EnvVars {
    let ours = [
        "TMPDIR",
        "CARGO_ISOLATE",
        "CARGO_ISOLATE_RUN_ID",
        "NEXTEST_RUN_ID",
    ];
    // A test's identity is the runner's to say (see execute::Identity),
    // never a value the host's environment happens to hold.
    let identity = |k: &std::ffi::OsStr| {
        let k = k.to_string_lossy();
        IDENTITY_VARS.iter().any(|v| {
            k.strip_prefix("CARGO_ISOLATE_")
                .or(k.strip_prefix("NEXTEST_"))
                == Some(v)
        })
    };
    let mut env: EnvVars = std::env::vars_os()
        .filter(|(k, _)| {
            !ours.iter().any(|o| k == o) && !identity(k) && (!args.env_clear || k == "PATH")
        })
        .collect();
    env.push(("TMPDIR".into(), "/tmp".into()));
    env.push(("CARGO_ISOLATE".into(), "1".into()));
    env.push(("CARGO_ISOLATE_RUN_ID".into(), run_id().into()));
    env.push(("NEXTEST_RUN_ID".into(), run_id().into()));
    env
}

/// This run's id: a random (version 4) UUID, made once. Call
/// [`try_run_id`] first, where a failure can stop the run cleanly: this
/// one can only end the process (exit 96) when no randomness can be had,
/// since a fixed id would be a guessable GitHub stop-commands token.
pub fn run_id() -> &'static str {
    try_run_id().unwrap_or_else(|e| no_randomness(&e))
}

/// This run's id, made on the first call from the kernel's CSPRNG; an
/// error when the kernel gives none.
pub fn try_run_id() -> Result<&'static str, NoRandomness> {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    if let Some(id) = ID.get() {
        return Ok(id);
    }
    let id = try_random_uuid()?;
    Ok(ID.get_or_init(|| id))
}

/// A fresh random (version 4) UUID; ends the process (exit 96) when no
/// randomness can be had, as [`run_id`] does.
pub fn random_uuid() -> String {
    try_random_uuid().unwrap_or_else(|e| no_randomness(&e))
}

/// A fresh random (version 4) UUID from getrandom(2) (or /dev/urandom
/// where the kernel lacks the call), never a fixed value.
pub fn try_random_uuid() -> Result<String, NoRandomness> {
    uuid_from(getrandom::fill)
}

/// The kernel gave no random bytes.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot get random bytes from the kernel (getrandom(2), then /dev/urandom): {0}; the run id and GitHub's stop-commands token must be unguessable, so the run cannot go on: allow the getrandom system call (a seccomp profile) or provide /dev/urandom"
)]
pub struct NoRandomness(getrandom::Error);

impl From<NoRandomness> for crate::error::Error {
    fn from(e: NoRandomness) -> Self {
        crate::error::Error::setup(e.to_string())
    }
}

fn uuid_from(
    fill: impl FnOnce(&mut [u8]) -> Result<(), getrandom::Error>,
) -> Result<String, NoRandomness> {
    let mut bytes = [0u8; 16];
    fill(&mut bytes).map_err(NoRandomness)?;
    Ok(uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string())
}

/// The last resort of callers that cannot return an error: say why and
/// exit as a setup error, never go on with a guessable id.
fn no_randomness(e: &NoRandomness) -> ! {
    eprintln!("error: {e}");
    std::process::exit(crate::error::EXIT_SETUP.into())
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

/// The variables [`env_for`] sets from the build's paths: what moves when
/// a sandbox shows an archive where it was built.
const PATH_VARS: &[&str] = &[
    "CARGO_MANIFEST_DIR",
    "CARGO_MANIFEST_PATH",
    "CARGO_TARGET_TMPDIR",
    "OUT_DIR",
];

/// `env` as a sandbox that shows the host path `p` at `to_sandbox(p)` sees
/// it: the build's paths (cargo's variables, `CARGO_BIN_EXE_*`, each entry
/// of `LD_LIBRARY_PATH`) moved, everything else as it is.
pub fn relocate_env(env: &EnvVars, to_sandbox: &dyn Fn(&Path) -> PathBuf) -> EnvVars {
    env.iter()
        .map(|(k, v)| {
            let key = k.to_string_lossy();
            let v = if key == "LD_LIBRARY_PATH" {
                let moved: Vec<PathBuf> =
                    std::env::split_paths(v).map(|p| to_sandbox(&p)).collect();
                std::env::join_paths(moved).unwrap_or_else(|_| v.clone())
            } else if PATH_VARS.contains(&key.as_ref()) || key.starts_with("CARGO_BIN_EXE_") {
                to_sandbox(Path::new(v)).into_os_string()
            } else {
                v.clone()
            };
            (k.clone(), v)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builds_paths_move_and_nothing_else() {
        let env: EnvVars = [
            ("CARGO_MANIFEST_DIR", "/u/ws/app"),
            ("CARGO_BIN_EXE_app", "/u/t/debug/app"),
            ("OUT_DIR", "/u/t/debug/build/app-1/out"),
            ("LD_LIBRARY_PATH", "/u/t/debug/deps:/usr/lib"),
            ("HOME", "/u/ws/app"),
            ("CARGO_PKG_NAME", "/u/ws"),
        ]
        .map(|(k, v)| (k.into(), v.into()))
        .to_vec();
        let moved = relocate_env(&env, &|p| match p.strip_prefix("/u") {
            Ok(rel) => Path::new("/build").join(rel),
            Err(_) => p.to_path_buf(),
        });
        let get = |k: &str| {
            moved
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.to_string_lossy().into_owned())
                .unwrap()
        };
        assert_eq!(get("CARGO_MANIFEST_DIR"), "/build/ws/app");
        assert_eq!(get("CARGO_BIN_EXE_app"), "/build/t/debug/app");
        assert_eq!(get("OUT_DIR"), "/build/t/debug/build/app-1/out");
        assert_eq!(get("LD_LIBRARY_PATH"), "/build/t/debug/deps:/usr/lib");
        assert_eq!(get("HOME"), "/u/ws/app", "not a build path");
        assert_eq!(get("CARGO_PKG_NAME"), "/u/ws");
    }

    #[test]
    fn run_ids_are_v4_uuids() {
        let id = uuid_from(|b| {
            b.fill(0xff);
            Ok(())
        })
        .unwrap();
        assert_eq!(id, "ffffffff-ffff-4fff-bfff-ffffffffffff");
        let id = uuid_from(|b| {
            b.fill(0);
            Ok(())
        })
        .unwrap();
        assert_eq!(id, "00000000-0000-4000-8000-000000000000");
        assert_eq!(run_id().len(), 36);
        assert_eq!(run_id(), run_id(), "one id per run");
        assert_eq!(try_run_id().unwrap(), run_id());
        assert_ne!(try_random_uuid().unwrap(), try_random_uuid().unwrap());
    }

    /// No randomness is an error that says what to do, never a fixed id.
    #[test]
    fn no_randomness_is_an_error_not_a_fixed_id() {
        let e = uuid_from(|_| Err(getrandom::Error::UNSUPPORTED)).unwrap_err();
        let message = e.to_string();
        assert!(message.contains("getrandom"), "{message}");
        assert!(message.contains("/dev/urandom"), "{message}");
        let e: crate::error::Error = e.into();
        assert_eq!(e.exit_code(), crate::error::EXIT_SETUP);
    }
}
