//! `cargo isolate test`: build, discover, plan, run, report.

use crate::build::{self, TestBinary};
use crate::cli::{Isolation, Scratch, TestArgs};
use crate::discover;
use crate::error::{EXIT_NO_TESTS, EXIT_OK, EXIT_TEST_FAILED, Error};
use crate::host::{self, Host};
use crate::plan::{self, Filter};
use crate::report::{self, HostInfo, Report, RunnerInfo, Settings, Summary, Tool};
use crate::run::{self, BinaryContext, Event, RunConfig};
use crate::sandbox;
use crate::scratch::ScratchRoot;
use crate::signals::CancelPipe;
use crate::testenv::{self, EnvVars};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// Exit code when Ctrl-C or SIGTERM interrupted the run (128 + SIGINT).
pub const EXIT_INTERRUPTED: u8 = 130;

pub fn run(args: &TestArgs) -> Result<u8, Error> {
    report::progress::init_color(args.color.as_deref());
    let started_at = SystemTime::now();
    let start = Instant::now();
    // Fail on the environment before a long build, not after.
    let host = host::prepare(&args.sandbox, args.isolation)?;
    for w in &host.warnings {
        eprintln!("warning: {w}");
    }
    if args.list {
        return list(args, &host);
    }
    let Planned {
        target_dir,
        scratch,
        contexts,
        jobs,
        filter,
        units,
    } = build_and_plan(args, &host)?;
    let isolation = args.isolation;
    let report_path = args
        .report
        .clone()
        .unwrap_or_else(|| target_dir.join("isolate").join("report.json"));
    let settings = Settings {
        isolation: isolation.as_str(),
        jobs,
        memory_max: args.sandbox.memory_max,
        pids_max: args.sandbox.pids_max,
        cpus: args.sandbox.cpus,
        timeout_ms: args.sandbox.timeout.map(|t| t.as_millis() as u64),
    };
    if units.is_empty() {
        eprintln!(
            "error: no tests matched; nothing ran (filters: {:?})",
            filter.names
        );
        let report = assemble(&host, settings, started_at, start, true, Vec::new());
        write_reports(&report, &report_path, args)?;
        return Ok(EXIT_NO_TESTS);
    }
    let cancel = CancelPipe::install();
    // Joining a namespace owned by the initial user namespace needs root.
    let reuse_netns = args.reuse_netns && isolation != Isolation::None && !host.rootless;
    if args.reuse_netns && host.rootless {
        eprintln!("warning: --reuse-netns needs root; every test gets a fresh network namespace");
    }
    let cfg = RunConfig {
        host: &host,
        binaries: &contexts,
        namespaces: host.namespaces(isolation),
        jobs,
        timeout: args.sandbox.timeout,
        output_limit: args.output_limit as usize,
        echo_output: args.no_capture,
        max_fail: args.max_fail(),
        cancel: cancel.as_ref(),
        reuse_netns,
        scratch: scratch.as_ref(),
    };
    for note in &filter.notes {
        eprintln!("note: {note}");
    }
    let runnable = units.iter().filter(|u| !u.skip_as_ignored).count();
    let skipped = units.len() - runnable;
    let binaries: std::collections::HashSet<usize> = units.iter().map(|u| u.binary).collect();
    eprintln!(
        "    Starting {} across {}{} ({}, -j{jobs}, cgroup {}{})",
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
    let mut progress = report::progress::Progress::new(runnable, &settings, !args.no_capture);
    let mut records = Vec::with_capacity(units.len());
    let result = run::run_all(&cfg, &units, |ev| match ev {
        Event::Started(id) => progress.started(&id),
        Event::Finished(rec) => {
            progress.finished(&rec);
            records.push(*rec);
        }
    });
    progress.finish();
    let cancelled = cancel.as_ref().is_some_and(|c| c.cancelled());
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
        &host,
        settings,
        started_at,
        start,
        complete && !cancelled,
        records,
    );
    report.not_run = not_run;
    // Whatever happens to the files, the user sees what happened first.
    let written = write_reports(&report, &report_path, args);
    drop(host);
    result?;
    eprint!("{}", report::summary::render(&report));
    let earned = if cancelled {
        eprintln!(
            "interrupted: the report holds the {} tests that finished",
            report.tests.len()
        );
        EXIT_INTERRUPTED
    } else if report.summary.not_passed() > 0 {
        EXIT_TEST_FAILED
    } else if report.summary.total == 0 {
        EXIT_NO_TESTS
    } else {
        EXIT_OK
    };
    match written {
        Ok(()) => {
            eprintln!("      Report {}", report_path.display());
            if let Some(junit) = &args.junit {
                eprintln!("       JUnit {}", junit.display());
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
    jobs: usize,
    filter: Filter,
    units: Vec<plan::RunUnit>,
}

/// How long listing one binary may take, and how much it may print.
const LIST_TIMEOUT: Duration = Duration::from_secs(120);
const LIST_OUTPUT_LIMIT: usize = 256 << 20;

/// Build, each binary's sandbox, discovery (in those sandboxes), the plan.
fn build_and_plan(args: &TestArgs, host: &Host) -> Result<Planned, Error> {
    let built = build::build(&args.cargo)?;
    let target_dir = testenv::target_dir(&built, args.cargo.target_dir.as_deref());
    if args.read_only_source {
        // CARGO_TARGET_TMPDIR gets a writable tmpfs inside the read-only
        // target dir; the mount point has to exist there.
        let tmp = target_dir.join("tmp");
        std::fs::create_dir_all(&tmp)
            .map_err(|e| Error::setup(format!("cannot create {}: {e}", tmp.display())))?;
    }
    let scratch = match args.sandbox.scratch {
        Scratch::Disk => Some(ScratchRoot::create(
            &target_dir.join("isolate").join("scratch"),
        )?),
        Scratch::Memory => None,
    };
    let sysroot_libs = testenv::sysroot_lib_dirs();
    let extra_read_only = host::extra_read_only(&args.sandbox)?;
    let contexts: Vec<BinaryContext> = built
        .binaries
        .iter()
        .map(|b| {
            let env = testenv::env_for(b, &built, &target_dir, &sysroot_libs, &args.sandbox);
            context(
                b,
                &env,
                &target_dir,
                &sysroot_libs,
                &extra_read_only,
                args,
                host.rootless,
            )
        })
        .collect();
    // --no-capture interleaves nothing: one test at a time, as nextest.
    let jobs = match args.no_capture {
        true => 1,
        false => args.jobs.unwrap_or_else(default_jobs),
    };
    let list_cfg = RunConfig {
        host,
        binaries: &contexts,
        namespaces: host.namespaces(args.isolation),
        jobs,
        timeout: Some(LIST_TIMEOUT),
        output_limit: LIST_OUTPUT_LIMIT,
        echo_output: false,
        max_fail: None,
        cancel: None,
        reuse_netns: false,
        scratch: scratch.as_ref(),
    };
    let cases = discover::discover(&list_cfg, &built.binaries)?;
    let filter = Filter::new(
        &args.filters,
        args.exact,
        &args.skip,
        args.run_ignored,
        &args.test_args,
    );
    let units = plan::repeat(
        plan::plan(&built.binaries, &cases, &filter, args.isolation),
        args.repeat,
    );
    Ok(Planned {
        target_dir,
        scratch,
        contexts,
        jobs,
        filter,
        units,
    })
}

/// `--list`: build, discover and plan as a run would, then print the ids.
/// The listing itself is sandboxed, as in a run.
fn list(args: &TestArgs, host: &Host) -> Result<u8, Error> {
    let units = build_and_plan(args, host)?.units;
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

fn default_jobs() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

fn write_reports(report: &Report, json: &Path, args: &TestArgs) -> Result<(), Error> {
    report::write_json(report, json)?;
    if let Some(p) = args.junit.as_deref() {
        report::junit::write(report, p, args.junit_store_success_output)?;
    }
    Ok(())
}

fn assemble(
    host: &Host,
    settings: Settings,
    started_at: SystemTime,
    start: Instant,
    complete: bool,
    mut tests: Vec<report::TestRecord>,
) -> Report {
    // By test, then by run (#2 before #10).
    tests.sort_by(|a, b| {
        let base = |t: &report::TestRecord| t.id.split('#').next().unwrap_or("").to_string();
        (base(a), a.attempt).cmp(&(base(b), b.attempt))
    });
    let ru = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF).ok();
    Report {
        schema_version: 1,
        tool: Tool {
            name: "cargo-isolate",
            version: env!("CARGO_PKG_VERSION"),
        },
        started_at: report::rfc3339(started_at),
        duration_ms: start.elapsed().as_secs_f64() * 1000.0,
        complete,
        host: HostInfo {
            kernel: host.kernel.clone(),
            cgroup: host.cgroup_name(),
            rootless: host.rootless,
        },
        settings,
        summary: Summary::of(&tests),
        tests,
        runner: RunnerInfo {
            peak_rss_bytes: ru.map(|r| r.max_rss() as u64 * 1024),
        },
        not_run: Vec::new(),
    }
}

/// The sandbox of one binary: its package dir and the target dir through a
/// private overlay (or read-only), the toolchain read-only, cargo's env.
fn context(
    b: &TestBinary,
    env: &EnvVars,
    target_dir: &Path,
    sysroot_libs: &[PathBuf],
    extra_read_only: &[PathBuf],
    args: &TestArgs,
    rootless: bool,
) -> BinaryContext {
    let manifest_dir = std::fs::canonicalize(&b.manifest_dir).unwrap_or(b.manifest_dir.clone());
    let mut overlays = vec![manifest_dir.clone(), target_dir.to_path_buf()];
    if let Some(profile_dir) = b.executable.parent().and_then(Path::parent)
        && !overlays.iter().any(|o| profile_dir.starts_with(o))
    {
        overlays.push(profile_dir.to_path_buf());
    }
    let mut read_only: Vec<PathBuf> = sysroot_libs.to_vec();
    read_only.extend(extra_read_only.iter().cloned());
    let mut layout = host::base_layout(&read_only, &overlays, args.read_only_source);
    // Other tests' scratch dirs (--scratch disk) are not this test's to see.
    let scratch = target_dir.join("isolate").join("scratch");
    if scratch.is_dir() {
        layout.secrets.push((scratch, true));
    }
    if args.read_only_source {
        layout.scratch.push(target_dir.join("tmp"));
    }
    let spec = host::init_spec(
        rootless,
        &args.sandbox,
        args.isolation,
        &layout,
        manifest_dir,
        b.executable.clone(),
        Vec::new(),
    );
    BinaryContext {
        package: b.package.clone(),
        target: b.target.clone(),
        kind: b.kind.clone(),
        spec,
        env: sandbox::env_block(env.iter().map(|(k, v)| (k.as_os_str(), v.as_os_str()))),
    }
}
