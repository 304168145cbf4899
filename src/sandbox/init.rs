//! The sandbox's init: `cargo-isolate __init <spec>` as pid 1 of the new pid
//! namespace. It builds the root from the [`InitSpec`], forks the test, reaps
//! every process, and reports the test's wait status and resource usage on
//! fd 3 before it exits (which makes the kernel kill whatever is left).
//!
//! Single-threaded by construction: it is a fresh exec, not a fork of the
//! runner, so it may allocate freely between fork and exec.

use super::spec::{InitSpec, MountStep, overlay_escape};
use super::sys;
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use std::ffi::CString;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Where the host's root is kept while the new root is built.
const OLD_ROOT: &str = "/.oldroot";
/// Where overlay upper and work directories live on the root tmpfs.
const OVERLAY_STATE: &str = "/.isolate-overlay";

/// A failed setup step, in words the runner passes to the user.
#[derive(Debug)]
pub struct InitError {
    pub step: String,
    pub source: io::Error,
}

impl std::fmt::Display for InitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.step, self.source)
    }
}

trait Step<T> {
    fn step(self, what: impl FnOnce() -> String) -> Result<T, InitError>;
}

impl<T, E: Into<io::Error>> Step<T> for Result<T, E> {
    fn step(self, what: impl FnOnce() -> String) -> Result<T, InitError> {
        self.map_err(|e| InitError {
            step: what(),
            source: e.into(),
        })
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

    pub fn parse(line: &str) -> Option<InitReport> {
        let mut it = line.strip_prefix("ok ")?.split_whitespace();
        let mut next = || it.next()?.parse::<i64>().ok();
        Some(InitReport {
            wait_status: next()? as i32,
            max_rss_kib: next()?,
            cpu_us: next()?,
            wall_us: next()?,
        })
    }
}

/// Entry point of the hidden `__init` subcommand. Never returns.
pub fn main(spec_json: &str) -> ! {
    let mut report = sys::report_channel();
    let code = match serde_json::from_str::<InitSpec>(spec_json) {
        Err(e) => {
            let _ = writeln!(report, "err cannot read the sandbox spec: {e}");
            1
        }
        Ok(spec) => match run(&spec) {
            Ok(r) => {
                let _ = report.write_all(r.to_line().as_bytes());
                0
            }
            Err(e) => {
                let _ = writeln!(report, "err {e}");
                1
            }
        },
    };
    std::process::exit(code)
}

fn run(spec: &InitSpec) -> Result<InitReport, InitError> {
    sys::set_no_new_privs().step(|| "set no_new_privs".into())?;
    if let Some(steps) = &spec.mounts {
        build_root(steps, spec.tmpfs_size_bytes, spec.pid_namespace)?;
    }
    if let Some(name) = &spec.hostname {
        nix::unistd::sethostname(name).step(|| format!("set the hostname to {name}"))?;
    }
    if spec.loopback {
        sys::loopback_up().step(|| "bring the loopback interface up".into())?;
    }
    if spec.lock_mounts {
        lock_mounts(spec.uid, spec.gid)?;
    }
    if !spec.pid_namespace {
        // Without a pid namespace, orphans must come back to us to be killed.
        sys::set_child_subreaper().step(|| "become a child subreaper".into())?;
    }
    std::env::set_current_dir(&spec.workdir)
        .step(|| format!("change directory to {}", spec.workdir.display()))?;
    if spec.probe_only {
        return Ok(InitReport {
            wait_status: 0,
            max_rss_kib: 0,
            cpu_us: 0,
            wall_us: 0,
        });
    }
    run_test(spec)
}

/// Builds the new root on a tmpfs and switches to it. The host root stays
/// reachable at OLD_ROOT until the end, as the source of every bind.
fn build_root(steps: &[MountStep], tmpfs_size: u64, fresh_proc: bool) -> Result<(), InitError> {
    let none: Option<&str> = None;
    // Our mounts must not propagate back to the host, and pivot_root refuses
    // a shared root.
    mount(none, "/", none, MsFlags::MS_REC | MsFlags::MS_PRIVATE, none)
        .step(|| "make / private in the new mount namespace".into())?;
    let opts = format!("size={tmpfs_size},mode=0755");
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

    let mut overlays = 0;
    for step in steps {
        apply(step, &mut overlays, tmpfs_size)?;
    }
    if overlays > 0 {
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
    } else {
        bind(Path::new("/proc"), Path::new("/proc"))?;
    }
    umount2(OLD_ROOT, MntFlags::MNT_DETACH).step(|| "detach the host root".into())?;
    fs::remove_dir(OLD_ROOT).step(|| format!("remove {OLD_ROOT}"))?;
    Ok(())
}

fn host(path: &Path) -> PathBuf {
    Path::new(OLD_ROOT).join(path.strip_prefix("/").unwrap_or(path))
}

fn apply(step: &MountStep, overlays: &mut usize, tmpfs_size: u64) -> Result<(), InitError> {
    match step {
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
            sys::make_read_only_recursive(&c).step(|| format!("make {} read-only", path.display()))
        }
        MountStep::Overlay { path } => {
            let state = PathBuf::from(format!("{OVERLAY_STATE}/{overlays}"));
            *overlays += 1;
            let (upper, work) = (state.join("upper"), state.join("work"));
            mkdir_p(&upper)?;
            mkdir_p(&work)?;
            mkdir_p(path)?;
            let opts = format!(
                "lowerdir={},upperdir={},workdir={}",
                overlay_escape(&host(path)),
                overlay_escape(&upper),
                overlay_escape(&work)
            );
            mount(
                Some("overlay"),
                path.as_path(),
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
        MountStep::Scratch { path } => {
            mkdir_p(path)?;
            let opts = format!("size={tmpfs_size},mode=0777");
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
    }
}

const DEV_NODES: &[&str] = &["null", "zero", "full", "random", "urandom", "tty"];

fn build_dev() -> Result<(), InitError> {
    mkdir_p(Path::new("/dev"))?;
    for node in DEV_NODES {
        let path = PathBuf::from(format!("/dev/{node}"));
        bind(&host(&path), &path)?;
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
    let none: Option<&str> = None;
    mount(
        Some(src),
        dst,
        none,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        none,
    )
    .step(|| format!("bind {} at {}", display_host(src), dst.display()))
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

/// Moves into a nested user, mount and uts namespace. Mounts copied into a
/// less privileged mount namespace are locked (mount_namespaces(7)): the
/// test, which keeps capabilities only in the nested namespace, can change
/// its hostname and mount its own things but can never remount a read-only
/// bind writable or unmount one to see what is below.
fn lock_mounts(uid: u32, gid: u32) -> Result<(), InitError> {
    use nix::sched::{CloneFlags, unshare};
    unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWUTS)
        .step(|| "make the nested user namespace that locks the mounts".into())?;
    fs::write("/proc/self/setgroups", "deny").step(|| "write /proc/self/setgroups".into())?;
    // We are uid 0 of the parent namespace (real root, or root of the
    // rootless namespace whose 0 is the real uid): show the test its own id.
    fs::write("/proc/self/uid_map", format!("{uid} 0 1"))
        .step(|| "write the nested uid_map".into())?;
    fs::write("/proc/self/gid_map", format!("{gid} 0 1")).step(|| "write the nested gid_map".into())
}

fn run_test(spec: &InitSpec) -> Result<InitReport, InitError> {
    let program = cstring(&spec.program)?;
    let mut argv = vec![program.clone()];
    for a in &spec.args {
        argv.push(CString::new(a.as_bytes()).step(|| format!("argument {a:?} has a NUL byte"))?);
    }
    // Tells us whether exec worked: the write end closes on exec.
    let (exec_r, exec_w) = sys::pipe_cloexec().step(|| "create a pipe".into())?;
    let mut exec_w = fs::File::from(exec_w);
    let start = Instant::now();
    let pid = sys::fork_single_threaded().step(|| "fork the test".into())?;
    if pid == 0 {
        sys::reset_signals();
        if !spec.pid_namespace {
            let _ = sys::set_parent_death_signal();
        }
        if spec.lock_mounts && spec.uid != 0 {
            let _ = sys::keep_sys_admin_across_exec();
        }
        let err = nix::unistd::execve(&program, &argv, &test_env()).unwrap_err();
        let _ = write!(exec_w, "{}", err as i32);
        std::process::exit(127);
    }
    drop(exec_w);
    let mut exec_err = String::new();
    let _ = fs::File::from(exec_r).read_to_string(&mut exec_err);
    if let Ok(errno) = exec_err.trim().parse::<i32>() {
        let _ = sys::wait4(pid, 0);
        return Err(io::Error::from_raw_os_error(errno))
            .step(|| format!("execute {}", spec.program.display()));
    }

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

/// Our environment with the loader variables the runner hid from us
/// restored (see `HIDDEN_PREFIX`).
fn test_env() -> Vec<CString> {
    std::env::vars_os()
        .filter_map(|(k, v)| {
            let k = k.as_bytes();
            let k = k.strip_prefix(super::HIDDEN_PREFIX.as_bytes()).unwrap_or(k);
            let mut kv = k.to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).ok()
        })
        .collect()
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
        assert_eq!(InitReport::parse(&r.to_line()), Some(r));
        assert_eq!(InitReport::parse("err boom"), None);
    }
}
