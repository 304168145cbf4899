//! Issue 24: where users run it without a bare root VM. A limit the host
//! could not set is said to be unenforced in every output; an OOM kill at
//! an enclosing cgroup's limit (a container's, a CI job's) is told apart
//! from one at the test's own limit.

use super::{BIN, binary_for_nobody, fixture};
use crate::support::report::Run;
use crate::support::skip::{is_root, nobody_has_user_namespaces, skip};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The `same` fixture packed by root into `dir/t.tar.zst`, readable by all.
fn archive_of_same(dir: &Path) -> PathBuf {
    let (_tmp, src) = fixture("same");
    let archive = dir.join("t.tar.zst");
    let out = Command::new(BIN)
        .args(["isolate", "archive", "--archive-file"])
        .arg(&archive)
        .current_dir(&src)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::set_permissions(&archive, std::fs::Permissions::from_mode(0o644)).unwrap();
    archive
}

/// A directory under `parent` that uid 65534 owns.
fn nobodys_dir(parent: &Path, name: &str) -> PathBuf {
    let d = parent.join(name);
    std::fs::create_dir(&d).unwrap();
    std::os::unix::fs::chown(&d, Some(65534), Some(65534)).unwrap();
    d
}

/// Rootless there is no cgroup: `--allow-unenforced-limits` runs without
/// the memory limit, and the report, JUnit and the summary say it was not
/// enforced (before, `memory_max: 67108864` read as a limit that held). As
/// root the same limit is enforced, and said so.
#[test]
fn a_limit_the_host_cannot_set_is_reported_not_enforced() {
    if !is_root() {
        return skip("needs root to switch to uid 65534 with setpriv");
    }
    if !nobody_has_user_namespaces() {
        return skip("unprivileged user namespaces are off here");
    }
    let (tmp, bin) = binary_for_nobody();
    let archive = archive_of_same(tmp.path());
    let home = nobodys_dir(tmp.path(), "home");
    let tmpdir = nobodys_dir(tmp.path(), "tmp");
    let out_dir = nobodys_dir(tmp.path(), "out");
    let run = |as_nobody: bool, name: &str| {
        let report = out_dir.join(format!("{name}.json"));
        let junit = out_dir.join(format!("{name}.xml"));
        let mut cmd = match as_nobody {
            true => {
                let mut c = Command::new("setpriv");
                c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                    .arg(&bin);
                c
            }
            false => Command::new(&bin),
        };
        cmd.args(["isolate", "test", "--archive-file"])
            .arg(&archive)
            .args([
                "--memory-max",
                "64M",
                "--allow-unenforced-limits",
                "--report",
            ])
            .arg(&report)
            .arg("--junit")
            .arg(&junit)
            .args(["--", "--exact", "tests::t1"])
            .current_dir(tmp.path())
            .env("HOME", &home)
            .env("TMPDIR", &tmpdir)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        let run = Run::of(&mut cmd, &report);
        let junit = std::fs::read_to_string(&junit).unwrap_or_default();
        (run, junit)
    };

    let (rootless, junit) = run(true, "rootless");
    assert_eq!(rootless.code(), 0, "{}", rootless.stderr());
    assert_eq!(rootless.cgroup(), "none");
    let r = &rootless.report;
    assert_eq!(r["settings"]["memory_max"], 64 << 20);
    assert_eq!(r["settings"]["enforced"]["memory_max"], false, "{r:#}");
    let t = &r["tests"][0];
    assert_eq!(t["limits"]["memory_max"], 64 << 20);
    assert_eq!(t["limits"]["enforced"]["memory_max"], false, "{t:#}");
    assert!(
        rootless
            .stderr()
            .contains("Limits not enforced: memory_max"),
        "{}",
        rootless.stderr()
    );
    assert!(
        junit.contains(r#"<property name="memory_max_enforced" value="false"/>"#),
        "{junit}"
    );

    let (root, junit) = run(false, "root");
    assert_eq!(root.code(), 0, "{}", root.stderr());
    assert_ne!(root.cgroup(), "none");
    let r = &root.report;
    assert_eq!(r["settings"]["enforced"]["memory_max"], true, "{r:#}");
    assert_eq!(r["tests"][0]["limits"]["enforced"]["memory_max"], true);
    assert!(!root.stderr().contains("not enforced"), "{}", root.stderr());
    assert!(
        junit.contains(r#"<property name="memory_max_enforced" value="true"/>"#),
        "{junit}"
    );
}
