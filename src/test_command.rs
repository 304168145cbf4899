//! `cargo isolate test`, as its phases: open the archive, resolve what the
//! run is (configuration, filters, host), build, list and plan, run the
//! tests, report. [`run`] is their sequence; each phase is a function
//! below, and what a signal cuts short is reported by [`Known`].

use crate::archive;
use crate::budget::Baseline;
use crate::build::{self, TestBinary};
use crate::cgroup::Limits;
use crate::cli::{self, Explicit, Isolation, MessageFormat, Scratch, TestArgs};
use crate::config::{Config, TestSettings};
use crate::discover;
use crate::error::{EXIT_INTERRUPTED, EXIT_NO_TESTS, EXIT_OK, EXIT_TEST_FAILED, Error};
use crate::execute::{BinaryContext, Exec};
use crate::filterset::{Filterset, ParsedFilterset, TestInfo, Workspace};
use crate::host::{self, Host};
use crate::model::Enforced;
use crate::model::{Cause, RunEvent, RunStart, Subscriber, Verdict};
use crate::partition;
use crate::plan::{self, Filter};
use crate::replay;
use crate::report::files::ReportFiles;
use crate::report::{self, HostInfo, Report, RunnerInfo, Settings, Summary, TestRecord, Tool};
use crate::run::{self, Ran, RunConfig};
use crate::sandbox;
use crate::sandbox::netfault::{DelayMechanism, NetFaults};
use crate::sandboxes::{self, Variant};
use crate::scratch::{self, ScratchRoot};
use crate::settings::Settings as _;
use crate::signals;
use crate::testenv;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// The run's phases in order; a signal in any of them ends the run with
/// a report of what is known so far, and exit 130.
pub fn run(cli_args: &TestArgs, explicit: &Explicit) -> Result<u8, Error> {
    run_as(cli_args, explicit, Listing::Ids)
}

/// `cargo isolate list`: a run that stops after its plan, and shows it.
pub fn list_command(cli_args: &TestArgs, explicit: &Explicit) -> Result<u8, Error> {
    let mut args = cli_args.clone();
    args.list = true;
    let listing = match args.message_format {
        MessageFormat::Json => Listing::Json,
        MessageFormat::Human => Listing::Grouped,
    };
    run_as(&args, explicit, listing)
}

/// How a plan is shown when the run stops there.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Listing {
    /// `test --list`: one id a line.
    Ids,
    /// `list`: by binary, as nextest.
    Grouped,
    /// `list --message-format json`.
    Json,
}

fn run_as(cli_args: &TestArgs, explicit: &Explicit, listing: Listing) -> Result<u8, Error> {
    report::progress::init_color(cli_args.color.as_deref());
    let mut known = Known::new(cli_args);
    let ended = phases(cli_args, explicit, listing, &mut known);
    match ended {
        Err(e) if signals::cancelled() => known.interrupted(&e),
        end => end,
    }
}

fn phases(
    cli_args: &TestArgs,
    explicit: &Explicit,
    listing: Listing,
    known: &mut Known,
) -> Result<u8, Error> {
    // An archive first: its workspace holds the configuration.
    let opened = open_archive_phase(cli_args, known)?;
    let resolved = resolve_phase(cli_args, explicit, opened.as_ref())?;
    known.resolved(&resolved);
    if resolved.args.list {
        return list(&resolved, opened, listing);
    }
    known.target_dir_from_cargo = opened.is_none();
    let (built, target_dir) = build_phase(&resolved.args, opened)?;
    known.target_dir = Some(target_dir.clone());
    let planned = plan_phase(&resolved, built, target_dir)?;
    let mut reporter = Reporter::for_run(&resolved, &planned)?;
    if planned.units.is_empty() {
        return no_tests(&resolved, &planned, &mut reporter, known);
    }
    known.tests_ran = true;
    let ran = run_phase(&resolved, &planned, &mut reporter)?;
    report_phase(&resolved, &planned, ran, &mut reporter, known)
}

/// What the run is, resolved before anything is built: the arguments
/// with the configuration applied, what selects the tests, the host.
struct Resolved {
    args: TestArgs,
    /// The arguments as typed, before the configuration (for replays).
    typed: TestArgs,
    config: Config,
    /// The -E expressions, checked; compiled against the workspace once
    /// it is built (see [`Resolved::selection`]).
    filtersets: Vec<ParsedFilterset>,
    /// The per-test values the command line gave explicitly: they win.
    cli_test: TestSettings,
    partition: Option<partition::Partition>,
    /// --timings, for --partition duration.
    timings: HashMap<String, f64>,
    /// --baseline, read once with the strict loader.
    baseline: Option<(Report, Baseline)>,
    host: Host,
    jobs: usize,
    archive: Option<report::ArchiveInfo>,
    /// An archive's: where a sandbox shows its unpack (where it was built).
    relocation: Option<archive::Relocation>,
}

impl Resolved {
    /// What the expressions are, for an error about one: the command
    /// line's, or the profile's `default-filter` standing in for them.
    fn filterset_origin(&self) -> &'static str {
        if self.typed.filtersets.is_empty() && !self.args.filtersets.is_empty() {
            "default-filter of the configuration"
        } else {
            "-E expression"
        }
    }

    /// What selects the tests, the -E expressions compiled against the
    /// built workspace: a package, binary or binary id that is not there
    /// is an error (exit 94), as in nextest.
    fn selection(&self, built: &build::BuildOutput) -> Result<Selection<'_>, Error> {
        let workspace =
            Workspace::from_metadata(&built.metadata).with_groups(self.config.test_groups.keys());
        let filtersets = self
            .filtersets
            .iter()
            .map(|f| {
                f.compile(&workspace)
                    .map_err(|e| invalid_filterset(self.filterset_origin(), f.source(), &e))
            })
            .collect::<Result<_, _>>()?;
        Ok(Selection {
            config: &self.config,
            filtersets,
            cli: &self.cli_test,
            partition: self.partition.as_ref(),
            timings: &self.timings,
        })
    }

    fn settings(&self) -> Settings {
        settings_of(
            &self.args,
            self.jobs,
            self.host.limits.pids_max,
            &self.host.enforces,
        )
    }
}

/// `--archive-file`: unpacked (or found unpacked) and read.
fn open_archive_phase(
    args: &TestArgs,
    known: &mut Known,
) -> Result<Option<archive::Opened>, Error> {
    let Some(path) = &args.archive_file else {
        return Ok(None);
    };
    let opened = open_archive(args, path)?;
    known.archive = Some(report::ArchiveInfo {
        path: path.display().to_string(),
        sha256: opened.sha256.clone(),
    });
    known.target_dir = Some(opened.target_dir.clone());
    Ok(Some(opened))
}

/// The configuration and every expression first: a broken file or filter
/// is a usage error before anything is built; then the host, whose
/// failures come before a long build, not after.
fn resolve_phase(
    cli_args: &TestArgs,
    explicit: &Explicit,
    opened: Option<&archive::Opened>,
) -> Result<Resolved, Error> {
    let config = load_config(cli_args, opened)?;
    let args = config.apply(cli_args, explicit);
    // clap refuses the two flags together; a profile can still set one.
    if args.no_capture && args.message_format == MessageFormat::Json {
        return Err(Error::Usage(format!(
            "no-capture and --message-format json cannot go together: the events are the JSON lines on stdout, where the tests' output would go (no-capture comes from {}, the message format from {}); drop one, or read the output from the report",
            origin(&config, cli_args, explicit, "no_capture"),
            origin(&config, cli_args, explicit, "message_format"),
        )));
    }
    let partition = args
        .partition
        .as_deref()
        .map(|spec| partition::parse(spec, args.partition_total, &|k| std::env::var(k).ok()))
        .transpose()
        .map_err(Error::Usage)?;
    let timings = read_timings(partition.as_ref(), args.timings.as_deref())?;
    let filtersets = parse_filtersets(&args.filtersets)?;
    let baseline = read_baseline(args.baseline.as_deref())?;
    // The per-test flags given on the command line win over every value
    // of the configuration, overrides included.
    let cli_test = args.given(explicit);
    let host = prepare_host(&args, &config)?;
    if let Some(src) = &config.source {
        eprintln!(
            "      Config {} (profile {})",
            src.display(),
            config.profile
        );
    }
    let archive = opened
        .zip(cli_args.archive_file.as_ref())
        .map(|(o, path)| report::ArchiveInfo {
            path: path.display().to_string(),
            sha256: o.sha256.clone(),
        });
    Ok(Resolved {
        jobs: jobs_of(&args),
        typed: cli_args.clone(),
        args,
        config,
        filtersets,
        cli_test,
        partition,
        timings,
        baseline,
        host,
        archive,
        relocation: opened.map(|o| o.relocation.clone()),
    })
}

/// Where a run setting came from, in words: "the command line", "profile.ci"...
fn origin(config: &Config, typed: &TestArgs, explicit: &Explicit, field: &str) -> String {
    let key = field.replace('_', "-");
    crate::show_config::explain(config, typed, explicit)
        .settings
        .into_iter()
        .find(|e| e.key == key)
        .map(|e| {
            e.sources
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" + ")
        })
        .unwrap_or_else(|| "the command line".to_string())
}

fn parse_filtersets(exprs: &[String]) -> Result<Vec<ParsedFilterset>, Error> {
    exprs
        .iter()
        .map(|e| {
            ParsedFilterset::parse(e).map_err(|err| invalid_filterset("-E expression", e, &err))
        })
        .collect()
}

/// The expression, carets under the part at fault, and why: exit 94.
fn invalid_filterset(what: &str, expr: &str, err: &crate::filterset::FiltersetError) -> Error {
    Error::Filterset(format!("invalid {what}:\n{}", err.render(expr)))
}

/// `--baseline OLD.json`, read with the strict report loader.
fn read_baseline(path: Option<&Path>) -> Result<Option<(Report, Baseline)>, Error> {
    let Some(path) = path else { return Ok(None) };
    let report = report::load::read(path)
        .map_err(|e| Error::Usage(format!("--baseline {}: {e}", path.display())))?;
    let baseline = Baseline::of(&report, &path.display().to_string());
    Ok(Some((report, baseline)))
}

/// The host's cgroups and checks, for the limits any test may get.
fn prepare_host(args: &TestArgs, config: &Config) -> Result<Host, Error> {
    let any_limits = config.any_limits(&Limits {
        memory_max_bytes: args.sandbox.memory_max,
        pids_max: args.sandbox.pids_max.and_then(cli::PidsMax::limit),
        cpus: args.sandbox.cpus,
    });
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
    for w in &host.warnings {
        eprintln!("warning: {w}");
    }
    Ok(host)
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
    /// What the run was asked to run, before the share (for the report).
    selection: crate::model::report::SelectionInfo,
}

/// How long listing one binary may take, and how much it may print.
const LIST_TIMEOUT: Duration = Duration::from_secs(120);
const LIST_OUTPUT_LIMIT: usize = 256 << 20;

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
    run: &Resolved,
    built: build::BuildOutput,
    target_dir: PathBuf,
) -> Result<Planned, Error> {
    let args = &run.args;
    let selection = run.selection(&built)?;
    let scratch = runner_dirs(run, &target_dir)?;
    let sysroot_libs = testenv::sysroot_lib_dirs();
    let run_variant = Variant::of_run(args, &host::extra_read_only(&args.sandbox)?);
    let envs: Vec<testenv::EnvVars> = built
        .binaries
        .iter()
        .map(|b| testenv::env_for(b, &built, &target_dir, &sysroot_libs, &args.sandbox))
        .collect();
    let make = |i: usize, v: &Variant| {
        let b = &built.binaries[i];
        let moved = run.relocation.as_ref();
        sandboxes::context(
            b,
            &envs[i],
            &target_dir,
            &sysroot_libs,
            v,
            args,
            &run.host,
            moved,
        )
    };
    let mut contexts: Vec<BinaryContext> = (0..built.binaries.len())
        .map(|i| make(i, &run_variant))
        .collect();
    let list_exec = Exec {
        host: &run.host,
        binaries: &contexts,
        timeout: Some(LIST_TIMEOUT),
        output_limit: LIST_OUTPUT_LIMIT,
        echo_output: false,
        // A signal kills the listing sandboxes too.
        cancel: signals::pipe(),
        scratch: scratch.as_ref(),
        profile: &run.config.profile,
        net_delay: Default::default(),
    };
    let cases = discover::discover(&list_exec, run.jobs, &built.binaries, &|i| {
        selection.excludes_binary(&built.binaries[i])
    })?;
    let filter = Filter::new(
        &args.filters,
        args.exact,
        &args.skip,
        args.run_ignored,
        &args.test_args,
    );
    let units = selection.apply(
        &built.binaries,
        plan::plan(&built.binaries, &cases, &filter, args.isolation),
    );
    let selected: Vec<&str> = units.iter().map(|u| u.id.as_str()).collect();
    let selection_info = partition::selection_info(
        &filter,
        &run.typed.filtersets,
        &args.filtersets,
        &args.cargo,
        run.archive.as_ref().map(|a| a.sha256.as_str()),
        &selected,
    );
    let (mut units, given) = selection.share(units);
    if let Some(seed) = args.seed {
        seeded(&mut units, seed, args.isolation, &built.binaries);
    }
    // A unit whose override changes its sandbox (isolation, read-only
    // source, more read-only paths) runs in a context of its own, one per
    // binary and variant.
    let mut variants: HashMap<(usize, Variant), usize> = Default::default();
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
        selection: selection_info,
    })
}

/// The runner's own dir in the target dir, checked (ours, not a link) and
/// masked in every sandbox: it must exist to be a mount point, whether
/// this run writes to it or not. With --scratch disk, the scratch root in
/// it; with --read-only-source, the mount point of CARGO_TARGET_TMPDIR.
fn runner_dirs(run: &Resolved, target_dir: &Path) -> Result<Option<ScratchRoot>, Error> {
    let args = &run.args;
    let own = sandboxes::report_dir(target_dir)?;
    if args.read_only_source {
        let tmp = target_dir.join("tmp");
        std::fs::create_dir_all(&tmp)
            .map_err(|e| Error::setup(format!("cannot create {}: {e}", tmp.display())))?;
    }
    match args.sandbox.scratch {
        Scratch::Disk => {
            // Two sandboxes per job can hold their scratch at once (one
            // running, one staged).
            let image = scratch::bound(
                args.sandbox.scratch_size,
                run.host.rootless,
                args.sandbox.allow_unenforced_limits,
                target_dir,
                2 * run.jobs,
            )?;
            Ok(Some(ScratchRoot::create(
                &own.shown().join("scratch"),
                image,
            )?))
        }
        Scratch::Memory => Ok(None),
    }
}

/// `--list`: build, discover and plan as a run would, then print the ids.
/// The listing itself is sandboxed, as in a run.
fn list(run: &Resolved, archive: Option<archive::Opened>, listing: Listing) -> Result<u8, Error> {
    let (built, target_dir) = build_phase(&run.args, archive)?;
    let planned = plan_phase(run, built, target_dir)?;
    let units = &planned.units;
    let listed: Vec<crate::listing::Listed> = units
        .iter()
        .map(|u| {
            let c = &planned.contexts[u.binary];
            crate::listing::Listed {
                binary_id: crate::model::binary_id(&c.package, &c.target, &c.kind),
                package: c.package.clone(),
                binary_name: c.target.clone(),
                kind: c.kind.clone(),
                binary_path: c.spec.program.display().to_string(),
                cwd: c.spec.workdir.display().to_string(),
                name: u.name.clone(),
                ignored: u.skip_as_ignored,
            }
        })
        .collect();
    match listing {
        Listing::Ids => {
            for u in units {
                let id = report::escape::for_terminal(&u.id);
                match u.skip_as_ignored {
                    true => println!("{id} (ignored)"),
                    false => println!("{id}"),
                }
            }
        }
        Listing::Grouped => print!("{}", crate::listing::human(&listed)),
        Listing::Json => println!("{}", crate::listing::json(&listed)),
    }
    Ok(if units.is_empty() {
        EXIT_NO_TESTS
    } else {
        EXIT_OK
    })
}

/// Every output of the run, fed the same events: the terminal, the JSON
/// event stream, GitHub Actions, and the report files (written first at
/// the end, so that whatever happens to them the user sees the rest).
struct Reporter {
    files: ReportFiles,
    outputs: Vec<Box<dyn Subscriber>>,
}

impl Reporter {
    fn for_run(run: &Resolved, planned: &Planned) -> Result<Reporter, Error> {
        let args = &run.args;
        let json = args
            .report
            .clone()
            .unwrap_or_else(|| planned.target_dir.join("isolate").join("report.json"));
        let mut files = ReportFiles::new(json);
        files.junit = args.junit.clone();
        files.junit_success_output = args.junit_store_success_output;
        files.html = args.html.clone();
        files.baseline = run.baseline.as_ref().map(|(report, _)| report.clone());
        files.pinned = pin_report_dir(&files, &planned.target_dir)?;
        let mut terminal = report::terminal::Terminal::new(run.settings(), !args.no_capture);
        (terminal.shown, terminal.listed) = levels(args);
        let mut outputs: Vec<Box<dyn Subscriber>> = vec![Box::new(terminal)];
        let events = args.message_format == MessageFormat::Json;
        if events {
            outputs.push(Box::new(report::events::EventStream::new()));
        }
        let dirs = planned
            .contexts
            .iter()
            .map(|c| (c.package.clone(), c.spec.workdir.clone()));
        // Workflow commands never go into the JSON stream on stdout.
        if let Some(gh) =
            report::github::GitHubActions::detect(dirs, testenv::random_uuid(), events)
        {
            outputs.push(Box::new(gh));
        }
        Ok(Reporter { files, outputs })
    }

    /// Only the files: for a run a signal ended before its tests.
    fn files_only(files: ReportFiles) -> Reporter {
        Reporter {
            files,
            outputs: Vec::new(),
        }
    }

    fn on(&mut self, event: &RunEvent<'_>) {
        self.files.on(event);
        for o in &mut self.outputs {
            o.on(event);
        }
    }
}

/// What `--status-level` and `--final-status-level` show, in nextest's
/// order: each level shows what the ones before it show.
fn levels(args: &TestArgs) -> (report::terminal::Shown, report::terminal::Listed) {
    use cli::{FinalStatusLevel as F, StatusLevel as S};
    let s = args.status_level.unwrap_or_default();
    let f = args.final_status_level.unwrap_or_default();
    let shown = report::terminal::Shown {
        fail: s >= S::Fail,
        retry: s >= S::Retry,
        slow: s >= S::Slow,
        pass: s >= S::Pass,
        skip: s >= S::Skip,
    };
    let listed = report::terminal::Listed {
        fail: f >= F::Fail,
        flaky: f >= F::Flaky,
        skip: f >= F::Skip,
        pass: f >= F::Pass,
    };
    (shown, listed)
}

/// `target/isolate`, checked and held open, when a report goes there:
/// before the first test, so that a refusal costs no run and a link
/// swapped in during the run changes nothing.
fn pin_report_dir(
    files: &ReportFiles,
    target_dir: &Path,
) -> Result<Option<crate::owned::PinnedDir>, Error> {
    let default_dir = target_dir.join("isolate");
    let outputs = [Some(&files.json), files.junit.as_ref(), files.html.as_ref()];
    match outputs
        .iter()
        .flatten()
        .any(|p| p.parent() == Some(&default_dir))
    {
        true => sandboxes::report_dir(target_dir).map(Some),
        false => Ok(None),
    }
}

/// No test matched: a report that says so, and exit 4 (or, with
/// `--no-tests warn|pass`, 0).
fn no_tests(
    run: &Resolved,
    planned: &Planned,
    reporter: &mut Reporter,
    known: &Known,
) -> Result<u8, Error> {
    // What selected nothing, as the user wrote it.
    let mut by = Vec::new();
    if !planned.filter.names.is_empty() {
        by.push(format!("names {:?}", planned.filter.names));
    }
    for e in &run.args.filtersets {
        by.push(format!("-E {e:?}"));
    }
    if let Some(p) = &run.args.partition {
        by.push(format!("--partition {p}"));
    }
    if run.args.run_ignored == cli::RunIgnored::Only {
        by.push("--run-ignored only".to_string());
    }
    let what = match by.is_empty() {
        true => "no tests to run: the workspace has none".to_string(),
        false => format!(
            "no tests matched; nothing ran (selected by {})",
            by.join(", ")
        ),
    };
    let code = match run.args.no_tests.unwrap_or(cli::NoTests::Fail) {
        cli::NoTests::Fail => {
            eprintln!("error: {what}");
            EXIT_NO_TESTS
        }
        cli::NoTests::Warn => {
            eprintln!("warning: {what}");
            EXIT_OK
        }
        cli::NoTests::Pass => EXIT_OK,
    };
    let mut report = known.report(host_info(&run.host), run.settings(), true, Vec::new());
    report.partition = partition_info(run, planned);
    report.selection = Some(planned.selection.clone());
    reporter.files.write(&report)?;
    Ok(code)
}

/// The tests, in their sandboxes, every event to the reporter.
fn run_phase(run: &Resolved, planned: &Planned, reporter: &mut Reporter) -> Result<Ran, Error> {
    let args = &run.args;
    // Joining a namespace owned by the initial user namespace needs root.
    let reuse_netns = args.reuse_netns && args.isolation != Isolation::None && !run.host.rootless;
    if args.reuse_netns && run.host.rootless {
        eprintln!("warning: --reuse-netns needs root; every test gets a fresh network namespace");
    }
    let net_delay = check_network_faults(planned, reuse_netns, &run.host, &args.sandbox)?;
    let replay = replay::Replay {
        args,
        typed: &run.typed,
        passthrough: &planned.filter.passthrough,
    };
    let cfg = RunConfig {
        exec: Exec {
            host: &run.host,
            binaries: &planned.contexts,
            timeout: args.sandbox.timeout,
            output_limit: args.output_limit as usize,
            echo_output: args.no_capture,
            cancel: signals::pipe(),
            scratch: planned.scratch.as_ref(),
            profile: &run.config.profile,
            net_delay: net_delay.unwrap_or_default(),
        },
        jobs: run.jobs,
        max_fail: args.max_fail(),
        reuse_netns,
        stress: stress_of(args),
        replay: Some(&replay),
        slow_after: Some(args.slow_timeout.period),
        test_groups: run.config.test_groups.clone(),
        memory_total: match args.memory_total {
            Some(total) => total.limit(),
            None => host::memory_for_tests(),
        },
    };
    for note in &planned.filter.notes {
        eprintln!("note: {note}");
    }
    let start = run_start(run, planned, net_delay);
    reporter.on(&RunEvent::RunStarted(&start));
    Ok(run::run_all(&cfg, &planned.units, &mut |e| reporter.on(e)))
}

fn stress_of(args: &TestArgs) -> Option<run::Stress> {
    (args.stress_count.is_some() || args.stress_duration.is_some()).then(|| run::Stress {
        count: args.stress_count,
        until: args.stress_duration.map(|d| Instant::now() + d),
    })
}

/// What the banner and the first event say of the run.
fn run_start(run: &Resolved, planned: &Planned, net_delay: Option<DelayMechanism>) -> RunStart {
    let args = &run.args;
    let units = &planned.units;
    let tests = units.iter().filter(|u| !u.skip_as_ignored).count();
    let binaries: HashSet<(&str, &str)> = units
        .iter()
        .map(|u| {
            let c = &planned.contexts[u.binary];
            (c.package.as_str(), c.target.as_str())
        })
        .collect();
    let each = |n: u32| report::count(n as usize, "run", "runs");
    let stress_note = match (args.stress_count, args.stress_duration) {
        (Some(n), Some(d)) => format!(", {} each or {} in all", each(n), fmt_duration(d)),
        (Some(n), None) => format!(", {} each", each(n)),
        (None, Some(d)) => format!(", for {}", fmt_duration(d)),
        (None, None) => String::new(),
    };
    let mut notes = args.seed.map(|s| format!(", seed {s}")).unwrap_or_default();
    if let Some(p) = &run.partition {
        notes += &format!(", share {p}");
    }
    if let Some(unit) = crate::user_scope::unit() {
        notes += &format!(", systemd scope {unit}");
    }
    if let Some(m) = net_delay {
        notes += &format!(", --net-delay by {}", m.as_str());
    }
    let stress = stress_of(args).is_some();
    RunStart {
        run_id: testenv::run_id().to_string(),
        profile: run.config.profile.clone(),
        tests,
        skipped: units.len() - tests,
        binaries: binaries.len(),
        runs: match (stress, args.stress_count) {
            (true, Some(n)) => tests * n as usize,
            _ => tests,
        },
        stress,
        jobs: run.jobs,
        isolation: args.isolation.as_str(),
        cgroup: run.host.cgroup_name(),
        rootless: run.host.rootless,
        stress_note,
        notes,
    }
}

fn fmt_duration(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// The report of what ran, its verdict, and every output told.
fn report_phase(
    run: &Resolved,
    planned: &Planned,
    ran: Ran,
    reporter: &mut Reporter,
    known: &Known,
) -> Result<u8, Error> {
    let cancelled = signals::cancelled();
    let (records, not_run) = with_not_run(ran.records, planned);
    let complete = ran.complete && !cancelled;
    let mut report = known.report(host_info(&run.host), run.settings(), complete, records);
    report.not_run = not_run;
    report.partition = partition_info(run, planned);
    report.selection = Some(planned.selection.clone());
    if let Some((_, b)) = &run.baseline {
        compare(&mut report, b, &run.config, &planned.units);
    }
    // Judged once, under the policy the report keeps: the exit code and
    // every output say this verdict.
    let verdict = Verdict::of(&report, report.settings.policy.unwrap_or_default());
    let earned = match &ran.error {
        Some(e) => e.exit_code(),
        None => exit_code_of(&verdict, cancelled),
    };
    let verdict = verdict.with_exit_code(earned);
    reporter.on(&RunEvent::RunFinished {
        report: &report,
        exit_code: earned,
        verdict: &verdict,
    });
    let written = reporter.files.written();
    if let Some(e) = ran.error {
        if let Err(w) = written {
            eprintln!("error: {w}");
        }
        return Err(e);
    }
    match written {
        Ok(()) => {
            eprint!("{}", reporter.files.shown());
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

/// The records, with what a stop (--fail-fast, Ctrl-C) left out: ignored
/// tests were never to run and are recorded as such; the ids of the rest,
/// which never ran.
fn with_not_run(mut records: Vec<TestRecord>, planned: &Planned) -> (Vec<TestRecord>, Vec<String>) {
    let ran: HashSet<String> = records.iter().map(|r| r.id.clone()).collect();
    let mut not_run = Vec::new();
    for u in planned.units.iter().filter(|u| !ran.contains(&u.id)) {
        if u.skip_as_ignored {
            let b = &planned.contexts[u.binary];
            let rec = TestRecord::new(u.id.clone(), &b.package, &b.target, &b.kind, u.name.clone());
            records.push(rec);
        } else {
            not_run.push(u.id.clone());
        }
    }
    (records, not_run)
}

/// What fails the run besides a test that did not pass (`--budgets`,
/// `--flaky-fails`): the exit code and every output judge with it, and the
/// report keeps it for whoever reads it back.
fn policy_of(args: &TestArgs) -> report::Policy {
    report::Policy {
        budgets_fail: args.budgets != Some(cli::BudgetMode::Warn),
        flaky_fails: args.flaky_fails,
        no_tests_fail: matches!(args.no_tests, None | Some(cli::NoTests::Fail)),
    }
}

/// The exit code a finished run earned: its verdict's, the one every
/// output shows.
fn exit_code_of(verdict: &Verdict, cancelled: bool) -> u8 {
    let no_tests = |c: &Cause| *c == Cause::NoTests;
    if cancelled {
        EXIT_INTERRUPTED
    } else if verdict.failures().any(|f| !no_tests(&f.cause)) {
        EXIT_TEST_FAILED
    } else if verdict.failures().any(|f| no_tests(&f.cause)) {
        EXIT_NO_TESTS
    } else {
        EXIT_OK
    }
}

fn partition_info(run: &Resolved, planned: &Planned) -> Option<report::PartitionInfo> {
    run.partition.as_ref().map(|p| report::PartitionInfo {
        scheme: p.scheme.to_string(),
        index: p.index,
        total: p.total,
        tests: planned.given.clone(),
    })
}

/// What is known of the run so far, for the report of a run a signal
/// stopped: before the host was prepared only the command line is.
struct Known {
    args: TestArgs,
    clock: (SystemTime, Instant),
    host: Option<HostInfo>,
    jobs: usize,
    pids_max: Option<u64>,
    /// What the host can enforce, once prepared (unknown before).
    enforces: Enforced,
    archive: Option<report::ArchiveInfo>,
    target_dir: Option<PathBuf>,
    /// No target dir yet, but cargo can tell it (a build, not an archive).
    target_dir_from_cargo: bool,
    tests_ran: bool,
}

impl Known {
    fn new(args: &TestArgs) -> Known {
        Known {
            args: args.clone(),
            clock: (SystemTime::now(), Instant::now()),
            host: None,
            jobs: jobs_of(args),
            pids_max: args.sandbox.pids_max.and_then(cli::PidsMax::limit),
            enforces: Enforced::default(),
            archive: None,
            target_dir: None,
            target_dir_from_cargo: false,
            tests_ran: false,
        }
    }

    fn resolved(&mut self, run: &Resolved) {
        self.args = run.args.clone();
        self.host = Some(host_info(&run.host));
        self.jobs = run.jobs;
        self.pids_max = run.host.limits.pids_max;
        self.enforces = run.host.enforces;
        self.archive = run.archive.clone();
    }

    fn report(
        &self,
        host: HostInfo,
        settings: Settings,
        complete: bool,
        mut tests: Vec<TestRecord>,
    ) -> Report {
        let (started_at, start) = self.clock;
        // By id: the order of the plan, whatever order they finished in.
        tests.sort_by(|a, b| a.id.cmp(&b.id));
        Report {
            schema_version: 1,
            tool: Tool {
                name: "cargo-isolate",
                version: env!("CARGO_PKG_VERSION").into(),
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
            archive: self.archive.clone(),
            partition: None,
            merged: None,
            selection: None,
        }
    }

    /// The end of a run a signal cut short. Once tests ran, their phase
    /// reported them: only the error is left to say. Before (unpacking,
    /// building, listing), a report that holds no test, `complete: false`,
    /// at --report or in the target dir if known, and exit 130.
    fn interrupted(&self, why: &Error) -> Result<u8, Error> {
        if self.tests_ran {
            if !matches!(why, Error::Interrupted { .. }) {
                eprintln!("error: {why}");
            }
            return Ok(EXIT_INTERRUPTED);
        }
        let what = match why {
            Error::Interrupted { while_ } => while_.to_string(),
            other => format!("{other}"),
        };
        eprintln!("interrupted ({what}): no test ran");
        let target_dir = self.target_dir.clone().or_else(|| {
            self.target_dir_from_cargo
                .then(|| build::target_dir_without_building(&self.args.cargo))
                .flatten()
                .map(|d| std::fs::canonicalize(&d).unwrap_or(d))
        });
        let path = self
            .args
            .report
            .clone()
            .or_else(|| target_dir.map(|d| d.join("isolate").join("report.json")));
        let Some(path) = path else {
            eprintln!(
                "      no report: its directory is not known yet (give --report PATH to have one)"
            );
            return Ok(EXIT_INTERRUPTED);
        };
        let host = self.host.clone().unwrap_or_else(unprepared_host);
        let settings = settings_of(&self.args, self.jobs, self.pids_max, &self.enforces);
        let report = self.report(host, settings, false, Vec::new());
        let mut files = ReportFiles::new(path);
        files.junit = self.args.junit.clone();
        files.html = self.args.html.clone();
        let mut reporter = Reporter::files_only(files);
        let verdict = Verdict::of(&report, report.settings.policy.unwrap_or_default())
            .with_exit_code(EXIT_INTERRUPTED);
        reporter.on(&RunEvent::RunFinished {
            report: &report,
            exit_code: EXIT_INTERRUPTED,
            verdict: &verdict,
        });
        match reporter.files.written() {
            Ok(()) => eprint!("{}", reporter.files.shown()),
            Err(e) => eprintln!("error: {e}"),
        }
        Ok(EXIT_INTERRUPTED)
    }
}

/// What decides which tests run and with what settings, beyond the
/// libtest-style filters: -E expressions and the configuration.
struct Selection<'a> {
    config: &'a Config,
    filtersets: Vec<Filterset>,
    /// The per-test values the command line gave explicitly: they win.
    cli: &'a TestSettings,
    /// --partition: only this share of the selected tests.
    partition: Option<&'a partition::Partition>,
    /// --timings, for --partition duration.
    timings: &'a HashMap<String, f64>,
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
        // The settings first: the overrides put a test in its group, which
        // `group()` in -E reads.
        units
            .into_iter()
            .filter_map(|mut u| {
                let name = u.name.as_deref().unwrap_or("");
                let mut t = test_info(&binaries[u.binary], &ids[u.binary], name);
                let settings = self.config.test_settings(&t, self.cli);
                if let Some(g) = &settings.test_group {
                    t.group = g;
                }
                let selected =
                    self.filtersets.is_empty() || self.filtersets.iter().any(|f| f.matches(&t));
                u.settings = settings;
                selected.then_some(u)
            })
            .collect()
    }

    /// With --partition, this share of the units, taken in plan order
    /// before any shuffle (every shard computes the same split), and the
    /// ids it was given.
    fn share(&self, units: Vec<plan::RunUnit>) -> (Vec<plan::RunUnit>, Vec<String>) {
        let Some(p) = self.partition else {
            return (units, Vec::new());
        };
        let ids: Vec<&str> = units.iter().map(|u| u.id.as_str()).collect();
        let keep = partition::select(p, &ids, self.timings);
        let units: Vec<plan::RunUnit> = units
            .into_iter()
            .zip(keep)
            .filter_map(|(u, k)| k.then_some(u))
            .collect();
        let given = units.iter().map(|u| u.id.clone()).collect();
        (units, given)
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
        group: crate::filterset::GLOBAL_GROUP,
    }
}

/// The configuration of this run (see `config::load_for`). The run id
/// first: without randomness the run stops here, before anything is made.
fn load_config(args: &TestArgs, archive: Option<&archive::Opened>) -> Result<Config, Error> {
    testenv::try_run_id()?;
    crate::config::load_for(args, archive.map(|a| a.workspace_root.as_path()))
}

/// Network faults need the test's own network namespace, and a kernel
/// that has what they are made of: both are checked before any test runs
/// (each distinct set of faults once, in an empty sandbox). Returns what
/// makes a delay of all traffic (netem, else NFQUEUE) when a test has one.
fn check_network_faults(
    planned: &Planned,
    reuse_netns: bool,
    host: &Host,
    sandbox_args: &crate::cli::SandboxArgs,
) -> Result<Option<DelayMechanism>, Error> {
    let mut distinct: Vec<NetFaults> = Vec::new();
    for u in planned.units.iter().filter(|u| !u.skip_as_ignored) {
        let faults = u.settings.net_faults();
        if faults.is_empty() {
            continue;
        }
        if reuse_netns || !planned.contexts[u.binary].spec.own_network {
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
        faults
            .check()
            .map_err(|e| Error::Usage(format!("{}: {e}", u.id)))?;
        if !distinct.contains(&faults) {
            distinct.push(faults);
        }
    }
    let mut delay = None;
    for f in &distinct {
        match (f.delay_by(), delay) {
            (Some(DelayMechanism::Auto), None) => {
                delay = Some(host::net_delay_mechanism(host, sandbox_args, f)?);
            }
            (Some(DelayMechanism::Auto), Some(m)) => {
                host::probe_net_faults(host, sandbox_args, &f.with_mechanism(m))?
            }
            _ => host::probe_net_faults(host, sandbox_args, f)?,
        }
    }
    // A delay of some ports only is NFQUEUE's on every kernel.
    if delay.is_none() && distinct.iter().any(NetFaults::delay_needs_nfqueue) {
        delay = Some(DelayMechanism::Nfqueue);
    }
    Ok(delay)
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

/// `--timings OLD.json` for `--partition duration`, which needs it; read
/// with the strict report loader.
fn read_timings(
    partition: Option<&partition::Partition>,
    path: Option<&Path>,
) -> Result<HashMap<String, f64>, Error> {
    let Some(p) = partition else {
        return Ok(Default::default());
    };
    match path {
        Some(path) => {
            let report = report::load::read(path)
                .map_err(|e| Error::Usage(format!("--timings {}: {e}", path.display())))?;
            Ok(partition::timings_of(&report.tests))
        }
        None if p.scheme == partition::Scheme::Duration => Err(Error::Usage(format!(
            "--partition {p} balances the shares by each test's time in an earlier run: give --timings OLD.json (a report, e.g. main's merged one)"
        ))),
        None => Ok(Default::default()),
    }
}

/// `--seed`: the units in an order drawn from `seed` (the same seed, the
/// same order, on any machine), and the seed in each test's environment;
/// with --isolation per-binary, libtest shuffles each binary's tests too.
fn seeded(units: &mut [plan::RunUnit], seed: u64, isolation: Isolation, binaries: &[TestBinary]) {
    let mut state = seed;
    // Fisher-Yates with splitmix64: small, portable, and stable across
    // releases (a library RNG may change its stream).
    for i in (1..units.len()).rev() {
        let j = (splitmix64(&mut state) % (i as u64 + 1)) as usize;
        units.swap(i, j);
    }
    for u in units.iter_mut() {
        let env = u.settings.sandbox.env.get_or_insert_default();
        env.push(cli::EnvSetting {
            key: "CARGO_ISOLATE_SEED".into(),
            value: Some(seed.to_string()),
        });
        // libtest shuffles only with -Z unstable-options, which a
        // stable-built test binary accepts when RUSTC_BOOTSTRAP is set.
        if isolation == Isolation::PerBinary && !binaries[u.binary].custom_harness {
            u.args.extend([
                "-Z".to_string(),
                "unstable-options".into(),
                "--shuffle-seed".into(),
                seed.to_string(),
            ]);
            env.push(cli::EnvSetting {
                key: "RUSTC_BOOTSTRAP".into(),
                value: Some("1".into()),
            });
        }
    }
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// --no-capture interleaves nothing: one test at a time, as nextest.
fn jobs_of(args: &TestArgs) -> usize {
    match args.no_capture {
        true => 1,
        false => args.jobs.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        }),
    }
}

/// `pids_max`: the run's own, the default included, once the host is known;
/// `can`: what the host can enforce (unknown before it is prepared).
fn settings_of(args: &TestArgs, jobs: usize, pids_max: Option<u64>, can: &Enforced) -> Settings {
    Settings {
        enforced: Enforced::of(
            can,
            args.sandbox.memory_max.is_some(),
            pids_max.is_some(),
            args.sandbox.cpus.is_some(),
        ),
        isolation: args.isolation.as_str(),
        jobs,
        memory_max: args.sandbox.memory_max,
        pids_max,
        cpus: args.sandbox.cpus,
        timeout_ms: args.sandbox.timeout.map(|t| t.as_millis() as u64),
        seccomp: (args.isolation != Isolation::None).then(|| args.sandbox.seccomp.to_string()),
        policy: Some(policy_of(args)),
    }
}

fn host_info(host: &Host) -> HostInfo {
    HostInfo {
        kernel: host.kernel.clone(),
        cgroup: host.cgroup_name(),
        rootless: host.rootless,
        systemd_scope: crate::user_scope::unit(),
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
        systemd_scope: crate::user_scope::unit(),
    }
}

/// Judges the run against `baseline`: each record's regressions, and the
/// tests new or gone (gone: in the baseline, not selected now).
fn compare(report: &mut Report, baseline: &Baseline, config: &Config, units: &[plan::RunUnit]) {
    let thresholds = config.thresholds();
    for t in &mut report.tests {
        t.regressions = baseline.regressions(t, &thresholds);
    }
    let selected: HashSet<&str> = units.iter().map(|u| u.id.as_str()).collect();
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

// ------------------------------------------------------------------ hunt

/// A run resolved, built, listed and planned once, whose tests `cargo
/// isolate hunt` then runs again and again under changed settings:
/// `test`'s own phases, without its reporter.
pub struct Prepared {
    run: Resolved,
    planned: Planned,
    /// What makes a delay here, once a condition with one was checked.
    net_delay: std::cell::Cell<DelayMechanism>,
}

/// One batch of a hunt: these units (their settings already changed),
/// `rounds` times each, `jobs` sandboxes at once, under `seed` if any.
pub struct Batch<'a> {
    pub units: &'a [plan::RunUnit],
    pub rounds: u32,
    pub jobs: usize,
    pub seed: Option<u64>,
}

impl Prepared {
    /// `cpus`: a CPU limit some batch will set, so that the run's cgroup
    /// is made with the cpu controller; the run's own limit stays what the
    /// command line and the configuration say, and each unit carries its
    /// own.
    pub fn new(
        cli_args: &TestArgs,
        explicit: &Explicit,
        cpus: Option<f64>,
    ) -> Result<Prepared, Error> {
        let mut known = Known::new(cli_args);
        let opened = open_archive_phase(cli_args, &mut known)?;
        let mut asked = cli_args.clone();
        asked.sandbox.cpus = asked.sandbox.cpus.or(cpus);
        let mut run = resolve_phase(&asked, explicit, opened.as_ref())?;
        let own = run.config.apply(cli_args, explicit).sandbox.cpus;
        run.args.sandbox.cpus = own;
        run.typed.sandbox.cpus = cli_args.sandbox.cpus;
        run.host.limits.cpus = own;
        let (built, target_dir) = build_phase(&run.args, opened)?;
        let planned = plan_phase(&run, built, target_dir)?;
        Ok(Prepared {
            run,
            planned,
            net_delay: Default::default(),
        })
    }

    /// The selected tests, ignored ones left out.
    pub fn units(&self) -> Vec<plan::RunUnit> {
        let units = self.planned.units.iter();
        units.filter(|u| !u.skip_as_ignored).cloned().collect()
    }

    /// The run's arguments, the configuration applied.
    pub fn args(&self) -> &TestArgs {
        &self.run.args
    }

    pub fn target_dir(&self) -> &Path {
        &self.planned.target_dir
    }

    /// Whether the run's cgroup can hold a sandbox to a number of CPUs.
    pub fn enforces_cpus(&self) -> bool {
        let cpus = Limits {
            cpus: Some(1.0),
            ..Limits::default()
        };
        let cgroup = self.run.host.cgroup.as_ref();
        cgroup.is_some_and(|c| c.unsupported(&cpus).is_empty())
    }

    /// Whether faults like these can be made here (as `test` checks them
    /// before its run): `Err` says why not.
    pub fn can_make(&self, faults: &sandbox::netfault::NetFaults) -> Result<(), String> {
        let args = &self.run.args;
        if args.isolation == Isolation::None || args.reuse_netns {
            return Err(
                "network faults need each test's own network (not with --isolation none or --reuse-netns)"
                    .into(),
            );
        }
        let (host, sandbox) = (&self.run.host, &args.sandbox);
        // A delay is netem's where the kernel has it, else NFQUEUE's (as
        // `test` decides it); the batches use what was found.
        if faults.delay_by() == Some(DelayMechanism::Auto) {
            let m = host::net_delay_mechanism(host, sandbox, faults).map_err(|e| e.to_string())?;
            self.net_delay.set(m);
            return Ok(());
        }
        host::probe_net_faults(host, sandbox, faults).map_err(|e| e.to_string())
    }

    /// Runs one batch; each unit's record tallies its runs (`stress`).
    pub fn run(&self, batch: &Batch<'_>) -> Result<Vec<TestRecord>, Error> {
        let args = &self.run.args;
        let mut units = batch.units.to_vec();
        if let Some(seed) = batch.seed {
            // Per-test isolation only (the hunt refuses per-binary): the
            // binaries are not looked at.
            seeded(&mut units, seed, args.isolation, &[]);
        }
        let cfg = RunConfig {
            exec: Exec {
                host: &self.run.host,
                binaries: &self.planned.contexts,
                timeout: args.sandbox.timeout,
                output_limit: args.output_limit as usize,
                echo_output: false,
                cancel: signals::pipe(),
                scratch: self.planned.scratch.as_ref(),
                profile: &self.run.config.profile,
                net_delay: self.net_delay.get(),
            },
            jobs: batch.jobs,
            max_fail: None,
            reuse_netns: false,
            stress: Some(run::Stress {
                count: Some(batch.rounds),
                until: None,
            }),
            replay: None,
            slow_after: None,
            test_groups: self.run.config.test_groups.clone(),
            memory_total: match args.memory_total {
                Some(total) => total.limit(),
                None => host::memory_for_tests(),
            },
        };
        let ran = run::run_all(&cfg, &units, &mut |_| {});
        match ran.error {
            Some(e) => Err(e),
            None => Ok(ran.records),
        }
    }

    /// The `cargo isolate test` line that runs `unit` (its settings as a
    /// batch gave them) `runs` times, `jobs` at once, under `seed`.
    pub fn replay(
        &self,
        unit: &plan::RunUnit,
        seed: Option<u64>,
        jobs: usize,
        runs: u64,
    ) -> String {
        let (mut args, mut typed) = (self.run.args.clone(), self.run.typed.clone());
        args.seed = seed.or(args.seed);
        typed.seed = seed.or(typed.seed);
        let replay = replay::Replay {
            args: &args,
            typed: &typed,
            passthrough: &self.planned.filter.passthrough,
        };
        let line = replay.command(&self.planned.contexts[unit.binary], unit);
        let stress = format!("-j {jobs} --stress-count {}", runs.max(1));
        // Before a `--` and the binary's own arguments, when there are any.
        match (
            self.planned.filter.passthrough.is_empty(),
            line.strip_prefix("cargo isolate test "),
        ) {
            (false, Some(rest)) => format!("cargo isolate test {stress} {rest}"),
            _ => format!("{line} {stress}"),
        }
    }
}
