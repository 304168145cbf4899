//! The file as written: `[profile.<name>]` tables whose keys are the
//! settings of the table in `cli.rs` (every key optional, an unknown key
//! refused at its place), and their `[[profile.<name>.overrides]]`.
//! Values keep their place in the file (`Spanned`) so that an error can
//! point at them; nothing here checks a value, `resolve` does.

use crate::cli::TestArgs;
use crate::settings::{self, Row, Settings, Text};
use serde::de::{self, DeserializeSeed, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::sync::LazyLock;

/// The keys of one profile or override, as written.
pub type Keys = <TestArgs as Settings>::File;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileToml {
    #[serde(default)]
    pub profile: BTreeMap<String, ProfileToml>,
    /// `[test-groups.<name>]`, as nextest's.
    #[serde(default, rename = "test-groups")]
    pub test_groups: BTreeMap<toml::Spanned<String>, TestGroupToml>,
}

/// One `[test-groups.<name>]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TestGroupToml {
    pub max_threads: toml::Spanned<i64>,
}

/// One profile as written.
#[derive(Debug, Default, Clone)]
pub struct ProfileToml {
    pub keys: Keys,
    pub overrides: Vec<OverrideToml>,
}

/// One `[[profile.<name>.overrides]]` entry as written.
#[derive(Debug, Clone)]
pub struct OverrideToml {
    pub filter: Text,
    pub keys: Keys,
}

/// The keys a profile and an override may hold, spelled as in the file:
/// every setting's key and alias, and the table's own (`overrides`,
/// `filter`).
fn key_list(rows: &[Row], own: &'static str, keep: impl Fn(&Row) -> bool) -> Vec<&'static str> {
    let mut keys = vec![own];
    for r in rows.iter().filter(|r| r.has_key() && keep(r)) {
        keys.push(Box::leak(r.key().into_boxed_str()));
        keys.extend(r.alias);
    }
    keys
}

static ROWS: LazyLock<Vec<Row>> = LazyLock::new(settings::rows_of::<TestArgs>);
pub static PROFILE_KEYS: LazyLock<Vec<&'static str>> =
    LazyLock::new(|| key_list(&ROWS, "overrides", |_| true));
pub static OVERRIDE_KEYS: LazyLock<Vec<&'static str>> =
    LazyLock::new(|| key_list(&ROWS, "filter", Row::in_override));

/// A key of a table, checked against `known` as serde's derive checks a
/// struct's fields: an unknown one is an error at the key.
struct Key(&'static [&'static str]);

impl<'de> DeserializeSeed<'de> for Key {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_identifier(self)
    }
}

impl Visitor<'_> for Key {
    type Value = String;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        match self.0.contains(&v) {
            true => Ok(v.to_string()),
            false => Err(E::unknown_field(v, self.0)),
        }
    }
}

/// A profile or an override: which keys it takes, and its own (the
/// overrides of a profile, the filter of an override).
struct Table {
    keys: &'static [&'static str],
    in_override: bool,
}

impl<'de> Visitor<'de> for Table {
    type Value = (Keys, Vec<OverrideToml>, Option<Text>);

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.in_override {
            true => "an override",
            false => "a profile",
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut keys, mut overrides, mut filter) = (Keys::default(), None, None);
        while let Some(key) = map.next_key_seed(Key(self.keys))? {
            match key.as_str() {
                "overrides" if !self.in_override => overrides = Some(map.next_value()?),
                "filter" if self.in_override => filter = Some(map.next_value()?),
                k => {
                    if !TestArgs::read_key(&mut keys, k, &mut map)? {
                        return Err(de::Error::unknown_field(k, self.keys));
                    }
                }
            }
        }
        Ok((keys, overrides.unwrap_or_default(), filter))
    }
}

impl<'de> Deserialize<'de> for ProfileToml {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let table = Table {
            keys: &PROFILE_KEYS,
            in_override: false,
        };
        let (keys, overrides, _) = d.deserialize_map(table)?;
        Ok(ProfileToml { keys, overrides })
    }
}

impl<'de> Deserialize<'de> for OverrideToml {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let table = Table {
            keys: &OVERRIDE_KEYS,
            in_override: true,
        };
        let (keys, _, filter) = d.deserialize_map(table)?;
        let filter = filter.ok_or_else(|| de::Error::missing_field("filter"))?;
        Ok(OverrideToml { filter, keys })
    }
}

/// The keys a derived table (`FileToml`, `TestGroupToml`) accepts, as
/// serde's derive names them: what it hands `deserialize_struct`.
#[cfg(test)]
pub fn fields_of<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    /// A deserializer that only answers which fields were asked for.
    struct Fields;
    #[derive(Debug)]
    struct Asked(&'static [&'static str]);
    impl std::fmt::Display for Asked {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{:?}", self.0)
        }
    }
    impl std::error::Error for Asked {}
    impl de::Error for Asked {
        fn custom<M: std::fmt::Display>(_: M) -> Self {
            Asked(&[])
        }
    }
    impl<'de> Deserializer<'de> for Fields {
        type Error = Asked;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Asked> {
            Err(Asked(&[]))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Asked> {
            Err(Asked(fields))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
            bytes byte_buf option unit unit_struct newtype_struct seq tuple
            tuple_struct map enum identifier ignored_any
        }
    }
    match T::deserialize(Fields) {
        Ok(_) => &[],
        Err(Asked(fields)) => fields,
    }
}
