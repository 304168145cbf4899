//! The only module with `unsafe` code and raw syscalls.
//!
//! Thin, checked wrappers for the few calls `nix` does not cover safely:
//! fork, clone3 and `_exit` (the zygote's and the init's), fd passing,
//! the loopback ioctl, `mount_setattr`, prctl. Every function here is safe
//! to call from anywhere: where soundness needs a fact about the process,
//! the function checks it (one thread before a fork) or takes it as a
//! value only this module makes (the init's fds, [`InitFds`]).
#![allow(
    unsafe_code,
    reason = "the sandbox's syscall layer; every block says why it is sound"
)]

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::path::PathBuf;

/// How many fds the init starts with: stdin, stdout, stderr, the report
/// channel, the spec and the start gate.
pub const INIT_FDS: usize = 6;
const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
/// How many fds one zygote request may carry.
pub const MAX_REQUEST_FDS: usize = INIT_FDS + 2;

/// Step codes the new init writes to its report channel when something
/// fails before the init proper starts: "E<step> <errno>\n".
pub const CHILD_STEPS: [&str; 7] = [
    "write /proc/self/setgroups",
    "write /proc/self/uid_map",
    "write /proc/self/gid_map",
    "join the cgroup (cgroup.procs)",
    "set up stdio",
    "set the parent death signal (prctl)",
    "join the worker's network namespace (setns)",
];

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

/// Ends a clone or fork of the zygote at once, as `_exit(2)`: no atexit
/// handlers, ELF destructors or stdio flushing, which belong to the
/// zygote's image (an inherited unflushed buffer would be written twice),
/// and whose run in a copy-on-write clone only faults its pages in.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit takes no pointers and never returns; what it skips is
    // the zygote's to run, and the fds it closes are this process's own.
    unsafe { libc::_exit(code) }
}

/// Which side of a fork or clone this is.
#[derive(Debug, PartialEq, Eq)]
pub enum Forked {
    Child,
    Parent(libc::pid_t),
}

/// Fails unless this process has one thread and shares its memory with
/// no other: the kernel refuses `unshare(CLONE_VM)` with EINVAL otherwise,
/// and does nothing else (kernel/fork.c, `check_unshare_flags`). One
/// syscall, a fraction of a microsecond. Until this thread starts another,
/// the answer holds: nothing else in the process can.
fn ensure_one_thread() -> io::Result<()> {
    use nix::sched::{CloneFlags, unshare};
    match unshare(CloneFlags::CLONE_VM) {
        Ok(()) => Ok(()),
        Err(nix::errno::Errno::EINVAL) => Err(io::Error::other(
            "refusing to fork: this process has more than one thread",
        )),
        Err(e) => Err(e.into()),
    }
}

/// Forks this process, which must have one thread: checked first, an error
/// otherwise. The child may then run ordinary Rust (allocate, take locks)
/// until it execs or exits, as no other thread can have left a lock held
/// or a structure half-written in the copy.
pub fn fork_single_threaded() -> io::Result<Forked> {
    ensure_one_thread()?;
    // SAFETY: this process has one thread (checked just above, and only
    // this thread could have started another since), so the child's copy
    // of the heap and of every lock is consistent.
    let pid = unsafe { libc::fork() };
    match pid {
        0 => Ok(Forked::Child),
        p if p > 0 => Ok(Forked::Parent(p)),
        _ => Err(io::Error::last_os_error()),
    }
}

/// The zygote's clone of a new init: into `namespaces`, and into the
/// cgroup v2 directory `cgroup` when given (`CLONE_INTO_CGROUP`). With
/// `CLONE_PARENT` the init is the runner's child, not the zygote's, so the
/// runner waits for it and holds its pidfd. Like [`fork_single_threaded`],
/// it refuses to clone a process with more than one thread.
pub fn clone_sibling(
    namespaces: libc::c_int,
    cgroup: Option<BorrowedFd<'_>>,
) -> io::Result<Forked> {
    let mut args = CloneArgs {
        flags: namespaces as u64 | libc::CLONE_PARENT as u64,
        // With CLONE_PARENT the child takes the zygote's exit signal
        // (SIGCHLD), and clone3 wants 0 here.
        exit_signal: 0,
        ..CloneArgs::default()
    };
    if let Some(fd) = cgroup {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = fd.as_raw_fd() as u64;
    }
    ensure_one_thread()?;
    // SAFETY: clone3 without CLONE_VM (namespace flags and CLONE_PARENT
    // only) behaves like fork, and this process has one thread (checked
    // just above), so the child may run ordinary Rust. `args` is valid for
    // the duration of the call, and `cgroup` is an open fd it borrows.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match ret {
        0 => Ok(Forked::Child),
        p if p > 0 => Ok(Forked::Parent(p as libc::pid_t)),
        _ => Err(io::Error::last_os_error()),
    }
}

/// What a new init starts with, at fixed numbers: 0-2 its stdio, 3 the
/// report channel, 4 the spec, 5 the start gate; no other fd. Made only by
/// [`start_init`], so each channel is taken once, by the init: the test,
/// forked from it, is left 0-2 alone ([`cloexec_from`]`(3)`).
pub struct InitFds {
    /// 0, 1, 2: the runner's /dev/null and the output pipes (or the
    /// runner's own stdout and stderr).
    pub stdio: InitStdio,
    /// 3: the write end of the report pipe.
    pub report: std::fs::File,
    /// 4: the spec, a memfd read from its start.
    pub spec: std::fs::File,
    /// 5: the init's end of the start gate.
    pub gate: std::os::unix::net::UnixStream,
}

/// The init's fds 0, 1 and 2, as [`start_init`] installed them: no
/// `OwnedFd` in the init holds these numbers.
pub struct InitStdio(());

impl InitStdio {
    /// Points the init's stdout and stderr at its stdin, /dev/null: once
    /// the test is forked, only the test's copies keep the output pipes
    /// open, so the runner sees them close when the test's processes are
    /// gone, before the init has torn its namespaces down.
    pub fn outputs_to_stdin(&mut self) -> io::Result<()> {
        for fd in [1, 2] {
            // SAFETY: dup2 between fds this InitStdio stands for (see
            // start_init), which nothing in the init owns as an OwnedFd.
            check(unsafe { libc::dup2(0, fd) })?;
        }
        Ok(())
    }
}

/// Which of [`CHILD_STEPS`] moving the fds is.
const STEP_INIT_FDS: u8 = 4;

/// Makes this clone of the zygote an init: puts `fds` at 0, 1, 2, ... in
/// that order, closes every other fd (the init must hold nothing of the
/// zygote's: its socket, whatever the runner inherited without
/// close-on-exec, a jobserver pipe, a `9>>file` of the user's shell), and
/// runs `init` with them.
///
/// It never returns, and `init` is a plain `fn`: the fds that the callers'
/// frames still own are closed or replaced here, and neither those frames
/// nor `init` can use them again (the zygote keeps no fd in a static).
/// A failure is written to the report channel as "E4 <errno>"
/// ([`child_failed`]) and ends the process.
pub fn start_init(fds: [OwnedFd; INIT_FDS], init: fn(InitFds) -> !) -> ! {
    let report = 3;
    // Copies above the targets first, so that no dup2 below can clobber a
    // source still to be copied.
    let mut high = Vec::with_capacity(INIT_FDS);
    for fd in &fds {
        // SAFETY: fcntl on an fd `fds` owns; the new fd is ours alone.
        let h = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 64) };
        if h < 0 {
            child_failed(&fds[report], STEP_INIT_FDS, &io::Error::last_os_error());
        }
        // SAFETY: a fresh fd from F_DUPFD_CLOEXEC, owned by nothing else.
        high.push(unsafe { OwnedFd::from_raw_fd(h) });
    }
    // The copies hold the files now. The originals are closed below, by a
    // dup2 onto their number or by close_range, as every other old fd is.
    let _ = fds.map(IntoRawFd::into_raw_fd);
    for (i, h) in high.iter().enumerate() {
        // SAFETY: dup2 from a copy we own onto 0..6. Whatever held such a
        // number is closed with it: one of the originals given up above,
        // or an fd a caller's frame owns, which never runs again (see
        // above).
        if let Err(e) = check(unsafe { libc::dup2(h.as_raw_fd(), i as RawFd) }) {
            child_failed(&high[report], STEP_INIT_FDS, &e);
        }
    }
    // close_range below closes the copies: they must not be closed twice.
    high.into_iter().for_each(|h| {
        let _ = h.into_raw_fd();
    });
    // SAFETY: dup2 put the report pipe, the spec and the gate at 3, 4 and
    // 5, and no OwnedFd in a frame that runs again holds those numbers.
    let fds = unsafe {
        InitFds {
            stdio: InitStdio(()),
            report: std::fs::File::from_raw_fd(3),
            spec: std::fs::File::from_raw_fd(4),
            gate: std::os::unix::net::UnixStream::from_raw_fd(5),
        }
    };
    // SAFETY: close_range with integer arguments. The fds it closes are
    // the originals and the copies given up above, and ones owned by
    // frames that never run again.
    let closed = check(unsafe {
        libc::syscall(
            libc::SYS_close_range,
            INIT_FDS as libc::c_uint,
            libc::c_uint::MAX,
            0,
        ) as libc::c_int
    });
    if let Err(e) = closed {
        child_failed(&fds.report, STEP_INIT_FDS, &e);
    }
    init(fds)
}

/// Ends a new init that failed at `step` of [`CHILD_STEPS`] before the init
/// proper started: writes "E<step> <errno>" for the runner
/// ([`parse_child_failure`]) to the report channel, and exits.
pub fn child_failed(report: impl AsFd, step: u8, err: &io::Error) -> ! {
    let line = format!("E{step} {}\n", err.raw_os_error().unwrap_or(libc::EIO));
    let _ = nix::unistd::write(report, line.as_bytes());
    exit_now(127)
}

/// A pidfd for `pid`, which must be an unreaped child of the caller (its
/// number cannot be reused until we reap it).
pub fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open with integer arguments only.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pidfd_open returned a fresh fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Calls `f` again for as long as a signal interrupts it.
pub fn retry_eintr<T>(mut f: impl FnMut() -> nix::Result<T>) -> nix::Result<T> {
    loop {
        match f() {
            Err(nix::errno::Errno::EINTR) => continue,
            r => return r,
        }
    }
}

/// Sends one datagram with `fds` attached (SCM_RIGHTS).
pub fn send_with_fds(sock: BorrowedFd<'_>, data: &[u8], fds: &[RawFd]) -> io::Result<()> {
    use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
    let iov = [io::IoSlice::new(data)];
    let cmsg = [ControlMessage::ScmRights(fds)];
    let cmsg: &[ControlMessage] = if fds.is_empty() { &[] } else { &cmsg };
    let sent =
        retry_eintr(|| sendmsg::<()>(sock.as_raw_fd(), &iov, cmsg, MsgFlags::MSG_NOSIGNAL, None))?;
    if sent != data.len() {
        return Err(io::Error::other("a short send on a datagram socket"));
    }
    Ok(())
}

/// Receives one datagram into `buf` with the fds it carries, owned and
/// close-on-exec. `Ok(None)` when the peer is gone. A datagram cut short,
/// or with more fds than expected, is refused (its fds are closed).
pub fn recv_with_fds(
    sock: BorrowedFd<'_>,
    buf: &mut [u8],
) -> io::Result<Option<(usize, Vec<OwnedFd>)>> {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
    let mut cmsg = nix::cmsg_space!([RawFd; MAX_REQUEST_FDS]);
    let (bytes, flags, fds) = retry_eintr(|| {
        let mut iov = [io::IoSliceMut::new(buf)];
        let msg = recvmsg::<()>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )?;
        let mut fds = Vec::new();
        for c in msg.cmsgs()? {
            if let ControlMessageOwned::ScmRights(raw) = c {
                // SAFETY: the kernel installed these fds in our table for
                // this message; nothing else refers to them.
                fds.extend(
                    raw.into_iter()
                        .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
                );
            }
        }
        Ok((msg.bytes, msg.flags, fds))
    })?;
    if flags.intersects(MsgFlags::MSG_TRUNC | MsgFlags::MSG_CTRUNC) {
        return Err(io::Error::other("a zygote message was cut short"));
    }
    if bytes == 0 && fds.is_empty() {
        return Ok(None);
    }
    Ok(Some((bytes, fds)))
}

/// A connected pair of close-on-exec datagram sockets that keep message
/// boundaries (`SOCK_SEQPACKET`).
pub fn seqpacket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
    Ok(socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?)
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

pub fn set_no_new_privs() -> io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    check(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) })
}

const LOOP_CTL_GET_FREE: libc::c_ulong = 0x4C82;
const LOOP_CONFIGURE: libc::c_ulong = 0x4C0A;
const LO_FLAGS_AUTOCLEAR: u32 = 4;

/// `struct loop_info64` (linux/loop.h).
#[repr(C)]
struct LoopInfo64 {
    device: u64,
    inode: u64,
    rdevice: u64,
    offset: u64,
    size_limit: u64,
    number: u32,
    encrypt_type: u32,
    encrypt_key_size: u32,
    flags: u32,
    file_name: [u8; 64],
    crypt_name: [u8; 64],
    encrypt_key: [u8; 32],
    init: [u64; 2],
}

/// `struct loop_config` (linux/loop.h, 5.8+).
#[repr(C)]
struct LoopConfig {
    fd: u32,
    block_size: u32,
    info: LoopInfo64,
    reserved: [u64; 8],
}

/// Attaches `image` to a free loop device that detaches itself when its
/// last user (the mount made on it) goes away; returns the device's path
/// and an fd to keep until that mount exists. Needs root.
pub fn attach_loop(image: &std::fs::File) -> io::Result<(PathBuf, OwnedFd)> {
    let control = std::fs::File::options()
        .read(true)
        .write(true)
        .open("/dev/loop-control")?;
    // Another process may take the free device first: ask again.
    for _ in 0..16 {
        // SAFETY: an ioctl without an argument on the loop control fd.
        let n = unsafe { libc::ioctl(control.as_raw_fd(), LOOP_CTL_GET_FREE as _) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let path = PathBuf::from(format!("/dev/loop{n}"));
        let device = std::fs::File::options()
            .read(true)
            .write(true)
            .open(&path)?;
        // SAFETY: LoopConfig is plain data; all-zero is a valid value.
        let mut config: LoopConfig = unsafe { std::mem::zeroed() };
        config.fd = image.as_raw_fd() as u32;
        config.info.flags = LO_FLAGS_AUTOCLEAR;
        // SAFETY: LOOP_CONFIGURE reads a struct loop_config, which `config`
        // is, and keeps no pointer to it.
        let r = unsafe { libc::ioctl(device.as_raw_fd(), LOOP_CONFIGURE as _, &config) };
        if r == 0 {
            return Ok((path, OwnedFd::from(device)));
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EBUSY) {
            return Err(e);
        }
    }
    Err(io::Error::other("no free loop device after 16 tries"))
}

/// Whether this kernel takes x32 system calls (x86_64 only; most kernels
/// are built without them or boot with them off): `getpid` with the x32
/// bit set succeeds only then.
pub fn x32_abi_enabled() -> bool {
    if !cfg!(target_arch = "x86_64") {
        return false;
    }
    const X32_SYSCALL_BIT: libc::c_long = 0x4000_0000;
    // SAFETY: getpid takes no arguments and has no effect.
    unsafe { libc::syscall(X32_SYSCALL_BIT | libc::SYS_getpid) >= 0 }
}

/// Gives the calling process a new, empty, anonymous session keyring
/// (`KEYCTL_JOIN_SESSION_KEYRING` with no name): the one it inherited is
/// the user's, and holds their keys.
pub fn join_new_session_keyring() -> io::Result<()> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    // SAFETY: keyctl with a null name pointer, which this operation accepts.
    let id = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_JOIN_SESSION_KEYRING,
            std::ptr::null::<libc::c_char>(),
        )
    };
    if id < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
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
/// (`kill(-1)` from pid 1 spares only the caller). Does nothing in a
/// process that is not pid 1, where -1 would mean every process the user
/// may signal.
pub fn kill_all_in_namespace() {
    if nix::unistd::getpid().as_raw() != 1 {
        return;
    }
    // SAFETY: kill with constant arguments, from pid 1 of a pid namespace
    // (checked above), where -1 means exactly the namespace's processes.
    unsafe {
        libc::kill(-1, libc::SIGKILL);
    }
}

/// SIGTERM to `pid` (a grace period's first word); a process already gone
/// is fine.
pub fn terminate_pid(pid: libc::pid_t) {
    // SAFETY: kill with integer arguments.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
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

/// Closes every fd from 3 up but those in `keep` (`close_range(2)`): a
/// long-lived helper forked from the init must not hold the report
/// channel or the runner's gate open.
pub fn close_fds_except(keep: &[RawFd]) -> io::Result<()> {
    let mut keep: Vec<libc::c_uint> = keep
        .iter()
        .filter_map(|&fd| libc::c_uint::try_from(fd).ok())
        .filter(|&fd| fd >= 3)
        .collect();
    keep.sort_unstable();
    keep.dedup();
    let mut first: libc::c_uint = 3;
    for fd in keep.into_iter().chain([libc::c_uint::MAX]) {
        if fd > first {
            let last = if fd == libc::c_uint::MAX { fd } else { fd - 1 };
            // SAFETY: close_range with integer arguments only; the fds it
            // closes are this process's own, and none is in use by Rust
            // code that outlives this call but those kept.
            check(unsafe { libc::syscall(libc::SYS_close_range, first, last, 0) } as libc::c_int)?;
        }
        first = fd.saturating_add(1);
    }
    Ok(())
}

/// Makes the init non-dumpable: a test, even root in its own namespace,
/// then cannot ptrace it or open its `/proc/1/fd`, `mem` or `environ`
/// (ptrace_may_access needs CAP_SYS_PTRACE in the init's user namespace).
/// The test's process, forked from the init, makes itself dumpable again
/// (as its exec would): see `prepare_test_side`.
pub fn set_dumpable(dumpable: bool) -> io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    check(unsafe {
        libc::prctl(
            libc::PR_SET_DUMPABLE,
            libc::c_ulong::from(dumpable),
            0,
            0,
            0,
        )
    })
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
        super::multicast::add_loopback_routes()?;
        let ns = std::fs::File::open("/proc/thread-self/ns/net")?;
        Ok(OwnedFd::from(ns))
    })
    .join()
    .unwrap_or_else(|_| Err(io::Error::other("the namespace thread panicked")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With a second thread alive, neither a fork nor a clone is made:
    /// both refuse before the syscall.
    #[test]
    fn no_fork_or_clone_while_another_thread_runs() {
        let (hold, wait) = std::sync::mpsc::channel::<()>();
        let other = std::thread::spawn(move || wait.recv());
        let forked = fork_single_threaded();
        let cloned = clone_sibling(0, None);
        for made in [&forked, &cloned] {
            if let Ok(Forked::Child) = made {
                exit_now(0);
            }
        }
        drop(hold);
        let _ = other.join();
        for made in [forked, cloned] {
            let err = made.expect_err("a process with two threads was forked");
            assert!(err.to_string().contains("more than one thread"), "{err}");
        }
    }
}
