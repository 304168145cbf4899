//! Issue 24: where users run it without a bare root VM. A limit the host
//! could not set is said to be unenforced in every output; an OOM kill at
//! an enclosing cgroup's limit (a container's, a CI job's) is told apart
//! from one at the test's own limit.

use super::{BIN, archive_of, binary_for_nobody, nobodys_dir};
use crate::support::report::Run;
use crate::support::skip::{is_root, nobody_has_user_namespaces, skip};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

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
    let archive = archive_of("same", tmp.path());
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

/// A cgroup v1 memory cgroup of our own, below the one this test runs in,
/// with a limit: what a container's or a CI job's limit is to the tool.
/// Removed on drop (the processes moved into it have exited by then).
struct Enclosing {
    dir: PathBuf,
    /// Its name as /proc/self/cgroup says it.
    name: String,
}

impl Enclosing {
    /// A memory cgroup limited to `limit` beside this process's own: a
    /// child of its v1 memory cgroup, or on v2 a sibling of its cgroup
    /// (whose processes forbid it children with controllers).
    fn create(limit: &str) -> Option<Enclosing> {
        let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
        let v1 = own.lines().find_map(|l| {
            let mut parts = l.splitn(3, ':');
            let (_, ctl, path) = (parts.next()?, parts.next()?, parts.next()?);
            ctl.split(',')
                .any(|c| c == "memory")
                .then(|| path.to_string())
        });
        let (mount, parent, files) = match v1 {
            Some(path) if Path::new("/sys/fs/cgroup/memory").is_dir() => (
                Path::new("/sys/fs/cgroup/memory"),
                path,
                &["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"][..],
            ),
            _ => {
                let path = own.lines().find_map(|l| l.strip_prefix("0::"))?;
                let parent = Path::new(path).parent()?.to_str()?.to_string();
                let mount = Path::new("/sys/fs/cgroup");
                let control = mount
                    .join(parent.trim_start_matches('/'))
                    .join("cgroup.subtree_control");
                let enabled = std::fs::read_to_string(control).ok()?;
                if !enabled.split_whitespace().any(|c| c == "memory") {
                    return None;
                }
                (mount, parent, &["memory.max", "memory.swap.max"][..])
            }
        };
        let name = format!(
            "{}/isolate-it-enclosing-{}",
            parent.trim_end_matches('/'),
            std::process::id()
        );
        let dir = mount.join(name.trim_start_matches('/'));
        std::fs::create_dir(&dir).ok()?;
        let e = Enclosing { dir, name };
        if files[0] == "memory.max" {
            // Its children (the runner's leaf) need the controllers too.
            for c in ["+memory", "+pids", "+cpu"] {
                let _ = std::fs::write(e.dir.join("cgroup.subtree_control"), c);
            }
        }
        for file in files {
            if e.dir.join(file).exists() {
                // The swap limit on v2 is in addition to memory: none.
                let value = if *file == "memory.swap.max" {
                    "0"
                } else {
                    limit
                };
                std::fs::write(e.dir.join(file), value).unwrap();
            }
        }
        Some(e)
    }
}

impl Drop for Enclosing {
    /// With what the run left in it: on v2 the runner moved itself into a
    /// leaf there, which outlives it (empty).
    fn drop(&mut self) {
        fn remove(dir: &Path) {
            if let Ok(entries) = std::fs::read_dir(dir) {
                for e in entries.flatten() {
                    if e.file_type().is_ok_and(|t| t.is_dir()) {
                        remove(&e.path());
                    }
                }
            }
            let _ = std::fs::remove_dir(dir);
        }
        remove(&self.dir);
    }
}

/// A container limited to 150 MiB: the tool runs in a cgroup of that limit
/// and a test that needs 200 MiB gets --memory-max 1G. The kernel counts
/// the kill in the test's cgroup, whose limit it never reached; the reason
/// said "killed at the memory limit of 1.0 GiB". Now it names the
/// enclosing cgroup and its limit.
#[test]
fn an_oom_kill_at_an_enclosing_limit_names_that_cgroup() {
    if !is_root() {
        return skip("needs root to make a memory cgroup with a limit");
    }
    let tmp = tempfile::tempdir().unwrap();
    // Packed outside the limit: the build is not what is measured.
    let archive = archive_of("hungry", tmp.path());
    let Some(enclosing) = Enclosing::create("150M") else {
        return skip("no memory cgroup here to make an enclosing limit in");
    };
    let report = tmp.path().join("report.json");
    // Each command in a leaf of its own below the limit: on v2 a cgroup
    // whose children have controllers (a run made some) holds no process.
    let script = format!(
        "d={}/sh-$$ && mkdir \"$d\" && echo $$ > \"$d/cgroup.procs\" && exec \"$@\"",
        enclosing.dir.display()
    );
    let mut cmd = Command::new("/bin/sh");
    cmd.args([
        "-c",
        &script,
        "sh",
        BIN,
        "isolate",
        "test",
        "--archive-file",
    ])
    .arg(&archive)
    .args(["--memory-max", "1G", "--report"])
    .arg(&report)
    .args(["--", "--exact", "tests::needs_200_mib"])
    .current_dir(tmp.path())
    .env("TMPDIR", tmp.path())
    .env("NO_COLOR", "1")
    .stdin(Stdio::null());
    let run = Run::of(&mut cmd, &report);
    let t = &run.report["tests"][0];
    assert_eq!(t["outcome"], "oom_killed", "{t:#}\n{}", run.stderr());
    assert_eq!(
        t["outside_oom"]["cgroup"],
        enclosing.name.as_str(),
        "{}",
        run.stderr()
    );
    assert_eq!(t["outside_oom"]["limit_bytes"], 150 << 20, "{t:#}");
    let want = format!(
        "killed by the OOM killer outside the test's own memory limit of 1.0 GiB: the memory \
         limit of 150.0 MiB of the enclosing cgroup {} was hit",
        enclosing.name
    );
    assert!(run.stderr().contains(&want), "{}", run.stderr());

    // `cargo isolate run` says it too.
    let out = Command::new("/bin/sh")
        .args(["-c", &script, "sh", BIN, "run", "--memory-max", "1G", "--"])
        .args(["/bin/sh", "-c", "head -c 300M /dev/zero | tail > /dev/null"])
        .current_dir(tmp.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("oom_killed"), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "the OOM kill came from outside the sandbox's own memory limit: the memory limit of \
             150.0 MiB of the enclosing cgroup {} was hit",
            enclosing.name
        )),
        "{stderr}"
    );

    // Its own limit, outside any small enclosing one: its own, as before
    // (memsw refuses first there and keeps no failcnt).
    let mut cmd = Command::new(BIN);
    cmd.args(["isolate", "test", "--archive-file"])
        .arg(&archive)
        .args(["--memory-max", "64M", "--report"])
        .arg(&report)
        .args(["--", "--exact", "tests::needs_200_mib"])
        .current_dir(tmp.path())
        .env("TMPDIR", tmp.path())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    let run = Run::of(&mut cmd, &report);
    let t = &run.report["tests"][0];
    assert_eq!(t["outcome"], "oom_killed", "{t:#}\n{}", run.stderr());
    assert!(t.get("outside_oom").is_none(), "{t:#}");
    assert!(
        run.stderr()
            .contains("killed at the memory limit of 64.0 MiB"),
        "{}",
        run.stderr()
    );
}
