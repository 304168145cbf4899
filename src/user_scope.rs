//! Rootless limits without a wrapper. On a cgroup v2 machine an ordinary
//! user's session cgroup belongs to root, so nothing could be limited or
//! measured there; the user's own systemd manager can give a cgroup that
//! is theirs: a transient scope with `Delegate=yes`, which is what podman
//! and crun ask it for. [`enter`] asks it with `systemd-run --user
//! --scope` (the documented way, no D-Bus client of our own) and execs this
//! same command inside it, before anything else has started: the process
//! keeps its terminal, its signals and its exit code, and the scope is
//! `--collect`ed by systemd when the run ends, so no unit is left behind.
//!
//! A probe scope (`true`) goes first, so that a manager that cannot give
//! one (none running, no D-Bus, a policy) is found out while the run can
//! still go on without it: [`why_not`] then says why, for the message that
//! refuses limits. `CARGO_ISOLATE_SYSTEMD_SCOPE=never` turns it off.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Set inside the scope (to the unit's name): never ask twice.
pub const IN_SCOPE_VAR: &str = "CARGO_ISOLATE_SYSTEMD_SCOPE_UNIT";
/// `never` turns the scope off.
pub const CHOICE_VAR: &str = "CARGO_ISOLATE_SYSTEMD_SCOPE";

/// How long the probe may take before the manager counts as unreachable.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the run is not in a delegated scope, once [`enter`] decided.
static WHY_NOT: OnceLock<String> = OnceLock::new();

/// Why no scope was asked for or given, when it would have helped: for
/// the message that says limits need a writable cgroup.
pub fn why_not() -> Option<&'static str> {
    WHY_NOT.get().map(String::as_str)
}

/// The scope this run is in, when it asked for one (a name of ours: the
/// variable is the environment's, and the name goes into the report).
pub fn unit() -> Option<String> {
    std::env::var(IN_SCOPE_VAR).ok().filter(|u| {
        u.strip_prefix("cargo-isolate-")
            .and_then(|rest| rest.strip_suffix(".scope"))
            .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// Execs `args` (this command line) inside a delegated scope from the
/// user's systemd when that is what gives this run a cgroup; returns when
/// it is not needed or not possible (see [`why_not`]).
pub fn enter(args: &[OsString]) {
    if nix::unistd::geteuid().is_root() || std::env::var_os(IN_SCOPE_VAR).is_some() {
        return;
    }
    let Ok(view) = crate::cgroup::HostView::current() else {
        return;
    };
    if !crate::cgroup::wants_delegation(&view) {
        return;
    }
    let reason = match plan() {
        Ok(systemd_run) => match probe(&systemd_run) {
            Ok(()) => exec(&systemd_run, args),
            Err(e) => e,
        },
        Err(e) => e,
    };
    let _ = WHY_NOT.set(reason);
}

/// The `systemd-run` to use, or why there is none to ask.
fn plan() -> Result<PathBuf, String> {
    if std::env::var(CHOICE_VAR).is_ok_and(|v| v == "never") {
        return Err(format!("{CHOICE_VAR}=never is set"));
    }
    let Some(systemd_run) = find_in_path("systemd-run") else {
        return Err(
            "systemd-run is not installed (no systemd here to ask for a delegated scope)".into(),
        );
    };
    let runtime = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from);
    let manager = runtime.as_deref().map(|r| r.join("systemd/private"));
    if !manager.as_deref().is_some_and(Path::exists) {
        return Err(
            "no systemd user manager is reachable ($XDG_RUNTIME_DIR/systemd/private is missing): \
             log in through a session that starts one (or `loginctl enable-linger $USER`)"
                .into(),
        );
    }
    Ok(systemd_run)
}

/// A throw-away scope, to see that the manager gives one.
fn probe(systemd_run: &Path) -> Result<(), String> {
    let mut child = scope_command(systemd_run, None)
        .arg("true")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", systemd_run.display()))?;
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(_)) => {
                let out = child
                    .wait_with_output()
                    .map(|o| o.stderr)
                    .unwrap_or_default();
                let said = String::from_utf8_lossy(&out);
                return Err(format!(
                    "the systemd user manager did not give a delegated scope: {}",
                    said.trim()
                ));
            }
            Ok(None) if started.elapsed() > PROBE_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "the systemd user manager did not answer within {}s",
                    PROBE_TIMEOUT.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(format!("cannot wait for systemd-run: {e}")),
        }
    }
}

/// Replaces this process with itself inside a new scope; returns only the
/// reason when the exec itself failed.
fn exec(systemd_run: &Path, args: &[OsString]) -> String {
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => return format!("cannot find this program to run it in a scope: {e}"),
    };
    let unit = format!("cargo-isolate-{}.scope", std::process::id());
    let e = scope_command(systemd_run, Some(&unit))
        .env(IN_SCOPE_VAR, &unit)
        .arg(exe)
        .args(args.iter().skip(1))
        .exec();
    format!("cannot run {}: {e}", systemd_run.display())
}

fn scope_command(systemd_run: &Path, unit: Option<&str>) -> Command {
    let mut cmd = Command::new(systemd_run);
    cmd.args(["--user", "--scope", "--quiet", "--collect"]);
    cmd.args(["--property", "Delegate=yes"]);
    if let Some(u) = unit {
        cmd.arg(format!("--unit={u}"));
        cmd.arg("--description=cargo-isolate");
    }
    cmd.arg("--");
    cmd
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| nix::unistd::access(p, nix::unistd::AccessFlags::X_OK).is_ok())
}
