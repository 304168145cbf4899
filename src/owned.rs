//! What the runner trusts on disk: a directory it unpacks into, stages in
//! or writes reports to must be its own. A path counts as ours when it is
//! not a symlink, belongs to our effective uid and nobody else may write to
//! it; anything in a directory another user can write (a shared temp dir,
//! someone else's workspace) could have been planted there, so it is
//! checked before it is used, never merely found by name.
//!
//! [`private_dir`] makes or verifies a 0700 directory; [`PinnedDir`] holds
//! a checked directory open so that writes land in it even if its path is
//! swapped for a link afterwards.

use std::fs::{self, File, Metadata};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Why a path is not ours to trust.
#[derive(Debug, thiserror::Error)]
pub enum NotOurs {
    #[error("{path} is a symlink (to {target}): it could lead anywhere, so it is not used")]
    Symlink { path: PathBuf, target: String },
    #[error("{path} is not a directory")]
    NotDir { path: PathBuf },
    #[error(
        "{path} belongs to uid {owner}, not to you (uid {ours}): another user made it, so nothing in it is trusted"
    )]
    Owner {
        path: PathBuf,
        owner: u32,
        ours: u32,
    },
    #[error(
        "{path} has mode {mode:04o}: others may write to it, so what is in it may have been planted"
    )]
    Mode { path: PathBuf, mode: u32 },
    #[error("cannot use {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

/// This process's effective uid: whose files it trusts.
pub fn euid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// `meta` (from `lstat` of `path`) is a directory of ours that no one else
/// may write to (`deny` holds the mode bits others must not have: 0o022
/// for a directory only we write, 0o077 for one only we may even read).
fn check_dir(path: &Path, meta: &Metadata, deny: u32) -> Result<(), NotOurs> {
    if meta.file_type().is_symlink() {
        return Err(NotOurs::Symlink {
            path: path.to_path_buf(),
            target: fs::read_link(path)
                .map(|t| t.display().to_string())
                .unwrap_or_else(|_| "?".into()),
        });
    }
    if !meta.is_dir() {
        return Err(NotOurs::NotDir {
            path: path.to_path_buf(),
        });
    }
    if meta.uid() != euid() {
        return Err(NotOurs::Owner {
            path: path.to_path_buf(),
            owner: meta.uid(),
            ours: euid(),
        });
    }
    let mode = meta.mode() & 0o7777;
    if mode & deny != 0 {
        return Err(NotOurs::Mode {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

fn lstat(path: &Path) -> Result<Metadata, NotOurs> {
    fs::symlink_metadata(path).map_err(|source| NotOurs::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// `path` is a directory of ours that only we may write to.
pub fn check_own_dir(path: &Path) -> Result<(), NotOurs> {
    check_dir(path, &lstat(path)?, 0o022)
}

/// `path` is a directory of ours that only we may even read (0700 or less).
pub fn check_private_dir(path: &Path) -> Result<(), NotOurs> {
    check_dir(path, &lstat(path)?, 0o077)
}

/// `path` is a regular file of ours (not a link) that only we may write.
pub fn check_own_file(path: &Path) -> Result<(), NotOurs> {
    let meta = lstat(path)?;
    if meta.file_type().is_symlink() {
        return Err(NotOurs::Symlink {
            path: path.to_path_buf(),
            target: fs::read_link(path)
                .map(|t| t.display().to_string())
                .unwrap_or_else(|_| "?".into()),
        });
    }
    if meta.uid() != euid() {
        return Err(NotOurs::Owner {
            path: path.to_path_buf(),
            owner: meta.uid(),
            ours: euid(),
        });
    }
    if !meta.is_file() || meta.mode() & 0o022 != 0 {
        return Err(NotOurs::Mode {
            path: path.to_path_buf(),
            mode: meta.mode() & 0o7777,
        });
    }
    Ok(())
}

/// Makes `path` a 0700 directory of ours, or checks that the one there is
/// exactly that (ours, 0700 or less, not a link). Its parent must not let
/// others replace it: a shared parent must be sticky, as /tmp is.
pub fn private_dir(path: &Path) -> Result<(), NotOurs> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        let meta = fs::metadata(parent).map_err(|source| NotOurs::Io {
            path: parent.to_path_buf(),
            source,
        })?;
        let sticky = meta.mode() & 0o1000 != 0;
        if meta.mode() & 0o022 != 0 && !sticky {
            return Err(NotOurs::Mode {
                path: parent.to_path_buf(),
                mode: meta.mode() & 0o7777,
            });
        }
    }
    match fs::DirBuilder::new().mode(0o700).create(path) {
        Ok(()) => {
            // The umask can only take bits away; say exactly what it is.
            let _ = fs::set_permissions(path, fs::Permissions::from_mode(0o700));
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(source) => {
            return Err(NotOurs::Io {
                path: path.to_path_buf(),
                source,
            });
        }
    }
    check_dir(path, &lstat(path)?, 0o077)
}

/// A checked directory, held open: files are made in it through
/// `/proc/self/fd/N`, so a link swapped in at its path after the check is
/// never followed.
pub struct PinnedDir {
    dir: File,
    shown: PathBuf,
}

impl PinnedDir {
    /// Opens `path` without following a final symlink and checks, on the
    /// open directory itself, that it is ours and has none of the mode bits
    /// in `deny` (0o022: only we may write to it; 0: any mode).
    pub fn open(path: &Path, deny: u32) -> Result<PinnedDir, NotOurs> {
        let dir = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_DIRECTORY | libc::O_CLOEXEC)
            .open(path)
            .map_err(|source| match source.raw_os_error() {
                // A symlink gives ELOOP, or ENOTDIR with O_DIRECTORY, as a
                // file does: say which it was.
                Some(libc::ELOOP | libc::ENOTDIR) => match fs::read_link(path) {
                    Ok(t) => NotOurs::Symlink {
                        path: path.to_path_buf(),
                        target: t.display().to_string(),
                    },
                    Err(_) => NotOurs::NotDir {
                        path: path.to_path_buf(),
                    },
                },
                _ => NotOurs::Io {
                    path: path.to_path_buf(),
                    source,
                },
            })?;
        let meta = dir.metadata().map_err(|source| NotOurs::Io {
            path: path.to_path_buf(),
            source,
        })?;
        check_dir(path, &meta, deny)?;
        Ok(PinnedDir {
            dir,
            shown: path.to_path_buf(),
        })
    }

    /// The path that reaches `name` in this very directory.
    pub fn join(&self, name: &std::ffi::OsStr) -> PathBuf {
        use std::os::fd::AsRawFd;
        PathBuf::from(format!("/proc/self/fd/{}", self.dir.as_raw_fd())).join(name)
    }

    /// The directory's path, for messages.
    pub fn shown(&self) -> &Path {
        &self.shown
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn a_private_dir_is_made_0700_and_a_link_or_open_dir_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("mine");
        private_dir(&dir).unwrap();
        let mode = fs::metadata(&dir).unwrap().mode() & 0o7777;
        assert_eq!(mode, 0o700);
        private_dir(&dir).expect("an existing one of ours is fine");

        let open = tmp.path().join("open");
        fs::create_dir(&open).unwrap();
        fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).unwrap();
        assert!(matches!(private_dir(&open), Err(NotOurs::Mode { .. })));

        let link = tmp.path().join("link");
        symlink(&dir, &link).unwrap();
        assert!(matches!(private_dir(&link), Err(NotOurs::Symlink { .. })));
        assert!(matches!(
            PinnedDir::open(&link, 0),
            Err(NotOurs::Symlink { .. })
        ));

        // Under a parent anyone may write and that is not sticky, a
        // directory could be swapped for another after the check.
        let shared = tmp.path().join("shared");
        fs::create_dir(&shared).unwrap();
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o777)).unwrap();
        let err = private_dir(&shared.join("x")).unwrap_err();
        assert!(err.to_string().contains("0777"), "{err}");
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o1777)).unwrap();
        private_dir(&shared.join("x")).expect("a sticky parent, as /tmp");
    }

    #[test]
    fn a_pinned_dir_is_written_through_its_descriptor() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("reports");
        fs::create_dir(&dir).unwrap();
        let pinned = PinnedDir::open(&dir, 0o022).unwrap();
        // Swapped after the check: the write still lands in the original.
        let moved = tmp.path().join("moved");
        fs::rename(&dir, &moved).unwrap();
        let decoy = tmp.path().join("decoy");
        fs::create_dir(&decoy).unwrap();
        symlink(&decoy, &dir).unwrap();
        fs::write(pinned.join("r.json".as_ref()), "{}").unwrap();
        assert!(moved.join("r.json").is_file());
        assert!(!decoy.join("r.json").exists());
        assert_eq!(pinned.shown(), dir);
    }
}
