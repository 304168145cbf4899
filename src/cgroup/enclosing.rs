//! Whose memory limit an OOM kill came from. The kernel counts a kill in
//! the victim's cgroup whichever limit ran out: the test's own, an
//! enclosing cgroup's (a container's, a CI job's) or the machine's. The
//! leaf's own counters say whether its limit was reached; if not, the
//! ancestors we can read say which of them was. Paths are parameters, so
//! this is tested on fake cgroupfs trees.

use super::files;
use std::path::Path;

/// The limit an OOM kill outside the test's own came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enclosing {
    /// As `/proc/self/cgroup` names it: from the hierarchy's root.
    pub cgroup: String,
    pub limit_bytes: u64,
}

/// A limit at or above this is "no limit" (v1 writes 2^63 rounded down to
/// a page; v2 writes "max", which does not parse).
const UNLIMITED: u64 = 1 << 62;

/// How far below its limit a v1 counter's high-water mark stops when the
/// limit refuses a charge: the charge that failed, at most a huge page
/// (2 MiB), with room to spare.
const V1_SLACK: u64 = 4 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    V1,
    V2,
}

impl Layout {
    /// The file every cgroup of the hierarchy has (the root included).
    fn marker(self) -> &'static str {
        match self {
            Layout::V1 => "memory.usage_in_bytes",
            Layout::V2 => "cgroup.controllers",
        }
    }

    fn limit(self, dir: &Path) -> Option<u64> {
        let file = match self {
            Layout::V1 => "memory.limit_in_bytes",
            Layout::V2 => "memory.max",
        };
        files::read_u64(&dir.join(file)).filter(|l| *l < UNLIMITED)
    }

    /// Whether `dir`'s own limit was reached: v1 counts each charge its
    /// memory limit refused (`failcnt`), but not those its memory+swap
    /// limit refused (since Linux 6.15 only the memory counter keeps a
    /// failcnt), and a memsw limit equal to the memory limit is the one
    /// that refuses first: so also whether either high-water mark came
    /// within [`V1_SLACK`] of its limit. v2 counts each time its limit
    /// left an allocation to the OOM killer (`oom` in memory.events; the
    /// local file where there is one, so a child's limit does not count).
    /// `None`: not readable.
    pub fn limit_hit(self, dir: &Path) -> Option<bool> {
        match self {
            Layout::V1 => {
                let failcnt = files::read_u64(&dir.join("memory.failcnt"))?;
                let reached = |usage: &str, limit: &str| {
                    let limit = files::read_u64(&dir.join(limit)).filter(|l| *l < UNLIMITED);
                    let usage = files::read_u64(&dir.join(usage));
                    matches!((usage, limit), (Some(u), Some(l)) if u.saturating_add(V1_SLACK) >= l)
                };
                Some(
                    failcnt > 0
                        || reached("memory.max_usage_in_bytes", "memory.limit_in_bytes")
                        || reached(
                            "memory.memsw.max_usage_in_bytes",
                            "memory.memsw.limit_in_bytes",
                        ),
                )
            }
            Layout::V2 => {
                let local = dir.join("memory.events.local");
                let events = match local.exists() {
                    true => local,
                    false => dir.join("memory.events"),
                };
                files::read_key(&events, "oom").map(|n| n > 0)
            }
        }
    }
}

/// The nearest ancestor of `leaf` (up to the hierarchy's root as mounted
/// here) with a memory limit that was reached. The counters are the
/// cgroups' whole lives, not this test's: the nearest limit reached is the
/// best guess, `None` when no readable ancestor reached one (the machine's
/// memory ran out, or the limit is above what we can read).
/// `mounted_as`: the cgroup a mount point shows (a container's mount shows
/// its own cgroup as the root), so names are the host's, as
/// `/proc/self/cgroup` gives them; see [`mounted_root`].
pub fn find(
    layout: Layout,
    leaf: &Path,
    mounted_as: &dyn Fn(&Path) -> Option<String>,
) -> Option<Enclosing> {
    let marker = layout.marker();
    let mut chain: Vec<&Path> = leaf
        .ancestors()
        .skip(1)
        .take_while(|d| d.join(marker).exists())
        .collect();
    // The last one is the root of the hierarchy as mounted: names start there.
    let root = chain.pop()?;
    chain.push(root);
    let found = chain.into_iter().find_map(|dir| {
        let limit_bytes = layout.limit(dir)?;
        layout.limit_hit(dir)?.then_some((dir, limit_bytes))
    })?;
    let base = mounted_as(root).unwrap_or_else(|| "/".into());
    let rel = found.0.strip_prefix(root).unwrap_or(found.0);
    let cgroup = match rel.as_os_str().is_empty() {
        true => base,
        false => format!("{}/{}", base.trim_end_matches('/'), rel.display()),
    };
    Some(Enclosing {
        cgroup,
        limit_bytes: found.1,
    })
}

/// The cgroup path at the root of the cgroup mount at `point`, from this
/// process's mountinfo ("/" on a host; a container's own cgroup inside it,
/// without a cgroup namespace).
pub fn mounted_root(point: &Path) -> Option<String> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    files::parse_cgroup_mounts(&mountinfo)
        .into_iter()
        .find(|m| m.mount_point == point)
        .map(|m| m.root)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// A v1 memory hierarchy: `(path from root, limit, failcnt, peak)`.
    fn v1_tree(cgroups: &[(&str, u64, u64, u64)]) -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("memory");
        for (path, limit, failcnt, peak) in cgroups {
            let d = root.join(path.trim_start_matches('/'));
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("memory.usage_in_bytes"), "0\n").unwrap();
            std::fs::write(d.join("memory.limit_in_bytes"), format!("{limit}\n")).unwrap();
            std::fs::write(d.join("memory.failcnt"), format!("{failcnt}\n")).unwrap();
            std::fs::write(d.join("memory.max_usage_in_bytes"), format!("{peak}\n")).unwrap();
            // Swap accounting on, memsw unlimited: its failcnt stays 0.
            std::fs::write(d.join("memory.memsw.limit_in_bytes"), format!("{NONE}\n")).unwrap();
            std::fs::write(
                d.join("memory.memsw.max_usage_in_bytes"),
                format!("{peak}\n"),
            )
            .unwrap();
            std::fs::write(d.join("memory.memsw.failcnt"), "0\n").unwrap();
        }
        (tmp, root)
    }

    const NONE: u64 = 9223372036854771712;

    #[test]
    fn v1_names_the_nearest_ancestor_whose_limit_was_reached() {
        let (_tmp, root) = v1_tree(&[
            ("/", NONE, 0, 1 << 33),
            ("/docker", 1 << 30, 3, 1 << 30),
            ("/docker/ctr", 150 << 20, 12, 150 << 20),
            ("/docker/ctr/run", NONE, 0, 148 << 20),
            ("/docker/ctr/run/leaf", 1 << 30, 0, 148 << 20),
        ]);
        let leaf = root.join("docker/ctr/run/leaf");
        assert_eq!(Layout::V1.limit_hit(&leaf), Some(false));
        assert_eq!(
            find(Layout::V1, &leaf, &|_| None),
            Some(Enclosing {
                cgroup: "/docker/ctr".into(),
                limit_bytes: 150 << 20
            })
        );
    }

    /// Inside a container the mount's root is the container's cgroup:
    /// named as the host names it, from the mount's root path.
    #[test]
    fn names_start_at_the_cgroup_the_mount_shows() {
        let (_tmp, root) = v1_tree(&[
            ("/", 150 << 20, 7, 150 << 20),
            ("/run", NONE, 0, 140 << 20),
            ("/run/leaf", 1 << 30, 0, 140 << 20),
        ]);
        let shows = |p: &Path| (p == root).then(|| "/libpod_parent/libpod-1f3c".to_string());
        let e = find(Layout::V1, &root.join("run/leaf"), &shows).unwrap();
        assert_eq!(e.cgroup, "/libpod_parent/libpod-1f3c");
        let (_tmp, root) = v1_tree(&[
            ("/", NONE, 0, 0),
            ("/job", 150 << 20, 7, 150 << 20),
            ("/job/leaf", 1 << 30, 0, 140 << 20),
        ]);
        let shows = |_: &Path| Some("/".to_string());
        let e = find(Layout::V1, &root.join("job/leaf"), &shows).unwrap();
        assert_eq!(e.cgroup, "/job");
    }

    #[test]
    fn v1_a_limit_never_reached_or_no_limit_is_not_named() {
        let (_tmp, root) = v1_tree(&[
            ("/", NONE, 5, 1 << 33),
            ("/ctr", 150 << 20, 0, 100 << 20),
            ("/ctr/leaf", 1 << 30, 0, 100 << 20),
        ]);
        assert_eq!(find(Layout::V1, &root.join("ctr/leaf"), &|_| None), None);
    }

    #[test]
    fn v1_the_leafs_own_limit_reached_is_seen() {
        let (_tmp, root) = v1_tree(&[("/", NONE, 0, 0), ("/leaf", 64 << 20, 40, 64 << 20)]);
        assert_eq!(Layout::V1.limit_hit(&root.join("leaf")), Some(true));
    }

    /// memsw limited as memory is (what the tool writes): memsw refuses
    /// first and keeps no failcnt; its high-water mark at the limit tells.
    #[test]
    fn v1_a_memsw_limit_reached_is_seen_without_a_failcnt() {
        let (_tmp, root) = v1_tree(&[("/", NONE, 0, 0), ("/leaf", 64 << 20, 0, (64 << 20) - 8192)]);
        let leaf = root.join("leaf");
        std::fs::write(leaf.join("memory.memsw.limit_in_bytes"), "67108864\n").unwrap();
        std::fs::write(leaf.join("memory.memsw.max_usage_in_bytes"), "67104768\n").unwrap();
        assert_eq!(Layout::V1.limit_hit(&leaf), Some(true));
        // Far below: not reached.
        std::fs::write(leaf.join("memory.max_usage_in_bytes"), "1048576\n").unwrap();
        std::fs::write(leaf.join("memory.memsw.max_usage_in_bytes"), "1048576\n").unwrap();
        assert_eq!(Layout::V1.limit_hit(&leaf), Some(false));
    }

    #[test]
    fn v2_reads_the_local_oom_count_and_max() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let mk = |path: &str, max: &str, events: &str| {
            let d = root.join(path);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("cgroup.controllers"), "memory pids\n").unwrap();
            if !max.is_empty() {
                std::fs::write(d.join("memory.max"), format!("{max}\n")).unwrap();
            }
            std::fs::write(d.join("memory.events.local"), events).unwrap();
        };
        mk("", "", "");
        mk(
            "job",
            "157286400",
            "low 0\nhigh 0\nmax 40\noom 1\noom_kill 0\n",
        );
        mk("job/run", "max", "oom 0\n");
        mk("job/run/leaf", "1073741824", "max 0\noom 0\noom_kill 1\n");
        let leaf = root.join("job/run/leaf");
        assert_eq!(Layout::V2.limit_hit(&leaf), Some(false));
        assert_eq!(
            find(Layout::V2, &leaf, &|_| None),
            Some(Enclosing {
                cgroup: "/job".into(),
                limit_bytes: 150 << 20
            })
        );
    }
}
