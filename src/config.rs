//! Configuration: `.config/isolate.toml` in the workspace (or
//! `--config-file`), its profiles layered on `[profile.default]`, and
//! per-test overrides matched by filtersets, first match wins. Resolved
//! once, before the build, into plain data: [`Config::settings_for`] says
//! what settings one test gets; nothing below the plan knows a file exists.
//!
//! Every flag of `cargo isolate test` is a key of a profile, spelled as the
//! flag without its dashes; the command line wins over the file. Errors
//! name the file, line and column, and show the line.

use crate::budget::{Threshold, Thresholds, parse_percent};
use crate::cli::{self, EnvSetting};
use crate::filterset::{Filterset, TestInfo};
use crate::sandbox::netfault::NetFaults;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

/// Where the file is looked for, relative to the workspace root.
pub const DEFAULT_PATH: &str = ".config/isolate.toml";
/// The profile used when none is named.
pub const DEFAULT_PROFILE: &str = "default";

/// A problem with the configuration, pointing into the file.
#[derive(Debug)]
pub struct ConfigError {
    pub path: PathBuf,
    /// 1-based line and column, when the problem has a place.
    pub at: Option<(usize, usize)>,
    pub message: String,
    /// The offending line and a caret line under it.
    pub snippet: Option<String>,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.at {
            Some((line, col)) => {
                write!(f, "{}:{line}:{col}: {}", self.path.display(), self.message)?
            }
            None => write!(f, "{}: {}", self.path.display(), self.message)?,
        }
        if let Some(s) = &self.snippet {
            write!(f, "\n{s}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// The `net-*` keys of a profile or an override. (They are repeated in
/// both rather than flattened: serde's flatten loses toml's spans, which
/// error messages point with, and `deny_unknown_fields`.)
macro_rules! net_toml {
    ($t:expr) => {
        NetToml {
            net_loss: $t.net_loss.clone(),
            net_reject: $t.net_reject.clone(),
            net_drop: $t.net_drop.clone(),
            net_rate: $t.net_rate.clone(),
            net_delay: $t.net_delay.clone(),
            net_jitter: $t.net_jitter.clone(),
        }
    };
}

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileToml {
    #[serde(default)]
    profile: BTreeMap<String, ProfileToml>,
}

/// One profile as written: every key optional.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct ProfileToml {
    jobs: Option<Spanned<i64>>,
    fail_fast: Option<bool>,
    no_fail_fast: Option<bool>,
    max_fail: Option<Spanned<i64>>,
    no_capture: Option<bool>,
    #[serde(alias = "repeat")]
    stress_count: Option<Spanned<i64>>,
    stress_duration: Option<Spanned<String>>,
    flaky_fails: Option<bool>,
    retries: Option<Spanned<i64>>,
    output_limit: Option<Spanned<String>>,
    run_ignored: Option<Spanned<String>>,
    report: Option<PathBuf>,
    junit: Option<PathBuf>,
    junit_store_success_output: Option<bool>,
    html: Option<PathBuf>,
    message_format: Option<Spanned<String>>,
    color: Option<Spanned<String>>,
    /// The -E used when the command line gives none (nextest's key).
    default_filter: Option<Spanned<String>>,
    isolation: Option<Spanned<String>>,
    read_only_source: Option<bool>,
    reuse_netns: Option<bool>,
    hostname: Option<Spanned<String>>,
    env_clear: Option<bool>,
    no_sys: Option<bool>,
    scratch: Option<Spanned<String>>,
    tmpfs_size: Option<Spanned<String>>,
    tmpfs_inodes: Option<Spanned<i64>>,
    scratch_size: Option<Spanned<String>>,
    allow_unenforced_limits: Option<bool>,
    seccomp: Option<Spanned<String>>,
    // A test's own settings, also allowed in an override.
    memory_max: Option<Spanned<String>>,
    pids_max: Option<Spanned<i64>>,
    cpus: Option<Spanned<f64>>,
    timeout: Option<Spanned<String>>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    ro_bind: Vec<PathBuf>,
    memory_budget: Option<Spanned<String>>,
    time_budget: Option<Spanned<String>>,
    cpu_budget: Option<Spanned<String>>,
    net_loss: Option<Spanned<String>>,
    net_reject: Option<Spanned<PortsToml>>,
    net_drop: Option<Spanned<PortsToml>>,
    net_rate: Option<Spanned<String>>,
    net_delay: Option<Spanned<String>>,
    net_jitter: Option<Spanned<String>>,
    /// `--hosts`: name = address.
    #[serde(default)]
    hosts: BTreeMap<String, Spanned<String>>,
    // Budgets and the baseline.
    budgets: Option<Spanned<String>>,
    baseline: Option<PathBuf>,
    max_memory_regression: Option<Spanned<String>>,
    max_time_regression: Option<Spanned<String>>,
    max_cpu_regression: Option<Spanned<String>>,
    memory_regression_floor: Option<Spanned<String>>,
    time_regression_floor: Option<Spanned<String>>,
    cpu_regression_floor: Option<Spanned<String>>,
    #[serde(default)]
    overrides: Vec<OverrideToml>,
}

impl ProfileToml {
    fn test(&self) -> TestToml {
        TestToml {
            memory_max: self.memory_max.clone(),
            pids_max: self.pids_max.clone(),
            cpus: self.cpus.clone(),
            timeout: self.timeout.clone(),
            env: self.env.clone(),
            memory_budget: self.memory_budget.clone(),
            time_budget: self.time_budget.clone(),
            cpu_budget: self.cpu_budget.clone(),
            net: net_toml!(self),
        }
    }
}

/// The network fault keys, in a profile or an override.
#[derive(Debug, Default, Clone)]
struct NetToml {
    net_loss: Option<Spanned<String>>,
    net_reject: Option<Spanned<PortsToml>>,
    net_drop: Option<Spanned<PortsToml>>,
    net_rate: Option<Spanned<String>>,
    net_delay: Option<Spanned<String>>,
    net_jitter: Option<Spanned<String>>,
}

/// Ports as `[5432, 6379]`, `5432` or `"5432,6379"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum PortsToml {
    List(Vec<i64>),
    One(i64),
    Text(String),
}

impl PortsToml {
    fn text(&self) -> String {
        match self {
            PortsToml::List(l) => l.iter().map(i64::to_string).collect::<Vec<_>>().join(","),
            PortsToml::One(n) => n.to_string(),
            PortsToml::Text(t) => t.clone(),
        }
    }
}

/// A test's network faults, as far as one layer (command line, override,
/// profile) sets them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NetSettings {
    pub loss_ppm: Option<u32>,
    pub reject_ports: Option<Vec<u16>>,
    pub drop_ports: Option<Vec<u16>>,
    pub rate_bps: Option<u64>,
    pub delay_us: Option<u32>,
    pub jitter_us: Option<u32>,
}

impl NetSettings {
    /// What the command line's `--net-*` flags set.
    pub fn of_args(a: &cli::NetArgs) -> NetSettings {
        let ports = |l: &[cli::PortList]| {
            let mut v: Vec<u16> = l.iter().flat_map(|p| p.0.iter().copied()).collect();
            v.sort_unstable();
            v.dedup();
            (!v.is_empty()).then_some(v)
        };
        NetSettings {
            loss_ppm: a.net_loss,
            reject_ports: ports(&a.net_reject),
            drop_ports: ports(&a.net_drop),
            rate_bps: a.net_rate,
            delay_us: a.net_delay,
            jitter_us: a.net_jitter,
        }
    }

    fn or(self, o: &NetSettings) -> NetSettings {
        NetSettings {
            loss_ppm: self.loss_ppm.or(o.loss_ppm),
            reject_ports: self.reject_ports.or_else(|| o.reject_ports.clone()),
            drop_ports: self.drop_ports.or_else(|| o.drop_ports.clone()),
            rate_bps: self.rate_bps.or(o.rate_bps),
            delay_us: self.delay_us.or(o.delay_us),
            jitter_us: self.jitter_us.or(o.jitter_us),
        }
    }

    /// The faults the sandbox applies.
    pub fn to_faults(&self) -> NetFaults {
        NetFaults {
            loss_ppm: self.loss_ppm.unwrap_or(0),
            reject_ports: self.reject_ports.clone().unwrap_or_default(),
            drop_ports: self.drop_ports.clone().unwrap_or_default(),
            rate_bps: self.rate_bps,
            delay_us: self.delay_us,
            jitter_us: self.jitter_us,
        }
    }
}

fn resolve_net(n: &NetToml, err: &ErrFn<'_>) -> Result<NetSettings, ConfigError> {
    use crate::netfaults as nf;
    let ports = |v: &Option<Spanned<PortsToml>>, key: &str| match v {
        None => Ok(None),
        Some(s) => nf::parse_ports(&s.get_ref().text())
            .map(Some)
            .map_err(|m| err(Some(s.span()), format!("invalid value for '{key}': {m}"))),
    };
    Ok(NetSettings {
        loss_ppm: checked(&n.net_loss, "net-loss", err, |s| nf::parse_loss(s))?,
        reject_ports: ports(&n.net_reject, "net-reject")?,
        drop_ports: ports(&n.net_drop, "net-drop")?,
        rate_bps: checked(&n.net_rate, "net-rate", err, |s| nf::parse_rate(s))?,
        delay_us: checked(&n.net_delay, "net-delay", err, |s| nf::parse_delay_us(s))?,
        jitter_us: checked(&n.net_jitter, "net-jitter", err, |s| nf::parse_jitter_us(s))?,
    })
}

/// What a profile and an override may both set: a test's own settings.
#[derive(Debug, Default, Clone)]
struct TestToml {
    memory_max: Option<Spanned<String>>,
    pids_max: Option<Spanned<i64>>,
    cpus: Option<Spanned<f64>>,
    timeout: Option<Spanned<String>>,
    env: BTreeMap<String, String>,
    memory_budget: Option<Spanned<String>>,
    time_budget: Option<Spanned<String>>,
    cpu_budget: Option<Spanned<String>>,
    net: NetToml,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct OverrideToml {
    filter: Spanned<String>,
    memory_max: Option<Spanned<String>>,
    pids_max: Option<Spanned<i64>>,
    cpus: Option<Spanned<f64>>,
    timeout: Option<Spanned<String>>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    retries: Option<Spanned<i64>>,
    memory_budget: Option<Spanned<String>>,
    time_budget: Option<Spanned<String>>,
    cpu_budget: Option<Spanned<String>>,
    isolation: Option<Spanned<String>>,
    read_only_source: Option<bool>,
    #[serde(default)]
    ro_bind: Vec<PathBuf>,
    net_loss: Option<Spanned<String>>,
    net_reject: Option<Spanned<PortsToml>>,
    net_drop: Option<Spanned<PortsToml>>,
    net_rate: Option<Spanned<String>>,
    net_delay: Option<Spanned<String>>,
    net_jitter: Option<Spanned<String>>,
}

/// One test's settings, as far as the configuration sets them (`None`:
/// the run's own).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TestSettings {
    pub memory_max: Option<u64>,
    pub pids_max: Option<u64>,
    pub cpus: Option<f64>,
    pub timeout: Option<Duration>,
    pub env: Vec<(String, String)>,
    pub retries: Option<u32>,
    pub memory_budget: Option<u64>,
    pub time_budget: Option<Duration>,
    pub cpu_budget: Option<Duration>,
    /// A sandbox other than the run's (from an override): per-test or
    /// none, the source read-only or not, more read-only paths.
    pub isolation: Option<cli::Isolation>,
    pub read_only_source: Option<bool>,
    pub ro_bind: Vec<PathBuf>,
    /// Faults in its own network.
    pub net: NetSettings,
}

impl TestSettings {
    /// `self`, with what `other` sets where `self` sets nothing.
    fn or(mut self, other: &TestSettings) -> TestSettings {
        self.memory_max = self.memory_max.or(other.memory_max);
        self.pids_max = self.pids_max.or(other.pids_max);
        self.cpus = self.cpus.or(other.cpus);
        self.timeout = self.timeout.or(other.timeout);
        self.retries = self.retries.or(other.retries);
        self.memory_budget = self.memory_budget.or(other.memory_budget);
        self.time_budget = self.time_budget.or(other.time_budget);
        self.cpu_budget = self.cpu_budget.or(other.cpu_budget);
        self.isolation = self.isolation.or(other.isolation);
        self.read_only_source = self.read_only_source.or(other.read_only_source);
        self.net = self.net.or(&other.net);
        if self.ro_bind.is_empty() {
            self.ro_bind = other.ro_bind.clone();
        }
        for (k, v) in &other.env {
            if !self.env.iter().any(|(key, _)| key == k) {
                self.env.push((k.clone(), v.clone()));
            }
        }
        self
    }
}

/// A per-test override: the first whose filter matches a test applies.
#[derive(Debug)]
pub struct Override {
    pub filter: Filterset,
    pub settings: TestSettings,
}

/// A profile's run-wide values, as far as the file sets them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunSettings {
    pub jobs: Option<usize>,
    pub fail_fast: Option<bool>,
    pub max_fail: Option<u64>,
    pub no_capture: Option<bool>,
    pub stress_count: Option<u32>,
    pub stress_duration: Option<Duration>,
    pub flaky_fails: Option<bool>,
    pub output_limit: Option<u64>,
    pub run_ignored: Option<cli::RunIgnored>,
    pub report: Option<PathBuf>,
    pub junit: Option<PathBuf>,
    pub junit_store_success_output: Option<bool>,
    pub html: Option<PathBuf>,
    pub message_format: Option<cli::MessageFormat>,
    pub color: Option<String>,
    pub default_filter: Option<String>,
    pub isolation: Option<cli::Isolation>,
    pub read_only_source: Option<bool>,
    pub reuse_netns: Option<bool>,
    pub hostname: Option<String>,
    pub env_clear: Option<bool>,
    pub no_sys: Option<bool>,
    pub scratch: Option<cli::Scratch>,
    pub tmpfs_size: Option<u64>,
    pub tmpfs_inodes: Option<u64>,
    pub scratch_size: Option<u64>,
    pub allow_unenforced_limits: Option<bool>,
    pub seccomp: Option<cli::Seccomp>,
    pub ro_bind: Vec<PathBuf>,
    pub env: Vec<EnvSetting>,
    pub hosts: Vec<cli::HostEntry>,
    pub budgets: Option<cli::BudgetMode>,
    pub baseline: Option<PathBuf>,
    /// Regression thresholds set by the file: (percent, floor) per metric.
    pub regression: RegressionKeys,
    /// Profile-wide limits and budgets: what a test gets when no override
    /// says otherwise.
    pub test: TestSettings,
}

/// `max-<metric>-regression` (percent) and `<metric>-regression-floor`
/// (bytes or milliseconds), each as far as the file sets it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RegressionKeys {
    pub memory: (Option<f64>, Option<f64>),
    pub time: (Option<f64>, Option<f64>),
    pub cpu: (Option<f64>, Option<f64>),
}

impl RegressionKeys {
    fn or(self, base: RegressionKeys) -> RegressionKeys {
        let pick = |a: (Option<f64>, Option<f64>), b: (Option<f64>, Option<f64>)| {
            (a.0.or(b.0), a.1.or(b.1))
        };
        RegressionKeys {
            memory: pick(self.memory, base.memory),
            time: pick(self.time, base.time),
            cpu: pick(self.cpu, base.cpu),
        }
    }

    /// The thresholds: the defaults (memory and CPU compared, wall time
    /// not), then what the file sets. Setting either key of a metric turns
    /// its comparison on.
    pub fn thresholds(&self) -> Thresholds {
        let d = Thresholds::default();
        let one = |keys: (Option<f64>, Option<f64>), default: Option<Threshold>, floor: f64| match (
            keys, default,
        ) {
            ((None, None), d) => d,
            ((p, f), d) => Some(Threshold {
                percent: p.or(d.map(|d| d.percent)).unwrap_or(10.0),
                floor: f.or(d.map(|d| d.floor)).unwrap_or(floor),
            }),
        };
        Thresholds {
            memory: one(self.memory, d.memory, (1 << 20) as f64),
            time: one(self.time, d.time, 50.0),
            cpu: one(self.cpu, d.cpu, 50.0),
        }
    }
}

/// The resolved configuration of one run.
#[derive(Debug, Default)]
pub struct Config {
    /// The file it came from, if any.
    pub source: Option<PathBuf>,
    /// What relative paths in the file are relative to: the workspace.
    pub root: Option<PathBuf>,
    pub profile: String,
    pub run: RunSettings,
    pub overrides: Vec<Override>,
}

impl Config {
    /// Reads `explicit` (`--config-file`), or `<workspace>/.config/isolate.toml`
    /// if it exists, and resolves `profile` (default: `default`).
    pub fn load(
        explicit: Option<&Path>,
        workspace_root: Option<&Path>,
        profile: Option<&str>,
    ) -> Result<Config, ConfigError> {
        let path = match explicit {
            Some(p) => Some(p.to_path_buf()),
            None => workspace_root
                .map(|w| w.join(DEFAULT_PATH))
                .filter(|p| p.is_file()),
        };
        let profile_name = profile.unwrap_or(DEFAULT_PROFILE).to_string();
        let Some(path) = path else {
            if profile_name != DEFAULT_PROFILE {
                return Err(ConfigError {
                    path: PathBuf::from(DEFAULT_PATH),
                    at: None,
                    message: format!(
                        "profile {profile_name:?} asked for, but there is no config file (looked for {DEFAULT_PATH} in the workspace)"
                    ),
                    snippet: None,
                });
            }
            return Ok(Config {
                profile: profile_name,
                ..Config::default()
            });
        };
        let text = std::fs::read_to_string(&path).map_err(|e| ConfigError {
            path: path.clone(),
            at: None,
            message: format!("cannot read it: {e}"),
            snippet: None,
        })?;
        let mut config = parse(&text, &path, &profile_name)?;
        config.source = Some(path);
        config.root = workspace_root.map(Path::to_path_buf);
        Ok(config)
    }

    fn path(&self, p: &Path) -> PathBuf {
        match &self.root {
            Some(root) if p.is_relative() => root.join(p),
            _ => p.to_path_buf(),
        }
    }

    /// The command line's flags, with the profile's value for each flag
    /// the command line did not give.
    pub fn apply(&self, args: &cli::TestArgs, explicit: &cli::Explicit) -> cli::TestArgs {
        let mut a = args.clone();
        let r = &self.run;
        macro_rules! set {
            ($($field:ident).+ = $value:expr) => {{
                let name = [$(stringify!($field)),+];
                if !explicit.has(name[name.len() - 1]) {
                    if let Some(v) = $value {
                        a.$($field).+ = v;
                    }
                }
            }};
        }
        set!(jobs = r.jobs.map(Some));
        if !["fail_fast", "no_fail_fast", "max_fail"]
            .iter()
            .any(|f| explicit.has(f))
        {
            if let Some(ff) = r.fail_fast {
                a.fail_fast = ff;
            }
            if r.max_fail.is_some() {
                a.max_fail = r.max_fail;
            }
        }
        set!(no_capture = r.no_capture);
        // One stress bound: whichever the command line gives wins whole.
        if !explicit.has("stress_count") && !explicit.has("stress_duration") {
            set!(stress_count = r.stress_count.map(Some));
            set!(stress_duration = r.stress_duration.map(Some));
        }
        set!(flaky_fails = r.flaky_fails);
        set!(output_limit = r.output_limit);
        set!(run_ignored = r.run_ignored);
        set!(report = r.report.as_deref().map(|p| Some(self.path(p))));
        set!(junit = r.junit.as_deref().map(|p| Some(self.path(p))));
        set!(junit_store_success_output = r.junit_store_success_output);
        set!(html = r.html.as_deref().map(|p| Some(self.path(p))));
        set!(message_format = r.message_format);
        set!(color = r.color.clone().map(Some));
        if !explicit.has("filtersets")
            && let Some(f) = &r.default_filter
        {
            a.filtersets = vec![f.clone()];
        }
        set!(isolation = r.isolation);
        set!(read_only_source = r.read_only_source);
        set!(reuse_netns = r.reuse_netns);
        set!(budgets = r.budgets.map(Some));
        set!(baseline = r.baseline.as_deref().map(|p| Some(self.path(p))));
        set!(sandbox.hostname = r.hostname.clone());
        set!(sandbox.env_clear = r.env_clear);
        set!(sandbox.no_sys = r.no_sys);
        set!(sandbox.scratch = r.scratch);
        set!(sandbox.tmpfs_size = r.tmpfs_size.map(Some));
        set!(sandbox.tmpfs_inodes = r.tmpfs_inodes.map(Some));
        set!(sandbox.scratch_size = r.scratch_size.map(Some));
        set!(sandbox.allow_unenforced_limits = r.allow_unenforced_limits);
        // A profile's path is relative to the configuration file.
        set!(
            sandbox.seccomp = r.seccomp.clone().map(|c| match c {
                cli::Seccomp::Profile(p) => cli::Seccomp::Profile(self.path(&p)),
                other => other,
            })
        );
        set!(sandbox.memory_max = r.test.memory_max.map(Some));
        set!(sandbox.pids_max = r.test.pids_max.map(|n| Some(cli::PidsMax::Limit(n))));
        set!(sandbox.cpus = r.test.cpus.map(Some));
        set!(sandbox.timeout = r.test.timeout.map(Some));
        // The command line's entries first: a name given in both keeps the
        // command line's address (the sandbox writes each name once).
        if !r.hosts.is_empty() {
            let mut hosts = a.sandbox.hosts.clone();
            hosts.extend(r.hosts.iter().cloned());
            a.sandbox.hosts = hosts;
        }
        if !explicit.has("ro_bind") && !r.ro_bind.is_empty() {
            a.sandbox.ro_bind = r.ro_bind.iter().map(|p| self.path(p)).collect();
        }
        // The file's variables first, so that --env given later wins.
        let mut env = r.env.clone();
        env.extend(a.sandbox.env);
        a.sandbox.env = env;
        a
    }

    /// The settings of one test: what the command line gave explicitly
    /// (`cli`), then the first matching override, then the profile.
    pub fn test_settings(&self, test: &TestInfo<'_>, cli: &TestSettings) -> TestSettings {
        cli.clone().or(&self.settings_for(test))
    }

    /// Every limit some test of this run may get, for the preflight check
    /// that the cgroup can enforce them.
    pub fn any_limits(&self, run: &crate::cgroup::Limits) -> crate::cgroup::Limits {
        let mut l = *run;
        for o in &self.overrides {
            l.memory_max_bytes = l.memory_max_bytes.or(o.settings.memory_max);
            l.pids_max = l.pids_max.or(o.settings.pids_max);
            l.cpus = l.cpus.or(o.settings.cpus);
        }
        l
    }

    /// Whether some override runs its tests without a sandbox.
    pub fn any_override_unsandboxed(&self) -> bool {
        self.overrides
            .iter()
            .any(|o| o.settings.isolation == Some(cli::Isolation::None))
    }

    /// What the configuration sets for one test: the first matching
    /// override, then the profile's own values.
    pub fn settings_for(&self, test: &TestInfo<'_>) -> TestSettings {
        match self.overrides.iter().find(|o| o.filter.matches(test)) {
            Some(o) => o.settings.clone().or(&self.run.test),
            None => self.run.test.clone(),
        }
    }
}

/// What an archive's own `.config/isolate.toml` may set in a profile: which
/// tests run, how often and when the run stops; the tests' limits (their
/// cgroup's, their time, faults in their own network); and budgets. An
/// archive is untrusted input, so this is an allow-list: every other key
/// (the sandbox's shape, host paths the runner reads or writes, the
/// terminal, parallelism, and any key added later) is refused unless the
/// user vouches for the file (`--trust-archive-config`) or gives their own
/// (`--config-file`).
pub const ARCHIVE_PROFILE_KEYS: &[&str] = &[
    // Selection and repetition.
    "default-filter",
    "run-ignored",
    "fail-fast",
    "no-fail-fast",
    "max-fail",
    "retries",
    "flaky-fails",
    "stress-count",
    "repeat",
    "stress-duration",
    // Limits.
    "memory-max",
    "pids-max",
    "cpus",
    "timeout",
    "net-loss",
    "net-reject",
    "net-drop",
    "net-rate",
    "net-delay",
    "net-jitter",
    // Budgets.
    "memory-budget",
    "time-budget",
    "cpu-budget",
    "budgets",
    "max-memory-regression",
    "max-time-regression",
    "max-cpu-regression",
    "memory-regression-floor",
    "time-regression-floor",
    "cpu-regression-floor",
    "overrides",
];

/// What an archive's configuration may set in an override (as above).
pub const ARCHIVE_OVERRIDE_KEYS: &[&str] = &[
    "filter",
    "memory-max",
    "pids-max",
    "cpus",
    "timeout",
    "retries",
    "memory-budget",
    "time-budget",
    "cpu-budget",
    "net-loss",
    "net-reject",
    "net-drop",
    "net-rate",
    "net-delay",
    "net-jitter",
];

/// Refuses the configuration file of an unpacked archive's workspace if
/// it sets anything but [`ARCHIVE_PROFILE_KEYS`] and
/// [`ARCHIVE_OVERRIDE_KEYS`]. No file: nothing to refuse.
pub fn check_archive_config(workspace_root: &Path) -> Result<(), ConfigError> {
    let path = workspace_root.join(DEFAULT_PATH);
    match std::fs::read_to_string(&path) {
        Ok(text) => check_archive_text(&text, &path),
        // Missing, or unreadable (which loading it says).
        Err(_) => Ok(()),
    }
}

fn check_archive_text(text: &str, path: &Path) -> Result<(), ConfigError> {
    use toml::de::{DeTable, DeValue};
    // A syntax or type error is the parser's to point at.
    let Ok(doc) = DeTable::parse(text) else {
        return Ok(());
    };
    let mut refused: Vec<(String, Range<usize>)> = Vec::new();
    for (key, value) in doc.get_ref() {
        let DeValue::Table(profiles) = value.get_ref() else {
            refused.push((key.get_ref().to_string(), key.span()));
            continue;
        };
        if key.get_ref() != "profile" {
            refused.push((key.get_ref().to_string(), key.span()));
            continue;
        }
        for (name, profile) in profiles {
            let DeValue::Table(keys) = profile.get_ref() else {
                continue;
            };
            for (k, v) in keys {
                let k_name: &str = k.get_ref();
                if !ARCHIVE_PROFILE_KEYS.contains(&k_name) {
                    refused.push((format!("profile.{}.{k_name}", name.get_ref()), k.span()));
                    continue;
                }
                let DeValue::Array(list) = v.get_ref() else {
                    continue;
                };
                for o in list {
                    let DeValue::Table(o) = o.get_ref() else {
                        continue;
                    };
                    for (ok, _) in o {
                        let ok_name: &str = ok.get_ref();
                        if !ARCHIVE_OVERRIDE_KEYS.contains(&ok_name) {
                            refused.push((
                                format!("profile.{}.overrides.{ok_name}", name.get_ref()),
                                ok.span(),
                            ));
                        }
                    }
                }
            }
        }
    }
    refused.sort_by_key(|(_, span)| span.start);
    let Some((_, first)) = refused.first().cloned() else {
        return Ok(());
    };
    let keys: Vec<String> = refused
        .iter()
        .map(|(k, span)| format!("{k} (line {})", line_col(text, span.start).0))
        .collect();
    Err(ConfigError {
        path: path.to_path_buf(),
        at: Some(line_col(text, first.start)),
        message: format!(
            "the archive's configuration may not set {}: an archive is untrusted input, so its configuration may only select tests and set limits and budgets; pass --trust-archive-config to use it as it is, or --config-file PATH to use your own",
            keys.join(", ")
        ),
        snippet: Some(snippet(text, first)),
    })
}

/// Parses and resolves `text` (the file at `path`) for `profile_name`.
pub fn parse(text: &str, path: &Path, profile_name: &str) -> Result<Config, ConfigError> {
    let err = |span: Option<Range<usize>>, message: String| ConfigError {
        path: path.to_path_buf(),
        at: span.as_ref().map(|s| line_col(text, s.start)),
        snippet: span.map(|s| snippet(text, s)),
        message,
    };
    let file: FileToml =
        toml::from_str(text).map_err(|e| err(e.span(), e.message().to_string()))?;
    let default = file
        .profile
        .get(DEFAULT_PROFILE)
        .cloned()
        .unwrap_or_default();
    let chosen = match file.profile.get(profile_name) {
        Some(p) => p.clone(),
        None if profile_name == DEFAULT_PROFILE => ProfileToml::default(),
        None => {
            let known: Vec<&str> = file.profile.keys().map(String::as_str).collect();
            return Err(err(
                None,
                format!(
                    "no profile {profile_name:?} (the file has: {})",
                    known.join(", ")
                ),
            ));
        }
    };
    let base = resolve_profile(&default, &err)?;
    let mine = if profile_name == DEFAULT_PROFILE {
        RunSettings::default()
    } else {
        resolve_profile(&chosen, &err)?
    };
    // The chosen profile's overrides come first, then default's.
    let mut overrides = Vec::new();
    if profile_name != DEFAULT_PROFILE {
        overrides.extend(resolve_overrides(&chosen.overrides, &err)?);
    }
    overrides.extend(resolve_overrides(&default.overrides, &err)?);
    Ok(Config {
        source: Some(path.to_path_buf()),
        root: None,
        profile: profile_name.to_string(),
        run: layer(mine, base),
        overrides,
    })
}

/// `top` over `base`: what `top` sets wins.
fn layer(top: RunSettings, base: RunSettings) -> RunSettings {
    macro_rules! or {
        ($($f:ident),*) => { RunSettings { $($f: top.$f.or(base.$f),)* ro_bind: if top.ro_bind.is_empty() { base.ro_bind } else { top.ro_bind }, hosts: if top.hosts.is_empty() { base.hosts } else { top.hosts }, env: { let mut e = base.env; e.extend(top.env); e }, regression: top.regression.or(base.regression), test: top.test.or(&base.test) } };
    }
    or!(
        html,
        message_format,
        color,
        default_filter,
        jobs,
        fail_fast,
        max_fail,
        no_capture,
        stress_count,
        stress_duration,
        flaky_fails,
        output_limit,
        run_ignored,
        report,
        junit,
        junit_store_success_output,
        isolation,
        read_only_source,
        reuse_netns,
        hostname,
        env_clear,
        no_sys,
        scratch,
        tmpfs_size,
        tmpfs_inodes,
        scratch_size,
        allow_unenforced_limits,
        seccomp,
        budgets,
        baseline
    )
}

type ErrFn<'a> = dyn Fn(Option<Range<usize>>, String) -> ConfigError + 'a;

/// A value checked by the command line's own parser, its error placed.
fn checked<T, V>(
    v: &Option<Spanned<V>>,
    key: &str,
    err: &ErrFn<'_>,
    parse: impl Fn(&V) -> Result<T, String>,
) -> Result<Option<T>, ConfigError> {
    match v {
        None => Ok(None),
        Some(s) => parse(s.get_ref())
            .map(Some)
            .map_err(|m| err(Some(s.span()), format!("invalid value for '{key}': {m}"))),
    }
}

fn positive(n: &i64, min: i64) -> Result<u64, String> {
    if *n < min {
        Err(format!("must be at least {min}"))
    } else {
        Ok(*n as u64)
    }
}

fn enum_value<T: clap::ValueEnum>(s: &str) -> Result<T, String> {
    T::from_str(s, false).map_err(|_| {
        let names: Vec<String> = T::value_variants()
            .iter()
            .filter_map(|v| v.to_possible_value().map(|p| p.get_name().to_string()))
            .collect();
        format!("{s:?} is not one of {}", names.join(", "))
    })
}

fn resolve_test(t: &TestToml, err: &ErrFn<'_>) -> Result<TestSettings, ConfigError> {
    Ok(TestSettings {
        memory_max: checked(&t.memory_max, "memory-max", err, |s| {
            cli::parse_memory_max(s)
        })?,
        pids_max: checked(&t.pids_max, "pids-max", err, |n| {
            cli::parse_pids_limit(&n.to_string())
        })?,
        cpus: checked(&t.cpus, "cpus", err, |c| cli::parse_cpus(&c.to_string()))?,
        timeout: checked(&t.timeout, "timeout", err, |s| cli::parse_duration(s))?,
        env: t.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        retries: None,
        memory_budget: checked(&t.memory_budget, "memory-budget", err, |s| {
            cli::parse_size(s)
        })?,
        time_budget: checked(&t.time_budget, "time-budget", err, |s| {
            cli::parse_duration(s)
        })?,
        cpu_budget: checked(&t.cpu_budget, "cpu-budget", err, |s| cli::parse_duration(s))?,
        net: resolve_net(&t.net, err)?,
        ..TestSettings::default()
    })
}

fn resolve_profile(p: &ProfileToml, err: &ErrFn<'_>) -> Result<RunSettings, ConfigError> {
    let mut test = resolve_test(&p.test(), err)?;
    test.retries = checked(&p.retries, "retries", err, |n| {
        positive(n, 0).map(|n| n as u32)
    })?;
    Ok(RunSettings {
        jobs: checked(&p.jobs, "jobs", err, |n| positive(n, 1).map(|n| n as usize))?,
        fail_fast: p.fail_fast.or(p.no_fail_fast.map(|b| !b)),
        max_fail: checked(&p.max_fail, "max-fail", err, |n| positive(n, 1))?,
        no_capture: p.no_capture,
        stress_count: checked(&p.stress_count, "stress-count", err, |n| {
            positive(n, 1).map(|n| n as u32)
        })?,
        stress_duration: checked(&p.stress_duration, "stress-duration", err, |s| {
            cli::parse_duration(s)
        })?,
        flaky_fails: p.flaky_fails,
        output_limit: checked(&p.output_limit, "output-limit", err, |s| cli::parse_size(s))?,
        run_ignored: checked(&p.run_ignored, "run-ignored", err, |s| enum_value(s))?,
        report: p.report.clone(),
        junit: p.junit.clone(),
        junit_store_success_output: p.junit_store_success_output,
        html: p.html.clone(),
        message_format: checked(&p.message_format, "message-format", err, |s| enum_value(s))?,
        color: checked(&p.color, "color", err, |s| match s.as_str() {
            "auto" | "always" | "never" => Ok(s.clone()),
            _ => Err(format!("{s:?} is not one of auto, always, never")),
        })?,
        default_filter: checked(&p.default_filter, "default-filter", err, |s| {
            Filterset::parse(s)
                .map(|_| s.clone())
                .map_err(|e| e.to_string())
        })?,
        isolation: checked(&p.isolation, "isolation", err, |s| enum_value(s))?,
        read_only_source: p.read_only_source,
        reuse_netns: p.reuse_netns,
        hostname: checked(&p.hostname, "hostname", err, |s| cli::parse_hostname(s))?,
        env_clear: p.env_clear,
        no_sys: p.no_sys,
        scratch: checked(&p.scratch, "scratch", err, |s| enum_value(s))?,
        tmpfs_size: checked(&p.tmpfs_size, "tmpfs-size", err, |s| {
            cli::parse_tmpfs_size(s)
        })?,
        scratch_size: checked(&p.scratch_size, "scratch-size", err, |s| {
            cli::parse_scratch_size(s)
        })?,
        tmpfs_inodes: checked(&p.tmpfs_inodes, "tmpfs-inodes", err, |n| {
            cli::parse_tmpfs_inodes(&n.to_string())
        })?,
        allow_unenforced_limits: p.allow_unenforced_limits,
        seccomp: checked(&p.seccomp, "seccomp", err, |s| cli::parse_seccomp(s))?,
        ro_bind: p.ro_bind.clone(),
        hosts: p
            .hosts
            .iter()
            .map(|(name, addr)| {
                cli::parse_host_entry(&format!("{name}={}", addr.get_ref()))
                    .map_err(|m| err(Some(addr.span()), format!("invalid value in 'hosts': {m}")))
            })
            .collect::<Result<_, _>>()?,
        env: p
            .env
            .iter()
            .map(|(k, v)| EnvSetting {
                key: k.clone(),
                value: Some(v.clone()),
            })
            .collect(),
        budgets: checked(&p.budgets, "budgets", err, |s| enum_value(s))?,
        baseline: p.baseline.clone(),
        regression: RegressionKeys {
            memory: (
                checked(
                    &p.max_memory_regression,
                    "max-memory-regression",
                    err,
                    |s| parse_percent(s),
                )?,
                checked(
                    &p.memory_regression_floor,
                    "memory-regression-floor",
                    err,
                    |s| cli::parse_size(s).map(|b| b as f64),
                )?,
            ),
            time: (
                checked(&p.max_time_regression, "max-time-regression", err, |s| {
                    parse_percent(s)
                })?,
                checked(
                    &p.time_regression_floor,
                    "time-regression-floor",
                    err,
                    |s| cli::parse_duration(s).map(|d| d.as_secs_f64() * 1000.0),
                )?,
            ),
            cpu: (
                checked(&p.max_cpu_regression, "max-cpu-regression", err, |s| {
                    parse_percent(s)
                })?,
                checked(&p.cpu_regression_floor, "cpu-regression-floor", err, |s| {
                    cli::parse_duration(s).map(|d| d.as_secs_f64() * 1000.0)
                })?,
            ),
        },
        test: TestSettings {
            env: Vec::new(),
            ..std::mem::take(&mut test)
        },
    })
}

fn resolve_overrides(list: &[OverrideToml], err: &ErrFn<'_>) -> Result<Vec<Override>, ConfigError> {
    list.iter()
        .map(|o| {
            let expr = o.filter.get_ref();
            let filter = Filterset::parse(expr).map_err(|e| {
                // The string's span includes its quotes: skip the opening one.
                let base = o.filter.span().start + 1;
                err(
                    Some(base + e.span.start..base + e.span.end.max(e.span.start + 1)),
                    format!("invalid filter: {e}"),
                )
            })?;
            let mut settings = resolve_test(
                &TestToml {
                    memory_max: o.memory_max.clone(),
                    pids_max: o.pids_max.clone(),
                    cpus: o.cpus.clone(),
                    timeout: o.timeout.clone(),
                    env: o.env.clone(),
                    memory_budget: o.memory_budget.clone(),
                    time_budget: o.time_budget.clone(),
                    cpu_budget: o.cpu_budget.clone(),
                    net: net_toml!(o),
                },
                err,
            )?;
            settings.retries = checked(&o.retries, "retries", err, |n| {
                positive(n, 0).map(|n| n as u32)
            })?;
            settings.isolation = checked(&o.isolation, "isolation", err, |s| {
                match enum_value::<cli::Isolation>(s)? {
                    cli::Isolation::PerBinary => Err(
                        "per-binary cannot be set for some tests: a binary runs as one unit or not; set it for the profile"
                            .to_string(),
                    ),
                    i => Ok(i),
                }
            })?;
            settings.read_only_source = o.read_only_source;
            settings.ro_bind = o.ro_bind.clone();
            Ok(Override { filter, settings })
        })
        .collect()
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, col)
}

/// The line holding `span`, and carets under the span.
fn snippet(text: &str, span: Range<usize>) -> String {
    let start = span.start.min(text.len());
    let line_start = text[..start].rfind('\n').map(|i| i + 1).unwrap_or(0);
    let line_end = text[start..]
        .find('\n')
        .map(|i| start + i)
        .unwrap_or(text.len());
    let line = &text[line_start..line_end];
    let (n, _) = line_col(text, start);
    let pad = text[line_start..start].chars().count();
    let width = text[start..span.end.min(line_end).max(start)]
        .chars()
        .count()
        .max(1);
    let gutter = n.to_string();
    format!(
        "{:w$} |\n{gutter} | {line}\n{:w$} | {}{}",
        "",
        "",
        " ".repeat(pad),
        "^".repeat(width),
        w = gutter.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
[profile.default]
memory-max = "256M"
timeout = "30s"
jobs = 4

[[profile.default.overrides]]
filter = "test(heavy)"
memory-max = "1G"
memory-budget = "512M"

[profile.ci]
timeout = "2m"
fail-fast = true

[[profile.ci.overrides]]
filter = "package(demo) & test(=tests::slow)"
timeout = "5m"
time-budget = "1s"
"#;

    fn info<'a>(name: &'a str) -> TestInfo<'a> {
        TestInfo {
            package: "demo",
            binary: "demo",
            binary_id: "demo",
            kind: "lib",
            name,
        }
    }

    fn load(text: &str, profile: &str) -> Result<Config, ConfigError> {
        parse(text, Path::new(".config/isolate.toml"), profile)
    }

    #[test]
    fn a_profile_inherits_from_default() {
        let c = load(FILE, "ci").unwrap();
        assert_eq!(c.run.jobs, Some(4), "from default");
        assert_eq!(c.run.fail_fast, Some(true), "its own");
        assert_eq!(
            c.run.test.timeout,
            Some(Duration::from_secs(120)),
            "its own wins"
        );
        assert_eq!(c.run.test.memory_max, Some(256 << 20));
        let d = load(FILE, "default").unwrap();
        assert_eq!(d.run.test.timeout, Some(Duration::from_secs(30)));
        assert_eq!(d.run.fail_fast, None);
    }

    #[test]
    fn the_first_matching_override_wins_and_falls_back_to_the_profile() {
        let c = load(FILE, "ci").unwrap();
        let slow = c.settings_for(&info("tests::slow"));
        assert_eq!(slow.timeout, Some(Duration::from_secs(300)));
        assert_eq!(slow.time_budget, Some(Duration::from_secs(1)));
        assert_eq!(
            slow.memory_max,
            Some(256 << 20),
            "the profile's, not the override's"
        );
        let heavy = c.settings_for(&info("tests::heavy_alloc"));
        assert_eq!(heavy.memory_max, Some(1 << 30));
        assert_eq!(heavy.memory_budget, Some(512 << 20));
        assert_eq!(
            heavy.timeout,
            Some(Duration::from_secs(120)),
            "the profile's"
        );
        let plain = c.settings_for(&info("tests::adds"));
        assert_eq!(plain.memory_max, Some(256 << 20));
        assert_eq!(plain.memory_budget, None);
    }

    fn error(text: &str) -> ConfigError {
        load(text, "default").unwrap_err()
    }

    #[test]
    fn errors_point_at_file_line_and_column() {
        let e = error("[profile.default]\nmemory-max = \"1\"\n");
        assert_eq!(e.at, Some((2, 14)), "{e}");
        assert!(e.message.contains("memory-max"), "{e}");
        assert!(
            e.to_string().starts_with(".config/isolate.toml:2:14: "),
            "{e}"
        );
        assert!(e.snippet.unwrap().contains("^^^"));

        let e = error("[profile.default]\nmemroy-max = \"1G\"\n");
        assert_eq!(e.at.map(|a| a.0), Some(2), "{e}");
        assert!(e.message.contains("memroy-max"), "unknown key named: {e}");

        let e = error("[profile.default\n");
        assert_eq!(e.at.map(|a| a.0), Some(1), "syntax: {e}");

        let e = error("[[profile.default.overrides]]\nfilter = \"test(a) & \"\n");
        assert_eq!(e.at.map(|a| a.0), Some(2), "{e}");
        assert!(e.message.contains("invalid filter"), "{e}");

        let e = error("[profile.default]\nisolation = \"sometimes\"\n");
        assert!(
            e.message.contains("per-test"),
            "the choices are listed: {e}"
        );

        let e = error("[profile.default]\njobs = 0\n");
        assert_eq!(e.at, Some((2, 8)), "{e}");

        let e = load(FILE, "nightly").unwrap_err();
        assert!(
            e.message.contains("\"nightly\"") && e.message.contains("ci"),
            "{e}"
        );
    }

    #[test]
    fn regression_thresholds_default_to_memory_and_cpu() {
        let c = load(
            "[profile.default]\nmax-time-regression = \"25%\"\nmemory-regression-floor = \"4M\"\n",
            "default",
        )
        .unwrap();
        let t = c.run.regression.thresholds();
        assert_eq!(t.time.unwrap().percent, 25.0, "set: compared");
        assert_eq!(t.time.unwrap().floor, 50.0, "its default floor");
        assert_eq!(t.memory.unwrap().floor, (4 << 20) as f64);
        assert_eq!(t.cpu, Thresholds::default().cpu);
        assert_eq!(
            Config::default().run.regression.thresholds(),
            Thresholds::default()
        );
    }

    #[test]
    fn output_keys_and_a_default_filter() {
        let c = load(
            "[profile.default]\nhtml = \"r.html\"\nmessage-format = \"json\"\ncolor = \"never\"\ndefault-filter = \"not test(slow)\"\n",
            "default",
        )
        .unwrap();
        assert_eq!(c.run.html, Some(PathBuf::from("r.html")));
        assert_eq!(c.run.message_format, Some(cli::MessageFormat::Json));
        assert_eq!(c.run.color.as_deref(), Some("never"));
        assert_eq!(c.run.default_filter.as_deref(), Some("not test(slow)"));
        let e = error("[profile.default]\ndefault-filter = \"test(\"\n");
        assert_eq!(e.at.map(|a| a.0), Some(2), "{e}");
        let e = error("[profile.default]\ncolor = \"purple\"\n");
        assert!(e.message.contains("auto, always, never"), "{e}");
    }

    #[test]
    fn no_file_is_an_empty_default_profile() {
        let c = Config::load(None, None, None).unwrap();
        assert_eq!(c.run, RunSettings::default());
        assert!(
            Config::load(None, None, Some("ci")).is_err(),
            "a named profile needs a file"
        );
    }

    #[test]
    fn an_archive_config_may_select_and_limit_but_not_shape_the_sandbox() {
        let path = Path::new("ws/.config/isolate.toml");
        let ok = "[profile.default]\ntimeout = \"1m\"\ndefault-filter = \"test(a)\"\nretries = 1\n\n[[profile.default.overrides]]\nfilter = \"test(b)\"\nmemory-max = \"1G\"\nnet-loss = \"1%\"\n";
        check_archive_text(ok, path).unwrap();
        let e = check_archive_text(
            "[profile.default]\ntimeout = \"1m\"\nisolation = \"none\"\nro-bind = [\"/root\"]\n",
            path,
        )
        .unwrap_err();
        assert_eq!(e.at, Some((3, 1)), "{e}");
        assert!(
            e.message.contains("profile.default.isolation (line 3)")
                && e.message.contains("profile.default.ro-bind (line 4)")
                && e.message.contains("--trust-archive-config"),
            "{e}"
        );
        // An allow-list: a key this version does not know is refused too,
        // in profiles, overrides and at the top.
        for (text, key) in [
            ("[profile.ci]\nseccomp = \"off\"\n", "profile.ci.seccomp"),
            (
                "[[profile.default.overrides]]\nfilter = \"all()\"\nenv = { A = \"1\" }\n",
                "profile.default.overrides.env",
            ),
            (
                "[profile.ci.hosts]\n\"db\" = \"127.0.0.1\"\n",
                "profile.ci.hosts",
            ),
            ("[profile.ci]\nreport = \"/etc/x\"\n", "profile.ci.report"),
            ("sandbox = false\n", "sandbox"),
        ] {
            let e = check_archive_text(text, path).unwrap_err();
            assert!(e.message.contains(key), "{text}: {e}");
        }
        // The documented CI example sets a junit path and hosts: an archive
        // carrying it needs the user's word.
        let docs = include_str!("../docs/ci/isolate.toml");
        let e = check_archive_text(docs, path).unwrap_err();
        assert!(e.message.contains("profile.ci.junit"), "{e}");
    }

    /// The example in docs/ci/ is a real configuration.
    #[test]
    fn the_documented_example_parses() {
        let text = include_str!("../docs/ci/isolate.toml");
        let c = parse(text, Path::new("docs/ci/isolate.toml"), "ci").unwrap();
        assert_eq!(c.run.test.retries, Some(1));
        assert_eq!(c.run.hosts.len(), 1);
        let net = &c.overrides.last().unwrap().settings.net;
        assert_eq!(net.loss_ppm, Some(20_000));
        assert_eq!(net.reject_ports, Some(vec![6379]));
    }
}
