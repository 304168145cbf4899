//! What a sandbox looks like, as plain data: [`InitSpec`] is built by the
//! runner, printed or unit-tested as it is, and handed to the init, which
//! applies its [`MountStep`]s in order (see `init.rs`).

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One step of building the new root. Paths are the paths the test sees;
/// the host's copy is found under the old root during setup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MountStep {
    /// An empty directory on the root tmpfs (writable, private).
    Dir { path: PathBuf, mode: u32 },
    /// A symlink, mirroring the host's (merged-/usr `/bin -> usr/bin`).
    Symlink { path: PathBuf, target: PathBuf },
    /// A recursive bind of the host path, made read-only.
    BindReadOnly { path: PathBuf },
    /// The host path as the lower layer of an overlay whose upper layer is
    /// on the root tmpfs: readable and writable, nothing reaches the host.
    Overlay { path: PathBuf },
    /// A small writable tmpfs over a path inside a read-only one
    /// (CARGO_TARGET_TMPDIR under `--read-only-source`).
    Scratch { path: PathBuf },
    /// /dev: device nodes bound from the host, fd links, devpts, /dev/shm.
    Dev,
    /// A secret inside a visible path, covered: an empty read-only tmpfs
    /// over a directory, /dev/null over a file.
    Mask { path: PathBuf, dir: bool },
    /// A file of the sandbox's own, read-only, over an existing one
    /// (`--hosts`: /etc/hosts).
    File { path: PathBuf, contents: String },
    /// The host path `from` shown at another `path` (an archive's unpacked
    /// workspace where it was built): through a private overlay, or a
    /// read-only bind. Its mount point is made on the root tmpfs.
    Moved {
        path: PathBuf,
        from: PathBuf,
        read_only: bool,
    },
}

impl MountStep {
    pub fn path(&self) -> &Path {
        match self {
            MountStep::Dir { path, .. }
            | MountStep::Symlink { path, .. }
            | MountStep::BindReadOnly { path }
            | MountStep::Overlay { path }
            | MountStep::Scratch { path }
            | MountStep::Mask { path, .. }
            | MountStep::File { path, .. }
            | MountStep::Moved { path, .. } => path,
            MountStep::Dev => Path::new("/dev"),
        }
    }
}

/// Everything the init needs, passed as JSON through a memfd (fd 4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InitSpec {
    /// The new root's steps; `None` means no mount namespace (isolation none).
    pub mounts: Option<Vec<MountStep>>,
    /// Size bound of the root tmpfs, which holds every writable path.
    pub tmpfs_size_bytes: u64,
    /// Inode bound of each tmpfs (`nr_inodes`): without one, a tmpfs of
    /// 16 MiB holds millions of empty files in unbounded kernel memory.
    #[serde(default)]
    pub tmpfs_inodes: u64,
    /// `--scratch disk`: a host directory (empty, this sandbox's own) that
    /// holds the writable paths and the overlays' upper layers instead.
    pub scratch_dir: Option<PathBuf>,
    /// `--scratch-size`: an ext4 image the init loop-mounts on
    /// `scratch_dir` in its own mount namespace, so a test's writes there
    /// end in ENOSPC at its size.
    #[serde(default)]
    pub scratch_image: Option<PathBuf>,
    pub hostname: Option<String>,
    /// The test gets a network namespace of its own, with `lo` up (false
    /// for isolation none, and with `--reuse-netns`, where the runner put
    /// the init in a worker's namespace).
    pub own_network: bool,
    /// The init is pid 1 of a new pid namespace.
    pub pid_namespace: bool,
    /// Run the test in a user namespace of its own, made after the root is
    /// built: it owns the test's network, uts and ipc namespaces, and the
    /// mount namespace copied into it locks every mount (the test can
    /// never remount a read-only bind writable or look under a mask).
    pub test_userns: bool,
    /// Rootless: the test's namespace maps the real ids only. As root it
    /// maps the whole id range to itself.
    pub rootless: bool,
    /// Mount a fresh read-only sysfs (the test's network namespace's view)
    /// at /sys.
    pub sysfs: bool,
    /// Real uid/gid outside, mapped to themselves in the test's namespace.
    pub uid: u32,
    pub gid: u32,
    /// Faults in the test's own network, applied before it runs.
    #[serde(default)]
    pub net_faults: super::netfault::NetFaults,
    /// The seccomp programs the test's process installs right before its
    /// exec (empty: none, `--seccomp none`).
    #[serde(default)]
    pub seccomp: super::seccomp::Filters,
    /// The zygote already joined a fresh session keyring behind its own
    /// filter (which refuses keyctl): the test has nothing more to do.
    #[serde(default)]
    pub keyring_fresh: bool,
    /// Build the sandbox, then report success without running anything:
    /// the preflight check that namespaces work here.
    pub probe_only: bool,
    pub workdir: PathBuf,
    pub program: PathBuf,
    pub args: Vec<String>,
}

/// The host paths a sandbox shows, decided once per run.
#[derive(Debug, Clone, Default)]
pub struct RootLayout {
    /// System directories: (path, Some(link target) when it is a symlink).
    pub system: Vec<(PathBuf, Option<PathBuf>)>,
    /// Extra read-only paths (toolchain, the program's dir for `run`).
    pub read_only: Vec<PathBuf>,
    /// Writable-but-private paths (package dir, target dir).
    pub overlays: Vec<PathBuf>,
    /// Fresh empty directories (HOME).
    pub empty_dirs: Vec<PathBuf>,
    /// Writable scratch tmpfs mounts (only with `read_only_source`).
    pub scratch: Vec<PathBuf>,
    /// Host secrets (path, is a directory) to cover where a bind or an
    /// overlay would show them.
    pub secrets: Vec<(PathBuf, bool)>,
    /// Make the overlay paths plainly read-only instead.
    pub read_only_source: bool,
    /// Host directories shown elsewhere: (where in the sandbox, the host
    /// path). Private overlays, or read-only with `read_only_source`.
    pub moved: Vec<(PathBuf, PathBuf)>,
}

/// Directories a program needs to run at all. Missing ones are skipped.
pub const SYSTEM_DIRS: &[&str] = &[
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc",
];

/// The sandbox's own writable directories.
const SCRATCH_DIRS: [&str; 2] = ["/tmp", "/var/tmp"];

impl RootLayout {
    /// The ordered steps: every path after its ancestors, so a bind or an
    /// overlay under /tmp or HOME lands inside the fresh directory rather
    /// than being hidden by it.
    pub fn steps(&self) -> Vec<MountStep> {
        let mut steps: Vec<MountStep> = SCRATCH_DIRS
            .iter()
            .map(|d| MountStep::Dir {
                path: d.into(),
                mode: 0o1777,
            })
            .collect();
        steps.push(MountStep::Dev);
        for (path, link) in &self.system {
            steps.push(match link {
                Some(target) => MountStep::Symlink {
                    path: path.clone(),
                    target: target.clone(),
                },
                None => MountStep::BindReadOnly { path: path.clone() },
            });
        }
        for path in &self.empty_dirs {
            steps.push(MountStep::Dir {
                path: path.clone(),
                mode: 0o700,
            });
        }
        for path in &self.read_only {
            steps.push(MountStep::BindReadOnly { path: path.clone() });
        }
        for path in &self.overlays {
            steps.push(if self.read_only_source {
                MountStep::BindReadOnly { path: path.clone() }
            } else {
                MountStep::Overlay { path: path.clone() }
            });
        }
        // A moved path is not the host's path: it never stands for the
        // host's, so it neither covers a bind below it nor is covered.
        for (path, from) in &self.moved {
            steps.push(MountStep::Moved {
                path: path.clone(),
                from: from.clone(),
                read_only: self.read_only_source,
            });
        }
        let is_mount = |s: &MountStep| {
            matches!(
                s,
                MountStep::BindReadOnly { .. } | MountStep::Overlay { .. }
            )
        };
        // The sandbox's root is its own tmpfs, never the host's root (`run`
        // from /, `--ro-bind /`): what / holds is shown piece by piece.
        steps.retain(|s| {
            let mounted = is_mount(s) || matches!(s, MountStep::Moved { .. });
            !(mounted && s.path() == Path::new("/"))
        });
        // /tmp and /var/tmp stay writable even when shown (`run` from
        // /tmp): the host's contents through a private overlay.
        for s in steps.iter_mut() {
            if let MountStep::BindReadOnly { path } = s
                && SCRATCH_DIRS.iter().any(|d| path == Path::new(d))
            {
                *s = MountStep::Overlay { path: path.clone() };
            }
        }
        // A fresh directory (HOME) that is also a bound path (HOME is the
        // package dir, or `run` from HOME) shows the bound path instead.
        let bound: Vec<PathBuf> = steps
            .iter()
            .filter(|s| is_mount(s))
            .map(|s| s.path().to_path_buf())
            .collect();
        steps.retain(|s| !matches!(s, MountStep::Dir { path, .. } if bound.contains(path)));
        // A path already covered by a bind or an overlay of an ancestor
        // needs no mount of its own: the ancestor's mount shows it already.
        let covering: Vec<PathBuf> = steps
            .iter()
            .filter(|s| is_mount(s))
            .map(|s| s.path().to_path_buf())
            .collect();
        steps.retain(|s| {
            !is_mount(s)
                || !covering
                    .iter()
                    .any(|c| c != s.path() && s.path().starts_with(c))
        });
        for path in &self.scratch {
            steps.push(MountStep::Scratch { path: path.clone() });
        }
        // What is shown through a moved path can hold the runner's files
        // too (the target dir's `isolate/`): masked the same way.
        let covering: Vec<PathBuf> = covering
            .into_iter()
            .chain(self.moved.iter().map(|(p, _)| p.clone()))
            .collect();
        for (path, dir) in &self.secrets {
            if covering.iter().any(|c| path.starts_with(c)) {
                steps.push(MountStep::Mask {
                    path: path.clone(),
                    dir: *dir,
                });
            }
        }
        // A fresh directory inside a bind or an overlay cannot be made
        // there (read-only) or would not be fresh (overlay): it gets a tmpfs.
        for s in steps.iter_mut() {
            if let MountStep::Dir { path, .. } = s
                && covering.iter().any(|c| path.starts_with(c))
            {
                *s = MountStep::Scratch { path: path.clone() };
            }
        }
        dedup_by_path(&mut steps);
        // Stable sort: ancestors first, insertion order among equals.
        steps.sort_by_key(|s| s.path().components().count());
        steps
    }
}

fn dedup_by_path(steps: &mut Vec<MountStep>) {
    let mut seen = std::collections::HashSet::new();
    steps.retain(|s| seen.insert(s.path().to_path_buf()));
}

/// Escapes a path for overlayfs's comma/colon separated options.
pub fn overlay_escape(path: &Path) -> String {
    let mut out = String::new();
    for ch in path.to_string_lossy().chars() {
        if matches!(ch, ',' | ':' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

/// The sandbox's /etc/hosts with `--hosts` entries: loopback names, the
/// sandbox's hostname, then each name once (the first entry of a name
/// wins, as the caller ordered them).
pub fn hosts_file(hostname: &str, entries: &[(String, std::net::IpAddr)]) -> String {
    let mut out = format!(
        "# written by cargo-isolate (--hosts)\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{hostname}\n"
    );
    let mut seen = std::collections::HashSet::new();
    for (name, addr) in entries {
        if seen.insert(name.as_str()) {
            out += &format!("{addr}\t{name}\n");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> RootLayout {
        RootLayout {
            system: vec![
                ("/usr".into(), None),
                ("/bin".into(), Some("usr/bin".into())),
            ],
            read_only: vec!["/root/.rustup".into(), "/usr/local/bin".into()],
            overlays: vec!["/tmp/ws/target".into(), "/tmp/ws".into()],
            empty_dirs: vec!["/root".into()],
            scratch: vec![],
            secrets: vec![],
            read_only_source: false,
            moved: vec![],
        }
    }

    /// An archive's workspace and target dir shown where they were built,
    /// the target dir inside the workspace: both mounted (the inner one is
    /// not the outer's host contents), after their ancestors, the runner's
    /// dir in the target masked.
    #[test]
    fn moved_paths_are_mounted_where_they_were_built() {
        let mut l = layout();
        l.overlays.clear();
        l.moved = vec![
            ("/build/ws".into(), "/tmp/unpack/workspace".into()),
            ("/build/ws/target".into(), "/tmp/unpack/target".into()),
        ];
        l.secrets = vec![("/build/ws/target/isolate".into(), true)];
        let steps = l.steps();
        let pos = |p: &str| steps.iter().position(|s| s.path() == Path::new(p)).unwrap();
        assert_eq!(
            steps[pos("/build/ws/target")],
            MountStep::Moved {
                path: "/build/ws/target".into(),
                from: "/tmp/unpack/target".into(),
                read_only: false
            }
        );
        assert!(pos("/build/ws") < pos("/build/ws/target"));
        assert!(pos("/build/ws/target") < pos("/build/ws/target/isolate"));
        assert!(matches!(
            steps[pos("/build/ws/target/isolate")],
            MountStep::Mask { dir: true, .. }
        ));
        // The unpack itself is not shown at its own path.
        assert!(!steps.iter().any(|s| s.path().starts_with("/tmp/unpack")));
        l.read_only_source = true;
        assert!(l.steps().contains(&MountStep::Moved {
            path: "/build/ws".into(),
            from: "/tmp/unpack/workspace".into(),
            read_only: true
        }));
    }

    #[test]
    fn ancestors_come_before_descendants() {
        let steps = layout().steps();
        let pos = |p: &str| steps.iter().position(|s| s.path() == Path::new(p)).unwrap();
        assert!(pos("/tmp") < pos("/tmp/ws"));
        assert!(pos("/root") < pos("/root/.rustup"));
        // The target dir is inside the overlaid workspace: no second overlay.
        assert!(
            !steps
                .iter()
                .any(|s| s.path() == Path::new("/tmp/ws/target"))
        );
        assert!(pos("/root") < pos("/root/.rustup"));
    }

    #[test]
    fn a_fresh_home_inside_a_bind_becomes_a_tmpfs() {
        let mut l = layout();
        l.empty_dirs = vec!["/tmp/ws/home".into()];
        let steps = l.steps();
        assert!(steps.contains(&MountStep::Scratch {
            path: "/tmp/ws/home".into()
        }));
    }

    #[test]
    fn binds_under_a_read_only_bind_are_dropped() {
        let steps = layout().steps();
        assert!(
            !steps
                .iter()
                .any(|s| s.path() == Path::new("/usr/local/bin"))
        );
    }

    #[test]
    fn read_only_source_turns_overlays_into_binds() {
        let mut l = layout();
        l.read_only_source = true;
        let steps = l.steps();
        assert!(steps.contains(&MountStep::BindReadOnly {
            path: "/tmp/ws".into()
        }));
        assert!(!steps.iter().any(|s| matches!(s, MountStep::Overlay { .. })));
        // /tmp/ws/target is now covered by the read-only bind of /tmp/ws.
        assert!(
            !steps
                .iter()
                .any(|s| s.path() == Path::new("/tmp/ws/target"))
        );
    }

    #[test]
    fn home_that_is_the_package_dir_shows_the_package() {
        let mut l = layout();
        l.empty_dirs = vec!["/tmp/ws".into()];
        let steps = l.steps();
        assert!(steps.contains(&MountStep::Overlay {
            path: "/tmp/ws".into()
        }));
        assert!(
            !steps
                .iter()
                .any(|s| matches!(s, MountStep::Dir { path, .. } if path == Path::new("/tmp/ws")))
        );
    }

    #[test]
    fn the_host_root_is_never_bound() {
        let mut l = layout();
        l.read_only.push("/".into());
        let steps = l.steps();
        assert!(!steps.iter().any(|s| s.path() == Path::new("/")));
        // Everything else is still there, /tmp a fresh directory.
        assert!(
            steps
                .iter()
                .any(|s| matches!(s, MountStep::Dir { path, .. } if path == Path::new("/tmp")))
        );
        assert!(steps.contains(&MountStep::BindReadOnly {
            path: "/usr".into()
        }));
    }

    #[test]
    fn a_shown_tmp_stays_writable() {
        let mut l = layout();
        l.read_only.push("/tmp".into());
        let steps = l.steps();
        assert!(steps.contains(&MountStep::Overlay {
            path: "/tmp".into()
        }));
        assert_eq!(
            steps
                .iter()
                .filter(|s| s.path() == Path::new("/tmp"))
                .count(),
            1
        );
    }

    #[test]
    fn secrets_are_masked_only_where_visible() {
        let mut l = layout();
        l.secrets = vec![
            ("/tmp/ws/.cargo/credentials.toml".into(), false),
            ("/root/.ssh".into(), true),
        ];
        let steps = l.steps();
        assert!(steps.contains(&MountStep::Mask {
            path: "/tmp/ws/.cargo/credentials.toml".into(),
            dir: false
        }));
        // /root is a fresh empty dir: nothing of the host's shows there.
        assert!(!steps.iter().any(|s| s.path() == Path::new("/root/.ssh")));
    }

    #[test]
    fn overlay_options_are_escaped() {
        assert_eq!(overlay_escape(Path::new("/a,b:c")), "/a\\,b\\:c");
    }

    #[test]
    fn the_hosts_file_has_loopback_names_then_each_entry_once() {
        let a: std::net::IpAddr = "127.0.0.1".parse().unwrap();
        let b: std::net::IpAddr = "::1".parse().unwrap();
        let text = hosts_file(
            "isolate",
            &[
                ("db.internal".into(), a),
                ("cache".into(), b),
                ("db.internal".into(), b),
            ],
        );
        let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            lines,
            [
                "127.0.0.1\tlocalhost",
                "::1\tlocalhost ip6-localhost ip6-loopback",
                "127.0.1.1\tisolate",
                "127.0.0.1\tdb.internal",
                "::1\tcache",
            ]
        );
    }
}
