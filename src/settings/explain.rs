//! What `show-config` says of each setting: its value as a flag would
//! write it ([`Describe`], or the row's replay form where it has one) and
//! where the value came from ([`Source`]), by the same precedence the run
//! uses (see the module above).

use std::path::PathBuf;
use std::time::Duration;

/// One setting's effective value and its origin.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Explained {
    /// The key as a file writes it.
    pub key: String,
    /// As the flag would be written; `None` when unset.
    pub value: Option<String>,
    /// Most significant first: a list adds the file's to the command
    /// line's, so both can be sources.
    pub sources: Vec<Source>,
}

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "name")]
pub enum Source {
    CommandLine,
    /// An environment variable, by name where known.
    Environment(Option<String>),
    /// A layer of the file: `profile.ci`, `profile.default`.
    Profile(String),
    /// The flag's own default.
    Default,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::CommandLine => f.write_str("command line"),
            Source::Environment(Some(v)) => write!(f, "environment ({v})"),
            Source::Environment(None) => f.write_str("environment"),
            Source::Profile(p) => f.write_str(p),
            Source::Default => f.write_str("default"),
        }
    }
}

/// A value as `show-config` writes it: as its flag reads it.
pub trait Describe {
    fn describe(&self) -> String;
}

/// `Describe` by `Display`, for each type named.
macro_rules! describe_display {
    ($($t:ty),* $(,)?) => {
        $(impl $crate::settings::Describe for $t {
            fn describe(&self) -> String {
                self.to_string()
            }
        })*
    };
}

/// `Describe` of a `ValueEnum` by its flag name, for each type named (a
/// blanket impl would clash with the ones by `Display`).
macro_rules! describe_by_name {
    ($($t:ty),* $(,)?) => {
        $(impl $crate::settings::Describe for $t {
            fn describe(&self) -> String {
                $crate::settings::show::name(self).into_iter().flatten().collect()
            }
        })*
    };
}

pub(crate) use {describe_by_name, describe_display};

describe_display!(u32, u64, usize, f64, bool, String);

impl Describe for Duration {
    fn describe(&self) -> String {
        super::show::duration(self).into_iter().flatten().collect()
    }
}

impl Describe for PathBuf {
    fn describe(&self) -> String {
        self.display().to_string()
    }
}

impl<T: Describe> Describe for Vec<T> {
    fn describe(&self) -> String {
        let items: Vec<String> = self.iter().map(Describe::describe).collect();
        format!("[{}]", items.join(", "))
    }
}

/// A replayed row's value in its replay form (`512M`, `5%`), which reads
/// back as the flag: one flag's value, or a list of them.
pub fn from_shown(shown: super::Shown) -> String {
    let values: Vec<String> = shown.into_iter().map(Option::unwrap_or_default).collect();
    match values.as_slice() {
        [one] => one.clone(),
        _ => format!("[{}]", values.join(", ")),
    }
}

/// The sources of a row: the command line (or its variable), then the
/// first layer that sets it; a list (`combines`) has both.
pub fn sources(given: Option<Source>, layer: Option<&str>, combines: bool) -> Vec<Source> {
    let mut out: Vec<Source> = given.into_iter().collect();
    if let Some(l) = layer
        && (out.is_empty() || combines)
    {
        out.push(Source::Profile(l.to_string()));
    }
    if out.is_empty() {
        out.push(Source::Default);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_wins_but_a_list_adds_the_files() {
        assert_eq!(
            sources(Some(Source::CommandLine), Some("profile.ci"), false),
            [Source::CommandLine]
        );
        assert_eq!(
            sources(Some(Source::CommandLine), Some("profile.ci"), true),
            [Source::CommandLine, Source::Profile("profile.ci".into())]
        );
        assert_eq!(sources(None, None, true), [Source::Default]);
        assert_eq!(
            sources(None, Some("profile.default"), false),
            [Source::Profile("profile.default".into())]
        );
    }

    #[test]
    fn values_read_as_their_flags_write_them() {
        assert_eq!(Duration::from_secs(90).describe(), "1m30s");
        assert_eq!(true.describe(), "true");
        assert_eq!(vec![1u32, 2].describe(), "[1, 2]");
        assert_eq!(from_shown(vec![Some("512M".into())]), "512M");
        assert_eq!(
            from_shown(vec![Some("A=1".into()), Some("B=2".into())]),
            "[A=1, B=2]"
        );
    }
}
