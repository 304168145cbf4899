//! The second wall: a root test cannot reach host cgroups or the user's
//! keyrings, the seccomp filter refuses what it names (built-in or an OCI
//! profile), and a fork bomb stops at the default pids limit. The host
//! side is checked after each run: no new directory in any cgroup
//! hierarchy, no key added to the runner's session keyring.

use super::*;

/// Every directory under /sys/fs/cgroup but the runs' own (other tests
/// running at the same time make and remove those).
fn cgroup_dirs() -> std::collections::BTreeSet<PathBuf> {
    fn walk(dir: &Path, out: &mut std::collections::BTreeSet<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir())
                && !e
                    .file_name()
                    .to_string_lossy()
                    .starts_with("cargo-isolate-")
            {
                out.insert(p.clone());
                walk(&p, out);
            }
        }
    }
    let mut out = std::collections::BTreeSet::new();
    walk(Path::new("/sys/fs/cgroup"), &mut out);
    out
}

/// `cargo isolate test ARGS` on the hostile fixture inside a new session
/// keyring holding one secret (keyutils' `keyctl session`); returns the run
/// and the key ids the session keyring held after it.
fn in_keyring_session(dir: &Path, mark: &str, args: &[&str]) -> (Run, Vec<String>) {
    let report = unique_report(dir);
    let keys_after = dir.join(format!("keys-after-{mark}"));
    let script = "keyctl add user \"$HOSTILE_KEY_DESC\" s3cret @s >/dev/null || exit 90; \
                  \"$@\"; rc=$?; keyctl rlist @s > \"$KEYS_AFTER\"; exit $rc";
    let mut cmd = Command::new("keyctl");
    cmd.args([
        "session", "-", "sh", "-c", script, "sh", BIN, "isolate", "test",
    ])
    .args(["--report", report.to_str().unwrap()])
    .args(args)
    .current_dir(dir)
    .env("HOSTILE_CGROUP_MARK", mark)
    .env("HOSTILE_KEY_DESC", format!("{mark}-secret"))
    .env("KEYS_AFTER", &keys_after)
    .env("NO_COLOR", "1")
    .stdin(Stdio::null());
    let run = Run::of(&mut cmd, &report);
    let keys = std::fs::read_to_string(&keys_after)
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect();
    (run, keys)
}

/// Removes (and names) any directory called `mark` under /sys/fs/cgroup.
fn marks_left(mark: &str) -> Vec<PathBuf> {
    let left: Vec<PathBuf> = cgroup_dirs()
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == mark))
        .collect();
    for p in &left {
        let _ = std::fs::remove_dir(p);
    }
    left
}

/// The hostile second_wall tests that run by default (as root and rootless).
pub(crate) const SECOND_WALL: [&str; 12] = [
    "cgroup_namespace_refused",
    "host_cgroups_unreachable",
    "keyring_calls_refused",
    "clone3_falls_back_to_clone",
    "modules_and_kexec_refused",
    "reboot_swap_and_accounting_refused",
    "the_clock_is_refused",
    "the_kernel_log_is_refused",
    "fanotify_is_refused",
    "open_by_handle_is_refused",
    "bpf_is_refused",
    "typing_into_a_terminal_is_refused",
];
#[test]
fn a_root_test_reaches_no_host_cgroup_and_no_key() {
    if !is_root() {
        return skip("the attacks are a root test's (rootless: see the rootless boundary test)");
    }
    if !has_tool("keyctl", &["--version"]) {
        return skip("keyutils' keyctl is not installed (apt-get install keyutils; .ci/run does)");
    }
    let _g = host_wide();
    let (_tmp, dir) = fixture("hostile");
    let before = cgroup_dirs();
    let mark = format!("isolate-mark-{}", std::process::id());

    let (run, keys) = in_keyring_session(&dir, &mark, &["--test", "second_wall"]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_eq!(run.report["settings"]["seccomp"], "default");
    for name in SECOND_WALL {
        let t = run.test(name);
        assert_eq!(outcome(&t), "passed", "{name}: {}", t["stderr"]);
    }
    assert_eq!(
        marks_left(&mark),
        Vec::<PathBuf>::new(),
        "a test made a host cgroup"
    );
    assert_eq!(cgroup_dirs(), before, "cgroup directories changed");
    assert_eq!(keys.len(), 1, "the session keyring after the run: {keys:?}");

    // Without the filter the calls get through, but into what the run
    // owns: its own cgroup directories, a fresh session keyring.
    let (run, keys) =
        in_keyring_session(&dir, &mark, &["--test", "second_wall", "--seccomp", "none"]);
    assert_eq!(run.code(), 100, "{}", run.stderr());
    assert_eq!(run.report["settings"]["seccomp"], "none");
    // Only the filter refuses these, on any kernel; the others the kernel
    // may refuse on its own too, depending on how it was built and set
    // (modules, kexec, bpf, dmesg_restrict): for them the filter is a
    // second wall.
    let filter_only = [
        "cgroup_namespace_refused",
        "host_cgroups_unreachable",
        "keyring_calls_refused",
        "clone3_falls_back_to_clone",
        "the_clock_is_refused",
        "fanotify_is_refused",
        "typing_into_a_terminal_is_refused",
    ];
    for name in filter_only {
        assert_eq!(
            outcome(&run.test(name)),
            "failed",
            "{name} under --seccomp none"
        );
    }
    let reached = run.test("host_cgroups_unreachable");
    assert!(
        reached["stderr"].as_str().unwrap().contains("made"),
        "the hierarchies mounted, and the mark was made where the run owns it: {reached}"
    );
    assert_eq!(
        marks_left(&mark),
        Vec::<PathBuf>::new(),
        "a mark outlived the run"
    );
    assert_eq!(cgroup_dirs(), before, "cgroup directories changed");
    assert_eq!(keys.len(), 1, "a key outlived the run: {keys:?}");

    // No sandbox, no filter: --isolation none runs a test as cargo test
    // would (the default filter sits on the zygote only when every test of
    // the run is sandboxed).
    let run = isolate_test(
        &dir,
        &[
            "--isolation",
            "none",
            "--test",
            "second_wall",
            "cgroup_namespace_refused",
        ],
    );
    assert_outcome(&run, "cgroup_namespace_refused", "failed");
    assert!(
        run.report["settings"].get("seccomp").is_none(),
        "{}",
        run.report["settings"]
    );
}

#[test]
fn a_fork_bomb_stops_at_the_default_pids_limit() {
    if !is_root() {
        return skip("the default pids limit needs a writable cgroup (root here)");
    }
    let (_tmp, dir) = fixture("hostile");
    let run = isolate_test(
        &dir,
        &[
            "--test",
            "second_wall",
            "--run-ignored",
            "only",
            "--timeout",
            "120s",
            // 4096 threads stay within this (about 140 KiB each, kernel
            // stacks included); the v2 lane's guest would not survive them
            // without it.
            "--memory-max",
            "768M",
            "fork_bomb",
        ],
    );
    assert_eq!(run.code(), 100, "{}", run.stderr());
    assert_eq!(run.report["settings"]["pids_max"], 4096);
    let t = run.test("fork_bomb");
    assert_eq!(outcome(&t), "failed", "{t}");
    assert_eq!(t["exit_code"], 3, "{t}");
    assert_eq!(t["limits"]["pids_max"], 4096, "{t}");
    assert!(t["pids_max_hits"].as_u64().unwrap() > 0, "{t}");
    assert!(
        t["stderr"].as_str().unwrap().contains("fork refused after"),
        "{t}"
    );
    assert!(
        run.stderr().contains("refused at the pids limit of 4096"),
        "the terminal names the limit that stopped it:\n{}",
        run.stderr()
    );
    assert!(t["pids_peak"].as_u64().unwrap() <= 4096, "{t}");
}

#[test]
fn a_seccomp_profile_refuses_what_it_names() {
    if !is_root() && !nobody_has_user_namespaces() {
        return skip("no sandbox can be made here");
    }
    let (_tmp, dir) = fixture("hostile");
    let profile = dir.join("profile.json");
    std::fs::write(
        &profile,
        r#"{"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 18}]}"#,
    )
    .unwrap();
    let args = |seccomp: &'static str| {
        vec![
            "--test",
            "second_wall",
            "--run-ignored",
            "only",
            "--seccomp",
            seccomp,
            "custom_profile_refuses_mkdir",
        ]
    };
    let run = isolate_test(&dir, &args("profile.json"));
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_outcome(&run, "custom_profile_refuses_mkdir", "passed");
    // The same test under the default profile makes its directory.
    let run = isolate_test(&dir, &args("default"));
    assert_outcome(&run, "custom_profile_refuses_mkdir", "failed");

    // A broken profile is a usage error that says where, before any build.
    std::fs::write(
        &profile,
        r#"{"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_DENY"}]}"#,
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["isolate", "test", "--seccomp", "profile.json"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_code(&out, 2);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("profile.json, syscalls[0].action: unknown action \"SCMP_ACT_DENY\""),
        "{stderr}"
    );
    assert!(!stderr.contains("Compiling"), "it built first: {stderr}");
}
