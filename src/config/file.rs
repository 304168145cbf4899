//! The file as written: serde types for `.config/isolate.toml`, every key
//! optional, unknown keys refused. Values keep their place in the file
//! (`Spanned`) so that an error can point at them; nothing here checks a
//! value, `resolve` does.

use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

/// A string as written, with its place (the span includes the quotes).
pub type Text = Spanned<String>;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileToml {
    #[serde(default)]
    pub profile: BTreeMap<String, ProfileToml>,
}

/// The `net-*` keys of a profile or an override. (They are repeated in
/// both rather than flattened: serde's flatten loses toml's spans, which
/// error messages point with, and `deny_unknown_fields`.)
macro_rules! net_toml {
    ($t:expr) => {
        $crate::config::file::NetToml {
            net_loss: $t.net_loss.clone(),
            net_reject: $t.net_reject.clone(),
            net_drop: $t.net_drop.clone(),
            net_rate: $t.net_rate.clone(),
            net_delay: $t.net_delay.clone(),
            net_jitter: $t.net_jitter.clone(),
        }
    };
}

/// One profile as written: every key optional.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ProfileToml {
    pub jobs: Option<Spanned<i64>>,
    pub fail_fast: Option<bool>,
    pub no_fail_fast: Option<bool>,
    pub max_fail: Option<Spanned<i64>>,
    pub no_capture: Option<bool>,
    #[serde(alias = "repeat")]
    pub stress_count: Option<Spanned<i64>>,
    pub stress_duration: Option<Text>,
    pub flaky_fails: Option<bool>,
    pub retries: Option<Spanned<i64>>,
    pub output_limit: Option<Text>,
    pub slow_timeout: Option<Text>,
    pub memory_total: Option<Text>,
    pub run_ignored: Option<Text>,
    pub report: Option<Text>,
    pub junit: Option<Text>,
    pub junit_store_success_output: Option<bool>,
    pub html: Option<Text>,
    pub message_format: Option<Text>,
    pub color: Option<Text>,
    /// The -E used when the command line gives none (nextest's key).
    pub default_filter: Option<Text>,
    pub isolation: Option<Text>,
    pub read_only_source: Option<bool>,
    pub reuse_netns: Option<bool>,
    pub hostname: Option<Text>,
    pub env_clear: Option<bool>,
    pub no_sys: Option<bool>,
    pub scratch: Option<Text>,
    pub tmpfs_size: Option<Text>,
    pub tmpfs_inodes: Option<Spanned<i64>>,
    pub scratch_size: Option<Text>,
    pub allow_unenforced_limits: Option<bool>,
    pub seccomp: Option<Text>,
    // A test's own settings, also allowed in an override.
    pub memory_max: Option<Text>,
    pub pids_max: Option<Spanned<i64>>,
    pub cpus: Option<Spanned<f64>>,
    pub timeout: Option<Text>,
    #[serde(default)]
    pub env: BTreeMap<Text, Text>,
    #[serde(default)]
    pub ro_bind: Vec<Text>,
    pub memory_budget: Option<Text>,
    pub time_budget: Option<Text>,
    pub cpu_budget: Option<Text>,
    pub net_loss: Option<Text>,
    pub net_reject: Option<Spanned<PortsToml>>,
    pub net_drop: Option<Spanned<PortsToml>>,
    pub net_rate: Option<Text>,
    pub net_delay: Option<Text>,
    pub net_jitter: Option<Text>,
    /// `--hosts`: name = address.
    #[serde(default)]
    pub hosts: BTreeMap<Text, Text>,
    // Budgets and the baseline.
    pub budgets: Option<Text>,
    pub baseline: Option<Text>,
    pub max_memory_regression: Option<Text>,
    pub max_time_regression: Option<Text>,
    pub max_cpu_regression: Option<Text>,
    pub memory_regression_floor: Option<Text>,
    pub time_regression_floor: Option<Text>,
    pub cpu_regression_floor: Option<Text>,
    #[serde(default)]
    pub overrides: Vec<OverrideToml>,
}

impl ProfileToml {
    pub fn test(&self) -> TestToml {
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
pub struct NetToml {
    pub net_loss: Option<Text>,
    pub net_reject: Option<Spanned<PortsToml>>,
    pub net_drop: Option<Spanned<PortsToml>>,
    pub net_rate: Option<Text>,
    pub net_delay: Option<Text>,
    pub net_jitter: Option<Text>,
}

/// Ports as `[5432, 6379]`, `5432` or `"5432,6379"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum PortsToml {
    List(Vec<i64>),
    One(i64),
    Text(String),
}

impl PortsToml {
    pub fn text(&self) -> String {
        match self {
            PortsToml::List(l) => l.iter().map(i64::to_string).collect::<Vec<_>>().join(","),
            PortsToml::One(n) => n.to_string(),
            PortsToml::Text(t) => t.clone(),
        }
    }
}

/// What a profile and an override may both set: a test's own settings.
#[derive(Debug, Default, Clone)]
pub struct TestToml {
    pub memory_max: Option<Text>,
    pub pids_max: Option<Spanned<i64>>,
    pub cpus: Option<Spanned<f64>>,
    pub timeout: Option<Text>,
    pub env: BTreeMap<Text, Text>,
    pub memory_budget: Option<Text>,
    pub time_budget: Option<Text>,
    pub cpu_budget: Option<Text>,
    pub net: NetToml,
}

/// One `[[profile.<name>.overrides]]` entry as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct OverrideToml {
    pub filter: Text,
    pub memory_max: Option<Text>,
    pub pids_max: Option<Spanned<i64>>,
    pub cpus: Option<Spanned<f64>>,
    pub timeout: Option<Text>,
    #[serde(default)]
    pub env: BTreeMap<Text, Text>,
    pub retries: Option<Spanned<i64>>,
    pub memory_budget: Option<Text>,
    pub time_budget: Option<Text>,
    pub cpu_budget: Option<Text>,
    pub isolation: Option<Text>,
    pub read_only_source: Option<bool>,
    #[serde(default)]
    pub ro_bind: Vec<Text>,
    pub net_loss: Option<Text>,
    pub net_reject: Option<Spanned<PortsToml>>,
    pub net_drop: Option<Spanned<PortsToml>>,
    pub net_rate: Option<Text>,
    pub net_delay: Option<Text>,
    pub net_jitter: Option<Text>,
}

impl OverrideToml {
    pub fn test(&self) -> TestToml {
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
