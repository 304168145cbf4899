//! What the configuration resolves to, as plain data, in the shapes the
//! table in `cli.rs` generates: what a layer sets ([`RunSettings`], the
//! shape of `TestArgs` with every value optional), one test's own
//! settings ([`TestSettings`]) and per-test [`Override`]s.

use crate::budget::{Threshold, Thresholds};
use crate::cli::{NetArgs, PortList, test_args};
use crate::filterset::Filterset;
use crate::sandbox::netfault::{Direction, NetFaults};

/// What a profile (or the command line, or an override) sets, as far as
/// it does: `TestArgs`'s shape, `None` where unset.
pub type RunSettings = test_args::Layer;

/// One test's own settings, as far as anything sets them (`None`: the
/// run's own, else the flag's default).
pub type TestSettings = test_args::Test;

/// A per-test override: each setting of a test comes from the first
/// matching override that sets it.
#[derive(Debug)]
pub struct Override {
    /// Where it is written: `profile.ci override 2`.
    pub layer: String,
    pub filter: Filterset,
    pub settings: TestSettings,
}

impl TestSettings {
    /// The faults of the test's own network.
    pub fn net_faults(&self) -> NetFaults {
        faults(&self.sandbox.net)
    }

    /// The test's own variables, beside the run's.
    pub fn env_pairs(&self) -> Vec<(String, String)> {
        self.sandbox
            .env
            .iter()
            .flatten()
            .map(|e| (e.key.clone(), e.value.clone().unwrap_or_default()))
            .collect()
    }
}

impl NetArgs {
    /// The faults these flags (or a profile's values in them) make.
    pub fn faults(&self) -> NetFaults {
        let n = &self;
        NetFaults {
            loss_ppm: n.net_loss.unwrap_or(0),
            reject_ports: ports(n.net_reject.iter()),
            drop_ports: ports(n.net_drop.iter()),
            rate_bps: n.net_rate,
            delay_us: n.net_delay,
            jitter_us: n.net_jitter,
            port_ranges: n.net_ports.clone().map(|p| p.0).unwrap_or_default(),
            direction: direction(n.net_direction),
            delay_mechanism: Default::default(),
        }
    }
}

fn faults(n: &crate::cli::net_args::Test) -> NetFaults {
    NetFaults {
        loss_ppm: n.net_loss.unwrap_or(0),
        reject_ports: ports(n.net_reject.iter().flatten()),
        drop_ports: ports(n.net_drop.iter().flatten()),
        rate_bps: n.net_rate,
        delay_us: n.net_delay,
        jitter_us: n.net_jitter,
        port_ranges: n.net_ports.clone().map(|p| p.0).unwrap_or_default(),
        direction: direction(n.net_direction),
        delay_mechanism: Default::default(),
    }
}

fn direction(d: Option<crate::cli::NetDirection>) -> Direction {
    match d {
        Some(crate::cli::NetDirection::In) => Direction::In,
        Some(crate::cli::NetDirection::Out) => Direction::Out,
        Some(crate::cli::NetDirection::Both) | None => Direction::Both,
    }
}

/// The ports of some `--net-reject`/`--net-drop` lists, sorted, once each.
fn ports<'a>(lists: impl Iterator<Item = &'a PortList>) -> Vec<u16> {
    let mut v: Vec<u16> = lists.flat_map(|p| p.0.iter().copied()).collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// The regression thresholds: the defaults (memory and CPU compared, wall
/// time not), then what the file sets. Setting either key of a metric
/// turns its comparison on.
pub fn thresholds(r: &RunSettings) -> Thresholds {
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
        memory: one(
            (r.max_memory_regression, r.memory_regression_floor),
            d.memory,
            (1 << 20) as f64,
        ),
        time: one(
            (r.max_time_regression, r.time_regression_floor),
            d.time,
            50.0,
        ),
        cpu: one((r.max_cpu_regression, r.cpu_regression_floor), d.cpu, 50.0),
    }
}
