//! Where an archive unpacks. By default in a directory only the invoking
//! user can write ([`user_dir`]: `$XDG_RUNTIME_DIR/cargo-isolate` when that
//! is ours, else `<tmp>/cargo-isolate-<uid>`, 0700), as `archive-<hash>`,
//! staged in an unpredictable directory beside it ([`Staging`]) and renamed
//! into place once complete. A complete unpack is reused only when it, its
//! marker and the directory holding it are ours ([`is_complete`]).

use crate::owned::{self, NotOurs};
use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Marks a complete unpack, holding the archive's SHA-256.
pub const UNPACKED: &str = ".cargo-isolate-unpacked";
/// Staging directories: `.staging-cargo-isolate-<pid>-<start>-<n>.<random>`.
const STAGING: &str = ".staging-";

/// The per-user directory archives unpack under by default, made 0700 or
/// checked to be exactly that.
pub fn user_dir() -> Result<PathBuf, NotOurs> {
    // Under sudo, XDG_RUNTIME_DIR is still the invoking user's: use it only
    // when it is ours and private.
    if let Some(xdg) = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        && owned::check_private_dir(&xdg).is_ok()
    {
        let dir = xdg.join("cargo-isolate");
        owned::private_dir(&dir)?;
        return Ok(dir);
    }
    let dir = std::env::temp_dir().join(format!("cargo-isolate-{}", owned::euid()));
    owned::private_dir(&dir)?;
    Ok(dir)
}

/// `--workspace-remap DIR`: made 0700 when missing, else it must be ours
/// and writable by us alone.
pub fn remap_dir(dir: &Path) -> Result<(), NotOurs> {
    let io = |source| NotOurs::Io {
        path: dir.to_path_buf(),
        source,
    };
    if fs::symlink_metadata(dir).is_err() {
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent).map_err(io)?;
        }
        match fs::DirBuilder::new().mode(0o700).create(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io(e)),
        }
    }
    owned::check_own_dir(dir)
}

/// Whether `dest` holds a complete unpack of the archive `sha256`. A
/// `dest` that is not ours (a link, another user's, writable by others)
/// is an error: it is neither used nor removed.
pub fn is_complete(dest: &Path, sha256: &str) -> Result<bool, NotOurs> {
    match fs::symlink_metadata(dest) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(source) => {
            return Err(NotOurs::Io {
                path: dest.to_path_buf(),
                source,
            });
        }
        Ok(_) => owned::check_own_dir(dest)?,
    }
    let marker = dest.join(UNPACKED);
    if owned::check_own_file(&marker).is_err() {
        return Ok(false);
    }
    Ok(fs::read_to_string(&marker).is_ok_and(|m| m.trim() == sha256))
}

/// Writes the marker of a complete unpack into `dest` (ours): a new file,
/// never through whatever was at its name.
pub fn mark_complete(dest: &Path, sha256: &str) -> io::Result<()> {
    let marker = dest.join(UNPACKED);
    match fs::remove_file(&marker) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    use std::io::Write;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&marker)?
        .write_all(sha256.as_bytes())
}

/// An unpack in progress: a fresh directory (made exclusively, with an
/// unpredictable name) beside where it will go; removed unless committed.
pub struct Staging {
    dir: PathBuf,
}

impl Staging {
    /// Removes the staging directories of runs that are gone, then makes
    /// this one in `base`.
    pub fn new(base: &Path) -> io::Result<Staging> {
        sweep(base);
        let prefix = format!("{STAGING}{}.", crate::cgroup::run_dir_name());
        let dir = tempfile::Builder::new()
            .prefix(&prefix)
            .permissions(fs::Permissions::from_mode(0o700))
            .tempdir_in(base)?
            .keep();
        Ok(Staging { dir })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Renames the complete unpack to `dest`. If another run got there
    /// first with a complete one, that one stays; a broken one is replaced.
    pub fn commit(self, dest: &Path, sha256: &str) -> Result<(), NotOurs> {
        if fs::rename(&self.dir, dest).is_ok() {
            return Ok(());
        }
        if is_complete(dest, sha256)? {
            return Ok(());
        }
        remove_tree(dest);
        fs::rename(&self.dir, dest).map_err(|source| NotOurs::Io {
            path: dest.to_path_buf(),
            source,
        })
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if fs::symlink_metadata(&self.dir).is_ok() {
            remove_tree(&self.dir);
        }
    }
}

/// Removes staging directories in `base` whose run is gone (killed
/// mid-unpack); a live run's (same pid and start time) is left alone.
fn sweep(base: &Path) {
    let Ok(entries) = fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(run) = name.strip_prefix(STAGING)
            && !crate::cgroup::run_is_alive(run)
        {
            remove_tree(&entry.path());
        }
    }
}

/// `remove_dir_all`, also of directories an archive made unwritable.
fn remove_tree(dir: &Path) {
    if fs::remove_dir_all(dir).is_ok() {
        return;
    }
    fn open_up(dir: &Path) {
        let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
        for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                open_up(&entry.path());
            }
        }
    }
    open_up(dir);
    let _ = fs::remove_dir_all(dir);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_runs_staging_is_swept_and_a_live_one_kept() {
        let base = tempfile::tempdir().unwrap();
        let dead = base.path().join(format!(
            "{STAGING}{}{}-1-0.abc",
            crate::cgroup::RUN_PREFIX,
            std::process::id()
        ));
        fs::create_dir_all(dead.join("workspace")).unwrap();
        let other = base.path().join("archive-0123456789abcdef");
        fs::create_dir(&other).unwrap();
        let live = Staging::new(base.path()).unwrap();
        assert!(!dead.exists(), "a dead run's staging dir is removed");
        assert!(other.exists(), "an unpack is not a staging dir");
        assert!(live.path().is_dir());
        let name = live
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(name.starts_with(STAGING), "{name}");
        // Another run's sweep keeps it: its run (this process) is alive.
        sweep(base.path());
        assert!(live.path().is_dir());
        let path = live.path().to_path_buf();
        drop(live);
        assert!(!path.exists(), "an uncommitted staging dir is removed");
    }

    #[test]
    fn a_complete_unpack_is_found_by_its_marker_and_committed_once() {
        let base = tempfile::tempdir().unwrap();
        let dest = base.path().join("archive-x");
        assert!(!is_complete(&dest, "aa").unwrap());
        let first = Staging::new(base.path()).unwrap();
        fs::write(first.path().join("one"), "").unwrap();
        mark_complete(first.path(), "aa").unwrap();
        first.commit(&dest, "aa").unwrap();
        assert!(is_complete(&dest, "aa").unwrap());
        assert!(!is_complete(&dest, "bb").unwrap(), "another archive's");
        // A second run of the same archive: the first one's stays.
        let second = Staging::new(base.path()).unwrap();
        mark_complete(second.path(), "aa").unwrap();
        let second_path = second.path().to_path_buf();
        second.commit(&dest, "aa").unwrap();
        assert!(dest.join("one").exists());
        assert!(!second_path.exists());
        // A link to someone else's is an error, not an unpack to reuse.
        let link = base.path().join("archive-link");
        std::os::unix::fs::symlink(&dest, &link).unwrap();
        assert!(matches!(
            is_complete(&link, "aa"),
            Err(NotOurs::Symlink { .. })
        ));
    }
}
