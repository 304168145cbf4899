//! The command line: `cargo isolate test|run|report|archive`.

use crate::budget::parse_percent;
use crate::settings::check::{self as c, Check};
use crate::settings::{Append, Merge, PortsToml, Slot, Text, quoted, settings, show};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "cargo-isolate",
    bin_name = "cargo isolate",
    term_width = 100,
    version,
    about = "Run every test in a fresh Linux sandbox and report how it ended, its peak memory, CPU and time",
    after_help = "Exit codes: 0 all passed, 100 a test did not pass, 101 build failed, 96 setup error, 94 invalid filterset, 4 no tests ran, 2 usage error, 130 interrupted."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build the workspace's tests and run each one in its own sandbox.
    Test(Box<TestArgs>),
    /// List the tests a run would run, by binary (as `cargo nextest
    /// list`); with --message-format json, nextest's JSON summary. The
    /// listing itself runs in sandboxes. Takes `test`'s flags.
    List(Box<TestArgs>),
    /// Show the configuration a run with these flags would use: each
    /// setting's value and where it came from (command line, environment,
    /// profile, default), the overrides in the order they are tried, the
    /// test groups (as `cargo nextest show-config`). Takes `test`'s
    /// flags; with --message-format json, as JSON.
    ShowConfig(Box<TestArgs>),
    /// Run any program in the same sandbox and print what it used.
    Run(Box<RunArgs>),
    /// Compare two reports, render one as a self-contained HTML page, or
    /// merge the reports of a sharded run.
    Report(ReportArgs),
    /// Build the tests and write one file with everything a run needs on
    /// another machine of the same platform (`test --archive-file`).
    Archive(Box<ArchiveArgs>),
    /// Run a few tests again and again under harsher conditions (fewer
    /// CPUs, packet loss, delay, bandwidth, copies at once, seeds) and
    /// say which makes them fail, how sure that is, and its replay.
    /// Takes `test`'s flags (its selection, and the baseline's settings).
    Hunt(Box<HuntArgs>),
}

settings! {
/// The flags of `cargo isolate test`; those with `=>` are settings too
/// (see `crate::settings`).
#[derive(Debug, Args, Clone)]
pub struct TestArgs in test_args {
    /// Run only tests whose name contains one of these strings.
    #[arg(value_name = "TESTNAME")]
    pub filters: Vec<String>,

    #[command(flatten)]
    pub cargo: CargoArgs => nested(CargoArgs) {},

    /// Match TESTNAME exactly, as libtest's --exact.
    #[arg(long, help_heading = "Test selection")]
    pub exact: bool,
    /// Skip tests whose name contains PATTERN (repeatable).
    #[arg(long, value_name = "PATTERN", help_heading = "Test selection")]
    pub skip: Vec<String>,
    /// Which ignored tests to run.
    #[arg(long, value_enum, default_value_t = RunIgnored::Default, help_heading = "Test selection")]
    pub run_ignored: RunIgnored => run(RunIgnored) {
        file: String, check: c::choice(),
        archive: true,
        replay: show::name,
    },
    /// Run only tests matching this filterset expression, as nextest's -E
    /// (repeatable: any of them), e.g. 'package(app) & not test(/slow/)'.
    #[arg(
        short = 'E',
        long = "filterset",
        value_name = "EXPR",
        help_heading = "Test selection"
    )]
    pub filtersets: Vec<String>,
    /// The -E used when the command line gives none (nextest's key).
    #[arg(skip)]
    pub default_filter: Option<String> => run(String) {
        file: String, check: c::filter(),
        archive: true,
    },

    /// Run the tests of this archive (`cargo isolate archive`) instead of
    /// building: no cargo, no sources needed.
    #[arg(long, value_name = "PATH", help_heading = "Archives and shards")]
    pub archive_file: Option<PathBuf>,
    /// Where to unpack the archive: DIR/workspace and DIR/target; DIR must
    /// be yours and writable by you alone (made 0700 when missing)
    /// [default: $XDG_RUNTIME_DIR/cargo-isolate/archive-<hash>, else
    /// <tmp>/cargo-isolate-<uid>/archive-<hash>].
    #[arg(
        long,
        value_name = "DIR",
        requires = "archive_file",
        help_heading = "Archives and shards"
    )]
    pub workspace_remap: Option<PathBuf>,
    /// Let the archive's own .config/isolate.toml set any key, as a
    /// workspace's does; without this it may only select tests and set
    /// limits and budgets (an archive is untrusted input).
    #[arg(long, requires = "archive_file", help_heading = "Archives and shards")]
    pub trust_archive_config: bool,
    /// Refuse an archive that declares more than SIZE unpacked, before
    /// writing any of it [default: 4G].
    #[arg(long, value_name = "SIZE", value_parser = parse_size, requires = "archive_file", help_heading = "Archives and shards")]
    pub archive_max_bytes: Option<u64>,
    /// Refuse an archive of more than N entries (files, directories,
    /// symlinks) [default: 100000].
    #[arg(
        long,
        value_name = "N",
        requires = "archive_file",
        help_heading = "Archives and shards"
    )]
    pub archive_max_entries: Option<u64>,
    /// Run only this share of the selected tests: hash:K/N, slice:K/N,
    /// count:K/N (nextest's round robin within each binary), duration:K/N
    /// (with --timings), K from 1; or auto (K and N from the
    /// CI's variables: GitLab, Buildkite, CircleCI, a Kubernetes Indexed
    /// Job), also as hash:auto, slice:auto, duration:auto.
    #[arg(long, value_name = "SCHEME:K/N", help_heading = "Archives and shards")]
    pub partition: Option<String>,
    /// N for --partition auto where the CI gives only K (a Kubernetes
    /// Indexed Job's completions).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..), help_heading = "Archives and shards")]
    pub partition_total: Option<u32>,
    /// An earlier report whose tests' times --partition duration balances.
    #[arg(long, value_name = "OLD.json", help_heading = "Archives and shards")]
    pub timings: Option<PathBuf>,

    /// The configuration profile to use [default: default].
    #[arg(
        long,
        value_name = "NAME",
        env = "CARGO_ISOLATE_PROFILE",
        help_heading = "Config"
    )]
    pub profile: Option<String>,
    /// The configuration file [default: <workspace>/.config/isolate.toml].
    #[arg(long, value_name = "PATH", help_heading = "Config")]
    pub config_file: Option<PathBuf>,

    /// What a test over its memory, time or CPU budget does to the run:
    /// fail it (exit 100) or only warn.
    #[arg(long, value_enum, value_name = "MODE", help_heading = "Budgets")]
    pub budgets: Option<BudgetMode> => run(BudgetMode) {
        file: String, check: c::choice(),
        archive: true,
    },
    /// Compare each test's figures with this earlier report: tests that
    /// grew past the profile's thresholds fail as regressions.
    #[arg(long, value_name = "OLD.json", help_heading = "Budgets")]
    pub baseline: Option<PathBuf> => run(PathBuf) { file: String, check: c::path(), },
    /// The peak memory a test should stay under: soft, judged after the
    /// test ends (nothing is killed); a test over it is over budget, which
    /// fails the run or warns (see --budgets).
    #[arg(skip)]
    pub memory_budget: Option<u64> => test(u64) {
        file: String, check: c::text(parse_size),
        archive: true,
    },
    /// The wall time a test should stay under, judged as memory-budget.
    #[arg(skip)]
    pub time_budget: Option<Duration> => test(Duration) {
        file: String, check: c::text(parse_duration),
        archive: true,
    },
    /// The CPU time a test should stay under, judged as memory-budget.
    #[arg(skip)]
    pub cpu_budget: Option<Duration> => test(Duration) {
        file: String, check: c::text(parse_duration),
        archive: true,
    },
    /// With --baseline: a test whose peak memory grew by more than this
    /// share (e.g. 10%) regressed [default: 10%].
    #[arg(skip)]
    pub max_memory_regression: Option<f64> => run(f64) {
        file: String, check: c::text(parse_percent),
        archive: true,
    },
    /// With --baseline: a test whose wall time grew by more than this
    /// share regressed; wall time is compared only when this or its floor
    /// is set [default then: 10%].
    #[arg(skip)]
    pub max_time_regression: Option<f64> => run(f64) {
        file: String, check: c::text(parse_percent),
        archive: true,
    },
    /// With --baseline: a test whose CPU time grew by more than this
    /// share regressed [default: 20%].
    #[arg(skip)]
    pub max_cpu_regression: Option<f64> => run(f64) {
        file: String, check: c::text(parse_percent),
        archive: true,
    },
    /// Growth of peak memory under this size is never a regression
    /// [default: 1M].
    #[arg(skip)]
    pub memory_regression_floor: Option<f64> => run(f64) {
        file: String, check: c::text(|s| parse_size(s).map(|b| b as f64)),
        archive: true,
    },
    /// Growth of wall time under this duration is never a regression
    /// [default: 50ms].
    #[arg(skip)]
    pub time_regression_floor: Option<f64> => run(f64) {
        file: String, check: c::text(parse_millis),
        archive: true,
    },
    /// Growth of CPU time under this duration is never a regression
    /// [default: 50ms].
    #[arg(skip)]
    pub cpu_regression_floor: Option<f64> => run(f64) {
        file: String, check: c::text(parse_millis),
        archive: true,
    },

    #[command(flatten)]
    pub sandbox: SandboxArgs => nested(SandboxArgs) {},

    /// One sandbox per test, per test binary, or none (limits still apply).
    #[arg(long, value_enum, default_value_t = Isolation::PerTest, help_heading = "Sandbox")]
    pub isolation: Isolation => test(Isolation) {
        file: String, check: isolation_in_file(),
        replay: show::name,
    },
    /// Mount the package and target dirs read-only instead of through a
    /// private writable overlay.
    #[arg(long, help_heading = "Sandbox")]
    pub read_only_source: bool => test(bool) {
        file: bool, check: c::flag(),
        replay: show::flag,
    },

    /// Give each worker one network namespace that the tests it runs reuse in
    /// turn, instead of a fresh one per test: faster (making and destroying a
    /// network namespace is serialised in the kernel), but a test may find
    /// what an earlier one left in the network stack (sockets in TIME_WAIT,
    /// sysctls). Root only.
    #[arg(long, help_heading = "Sandbox")]
    pub reuse_netns: bool => run(bool) { file: bool, check: c::flag(), },

    /// Print the tests that would run (one id a line) and exit; listing runs
    /// in sandboxes, as in a run.
    #[arg(long, help_heading = "Running")]
    pub list: bool,

    /// Tests at once [default: number of CPUs]; with 1, one after another in
    /// the listed order.
    #[arg(short = 'j', long, visible_alias = "test-threads", value_name = "N", value_parser = parse_jobs, help_heading = "Running")]
    pub jobs: Option<usize> => run(usize) { file: i64, check: c::whole(1, usize::MAX as u64), },
    /// The test group a test belongs to (an override's key, as nextest's
    /// test-group): at most the group's `max-threads` of its tests run at
    /// once (`[test-groups.<name>]` at the top of the file).
    #[arg(skip)]
    pub test_group: Option<String> => test(String) {
        file: String, check: c::text(parse_group_name),
        archive: true,
    },
    /// How many of the -j slots a test takes, as nextest's
    /// threads-required (mostly set per test in an override, for a test
    /// that runs threads of its own); at most -j [default: 1].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..), help_heading = "Running")]
    pub threads_required: Option<u32> => test(u32) {
        file: i64, check: c::whole(1, u32::MAX.into()),
        archive: true,
    },
    /// Run a test that did not pass again, up to N times, each time in a
    /// fresh sandbox; one that then passes is reported flaky, with every
    /// attempt kept.
    #[arg(long, value_name = "N", help_heading = "Flaky tests")]
    pub retries: Option<u32> => test(u32) {
        file: i64, check: c::whole(0, u32::MAX.into()),
        archive: true,
        replay: show::plain,
    },
    /// Fail the run (exit 100) when a test was flaky; by default a test
    /// that passed on a retry passes.
    #[arg(long, help_heading = "Flaky tests")]
    pub flaky_fails: bool => run(bool) {
        file: bool, check: c::flag(),
        archive: true,
        replay: show::flag,
    },
    /// Run the selected tests N times each, -j at a time, each run in a
    /// fresh sandbox, and report per test its runs, failures, pass rate and
    /// the spread of time and memory.
    #[arg(long, visible_alias = "repeat", value_name = "N", value_parser = clap::value_parser!(u32).range(1..), help_heading = "Flaky tests")]
    pub stress_count: Option<u32> => run(u32) {
        file: i64, check: c::whole(1, u32::MAX.into()),
        group: "stress",
        alias: "repeat",
        archive: true,
        replay: show::plain,
    },
    /// Run the selected tests over and over until this much time has
    /// passed (e.g. 10m); with --fail-fast, until the first failure.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, help_heading = "Flaky tests")]
    pub stress_duration: Option<Duration> => run(Duration) {
        file: String, check: c::text(parse_duration),
        group: "stress",
        archive: true,
        replay: show::duration,
    },
    /// Shuffle the order tests start in with this seed (printed, and in
    /// each replay command), given to each test as CARGO_ISOLATE_SEED and,
    /// with --isolation per-binary, as libtest's --shuffle-seed.
    #[arg(long, value_name = "N", help_heading = "Flaky tests")]
    pub seed: Option<u64> => cli(u64) { replay: show::plain, },
    /// Stop at the first test that does not pass (--max-fail 1).
    #[arg(long, overrides_with_all = ["no_fail_fast", "max_fail"], help_heading = "Running")]
    pub fail_fast: bool => run(bool) {
        file: bool, check: c::flag(),
        group: "fail",
        archive: true,
    },
    /// Run every test whatever fails (the default).
    #[arg(long, overrides_with_all = ["fail_fast", "max_fail"], help_heading = "Running")]
    pub no_fail_fast: bool => run(bool) {
        file: bool, check: c::flag(),
        group: "fail",
        archive: true,
    },
    /// Stop after N tests did not pass; the tests not run are listed.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..), overrides_with_all = ["fail_fast", "no_fail_fast"], help_heading = "Running")]
    pub max_fail: Option<u64> => run(u64) {
        file: i64, check: c::whole(1, u64::MAX),
        group: "fail",
        archive: true,
    },
    /// Which tests get a status line as they end, as nextest's: none,
    /// fail, retry, slow, pass (the default), skip or all; each level
    /// shows what the ones before it show.
    #[arg(long, value_enum, value_name = "LEVEL", help_heading = "Reports")]
    pub status_level: Option<StatusLevel> => run(StatusLevel) {
        file: String, check: c::choice(),
        archive: true,
    },
    /// Which tests the end of the run lists again, as nextest's: none,
    /// fail, flaky (the default), slow, skip, pass or all.
    #[arg(long, value_enum, value_name = "LEVEL", help_heading = "Reports")]
    pub final_status_level: Option<FinalStatusLevel> => run(FinalStatusLevel) {
        file: String, check: c::choice(),
        archive: true,
    },
    /// What a run that selects no test does, as nextest's --no-tests: fail
    /// (exit 4), warn (exit 0, with a warning) or pass (exit 0).
    #[arg(long, value_enum, value_name = "ACTION", help_heading = "Running")]
    pub no_tests: Option<NoTests> => run(NoTests) {
        file: String, check: c::choice(),
        archive: true,
    },
    /// Stream each test's output to the terminal as it runs, one test at a
    /// time (as nextest does); the report still records the tails.
    #[arg(long, visible_alias = "nocapture", help_heading = "Running")]
    pub no_capture: bool => run(bool) { file: bool, check: c::flag(), },
    /// Say a test is slow once it has run PERIOD, and again each PERIOD
    /// (`SLOW` on the terminal, `test-slow` in the JSON events); 0 never
    /// says it. PERIOD,terminate-after=N also ends it as timed out after N
    /// periods, as nextest's slow-timeout does (e.g. 30s,terminate-after=4);
    /// ,grace-period=D then sends its processes SIGTERM and kills them D
    /// later (default: at once; never past --timeout).
    #[arg(long, value_name = "PERIOD", env = "CARGO_ISOLATE_SLOW_TIMEOUT", value_parser = parse_slow_timeout, default_value = "60s", help_heading = "Running")]
    pub slow_timeout: SlowTimeout => test(SlowTimeout) {
        file: SlowTimeoutToml, check: c::by(SlowTimeoutToml::resolve),
        archive: true,
        replay: show::plain,
    },
    /// Start a test only while the memory limits (or budgets, where no
    /// limit) of the tests running and its own fit in SIZE, so a few heavy
    /// tests do not take a machine down at -j; light ones still run beside
    /// them, and one heavier than SIZE runs alone [default: the machine's
    /// memory, or the runner's own cgroup limit if lower].
    #[arg(long, value_name = "SIZE|unlimited", value_parser = parse_memory_total, help_heading = "Running")]
    pub memory_total: Option<PidsMax> => run(PidsMax) {
        file: String, check: c::text(parse_memory_total),
    },
    /// Keep at most this much of each test's stdout and stderr (the tail).
    #[arg(long, value_name = "SIZE", default_value = "1M", value_parser = parse_size, help_heading = "Running")]
    pub output_limit: u64 => run(u64) { file: String, check: c::text(parse_size), },

    /// Where to write the JSON report [default: <target-dir>/isolate/report.json].
    #[arg(long, value_name = "PATH", help_heading = "Reports")]
    pub report: Option<PathBuf> => run(PathBuf) { file: String, check: c::path(), },
    /// Also write JUnit XML here (as cargo-nextest writes it).
    #[arg(long, value_name = "PATH", help_heading = "Reports")]
    pub junit: Option<PathBuf> => run(PathBuf) { file: String, check: c::path(), },
    /// Also write the HTML report here (as `cargo isolate report html`).
    #[arg(long, value_name = "PATH", help_heading = "Reports")]
    pub html: Option<PathBuf> => run(PathBuf) { file: String, check: c::path(), },
    /// human: progress and summary on stderr; json: also one JSON event per
    /// line on stdout (run-started, test-started, test-slow,
    /// attempt-finished, test-finished with the test's record,
    /// run-finished).
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = MessageFormat::Human, conflicts_with = "no_capture", help_heading = "Reports")]
    pub message_format: MessageFormat => run(MessageFormat) { file: String, check: c::choice(), },
    /// Keep passing tests' output in the JUnit file too (by default only
    /// failing tests' output is stored there; the JSON report has all).
    #[arg(long, help_heading = "Reports")]
    pub junit_store_success_output: bool => run(bool) { file: bool, check: c::flag(), },
    /// Coloring [env: CARGO_TERM_COLOR, NO_COLOR].
    #[arg(long, value_name = "WHEN", value_parser = ["auto", "always", "never"], help_heading = "Reports")]
    pub color: Option<String> => run(String) {
        file: String, check: c::one_of(&["auto", "always", "never"]),
        given_by_env: "CARGO_TERM_COLOR",
    },

    /// Arguments after `--`, read as libtest reads them: filters, --exact,
    /// --skip X, --ignored, --include-ignored select tests; --test-threads N
    /// is accepted and moot; other flags (with their values) reach each
    /// test binary.
    #[arg(last = true, value_name = "TEST-BINARY-ARGS")]
    pub test_args: Vec<String>,
}
}

pub use crate::settings::Explicit;

impl TestArgs {
    /// After how many tests that did not pass the run stops, if ever.
    pub fn max_fail(&self) -> Option<u64> {
        if self.fail_fast {
            Some(1)
        } else {
            self.max_fail
        }
    }
}

/// `cargo isolate hunt`: `test`'s flags, which select the tests and give
/// the baseline's settings, and the hunt's own.
#[derive(Debug, Args, Clone)]
pub struct HuntArgs {
    #[command(flatten)]
    pub test: TestArgs,
    /// An axis and its values (repeatable; the axes given replace the
    /// default grid): cpus=0.5,0.1,0.02, loss=1%,5%,20%, delay=10ms,50ms,
    /// rate=1mbit,100kbit, jobs=2,4 (copies at once), seed=1,2,3; values
    /// are tried mildest first, and the baseline's (unlimited, 0, 1, none)
    /// are left out [default: cpus, loss, delay, rate and jobs as above].
    #[arg(long = "axis", value_name = "NAME=V,V...", help_heading = "Hunt")]
    pub axes: Vec<String>,
    /// Run each test this many times under each condition at most
    /// [default: 20, or as many as --time-budget allows].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..), help_heading = "Hunt")]
    pub runs: Option<u32>,
    /// Spend about this long on the whole hunt (e.g. 5m), shared evenly
    /// by the conditions left.
    #[arg(long = "time-budget", value_name = "DURATION", value_parser = parse_duration, help_heading = "Hunt")]
    pub time_budget: Option<Duration>,
    /// Stop running a test under a condition once it failed this often.
    #[arg(long, value_name = "K", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..), help_heading = "Hunt")]
    pub stop_after_failures: u64,
    /// Where to write the table as JSON; the Markdown table goes beside it,
    /// with `.md` [default: <target-dir>/isolate/hunt.json].
    #[arg(short = 'o', long, value_name = "PATH", help_heading = "Hunt")]
    pub output: Option<PathBuf>,
}

settings! {
/// Cargo's selection and build flags, passed to `cargo test --no-run`;
/// the feature flags are rows (a replay carries them).
#[derive(Debug, Args, Default, Clone)]
#[command(next_help_heading = "Cargo options")]
pub struct CargoArgs in cargo_args {
    /// Package to test (repeatable).
    #[arg(short = 'p', long = "package", value_name = "SPEC")]
    pub package: Vec<String>,
    /// Test all packages in the workspace.
    #[arg(long)]
    pub workspace: bool,
    /// Exclude packages (with --workspace).
    #[arg(long, value_name = "SPEC")]
    pub exclude: Vec<String>,
    /// Test only this package's library.
    #[arg(long)]
    pub lib: bool,
    /// Test all binaries.
    #[arg(long)]
    pub bins: bool,
    /// Test only the named binary.
    #[arg(long, value_name = "NAME")]
    pub bin: Vec<String>,
    /// Test all integration tests.
    #[arg(long)]
    pub tests: bool,
    /// Test only the named integration test.
    #[arg(long, value_name = "NAME")]
    pub test: Vec<String>,
    /// Test all examples.
    #[arg(long)]
    pub examples: bool,
    /// Test only the named example.
    #[arg(long, value_name = "NAME")]
    pub example: Vec<String>,
    /// Test all benches.
    #[arg(long)]
    pub benches: bool,
    /// Test only the named bench.
    #[arg(long, value_name = "NAME")]
    pub bench: Vec<String>,
    /// Test all targets.
    #[arg(long)]
    pub all_targets: bool,
    /// Features to activate.
    #[arg(short = 'F', long, value_name = "FEATURES")]
    pub features: Vec<String> => cli(Vec<String>) {
        replay: show::each(show::plain),
    },
    /// Activate all features.
    #[arg(long)]
    pub all_features: bool => cli(bool) { replay: show::flag, },
    /// Do not activate the default feature.
    #[arg(long)]
    pub no_default_features: bool => cli(bool) { replay: show::flag, },
    /// Build in release mode.
    #[arg(short = 'r', long)]
    pub release: bool,
    /// Build with the given cargo profile (cargo's --profile; --profile is
    /// cargo-isolate's configuration profile, as in nextest).
    #[arg(long = "cargo-profile", value_name = "NAME")]
    pub cargo_profile: Option<String>,
    /// Directory for all generated artifacts.
    #[arg(long, value_name = "DIR")]
    pub target_dir: Option<PathBuf>,
    /// Path to Cargo.toml.
    #[arg(long, value_name = "PATH")]
    pub manifest_path: Option<PathBuf>,
    /// Require Cargo.lock to be up to date.
    #[arg(long)]
    pub locked: bool,
    /// Run without accessing the network.
    #[arg(long)]
    pub offline: bool,
    /// Both --locked and --offline.
    #[arg(long)]
    pub frozen: bool,
}
}

impl CargoArgs {
    /// The flags as cargo expects them.
    pub fn to_cargo_args(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut flag = |on: bool, name: &str| {
            if on {
                out.push(name.to_string());
            }
        };
        flag(self.workspace, "--workspace");
        flag(self.lib, "--lib");
        flag(self.bins, "--bins");
        flag(self.tests, "--tests");
        flag(self.examples, "--examples");
        flag(self.benches, "--benches");
        flag(self.all_targets, "--all-targets");
        flag(self.all_features, "--all-features");
        flag(self.no_default_features, "--no-default-features");
        flag(self.release, "--release");
        flag(self.locked, "--locked");
        flag(self.offline, "--offline");
        flag(self.frozen, "--frozen");
        let lists: [(&str, &Vec<String>); 8] = [
            ("--package", &self.package),
            ("--exclude", &self.exclude),
            ("--bin", &self.bin),
            ("--test", &self.test),
            ("--example", &self.example),
            ("--bench", &self.bench),
            ("--features", &self.features),
            ("--profile", &self.cargo_profile.iter().cloned().collect()),
        ];
        for (name, values) in lists {
            for v in values {
                out.push(name.to_string());
                out.push(v.clone());
            }
        }
        if let Some(d) = &self.target_dir {
            out.push("--target-dir".into());
            out.push(d.display().to_string());
        }
        if let Some(m) = &self.manifest_path {
            out.push("--manifest-path".into());
            out.push(m.display().to_string());
        }
        out
    }
}

settings! {
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Sandbox")]
pub struct SandboxArgs in sandbox_args {
    /// Memory limit of each sandbox (cgroup), e.g. 256M, 1G; at least 8M.
    /// Files written to the sandbox's tmpfs (--scratch memory) count as memory.
    #[arg(long, value_name = "SIZE", value_parser = parse_memory_max)]
    pub memory_max: Option<u64> => test(u64) {
        file: String, check: c::text(parse_memory_max),
        archive: true,
        replay: show::size,
    },
    /// Limit on processes and threads in each sandbox; at least 3, or
    /// `unlimited` [default: 4096 where a cgroup can enforce it, so that a
    /// fork bomb stops in its sandbox].
    #[arg(long, value_name = "N|unlimited", value_parser = parse_pids_max)]
    pub pids_max: Option<PidsMax> => test(PidsMax) {
        file: i64, check: c::int(|s| parse_pids_limit(s).map(PidsMax::Limit)),
        archive: true,
        replay: show::plain,
    },
    /// CPU bandwidth of each sandbox, in CPUs (e.g. 0.5, 2), from 0.01 to 4096.
    #[arg(long, value_name = "CPUS", value_parser = parse_cpus)]
    pub cpus: Option<f64> => test(f64) {
        file: f64, check: c::float(parse_cpus),
        archive: true,
        replay: show::plain,
    },
    /// Kill a sandbox (every process in it) after this long, e.g. 30s, 2m; at
    /// most 1y.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<Duration> => test(Duration) {
        file: String, check: c::text(parse_duration),
        archive: true,
        replay: show::duration,
    },
    /// Hostname inside the sandbox.
    #[arg(long, value_name = "NAME", default_value = "isolate", value_parser = parse_hostname)]
    pub hostname: String => run(String) {
        file: String, check: c::text(parse_hostname),
        replay: show::plain,
    },
    /// Start each sandboxed program with a clean environment: PATH, the
    /// variables given with --env and, for a test, cargo's test variables
    /// (CARGO_*, OUT_DIR...).
    #[arg(long)]
    pub env_clear: bool => run(bool) {
        file: bool, check: c::flag(),
        replay: show::flag,
    },
    /// Set KEY to VALUE in the sandbox, or pass the host's KEY through when
    /// no VALUE is given (repeatable).
    #[arg(long, value_name = "KEY[=VALUE]", value_parser = parse_env)]
    pub env: Vec<EnvSetting> => extra(Vec<EnvSetting>) {
        file: BTreeMap<Text, Text>, check: env_in_file(),
        merge: EnvVars,
        replay: show::each(show::plain),
    },
    /// Where a test's writes go (/tmp, /var/tmp, HOME, the overlays): memory
    /// (a tmpfs, counted in the memory limit) or disk (a per-test directory
    /// under the target dir, removed afterwards).
    #[arg(long, value_enum, value_name = "WHERE", default_value_t = Scratch::Memory)]
    pub scratch: Scratch => run(Scratch) {
        file: String, check: c::choice(),
        replay: show::name,
    },
    /// With --scratch disk: the most one sandbox may write there, enforced
    /// by a filesystem image of that size mounted in the sandbox (needs
    /// root) [default: 8G, less when the disk's free space cannot hold one
    /// per sandbox that runs at once].
    #[arg(long, value_name = "SIZE", value_parser = parse_scratch_size)]
    pub scratch_size: Option<u64> => run(u64) {
        file: String, check: c::text(parse_scratch_size),
        replay: show::size,
    },
    /// Also show this host path read-only at the same path (repeatable), e.g.
    /// a data directory outside the package, or the host's /sys.
    #[arg(long = "ro-bind", value_name = "PATH")]
    pub ro_bind: Vec<PathBuf> => extra(Vec<PathBuf>) {
        file: Vec<Text>, check: c::binds(),
        replay: show::each(show::path),
    },
    /// Do not mount the sandbox's own read-only /sys (its network namespace's
    /// view: only `lo` under /sys/class/net).
    #[arg(long)]
    pub no_sys: bool => run(bool) {
        file: bool, check: c::flag(),
        replay: show::flag,
    },
    /// Size of the sandbox's tmpfs (/, /tmp, HOME, overlay writes)
    /// [default: half of --memory-max, else 1G].
    #[arg(long, value_name = "SIZE", value_parser = parse_tmpfs_size)]
    pub tmpfs_size: Option<u64> => run(u64) {
        file: String, check: c::text(parse_tmpfs_size),
        replay: show::size,
    },
    /// Files and directories the sandbox's tmpfs may hold [default: one per
    /// 4 KiB of --tmpfs-size, at least 4096], so that filling it with empty
    /// files is ENOSPC rather than kernel memory without bound.
    #[arg(long, value_name = "N", value_parser = parse_tmpfs_inodes)]
    pub tmpfs_inodes: Option<u64> => run(u64) {
        file: i64, check: c::int(parse_tmpfs_inodes),
        replay: show::plain,
    },
    /// Run even when a requested limit cannot be enforced here (no writable
    /// cgroup): the limit is then ignored and the report says so.
    #[arg(long)]
    pub allow_unenforced_limits: bool => run(bool) {
        file: bool, check: c::flag(),
        replay: show::flag,
    },
    /// The second wall: a seccomp filter the test gets right before its
    /// exec. `default` refuses the calls that reach the host (keyrings, new
    /// cgroup namespaces, modules, the clock...), `none` installs none, and
    /// a PATH is an OCI/Docker JSON profile (e.g. Docker's default).
    #[arg(long, value_name = "default|none|PATH", default_value = "default", value_parser = parse_seccomp)]
    pub seccomp: Seccomp => run(Seccomp) {
        file: String, check: seccomp_in_file(),
        replay: show::plain,
    },
    #[command(flatten)]
    pub net: NetArgs => nested(NetArgs) {},
    /// Resolve NAME to ADDR in the sandbox's own /etc/hosts (repeatable),
    /// e.g. db.internal=127.0.0.1, to point a test at a loopback fake.
    #[arg(long = "hosts", value_name = "NAME=ADDR", value_parser = parse_host_entry)]
    pub hosts: Vec<HostEntry> => run(Vec<HostEntry>) {
        file: BTreeMap<Text, Text>, check: hosts_in_file(),
        merge: Append,
        replay: show::each(show::plain),
    },
}
}

settings! {
/// Faults in each sandbox's own network, made with nftables and a qdisc
/// on its `lo`: nothing reaches the host's network.
#[derive(Debug, Args, Clone, Default)]
#[command(next_help_heading = "Network faults (in each sandbox's own network)")]
pub struct NetArgs in net_args {
    /// Drop this share of packets at random, e.g. 5%.
    #[arg(long, value_name = "PERCENT", value_parser = crate::netfaults::parse_loss)]
    pub net_loss: Option<u32> => test(u32) {
        file: String, check: c::text(crate::netfaults::parse_loss),
        archive: true,
        replay: show::with(crate::netfaults::format_loss),
    },
    /// Refuse connections to these ports: TCP gets a reset, UDP an ICMP
    /// port unreachable, e.g. 5432,6379 (repeatable).
    #[arg(long, value_name = "PORT[,PORT...]", value_parser = parse_port_list)]
    pub net_reject: Vec<PortList> => test(Vec<PortList>) {
        file: PortsToml, check: ports_in_file(),
        archive: true,
        replay: show::each(show::plain),
    },
    /// Drop every packet to these ports without an answer: the test sees
    /// timeouts (repeatable).
    #[arg(long, value_name = "PORT[,PORT...]", value_parser = parse_port_list)]
    pub net_drop: Vec<PortList> => test(Vec<PortList>) {
        file: PortsToml, check: ports_in_file(),
        archive: true,
        replay: show::each(show::plain),
    },
    /// Limit the bandwidth (token bucket), e.g. 1mbit, 500kbit, 10mbps.
    #[arg(long, value_name = "RATE", value_parser = crate::netfaults::parse_rate)]
    pub net_rate: Option<u64> => test(u64) {
        file: String, check: c::text(crate::netfaults::parse_rate),
        archive: true,
        replay: show::with(crate::netfaults::format_rate),
    },
    /// Delay every packet once on its way through lo (netem, or the
    /// kernel's NFQUEUE where netem is missing), e.g. 50ms.
    #[arg(long, value_name = "DURATION", value_parser = crate::netfaults::parse_delay_us)]
    pub net_delay: Option<u32> => test(u32) {
        file: String, check: c::text(crate::netfaults::parse_delay_us),
        archive: true,
        replay: show::with(crate::netfaults::format_duration_us),
    },
    /// Vary the delay by up to this much (uniform ±, as netem), e.g. 10ms.
    #[arg(long, value_name = "DURATION", value_parser = crate::netfaults::parse_jitter_us)]
    pub net_jitter: Option<u32> => test(u32) {
        file: String, check: c::text(crate::netfaults::parse_jitter_us),
        archive: true,
        replay: show::with(crate::netfaults::format_duration_us),
    },
    /// Apply --net-loss, --net-delay and --net-jitter only to TCP and UDP
    /// packets of these ports or ranges, e.g. 5432,8000-8100 (all traffic
    /// when absent).
    #[arg(long, value_name = "PORT[-PORT],...", value_parser = parse_port_ranges)]
    pub net_ports: Option<PortRanges> => test(PortRanges) {
        file: String, check: c::text(parse_port_ranges),
        archive: true,
        replay: show::plain,
    },
    /// With --net-ports: `out` faults the packets sent to those ports
    /// (requests), `in` those sent from them (replies), `both` either.
    #[arg(long, value_enum, value_name = "in|out|both", requires = "net_ports")]
    pub net_direction: Option<NetDirection> => test(NetDirection) {
        file: String, check: c::choice(),
        archive: true,
        replay: show::name,
    },
}
}

/// One `--net-reject`/`--net-drop` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortList(pub Vec<u16>);

impl std::fmt::Display for PortList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ports: Vec<String> = self.0.iter().map(u16::to_string).collect();
        f.write_str(&ports.join(","))
    }
}

fn parse_port_list(s: &str) -> Result<PortList, String> {
    crate::netfaults::parse_ports(s).map(PortList)
}

/// The `--net-ports` value: inclusive ranges, sorted and merged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortRanges(pub Vec<(u16, u16)>);

impl std::fmt::Display for PortRanges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::netfaults::format_port_ranges(&self.0))
    }
}

fn parse_port_ranges(s: &str) -> Result<PortRanges, String> {
    crate::netfaults::parse_port_ranges(s).map(PortRanges)
}

/// `--net-direction`: which packets of the --net-ports are faulted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum NetDirection {
    // Plain comments: a variant's doc would add a long help to `run -h`.
    // Packets from the ports: the replies of a server on them.
    In,
    // Packets to the ports: the requests to a server on them.
    Out,
    Both,
}

/// One `--hosts NAME=ADDR`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostEntry {
    pub name: String,
    pub addr: std::net::IpAddr,
}

impl std::fmt::Display for HostEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}={}", self.name, self.addr)
    }
}

/// `NAME=ADDR`: a host name as /etc/hosts takes it (letters, digits, '.',
/// '-', '_'; nothing that could start a new line or field) and an IP
/// address.
pub fn parse_host_entry(s: &str) -> Result<HostEntry, String> {
    let Some((name, addr)) = s.split_once('=') else {
        return Err(format!(
            "{s:?} is not NAME=ADDR, e.g. db.internal=127.0.0.1"
        ));
    };
    if name.is_empty() || name.len() > 253 {
        return Err("the host name must be 1 to 253 bytes, e.g. db.internal=127.0.0.1".into());
    }
    if let Some(c) = name
        .chars()
        .find(|c| !c.is_ascii_alphanumeric() && !matches!(c, '.' | '-' | '_'))
    {
        return Err(format!(
            "{c:?} is not allowed in a host name: use letters, digits, '.', '-' and '_', e.g. db.internal=127.0.0.1"
        ));
    }
    let addr = addr.parse().map_err(|_| {
        format!("{addr:?} is not an IP address, e.g. db.internal=127.0.0.1 or db.internal=::1")
    })?;
    Ok(HostEntry {
        name: name.to_string(),
        addr,
    })
}

/// One `--env KEY[=VALUE]`: `value: None` passes the host's value through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvSetting {
    pub key: String,
    pub value: Option<String>,
}

impl std::fmt::Display for EnvSetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.value {
            Some(v) => write!(f, "{}={v}", self.key),
            None => f.write_str(&self.key),
        }
    }
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(subcommand)]
    pub command: ReportCommand,
}

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// What grew and what shrank between two reports (peak memory, time,
    /// CPU per test), largest change first; new and gone tests listed.
    Diff {
        /// The earlier report (e.g. main's).
        old: PathBuf,
        /// The later report.
        new: PathBuf,
        /// text for a terminal, markdown for a pull request comment.
        #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
        format: DiffFormat,
        /// Show at most this many tests.
        #[arg(long, value_name = "N", default_value_t = 50)]
        limit: usize,
    },
    /// One self-contained HTML page (no network): a sortable, filterable
    /// table of the tests, charts of peak memory and time against their
    /// budgets, and with --baseline what grew.
    Html {
        /// The report [default: target/isolate/report.json].
        report: Option<PathBuf>,
        /// Where to write the page.
        #[arg(short = 'o', long, value_name = "PATH")]
        output: PathBuf,
        /// An earlier report to compare with.
        #[arg(long, value_name = "OLD.json")]
        baseline: Option<PathBuf>,
    },
    /// One report from the reports of a sharded run (--partition): refuses
    /// reports of different archives, names missing and duplicated
    /// shares, and marks the result complete only when every share is
    /// there.
    Merge {
        /// The shards' reports.
        #[arg(required = true, value_name = "REPORT.json")]
        reports: Vec<PathBuf>,
        /// Where to write the merged report.
        #[arg(short = 'o', long, value_name = "PATH")]
        output: PathBuf,
        /// Also write JUnit XML here.
        #[arg(long, value_name = "PATH")]
        junit: Option<PathBuf>,
        /// Also write the HTML report here.
        #[arg(long, value_name = "PATH")]
        html: Option<PathBuf>,
    },
}

/// `cargo isolate archive`.
#[derive(Debug, Args)]
pub struct ArchiveArgs {
    /// The file to write (a zstd-compressed tar), as nextest's `archive
    /// --archive-file`; `-o`/`--output` also work.
    #[arg(
        long = "archive-file",
        short = 'o',
        visible_alias = "output",
        value_name = "PATH"
    )]
    pub archive_file: PathBuf,
    /// Only archive the package files that match one of these globs,
    /// relative to the workspace (repeatable) [default: all but the target
    /// dir and VCS dirs].
    #[arg(long, value_name = "GLOB")]
    pub include_files: Vec<String>,
    /// Leave out the package files that match (repeatable), e.g.
    /// 'docs/**'.
    #[arg(long, value_name = "GLOB")]
    pub exclude_files: Vec<String>,
    #[command(flatten)]
    pub cargo: CargoArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    Text,
    Markdown,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub sandbox: SandboxArgs,
    /// The program and its arguments.
    #[arg(last = true, required = true, value_name = "PROGRAM")]
    pub command: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum)]
pub enum Isolation {
    PerTest,
    PerBinary,
    None,
}

impl Isolation {
    pub fn as_str(self) -> &'static str {
        match self {
            Isolation::PerTest => "per-test",
            Isolation::PerBinary => "per-binary",
            Isolation::None => "none",
        }
    }
}

/// `--message-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MessageFormat {
    Human,
    Json,
}

/// Which tests get a status line as they end (`--status-level`), in
/// nextest's order: each level shows what the ones before it show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, ValueEnum)]
pub enum StatusLevel {
    None,
    Fail,
    Retry,
    Slow,
    #[default]
    Pass,
    Skip,
    All,
}

/// Which tests the end of the run lists again (`--final-status-level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, ValueEnum)]
pub enum FinalStatusLevel {
    None,
    Fail,
    #[default]
    Flaky,
    Slow,
    Skip,
    Pass,
    All,
}

/// What a run that selects no test does (`--no-tests`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum NoTests {
    /// Exit 4.
    Fail,
    /// Exit 0, with a warning.
    Warn,
    /// Exit 0.
    Pass,
}

/// What a broken budget does (`--budgets`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BudgetMode {
    /// The run fails (exit 100).
    Fail,
    /// Reported, the run still passes.
    Warn,
}

/// Where a sandbox's writable scratch space lives (`--scratch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scratch {
    Memory,
    Disk,
}

/// `--seccomp`: which filter a test gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seccomp {
    /// The built-in profile (`sandbox::seccomp::DEFAULT_REFUSED`).
    Default,
    None,
    /// An OCI/Docker JSON profile.
    Profile(PathBuf),
}

impl std::fmt::Display for Seccomp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Seccomp::Default => f.write_str("default"),
            Seccomp::None => f.write_str("none"),
            Seccomp::Profile(p) => write!(f, "{}", p.display()),
        }
    }
}

/// `default`, `none`, or a profile's path (`./default` for a file so named).
pub fn parse_seccomp(s: &str) -> Result<Seccomp, String> {
    match s {
        "default" => Ok(Seccomp::Default),
        "none" => Ok(Seccomp::None),
        "" => Err("expected default, none or the path of an OCI seccomp profile".into()),
        path => Ok(Seccomp::Profile(PathBuf::from(path))),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RunIgnored {
    /// Skip ignored tests (they are reported as ignored).
    Default,
    /// Run only the ignored tests.
    Only,
    /// Run ignored and not ignored tests.
    All,
}

// How `show-config` writes the values of these types (see `settings::explain`).
crate::settings::explain::describe_display!(
    PortList,
    PortRanges,
    HostEntry,
    EnvSetting,
    Seccomp,
    SlowTimeout,
    PidsMax
);
crate::settings::explain::describe_by_name!(
    Isolation,
    NetDirection,
    MessageFormat,
    StatusLevel,
    FinalStatusLevel,
    NoTests,
    BudgetMode,
    Scratch,
    RunIgnored,
);

/// Variables: the file's go first, so that `--env` given later wins; a
/// profile's add to `[profile.default]`'s; per test, each variable comes
/// from the first matching override that sets it.
pub struct EnvVars;

impl Merge<Vec<EnvSetting>> for EnvVars {
    const WHAT: &'static str = "variable by variable: the command line's, then the first override's that sets it, then the chosen profile's, then the default profile's";
    const COMBINES: bool = true;
    fn layer(
        top: Option<Vec<EnvSetting>>,
        base: Option<Vec<EnvSetting>>,
    ) -> Option<Vec<EnvSetting>> {
        match (top, base) {
            (Some(t), Some(mut b)) => {
                b.extend(t);
                Some(b)
            }
            (t, b) => t.or(b),
        }
    }
    fn apply<F: Slot<Vec<EnvSetting>>>(slot: &mut F, file: Option<Vec<EnvSetting>>, _: bool) {
        if let Some(mut env) = file {
            env.extend(slot.get().unwrap_or_default());
            slot.put(env);
        }
    }
    fn fill(test: &mut Option<Vec<EnvSetting>>, from: &Option<Vec<EnvSetting>>) {
        let Some(from) = from else { return };
        let t = test.get_or_insert_with(Vec::new);
        for e in from {
            if !t.iter().any(|have| have.key == e.key) {
                t.push(e.clone());
            }
        }
    }
}

// How the configuration file writes the values of these types, checked
// as their flags check them (see `settings::check` for the others).

/// `--isolation`; an override may not ask for per-binary, which is the
/// run's shape, not a test's.
fn isolation_in_file() -> impl Check<String, Isolation> {
    |cx, v| {
        cx.checked(v, |s| match c::enum_value::<Isolation>(s)? {
            Isolation::PerBinary if cx.in_override() => Err(
                "per-binary cannot be set for some tests: a binary runs as one unit or not; set it for the profile"
                    .to_string(),
            ),
            i => Ok(i),
        })
    }
}

/// `--seccomp`: a profile's path is relative to the base directory.
fn seccomp_in_file() -> impl Check<String, Seccomp> {
    |cx, v| {
        cx.checked(v, |s| {
            if s.contains('\0') {
                return Err("the path contains a NUL byte".into());
            }
            Ok(match parse_seccomp(s)? {
                Seccomp::Profile(p) => Seccomp::Profile(cx.ctx.base.dir.join(p)),
                other => other,
            })
        })
    }
}

/// Ports as `[5432, 6379]`, `5432` or `"5432,6379"`.
fn ports_in_file() -> impl Check<PortsToml, Vec<PortList>> {
    |cx, v| {
        cx.checked(v, |p| {
            crate::netfaults::parse_ports(&p.text()).map(|ports| vec![PortList(ports)])
        })
    }
}

/// `env = { KEY = "value" }`, checked as `--env KEY=VALUE` is.
fn env_in_file() -> impl Check<BTreeMap<Text, Text>, Vec<EnvSetting>> {
    |cx, env| {
        env.get_ref()
            .iter()
            .map(|(k, v)| {
                let key = k.get_ref();
                if key.contains('=') {
                    return Err(cx.at(
                        k.span(),
                        format!(
                            "invalid variable name in 'env': {}: a name cannot contain '='",
                            quoted(key)
                        ),
                    ));
                }
                parse_env(&format!("{key}={}", v.get_ref())).map_err(|m| {
                    let span = if m.contains("value") {
                        v.span()
                    } else {
                        k.span()
                    };
                    cx.at(span, format!("invalid value in 'env': {m}"))
                })
            })
            .collect()
    }
}

/// `hosts = { name = "address" }`, checked as `--hosts NAME=ADDR` is.
fn hosts_in_file() -> impl Check<BTreeMap<Text, Text>, Vec<HostEntry>> {
    |cx, hosts| {
        hosts
            .get_ref()
            .iter()
            .map(|(name, addr)| {
                if name.get_ref().contains('=') {
                    return Err(cx.at(
                        name.span(),
                        "invalid value in 'hosts': '=' is not allowed in a host name",
                    ));
                }
                parse_host_entry(&format!("{}={}", name.get_ref(), addr.get_ref()))
                    .map_err(|m| cx.at(addr.span(), format!("invalid value in 'hosts': {m}")))
            })
            .collect()
    }
}

// Value parsers. Clap prints their errors as
// "invalid value '<input>' for '<flag>': <message>", so a message is a
// lowercase fragment saying what is wrong and what would work. None of them
// may panic, whatever the input.

const MIB: u64 = 1 << 20;

/// The smallest `--memory-max`.
pub const MIN_MEMORY_MAX: u64 = 8 * MIB;
/// The smallest `--tmpfs-size`.
pub const MIN_TMPFS_SIZE: u64 = MIB;
/// The smallest `--pids-max`.
pub const MIN_PIDS_MAX: u64 = 3;
/// The largest `--pids-max`: the kernel's PID_MAX_LIMIT on 64-bit (pids.max
/// rejects more).
pub const MAX_PIDS_MAX: u64 = 4 * 1024 * 1024;
/// `--cpus` bounds: 0.01 is the kernel's smallest quota (1ms a 100ms period).
pub const MIN_CPUS: f64 = 0.01;
pub const MAX_CPUS: f64 = 4096.0;
/// The longest `--timeout`: one year of 365.25 days, so "1y" is accepted.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(31_557_600);
/// The kernel's limit on a hostname (HOST_NAME_MAX).
pub const MAX_HOSTNAME_LEN: usize = 64;

const SIZE_HINT: &str = "expected a number of bytes with an optional unit K, M, G, T, P or E (powers of 1024), e.g. 256M or 1.5G";

/// "256M", "1G", "512k", "1.5G", "64MiB", "64mb", "5 GiB", "1048576": bytes,
/// every unit a power of 1024 with or without "B" or "iB", in any case (as
/// cgroups and tmpfs count). Zero is allowed here; the flags' parsers set
/// minimums. The parse-size crate does the arithmetic: decimal fractions
/// exactly (no float rounding), an overflow is an error, never a wrap.
fn parse_bytes(s: &str) -> Result<u64, String> {
    const SIZES: parse_size::Config = parse_size::Config::new().with_binary();
    let t = s.trim();
    SIZES.parse_size(t).map_err(|e| match e {
        parse_size::Error::PosOverflow => {
            "too large: must be less than 2^64 bytes (16777216T)".to_string()
        }
        _ => match unknown_unit(t) {
            Some(unit) => {
                format!("unknown unit {unit:?}: use K, M, G, T, P or E (powers of 1024), e.g. 256M")
            }
            None => SIZE_HINT.to_string(),
        },
    })
}

/// The letters after a plain number, when a size was refused: they are
/// what is wrong ("5X", "5BB", "5 GiBs").
fn unknown_unit(t: &str) -> Option<&str> {
    let split = t.find(|c: char| !c.is_ascii_digit() && c != '.')?;
    let (num, unit) = t.split_at(split);
    let unit = unit.trim();
    let number = !num.is_empty() && num != "." && num.matches('.').count() <= 1;
    (number && !unit.is_empty() && unit.chars().all(char::is_alphabetic)).then_some(unit)
}

/// A size of at least one byte (`--output-limit`).
pub fn parse_size(s: &str) -> Result<u64, String> {
    match parse_bytes(s)? {
        0 => Err("must be at least 1 byte".into()),
        n => Ok(n),
    }
}

pub fn parse_memory_max(s: &str) -> Result<u64, String> {
    match parse_bytes(s)? {
        n if n < MIN_MEMORY_MAX => Err(
            "must be at least 8M (the sandbox's init and a test binary need at least 8 MiB)".into(),
        ),
        n => Ok(n),
    }
}

/// At least 16 MiB: an ext4 image smaller than that has no room to speak of.
pub fn parse_scratch_size(s: &str) -> Result<u64, String> {
    match parse_bytes(s)? {
        n if n < 16 << 20 => Err("must be at least 16M".into()),
        n => Ok(n),
    }
}

pub fn parse_tmpfs_inodes(s: &str) -> Result<u64, String> {
    match s.trim().parse::<u64>() {
        Ok(n) if n < MIN_TMPFS_INODES => Err(format!(
            "must be at least {MIN_TMPFS_INODES} (the sandbox's own mount points need some)"
        )),
        Ok(n) if n > u64::from(u32::MAX) => Err(format!("must be at most {}", u32::MAX)),
        Ok(n) => Ok(n),
        Err(_) => Err("expected a whole number".into()),
    }
}

/// The fewest inodes `--tmpfs-inodes` takes.
const MIN_TMPFS_INODES: u64 = 256;

pub fn parse_tmpfs_size(s: &str) -> Result<u64, String> {
    match parse_bytes(s)? {
        n if n < MIN_TMPFS_SIZE => Err("must be at least 1M".into()),
        n => Ok(n),
    }
}

/// `--slow-timeout`: when a test is said slow, and after how many such
/// periods it is ended as timed out, if ever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlowTimeout {
    /// Zero: never said slow.
    pub period: Duration,
    pub terminate_after: Option<std::num::NonZeroU32>,
    /// At a timeout, SIGTERM and this long before the kill (nextest's;
    /// `None`: killed at once).
    pub grace_period: Option<Duration>,
}

impl SlowTimeout {
    /// How long the test may run: `terminate_after` periods.
    pub fn limit(&self) -> Option<Duration> {
        self.terminate_after.map(|n| self.period * n.get())
    }
}

impl std::fmt::Display for SlowTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let period = humantime::format_duration(self.period).to_string();
        f.write_str(&period.replace(' ', ""))?;
        if let Some(n) = self.terminate_after {
            write!(f, ",terminate-after={n}")?;
        }
        match self.grace_period {
            Some(g) => {
                let g = humantime::format_duration(g).to_string();
                write!(f, ",grace-period={}", g.replace(' ', ""))
            }
            None => Ok(()),
        }
    }
}

/// `30s`, `30s,terminate-after=4` or `30s,terminate-after=4,grace-period=5s`;
/// a period of 0 never says a test slow.
pub fn parse_slow_timeout(s: &str) -> Result<SlowTimeout, String> {
    let mut parts = s.split(',');
    let period = parts.next().unwrap_or_default();
    let (mut n, mut grace) = (None, None);
    for part in parts.map(str::trim) {
        if let Some(v) = part.strip_prefix("terminate-after=")
            && n.is_none()
        {
            n = Some(v.trim().parse::<i64>().map_err(|_| {
                format!("terminate-after takes a whole number of periods, e.g. {period},terminate-after=2")
            })?);
        } else if let Some(v) = part.strip_prefix("grace-period=")
            && grace.is_none()
        {
            grace = Some(v);
        } else {
            return Err(format!(
                "expected PERIOD[,terminate-after=N][,grace-period=DURATION], each once, e.g. {period},terminate-after=2"
            ));
        }
    }
    slow_timeout(period, n, grace)
}

/// The period (0 or a duration), the number of periods and the grace
/// period, checked.
fn slow_timeout(
    period: &str,
    terminate_after: Option<i64>,
    grace_period: Option<&str>,
) -> Result<SlowTimeout, String> {
    let period = match is_zero_duration(period) {
        true => Duration::ZERO,
        false => parse_duration(period)?,
    };
    let terminate_after = match terminate_after {
        None => None,
        Some(_) if period.is_zero() => {
            return Err("terminate-after needs a period of more than 0".into());
        }
        Some(n) => match u32::try_from(n).ok().and_then(std::num::NonZeroU32::new) {
            Some(n)
                if period
                    .checked_mul(n.get())
                    .is_some_and(|d| d <= MAX_TIMEOUT) =>
            {
                Some(n)
            }
            Some(_) => {
                return Err("terminate-after periods must be at most 1 year (1y) in all".into());
            }
            None => return Err("terminate-after must be at least 1".into()),
        },
    };
    // 0 is nextest's "kill at once", which is what no grace period does.
    let grace_period = match grace_period.map(str::trim) {
        None => None,
        Some(g) if is_zero_duration(g) => None,
        Some(g) => Some(parse_duration(g).map_err(|e| format!("grace-period: {e}"))?),
    };
    Ok(SlowTimeout {
        period,
        terminate_after,
        grace_period,
    })
}

/// `0`, `0s`, `0ms`...
fn is_zero_duration(s: &str) -> bool {
    s.trim()
        .trim_end_matches(char::is_alphabetic)
        .trim()
        .parse::<f64>()
        == Ok(0.0)
}

/// How the file writes a slow timeout: `"60s"`, or as nextest's
/// `{ period = "60s", terminate-after = 2, grace-period = "10s" }`.
#[derive(Debug, Clone)]
pub enum SlowTimeoutToml {
    Period(String),
    Table {
        period: String,
        terminate_after: Option<i64>,
        grace_period: Option<String>,
    },
}

impl<'de> serde::Deserialize<'de> for SlowTimeoutToml {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{self, MapAccess, Visitor};
        struct Form;
        impl<'de> Visitor<'de> for Form {
            type Value = SlowTimeoutToml;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a period (\"60s\") or { period = \"60s\", terminate-after = 2, grace-period = \"10s\" }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SlowTimeoutToml, E> {
                Ok(SlowTimeoutToml::Period(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SlowTimeoutToml, A::Error> {
                use crate::settings::FileType;
                const KEYS: [&str; 3] = [
                    SlowTimeoutToml::KEYS[0].0,
                    SlowTimeoutToml::KEYS[1].0,
                    SlowTimeoutToml::KEYS[2].0,
                ];
                let (mut period, mut terminate_after, mut grace_period) = (None, None, None);
                while let Some(k) = map.next_key::<String>()? {
                    match k.as_str() {
                        k if k == KEYS[0] => period = Some(map.next_value()?),
                        k if k == KEYS[1] => terminate_after = Some(map.next_value()?),
                        k if k == KEYS[2] => grace_period = Some(map.next_value()?),
                        _ => return Err(de::Error::unknown_field(&k, &KEYS)),
                    }
                }
                Ok(SlowTimeoutToml::Table {
                    period: period.ok_or_else(|| de::Error::missing_field(KEYS[0]))?,
                    terminate_after,
                    grace_period,
                })
            }
        }
        d.deserialize_any(Form)
    }
}

impl SlowTimeoutToml {
    fn resolve(&self) -> Result<SlowTimeout, String> {
        match self {
            // As the flag reads it.
            SlowTimeoutToml::Period(p) => parse_slow_timeout(p),
            SlowTimeoutToml::Table {
                period,
                terminate_after,
                grace_period,
            } => slow_timeout(period, *terminate_after, grace_period.as_deref()),
        }
    }
}

impl crate::settings::FileType for SlowTimeoutToml {
    const NAME: &'static str = "string, or a table of period, terminate-after and grace-period";
    const KEYS: &'static [(&'static str, &'static str)] = &[
        (
            "period",
            "The period, as the flag's PERIOD (e.g. `\"30s\"`; `\"0s\"` never says a test slow). Required in the table form.",
        ),
        (
            "terminate-after",
            "End the test as timed out after this many periods (an integer, at least 1), as nextest's `slow-timeout = { period = \"30s\", terminate-after = 4 }`.",
        ),
        (
            "grace-period",
            "After the terminate-after periods, send each of the test's processes SIGTERM and kill them this long later, as nextest's `grace-period` (e.g. `\"10s\"`). Without it, or `\"0s\"`, they are killed at once (nextest waits 10 s by default). A `timeout` stays hard: when it comes first the test is killed at once, and no grace period runs past it.",
        ),
    ];
}

/// `--pids-max`: a number, or no limit at all (not even the default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PidsMax {
    Limit(u64),
    Unlimited,
}

impl std::fmt::Display for PidsMax {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PidsMax::Limit(n) => write!(f, "{n}"),
            PidsMax::Unlimited => f.write_str("unlimited"),
        }
    }
}

impl PidsMax {
    pub fn limit(self) -> Option<u64> {
        match self {
            PidsMax::Limit(n) => Some(n),
            PidsMax::Unlimited => None,
        }
    }
}

/// The pids limit a sandbox gets when nothing sets one and its cgroup can
/// enforce it: far above what a test suite forks, far below what takes a
/// machine down (the kernel's default pid_max is 32768 to 4 million).
pub const DEFAULT_PIDS_MAX: u64 = 4096;

/// A test group's name: letters, digits, `-` and `_` (nextest reserves
/// `@global`).
pub fn parse_group_name(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    match ok {
        true => Ok(s.to_string()),
        false => Err("a test group's name is letters, digits, '-' and '_'".into()),
    }
}

/// `--memory-total`: a size, or `unlimited` (a `PidsMax` of bytes: the
/// same two cases).
pub fn parse_memory_total(s: &str) -> Result<PidsMax, String> {
    match s.trim() {
        "unlimited" => Ok(PidsMax::Unlimited),
        size => parse_size(size)
            .map(PidsMax::Limit)
            .map_err(|e| format!("{e}; or unlimited")),
    }
}

pub fn parse_pids_max(s: &str) -> Result<PidsMax, String> {
    match s.trim() {
        "unlimited" => Ok(PidsMax::Unlimited),
        n => parse_pids_limit(n).map(PidsMax::Limit),
    }
}

pub fn parse_pids_limit(s: &str) -> Result<u64, String> {
    match s.trim().parse::<u64>() {
        Ok(n) if n < MIN_PIDS_MAX => {
            Err("must be at least 3 (the init, the test and libtest's test thread)".into())
        }
        Ok(n) if n > MAX_PIDS_MAX => Err(format!(
            "must be at most {MAX_PIDS_MAX} (the kernel's limit on process ids)"
        )),
        Ok(n) => Ok(n),
        Err(_) if is_integer(s) => Err(format!(
            "must be at most {MAX_PIDS_MAX} (the kernel's limit on process ids)"
        )),
        Err(_) => Err("expected a whole number of processes, e.g. 64".into()),
    }
}

pub fn parse_jobs(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) if is_integer(s) => Err("too large: expected a number of sandboxes, e.g. 4".into()),
        Err(_) => Err("expected a whole number of sandboxes, at least 1, e.g. 4".into()),
    }
}

/// Only ASCII digits, so parsing failed on overflow.
fn is_integer(s: &str) -> bool {
    let t = s.trim();
    !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit())
}

pub fn parse_cpus(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(c) if c.is_nan() => Err("expected a number of CPUs, e.g. 0.5 or 2".into()),
        Ok(c) if c < MIN_CPUS => {
            Err("must be at least 0.01 (the kernel's smallest CPU quota)".into())
        }
        Ok(c) if c > MAX_CPUS => Err("must be at most 4096".into()),
        Ok(c) => Ok(c),
        Err(_) => Err("expected a number of CPUs, e.g. 0.5 or 2".into()),
    }
}

const DURATION_HINT: &str = "expected a duration such as 30s, 2m, 1h30m or 1500ms";

fn timeout_too_long() -> String {
    "must be at most 1 year (1y)".into()
}

/// "30s", "2m", "1h 30m", "1500ms", "1.5h", or plain seconds ("30", "0.5"):
/// more than zero and at most [`MAX_TIMEOUT`].
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let d = match t.parse::<f64>() {
        Ok(secs) if secs.is_nan() => return Err(DURATION_HINT.into()),
        Ok(secs) if secs <= 0.0 => return Err("must be more than 0".into()),
        Ok(secs) if secs > MAX_TIMEOUT.as_secs_f64() => return Err(timeout_too_long()),
        Ok(secs) => Duration::try_from_secs_f64(secs).map_err(|_| timeout_too_long())?,
        Err(_) => parse_duration_with_units(t)?,
    };
    if d.is_zero() {
        Err("must be more than 0".into())
    } else if d > MAX_TIMEOUT {
        Err(timeout_too_long())
    } else {
        Ok(d)
    }
}

/// humantime's syntax ("1h 30m", "1.5s"), with checked arithmetic: humantime
/// itself can panic on a sum that overflows.
fn parse_duration_with_units(s: &str) -> Result<Duration, String> {
    // Above the limit is an error anyway: stop counting there.
    const CAP_NS: u128 = MAX_TIMEOUT.as_nanos() + 1;
    let mut total: u128 = 0;
    let mut rest = s;
    if rest.is_empty() {
        return Err(DURATION_HINT.into());
    }
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        let (num, r) = rest.split_at(n);
        let r = r.trim_start();
        let u = r.find(|c: char| !c.is_alphabetic()).unwrap_or(r.len());
        let (unit, r) = r.split_at(u);
        rest = r.trim_start();
        let (int, frac) = num.split_once('.').unwrap_or((num, ""));
        if (int.is_empty() && frac.is_empty()) || frac.contains('.') {
            return Err(DURATION_HINT.into());
        }
        let per_unit: u128 = match unit {
            "ns" | "nsec" => 1,
            "us" | "usec" | "µs" => 1_000,
            "ms" | "msec" => 1_000_000,
            "s" | "sec" | "secs" | "second" | "seconds" => 1_000_000_000,
            "m" | "min" | "mins" | "minute" | "minutes" => 60 * 1_000_000_000,
            "h" | "hr" | "hrs" | "hour" | "hours" => 3_600 * 1_000_000_000,
            "d" | "day" | "days" => 86_400 * 1_000_000_000,
            "w" | "wk" | "wks" | "week" | "weeks" => 7 * 86_400 * 1_000_000_000,
            "M" | "month" | "months" => 2_630_016 * 1_000_000_000,
            "y" | "yr" | "yrs" | "year" | "years" => 31_557_600 * 1_000_000_000,
            "" => return Err(format!("a unit is missing after {num:?}; {DURATION_HINT}")),
            _ => {
                return Err(format!(
                    "unknown unit {unit:?}: use ns, us, ms, s, m, h, d, w, M or y"
                ));
            }
        };
        let whole: u128 = if int.is_empty() {
            0
        } else {
            // Only digits, so a parse error is an overflow.
            int.parse::<u128>().unwrap_or(u128::MAX)
        };
        // 18 digits of fraction are below a nanosecond for every unit and
        // keep the products within u128.
        let frac = &frac[..frac.len().min(18)];
        let frac_ns = if frac.is_empty() {
            0
        } else {
            let digits: u128 = frac.parse().map_err(|_| DURATION_HINT.to_string())?;
            digits * per_unit / 10u128.pow(frac.len() as u32)
        };
        total = whole
            .checked_mul(per_unit)
            .and_then(|ns| ns.checked_add(frac_ns))
            .and_then(|ns| ns.checked_add(total))
            .unwrap_or(u128::MAX)
            .min(CAP_NS);
    }
    // At most CAP_NS, which fits.
    let secs = u64::try_from(total / 1_000_000_000).map_err(|_| timeout_too_long())?;
    Ok(Duration::new(secs, (total % 1_000_000_000) as u32))
}

/// A duration in milliseconds (a regression floor).
pub fn parse_millis(s: &str) -> Result<f64, String> {
    parse_duration(s).map(|d| d.as_secs_f64() * 1000.0)
}

pub fn parse_hostname(s: &str) -> Result<String, String> {
    if s.is_empty() {
        return Err("must not be empty".into());
    }
    if s.len() > MAX_HOSTNAME_LEN {
        return Err(format!(
            "must be at most {MAX_HOSTNAME_LEN} bytes (the kernel's limit), not {}",
            s.len()
        ));
    }
    if let Some(c) = s
        .chars()
        .find(|c| !c.is_ascii_alphanumeric() && *c != '.' && *c != '-')
    {
        return Err(format!(
            "{c:?} is not allowed: use letters, digits, '.' and '-', e.g. isolate"
        ));
    }
    Ok(s.to_string())
}

/// `KEY=VALUE`, or `KEY` to pass the host's value through.
pub fn parse_env(s: &str) -> Result<EnvSetting, String> {
    let (key, value) = match s.split_once('=') {
        Some((k, v)) => (k, Some(v)),
        None => (s, None),
    };
    if key.is_empty() {
        return Err("the variable name is empty: expected KEY or KEY=VALUE".into());
    }
    if key.contains('\0') {
        return Err("the variable name contains a NUL byte".into());
    }
    if value.is_some_and(|v| v.contains('\0')) {
        return Err("the value contains a NUL byte".into());
    }
    Ok(EnvSetting {
        key: key.to_string(),
        value: value.map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `cargo isolate <args>`.
    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("cargo-isolate").chain(args.iter().copied()))
    }

    fn sandbox(args: &[&str]) -> SandboxArgs {
        let mut all = vec!["run"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--", "true"]);
        match parse(&all).unwrap().command {
            Command::Run(r) => r.sandbox,
            _ => panic!("not run"),
        }
    }

    fn test_args(args: &[&str]) -> TestArgs {
        let mut all = vec!["test"];
        all.extend_from_slice(args);
        match parse(&all).unwrap().command {
            Command::Test(t) => *t,
            _ => panic!("not test"),
        }
    }

    /// The usage error clap prints for `run <flag>=<value> -- true`.
    fn usage_error(flag: &str, value: &str) -> String {
        let arg = format!("{flag}={value}");
        let e = parse(&["run", &arg, "--", "true"]).expect_err(&arg);
        assert_eq!(
            e.kind(),
            clap::error::ErrorKind::ValueValidation,
            "{arg}: {e}"
        );
        assert!(e.use_stderr());
        e.to_string()
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("256M"), Ok(256 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("1.5k"), Ok(1536));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("64mb"), Ok(64 << 20));
        assert_eq!(parse_size("100"), Ok(100));
        assert_eq!(parse_size("100B"), Ok(100));
        assert_eq!(parse_size("18446744073709551615"), Ok(u64::MAX));
        assert_eq!(parse_size("16777215T"), Ok(16777215 << 40));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("5X").is_err());
        assert!(parse_size("5BB").is_err());
        assert!(parse_size("0").is_err());
        assert!(parse_size("0.1").is_err());
        assert!(parse_size("1.2.3M").is_err());
        assert!(parse_size(".M").is_err());
        // Scientific notation is a number (parse-size's); too large is said.
        assert_eq!(parse_size("1e3"), Ok(1000));
        assert!(parse_size("1e30").unwrap_err().contains("too large"));
        assert!(parse_size("16E").unwrap_err().contains("too large"));
        assert!(
            parse_size("18446744073709551616")
                .unwrap_err()
                .contains("too large")
        );
        assert!(parse_size("16777216T").unwrap_err().contains("too large"));
        assert!(
            parse_size("99999999999999999999.5T")
                .unwrap_err()
                .contains("too large")
        );
    }

    /// What the README and users' configurations rely on, kept when
    /// parse-size took over the arithmetic: every suffix a power of 1024,
    /// any case, "B"/"iB" optional, blanks around, fractions; and errors
    /// that say what would work.
    #[test]
    fn sizes_keep_their_syntax_and_say_what_works() {
        for (text, bytes) in [
            ("64MiB", 64 << 20),
            ("64mib", 64 << 20),
            ("64MB", 64 << 20),
            ("64mb", 64 << 20),
            ("64m", 64 << 20),
            ("64 M", 64 << 20),
            (" 5 GiB ", 5 << 30),
            ("1KB", 1024),
            ("1kib", 1024),
            ("2ki", 2048),
            ("1.5G", 3 << 29),
            ("0.5k", 512),
            ("1T", 1 << 40),
            ("1P", 1 << 50),
            ("2E", 2 << 60),
            ("4096b", 4096),
        ] {
            assert_eq!(parse_size(text), Ok(bytes), "{text}");
        }
        // Fractions exact and rounded to the nearest byte (through f64
        // and truncated, 2^53 + 1 lost its 1 and 0.6 was 0 bytes).
        assert_eq!(parse_size("0.1G"), Ok(107_374_182));
        assert_eq!(parse_size("9007199254740993.0"), Ok(9_007_199_254_740_993));
        assert_eq!(parse_size("0.6"), Ok(1));
        assert_eq!(parse_memory_max("8M"), Ok(8 << 20));
        for (text, says) in [
            ("lots", "e.g. 256M"),
            ("", "e.g. 256M"),
            ("-5M", "e.g. 256M"),
            ("5X", "unknown unit \"X\""),
            ("5 GiBs", "unknown unit \"GiBs\""),
            ("5BB", "unknown unit \"BB\""),
            ("١٢M", "e.g. 256M"),
            ("20000000000000000000", "too large"),
        ] {
            let e = parse_size(text).unwrap_err();
            assert!(e.contains(says), "{text:?}: {e}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("1500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1e3"), Ok(Duration::from_secs(1000)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration(".5s"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2 min"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("10us"), Ok(Duration::from_micros(10)));
        assert_eq!(parse_duration("1M"), Ok(Duration::from_secs(2_630_016)));
        assert_eq!(parse_duration("1y"), Ok(MAX_TIMEOUT));
        assert_eq!(parse_duration("365d"), Ok(Duration::from_secs(365 * 86400)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5").is_ok());
        assert!(parse_duration("5x").unwrap_err().contains("unknown unit"));
        assert!(
            parse_duration("5 s 3")
                .unwrap_err()
                .contains("unit is missing")
        );
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("1..5s").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("0.1ns").is_err());
        assert!(parse_duration("1e-12").is_err());
    }

    #[test]
    fn slow_timeouts_are_a_period_and_maybe_a_number_of_them() {
        let st = |s: &str| parse_slow_timeout(s);
        let n = |n: u32| std::num::NonZeroU32::new(n);
        assert_eq!(
            st("30s"),
            Ok(SlowTimeout {
                period: Duration::from_secs(30),
                terminate_after: None,
                grace_period: None,
            })
        );
        assert_eq!(
            st("500ms,terminate-after=2"),
            Ok(SlowTimeout {
                period: Duration::from_millis(500),
                terminate_after: n(2),
                grace_period: None,
            })
        );
        assert_eq!(
            st("500ms, terminate-after=2, grace-period=1.5s"),
            Ok(SlowTimeout {
                period: Duration::from_millis(500),
                terminate_after: n(2),
                grace_period: Some(Duration::from_millis(1500)),
            })
        );
        // nextest's 0: killed at once, as without one.
        assert_eq!(st("1s,grace-period=0s").unwrap().grace_period, None);
        assert_eq!(
            st("500ms,terminate-after=2").unwrap().limit(),
            Some(Duration::from_secs(1))
        );
        // 0 never says it, as the help always said (it was refused).
        for zero in ["0", "0s", "0ms"] {
            assert_eq!(st(zero).map(|s| s.period), Ok(Duration::ZERO), "{zero}");
        }
        for (bad, says) in [
            ("0,terminate-after=2", "a period of more than 0"),
            ("1s,terminate-after=0", "at least 1"),
            ("1s,terminate-after=-1", "at least 1"),
            ("1s,terminate-after=x", "whole number"),
            ("1s,after=2", "PERIOD[,terminate-after=N]"),
            ("1s,terminate-after=2,terminate-after=3", "each once"),
            ("1s,grace-period=1s,grace-period=2s", "each once"),
            ("1s,grace-period=soon", "grace-period: expected a duration"),
            ("1s,grace-period=2y", "grace-period: "),
            ("1y,terminate-after=2", "at most 1 year"),
            ("soon", "expected a duration"),
        ] {
            let e = st(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
        // What the replay prints reads back to the same value.
        for s in [
            "1m30s",
            "250ms,terminate-after=4",
            "0s",
            "1s,terminate-after=2,grace-period=500ms",
            "1s,grace-period=10s",
        ] {
            let v = st(s).unwrap();
            assert_eq!(v.to_string(), s);
            assert_eq!(st(&v.to_string()), Ok(v));
        }
        assert_eq!(test_args(&[]).slow_timeout.to_string(), "1m");
    }

    #[test]
    fn timeout_is_at_most_a_year() {
        for v in [
            "1e30",
            "1e19",
            "500000000000y",
            "1y 1s",
            "366d",
            "31557601",
            "18446744073709551615s 1000000000ns",
            "inf",
            "infinity",
            "1e308",
        ] {
            let e = usage_error("--timeout", v);
            assert!(
                e.contains(&format!(
                    "invalid value '{v}' for '--timeout <DURATION>': must be at most 1 year (1y)"
                )),
                "{v}: {e}"
            );
        }
        for v in ["-1", "-0", "0", "0ms"] {
            assert!(
                usage_error("--timeout", v).contains("must be more than 0"),
                "{v}"
            );
        }
        assert_eq!(
            sandbox(&["--timeout", "1y"]).timeout,
            Some(Duration::from_secs(31_557_600))
        );
    }

    #[test]
    fn memory_max_is_at_least_8m() {
        let e = usage_error("--memory-max", "1");
        assert!(
            e.contains(
                "invalid value '1' for '--memory-max <SIZE>': must be at least 8M \
                 (the sandbox's init and a test binary need at least 8 MiB)"
            ),
            "{e}"
        );
        assert!(usage_error("--memory-max", "0").contains("at least 8M"));
        assert!(usage_error("--memory-max", "8191K").contains("at least 8M"));
        assert_eq!(sandbox(&["--memory-max", "8M"]).memory_max, Some(8 << 20));
    }

    #[test]
    fn tmpfs_size_is_at_least_1m() {
        assert!(usage_error("--tmpfs-size", "1023K").contains("must be at least 1M"));
        assert_eq!(sandbox(&["--tmpfs-size", "1M"]).tmpfs_size, Some(1 << 20));
    }

    #[test]
    fn pids_max_is_at_least_3() {
        for v in ["0", "1", "2"] {
            let e = usage_error("--pids-max", v);
            assert!(
                e.contains(&format!(
                    "invalid value '{v}' for '--pids-max <N|unlimited>': must be at least 3 \
                     (the init, the test and libtest's test thread)"
                )),
                "{e}"
            );
        }
        assert!(usage_error("--pids-max", "4194305").contains("at most 4194304"));
        assert!(usage_error("--pids-max", "18446744073709551616").contains("at most 4194304"));
        assert!(usage_error("--pids-max", "-1").contains("expected a whole number"));
        assert!(usage_error("--pids-max", "2.5").contains("expected a whole number"));
        assert_eq!(
            sandbox(&["--pids-max", "3"]).pids_max,
            Some(PidsMax::Limit(3))
        );
        assert_eq!(
            sandbox(&["--pids-max", "4194304"]).pids_max,
            Some(PidsMax::Limit(4194304))
        );
        assert_eq!(
            sandbox(&["--pids-max", "unlimited"]).pids_max,
            Some(PidsMax::Unlimited)
        );
    }

    #[test]
    fn cpus_are_between_a_hundredth_and_4096() {
        for v in ["1e300", "4096.5", "inf"] {
            assert!(
                usage_error("--cpus", v).contains("must be at most 4096"),
                "{v}"
            );
        }
        for v in ["0", "0.009", "-1", "-inf"] {
            assert!(
                usage_error("--cpus", v).contains("must be at least 0.01"),
                "{v}"
            );
        }
        assert!(usage_error("--cpus", "NaN").contains("expected a number of CPUs"));
        assert!(usage_error("--cpus", "two").contains("expected a number of CPUs"));
        assert_eq!(sandbox(&["--cpus", "0.01"]).cpus, Some(0.01));
        assert_eq!(sandbox(&["--cpus", "4096"]).cpus, Some(4096.0));
    }

    #[test]
    fn hostnames_are_1_to_64_safe_bytes() {
        let long = "a".repeat(65);
        assert!(
            usage_error("--hostname", &long).contains("must be at most 64 bytes"),
            "65 bytes"
        );
        assert!(usage_error("--hostname", "").contains("must not be empty"));
        for v in ["a/b", "a b", "a\tb", "a_b", "é", "a\u{1b}b"] {
            assert!(
                usage_error("--hostname", v).contains("is not allowed"),
                "{v:?}"
            );
        }
        assert_eq!(
            parse_hostname("a\0b"),
            Err("'\\0' is not allowed: use letters, digits, '.' and '-', e.g. isolate".into())
        );
        assert_eq!(sandbox(&[]).hostname, "isolate");
        let ok = format!("{}.x-1", "a".repeat(60));
        assert_eq!(ok.len(), 64);
        assert_eq!(sandbox(&["--hostname", &ok]).hostname, ok);
    }

    #[test]
    fn jobs_are_at_least_1() {
        let e = parse(&["test", "-j", "0"]).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::ValueValidation);
        assert!(
            e.to_string()
                .contains("invalid value '0' for '--jobs <N>': must be at least 1"),
            "{e}"
        );
        assert!(parse(&["test", "--jobs=-1"]).is_err());
        assert!(parse(&["test", "-j", "99999999999999999999999"]).is_err());
        assert_eq!(test_args(&["-j", "1"]).jobs, Some(1));
        assert_eq!(test_args(&[]).jobs, None);
    }

    #[test]
    fn color_is_auto_always_or_never() {
        for v in ["auto", "always", "never"] {
            assert_eq!(test_args(&["--color", v]).color.as_deref(), Some(v));
        }
        assert_eq!(test_args(&[]).color, None);
        let e = parse(&["test", "--color", "sometimes"]).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::InvalidValue);
    }

    #[test]
    fn env_settings() {
        let s = sandbox(&[
            "--env", "A=1", "--env", "B", "--env", "C=", "--env", "D=x=y",
        ]);
        let env: Vec<(&str, Option<&str>)> = s
            .env
            .iter()
            .map(|e| (e.key.as_str(), e.value.as_deref()))
            .collect();
        assert_eq!(
            env,
            [
                ("A", Some("1")),
                ("B", None),
                ("C", Some("")),
                ("D", Some("x=y"))
            ]
        );
        assert!(!s.env_clear);
        assert!(sandbox(&["--env-clear"]).env_clear);
        assert!(usage_error("--env", "").contains("the variable name is empty"));
        assert!(usage_error("--env", "=x").contains("the variable name is empty"));
        assert!(parse_env("A\0B=1").unwrap_err().contains("NUL"));
        assert!(parse_env("A=1\0").unwrap_err().contains("NUL"));
    }

    #[test]
    fn scratch_and_sys() {
        let s = sandbox(&[]);
        assert_eq!(s.scratch, Scratch::Memory);
        assert!(!s.no_sys);
        let s = sandbox(&["--scratch", "disk", "--no-sys"]);
        assert_eq!(s.scratch, Scratch::Disk);
        assert!(s.no_sys);
        assert!(parse(&["run", "--scratch", "tape", "--", "true"]).is_err());
    }

    #[test]
    fn no_value_parser_panics() {
        let weird = [
            "",
            " ",
            "-",
            ".",
            "..",
            "-1",
            "-0",
            "+1",
            "0",
            "1",
            "1e308",
            "-1e308",
            "1e-308",
            "NaN",
            "nan",
            "inf",
            "-inf",
            "infinity",
            "18446744073709551615",
            "18446744073709551616",
            "340282366920938463463374607431768211456",
            "9999999999999999999999y",
            "9999999999999999999999.9999999999999999999999y",
            "18446744073709551615s 1000000000ns",
            "18446744073709551615s 999999999ns 1ns",
            "1.99999999999999999999999999999ns",
            "0.0000000000000000000000001y",
            "1 2 3",
            "5 s 3",
            "1h-1m",
            "µs",
            "1µs",
            "1.5.5",
            "1e",
            "e",
            "1E3",
            "0x10",
            "1_000",
            "٣",
            "１",
            "\u{0}",
            "\u{1b}[2J",
            "16777216T",
            "99999999999999999999999T",
            "1.8446744073709552e19",
            "18446744073709551615.0",
            "5 GiB",
            "5gib",
            "5 K",
        ];
        for w in weird {
            let _ = parse_size(w);
            let _ = parse_memory_max(w);
            let _ = parse_tmpfs_size(w);
            let _ = parse_pids_max(w);
            let _ = parse_jobs(w);
            let _ = parse_cpus(w);
            let _ = parse_duration(w);
            let _ = parse_hostname(w);
            let _ = parse_env(w);
            for flag in [
                "--timeout",
                "--memory-max",
                "--tmpfs-size",
                "--pids-max",
                "--cpus",
                "--hostname",
                "--env",
            ] {
                let _ = parse(&["run", &format!("{flag}={w}"), "--", "true"]);
            }
            let _ = parse(&["test", &format!("--jobs={w}")]);
            let _ = parse(&["test", &format!("--output-limit={w}")]);
        }
        // Every number of seconds around the limits.
        for exp in -400..=400 {
            let _ = parse_duration(&format!("1e{exp}"));
            let _ = parse_cpus(&format!("1e{exp}"));
        }
        for digits in 1..=45 {
            let n = "9".repeat(digits);
            for unit in ["", "ns", "s", "y", ".9y", "K", "T"] {
                let _ = parse_duration(&format!("{n}{unit}"));
                let _ = parse_size(&format!("{n}{unit}"));
                let _ = parse_pids_max(&format!("{n}{unit}"));
                let _ = parse_jobs(&format!("{n}{unit}"));
            }
        }
    }

    #[test]
    fn cargo_flags_pass_through() {
        let cli = Cli::try_parse_from([
            "cargo-isolate",
            "test",
            "-p",
            "foo",
            "--test",
            "api",
            "--release",
            "conn",
            "--",
            "--exact",
        ])
        .unwrap();
        let Command::Test(t) = cli.command else {
            panic!()
        };
        assert_eq!(t.filters, vec!["conn"]);
        assert_eq!(t.test_args, vec!["--exact"]);
        assert_eq!(
            t.cargo.to_cargo_args(),
            vec!["--release", "--package", "foo", "--test", "api"]
        );
    }
}
