//! The sandbox each binary's tests run in ([`BinaryContext`]): its
//! package dir and the target dir through a private overlay (or
//! read-only; an archive's where it was built), the toolchain read-only,
//! cargo's environment, the runner's own files masked; and [`Variant`],
//! what an override may change of it.

use crate::archive::Relocation;
use crate::build::TestBinary;
use crate::cli::{Isolation, TestArgs};
use crate::config::TestSettings;
use crate::error::Error;
use crate::execute::BinaryContext;
use crate::host::{self, Host};
use crate::sandbox;
use crate::testenv::{self, EnvVars};
use std::path::{Path, PathBuf};

/// `target/isolate`, the reports' and scratch's default place, made if
/// missing and checked: a directory of ours, not a symlink (the target dir
/// may be in another user's workspace). Held open, so that what is written
/// lands in the directory checked even if a link replaces it meanwhile.
pub fn report_dir(target_dir: &Path) -> Result<crate::owned::PinnedDir, Error> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = target_dir.join("isolate");
    let refused = |why: String| {
        Error::setup(format!(
            "will not write to {}: {why}\n  remove it, or write the report elsewhere with --report PATH",
            dir.display()
        ))
    };
    match std::fs::DirBuilder::new().mode(0o755).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(refused(e.to_string())),
    }
    crate::owned::PinnedDir::open(&dir, 0).map_err(|e| refused(e.to_string()))
}

/// The sandbox a unit runs in, where an override may differ from the run.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Variant {
    isolation: Isolation,
    read_only_source: bool,
    extra_read_only: Vec<PathBuf>,
}

impl Variant {
    pub fn of_run(args: &TestArgs, extra_read_only: &[PathBuf]) -> Variant {
        Variant {
            isolation: args.isolation,
            read_only_source: args.read_only_source,
            extra_read_only: extra_read_only.to_vec(),
        }
    }

    /// The run's sandbox, with what a unit's settings change.
    pub fn for_unit(&self, s: &TestSettings) -> Variant {
        let mut extra = self.extra_read_only.clone();
        extra.extend(
            s.sandbox
                .ro_bind
                .iter()
                .flatten()
                .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())),
        );
        Variant {
            isolation: s.isolation.unwrap_or(self.isolation),
            read_only_source: s.read_only_source.unwrap_or(self.read_only_source),
            extra_read_only: extra,
        }
    }
}

/// One binary's sandbox, as `variant` makes it. With an archive's
/// `relocation`, a sandbox shows the unpacked workspace and target dir
/// where they were built, and the test's paths (its program, directory
/// and cargo's variables) are those; without a sandbox (isolation none)
/// they stay the unpack's.
#[expect(
    clippy::too_many_arguments,
    reason = "one call site, each a phase's output"
)]
pub fn context(
    b: &TestBinary,
    env: &EnvVars,
    target_dir: &Path,
    sysroot_libs: &[PathBuf],
    variant: &Variant,
    args: &TestArgs,
    host: &Host,
    relocation: Option<&Relocation>,
) -> BinaryContext {
    let manifest_dir = std::fs::canonicalize(&b.manifest_dir).unwrap_or(b.manifest_dir.clone());
    let relocation = relocation.filter(|_| variant.isolation != Isolation::None);
    let mut overlays = vec![manifest_dir.clone(), target_dir.to_path_buf()];
    if let Some(profile_dir) = b.executable.parent().and_then(Path::parent)
        && !overlays.iter().any(|o| profile_dir.starts_with(o))
    {
        overlays.push(profile_dir.to_path_buf());
    }
    let to_sandbox = |p: &Path| relocation.map_or_else(|| p.to_path_buf(), |r| r.to_sandbox(p));
    if relocation.is_some() {
        // Every one lies in the unpack (the manifest's paths are checked
        // to): the moved roots show them.
        overlays.clear();
    }
    let mut read_only: Vec<PathBuf> = sysroot_libs.to_vec();
    read_only.extend(variant.extra_read_only.iter().cloned());
    let mut layout = host::base_layout(&read_only, &overlays, variant.read_only_source);
    layout.moved = relocation
        .into_iter()
        .flat_map(Relocation::moves)
        .map(|m| (m.sandbox.clone(), m.host.clone()))
        .collect();
    // The runner's own files are no test's to see: reports, and the live
    // scratch dirs of tests of this or a concurrent run (--scratch disk).
    layout
        .secrets
        .push((to_sandbox(&target_dir.join("isolate")), true));
    if variant.read_only_source {
        layout.scratch.push(to_sandbox(&target_dir.join("tmp")));
    }
    let spec = host::init_spec(
        host,
        &args.sandbox,
        variant.isolation,
        &layout,
        to_sandbox(&manifest_dir),
        to_sandbox(&b.executable),
        Vec::new(),
    );
    let env = match relocation {
        Some(_) => testenv::relocate_env(env, &to_sandbox),
        None => env.clone(),
    };
    BinaryContext {
        package: b.package.clone(),
        package_spec: b.package_spec.clone(),
        feature_names: b.feature_names.clone(),
        target: b.target.clone(),
        kind: b.kind.clone(),
        namespaces: host.namespaces(variant.isolation),
        spec,
        env: sandbox::env_block(env.iter().map(|(k, v)| (k.as_os_str(), v.as_os_str()))),
    }
}
