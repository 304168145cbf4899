//! The scheduler: keeps `jobs` sandboxes busy with the planned units, all
//! binaries together, and emits the run's events (a test started, is slow,
//! retried, finished) as they happen. Stops early on --fail-fast or when
//! cancelled; gives back every record.

use crate::budget::{Budgets, over_budget};
use crate::error::Error;
use crate::execute::{self, Exec, Leftovers, Worker};
use crate::model::RunEvent;
use crate::outcome::{self, Outcome};
use crate::plan::RunUnit;
use crate::report::TestLimits;
use crate::report::TestRecord;
use crate::report::flaky;
use crate::sandbox::{self, StartGate, Turn};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

pub struct RunConfig<'a> {
    /// What every sandbox of the run shares.
    pub exec: Exec<'a>,
    pub jobs: usize,
    /// Stop after this many tests did not pass (`--fail-fast` is 1).
    pub max_fail: Option<u64>,
    /// Each worker makes one network namespace and reuses it.
    pub reuse_netns: bool,
    /// Run the units round after round (`--stress-count/-duration`).
    pub stress: Option<Stress>,
    /// Makes each record's replay command.
    pub replay: Option<&'a crate::replay::Replay<'a>>,
    /// A test running this long is said slow, and again each period.
    pub slow_after: Option<Duration>,
    /// `--memory-total`: tests start only while their memory limits (or
    /// budgets) fit in it.
    pub memory_total: Option<u64>,
    /// `[test-groups]`: the most of each group's tests at once.
    pub test_groups: std::collections::BTreeMap<String, usize>,
}

/// When a stress run stops taking new rounds: after `count` rounds, or
/// once `until` has passed, whichever comes first.
#[derive(Debug, Clone, Copy)]
pub struct Stress {
    pub count: Option<u32>,
    pub until: Option<std::time::Instant>,
}

impl Stress {
    /// Whether run `round` (0-based) of a unit may start now.
    fn allows(&self, round: u64) -> bool {
        self.count.is_none_or(|c| round < u64::from(c))
            && self.until.is_none_or(|t| std::time::Instant::now() < t)
    }
}

/// Sandboxes set up (or torn down) per test slot: one more besides each
/// running test hides the kernel's waits in setup and teardown behind it.
const SANDBOXES_PER_SLOT: usize = 2;

/// How often the scheduler looks for tests that became slow.
const SLOW_TICK: Duration = Duration::from_millis(250);

/// What a worker tells the scheduler's thread.
enum Message {
    /// Where a unit's running sandbox can be read (each attempt's own).
    Gauge(usize, crate::cgroup::Gauge),
    Started(usize),
    /// An attempt that failed, with a retry to come.
    Attempt(Box<TestRecord>),
    /// A unit's record (under a stress run, one per run).
    Finished(usize, Box<TestRecord>),
    Failed(Error),
}

/// What a run produced: every record (a stressed test's runs tallied into
/// one), whether it completed, and the runner's own failure if any (the
/// records that finished before it are kept).
pub struct Ran {
    pub records: Vec<TestRecord>,
    pub complete: bool,
    pub error: Option<Error>,
}

/// The counters every worker shares.
struct Shared {
    stop: AtomicBool,
    not_passed: AtomicU64,
    gate: StartGate,
}

/// Runs every unit, `jobs` at a time; `on_event` sees each start, slow
/// test, retried attempt and result on this thread, as it happens.
pub fn run_all(
    cfg: &RunConfig<'_>,
    units: &[RunUnit],
    on_event: &mut dyn FnMut(&RunEvent<'_>),
) -> Ran {
    let shared = Shared {
        stop: AtomicBool::new(false),
        not_passed: AtomicU64::new(0),
        gate: StartGate::new(cfg.jobs, cfg.memory_total, cfg.test_groups.clone()),
    };
    // With --reuse-netns a network namespace is a worker's, and its tests
    // take turns in it: one worker per slot.
    let per_slot = match cfg.reuse_netns {
        true => 1,
        false => SANDBOXES_PER_SLOT,
    };
    // A stress run keeps -j sandboxes busy even with one test.
    let sandboxes = cfg.jobs.max(1) * per_slot;
    let workers = match cfg.stress {
        Some(_) => sandboxes,
        None => sandboxes.min(units.len().max(1)),
    };
    let (tx, rx) = mpsc::channel::<Message>();
    // One thread waits for the inits to exit and removes their cgroups,
    // so that a worker sets its next sandbox up meanwhile; a bounded queue,
    // so that teardown never falls far behind.
    let (reap_tx, reap_rx) = mpsc::sync_channel::<Leftovers>(workers * 2);
    let mut collected = Collected::new(cfg, units);
    let panicked = std::thread::scope(|s| {
        let reaper = s.spawn(move || reap_rx.into_iter().for_each(drop));
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                let (tx, reap_tx, shared) = (tx.clone(), reap_tx.clone(), &shared);
                s.spawn(move || worker(cfg, units, shared, &tx, &reap_tx))
            })
            .collect();
        drop((tx, reap_tx));
        collected.receive(&rx, units, on_event);
        // A worker that panicked is the runner's failure, never a pass:
        // joined here, so that the panic does not cross the scope.
        let mut panicked = None;
        for h in handles.into_iter().chain([reaper]) {
            if let Err(p) = h.join() {
                panicked.get_or_insert_with(|| {
                    Error::Internal(format!(
                        "a scheduler thread panicked: {}",
                        crate::failpoint::panic_message(&*p)
                    ))
                });
            }
        }
        panicked
    });
    if let Some(e) = panicked {
        collected.error.get_or_insert(e);
    }
    let cancelled = cfg.exec.cancel.is_some_and(|c| c.cancelled());
    let complete = !cancelled && !shared.stop.load(Ordering::SeqCst) && collected.error.is_none();
    collected.finish(complete)
}

/// What the scheduler's thread gathers as results come in.
struct Collected {
    records: Vec<TestRecord>,
    /// Under a stress run, each unit's runs.
    tallies: Vec<flaky::StressTally>,
    /// Tests running, since when, and how many slow periods were said.
    running: std::collections::HashMap<usize, (std::time::Instant, u32)>,
    /// Where each running test's memory and CPU are read.
    gauges: std::collections::HashMap<usize, crate::cgroup::Gauge>,
    slow_after: Option<Duration>,
    error: Option<Error>,
}

impl Collected {
    fn new(cfg: &RunConfig<'_>, units: &[RunUnit]) -> Collected {
        Collected {
            records: Vec::with_capacity(units.len()),
            tallies: match cfg.stress {
                Some(_) => units.iter().map(|_| Default::default()).collect(),
                None => Vec::new(),
            },
            running: Default::default(),
            gauges: Default::default(),
            slow_after: cfg.slow_after,
            error: None,
        }
    }

    /// Takes the workers' messages until the last worker is gone.
    fn receive(
        &mut self,
        rx: &mpsc::Receiver<Message>,
        units: &[RunUnit],
        on_event: &mut dyn FnMut(&RunEvent<'_>),
    ) {
        loop {
            match rx.recv_timeout(SLOW_TICK) {
                Ok(Message::Gauge(index, gauge)) => {
                    self.gauges.insert(index, gauge);
                }
                Ok(Message::Started(index)) => {
                    self.running.insert(index, (std::time::Instant::now(), 0));
                    on_event(&RunEvent::TestStarted {
                        id: &units[index].id,
                    });
                }
                Ok(Message::Attempt(record)) => {
                    on_event(&RunEvent::AttemptFinished { record: &record })
                }
                Ok(Message::Finished(index, record)) => {
                    self.running.remove(&index);
                    self.gauges.remove(&index);
                    on_event(&RunEvent::TestFinished { record: &record });
                    match self.tallies.get_mut(index) {
                        Some(tally) => tally.add(record.attempt.unwrap_or(1), *record),
                        None => self.records.push(*record),
                    }
                }
                Ok(Message::Failed(e)) => {
                    self.error.get_or_insert(e);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => self.say_slow(units, on_event),
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    /// A test running past each further period of its slow timeout (its
    /// own, else the run's `slow_after`) is said slow once for it.
    fn say_slow(&mut self, units: &[RunUnit], on_event: &mut dyn FnMut(&RunEvent<'_>)) {
        for (index, (since, said)) in &mut self.running {
            let own = units[*index].settings.slow_timeout.map(|s| s.period);
            let Some(period) = own.or(self.slow_after).filter(|p| !p.is_zero()) else {
                continue;
            };
            let elapsed = since.elapsed();
            if elapsed >= period * (*said + 1) {
                *said += 1;
                // What it is doing: a test that spins uses CPU, one that
                // waits does not.
                let (memory_bytes, cpu_usec) =
                    self.gauges.get(index).map(|g| g.read()).unwrap_or_default();
                on_event(&RunEvent::TestSlow {
                    id: &units[*index].id,
                    elapsed,
                    memory_bytes,
                    cpu_ms: cpu_usec.map(|us| us as f64 / 1000.0),
                });
            }
        }
    }

    /// The records: a stressed test's runs as one record, its tally.
    fn finish(mut self, complete: bool) -> Ran {
        self.records
            .extend(self.tallies.into_iter().filter_map(|t| t.finish()));
        Ran {
            records: self.records,
            complete,
            error: self.error,
        }
    }
}

/// One worker: takes the next unit (round after round under a stress
/// run) until none is left, the run stops, or a signal came.
fn worker(
    cfg: &RunConfig<'_>,
    units: &[RunUnit],
    shared: &Shared,
    tx: &mpsc::Sender<Message>,
    reap_tx: &mpsc::SyncSender<Leftovers>,
) {
    let turn = Turn::new(&shared.gate, cfg.max_fail.is_some());
    let netns = match cfg.reuse_netns {
        true => match sandbox::new_network_namespace() {
            Ok(fd) => Some(fd),
            Err(e) => {
                shared.stop.store(true, Ordering::SeqCst);
                let _ = tx.send(Message::Failed(e.into()));
                return;
            }
        },
        false => None,
    };
    loop {
        if shared.stop.load(Ordering::SeqCst) || cfg.exec.cancel.is_some_and(|c| c.cancelled()) {
            break;
        }
        let i = turn.next_ticket();
        // Under a stress run the schedule goes round the units again and
        // again: item i is unit i % n, round i / n.
        let (index, round) = match cfg.stress {
            None => (i, 0),
            Some(_) => (i % units.len(), (i / units.len()) as u64),
        };
        let Some(unit) = units.get(index) else { break };
        if round > 0 && unit.skip_as_ignored {
            continue;
        }
        if cfg.stress.is_some_and(|st| !st.allows(round)) {
            break;
        }
        // Once per unit, when its first attempt's test starts.
        let told = std::cell::Cell::new(false);
        let on_start = || {
            if !told.replace(true) {
                let _ = tx.send(Message::Started(index));
            }
        };
        let on_gauge = |gauge| {
            let _ = tx.send(Message::Gauge(index, gauge));
        };
        let worker = Worker {
            netns: netns.as_ref(),
            gate: Some(&turn),
            on_start: Some(&on_start),
            reaper: Some(reap_tx),
            on_gauge: Some(&on_gauge),
        };
        let run = cfg.stress.map(|_| round as u32 + 1);
        crate::failpoint::hit("run", &unit.id);
        let on_attempt = |rec: &TestRecord| {
            let _ = tx.send(Message::Attempt(Box::new(rec.clone())));
        };
        match run_with_retries(cfg, unit, i, run, worker, &on_attempt) {
            Ok(Some(rec)) => {
                // Decided here, before this worker takes another unit,
                // not when the main thread gets the result.
                if !rec.outcome.is_success() {
                    let n = shared.not_passed.fetch_add(1, Ordering::SeqCst) + 1;
                    if cfg.max_fail.is_some_and(|max| n >= max) {
                        shared.stop.store(true, Ordering::SeqCst);
                        shared.gate.close();
                    }
                }
                let _ = tx.send(Message::Finished(index, Box::new(rec)));
                turn.free();
            }
            Ok(None) => break,
            Err(e) => {
                shared.stop.store(true, Ordering::SeqCst);
                shared.gate.close();
                let _ = tx.send(Message::Failed(e));
                break;
            }
        }
    }
}

/// A unit, and again in a fresh sandbox while it fails and retries are
/// left; under a stress run, each run so (the run's record is its last
/// attempt, flaky when a retry passed: the tally counts it apart). The
/// record is the last attempt's, with every attempt listed when there
/// were several, and `flaky` when a retry passed.
fn run_with_retries(
    cfg: &RunConfig<'_>,
    unit: &RunUnit,
    item: usize,
    stress_run: Option<u32>,
    worker: Worker<'_>,
    on_attempt: &dyn Fn(&TestRecord),
) -> Result<Option<TestRecord>, Error> {
    let retries = unit.settings.retries.unwrap_or(0);
    // The same command replays any attempt: made once per unit.
    let replay = cfg
        .replay
        .map(|r| r.command(&cfg.exec.binaries[unit.binary], unit));
    // Under a stress run a record's `attempt` is its run's number (the
    // report's meaning, and the tally's order); its attempts say the rest.
    let as_run = |mut rec: TestRecord| {
        if let Some(n) = stress_run {
            rec.attempt = Some(n);
        }
        rec
    };
    let mut attempts = Vec::new();
    let mut attempt = 1;
    // The attempt before this one, which stands if a retry never starts.
    let mut previous: Option<TestRecord> = None;
    loop {
        let leaf = match attempt {
            1 => format!("t{item}"),
            n => format!("t{item}r{n}"),
        };
        let Some(mut rec) = run_unit(cfg, unit, &leaf, attempt, stress_run, worker)? else {
            return Ok(previous.map(|rec| as_run(last_attempt(rec, attempts, attempt - 1))));
        };
        rec.replay = replay.clone();
        rec.stress_run = stress_run;
        let failed = !rec.outcome.is_success();
        // A setup error is the sandbox's, not the test's: retrying it
        // would call an infrastructure failure flaky.
        let retry = failed && attempt <= retries && rec.outcome != Outcome::SetupError;
        if attempts.is_empty() && !retry {
            return Ok(Some(as_run(rec)));
        }
        attempts.push(flaky::Attempt::of(
            &rec,
            attempt,
            crate::model::attempts::ATTEMPT_OUTPUT_TAIL,
        ));
        if !retry || cfg.exec.cancel.is_some_and(|c| c.cancelled()) {
            return Ok(Some(as_run(last_attempt(rec, attempts, attempt))));
        }
        rec.attempt = Some(attempt);
        on_attempt(&rec);
        previous = Some(rec);
        attempt += 1;
    }
}

/// The record of a unit's last attempt, `number`, listing every attempt.
fn last_attempt(mut rec: TestRecord, attempts: Vec<flaky::Attempt>, number: u32) -> TestRecord {
    rec.flaky = rec.outcome.is_success();
    rec.attempt = Some(number);
    rec.attempts = attempts;
    // The last attempt's output is whole in the record itself.
    if let Some(last) = rec.attempts.last_mut() {
        last.stdout = rec.stdout.clone();
        last.stderr = rec.stderr.clone();
    }
    rec
}

/// One unit. `Ok(None)`: cancelled midway, nothing to record.
fn run_unit(
    cfg: &RunConfig<'_>,
    unit: &RunUnit,
    leaf: &str,
    attempt: u32,
    stress_run: Option<u32>,
    worker: Worker<'_>,
) -> Result<Option<TestRecord>, Error> {
    let b = &cfg.exec.binaries[unit.binary];
    let mut rec = TestRecord::new(
        unit.id.clone(),
        &b.package,
        &b.target,
        &b.kind,
        unit.name.clone(),
    );
    if unit.skip_as_ignored {
        return Ok(Some(rec));
    }
    let limits = execute::limits_of(&cfg.exec, &unit.settings);
    let timeout = execute::timeout_of(&cfg.exec, &unit.settings);
    rec.net_delay_mechanism = unit
        .settings
        .net_faults()
        .with_mechanism(cfg.exec.net_delay)
        .delay_by()
        .map(|m| m.as_str().to_string());
    rec.limits = TestLimits {
        memory_max: limits.memory_max_bytes,
        pids_max: limits.pids_max,
        cpus: limits.cpus,
        timeout_ms: timeout.map(|t| t.as_millis() as u64),
        enforced: crate::model::Enforced::of(
            &cfg.exec.host.enforces,
            limits.memory_max_bytes.is_some(),
            limits.pids_max.is_some(),
            limits.cpus.is_some(),
        ),
    };
    let budgets = Budgets::new(
        unit.settings.memory_budget,
        unit.settings.time_budget,
        unit.settings.cpu_budget,
    );
    rec.budgets = (!budgets.is_empty()).then_some(budgets);
    let picked = std::time::SystemTime::now();
    // When the test itself started, not when its sandbox began setup.
    let started_at = std::cell::Cell::new(None);
    let on_start = || {
        started_at.set(Some(std::time::SystemTime::now()));
        if let Some(f) = worker.on_start {
            f();
        }
    };
    let worker = Worker {
        on_start: Some(&on_start),
        ..worker
    };
    // Its weight at the gate: what it may take (its limit), else what it
    // is expected to take (its budget).
    if let Some(gate) = worker.gate {
        let slots = unit.settings.threads_required.unwrap_or(1) as usize;
        gate.weigh(
            limits
                .memory_max_bytes
                .or(budgets.memory_bytes)
                .unwrap_or(0),
            slots,
            unit.settings.test_group.as_deref(),
        );
    }
    let identity = execute::Identity {
        binary_id: &rec.binary_id,
        test_name: unit.name.as_deref(),
        attempt,
        total_attempts: 1 + unit.settings.retries.unwrap_or(0),
        stress: stress_run.map(|n| (n, cfg.stress.and_then(|s| s.count))),
    };
    crate::failpoint::stall("slow-setup", &unit.id);
    let exec = execute::execute(
        &cfg.exec,
        unit.binary,
        &unit.args,
        leaf,
        &unit.settings,
        identity,
        worker,
    )?;
    rec.started_at = Some(crate::report::rfc3339(started_at.get().unwrap_or(picked)));
    let waited = worker
        .gate
        .map(|g| g.waited_for_memory())
        .unwrap_or_default();
    rec.memory_wait_ms = (!waited.is_zero()).then_some(waited.as_secs_f64() * 1000.0);
    let exec = match exec {
        Ok(exec) => exec,
        Err(setup) => {
            rec.outcome = Outcome::SetupError;
            rec.error = Some(setup);
            return Ok(Some(rec));
        }
    };
    if exec.cancelled {
        return Ok(None);
    }
    let m = outcome::classify(&exec);
    let timed_out = m.outcome() == Outcome::TimedOut;
    m.record_into(&mut rec);
    if timed_out {
        let timeout = timeout.unwrap_or_default();
        rec.error = Some(match exec.grace {
            None => format!("killed after the timeout of {timeout:?}"),
            Some(g) if g.ended_in_it => format!(
                "timed out after {timeout:?}{}, ended within the grace period of {:?}",
                crate::model::GRACE_NOTE,
                g.period
            ),
            Some(g) => format!(
                "timed out after {timeout:?}{}, killed after the grace period of {:?}",
                crate::model::GRACE_NOTE,
                g.period
            ),
        });
    }
    rec.hang = exec.hang.clone();
    rec.stdout = exec.stdout.text();
    rec.stderr = exec.stderr.text();
    rec.find_panic();
    if let Some(name) = &unit.name
        && rec.outcome == Outcome::Passed
        && ran_no_test(&rec.stdout)
    {
        // Listed, then not run: a binary whose listing lies (or a test
        // renamed between list and run) must not pass for a test it skipped.
        rec.outcome = Outcome::Failed;
        rec.error = Some(format!(
            "the binary listed {name:?} but ran no test of that name"
        ));
    }
    // Budgets judge tests that passed: a failure's figures are not its cost.
    if rec.outcome == Outcome::Passed {
        rec.over_budget = over_budget(&rec, &budgets);
    }
    Ok(Some(rec))
}

/// libtest's closing line when the filter matched nothing. It comes last,
/// so it survives when the head of a long output was cut.
fn ran_no_test(stdout: &str) -> bool {
    stdout.contains("test result: ok. 0 passed; 0 failed; 0 ignored;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_of_zero_tests_is_recognised() {
        let zero = "\nrunning 0 tests\n\ntest result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 3 filtered out; finished in 0.00s\n\n";
        assert!(ran_no_test(zero));
        let one = "\nrunning 1 test\ntest a ... ok\n\ntest result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 2 filtered out; finished in 0.00s\n";
        assert!(!ran_no_test(one));
    }
}
