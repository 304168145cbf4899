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
//! An archive is untrusted input: entries are unpacked only inside DIR
//! (no `..`, no absolute path, nothing through a symlink, only files,
//! directories and symlinks), and every path the manifest would run or
//! show must land inside DIR.

use crate::build::{self, BuildOutput};
use crate::cli::ArchiveArgs;
use crate::error::{EXIT_OK, Error};
use crate::testenv;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Component, Path, PathBuf};

const MANIFEST: &str = "cargo-isolate-archive.json";
const FORMAT: u32 = 1;
/// Marks a complete unpack, holding the archive's hash.
const UNPACKED: &str = ".cargo-isolate-unpacked";
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
    pub build: BuildOutput,
    pub workspace_root: PathBuf,
    pub target_dir: PathBuf,
    pub sha256: String,
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
    let manifest = Manifest {
        format: FORMAT,
        tool_version: env!("CARGO_PKG_VERSION").into(),
        created_at: crate::report::rfc3339(std::time::SystemTime::now()),
        workspace_root,
        target_dir,
        build: built,
    };
    let bytes = write(&args.output, &manifest, &files, &roots)
        .map_err(|e| Error::setup(format!("cannot write {}: {e}", args.output.display())))?;
    let sha = sha256_of(&args.output)
        .map_err(|e| Error::setup(format!("cannot read {}: {e}", args.output.display())))?;
    let size = std::fs::metadata(&args.output)
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
        args.output.display()
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
    let tmp = tempfile::NamedTempFile::new_in(dir)?;
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

fn sha256_of(path: &Path) -> io::Result<String> {
    let mut f = BufReader::new(File::open(path)?);
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

/// Unpacks `archive` (once: an unpack of the same archive is reused) under
/// `remap`, or `<tmp>/cargo-isolate-archive-<hash>`, and reads its build.
pub fn open(archive: &Path, remap: Option<&Path>) -> Result<Opened, Error> {
    let sha256 = sha256_of(archive).map_err(|e| {
        Error::Usage(format!(
            "cannot read the archive {}: {e}",
            archive.display()
        ))
    })?;
    let dest = match remap {
        Some(d) => d.to_path_buf(),
        None => std::env::temp_dir().join(format!("cargo-isolate-archive-{}", &sha256[..16])),
    };
    let marker = dest.join(UNPACKED);
    let unpacked = std::fs::read_to_string(&marker).is_ok_and(|m| m.trim() == sha256);
    if !unpacked {
        let failed = |e: io::Error| {
            Error::setup(format!(
                "cannot unpack {} into {}: {e}",
                archive.display(),
                dest.display()
            ))
        };
        match remap {
            Some(_) => {
                unpack(archive, &dest).map_err(failed)?;
                std::fs::write(&marker, &sha256).map_err(failed)?;
            }
            // The shared default place: unpacked beside it and renamed, so
            // that shards on one machine never see each other's half.
            None => {
                let staging = dest.with_extension(format!("partial-{}", std::process::id()));
                let _ = std::fs::remove_dir_all(&staging);
                unpack(archive, &staging)
                    .and_then(|()| std::fs::write(staging.join(UNPACKED), &sha256))
                    .map_err(|e| {
                        let _ = std::fs::remove_dir_all(&staging);
                        failed(e)
                    })?;
                if std::fs::rename(&staging, &dest).is_err() {
                    let complete =
                        std::fs::read_to_string(&marker).is_ok_and(|m| m.trim() == sha256);
                    if !complete {
                        // A broken leftover (a run killed mid-unpack of
                        // an older version): replace it.
                        let _ = std::fs::remove_dir_all(&dest);
                        std::fs::rename(&staging, &dest).map_err(failed)?;
                    }
                    // Else another run got there first, with the same
                    // content.
                    let _ = std::fs::remove_dir_all(&staging);
                }
            }
        }
    }
    let dest = std::fs::canonicalize(&dest).unwrap_or(dest);
    let text = std::fs::read(dest.join(MANIFEST)).map_err(|e| {
        Error::Usage(format!(
            "{} is not a cargo-isolate archive (no {MANIFEST}: {e})",
            archive.display()
        ))
    })?;
    let (workspace_root, target_dir) = (dest.join("workspace"), dest.join("target"));
    let build = read_manifest(&text, &workspace_root, &target_dir)
        .map_err(|e| Error::Usage(format!("{}: {e}", archive.display())))?;
    // CARGO_TARGET_TMPDIR, which cargo makes before a run.
    let _ = std::fs::create_dir_all(target_dir.join("tmp"));
    Ok(Opened {
        build,
        workspace_root,
        target_dir,
        sha256,
    })
}

/// The manifest's build with every path moved from the archived roots to
/// `workspace` and `target`; paths that would then lie outside them are
/// refused.
fn read_manifest(text: &[u8], workspace: &Path, target: &Path) -> Result<BuildOutput, String> {
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
    Ok(b)
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

/// Unpacks into `dest`, each entry checked first.
fn unpack(archive: &Path, dest: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dest)?;
    let file = File::open(archive)?;
    let decoder = zstd::Decoder::new(file)?;
    let mut tar = tar::Archive::new(decoder);
    tar.set_preserve_permissions(true);
    tar.set_overwrite(true);
    for entry in tar.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.into_owned();
        let kind = entry.header().entry_type();
        // A sparse file is a file: the linker leaves holes that tar keeps.
        let allowed_kind =
            kind.is_file() || kind.is_gnu_sparse() || kind.is_dir() || kind.is_symlink();
        let mut comps = path.components();
        let top = comps.next();
        let top_ok = matches!(top, Some(Component::Normal(t)) if t == "workspace" || t == "target")
            || path == Path::new(MANIFEST);
        let plain = path.components().all(|c| matches!(c, Component::Normal(_)));
        if !allowed_kind || !top_ok || !plain {
            return Err(io::Error::other(format!(
                "refused entry {} ({:?}): an archive holds only files, directories and symlinks under workspace/ and target/",
                path.display(),
                kind
            )));
        }
        // unpack_in refuses to write outside `dest`, through symlinks too.
        let inside = entry
            .unpack_in(dest)
            .map_err(|e| io::Error::other(format!("refused entry {}: {e}", path.display())))?;
        if !inside {
            return Err(io::Error::other(format!(
                "refused entry {}: it would land outside {}",
                path.display(),
                dest.display()
            )));
        }
    }
    Ok(())
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
        let b =
            read_manifest(&text, Path::new("/new/workspace"), Path::new("/new/target")).unwrap();
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
