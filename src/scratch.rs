//! `--scratch disk`: each sandbox's writable places (/tmp, /var/tmp, HOME,
//! the overlays' upper layers) in a directory of its own on disk instead of
//! the sandbox's tmpfs, so large scratch data is not memory and disk I/O is
//! accounted as disk I/O. [`ScratchRoot`] is one run's directory; each
//! [`ScratchDir`] is removed when its sandbox ends, and what a runner
//! killed by SIGKILL left behind is removed by the next run.

use crate::cgroup::{RUN_PREFIX, run_dir_name, run_is_alive};
use crate::error::Error;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// One run's scratch directory: `<parent>/cargo-isolate-<pid>-<start>-<n>`.
pub struct ScratchRoot {
    dir: PathBuf,
}

impl ScratchRoot {
    /// Removes dead runs' leftovers under `parent`, then makes this run's.
    pub fn create(parent: &Path) -> Result<ScratchRoot, Error> {
        let fail = |what: &str, p: &Path, e: std::io::Error| {
            Error::setup(format!(
                "--scratch disk: cannot {what} {}: {e}\n  pick a writable target dir (--target-dir), or use --scratch memory",
                p.display()
            ))
        };
        fs::create_dir_all(parent).map_err(|e| fail("create", parent, e))?;
        // Scratch is private: only its owner lists what tests wrote there.
        let _ = fs::set_permissions(parent, fs::Permissions::from_mode(0o700));
        remove_stale(parent);
        let dir = parent.join(run_dir_name());
        fs::create_dir(&dir).map_err(|e| fail("create", &dir, e))?;
        Ok(ScratchRoot { dir })
    }

    #[cfg(test)]
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// An empty directory for one sandbox.
    pub fn for_sandbox(&self, name: &str) -> Result<ScratchDir, String> {
        let dir = self.dir.join(name);
        fs::create_dir(&dir)
            .map_err(|e| format!("cannot create the scratch dir {}: {e}", dir.display()))?;
        Ok(ScratchDir { dir })
    }
}

impl Drop for ScratchRoot {
    fn drop(&mut self) {
        remove_forcing(&self.dir);
        // The parent too, when no other run uses it: nothing is left.
        if let Some(parent) = self.dir.parent() {
            let _ = fs::remove_dir(parent);
        }
    }
}

/// One sandbox's scratch directory, removed on drop.
pub struct ScratchDir {
    dir: PathBuf,
}

impl ScratchDir {
    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        remove_forcing(&self.dir);
    }
}

fn remove_stale(parent: &Path) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(RUN_PREFIX) && !run_is_alive(&name) {
            remove_forcing(&entry.path());
        }
    }
}

/// `remove_dir_all`, also when a test left directories without write or
/// search permission for their owner (rootless, the runner is that owner).
fn remove_forcing(dir: &Path) {
    if fs::remove_dir_all(dir).is_ok() || !dir.exists() {
        return;
    }
    open_up(dir);
    let _ = fs::remove_dir_all(dir);
}

fn open_up(dir: &Path) {
    let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                open_up(&entry.path());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_locked_tree_is_still_removed() {
        let parent = tempfile::tempdir().unwrap();
        let root = ScratchRoot::create(parent.path()).unwrap();
        let sandbox = root.for_sandbox("t0").unwrap();
        let deep = sandbox.path().join("a/b");
        fs::create_dir_all(&deep).unwrap();
        fs::write(deep.join("f"), "x").unwrap();
        fs::set_permissions(sandbox.path().join("a"), fs::Permissions::from_mode(0o000)).unwrap();
        let path = sandbox.path().to_path_buf();
        drop(sandbox);
        assert!(!path.exists());
        let run = root.path().to_path_buf();
        drop(root);
        assert!(!run.exists());
    }

    #[test]
    fn dead_runs_are_swept_live_ones_kept() {
        let parent = tempfile::tempdir().unwrap();
        let dead = parent
            .path()
            .join(format!("{RUN_PREFIX}{}-1-0", std::process::id()));
        let foreign = parent.path().join("not-ours");
        fs::create_dir_all(dead.join("t1")).unwrap();
        fs::create_dir(&foreign).unwrap();
        let root = ScratchRoot::create(parent.path()).unwrap();
        assert!(!dead.exists(), "a dead run's scratch is removed");
        assert!(foreign.exists(), "what we did not make is left alone");
        assert!(root.path().exists());
    }
}
