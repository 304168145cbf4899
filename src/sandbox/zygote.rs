//! The zygote: this binary exec'd once per run, with an empty environment,
//! that clones every sandbox's init on request. The init then runs the code
//! it was cloned with instead of exec'ing the runner's binary again, which
//! spares per test the exec, the dynamic loader's relocations and the page
//! faults of a fresh 50 MB binary (about 1.2 ms of CPU). Being exec'd, not
//! forked from the runner, the zygote (and so every init) holds nothing of
//! the runner's memory, arguments or environment.
//!
//! A request is one `SOCK_SEQPACKET` datagram: a small JSON header and the
//! init's fds (SCM_RIGHTS). The zygote clones with `CLONE_PARENT`, so the
//! init is the runner's own child, and answers with its pid. Requests from
//! the runner's worker threads take turns on one socket. The runner hands
//! the zygote's end to std's `Command` as the zygote's stdin: it reaches
//! the zygote alone, and the zygote takes no fd number on trust.

use super::sys::{self, INIT_FDS, MAX_REQUEST_FDS};
use serde::{Deserialize, Serialize};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

/// The runner's end of the zygote's socket, set once by [`start`].
static ZYGOTE: OnceLock<Mutex<OwnedFd>> = OnceLock::new();
/// The zygote's pid, for placing it in the run's cgroups.
static ZYGOTE_PID: OnceLock<u32> = OnceLock::new();

/// The zygote's pid, once started.
pub fn pid() -> Option<u32> {
    ZYGOTE_PID.get().copied()
}

/// What the zygote needs to clone one init.
pub struct SpawnRequest {
    /// `CLONE_NEW*` flags.
    pub namespaces: libc::c_int,
    /// Whether a user namespace is made: the init then maps the runner's
    /// uid and gid to 0 in it.
    pub user: bool,
    /// A directory fd of the cgroup v2 leaf to start in (`CLONE_INTO_CGROUP`).
    pub cgroup_fd: Option<RawFd>,
    /// `cgroup.procs` files the init joins first (cgroup v1, or v2 when
    /// `CLONE_INTO_CGROUP` is unavailable).
    pub cgroup_procs: Vec<PathBuf>,
    /// A network namespace to join instead of making one (`--reuse-netns`).
    pub netns_fd: Option<RawFd>,
    /// Fds that become the init's 0, 1, 2, 3 (the report channel), 4 (the
    /// spec) and 5 (the start gate), in that order.
    pub stdio: [RawFd; INIT_FDS],
}

pub struct SpawnedInit {
    pub pid: libc::pid_t,
    pub pidfd: OwnedFd,
}

/// The header of a request; the fds follow in [`SpawnRequest`]'s order.
#[derive(Serialize, Deserialize)]
struct Header {
    namespaces: libc::c_int,
    user: bool,
    netns: bool,
    cgroup_dir: bool,
    cgroup_procs: Vec<PathBuf>,
}

/// One request: clone an init, or put the zygote behind a seccomp filter
/// (with a fresh session keyring) that every later init inherits.
#[derive(Serialize, Deserialize)]
enum Request {
    Clone(Header),
    Wall(super::seccomp::Filters),
}

/// The hidden first argument that makes this binary the zygote.
pub const ARG: &str = "__zygote";

/// Starts the zygote. The zygote's end of the socket stays close-on-exec
/// here: std makes it the zygote's stdin in the child alone, and the
/// `Command`, a temporary, closes our copy once the spawn returns.
pub fn start() -> io::Result<()> {
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    let (runner, zygote) = sys::seqpacket_pair()?;
    let child = Command::new("/proc/self/exe")
        .arg0("cargo-isolate")
        .arg(ARG)
        .env_clear()
        .stdin(Stdio::from(zygote))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let _ = ZYGOTE_PID.set(child.id());
    ZYGOTE
        .set(Mutex::new(runner))
        .map_err(|_| io::Error::other("the zygote was started twice"))
}

/// The zygote's entry point, `cargo-isolate __zygote`, its socket as stdin.
pub fn main() -> ! {
    use nix::sys::socket::{SockType, getsockopt, sockopt};
    let stdin = io::stdin();
    let sock = stdin.as_fd();
    if !matches!(
        getsockopt(&sock, sockopt::SockType),
        Ok(SockType::SeqPacket)
    ) {
        eprintln!("cargo-isolate: {ARG} is started by `cargo isolate` itself");
        std::process::exit(2)
    }
    serve(sock)
}

/// Has the zygote clone an init as `req` says.
pub fn spawn(req: &SpawnRequest) -> io::Result<SpawnedInit> {
    let sock = ZYGOTE
        .get()
        .ok_or_else(|| io::Error::other("the sandbox zygote was not started"))?;
    let header = Header {
        namespaces: req.namespaces,
        user: req.user,
        netns: req.netns_fd.is_some(),
        cgroup_dir: req.cgroup_fd.is_some(),
        cgroup_procs: req.cgroup_procs.clone(),
    };
    let header = serde_json::to_vec(&Request::Clone(header)).map_err(io::Error::other)?;
    let mut fds = req.stdio.to_vec();
    fds.extend(req.netns_fd);
    fds.extend(req.cgroup_fd);
    let mut reply = [0u8; 4];
    {
        let sock = sock.lock().unwrap_or_else(|e| e.into_inner());
        sys::send_with_fds(sock.as_fd(), &header, &fds).map_err(gone)?;
        let got = sys::retry_eintr(|| nix::unistd::read(sock.as_fd(), &mut reply))
            .map_err(|e| gone(e.into()))?;
        if got != reply.len() {
            return Err(gone(io::Error::from(io::ErrorKind::UnexpectedEof)));
        }
    }
    let pid = i32::from_ne_bytes(reply);
    if pid <= 0 {
        return Err(io::Error::from_raw_os_error(-pid));
    }
    match sys::pidfd_open(pid) {
        Ok(pidfd) => Ok(SpawnedInit { pid, pidfd }),
        Err(e) => {
            // Our child all the same: it must not be left running or unreaped.
            sys::kill_pid(pid);
            let _ = sys::wait4(pid, 0);
            Err(e)
        }
    }
}

/// Has the zygote join a fresh session keyring and install `filters` on
/// itself: every init cloned afterwards, and its test, inherits both, and
/// no test pays for attaching them (the kernel walks a filter once per
/// syscall number when it attaches it). Only for a filter that refuses
/// nothing the zygote or an init does.
pub fn wall(filters: &super::seccomp::Filters) -> io::Result<()> {
    let sock = ZYGOTE
        .get()
        .ok_or_else(|| io::Error::other("the sandbox zygote was not started"))?;
    let request = serde_json::to_vec(&Request::Wall(filters.clone())).map_err(io::Error::other)?;
    let mut reply = [0u8; 4];
    let sock = sock.lock().unwrap_or_else(|e| e.into_inner());
    sys::send_with_fds(sock.as_fd(), &request, &[]).map_err(gone)?;
    let got = sys::retry_eintr(|| nix::unistd::read(sock.as_fd(), &mut reply))
        .map_err(|e| gone(e.into()))?;
    if got != reply.len() {
        return Err(gone(io::Error::from(io::ErrorKind::UnexpectedEof)));
    }
    match i32::from_ne_bytes(reply) {
        0 => Ok(()),
        e => Err(io::Error::from_raw_os_error(-e)),
    }
}

fn gone(e: io::Error) -> io::Error {
    io::Error::other(format!(
        "the sandbox zygote, this run's `cargo-isolate __zygote` process, is gone \
         (killed, or out of memory?): {e}"
    ))
}

/// The zygote's loop; it ends when the runner closes its end.
fn serve(sock: BorrowedFd<'_>) -> ! {
    // Out of the runner's session: a Ctrl-C at the terminal is the
    // runner's to handle. Should the runner die, the socket's end says so.
    let _ = nix::unistd::setsid();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let (len, fds) = match sys::recv_with_fds(sock, &mut buf) {
            Ok(Some(msg)) => msg,
            Ok(None) => std::process::exit(0),
            // A malformed request (only the runner can send one) is dropped
            // with its fds; the runner then sees the socket close.
            Err(_) => std::process::exit(1),
        };
        let reply = match parse(&buf[..len], fds) {
            Some((Request::Clone(header), fds)) => clone_init(&header, fds),
            Some((Request::Wall(filters), _)) => put_up(&filters),
            None => -libc::EINVAL,
        };
        if sys::send_with_fds(sock, &reply.to_ne_bytes(), &[]).is_err() {
            std::process::exit(0);
        }
    }
}

/// The request, and the fds in the number it announces.
fn parse(bytes: &[u8], fds: Vec<OwnedFd>) -> Option<(Request, Vec<OwnedFd>)> {
    let request: Request = serde_json::from_slice(bytes).ok()?;
    let want = match &request {
        Request::Clone(h) => INIT_FDS + usize::from(h.netns) + usize::from(h.cgroup_dir),
        Request::Wall(_) => 0,
    };
    (fds.len() == want && want <= MAX_REQUEST_FDS).then_some((request, fds))
}

/// A fresh session keyring, then the filter: 0, or minus the errno.
fn put_up(filters: &super::seccomp::Filters) -> i32 {
    match sys::join_new_session_keyring().and_then(|()| filters.install()) {
        Ok(()) => 0,
        Err(e) => -e.raw_os_error().unwrap_or(libc::EIO),
    }
}

/// Clones one init; returns its pid, or minus the errno of the clone.
fn clone_init(header: &Header, mut fds: Vec<OwnedFd>) -> i32 {
    let cgroup = header.cgroup_dir.then(|| fds.pop()).flatten();
    let netns = header.netns.then(|| fds.pop()).flatten();
    // `parse` checked the number.
    let Ok(fds) = <[OwnedFd; INIT_FDS]>::try_from(fds) else {
        return -libc::EINVAL;
    };
    // Ours, read before the clone: inside a new user namespace they read
    // as the overflow id (65534) until the maps are written.
    let ids = (nix::unistd::getuid(), nix::unistd::getgid());
    match sys::clone_sibling(header.namespaces, cgroup.as_ref().map(|f| f.as_fd())) {
        Ok(sys::Forked::Child) => become_init(header, ids, netns, fds),
        Ok(sys::Forked::Parent(pid)) => pid,
        Err(e) => -e.raw_os_error().unwrap_or(libc::EIO),
    }
}

/// In the new init: finishes the clone's work, then runs the init.
fn become_init(
    header: &Header,
    (uid, gid): (nix::unistd::Uid, nix::unistd::Gid),
    netns: Option<OwnedFd>,
    fds: [OwnedFd; INIT_FDS],
) -> ! {
    let report = &fds[3];
    if header.user {
        // An unprivileged process may map its own uid in a namespace it
        // was just cloned into, once setgroups is denied (user_namespaces(7)).
        or_fail(report, 0, std::fs::write("/proc/self/setgroups", "deny"));
        or_fail(
            report,
            1,
            std::fs::write("/proc/self/uid_map", format!("0 {uid} 1")),
        );
        or_fail(
            report,
            2,
            std::fs::write("/proc/self/gid_map", format!("0 {gid} 1")),
        );
    }
    for procs in &header.cgroup_procs {
        or_fail(report, 3, std::fs::write(procs, "0"));
    }
    // Closed once joined: the namespace is this process's now.
    if let Some(ns) = netns {
        let joined = nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET);
        or_fail(report, 6, joined.map_err(io::Error::from));
    }
    sys::start_init(fds, run_init)
}

/// The init proper, at its own fd numbers (see [`sys::InitFds`]).
fn run_init(fds: sys::InitFds) -> ! {
    // The init must not outlive the runner, whose thread is its parent.
    or_fail(&fds.report, 5, sys::set_parent_death_signal());
    super::init::main(fds)
}

/// On failure, writes "E<step> <errno>" for the runner
/// ([`sys::parse_child_failure`]) and exits.
fn or_fail(report: &impl AsFd, step: u8, result: io::Result<()>) {
    if let Err(e) = result {
        sys::child_failed(report, step, &e)
    }
}
