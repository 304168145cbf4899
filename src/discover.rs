//! Discovery: `<binary> --list --format terse` (and `--ignored`), the
//! libtest protocol cargo-nextest also uses, run on the host with the
//! binary's environment. `harness = false` targets are not listed: they
//! are one unit each.

use crate::build::TestBinary;
use crate::error::Error;
use std::ffi::OsString;
use std::process::Command;

/// One libtest test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestCase {
    pub binary: usize,
    pub name: String,
    pub ignored: bool,
}

/// Lists the tests of every binary, in parallel.
pub fn discover(
    binaries: &[TestBinary],
    envs: &[Vec<(OsString, OsString)>],
    jobs: usize,
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
                        if b.custom_harness {
                            continue;
                        }
                        out.push(list_binary(i, b, &envs[i]));
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let mut cases = Vec::new();
    for r in results {
        cases.extend(r?);
    }
    cases.sort_by(|a, b| (a.binary, &a.name).cmp(&(b.binary, &b.name)));
    Ok(cases)
}

fn list_binary(
    index: usize,
    b: &TestBinary,
    env: &[(OsString, OsString)],
) -> Result<Vec<TestCase>, Error> {
    let all = run_list(b, env, false)?;
    let ignored = run_list(b, env, true)?;
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
    b: &TestBinary,
    env: &[(OsString, OsString)],
    ignored: bool,
) -> Result<Vec<String>, Error> {
    let mut cmd = Command::new(&b.executable);
    cmd.args(["--list", "--format", "terse"]);
    if ignored {
        cmd.arg("--ignored");
    }
    cmd.env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(&b.manifest_dir);
    let out = cmd.output().map_err(|e| {
        Error::setup(format!(
            "failed to list the tests of {}: {e}",
            b.executable.display()
        ))
    })?;
    if !out.status.success() {
        return Err(Error::setup(format!(
            "listing the tests of {} ({}::{}) failed ({}): {}\n  if this target does not use libtest, set `harness = false` for it in Cargo.toml",
            b.executable.display(),
            b.package,
            b.target,
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(parse_terse(&String::from_utf8_lossy(&out.stdout)))
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
