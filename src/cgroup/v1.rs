//! cgroup v1 (and the hybrid layout): one directory per controller
//! hierarchy. The sandbox's child joins each leaf by writing "0" to every
//! leaf's `cgroup.procs` before it execs the init.

use super::files::{self, CgroupError, CgroupMount};
use super::{HostView, LeafStats, Limits};
use std::path::{Path, PathBuf};

/// Hierarchies used for measurement; `cpu` (the quota) only for --cpus:
/// joining a v1 hierarchy costs a global lock per test.
const MEASURED: &[&str] = &["memory", "pids", "cpuacct"];

pub struct RunV1 {
    /// (controllers of the hierarchy, the run's directory in it).
    dirs: Vec<(Vec<String>, PathBuf)>,
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
            match files::mkdir(&dir) {
                Ok(()) => dirs.push((m.controllers.clone(), dir)),
                // Not ours to write (an ordinary user): no cgroup here.
                Err(CgroupError::Create { ref source, .. })
                    if matches!(
                        source.raw_os_error(),
                        Some(libc::EACCES | libc::EPERM | libc::EROFS)
                    ) =>
                {
                    continue;
                }
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
        Ok(Some(RunV1 { dirs }))
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
        LeafStats {
            peak_memory_bytes: mem
                .and_then(|d| files::read_u64(&d.join("memory.max_usage_in_bytes"))),
            oom_kills: mem
                .and_then(|d| files::sum_key_in_tree(d, "memory.oom_control", "oom_kill")),
            pids_peak: self
                .dir_of("pids")
                .and_then(|d| files::read_u64(&d.join("pids.peak"))),
            cpu_usec: self
                .dir_of("cpuacct")
                .and_then(|d| files::read_u64(&d.join("cpuacct.usage")))
                .map(|ns| ns / 1000),
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
