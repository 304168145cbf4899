//! The only module with `unsafe` code and raw syscalls.
//!
//! Two halves: [`spawn_init`] runs in the (multi-threaded) runner and clones
//! the sandbox's init straight into its new namespaces; the rest are thin,
//! checked wrappers the init uses for the few calls `nix` does not cover
//! safely (fork, the loopback ioctl, `mount_setattr`, prctl).
#![allow(
    unsafe_code,
    reason = "the sandbox's syscall layer; every block says why it is sound"
)]

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// What the child of `clone3` does before it execs the init. Everything is
/// prepared here, in the parent, because between clone and exec in a
/// multi-threaded process only async-signal-safe calls are allowed: no
/// allocation, no locks.
pub struct SpawnRequest {
    /// `CLONE_NEW*` flags.
    pub namespaces: libc::c_int,
    /// A directory fd of the cgroup v2 leaf to start in (`CLONE_INTO_CGROUP`).
    pub cgroup_fd: Option<RawFd>,
    /// `cgroup.procs` files the child writes "0" to before exec (cgroup v1,
    /// or v2 when `CLONE_INTO_CGROUP` is unavailable).
    pub cgroup_procs: Vec<CString>,
    /// A network namespace to join instead of making one (`--reuse-netns`).
    pub netns_fd: Option<RawFd>,
    /// uid_map / gid_map contents when a user namespace is made.
    pub id_maps: Option<(CString, CString)>,
    /// Fds that become the child's 0, 1, 2, 3 (the report channel), 4 (the
    /// spec) and 5 (the start gate), in that order. Every other fd is
    /// closed at exec.
    pub stdio: [RawFd; INIT_FDS],
    pub program: CString,
    pub argv: Vec<CString>,
    pub envp: Vec<CString>,
}

pub struct SpawnedInit {
    pub pid: libc::pid_t,
    pub pidfd: OwnedFd,
}

#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_PIDFD: u64 = 0x1000;
/// How many fds the init starts with: stdin, stdout, stderr, the report
/// channel, the spec and the start gate.
pub const INIT_FDS: usize = 6;
const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Step codes the child writes to fd `stdio[3]` when something fails before
/// exec, followed by the errno: "E<step> <errno>\n".
pub const CHILD_STEPS: [&str; 7] = [
    "write /proc/self/setgroups",
    "write /proc/self/uid_map",
    "write /proc/self/gid_map",
    "join the cgroup (cgroup.procs)",
    "set up stdio",
    "exec the sandbox init",
    "join the worker's network namespace (setns)",
];

/// Clones the init into new namespaces (and its cgroup) and execs it.
pub fn spawn_init(req: &SpawnRequest) -> io::Result<SpawnedInit> {
    let mut argv: Vec<*const libc::c_char> = req.argv.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = req.envp.iter().map(|a| a.as_ptr()).collect();
    envp.push(std::ptr::null());

    let mut pidfd: libc::c_int = -1;
    let pid = match req.cgroup_fd {
        Some(cgroup_fd) => clone3_into_cgroup(req, &argv, &envp, cgroup_fd, &mut pidfd)?,
        None => clone_vfork(req, &argv, &envp, &mut pidfd)?,
    };
    // SAFETY: CLONE_PIDFD stored a new, owned pidfd in `pidfd`.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    Ok(SpawnedInit { pid, pidfd })
}

/// cgroup v2: clone3 straight into the leaf, fork-like (no shared memory).
fn clone3_into_cgroup(
    req: &SpawnRequest,
    argv: &[*const libc::c_char],
    envp: &[*const libc::c_char],
    cgroup_fd: RawFd,
    pidfd: &mut libc::c_int,
) -> io::Result<libc::pid_t> {
    let mut args = CloneArgs {
        flags: req.namespaces as u64 | CLONE_PIDFD | CLONE_INTO_CGROUP,
        pidfd: pidfd as *mut libc::c_int as u64,
        exit_signal: libc::SIGCHLD as u64,
        cgroup: cgroup_fd as u64,
        ..CloneArgs::default()
    };
    // SAFETY: clone3 without CLONE_VM behaves like fork: the child gets a
    // copy of the address space. `args` and the pointers it holds are valid
    // for the call. The child branch below only performs async-signal-safe
    // syscalls on memory prepared before the call, then execs or _exits.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    if ret == 0 {
        // SAFETY: we are the freshly cloned child; `child_after_clone` never
        // returns and only uses async-signal-safe calls.
        unsafe { child_after_clone(req, argv, envp) }
    }
    Ok(ret as libc::pid_t)
}

struct ChildArgs<'a> {
    req: &'a SpawnRequest,
    argv: &'a [*const libc::c_char],
    envp: &'a [*const libc::c_char],
}

extern "C" fn vfork_child(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the ChildArgs that clone_vfork keeps alive while this
    // child runs (CLONE_VFORK suspends the parent until we exec or exit).
    let args = unsafe { &*(arg as *const ChildArgs<'_>) };
    // SAFETY: a child of clone(CLONE_VM | CLONE_VFORK) on its own stack;
    // child_after_clone only makes async-signal-safe syscalls.
    unsafe { child_after_clone(args.req, args.argv, args.envp) }
}

/// cgroup v1 or none: clone(CLONE_VM | CLONE_VFORK) on a small stack of its
/// own, the way posix_spawn does. Unlike a fork, nothing of the runner's
/// address space is copied or write-protected, which a fork of a
/// multi-threaded runner pays for in page faults after every spawn.
fn clone_vfork(
    req: &SpawnRequest,
    argv: &[*const libc::c_char],
    envp: &[*const libc::c_char],
    pidfd: &mut libc::c_int,
) -> io::Result<libc::pid_t> {
    const STACK: usize = 64 * 1024;
    let mut stack = vec![0u8; STACK];
    let args = ChildArgs { req, argv, envp };
    let flags =
        req.namespaces | libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_PIDFD | libc::SIGCHLD;
    // SAFETY: the stack is ours and outlives the child's use of it (the
    // parent resumes only after the child's exec or exit); the stack grows
    // down, so we pass its top, 16-byte aligned. With CLONE_PIDFD the pidfd
    // is written through the parent_tid pointer.
    let pid = unsafe {
        let top = stack.as_mut_ptr().add(STACK);
        let top = top.sub(top as usize % 16);
        libc::clone(
            vfork_child,
            top.cast(),
            flags,
            &args as *const ChildArgs<'_> as *mut libc::c_void,
            pidfd as *mut libc::c_int,
        )
    };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    drop(stack);
    Ok(pid)
}

/// Runs in the child between clone3 and exec. No allocation happens here.
///
/// # Safety
/// Must only be called in the child of a fork-like clone, with pointers that
/// stay valid (they are the parent's memory, copied into the child).
unsafe fn child_after_clone(
    req: &SpawnRequest,
    argv: &[*const libc::c_char],
    envp: &[*const libc::c_char],
) -> ! {
    let report = req.stdio[3];
    // SAFETY: raw syscalls on C strings and fds prepared by the parent;
    // nothing here allocates or takes a lock.
    unsafe {
        if let Some((uid_map, gid_map)) = &req.id_maps {
            // An unprivileged process may map its own uid in a namespace it
            // just made, provided setgroups is denied first (user_namespaces(7)).
            write_file_or_die(c"/proc/self/setgroups", b"deny", report, 0);
            write_file_or_die(c"/proc/self/uid_map", uid_map.as_bytes(), report, 1);
            write_file_or_die(c"/proc/self/gid_map", gid_map.as_bytes(), report, 2);
        }
        for procs in &req.cgroup_procs {
            write_file_or_die(procs, b"0", report, 3);
        }
        if let Some(fd) = req.netns_fd
            && libc::setns(fd, libc::CLONE_NEWNET) < 0
        {
            die(report, 6);
        }
        // Move every source fd above the targets first so that no dup2 can
        // clobber a source still to be copied.
        let mut high = [0 as RawFd; INIT_FDS];
        for (i, fd) in req.stdio.iter().enumerate() {
            let h = libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, 64);
            if h < 0 {
                die(report, 4);
            }
            high[i] = h;
        }
        for (i, h) in high.iter().enumerate() {
            if libc::dup2(*h, i as RawFd) < 0 {
                die(report, 4);
            }
        }
        // Whatever the runner inherited without close-on-exec (a jobserver
        // pipe, a `9>>file` of the user's shell) must not reach the sandbox.
        if libc::syscall(
            libc::SYS_close_range,
            INIT_FDS as libc::c_uint,
            libc::c_uint::MAX,
            CLOSE_RANGE_CLOEXEC,
        ) < 0
        {
            die(report, 4);
        }
        // The init must not outlive the runner thread that waits for it.
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
        libc::execve(req.program.as_ptr(), argv.as_ptr(), envp.as_ptr());
        die(3, 5)
    }
}

/// # Safety
/// Async-signal-safe; `path` is a valid C string.
unsafe fn write_file_or_die(path: &CStr, data: &[u8], report: RawFd, step: u8) {
    // SAFETY: plain open/write/close on a valid path and buffer.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            die(report, step);
        }
        let n = libc::write(fd, data.as_ptr().cast(), data.len());
        if n < 0 || n as usize != data.len() {
            die(report, step);
        }
        libc::close(fd);
    }
}

/// Writes "E<step> <errno>\n" to `report` and exits, without allocating.
///
/// # Safety
/// Async-signal-safe.
unsafe fn die(report: RawFd, step: u8) -> ! {
    // SAFETY: errno location is thread-local and valid; write/_exit are
    // async-signal-safe.
    unsafe {
        let errno = *libc::__errno_location();
        let mut buf = [0u8; 32];
        buf[0] = b'E';
        buf[1] = b'0' + step;
        buf[2] = b' ';
        let mut digits = [0u8; 12];
        let mut n = errno.unsigned_abs();
        let mut len = 0;
        loop {
            digits[len] = b'0' + (n % 10) as u8;
            len += 1;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        for i in 0..len {
            buf[3 + i] = digits[len - 1 - i];
        }
        buf[3 + len] = b'\n';
        libc::write(report, buf.as_ptr().cast(), 4 + len);
        libc::_exit(127)
    }
}

/// Parses the "E<step> <errno>" line the child writes on failure.
pub fn parse_child_failure(line: &str) -> Option<(String, io::Error)> {
    let rest = line.strip_prefix('E')?;
    let (step, errno) = rest.trim().split_once(' ')?;
    let step: usize = step.parse().ok()?;
    let errno: i32 = errno.parse().ok()?;
    Some((
        CHILD_STEPS.get(step)?.to_string(),
        io::Error::from_raw_os_error(errno),
    ))
}

/// `pidfd_send_signal(pidfd, SIGKILL)`: kills the init without the pid-reuse
/// race of `kill(pid)`.
pub fn pidfd_kill(pidfd: &OwnedFd) -> io::Result<()> {
    // SAFETY: the fd is a valid pidfd we own; null siginfo is allowed.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            libc::SIGKILL,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if ret < 0 {
        let err = io::Error::last_os_error();
        // ESRCH: already gone, which is what we wanted.
        if err.raw_os_error() != Some(libc::ESRCH) {
            return Err(err);
        }
    }
    Ok(())
}

/// Exit status of a reaped child.
pub struct Reaped {
    pub status: libc::c_int,
}

/// `wait4(pid)`, retried on EINTR.
pub fn wait4(pid: libc::pid_t, flags: libc::c_int) -> io::Result<Option<(libc::pid_t, Reaped)>> {
    loop {
        let mut status = 0;
        // SAFETY: a valid out-pointer for the status; no rusage wanted.
        let ret = unsafe { libc::wait4(pid, &mut status, flags, std::ptr::null_mut()) };
        if ret > 0 {
            return Ok(Some((ret, Reaped { status })));
        }
        if ret == 0 {
            return Ok(None);
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        if err.raw_os_error() == Some(libc::ECHILD) {
            return Ok(None);
        }
        return Err(err);
    }
}

/// `getrusage(RUSAGE_CHILDREN)`: every reaped descendant, max RSS included.
pub fn rusage_children() -> libc::rusage {
    // SAFETY: plain data out-parameter.
    unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru);
        ru
    }
}

/// Forks the (single-threaded) init. Returns 0 in the child.
pub fn fork_single_threaded() -> io::Result<libc::pid_t> {
    // SAFETY: only called from the init, which has exactly one thread, so
    // the child inherits a consistent heap and may allocate before exec.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(pid)
}

pub fn set_no_new_privs() -> io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    check(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) })
}

pub fn set_child_subreaper() -> io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    check(unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) })
}

pub fn set_parent_death_signal() -> io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    check(unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) })
}

/// Restores default signal dispositions and an empty mask before exec:
/// Rust ignores SIGPIPE, and ignored signals survive exec.
pub fn reset_signals() {
    // SAFETY: signal() and sigprocmask with valid arguments.
    unsafe {
        for sig in [
            libc::SIGPIPE,
            libc::SIGINT,
            libc::SIGTERM,
            libc::SIGHUP,
            libc::SIGQUIT,
        ] {
            libc::signal(sig, libc::SIG_DFL);
        }
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
}

/// Sends SIGKILL to every process this pid-namespace init can see
/// (`kill(-1)` from pid 1 spares only the caller).
pub fn kill_all_in_namespace() {
    // SAFETY: kill with constant arguments. Only called as pid 1 of our own
    // pid namespace, where -1 means exactly the namespace's processes.
    unsafe {
        libc::kill(-1, libc::SIGKILL);
    }
}

pub fn kill_pid(pid: libc::pid_t) {
    // SAFETY: kill with integer arguments.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
}

/// Brings `lo` up: in a fresh network namespace it exists but is down.
pub fn loopback_up() -> io::Result<()> {
    // SAFETY: a datagram socket used only for the ioctls below, closed by
    // OwnedFd; `ifreq` is plain data and the name fits IFNAMSIZ.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let sock = OwnedFd::from_raw_fd(fd);
        let mut req: libc::ifreq = std::mem::zeroed();
        for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
            *dst = *src as libc::c_char;
        }
        check(libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req))?;
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        check(libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req))
    }
}

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}
const MOUNT_ATTR_RDONLY: u64 = 0x1;

/// Makes the mount at `path` read-only (with every mount below it) or
/// writable (that mount alone). Unlike `MS_REMOUNT`, `mount_setattr` keeps
/// whatever locked flags (nosuid, nodev) a user namespace inherited.
pub fn set_read_only(path: &CStr, read_only: bool) -> io::Result<()> {
    let (attr_set, attr_clr, recursive) = match read_only {
        true => (MOUNT_ATTR_RDONLY, 0, libc::AT_RECURSIVE),
        false => (0, MOUNT_ATTR_RDONLY, 0),
    };
    let attr = MountAttr {
        attr_set,
        attr_clr,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: valid path and attr struct for the duration of the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            path.as_ptr(),
            recursive | libc::AT_SYMLINK_NOFOLLOW,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    check(ret as libc::c_int)
}

pub fn pipe_cloexec() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: valid two-int array.
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: pipe2 returned two fresh fds that we now own.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn check(ret: libc::c_int) -> io::Result<()> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// The init's report channel: fd 3, set up by [`spawn_init`].
pub fn report_channel() -> std::fs::File {
    // SAFETY: spawn_init dup2'ed the report pipe to fd 3 before exec, and
    // nothing else in the init uses fd 3.
    unsafe { std::fs::File::from_raw_fd(3) }
}

/// The init's spec: fd 4, a memfd set up by [`spawn_init`]. Taken once.
pub fn spec_channel() -> std::fs::File {
    // SAFETY: spawn_init dup2'ed the spec memfd to fd 4 before exec; the
    // init calls this once, at start, and nothing else uses fd 4.
    unsafe { std::fs::File::from_raw_fd(4) }
}

/// The init's start gate: fd 5, one end of a socket pair set up by
/// [`spawn_init`]. Taken once.
pub fn gate_channel() -> std::os::unix::net::UnixStream {
    // SAFETY: spawn_init dup2'ed the gate socket to fd 5 before exec; the
    // init calls this once, and nothing else uses fd 5.
    unsafe { std::os::unix::net::UnixStream::from_raw_fd(5) }
}

/// Points the init's stdout and stderr at its stdin, /dev/null: once the
/// test is forked, only the test's copies keep the output pipes open, so
/// the runner sees them close when the test's processes are gone, before
/// the init has torn its namespaces down.
pub fn stdout_stderr_to_stdin() -> io::Result<()> {
    for fd in [1, 2] {
        // SAFETY: dup2 on fds the init holds from its start; fd 0 is the
        // runner's /dev/null.
        check(unsafe { libc::dup2(0, fd) })?;
    }
    Ok(())
}

/// A sealed-off copy of `data` in memory, read from its start: how the
/// spec reaches the init without showing in `/proc/1/cmdline` and without
/// the 128 KiB limit of one argument.
pub fn memfd_with(data: &[u8]) -> io::Result<OwnedFd> {
    use std::io::{Seek, Write};
    // SAFETY: a valid C string name; the returned fd is new and ours.
    let fd = unsafe { libc::memfd_create(c"cargo-isolate-spec".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: memfd_create returned a fresh fd that nothing else owns.
    let mut file = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    file.write_all(data)?;
    file.seek(io::SeekFrom::Start(0))?;
    Ok(OwnedFd::from(file))
}

/// Marks every fd from `first` up close-on-exec (`close_range(2)`), so that
/// an exec'd test starts with nothing but what it must have.
pub fn cloexec_from(first: u32) -> io::Result<()> {
    // SAFETY: close_range with integer arguments only.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            libc::c_uint::MAX,
            CLOSE_RANGE_CLOEXEC,
        )
    };
    check(ret as libc::c_int)
}

/// Makes the init non-dumpable: a test, even root in its own namespace,
/// then cannot ptrace it or open its `/proc/1/fd`, `mem` or `environ`
/// (ptrace_may_access needs CAP_SYS_PTRACE in the init's user namespace).
pub fn set_not_dumpable() -> io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    check(unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) })
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}
const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
const CAP_SYS_ADMIN: u32 = 21;

/// Keeps CAP_SYS_ADMIN (in the sandbox's own user namespace) across the
/// exec of a test that does not run as uid 0 there, so that it may still
/// change its hostname or mount its own tmpfs. Ambient capabilities are
/// the one way a non-root exec keeps a capability (capabilities(7)).
pub fn keep_sys_admin_across_exec() -> io::Result<()> {
    let mut header = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: header and a two-element data array, as capget(2) requires.
    check(unsafe {
        libc::syscall(
            libc::SYS_capget,
            &mut header as *mut CapHeader,
            data.as_mut_ptr(),
        ) as libc::c_int
    })?;
    data[0].inheritable |= 1 << CAP_SYS_ADMIN;
    // SAFETY: same layout; only the inheritable set grows, within permitted.
    check(unsafe {
        libc::syscall(
            libc::SYS_capset,
            &mut header as *mut CapHeader,
            data.as_ptr(),
        ) as libc::c_int
    })?;
    // SAFETY: prctl with integer arguments only.
    check(unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_RAISE,
            CAP_SYS_ADMIN as libc::c_ulong,
            0,
            0,
        )
    })
}

/// A fresh network namespace with `lo` up, kept alive by the returned fd,
/// made on a short-lived thread (unshare(CLONE_NEWNET) affects only the
/// calling thread, and that thread then exits).
pub fn new_network_namespace() -> io::Result<OwnedFd> {
    std::thread::spawn(|| {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
        loopback_up()?;
        let ns = std::fs::File::open("/proc/thread-self/ns/net")?;
        Ok(OwnedFd::from(ns))
    })
    .join()
    .unwrap_or_else(|_| Err(io::Error::other("the namespace thread panicked")))
}
