//! Reading the fixed vocabularies back (`deserialize_with` helpers): each
//! maps a name to the crate's own literal for it and refuses a name the
//! crate never writes, naming it.

use serde::de::{Deserialize, Deserializer, Error};

/// `settings.isolation`: what `cli::Isolation::as_str` writes (a test
/// there keeps the two lists one).
pub const ISOLATIONS: [&str; 3] = ["per-test", "per-binary", "none"];

/// `host.cgroup`: what `cgroup::Version::as_str` writes, or "none".
pub const CGROUPS: [&str; 3] = ["v1", "v2", "none"];

fn known<E: Error>(what: &str, name: &str, all: &[&'static str]) -> Result<&'static str, E> {
    all.iter().copied().find(|k| *k == name).ok_or_else(|| {
        E::custom(format_args!(
            "unknown {what} {name:?} (expected one of: {})",
            all.join(", ")
        ))
    })
}

pub fn isolation<'de, D: Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
    known("isolation", &String::deserialize(d)?, &ISOLATIONS)
}

pub fn cgroup<'de, D: Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
    known("cgroup version", &String::deserialize(d)?, &CGROUPS)
}

pub fn tool_name<'de, D: Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
    known("tool", &String::deserialize(d)?, &["cargo-isolate"])
}
