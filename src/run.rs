//! The scheduler: keeps `jobs` sandboxes busy with the planned units, all
//! binaries together, and hands each finished unit's record to the caller
//! as it arrives. Stops early on --fail-fast or when cancelled.

use crate::budget::{Budgets, over_budget};
use crate::cgroup::{Leaf, Limits};
use crate::config::TestSettings;
use crate::error::Error;
use crate::host::Host;
use crate::outcome::{self, Outcome};
use crate::plan::RunUnit;
use crate::report::TestLimits;
use crate::report::TestRecord;
use crate::report::flaky;
use crate::sandbox::{self, Admit, InitSpec, Namespaces, Output, StartGate, Turn};
use crate::scratch::{ScratchDir, ScratchRoot};
use crate::signals::CancelPipe;
use std::ffi::CString;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// What every unit of one test binary shares.
pub struct BinaryContext {
    pub package: String,
    pub target: String,
    pub kind: String,
    /// Its namespaces (none with isolation none).
    pub namespaces: Namespaces,
    /// The spec with `args` still empty.
    pub spec: InitSpec,
    pub env: Vec<CString>,
}

pub struct RunConfig<'a> {
    pub host: &'a Host,
    pub binaries: &'a [BinaryContext],
    pub jobs: usize,
    pub timeout: Option<Duration>,
    pub output_limit: usize,
    /// `--no-capture`: output also streams to the terminal as it comes.
    pub echo_output: bool,
    /// Stop after this many tests did not pass (`--fail-fast` is 1).
    pub max_fail: Option<u64>,
    pub cancel: Option<&'a CancelPipe>,
    /// Each worker makes one network namespace and reuses it.
    pub reuse_netns: bool,
    /// `--scratch disk`: where each sandbox gets its scratch directory.
    pub scratch: Option<&'a ScratchRoot>,
    /// Run the units round after round (`--stress-count/-duration`).
    pub stress: Option<Stress>,
    /// Makes each record's replay command (none while listing).
    pub replay: Option<&'a crate::replay::Replay<'a>>,
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

/// What a worker lends each sandbox it runs: its network namespace (with
/// --reuse-netns), its turn at the gate where tests wait for a slot (none:
/// start at once), what to tell when the test starts, and where to leave
/// the sandbox's teardown (none: wait for it).
#[derive(Clone, Copy, Default)]
pub struct Worker<'a> {
    pub netns: Option<&'a std::os::fd::OwnedFd>,
    pub gate: Option<&'a dyn Admit>,
    pub on_start: Option<&'a dyn Fn()>,
    pub reaper: Option<&'a mpsc::SyncSender<Leftovers>>,
}

/// What is left of a sandbox once its test has reported: its init, still
/// tearing the namespaces down, then its cgroup leaf and scratch directory,
/// which can go only after it (fields drop in declaration order).
pub struct Leftovers {
    _init: sandbox::Teardown,
    _leaf: Option<Leaf>,
    _scratch: Option<ScratchDir>,
}

impl Leftovers {
    /// Hands the leftovers to the reaper thread, or removes them now.
    fn leave(self, reaper: Option<&mpsc::SyncSender<Leftovers>>) {
        if let Some(reaper) = reaper {
            // A reaper that is gone leaves them to be dropped here.
            let _ = reaper.send(self);
        }
    }
}

/// Sandboxes set up (or torn down) per test slot: one more besides each
/// running test hides the kernel's waits in setup and teardown behind it.
const SANDBOXES_PER_SLOT: usize = 2;

pub enum Event {
    Started(String),
    /// A finished test: its unit's index and its record (under a stress
    /// run, one record per run, `attempt` its run number).
    Finished(usize, Box<TestRecord>),
}

/// Runs every unit; `on_event` sees starts and results on this thread.
/// Returns whether the run completed (not cancelled or stopped early).
pub fn run_all(
    cfg: &RunConfig<'_>,
    units: &[RunUnit],
    mut on_event: impl FnMut(Event),
) -> Result<bool, Error> {
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let not_passed = AtomicU64::new(0);
    let (tx, rx) = mpsc::channel::<Result<Event, Error>>();
    let gate = StartGate::new(cfg.jobs);
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
    // One thread waits for the inits to exit and removes their cgroups,
    // so that a worker sets its next sandbox up meanwhile; a bounded queue,
    // so that teardown never falls far behind.
    let (reap_tx, reap_rx) = mpsc::sync_channel::<Leftovers>(workers * 2);
    std::thread::scope(|s| {
        s.spawn(move || reap_rx.into_iter().for_each(drop));
        for _ in 0..workers {
            let tx = tx.clone();
            let reap_tx = reap_tx.clone();
            let (next, stop, not_passed, gate) = (&next, &stop, &not_passed, &gate);
            s.spawn(move || {
                let turn = Turn::new(gate, cfg.max_fail.is_some());
                let netns = match cfg.reuse_netns {
                    true => match sandbox::new_network_namespace() {
                        Ok(fd) => Some(fd),
                        Err(e) => {
                            stop.store(true, Ordering::SeqCst);
                            let _ = tx.send(Err(e.into()));
                            return;
                        }
                    },
                    false => None,
                };
                loop {
                    if stop.load(Ordering::SeqCst) || cfg.cancel.is_some_and(|c| c.cancelled()) {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    // Under a stress run the schedule goes round the units
                    // again and again: item i is unit i % n, round i / n.
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
                            let _ = tx.send(Ok(Event::Started(unit.id.clone())));
                        }
                    };
                    let worker = Worker {
                        netns: netns.as_ref(),
                        gate: Some(&turn),
                        on_start: Some(&on_start),
                        reaper: Some(&reap_tx),
                    };
                    let run = cfg.stress.map(|_| round as u32 + 1);
                    match run_with_retries(cfg, unit, i, run, worker) {
                        Ok(Some(rec)) => {
                            // Decided here, before this worker takes another
                            // unit, not when the main thread gets the result.
                            if !rec.outcome.is_success() {
                                let n = not_passed.fetch_add(1, Ordering::SeqCst) + 1;
                                if cfg.max_fail.is_some_and(|max| n >= max) {
                                    stop.store(true, Ordering::SeqCst);
                                    gate.close();
                                }
                            }
                            let _ = tx.send(Ok(Event::Finished(index, Box::new(rec))));
                            turn.free();
                        }
                        Ok(None) => break,
                        Err(e) => {
                            stop.store(true, Ordering::SeqCst);
                            gate.close();
                            let _ = tx.send(Err(e));
                            break;
                        }
                    }
                }
            });
        }
        drop((tx, reap_tx));
        let mut first_err = None;
        for msg in rx {
            match msg {
                Ok(ev) => on_event(ev),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    })?;
    let cancelled = cfg.cancel.is_some_and(|c| c.cancelled());
    Ok(!cancelled && !stop.load(Ordering::SeqCst))
}

/// A unit, and again in a fresh sandbox while it fails and retries are
/// left (none under a stress run, which counts failures instead). The
/// record is the last attempt's, with every attempt listed when there
/// were several, and `flaky` when a retry passed.
fn run_with_retries(
    cfg: &RunConfig<'_>,
    unit: &RunUnit,
    item: usize,
    stress_run: Option<u32>,
    worker: Worker<'_>,
) -> Result<Option<TestRecord>, Error> {
    let retries = match stress_run {
        Some(_) => 0,
        None => unit.settings.retries.unwrap_or(0),
    };
    // The same command replays any attempt: made once per unit.
    let replay = cfg
        .replay
        .map(|r| r.command(&cfg.binaries[unit.binary], unit));
    let mut attempts = Vec::new();
    let mut attempt = 1;
    // The attempt before this one, which stands if a retry never starts.
    let mut previous: Option<TestRecord> = None;
    loop {
        let leaf = match attempt {
            1 => format!("t{item}"),
            n => format!("t{item}r{n}"),
        };
        let number = stress_run.unwrap_or(attempt);
        let Some(mut rec) = run_unit(cfg, unit, &leaf, number, worker)? else {
            return Ok(previous.map(|rec| last_attempt(rec, attempts, attempt - 1)));
        };
        rec.replay = replay.clone();
        if stress_run.is_some() {
            rec.attempt = stress_run;
            return Ok(Some(rec));
        }
        let failed = !rec.outcome.is_success();
        // A setup error is the sandbox's, not the test's: retrying it
        // would call an infrastructure failure flaky.
        let retry = failed && attempt <= retries && rec.outcome != Outcome::SetupError;
        if attempts.is_empty() && !retry {
            return Ok(Some(rec));
        }
        attempts.push(flaky::Attempt::of(
            &rec,
            attempt,
            crate::model::attempts::ATTEMPT_OUTPUT_TAIL,
        ));
        if !retry || cfg.cancel.is_some_and(|c| c.cancelled()) {
            return Ok(Some(last_attempt(rec, attempts, attempt)));
        }
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

/// Runs binary `binary` with `args` in a fresh sandbox and cgroup leaf
/// `leaf_name`. The inner `Err` is a setup failure of this one sandbox (its
/// cgroup could not be made), the outer one a failure of the runner.
pub fn execute(
    cfg: &RunConfig<'_>,
    binary: usize,
    args: &[String],
    leaf_name: &str,
    settings: &TestSettings,
    attempt: u32,
    worker: Worker<'_>,
) -> Result<Result<sandbox::Execution, String>, Error> {
    let b = &cfg.binaries[binary];
    let limits = limits_of(cfg, settings);
    let leaf: Option<Leaf> = match &cfg.host.cgroup {
        Some(c) => match c.create_leaf(leaf_name, &limits) {
            Ok(l) => Some(l),
            Err(e) => return Ok(Err(format!("cannot create the test's cgroup: {e}"))),
        },
        None => None,
    };
    let scratch = match cfg.scratch.map(|r| r.for_sandbox(leaf_name)).transpose() {
        Ok(s) => s,
        Err(e) => return Ok(Err(e)),
    };
    // Only a sandbox of namespaces joins a worker's network namespace.
    let netns = worker.netns.filter(|_| b.namespaces != Namespaces::None);
    let mut spec = b.spec.clone();
    spec.args = args.to_vec();
    spec.scratch_dir = scratch.as_ref().map(|s| s.path().to_path_buf());
    spec.scratch_image = scratch
        .as_ref()
        .and_then(|s| s.image().map(std::path::Path::to_path_buf));
    // The worker's namespace, not one of the test's own.
    spec.own_network &= netns.is_none();
    spec.net_faults = match spec.own_network {
        true => settings.net.to_faults(),
        false => Default::default(),
    };
    let mut extra = settings.env.clone();
    if attempt > 1 {
        // A retry or a stress run tells the test which one it is: nothing
        // else survives from one sandbox to the next.
        extra.push(("CARGO_ISOLATE_ATTEMPT".into(), attempt.to_string()));
    }
    let env = with_env(&b.env, &extra);
    let req = sandbox::Request {
        spec: &spec,
        env: &env,
        namespaces: b.namespaces,
        cgroup: leaf.as_ref(),
        output: Output::Capture {
            limit: cfg.output_limit,
            echo: cfg.echo_output,
        },
        timeout: settings.timeout.or(cfg.timeout),
        cancel: cfg.cancel.map(|c| c.fd()),
        netns: netns.map(std::os::fd::AsFd::as_fd),
        gate: worker.gate,
        on_start: worker.on_start,
    };
    let (exec, init) = sandbox::execute_until_report(&req)?;
    Leftovers {
        _init: init,
        _leaf: leaf,
        _scratch: scratch,
    }
    .leave(worker.reaper);
    Ok(Ok(exec))
}

/// A test's limits: its own settings, else the run's.
fn limits_of(cfg: &RunConfig<'_>, s: &TestSettings) -> Limits {
    let run = cfg.host.limits;
    Limits {
        memory_max_bytes: s.memory_max.or(run.memory_max_bytes),
        pids_max: s.pids_max.or(run.pids_max),
        cpus: s.cpus.or(run.cpus),
    }
}

/// The binary's environment with a test's own variables set over it.
fn with_env(base: &[CString], extra: &[(String, String)]) -> Vec<CString> {
    if extra.is_empty() {
        return base.to_vec();
    }
    let mut env: Vec<CString> = base
        .iter()
        .filter(|kv| {
            let key = kv.as_bytes().split(|&b| b == b'=').next().unwrap_or(b"");
            !extra.iter().any(|(k, _)| k.as_bytes() == key)
        })
        .cloned()
        .collect();
    env.extend(
        extra
            .iter()
            .filter_map(|(k, v)| CString::new(format!("{k}={v}")).ok()),
    );
    env
}

/// One unit. `Ok(None)`: cancelled midway, nothing to record.
fn run_unit(
    cfg: &RunConfig<'_>,
    unit: &RunUnit,
    leaf: &str,
    attempt: u32,
    worker: Worker<'_>,
) -> Result<Option<TestRecord>, Error> {
    let b = &cfg.binaries[unit.binary];
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
    let limits = limits_of(cfg, &unit.settings);
    let timeout = unit.settings.timeout.or(cfg.timeout);
    rec.limits = TestLimits {
        memory_max: limits.memory_max_bytes,
        pids_max: limits.pids_max,
        cpus: limits.cpus,
        timeout_ms: timeout.map(|t| t.as_millis() as u64),
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
    let exec = execute(
        cfg,
        unit.binary,
        &unit.args,
        leaf,
        &unit.settings,
        attempt,
        worker,
    )?;
    rec.started_at = Some(crate::report::rfc3339(started_at.get().unwrap_or(picked)));
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
        rec.error = Some(format!(
            "killed after the timeout of {:?}",
            timeout.unwrap_or_default()
        ));
    }
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
