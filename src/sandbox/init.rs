//! The sandbox's init: a clone of the zygote, pid 1 of the new pid
//! namespace, reading its [`InitSpec`] and the test's environment from
//! its spec channel ([`InitFds`]). It builds the root, forks the test,
//! reaps every process, and reports the test's wait status and resource
//! usage on its report channel before it exits (which makes the kernel
//! kill whatever is left).
//!
//! The test does not run in the init's namespaces. Once forked, it makes
//! a user namespace of its own (the init writes its id maps from outside),
//! then, inside it, its network, uts and ipc namespaces, so it owns them
//! (raw sockets, routes, its hostname); the init mounts a sysfs of the
//! test's network namespace and drops the host root; last, the test copies
//! the mount namespace, which locks every mount the init made. The init
//! stays outside the test's user namespace, non-dumpable, holding the only
//! copy of the report channel.
//!
//! Single-threaded by construction: it is a clone of the zygote, a
//! single-threaded exec of this binary, so it may allocate freely between
//! fork and exec (and `sys::fork_single_threaded` checks it). What must
//! run beside the test is a child, not a thread: the `--net-delay`
//! delayer (`nfqueue.rs`), forked into the test's network namespace
//! before the test starts and killed with the test's leftovers.

use super::spec::{InitSpec, MountStep, overlay_escape};
use super::sys::{self, InitFds, InitStdio};
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, unshare};
use std::ffi::CString;
use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Where the host's root is kept while the new root is built.
const OLD_ROOT: &str = "/.oldroot";
/// Where overlay upper and work directories live on the root tmpfs.
const OVERLAY_STATE: &str = "/.isolate-overlay";
/// The init's own places in the new root: nothing may be mounted there.
pub const OWN_PATHS: [&str; 2] = [OLD_ROOT, OVERLAY_STATE];

/// A failed setup step, in words the runner passes to the user.
#[derive(Debug)]
pub struct InitError(String);

impl std::fmt::Display for InitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

trait Step<T> {
    fn step(self, what: impl FnOnce() -> String) -> Result<T, InitError>;
}

impl<T, E: Into<io::Error>> Step<T> for Result<T, E> {
    fn step(self, what: impl FnOnce() -> String) -> Result<T, InitError> {
        self.map_err(|e| InitError(format!("{}: {}", what(), e.into())))
    }
}

/// The line the init writes on fd 3 when the test ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitReport {
    pub wait_status: i32,
    pub max_rss_kib: i64,
    pub cpu_us: i64,
    pub wall_us: i64,
}

impl InitReport {
    pub fn to_line(self) -> String {
        format!(
            "ok {} {} {} {}\n",
            self.wait_status, self.max_rss_kib, self.cpu_us, self.wall_us
        )
    }

    /// Exactly "ok" and four integers, single-spaced.
    pub fn parse(line: &str) -> Option<InitReport> {
        let fields: Vec<&str> = line.strip_prefix("ok ")?.split(' ').collect();
        let [status, rss, cpu, wall] = fields[..] else {
            return None;
        };
        Some(InitReport {
            wait_status: status.parse().ok()?,
            max_rss_kib: rss.parse().ok()?,
            cpu_us: cpu.parse().ok()?,
            wall_us: wall.parse().ok()?,
        })
    }
}

/// Entry point of a new init, in the zygote's clone. Never returns.
pub(super) fn main(fds: InitFds) -> ! {
    // First of all: nothing in this process may be ptraced or read
    // through /proc by the test.
    let dumpable = sys::set_dumpable(false).step(|| "make the init non-dumpable".into());
    let InitFds {
        mut stdio,
        mut report,
        spec,
        gate,
    } = fds;
    let result = dumpable
        .and_then(|()| read_spec(spec))
        .and_then(|(spec, env)| run(&spec, &env, &mut stdio, gate));
    let code = match result {
        Ok(r) => {
            let _ = report.write_all(r.to_line().as_bytes());
            0
        }
        Err(e) => {
            let _ = writeln!(report, "err {e}");
            1
        }
    };
    // Closed before the namespaces are torn down at exit: the runner has
    // all it needs and may start the next test meanwhile.
    drop(report);
    sys::exit_now(code)
}

/// The spec and, after a NUL, the test's environment (see
/// [`super::execute`]).
fn read_spec(mut channel: fs::File) -> Result<(InitSpec, Vec<CString>), InitError> {
    let mut bytes = Vec::new();
    channel
        .read_to_end(&mut bytes)
        .step(|| "read the sandbox spec".into())?;
    let (json, env) = bytes.split_at(bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len()));
    let spec = serde_json::from_slice(json)
        .map_err(io::Error::other)
        .step(|| "parse the sandbox spec".into())?;
    let env = env
        .split(|b| *b == 0)
        .filter(|kv| !kv.is_empty())
        .filter_map(|kv| CString::new(kv).ok())
        .collect();
    Ok((spec, env))
}

fn run(
    spec: &InitSpec,
    env: &[CString],
    stdio: &mut InitStdio,
    gate: UnixStream,
) -> Result<InitReport, InitError> {
    sys::set_no_new_privs().step(|| "set no_new_privs".into())?;
    // Out of the runner's session and process group: nothing below can
    // signal them as a group, and no controlling terminal is inherited.
    nix::unistd::setsid().step(|| "start a new session".into())?;
    if let Some(steps) = &spec.mounts {
        // nr_inodes=0 would mean no bound: a spec without one keeps the
        // kernel's default.
        let mut bounds = format!("size={}", spec.tmpfs_size_bytes);
        if spec.tmpfs_inodes > 0 {
            bounds += &format!(",nr_inodes={}", spec.tmpfs_inodes);
        }
        build_root(
            steps,
            &bounds,
            spec.scratch_dir.as_deref(),
            spec.scratch_image.as_deref(),
            spec.pid_namespace,
        )?;
    }
    if !spec.pid_namespace {
        // Without a pid namespace, orphans must come back to us to be killed.
        sys::set_child_subreaper().step(|| "become a child subreaper".into())?;
    }
    run_test(spec, env, stdio, gate)
}

/// Builds the new root on a tmpfs and switches to it. The host root stays
/// at OLD_ROOT, the source of every bind, until the test's namespaces
/// exist (see [`detach_host_root`]).
fn build_root(
    steps: &[MountStep],
    tmpfs_bounds: &str,
    scratch_dir: Option<&Path>,
    scratch_image: Option<&Path>,
    fresh_proc: bool,
) -> Result<(), InitError> {
    let none: Option<&str> = None;
    // Our mounts must not propagate back to the host, and pivot_root refuses
    // a shared root.
    mount(none, "/", none, MsFlags::MS_REC | MsFlags::MS_PRIVATE, none)
        .step(|| "make / private in the new mount namespace".into())?;
    if let (Some(dir), Some(image)) = (scratch_dir, scratch_image) {
        mount_image(image, dir)?;
    }
    let opts = format!("{tmpfs_bounds},mode=0755");
    // /tmp is only the mount point of the future root; after pivot_root the
    // host's /tmp is visible again under OLD_ROOT.
    mount(
        Some("tmpfs"),
        "/tmp",
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(opts.as_str()),
    )
    .step(|| "mount the root tmpfs".into())?;
    let put_old = format!("/tmp{OLD_ROOT}");
    fs::create_dir(&put_old).step(|| format!("create {put_old}"))?;
    nix::unistd::pivot_root("/tmp", put_old.as_str()).step(|| "pivot_root to the tmpfs".into())?;
    std::env::set_current_dir("/").step(|| "chdir to the new root".into())?;

    let mut writable = Writable {
        tmpfs_bounds,
        scratch: scratch_dir.map(host),
        made: 0,
    };
    for step in steps {
        apply(step, &mut writable)?;
    }
    if writable.made > 0 && writable.scratch.is_none() {
        // Hide the overlays' upper layers from the test: it must see its
        // writes only through the overlay.
        mount(
            Some("tmpfs"),
            OVERLAY_STATE,
            Some("tmpfs"),
            MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            Some("size=4k,mode=0"),
        )
        .step(|| format!("hide {OVERLAY_STATE}"))?;
    }
    mkdir_p(Path::new("/proc"))?;
    if fresh_proc {
        mount(
            Some("proc"),
            "/proc",
            Some("proc"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            none,
        )
        .step(|| "mount a fresh /proc".into())?;
        mask_proc()?;
    } else {
        bind(Path::new("/proc"), Path::new("/proc"))?;
    }
    Ok(())
}

/// Host-wide files of a fresh /proc. Root in the test's namespace maps to
/// host uid 0, and for most sysctls and /proc/sysrq-trigger the kernel
/// checks only that: these would reach the host. Masked as Docker and
/// bubblewrap mask them: read-only binds over what is writable, /dev/null
/// or an empty read-only tmpfs over what shows host state. The test's own
/// per-namespace sysctls (`net.*`) stay writable.
const PROC_READ_ONLY: &[&str] = &[
    "/proc/sys",
    "/proc/sysrq-trigger",
    "/proc/irq",
    "/proc/bus",
    "/proc/fs",
];
const PROC_WRITABLE_AGAIN: &str = "/proc/sys/net";
const PROC_HIDDEN_FILES: &[&str] = &[
    "/proc/kcore",
    "/proc/keys",
    "/proc/timer_list",
    "/proc/latency_stats",
    "/proc/sched_debug",
];
const PROC_HIDDEN_DIRS: &[&str] = &["/proc/acpi", "/proc/scsi", "/proc/asound"];

/// Each path is masked straight away, without looking first (a mount on
/// a path this kernel's /proc lacks fails with ENOENT): these mounts are
/// made for every test.
fn mask_proc() -> Result<(), InitError> {
    for path in PROC_READ_ONLY {
        if bind_if_present(path, path)? {
            sys::set_read_only(&cstring(Path::new(path))?, true)
                .step(|| format!("make {path} read-only"))?;
        }
    }
    let net = PROC_WRITABLE_AGAIN;
    if bind_if_present(net, net)? {
        sys::set_read_only(&cstring(Path::new(net))?, false)
            .step(|| format!("make {net} writable"))?;
    }
    for path in PROC_HIDDEN_FILES {
        bind_if_present("/dev/null", path)?;
    }
    for path in PROC_HIDDEN_DIRS {
        let hidden = mount(
            Some("tmpfs"),
            *path,
            Some("tmpfs"),
            MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            Some("size=4k,mode=0555"),
        );
        absent_is_fine(hidden).step(|| format!("hide {path}"))?;
    }
    Ok(())
}

/// Recursive bind of `src` onto `dst`, both existing; false when either
/// does not.
fn bind_if_present(src: &str, dst: &str) -> Result<bool, InitError> {
    absent_is_fine(bind_mount(Path::new(src), Path::new(dst)))
        .step(|| format!("bind {src} at {dst}"))
}

/// Ok(true) on success, Ok(false) for ENOENT, the error otherwise.
fn absent_is_fine(result: nix::Result<()>) -> nix::Result<bool> {
    match result {
        Ok(()) => Ok(true),
        Err(nix::errno::Errno::ENOENT) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Mounts a read-only sysfs at /sys as the test's network namespace shows
/// it (its own `lo`, the host's CPUs and block devices), then drops the
/// host root. The sysfs has to come first: in a user namespace, mounting
/// one needs a fully visible sysfs in the mount namespace, the host's
/// under OLD_ROOT.
fn finish_root(spec: &InitSpec, test_pid: libc::pid_t) -> Result<(), InitError> {
    if spec.sysfs {
        if spec.own_network {
            let ns = fs::File::open(format!("/proc/{test_pid}/ns/net"))
                .step(|| "open the test's network namespace".into())?;
            nix::sched::setns(ns, CloneFlags::CLONE_NEWNET)
                .step(|| "join the test's network namespace".into())?;
        }
        mkdir_p(Path::new("/sys"))?;
        mount(
            Some("sysfs"),
            "/sys",
            Some("sysfs"),
            MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            None::<&str>,
        )
        .step(|| "mount a read-only /sys (--no-sys goes without)".into())?;
    }
    if spec.mounts.is_some() {
        umount2(OLD_ROOT, MntFlags::MNT_DETACH).step(|| "detach the host root".into())?;
        fs::remove_dir(OLD_ROOT).step(|| format!("remove {OLD_ROOT}"))?;
    }
    Ok(())
}

/// `--scratch-size`: the scratch dir becomes the image's ext4, in this
/// mount namespace only; the loop device goes when the mount does.
fn mount_image(image: &Path, dir: &Path) -> Result<(), InitError> {
    let file = fs::File::options()
        .read(true)
        .write(true)
        .open(image)
        .step(|| format!("open the scratch image {}", image.display()))?;
    let (device, _keep) = sys::attach_loop(&file).step(|| {
        format!(
            "attach {} to a loop device (--scratch-size needs root)",
            image.display()
        )
    })?;
    mount(
        Some(device.as_path()),
        dir,
        Some("ext4"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        None::<&str>,
    )
    .step(|| {
        format!(
            "mount the scratch image {} on {}",
            image.display(),
            dir.display()
        )
    })
}

fn host(path: &Path) -> PathBuf {
    Path::new(OLD_ROOT).join(path.strip_prefix("/").unwrap_or(path))
}

/// Where the writable places of the sandbox live: on the root tmpfs (and
/// small tmpfs mounts), or, with `--scratch disk`, in a host directory.
struct Writable<'a> {
    /// `size=...,nr_inodes=...` of every tmpfs.
    tmpfs_bounds: &'a str,
    /// The scratch dir, as seen under OLD_ROOT.
    scratch: Option<PathBuf>,
    /// Places made so far, to name the next one.
    made: usize,
}

impl Writable<'_> {
    /// A fresh, empty directory for the next writable place: on the disk
    /// scratch dir if there is one, else under OVERLAY_STATE on the tmpfs.
    fn next_dir(&mut self, mode: u32) -> Result<PathBuf, InitError> {
        let base = self.scratch.clone().unwrap_or(PathBuf::from(OVERLAY_STATE));
        let dir = base.join(self.made.to_string());
        self.made += 1;
        mkdir_p(&dir)?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(mode))
            .step(|| format!("chmod {}", dir.display()))?;
        Ok(dir)
    }
}

fn apply(step: &MountStep, w: &mut Writable<'_>) -> Result<(), InitError> {
    match step {
        MountStep::Dir { path, mode } if w.scratch.is_some() => {
            let dir = w.next_dir(*mode)?;
            bind(&dir, path)
        }
        MountStep::Dir { path, mode } => {
            mkdir_p(path)?;
            fs::set_permissions(path, fs::Permissions::from_mode(*mode))
                .step(|| format!("chmod {}", path.display()))
        }
        MountStep::Symlink { path, target } => {
            symlink(target, path).step(|| format!("create the symlink {}", path.display()))
        }
        MountStep::BindReadOnly { path } => {
            bind(&host(path), path)?;
            let c = cstring(path)?;
            sys::set_read_only(&c, true).step(|| format!("make {} read-only", path.display()))
        }
        MountStep::Overlay { path } => overlay(&host(path), path, w),
        MountStep::Moved {
            path,
            from,
            read_only: true,
        } => {
            mkdir_p(path)?;
            bind_onto(&host(from), path)?;
            let c = cstring(path)?;
            sys::set_read_only(&c, true).step(|| format!("make {} read-only", path.display()))
        }
        MountStep::Moved {
            path,
            from,
            read_only: false,
        } => overlay(&host(from), path, w),
        MountStep::Scratch { path } if w.scratch.is_some() => {
            let dir = w.next_dir(0o777)?;
            bind(&dir, path)
        }
        MountStep::Scratch { path } => {
            mkdir_p(path)?;
            let opts = format!("{},mode=0777", w.tmpfs_bounds);
            mount(
                Some("tmpfs"),
                path.as_path(),
                Some("tmpfs"),
                MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
                Some(opts.as_str()),
            )
            .step(|| format!("mount a tmpfs on {}", path.display()))
        }
        MountStep::Dev => build_dev(),
        MountStep::Mask { path, dir: true } => mount(
            Some("tmpfs"),
            path.as_path(),
            Some("tmpfs"),
            MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            Some("size=4k,mode=0500"),
        )
        .step(|| format!("hide {}", path.display())),
        MountStep::Mask { path, dir: false } => bind(Path::new("/dev/null"), path),
        MountStep::File { path, contents } => {
            // Its source lies with the overlays' state, which is hidden
            // once the root is built.
            let src = w.next_dir(0o755)?.join("file");
            fs::write(&src, contents).step(|| format!("write {}", src.display()))?;
            fs::set_permissions(&src, fs::Permissions::from_mode(0o644))
                .step(|| format!("chmod {}", src.display()))?;
            if fs::symlink_metadata(path).is_err() {
                return Err(InitError(format!(
                    "{} does not exist in the sandbox to be replaced (it is bound from the host's, which has none)",
                    path.display()
                )));
            }
            bind(&src, path)?;
            sys::set_read_only(&cstring(path)?, true)
                .step(|| format!("make {} read-only", path.display()))
        }
    }
}

/// A private overlay on `path` whose lower layer is `lower` (a host path
/// under the old root): readable and writable, nothing reaches the host.
fn overlay(lower: &Path, path: &Path, w: &mut Writable<'_>) -> Result<(), InitError> {
    let state = w.next_dir(0o700)?;
    let (upper, work) = (state.join("upper"), state.join("work"));
    mkdir_p(&upper)?;
    mkdir_p(&work)?;
    mkdir_p(path)?;
    let opts = format!(
        "lowerdir={},upperdir={},workdir={}",
        overlay_escape(lower),
        overlay_escape(&upper),
        overlay_escape(&work)
    );
    mount(
        Some("overlay"),
        path,
        Some("overlay"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(opts.as_str()),
    )
    .step(|| {
        format!(
            "mount an overlay on {} (a writable private view; --read-only-source avoids overlayfs)",
            path.display()
        )
    })
}

const DEV_NODES: &[&str] = &["null", "zero", "full", "random", "urandom", "tty"];

fn build_dev() -> Result<(), InitError> {
    mkdir_p(Path::new("/dev"))?;
    for node in DEV_NODES {
        // Device nodes: an empty file to bind each on, in a /dev of our own.
        let path = PathBuf::from(format!("/dev/{node}"));
        fs::File::options()
            .write(true)
            .create_new(true)
            .open(&path)
            .step(|| format!("create {}", path.display()))?;
        bind_onto(&host(&path), &path)?;
    }
    for (link, target) in [
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"),
        ("/dev/stderr", "/proc/self/fd/2"),
        ("/dev/ptmx", "pts/ptmx"),
    ] {
        symlink(target, link).step(|| format!("create the symlink {link}"))?;
    }
    mkdir_p(Path::new("/dev/pts"))?;
    mount(
        Some("devpts"),
        "/dev/pts",
        Some("devpts"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=620"),
    )
    .step(|| "mount devpts on /dev/pts".into())?;
    mkdir_p(Path::new("/dev/shm"))?;
    fs::set_permissions("/dev/shm", fs::Permissions::from_mode(0o1777))
        .step(|| "chmod /dev/shm".into())
}

/// Recursive bind of `src` onto `dst`, creating `dst` as a directory or an
/// empty file to match `src`.
fn bind(src: &Path, dst: &Path) -> Result<(), InitError> {
    let meta = fs::metadata(src).step(|| format!("look at {}", display_host(src)))?;
    if meta.is_dir() {
        mkdir_p(dst)?;
    } else {
        if let Some(parent) = dst.parent() {
            mkdir_p(parent)?;
        }
        if fs::symlink_metadata(dst).is_err() {
            fs::File::create(dst).step(|| format!("create {}", dst.display()))?;
        }
    }
    bind_onto(src, dst)
}

/// Recursive bind of `src` onto `dst`, which exists.
fn bind_onto(src: &Path, dst: &Path) -> Result<(), InitError> {
    bind_mount(src, dst).step(|| format!("bind {} at {}", display_host(src), dst.display()))
}

fn bind_mount(src: &Path, dst: &Path) -> nix::Result<()> {
    let none: Option<&str> = None;
    mount(
        Some(src),
        dst,
        none,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        none,
    )
}

fn display_host(path: &Path) -> String {
    match path.strip_prefix(OLD_ROOT) {
        Ok(rest) => format!("/{}", rest.display()),
        Err(_) => path.display().to_string(),
    }
}

fn mkdir_p(path: &Path) -> Result<(), InitError> {
    match fs::create_dir_all(path) {
        Ok(()) => Ok(()),
        // Inside a read-only bind the directory exists already.
        Err(_) if path.is_dir() => Ok(()),
        Err(e) => Err(e).step(|| format!("create the directory {}", path.display())),
    }
}

fn cstring(path: &Path) -> Result<CString, InitError> {
    CString::new(path.as_os_str().as_bytes())
        .step(|| format!("path {} has a NUL byte", path.display()))
}

/// The handshake between the init and the test's process before exec, a
/// line at a time: the test says "ready" (its namespaces made), the init
/// "rooted" (id maps written, root finished), the test "set" (mounts
/// locked, filter installed: nothing left but the exec), and the init
/// "go" once the runner lets the test start.
struct Channel {
    to: fs::File,
    from: BufReader<fs::File>,
}

impl Channel {
    fn send(&mut self, word: &str) -> Result<(), InitError> {
        writeln!(self.to, "{word}").step(|| format!("send {word:?} across the setup pipe"))
    }

    /// The next line: `Ok(None)` at EOF (the test exec'd: the pipe is
    /// close-on-exec), an error for "fail ..." from the other side.
    fn next(&mut self) -> Result<Option<String>, InitError> {
        let mut line = String::new();
        self.from
            .read_line(&mut line)
            .step(|| "read the setup pipe".into())?;
        match line.strip_prefix("fail ") {
            Some(msg) => Err(InitError(msg.trim_end().to_string())),
            None if line.is_empty() => Ok(None),
            None => Ok(Some(line.trim_end().to_string())),
        }
    }

    fn expect(&mut self, word: &str) -> Result<(), InitError> {
        match self.next()? {
            Some(w) if w == word => Ok(()),
            other => Err(InitError(format!(
                "the test's process broke the setup handshake (expected {word:?}, got {other:?})"
            ))),
        }
    }
}

/// The ids of the test's user namespace, written by the init from the
/// parent namespace (a process cannot map more than its own id itself).
fn write_id_maps(spec: &InitSpec, pid: libc::pid_t) -> Result<(), InitError> {
    let (uid_map, gid_map) = if spec.rootless {
        // Our namespace's 0 is the real user: map it back to the real ids.
        (format!("{} 0 1", spec.uid), format!("{} 0 1", spec.gid))
    } else {
        // Root keeps every id it owns: setuid, setgroups, chown work inside.
        ("0 0 4294967295".to_string(), "0 0 4294967295".to_string())
    };
    fs::write(format!("/proc/{pid}/uid_map"), uid_map)
        .step(|| "write the test's uid_map".into())?;
    fs::write(format!("/proc/{pid}/gid_map"), gid_map).step(|| "write the test's gid_map".into())
}

/// The test's side of the setup, in the forked child. Returns only on
/// failure; on success it has exec'd the test.
fn become_test(
    spec: &InitSpec,
    init: &mut Channel,
    program: &CString,
    argv: &[CString],
    env: &[CString],
) -> InitError {
    match prepare_test_side(spec, init) {
        Err(e) => e,
        Ok(()) if spec.probe_only => sys::exit_now(0),
        Ok(()) => {
            let err = nix::unistd::execve(program, argv, env).unwrap_err();
            InitError(format!(
                "execute {}: {}",
                spec.program.display(),
                io::Error::from(err)
            ))
        }
    }
}

fn prepare_test_side(spec: &InitSpec, init: &mut Channel) -> Result<(), InitError> {
    // A process group of its own, in the session the init started: kill(0)
    // reaches only the test, and there is no controlling terminal (/dev/tty
    // cannot open). Not a session of its own: a session leader that opens
    // a pty without O_NOCTTY makes it its terminal and gets SIGHUP when
    // the master closes, which nix's pty tests showed; under cargo test a
    // test is never a session leader.
    let me = nix::unistd::Pid::from_raw(0);
    nix::unistd::setpgid(me, me).step(|| "start the test's process group".into())?;
    if spec.pid_namespace && !spec.keyring_fresh {
        // The inherited session keyring is the user's: keys are checked by
        // uid, so root in the test would be root over them.
        sys::join_new_session_keyring().step(|| "join a new session keyring".into())?;
    }
    // The init's mm was forked from the zygote's, made in the host's user
    // namespace: while we are non-dumpable like it, our /proc files belong
    // to the host's root, and the init could not open our uid_map.
    sys::set_dumpable(true).step(|| "make the test's process dumpable".into())?;
    let mut flags = CloneFlags::empty();
    if spec.test_userns {
        // All capabilities in the new namespace are ours at once, before
        // the init writes its id maps: the namespaces below are made now,
        // owned by it, and one round trip to the init suffices.
        unshare(CloneFlags::CLONE_NEWUSER).step(|| "make the test's user namespace".into())?;
        flags |= CloneFlags::CLONE_NEWUTS | CloneFlags::CLONE_NEWIPC;
    }
    if spec.own_network {
        flags |= CloneFlags::CLONE_NEWNET;
    }
    if !flags.is_empty() {
        unshare(flags).step(|| "make the test's network, uts and ipc namespaces".into())?;
    }
    let mut ready = "ready";
    if spec.own_network {
        sys::loopback_up().step(|| "bring the loopback interface up".into())?;
        super::multicast::add_loopback_routes().step(|| "add the multicast routes on lo".into())?;
        if !spec.net_faults.is_empty() {
            let delay = super::netfault::apply(&spec.net_faults)
                .map_err(|e| InitError(format!("set up the network faults: {e}")))?;
            if delay == Some(super::netfault::DelayMechanism::Nfqueue) {
                // The init starts the delayer in this namespace.
                ready = READY_NFQUEUE;
            }
        }
    }
    if let Some(name) = &spec.hostname {
        nix::unistd::sethostname(name).step(|| format!("set the hostname to {name}"))?;
    }
    init.send(ready)?;
    // Everything below waits for the init's id maps and root, and is done
    // before the go: what is left after it is the exec.
    init.expect("rooted")?;
    if spec.test_userns {
        // Mounts copied into a less privileged mount namespace are locked
        // (mount_namespaces(7)): no remount, no unmount, no look beneath.
        unshare(CloneFlags::CLONE_NEWNS).step(|| "lock the sandbox's mounts".into())?;
    }
    std::env::set_current_dir(&spec.workdir)
        .step(|| format!("change directory to {}", spec.workdir.display()))?;
    sys::reset_signals();
    if !spec.pid_namespace {
        sys::set_parent_death_signal().step(|| "set the parent death signal".into())?;
    }
    if spec.test_userns && spec.uid != 0 {
        sys::keep_sys_admin_across_exec()
            .step(|| "keep CAP_SYS_ADMIN in the test's namespace".into())?;
    }
    // Only 0, 1 and 2 reach the test: the report channel and the setup
    // pipe close at exec.
    sys::cloexec_from(3).step(|| "close the init's fds".into())?;
    // Last, so that nothing above runs under it; the two words below
    // (write, read) and execve stay allowed.
    spec.seccomp
        .install()
        .step(|| "install the seccomp filter (--seccomp none goes without)".into())?;
    init.send("set")?;
    init.expect("go")
}

/// The init's side: id maps, sysfs, the host root gone, the runner's go,
/// then wait for the exec. Returns when the test was let go.
fn prepare_init_side(
    spec: &InitSpec,
    test: &mut Channel,
    pid: libc::pid_t,
    gate: UnixStream,
) -> Result<Instant, InitError> {
    match test.next()?.as_deref() {
        Some("ready") => {}
        Some(READY_NFQUEUE) => start_delayer(spec, pid)?,
        other => {
            return Err(InitError(format!(
                "the test's process broke the setup handshake (expected \"ready\", got {other:?})"
            )));
        }
    }
    if spec.test_userns {
        write_id_maps(spec, pid)?;
    }
    finish_root(spec, pid)?;
    test.send("rooted")?;
    test.expect("set")?;
    if spec.test_userns {
        hold_mount_namespace(pid);
    }
    let start = await_start(gate)?;
    test.send("go")?;
    match test.next()? {
        None => Ok(start),
        Some(other) => Err(InitError(format!(
            "the test's process said {other:?} instead of exec'ing"
        ))),
    }
}

/// Keeps the test's own mount namespace (its locked copy of the root)
/// until this init exits. Freeing a mount namespace waits for an RCU grace
/// period; held here, that wait comes after the report, when the runner
/// has moved on, and not inside the test's exit, before its status
/// reaches us. Without it (it cannot fail the test) only speed is lost.
fn hold_mount_namespace(test_pid: libc::pid_t) {
    if let Ok(ns) = fs::File::open(format!("/proc/{test_pid}/ns/mnt")) {
        // Closed by the exit, after the report.
        std::mem::forget(ns);
    }
}

/// What the test's process says when its packets wait in NFQUEUE.
const READY_NFQUEUE: &str = "ready nfqueue";

/// Forks the delayer (`nfqueue.rs`) into the network namespace of the
/// test's process `test_pid`, and returns once it serves the queue: a
/// delay missing from the test's first packets would be a wrong result.
fn start_delayer(spec: &InitSpec, test_pid: libc::pid_t) -> Result<(), InitError> {
    let f = &spec.net_faults;
    let delay = std::time::Duration::from_micros(u64::from(f.delay_us.unwrap_or(0)));
    let jitter = std::time::Duration::from_micros(u64::from(f.jitter_us.unwrap_or(0)));
    let netns = fs::File::open(format!("/proc/{test_pid}/ns/net"))
        .step(|| "open the test's network namespace for the delayer".into())?;
    let (status_r, status_w) = sys::pipe_cloexec().step(|| "create a pipe".into())?;
    match sys::fork_single_threaded().step(|| "fork the delayer".into())? {
        sys::Forked::Child => {
            drop(status_r);
            let mut status = fs::File::from(status_w);
            let bound = sys::close_fds_except(&[status.as_raw_fd(), netns.as_raw_fd()])
                .map_err(|e| format!("close the init's fds: {e}"))
                // Killed with the init, whatever namespaces it has.
                .and_then(|()| {
                    sys::set_parent_death_signal()
                        .map_err(|e| format!("set the parent death signal: {e}"))
                })
                .and_then(|()| {
                    nix::sched::setns(&netns, CloneFlags::CLONE_NEWNET)
                        .map_err(|e| format!("join the test's network namespace: {e}"))
                })
                .and_then(|()| super::nfqueue::Delayer::bind(delay, jitter));
            drop(netns);
            match bound {
                Ok(delayer) => {
                    let _ = writeln!(status, "ok");
                    drop(status);
                    let _ = delayer.serve();
                }
                Err(e) => {
                    let _ = writeln!(status, "fail {e}");
                }
            }
            sys::exit_now(1);
        }
        sys::Forked::Parent(_) => {
            drop((status_w, netns));
            let mut line = String::new();
            BufReader::new(fs::File::from(status_r))
                .read_line(&mut line)
                .step(|| "read the delayer's status".into())?;
            match line.trim_end() {
                "ok" => Ok(()),
                l => Err(InitError(format!(
                    "start the --net-delay delayer (NFQUEUE): {}",
                    l.strip_prefix("fail ")
                        .unwrap_or("it died before it served the queue")
                ))),
            }
        }
    }
}

/// Tells the runner the sandbox is ready, then waits for its word to start
/// the test: the runner sets up more sandboxes than it runs tests at once,
/// and lets each start when a test slot is free. Returns when it may.
fn await_start(mut gate: UnixStream) -> Result<Instant, InitError> {
    gate.write_all(b"r")
        .step(|| "tell the runner the sandbox is ready".into())?;
    let mut word = [0u8; 1];
    gate.read_exact(&mut word)
        .step(|| "wait for the runner's go".into())?;
    if word != *b"g" {
        return Err(InitError(format!(
            "the runner sent {word:?} instead of the go"
        )));
    }
    Ok(Instant::now())
}

fn run_test(
    spec: &InitSpec,
    env: &[CString],
    stdio: &mut InitStdio,
    gate: UnixStream,
) -> Result<InitReport, InitError> {
    let program = cstring(&spec.program)?;
    let mut argv = vec![program.clone()];
    for a in &spec.args {
        argv.push(CString::new(a.as_bytes()).step(|| format!("argument {a:?} has a NUL byte"))?);
    }
    let (down_r, down_w) = sys::pipe_cloexec().step(|| "create a pipe".into())?;
    let (up_r, up_w) = sys::pipe_cloexec().step(|| "create a pipe".into())?;
    let pid = match sys::fork_single_threaded().step(|| "fork the test".into())? {
        sys::Forked::Parent(pid) => pid,
        sys::Forked::Child => {
            drop((down_w, up_r));
            let mut init = Channel {
                to: fs::File::from(up_w),
                from: BufReader::new(fs::File::from(down_r)),
            };
            let err = become_test(spec, &mut init, &program, &argv, env);
            let _ = writeln!(init.to, "fail {err}");
            sys::exit_now(127);
        }
    };
    drop((down_r, up_w));
    let mut test = Channel {
        to: fs::File::from(down_w),
        from: BufReader::new(fs::File::from(up_r)),
    };
    let prepared = stdio
        .outputs_to_stdin()
        .step(|| "close the init's copies of the output pipes".into())
        .and_then(|()| prepare_init_side(spec, &mut test, pid, gate));
    let start = match prepared {
        Ok(start) => start,
        Err(e) => {
            sys::kill_pid(pid);
            let _ = sys::wait4(pid, 0);
            return Err(e);
        }
    };
    drop(test);

    let status = loop {
        match sys::wait4(-1, 0).step(|| "wait for the test".into())? {
            Some((p, reaped)) if p == pid => break reaped.status,
            Some(_) => continue,
            None => {
                return Err(io::Error::other("the test vanished")).step(|| "wait".into());
            }
        }
    };
    let wall_us = start.elapsed().as_micros() as i64;
    kill_leftovers(spec.pid_namespace);
    let ru = sys::rusage_children();
    let cpu_us = tv_us(ru.ru_utime) + tv_us(ru.ru_stime);
    Ok(InitReport {
        wait_status: status,
        max_rss_kib: ru.ru_maxrss,
        cpu_us,
        wall_us,
    })
}

fn tv_us(tv: libc::timeval) -> i64 {
    tv.tv_sec * 1_000_000 + tv.tv_usec
}

/// Kills and reaps everything the test left behind, so that its CPU time is
/// counted and nothing outlives it.
fn kill_leftovers(pid_namespace: bool) {
    loop {
        if pid_namespace {
            sys::kill_all_in_namespace();
        } else {
            // As a subreaper, our orphaned descendants are our children.
            for pid in children_of_self() {
                sys::kill_pid(pid);
            }
        }
        match sys::wait4(-1, 0) {
            Ok(Some(_)) => continue,
            _ => break,
        }
    }
}

fn children_of_self() -> Vec<libc::pid_t> {
    let mut out = Vec::new();
    let Ok(tasks) = fs::read_dir("/proc/self/task") else {
        return out;
    };
    for task in tasks.flatten() {
        if let Ok(s) = fs::read_to_string(task.path().join("children")) {
            out.extend(
                s.split_whitespace()
                    .filter_map(|p| p.parse::<libc::pid_t>().ok()),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_line_round_trips() {
        let r = InitReport {
            wait_status: 256,
            max_rss_kib: 98304,
            cpu_us: 1234,
            wall_us: 5678,
        };
        assert_eq!(InitReport::parse(r.to_line().trim_end()), Some(r));
        assert_eq!(InitReport::parse("ok 1 2 3 4 5"), None);
        assert_eq!(InitReport::parse("ok 1  2 3 4"), None);
        assert_eq!(InitReport::parse("err boom"), None);
    }
}
