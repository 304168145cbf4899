//! Where an archive's files are inside a sandbox: where they were built.
//! The unpacked workspace and target dir are mounted at the manifest's
//! `workspace_root` and `target_dir`, so that paths compiled into a test
//! (`env!("CARGO_MANIFEST_DIR")`, `env!("CARGO_BIN_EXE_app")`) hold on
//! any machine; with `--isolation none` there is no mount namespace and
//! the paths are the unpack's instead. [`Relocation`] maps the one to the
//! other.
//!
//! Those paths come from an untrusted archive: [`Relocation::new`] refuses
//! one that would shadow, or sit inside, a directory the sandbox shows
//! from the host or makes for itself (`/`, /proc, /dev, /sys, /usr, /etc,
//! the toolchain, /tmp, HOME...: [`Reserved`]), so that every mount point
//! is made on the sandbox's own tmpfs root.

use std::path::{Component, Path, PathBuf};

/// A host directory and where a sandbox shows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Move {
    /// The unpacked directory.
    pub host: PathBuf,
    /// Where the build had it.
    pub sandbox: PathBuf,
}

/// The archive's workspace and target dir, each moved back to where it
/// was built; checked (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Relocation {
    moves: Vec<Move>,
}

/// What a sandbox shows from the host, or makes fresh, at fixed places:
/// no archive path may be at, above or (for what is bound) below one.
#[derive(Debug, Clone, Default)]
pub struct Reserved {
    /// Shown from the host (system dirs, the toolchain) or the kernel's
    /// and the init's own (/proc, /dev, /sys): nothing at, above or below.
    pub bound: Vec<PathBuf>,
    /// Made fresh and empty (/tmp, /var/tmp, HOME): nothing at or above;
    /// below is fine, the mount point is made in them.
    pub fresh: Vec<PathBuf>,
}

impl Reserved {
    /// This machine's: what `host::base_layout` shows, the rustc sysroot,
    /// the kernel's file systems and the init's own directories.
    pub fn of_this_host() -> Reserved {
        let layout = crate::host::base_layout(&[], &[], false);
        let mut bound: Vec<PathBuf> = layout.system.into_iter().map(|(p, _)| p).collect();
        bound.extend(crate::sandbox::spec::SYSTEM_DIRS.iter().map(PathBuf::from));
        bound.extend(layout.read_only);
        bound.extend(crate::testenv::sysroot_lib_dirs());
        bound.extend(["/proc", "/dev", "/sys"].map(PathBuf::from));
        bound.extend(crate::sandbox::init::OWN_PATHS.map(PathBuf::from));
        let mut fresh: Vec<PathBuf> = ["/tmp", "/var/tmp"].map(PathBuf::from).to_vec();
        fresh.extend(layout.empty_dirs);
        Reserved { bound, fresh }
    }
}

impl Relocation {
    /// The archive's `workspace` and `target` (host, unpacked) shown at
    /// the build's `old_workspace` and `old_target`; an error says which
    /// path is refused and why.
    pub fn new(
        workspace: (&Path, &Path),
        target: (&Path, &Path),
        reserved: &Reserved,
    ) -> Result<Relocation, String> {
        let (old_ws, old_target) = (workspace.1, target.1);
        for (what, p) in [("workspace", old_ws), ("target dir", old_target)] {
            check(what, p, reserved)?;
        }
        if old_ws == old_target || old_ws.starts_with(old_target) {
            return Err(format!(
                "its workspace ({}) lies in its target dir ({}): refused",
                old_ws.display(),
                old_target.display()
            ));
        }
        Ok(Relocation {
            moves: vec![
                Move {
                    host: workspace.0.to_path_buf(),
                    sandbox: old_ws.to_path_buf(),
                },
                Move {
                    host: target.0.to_path_buf(),
                    sandbox: old_target.to_path_buf(),
                },
            ],
        })
    }

    /// The workspace's move, then the target dir's (often inside it):
    /// ancestors first.
    pub fn moves(&self) -> &[Move] {
        &self.moves
    }

    /// Where a sandbox sees the host path `p`: moved when it lies in an
    /// unpacked root (the deepest one: the target dir may lie in the
    /// workspace's unpack), else as it is.
    pub fn to_sandbox(&self, p: &Path) -> PathBuf {
        self.moves
            .iter()
            .filter_map(|m| p.strip_prefix(&m.host).ok().map(|rel| (m, rel)))
            .max_by_key(|(m, _)| m.host.components().count())
            .map_or_else(
                || p.to_path_buf(),
                |(m, rel)| match rel.as_os_str().is_empty() {
                    true => m.sandbox.clone(),
                    false => m.sandbox.join(rel),
                },
            )
    }
}

/// One build path against what the sandbox reserves.
fn check(what: &str, p: &Path, reserved: &Reserved) -> Result<(), String> {
    let refuse = |why: String| {
        Err(format!(
            "its {what} was built at {}, {why}: refused (a sandbox mounts an archive where it was built, and never over what it shows from the host or makes for itself; rebuild the archive elsewhere, e.g. in your home or /srv)",
            p.display()
        ))
    };
    let plain = p.is_absolute()
        && p.components()
            .skip(1)
            .all(|c| matches!(c, Component::Normal(_)));
    if !plain {
        return refuse("not a plain absolute path".into());
    }
    if p == Path::new("/") {
        return refuse("the root itself".into());
    }
    for b in &reserved.bound {
        if p.starts_with(b) || b.starts_with(p) {
            return refuse(format!(
                "which would shadow {} in the sandbox (shown there from the host)",
                b.display()
            ));
        }
    }
    for f in &reserved.fresh {
        if f.starts_with(p) {
            return refuse(format!(
                "which would shadow {} in the sandbox (made fresh there)",
                f.display()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reserved() -> Reserved {
        Reserved {
            bound: ["/usr", "/etc", "/proc", "/dev", "/root/.rustup"]
                .map(PathBuf::from)
                .to_vec(),
            fresh: ["/tmp", "/root", "/home/u/.home"]
                .map(PathBuf::from)
                .to_vec(),
        }
    }

    fn relocate(ws: &str, target: &str) -> Result<Relocation, String> {
        Relocation::new(
            (Path::new("/u/archive/workspace"), Path::new(ws)),
            (Path::new("/u/archive/target"), Path::new(target)),
            &reserved(),
        )
    }

    #[test]
    fn paths_move_back_to_where_they_were_built() {
        let r = relocate("/home/ci/ws", "/home/ci/ws/target").unwrap();
        let s = |p: &str| r.to_sandbox(Path::new(p));
        assert_eq!(s("/u/archive/workspace/app"), Path::new("/home/ci/ws/app"));
        assert_eq!(s("/u/archive/workspace"), Path::new("/home/ci/ws"));
        assert_eq!(
            s("/u/archive/target/debug/app"),
            Path::new("/home/ci/ws/target/debug/app")
        );
        assert_eq!(s("/usr/lib"), Path::new("/usr/lib"));
        assert_eq!(
            s("/u/archive/workspacex"),
            Path::new("/u/archive/workspacex")
        );
        // Under /tmp and HOME: their mount points are made in the fresh dir.
        assert!(relocate("/tmp/build/ws", "/tmp/build/ws/target").is_ok());
        assert!(relocate("/root/ws", "/srv/target").is_ok());
    }

    /// The paths come from the archive: none may shadow what the sandbox
    /// needs, or be anything but a plain absolute path.
    #[test]
    fn paths_that_would_shadow_the_sandbox_are_refused() {
        for (ws, target, says) in [
            ("/", "/t", "the root itself"),
            ("/usr/src/ws", "/t", "would shadow /usr"),
            ("/etc", "/t", "would shadow /etc"),
            ("/proc/1", "/t", "would shadow /proc"),
            ("/ws", "/dev", "would shadow /dev"),
            ("/root/.rustup/x", "/t", "would shadow /root/.rustup"),
            ("/root", "/t", "would shadow /root/.rustup"),
            (
                "/home/u",
                "/t/x",
                "would shadow /home/u/.home in the sandbox (made fresh",
            ),
            ("/home/u/ws", "/t/x", "ok"),
            ("/var", "/t", "ok"),
            ("/tmp", "/t", "would shadow /tmp"),
            ("/ws/../etc", "/t", "not a plain absolute path"),
            ("ws", "/t", "not a plain absolute path"),
            ("/ws", "/ws", "lies in its target dir"),
            ("/t/ws", "/t", "lies in its target dir"),
        ] {
            match relocate(ws, target) {
                Ok(_) => assert_eq!(says, "ok", "{ws} was accepted"),
                Err(e) => assert!(e.contains(says), "{ws}: {e}"),
            }
        }
        let e = relocate("/usr/src/ws", "/t").unwrap_err();
        assert!(
            e.starts_with("its workspace was built at /usr/src/ws, which would shadow /usr"),
            "{e}"
        );
    }
}
