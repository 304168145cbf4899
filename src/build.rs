//! Build: `cargo test --no-run --message-format=json-render-diagnostics`
//! with the user's cargo flags, read with cargo_metadata into the list of
//! test executables ([`TestBinary`]) and what their environment needs.

use crate::cli::CargoArgs;
use crate::error::Error;
use cargo_metadata::{Message, Metadata, MetadataCommand, Package, PackageId};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::BufReader;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// One test executable and what it takes to run it as cargo would.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TestBinary {
    pub package: String,
    /// The package as `-p` names it unambiguously (see [`package_spec`]);
    /// empty in an archive made before it was kept.
    #[serde(default)]
    pub package_spec: String,
    /// What `--features` may name beside `-p` this package (none when
    /// cargo metadata did not describe it).
    #[serde(default)]
    pub feature_names: Option<FeatureNames>,
    pub package_id: PackageId,
    /// The cargo target name.
    pub target: String,
    /// lib, bin, test, bench, example or proc-macro.
    pub kind: String,
    pub executable: PathBuf,
    pub manifest_dir: PathBuf,
    /// `harness = false`: one unit, no libtest listing.
    pub custom_harness: bool,
}

/// The names `cargo test -p PKG --features` accepts: the package's own
/// features (optional dependencies included) and, as `dep/feature`, its
/// dependencies; cargo refuses any other (`the package 'b' does not
/// contain this feature`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FeatureNames {
    pub own: Vec<String>,
    /// By the name the manifest gives them (a rename, else the package's).
    pub dependencies: Vec<String>,
}

impl TestBinary {
    /// The binary id as cargo-nextest writes it, so ids cross-reference:
    /// `pkg` for the library, `pkg::name` for an integration test,
    /// `pkg::bin/name`, `pkg::example/name`, `pkg::bench/name`.
    pub fn binary_id(&self) -> String {
        crate::model::binary_id(&self.package, &self.target, &self.kind)
    }
}

/// Everything the build produced that the run needs (also what an
/// archive carries, paths and all).
#[derive(Debug, Serialize, Deserialize)]
pub struct BuildOutput {
    pub binaries: Vec<TestBinary>,
    pub metadata: Metadata,
    /// Build script outputs: OUT_DIR per package, native library dirs.
    pub out_dirs: HashMap<PackageId, PathBuf>,
    pub linked_paths: Vec<PathBuf>,
    /// Binaries built alongside, for CARGO_BIN_EXE_<name>.
    pub bin_exes: HashMap<PackageId, Vec<(String, PathBuf)>>,
}

fn cargo() -> PathBuf {
    std::env::var_os("CARGO")
        .map(PathBuf::from)
        .unwrap_or_else(|| "cargo".into())
}

/// What a signal during the build stopped.
const INTERRUPTED: Error = Error::Interrupted {
    while_: "building the tests",
};

pub fn build(args: &CargoArgs) -> Result<BuildOutput, Error> {
    if crate::signals::cancelled() {
        return Err(INTERRUPTED);
    }
    let mut cmd = Command::new(cargo());
    cmd.args([
        "test",
        "--no-run",
        "--message-format=json-render-diagnostics",
    ])
    .args(args.to_cargo_args())
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit());
    // Cargo and all it runs in a group of their own, which our signals
    // reach whoever sent them to (a terminal signals our group, CI and
    // `timeout` our pid alone).
    crate::signals::own_group(&mut cmd);
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::setup(format!("failed to run cargo: {e}: is cargo in PATH?")))?;
    let group = crate::signals::ChildGroup::watch(&child);
    let stdout = child.stdout.take().expect("piped");
    let mut binaries = Vec::new();
    let mut out_dirs = HashMap::new();
    let mut linked_paths = Vec::new();
    let mut bin_exes: HashMap<PackageId, Vec<(String, PathBuf)>> = HashMap::new();
    for message in Message::parse_stream(BufReader::new(stdout)) {
        let Ok(message) = message else { continue };
        match message {
            Message::CompilerArtifact(a) => {
                let Some(exe) = a.executable else { continue };
                let kind = a
                    .target
                    .kind
                    .first()
                    .map(|k| k.to_string())
                    .unwrap_or_else(|| "lib".into());
                if a.profile.test {
                    binaries.push(TestBinary {
                        package: String::new(),
                        package_spec: String::new(),
                        feature_names: None,
                        package_id: a.package_id.clone(),
                        target: a.target.name.clone(),
                        kind: normalise_kind(&kind),
                        executable: exe.into_std_path_buf(),
                        manifest_dir: a
                            .manifest_path
                            .parent()
                            .map(|p| p.as_std_path().to_path_buf())
                            .unwrap_or_default(),
                        custom_harness: false,
                    });
                } else if kind == "bin" {
                    bin_exes
                        .entry(a.package_id.clone())
                        .or_default()
                        .push((a.target.name.clone(), exe.into_std_path_buf()));
                }
            }
            Message::BuildScriptExecuted(b) => {
                out_dirs.insert(b.package_id.clone(), b.out_dir.into_std_path_buf());
                linked_paths.extend(b.linked_paths.iter().map(|p| {
                    // "native=/path" or "/path".
                    let s = p.as_str();
                    PathBuf::from(s.split_once('=').map(|(_, p)| p).unwrap_or(s))
                }));
            }
            _ => {}
        }
    }
    if let Some(group) = group {
        group.release();
    }
    let status = child
        .wait()
        .map_err(|e| Error::setup(format!("failed to wait for cargo: {e}")))?;
    if crate::signals::cancelled() {
        return Err(INTERRUPTED);
    }
    if !status.success() {
        return Err(Error::Build(
            "build failed; see cargo's messages above".into(),
        ));
    }
    let metadata = read_metadata(args)?;
    for b in &mut binaries {
        if let Some(pkg) = metadata.packages.iter().find(|p| p.id == b.package_id) {
            b.package = pkg.name.to_string();
            b.package_spec = package_spec(&metadata.packages, pkg);
            b.feature_names = Some(FeatureNames {
                own: pkg.features.keys().cloned().collect(),
                dependencies: pkg
                    .dependencies
                    .iter()
                    .map(|d| d.rename.clone().unwrap_or_else(|| d.name.clone()))
                    .collect(),
            });
            b.custom_harness = !uses_libtest(pkg, &b.target, &b.kind);
        } else {
            b.package = package_name_from_id(&b.package_id);
            b.package_spec = match b.package_id.repr.contains('#') {
                true => b.package_id.repr.clone(),
                false => b.package.clone(),
            };
        }
    }
    // By binary id, as nextest orders them: lists, runs and reports agree.
    binaries.sort_by_cached_key(|b| b.binary_id());
    Ok(BuildOutput {
        binaries,
        metadata,
        out_dirs,
        linked_paths,
        bin_exes,
    })
}

/// The workspace as cargo metadata describes it, with the resolved
/// dependency graph (`resolve`) that filtersets' `deps()` and `rdeps()`
/// walk. As nextest asks for it, for one platform (`--filter-platform`;
/// the host, which is where the tests run) so that packages other
/// platforms need are not downloaded, but with the build's own feature
/// flags rather than `--all-features`: the graph of what was built, whose
/// packages the build has fetched. If cargo cannot give the graph (an
/// older cargo without `host-tuple`, a package not available offline),
/// the run goes on with `--no-deps`, and only `deps()` and `rdeps()` fail,
/// saying so.
fn read_metadata(args: &CargoArgs) -> Result<Metadata, Error> {
    let command = |no_deps: bool| {
        let mut meta = MetadataCommand::new();
        meta.cargo_path(cargo());
        if let Some(m) = &args.manifest_path {
            meta.manifest_path(m);
        }
        let mut other = Vec::new();
        if args.frozen || args.offline {
            other.push("--offline".to_string());
        }
        if no_deps {
            meta.no_deps();
        } else {
            other.extend(["--filter-platform".into(), "host-tuple".into()]);
            if args.all_features {
                other.push("--all-features".into());
            }
            if args.no_default_features {
                other.push("--no-default-features".into());
            }
            for f in &args.features {
                other.extend(["--features".into(), f.clone()]);
            }
        }
        meta.other_options(other);
        meta
    };
    let failed = |e: cargo_metadata::Error| match crate::signals::cancelled() {
        true => INTERRUPTED,
        false => Error::setup(format!(
            "failed to read the workspace with cargo metadata: {e}"
        )),
    };
    match command(false).exec() {
        Ok(metadata) => Ok(metadata),
        Err(_) if crate::signals::cancelled() => Err(INTERRUPTED),
        // Without the graph: deps() and rdeps() say so if they are used.
        Err(_) => command(true).exec().map_err(failed),
    }
}

/// The target dir cargo would build into, read without building (`cargo
/// metadata --no-deps`): where the report of a build cut short goes.
pub fn target_dir_without_building(args: &CargoArgs) -> Option<PathBuf> {
    if let Some(dir) = &args.target_dir {
        return Some(dir.clone());
    }
    let mut meta = MetadataCommand::new();
    meta.cargo_path(cargo()).no_deps();
    if let Some(m) = &args.manifest_path {
        meta.manifest_path(m);
    }
    meta.other_options(vec!["--offline".to_string()]);
    let metadata = meta.exec().ok()?;
    Some(metadata.target_directory.into_std_path_buf())
}

fn normalise_kind(kind: &str) -> String {
    match kind {
        "bin" | "test" | "bench" | "example" | "proc-macro" => kind.to_string(),
        // lib, rlib, dylib, cdylib, staticlib
        _ => "lib".to_string(),
    }
}

/// Whether the target runs under libtest. cargo metadata does not say, so
/// read `harness = false` from the package's Cargo.toml.
fn uses_libtest(pkg: &Package, target: &str, kind: &str) -> bool {
    let Ok(text) = std::fs::read_to_string(&pkg.manifest_path) else {
        return true;
    };
    let Ok(doc) = text.parse::<toml::Table>() else {
        return true;
    };
    let section = match kind {
        "lib" | "proc-macro" => {
            return doc
                .get("lib")
                .and_then(|l| l.get("harness"))
                .and_then(|h| h.as_bool())
                .unwrap_or(true);
        }
        "bin" => "bin",
        "test" => "test",
        "bench" => "bench",
        "example" => "example",
        _ => return true,
    };
    let Some(list) = doc.get(section).and_then(|s| s.as_array()) else {
        return true;
    };
    !list.iter().any(|t| {
        t.get("name").and_then(|n| n.as_str()) == Some(target)
            && t.get("harness").and_then(|h| h.as_bool()) == Some(false)
    })
}

/// `pkg` as a package id spec that `cargo test -p` takes in any graph:
/// `name@version`, since a bare name is ambiguous when the graph holds two
/// versions (a workspace's crate and the release its dev-dependencies
/// pull in); the whole package id (`path+file:///x/dup#0.2.0`, itself a
/// spec since cargo 1.77) where another source has the same version too.
fn package_spec(packages: &[Package], pkg: &Package) -> String {
    let twins = packages
        .iter()
        .filter(|p| p.name == pkg.name && p.version == pkg.version)
        .count();
    match twins > 1 && pkg.id.repr.contains('#') {
        true => pkg.id.repr.clone(),
        false => format!("{}@{}", pkg.name, pkg.version),
    }
}

/// "path+file:///x/demo#0.1.0" or "demo 0.1.0 (path+file:///x)".
fn package_name_from_id(id: &PackageId) -> String {
    let repr = &id.repr;
    if let Some((_, frag)) = repr.rsplit_once('#') {
        if let Some((name, _)) = frag.split_once('@') {
            return name.to_string();
        }
        if let Some(last) = repr.split('#').next().and_then(|u| u.rsplit('/').next()) {
            return last.to_string();
        }
    }
    repr.split(' ').next().unwrap_or(repr).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_names_from_ids() {
        let id = |s: &str| PackageId { repr: s.into() };
        assert_eq!(
            package_name_from_id(&id("path+file:///x/demo#0.1.0")),
            "demo"
        );
        assert_eq!(
            package_name_from_id(&id("path+file:///x/dir#demo@0.1.0")),
            "demo"
        );
        assert_eq!(
            package_name_from_id(&id("demo 0.1.0 (path+file:///x)")),
            "demo"
        );
    }

    #[test]
    fn kinds_are_normalised() {
        assert_eq!(normalise_kind("dylib"), "lib");
        assert_eq!(normalise_kind("test"), "test");
    }
}

#[cfg(test)]
mod binary_id_tests {
    use crate::model::binary_id;

    #[test]
    fn ids_as_nextest_writes_them() {
        assert_eq!(binary_id("same", "same", "lib"), "same");
        assert_eq!(binary_id("same", "same", "bin"), "same::bin/same");
        assert_eq!(binary_id("my-pkg", "api", "test"), "my-pkg::api");
        assert_eq!(binary_id("p", "demo", "example"), "p::example/demo");
        assert_eq!(binary_id("p", "speed", "bench"), "p::bench/speed");
        assert_eq!(binary_id("p", "p_macros", "proc-macro"), "p");
    }
}
