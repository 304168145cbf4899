//! One definition per setting. The structs of `cli.rs` are written inside
//! [`settings!`]: each field is a flag as clap sees it (help, name,
//! parser, default, environment variable), and a field that is also a
//! setting says so after `=>`: whether it is for the whole run or per
//! test, how the file writes it, the check its value passes, how layers
//! of it merge, whether a replay carries it. From that one place come the
//! command line, the keys of a profile and of an override (with errors
//! placed in the text), the precedence, the replay command and
//! the guide's settings reference (`docs/guide/src/reference/settings.md`).
//!
//! A row, after its clap attributes and field:
//!
//! ```text
//! pub memory_max: Option<u64> => test(u64) {
//!     file: String, check: c::text(parse_memory_max),   // the key, read and checked
//!     merge: Replace,            // how layers combine (default Replace)
//!     group: "stress",           // a layer that sets one key of a group sets them all
//!     alias: "repeat",           // another spelling of the key
//!     given_by_env: "VAR",       // this variable, when set, counts as the flag given
//!     archive: true,             // an untrusted archive's file may set it
//!     replay: show::size,        // a replay carries it, shown so
//! },
//! ```
//!
//! (the options in that order, each optional but `file` and `check`,
//! which go together). The scope is one of `run` (one value for the run),
//! `test` (per test: an override may set it), `extra` (a run-wide value,
//! and per test what an override adds to it), `cli` (a flag only, which a
//! replay may carry) and `nested` (a flattened struct of more rows).
//!
//! Precedence, per setting: the command line (or its environment
//! variable), then the first matching override that sets it (the chosen
//! profile's overrides, then the default profile's), then the chosen
//! profile, then `[profile.default]`, then the flag's own default.
//!
//! Beside the machinery: `check` (what a row's `check` names, and where
//! its errors point), `diagnostic` (a [`ConfigError`] drawn against the
//! text), `strings` (places inside escaped strings) and `raw` (values as
//! the file writes them). `config` reads the file with all this.

pub mod check;
mod diagnostic;
pub mod explain;
mod raw;
mod strings;

pub use check::Cx;
pub use diagnostic::{ConfigError, quoted, shorten};
pub use explain::{Describe, Explained, Source};
pub use raw::{PortsToml, Text};

/// What a struct of settings has: the types the macro generates beside it
/// and how they combine. Implemented by [`settings!`] only.
pub trait Settings: Sized {
    /// The keys as written: raw values with their place in the file.
    type File: Default + Clone + std::fmt::Debug;
    /// What one layer (a profile, an override) sets: `None` where unset.
    type Layer: Default + Clone + std::fmt::Debug + PartialEq;
    /// One test's own settings: the per-test rows only.
    type Test: Default + Clone + std::fmt::Debug + PartialEq;

    /// Every setting, in the order of the struct (nested ones in place).
    fn rows(out: &mut Vec<Row>);
    /// Reads `key`'s value into `file` when it is a key of these settings.
    fn read_key<'de, A: serde::de::MapAccess<'de>>(
        file: &mut Self::File,
        key: &str,
        map: &mut A,
    ) -> Result<bool, A::Error>;
    /// Checks every value with its check, an error at its place.
    fn resolve(file: &Self::File, cx: &Cx<'_>) -> Result<Self::Layer, ConfigError>;
    /// `top` over `base` (a chosen profile over the default profile).
    fn layer(top: Self::Layer, base: Self::Layer) -> Self::Layer;
    /// The layer's values into the flags the command line did not give.
    fn apply(&mut self, layer: &Self::Layer, explicit: &Explicit);
    /// The per-test values the command line gave.
    fn given(&self, explicit: &Explicit) -> Self::Test;
    /// The per-test values of a layer: a profile's (its `extra` values are
    /// the run's, not a test's own) or an override's.
    fn per_test(layer: &Self::Layer, from_override: bool) -> Self::Test;
    /// `from`'s values where `test` has none yet, setting by setting.
    fn fill(test: &mut Self::Test, from: &Self::Test);
    /// The flags that give a test these settings again: `self` the run's
    /// values, `typed` the command line's, `built_in` the defaults.
    fn replay(&self, test: &Self::Test, typed: &Self, built_in: &Self, out: &mut Words<'_>);
    /// Each setting's value in `self` (the run's, the file applied) and
    /// where it came from: `layers` most specific first, by name.
    fn explain(
        &self,
        layers: &[(&str, &Self::Layer)],
        explicit: &Explicit,
        out: &mut Vec<Explained>,
    );
    /// The values a test layer (an override's) sets, as `key = value`.
    fn explain_test(test: &Self::Test, out: &mut Vec<(String, String)>);
}

/// Which flags of the subcommand were given on the command line or by
/// their environment variable (by their field names), as opposed to
/// defaults: these win over the configuration.
#[derive(Debug, Default)]
pub struct Explicit {
    given: std::collections::HashSet<String>,
    /// Those of them given by their environment variable.
    by_env: std::collections::HashSet<String>,
}

impl Explicit {
    pub fn of(matches: &clap::ArgMatches) -> Explicit {
        use clap::parser::ValueSource;
        let mut e = Explicit::default();
        if let Some((_, sub)) = matches.subcommand() {
            for id in sub.ids() {
                match sub.value_source(id.as_str()) {
                    Some(ValueSource::CommandLine) => {}
                    Some(ValueSource::EnvVariable) => {
                        e.by_env.insert(id.to_string());
                    }
                    _ => continue,
                }
                e.given.insert(id.to_string());
            }
        }
        e
    }

    pub fn has(&self, field: &str) -> bool {
        self.given.contains(field)
    }

    /// Where a given flag came from, for `show-config`; `env` the row's
    /// own variable that counts as the flag given.
    pub fn source(&self, field: &str, env: Option<&str>) -> Option<Source> {
        if self.by_env.contains(field) {
            return Some(Source::Environment(None));
        }
        if self.given.contains(field) {
            return Some(Source::CommandLine);
        }
        env.filter(|v| std::env::var_os(v).is_some())
            .map(|v| Source::Environment(Some(v.to_string())))
    }
}

/// Where a setting applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// One value for the whole run.
    Run,
    /// Per test: an override may set it.
    Test,
    /// The run's value, and per test what an override adds to it.
    Extra,
    /// A flag only, carried by the replay.
    Cli,
}

/// One setting, as the reference page and the key lists see it.
#[derive(Debug, Clone)]
#[cfg_attr(
    not(test),
    expect(dead_code, reason = "the reference page, made in a test, reads it all")
)]
pub struct Row {
    /// The field: the flag's id (`Explicit`), the key in kebab case.
    pub field: &'static str,
    pub scope: Scope,
    /// The doc comment, line by line.
    pub doc: Vec<&'static str>,
    /// What the file writes: "string", "integer"...
    pub file_type: &'static str,
    /// How layers combine.
    pub merge: &'static str,
    pub group: Option<&'static str>,
    pub alias: Option<&'static str>,
    pub given_by_env: Option<&'static str>,
    /// An untrusted archive's configuration may set it.
    pub archive: bool,
    pub replayed: bool,
    /// The keys of the value's table form, if it has one, each with what
    /// it says (`slow-timeout`'s `period` and `terminate-after`).
    pub sub_keys: &'static [(&'static str, &'static str)],
}

impl Row {
    /// The key in a profile or an override: the field in kebab case.
    pub fn key(&self) -> String {
        self.field.replace('_', "-")
    }

    /// Whether an override may set it.
    pub fn in_override(&self) -> bool {
        matches!(self.scope, Scope::Test | Scope::Extra)
    }

    /// Whether the file has a key for it.
    pub fn has_key(&self) -> bool {
        self.scope != Scope::Cli
    }
}

/// Every setting of `S`, in order.
pub fn rows_of<S: Settings>() -> Vec<Row> {
    let mut out = Vec::new();
    S::rows(&mut out);
    out
}

/// Whether `key` (as written in the file) names `field` or its alias: the
/// field with `-` for each `_`.
pub fn is_key(field: &str, alias: Option<&str>, key: &str) -> bool {
    let kebab = field.len() == key.len()
        && field
            .bytes()
            .zip(key.bytes())
            .all(|(f, k)| if f == b'_' { k == b'-' } else { f == k });
    kebab || alias == Some(key)
}

/// A flag's field and the value in it: `V` itself (a flag with a
/// default), or `Option<V>` (a flag without one).
pub trait Slot<V> {
    fn put(&mut self, v: V);
    fn get(&self) -> Option<V>;
}

impl<V: Clone> Slot<V> for V {
    fn put(&mut self, v: V) {
        *self = v;
    }
    fn get(&self) -> Option<V> {
        Some(self.clone())
    }
}

impl<V: Clone> Slot<V> for Option<V> {
    fn put(&mut self, v: V) {
        *self = Some(v);
    }
    fn get(&self) -> Option<V> {
        self.clone()
    }
}

/// How the layers of one setting combine.
pub trait Merge<V> {
    /// Said on the reference page.
    const WHAT: &'static str;
    /// The command line's value and the file's both count (a list).
    const COMBINES: bool = false;
    /// `top` over `base`.
    fn layer(top: Option<V>, base: Option<V>) -> Option<V>;
    /// The file's value into the flag's field, which the command line
    /// `given` or not.
    fn apply<F: Slot<V>>(slot: &mut F, file: Option<V>, given: bool);
    /// Per test: `from` (a later override, the profile) where `test` has
    /// nothing yet.
    fn fill(test: &mut Option<V>, from: &Option<V>);
}

/// The most specific layer that sets it wins whole.
pub struct Replace;

impl<V: Clone> Merge<V> for Replace {
    const WHAT: &'static str = "the most specific layer that sets it wins";
    fn layer(top: Option<V>, base: Option<V>) -> Option<V> {
        top.or(base)
    }
    fn apply<F: Slot<V>>(slot: &mut F, file: Option<V>, given: bool) {
        if let (false, Some(v)) = (given, file) {
            slot.put(v);
        }
    }
    fn fill(test: &mut Option<V>, from: &Option<V>) {
        if test.is_none() {
            test.clone_from(from);
        }
    }
}

/// A list the file adds to the command line's (after it: the command
/// line's entries win where they clash).
pub struct Append;

impl<T: Clone> Merge<Vec<T>> for Append {
    const WHAT: &'static str =
        "added after the command line's; the chosen profile's list replaces the default's";
    const COMBINES: bool = true;
    fn layer(top: Option<Vec<T>>, base: Option<Vec<T>>) -> Option<Vec<T>> {
        top.or(base)
    }
    fn apply<F: Slot<Vec<T>>>(slot: &mut F, file: Option<Vec<T>>, _: bool) {
        if let Some(file) = file {
            let mut all = slot.get().unwrap_or_default();
            all.extend(file);
            slot.put(all);
        }
    }
    fn fill(test: &mut Option<Vec<T>>, from: &Option<Vec<T>>) {
        if test.is_none() {
            test.clone_from(from);
        }
    }
}

/// What the file writes for a value type, on the reference page.
pub trait FileType {
    const NAME: &'static str;
    /// The keys of its table form, each with what it says: the reading
    /// accepts these and no other.
    const KEYS: &'static [(&'static str, &'static str)] = &[];
}

macro_rules! file_types {
    ($($t:ty => $name:literal),* $(,)?) => {
        $(impl FileType for $t { const NAME: &'static str = $name; })*
    };
}

file_types! {
    String => "string",
    i64 => "integer",
    f64 => "number",
    bool => "boolean",
    std::collections::BTreeMap<Text, Text> => "table of strings",
    Vec<Text> => "array of strings",
    PortsToml => "port, array of ports or string",
}

/// A value as flags: one entry per occurrence of the flag, `None` for a
/// flag without a value.
pub type Shown = Vec<Option<String>>;

/// How a replayed value is written back as flags; each reads back to the
/// same value.
pub mod show {
    use super::Shown;

    /// A switch: present when on.
    pub fn flag(on: &bool) -> Shown {
        match on {
            true => vec![None],
            false => vec![],
        }
    }

    pub fn plain<T: std::fmt::Display>(v: &T) -> Shown {
        vec![Some(v.to_string())]
    }

    /// A value of a `ValueEnum`, by its name.
    pub fn name<T: clap::ValueEnum>(v: &T) -> Shown {
        v.to_possible_value()
            .map(|p| vec![Some(p.get_name().to_string())])
            .unwrap_or_default()
    }

    /// A byte count in the largest binary unit that divides it.
    pub fn size(bytes: &u64) -> Shown {
        vec![Some(size_text(*bytes))]
    }

    /// A byte count as the size flags read it back: exact, in the largest
    /// binary unit that divides it.
    pub fn size_text(bytes: u64) -> String {
        for (shift, unit) in [(30, "G"), (20, "M"), (10, "K")] {
            if bytes >= 1 << shift && bytes.is_multiple_of(1 << shift) {
                return format!("{}{unit}", bytes >> shift);
            }
        }
        bytes.to_string()
    }

    /// A duration without blanks: `1m30s`.
    pub fn duration(d: &std::time::Duration) -> Shown {
        vec![Some(
            humantime::format_duration(*d).to_string().replace(' ', ""),
        )]
    }

    #[expect(clippy::ptr_arg, reason = "an item of `each` over a Vec<PathBuf>")]
    pub fn path(p: &std::path::PathBuf) -> Shown {
        vec![Some(p.display().to_string())]
    }

    /// One flag per item.
    pub fn each<T>(item: fn(&T) -> Shown) -> impl Fn(&Vec<T>) -> Shown {
        move |items| items.iter().flat_map(item).collect()
    }

    /// A value shown by a function of the value.
    pub fn with<T>(f: fn(T) -> String) -> impl Fn(&T) -> Shown
    where
        T: Copy,
    {
        move |v| vec![Some(f(*v))]
    }
}

/// The words of a replay command, each flag by its field's long name.
pub struct Words<'a> {
    pub words: Vec<String>,
    /// Field id to `--long`.
    pub longs: &'a std::collections::HashMap<String, String>,
}

impl Words<'_> {
    pub fn flag(&mut self, field: &str, shown: Shown) {
        let Some(long) = self.longs.get(field) else {
            return;
        };
        for value in shown {
            self.words.push(long.clone());
            self.words.extend(value);
        }
    }
}

/// Generates a struct of flags and settings (see the module doc): the
/// clap struct as written, and beside it `mod <name> { File, Layer, Test }`
/// and its [`Settings`].
macro_rules! settings {
    (
        $(#[$sattr:meta])*
        $svis:vis struct $name:ident in $module:ident {
            $(
                $( #[ $($attr:tt)* ] )*
                $vis:vis $field:ident : $ty:ty
                $( => $scope:ident ( $v:ty ) {
                    $( file: $x:ty, check: $check:expr, )?
                    $( merge: $merge:ty, )?
                    $( group: $group:literal, )?
                    $( alias: $alias:literal, )?
                    $( given_by_env: $genv:literal, )?
                    $( archive: $archive:literal, )?
                    $( replay: $show:expr, )?
                } )?
            ),* $(,)?
        }
    ) => {
        $(#[$sattr])*
        $svis struct $name {
            $( $( #[ $($attr)* ] )* $vis $field : $ty, )*
        }

        /// The types that go with
        #[doc = concat!("[`", stringify!($name), "`]")]
        /// as settings (see `crate::settings`).
        $svis mod $module {
            #[allow(unused_imports)]
            use super::*;

            /// The keys as written in a profile or an override.
            #[derive(Debug, Default, Clone)]
            #[allow(dead_code)]
            pub struct File {
                $( pub $field: $crate::settings::__setting!(@file_ty $( $scope ($v) [$($x)?] )?), )*
            }

            /// What one layer sets.
            #[derive(Debug, Default, Clone, PartialEq)]
            #[allow(dead_code)]
            pub struct Layer {
                $( pub $field: $crate::settings::__setting!(@layer_ty $( $scope ($v) )?), )*
            }

            /// One test's own settings.
            #[derive(Debug, Default, Clone, PartialEq)]
            #[allow(dead_code)]
            pub struct Test {
                $( pub $field: $crate::settings::__setting!(@test_ty $( $scope ($v) )?), )*
            }
        }

        // Not every struct has every kind of row: some arguments go unused.
        #[allow(unused_variables, unused_mut)]
        impl $crate::settings::Settings for $name {
            type File = $module::File;
            type Layer = $module::Layer;
            type Test = $module::Test;

            fn rows(out: &mut Vec<$crate::settings::Row>) {
                $(
                    $crate::settings::__setting!(@row out, stringify!($field),
                        [$( $crate::settings::__setting!(@doc $($attr)*) ),*]
                        $(, $scope ($v) [$($x)?] [$($merge)?] [$($group)?] [$($alias)?] [$($genv)?] [$($archive)?] [$($show)?] )?);
                )*
            }

            fn read_key<'de, A: serde::de::MapAccess<'de>>(
                file: &mut Self::File,
                key: &str,
                map: &mut A,
            ) -> Result<bool, A::Error> {
                $(
                    $crate::settings::__setting!(@read file.$field, key, map, stringify!($field)
                        $(, $scope ($v) [$($x)?] [$($alias)?] )?);
                )*
                Ok(false)
            }

            fn resolve(
                file: &Self::File,
                cx: &$crate::settings::Cx<'_>,
            ) -> Result<Self::Layer, $crate::settings::ConfigError> {
                Ok($module::Layer {
                    $( $field: $crate::settings::__setting!(@resolve file.$field, cx, stringify!($field)
                        $(, $scope ($v) [$($x, $check)?] )?), )*
                })
            }

            fn layer(top: Self::Layer, base: Self::Layer) -> Self::Layer {
                // A group is set whole by the most specific layer that
                // sets any of its keys.
                let mut groups: Vec<&str> = Vec::new();
                $( $crate::settings::__setting!(@group_set groups, top.$field $(, $scope [$($group)?])?); )*
                $module::Layer {
                    $( $field: $crate::settings::__setting!(@layer top.$field, base.$field, groups
                        $(, $scope ($v) [$($merge)?] [$($group)?] )?), )*
                }
            }

            fn apply(&mut self, layer: &Self::Layer, explicit: &$crate::settings::Explicit) {
                // A flag of a group given: the file sets none of the group.
                let mut groups: Vec<&str> = Vec::new();
                $( $crate::settings::__setting!(@group_given groups, explicit, stringify!($field) $(, $scope [$($group)?])?); )*
                $(
                    $crate::settings::__setting!(@apply self.$field, layer.$field, explicit, groups, stringify!($field)
                        $(, $scope ($v) [$($merge)?] [$($group)?] [$($genv)?] )?);
                )*
            }

            fn given(&self, explicit: &$crate::settings::Explicit) -> Self::Test {
                $module::Test {
                    $( $field: $crate::settings::__setting!(@given self.$field, explicit, stringify!($field)
                        $(, $scope ($v) [$($genv)?] )?), )*
                }
            }

            fn per_test(layer: &Self::Layer, from_override: bool) -> Self::Test {
                $module::Test {
                    $( $field: $crate::settings::__setting!(@per_test layer.$field, from_override $(, $scope ($v))?), )*
                }
            }

            fn fill(test: &mut Self::Test, from: &Self::Test) {
                $( $crate::settings::__setting!(@fill test.$field, from.$field $(, $scope ($v) [$($merge)?])?); )*
            }

            fn replay(
                &self,
                test: &Self::Test,
                typed: &Self,
                built_in: &Self,
                out: &mut $crate::settings::Words<'_>,
            ) {
                $(
                    $crate::settings::__setting!(@replay self.$field, test.$field, typed.$field, built_in.$field, out, stringify!($field)
                        $(, $scope ($v) [$($show)?] )?);
                )*
            }

            fn explain(
                &self,
                layers: &[(&str, &Self::Layer)],
                explicit: &$crate::settings::Explicit,
                out: &mut Vec<$crate::settings::Explained>,
            ) {
                // Per layer, the groups it sets: it sets all of theirs.
                let groups: Vec<Vec<&str>> = layers
                    .iter()
                    .map(|(_, top)| {
                        let mut g: Vec<&str> = Vec::new();
                        $( $crate::settings::__setting!(@group_set g, top.$field $(, $scope [$($group)?])?); )*
                        g
                    })
                    .collect();
                $(
                    $crate::settings::__setting!(@explain self.$field, layers, groups, explicit, out, $field
                        $(, $scope ($v) [$($merge)?] [$($group)?] [$($genv)?] [$($show)?] )?);
                )*
            }

            fn explain_test(test: &Self::Test, out: &mut Vec<(String, String)>) {
                $( $crate::settings::__setting!(@explain_test test.$field, out, stringify!($field)
                    $(, $scope ($v) [$($show)?] )?); )*
            }
        }
    };
}

/// The per-row pieces of [`settings!`], by what they generate.
#[doc(hidden)]
macro_rules! __setting {
    // The raw value in the file.
    (@file_ty) => { () };
    (@file_ty nested ($v:ty) []) => { <$v as $crate::settings::Settings>::File };
    (@file_ty $s:ident ($v:ty) []) => { () };
    (@file_ty $s:ident ($v:ty) [$x:ty]) => { Option<toml::Spanned<$x>> };

    // A layer's value.
    (@layer_ty) => { () };
    (@layer_ty nested ($v:ty)) => { <$v as $crate::settings::Settings>::Layer };
    (@layer_ty cli ($v:ty)) => { () };
    (@layer_ty $s:ident ($v:ty)) => { Option<$v> };

    // A test's own value.
    (@test_ty) => { () };
    (@test_ty nested ($v:ty)) => { <$v as $crate::settings::Settings>::Test };
    (@test_ty test ($v:ty)) => { Option<$v> };
    (@test_ty extra ($v:ty)) => { Option<$v> };
    (@test_ty $s:ident ($v:ty)) => { () };

    (@merge_ty []) => { $crate::settings::Replace };
    (@merge_ty [$m:ty]) => { $m };

    (@opt []) => { None };
    (@opt [$l:literal]) => { Some($l) };

    (@doc doc = $d:literal) => { Some($d) };
    (@doc $($t:tt)*) => { None };

    (@scope run) => { $crate::settings::Scope::Run };
    (@scope test) => { $crate::settings::Scope::Test };
    (@scope extra) => { $crate::settings::Scope::Extra };
    (@scope cli) => { $crate::settings::Scope::Cli };

    // The reference page's row.
    (@row $out:ident, $name:expr, [$($doc:expr),*]) => {};
    (@row $out:ident, $name:expr, [$($doc:expr),*], nested ($v:ty) $($rest:tt)*) => {
        <$v as $crate::settings::Settings>::rows($out)
    };
    (@row $out:ident, $name:expr, [$($doc:expr),*], $s:ident ($v:ty) [$($x:ty)?] [$($m:ty)?] [$($g:literal)?] [$($a:literal)?] [$($e:literal)?] [$($ar:literal)?] [$($show:expr)?]) => {
        $out.push($crate::settings::Row {
            field: $name,
            scope: $crate::settings::__setting!(@scope $s),
            doc: {
                let doc: &[Option<&'static str>] = &[$($doc),*];
                doc.iter().flatten().copied().collect()
            },
            file_type: $crate::settings::__setting!(@file_name [$($x)?]),
            merge: <$crate::settings::__setting!(@merge_ty [$($m)?]) as $crate::settings::Merge<$v>>::WHAT,
            group: $crate::settings::__setting!(@opt [$($g)?]),
            alias: $crate::settings::__setting!(@opt [$($a)?]),
            given_by_env: $crate::settings::__setting!(@opt [$($e)?]),
            archive: false $(|| $ar)?,
            replayed: false $(|| { let _ = stringify!($show); true })?,
            sub_keys: $crate::settings::__setting!(@file_keys [$($x)?]),
        })
    };
    (@file_name []) => { "" };
    (@file_name [$x:ty]) => { <$x as $crate::settings::FileType>::NAME };
    (@file_keys []) => { &[] };
    (@file_keys [$x:ty]) => { <$x as $crate::settings::FileType>::KEYS };

    // A key of the file, read.
    (@read $f:expr, $key:ident, $map:ident, $name:expr) => {};
    (@read $f:expr, $key:ident, $map:ident, $name:expr, nested ($v:ty) [] []) => {
        if <$v as $crate::settings::Settings>::read_key(&mut $f, $key, $map)? {
            return Ok(true);
        }
    };
    (@read $f:expr, $key:ident, $map:ident, $name:expr, $s:ident ($v:ty) [] [$($a:literal)?]) => {};
    (@read $f:expr, $key:ident, $map:ident, $name:expr, $s:ident ($v:ty) [$x:ty] [$($a:literal)?]) => {
        if $crate::settings::is_key($name, $crate::settings::__setting!(@opt [$($a)?]), $key) {
            if $f.is_some() {
                return Err(<A::Error as serde::de::Error>::custom(format!(
                    "`{}` is set twice (as `{}` and another spelling)", $name.replace('_', "-"), $key
                )));
            }
            $f = Some($map.next_value()?);
            return Ok(true);
        }
    };

    // A value checked.
    (@resolve $f:expr, $cx:ident, $name:expr) => { () };
    (@resolve $f:expr, $cx:ident, $name:expr, nested ($v:ty) []) => {
        <$v as $crate::settings::Settings>::resolve(&$f, $cx)?
    };
    (@resolve $f:expr, $cx:ident, $name:expr, $s:ident ($v:ty) []) => { () };
    (@resolve $f:expr, $cx:ident, $name:expr, $s:ident ($v:ty) [$x:ty, $check:expr]) => {
        match &$f {
            None => None,
            Some(raw) => Some(($check)(&$cx.key($name), raw)?),
        }
    };

    (@group_set $g:ident, $f:expr) => {};
    (@group_set $g:ident, $f:expr, $s:ident []) => {};
    (@group_set $g:ident, $f:expr, $s:ident [$group:literal]) => {
        if $f.is_some() {
            $g.push($group);
        }
    };

    // Layers.
    (@layer $t:expr, $b:expr, $g:ident) => { () };
    (@layer $t:expr, $b:expr, $g:ident, nested ($v:ty) [] []) => {
        <$v as $crate::settings::Settings>::layer($t, $b)
    };
    (@layer $t:expr, $b:expr, $g:ident, cli ($v:ty) [] []) => { () };
    (@layer $t:expr, $b:expr, $g:ident, $s:ident ($v:ty) [$($m:ty)?] []) => {
        <$crate::settings::__setting!(@merge_ty [$($m)?]) as $crate::settings::Merge<$v>>::layer($t, $b)
    };
    (@layer $t:expr, $b:expr, $g:ident, $s:ident ($v:ty) [$($m:ty)?] [$group:literal]) => {
        match $g.contains(&$group) {
            true => $t,
            false => <$crate::settings::__setting!(@merge_ty [$($m)?]) as $crate::settings::Merge<$v>>::layer($t, $b),
        }
    };

    (@group_given $g:ident, $e:ident, $name:expr) => {};
    (@group_given $g:ident, $e:ident, $name:expr, $s:ident []) => {};
    (@group_given $g:ident, $e:ident, $name:expr, $s:ident [$group:literal]) => {
        if $e.has($name) {
            $g.push($group);
        }
    };

    // The file's value into the flag's field.
    (@apply $f:expr, $l:expr, $e:ident, $g:ident, $name:expr) => {};
    (@apply $f:expr, $l:expr, $e:ident, $g:ident, $name:expr, nested ($v:ty) [] [] []) => {
        $crate::settings::Settings::apply(&mut $f, &$l, $e)
    };
    (@apply $f:expr, $l:expr, $e:ident, $g:ident, $name:expr, cli ($v:ty) [] [] []) => {};
    (@apply $f:expr, $l:expr, $e:ident, $g:ident, $name:expr, $s:ident ($v:ty) [$($m:ty)?] [$($group:literal)?] [$($genv:literal)?]) => {{
        let given = $e.has($name)
            $(|| $g.contains(&$group))?
            $(|| std::env::var_os($genv).is_some())?;
        <$crate::settings::__setting!(@merge_ty [$($m)?]) as $crate::settings::Merge<$v>>::apply(&mut $f, $l.clone(), given);
    }};

    // The command line's per-test value.
    (@given $f:expr, $e:ident, $name:expr) => { () };
    (@given $f:expr, $e:ident, $name:expr, nested ($v:ty) []) => {
        $crate::settings::Settings::given(&$f, $e)
    };
    (@given $f:expr, $e:ident, $name:expr, test ($v:ty) [$($genv:literal)?]) => {
        match $e.has($name) $(|| std::env::var_os($genv).is_some())? {
            true => <_ as $crate::settings::Slot<$v>>::get(&$f),
            false => None,
        }
    };
    (@given $f:expr, $e:ident, $name:expr, extra ($v:ty) [$($genv:literal)?]) => { None };
    (@given $f:expr, $e:ident, $name:expr, $s:ident ($v:ty) [$($genv:literal)?]) => { () };

    (@per_test $l:expr, $o:ident) => { () };
    (@per_test $l:expr, $o:ident, nested ($v:ty)) => {
        <$v as $crate::settings::Settings>::per_test(&$l, $o)
    };
    (@per_test $l:expr, $o:ident, test ($v:ty)) => { $l.clone() };
    (@per_test $l:expr, $o:ident, extra ($v:ty)) => {
        match $o {
            true => $l.clone(),
            false => None,
        }
    };
    (@per_test $l:expr, $o:ident, $s:ident ($v:ty)) => { () };

    (@fill $t:expr, $f:expr) => {};
    (@fill $t:expr, $f:expr, nested ($v:ty) []) => {
        <$v as $crate::settings::Settings>::fill(&mut $t, &$f)
    };
    (@fill $t:expr, $f:expr, test ($v:ty) [$($m:ty)?]) => {
        <$crate::settings::__setting!(@merge_ty [$($m)?]) as $crate::settings::Merge<$v>>::fill(&mut $t, &$f)
    };
    (@fill $t:expr, $f:expr, extra ($v:ty) [$($m:ty)?]) => {
        <$crate::settings::__setting!(@merge_ty [$($m)?]) as $crate::settings::Merge<$v>>::fill(&mut $t, &$f)
    };
    (@fill $t:expr, $f:expr, $s:ident ($v:ty) [$($m:ty)?]) => {};

    // The flags a replay carries: a test's own value, else the run's (the
    // command line's alone for `extra`: the configuration, which the
    // replay names, adds the rest); nothing when it is the default.
    (@replay $a:expr, $t:expr, $ty:expr, $b:expr, $out:ident, $name:expr) => {};
    (@replay $a:expr, $t:expr, $ty:expr, $b:expr, $out:ident, $name:expr, nested ($v:ty) []) => {
        $crate::settings::Settings::replay(&$a, &$t, &$ty, &$b, $out)
    };
    (@replay $a:expr, $t:expr, $ty:expr, $b:expr, $out:ident, $name:expr, $s:ident ($v:ty) []) => {};
    (@replay $a:expr, $t:expr, $ty:expr, $b:expr, $out:ident, $name:expr, $s:ident ($v:ty) [$show:expr]) => {{
        let value: Option<$v> = $crate::settings::__setting!(@replayed $s ($v), $a, $t, $ty);
        if value != <_ as $crate::settings::Slot<$v>>::get(&$b)
            && let Some(v) = &value
        {
            $out.flag($name, ($show)(v));
        }
    }};
    (@replayed test ($v:ty), $a:expr, $t:expr, $ty:expr) => {
        $t.clone().or_else(|| <_ as $crate::settings::Slot<$v>>::get(&$a))
    };
    (@replayed extra ($v:ty), $a:expr, $t:expr, $ty:expr) => {
        <_ as $crate::settings::Slot<$v>>::get(&$ty)
    };
    (@replayed $s:ident ($v:ty), $a:expr, $t:expr, $ty:expr) => {
        <_ as $crate::settings::Slot<$v>>::get(&$a)
    };

    // `show-config`: the value and where it came from.
    (@explain $a:expr, $l:ident, $g:ident, $e:ident, $out:ident, $field:ident) => {};
    (@explain $a:expr, $l:ident, $g:ident, $e:ident, $out:ident, $field:ident, nested ($v:ty) [] [] [] []) => {{
        let sub: Vec<(&str, &<$v as $crate::settings::Settings>::Layer)> =
            $l.iter().map(|(n, l)| (*n, &l.$field)).collect();
        $crate::settings::Settings::explain(&$a, &sub, $e, $out)
    }};
    (@explain $a:expr, $l:ident, $g:ident, $e:ident, $out:ident, $field:ident, $s:ident ($v:ty) [$($m:ty)?] [$($group:literal)?] [$($genv:literal)?] [$($show:expr)?]) => {{
        let name = stringify!($field);
        let given = $e.source(name, $crate::settings::__setting!(@opt [$($genv)?]));
        let layer = $crate::settings::__setting!(@explain_layer $s, $l, $g, $field [$($group)?]);
        let value: Option<$v> = <_ as $crate::settings::Slot<$v>>::get(&$a);
        $out.push($crate::settings::Explained {
            key: name.replace('_', "-"),
            value: value.as_ref().map(|v| $crate::settings::__setting!(@describe v [$($show)?])),
            sources: $crate::settings::explain::sources(
                given,
                layer,
                <$crate::settings::__setting!(@merge_ty [$($m)?]) as $crate::settings::Merge<$v>>::COMBINES,
            ),
        });
    }};
    // The first layer that sets a row (or a group it is in).
    (@explain_layer cli, $l:ident, $g:ident, $field:ident [$($group:literal)?]) => { None::<&str> };
    (@explain_layer $s:ident, $l:ident, $g:ident, $field:ident [$($group:literal)?]) => {
        $l.iter()
            .zip(&$g)
            .find(|((_, layer), _groups)| {
                layer.$field.is_some() $(|| _groups.contains(&$group))?
            })
            .map(|((n, _), _)| *n)
    };
    (@describe $v:ident []) => { $crate::settings::Describe::describe($v) };
    // The replay's form where it has one (`512M`, `5%`); a switch that is
    // off, or an empty list, has none.
    (@describe $v:ident [$show:expr]) => {{
        let shown = ($show)($v);
        match shown.is_empty() {
            true => $crate::settings::Describe::describe($v),
            false => $crate::settings::explain::from_shown(shown),
        }
    }};

    (@explain_test $t:expr, $out:ident, $name:expr) => {};
    (@explain_test $t:expr, $out:ident, $name:expr, nested ($v:ty) [$($show:expr)?]) => {
        <$v as $crate::settings::Settings>::explain_test(&$t, $out)
    };
    (@explain_test $t:expr, $out:ident, $name:expr, test ($v:ty) [$($show:expr)?]) => {
        $crate::settings::__setting!(@explain_set $t, $out, $name, [$($show)?])
    };
    (@explain_test $t:expr, $out:ident, $name:expr, extra ($v:ty) [$($show:expr)?]) => {
        $crate::settings::__setting!(@explain_set $t, $out, $name, [$($show)?])
    };
    (@explain_test $t:expr, $out:ident, $name:expr, $s:ident ($v:ty) [$($show:expr)?]) => {};
    (@explain_set $t:expr, $out:ident, $name:expr, [$($show:expr)?]) => {
        if let Some(v) = &$t {
            $out.push(($name.replace('_', "-"), $crate::settings::__setting!(@describe v [$($show)?])));
        }
    };
}

pub(crate) use {__setting, settings};
