//! What this machine allows, found out once per run before any test: root
//! or rootless, which cgroup hierarchy (if any) we may write, whether
//! namespaces can be made at all. Failures become one clear setup error
//! that names the cause and the fix.

use crate::cgroup::{self, HostView, Limits, RunCgroup};
use crate::cli::{DEFAULT_PIDS_MAX, Isolation, PidsMax, SandboxArgs, Seccomp};
use crate::confinement::Confinement;
use crate::error::Error;
use crate::model::Enforced;
use crate::sandbox::netfault::{DelayMechanism, NetFaultError, NetFaults};
use crate::sandbox::seccomp::{Filters, Profile};
use crate::sandbox::spec::MountStep;
use crate::sandbox::{self, InitEnd, InitSpec, Namespaces, Output, RootLayout};
use std::path::{Path, PathBuf};

pub struct Host {
    pub kernel: String,
    pub rootless: bool,
    /// The compiled `--seccomp` filter (empty for `none`).
    pub seccomp: Filters,
    /// The zygote carries the filter and a fresh session keyring already.
    pub keyring_fresh: bool,
    pub cgroup: Option<RunCgroup>,
    pub limits: Limits,
    /// Which limits this host's cgroup can enforce (all `Some`): a report
    /// says of each limit set whether it held.
    pub enforces: Enforced,
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

/// `any_limits`: every limit some test of the run may get (overrides
/// included): the cgroup must be able to enforce them all.
/// `zygote_wall`: every sandbox of the run is a sandbox (no unit runs with
/// isolation none), so the default filter may go on the zygote once.
pub fn prepare(
    args: &SandboxArgs,
    isolation: Isolation,
    any_limits: Option<&Limits>,
    zygote_wall: bool,
) -> Result<Host, Error> {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    let rootless = !nix::unistd::geteuid().is_root();
    let mut limits = Limits {
        memory_max_bytes: args.memory_max,
        pids_max: args.pids_max.and_then(PidsMax::limit),
        cpus: args.cpus,
    };
    let requested = any_limits.copied().unwrap_or(limits);
    let view = HostView::current()?;
    cgroup::remove_stale(&view);
    let mut cgroup = RunCgroup::create(&view, &requested)?;
    if let (Some(c), Some(zygote)) = (cgroup.as_mut(), sandbox::zygote_pid()) {
        c.confine(&view, zygote)?;
    }
    let default_pids = Limits {
        pids_max: Some(DEFAULT_PIDS_MAX),
        ..Limits::default()
    };
    if args.pids_max.is_none()
        && cgroup
            .as_ref()
            .is_some_and(|c| c.unsupported(&default_pids).is_empty())
    {
        limits.pids_max = default_pids.pids_max;
    }
    let enforces = enforceable(cgroup.as_ref());
    let mut warnings = Vec::new();
    let unenforced: Vec<&str> = match &cgroup {
        Some(c) => c.unsupported(&requested),
        None => [
            ("--memory-max", requested.memory_max_bytes.is_some()),
            ("--pids-max", requested.pids_max.is_some()),
            ("--cpus", requested.cpus.is_some()),
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
    let (seccomp, keyring_fresh) = match (&args.seccomp, zygote_wall) {
        (Seccomp::Default, true) => (wall_the_zygote()?, true),
        _ => (compile_seccomp(&args.seccomp)?, false),
    };
    let host = Host {
        kernel,
        rootless,
        seccomp,
        keyring_fresh,
        cgroup,
        limits,
        enforces,
        warnings,
    };
    if isolation != Isolation::None {
        probe_namespaces(&host, args)?;
    }
    Ok(host)
}

/// Which limits `cgroup` can enforce: none without one.
fn enforceable(cgroup: Option<&RunCgroup>) -> Enforced {
    let every = Limits {
        memory_max_bytes: Some(1),
        pids_max: Some(1),
        cpus: Some(1.0),
    };
    let missing = cgroup.map(|c| c.unsupported(&every));
    let can = |flag: &str| Some(missing.as_ref().is_some_and(|m| !m.contains(&flag)));
    Enforced {
        memory_max: can("--memory-max"),
        pids_max: can("--pids-max"),
        cpus: can("--cpus"),
    }
}

/// The filter of `--seccomp`, compiled once for every sandbox of the run.
/// A profile that cannot be read or used is a usage error that names the
/// place of the fault.
pub fn compile_seccomp(choice: &Seccomp) -> Result<Filters, Error> {
    let profile = match choice {
        Seccomp::None => return Ok(Filters::default()),
        Seccomp::Default => Profile::builtin(),
        Seccomp::Profile(path) => Profile::from_oci_file(path)?,
    };
    profile
        .compile(sandbox::x32_abi_enabled())
        .map_err(Error::setup)
}

/// The default filter without `clone3` goes on the zygote, once for the
/// run: every init and test inherits it, and no test pays for attaching
/// it (the kernel walks a filter once per syscall number when it attaches
/// it: about 90 us of CPU for this one). Returns what each test's process
/// still installs: the short `clone3` program.
fn wall_the_zygote() -> Result<Filters, Error> {
    let (shared, own) = Profile::builtin_split();
    let x32 = sandbox::x32_abi_enabled();
    let shared = shared.compile(x32).map_err(Error::setup)?;
    sandbox::zygote_wall(&shared).map_err(|e| {
        Error::setup(format!(
            "cannot install the seccomp filter on the sandbox zygote: {e}\n  \
             --seccomp none runs without it"
        ))
    })?;
    own.compile(x32).map_err(Error::setup)
}

/// Why there is no writable cgroup here, and what to do (never
/// systemd-run inside a container).
fn no_cgroup_reason(rootless: bool) -> String {
    let advice = Confinement::read(Path::new("/")).cgroup_advice(rootless);
    match crate::user_scope::why_not() {
        Some(why) if rootless => {
            format!("{advice} (a delegated scope from systemd was not to be had: {why})")
        }
        _ => advice,
    }
}

/// The init's spec for running `program` in `layout` with this run's
/// sandbox settings (`isolation none`: no namespaces, no mounts).
pub fn init_spec(
    host: &Host,
    args: &SandboxArgs,
    isolation: Isolation,
    layout: &RootLayout,
    workdir: PathBuf,
    program: PathBuf,
    program_args: Vec<String>,
) -> InitSpec {
    let sandboxed = isolation != Isolation::None;
    let mut steps = layout.steps();
    if !args.hosts.is_empty() {
        let entries: Vec<(String, std::net::IpAddr)> = args
            .hosts
            .iter()
            .map(|h| (h.name.clone(), h.addr))
            .collect();
        steps.push(MountStep::File {
            path: "/etc/hosts".into(),
            contents: crate::sandbox::spec::hosts_file(&args.hostname, &entries),
        });
    }
    // A --ro-bind of /sys (or below it) is what the user asked to see.
    let sys_bound = steps.iter().any(|s| s.path().starts_with("/sys"));
    InitSpec {
        mounts: sandboxed.then_some(steps),
        tmpfs_size_bytes: tmpfs_size(args),
        tmpfs_inodes: tmpfs_inodes(args),
        scratch_dir: None,
        scratch_image: None,
        hostname: sandboxed.then(|| args.hostname.clone()),
        own_network: sandboxed,
        pid_namespace: sandboxed,
        test_userns: sandboxed,
        rootless: host.rootless,
        sysfs: sandboxed && !args.no_sys && !sys_bound,
        uid: nix::unistd::getuid().as_raw(),
        gid: nix::unistd::getgid().as_raw(),
        net_faults: match sandboxed {
            true => args.net.faults(),
            false => Default::default(),
        },
        keyring_fresh: sandboxed && host.keyring_fresh,
        seccomp: match sandboxed {
            true => host.seccomp.clone(),
            false => Filters::default(),
        },
        probe_only: false,
        workdir,
        program,
        args: program_args,
    }
}

/// Applies `faults` in one empty sandbox before the run, so that a kernel
/// without netem (or nf_tables) fails the run at once, with the module to
/// load, rather than every test.
pub fn probe_net_faults(host: &Host, args: &SandboxArgs, faults: &NetFaults) -> Result<(), Error> {
    probe(host, args, faults).map_err(Error::setup)
}

/// What makes `faults`' delay here: netem when the kernel has it, else
/// NFQUEUE; each tried in an empty sandbox, so that a kernel with neither
/// fails the run at once.
pub fn net_delay_mechanism(
    host: &Host,
    args: &SandboxArgs,
    faults: &NetFaults,
) -> Result<DelayMechanism, Error> {
    let netem = faults.with_mechanism(DelayMechanism::Netem);
    match probe(host, args, &netem) {
        Ok(()) => Ok(DelayMechanism::Netem),
        Err(msg) if msg.contains(&NetFaultError::NoNetem.to_string()) => {
            let nfqueue = faults.with_mechanism(DelayMechanism::Nfqueue);
            probe(host, args, &nfqueue).map_err(|e| {
                Error::setup(format!(
                    "{e}\n  (this kernel has no netem qdisc either, module sch_netem: `modprobe sch_netem` as root gives --net-delay another way)"
                ))
            })?;
            Ok(DelayMechanism::Nfqueue)
        }
        Err(msg) => Err(Error::setup(msg)),
    }
}

/// Builds one empty sandbox to see that namespaces and mounts work here.
fn probe_namespaces(host: &Host, args: &SandboxArgs) -> Result<(), Error> {
    probe(host, args, &NetFaults::default())
        .map_err(|msg| Error::setup(explain_namespace_failure(&msg, host.rootless)))
}

/// One empty sandbox with `faults`: `Err` holds what failed.
fn probe(host: &Host, args: &SandboxArgs, faults: &NetFaults) -> Result<(), String> {
    let layout = base_layout(&[], &[], false);
    let mut spec = init_spec(
        host,
        args,
        Isolation::PerTest,
        &layout,
        "/".into(),
        "/".into(),
        vec![],
    );
    spec.tmpfs_size_bytes = 1 << 20;
    spec.probe_only = true;
    spec.net_faults = faults.clone();
    let req = sandbox::Request {
        spec: &spec,
        env: &[],
        namespaces: host.namespaces(Isolation::PerTest),
        cgroup: None,
        output: Output::Capture {
            limit: 4096,
            echo: false,
        },
        timeout: Some(std::time::Duration::from_secs(30)),
        grace: None,
        cancel: None,
        netns: None,
        gate: None,
        on_start: None,
    };
    let exec = sandbox::execute(&req).map_err(|e| e.to_string())?;
    match exec.end {
        InitEnd::Reported(_) => Ok(()),
        InitEnd::SetupFailed(msg) => Err(msg),
        InitEnd::Died { wait_status } => Err(format!(
            "the sandbox init died during the preflight check (wait status {wait_status}): {}",
            exec.stderr.text().trim()
        )),
    }
}

/// Turns "operation not permitted" into the reason and the fix: what
/// confines this process (a container's capabilities, seccomp, AppArmor).
pub fn explain_namespace_failure(detail: &str, rootless: bool) -> String {
    format!(
        "cannot create the sandbox's namespaces: {detail}\n{}",
        Confinement::read(Path::new("/")).namespaces_advice(rootless)
    )
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
    let (mut ro, cargo_home) = toolchain_dirs(home.as_deref());
    ro.extend(read_only.iter().cloned());
    RootLayout {
        system,
        secrets: secrets(home.as_deref(), cargo_home.as_deref()),
        read_only: ro.into_iter().filter(|p| p.exists()).collect(),
        overlays: overlays.to_vec(),
        // A HOME that does not exist on the host does not exist inside either.
        empty_dirs: home
            .into_iter()
            .filter(|h| h.is_absolute() && h != Path::new("/") && h.is_dir())
            .collect(),
        scratch: Vec::new(),
        read_only_source,
        moved: Vec::new(),
    }
}

/// What of CARGO_HOME a test can need: the installed tools and the sources
/// a test that runs cargo builds from. Not its credentials or config.
const CARGO_HOME_VISIBLE: &[&str] = &["bin", "registry", "git"];

/// The toolchain, read-only, since some suites run rustc or cargo: all of
/// RUSTUP_HOME, the [`CARGO_HOME_VISIBLE`] parts of CARGO_HOME. Also
/// returns CARGO_HOME itself.
fn toolchain_dirs(home: Option<&Path>) -> (Vec<PathBuf>, Option<PathBuf>) {
    let dir = |var: &str, default: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .or_else(|| home.map(|h| h.join(default)))
            .and_then(|p| std::fs::canonicalize(p).ok())
    };
    let cargo_home = dir("CARGO_HOME", ".cargo");
    let mut out: Vec<PathBuf> = dir("RUSTUP_HOME", ".rustup").into_iter().collect();
    for part in CARGO_HOME_VISIBLE {
        out.extend(cargo_home.as_ref().map(|c| c.join(part)));
    }
    (out, cargo_home)
}

/// Credentials that must never be visible, even when a bind shows the
/// directory they live in (HOME is the package dir; `run` from HOME).
const HOME_SECRETS: &[&str] = &[
    ".ssh",
    ".gnupg",
    ".netrc",
    ".git-credentials",
    ".aws",
    ".docker",
    ".kube",
    ".config/gh",
    ".config/hub",
    ".config/gcloud",
    ".azure",
    ".npmrc",
    ".pypirc",
    ".gem/credentials",
    ".m2/settings.xml",
    ".terraform.d",
    ".vault-token",
    ".password-store",
    ".local/share/keyrings",
];
const CARGO_SECRETS: &[&str] = &["credentials", "credentials.toml"];

fn secrets(home: Option<&Path>, cargo_home: Option<&Path>) -> Vec<(PathBuf, bool)> {
    let home = home.and_then(|h| std::fs::canonicalize(h).ok());
    let in_home = home
        .iter()
        .flat_map(|h| HOME_SECRETS.iter().map(|s| h.join(s)));
    let in_cargo = cargo_home
        .into_iter()
        .flat_map(|c| CARGO_SECRETS.iter().map(|s| c.join(s)));
    in_home
        .chain(in_cargo)
        .filter_map(|p| {
            let meta = std::fs::symlink_metadata(&p).ok()?;
            Some((p, meta.is_dir()))
        })
        .collect()
}

/// The `--ro-bind` paths, checked before anything runs.
pub fn extra_read_only(args: &SandboxArgs) -> Result<Vec<PathBuf>, Error> {
    args.ro_bind
        .iter()
        .map(|p| {
            let path = std::fs::canonicalize(p)
                .map_err(|e| Error::Usage(format!("--ro-bind {}: {e}", p.display())))?;
            if path == Path::new("/") {
                return Err(Error::Usage(
                    "--ro-bind /: the sandbox's root is its own; bind the directories you need"
                        .into(),
                ));
            }
            Ok(path)
        })
        .collect()
}

/// Default tmpfs size: half the memory limit (so filling it ends in ENOSPC
/// before the OOM killer), else 1 GiB.
/// Default inode bound: one per 4 KiB of tmpfs, at least 4096. Each inode
/// costs about 1.2 KiB of kernel memory (measured: 400,000 directories,
/// 471.6 MiB), so the bound keeps that under a third of the size.
pub fn tmpfs_inodes(args: &SandboxArgs) -> u64 {
    args.tmpfs_inodes
        .unwrap_or_else(|| (tmpfs_size(args) / 4096).max(4096))
}

pub fn tmpfs_size(args: &SandboxArgs) -> u64 {
    args.tmpfs_size
        .or(args.memory_max.map(|m| (m / 2).max(1 << 20)))
        .unwrap_or(1 << 30)
}

/// What the machine can give the tests at once: its memory, or the
/// runner's own cgroup limit where lower (a CI container). `None` when
/// neither can be read.
pub fn memory_for_tests() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok();
    let total = meminfo.as_deref().and_then(|m| {
        let kib = m.lines().find_map(|l| l.strip_prefix("MemTotal:"))?;
        kib.trim().trim_end_matches("kB").trim().parse::<u64>().ok()
    });
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let limits = own.lines().filter_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let path = path.trim_start_matches('/');
        let file = match controllers {
            "" => Path::new("/sys/fs/cgroup").join(path).join("memory.max"),
            c if c.split(',').any(|c| c == "memory") => Path::new("/sys/fs/cgroup/memory")
                .join(path)
                .join("memory.limit_in_bytes"),
            _ => return None,
        };
        std::fs::read_to_string(file)
            .ok()?
            .trim()
            .parse::<u64>()
            .ok()
    });
    limits.chain(total.map(|kib| kib * 1024)).min()
}
