//! `cargo isolate hunt TEST`: runs a few selected tests again and again
//! under a grid of harsher conditions (CPU starvation, packet loss, delay,
//! bandwidth, copies running at once, seeds) and says which condition
//! makes them fail, how sure that is, and the command that reproduces it.
//!
//! The order ([`grid`]): first the baseline (the test's own settings),
//! then one condition at a time, axis by axis, mildest value first. When
//! no single condition fails, combinations: per axis the value that
//! failed most (ties: the harshest), every pair of axes, then the top
//! three, four... together, stopping after the first size at which
//! something fails. Each cell runs each test `--runs` times at most (or
//! shares `--time-budget` with the cells left), in batches, and stops a
//! test early once it failed `--stop-after-failures` times (a batch is
//! never more runs than the closest test needs to reach that).
//!
//! A condition *fails* when some run failed and the whole 95% Wilson
//! interval of its pass rate ([`stats`]) lies below the baseline's pass
//! rate: any failure against a clean baseline, a clear drop against a
//! flaky one. The *smallest* failing condition has the fewest conditions,
//! then the mildest values (the sum of each value's step on its axis),
//! then the lowest pass rate. Axes this host cannot make (delay without
//! netem, faults without the test's own network, CPU without a cgroup
//! controller) are left out with a note, and come back by themselves once
//! the host can make them.
//!
//! Each cell reuses `test`'s phases in this process ([`Prepared`]): the
//! workspace is built, listed and planned once, then each batch is a
//! stress run of the planned units with the cell's settings. Spawning
//! `cargo isolate test` per cell would run cargo and list every binary
//! again per batch, and read back a report for what is here already.
//! The results go to a JSON file and a Markdown table ([`table`]).

pub mod grid;
pub mod stats;
pub mod table;

use crate::cli::{HuntArgs, Isolation, MessageFormat, TestArgs};
use crate::error::{EXIT_INTERRUPTED, EXIT_NO_TESTS, EXIT_OK, EXIT_TEST_FAILED, Error};
use crate::model::Outcome;
use crate::plan::RunUnit;
use crate::sandbox::netfault::NetFaults;
use crate::settings::Explicit;
use crate::signals;
use crate::test_command::{Batch, Prepared};
use grid::{AxisName, Cell, Grid, Value};
use stats::Tally;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use table::{Finding, HuntReport, Row};

/// The most tests a hunt takes: each runs under every condition.
pub const MAX_TESTS: usize = 8;
/// Runs per test and condition without `--runs`.
const DEFAULT_RUNS: u32 = 20;
/// The cap on runs per cell with `--time-budget` and no `--runs`.
const BUDGET_RUNS: u32 = 10_000;
/// A run that hangs ends as timed out after this, unless --timeout says.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

pub fn run(args: &HuntArgs, explicit: &Explicit) -> Result<u8, Error> {
    refuse_test_only_flags(&args.test)?;
    crate::report::progress::init_color(args.test.color.as_deref());
    let started = Instant::now();
    let mut grid = Grid::of(&parse_axes(&args.axes)?);
    let mut test_args = args.test.clone();
    test_args.sandbox.timeout = test_args.sandbox.timeout.or(Some(DEFAULT_TIMEOUT));
    let any_cpus = grid
        .axes
        .iter()
        .flat_map(|a| &a.values)
        .find_map(|v| match v {
            Value::Cpus(c) => Some(*c),
            _ => None,
        });
    let prepared = Prepared::new(&test_args, explicit, any_cpus)?;
    let units = prepared.units();
    if units.is_empty() {
        eprintln!(
            "error: no tests matched: give hunt a test's name (with --exact for that test alone) or -E 'test(=NAME)'"
        );
        return Ok(EXIT_NO_TESTS);
    }
    if units.len() > MAX_TESTS {
        return Err(Error::Usage(format!(
            "hunt runs each selected test under every condition: {} tests are selected, at most {MAX_TESTS} are taken; narrow the selection with the test's full name and --exact, -p PACKAGE, or -E 'test(=NAME)'",
            units.len()
        )));
    }
    let notes = leave_out_what_this_host_cannot_make(&mut grid, &prepared);
    for n in &notes {
        eprintln!("note: {n}");
    }
    let runs = args.runs.unwrap_or(match args.time_budget {
        Some(_) => BUDGET_RUNS,
        None => DEFAULT_RUNS,
    });
    let mut hunt = Hunt {
        base_jobs: prepared.args().jobs.unwrap_or(1),
        prepared: &prepared,
        units,
        runs: u64::from(runs),
        stop_after: args.stop_after_failures,
        deadline: args.time_budget.map(|b| started + b),
        rows: Vec::new(),
        baseline: Vec::new(),
        failed: Vec::new(),
    };
    let singles = grid.singles();
    eprintln!(
        "        Hunt {} under {} conditions alone (and combinations if none fails), up to {} each, stopping at {} failures",
        crate::report::count(hunt.units.len(), "test", "tests"),
        singles.len(),
        crate::report::count(runs as usize, "run", "runs"),
        args.stop_after_failures,
    );
    let complete = hunt.all(&grid, &singles)?;
    let report = hunt.report(&grid, notes, args, started, complete);
    eprint!("\n{}", report.terminal());
    if !complete {
        eprintln!("interrupted: the table holds the conditions tried so far");
    }
    write(&report, args.output.clone(), &prepared)?;
    Ok(if !complete {
        EXIT_INTERRUPTED
    } else if report
        .smallest_failing
        .iter()
        .any(|f| f.condition.is_some())
    {
        EXIT_TEST_FAILED
    } else {
        EXIT_OK
    })
}

/// The `--axis` values, read here rather than by clap, so that the
/// command line's module need not know the hunt's: refused as clap
/// refuses a value (exit 2).
fn parse_axes(given: &[String]) -> Result<Vec<grid::Axis>, Error> {
    given
        .iter()
        .map(|s| {
            grid::parse_axis(s).map_err(|e| {
                Error::Usage(format!(
                    "invalid value '{s}' for '--axis <NAME=V,V...>': {e}"
                ))
            })
        })
        .collect()
}

/// `test`'s flags that mean nothing to a hunt, or would change what it
/// measures: refused, rather than quietly ignored.
fn refuse_test_only_flags(t: &TestArgs) -> Result<(), Error> {
    let given = [
        ("--list", t.list),
        ("--stress-count", t.stress_count.is_some()),
        ("--stress-duration", t.stress_duration.is_some()),
        ("--retries", t.retries.is_some()),
        ("--fail-fast", t.fail_fast),
        ("--max-fail", t.max_fail.is_some()),
        ("--partition", t.partition.is_some()),
        ("--baseline", t.baseline.is_some()),
        ("--report", t.report.is_some()),
        ("--junit", t.junit.is_some()),
        ("--html", t.html.is_some()),
        ("--no-capture", t.no_capture),
        (
            "--message-format json",
            t.message_format == MessageFormat::Json,
        ),
        (
            "--isolation per-binary",
            t.isolation == Isolation::PerBinary,
        ),
    ];
    match given.iter().find(|(_, on)| *on) {
        Some((flag, _)) => Err(Error::Usage(format!(
            "{flag} is for `cargo isolate test`: hunt runs each test alone, as stress runs of its own (see --runs, --time-budget), and writes its own table (-o); drop {flag}"
        ))),
        None => Ok(()),
    }
}

/// Drops the axes this host cannot make, each with the reason, checked
/// as `test` checks them before a run.
fn leave_out_what_this_host_cannot_make(grid: &mut Grid, prepared: &Prepared) -> Vec<String> {
    let mut notes = Vec::new();
    if grid.has(AxisName::Cpus) && !prepared.enforces_cpus() {
        grid.drop_axis(AxisName::Cpus);
        notes.push(
            "cpus left out: this host's cgroup cannot limit CPU (root, or a delegated cgroup v2 subtree with the cpu controller, can)"
                .to_string(),
        );
    }
    let probes = [
        (
            AxisName::Loss,
            NetFaults {
                loss_ppm: 10_000,
                ..NetFaults::default()
            },
        ),
        (
            AxisName::Delay,
            NetFaults {
                delay_us: Some(10_000),
                ..NetFaults::default()
            },
        ),
        (
            AxisName::Rate,
            NetFaults {
                rate_bps: Some(1_000_000),
                ..NetFaults::default()
            },
        ),
    ];
    for (axis, faults) in probes {
        if !grid.has(axis) {
            continue;
        }
        if let Err(why) = prepared.can_make(&faults) {
            grid.drop_axis(axis);
            let why = why
                .strip_prefix("set up the network faults: ")
                .unwrap_or(&why);
            notes.push(format!(
                "{} left out: {why} (it is tried once this host can make it)",
                axis.as_str()
            ));
        }
    }
    notes
}

/// The hunt under way: what it runs and what it found so far.
struct Hunt<'a> {
    prepared: &'a Prepared,
    units: Vec<RunUnit>,
    /// `-j` of the command line, else 1: copies at once outside the jobs
    /// axis.
    base_jobs: usize,
    runs: u64,
    stop_after: u64,
    deadline: Option<Instant>,
    rows: Vec<Row>,
    /// Each test's baseline.
    baseline: Vec<Tally>,
    /// Each single condition's failures, all tests together.
    failed: Vec<(Value, u64)>,
}

/// One cell's figures for one test.
#[derive(Default)]
struct Ran {
    tally: Tally,
    setup_errors: u64,
    outcomes: BTreeMap<String, u64>,
    first_failure: Option<String>,
}

impl Hunt<'_> {
    /// Every cell in order. `Ok(false)`: a signal stopped the hunt.
    fn all(&mut self, grid: &Grid, singles: &[Cell]) -> Result<bool, Error> {
        let total = 1 + singles.len();
        self.cell(&Cell::default(), "baseline", (1, total), total)?;
        let mut any_failed = false;
        for (i, cell) in singles.iter().enumerate() {
            if signals::cancelled() {
                return Ok(false);
            }
            any_failed |= self.cell(cell, "single", (i + 2, total), total - i - 1)?;
        }
        if any_failed {
            return Ok(!signals::cancelled());
        }
        let failed = self.failed.clone();
        let failures = |v: &Value| {
            failed
                .iter()
                .find(|(x, _)| x == v)
                .map(|(_, n)| *n)
                .unwrap_or(0)
        };
        let levels = grid.combinations(&failures);
        if !levels.is_empty() {
            eprintln!("        Nothing failed alone: trying combinations");
        }
        for level in levels {
            let mut level_failed = false;
            for (i, cell) in level.iter().enumerate() {
                if signals::cancelled() {
                    return Ok(false);
                }
                let at = (i + 1, level.len());
                level_failed |= self.cell(cell, "combined", at, level.len() - i)?;
            }
            if level_failed {
                break;
            }
        }
        Ok(!signals::cancelled())
    }

    /// Runs every test under `cell`, in batches, until each has its runs,
    /// failed often enough, or the cell's share of the time budget is
    /// spent; records its rows. Whether it failed for some test.
    fn cell(
        &mut self,
        cell: &Cell,
        phase: &'static str,
        (n, of): (usize, usize),
        cells_left: usize,
    ) -> Result<bool, Error> {
        let start = Instant::now();
        let share = self.deadline.map(|d| {
            d.saturating_duration_since(start) / u32::try_from(cells_left.max(1)).unwrap_or(1)
        });
        let jobs = match cell.get(AxisName::Jobs) {
            Some(Value::Jobs(j)) => j,
            _ => self.base_jobs,
        };
        let seed = match cell.get(AxisName::Seed) {
            Some(Value::Seed(s)) => Some(s),
            _ => self.prepared.args().seed,
        };
        let units: Vec<RunUnit> = self.units.iter().map(|u| under(u, cell)).collect();
        let mut ran: Vec<Ran> = units.iter().map(|_| Ran::default()).collect();
        let mut active: Vec<usize> = (0..units.len()).collect();
        eprint!("  [{n:>2}/{of}] {:<28} ", cell.label());
        while !active.is_empty() && !signals::cancelled() {
            let done = |r: &Ran| r.tally.runs + r.setup_errors;
            let left = active
                .iter()
                .map(|&i| self.runs.saturating_sub(done(&ran[i])))
                .max()
                .unwrap_or(0);
            // No more rounds than the closest test needs to fail to its
            // stop (so that the stop is exact), but enough to keep `jobs`
            // sandboxes busy.
            let to_stop = active
                .iter()
                .map(|&i| self.stop_after.saturating_sub(ran[i].tally.failures()))
                .min()
                .unwrap_or(1);
            let rounds = left.min(to_stop.max(jobs as u64)).max(1);
            let rounds = u32::try_from(rounds).unwrap_or(u32::MAX);
            let batch: Vec<RunUnit> = active.iter().map(|&i| units[i].clone()).collect();
            let records = self.prepared.run(&Batch {
                units: &batch,
                rounds,
                jobs,
                seed,
            })?;
            let before: Vec<u64> = ran.iter().map(|r| r.tally.runs).collect();
            for rec in records {
                if let Some(i) = units.iter().position(|u| u.id == rec.id) {
                    add(&mut ran[i], &rec);
                }
            }
            eprint!(".");
            // A test that made no run (only setup errors) goes too: its
            // rows say why.
            active.retain(|&i| {
                let r = &ran[i];
                r.tally.runs > before[i]
                    && done(r) < self.runs
                    && r.tally.failures() < self.stop_after
            });
            if share.is_some_and(|s| start.elapsed() >= s) {
                break;
            }
        }
        let elapsed = start.elapsed();
        eprintln!(" {:.1}s", elapsed.as_secs_f64());
        if phase == "baseline" {
            self.baseline = ran.iter().map(|r| r.tally).collect();
        }
        let mut any = false;
        for (i, r) in ran.into_iter().enumerate() {
            let fails = phase != "baseline" && stats::fails_against(r.tally, self.baseline[i]);
            any |= fails;
            let (lo, hi) = r.tally.interval();
            eprintln!(
                "          {}/{} passed{}  {}",
                r.tally.passed,
                r.tally.runs,
                if fails { "  FAILS" } else { "" },
                crate::report::escape::for_terminal_line(&units[i].id)
            );
            let replay = self.prepared.replay(&units[i], seed, jobs, r.tally.runs);
            self.rows.push(Row {
                condition: cell.label(),
                phase,
                conditions: conditions(cell),
                test: units[i].id.clone(),
                runs: r.tally.runs,
                passed: r.tally.passed,
                failures: r.tally.failures(),
                setup_errors: r.setup_errors,
                pass_rate: r.tally.pass_rate(),
                ci_low: lo,
                ci_high: hi,
                fails,
                outcomes: r.outcomes,
                first_failure: r.first_failure,
                replay,
                duration_ms: elapsed.as_secs_f64() * 1000.0,
            });
        }
        if let [one] = cell.conditions[..] {
            let n = self.rows.iter().rev().take(units.len());
            self.failed.push((one, n.map(|r| r.failures).sum()));
        }
        Ok(any)
    }

    /// The report: every row, and per test the smallest failing cell.
    fn report(
        self,
        grid: &Grid,
        notes: Vec<String>,
        args: &HuntArgs,
        started: Instant,
        complete: bool,
    ) -> HuntReport {
        let smallest_failing = self
            .units
            .iter()
            .map(|u| smallest(grid, &self.rows, &u.id))
            .collect();
        HuntReport {
            tool: "cargo-isolate hunt",
            format_version: 1,
            version: env!("CARGO_PKG_VERSION"),
            tests: self.units.iter().map(|u| u.id.clone()).collect(),
            axes: grid
                .axes
                .iter()
                .map(|a| table::AxisValues {
                    name: a.name.as_str(),
                    values: a.values.iter().map(Value::text).collect(),
                })
                .collect(),
            notes,
            runs: u32::try_from(self.runs).unwrap_or(u32::MAX),
            stop_after_failures: self.stop_after,
            time_budget_ms: args.time_budget.map(|b| b.as_millis() as u64),
            rows: self.rows,
            smallest_failing,
            duration_ms: started.elapsed().as_secs_f64() * 1000.0,
            complete,
        }
    }
}

/// A run's record (a stress tally) into a test's figures for the cell.
fn add(ran: &mut Ran, rec: &crate::report::TestRecord) {
    let Some(stress) = &rec.stress else { return };
    let count = |o: Outcome| stress.outcomes.get(&o).copied().unwrap_or(0);
    let setup = count(Outcome::SetupError);
    ran.setup_errors += setup;
    ran.tally.add(Tally {
        runs: stress.runs - setup,
        passed: count(Outcome::Passed),
    });
    for (o, n) in &stress.outcomes {
        *ran.outcomes.entry(o.to_string()).or_default() += n;
    }
    if ran.first_failure.is_none() && rec.outcome != Outcome::Passed {
        ran.first_failure = rec.panic_message.clone().or(rec.error.clone());
    }
}

/// The unit with the cell's conditions set over its own settings.
fn under(unit: &RunUnit, cell: &Cell) -> RunUnit {
    let mut u = unit.clone();
    let s = &mut u.settings.sandbox;
    for v in &cell.conditions {
        match *v {
            Value::Cpus(c) => s.cpus = Some(c),
            Value::LossPpm(p) => s.net.net_loss = Some(p),
            Value::DelayUs(us) => s.net.net_delay = Some(us),
            Value::RateBps(bps) => s.net.net_rate = Some(bps),
            // Not a sandbox's: the batch's.
            Value::Jobs(_) | Value::Seed(_) => {}
        }
    }
    u
}

fn conditions(cell: &Cell) -> BTreeMap<String, String> {
    let pairs = cell.conditions.iter();
    pairs
        .map(|v| (v.axis().as_str().into(), v.text()))
        .collect()
}

/// The smallest failing row of a test (see the module doc).
fn smallest(grid: &Grid, rows: &[Row], test: &str) -> Finding {
    let cell_of = |r: &Row| Cell {
        conditions: grid_values(grid, &r.conditions),
    };
    let best = rows
        .iter()
        .filter(|r| r.test == test && r.fails)
        .min_by(|a, b| {
            let (ra, rb) = (grid.rank(&cell_of(a)), grid.rank(&cell_of(b)));
            let rate = |r: &Row| r.pass_rate.unwrap_or(1.0);
            ra.cmp(&rb).then(rate(a).total_cmp(&rate(b)))
        });
    match best {
        Some(r) => Finding {
            test: test.into(),
            condition: Some(r.condition.clone()),
            conditions: r.conditions.clone(),
            runs: r.runs,
            passed: r.passed,
            pass_rate: r.pass_rate,
            ci_low: r.ci_low,
            ci_high: r.ci_high,
            replay: Some(r.replay.clone()),
        },
        None => Finding {
            test: test.into(),
            condition: None,
            conditions: BTreeMap::new(),
            runs: 0,
            passed: 0,
            pass_rate: None,
            ci_low: 0.0,
            ci_high: 1.0,
            replay: None,
        },
    }
}

/// A row's conditions back as the grid's values (for ranking).
fn grid_values(grid: &Grid, conditions: &BTreeMap<String, String>) -> Vec<Value> {
    grid.axes
        .iter()
        .flat_map(|a| &a.values)
        .filter(|v| conditions.get(v.axis().as_str()) == Some(&v.text()))
        .copied()
        .collect()
}

/// `hunt.json` and `hunt.md`: at `-o PATH` (and PATH with `.md`), or in
/// the target dir's `isolate/`.
fn write(report: &HuntReport, output: Option<PathBuf>, prepared: &Prepared) -> Result<(), Error> {
    let json = output.unwrap_or_else(|| prepared.target_dir().join("isolate").join("hunt.json"));
    let md = json.with_extension("md");
    let text = serde_json::to_string_pretty(report)
        .map_err(|e| Error::Internal(format!("cannot write the hunt's JSON: {e}")))?;
    for (path, text) in [(&json, text + "\n"), (&md, report.markdown())] {
        std::fs::write(path, text)
            .map_err(|e| Error::setup(format!("cannot write {}: {e}", path.display())))?;
    }
    eprintln!(
        "       Table {}\n             {}",
        json.display(),
        md.display()
    );
    Ok(())
}
