//! Discovery: `<binary> --list --format terse` (and `--ignored`), the
//! libtest protocol cargo-nextest also uses. Listing runs the binary, and
//! with it any code its static constructors hold, so it runs in the same
//! sandbox as a test (one per listing), never on the host.
//! `harness = false` targets are not listed: they are one unit each.
//! A signal kills the listing sandboxes (the cancel pipe) and ends
//! discovery with [`Error::Interrupted`].

use crate::build::TestBinary;
use crate::error::Error;
use crate::execute::{self, Exec};
use crate::model::TestCase;
use crate::outcome::{self, Outcome};

/// Lists the tests of every binary but those `skip` names (the -E
/// expressions exclude them whatever their tests), `jobs` sandboxes at a
/// time. A listing that fails in any way, a panic of its thread included,
/// fails discovery naming the binary: a binary whose tests were not
/// listed would otherwise pass without running them.
pub fn discover(
    cfg: &Exec<'_>,
    jobs: usize,
    binaries: &[TestBinary],
    skip: &(dyn Fn(usize) -> bool + Sync),
) -> Result<Vec<TestCase>, Error> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<Result<Vec<TestCase>, Error>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..jobs.clamp(1, binaries.len().max(1)))
            .map(|_| {
                s.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(b) = binaries.get(i) else { break };
                        if b.custom_harness || skip(i) {
                            continue;
                        }
                        if cfg.cancel.is_some_and(|c| c.cancelled()) {
                            out.push(Err(INTERRUPTED));
                            break;
                        }
                        out.push(list_caught(cfg, i, b));
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join().unwrap_or_else(|panic| {
                    vec![Err(Error::Internal(format!(
                        "a listing thread panicked: {}",
                        crate::failpoint::panic_message(&*panic)
                    )))]
                })
            })
            .collect()
    });
    // Interrupted first: a listing the signal cut short may have failed
    // in another way too.
    if results
        .iter()
        .any(|r| matches!(r, Err(Error::Interrupted { .. })))
    {
        return Err(INTERRUPTED);
    }
    let mut cases = Vec::new();
    for r in results {
        cases.extend(r?);
    }
    cases.sort_by(|a, b| (a.binary, &a.name).cmp(&(b.binary, &b.name)));
    Ok(cases)
}

/// One binary's listing, a panic in it an error that names the binary.
fn list_caught(cfg: &Exec<'_>, index: usize, b: &TestBinary) -> Result<Vec<TestCase>, Error> {
    let listed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        crate::failpoint::hit("list", &b.target);
        list_binary(cfg, index, b)
    }));
    listed.unwrap_or_else(|panic| {
        Err(Error::Internal(format!(
            "listing the tests of {} ({}::{}) panicked: {}",
            b.executable.display(),
            b.package,
            b.target,
            crate::failpoint::panic_message(&*panic)
        )))
    })
}

/// What a signal during the listing stopped.
const INTERRUPTED: Error = Error::Interrupted {
    while_: "listing the tests",
};

fn list_binary(cfg: &Exec<'_>, index: usize, b: &TestBinary) -> Result<Vec<TestCase>, Error> {
    let all = run_list(cfg, index, b, false)?;
    let ignored = run_list(cfg, index, b, true)?;
    Ok(all
        .into_iter()
        .map(|name| TestCase {
            binary: index,
            ignored: ignored.contains(&name),
            name,
        })
        .collect())
}

fn run_list(
    cfg: &Exec<'_>,
    index: usize,
    b: &TestBinary,
    ignored: bool,
) -> Result<Vec<String>, Error> {
    let mut args: Vec<String> = ["--list", "--format", "terse"].map(String::from).into();
    if ignored {
        args.push("--ignored".into());
    }
    let leaf = format!("list{index}{}", if ignored { "i" } else { "" });
    let what = || format!("{} ({}::{})", b.executable.display(), b.package, b.target);
    let binary_id = b.binary_id();
    let identity = execute::Identity {
        binary_id: &binary_id,
        ..Default::default()
    };
    let exec = execute::execute(
        cfg,
        index,
        &args,
        &leaf,
        &Default::default(),
        identity,
        Default::default(),
    )?
    .map_err(|e| Error::setup(format!("failed to list the tests of {}: {e}", what())))?;
    if exec.cancelled {
        return Err(INTERRUPTED);
    }
    let m = outcome::classify(&exec);
    if m.outcome() != Outcome::Passed {
        let why = match (&m.error, m.exit_code, &m.signal) {
            (Some(e), _, _) => e.clone(),
            (None, Some(c), _) => format!("exit code {c}"),
            (None, None, Some(s)) => s.clone(),
            _ => m.outcome().as_str().to_string(),
        };
        let hint = if m.exit_code.is_some() {
            "\n  if this target does not use libtest, set `harness = false` for it in Cargo.toml"
        } else {
            ""
        };
        return Err(Error::setup(format!(
            "listing the tests of {} failed in its sandbox ({why}): {}{hint}",
            what(),
            exec.stderr.text().trim()
        )));
    }
    if exec.stdout.dropped > 0 {
        return Err(Error::setup(format!(
            "the test list of {} is longer than {} bytes",
            what(),
            cfg.output_limit
        )));
    }
    Ok(parse_terse(&String::from_utf8_lossy(&exec.stdout.bytes)))
}

/// "name: test" lines; benches ("name: bench") are not tests.
pub fn parse_terse(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terse_listing() {
        let text = "tests::a: test\ntests::b: test\nbench_x: bench\n\n";
        assert_eq!(parse_terse(text), vec!["tests::a", "tests::b"]);
    }
}
