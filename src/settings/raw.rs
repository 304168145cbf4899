//! Values as the file writes them, before any check: a string with its
//! place, and the forms a list of ports takes.

use serde::Deserialize;
use toml::Spanned;

/// A string as written, with its place (the span includes the quotes).
pub type Text = Spanned<String>;

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
