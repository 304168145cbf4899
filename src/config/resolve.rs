//! From the file as written to plain settings: every value is checked by
//! the parser of its command-line flag, and a failure becomes a
//! [`ConfigError`] at the value's place. Filters are parsed here, their
//! errors placed inside the string as the user wrote it (escapes
//! included); `ro-bind` paths are resolved against the base directory and
//! must exist.

use super::diagnostic::{ConfigError, quoted};
use super::file::{FileToml, OverrideToml, PortsToml, ProfileToml, TestToml, Text};
use super::settings::{NetSettings, Override, RegressionKeys, RunSettings, TestSettings};
use super::strings::raw_span;
use super::{Config, DEFAULT_PROFILE};
use crate::budget::parse_percent;
use crate::cli::{self, EnvSetting};
use crate::filterset::Filterset;
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// What relative paths in the file are relative to, and how to say so.
#[derive(Debug, Clone)]
pub struct Base {
    pub dir: PathBuf,
    /// "the workspace", "the directory of the file".
    pub what: &'static str,
}

/// The file being resolved: where errors point.
struct Ctx<'a> {
    path: &'a Path,
    text: &'a str,
    base: &'a Base,
}

impl Ctx<'_> {
    fn at(&self, span: Range<usize>, message: impl AsRef<str>) -> ConfigError {
        ConfigError::at(self.path, self.text, span, message)
    }

    fn whole(&self, message: impl AsRef<str>) -> ConfigError {
        ConfigError::whole(self.path, message)
    }

    /// A value checked by the command line's own parser, its error placed.
    fn checked<T, V>(
        &self,
        v: &Option<Spanned<V>>,
        key: &str,
        parse: impl Fn(&V) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        match v {
            None => Ok(None),
            Some(s) => parse(s.get_ref())
                .map(Some)
                .map_err(|m| self.at(s.span(), format!("invalid value for '{key}': {m}"))),
        }
    }

    /// A filterset, an error placed on the character it names.
    fn filter(&self, t: &Text, key: &str) -> Result<Filterset, ConfigError> {
        Filterset::parse(t.get_ref()).map_err(|e| {
            let span = raw_span(self.text, t.span(), t.get_ref(), e.span.clone());
            self.at(span, format!("invalid {key}: {}", e.message))
        })
    }

    /// A path, relative to the base directory; not checked on disk.
    fn path(&self, t: &Option<Text>, key: &str) -> Result<Option<PathBuf>, ConfigError> {
        self.checked(t, key, |s| {
            if s.is_empty() {
                return Err("the path is empty".into());
            }
            if s.contains('\0') {
                return Err("the path contains a NUL byte".into());
            }
            Ok(self.base.dir.join(s))
        })
    }

    /// `ro-bind` paths: relative to the base directory, existing, not `/`;
    /// resolved (symbolic links followed) as `--ro-bind` resolves them.
    fn binds(&self, list: &[Text], owner: &str) -> Result<Vec<PathBuf>, ConfigError> {
        list.iter()
            .map(|t| {
                let s = t.get_ref();
                let fail = |why: String| {
                    self.at(
                        t.span(),
                        format!("invalid value in 'ro-bind' of {owner}: {why}"),
                    )
                };
                if s.is_empty() {
                    return Err(fail("the path is empty".into()));
                }
                if s.contains('\0') {
                    return Err(fail("the path contains a NUL byte".into()));
                }
                let joined = self.base.dir.join(s);
                let path = std::fs::canonicalize(&joined).map_err(|e| {
                    let note = if Path::new(s).is_relative() {
                        format!(
                            " (relative paths are relative to {}, {})",
                            self.base.what,
                            self.base.dir.display()
                        )
                    } else {
                        String::new()
                    };
                    fail(format!("{}: {e}{note}", joined.display()))
                })?;
                if path == Path::new("/") {
                    return Err(fail(format!(
                        "{s} is /: the sandbox's root is its own; bind the directories you need"
                    )));
                }
                Ok(path)
            })
            .collect()
    }

    /// `env = { KEY = "value" }`, checked as `--env KEY=VALUE` is.
    fn env(&self, env: &BTreeMap<Text, Text>) -> Result<Vec<(String, String)>, ConfigError> {
        env.iter()
            .map(|(k, v)| {
                let key = k.get_ref();
                if key.contains('=') {
                    return Err(self.at(
                        k.span(),
                        format!(
                            "invalid variable name in 'env': {}: a name cannot contain '='",
                            quoted(key)
                        ),
                    ));
                }
                let s = cli::parse_env(&format!("{key}={}", v.get_ref())).map_err(|m| {
                    let span = if m.contains("value") {
                        v.span()
                    } else {
                        k.span()
                    };
                    self.at(span, format!("invalid value in 'env': {m}"))
                })?;
                Ok((s.key, s.value.unwrap_or_default()))
            })
            .collect()
    }
}

/// Parses and resolves `text` (the file at `path`) for `profile_name`;
/// relative paths are relative to `base`.
pub fn parse(
    text: &str,
    path: &Path,
    profile_name: &str,
    base: &Base,
) -> Result<Config, ConfigError> {
    // Editors do not show a byte-order mark, nor count it as a column.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let ctx = Ctx { path, text, base };
    let file: FileToml = toml::from_str(text).map_err(|e| match e.span() {
        Some(span) => ctx.at(span, e.message()),
        None => ctx.whole(e.message()),
    })?;
    let default = file
        .profile
        .get(DEFAULT_PROFILE)
        .cloned()
        .unwrap_or_default();
    let chosen = match file.profile.get(profile_name) {
        Some(p) => p.clone(),
        None if profile_name == DEFAULT_PROFILE => ProfileToml::default(),
        None => {
            let known: Vec<String> = file.profile.keys().map(|k| quoted(k)).collect();
            return Err(ctx.whole(format!(
                "no profile {} (the file has: {})",
                quoted(profile_name),
                known.join(", ")
            )));
        }
    };
    let base_settings = resolve_profile(&ctx, &default, DEFAULT_PROFILE)?;
    let mine = if profile_name == DEFAULT_PROFILE {
        RunSettings::default()
    } else {
        resolve_profile(&ctx, &chosen, profile_name)?
    };
    // The chosen profile's overrides come first, then default's.
    let mut overrides = Vec::new();
    if profile_name != DEFAULT_PROFILE {
        overrides.extend(resolve_overrides(&ctx, &chosen.overrides, profile_name)?);
    }
    overrides.extend(resolve_overrides(
        &ctx,
        &default.overrides,
        DEFAULT_PROFILE,
    )?);
    Ok(Config {
        source: Some(path.to_path_buf()),
        profile: profile_name.to_string(),
        run: layer(mine, base_settings),
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
        slow_timeout,
        memory_total,
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

/// A whole number of at least `min`, at most `max`.
fn bounded(n: &i64, min: i64, max: u64) -> Result<u64, String> {
    match u64::try_from(*n) {
        Ok(v) if *n >= min && v <= max => Ok(v),
        _ if *n < min => Err(format!("must be at least {min}")),
        _ => Err(format!("must be at most {max}")),
    }
}

fn enum_value<T: clap::ValueEnum>(s: &str) -> Result<T, String> {
    T::from_str(s, false).map_err(|_| {
        let names: Vec<String> = T::value_variants()
            .iter()
            .filter_map(|v| v.to_possible_value().map(|p| p.get_name().to_string()))
            .collect();
        format!("{} is not one of {}", quoted(s), names.join(", "))
    })
}

fn resolve_net(ctx: &Ctx<'_>, n: &super::file::NetToml) -> Result<NetSettings, ConfigError> {
    use crate::netfaults as nf;
    let ports = |v: &Option<Spanned<PortsToml>>, key: &str| match v {
        None => Ok(None),
        Some(s) => nf::parse_ports(&s.get_ref().text())
            .map(Some)
            .map_err(|m| ctx.at(s.span(), format!("invalid value for '{key}': {m}"))),
    };
    Ok(NetSettings {
        loss_ppm: ctx.checked(&n.net_loss, "net-loss", |s| nf::parse_loss(s))?,
        reject_ports: ports(&n.net_reject, "net-reject")?,
        drop_ports: ports(&n.net_drop, "net-drop")?,
        rate_bps: ctx.checked(&n.net_rate, "net-rate", |s| nf::parse_rate(s))?,
        delay_us: ctx.checked(&n.net_delay, "net-delay", |s| nf::parse_delay_us(s))?,
        jitter_us: ctx.checked(&n.net_jitter, "net-jitter", |s| nf::parse_jitter_us(s))?,
    })
}

fn resolve_test(ctx: &Ctx<'_>, t: &TestToml) -> Result<TestSettings, ConfigError> {
    Ok(TestSettings {
        memory_max: ctx.checked(&t.memory_max, "memory-max", |s| cli::parse_memory_max(s))?,
        pids_max: ctx.checked(&t.pids_max, "pids-max", |n| {
            cli::parse_pids_limit(&n.to_string())
        })?,
        cpus: ctx.checked(&t.cpus, "cpus", |c| cli::parse_cpus(&c.to_string()))?,
        timeout: ctx.checked(&t.timeout, "timeout", |s| cli::parse_duration(s))?,
        env: ctx.env(&t.env)?,
        retries: None,
        memory_budget: ctx.checked(&t.memory_budget, "memory-budget", |s| cli::parse_size(s))?,
        time_budget: ctx.checked(&t.time_budget, "time-budget", |s| cli::parse_duration(s))?,
        cpu_budget: ctx.checked(&t.cpu_budget, "cpu-budget", |s| cli::parse_duration(s))?,
        net: resolve_net(ctx, &t.net)?,
        ..TestSettings::default()
    })
}

fn retries(ctx: &Ctx<'_>, v: &Option<Spanned<i64>>) -> Result<Option<u32>, ConfigError> {
    ctx.checked(v, "retries", |n| {
        bounded(n, 0, u32::MAX.into()).map(|n| n as u32)
    })
}

fn resolve_profile(ctx: &Ctx<'_>, p: &ProfileToml, name: &str) -> Result<RunSettings, ConfigError> {
    let mut test = resolve_test(ctx, &p.test())?;
    test.retries = retries(ctx, &p.retries)?;
    // The profile's variables go to every sandbox (as --env does); a
    // test's own are for overrides.
    let env = std::mem::take(&mut test.env);
    let floor_ms = |s: &String| cli::parse_duration(s).map(|d| d.as_secs_f64() * 1000.0);
    Ok(RunSettings {
        jobs: ctx.checked(&p.jobs, "jobs", |n| {
            bounded(n, 1, usize::MAX as u64).map(|n| n as usize)
        })?,
        fail_fast: p.fail_fast.or(p.no_fail_fast.map(|b| !b)),
        max_fail: ctx.checked(&p.max_fail, "max-fail", |n| bounded(n, 1, u64::MAX))?,
        no_capture: p.no_capture,
        stress_count: ctx.checked(&p.stress_count, "stress-count", |n| {
            bounded(n, 1, u32::MAX.into()).map(|n| n as u32)
        })?,
        stress_duration: ctx.checked(&p.stress_duration, "stress-duration", |s| {
            cli::parse_duration(s)
        })?,
        flaky_fails: p.flaky_fails,
        output_limit: ctx.checked(&p.output_limit, "output-limit", |s| cli::parse_size(s))?,
        slow_timeout: ctx.checked(&p.slow_timeout, "slow-timeout", |s| cli::parse_duration(s))?,
        memory_total: ctx.checked(&p.memory_total, "memory-total", |s| {
            cli::parse_memory_total(s)
        })?,
        run_ignored: ctx.checked(&p.run_ignored, "run-ignored", |s| enum_value(s))?,
        report: ctx.path(&p.report, "report")?,
        junit: ctx.path(&p.junit, "junit")?,
        junit_store_success_output: p.junit_store_success_output,
        html: ctx.path(&p.html, "html")?,
        message_format: ctx.checked(&p.message_format, "message-format", |s| enum_value(s))?,
        color: ctx.checked(&p.color, "color", |s| match s.as_str() {
            "auto" | "always" | "never" => Ok(s.clone()),
            _ => Err(format!("{} is not one of auto, always, never", quoted(s))),
        })?,
        default_filter: match &p.default_filter {
            Some(t) => ctx
                .filter(t, "default-filter")
                .map(|_| Some(t.get_ref().clone()))?,
            None => None,
        },
        isolation: ctx.checked(&p.isolation, "isolation", |s| enum_value(s))?,
        read_only_source: p.read_only_source,
        reuse_netns: p.reuse_netns,
        hostname: ctx.checked(&p.hostname, "hostname", |s| cli::parse_hostname(s))?,
        env_clear: p.env_clear,
        no_sys: p.no_sys,
        scratch: ctx.checked(&p.scratch, "scratch", |s| enum_value(s))?,
        tmpfs_size: ctx.checked(&p.tmpfs_size, "tmpfs-size", |s| cli::parse_tmpfs_size(s))?,
        scratch_size: ctx.checked(&p.scratch_size, "scratch-size", |s| {
            cli::parse_scratch_size(s)
        })?,
        tmpfs_inodes: ctx.checked(&p.tmpfs_inodes, "tmpfs-inodes", |n| {
            cli::parse_tmpfs_inodes(&n.to_string())
        })?,
        allow_unenforced_limits: p.allow_unenforced_limits,
        seccomp: ctx.checked(&p.seccomp, "seccomp", |s| {
            if s.contains('\0') {
                return Err("the path contains a NUL byte".into());
            }
            Ok(match cli::parse_seccomp(s)? {
                cli::Seccomp::Profile(p) => cli::Seccomp::Profile(ctx.base.dir.join(p)),
                other => other,
            })
        })?,
        ro_bind: ctx.binds(&p.ro_bind, &format!("profile.{name}"))?,
        hosts: p
            .hosts
            .iter()
            .map(|(name, addr)| {
                if name.get_ref().contains('=') {
                    return Err(ctx.at(
                        name.span(),
                        "invalid value in 'hosts': '=' is not allowed in a host name",
                    ));
                }
                cli::parse_host_entry(&format!("{}={}", name.get_ref(), addr.get_ref()))
                    .map_err(|m| ctx.at(addr.span(), format!("invalid value in 'hosts': {m}")))
            })
            .collect::<Result<_, _>>()?,
        env: env
            .into_iter()
            .map(|(key, value)| EnvSetting {
                key,
                value: Some(value),
            })
            .collect(),
        budgets: ctx.checked(&p.budgets, "budgets", |s| enum_value(s))?,
        baseline: ctx.path(&p.baseline, "baseline")?,
        regression: RegressionKeys {
            memory: (
                ctx.checked(&p.max_memory_regression, "max-memory-regression", |s| {
                    parse_percent(s)
                })?,
                ctx.checked(&p.memory_regression_floor, "memory-regression-floor", |s| {
                    cli::parse_size(s).map(|b| b as f64)
                })?,
            ),
            time: (
                ctx.checked(&p.max_time_regression, "max-time-regression", |s| {
                    parse_percent(s)
                })?,
                ctx.checked(&p.time_regression_floor, "time-regression-floor", floor_ms)?,
            ),
            cpu: (
                ctx.checked(&p.max_cpu_regression, "max-cpu-regression", |s| {
                    parse_percent(s)
                })?,
                ctx.checked(&p.cpu_regression_floor, "cpu-regression-floor", floor_ms)?,
            ),
        },
        test,
    })
}

fn resolve_overrides(
    ctx: &Ctx<'_>,
    list: &[OverrideToml],
    profile: &str,
) -> Result<Vec<Override>, ConfigError> {
    list.iter()
        .enumerate()
        .map(|(i, o)| {
            let filter = ctx.filter(&o.filter, "filter")?;
            let mut settings = resolve_test(ctx, &o.test())?;
            settings.retries = retries(ctx, &o.retries)?;
            settings.isolation = ctx.checked(&o.isolation, "isolation", |s| {
                match enum_value::<cli::Isolation>(s)? {
                    cli::Isolation::PerBinary => Err(
                        "per-binary cannot be set for some tests: a binary runs as one unit or not; set it for the profile"
                            .to_string(),
                    ),
                    i => Ok(i),
                }
            })?;
            settings.read_only_source = o.read_only_source;
            let owner = format!(
                "override {} of profile.{profile} (filter = {})",
                i + 1,
                quoted(o.filter.get_ref())
            );
            settings.ro_bind = ctx.binds(&o.ro_bind, &owner)?;
            Ok(Override { filter, settings })
        })
        .collect()
}
