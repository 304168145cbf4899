//! Nothing leaks from one test to the next on the same worker
//! (`fixtures/leaky`): each kind of state has a leaver, `a_leaves::<kind>`,
//! that leaves it behind wherever a test can reach (files in every writable
//! place, a background process, sockets on a fixed port, network sysctls,
//! SysV and POSIX IPC objects with fixed keys, the hostname, 200 MiB of
//! memory), and a finder, `b_finds::<kind>`, that fails naming what it found.
//! With `-j 1` they run one after another in id order (the next sandbox is
//! set up meanwhile, but its test waits its turn): every leaver, then every
//! finder. A failing finder names the leak.
//!
//! The finders can fail: in one shared sandbox (`--isolation per-binary`)
//! every one of them does, and without a sandbox they see the host's state.

use super::*;

/// One pair each: `a_leaves::<kind>` and `b_finds::<kind>`, in id order.
const KINDS: [&str; 7] = [
    "files",
    "hostname",
    "memory",
    "net_sysctls",
    "process",
    "socket",
    "sysv_ipc",
];

/// The pairs that live in the network namespace.
const NETWORK_KINDS: [&str; 2] = ["net_sysctls", "socket"];

/// The fixture's fixed names (fixtures/leaky/src/lib.rs).
const MARKER: &str = "leaky-left-behind";
const SLEEPER: &str = "sleep 4242";
const HOLDER: &str = "sleep 4243";
const IPC_KEYS: [i64; 3] = [0x1eaf_0001, 0x1eaf_0002, 0x1eaf_0003];
const SYSCTLS: [&str; 3] = [
    "/proc/sys/net/ipv4/ip_local_port_range",
    "/proc/sys/net/ipv4/ping_group_range",
    "/proc/sys/net/core/somaxconn",
];

fn leaver(kind: &str) -> String {
    format!("a_leaves::{kind}")
}

fn finder(kind: &str) -> String {
    format!("b_finds::{kind}")
}

fn stdout_of(run: &Run, name: &str) -> String {
    run.test(name)["stdout"].as_str().unwrap_or("").to_string()
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// What the host shows of the settings a leaver changes in its namespaces.
fn host_settings() -> Vec<String> {
    ["/proc/sys/kernel/hostname", "/proc/sys/kernel/domainname"]
        .iter()
        .chain(SYSCTLS.iter())
        .map(|p| format!("{p} = {}", read_trimmed(p)))
        .collect()
}

/// Every leaver passed and, as root, left everything it tried to (a
/// finder's pass means nothing if its leaver left nothing).
fn assert_leavers_left_everything(run: &Run, kinds: &[&str]) {
    for kind in kinds {
        let name = leaver(kind);
        assert_outcome(run, &name, "passed");
        let out = stdout_of(run, &name);
        assert!(!out.contains("could not leave"), "{name}:\n{out}");
        assert!(
            out.contains("left: ") || *kind == "memory",
            "{name} says what it left:\n{out}"
        );
    }
}

/// Every leaver started before any finder, and `-j 1` runs one test at a
/// time. Only starts are compared: `started_at` is the runner's clock when
/// a test's init said it started, `duration_ms` the init's own count, and
/// their sum overshoots the end by how late that message came (seen 15 ms
/// on an idle machine; more under load), so it cannot date an end. Starts
/// have millisecond resolution: two may fall within one.
fn assert_leavers_ran_first(run: &Run) {
    let start = |name: &str| {
        let test = run.test(name);
        humantime::parse_rfc3339(test["started_at"].as_str().unwrap()).unwrap()
    };
    let last = KINDS
        .iter()
        .map(|k| leaver(k))
        .max_by_key(|n| start(n))
        .unwrap();
    let first = KINDS
        .iter()
        .map(|k| finder(k))
        .min_by_key(|n| start(n))
        .unwrap();
    assert!(
        start(&first) >= start(&last),
        "{first} started at {:?}, before {last} at {:?}",
        start(&first),
        start(&last)
    );
}

/// The memory leaver's peak is over 200 MiB, the finder's after it is small:
/// the cgroup's counter does not carry over (peak RSS where there is no cgroup).
fn assert_memory_did_not_carry_over(run: &Run) {
    let field = match run.cgroup() {
        "none" => "peak_rss_bytes",
        _ => "peak_memory_bytes",
    };
    let peak = |name: String| run.test(&name)[field].as_u64().unwrap();
    let (left, found) = (peak(leaver("memory")), peak(finder("memory")));
    assert!(left >= 200 * MIB, "the leaver's {field} is {left}");
    assert!(
        found < 64 * MIB,
        "the finder's {field} is {} MiB after a 200 MiB test",
        found / MIB
    );
}

/// A fixture copy's package dir and the target dirs where a test writes.
fn copies(dir: &Path) -> Vec<PathBuf> {
    vec![
        dir.to_path_buf(),
        dir.join("target/debug/deps"),
        dir.join("target/tmp"),
    ]
}

/// Nothing a leaver made is on the host: no IPC object with the fixture's
/// keys, no leftover process, no marker file in the host's copies of the
/// package and target dirs (`dirs`) or in the host's /tmp, /var/tmp,
/// /dev/shm and HOME, and the host's hostname and sysctls as they were.
fn assert_host_untouched(dirs: &[PathBuf], settings_before: &[String]) {
    for kind in ["shm", "msg", "sem"] {
        let table = std::fs::read_to_string(format!("/proc/sysvipc/{kind}")).unwrap();
        let ours: Vec<&str> = table
            .lines()
            .skip(1)
            .filter(|l| {
                let key = l.split_whitespace().next().and_then(|k| k.parse().ok());
                key.is_some_and(|k: i64| IPC_KEYS.contains(&k))
            })
            .collect();
        assert!(
            ours.is_empty(),
            "on the host's /proc/sysvipc/{kind}: {ours:?}"
        );
    }
    for needle in [SLEEPER, HOLDER] {
        let found = processes_with(needle);
        assert!(found.is_empty(), "running on the host: {found:?}");
    }
    let mut places: Vec<PathBuf> = ["/tmp", "/var/tmp", "/dev/shm", "/dev/mqueue"]
        .iter()
        .map(PathBuf::from)
        .collect();
    places.extend(std::env::var_os("HOME").map(PathBuf::from));
    places.extend(dirs.iter().cloned());
    for place in places {
        let path = place.join(MARKER);
        assert!(!path.exists(), "{} reached the host", path.display());
    }
    assert_eq!(
        host_settings(),
        settings_before,
        "the host's settings changed"
    );
}

#[test]
fn nothing_leaks_between_tests_on_one_worker() {
    let _serial = host_wide();
    let before = host_settings();
    let (_tmp, dir) = fixture("leaky");
    let run = isolate_test(&dir, &["-j", "1"]);
    for kind in KINDS {
        assert_outcome(&run, &leaver(kind), "passed");
        assert_outcome(&run, &finder(kind), "passed");
    }
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_eq!(run.tests().len(), 2 * KINDS.len(), "{}", run.stderr());
    assert_leavers_ran_first(&run);
    if is_root() {
        assert_leavers_left_everything(&run, &KINDS);
    }
    assert_memory_did_not_carry_over(&run);
    assert_host_untouched(&copies(&dir), &before);
}

/// `--reuse-netns` gives each worker one network namespace that its tests use
/// in turn: the documented trade-off (README, `--reuse-netns`) is that a
/// test may find what an earlier one on its worker left in the network
/// stack. Exactly that leaks here, and nothing else: the network sysctls,
/// and of the socket pair the TCP connection in TIME_WAIT (the listener and
/// the UDP socket go with the process that held them, which dies with its
/// pid namespace). Files, processes, IPC, the hostname and memory stay
/// per test.
#[test]
fn reused_network_namespaces_leak_the_network_stack_and_nothing_else() {
    if !is_root() {
        return skip("--reuse-netns needs root");
    }
    let _serial = host_wide();
    let before = host_settings();
    let (_tmp, dir) = fixture("leaky");
    let run = isolate_test(&dir, &["-j", "1", "--reuse-netns"]);
    assert_eq!(run.code(), 100, "{}", run.stderr());
    assert_leavers_left_everything(&run, &KINDS);
    for kind in KINDS {
        let expected = match NETWORK_KINDS.contains(&kind) {
            true => "failed",
            false => "passed",
        };
        assert_outcome(&run, &finder(kind), expected);
    }
    assert_leavers_ran_first(&run);

    let sysctls = stdout_of(&run, &finder("net_sysctls"));
    for path in SYSCTLS {
        assert!(
            sysctls.contains(&format!("FOUND: {path}")),
            "{path} carried over:\n{sysctls}"
        );
    }
    let socket = stdout_of(&run, &finder("socket"));
    let found: Vec<&str> = socket.lines().filter(|l| l.starts_with("FOUND")).collect();
    assert_eq!(found.len(), 1, "only the sockets in /proc/net:\n{socket}");
    assert!(
        found[0].contains("TIME_WAIT") && !found[0].contains("LISTEN"),
        "a connection in TIME_WAIT, no listener:\n{socket}"
    );
    assert!(
        socket.contains(&format!("gone: a process `{HOLDER}`")),
        "{socket}"
    );

    assert_memory_did_not_carry_over(&run);
    assert_host_untouched(&copies(&dir), &before);
}

/// What this test puts on the host for the finders to find: the marker in
/// the host's copy of the package dir, a `sleep 4242`, a listener on the
/// port. Removed when dropped, also when an assertion fails.
struct Planted {
    marker: PathBuf,
    sleeper: std::process::Child,
    _port: std::io::Result<std::net::TcpListener>,
}

impl Planted {
    fn on_the_host(package_dir: &Path) -> Planted {
        let marker = package_dir.join(MARKER);
        std::fs::write(&marker, "planted on the host\n").unwrap();
        let sleeper = Command::new("sleep")
            .arg("4242")
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        // Taken by someone else already, the finder fails all the same.
        let _port = std::net::TcpListener::bind("127.0.0.1:47311");
        Planted {
            marker,
            sleeper,
            _port,
        }
    }
}

impl Drop for Planted {
    fn drop(&mut self) {
        let _ = self.sleeper.kill();
        let _ = self.sleeper.wait();
        let _ = std::fs::remove_file(&self.marker);
    }
}

/// The finders are tests that can fail, each one:
/// - with the leavers in one sandbox (`--isolation per-binary`, libtest's
///   tests one at a time in name order, so each leaver runs before its
///   finder in the same process and namespaces), every finder fails, and the
///   binary's peak memory carries the leaver's 200 MiB;
/// - without a sandbox (`--isolation none`, the finders alone: the leavers
///   refuse to run outside one, and nothing of the host is changed), the
///   finders see the host: a marker planted in the host's package dir, a
///   `sleep 4242` and a listener on the port we started on the host, the
///   host's hostname.
#[test]
fn the_finders_fail_without_the_sandbox() {
    let _serial = host_wide();
    let before = host_settings();
    let (_tmp, dir) = fixture("leaky");

    let run = isolate_test(
        &dir,
        &["--isolation", "per-binary", "--env", "RUST_TEST_THREADS=1"],
    );
    assert_eq!(run.code(), 100, "{}", run.stderr());
    let tests = run.report["tests"].as_array().unwrap();
    assert_eq!(tests.len(), 1, "{}", run.stderr());
    let out = tests[0]["stdout"].as_str().unwrap();
    for kind in KINDS {
        let leaver = format!("test {} ... ok", leaver(kind));
        assert!(out.contains(&leaver), "{leaver}:\n{out}");
        // Rootless, a test cannot change its network sysctls: nothing to find.
        if kind == "net_sysctls" && !is_root() {
            continue;
        }
        let finder = format!("test {} ... FAILED", finder(kind));
        assert!(out.contains(&finder), "{finder}:\n{out}");
    }
    if run.cgroup() != "none" {
        let peak = tests[0]["peak_memory_bytes"].as_u64().unwrap();
        assert!(peak >= 200 * MIB, "shared sandbox peak {peak}");
    }

    // The host's hostname is not the sandbox's either.
    let planted = Planted::on_the_host(&dir);
    let run = isolate_test(&dir, &["-j", "1", "--isolation", "none", "b_finds::"]);
    drop(planted);
    let mut must_fail = vec!["files", "process", "socket"];
    if read_trimmed("/proc/sys/kernel/hostname") != "isolate" {
        must_fail.push("hostname");
    }
    for kind in must_fail {
        let name = finder(kind);
        assert_outcome(&run, &name, "failed");
        let out = stdout_of(&run, &name);
        assert!(out.contains("FOUND: "), "{name}:\n{out}");
    }
    let files = stdout_of(&run, &finder("files"));
    assert!(
        files.contains(&format!("FOUND: {}", dir.join(MARKER).display())),
        "{files}"
    );
    let names: Vec<String> = run.tests().into_keys().collect();
    assert_eq!(names.len(), KINDS.len(), "{names:?}");
    assert!(
        names.iter().all(|n| n.starts_with("b_finds::")),
        "only the finders ran on the host: {names:?}"
    );
    assert_host_untouched(&copies(&dir), &before);
}

/// As uid 65534, through an archive (an ordinary user cannot run this
/// machine's toolchain): the same worker, rootless. A rootless test cannot
/// change its network sysctls (EACCES), so that leaver leaves nothing and
/// its finder proves nothing here; every other leaver leaves all it does as
/// root, and nothing of it is found.
#[test]
fn nothing_leaks_between_tests_on_one_worker_rootless() {
    if !is_root() {
        return skip("needs root to switch to uid 65534 with setpriv");
    }
    if !nobody_has_user_namespaces() {
        return skip("unprivileged user namespaces are off here");
    }
    let _serial = host_wide();
    let before = host_settings();
    let (_tmp, dir) = fixture("leaky");
    let (bin_tmp, bin) = binary_for_nobody();
    let archive = bin_tmp.path().join("leaky.tar.zst");
    archive_into(&dir, &archive);
    let work = nobodys_dir(bin_tmp.path(), "work");
    nobodys_dir(&work, "home");
    let report = work.join("report.json");
    let run = Run::of(
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&bin)
            .args(["isolate", "test", "-j", "1", "--archive-file"])
            .arg(&archive)
            .arg("--workspace-remap")
            .arg(work.join("ws"))
            .arg("--report")
            .arg(&report)
            .current_dir(&work)
            .env("HOME", work.join("home"))
            .env("NO_COLOR", "1")
            .stdin(Stdio::null()),
        &report,
    );
    let stderr = run.stderr();
    assert_eq!(run.report["host"]["rootless"], true);
    for kind in KINDS {
        assert_outcome(&run, &finder(kind), "passed");
    }
    assert_eq!(run.code(), 0, "{stderr}");
    assert_eq!(run.tests().len(), 2 * KINDS.len(), "{stderr}");
    assert_leavers_ran_first(&run);
    let all_but_sysctls: Vec<&str> = KINDS.into_iter().filter(|k| *k != "net_sysctls").collect();
    assert_leavers_left_everything(&run, &all_but_sysctls);
    assert_outcome(&run, &leaver("net_sysctls"), "passed");
    assert_memory_did_not_carry_over(&run);
    let mut dirs = copies(&dir);
    dirs.extend([work.join("ws/workspace"), work.join("ws/target/debug/deps")]);
    assert_host_untouched(&dirs, &before);
}
