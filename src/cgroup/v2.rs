//! cgroup v2: one unified tree. Controllers must be enabled in every
//! ancestor's `cgroup.subtree_control`, and a cgroup that delegates
//! controllers may hold no processes (the "no internal processes" rule), so
//! when the runner's own cgroup holds processes they first move into a leaf,
//! [`PROCS_LEAF`], the way container runtimes move their init. A later run
//! that finds itself in that leaf uses its parent.

use super::enclosing::{self, Layout};
use super::files::{self, CgroupError, CgroupMount};
use super::{HostView, LeafStats, Limits};
use std::fs::File;
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};

const WANTED: &[&str] = &["memory", "pids", "cpu"];

/// Where the processes of the runner's own cgroup go.
pub const PROCS_LEAF: &str = "cargo-isolate-procs";

pub struct RunV2 {
    dir: PathBuf,
    controllers: Vec<String>,
}

impl RunV2 {
    pub fn create(
        view: &HostView,
        mounts: &[CgroupMount],
        memberships: &[(Vec<String>, String)],
    ) -> Result<Option<RunV2>, CgroupError> {
        let Some((own, available)) = own_cgroup(view, mounts, memberships) else {
            return Ok(None);
        };
        let controllers: Vec<String> = WANTED
            .iter()
            .filter(|c| available.split_whitespace().any(|a| a == **c))
            .map(|c| c.to_string())
            .collect();
        // The hybrid layout mounts an empty v2 tree: no memory controller,
        // nothing to measure with. Use v1 then.
        if !controllers.iter().any(|c| c == "memory") {
            return Ok(None);
        }
        let base = match own.parent() {
            Some(parent)
                if own.file_name().is_some_and(|n| n == PROCS_LEAF)
                    && has_all(parent, &controllers) =>
            {
                parent.to_path_buf()
            }
            _ => own,
        };
        if !writable(&base) {
            return Ok(None);
        }
        enable_controllers(&base, &controllers)?;
        let dir = base.join(files::run_dir_name());
        files::mkdir(&dir)?;
        let run = RunV2 { dir, controllers };
        files::write(
            run.dir.join("cgroup.subtree_control"),
            &plus(&run.controllers),
        )?;
        Ok(Some(run))
    }

    pub fn unsupported(&self, limits: &Limits) -> Vec<&'static str> {
        let has = |c: &str| self.controllers.iter().any(|x| x == c);
        let mut out = Vec::new();
        if limits.pids_max.is_some() && !has("pids") {
            out.push("--pids-max");
        }
        if limits.cpus.is_some() && !has("cpu") {
            out.push("--cpus");
        }
        out
    }

    pub fn create_leaf(&self, name: &str, limits: &Limits) -> Result<LeafV2, CgroupError> {
        let dir = self.dir.join(name);
        files::mkdir(&dir)?;
        let child = dir.join(files::TEST_CHILD);
        files::mkdir(&child)?;
        let fd = File::open(&child).map_err(|source| CgroupError::Read {
            path: child.clone(),
            source,
        });
        let leaf = LeafV2 {
            fd: fd.ok(),
            dir: dir.clone(),
        };
        if let Some(max) = limits.memory_max_bytes {
            files::write(dir.join("memory.max"), &max.to_string())?;
            let swap = dir.join("memory.swap.max");
            if swap.exists() {
                files::write(swap, "0")?;
            }
            // The whole sandbox dies together on OOM, like a container.
            files::write(dir.join("memory.oom.group"), "1")?;
        }
        if let Some(max) = limits.pids_max {
            files::write(dir.join("pids.max"), &max.to_string())?;
        }
        if let Some(cpus) = limits.cpus {
            let period = 100_000u64;
            let quota = ((cpus * period as f64).round() as u64).max(1000);
            files::write(dir.join("cpu.max"), &format!("{quota} {period}"))?;
        }
        if leaf.fd.is_none() {
            return Err(CgroupError::Layout(format!(
                "cannot open the cgroup directory {}",
                dir.display()
            )));
        }
        Ok(leaf)
    }
}

fn plus(controllers: &[String]) -> String {
    controllers
        .iter()
        .map(|c| format!("+{c}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether this process is on a cgroup v2 tree with a memory controller in
/// a cgroup it may not write: what a delegated scope from systemd fixes
/// (the systemd scope a rootless run asks for). `false` where there is no v2 tree or where
/// [`RunV2::create`] can already use it.
pub fn wants_delegation(view: &HostView) -> bool {
    let mounts = files::parse_cgroup_mounts(&view.mountinfo);
    let memberships = files::parse_proc_self_cgroup(&view.proc_self_cgroup);
    let Some((own, available)) = own_cgroup(view, &mounts, &memberships) else {
        return false;
    };
    available.split_whitespace().any(|c| c == "memory") && !writable(&own)
}

/// This process's v2 cgroup as a directory here, and the controllers it
/// has (`cgroup.controllers`); `None` without a v2 tree holding it.
fn own_cgroup(
    view: &HostView,
    mounts: &[CgroupMount],
    memberships: &[(Vec<String>, String)],
) -> Option<(PathBuf, String)> {
    let mount = mounts.iter().find(|m| m.v2)?;
    let (_, path) = memberships.iter().find(|(c, _)| c.is_empty())?;
    let own = files::own_dir(view, mount, path)?;
    let available = files::read(own.join("cgroup.controllers")).unwrap_or_default();
    Some((own, available))
}

fn writable(dir: &Path) -> bool {
    nix::unistd::access(dir, nix::unistd::AccessFlags::W_OK).is_ok()
        && nix::unistd::access(
            &dir.join("cgroup.subtree_control"),
            nix::unistd::AccessFlags::W_OK,
        )
        .is_ok()
}

fn has_all(dir: &Path, controllers: &[String]) -> bool {
    let enabled = files::read(dir.join("cgroup.subtree_control")).unwrap_or_default();
    controllers
        .iter()
        .all(|c| enabled.split_whitespace().any(|e| e == c))
}

/// Enables our controllers for the children of `own`. If `own` holds
/// processes (EBUSY), they move into [`PROCS_LEAF`] first: the runner, and
/// whoever shares its cgroup (cargo, in a `systemd-run --scope`).
fn enable_controllers(own: &Path, controllers: &[String]) -> Result<(), CgroupError> {
    if has_all(own, controllers) {
        return Ok(());
    }
    let control = own.join("cgroup.subtree_control");
    match files::write(&control, &plus(controllers)) {
        Ok(()) => return Ok(()),
        Err(CgroupError::Write { ref source, .. })
            if source.raw_os_error() == Some(libc::EBUSY) => {}
        Err(e) => return Err(e),
    }
    let leaf = own.join(PROCS_LEAF);
    match files::mkdir(&leaf) {
        // Another run got there first.
        Err(CgroupError::Create { ref source, .. })
            if source.kind() == std::io::ErrorKind::AlreadyExists => {}
        other => other?,
    }
    let procs = files::read(own.join("cgroup.procs"))?;
    let pids: Vec<&str> = procs.split_whitespace().collect();
    for pid in &pids {
        match files::write(leaf.join("cgroup.procs"), pid) {
            Ok(()) => {}
            // Exited meanwhile.
            Err(CgroupError::Write { ref source, .. })
                if source.raw_os_error() == Some(libc::ESRCH) => {}
            Err(e) => {
                return Err(CgroupError::Layout(format!(
                    "{e}\ncargo-isolate must move the processes of {} into a leaf before it can \
                     enable controllers (cgroup v2 allows no processes beside child cgroups); \
                     run it in a cgroup of its own: systemd-run --user --scope -p Delegate=yes cargo isolate test ...",
                    own.display()
                )));
            }
        }
    }
    // Ours (the runner and its zygote) move silently; others are news.
    let others = pids.iter().filter(|p| !is_ours(p)).count();
    if others > 0 {
        eprintln!(
            "note: moved {} process(es) of {} into {PROCS_LEAF} below it, so that it may delegate controllers",
            pids.len(),
            own.display()
        );
    }
    files::write(&control, &plus(controllers))
}

/// Whether `pid` is this process or a child of it.
fn is_ours(pid: &str) -> bool {
    let me = std::process::id();
    if pid.parse() == Ok(me) {
        return true;
    }
    // The parent is the field after the command, which is in parentheses.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit_once(") ")
        .and_then(|(_, rest)| rest.split_whitespace().nth(1))
        .is_some_and(|ppid| ppid.parse() == Ok(me))
}

impl Drop for RunV2 {
    fn drop(&mut self) {
        files::remove_tree(&self.dir);
    }
}

pub struct LeafV2 {
    fd: Option<File>,
    dir: PathBuf,
}

impl LeafV2 {
    pub fn dir_fd(&self) -> RawFd {
        self.fd.as_ref().map(|f| f.as_raw_fd()).unwrap_or(-1)
    }

    pub fn stats(&self) -> LeafStats {
        let oom_kills = files::read_key(&self.dir.join("memory.events"), "oom_kill");
        // Only an OOM kill asks whose limit it was.
        let memory_limit_hit = match oom_kills {
            Some(1..) => Layout::V2.limit_hit(&self.dir),
            _ => None,
        };
        LeafStats {
            peak_memory_bytes: files::read_u64(&self.dir.join("memory.peak")),
            oom_kills,
            memory_limit_hit,
            enclosing_oom: match (oom_kills, memory_limit_hit) {
                (Some(1..), Some(false)) => {
                    enclosing::find(Layout::V2, &self.dir, &enclosing::mounted_root)
                }
                _ => None,
            },
            pids_peak: files::read_u64(&self.dir.join("pids.peak")),
            pids_max_hits: files::read_key(&self.dir.join("pids.events"), "max"),
            cpu_usec: files::read_key(&self.dir.join("cpu.stat"), "usage_usec"),
        }
    }

    pub fn gauge(&self) -> super::Gauge {
        super::Gauge {
            memory: Some(self.dir.join("memory.current")),
            cpu: Some(self.dir.join("cpu.stat")),
            cpu_in_nanos: false,
        }
    }

    pub fn kill_all(&self) {
        files::kill_procs(&self.dir);
    }
}

impl Drop for LeafV2 {
    fn drop(&mut self) {
        self.fd = None;
        files::remove_tree(&self.dir);
    }
}
