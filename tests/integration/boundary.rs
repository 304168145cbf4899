//! The sandbox as a boundary: the hostile fixture's attacks are contained
//! (as root and as an ordinary user), a root test keeps what it owns (the
//! fidelity fixture), and bad input is refused before anything runs.

use super::*;

/// The hostile escape tests that fail on purpose; every other one passes
/// exactly when the sandbox contained its attack.
const FAIL_ON_PURPOSE: [&str; 2] = [
    "forged_report_is_not_a_pass",
    "escapes_in_output_fail_on_purpose",
];

/// The host side of every attack: a HOME and a CARGO_HOME with secrets in
/// them, a file a leaked fd would write to, a canary a listing-time
/// constructor would create.
struct Armed {
    _tmp: tempfile::TempDir,
    home: PathBuf,
    fd_file: PathBuf,
    canary: PathBuf,
}

fn arm(owner: Option<u32>) -> Armed {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::Builder::new()
        .prefix("isolate-armed-")
        .tempdir()
        .unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(home.join(".cargo")).unwrap();
    std::fs::write(home.join("secret.txt"), "host secret").unwrap();
    std::fs::write(home.join(".cargo/credentials.toml"), "token = \"s3cret\"\n").unwrap();
    std::fs::write(home.join(".cargo/credentials"), "token = \"s3cret\"\n").unwrap();
    std::fs::write(
        home.join(".npmrc"),
        "//registry.npmjs.org/:_authToken=s3cret\n",
    )
    .unwrap();
    std::fs::write(home.join(".pypirc"), "[pypi]\npassword = s3cret\n").unwrap();
    std::fs::create_dir_all(home.join(".config/gcloud")).unwrap();
    std::fs::write(home.join(".config/gcloud/credentials.db"), "s3cret").unwrap();
    let fd_file = tmp.path().join("fd-target");
    std::fs::write(&fd_file, "").unwrap();
    let canary = tmp.path().join("canary");
    for p in [tmp.path(), &home, &home.join(".cargo")] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    std::fs::set_permissions(&fd_file, std::fs::Permissions::from_mode(0o666)).unwrap();
    if let Some(uid) = owner {
        for p in [&home, &home.join(".cargo")] {
            std::os::unix::fs::chown(p, Some(uid), Some(uid)).unwrap();
        }
    }
    Armed {
        _tmp: tmp,
        home,
        fd_file,
        canary,
    }
}

impl Armed {
    /// `cmd` with fd 9 open on the host file and the attack variables set.
    fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c")
            .arg("exec 9>>\"$FD_FILE\"; exec \"$@\"")
            .arg("sh")
            .arg(program)
            .env("FD_FILE", &self.fd_file)
            .env("HOSTILE_FD", "9")
            .env("HOSTILE_CANARY", &self.canary)
            .env("HOME", &self.home)
            .env("CARGO_HOME", self.home.join(".cargo"))
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        cmd
    }

    /// Nothing reached the host.
    fn assert_untouched(&self) {
        assert!(
            !self.canary.exists(),
            "a static constructor ran outside the sandbox (listing?)"
        );
        assert_eq!(
            std::fs::read_to_string(&self.fd_file).unwrap(),
            "",
            "an fd of the runner reached a test"
        );
    }
}

/// The real toolchain, for a cargo run with another HOME.
fn rustup_home() -> PathBuf {
    std::env::var_os("RUSTUP_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".rustup"))
}

#[test]
fn hostile_tests_are_contained_as_root() {
    if !is_root() {
        return skip("needs root (the rootless half is its own test)");
    }
    let _g = host_wide();
    let (_tmp, dir) = fixture("hostile");
    let armed = arm(None);
    // What an earlier run left in the runner's own dir.
    let own = dir.join("target/isolate");
    std::fs::create_dir_all(own.join("scratch/0-1/tmp")).unwrap();
    std::fs::write(own.join("report.json"), "{}").unwrap();
    std::fs::write(own.join("scratch/0-1/tmp/live"), "another test's file").unwrap();
    let report = unique_report(&dir);
    let run = Run::of(
        armed
            .command(Path::new(BIN))
            .args(["isolate", "test", "--report"])
            .arg(&report)
            .current_dir(&dir)
            .env("RUSTUP_HOME", rustup_home()),
        &report,
    );
    let stderr = run.stderr();
    let text = std::fs::read_to_string(&report).unwrap();
    assert_eq!(run.code(), 100, "{stderr}");
    let (mut escapes, mut walls) = (0, 0);
    for (name, t) in run.tests() {
        let expected = if FAIL_ON_PURPOSE.contains(&name.as_str()) {
            "failed"
        } else {
            "passed"
        };
        if t["binary"] == "escape" {
            escapes += 1;
            assert_eq!(outcome(&t), expected, "{name}: {}", t["stdout"]);
        }
        if t["binary"] == "second_wall" && outcome(&t) != "ignored" {
            walls += 1;
            assert_eq!(outcome(&t), "passed", "{name}: {}", t["stderr"]);
        }
    }
    assert_eq!(escapes, 17, "every escape test ran: {stderr}");
    assert_eq!(walls, 12, "every second-wall test ran: {stderr}");
    // A listing that lies: its ghosts are failures, not passes.
    assert_outcome(&run, "ghost_test", "failed");
    assert_outcome(&run, "real_test", "passed");
    let ghost = run.test("ghost_test");
    assert!(
        ghost["error"].as_str().unwrap().contains("ran no test"),
        "{ghost}"
    );
    // The report keeps the bytes; the terminal gets them escaped.
    assert!(text.contains("evil\\u001b[2Jname"), "raw name kept in JSON");
    assert!(
        !run.out.stderr.contains(&0x1b),
        "a raw ESC reached the terminal:\n{stderr}"
    );
    assert!(
        stderr.contains("\\x1b"),
        "escapes are shown escaped: {stderr}"
    );
    armed.assert_untouched();

    // The same attacks without a sandbox get through (the fixture keeps
    // them harmless): these assertions can fail.
    let bare = arm(None);
    let report = unique_report(&dir);
    bare.command(Path::new(BIN))
        .args([
            "isolate",
            "test",
            "--isolation",
            "none",
            "--test",
            "escape",
            "--report",
        ])
        .arg(&report)
        .current_dir(&dir)
        .env("RUSTUP_HOME", rustup_home())
        .output()
        .unwrap();
    let report = read_report(&report);
    let failed = report["tests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["outcome"] == "failed")
        .count();
    assert!(
        failed >= 6,
        "only {failed} escapes got through without a sandbox"
    );
    assert!(
        bare.canary.exists(),
        "the constructor runs when unsandboxed"
    );
}

/// Rootless, through `cargo isolate run` on the prebuilt test binary (uid
/// 65534 cannot run this machine's toolchain): the same sandbox a test gets.
#[test]
fn hostile_tests_are_contained_rootless() {
    use std::os::unix::fs::PermissionsExt;
    if !is_root() {
        return skip("needs root to switch to uid 65534 with setpriv");
    }
    if !nobody_has_user_namespaces() {
        return skip("unprivileged user namespaces are off here");
    }
    let (tmp, dir) = fixture("hostile");
    let built = Command::new("cargo")
        .args(["test", "--no-run", "--message-format=json"])
        .args(["--test", "escape", "--test", "second_wall"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let executable = |target: &str| {
        String::from_utf8_lossy(&built.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|m| m["target"]["name"] == target)
            .find_map(|m| m["executable"].as_str().map(PathBuf::from))
            .unwrap_or_else(|| panic!("the {target} test binary"))
    };
    let (exe, wall) = (executable("escape"), executable("second_wall"));
    // Readable by nobody: the fixture dir and the binary's path.
    let open_up = |p: &Path| {
        for a in p
            .ancestors()
            .filter(|a| a.starts_with(std::env::temp_dir()))
        {
            let mode = std::fs::metadata(a).unwrap().permissions().mode();
            std::fs::set_permissions(a, std::fs::Permissions::from_mode(mode | 0o755)).unwrap();
        }
    };
    open_up(&exe);
    open_up(&wall);
    open_up(&dir);
    let (_bin_tmp, bin) = binary_for_nobody();
    let armed = arm(Some(65534));
    let _keep = tmp;
    let mut names: Vec<String> = Vec::new();
    let listing = Command::new(&exe)
        .args(["--list", "--format", "terse"])
        .output()
        .unwrap();
    for l in String::from_utf8_lossy(&listing.stdout).lines() {
        names.extend(l.strip_suffix(": test").map(String::from));
    }
    std::fs::remove_file(&armed.canary).ok(); // the listing above ran on the host
    assert_eq!(names.len(), 17, "{names:?}");
    // `run` has no target dir to keep private: that one is `test`'s (the
    // root half checks it).
    let mut runs: Vec<(&Path, &str)> = names
        .iter()
        .filter(|n| *n != "runner_files_hidden")
        .map(|n| (exe.as_path(), n.as_str()))
        .collect();
    runs.extend(super::second_wall::SECOND_WALL.map(|n| (wall.as_path(), n)));
    for (exe, name) in runs {
        let out = armed
            .command(Path::new("setpriv"))
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&bin)
            .args(["run", "--"])
            .arg(exe)
            .args([name, "--exact", "--nocapture"])
            .current_dir(&dir)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let expected = if FAIL_ON_PURPOSE.contains(&name) {
            101
        } else {
            0
        };
        assert_eq!(
            out.status.code(),
            Some(expected),
            "{name} as uid 65534:\n{}\n{stderr}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    armed.assert_untouched();
}

/// What a root test owns, it keeps: raw sockets, SO_MARK, every id,
/// its own /sys.
#[test]
fn a_root_test_keeps_what_it_owns() {
    if !is_root() {
        return skip("the fidelity fixture is about root tests");
    }
    let (_tmp, dir) = fixture("fidelity");
    let run = isolate_test(&dir, &[]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let tests = run.tests();
    assert_eq!(tests.len(), 12, "{}", run.stderr());
    for (name, t) in tests {
        assert_eq!(outcome(&t), "passed", "{name}: {}", t["stderr"]);
        assert!(
            !t["stderr"].as_str().unwrap_or("").contains("SKIPPED"),
            "{name} skipped itself"
        );
    }
}

#[test]
fn env_clear_keeps_only_cargo_variables_and_the_named_ones() {
    let out = Command::new(BIN)
        .args([
            "run",
            "--env-clear",
            "--env",
            "KEPT=yes",
            "--env",
            "FROM_HOST",
            "--",
        ])
        .args([
            "/bin/sh",
            "-c",
            "env | cut -d= -f1 | sort | tr '\\n' ' '; echo; echo $KEPT $FROM_HOST",
        ])
        .env("FROM_HOST", "host-value")
        .env("DROPPED", "x")
        .output()
        .unwrap();
    assert_code(&out, 0);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let (names, values) = stdout.split_once('\n').unwrap();
    assert!(
        !names.contains("DROPPED") && !names.contains("HOME "),
        "{names}"
    );
    assert!(
        names.contains("PATH") && names.contains("TMPDIR"),
        "{names}"
    );
    assert_eq!(values.trim(), "yes host-value");
    // In a test, cargo's variables are there too.
    let (_tmp, dir) = fixture("demo");
    let run = isolate_test(&dir, &["--env-clear", "--env", "DEMO_EXTRA=1"]);
    assert!(run.tests().len() > 1, "{}", run.stderr());
    assert!(
        run.tests().values().all(|t| outcome(t) != "setup_error"),
        "{}",
        run.stderr()
    );
}

/// `run` from /, and with more arguments than one argv string may hold.
#[test]
fn run_from_the_root_dir_and_with_megabytes_of_arguments() {
    let out = Command::new(BIN)
        .args([
            "run",
            "--",
            "/bin/sh",
            "-c",
            "pwd; test -d /usr/bin && echo ok",
        ])
        .current_dir("/")
        .output()
        .unwrap();
    assert_code(&out, 0);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "/\nok\n");
    // 2,000 arguments of 100 bytes: 200 KiB, over the 128 KiB of one string.
    let many: Vec<String> = (0..2000).map(|i| format!("{i:0100}")).collect();
    let out = Command::new(BIN)
        .args(["run", "--", "/bin/sh", "-c", "echo $#", "sh"])
        .args(&many)
        .output()
        .unwrap();
    assert_code(&out, 0);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "2000\n");
}

/// HOME is the package dir: the package stays visible (and its secrets do
/// not); HOME is elsewhere: an empty directory.
#[test]
fn home_is_empty_or_the_package_but_never_holds_secrets() {
    let armed = arm(None);
    let out = armed
        .command(Path::new(BIN))
        .args(["run", "--", "/bin/sh", "-c"])
        .arg(
            "ls -A $HOME | tr '\\n' ' '; cd $HOME; \
             cat .cargo/credentials.toml .npmrc .pypirc .config/gcloud/credentials.db 2>/dev/null; echo",
        )
        .current_dir(&armed.home)
        .output()
        .unwrap();
    assert_code(&out, 0);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("secret.txt"),
        "run from HOME shows it: {stdout}"
    );
    assert!(!stdout.contains("s3cret"), "credentials leaked: {stdout}");

    let (_tmp, dir) = fixture("probes");
    let run = Command::new(BIN)
        .args([
            "run",
            "--",
            "/bin/sh",
            "-c",
            "ls -A $HOME | grep -v -e '^.cargo$' -e '^.rustup$' | wc -l",
        ])
        .current_dir(&dir)
        .env("HOME", &armed.home)
        .env("CARGO_HOME", armed.home.join(".cargo"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&run.stdout), "0\n", "HOME is empty");
}

#[test]
fn read_only_source_works_without_a_target_tmp_dir() {
    let (_tmp, dir) = fixture("probes");
    let built = Command::new("cargo")
        .args(["test", "--no-run", "-q"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(built.status.success());
    // Built, then the dir is gone (a cleaned target, another checkout).
    let _ = std::fs::remove_dir_all(dir.join("target/tmp"));
    let run = isolate_test(&dir, &["--read-only-source", "target_tmpdir"]);
    assert!(!run.tests().is_empty(), "{}", run.stderr());
    for (name, t) in run.tests() {
        assert_eq!(outcome(&t), "passed", "{name}: {}", run.stderr());
    }
}

/// Limits that can never work, and values that once panicked: usage
/// errors (exit 2) with a message, before anything is built.
#[test]
fn impossible_limits_are_usage_errors() {
    for args in [
        &["--timeout", "1e30"][..],
        &["--timeout", "1e19"],
        &["--timeout", "500000000000y"],
        &["--memory-max", "1"],
        &["--pids-max", "0"],
        &["--pids-max", "1"],
        &["--cpus", "1e300"],
        &["--hostname", &"h".repeat(65)],
        &["-j", "0"],
    ] {
        for sub in ["test", "run"] {
            if sub == "run" && args[0] == "-j" {
                continue;
            }
            let out = Command::new(BIN)
                .arg(sub)
                .args(args)
                .args(if sub == "run" {
                    &["--", "/bin/true"][..]
                } else {
                    &[]
                })
                .current_dir(std::env::temp_dir())
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{sub} {args:?}: {stderr}");
            assert!(stderr.contains("invalid value"), "{sub} {args:?}: {stderr}");
        }
    }
}

#[test]
fn ctrl_c_during_run_exits_130() {
    let mut child = Command::new(BIN)
        .args(["run", "--", "/bin/sh", "-c", "echo started; sleep 30"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 8];
    use std::io::Read;
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut first)
        .unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_code(&out, 130);
}

/// A report that cannot be written loses nothing else: the summary and
/// the failures are printed, and the exit code says the tests failed.
#[test]
fn an_unwritable_report_still_shows_the_failures() {
    let (_tmp, dir) = fixture("demo");
    let out = Command::new(BIN)
        .args(["isolate", "test", "--report", "/proc/no/such/report.json"])
        .current_dir(&dir)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(100), "{stderr}");
    assert!(stderr.contains("Summary"), "{stderr}");
    assert!(
        stderr.contains("FAIL [") && stderr.contains("demo tests::fails_on_purpose: panicked"),
        "the failure is listed with its reason: {stderr}"
    );
    assert!(stderr.contains("/proc/no/such/report.json"), "{stderr}");
}

/// Without the seccomp filter (which refuses new cgroup namespaces), a root
/// test can mount its own cgroup namespace and write what it sees there
/// (it maps to host uid 0); what it sees is a child of the cgroup that
/// holds its limits, so raising "its" limit changes nothing.
#[test]
fn a_root_test_cannot_raise_its_own_memory_limit() {
    if !is_root() {
        return skip("only root inside maps to the owner of the cgroup files");
    }
    let raise = "mkdir -p /tmp/cg && unshare -C -m /bin/sh -c '\
        if mount -t cgroup -o memory none /tmp/cg 2>/dev/null; then \
          echo 1073741824 > /tmp/cg/memory.memsw.limit_in_bytes; \
          echo 1073741824 > /tmp/cg/memory.limit_in_bytes; \
        else mount -t cgroup2 none /tmp/cg && echo max > /tmp/cg/memory.max; fi; \
        mkdir /tmp/cg/escape && echo $$ > /tmp/cg/escape/cgroup.procs && echo raised' && \
        python3 -c 'b = bytearray(200 << 20); print(\"allocated\")'";
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["run", "--memory-max", "64M", "--seccomp", "none", "--"])
        .args(["/bin/sh", "-c", raise])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    if stderr.contains("cannot be enforced") {
        return skip("no cgroup memory controller here");
    }
    assert!(
        stdout.contains("raised"),
        "the attack itself ran: {stdout}{stderr}"
    );
    assert!(
        !stdout.contains("allocated"),
        "the limit was raised: {stderr}"
    );
    assert!(stderr.contains("oom_killed"), "{stderr}");
}

/// `--scratch disk`: /tmp, HOME and the overlays' upper layers on disk, so
/// 100 MiB of temp files fit under a 64 MiB limit; nothing is left after.
#[test]
fn scratch_on_disk_holds_more_than_the_memory_limit() {
    // `run --scratch disk` shares one parent dir per uid, whose absence
    // the scratch tests check: one at a time.
    let _g = host_wide();
    let dir = tempfile::tempdir().unwrap();
    let write = |scratch: &str| {
        let out = Command::new(BIN)
            .args(["run", "--memory-max", "64M", "--scratch", scratch, "--"])
            .args([
                "/bin/sh",
                "-c",
                "dd if=/dev/zero of=/tmp/big bs=1M count=100 2>/dev/null && stat -c %s /tmp/big",
            ])
            .current_dir(dir.path())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, _, stderr) = write("memory");
    if stderr.contains("cannot be enforced") {
        return skip("no cgroup memory controller here");
    }
    assert_ne!(
        code,
        Some(0),
        "a 32 MiB tmpfs cannot take 100 MiB: {stderr}"
    );
    let (code, stdout, stderr) = write("disk");
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout, "104857600\n");
    let parent = format!("/var/tmp/cargo-isolate-scratch-{}", nix::unistd::getuid());
    // Nothing at all is left: no run dir, no empty parent.
    let left = |dir: &Path| std::fs::read_dir(dir).map(|d| d.count()).ok();
    assert_eq!(left(Path::new(&parent)), None, "scratch left in {parent}");

    // Every isolation probe holds with the writable places on disk.
    let (_tmp, fx) = fixture("probes");
    let run = isolate_test(&fx, &["--scratch", "disk", "--test", "isolation"]);
    assert!(run.tests().len() > 20, "{}", run.stderr());
    for (name, t) in run.tests() {
        assert_eq!(outcome(&t), "passed", "{name}: {}", t["stderr"]);
    }
    let scratch = fx.join("target/isolate/scratch");
    assert_eq!(
        left(&scratch),
        None,
        "scratch left in {}",
        scratch.display()
    );
}

/// Filling the sandbox's tmpfs with empty files ends in ENOSPC at the inode
/// bound, not in an OOM kill or unbounded kernel memory (issue 20).
#[test]
fn empty_files_fill_the_tmpfs_with_enospc_not_an_oom_kill() {
    if !is_root() && !nobody_has_user_namespaces() {
        return skip("no sandbox can be made here");
    }
    let fill = "import errno, os\n\
                n = 0\n\
                try:\n\
                \x20   while True:\n\
                \x20       os.mkdir(f'/tmp/d{n}'); n += 1\n\
                except OSError as e:\n\
                \x20   print(errno.errorcode[e.errno], n)\n";
    let mut args = vec!["run", "--tmpfs-size", "16M"];
    let limited = is_root();
    if limited {
        args.extend(["--memory-max", "64M"]);
    }
    let out = Command::new(BIN)
        .args(&args)
        .args(["--", "/usr/bin/python3", "-c", fill])
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_code(&out, 0);
    let (code, made) = stdout.trim().split_once(' ').unwrap_or(("", ""));
    assert_eq!(code, "ENOSPC", "{stdout}{stderr}");
    // 16 MiB / 4 KiB = 4096 inodes, less the sandbox's own mount points.
    let made: u64 = made.parse().unwrap();
    assert!(
        (3000..=4096).contains(&made),
        "{made} directories: {stderr}"
    );
    if limited {
        assert!(!stderr.contains("oom"), "{stderr}");
    }
}

/// `--scratch disk` is bounded: a filesystem image of `--scratch-size` in
/// the sandbox, so a test that writes more gets ENOSPC, the host's disk
/// keeps its room, and no loop device or mount is left (issue 20).
#[test]
fn scratch_on_disk_is_bounded_by_scratch_size() {
    if !is_root() {
        return skip("the bound is a loop-mounted image: root only");
    }
    let _g = host_wide();
    let dir = tempfile::tempdir().unwrap();
    let loops_before = std::fs::read_to_string("/proc/partitions").unwrap();
    let out = Command::new(BIN)
        .args(["run", "--scratch", "disk", "--scratch-size", "64M", "--"])
        .args([
            "/bin/sh",
            "-c",
            "fallocate -l 3G /tmp/big; echo fallocate=$?; \
             dd if=/dev/zero of=/var/tmp/big bs=1M count=100 2>&1 | grep -o 'No space left on device'; \
             stat -f -c %b /tmp",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_code(&out, 0);
    assert!(
        stdout.contains("fallocate=1"),
        "3 GiB fit: {stdout}{stderr}"
    );
    assert!(
        stdout.contains("No space left on device"),
        "{stdout}{stderr}"
    );
    // The filesystem /tmp is on is the 64 MiB image.
    let blocks: u64 = stdout.lines().last().unwrap().parse().unwrap();
    assert!(blocks * 1024 <= 64 << 20, "{stdout}");
    let parent = format!("/var/tmp/cargo-isolate-scratch-{}", nix::unistd::getuid());
    assert!(!Path::new(&parent).exists(), "scratch left in {parent}");
    assert!(
        !std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .contains("cargo-isolate"),
        "a mount was left"
    );
    // Loop devices are auto-cleared once the sandbox's mount is gone, by
    // the kernel, a little later: waited for, with a deadline for a loaded
    // machine.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut loops = std::fs::read_to_string("/proc/partitions").unwrap();
    while loops != loops_before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        loops = std::fs::read_to_string("/proc/partitions").unwrap();
    }
    assert_eq!(loops, loops_before, "a loop device was left");

    // More than the disk can give the sandboxes at once: refused, before
    // anything runs.
    let out = Command::new(BIN)
        .args([
            "run",
            "--scratch",
            "disk",
            "--scratch-size",
            "1000000G",
            "--",
            "/bin/true",
        ])
        .output()
        .unwrap();
    assert_code(&out, 96);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--scratch-size") && stderr.contains("free on the disk"),
        "{stderr}"
    );
    assert!(!Path::new(&parent).exists(), "a refused run left {parent}");
}

/// Rootless, the `--scratch-size` bound (a loop-mounted image) cannot be
/// had: the run says so and refuses, and leaves no scratch dir behind.
#[test]
fn scratch_size_is_refused_rootless() {
    if !is_root() {
        return skip("needs root to switch to uid 65534 with setpriv");
    }
    if !nobody_has_user_namespaces() {
        return skip("unprivileged user namespaces are off here");
    }
    // The scratch parent dir is per uid; its absence is checked: alone.
    let _g = host_wide();
    let (_bin_tmp, bin) = binary_for_nobody();
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&bin)
        .args([
            "run",
            "--scratch",
            "disk",
            "--scratch-size",
            "64M",
            "--",
            "/bin/true",
        ])
        .current_dir("/")
        .output()
        .unwrap();
    assert_code(&out, 96);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--scratch-size cannot be enforced: it needs root"),
        "{stderr}"
    );
    let theirs = "/var/tmp/cargo-isolate-scratch-65534";
    assert!(!Path::new(theirs).exists(), "a refused run left {theirs}");
}
