//! `--scratch disk`: each sandbox's writable places (/tmp, /var/tmp, HOME,
//! the overlays' upper layers) in a directory of its own on disk instead of
//! the sandbox's tmpfs, so large scratch data is not memory and disk I/O is
//! accounted as disk I/O. [`ScratchRoot`] is one run's directory; each
//! [`ScratchDir`] is removed when its sandbox ends, and what a runner
//! killed by SIGKILL left behind is removed by the next run.
//!
//! A directory on the host's disk would let a test fill that disk (and, as
//! root, its reserved blocks), so as root each sandbox's scratch is bounded
//! (`--scratch-size`): an ext4 image of that size, sparse, beside the
//! directory, which the init loop-mounts on it in its own mount namespace.
//! A filesystem image rather than a project quota because quotas need a
//! filesystem mounted with them; loop devices need only root, and the
//! mount dies with the sandbox's mount namespace (the loop device is
//! auto-cleared), so nothing is left in the host's mount table. The sizes
//! of the images that can be in use at once must fit the disk's free space
//! (not counting root's reserved blocks) at the start of the run.

use crate::cgroup::{RUN_PREFIX, run_dir_name, run_is_alive};
use crate::error::Error;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// One run's scratch directory: `<parent>/cargo-isolate-<pid>-<start>-<n>`.
pub struct ScratchRoot {
    dir: PathBuf,
    /// The size of each sandbox's filesystem image; `None`: unbounded.
    image_bytes: Option<u64>,
}

/// `--scratch-size`'s default: room for GiBs of scratch data.
pub const DEFAULT_SCRATCH_SIZE: u64 = 8 << 30;
/// Below this, a default bound is not worth running with.
const SMALLEST_DEFAULT: u64 = 256 << 20;

/// The bound of each sandbox's scratch (`None`: unbounded, rootless): what
/// was asked for, else the default, checked against the free space of the
/// disk under `parent` for `at_once` sandboxes.
pub fn bound(
    requested: Option<u64>,
    rootless: bool,
    allow_unenforced: bool,
    parent: &Path,
    at_once: usize,
) -> Result<Option<u64>, Error> {
    if rootless {
        return match requested {
            Some(_) if !allow_unenforced => Err(Error::setup(
                "--scratch-size cannot be enforced: it needs root (a loop-mounted filesystem \
                 image)\n  or pass --allow-unenforced-limits to run with --scratch disk unbounded",
            )),
            _ => Ok(None),
        };
    }
    // Loop devices are a module some kernels and most containers lack:
    // without them the default bound is dropped with a word, and an asked
    // for one is refused.
    if let Err(e) = fs::File::options()
        .read(true)
        .write(true)
        .open("/dev/loop-control")
    {
        let why = format!("no loop devices here (/dev/loop-control: {e})");
        return match requested {
            Some(_) if !allow_unenforced => Err(Error::setup(format!(
                "--scratch-size cannot be enforced: {why}\n  load the loop module (modprobe \
                 loop), or pass --allow-unenforced-limits to run with --scratch disk unbounded"
            ))),
            _ => {
                eprintln!("warning: --scratch disk is bounded by the disk only: {why}");
                Ok(None)
            }
        };
    }
    let free = free_bytes(parent)?;
    let at_once = at_once.max(1) as u64;
    let fits = |size: u64| size.saturating_mul(at_once) <= free;
    let human = crate::report::human_bytes;
    match requested {
        Some(size) if fits(size) => Ok(Some(size)),
        Some(size) => Err(Error::setup(format!(
            "--scratch-size {} for {at_once} sandboxes at once is more than the {} free on the disk \
             of {}\n  pass a smaller --scratch-size or -j, or free some space",
            human(size),
            human(free),
            parent.display()
        ))),
        None => {
            let size = DEFAULT_SCRATCH_SIZE.min(free / at_once);
            if size < SMALLEST_DEFAULT {
                return Err(Error::setup(format!(
                    "--scratch disk: only {} free on the disk of {} for {at_once} sandboxes at \
                     once\n  free some space, pick another --target-dir, or pass --scratch-size",
                    human(free),
                    parent.display()
                )));
            }
            Ok(Some(size))
        }
    }
}

/// Free bytes for an ordinary user (root's reserved blocks not counted).
fn free_bytes(path: &Path) -> Result<u64, Error> {
    let st = nix::sys::statvfs::statvfs(path).map_err(|e| {
        Error::setup(format!(
            "--scratch disk: cannot read the free space of {}: {e}",
            path.display()
        ))
    })?;
    Ok(st.blocks_available().saturating_mul(st.fragment_size()))
}

impl ScratchRoot {
    /// Removes dead runs' leftovers under `parent`, then makes this run's.
    pub fn create(parent: &Path, image_bytes: Option<u64>) -> Result<ScratchRoot, Error> {
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
        Ok(ScratchRoot { dir, image_bytes })
    }

    #[cfg(test)]
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// An empty directory for one sandbox, and its image when bounded.
    pub fn for_sandbox(&self, name: &str) -> Result<ScratchDir, String> {
        let dir = self.dir.join(name);
        fs::create_dir(&dir)
            .map_err(|e| format!("cannot create the scratch dir {}: {e}", dir.display()))?;
        let mut scratch = ScratchDir { dir, image: None };
        if let Some(bytes) = self.image_bytes {
            let image = self.dir.join(format!("{name}.img"));
            // Owned by the ScratchDir from here: removed on any failure.
            scratch.image = Some(image.clone());
            make_image(&image, bytes)?;
        }
        Ok(scratch)
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

/// One sandbox's scratch directory (and image), removed on drop.
pub struct ScratchDir {
    dir: PathBuf,
    image: Option<PathBuf>,
}

impl ScratchDir {
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The filesystem image the init mounts on [`ScratchDir::path`].
    pub fn image(&self) -> Option<&Path> {
        self.image.as_deref()
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        remove_forcing(&self.dir);
        if let Some(image) = &self.image {
            let _ = fs::remove_file(image);
        }
    }
}

/// A sparse file of `bytes` with an empty ext4 on it: no journal (scratch
/// data need not survive a crash), no reserved blocks, inode tables made
/// lazily; about 10 ms.
fn make_image(image: &Path, bytes: u64) -> Result<(), String> {
    let file = fs::File::options()
        .write(true)
        .create_new(true)
        .open(image)
        .map_err(|e| format!("cannot create the scratch image {}: {e}", image.display()))?;
    file.set_len(bytes)
        .map_err(|e| format!("cannot size the scratch image {}: {e}", image.display()))?;
    drop(file);
    let out = Command::new("mkfs.ext4")
        .args(["-q", "-F", "-m", "0", "-O", "^has_journal"])
        .args(["-E", "nodiscard,lazy_itable_init=1"])
        .arg(image)
        .stdin(Stdio::null())
        .output();
    match out {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(format!(
            "mkfs.ext4 {} failed: {}",
            image.display(),
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => Err(format!(
            "cannot run mkfs.ext4 for the --scratch-size image ({e}): install e2fsprogs"
        )),
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
        let root = ScratchRoot::create(parent.path(), None).unwrap();
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
        let root = ScratchRoot::create(parent.path(), None).unwrap();
        assert!(!dead.exists(), "a dead run's scratch is removed");
        assert!(foreign.exists(), "what we did not make is left alone");
        assert!(root.path().exists());
    }
}
