//! Cgroups for sandboxes: one interface over cgroup v2 and v1 (or hybrid).
//!
//! A run makes `cargo-isolate-<pid>-<n>` under the runner's own cgroup in
//! each hierarchy it uses, and one leaf per sandbox below it. Nothing outside
//! that subtree is written, except moving the runner itself into a leaf on v2
//! when its own cgroup holds processes (the "no internal processes" rule).
//! The filesystem root is a parameter so the parsing and layout can be
//! exercised on a fake cgroupfs in a tempdir.

mod enclosing;
mod files;
mod v1;
mod v2;

pub use enclosing::Enclosing;
pub use files::CgroupError;
/// Run names (pid and start time) tell a live run from a dead one's leftovers.
pub use files::{RUN_PREFIX, run_dir_name, run_is_alive};

use std::os::fd::RawFd;
use std::path::{Path, PathBuf};

/// Limits applied to every sandbox's leaf.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Limits {
    pub memory_max_bytes: Option<u64>,
    pub pids_max: Option<u64>,
    pub cpus: Option<f64>,
}

/// What the kernel measured for one leaf. `None`: not available here.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LeafStats {
    pub peak_memory_bytes: Option<u64>,
    pub oom_kills: Option<u64>,
    /// Whether the leaf's own memory limit was reached (`Some(false)`
    /// with an OOM kill: the kill came from outside the test's limit).
    pub memory_limit_hit: Option<bool>,
    /// With an OOM kill outside the leaf's limit: the nearest enclosing
    /// cgroup we can read whose limit was reached.
    pub enclosing_oom: Option<Enclosing>,
    pub pids_peak: Option<u64>,
    /// Forks and clones refused at the pids limit (`pids.events` max).
    pub pids_max_hits: Option<u64>,
    pub cpu_usec: Option<u64>,
}

/// Where a running test's memory and CPU so far are read: files of its
/// leaf, read from another thread (the scheduler's, for a slow test).
/// Once the leaf is gone they read as nothing.
#[derive(Debug, Clone, Default)]
pub struct Gauge {
    /// memory.current (v2) or memory.usage_in_bytes (v1).
    pub memory: Option<PathBuf>,
    /// cpu.stat (v2: usage_usec) or cpuacct.usage (v1: nanoseconds).
    pub cpu: Option<PathBuf>,
    pub cpu_in_nanos: bool,
}

impl Gauge {
    /// The memory in use (bytes) and the CPU used (microseconds).
    pub fn read(&self) -> (Option<u64>, Option<u64>) {
        let memory = self.memory.as_deref().and_then(files::read_u64);
        let cpu = self.cpu.as_deref().and_then(|p| match self.cpu_in_nanos {
            true => files::read_u64(p).map(|ns| ns / 1000),
            false => files::read_key(p, "usage_usec"),
        });
        (memory, cpu)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

impl Version {
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V1 => "v1",
            Version::V2 => "v2",
        }
    }
}

pub use v2::wants_delegation;

/// The run's cgroup subtree.
pub enum RunCgroup {
    V1(v1::RunV1),
    V2(v2::RunV2),
}

/// Where to look: `/proc/self/cgroup` and `/proc/self/mountinfo` contents.
pub struct HostView {
    pub proc_self_cgroup: String,
    pub mountinfo: String,
    /// Prefix for every path (a tempdir in unit tests, "" for real).
    pub root: PathBuf,
}

impl HostView {
    pub fn current() -> Result<HostView, CgroupError> {
        Ok(HostView {
            proc_self_cgroup: files::read("/proc/self/cgroup")?,
            mountinfo: files::read("/proc/self/mountinfo")?,
            root: PathBuf::from("/"),
        })
    }

    fn path(&self, p: &Path) -> PathBuf {
        self.root.join(p.strip_prefix("/").unwrap_or(p))
    }
}

impl RunCgroup {
    /// Sets up the run's subtree. `Ok(None)`: no writable cgroup here.
    /// `Err`: a cgroup exists and is writable but setting it up failed.
    pub fn create(view: &HostView, limits: &Limits) -> Result<Option<RunCgroup>, CgroupError> {
        let mounts = files::parse_cgroup_mounts(&view.mountinfo);
        let memberships = files::parse_proc_self_cgroup(&view.proc_self_cgroup);
        if let Some(run) = v2::RunV2::create(view, &mounts, &memberships)? {
            return Ok(Some(RunCgroup::V2(run)));
        }
        if let Some(run) = v1::RunV1::create(view, &mounts, &memberships, limits)? {
            return Ok(Some(RunCgroup::V1(run)));
        }
        Ok(None)
    }

    /// See [`v1::RunV1::confine`]. On v2 every sandbox has its own leaf in
    /// the one hierarchy already.
    pub fn confine(&mut self, view: &HostView, pid: u32) -> Result<(), CgroupError> {
        match self {
            RunCgroup::V1(r) => {
                let mounts = files::parse_cgroup_mounts(&view.mountinfo);
                let memberships = files::parse_proc_self_cgroup(&view.proc_self_cgroup);
                r.confine(view, &mounts, &memberships, pid)
            }
            RunCgroup::V2(_) => Ok(()),
        }
    }

    pub fn version(&self) -> Version {
        match self {
            RunCgroup::V1(_) => Version::V1,
            RunCgroup::V2(_) => Version::V2,
        }
    }

    /// The limits this hierarchy cannot enforce, by flag name.
    pub fn unsupported(&self, limits: &Limits) -> Vec<&'static str> {
        match self {
            RunCgroup::V1(r) => r.unsupported(limits),
            RunCgroup::V2(r) => r.unsupported(limits),
        }
    }

    pub fn create_leaf(&self, name: &str, limits: &Limits) -> Result<Leaf, CgroupError> {
        match self {
            RunCgroup::V1(r) => r.create_leaf(name, limits).map(Leaf::V1),
            RunCgroup::V2(r) => r.create_leaf(name, limits).map(Leaf::V2),
        }
    }
}

/// One sandbox's cgroup. Removed (after killing what is left) on drop.
pub enum Leaf {
    V1(v1::LeafV1),
    V2(v2::LeafV2),
}

impl Leaf {
    /// A directory fd for `clone3(CLONE_INTO_CGROUP)`, on v2.
    pub fn dir_fd(&self) -> Option<RawFd> {
        match self {
            Leaf::V1(_) => None,
            Leaf::V2(l) => Some(l.dir_fd()),
        }
    }

    /// `cgroup.procs` files a new init joins itself to before it runs, on v1.
    pub fn procs_files(&self) -> Vec<PathBuf> {
        match self {
            Leaf::V1(l) => l.procs_files(),
            Leaf::V2(_) => Vec::new(),
        }
    }

    pub fn stats(&self) -> LeafStats {
        match self {
            Leaf::V1(l) => l.stats(),
            Leaf::V2(l) => l.stats(),
        }
    }

    /// Where the test's memory and CPU so far can be read while it runs.
    pub fn gauge(&self) -> Gauge {
        match self {
            Leaf::V1(l) => l.gauge(),
            Leaf::V2(l) => l.gauge(),
        }
    }

    /// Kills every process in the leaf.
    pub fn kill_all(&self) {
        match self {
            Leaf::V1(l) => l.kill_all(),
            Leaf::V2(l) => l.kill_all(),
        }
    }
}

/// Removes leftovers of earlier runs whose runner died (SIGKILL): their
/// `cargo-isolate-<pid>-*` directories under our own cgroups.
pub fn remove_stale(view: &HostView) {
    let mounts = files::parse_cgroup_mounts(&view.mountinfo);
    let memberships = files::parse_proc_self_cgroup(&view.proc_self_cgroup);
    for dir in files::own_dirs(view, &mounts, &memberships) {
        files::remove_stale_runs(&dir);
        // On v2 an earlier run may have moved us into its processes leaf;
        // the run directories are beside it.
        if dir.file_name().is_some_and(|n| n == v2::PROCS_LEAF)
            && let Some(parent) = dir.parent()
        {
            files::remove_stale_runs(parent);
        }
    }
}
