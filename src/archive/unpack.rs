//! Unpacking an archive, which is untrusted input: [`unpack`] reads the
//! tar index first (every header: paths, kinds, link targets, sizes) and
//! refuses the whole archive before writing a byte if one entry breaks a
//! rule or the declared total passes a [`Caps`] bound or the free space;
//! then it unpacks, checking each entry again as it goes.
//!
//! The rules: only files, directories and symlinks, under `workspace/` or
//! `target/` (or the manifest); plain relative paths; nothing written
//! through a symlink; and every symlink relative and pointing inside the
//! archive, so that whatever later resolves a path in the unpacked tree
//! (the sandbox's mounts, the runner making `target/tmp`) stays inside it.

use super::MANIFEST;
use std::fs::File;
use std::io::{self, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};

/// Bounds on what one archive may unpack to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Declared bytes of all entries together (a sparse file counts whole).
    pub max_bytes: u64,
    /// Entries: files, directories and symlinks.
    pub max_entries: u64,
}

impl Caps {
    /// `--archive-max-bytes`: far above a real workspace's tests (the
    /// shards fixture's 4 binaries are 31 MiB), far below a full disk.
    pub const DEFAULT_MAX_BYTES: u64 = 4 << 30;
    /// `--archive-max-entries`.
    pub const DEFAULT_MAX_ENTRIES: u64 = 100_000;
}

impl Default for Caps {
    fn default() -> Caps {
        Caps {
            max_bytes: Caps::DEFAULT_MAX_BYTES,
            max_entries: Caps::DEFAULT_MAX_ENTRIES,
        }
    }
}

/// The manifest is JSON read whole into memory: a real one is a few MiB
/// at most (cargo metadata of a large workspace).
const MAX_MANIFEST_BYTES: u64 = 64 << 20;
/// Free space left over after an unpack, for everything else on the disk.
const SPARE_BYTES: u64 = 64 << 20;
/// What one entry takes on disk at least (a block), for the space check.
const BLOCK: u64 = 4096;

/// Why an archive was not unpacked.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("refused entry {entry}: {why}")]
    Refused { entry: String, why: String },
    #[error(
        "refused: it declares {total} or more once unpacked ({entry} alone is {size}), over the cap of {cap}; nothing was written. If you trust it, raise the cap with --archive-max-bytes SIZE"
    )]
    TooBig {
        entry: String,
        size: String,
        total: String,
        cap: String,
    },
    #[error(
        "refused: it holds more than {cap} entries; nothing was written. If you trust it, raise the cap with --archive-max-entries N"
    )]
    TooMany { cap: u64 },
    #[error(
        "it needs about {needed} and {dir} has {free} free; nothing was written. Free some space or unpack elsewhere with --workspace-remap DIR"
    )]
    NoSpace {
        needed: String,
        free: String,
        dir: PathBuf,
    },
    #[error("stopped by a signal; the partial unpack was removed")]
    Interrupted,
    #[error("{0}")]
    Io(#[from] io::Error),
}

fn human(bytes: u64) -> String {
    crate::report::human_bytes(bytes)
}

/// Unpacks the archive `file` (a zstd tar) into the existing directory
/// `dest`, or refuses it whole before writing anything.
pub fn unpack(file: &File, dest: &Path, caps: Caps) -> Result<(), UnpackError> {
    let index = read_index(file, caps)?;
    check_space(dest, index.disk_bytes)?;
    extract(file, dest, caps, &index)
}

/// What the headers declare.
#[derive(Debug, Default)]
struct Tally {
    entries: u64,
    bytes: u64,
    /// An estimate of the disk space: each entry at least a block.
    disk_bytes: u64,
}

impl Tally {
    fn add(&mut self, entry: &Path, size: u64, caps: Caps) -> Result<(), UnpackError> {
        self.entries += 1;
        if self.entries > caps.max_entries {
            return Err(UnpackError::TooMany {
                cap: caps.max_entries,
            });
        }
        self.bytes = self.bytes.saturating_add(size);
        if self.bytes > caps.max_bytes {
            return Err(UnpackError::TooBig {
                entry: entry.display().to_string(),
                size: human(size),
                total: human(self.bytes),
                cap: human(caps.max_bytes),
            });
        }
        self.disk_bytes = self
            .disk_bytes
            .saturating_add(size.div_ceil(BLOCK).max(1) * BLOCK);
        Ok(())
    }
}

fn archive_of(
    file: &File,
) -> io::Result<tar::Archive<zstd::Decoder<'static, io::BufReader<&File>>>> {
    (&*file).seek(SeekFrom::Start(0))?;
    Ok(tar::Archive::new(zstd::Decoder::new(file)?))
}

/// One entry's path, kind and link target, each checked.
fn checked_entry<R: io::Read>(entry: &tar::Entry<'_, R>) -> Result<PathBuf, UnpackError> {
    let path = entry.path()?.into_owned();
    let link = entry.link_name()?.map(|l| l.into_owned());
    check_entry(
        &path,
        entry.header().entry_type(),
        link.as_deref(),
        entry.size(),
    )
    .map_err(|why| UnpackError::Refused {
        entry: path.display().to_string(),
        why,
    })?;
    Ok(path)
}

/// Every header, checked, and the totals: the data is skipped, never
/// written, so a bomb is refused at its header.
fn read_index(file: &File, caps: Caps) -> Result<Tally, UnpackError> {
    let mut archive = archive_of(file)?;
    let mut tally = Tally::default();
    for entry in archive.entries()? {
        let entry = entry?;
        let path = checked_entry(&entry)?;
        tally.add(&path, entry.size(), caps)?;
    }
    Ok(tally)
}

/// Refuses an unpack of `needed` bytes that would leave the file system
/// under `dest` with less than [`SPARE_BYTES`] free.
fn check_space(dest: &Path, needed: u64) -> Result<(), UnpackError> {
    let st = nix::sys::statvfs::statvfs(dest).map_err(io::Error::from)?;
    let free = st.blocks_available().saturating_mul(st.fragment_size());
    if needed.saturating_add(SPARE_BYTES) > free {
        return Err(UnpackError::NoSpace {
            needed: human(needed),
            free: human(free),
            dir: dest.to_path_buf(),
        });
    }
    Ok(())
}

fn extract(file: &File, dest: &Path, caps: Caps, index: &Tally) -> Result<(), UnpackError> {
    let mut archive = archive_of(file)?;
    // Modes as written, less setuid, setgid and sticky bits (preserve off)
    // and less write access for others: a test binary nobody may swap.
    archive.set_preserve_permissions(false);
    archive.set_mask(0o022);
    archive.set_overwrite(true);
    let mut tally = Tally::default();
    for entry in archive.entries()? {
        // Ctrl-C, SIGTERM, SIGHUP: the staging dir goes with the error.
        if crate::signals::cancelled() {
            return Err(UnpackError::Interrupted);
        }
        let mut entry = entry?;
        let path = checked_entry(&entry)?;
        tally.add(&path, entry.size(), caps)?;
        let refused = |why: String| UnpackError::Refused {
            entry: path.display().to_string(),
            why,
        };
        // The index said less: the file changed under us.
        if tally.bytes > index.bytes || tally.entries > index.entries {
            return Err(refused("the archive changed while it was read".into()));
        }
        no_link_on_the_way(dest, &path).map_err(refused)?;
        let inside = entry.unpack_in(dest).map_err(|e| refused(e.to_string()))?;
        if !inside {
            return Err(refused(format!("it would land outside {}", dest.display())));
        }
    }
    Ok(())
}

/// The directories above `path` in `dest` that exist are real ones, not
/// symlinks: a link's `..` then means what the path says.
fn no_link_on_the_way(dest: &Path, path: &Path) -> Result<(), String> {
    let comps: Vec<Component<'_>> = path.components().collect();
    let mut at = dest.to_path_buf();
    for c in &comps[..comps.len().saturating_sub(1)] {
        at.push(c);
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(format!(
                    "it would be written through the symlink {}",
                    at.display()
                ));
            }
            Ok(m) if !m.is_dir() => return Err(format!("{} is not a directory", at.display())),
            Ok(_) => {}
            // Missing: tar makes real directories from here down.
            Err(_) => break,
        }
    }
    Ok(())
}

/// The rules for one entry, from its header alone.
pub(super) fn check_entry(
    path: &Path,
    kind: tar::EntryType,
    link: Option<&Path>,
    size: u64,
) -> Result<(), String> {
    // A sparse file is a file: the linker leaves holes that tar keeps.
    let allowed = kind.is_file() || kind.is_gnu_sparse() || kind.is_dir() || kind.is_symlink();
    if !allowed {
        return Err(format!(
            "a {kind:?} entry: an archive holds only files, directories and symlinks under workspace/ and target/"
        ));
    }
    if path.as_os_str().is_empty() || !path.components().all(|c| matches!(c, Component::Normal(_)))
    {
        return Err(
            "not a plain relative path (no `..`, `.` or leading `/`): an archive holds only files, directories and symlinks under workspace/ and target/"
                .into(),
        );
    }
    if path == Path::new(MANIFEST) {
        if !kind.is_file() {
            return Err("the manifest must be a file".into());
        }
        if size > MAX_MANIFEST_BYTES {
            return Err(format!(
                "a manifest of {}, over {}",
                human(size),
                human(MAX_MANIFEST_BYTES)
            ));
        }
        return Ok(());
    }
    let mut comps = path.components();
    let top = comps.next().map(Component::as_os_str);
    if top != Some("workspace".as_ref()) && top != Some("target".as_ref()) {
        return Err(
            "outside workspace/ and target/: an archive holds only files, directories and symlinks under workspace/ and target/"
                .into(),
        );
    }
    if comps.next().is_none() && !kind.is_dir() {
        return Err("workspace and target must be directories".into());
    }
    if kind.is_symlink() {
        let link = link.ok_or("a symlink without a target")?;
        link_stays_inside(path, link)?;
    }
    Ok(())
}

/// A symlink at `entry` (a path inside the archive) to `link` points inside
/// the archive: relative, `..` only at its start and no more of them than
/// directories above the link. (`a/../b` is refused: through a symlink `a`,
/// `..` is not where the text says.)
pub(super) fn link_stays_inside(entry: &Path, link: &Path) -> Result<(), String> {
    let leaves = || {
        format!(
            "a symlink to {}, which leads outside the archive: an archive's symlinks must be relative and stay inside it",
            link.display()
        )
    };
    let depth = entry.components().count().saturating_sub(1);
    let mut ups = 0;
    let mut named = false;
    for c in link.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if !named => ups += 1,
            Component::Normal(_) => named = true,
            _ => return Err(leaves()),
        }
    }
    if link.as_os_str().is_empty() || ups > depth {
        return Err(leaves());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tar::EntryType;

    fn entry(path: &str, kind: EntryType, link: Option<&str>) -> Result<(), String> {
        check_entry(Path::new(path), kind, link.map(Path::new), 0)
    }

    #[test]
    fn entries_stay_plain_and_under_the_two_roots() {
        assert!(entry("workspace/pkg/src/lib.rs", EntryType::Regular, None).is_ok());
        assert!(entry("target/debug/deps", EntryType::Directory, None).is_ok());
        assert!(entry(MANIFEST, EntryType::Regular, None).is_ok());
        for bad in [
            "workspace/../x",
            "/etc/passwd",
            "other/x",
            "./workspace/x",
            "",
        ] {
            assert!(entry(bad, EntryType::Regular, None).is_err(), "{bad}");
        }
        assert!(entry("workspace/null", EntryType::Char, None).is_err());
        assert!(entry("workspace/l", EntryType::Link, Some("workspace/x")).is_err());
        // The roots themselves are directories, never links or files.
        assert!(entry("target", EntryType::Symlink, Some("workspace")).is_err());
        assert!(entry("workspace", EntryType::Regular, None).is_err());
        assert!(entry(MANIFEST, EntryType::Symlink, Some("target/x")).is_err());
        assert!(
            check_entry(
                Path::new(MANIFEST),
                EntryType::Regular,
                None,
                MAX_MANIFEST_BYTES + 1
            )
            .is_err()
        );
    }

    #[test]
    fn symlinks_point_inside_the_archive() {
        let ok = |e: &str, l: &str| link_stays_inside(Path::new(e), Path::new(l));
        assert!(ok("target/debug/libfoo.so", "libfoo.so.1").is_ok());
        assert!(ok("workspace/pkg/data", "../shared/data").is_ok());
        assert!(ok("workspace/pkg/bin", "../../target/debug/app").is_ok());
        assert!(ok("target/up", "..").is_ok(), "the archive's own root");
        for (e, l) in [
            ("workspace/pkg", "/root"),
            ("workspace/pkg/secret", "/etc/shadow"),
            ("workspace/pkg/up", "../../.."),
            ("target/isolate", "../../elsewhere"),
            ("workspace/a", "b/../../.."),
            ("workspace/a", "b/../c"),
            ("workspace/a", ""),
        ] {
            assert!(ok(e, l).is_err(), "{e} -> {l}");
        }
    }

    #[test]
    fn caps_count_entries_and_declared_bytes() {
        let caps = Caps {
            max_bytes: 100,
            max_entries: 2,
        };
        let mut t = Tally::default();
        t.add(Path::new("a"), 60, caps).unwrap();
        assert!(matches!(
            t.add(Path::new("b"), 41, caps),
            Err(UnpackError::TooBig { .. })
        ));
        let mut t = Tally::default();
        t.add(Path::new("a"), 0, caps).unwrap();
        t.add(Path::new("b"), 0, caps).unwrap();
        assert!(matches!(
            t.add(Path::new("c"), 0, caps),
            Err(UnpackError::TooMany { cap: 2 })
        ));
        assert_eq!(t.disk_bytes, 2 * BLOCK, "an empty file still takes a block");
    }
}
