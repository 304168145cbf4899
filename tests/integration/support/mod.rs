//! What every test module shares: how a test that cannot run here says so
//! ([`skip`]), and the reports ([`report`]): reading them, checked against
//! the schema, writing and building them.

pub(crate) mod examples;
pub(crate) mod report;
pub(crate) mod skip;
