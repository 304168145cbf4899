//! The checks a setting's value passes when read from the file, named in
//! its row of the table (`check: c::text(parse_memory_max)`): most run
//! the flag's own parser, so that a value means in the file what it means
//! on the command line; a failure is a [`ConfigError`] at the value's
//! place, inside the string as the user wrote it (escapes included).
//! Checks of the command line's own value types (`--env`, `--hosts`...)
//! are beside those types, in `cli.rs`.

use super::diagnostic::{ConfigError, quoted};
use super::raw::Text;
use super::strings::raw_span;
use crate::filterset::Filterset;
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
pub struct Ctx<'a> {
    pub path: &'a Path,
    pub text: &'a str,
    pub base: &'a Base,
}

impl Ctx<'_> {
    pub fn at(&self, span: Range<usize>, message: impl AsRef<str>) -> ConfigError {
        ConfigError::at(self.path, self.text, span, message)
    }

    pub fn whole(&self, message: impl AsRef<str>) -> ConfigError {
        ConfigError::whole(self.path, message)
    }
}

/// Whose keys are being read: where errors about them say they are.
#[derive(Debug, Clone)]
pub enum Owner {
    Profile(String),
    /// `index` from 1, `filter` as written.
    Override {
        profile: String,
        index: usize,
        filter: String,
    },
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Owner::Profile(p) => write!(f, "profile.{p}"),
            Owner::Override {
                profile,
                index,
                filter,
            } => write!(
                f,
                "override {index} of profile.{profile} (filter = {})",
                quoted(filter)
            ),
        }
    }
}

/// The file, whose keys are read, and the key at hand.
pub struct Cx<'a> {
    pub ctx: &'a Ctx<'a>,
    pub owner: &'a Owner,
    /// The key, as the file spells it.
    pub key: String,
}

impl<'a> Cx<'a> {
    pub fn new(ctx: &'a Ctx<'a>, owner: &'a Owner) -> Cx<'a> {
        Cx {
            ctx,
            owner,
            key: String::new(),
        }
    }

    /// The same, for the key of `field`.
    pub fn key(&self, field: &str) -> Cx<'a> {
        Cx {
            ctx: self.ctx,
            owner: self.owner,
            key: field.replace('_', "-"),
        }
    }

    pub fn in_override(&self) -> bool {
        matches!(self.owner, Owner::Override { .. })
    }

    pub fn at(&self, span: Range<usize>, message: impl AsRef<str>) -> ConfigError {
        self.ctx.at(span, message)
    }

    /// `parse`'s answer, its error placed on the value.
    pub fn checked<X, V>(
        &self,
        v: &Spanned<X>,
        parse: impl FnOnce(&X) -> Result<V, String>,
    ) -> Result<V, ConfigError> {
        parse(v.get_ref())
            .map_err(|m| self.at(v.span(), format!("invalid value for '{}': {m}", self.key)))
    }
}

/// What a check is: a raw value of the file to a setting's value.
pub trait Check<X, V>: Fn(&Cx<'_>, &Spanned<X>) -> Result<V, ConfigError> {}
impl<X, V, F: Fn(&Cx<'_>, &Spanned<X>) -> Result<V, ConfigError>> Check<X, V> for F {}

/// Any value the file writes, through `parse` (a value type's own
/// reading of its file form).
pub fn by<X, V>(parse: impl Fn(&X) -> Result<V, String>) -> impl Check<X, V> {
    move |cx, v| cx.checked(v, &parse)
}

/// A string, through the flag's parser.
pub fn text<V>(parse: impl Fn(&str) -> Result<V, String>) -> impl Check<String, V> {
    by(move |s: &String| parse(s))
}

/// An integer, through the flag's parser (which reads text).
pub fn int<V>(parse: impl Fn(&str) -> Result<V, String>) -> impl Check<i64, V> {
    by(move |n: &i64| parse(&n.to_string()))
}

/// A float, through the flag's parser.
pub fn float<V>(parse: impl Fn(&str) -> Result<V, String>) -> impl Check<f64, V> {
    by(move |n: &f64| parse(&n.to_string()))
}

/// A whole number of at least `min` and at most `max`.
pub fn whole<V: TryFrom<u64>>(min: i64, max: u64) -> impl Check<i64, V> {
    move |cx, v| {
        cx.checked(v, |n| match u64::try_from(*n) {
            Ok(u) if *n >= min && u <= max => {
                V::try_from(u).map_err(|_| format!("must be at most {max}"))
            }
            _ if *n < min => Err(format!("must be at least {min}")),
            _ => Err(format!("must be at most {max}")),
        })
    }
}

/// A switch.
pub fn flag() -> impl Check<bool, bool> {
    |_, v| Ok(*v.get_ref())
}

/// One of the names of a `ValueEnum`, as the flag takes them.
pub fn choice<T: clap::ValueEnum>() -> impl Check<String, T> {
    |cx, v| cx.checked(v, |s| enum_value(s))
}

/// `s` as one of the names of a `ValueEnum`; an error lists them.
pub fn enum_value<T: clap::ValueEnum>(s: &str) -> Result<T, String> {
    T::from_str(s, false).map_err(|_| {
        let names: Vec<String> = T::value_variants()
            .iter()
            .filter_map(|v| v.to_possible_value().map(|p| p.get_name().to_string()))
            .collect();
        format!("{} is not one of {}", quoted(s), names.join(", "))
    })
}

/// One of `names`.
pub fn one_of(names: &'static [&'static str]) -> impl Check<String, String> {
    move |cx, v| {
        cx.checked(v, |s| match names.contains(&s.as_str()) {
            true => Ok(s.clone()),
            false => Err(format!("{} is not one of {}", quoted(s), names.join(", "))),
        })
    }
}

/// A path, relative to the base directory; not checked on disk.
pub fn path() -> impl Check<String, PathBuf> {
    |cx, v| {
        cx.checked(v, |s| {
            if s.is_empty() {
                return Err("the path is empty".into());
            }
            if s.contains('\0') {
                return Err("the path contains a NUL byte".into());
            }
            Ok(cx.ctx.base.dir.join(s))
        })
    }
}

/// A filterset, an error placed on the character it names.
pub fn filter() -> impl Check<String, String> {
    |cx, v| {
        filterset(cx.ctx, v, &cx.key)?;
        Ok(v.get_ref().clone())
    }
}

/// `t` parsed as a filterset; `key` names it in an error.
pub fn filterset(ctx: &Ctx<'_>, t: &Text, key: &str) -> Result<Filterset, ConfigError> {
    Filterset::parse(t.get_ref()).map_err(|e| {
        let span = raw_span(ctx.text, t.span(), t.get_ref(), e.span.clone());
        ctx.at(span, format!("invalid {key}: {}", e.message))
    })
}

/// `ro-bind` paths: relative to the base directory, existing, not `/`;
/// resolved (symbolic links followed) as `--ro-bind` resolves them.
pub fn binds() -> impl Check<Vec<Text>, Vec<PathBuf>> {
    |cx, list| {
        let base = &cx.ctx.base;
        list.get_ref()
            .iter()
            .map(|t| {
                let s = t.get_ref();
                let fail = |why: String| {
                    cx.at(
                        t.span(),
                        format!("invalid value in 'ro-bind' of {}: {why}", cx.owner),
                    )
                };
                if s.is_empty() {
                    return Err(fail("the path is empty".into()));
                }
                if s.contains('\0') {
                    return Err(fail("the path contains a NUL byte".into()));
                }
                let joined = base.dir.join(s);
                let path = std::fs::canonicalize(&joined).map_err(|e| {
                    let note = if Path::new(s).is_relative() {
                        format!(
                            " (relative paths are relative to {}, {})",
                            base.what,
                            base.dir.display()
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
}
