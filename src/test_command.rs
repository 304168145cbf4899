//! `cargo isolate test`: build, discover, plan, run, report.

use crate::archive;
use crate::budget::Baseline;
use crate::build::{self, TestBinary};
use crate::cgroup::Limits;
use crate::cli::{self, Explicit, Isolation, MessageFormat, Scratch, TestArgs};
use crate::config::{Config, TestSettings};
use crate::discover;
use crate::error::{EXIT_INTERRUPTED, EXIT_NO_TESTS, EXIT_OK, EXIT_TEST_FAILED, Error};
use crate::filterset::{Filterset, TestInfo};
use crate::host::{self, Host};
use crate::partition;
use crate::plan::{self, Filter};
use crate::replay;
use crate::report::{self, HostInfo, Report, RunnerInfo, Settings, Summary, Tool};
use crate::run::{self, BinaryContext, Event, RunConfig};
use crate::sandbox;
use crate::scratch::{self, ScratchRoot};
use crate::signals;
use crate::testenv::{self, EnvVars};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

pub fn run(cli_args: &TestArgs, explicit: &Explicit) -> Result<u8, Error> {
    match run_phases(cli_args, explicit) {
        // Whatever a signal cut short (a cargo the terminal's Ctrl-C
        // killed, say) failed because of it: the run was interrupted.
        Err(e) if signals::cancelled() && !matches!(e, Error::Interrupted { .. }) => {
            eprintln!("error: {e}");
            Ok(EXIT_INTERRUPTED)
        }
        end => end,
    }
}

fn run_phases(cli_args: &TestArgs, explicit: &Explicit) -> Result<u8, Error> {
    report::progress::init_color(cli_args.color.as_deref());
    let started_at = SystemTime::now();
    let start = Instant::now();
    let clock = (started_at, start);
    // An archive first: its workspace holds the configuration.
    let opened = match &cli_args.archive_file {
        Some(path) => match open_archive(cli_args, path) {
            Ok(o) => Some(o),
            // An unpack the signal cut short may end in any error. The
            // archive's target dir does not exist: only --report is known.
            Err(e) if signals::cancelled() => {
                let pids = cli_args.sandbox.pids_max.and_then(cli::PidsMax::limit);
                let settings = settings_of(cli_args, jobs_of(cli_args), pids);
                let host = unprepared_host();
                return stopped_early(cli_args, host, settings, None, None, clock, &e);
            }
            Err(e) => return Err(e),
        },
        None => None,
    };
    // The configuration and every expression first: a broken file or
    // filter is a usage error before anything is built.
    let config = load_config(cli_args, opened.as_ref())?;
    let args = &config.apply(cli_args, explicit);
    let partition = args
        .partition
        .as_deref()
        .map(|spec| partition::parse(spec, args.partition_total, &|k| std::env::var(k).ok()))
        .transpose()
        .map_err(Error::Usage)?;
    let timings = read_timings(partition.as_ref(), args.timings.as_deref())?;
    let filtersets = args
        .filtersets
        .iter()
        .map(|e| {
            Filterset::parse(e)
                .map_err(|err| Error::Usage(format!("invalid -E expression:\n{}", err.render(e))))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let baseline = match &args.baseline {
        Some(p) => Some(Baseline::read(p).map_err(Error::Usage)?),
        None => None,
    };
    let cli_test = explicit_test_settings(args, explicit);
    let any_limits = config.any_limits(&Limits {
        memory_max_bytes: args.sandbox.memory_max,
        pids_max: args.sandbox.pids_max.and_then(cli::PidsMax::limit),
        cpus: args.sandbox.cpus,
    });
    // Fail on the environment before a long build, not after.
    if args.isolation == Isolation::None && !args.sandbox.hosts.is_empty() {
        return Err(Error::Usage(
            "--hosts writes the sandbox's own /etc/hosts: there is none with --isolation none"
                .into(),
        ));
    }
    // The default filter goes on the zygote once, unless a test runs
    // unsandboxed (a clone of the same zygote).
    let zygote_wall = args.isolation != Isolation::None && !config.any_override_unsandboxed();
    let host = host::prepare(
        &args.sandbox,
        args.isolation,
        Some(&any_limits),
        zygote_wall,
    )?;
    let jobs = jobs_of(args);
    for w in &host.warnings {
        eprintln!("warning: {w}");
    }
    if let Some(src) = &config.source {
        eprintln!(
            "      Config {} (profile {})",
            src.display(),
            config.profile
        );
    }
    let archive_info = opened
        .as_ref()
        .zip(cli_args.archive_file.as_ref())
        .map(|(o, path)| report::ArchiveInfo {
            path: path.display().to_string(),
            sha256: o.sha256.clone(),
        });
    let selection = Selection {
        config: &config,
        filtersets: &filtersets,
        cli: &cli_test,
        partition: partition.as_ref(),
        timings: &timings,
    };
    if args.list {
        return list(args, &host, &selection, opened, jobs);
    }
    // A signal in the build or the listing ends the run there, with a
    // report that says so.
    let stopped = |target_dir: Option<PathBuf>, e: &Error| {
        let settings = settings_of(args, jobs, host.limits.pids_max);
        let archive = archive_info.clone();
        stopped_early(
            args,
            host_info(&host),
            settings,
            target_dir,
            archive,
            clock,
            e,
        )
    };
    let archive_target = opened.as_ref().map(|o| o.target_dir.clone());
    let (built, target_dir) = match build_phase(args, opened) {
        Ok(b) => b,
        Err(e) if signals::cancelled() => {
            let target_dir = archive_target.or_else(|| {
                build::target_dir_without_building(&args.cargo)
                    .map(|d| std::fs::canonicalize(&d).unwrap_or(d))
            });
            return stopped(target_dir, &e);
        }
        Err(e) => return Err(e),
    };
    let Planned {
        target_dir,
        scratch,
        contexts,
        filter,
        units,
        given,
    } = match plan_phase(args, &host, &selection, built, target_dir.clone(), jobs) {
        Ok(p) => p,
        Err(e) if signals::cancelled() => return stopped(Some(target_dir), &e),
        Err(e) => return Err(e),
    };
    let partition_info = partition.as_ref().map(|p| report::PartitionInfo {
        scheme: p.scheme.to_string(),
        index: p.index,
        total: p.total,
        tests: given,
    });
    let isolation = args.isolation;
    let report_path = args
        .report
        .clone()
        .unwrap_or_else(|| target_dir.join("isolate").join("report.json"));
    let pinned = pin_report_dir(&report_path, args, &target_dir)?;
    let settings = settings_of(args, jobs, host.limits.pids_max);
    if units.is_empty() {
        eprintln!(
            "error: no tests matched; nothing ran (filters: {:?})",
            filter.names
        );
        let mut report = assemble(host_info(&host), settings, clock, true, Vec::new());
        report.archive = archive_info;
        report.partition = partition_info;
        write_reports(&report, &report_path, args, pinned.as_ref())?;
        return Ok(EXIT_NO_TESTS);
    }
    // Joining a namespace owned by the initial user namespace needs root.
    let reuse_netns = args.reuse_netns && isolation != Isolation::None && !host.rootless;
    check_network_faults(&units, &contexts, reuse_netns, &host, &args.sandbox)?;
    let cancel = signals::pipe();
    if args.reuse_netns && host.rootless {
        eprintln!("warning: --reuse-netns needs root; every test gets a fresh network namespace");
    }
    let stress =
        (args.stress_count.is_some() || args.stress_duration.is_some()).then(|| run::Stress {
            count: args.stress_count,
            until: args.stress_duration.map(|d| Instant::now() + d),
        });
    let replay = replay::Replay {
        args,
        typed: cli_args,
        passthrough: &filter.passthrough,
    };
    let cfg = RunConfig {
        host: &host,
        binaries: &contexts,
        jobs,
        timeout: args.sandbox.timeout,
        output_limit: args.output_limit as usize,
        echo_output: args.no_capture,
        max_fail: args.max_fail(),
        cancel,
        reuse_netns,
        scratch: scratch.as_ref(),
        stress,
        replay: Some(&replay),
    };
    for note in &filter.notes {
        eprintln!("note: {note}");
    }
    let runnable = units.iter().filter(|u| !u.skip_as_ignored).count();
    let skipped = units.len() - runnable;
    let binaries: std::collections::HashSet<(&str, &str)> = units
        .iter()
        .map(|u| {
            (
                contexts[u.binary].package.as_str(),
                contexts[u.binary].target.as_str(),
            )
        })
        .collect();
    let stress_note = match (args.stress_count, args.stress_duration) {
        (Some(n), Some(d)) => format!(
            ", {} each or {} in all",
            report::count(n as usize, "run", "runs"),
            humantime::format_duration(d)
        ),
        (Some(n), None) => format!(", {} each", report::count(n as usize, "run", "runs")),
        (None, Some(d)) => format!(", for {}", humantime::format_duration(d)),
        (None, None) => String::new(),
    };
    let mut run_notes = args.seed.map(|s| format!(", seed {s}")).unwrap_or_default();
    if let Some(p) = &partition {
        run_notes += &format!(", share {p}");
    }
    eprintln!(
        "    Starting {}{stress_note} across {}{} ({}, -j{jobs}, cgroup {}{}{run_notes})",
        report::count(runnable, "test", "tests"),
        report::count(binaries.len(), "binary", "binaries"),
        if skipped > 0 {
            format!(" ({skipped} skipped)")
        } else {
            String::new()
        },
        isolation.as_str(),
        host.cgroup_name(),
        if host.rootless { ", rootless" } else { "" }
    );
    // GitHub reads workflow commands (::error::, ::add-mask::...) in all a
    // step prints, and tests' output is printed: stop command processing
    // for the run; it resumes, with a token no test knows, for our own.
    let github = std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true");
    if github {
        println!("::stop-commands::{}", github_token());
    }
    let total_runs = match (stress, args.stress_count) {
        (Some(_), Some(n)) => runnable * n as usize,
        _ => runnable,
    };
    let mut progress = report::progress::Progress::new(total_runs, &settings, !args.no_capture);
    if stress.is_some() {
        progress = progress.stress();
    }
    let mut tallies: Vec<report::flaky::StressTally> = match stress {
        Some(_) => units.iter().map(|_| Default::default()).collect(),
        None => Vec::new(),
    };
    let mut events =
        (args.message_format == MessageFormat::Json).then(report::events::EventStream::new);
    if let Some(ev) = &mut events {
        ev.run_started(testenv::run_id(), &config.profile, runnable, binaries.len());
    }
    let mut records = Vec::with_capacity(units.len());
    let result = run::run_all(&cfg, &units, |ev| match ev {
        Event::Started(id) => {
            if let Some(ev) = &mut events {
                ev.test_started(&id);
            }
            progress.started(&id)
        }
        Event::Finished(index, rec) => {
            if let Some(ev) = &mut events {
                ev.test_finished(&rec);
            }
            progress.finished(&rec);
            match tallies.get_mut(index) {
                Some(tally) => tally.add(rec.attempt.unwrap_or(1), *rec),
                None => records.push(*rec),
            }
        }
    });
    // A stressed test is one record: its runs' tally.
    records.extend(tallies.into_iter().filter_map(|t| t.finish()));
    progress.finish();
    let cancelled = signals::cancelled();
    // Keep what finished even when the run itself failed midway.
    let complete = matches!(result, Ok(true));
    // What a stop (--fail-fast, Ctrl-C) left out: ignored tests were never
    // to run and are recorded as such; the rest never ran.
    let ran: std::collections::HashSet<String> = records.iter().map(|r| r.id.clone()).collect();
    let mut not_run = Vec::new();
    for u in units.iter().filter(|u| !ran.contains(&u.id)) {
        if u.skip_as_ignored {
            let b = &contexts[u.binary];
            records.push(report::TestRecord::new(
                u.id.clone(),
                &b.package,
                &b.target,
                &b.kind,
                u.name.clone(),
            ));
        } else {
            not_run.push(u.id.clone());
        }
    }
    let mut report = assemble(
        host_info(&host),
        settings,
        clock,
        complete && !cancelled,
        records,
    );
    report.not_run = not_run;
    report.archive = archive_info;
    report.partition = partition_info;
    if let Some(b) = &baseline {
        compare(&mut report, b, &config, &units);
    }
    let budgets_fail = args.budgets != Some(crate::cli::BudgetMode::Warn);
    // Whatever happens to the files, the user sees what happened first.
    let written = write_reports(&report, &report_path, args, pinned.as_ref());
    drop(host);
    result?;
    eprint!("{}", report::summary::render(&report));
    github_actions(&report, budgets_fail, &contexts);
    let earned = if cancelled {
        eprintln!(
            "interrupted: the report holds the {} tests that finished",
            report.tests.len()
        );
        EXIT_INTERRUPTED
    } else if report.summary.not_passed() > 0 || (args.flaky_fails && report.summary.flaky > 0) {
        EXIT_TEST_FAILED
    } else if budgets_fail && report.summary.over_budget + report.summary.regressed > 0 {
        // Budgets are soft: the tests passed, the run does not.
        EXIT_TEST_FAILED
    } else if report.summary.total == 0 {
        EXIT_NO_TESTS
    } else {
        EXIT_OK
    };
    if let Some(ev) = &mut events {
        ev.run_finished(&report, earned);
    }
    match written {
        Ok(()) => {
            eprintln!("      Report {}", report_path.display());
            if let Some(junit) = &args.junit {
                eprintln!("       JUnit {}", junit.display());
            }
            if let Some(html) = &args.html {
                eprintln!("        HTML {}", html.display());
            }
            Ok(earned)
        }
        // The tests' own verdict wins over a missing file; a green run
        // without its report is a setup error (exit 96), not a success.
        Err(e) if earned != EXIT_OK => {
            eprintln!("error: {e}");
            Ok(earned)
        }
        Err(e) => Err(e),
    }
}

/// What a run needs before its first sandbox.
struct Planned {
    target_dir: PathBuf,
    scratch: Option<ScratchRoot>,
    contexts: Vec<BinaryContext>,
    filter: Filter,
    units: Vec<plan::RunUnit>,
    /// With --partition: the ids of this share's tests, in plan order.
    given: Vec<String>,
}

/// How long listing one binary may take, and how much it may print.
const LIST_TIMEOUT: Duration = Duration::from_secs(120);
const LIST_OUTPUT_LIMIT: usize = 256 << 20;

/// What decides which tests run and with what settings, beyond the
/// libtest-style filters: -E expressions and the configuration.
struct Selection<'a> {
    config: &'a Config,
    filtersets: &'a [Filterset],
    /// The per-test values the command line gave explicitly: they win.
    cli: &'a TestSettings,
    /// --partition: only this share of the selected tests.
    partition: Option<&'a partition::Partition>,
    /// --timings, for --partition duration.
    timings: &'a std::collections::HashMap<String, f64>,
}

impl Selection<'_> {
    /// Whether the -E expressions exclude every test of this binary, so
    /// that it need not even be listed.
    fn excludes_binary(&self, b: &TestBinary) -> bool {
        let id = b.binary_id();
        let info = test_info(b, &id, "");
        !self.filtersets.is_empty()
            && self
                .filtersets
                .iter()
                .all(|f| f.matches_binary(&info) == Some(false))
    }

    /// Keeps the units the -E expressions select (any of them) and gives
    /// each its settings.
    fn apply(&self, binaries: &[TestBinary], units: Vec<plan::RunUnit>) -> Vec<plan::RunUnit> {
        let ids: Vec<String> = binaries.iter().map(TestBinary::binary_id).collect();
        units
            .into_iter()
            .filter(|u| {
                let name = u.name.as_deref().unwrap_or("");
                let t = test_info(&binaries[u.binary], &ids[u.binary], name);
                self.filtersets.is_empty() || self.filtersets.iter().any(|f| f.matches(&t))
            })
            .map(|mut u| {
                let name = u.name.as_deref().unwrap_or("");
                let t = test_info(&binaries[u.binary], &ids[u.binary], name);
                u.settings = self.config.test_settings(&t, self.cli);
                u
            })
            .collect()
    }
}

/// What a filterset sees of one test (`name` empty: the whole binary).
fn test_info<'a>(b: &'a TestBinary, binary_id: &'a str, name: &'a str) -> TestInfo<'a> {
    TestInfo {
        package: &b.package,
        binary: &b.target,
        binary_id,
        kind: &b.kind,
        name,
    }
}

/// The per-test flags given on the command line, which win over every
/// value of the configuration, overrides included.
fn explicit_test_settings(args: &TestArgs, explicit: &Explicit) -> TestSettings {
    let given = |f: &str| explicit.has(f);
    TestSettings {
        memory_max: args.sandbox.memory_max.filter(|_| given("memory_max")),
        pids_max: args
            .sandbox
            .pids_max
            .filter(|_| given("pids_max"))
            .and_then(cli::PidsMax::limit),
        cpus: args.sandbox.cpus.filter(|_| given("cpus")),
        timeout: args.sandbox.timeout.filter(|_| given("timeout")),
        retries: args.retries,
        net: crate::config::NetSettings::of_args(&args.sandbox.net),
        ..TestSettings::default()
    }
}

/// The configuration of this run (see `config::load_for`). The run id
/// first: without randomness the run stops here, before anything is made.
fn load_config(args: &TestArgs, archive: Option<&archive::Opened>) -> Result<Config, Error> {
    testenv::try_run_id()?;
    crate::config::load_for(args, archive.map(|a| a.workspace_root.as_path()))
}

/// The test binaries: the archive's, or built now, and their target dir.
fn build_phase(
    args: &TestArgs,
    archive: Option<archive::Opened>,
) -> Result<(build::BuildOutput, PathBuf), Error> {
    // A signal before the build (while the host was prepared) is seen here.
    if signals::cancelled() {
        return Err(Error::Interrupted {
            while_: "preparing the run",
        });
    }
    Ok(match archive {
        Some(a) => (a.build, a.target_dir),
        None => {
            let built = build::build(&args.cargo)?;
            let target_dir = testenv::target_dir(&built, args.cargo.target_dir.as_deref());
            (built, target_dir)
        }
    })
}

/// Each binary's sandbox, discovery (in those sandboxes), the plan.
fn plan_phase(
    args: &TestArgs,
    host: &Host,
    selection: &Selection<'_>,
    built: build::BuildOutput,
    target_dir: PathBuf,
    jobs: usize,
) -> Result<Planned, Error> {
    // The runner's own dir, checked (ours, not a link) and masked in every
    // sandbox (see `context`): it must exist to be a mount point, whether
    // this run writes to it or not.
    let own = report_dir(&target_dir)?;
    if args.read_only_source {
        // CARGO_TARGET_TMPDIR gets a writable tmpfs inside the read-only
        // target dir; the mount point has to exist there.
        let tmp = target_dir.join("tmp");
        std::fs::create_dir_all(&tmp)
            .map_err(|e| Error::setup(format!("cannot create {}: {e}", tmp.display())))?;
    }
    let scratch = match args.sandbox.scratch {
        Scratch::Disk => {
            // Checked first (in `own`): not through a link, not someone else's.
            let parent = own.shown().join("scratch");
            // Two sandboxes per job can hold their scratch at once (one
            // running, one staged).
            let image = scratch::bound(
                args.sandbox.scratch_size,
                host.rootless,
                args.sandbox.allow_unenforced_limits,
                &target_dir,
                2 * jobs,
            )?;
            Some(ScratchRoot::create(&parent, image)?)
        }
        Scratch::Memory => None,
    };
    let sysroot_libs = testenv::sysroot_lib_dirs();
    let run_variant = Variant::of_run(args, &host::extra_read_only(&args.sandbox)?);
    let envs: Vec<EnvVars> = built
        .binaries
        .iter()
        .map(|b| testenv::env_for(b, &built, &target_dir, &sysroot_libs, &args.sandbox))
        .collect();
    let make = |i: usize, v: &Variant| {
        context(
            &built.binaries[i],
            &envs[i],
            &target_dir,
            &sysroot_libs,
            v,
            args,
            host,
        )
    };
    let mut contexts: Vec<BinaryContext> = (0..built.binaries.len())
        .map(|i| make(i, &run_variant))
        .collect();
    let list_cfg = RunConfig {
        host,
        binaries: &contexts,
        jobs,
        timeout: Some(LIST_TIMEOUT),
        output_limit: LIST_OUTPUT_LIMIT,
        echo_output: false,
        max_fail: None,
        // A signal kills the listing sandboxes too.
        cancel: signals::pipe(),
        reuse_netns: false,
        scratch: scratch.as_ref(),
        stress: None,
        replay: None,
    };
    let cases = discover::discover(&list_cfg, &built.binaries, &|i| {
        selection.excludes_binary(&built.binaries[i])
    })?;
    let filter = Filter::new(
        &args.filters,
        args.exact,
        &args.skip,
        args.run_ignored,
        &args.test_args,
    );
    let mut units = selection.apply(
        &built.binaries,
        plan::plan(&built.binaries, &cases, &filter, args.isolation),
    );
    // The share is taken in plan order, before any shuffle: every shard
    // computes the same split.
    if let Some(p) = selection.partition {
        let ids: Vec<&str> = units.iter().map(|u| u.id.as_str()).collect();
        let keep = partition::select(p, &ids, selection.timings);
        units = units
            .into_iter()
            .zip(keep)
            .filter_map(|(u, k)| k.then_some(u))
            .collect();
    }
    let given = match selection.partition {
        Some(_) => units.iter().map(|u| u.id.clone()).collect(),
        None => Vec::new(),
    };
    if let Some(seed) = args.seed {
        seeded(&mut units, seed);
        if args.isolation == Isolation::PerBinary {
            // libtest shuffles only with -Z unstable-options, which a
            // stable-built test binary accepts when RUSTC_BOOTSTRAP is set.
            for u in units
                .iter_mut()
                .filter(|u| !built.binaries[u.binary].custom_harness)
            {
                u.args.extend([
                    "-Z".to_string(),
                    "unstable-options".into(),
                    "--shuffle-seed".into(),
                    seed.to_string(),
                ]);
                u.settings.env.push(("RUSTC_BOOTSTRAP".into(), "1".into()));
            }
        }
    }
    // A unit whose override changes its sandbox (isolation, read-only
    // source, more read-only paths) runs in a context of its own, one per
    // binary and variant.
    let mut variants: std::collections::HashMap<(usize, Variant), usize> = Default::default();
    for u in &mut units {
        let v = run_variant.for_unit(&u.settings);
        if v != run_variant {
            u.binary = *variants.entry((u.binary, v)).or_insert_with_key(|(i, v)| {
                contexts.push(make(*i, v));
                contexts.len() - 1
            });
        }
    }
    Ok(Planned {
        target_dir,
        scratch,
        contexts,
        filter,
        units,
        given,
    })
}

/// `--list`: build, discover and plan as a run would, then print the ids.
/// The listing itself is sandboxed, as in a run.
fn list(
    args: &TestArgs,
    host: &Host,
    selection: &Selection<'_>,
    archive: Option<archive::Opened>,
    jobs: usize,
) -> Result<u8, Error> {
    let (built, target_dir) = build_phase(args, archive)?;
    let units = plan_phase(args, host, selection, built, target_dir, jobs)?.units;
    for u in &units {
        let id = report::escape::for_terminal(&u.id);
        if u.skip_as_ignored {
            println!("{id} (ignored)");
        } else {
            println!("{id}");
        }
    }
    Ok(if units.is_empty() {
        EXIT_NO_TESTS
    } else {
        EXIT_OK
    })
}

/// Network faults need the test's own network namespace, and a kernel
/// that has what they are made of: both are checked before any test runs
/// (each distinct set of faults once, in an empty sandbox).
fn check_network_faults(
    units: &[plan::RunUnit],
    contexts: &[BinaryContext],
    reuse_netns: bool,
    host: &Host,
    sandbox_args: &crate::cli::SandboxArgs,
) -> Result<(), Error> {
    let mut distinct: Vec<sandbox::netfault::NetFaults> = Vec::new();
    for u in units.iter().filter(|u| !u.skip_as_ignored) {
        let faults = u.settings.net.to_faults();
        if faults.is_empty() {
            continue;
        }
        if reuse_netns || !contexts[u.binary].spec.own_network {
            return Err(Error::Usage(format!(
                "{} has network faults (--net-*), which are made in the test's own network namespace: it has none with {}; drop that, or the faults",
                u.id,
                if reuse_netns {
                    "--reuse-netns"
                } else {
                    "--isolation none"
                }
            )));
        }
        if !distinct.contains(&faults) {
            distinct.push(faults);
        }
    }
    for f in &distinct {
        host::probe_net_faults(host, sandbox_args, f)?;
    }
    Ok(())
}

/// `--archive-file`: unpacked (or found unpacked) and read. Cargo's own
/// flags would choose what to build, and nothing is built.
fn open_archive(args: &TestArgs, path: &Path) -> Result<archive::Opened, Error> {
    let cargo_flags = args.cargo.to_cargo_args();
    if !cargo_flags.is_empty() {
        return Err(Error::Usage(format!(
            "--archive-file runs the archive's binaries as built: cargo's flags ({}) have no effect; select tests with -E (e.g. -E 'package(app)') or names",
            cargo_flags.join(" ")
        )));
    }
    let caps = archive::Caps {
        max_bytes: args
            .archive_max_bytes
            .unwrap_or(archive::Caps::DEFAULT_MAX_BYTES),
        max_entries: args
            .archive_max_entries
            .unwrap_or(archive::Caps::DEFAULT_MAX_ENTRIES),
    };
    Ok(archive::open(path, args.workspace_remap.as_deref(), caps)?)
}

/// `--timings OLD.json` for `--partition duration`, which needs it.
fn read_timings(
    partition: Option<&partition::Partition>,
    path: Option<&Path>,
) -> Result<std::collections::HashMap<String, f64>, Error> {
    let Some(p) = partition else {
        return Ok(Default::default());
    };
    match path {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Error::Usage(format!("cannot read --timings {}: {e}", path.display()))
            })?;
            let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
                Error::Usage(format!(
                    "--timings {} is not a JSON report: {e}",
                    path.display()
                ))
            })?;
            partition::timings_from_report(&value)
                .map_err(|e| Error::Usage(format!("--timings {}: {e}", path.display())))
        }
        None if p.scheme == partition::Scheme::Duration => Err(Error::Usage(format!(
            "--partition {p} balances the shares by each test's time in an earlier run: give --timings OLD.json (a report, e.g. main's merged one)"
        ))),
        None => Ok(Default::default()),
    }
}

/// `--seed`: the units in an order drawn from `seed` (the same seed, the
/// same order, on any machine), and the seed in each test's environment.
fn seeded(units: &mut [plan::RunUnit], seed: u64) {
    let mut state = seed;
    // Fisher-Yates with splitmix64: small, portable, and stable across
    // releases (a library RNG may change its stream).
    for i in (1..units.len()).rev() {
        let j = (splitmix64(&mut state) % (i as u64 + 1)) as usize;
        units.swap(i, j);
    }
    for u in units.iter_mut() {
        u.settings
            .env
            .push(("CARGO_ISOLATE_SEED".into(), seed.to_string()));
    }
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn default_jobs() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// --no-capture interleaves nothing: one test at a time, as nextest.
fn jobs_of(args: &TestArgs) -> usize {
    match args.no_capture {
        true => 1,
        false => args.jobs.unwrap_or_else(default_jobs),
    }
}

/// `pids_max`: the run's own, the default included, once the host is known.
fn settings_of(args: &TestArgs, jobs: usize, pids_max: Option<u64>) -> Settings {
    Settings {
        isolation: args.isolation.as_str(),
        jobs,
        memory_max: args.sandbox.memory_max,
        pids_max,
        cpus: args.sandbox.cpus,
        timeout_ms: args.sandbox.timeout.map(|t| t.as_millis() as u64),
        seccomp: (args.isolation != Isolation::None).then(|| args.sandbox.seccomp.to_string()),
    }
}

fn host_info(host: &Host) -> HostInfo {
    HostInfo {
        kernel: host.kernel.clone(),
        cgroup: host.cgroup_name(),
        rootless: host.rootless,
    }
}

/// The host as a report shows it before it was prepared (an archive's
/// unpack comes first): no cgroup was made.
fn unprepared_host() -> HostInfo {
    HostInfo {
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "unknown".into()),
        cgroup: "none",
        rootless: !nix::unistd::geteuid().is_root(),
    }
}

/// The end of a run a signal stopped before any test ran (while unpacking,
/// building or listing): a report that holds no test, `complete: false`,
/// at --report or in `target_dir` (`None`: not known, no report), and
/// exit 130.
fn stopped_early(
    args: &TestArgs,
    host: HostInfo,
    settings: Settings,
    target_dir: Option<PathBuf>,
    archive: Option<report::ArchiveInfo>,
    clock: (SystemTime, Instant),
    why: &Error,
) -> Result<u8, Error> {
    let what = match why {
        Error::Interrupted { while_ } => while_.to_string(),
        other => format!("{other}"),
    };
    eprintln!("interrupted ({what}): no test ran");
    let path = args
        .report
        .clone()
        .or_else(|| target_dir.map(|d| d.join("isolate").join("report.json")));
    let Some(path) = path else {
        eprintln!(
            "      no report: its directory is not known yet (give --report PATH to have one)"
        );
        return Ok(EXIT_INTERRUPTED);
    };
    let mut report = assemble(host, settings, clock, false, Vec::new());
    report.archive = archive;
    match write_reports(&report, &path, args, None) {
        Ok(()) => eprintln!("      Report {}", path.display()),
        Err(e) => eprintln!("error: {e}"),
    }
    Ok(EXIT_INTERRUPTED)
}

/// `target/isolate`, the reports' and scratch's default place, made if
/// missing and checked: a directory of ours, not a symlink (the target dir
/// may be in another user's workspace). Held open, so that what is written
/// lands in the directory checked even if a link replaces it meanwhile.
fn report_dir(target_dir: &Path) -> Result<crate::owned::PinnedDir, Error> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = target_dir.join("isolate");
    let refused = |why: String| {
        Error::setup(format!(
            "will not write to {}: {why}\n  remove it, or write the report elsewhere with --report PATH",
            dir.display()
        ))
    };
    match std::fs::DirBuilder::new().mode(0o755).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(refused(e.to_string())),
    }
    crate::owned::PinnedDir::open(&dir, 0).map_err(|e| refused(e.to_string()))
}

/// `target/isolate`, checked and held open, when a report goes there:
/// before the first test, so that a refusal costs no run and a link
/// swapped in during the run changes nothing.
fn pin_report_dir(
    json: &Path,
    args: &TestArgs,
    target_dir: &Path,
) -> Result<Option<crate::owned::PinnedDir>, Error> {
    let default_dir = target_dir.join("isolate");
    let outputs = [Some(json), args.junit.as_deref(), args.html.as_deref()];
    match outputs
        .iter()
        .flatten()
        .any(|p| p.parent() == Some(&default_dir))
    {
        true => report_dir(target_dir).map(Some),
        false => Ok(None),
    }
}

fn write_reports(
    report: &Report,
    json: &Path,
    args: &TestArgs,
    pinned: Option<&crate::owned::PinnedDir>,
) -> Result<(), Error> {
    // Reports in target/isolate go through the checked, open directory;
    // elsewhere they go where the user said. Either way a report is a new
    // file renamed into place: a link at its own name is replaced, never
    // followed.
    let via = |p: &Path| match (pinned, p.file_name()) {
        (Some(d), Some(name)) if p.parent() == Some(d.shown()) => d.join(name),
        _ => p.to_path_buf(),
    };
    // Errors name the path the user knows, not /proc/self/fd/N.
    let shown = |p: &Path| {
        let p = p.to_path_buf();
        move |e: Error| match e {
            Error::WriteReport { source, .. } => Error::WriteReport { path: p, source },
            e => e,
        }
    };
    report::write_json(report, &via(json)).map_err(shown(json))?;
    if let Some(p) = args.junit.as_deref() {
        report::junit::write(report, &via(p), args.junit_store_success_output).map_err(shown(p))?;
    }
    if let Some(p) = args.html.as_deref() {
        let err = |e: std::io::Error| Error::WriteReport {
            path: p.to_path_buf(),
            source: e,
        };
        let value = serde_json::to_value(report).map_err(|e| err(e.into()))?;
        // The baseline was read and checked before the run.
        let baseline = args
            .baseline
            .as_deref()
            .and_then(|b| std::fs::read_to_string(b).ok())
            .and_then(|t| serde_json::from_str(&t).ok());
        let page = report::html::render(&value, baseline.as_ref());
        report::write_atomically(&via(p), page.as_bytes()).map_err(shown(p))?;
    }
    Ok(())
}

fn assemble(
    host: HostInfo,
    settings: Settings,
    (started_at, start): (SystemTime, Instant),
    complete: bool,
    mut tests: Vec<report::TestRecord>,
) -> Report {
    // By id: the order of the plan, whatever order they finished in.
    tests.sort_by(|a, b| a.id.cmp(&b.id));
    Report {
        schema_version: 1,
        tool: Tool {
            name: "cargo-isolate",
            version: env!("CARGO_PKG_VERSION"),
        },
        started_at: report::rfc3339(started_at),
        duration_ms: start.elapsed().as_secs_f64() * 1000.0,
        complete,
        host,
        settings,
        summary: Summary::of(&tests),
        tests,
        runner: RunnerInfo {
            peak_rss_bytes: report::own_peak_rss_bytes(),
        },
        not_run: Vec::new(),
        baseline: None,
        archive: None,
        partition: None,
        merged: None,
    }
}

/// Judges the run against `baseline`: each record's regressions, and the
/// tests new or gone (gone: in the baseline, not selected now).
fn compare(report: &mut Report, baseline: &Baseline, config: &Config, units: &[plan::RunUnit]) {
    let thresholds = config.run.regression.thresholds();
    for t in &mut report.tests {
        t.regressions = baseline.regressions(t, &thresholds);
    }
    let selected: std::collections::HashSet<&str> = units.iter().map(|u| u.id.as_str()).collect();
    let mut gone: Vec<String> = baseline
        .ids()
        .filter(|id| !selected.contains(id))
        .map(String::from)
        .collect();
    gone.sort();
    report.baseline = Some(report::BaselineInfo {
        path: baseline.path.clone(),
        new_tests: report
            .tests
            .iter()
            .filter(|t| !baseline.contains(&t.id))
            .map(|t| t.id.clone())
            .collect(),
        gone_tests: gone,
    });
    report.summary = Summary::of(&report.tests);
}

/// With GITHUB_ACTIONS=true: annotations on stdout (where the runner reads
/// workflow commands) and the markdown summary appended to the step's.
/// The token that ends `::stop-commands::`: random, made once, and unlike
/// the run id never given to a test.
fn github_token() -> &'static str {
    static TOKEN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TOKEN.get_or_init(testenv::random_uuid)
}

fn github_actions(report: &Report, budgets_fail: bool, contexts: &[BinaryContext]) {
    if std::env::var("GITHUB_ACTIONS").as_deref() != Ok("true") {
        return;
    }
    println!("::{}::", github_token());
    let root = std::env::var_os("GITHUB_WORKSPACE")
        .map(PathBuf::from)
        .or_else(|| std::env::current_dir().ok());
    let package_dir = |pkg: &str| {
        let dir = contexts
            .iter()
            .find(|c| c.package == pkg)?
            .spec
            .workdir
            .clone();
        match &root {
            Some(r) => dir.strip_prefix(r).ok().map(Path::to_path_buf),
            None => Some(dir),
        }
    };
    print!(
        "{}",
        report::github::annotations(report, budgets_fail, &package_dir)
    );
    if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY") {
        use std::io::Write;
        let written = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)
            .and_then(|mut f| f.write_all(report::github::step_summary(report).as_bytes()));
        if let Err(e) = written {
            eprintln!(
                "warning: cannot append to $GITHUB_STEP_SUMMARY ({}): {e}",
                Path::new(&path).display()
            );
        }
    }
}

/// The sandbox of one binary: its package dir and the target dir through a
/// private overlay (or read-only), the toolchain read-only, cargo's env.
/// The sandbox a unit runs in, where an override may differ from the run.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Variant {
    isolation: Isolation,
    read_only_source: bool,
    extra_read_only: Vec<PathBuf>,
}

impl Variant {
    fn of_run(args: &TestArgs, extra_read_only: &[PathBuf]) -> Variant {
        Variant {
            isolation: args.isolation,
            read_only_source: args.read_only_source,
            extra_read_only: extra_read_only.to_vec(),
        }
    }

    /// The run's sandbox, with what a unit's settings change.
    fn for_unit(&self, s: &TestSettings) -> Variant {
        let mut extra = self.extra_read_only.clone();
        extra.extend(
            s.ro_bind
                .iter()
                .filter_map(|p| std::fs::canonicalize(p).ok()),
        );
        Variant {
            isolation: s.isolation.unwrap_or(self.isolation),
            read_only_source: s.read_only_source.unwrap_or(self.read_only_source),
            extra_read_only: extra,
        }
    }
}

fn context(
    b: &TestBinary,
    env: &EnvVars,
    target_dir: &Path,
    sysroot_libs: &[PathBuf],
    variant: &Variant,
    args: &TestArgs,
    host: &Host,
) -> BinaryContext {
    let manifest_dir = std::fs::canonicalize(&b.manifest_dir).unwrap_or(b.manifest_dir.clone());
    let mut overlays = vec![manifest_dir.clone(), target_dir.to_path_buf()];
    if let Some(profile_dir) = b.executable.parent().and_then(Path::parent)
        && !overlays.iter().any(|o| profile_dir.starts_with(o))
    {
        overlays.push(profile_dir.to_path_buf());
    }
    let mut read_only: Vec<PathBuf> = sysroot_libs.to_vec();
    read_only.extend(variant.extra_read_only.iter().cloned());
    let mut layout = host::base_layout(&read_only, &overlays, variant.read_only_source);
    // The runner's own files are no test's to see: reports, and the live
    // scratch dirs of tests of this or a concurrent run (--scratch disk).
    layout.secrets.push((target_dir.join("isolate"), true));
    if variant.read_only_source {
        layout.scratch.push(target_dir.join("tmp"));
    }
    let spec = host::init_spec(
        host,
        &args.sandbox,
        variant.isolation,
        &layout,
        manifest_dir,
        b.executable.clone(),
        Vec::new(),
    );
    BinaryContext {
        package: b.package.clone(),
        target: b.target.clone(),
        kind: b.kind.clone(),
        namespaces: host.namespaces(variant.isolation),
        spec,
        env: sandbox::env_block(env.iter().map(|(k, v)| (k.as_os_str(), v.as_os_str()))),
    }
}
