//! One sandboxed execution, seen from the runner: [`execute`] clones the
//! init into its namespaces and cgroup, collects its output, enforces the
//! timeout, and returns what happened as data ([`Execution`]).
//!
//! `spec` holds the pure description, `init` the code that runs inside,
//! `sys` every raw syscall.

pub mod gate;
pub mod init;
pub mod inspect;
mod multicast;
pub mod netfault;
mod netlink;
mod nfqueue;
pub mod seccomp;
pub mod spec;
mod sys;
mod zygote;

pub use gate::{Admit, StartGate, Turn};
pub use spec::{InitSpec, RootLayout};
pub use zygote::{ARG as ZYGOTE_ARG, main as zygote_main, pid as zygote_pid, wall as zygote_wall};

use crate::cgroup::{Leaf, LeafStats};
use init::InitReport;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// Which namespaces a sandbox gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Namespaces {
    /// pid, net, mount, uts, ipc; plus user when not root.
    Full { user: bool },
    /// The same process tree and host view (`--isolation none`).
    None,
}

impl Namespaces {
    /// What the init is cloned into. The network, uts and ipc namespaces
    /// are made later, by the test's own user namespace, so that the test
    /// owns them (see `init.rs`).
    fn flags(self) -> libc::c_int {
        match self {
            Namespaces::Full { user } => {
                let mut f = libc::CLONE_NEWNS | libc::CLONE_NEWPID;
                if user {
                    f |= libc::CLONE_NEWUSER;
                }
                f
            }
            Namespaces::None => 0,
        }
    }
}

/// Where the sandbox's stdout and stderr go.
pub enum Output {
    /// Captured, keeping the last `limit` bytes of each; with `echo`, also
    /// copied to the runner's stdout and stderr as it arrives.
    Capture { limit: usize, echo: bool },
    /// The runner's own stdout and stderr (`cargo isolate run`).
    Inherit,
}

pub struct Request<'a> {
    pub spec: &'a InitSpec,
    /// The test's environment, `KEY=VALUE`.
    pub env: &'a [CString],
    pub namespaces: Namespaces,
    pub cgroup: Option<&'a Leaf>,
    pub output: Output,
    pub timeout: Option<Duration>,
    /// At the timeout, SIGTERM to the test's processes and this long for
    /// them to end before the kill (nextest's grace period); `None`: the
    /// kill at once.
    pub grace: Option<Duration>,
    /// Becomes readable when the run is cancelled (Ctrl-C).
    pub cancel: Option<BorrowedFd<'a>>,
    /// Join this network namespace instead of making a fresh one.
    pub netns: Option<BorrowedFd<'a>>,
    /// Where the test waits for a slot once its sandbox is ready; without
    /// one it starts at once.
    pub gate: Option<&'a dyn Admit>,
    /// Called when the test is let go.
    pub on_start: Option<&'a dyn Fn()>,
}

/// How the init ended.
#[derive(Debug, Clone, PartialEq)]
pub enum InitEnd {
    /// The test ran; its status and usage as the init saw them.
    Reported(InitReport),
    /// Sandbox setup failed before the test could start.
    SetupFailed(String),
    /// The init died without a report (killed: timeout, OOM group kill,
    /// cancel), with its raw wait status.
    Died { wait_status: i32 },
}

#[derive(Debug, Clone)]
pub struct Execution {
    pub end: InitEnd,
    pub timed_out: bool,
    pub cancelled: bool,
    pub stdout: Captured,
    pub stderr: Captured,
    pub cgroup: LeafStats,
    /// Wall time from the test's go (or the spawn, if it never started)
    /// to its end and report, as the runner saw it.
    pub elapsed: Duration,
    /// Killed at its timeout: where its threads were (see [`inspect`]).
    pub hang: Option<crate::model::Hang>,
    /// Timed out with a grace period: how it went.
    pub grace: Option<Grace>,
}

/// A timed-out test's grace period: its length, and whether the test
/// ended in it (else it was killed at its end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grace {
    pub period: Duration,
    pub ended_in_it: bool,
}

/// The tail of an output stream and how much was dropped from its head.
#[derive(Debug, Clone, Default)]
pub struct Captured {
    pub bytes: Vec<u8>,
    pub dropped: u64,
}

impl Captured {
    fn push(&mut self, data: &[u8], limit: usize) {
        self.bytes.extend_from_slice(data);
        if self.bytes.len() > limit.saturating_mul(2).max(64 * 1024) {
            self.trim(limit);
        }
    }

    fn trim(&mut self, limit: usize) {
        if self.bytes.len() > limit {
            let cut = self.bytes.len() - limit;
            self.bytes.drain(..cut);
            self.dropped += cut as u64;
        }
    }

    /// The text with a marker where the head was cut.
    pub fn text(&self) -> String {
        let body = String::from_utf8_lossy(&self.bytes);
        if self.dropped > 0 {
            format!("[cargo-isolate: {} bytes cut here]\n{body}", self.dropped)
        } else {
            body.into_owned()
        }
    }
}

/// A failure of the runner's own machinery (not of the test).
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("failed to {what}: {source}")]
    Io { what: String, source: io::Error },
}

fn io_err(what: &str) -> impl FnOnce(io::Error) -> SandboxError + '_ {
    move |source| SandboxError::Io {
        what: what.to_string(),
        source,
    }
}

/// Whether the kernel takes x32 system calls, which a filter must then
/// refuse too.
pub fn x32_abi_enabled() -> bool {
    sys::x32_abi_enabled()
}

/// Starts the zygote that clones every sandbox's init. Call it once, before
/// the first sandbox.
pub fn start_zygote() -> Result<(), SandboxError> {
    zygote::start().map_err(io_err("start the sandbox zygote"))
}

/// Runs one sandbox to completion, its init's exit included.
pub fn execute(req: &Request<'_>) -> Result<Execution, SandboxError> {
    execute_until_report(req).map(|(execution, _teardown)| execution)
}

/// Runs one sandbox until its test has ended and its init has reported;
/// the init's own exit is left to the [`Teardown`].
pub fn execute_until_report(req: &Request<'_>) -> Result<(Execution, Teardown), SandboxError> {
    let (teardown, pidfd, ends) = spawn_init(req)?;
    let mut watch = Watch::new(req, ends);
    watch.until_reported(req, &pidfd)?;
    watch.finish(req, teardown, &pidfd)
}

/// The runner's ends of a new sandbox's pipes.
struct Ends {
    report: OwnedFd,
    gate: UnixStream,
    stdout: Option<OwnedFd>,
    stderr: Option<OwnedFd>,
    spawned: Instant,
}

/// Asks the zygote for the sandbox's init, handing it the child's ends of
/// its stdio, report channel, spec and start gate.
fn spawn_init(req: &Request<'_>) -> Result<(Teardown, OwnedFd, Ends), SandboxError> {
    // The spec, then the test's environment after a NUL (which JSON never
    // holds), one `KEY=VALUE` per NUL-terminated string.
    let mut spec_json = serde_json::to_vec(req.spec).map_err(|e| SandboxError::Io {
        what: "encode the sandbox spec".into(),
        source: io::Error::other(e),
    })?;
    spec_json.push(0);
    for kv in req.env {
        spec_json.extend_from_slice(kv.as_bytes_with_nul());
    }
    let spec_fd = sys::memfd_with(&spec_json).map_err(io_err("pass the spec (memfd)"))?;
    let (report_r, report_w) = sys::pipe_cloexec().map_err(io_err("create a pipe"))?;
    let (gate_r, gate_w) =
        UnixStream::pair().map_err(io_err("create the start gate (socketpair)"))?;
    let devnull = File::options()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(io_err("open /dev/null"))?;
    let (out_pipes, stdout_fd, stderr_fd) = match req.output {
        Output::Capture { .. } => {
            let (or, ow) = sys::pipe_cloexec().map_err(io_err("create a pipe"))?;
            let (er, ew) = sys::pipe_cloexec().map_err(io_err("create a pipe"))?;
            let (o, e) = (ow.as_raw_fd(), ew.as_raw_fd());
            (Some((or, ow, er, ew)), o, e)
        }
        Output::Inherit => (None, 1, 2),
    };
    let spawn = zygote::SpawnRequest {
        namespaces: req.namespaces.flags(),
        user: matches!(req.namespaces, Namespaces::Full { user: true }),
        netns_fd: req.netns.map(|fd| fd.as_raw_fd()),
        cgroup_fd: req.cgroup.and_then(|l| l.dir_fd()),
        cgroup_procs: req.cgroup.map(|l| l.procs_files()).unwrap_or_default(),
        stdio: [
            devnull.as_raw_fd(),
            stdout_fd,
            stderr_fd,
            report_w.as_raw_fd(),
            spec_fd.as_raw_fd(),
            gate_w.as_raw_fd(),
        ],
    };
    let spawned = Instant::now();
    let child = zygote::spawn(&spawn).map_err(io_err("create the sandbox (clone3)"))?;
    let pidfd = child
        .pidfd
        .try_clone()
        .map_err(io_err("keep the sandbox's pidfd"))?;
    // From here on, every way out kills and reaps the init (Teardown's
    // drop), unless it has reported and is on its way out.
    let teardown = Teardown {
        init: Some(child),
        reported: false,
    };
    drop((report_w, gate_w, spec_fd, devnull));
    let (stdout, stderr) = match out_pipes {
        Some((or, ow, er, ew)) => {
            drop((ow, ew));
            (Some(or), Some(er))
        }
        None => (None, None),
    };
    let ends = Ends {
        report: report_r,
        gate: gate_r,
        stdout,
        stderr,
        spawned,
    };
    Ok((teardown, pidfd, ends))
}

/// What the runner reads of one sandbox while its test runs.
struct Watch {
    report_r: OwnedFd,
    out_r: Option<OwnedFd>,
    err_r: Option<OwnedFd>,
    /// Until the go is given.
    gate: Option<UnixStream>,
    spawned: Instant,
    /// The test's clock (and its timeout) starts at the go; until then the
    /// timeout bounds the sandbox's setup.
    started: Option<Instant>,
    /// Timed out and sent SIGTERM: the end of its grace period.
    grace_until: Option<Instant>,
    grace: Option<Grace>,
    timed_out: bool,
    cancelled: bool,
    out_open: bool,
    err_open: bool,
    report: Vec<u8>,
    report_open: bool,
    buf: Vec<u8>,
    stdout: Captured,
    stderr: Captured,
    /// How much of each stream went to the terminal (--no-capture).
    echoed: (u64, u64),
    limit: usize,
    echo: bool,
}

impl Watch {
    fn new(req: &Request<'_>, ends: Ends) -> Watch {
        let (limit, echo) = match req.output {
            Output::Capture { limit, echo } => (limit, echo),
            Output::Inherit => (0, false),
        };
        Watch {
            out_open: ends.stdout.is_some(),
            err_open: ends.stderr.is_some(),
            report_r: ends.report,
            out_r: ends.stdout,
            err_r: ends.stderr,
            gate: Some(ends.gate),
            spawned: ends.spawned,
            started: None,
            grace_until: None,
            grace: None,
            timed_out: false,
            cancelled: false,
            report: Vec::new(),
            report_open: true,
            buf: vec![0u8; 64 * 1024],
            stdout: Captured::default(),
            stderr: Captured::default(),
            echoed: (0, 0),
            limit,
            echo,
        }
    }

    /// How long the next poll may wait: until the timeout, if any (or the
    /// end of the grace period that followed it).
    fn wait(&mut self, req: &Request<'_>) -> Option<PollTimeout> {
        let end = match (self.grace_until, req.timeout) {
            (Some(end), _) => end,
            (None, Some(t)) => self.started.unwrap_or(self.spawned) + t,
            (None, None) => return Some(PollTimeout::NONE),
        };
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            self.timed_out = true;
            return None;
        }
        Some(
            PollTimeout::try_from(left.as_millis().min(60_000) as i32 + 1)
                .unwrap_or(PollTimeout::MAX),
        )
    }

    /// Reads output and the report, and gives the go when the gate admits
    /// the test, until the test has ended and reported, the init is gone,
    /// the timeout passed or a signal came.
    fn until_reported(&mut self, req: &Request<'_>, pidfd: &OwnedFd) -> Result<(), SandboxError> {
        while let Some(wait) = self.wait(req) {
            let mut fds = vec![PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
            let out_idx = watch(
                &mut fds,
                self.out_r
                    .as_ref()
                    .filter(|_| self.out_open)
                    .map(|f| f.as_fd()),
            );
            let err_idx = watch(
                &mut fds,
                self.err_r
                    .as_ref()
                    .filter(|_| self.err_open)
                    .map(|f| f.as_fd()),
            );
            let cancel_idx = watch(&mut fds, req.cancel);
            let gate_idx = watch(&mut fds, self.gate.as_ref().map(|g| g.as_fd()));
            let report_idx = watch(
                &mut fds,
                Some(self.report_r.as_fd()).filter(|_| self.report_open),
            );
            match poll(&mut fds, wait) {
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(io_err("poll the sandbox")(e.into())),
            }
            let ready = |i: Option<usize>| {
                i.and_then(|i| fds[i].revents())
                    .is_some_and(|r| !r.is_empty())
            };
            let (o, e, c, g, r, exited) = (
                ready(out_idx),
                ready(err_idx),
                ready(cancel_idx),
                ready(gate_idx),
                ready(report_idx),
                ready(Some(0)),
            );
            drop(fds);
            self.read_ready(o, e, r);
            if c {
                self.cancelled = true;
                break;
            }
            if g && !self.at_the_gate(req) {
                self.cancelled = true;
                break;
            }
            if !self.report_open && !self.out_open && !self.err_open {
                // The test's processes are gone and the init has reported:
                // its namespaces' teardown need not hold up the next test.
                break;
            }
            if exited {
                // The init is gone, and with it the whole namespace: what
                // is still buffered in the pipes is all there will be.
                break;
            }
        }
        Ok(())
    }

    fn read_ready(&mut self, out: bool, err: bool, report: bool) {
        if out && let Some(fd) = &self.out_r {
            self.out_open = read_some(fd, &mut self.buf, &mut self.stdout, self.limit);
            if self.echo {
                echo_new(&mut std::io::stdout(), &self.stdout, &mut self.echoed.0);
            }
        }
        if err && let Some(fd) = &self.err_r {
            self.err_open = read_some(fd, &mut self.buf, &mut self.stderr, self.limit);
            if self.echo {
                echo_new(&mut std::io::stderr(), &self.stderr, &mut self.echoed.1);
            }
        }
        if report {
            self.report_open = read_report_some(&self.report_r, &mut self.report);
        }
    }

    /// nextest's grace period: SIGTERM to each of the test's processes (not
    /// the init, which is ours), then their output and the init's report
    /// read as usual until they are gone or `grace` has passed. The test
    /// stays timed out either way; what it did meanwhile is in its output.
    fn give_grace(
        &mut self,
        req: &Request<'_>,
        pidfd: &OwnedFd,
        init_pid: libc::pid_t,
        grace: Duration,
    ) -> Result<(), SandboxError> {
        let procs = req.cgroup.and_then(|l| l.procs_files().into_iter().next());
        for pid in inspect::processes(init_pid, procs.as_deref()) {
            sys::terminate_pid(pid);
        }
        self.grace_until = Some(Instant::now() + grace);
        self.timed_out = false;
        let watched = self.until_reported(req, pidfd);
        // Set again only if the grace period ran out; a signal meanwhile
        // (the run stops) is no end of the test's own.
        let ended_in_it = !self.timed_out && !self.cancelled;
        self.grace = Some(Grace {
            period: grace,
            ended_in_it,
        });
        self.timed_out = true;
        watched
    }

    /// The init is ready (or failed): the go once the gate admits the
    /// test. False: a signal came while waiting for a slot.
    fn at_the_gate(&mut self, req: &Request<'_>) -> bool {
        let Some(sock) = self.gate.take() else {
            return true;
        };
        if !matches!(read_byte(&sock), Some(b'r')) {
            // The init failed before it was ready: its report says why.
            return true;
        }
        if let Some(gate) = req.gate
            && !gate.admit(&|| is_readable(req.cancel))
        {
            return false;
        }
        // A failed write means the init is gone; its exit shows next.
        let _ = (&sock).write_all(b"g");
        self.started = Some(Instant::now());
        if let Some(on_start) = req.on_start {
            on_start();
        }
        true
    }

    /// Kills what a timeout or a signal cut short, reads what is left and
    /// gives the execution; the init's exit is the Teardown's unless it
    /// did not report.
    fn finish(
        mut self,
        req: &Request<'_>,
        mut teardown: Teardown,
        pidfd: &OwnedFd,
    ) -> Result<(Execution, Teardown), SandboxError> {
        if let Some(gate) = req.gate {
            gate.test_ended();
        }
        let elapsed = self.started.unwrap_or(self.spawned).elapsed();
        // Before the kill, and only on this path: what a hung test was
        // doing, which its killing would erase.
        // Its figures are taken first: the test runs on while it is
        // inspected (up to seconds with a debugger), which is not its own
        // time or CPU.
        let mut at_timeout = None;
        let hang = match (self.timed_out && !self.cancelled, &teardown.init) {
            (true, Some(init)) => {
                at_timeout = req.cgroup.map(|l| l.stats());
                let procs = req.cgroup.and_then(|l| l.procs_files().into_iter().next());
                Some(inspect::inspect(init.pid, procs.as_deref()))
            }
            _ => None,
        };
        if let (true, Some(grace), Some(init)) = (
            self.timed_out && !self.cancelled && self.started.is_some(),
            req.grace,
            &teardown.init,
        ) {
            self.give_grace(req, pidfd, init.pid, grace)?;
        }
        if self.timed_out || self.cancelled {
            sys::pidfd_kill(pidfd).map_err(io_err("kill the sandbox"))?;
            if let Some(leaf) = req.cgroup {
                leaf.kill_all();
            }
        }
        // With its report in, the init's exit status tells nothing more:
        // the init tears its namespaces down (a millisecond or two) while
        // the caller goes on, and the Teardown reaps it.
        let reported =
            !self.report_open && !self.report.is_empty() && !self.timed_out && !self.cancelled;
        teardown.reported = reported;
        let reaped = match reported {
            true => 0,
            false => teardown.reap()?,
        };
        let limit = self.limit;
        drain(
            self.out_r.as_ref(),
            &mut self.out_open,
            &mut self.buf,
            &mut self.stdout,
            limit,
        );
        drain(
            self.err_r.as_ref(),
            &mut self.err_open,
            &mut self.buf,
            &mut self.stderr,
            limit,
        );
        while self.report_open && read_report_some(&self.report_r, &mut self.report) {}
        if self.echo {
            echo_new(&mut std::io::stdout(), &self.stdout, &mut self.echoed.0);
            echo_new(&mut std::io::stderr(), &self.stderr, &mut self.echoed.1);
        }
        self.stdout.trim(limit);
        self.stderr.trim(limit);
        let execution = Execution {
            end: read_report(&self.report, reaped),
            timed_out: self.timed_out,
            cancelled: self.cancelled,
            stdout: self.stdout,
            stderr: self.stderr,
            cgroup: at_timeout
                .or_else(|| req.cgroup.map(|l| l.stats()))
                .unwrap_or_default(),
            elapsed,
            hang,
            grace: self.grace,
        };
        Ok((execution, teardown))
    }
}

/// A sandbox's init that may still be tearing its namespaces down. Dropping
/// it waits for the init to exit (killing it first if it has not
/// reported); drop it before the init's cgroup leaf, which cannot be
/// removed while the init is in it.
#[must_use = "dropping a Teardown waits for the init"]
pub struct Teardown {
    init: Option<zygote::SpawnedInit>,
    reported: bool,
}

impl Teardown {
    /// Waits for the init; its wait status.
    fn reap(&mut self) -> Result<i32, SandboxError> {
        let Some(init) = self.init.take() else {
            return Ok(0);
        };
        Ok(sys::wait4(init.pid, 0)
            .map_err(io_err("wait for the sandbox init"))?
            .map(|(_, r)| r.status)
            .unwrap_or(0))
    }
}

impl Drop for Teardown {
    fn drop(&mut self) {
        if let Some(init) = &self.init
            && !self.reported
        {
            let _ = sys::pidfd_kill(&init.pidfd);
        }
        let _ = self.reap();
    }
}

/// Reads what the report pipe has, up to one byte more than a report may
/// hold (so that an overlong one shows as malformed); false at EOF, or once
/// that much has come.
fn read_report_some(fd: &OwnedFd, into: &mut Vec<u8>) -> bool {
    let mut buf = [0u8; 4096];
    match nix::unistd::read(fd, &mut buf) {
        Ok(0) => false,
        Ok(n) => {
            into.extend_from_slice(&buf[..n]);
            (into.len() as u64) <= MAX_REPORT_BYTES
        }
        Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => true,
        Err(_) => false,
    }
}

/// Adds `fd` to the poll set; its index there.
fn watch<'f>(fds: &mut Vec<PollFd<'f>>, fd: Option<BorrowedFd<'f>>) -> Option<usize> {
    fd.map(|fd| {
        fds.push(PollFd::new(fd, PollFlags::POLLIN));
        fds.len() - 1
    })
}

fn read_byte(mut sock: &UnixStream) -> Option<u8> {
    let mut b = [0u8; 1];
    match sock.read(&mut b) {
        Ok(1) => Some(b[0]),
        _ => None,
    }
}

/// Whether `fd` (the cancel pipe) has become readable.
fn is_readable(fd: Option<BorrowedFd<'_>>) -> bool {
    let Some(fd) = fd else { return false };
    let mut p = [PollFd::new(fd, PollFlags::POLLIN)];
    matches!(poll(&mut p, PollTimeout::ZERO), Ok(n) if n > 0)
}

/// More than any report the init writes: a longer one is malformed.
const MAX_REPORT_BYTES: u64 = 64 * 1024;

/// What the init said on its report channel. Only the init holds that
/// channel, and it writes exactly one line; anything else (two lines,
/// garbage, a truncated line) is a setup error, never a pass.
fn read_report(raw: &[u8], wait_status: i32) -> InitEnd {
    if raw.is_empty() {
        return InitEnd::Died { wait_status };
    }
    let malformed = || {
        InitEnd::SetupFailed(format!(
            "the sandbox init sent a malformed report ({} bytes: {:?})",
            raw.len(),
            String::from_utf8_lossy(&raw[..raw.len().min(80)])
        ))
    };
    let Ok(text) = std::str::from_utf8(raw) else {
        return malformed();
    };
    let Some(line) = text.strip_suffix('\n') else {
        return malformed();
    };
    if let Some(msg) = line.strip_prefix("err ") {
        // An error message may span lines; it is never read as a pass.
        return InitEnd::SetupFailed(msg.trim().to_string());
    }
    if line.contains('\n') {
        return malformed();
    }
    if let Some(r) = InitReport::parse(line) {
        InitEnd::Reported(r)
    } else if let Some((step, err)) = sys::parse_child_failure(line) {
        InitEnd::SetupFailed(format!("failed to {step}: {err}"))
    } else {
        malformed()
    }
}

/// Writes what `captured` holds beyond the `echoed` bytes already written
/// (counting what was cut from its head), and advances `echoed`.
fn echo_new(to: &mut impl std::io::Write, captured: &Captured, echoed: &mut u64) {
    let total = captured.dropped + captured.bytes.len() as u64;
    let start = echoed.saturating_sub(captured.dropped) as usize;
    if let Some(new) = captured.bytes.get(start..) {
        let _ = to.write_all(new);
        let _ = to.flush();
    }
    *echoed = total;
}

/// Reads what is available; false at EOF.
fn read_some(fd: &OwnedFd, buf: &mut [u8], into: &mut Captured, limit: usize) -> bool {
    match nix::unistd::read(fd, buf) {
        Ok(0) => false,
        Ok(n) => {
            into.push(&buf[..n], limit);
            true
        }
        Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => true,
        Err(_) => false,
    }
}

/// Reads until EOF or until nothing more is ready.
fn drain(fd: Option<&OwnedFd>, open: &mut bool, buf: &mut [u8], into: &mut Captured, limit: usize) {
    let Some(fd) = fd else { return };
    while *open {
        let mut p = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut p, PollTimeout::ZERO) {
            Ok(n) if n > 0 => *open = read_some(fd, buf, into, limit),
            _ => return,
        }
    }
}

/// A network namespace (with `lo` up) for one worker to reuse.
pub fn new_network_namespace() -> Result<OwnedFd, SandboxError> {
    sys::new_network_namespace().map_err(io_err("make a network namespace for --reuse-netns"))
}

/// `KEY=VALUE` strings for exec.
pub fn env_block<'a>(
    vars: impl IntoIterator<Item = (&'a std::ffi::OsStr, &'a std::ffi::OsStr)>,
) -> Vec<CString> {
    vars.into_iter()
        .filter_map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_one_report_line_is_accepted() {
        let ok = read_report(b"ok 0 10 20 30\n", 0);
        assert!(matches!(ok, InitEnd::Reported(r) if r.wall_us == 30));
        for bad in [
            &b"ok 0 10 20 30\nok 0 0 0 0\n"[..],
            b"ok 0 10 20 30",
            b"ok 0 10 20 30 40\n",
            b"ok 0 0 0\n",
            b"garbage\n",
            b"\xff\xfe\n",
        ] {
            assert!(
                matches!(read_report(bad, 0), InitEnd::SetupFailed(_)),
                "{bad:?} was accepted"
            );
        }
        assert!(matches!(
            read_report(b"", 9),
            InitEnd::Died { wait_status: 9 }
        ));
        assert!(
            matches!(read_report(b"err mount: EPERM\n", 0), InitEnd::SetupFailed(m) if m == "mount: EPERM")
        );
    }
}
