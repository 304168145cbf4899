//! SIGINT, SIGTERM and SIGHUP in every phase of `cargo isolate test` and
//! `run`. One thread takes the signals ([`install`], early in `main`):
//! the first makes [`cancelled`] true and the cancel pipe readable, which
//! every phase watches (the unpack polls the flag, the build passes the
//! signal on to cargo's process group, the listing and the run kill their
//! sandboxes; each then cleans up and the run writes its report); the
//! second kills at once what was given a grace period (cargo's process
//! group); the third ends the process on the spot.

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::process::{Child, Command};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long a child process group (cargo and what it runs) has to end
/// after the signal is passed on, before it gets SIGKILL.
pub const GRACE: Duration = Duration::from_secs(10);

/// The signals that stop a run.
const STOPPING: [Signal; 3] = [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP];

/// The process-wide state the signal thread keeps.
pub struct CancelPipe {
    /// Readable once the first signal came (nobody reads it: it stays so).
    cancel: OwnedFd,
    /// Readable once the second came.
    urgent: OwnedFd,
    count: AtomicUsize,
    /// The first signal's number.
    first: AtomicI32,
    /// The child process group that is stopped and continued with us
    /// (Ctrl-Z, `fg`), 0 when none.
    group: AtomicI32,
}

static STATE: OnceLock<CancelPipe> = OnceLock::new();

impl CancelPipe {
    /// Becomes readable when the run is cancelled.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.cancel.as_fd()
    }

    pub fn cancelled(&self) -> bool {
        self.count.load(Ordering::SeqCst) > 0
    }
}

/// Takes SIGINT, SIGTERM and SIGHUP (and Ctrl-Z and `fg`, for a child
/// group) from now on, in a thread of its own: call it after the zygote
/// started, which needs the process to have one thread.
pub fn install() -> std::io::Result<()> {
    use signal_hook::consts::{SIGCONT, SIGTSTP};
    if STATE.get().is_some() {
        return Ok(());
    }
    let (cancel_r, mut cancel_w) = std::io::pipe()?;
    let (urgent_r, mut urgent_w) = std::io::pipe()?;
    let mut numbers: Vec<i32> = STOPPING.iter().map(|s| *s as i32).collect();
    numbers.extend([SIGTSTP, SIGCONT]);
    let mut signals = signal_hook::iterator::Signals::new(&numbers)?;
    let state = STATE.get_or_init(|| CancelPipe {
        cancel: cancel_r.into(),
        urgent: urgent_r.into(),
        count: AtomicUsize::new(0),
        first: AtomicI32::new(0),
        group: AtomicI32::new(0),
    });
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                match sig {
                    SIGTSTP => stop_with_group(state),
                    SIGCONT => continue_group(state),
                    _ => take(state, sig, &mut cancel_w, &mut urgent_w),
                }
            }
        })?;
    Ok(())
}

/// One stopping signal: the first cancels, the second hurries, the third
/// leaves now (what is left to clean, the next run removes).
fn take(state: &CancelPipe, sig: i32, cancel: &mut impl Write, urgent: &mut impl Write) {
    // Which signal, before anyone sees the count: the build passes it on.
    if state.count.load(Ordering::SeqCst) == 0 {
        state.first.store(sig, Ordering::SeqCst);
    }
    let n = state.count.fetch_add(1, Ordering::SeqCst) + 1;
    match n {
        1 => {
            if sig == Signal::SIGHUP as i32 {
                leave_hung_terminal();
            }
            let _ = cancel.write_all(b"c");
        }
        2 => {
            let _ = urgent.write_all(b"u");
            say(
                "second signal: killing what is left at once; a third one exits without cleaning up",
            );
        }
        _ => {
            say("third signal: exiting now");
            std::process::exit(i32::from(crate::error::EXIT_INTERRUPTED));
        }
    }
}

/// After a hangup, stdout and stderr may be a terminal that is gone, where
/// every write fails (`EIO`) and `eprintln!` panics: they become /dev/null,
/// so that the run still cleans up and writes its report.
fn leave_hung_terminal() {
    let Ok(null) = std::fs::File::options().write(true).open("/dev/null") else {
        return;
    };
    // A terminal that hung up answers `EIO` to every ioctl (tty_io.c).
    if nix::unistd::isatty(std::io::stdout()) == Err(nix::errno::Errno::EIO) {
        let _ = nix::unistd::dup2_stdout(&null);
    }
    if nix::unistd::isatty(std::io::stderr()) == Err(nix::errno::Errno::EIO) {
        let _ = nix::unistd::dup2_stderr(&null);
    }
}

/// A line on stderr that never panics (stderr may be gone).
fn say(what: &str) {
    let _ = writeln!(std::io::stderr(), "cargo-isolate: {what}");
}

/// Ctrl-Z: the child group stops with us, as it would in our own group.
fn stop_with_group(state: &CancelPipe) {
    let group = state.group.load(Ordering::SeqCst);
    if group > 0 {
        let _ = killpg(Pid::from_raw(group), Signal::SIGTSTP);
    }
    let _ = signal_hook::low_level::emulate_default_handler(signal_hook::consts::SIGTSTP);
}

/// `fg` or `bg`: we continue (the kernel saw to that), and so does the group.
fn continue_group(state: &CancelPipe) {
    let group = state.group.load(Ordering::SeqCst);
    if group > 0 {
        let _ = killpg(Pid::from_raw(group), Signal::SIGCONT);
    }
}

/// The cancel pipe, once [`install`] ran.
pub fn pipe() -> Option<&'static CancelPipe> {
    STATE.get()
}

/// Whether a stopping signal came. Cheap: poll it in loops that do not
/// watch the pipe (an archive's unpack).
pub fn cancelled() -> bool {
    pipe().is_some_and(CancelPipe::cancelled)
}

/// The first stopping signal, if one came.
pub fn first_signal() -> Option<Signal> {
    let n = pipe()?.first.load(Ordering::SeqCst);
    Signal::try_from(n).ok()
}

/// Puts the command's child in a process group of its own when the
/// handlers are installed, so that [`ChildGroup`] can signal it and all it
/// runs (without them the child stays in ours, where the terminal's
/// signals reach it).
pub fn own_group(cmd: &mut Command) -> &mut Command {
    use std::os::unix::process::CommandExt;
    if pipe().is_some() {
        cmd.process_group(0);
    }
    cmd
}

/// A child in its own process group ([`own_group`]) with everything it
/// runs (cargo: rustc, build scripts, the linker), which gets the runner's
/// signals while it runs: the first is passed on to the whole group, the
/// second (or the end of [`GRACE`]) becomes SIGKILL. A signal sent to the
/// runner's pid alone (CI systems, `timeout`) so stops cargo's build
/// scripts too, not only cargo.
pub struct ChildGroup {
    pgid: Pid,
    /// Dropped when the group is done with: the watcher's end reads EOF.
    done: Option<std::io::PipeWriter>,
    watcher: Option<std::thread::JoinHandle<()>>,
}

impl ChildGroup {
    /// Starts watching `child`'s group. `None` without handlers.
    pub fn watch(child: &Child) -> Option<ChildGroup> {
        let state = pipe()?;
        let pgid = Pid::from_raw(child.id() as i32);
        let (done_r, done_w) = std::io::pipe().ok()?;
        let watcher = std::thread::Builder::new()
            .name("child-group".into())
            .spawn(move || watch_group(state, pgid, OwnedFd::from(done_r)))
            .ok()?;
        state.group.store(pgid.as_raw(), Ordering::SeqCst);
        Some(ChildGroup {
            pgid,
            done: Some(done_w),
            watcher: Some(watcher),
        })
    }

    /// Call once the leader's output ended, before reaping it. On a cancel,
    /// waits for the leader to exit (without reaping it: its pid, the group
    /// id, stays ours while signals may still be sent) and for the rest of
    /// the group: what the leader left behind is killed with the group.
    pub fn release(mut self) {
        if cancelled() {
            use nix::sys::wait::{Id, WaitPidFlag, waitid};
            let _ = waitid(
                Id::Pid(self.pgid),
                WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT,
            );
            let deadline = Instant::now() + GRACE + Duration::from_secs(5);
            while group_has_live_members(self.pgid) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if group_has_live_members(self.pgid) {
                say(&format!(
                    "processes of the build (process group {}) outlived SIGKILL",
                    self.pgid
                ));
            }
        }
        self.finish();
    }

    fn finish(&mut self) {
        if let Some(state) = pipe() {
            state.group.store(0, Ordering::SeqCst);
        }
        drop(self.done.take());
        if let Some(w) = self.watcher.take() {
            let _ = w.join();
        }
    }
}

impl Drop for ChildGroup {
    fn drop(&mut self) {
        self.finish();
    }
}

/// The watcher: passes the first signal on to the group, then SIGKILL at
/// the second or when the grace is over; ends when `done` reads EOF.
fn watch_group(state: &CancelPipe, pgid: Pid, done: OwnedFd) {
    if !wait_for(state.cancel.as_fd(), done.as_fd(), None) {
        return;
    }
    let sig = first_signal().unwrap_or(Signal::SIGTERM);
    let _ = killpg(pgid, sig);
    if !wait_for(state.urgent.as_fd(), done.as_fd(), Some(GRACE)) {
        return;
    }
    let _ = killpg(pgid, Signal::SIGKILL);
}

/// Waits until `fd` is readable (true), or `done` is, or the time is up
/// (false for `done`, true for the time: the grace is over).
fn wait_for(fd: BorrowedFd<'_>, done: BorrowedFd<'_>, limit: Option<Duration>) -> bool {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let deadline = limit.map(|l| Instant::now() + l);
    loop {
        let timeout = match deadline {
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return true;
                }
                PollTimeout::try_from(left.as_millis().min(60_000) as i32 + 1)
                    .unwrap_or(PollTimeout::MAX)
            }
            None => PollTimeout::NONE,
        };
        let mut fds = [
            PollFd::new(fd, PollFlags::POLLIN),
            PollFd::new(done, PollFlags::POLLIN),
        ];
        match poll(&mut fds, timeout) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return false,
            Ok(_) => {}
        }
        let ready = |i: usize| fds[i].revents().is_some_and(|r| !r.is_empty());
        if ready(1) {
            return false;
        }
        if ready(0) {
            return true;
        }
    }
}

/// Whether a process other than a zombie is in process group `pgid`.
fn group_has_live_members(pgid: Pid) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|e| {
        let is_pid = e
            .file_name()
            .to_str()
            .is_some_and(|n| n.parse::<u32>().is_ok());
        is_pid
            && std::fs::read_to_string(e.path().join("stat"))
                .ok()
                .and_then(|s| parse_state_and_group(&s))
                .is_some_and(|(state, group)| group == pgid.as_raw() && state != 'Z')
    })
}

/// The state and process group of a `/proc/PID/stat` line. The command
/// name (field 2) may hold spaces and parentheses: fields are counted
/// from the last `)`.
fn parse_state_and_group(stat: &str) -> Option<(char, i32)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let _ppid = fields.next()?;
    let group = fields.next()?.parse().ok()?;
    Some((state, group))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_with_odd_names() {
        let line = "4242 (a) b (c)) S 1 4240 4240 0 -1 4194560 96 0 0 0";
        assert_eq!(parse_state_and_group(line), Some(('S', 4240)));
        assert_eq!(parse_state_and_group("7 (cargo) Z 1 7 7 0"), Some(('Z', 7)));
        assert_eq!(parse_state_and_group("7 (cargo"), None);
        assert_eq!(parse_state_and_group(""), None);
    }

    #[test]
    fn without_handlers_nothing_is_cancelled() {
        // The unit tests never install them: a library call must not
        // report a cancel that nobody could send.
        assert!(!cancelled());
        assert_eq!(first_signal(), None);
    }
}
