//! The command line: `cargo isolate test|run`, and the hidden `__init`.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "cargo-isolate",
    bin_name = "cargo isolate",
    term_width = 100,
    version,
    about = "Run every test in a fresh Linux sandbox and report how it ended, its peak memory, CPU and time",
    after_help = "Exit codes: 0 all passed, 100 a test did not pass, 101 build failed, 96 setup error, 4 no tests ran, 2 usage error."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build the workspace's tests and run each one in its own sandbox.
    Test(Box<TestArgs>),
    /// Run any program in the same sandbox and print what it used.
    Run(RunArgs),
    #[command(name = "__init", hide = true)]
    Init { spec: String },
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// Run only tests whose name contains this string.
    #[arg(value_name = "TESTNAME")]
    pub filter: Option<String>,

    #[command(flatten)]
    pub cargo: CargoArgs,

    /// Match TESTNAME exactly, as libtest's --exact.
    #[arg(long, help_heading = "Test selection")]
    pub exact: bool,
    /// Skip tests whose name contains PATTERN (repeatable).
    #[arg(long, value_name = "PATTERN", help_heading = "Test selection")]
    pub skip: Vec<String>,
    /// Which ignored tests to run.
    #[arg(long, value_enum, default_value_t = RunIgnored::Default, help_heading = "Test selection")]
    pub run_ignored: RunIgnored,

    #[command(flatten)]
    pub sandbox: SandboxArgs,

    /// Give each worker one network namespace that the tests it runs reuse in
    /// turn, instead of a fresh one per test: faster (making and destroying a
    /// network namespace is serialised in the kernel), but a test may find
    /// what an earlier one left in the network stack (sockets in TIME_WAIT,
    /// sysctls). Root only.
    #[arg(long, help_heading = "Sandbox")]
    pub reuse_netns: bool,

    /// Print the tests that would run (one id a line) and exit; nothing is
    /// sandboxed.
    #[arg(long, help_heading = "Running")]
    pub list: bool,

    /// Sandboxes at once [default: number of CPUs].
    #[arg(short = 'j', long, value_name = "N", help_heading = "Running")]
    pub jobs: Option<usize>,
    /// Run each selected test N times, each in a fresh sandbox: with
    /// --fail-fast, until the first failure. For reproducing flaky tests.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..), help_heading = "Running")]
    pub repeat: u32,
    /// Stop at the first test that does not pass.
    #[arg(long, help_heading = "Running")]
    pub fail_fast: bool,
    /// Keep at most this much of each test's stdout and stderr (the tail).
    #[arg(long, value_name = "SIZE", default_value = "1M", value_parser = parse_size, help_heading = "Running")]
    pub output_limit: u64,

    /// Where to write the JSON report [default: <target-dir>/isolate/report.json].
    #[arg(long, value_name = "PATH", help_heading = "Reports")]
    pub report: Option<PathBuf>,
    /// Also write JUnit XML here.
    #[arg(long, value_name = "PATH", help_heading = "Reports")]
    pub junit: Option<PathBuf>,
    /// Coloring: auto, always, never [env: CARGO_TERM_COLOR, NO_COLOR].
    #[arg(long, value_name = "WHEN", help_heading = "Reports")]
    pub color: Option<String>,

    /// Arguments after `--`: libtest filters and flags (--exact, --skip,
    /// --ignored, --include-ignored) are understood; others reach each test binary.
    #[arg(last = true, value_name = "TEST-BINARY-ARGS")]
    pub test_args: Vec<String>,
}

/// Cargo's selection and build flags, passed to `cargo test --no-run`.
#[derive(Debug, Args, Default)]
#[command(next_help_heading = "Cargo options")]
pub struct CargoArgs {
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
    pub features: Vec<String>,
    /// Activate all features.
    #[arg(long)]
    pub all_features: bool,
    /// Do not activate the default feature.
    #[arg(long)]
    pub no_default_features: bool,
    /// Build in release mode.
    #[arg(short = 'r', long)]
    pub release: bool,
    /// Build with the given profile.
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
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
            ("--profile", &self.profile.iter().cloned().collect()),
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

#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Sandbox")]
pub struct SandboxArgs {
    /// One sandbox per test, per test binary, or none (limits still apply).
    #[arg(long, value_enum, default_value_t = Isolation::PerTest)]
    pub isolation: Isolation,
    /// Memory limit of each sandbox (cgroup), e.g. 256M, 1G. Files written
    /// to the sandbox's tmpfs count as memory.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub memory_max: Option<u64>,
    /// Limit on processes and threads in each sandbox.
    #[arg(long, value_name = "N")]
    pub pids_max: Option<u64>,
    /// CPU bandwidth of each sandbox, in CPUs (e.g. 0.5, 2).
    #[arg(long, value_name = "CPUS", value_parser = parse_cpus)]
    pub cpus: Option<f64>,
    /// Kill a sandbox (every process in it) after this long, e.g. 30s, 2m.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// Hostname inside the sandbox.
    #[arg(long, value_name = "NAME", default_value = "isolate")]
    pub hostname: String,
    /// Mount the package and target dirs read-only instead of through a
    /// private writable overlay.
    #[arg(long)]
    pub read_only_source: bool,
    /// Also show this host path read-only at the same path (repeatable), e.g.
    /// /sys or a data directory outside the package.
    #[arg(long = "ro-bind", value_name = "PATH")]
    pub ro_bind: Vec<PathBuf>,
    /// Size of the sandbox's tmpfs (/, /tmp, HOME, overlay writes)
    /// [default: half of --memory-max, else 1G].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub tmpfs_size: Option<u64>,
    /// Run even when a requested limit cannot be enforced here (no writable
    /// cgroup): the limit is then ignored and the report says so.
    #[arg(long)]
    pub allow_unenforced_limits: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub sandbox: SandboxArgs,
    /// The program and its arguments.
    #[arg(last = true, required = true, value_name = "PROGRAM")]
    pub command: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RunIgnored {
    /// Skip ignored tests (they are reported as ignored).
    Default,
    /// Run only the ignored tests.
    Only,
    /// Run ignored and not ignored tests.
    All,
}

/// "256M", "1G", "512k", "1048576" (bytes; K/M/G/T are powers of 1024).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| {
        format!("invalid size {s:?}: expected a number with an optional K, M, G or T")
    })?;
    let mult: u64 = match unit
        .trim()
        .to_ascii_uppercase()
        .trim_end_matches("IB")
        .trim_end_matches('B')
    {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        "T" => 1 << 40,
        _ => {
            return Err(format!(
                "invalid size {s:?}: unknown unit {unit:?} (use K, M, G or T)"
            ));
        }
    };
    let bytes = n * mult as f64;
    if !(1.0..=(u64::MAX as f64)).contains(&bytes) {
        return Err(format!("invalid size {s:?}: must be at least 1 byte"));
    }
    Ok(bytes as u64)
}

pub fn parse_cpus(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(c) if c >= 0.01 && c.is_finite() => Ok(c),
        _ => Err(format!(
            "invalid CPU count {s:?}: expected a number such as 0.5 or 2"
        )),
    }
}

/// "30s", "2m", "1500ms", or plain seconds ("30").
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    if let Ok(secs) = s.parse::<f64>()
        && secs > 0.0
        && secs.is_finite()
    {
        return Ok(Duration::from_secs_f64(secs));
    }
    match humantime::parse_duration(s) {
        Ok(d) if !d.is_zero() => Ok(d),
        _ => Err(format!(
            "invalid duration {s:?}: expected e.g. 30s, 2m or 1500ms"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("256M"), Ok(256 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("1.5k"), Ok(1536));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("100"), Ok(100));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("5X").is_err());
        assert!(parse_size("0").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("1500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("0s").is_err());
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
        assert_eq!(t.filter.as_deref(), Some("conn"));
        assert_eq!(t.test_args, vec!["--exact"]);
        assert_eq!(
            t.cargo.to_cargo_args(),
            vec!["--release", "--package", "foo", "--test", "api"]
        );
    }
}
