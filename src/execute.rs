//! The execution layer: one test binary, with the arguments it is given,
//! in a fresh sandbox and cgroup leaf, its outcome measured. The scheduler
//! (`run`) runs tests through it, and discovery its listings.

use crate::cgroup::{Leaf, Limits};
use crate::cli::SlowTimeout;
use crate::config::TestSettings;
use crate::error::Error;
use crate::host::Host;
use crate::sandbox::netfault::DelayMechanism;
use crate::sandbox::{self, Admit, InitSpec, Namespaces, Output};
use crate::scratch::{ScratchDir, ScratchRoot};
use crate::signals::CancelPipe;
use std::ffi::CString;
use std::sync::mpsc;
use std::time::Duration;

/// What every unit of one test binary shares.
pub struct BinaryContext {
    pub package: String,
    /// How `-p` names the package unambiguously (`name@version`).
    pub package_spec: String,
    /// What `--features` may name with that `-p`.
    pub feature_names: Option<crate::build::FeatureNames>,
    pub target: String,
    pub kind: String,
    /// Its namespaces (none with isolation none).
    pub namespaces: Namespaces,
    /// The spec with `args` still empty.
    pub spec: InitSpec,
    pub env: Vec<CString>,
}

/// What every sandbox of a run (or of a listing) shares.
pub struct Exec<'a> {
    pub host: &'a Host,
    pub binaries: &'a [BinaryContext],
    pub timeout: Option<Duration>,
    pub output_limit: usize,
    /// `--no-capture`: output also streams to the terminal as it comes.
    pub echo_output: bool,
    pub cancel: Option<&'a CancelPipe>,
    /// `--scratch disk`: where each sandbox gets its scratch directory.
    pub scratch: Option<&'a ScratchRoot>,
    /// The configuration profile, told to each test.
    pub profile: &'a str,
    /// What makes a delay of all traffic, as the preflight found (auto:
    /// the sandbox tries netem, then NFQUEUE).
    pub net_delay: DelayMechanism,
}

/// What a worker lends each sandbox it runs: its network namespace (with
/// --reuse-netns), its turn at the gate where tests wait for a slot (none:
/// start at once), what to tell when the test starts, and where to leave
/// the sandbox's teardown (none: wait for it).
#[derive(Clone, Copy, Default)]
pub struct Worker<'a> {
    pub netns: Option<&'a std::os::fd::OwnedFd>,
    pub gate: Option<&'a dyn Admit>,
    pub on_start: Option<&'a dyn Fn()>,
    pub reaper: Option<&'a mpsc::SyncSender<Leftovers>>,
    /// Told where the sandbox's memory and CPU can be read while it runs.
    pub on_gauge: Option<&'a dyn Fn(crate::cgroup::Gauge)>,
}

/// What is left of a sandbox once its test has reported: its init, still
/// tearing the namespaces down, then its cgroup leaf and scratch directory,
/// which can go only after it (fields drop in declaration order).
pub struct Leftovers {
    _init: sandbox::Teardown,
    _leaf: Option<Leaf>,
    _scratch: Option<ScratchDir>,
}

impl Leftovers {
    /// Hands the leftovers to the reaper thread, or removes them now.
    fn leave(self, reaper: Option<&mpsc::SyncSender<Leftovers>>) {
        if let Some(reaper) = reaper {
            // A reaper that is gone leaves them to be dropped here.
            let _ = reaper.send(self);
        }
    }
}

/// Which test, binary and attempt a sandbox is for, told to it in its
/// environment: `CARGO_ISOLATE_<NAME>`, and nextest's `NEXTEST_<NAME>`
/// twin so that a suite written for nextest reads the same.
#[derive(Debug, Clone, Copy, Default)]
pub struct Identity<'a> {
    pub binary_id: &'a str,
    /// None while listing, or for a `harness = false` target.
    pub test_name: Option<&'a str>,
    /// 1-based: the attempt (retries), within its run under a stress run
    /// (as nextest's NEXTEST_ATTEMPT; the run is `stress`).
    pub attempt: u32,
    /// How many attempts it may get: 1 + its retries.
    pub total_attempts: u32,
    /// Under a stress run: this run (1-based) and how many in all, when a
    /// count was given.
    pub stress: Option<(u32, Option<u32>)>,
}

impl Identity<'_> {
    fn env(&self, profile: &str) -> Vec<(String, String)> {
        let mut vars = vec![
            ("BINARY_ID", self.binary_id.to_string()),
            ("PROFILE", profile.to_string()),
            ("ATTEMPT", self.attempt.max(1).to_string()),
            ("TOTAL_ATTEMPTS", self.total_attempts.max(1).to_string()),
        ];
        if let Some(name) = self.test_name {
            vars.push(("TEST_NAME", name.to_string()));
        }
        if let Some((current, total)) = self.stress {
            vars.push(("STRESS_CURRENT", current.to_string()));
            if let Some(total) = total {
                vars.push(("STRESS_TOTAL", total.to_string()));
            }
        }
        vars.into_iter()
            .flat_map(|(k, v)| {
                [
                    (format!("CARGO_ISOLATE_{k}"), v.clone()),
                    (format!("NEXTEST_{k}"), v),
                ]
            })
            .collect()
    }
}

/// Runs binary `binary` with `args` in a fresh sandbox and cgroup leaf
/// `leaf_name`. The inner `Err` is a setup failure of this one sandbox (its
/// cgroup could not be made), the outer one a failure of the runner.
pub fn execute(
    cfg: &Exec<'_>,
    binary: usize,
    args: &[String],
    leaf_name: &str,
    settings: &TestSettings,
    identity: Identity<'_>,
    worker: Worker<'_>,
) -> Result<Result<sandbox::Execution, String>, Error> {
    let b = &cfg.binaries[binary];
    let limits = limits_of(cfg, settings);
    let leaf: Option<Leaf> = match &cfg.host.cgroup {
        Some(c) => match c.create_leaf(leaf_name, &limits) {
            Ok(l) => Some(l),
            Err(e) => return Ok(Err(format!("cannot create the test's cgroup: {e}"))),
        },
        None => None,
    };
    if let (Some(tell), Some(leaf)) = (worker.on_gauge, &leaf) {
        tell(leaf.gauge());
    }
    let scratch = match cfg.scratch.map(|r| r.for_sandbox(leaf_name)).transpose() {
        Ok(s) => s,
        Err(e) => return Ok(Err(e)),
    };
    // Only a sandbox of namespaces joins a worker's network namespace.
    let netns = worker.netns.filter(|_| b.namespaces != Namespaces::None);
    let mut spec = b.spec.clone();
    spec.args = args.to_vec();
    spec.scratch_dir = scratch.as_ref().map(|s| s.path().to_path_buf());
    spec.scratch_image = scratch
        .as_ref()
        .and_then(|s| s.image().map(std::path::Path::to_path_buf));
    // The worker's namespace, not one of the test's own.
    spec.own_network &= netns.is_none();
    spec.net_faults = match spec.own_network {
        true => settings.net_faults().with_mechanism(cfg.net_delay),
        false => Default::default(),
    };
    // A retry or a stress run tells the test which one it is: nothing
    // else survives from one sandbox to the next.
    let mut extra = settings.env_pairs();
    extra.extend(identity.env(cfg.profile));
    let env = with_env(&b.env, &extra);
    let req = sandbox::Request {
        spec: &spec,
        env: &env,
        namespaces: b.namespaces,
        cgroup: leaf.as_ref(),
        output: Output::Capture {
            limit: cfg.output_limit,
            echo: cfg.echo_output,
        },
        timeout: timeout_of(cfg, settings),
        grace: grace_of(
            settings.slow_timeout,
            settings.sandbox.timeout.or(cfg.timeout),
        ),
        cancel: cfg.cancel.map(|c| c.fd()),
        netns: netns.map(std::os::fd::AsFd::as_fd),
        gate: worker.gate,
        on_start: worker.on_start,
    };
    let (exec, init) = sandbox::execute_until_report(&req)?;
    Leftovers {
        _init: init,
        _leaf: leaf,
        _scratch: scratch,
    }
    .leave(worker.reaper);
    Ok(Ok(exec))
}

/// How long a test may run: its own timeout, else the run's, and no
/// longer than its slow timeout's terminate-after periods.
pub fn timeout_of(cfg: &Exec<'_>, s: &TestSettings) -> Option<Duration> {
    let timeout = s.sandbox.timeout.or(cfg.timeout);
    match s.slow_timeout.and_then(|st| st.limit()) {
        Some(slow) => Some(timeout.map_or(slow, |t| t.min(slow))),
        None => timeout,
    }
}

/// slow-timeout's grace period, after its terminate-after periods. A hard
/// `timeout` (`--timeout`, the run's or a test's) stays hard: when it
/// comes first the test is killed at once, and no grace period runs past
/// it, whatever a configuration file (an archive's, say) sets.
pub fn grace_of(slow: Option<SlowTimeout>, hard: Option<Duration>) -> Option<Duration> {
    let slow = slow?;
    let (grace, soft) = (slow.grace_period?, slow.limit()?);
    match hard {
        Some(hard) if hard <= soft => None,
        Some(hard) => Some(grace.min(hard - soft)),
        None => Some(grace),
    }
}

/// A test's limits: its own settings, else the run's.
pub fn limits_of(cfg: &Exec<'_>, s: &TestSettings) -> Limits {
    let run = cfg.host.limits;
    Limits {
        memory_max_bytes: s.sandbox.memory_max.or(run.memory_max_bytes),
        pids_max: match s.sandbox.pids_max {
            Some(p) => p.limit(),
            None => run.pids_max,
        },
        cpus: s.sandbox.cpus.or(run.cpus),
    }
}

/// The binary's environment with a test's own variables set over it.
fn with_env(base: &[CString], extra: &[(String, String)]) -> Vec<CString> {
    if extra.is_empty() {
        return base.to_vec();
    }
    let mut env: Vec<CString> = base
        .iter()
        .filter(|kv| {
            let key = kv.as_bytes().split(|&b| b == b'=').next().unwrap_or(b"");
            !extra.iter().any(|(k, _)| k.as_bytes() == key)
        })
        .cloned()
        .collect();
    env.extend(
        extra
            .iter()
            .filter_map(|(k, v)| CString::new(format!("{k}={v}")).ok()),
    );
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grace_period_never_runs_past_a_hard_timeout() {
        let secs = Duration::from_secs;
        let slow = |grace| {
            Some(SlowTimeout {
                period: secs(1),
                terminate_after: std::num::NonZeroU32::new(2),
                grace_period: grace,
            })
        };
        // After terminate-after (2 s), as asked.
        assert_eq!(grace_of(slow(Some(secs(10))), None), Some(secs(10)));
        // A hard timeout at 5 s leaves 3 s of it.
        assert_eq!(grace_of(slow(Some(secs(10))), Some(secs(5))), Some(secs(3)));
        // One that comes first kills at once.
        assert_eq!(grace_of(slow(Some(secs(10))), Some(secs(2))), None);
        assert_eq!(grace_of(slow(Some(secs(10))), Some(secs(1))), None);
        // No grace period, no terminate-after: nothing.
        assert_eq!(grace_of(slow(None), None), None);
        let no_limit = slow(Some(secs(10))).map(|s| SlowTimeout {
            terminate_after: None,
            ..s
        });
        assert_eq!(grace_of(no_limit, None), None);
    }
}
