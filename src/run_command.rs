//! `cargo isolate run -- PROGRAM ARGS`: any program in the test sandbox,
//! with the current directory and the program's directory read-only at
//! their host paths. Its output goes straight to ours; what it used is
//! printed on stderr at the end; we exit with its exit code.

use crate::cli::{Isolation, RunArgs, Scratch};
use crate::error::{EXIT_SETUP, Error};
use crate::host::{self, Host};
use crate::outcome::{self, Outcome};
use crate::report::human_bytes;
use crate::sandbox::{self, Output};
use crate::scratch::{self, ScratchRoot};
use std::path::{Path, PathBuf};

pub fn run(args: &RunArgs) -> Result<u8, Error> {
    let (program, rest) = args.command.split_first().ok_or_else(|| {
        Error::Usage("no program given: cargo isolate run -- PROGRAM ARGS".into())
    })?;
    let program = resolve_program(program)?;
    // Without randomness there is no run id: stop before anything is made.
    crate::testenv::try_run_id()?;
    let cwd = std::env::current_dir()
        .map_err(|e| Error::setup(format!("cannot read the current directory: {e}")))?;
    let host = host::prepare(&args.sandbox, Isolation::PerTest, None, false)?;
    for w in &host.warnings {
        eprintln!("warning: {w}");
    }
    let program_dir = program.parent().unwrap_or(Path::new("/")).to_path_buf();
    let mut read_only = vec![cwd.clone(), program_dir];
    read_only.extend(host::extra_read_only(&args.sandbox)?);
    let layout = host::base_layout(&read_only, &[], false);
    let mut spec = host::init_spec(
        &host,
        &args.sandbox,
        Isolation::PerTest,
        &layout,
        cwd,
        program.clone(),
        rest.to_vec(),
    );
    let mut env = crate::testenv::base_env(&args.sandbox);
    crate::testenv::apply_env_settings(&mut env, &args.sandbox);
    let env = sandbox::env_block(env.iter().map(|(k, v)| (k.as_os_str(), v.as_os_str())));
    let scratch_root = scratch_root(args, &host)?;
    let scratch = match &scratch_root {
        Some(r) => Some(r.for_sandbox("run").map_err(Error::setup)?),
        None => None,
    };
    spec.scratch_dir = scratch.as_ref().map(|s| s.path().to_path_buf());
    spec.scratch_image = scratch
        .as_ref()
        .and_then(|s| s.image().map(Path::to_path_buf));
    let leaf = leaf_for(&host, "run")?;
    let cancel = crate::signals::pipe();
    let req = sandbox::Request {
        spec: &spec,
        env: &env,
        namespaces: host.namespaces(Isolation::PerTest),
        cgroup: leaf.as_ref(),
        output: Output::Inherit,
        timeout: args.sandbox.timeout,
        grace: None,
        cancel: cancel.map(|c| c.fd()),
        netns: None,
        gate: None,
        on_start: None,
    };
    let exec = sandbox::execute(&req)?;
    drop(leaf);
    if exec.cancelled {
        eprintln!("cargo-isolate: interrupted; the sandbox was killed");
        return Ok(crate::error::EXIT_INTERRUPTED);
    }
    let m = outcome::classify(&exec);
    say_what_happened(&m, &host, exec.hang.as_ref());
    Ok(exit_code_of(&m))
}

/// `--scratch disk`: the run's scratch root, checked before anything is
/// made; `None` for memory.
fn scratch_root(args: &RunArgs, host: &Host) -> Result<Option<ScratchRoot>, Error> {
    Ok(match args.sandbox.scratch {
        Scratch::Disk => {
            let parent = PathBuf::from(format!("{RUN_SCRATCH}-{}", nix::unistd::getuid()));
            // Checked before anything is made: a refusal leaves nothing.
            let image = scratch::bound(
                args.sandbox.scratch_size,
                host.rootless,
                args.sandbox.allow_unenforced_limits,
                parent.parent().unwrap_or(Path::new("/")),
                1,
            )?;
            // A predictable name in a shared dir: ours, 0700 and no link, or
            // refused (another user may have made it first).
            crate::owned::private_dir(&parent)
                .map_err(|e| Error::setup(format!("--scratch disk: {e}")))?;
            match ScratchRoot::create(&parent, image) {
                Ok(root) => Some(root),
                Err(e) => {
                    // Ours, and empty unless another run of ours uses it.
                    let _ = std::fs::remove_dir(&parent);
                    return Err(e);
                }
            }
        }
        Scratch::Memory => None,
    })
}

/// The closing line: outcome, figures, and why, where it is known.
fn say_what_happened(m: &outcome::Measured, host: &Host, hang: Option<&crate::model::Hang>) {
    let outcome = m.outcome();
    let mut line = format!("cargo-isolate: {}", outcome.as_str());
    if let Some(c) = m.exit_code {
        line += &format!(", exit code {c}");
    }
    if let Some(s) = &m.signal {
        line += &format!(", {s}");
    }
    if let Some(d) = m.duration_ms {
        line += &format!(", {d:.1} ms");
    }
    if let Some(c) = m.cpu_ms {
        line += &format!(", cpu {c:.1} ms");
    }
    line += &format!(
        ", peak memory {} (cgroup {}), max RSS {}",
        m.peak_memory_bytes
            .map(human_bytes)
            .unwrap_or_else(|| "n/a".into()),
        host.cgroup_name(),
        m.peak_rss_bytes
            .map(human_bytes)
            .unwrap_or_else(|| "n/a".into()),
    );
    if let Some(p) = m.pids_peak {
        line += &format!(", pids peak {p}");
    }
    eprintln!("{line}");
    if let Some(o) = &m.outside_oom {
        eprintln!(
            "cargo-isolate: the OOM kill came from outside the sandbox's own memory limit: {} was hit",
            o.describe()
        );
    }
    if let Some(e) = &m.error {
        eprintln!("error: {e}");
    }
    // Killed at its timeout: where each thread was (names escaped: they
    // are the program's).
    if let Some(hang) = hang {
        for t in &hang.threads {
            eprintln!(
                "cargo-isolate: {}",
                crate::report::escape::for_terminal_line(&t.line())
            );
        }
        if let Some(note) = &hang.note {
            eprintln!(
                "cargo-isolate: {}",
                crate::report::escape::for_terminal_line(note)
            );
        }
    }
}

/// The program's own exit code, 124 at the timeout (as timeout(1)), 128+N
/// for a signal, 96 when the sandbox could not run it.
fn exit_code_of(m: &outcome::Measured) -> u8 {
    let outcome = m.outcome();
    match outcome {
        Outcome::SetupError => EXIT_SETUP,
        Outcome::TimedOut => 124,
        _ => match (m.exit_code, &m.signal) {
            (Some(c), _) => c.clamp(0, 255) as u8,
            (None, Some(sig)) => {
                let num = nix::sys::signal::Signal::iterator()
                    .find(|s| s.as_str() == sig)
                    .map(|s| s as i32)
                    .unwrap_or(9);
                (128 + num) as u8
            }
            (None, None) => EXIT_SETUP,
        },
    }
}

/// Where `run --scratch disk` keeps its scratch (`-<uid>` added): /var/tmp,
/// which is on disk where /tmp may be a tmpfs.
const RUN_SCRATCH: &str = "/var/tmp/cargo-isolate-scratch";

pub fn leaf_for(host: &Host, name: &str) -> Result<Option<crate::cgroup::Leaf>, Error> {
    match &host.cgroup {
        Some(c) => Ok(Some(c.create_leaf(name, &host.limits)?)),
        None => Ok(None),
    }
}

/// PROGRAM as exec will find it: a path, or a name looked up in PATH.
fn resolve_program(name: &str) -> Result<PathBuf, Error> {
    let found = if name.contains('/') {
        Some(PathBuf::from(name))
    } else {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(name))
                .find(|p| p.is_file())
        })
    };
    let path = found.ok_or_else(|| Error::Usage(format!("program {name:?} not found in PATH")))?;
    std::fs::canonicalize(&path)
        .map_err(|e| Error::Usage(format!("cannot run {}: {e}", path.display())))
}
