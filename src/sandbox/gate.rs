//! How many sandboxes run their test at once. The runner sets up and tears
//! down more sandboxes than `-j`: their setup and teardown mostly wait on
//! the kernel (RCU grace periods behind mount, network and cgroup locks),
//! and overlap the tests that run meanwhile. A sandbox takes a [`Slot`]
//! only to run its test, from its init's go to its report.
//!
//! With a memory total (`--memory-total`), a test also takes its weight
//! (its memory limit, else its budget) and starts only while the running
//! tests' weights and its own fit in the total; one heavier than the total
//! runs alone. Light tests keep starting beside heavy ones.
//!
//! With one slot (`-j 1`) tests start in the order they were taken
//! ([`StartGate::ticket`]), whichever sandbox is ready first: one test at a
//! time means one after the other, as listed, so that an order-dependent
//! failure shows the same way run after run.

use std::cell::{Cell, RefCell};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

pub struct StartGate {
    state: Mutex<State>,
    freed: Condvar,
}

struct State {
    free: usize,
    /// All the slots: a test that asks for more takes them all.
    slots: usize,
    closed: bool,
    /// Tests running, and the sum of their weights.
    running: usize,
    memory_used: u64,
    memory_total: Option<u64>,
    /// Test groups: the most of each group's tests at once, and how many
    /// run now.
    group_max: std::collections::BTreeMap<String, usize>,
    group_running: std::collections::BTreeMap<String, usize>,
    /// The next ticket, and the tickets taken and not yet given back.
    next_ticket: usize,
    tickets: std::collections::BTreeSet<usize>,
}

impl State {
    fn group_has_room(&self, group: Option<&str>) -> bool {
        let Some(g) = group else { return true };
        let max = self.group_max.get(g).copied().unwrap_or(usize::MAX);
        self.group_running.get(g).copied().unwrap_or(0) < max
    }

    /// With one slot, only the oldest ticket's test may start.
    fn is_turn_of(&self, ticket: Option<usize>) -> bool {
        self.slots > 1
            || ticket.is_none_or(|t| self.tickets.first().is_none_or(|&first| first == t))
    }

    fn fits(&self, weight: u64) -> bool {
        self.running == 0
            || self
                .memory_total
                .is_none_or(|total| self.memory_used.saturating_add(weight) <= total)
    }
}

/// One running test, its weight, how many slots it took and its group;
/// frees them when dropped.
pub struct Slot<'a>(&'a StartGate, u64, usize, Option<String>);

/// A place in the order tests start in: taken with the unit to run, given
/// back when dropped (after the unit's last attempt, or when it runs none).
pub struct Ticket<'a>(&'a StartGate, usize);

impl Ticket<'_> {
    /// Tickets are numbered 0, 1, 2... in the order they are taken.
    pub fn number(&self) -> usize {
        self.1
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        let mut st = self.0.state.lock().unwrap_or_else(PoisonError::into_inner);
        st.tickets.remove(&self.1);
        drop(st);
        self.0.freed.notify_all();
    }
}

/// How often a waiter looks at its `give_up` condition.
const RECHECK: Duration = Duration::from_millis(50);

impl StartGate {
    /// `slots` tests at once, with `memory_total` only as many as their
    /// weights fit in it, and of each test group at most its maximum.
    pub fn new(
        slots: usize,
        memory_total: Option<u64>,
        groups: std::collections::BTreeMap<String, usize>,
    ) -> StartGate {
        StartGate {
            state: Mutex::new(State {
                free: slots.max(1),
                slots: slots.max(1),
                closed: false,
                running: 0,
                memory_used: 0,
                memory_total,
                group_max: groups,
                group_running: Default::default(),
                next_ticket: 0,
                tickets: Default::default(),
            }),
            freed: Condvar::new(),
        }
    }

    /// The next place in the starting order; its number is the schedule's
    /// next item. Taken and numbered at once, under the lock, so that no
    /// older ticket can appear after a younger one was let in.
    pub fn ticket(&self) -> Ticket<'_> {
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let n = st.next_ticket;
        st.next_ticket += 1;
        st.tickets.insert(n);
        Ticket(self, n)
    }

    /// Waits for a free slot, and room for `weight` bytes. `None` once the
    /// gate is closed, or when `give_up` says so (it is asked at least
    /// every 50 ms). Also how long a free slot waited for memory.
    #[cfg(test)]
    fn acquire(&self, weight: u64, give_up: impl Fn() -> bool) -> Option<(Slot<'_>, Duration)> {
        self.acquire_slots(1, weight, None, None, give_up)
    }

    /// Waits for `slots` free slots (nextest's threads-required; more
    /// than there are takes them all), room for `weight` bytes and, with
    /// one slot, `ticket`'s turn. `None` once the gate is closed, or when
    /// `give_up` says so. Also how long the slots, free, waited for memory.
    fn acquire_slots(
        &self,
        slots: usize,
        weight: u64,
        group: Option<&str>,
        ticket: Option<usize>,
        give_up: impl Fn() -> bool,
    ) -> Option<(Slot<'_>, Duration)> {
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let slots = slots.clamp(1, st.slots);
        let mut waited = Duration::ZERO;
        loop {
            if st.closed || give_up() {
                return None;
            }
            let slot_free = st.free >= slots && st.group_has_room(group) && st.is_turn_of(ticket);
            if slot_free && st.fits(weight) {
                st.free -= slots;
                st.running += 1;
                st.memory_used = st.memory_used.saturating_add(weight);
                if let Some(g) = group {
                    *st.group_running.entry(g.to_string()).or_default() += 1;
                }
                return Some((Slot(self, weight, slots, group.map(String::from)), waited));
            }
            let since = Instant::now();
            st = self
                .freed
                .wait_timeout(st, RECHECK)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            if slot_free {
                waited += since.elapsed();
            }
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
    /// What the next test weighs against the memory total (its memory
    /// limit, else its budget, else nothing) and how many slots it takes.
    fn weigh(&self, _bytes: u64, _slots: usize, _group: Option<&str>) {}
    /// How long the last test waited for memory with a slot free.
    fn waited_for_memory(&self) -> Duration {
        Duration::ZERO
    }
}

/// One worker's place at the gate: the slot its running test holds.
pub struct Turn<'g> {
    gate: &'g StartGate,
    slot: RefCell<Option<Slot<'g>>>,
    /// The weight of the next test this worker starts, and how long its
    /// last one waited for memory.
    weight: Cell<u64>,
    slots: Cell<usize>,
    group: RefCell<Option<String>>,
    memory_wait: Cell<Duration>,
    /// This worker's place in the starting order.
    ticket: RefCell<Option<Ticket<'g>>>,
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
            weight: Cell::new(0),
            slots: Cell::new(1),
            group: RefCell::new(None),
            memory_wait: Cell::new(Duration::ZERO),
            ticket: RefCell::new(None),
            keep,
        }
    }

    /// Gives back this worker's place in the starting order and takes the
    /// next one, for the next unit it runs: the number of that unit in the
    /// schedule.
    pub fn next_ticket(&self) -> usize {
        self.ticket.borrow_mut().take();
        let ticket = self.gate.ticket();
        let n = ticket.number();
        *self.ticket.borrow_mut() = Some(ticket);
        n
    }

    /// Lets the next test start.
    pub fn free(&self) {
        self.slot.borrow_mut().take();
    }
}

impl Admit for Turn<'_> {
    fn admit(&self, give_up: &dyn Fn() -> bool) -> bool {
        self.free();
        let group = self.group.borrow().clone();
        let ticket = self.ticket.borrow().as_ref().map(Ticket::number);
        let acquired = self.gate.acquire_slots(
            self.slots.get(),
            self.weight.get(),
            group.as_deref(),
            ticket,
            give_up,
        );
        let Some((slot, waited)) = acquired else {
            return false;
        };
        self.memory_wait.set(waited);
        *self.slot.borrow_mut() = Some(slot);
        true
    }

    fn test_ended(&self) {
        if !self.keep {
            self.free();
        }
    }

    fn weigh(&self, bytes: u64, slots: usize, group: Option<&str>) {
        self.weight.set(bytes);
        self.slots.set(slots);
        *self.group.borrow_mut() = group.map(String::from);
        self.memory_wait.set(Duration::ZERO);
    }

    fn waited_for_memory(&self) -> Duration {
        self.memory_wait.get()
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut st = self.0.state.lock().unwrap_or_else(PoisonError::into_inner);
        st.free += self.2;
        if let Some(n) = self.3.as_ref().and_then(|g| st.group_running.get_mut(g)) {
            *n -= 1;
        }
        st.running -= 1;
        st.memory_used = st.memory_used.saturating_sub(self.1);
        drop(st);
        // Every waiter: a freed weight may let a heavy test in that one
        // freed slot alone would not.
        self.0.freed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Gives up once the gate said no: a try, not a wait (a `give_up` that
    /// is true at once would say no before the gate is even asked).
    fn once() -> impl Fn() -> bool {
        let asked = Cell::new(false);
        move || asked.replace(true)
    }

    #[test]
    fn never_more_slots_than_given() {
        let gate = StartGate::new(2, None, Default::default());
        let (running, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..50 {
                        let _slot = gate.acquire(0, || false).expect("open gate");
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
        let gate = StartGate::new(1, None, Default::default());
        let held = gate.acquire(0, || false).expect("a free slot");
        assert!(gate.acquire(0, || true).is_none());
        std::thread::scope(|s| {
            let waiter = s.spawn(|| gate.acquire(0, || false).is_none());
            std::thread::sleep(Duration::from_millis(20));
            gate.close();
            assert!(waiter.join().unwrap(), "the waiter got in after close");
        });
        drop(held);
        assert!(gate.acquire(0, || false).is_none());
    }

    #[test]
    fn with_one_slot_tests_start_in_the_order_taken() {
        let gate = StartGate::new(1, None, Default::default());
        let (older, younger) = (gate.ticket(), gate.ticket());
        assert_eq!((older.number(), younger.number()), (0, 1));
        // The younger one is ready first and the slot is free: it waits.
        let ask = |t: &Ticket<'_>, give_up: &dyn Fn() -> bool| {
            gate.acquire_slots(1, 0, None, Some(t.number()), give_up)
        };
        assert!(ask(&younger, &once()).is_none(), "started out of order");
        std::thread::scope(|s| {
            let waiter = s.spawn(|| ask(&younger, &|| false).is_some());
            std::thread::sleep(Duration::from_millis(20));
            let slot = ask(&older, &|| false).expect("the older one starts");
            drop(slot);
            assert!(!waiter.is_finished(), "in while the older ticket is held");
            // Given back (its last attempt ended): the younger one's turn.
            drop(older);
            assert!(waiter.join().unwrap());
        });
        // With two slots, whichever is ready starts.
        let gate = StartGate::new(2, None, Default::default());
        let (_older, younger) = (gate.ticket(), gate.ticket());
        assert!(
            gate.acquire_slots(1, 0, None, Some(younger.number()), || false)
                .is_some()
        );
    }

    #[test]
    fn a_test_group_runs_at_most_its_maximum() {
        let groups = [("db".to_string(), 1)].into_iter().collect();
        let gate = StartGate::new(4, None, groups);
        let first = gate
            .acquire_slots(1, 0, Some("db"), None, || false)
            .expect("one")
            .0;
        assert!(
            gate.acquire_slots(1, 0, Some("db"), None, once()).is_none(),
            "db is full"
        );
        let other = gate
            .acquire_slots(1, 0, None, None, || false)
            .expect("others run");
        drop(first);
        assert!(
            gate.acquire_slots(1, 0, Some("db"), None, || false)
                .is_some()
        );
        drop(other);
    }

    #[test]
    fn a_test_that_needs_threads_takes_that_many_slots() {
        let gate = StartGate::new(4, None, Default::default());
        let three = gate
            .acquire_slots(3, 0, None, None, || false)
            .expect("3 of 4")
            .0;
        let one = gate.acquire(0, || false).expect("the fourth").0;
        assert!(gate.acquire(0, once()).is_none(), "all 4 taken");
        drop(one);
        assert!(
            gate.acquire_slots(2, 0, None, None, once()).is_none(),
            "1 free, 2 asked"
        );
        drop(three);
        // More than there are: all of them.
        let all = gate
            .acquire_slots(9, 0, None, None, || false)
            .expect("all 4")
            .0;
        assert!(gate.acquire(0, once()).is_none());
        drop(all);
    }

    #[test]
    fn weights_fit_in_the_memory_total_and_light_tests_pass_heavy_ones() {
        let gate = StartGate::new(4, Some(700), Default::default());
        let a = gate.acquire(300, || false).expect("fits").0;
        let b = gate.acquire(300, || false).expect("fits").0;
        // A third heavy one does not fit; a light one does.
        assert!(gate.acquire(300, once()).is_none());
        let light = gate.acquire(50, || false).expect("a light test fits");
        std::thread::scope(|s| {
            let heavy = s.spawn(|| gate.acquire(300, || false).map(|(_, w)| w));
            std::thread::sleep(Duration::from_millis(60));
            drop(a);
            let waited = heavy.join().unwrap().expect("admitted once one left");
            assert!(waited >= Duration::from_millis(40), "waited {waited:?}");
        });
        drop((b, light));
        // Heavier than the total: alone, once nothing runs.
        let alone = gate.acquire(5000, || false).expect("runs alone").0;
        assert!(gate.acquire(1, once()).is_none());
        drop(alone);
    }
}
