//! `cargo isolate archive`: build the tests and write one zstd-compressed
//! tar holding everything a run needs on another machine of the same
//! platform; and [`open`], the reading side, for `test --archive-file`.
//!
//! Layout: `cargo-isolate-archive.json` first (the build's [`BuildOutput`]
//! with the paths it had, and the two roots), then every file under
//! `workspace/` (relative to the workspace root) or `target/` (relative to
//! the target dir). Unpacked under DIR as DIR/workspace and DIR/target,
//! and every path of the manifest is moved there: ids, environment and
//! report come out as from a local build.
//!
//! An archive is untrusted input. [`unpack`] writes only inside DIR, and
//! only within [`Caps`] and the free space, refusing the archive before
//! writing if its headers break a rule; [`place`] picks a DIR that only the
//! invoking user can write; every path the manifest would run, mount or
//! show must resolve inside DIR. (What its configuration may set is
//! `config::check_archive_config`'s.)

use crate::build::{self, BuildOutput};
use crate::cli::ArchiveArgs;
use crate::error::{EXIT_OK, Error};
use crate::owned::NotOurs;
use crate::testenv;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};
use unpack::UnpackError;

mod place;
mod relocate;
mod unpack;

pub use relocate::{Relocation, Reserved};
pub use unpack::Caps;

const MANIFEST: &str = "cargo-isolate-archive.json";
const FORMAT: u32 = 1;
/// Directories of a package that are never a test's input.
const VCS_DIRS: &[&str] = &[".git", ".hg", ".svn", ".jj"];

#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    format: u32,
    tool_version: String,
    created_at: String,
    workspace_root: PathBuf,
    target_dir: PathBuf,
    build: BuildOutput,
}

/// An archive unpacked and ready to run.
pub struct Opened {
    /// The build, its paths the unpack's (as `--isolation none` sees them).
    pub build: BuildOutput,
    pub workspace_root: PathBuf,
    pub target_dir: PathBuf,
    pub sha256: String,
    /// Where a sandbox shows the unpack: where the archive was built.
    pub relocation: Relocation,
}

pub fn run(args: &ArchiveArgs) -> Result<u8, Error> {
    let include = globs(&args.include_files, "--include-files")?;
    let exclude = globs(&args.exclude_files, "--exclude-files")?;
    let built = build::build(&args.cargo)?;
    let target_dir = testenv::target_dir(&built, args.cargo.target_dir.as_deref());
    let root = built.metadata.workspace_root.clone().into_std_path_buf();
    let workspace_root = std::fs::canonicalize(&root).unwrap_or(root);
    let roots = Roots {
        workspace: workspace_root.clone(),
        target: target_dir.clone(),
    };
    let files = collect(&built, &roots, &include, &exclude)?;
    refuse_leaving_links(&files, &roots)?;
    let manifest = Manifest {
        format: FORMAT,
        tool_version: env!("CARGO_PKG_VERSION").into(),
        created_at: crate::report::rfc3339(std::time::SystemTime::now()),
        workspace_root,
        target_dir,
        build: built,
    };
    let bytes = write(&args.archive_file, &manifest, &files, &roots)
        .map_err(|e| Error::setup(format!("cannot write {}: {e}", args.archive_file.display())))?;
    let sha = File::open(&args.archive_file)
        .and_then(|f| sha256_of(&f))
        .map_err(|e| Error::setup(format!("cannot read {}: {e}", args.archive_file.display())))?;
    let size = std::fs::metadata(&args.archive_file)
        .map(|m| m.len())
        .unwrap_or(0);
    eprintln!(
        "    Archived {} and {} ({} packed into {}) to {}\n      sha256 {sha}",
        crate::report::count(
            manifest.build.binaries.len(),
            "test binary",
            "test binaries"
        ),
        crate::report::count(files.len(), "file", "files"),
        crate::report::human_bytes(bytes),
        crate::report::human_bytes(size),
        args.archive_file.display()
    );
    Ok(EXIT_OK)
}

fn globs(patterns: &[String], flag: &str) -> Result<Option<globset::GlobSet>, Error> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut b = globset::GlobSetBuilder::new();
    for p in patterns {
        let g = globset::Glob::new(p)
            .map_err(|e| Error::Usage(format!("{flag} {p:?}: {e}, e.g. {flag} 'tests/data/**'")))?;
        b.add(g);
    }
    b.build()
        .map(Some)
        .map_err(|e| Error::Usage(format!("{flag}: {e}")))
}

/// The workspace root and the target dir of the build.
struct Roots {
    workspace: PathBuf,
    target: PathBuf,
}

impl Roots {
    /// Where `path` goes in the archive: under `target/` or `workspace/`.
    fn archive_name(&self, path: &Path) -> Option<PathBuf> {
        if let Ok(rel) = path.strip_prefix(&self.target) {
            return Some(Path::new("target").join(rel));
        }
        path.strip_prefix(&self.workspace)
            .ok()
            .map(|rel| Path::new("workspace").join(rel))
    }
}

/// Every host file the archive carries.
fn collect(
    built: &BuildOutput,
    roots: &Roots,
    include: &Option<globset::GlobSet>,
    exclude: &Option<globset::GlobSet>,
) -> Result<BTreeSet<PathBuf>, Error> {
    let mut files = BTreeSet::new();
    let mut outside = Vec::new();
    let mut want = |p: &Path, files: &mut BTreeSet<PathBuf>| {
        if roots.archive_name(p).is_some() {
            files.insert(p.to_path_buf());
        } else {
            outside.push(p.to_path_buf());
        }
    };
    let mut lib_dirs = BTreeSet::new();
    for b in &built.binaries {
        want(&b.executable, &mut files);
        // The dylibs it may load: cargo's search path is the deps dir and
        // the profile dir.
        if let Some(deps) = b.executable.parent() {
            lib_dirs.insert(deps.to_path_buf());
            lib_dirs.extend(deps.parent().map(Path::to_path_buf));
        }
    }
    for dir in &lib_dirs {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".so") || name.contains(".so.") {
                want(&entry.path(), &mut files);
            }
        }
    }
    for exes in built.bin_exes.values() {
        for (_, exe) in exes {
            want(exe, &mut files);
        }
    }
    // Build scripts' OUT_DIRs and the native libraries they linked, where
    // they were built here (system libraries are the platform's).
    let mut trees: Vec<PathBuf> = built.out_dirs.values().cloned().collect();
    trees.extend(
        built
            .linked_paths
            .iter()
            .filter(|p| p.starts_with(&roots.target))
            .cloned(),
    );
    for t in &trees {
        walk(t, &roots.target, &mut |p| want(p, &mut files))?;
    }
    // What the tests read at run time: each tested package's directory,
    // less the target dir, VCS data and what --include/--exclude leave out.
    let mut packages: BTreeSet<&Path> = built
        .binaries
        .iter()
        .map(|b| b.manifest_dir.as_path())
        .collect();
    let ws_files: Vec<PathBuf> = ["Cargo.toml", "Cargo.lock", ".config/isolate.toml"]
        .iter()
        .map(|f| roots.workspace.join(f))
        .filter(|p| p.is_file())
        .collect();
    packages.retain(|p| !p.as_os_str().is_empty());
    for pkg in packages {
        let pkg = std::fs::canonicalize(pkg).unwrap_or(pkg.to_path_buf());
        walk(&pkg, &roots.target, &mut |p| {
            let rel = p.strip_prefix(&roots.workspace).unwrap_or(p);
            let keep = include.as_ref().is_none_or(|g| g.is_match(rel))
                && !exclude.as_ref().is_some_and(|g| g.is_match(rel));
            if keep {
                want(p, &mut files);
            }
        })?;
    }
    for f in ws_files {
        want(&f, &mut files);
    }
    if !outside.is_empty() {
        outside.sort();
        outside.dedup();
        return Err(Error::setup(format!(
            "cannot archive {} outside the workspace ({}) and the target dir ({}): {}",
            crate::report::count(outside.len(), "path", "paths"),
            roots.workspace.display(),
            roots.target.display(),
            outside
                .iter()
                .take(5)
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(files)
}

/// The archive's symlinks must stay inside it, or a run refuses the
/// archive: said here, where they can still be fixed.
fn refuse_leaving_links(files: &BTreeSet<PathBuf>, roots: &Roots) -> Result<(), Error> {
    let mut leaving = Vec::new();
    for f in files {
        let (Ok(target), Some(name)) = (std::fs::read_link(f), roots.archive_name(f)) else {
            continue;
        };
        if unpack::link_stays_inside(&name, &target).is_err() {
            leaving.push(format!("{} -> {}", f.display(), target.display()));
        }
    }
    if leaving.is_empty() {
        return Ok(());
    }
    Err(Error::setup(format!(
        "cannot archive {} that lead outside the archive (a run refuses them: an archive's symlinks must be relative and stay inside it): {}\n  replace them with the files they point to, or leave them out with --exclude-files GLOB",
        crate::report::count(leaving.len(), "symlink", "symlinks"),
        leaving
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    )))
}

/// Calls `f` on every file and symlink under `dir`, not descending into
/// `skip` (the target dir) or VCS directories, not following symlinks.
fn walk(dir: &Path, skip: &Path, f: &mut dyn FnMut(&Path)) -> Result<(), Error> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::setup(format!("cannot read {}: {e}", dir.display()))),
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(ty) = entry.file_type() else { continue };
        if ty.is_dir() {
            let name = entry.file_name();
            if path == skip || VCS_DIRS.iter().any(|v| name == *v) {
                continue;
            }
            walk(&path, skip, f)?;
        } else if ty.is_file() || ty.is_symlink() {
            f(&path);
        }
    }
    Ok(())
}

/// Writes the archive; returns the bytes before compression.
fn write(
    out: &Path,
    manifest: &Manifest,
    files: &BTreeSet<PathBuf>,
    roots: &Roots,
) -> io::Result<u64> {
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    // Written beside the target and renamed: a reader never sees half.
    let dir = out
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    // 0666 less the umask, as any file a tool writes (and as nextest's
    // archives): another job, user or container reads it to run its share.
    // The kernel applies the umask at open(2).
    let tmp = tempfile::Builder::new()
        .prefix(".cargo-isolate-archive")
        .permissions(std::fs::Permissions::from_mode(0o666))
        .tempfile_in(dir)?;
    let encoder = zstd::Encoder::new(tmp.as_file(), 3)?;
    let mut tar = tar::Builder::new(encoder);
    tar.follow_symlinks(false);
    let json = serde_json::to_vec_pretty(manifest).map_err(io::Error::other)?;
    let mut header = tar::Header::new_gnu();
    header.set_size(json.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_cksum();
    tar.append_data(&mut header, MANIFEST, json.as_slice())?;
    let mut total = json.len() as u64;
    for f in files {
        let Some(name) = roots.archive_name(f) else {
            continue;
        };
        total += std::fs::symlink_metadata(f).map(|m| m.len()).unwrap_or(0);
        tar.append_path_with_name(f, &name)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", f.display())))?;
    }
    tar.into_inner()?.finish()?;
    tmp.persist(out).map_err(|e| e.error)?;
    Ok(total)
}

fn sha256_of(file: &File) -> io::Result<String> {
    let mut f = BufReader::new(file);
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Why an archive could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot read the archive {archive}: {source}")]
    Read { archive: PathBuf, source: io::Error },
    #[error("cannot unpack {archive} into {dest}: {source}")]
    Unpack {
        archive: PathBuf,
        dest: PathBuf,
        source: Box<UnpackError>,
    },
    #[error(
        "{0}\n  an archive is unpacked only where you alone can write: remove that (as its owner, or root), or unpack elsewhere with --workspace-remap DIR"
    )]
    Place(#[from] NotOurs),
    #[error("{archive}: {message}")]
    Manifest { archive: PathBuf, message: String },
}

impl From<OpenError> for Error {
    /// A bad archive or manifest is the user's input (2); a refused or
    /// failed unpack, or an unpack directory that is not ours, means no
    /// sandbox can be made from it (96).
    fn from(e: OpenError) -> Error {
        match e {
            OpenError::Read { .. } | OpenError::Manifest { .. } => Error::Usage(e.to_string()),
            OpenError::Unpack { .. } | OpenError::Place(_) => Error::setup(e.to_string()),
        }
    }
}

/// Unpacks `archive` (once: an unpack of the same archive is reused) under
/// `remap`, or in the per-user directory as `archive-<hash>`, and reads its
/// build; every path the build names must resolve inside the unpack.
pub fn open(archive: &Path, remap: Option<&Path>, caps: Caps) -> Result<Opened, OpenError> {
    let read = |source| OpenError::Read {
        archive: archive.to_path_buf(),
        source,
    };
    // One open file for the hash and both passes of the unpack.
    let file = File::open(archive).map_err(read)?;
    let sha256 = sha256_of(&file).map_err(read)?;
    let dest = match remap {
        Some(d) => {
            place::remap_dir(d)?;
            d.to_path_buf()
        }
        None => place::user_dir()?.join(format!("archive-{}", &sha256[..16])),
    };
    if !place::is_complete(&dest, &sha256)? {
        let failed = |source| OpenError::Unpack {
            archive: archive.to_path_buf(),
            dest: dest.clone(),
            source: Box::new(source),
        };
        match remap {
            Some(_) => {
                unpack::unpack(&file, &dest, caps).map_err(failed)?;
                place::mark_complete(&dest, &sha256).map_err(|e| failed(e.into()))?;
            }
            // Staged beside and renamed, so that shards on one machine
            // never see each other's half.
            None => {
                let base = dest.parent().unwrap_or(Path::new("/"));
                let staging = place::Staging::new(base).map_err(|e| failed(e.into()))?;
                unpack::unpack(&file, staging.path(), caps).map_err(failed)?;
                place::mark_complete(staging.path(), &sha256).map_err(|e| failed(e.into()))?;
                staging.commit(&dest, &sha256)?;
            }
        }
    }
    let dest = std::fs::canonicalize(&dest).map_err(|source| NotOurs::Io {
        path: dest.clone(),
        source,
    })?;
    let manifest = |message: String| OpenError::Manifest {
        archive: archive.to_path_buf(),
        message,
    };
    let text = std::fs::read(dest.join(MANIFEST))
        .map_err(|e| manifest(format!("not a cargo-isolate archive (no {MANIFEST}: {e})")))?;
    let (workspace_root, target_dir) = (dest.join("workspace"), dest.join("target"));
    let (build, old_ws, old_target) =
        read_manifest(&text, &workspace_root, &target_dir).map_err(manifest)?;
    resolves_inside(&build, &dest, &[&workspace_root, &target_dir]).map_err(manifest)?;
    let relocation = Relocation::new(
        (&workspace_root, &old_ws),
        (&target_dir, &old_target),
        &Reserved::of_this_host(),
    )
    .map_err(manifest)?;
    mount_points_are_plain(&relocation, &target_dir).map_err(manifest)?;
    // CARGO_TARGET_TMPDIR, which cargo makes before a run: a real
    // directory of the unpack's (target/ is one, checked above).
    match std::fs::create_dir(target_dir.join("tmp")) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(OpenError::Unpack {
                archive: archive.to_path_buf(),
                dest: dest.clone(),
                source: Box::new(e.into()),
            });
        }
    }
    Ok(Opened {
        build,
        workspace_root,
        target_dir,
        sha256,
        relocation,
    })
}

/// Where a sandbox mounts over the unpack (the target dir inside the
/// workspace, the runner's `isolate/` and `tmp/` in the target dir) no
/// symlink of the archive's lies on the way: inside the sandbox a relative
/// link resolves from where the tree is mounted, and a mount through it
/// could land outside the archive's tree.
fn mount_points_are_plain(relocation: &Relocation, target_dir: &Path) -> Result<(), String> {
    let mut points: Vec<PathBuf> = ["isolate", "tmp"].map(|d| target_dir.join(d)).to_vec();
    if let [ws, target] = relocation.moves()
        && let Ok(rel) = target.sandbox.strip_prefix(&ws.sandbox)
    {
        points.push(ws.host.join(rel));
    }
    for point in points {
        let mut at = PathBuf::new();
        for c in point.components() {
            at.push(c);
            if std::fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink()) {
                return Err(format!(
                    "{} is a symlink, where the sandbox mounts a directory: refused",
                    at.display()
                ));
            }
        }
    }
    Ok(())
}

/// Every path the build names (and the directories a sandbox mounts from
/// them: an executable's deps and profile dirs), as the kernel would
/// resolve it now, lies inside `dest`: a symlink left there by the archive
/// or found in a reused `--workspace-remap` directory cannot lead a mount
/// or a file the runner makes to a host directory.
fn resolves_inside(build: &BuildOutput, dest: &Path, roots: &[&Path]) -> Result<(), String> {
    let mut named: Vec<(&str, &Path)> = roots.iter().map(|r| ("root", *r)).collect();
    for b in &build.binaries {
        named.push(("manifest_dir", &b.manifest_dir));
        named.push(("executable", &b.executable));
        let mut up = b.executable.parent();
        for _ in 0..2 {
            if let Some(dir) = up {
                named.push(("executable's directory", dir));
                up = dir.parent();
            }
        }
    }
    named.extend(build.out_dirs.values().map(|p| ("OUT_DIR", p.as_path())));
    named.extend(
        build
            .bin_exes
            .values()
            .flatten()
            .map(|(_, p)| ("CARGO_BIN_EXE", p.as_path())),
    );
    for (what, p) in named {
        let real = resolved(p);
        if !real.starts_with(dest) {
            return Err(format!(
                "its {what} {} resolves to {}, outside the archive ({}): refused",
                p.display(),
                real.display(),
                dest.display()
            ));
        }
    }
    Ok(())
}

/// `p` with every symlink resolved: its deepest existing ancestor
/// canonicalised, then the rest (no `..`: the manifest's paths are clean).
fn resolved(p: &Path) -> PathBuf {
    let mut rest = Vec::new();
    let mut at = p;
    loop {
        if let Ok(real) = std::fs::canonicalize(at) {
            return rest.iter().rev().fold(real, |acc, c| acc.join(c));
        }
        match (at.parent(), at.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                at = parent;
            }
            _ => return p.to_path_buf(),
        }
    }
}

/// The manifest's build with every path moved from the archived roots to
/// `workspace` and `target`; paths that would then lie outside them are
/// refused. Also the archived roots: where the build had them.
fn read_manifest(
    text: &[u8],
    workspace: &Path,
    target: &Path,
) -> Result<(BuildOutput, PathBuf, PathBuf), String> {
    let mut value: serde_json::Value =
        serde_json::from_slice(text).map_err(|e| format!("a broken manifest: {e}"))?;
    let format = value["format"].as_u64();
    if format != Some(u64::from(FORMAT)) {
        return Err(format!(
            "archive format {format:?}, this cargo-isolate reads format {FORMAT}: make the archive with the same version"
        ));
    }
    let old_ws = PathBuf::from(value["workspace_root"].as_str().unwrap_or_default());
    let old_target = PathBuf::from(value["target_dir"].as_str().unwrap_or_default());
    if old_ws.as_os_str().is_empty() || old_target.as_os_str().is_empty() {
        return Err("a broken manifest: no workspace_root or target_dir".into());
    }
    let moved = |s: &str| -> Option<String> {
        let p = Path::new(s);
        // The target dir first: it usually lies inside the workspace.
        // join("") would add a trailing slash to the root itself.
        let under = |root: &Path, rel: &Path| match rel.as_os_str().is_empty() {
            true => root.to_path_buf(),
            false => root.join(rel),
        };
        let new = if let Ok(rel) = p.strip_prefix(&old_target) {
            under(target, rel)
        } else if let Ok(rel) = p.strip_prefix(&old_ws) {
            under(workspace, rel)
        } else {
            return None;
        };
        Some(new.to_string_lossy().into_owned())
    };
    remap(&mut value["build"], &moved);
    let manifest: Manifest =
        serde_json::from_value(value).map_err(|e| format!("a broken manifest: {e}"))?;
    let b = manifest.build;
    let inside = |p: &Path| clean(p) && (p.starts_with(workspace) || p.starts_with(target));
    let mut paths: Vec<&Path> = Vec::new();
    for t in &b.binaries {
        paths.push(&t.executable);
        paths.push(&t.manifest_dir);
    }
    paths.extend(b.out_dirs.values().map(PathBuf::as_path));
    paths.extend(b.bin_exes.values().flatten().map(|(_, p)| p.as_path()));
    if let Some(p) = paths.into_iter().find(|p| !inside(p)) {
        return Err(format!(
            "the manifest points outside the archive ({}): refused",
            p.display()
        ));
    }
    Ok((b, old_ws, old_target))
}

/// Rewrites every string of `v` that `moved` maps.
fn remap(v: &mut serde_json::Value, moved: &dyn Fn(&str) -> Option<String>) {
    match v {
        serde_json::Value::String(s) => {
            if let Some(new) = moved(s) {
                *s = new;
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(|x| remap(x, moved)),
        serde_json::Value::Object(o) => {
            // Map keys hold package ids, not paths: only values move.
            o.values_mut().for_each(|x| remap(x, moved));
        }
        _ => {}
    }
}

/// No `..`: a path that stays where it says.
fn clean(p: &Path) -> bool {
    p.is_absolute() && !p.components().any(|c| c == Component::ParentDir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_move_to_their_new_roots_and_nothing_escapes() {
        let manifest = serde_json::json!({
            "format": 1, "tool_version": "0", "created_at": "x",
            "workspace_root": "/old/ws", "target_dir": "/old/ws/target",
            "build": {
                "binaries": [{
                    "package": "p", "package_id": "path+file:///old/ws#p@0.1.0",
                    "target": "p", "kind": "lib",
                    "executable": "/old/ws/target/debug/deps/p-1",
                    "manifest_dir": "/old/ws", "custom_harness": false
                }],
                "metadata": serde_json::from_str::<serde_json::Value>(METADATA).unwrap(),
                "out_dirs": {}, "linked_paths": [], "bin_exes": {}
            }
        });
        let text = serde_json::to_vec(&manifest).unwrap();
        let (b, old_ws, old_target) =
            read_manifest(&text, Path::new("/new/workspace"), Path::new("/new/target")).unwrap();
        assert_eq!(
            (old_ws.as_path(), old_target.as_path()),
            (Path::new("/old/ws"), Path::new("/old/ws/target"))
        );
        assert_eq!(
            b.binaries[0].executable,
            Path::new("/new/target/debug/deps/p-1")
        );
        assert_eq!(b.binaries[0].manifest_dir, Path::new("/new/workspace"));
        assert_eq!(b.metadata.workspace_root.as_str(), "/new/workspace");
        // A manifest that names a host program is refused.
        let mut evil = manifest.clone();
        evil["build"]["binaries"][0]["executable"] = "/bin/sh".into();
        let err = read_manifest(
            &serde_json::to_vec(&evil).unwrap(),
            Path::new("/new/workspace"),
            Path::new("/new/target"),
        )
        .unwrap_err();
        assert!(err.contains("outside the archive"), "{err}");
        let mut sneaky = manifest.clone();
        sneaky["build"]["binaries"][0]["executable"] = "/old/ws/target/../../../bin/sh".into();
        assert!(
            read_manifest(
                &serde_json::to_vec(&sneaky).unwrap(),
                Path::new("/new/workspace"),
                Path::new("/new/target")
            )
            .is_err()
        );
        let mut old = manifest;
        old["format"] = 7.into();
        assert!(
            read_manifest(
                &serde_json::to_vec(&old).unwrap(),
                Path::new("/a"),
                Path::new("/b")
            )
            .unwrap_err()
            .contains("format")
        );
    }

    const METADATA: &str = r#"{"packages":[],"workspace_members":[],"workspace_default_members":[],"resolve":null,"workspace_root":"/old/ws","target_directory":"/old/ws/target","build_directory":"/old/ws/target","version":1,"metadata":null}"#;
}
