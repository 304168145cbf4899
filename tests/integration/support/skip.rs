//! A test that needs what this machine lacks does not pass quietly: it
//! returns through [`skip`], which prints one line that each CI lane
//! collects and compares with its list of expected skips
//! (`.ci/expected-skips/<lane>.txt`, by `.ci/check-skips.py`):
//!
//! ```text
//! SKIPPED: <test>: <reason>
//! ```
//!
//! `<test>` is libtest's name for the test (`boundary::a_root_test_...`),
//! which libtest gives the thread the test runs on. The reason is a fixed
//! text, so that a list can hold it; what varies goes on a line of its own
//! ([`note`]). A test that can never run under a plain `cargo test` is
//! `#[ignore = "reason"]` instead, and a lane that can run it names it.

use std::io::Write;
use std::process::{Command, Stdio};

/// Says that the calling test did not run, and why (see the module doc).
pub(crate) fn skip(reason: &'static str) {
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("<not a test's thread>");
    note(&format!("SKIPPED: {test}: {reason}"));
}

/// Prints `what` as a line of its own past libtest's capture: to the
/// stderr handle (libtest captures `eprintln!` and shows it only for
/// failures), in one write, so that it stays whole between libtest's lines.
pub(crate) fn note(what: &str) {
    let line = format!("{what}\n");
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

pub(crate) fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Whether uid 65534 may make a user namespace here, asked of util-linux's
/// `unshare`, not of the tool under test: a rootless test skips only when
/// the kernel forbids it, never because our own sandbox failed.
pub(crate) fn nobody_has_user_namespaces() -> bool {
    Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .args(["unshare", "--user", "--map-root-user", "true"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether `program ARGS` (a version query) runs here and exits 0: a test
/// that needs a tool skips without it, and names the package to install.
pub(crate) fn has_tool(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
