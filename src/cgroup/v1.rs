//! cgroup v1 (and the hybrid layout): one directory per controller
//! hierarchy. The sandbox's child joins each leaf by writing "0" to every
//! leaf's `cgroup.procs` before it execs the init.

use super::enclosing::{self, Layout};
use super::files::{self, CgroupError, CgroupMount};
use super::{HostView, LeafStats, Limits};
use std::path::{Path, PathBuf};

/// Hierarchies used for measurement; `cpu` (the quota) only for --cpus:
/// joining a v1 hierarchy costs a global lock per test.
const MEASURED: &[&str] = &["memory", "pids", "cpuacct"];

pub struct RunV1 {
    /// (controllers of the hierarchy, the run's directory in it).
    dirs: Vec<(Vec<String>, PathBuf)>,
    /// The run's directory in every other hierarchy, which holds the
    /// zygote and so every sandbox (see [`RunV1::confine`]).
    confined: Vec<PathBuf>,
}

impl RunV1 {
    pub fn create(
        view: &HostView,
        mounts: &[CgroupMount],
        memberships: &[(Vec<String>, String)],
        limits: &Limits,
    ) -> Result<Option<RunV1>, CgroupError> {
        let name = files::run_dir_name();
        let mut dirs: Vec<(Vec<String>, PathBuf)> = Vec::new();
        for m in mounts.iter().filter(|m| !m.v2) {
            let wanted = |c: &String| {
                MEASURED.contains(&c.as_str()) || (c == "cpu" && limits.cpus.is_some())
            };
            if !m.controllers.iter().any(wanted) {
                continue;
            }
            let Some((_, path)) = memberships
                .iter()
                .find(|(ctl, _)| m.controllers.iter().all(|c| ctl.contains(c)))
            else {
                continue;
            };
            let Some(own) = files::own_dir(view, m, path) else {
                continue;
            };
            if dirs.iter().any(|(_, d)| d.parent() == Some(own.as_path())) {
                continue;
            }
            let dir = own.join(&name);
            match mkdir_if_ours(&dir) {
                Ok(true) => dirs.push((m.controllers.clone(), dir)),
                Ok(false) => continue,
                Err(e) => {
                    remove_dirs(&dirs);
                    return Err(e);
                }
            }
        }
        // Measurement needs the memory controller at least.
        if !dirs.iter().any(|(c, _)| c.iter().any(|c| c == "memory")) {
            remove_dirs(&dirs);
            return Ok(None);
        }
        Ok(Some(RunV1 {
            dirs,
            confined: Vec::new(),
        }))
    }

    /// Moves `pid` (the zygote, whose clones are every sandbox's init) into
    /// a directory of the run's own in every hierarchy where the sandboxes
    /// would otherwise sit in the runner's cgroup: those not used per test
    /// (freezer, devices, blkio, cpuset, cpu without --cpus, name=systemd,
    /// the hybrid layout's v2 tree). A cgroup namespace is rooted where its
    /// maker sits, so should a test ever make one (the seccomp filter
    /// refuses it; `--seccomp none` does not), every hierarchy it can mount
    /// shows the run's directory at most, never the host's. One write per
    /// hierarchy per run; the sandboxes inherit it at no cost. A hierarchy
    /// we may not write (rootless, a read-only mount) is left as it is.
    pub fn confine(
        &mut self,
        view: &HostView,
        mounts: &[CgroupMount],
        memberships: &[(Vec<String>, String)],
        pid: u32,
    ) -> Result<(), CgroupError> {
        let Some(name) = self
            .dirs
            .first()
            .and_then(|(_, d)| d.file_name())
            .map(|n| n.to_owned())
        else {
            return Ok(());
        };
        for m in mounts {
            let Some(own) =
                files::membership(m, memberships).and_then(|p| files::own_dir(view, m, p))
            else {
                continue;
            };
            let dir = own.join(&name);
            if self.dirs.iter().any(|(_, d)| *d == dir) || self.confined.contains(&dir) {
                continue;
            }
            if !mkdir_if_ours(&dir)? {
                continue;
            }
            self.confined.push(dir.clone());
            if m.controllers.iter().any(|c| c == "cpuset") {
                // A new v1 cpuset has no CPUs or memory nodes until given.
                for file in ["cpuset.cpus", "cpuset.mems"] {
                    files::write(dir.join(file), files::read(own.join(file))?.trim())?;
                }
            }
            if m.controllers.iter().any(|c| c == "cpu") {
                // One group competes like one task; the run's tests may use
                // every CPU, as they could from the runner's cgroup.
                let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
                files::write(dir.join("cpu.shares"), &(1024 * cpus).to_string())?;
            }
            files::write(dir.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    fn has(&self, controller: &str) -> bool {
        self.dirs
            .iter()
            .any(|(c, _)| c.iter().any(|c| c == controller))
    }

    pub fn unsupported(&self, limits: &Limits) -> Vec<&'static str> {
        let mut out = Vec::new();
        if limits.pids_max.is_some() && !self.has("pids") {
            out.push("--pids-max");
        }
        if limits.cpus.is_some() && !self.has("cpu") {
            out.push("--cpus");
        }
        out
    }

    pub fn create_leaf(&self, name: &str, limits: &Limits) -> Result<LeafV1, CgroupError> {
        let mut leaf = LeafV1 { dirs: Vec::new() };
        for (controllers, run_dir) in &self.dirs {
            let dir = run_dir.join(name);
            files::mkdir(&dir)?;
            leaf.dirs.push((controllers.clone(), dir.clone()));
            for c in controllers {
                apply_limits(c, &dir, limits)?;
            }
            files::mkdir(&dir.join(files::TEST_CHILD))?;
        }
        Ok(leaf)
    }
}

/// mkdir; `Ok(false)` where the hierarchy is not ours to write (an
/// ordinary user, a read-only mount): no cgroup there.
fn mkdir_if_ours(dir: &Path) -> Result<bool, CgroupError> {
    match files::mkdir(dir) {
        Ok(()) => Ok(true),
        Err(CgroupError::Create { ref source, .. })
            if matches!(
                source.raw_os_error(),
                Some(libc::EACCES | libc::EPERM | libc::EROFS)
            ) =>
        {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

fn apply_limits(controller: &str, dir: &Path, limits: &Limits) -> Result<(), CgroupError> {
    match controller {
        "memory" => {
            if let Some(max) = limits.memory_max_bytes {
                files::write(dir.join("memory.limit_in_bytes"), &max.to_string())?;
                // memsw bounds memory+swap: no escape into swap. Only present
                // when swap accounting is on.
                let memsw = dir.join("memory.memsw.limit_in_bytes");
                if memsw.exists() {
                    files::write(memsw, &max.to_string())?;
                }
            }
        }
        "pids" => {
            if let Some(max) = limits.pids_max {
                files::write(dir.join("pids.max"), &max.to_string())?;
            }
        }
        "cpu" => {
            if let Some(cpus) = limits.cpus {
                let period = 100_000u64;
                let quota = ((cpus * period as f64).round() as u64).max(1000);
                files::write(dir.join("cpu.cfs_period_us"), &period.to_string())?;
                files::write(dir.join("cpu.cfs_quota_us"), &quota.to_string())?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn remove_dirs(dirs: &[(Vec<String>, PathBuf)]) {
    for (_, d) in dirs {
        files::remove_tree(d);
    }
}

impl Drop for RunV1 {
    fn drop(&mut self) {
        remove_dirs(&self.dirs);
        // Whatever is left in them (the zygote, at the end of the run) is
        // killed: a directory that holds a process cannot be removed.
        for d in &self.confined {
            files::remove_tree(d);
        }
    }
}

pub struct LeafV1 {
    dirs: Vec<(Vec<String>, PathBuf)>,
}

impl LeafV1 {
    fn dir_of(&self, controller: &str) -> Option<&Path> {
        self.dirs
            .iter()
            .find(|(c, _)| c.iter().any(|c| c == controller))
            .map(|(_, d)| d.as_path())
    }

    pub fn procs_files(&self) -> Vec<PathBuf> {
        self.dirs
            .iter()
            .map(|(_, d)| d.join(files::TEST_CHILD).join("cgroup.procs"))
            .collect()
    }

    pub fn stats(&self) -> LeafStats {
        let mem = self.dir_of("memory");
        let oom_kills =
            mem.and_then(|d| files::sum_key_in_tree(d, "memory.oom_control", "oom_kill"));
        // Only an OOM kill asks whose limit it was: five more reads a test.
        let memory_limit_hit = match oom_kills {
            Some(1..) => mem.and_then(|d| Layout::V1.limit_hit(d)),
            _ => None,
        };
        LeafStats {
            peak_memory_bytes: mem
                .and_then(|d| files::read_u64(&d.join("memory.max_usage_in_bytes"))),
            oom_kills,
            memory_limit_hit,
            enclosing_oom: match (oom_kills, memory_limit_hit) {
                (Some(1..), Some(false)) => {
                    mem.and_then(|d| enclosing::find(Layout::V1, d, &enclosing::mounted_root))
                }
                _ => None,
            },
            pids_peak: self
                .dir_of("pids")
                .and_then(|d| files::read_u64(&d.join("pids.peak"))),
            pids_max_hits: self
                .dir_of("pids")
                // v1 counts a refused fork in the forking process's cgroup
                // (the test's child), v2 in the one whose limit refused it.
                .and_then(|d| {
                    let max = |p: PathBuf| files::read_key(&p.join("pids.events"), "max");
                    match (max(d.to_path_buf()), max(d.join(files::TEST_CHILD))) {
                        (None, None) => None,
                        (own, child) => Some(own.unwrap_or(0) + child.unwrap_or(0)),
                    }
                }),
            cpu_usec: self
                .dir_of("cpuacct")
                .and_then(|d| files::read_u64(&d.join("cpuacct.usage")))
                .map(|ns| ns / 1000),
        }
    }

    pub fn gauge(&self) -> super::Gauge {
        super::Gauge {
            memory: self
                .dir_of("memory")
                .map(|d| d.join("memory.usage_in_bytes")),
            cpu: self.dir_of("cpuacct").map(|d| d.join("cpuacct.usage")),
            cpu_in_nanos: true,
        }
    }

    pub fn kill_all(&self) {
        for (_, d) in &self.dirs {
            files::kill_procs(&d.join(files::TEST_CHILD));
        }
    }
}

impl Drop for LeafV1 {
    fn drop(&mut self) {
        for (_, d) in &self.dirs {
            // Deepest first: the test's child, and whatever it made below.
            files::remove_tree(d);
        }
    }
}
