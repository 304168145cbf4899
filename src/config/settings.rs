//! What the configuration resolves to, as plain data: the run-wide
//! settings of a profile ([`RunSettings`]), a test's own settings
//! ([`TestSettings`]), per-test [`Override`]s, and how layers of them
//! combine (`or`: the first that sets a value wins).

use crate::budget::{Threshold, Thresholds};
use crate::cli::{self, EnvSetting};
use crate::filterset::Filterset;
use crate::sandbox::netfault::NetFaults;
use std::path::PathBuf;
use std::time::Duration;

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

    pub(super) fn or(self, o: &NetSettings) -> NetSettings {
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
    pub(super) fn or(mut self, other: &TestSettings) -> TestSettings {
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
    pub slow_timeout: Option<Duration>,
    pub memory_total: Option<cli::PidsMax>,
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
    pub(super) fn or(self, base: RegressionKeys) -> RegressionKeys {
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
