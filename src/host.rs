//! What this machine allows, found out once per run before any test: root
//! or rootless, which cgroup hierarchy (if any) we may write, whether
//! namespaces can be made at all. Failures become one clear setup error
//! that names the cause and the fix.

use crate::cgroup::{self, HostView, Limits, RunCgroup};
use crate::cli::{Isolation, SandboxArgs};
use crate::error::Error;
use crate::sandbox::{self, InitEnd, InitSpec, Namespaces, Output, RootLayout};
use std::path::{Path, PathBuf};

pub struct Host {
    pub kernel: String,
    pub rootless: bool,
    pub cgroup: Option<RunCgroup>,
    pub limits: Limits,
    /// Said once before the run when something could not be enforced.
    pub warnings: Vec<String>,
}

impl Host {
    pub fn cgroup_name(&self) -> &'static str {
        self.cgroup
            .as_ref()
            .map(|c| c.version().as_str())
            .unwrap_or("none")
    }

    pub fn namespaces(&self, isolation: Isolation) -> Namespaces {
        match isolation {
            Isolation::None => Namespaces::None,
            _ => Namespaces::Full {
                user: self.rootless,
            },
        }
    }
}

pub fn prepare(args: &SandboxArgs) -> Result<Host, Error> {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    let rootless = !nix::unistd::geteuid().is_root();
    let limits = Limits {
        memory_max_bytes: args.memory_max,
        pids_max: args.pids_max,
        cpus: args.cpus,
    };
    let view = HostView::current()?;
    cgroup::remove_stale(&view);
    let cgroup = RunCgroup::create(&view, &limits)?;
    let mut warnings = Vec::new();
    let unenforced: Vec<&str> = match &cgroup {
        Some(c) => c.unsupported(&limits),
        None => [
            ("--memory-max", limits.memory_max_bytes.is_some()),
            ("--pids-max", limits.pids_max.is_some()),
            ("--cpus", limits.cpus.is_some()),
        ]
        .iter()
        .filter(|(_, on)| *on)
        .map(|(n, _)| *n)
        .collect(),
    };
    if !unenforced.is_empty() {
        let why = if cgroup.is_none() {
            no_cgroup_reason(rootless)
        } else {
            "the cgroup hierarchy here lacks the controller".to_string()
        };
        let msg = format!("{} cannot be enforced: {why}", unenforced.join(", "));
        if !args.allow_unenforced_limits {
            return Err(Error::setup(format!(
                "{msg}\n  or pass --allow-unenforced-limits to run without them"
            )));
        }
        warnings.push(format!(
            "{msg}; running without them (--allow-unenforced-limits)"
        ));
    } else if cgroup.is_none() {
        warnings.push(format!(
            "no writable cgroup: peak memory comes from max RSS and no limit can be set; {}",
            no_cgroup_reason(rootless)
        ));
    }
    let host = Host {
        kernel,
        rootless,
        cgroup,
        limits,
        warnings,
    };
    if args.isolation != Isolation::None {
        probe_namespaces(&host)?;
    }
    Ok(host)
}

fn no_cgroup_reason(rootless: bool) -> String {
    if rootless {
        "an ordinary user needs a delegated cgroup v2 subtree: run as root, or \
         `systemd-run --user --scope -p Delegate=yes cargo isolate test ...`"
            .to_string()
    } else {
        "no cgroup v1 memory hierarchy or cgroup v2 tree is mounted writable here".to_string()
    }
}

/// Builds one empty sandbox to see that namespaces and mounts work here.
fn probe_namespaces(host: &Host) -> Result<(), Error> {
    let layout = base_layout(&[], &[], false);
    let spec = InitSpec {
        mounts: Some(layout.steps()),
        tmpfs_size_bytes: 1 << 20,
        hostname: Some("isolate-probe".into()),
        loopback: true,
        pid_namespace: true,
        lock_mounts: true,
        uid: nix::unistd::getuid().as_raw(),
        gid: nix::unistd::getgid().as_raw(),
        probe_only: true,
        workdir: "/".into(),
        program: "/".into(),
        args: vec![],
    };
    let req = sandbox::Request {
        spec: &spec,
        env: &[],
        namespaces: host.namespaces(Isolation::PerTest),
        cgroup: None,
        output: Output::Capture { limit: 4096 },
        timeout: Some(std::time::Duration::from_secs(30)),
        cancel: None,
        netns: None,
    };
    let exec = match sandbox::execute(&req) {
        Ok(e) => e,
        Err(e) => {
            return Err(Error::setup(explain_namespace_failure(
                &e.to_string(),
                host.rootless,
            )));
        }
    };
    match exec.end {
        InitEnd::Reported(_) => Ok(()),
        InitEnd::SetupFailed(msg) => {
            Err(Error::setup(explain_namespace_failure(&msg, host.rootless)))
        }
        InitEnd::Died { wait_status } => Err(Error::setup(format!(
            "the sandbox init died during the preflight check (wait status {wait_status}): {}",
            exec.stderr.text().trim()
        ))),
    }
}

fn read_sysctl(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// Turns "operation not permitted" into the reason and the fix.
pub fn explain_namespace_failure(detail: &str, rootless: bool) -> String {
    let mut msg = format!("cannot create the sandbox's namespaces: {detail}\n");
    // Even as root the sandbox makes a (nested) user namespace.
    if read_sysctl("/proc/sys/user/max_user_namespaces").as_deref() == Some("0") {
        msg.push_str(
            "  user namespaces are disabled here (user.max_user_namespaces = 0):\n  \
             enable them with `sudo sysctl -w user.max_user_namespaces=15000`",
        );
        return msg;
    }
    if rootless {
        if read_sysctl("/proc/sys/kernel/unprivileged_userns_clone").as_deref() == Some("0") {
            msg.push_str(
                "  unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone = 0):\n  \
                 enable them with `sudo sysctl -w kernel.unprivileged_userns_clone=1`, or run as root",
            );
        } else if read_sysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").as_deref()
            == Some("1")
        {
            msg.push_str(
                "  AppArmor restricts unprivileged user namespaces (Ubuntu 23.10+):\n  \
                 allow them with `sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`,\n  \
                 or install an AppArmor profile granting `userns,` to cargo-isolate, or run as root",
            );
        } else {
            msg.push_str(
                "  user namespaces are not available to this user (a container or a seccomp \
                 policy may forbid them):\n  run as root, or allow unprivileged user namespaces",
            );
        }
    } else {
        msg.push_str(
            "  even root cannot make namespaces here, which usually means a container without \
             CAP_SYS_ADMIN or a seccomp profile that blocks clone3/unshare/mount:\n  \
             run the container with --privileged (or --cap-add SYS_ADMIN and an unconfined seccomp profile)",
        );
    }
    msg
}

/// The system directories and toolchain every sandbox shows read-only,
/// plus `read_only` and `overlays` given by the caller.
pub fn base_layout(
    read_only: &[PathBuf],
    overlays: &[PathBuf],
    read_only_source: bool,
) -> RootLayout {
    let mut system = Vec::new();
    for dir in sandbox::spec::SYSTEM_DIRS {
        let path = Path::new(dir);
        match std::fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_symlink() => {
                if let Ok(target) = std::fs::read_link(path) {
                    system.push((path.to_path_buf(), Some(target)));
                }
            }
            Ok(m) if m.is_dir() => system.push((path.to_path_buf(), None)),
            _ => {}
        }
    }
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let mut ro: Vec<PathBuf> = toolchain_dirs(home.as_deref());
    ro.extend(read_only.iter().cloned());
    RootLayout {
        system,
        read_only: ro.into_iter().filter(|p| p.exists()).collect(),
        overlays: overlays.to_vec(),
        // A HOME that does not exist on the host does not exist inside either.
        empty_dirs: home
            .into_iter()
            .filter(|h| h.is_absolute() && h != Path::new("/") && h.is_dir())
            .collect(),
        scratch: Vec::new(),
        read_only_source,
    }
}

/// RUSTUP_HOME and CARGO_HOME: some suites run rustc or cargo.
fn toolchain_dirs(home: Option<&Path>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for (var, default) in [("RUSTUP_HOME", ".rustup"), ("CARGO_HOME", ".cargo")] {
        match std::env::var_os(var) {
            Some(v) => out.push(PathBuf::from(v)),
            None => {
                if let Some(h) = home {
                    out.push(h.join(default));
                }
            }
        }
    }
    out.into_iter()
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .collect()
}

/// The `--ro-bind` paths, checked before anything runs.
pub fn extra_read_only(args: &SandboxArgs) -> Result<Vec<PathBuf>, Error> {
    args.ro_bind
        .iter()
        .map(|p| {
            std::fs::canonicalize(p)
                .map_err(|e| Error::Usage(format!("--ro-bind {}: {e}", p.display())))
        })
        .collect()
}

/// Default tmpfs size: half the memory limit (so filling it ends in ENOSPC
/// before the OOM killer), else 1 GiB.
pub fn tmpfs_size(args: &SandboxArgs) -> u64 {
    args.tmpfs_size
        .or(args.memory_max.map(|m| (m / 2).max(1 << 20)))
        .unwrap_or(1 << 30)
}
