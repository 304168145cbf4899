//! Ctrl-C and SIGTERM become a readable pipe that every sandbox's poll
//! loop watches, so a cancelled run kills its sandboxes, cleans up and
//! still writes its report.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

pub struct CancelPipe {
    read: OwnedFd,
    flag: Arc<AtomicBool>,
}

impl CancelPipe {
    /// Registers the handlers. `None` if they cannot be installed.
    pub fn install() -> Option<CancelPipe> {
        let (read, write) = std::io::pipe().ok()?;
        let flag = Arc::new(AtomicBool::new(false));
        let write = OwnedFd::from(write);
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            // The handler writes a byte: the pipe turns readable for every
            // poller at once and stays so (nobody reads it).
            signal_hook::low_level::pipe::register(sig, write.try_clone().ok()?).ok()?;
            signal_hook::flag::register(sig, flag.clone()).ok()?;
        }
        Some(CancelPipe {
            read: OwnedFd::from(read),
            flag,
        })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }

    pub fn cancelled(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }
}
