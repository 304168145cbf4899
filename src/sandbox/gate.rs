//! How many sandboxes run their test at once. The runner sets up and tears
//! down more sandboxes than `-j`: their setup and teardown mostly wait on
//! the kernel (RCU grace periods behind mount, network and cgroup locks),
//! and overlap the tests that run meanwhile. A sandbox takes a [`Slot`]
//! only to run its test, from its init's go to its report.

use std::cell::RefCell;
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::Duration;

pub struct StartGate {
    state: Mutex<State>,
    freed: Condvar,
}

struct State {
    free: usize,
    closed: bool,
}

/// One running test; frees its place when dropped.
pub struct Slot<'a>(&'a StartGate);

/// How often a waiter looks at its `give_up` condition.
const RECHECK: Duration = Duration::from_millis(50);

impl StartGate {
    pub fn new(slots: usize) -> StartGate {
        StartGate {
            state: Mutex::new(State {
                free: slots.max(1),
                closed: false,
            }),
            freed: Condvar::new(),
        }
    }

    /// Waits for a free slot. `None` once the gate is closed, or when
    /// `give_up` says so (it is asked at least every 50 ms).
    fn acquire(&self, give_up: impl Fn() -> bool) -> Option<Slot<'_>> {
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if st.closed || give_up() {
                return None;
            }
            if st.free > 0 {
                st.free -= 1;
                return Some(Slot(self));
            }
            st = self
                .freed
                .wait_timeout(st, RECHECK)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// No test starts any more (--fail-fast, --max-fail): the sandboxes
    /// waiting for a slot are abandoned.
    pub fn close(&self) {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .closed = true;
        self.freed.notify_all();
    }
}

/// What a sandbox asks of the gate; a trait so that a request need not
/// name the gate's lifetime.
pub trait Admit {
    /// Waits for a slot for the test about to start; false to give up.
    fn admit(&self, give_up: &dyn Fn() -> bool) -> bool;
    /// The test's processes are gone and its init has reported.
    fn test_ended(&self);
}

/// One worker's place at the gate: the slot its running test holds.
pub struct Turn<'g> {
    gate: &'g StartGate,
    slot: RefCell<Option<Slot<'g>>>,
    /// Keep the slot past the test's end, until [`Turn::free`]: with
    /// --fail-fast or --max-fail, no other test may start before this
    /// one's outcome is counted.
    keep: bool,
}

impl<'g> Turn<'g> {
    pub fn new(gate: &'g StartGate, keep: bool) -> Turn<'g> {
        Turn {
            gate,
            slot: RefCell::new(None),
            keep,
        }
    }

    /// Lets the next test start.
    pub fn free(&self) {
        self.slot.borrow_mut().take();
    }
}

impl Admit for Turn<'_> {
    fn admit(&self, give_up: &dyn Fn() -> bool) -> bool {
        self.free();
        let slot = self.gate.acquire(give_up);
        let admitted = slot.is_some();
        *self.slot.borrow_mut() = slot;
        admitted
    }

    fn test_ended(&self) {
        if !self.keep {
            self.free();
        }
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .free += 1;
        self.0.freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn never_more_slots_than_given() {
        let gate = StartGate::new(2);
        let (running, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..50 {
                        let _slot = gate.acquire(|| false).expect("open gate");
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::yield_now();
                        running.fetch_sub(1, Ordering::SeqCst);
                    }
                });
            }
        });
        assert_eq!(most.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_closed_gate_or_a_give_up_lets_nobody_in() {
        let gate = StartGate::new(1);
        let held = gate.acquire(|| false).expect("a free slot");
        assert!(gate.acquire(|| true).is_none());
        std::thread::scope(|s| {
            let waiter = s.spawn(|| gate.acquire(|| false).is_none());
            std::thread::sleep(Duration::from_millis(20));
            gate.close();
            assert!(waiter.join().unwrap(), "the waiter got in after close");
        });
        drop(held);
        assert!(gate.acquire(|| false).is_none());
    }
}
