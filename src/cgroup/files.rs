//! Cgroupfs file access with the path in every error, and the parsing of
//! /proc/self/cgroup and /proc/self/mountinfo.

use super::HostView;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("failed to read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("failed to write {value:?} to {path}: {source}")]
    Write {
        path: PathBuf,
        value: String,
        source: io::Error,
    },
    #[error("failed to create the cgroup {path}: {source}")]
    Create { path: PathBuf, source: io::Error },
    #[error("{0}")]
    Layout(String),
}

pub fn read(path: impl AsRef<Path>) -> Result<String, CgroupError> {
    let path = path.as_ref();
    fs::read_to_string(path).map_err(|source| CgroupError::Read {
        path: path.to_path_buf(),
        source,
    })
}

pub fn write(path: impl AsRef<Path>, value: &str) -> Result<(), CgroupError> {
    let path = path.as_ref();
    fs::write(path, value).map_err(|source| CgroupError::Write {
        path: path.to_path_buf(),
        value: value.to_string(),
        source,
    })
}

pub fn mkdir(path: &Path) -> Result<(), CgroupError> {
    fs::create_dir(path).map_err(|source| CgroupError::Create {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads a single integer file ("max" reads as None).
pub fn read_u64(path: &Path) -> Option<u64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Reads `key value` lines (memory.events, cpu.stat, memory.oom_control).
pub fn read_key(path: &Path, key: &str) -> Option<u64> {
    let text = fs::read_to_string(path).ok()?;
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// `key` of `file` summed over `dir` and every cgroup below it: cgroup v1
/// counts an OOM kill in the victim's own memcg only, which a test may
/// have put in a child it made.
pub fn sum_key_in_tree(dir: &Path, file: &str, key: &str) -> Option<u64> {
    let mut total = read_key(&dir.join(file), key)?;
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                total += sum_key_in_tree(&entry.path(), file, key).unwrap_or(0);
            }
        }
    }
    Some(total)
}

/// Every v1 controller name; other mount options (xattr, name=...) are not.
const V1_CONTROLLERS: &[&str] = &[
    "cpuset",
    "cpu",
    "cpuacct",
    "blkio",
    "memory",
    "devices",
    "freezer",
    "net_cls",
    "perf_event",
    "net_prio",
    "hugetlb",
    "pids",
    "rdma",
    "misc",
];

/// A cgroup filesystem mount: v2 (`controllers` empty) or a v1 hierarchy.
#[derive(Debug, Clone, PartialEq)]
pub struct CgroupMount {
    pub v2: bool,
    pub controllers: Vec<String>,
    /// The cgroup path at the mount's root (not "/" inside containers).
    pub root: String,
    pub mount_point: PathBuf,
    /// A named v1 hierarchy without controllers (`name=systemd`).
    pub name: Option<String>,
}

pub fn parse_cgroup_mounts(mountinfo: &str) -> Vec<CgroupMount> {
    let mut out = Vec::new();
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let fields: Vec<&str> = left.split(' ').collect();
        let rfields: Vec<&str> = right.split(' ').collect();
        if fields.len() < 5 || rfields.len() < 3 {
            continue;
        }
        let fstype = rfields[0];
        let mount_point = PathBuf::from(unescape(fields[4]));
        let root = unescape(fields[3]);
        match fstype {
            "cgroup2" => out.push(CgroupMount {
                v2: true,
                controllers: Vec::new(),
                root,
                mount_point,
                name: None,
            }),
            "cgroup" => {
                let controllers = rfields[2]
                    .split(',')
                    .filter(|o| V1_CONTROLLERS.contains(o))
                    .map(str::to_string)
                    .collect();
                let name = rfields[2]
                    .split(',')
                    .find(|o| o.starts_with("name="))
                    .map(str::to_string);
                out.push(CgroupMount {
                    v2: false,
                    controllers,
                    root,
                    mount_point,
                    name,
                })
            }
            _ => {}
        }
    }
    out
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            let oct: String = chars.by_ref().take(3).collect();
            if let Ok(n) = u8::from_str_radix(&oct, 8) {
                out.push(n as char);
                continue;
            }
            out.push('\\');
            out.push_str(&oct);
        } else {
            out.push(c);
        }
    }
    out
}

/// `/proc/self/cgroup`: (hierarchy controllers, path). v2 is `0::/path`.
pub fn parse_proc_self_cgroup(text: &str) -> Vec<(Vec<String>, String)> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let _id = parts.next()?;
            let controllers = parts.next()?;
            let path = parts.next()?;
            let ctl = controllers
                .split(',')
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect();
            Some((ctl, path.to_string()))
        })
        .collect()
}

/// The directory of our own cgroup in a mount, given our cgroup path.
pub fn own_dir(view: &HostView, mount: &CgroupMount, path: &str) -> Option<PathBuf> {
    let rel = if mount.root == "/" {
        path
    } else {
        path.strip_prefix(mount.root.as_str())?
    };
    let dir = view
        .path(&mount.mount_point)
        .join(rel.trim_start_matches('/'));
    dir.is_dir().then_some(dir)
}

/// Our own cgroup directory in every mounted hierarchy.
pub fn own_dirs(
    view: &HostView,
    mounts: &[CgroupMount],
    memberships: &[(Vec<String>, String)],
) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for m in mounts {
        if let Some(path) = membership(m, memberships)
            && let Some(dir) = own_dir(view, m, path)
            && !dirs.contains(&dir)
        {
            dirs.push(dir);
        }
    }
    dirs
}

/// Our cgroup path in the hierarchy of `m` (v2, controllers, or a name).
pub fn membership<'a>(
    m: &CgroupMount,
    memberships: &'a [(Vec<String>, String)],
) -> Option<&'a str> {
    memberships
        .iter()
        .find(|(ctl, _)| {
            if m.v2 {
                ctl.is_empty()
            } else if let Some(name) = &m.name {
                ctl.contains(name)
            } else {
                !m.controllers.is_empty() && m.controllers.iter().all(|c| ctl.contains(c))
            }
        })
        .map(|(_, path)| path.as_str())
}

/// The name prefix of every run's cgroup directory.
pub const RUN_PREFIX: &str = "cargo-isolate-";

/// `cargo-isolate-<pid>-<start time>-<n>`: the pid and its start time say
/// whether the run is still alive, even after the pid was reused.
pub fn run_dir_name() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let pid = std::process::id();
    format!(
        "{RUN_PREFIX}{pid}-{}-{}",
        process_start_time(pid).unwrap_or(0),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Field 22 of /proc/<pid>/stat: start time in clock ticks since boot.
fn process_start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces: count from its ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether a run directory's name points at a runner that is still alive.
pub fn run_is_alive(name: &str) -> bool {
    let mut parts = name.trim_start_matches(RUN_PREFIX).split('-');
    let (Some(pid), Some(start)) = (parts.next(), parts.next()) else {
        return true;
    };
    let (Ok(pid), Ok(start)) = (pid.parse::<u32>(), start.parse::<u64>()) else {
        // Not a name we make: leave it alone.
        return true;
    };
    process_start_time(pid) == Some(start)
}

/// Removes run directories whose runner process is gone.
pub fn remove_stale_runs(own: &Path) {
    let Ok(entries) = fs::read_dir(own) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(RUN_PREFIX) && !run_is_alive(&name) {
            remove_tree(&entry.path());
        }
    }
}

/// The cgroup a test runs in, one level below the leaf that holds its
/// limits. A test that mounts its own cgroup namespace sees this child as
/// its root: it may write the child's files (root inside maps to host uid
/// 0), never the leaf's limits above it, which still bound it.
pub const TEST_CHILD: &str = "test";

/// Kills what is left and removes a cgroup directory and its children,
/// deepest first. Best effort: a cgroup that stays busy is left for the
/// next run's `remove_stale_runs`.
pub fn remove_tree(dir: &Path) {
    // The usual shape, without listing (a cgroup directory lists dozens of
    // files): the test's child, then the leaf.
    let child = dir.join(TEST_CHILD);
    let child_gone = match fs::remove_dir(&child) {
        Ok(()) => true,
        Err(e) => e.kind() == io::ErrorKind::NotFound,
    };
    if child_gone && fs::remove_dir(dir).is_ok() {
        return;
    }
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                remove_tree(&entry.path());
            }
        }
    }
    remove_dir_killing(dir);
}

/// rmdir, killing any process still inside and retrying while it exits.
pub fn remove_dir_killing(dir: &Path) {
    for attempt in 0..200 {
        match fs::remove_dir(dir) {
            Ok(()) => return,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return,
            Err(_) => {
                kill_procs(dir);
                std::thread::sleep(Duration::from_micros(200 * (attempt + 1).min(50)));
            }
        }
    }
}

pub fn kill_procs(dir: &Path) {
    if fs::write(dir.join("cgroup.kill"), "1").is_ok() {
        return;
    }
    if let Ok(text) = fs::read_to_string(dir.join("cgroup.procs")) {
        for pid in text
            .split_whitespace()
            .filter_map(|p| p.parse::<i32>().ok())
        {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
30 25 0:26 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw,nsdelegate
34 30 0:30 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory
35 30 0:31 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct
36 30 0:32 /docker/abc /sys/fs/cgroup/pids rw,nosuid - cgroup cgroup rw,pids
37 30 0:33 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd
";

    #[test]
    fn parses_hybrid_mounts() {
        let m = parse_cgroup_mounts(HYBRID);
        assert_eq!(m.len(), 5);
        assert!(m[0].v2);
        assert_eq!(m[1].controllers, vec!["memory"]);
        assert_eq!(m[2].controllers, vec!["cpu", "cpuacct"]);
        assert_eq!(m[3].root, "/docker/abc");
        assert!(m[4].controllers.is_empty(), "name=systemd is no controller");
    }

    #[test]
    fn parses_proc_self_cgroup() {
        let p = parse_proc_self_cgroup("4:memory:/a/b\n2:cpu,cpuacct:/\n0::/user.slice\n");
        assert_eq!(p[0], (vec!["memory".to_string()], "/a/b".to_string()));
        assert_eq!(p[1].0, vec!["cpu", "cpuacct"]);
        assert_eq!(p[2], (vec![], "/user.slice".to_string()));
    }

    #[test]
    fn run_names_tell_live_runs_from_dead_ones() {
        let mine = run_dir_name();
        assert!(run_is_alive(&mine), "{mine}");
        let pid = std::process::id();
        assert!(
            !run_is_alive(&format!("{RUN_PREFIX}{pid}-1-0")),
            "start time differs"
        );
        assert!(
            run_is_alive(&format!("{RUN_PREFIX}procs")),
            "not ours to judge"
        );
    }

    #[test]
    fn reads_keyed_files() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("memory.events");
        fs::write(&f, "low 0\nhigh 0\nmax 3\noom 1\noom_kill 2\n").unwrap();
        assert_eq!(read_key(&f, "oom_kill"), Some(2));
        assert_eq!(read_key(&f, "oom"), Some(1));
        assert_eq!(read_key(&f, "nope"), None);
    }

    #[test]
    fn own_dir_strips_the_mount_root() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("sys/fs/cgroup/pids/x")).unwrap();
        let view = HostView {
            proc_self_cgroup: String::new(),
            mountinfo: String::new(),
            root: dir.path().to_path_buf(),
        };
        let m = &parse_cgroup_mounts(HYBRID)[3];
        assert_eq!(
            own_dir(&view, m, "/docker/abc/x"),
            Some(dir.path().join("sys/fs/cgroup/pids/x"))
        );
        assert_eq!(own_dir(&view, m, "/elsewhere"), None);
    }
}
