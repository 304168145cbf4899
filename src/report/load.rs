//! Reading a report back: the one loader of `report merge`, `report html`
//! and `report diff`. A report file is input from elsewhere (a shard's
//! upload, a CI artifact, main's baseline), so before it becomes a
//! [`Report`] it is refused, naming the place:
//!
//! - when a key appears twice in one object: JSON leaves that undefined, and
//!   a reader keeping the first would see another report than one keeping
//!   the last (serde's derive refuses a known field twice, but a map or an
//!   unknown field would keep the last);
//! - when a figure is negative or past any plausible bound ([`MAX_AMOUNT`],
//!   [`MAX_DURATION_MS`]); JSON itself has no NaN or infinity, and the
//!   parser refuses those tokens and numbers out of the f64 range;
//! - when it is not a report of schema version 1 (then serde's own checks:
//!   missing fields, the fixed vocabularies).

use super::Report;
use super::escape::for_terminal_line;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::cell::RefCell;
use std::fmt;
use std::path::{Path, PathBuf};

/// The largest count, size or other figure a report may hold: 2^53, past
/// which a JSON number is no longer exact in most readers (JavaScript's
/// among them), and 8 PiB of memory.
pub const MAX_AMOUNT: f64 = 9_007_199_254_740_992.0;

/// The longest duration a report may hold, in milliseconds: a year.
pub const MAX_DURATION_MS: f64 = 365.25 * 24.0 * 3600.0 * 1000.0;

/// Why a report file was not read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not a cargo-isolate report: {why}", path.display())]
    Invalid { path: PathBuf, why: ReportError },
}

/// Why a text is not a report; the file is named by [`LoadError`].
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum ReportError {
    /// Not JSON, or JSON that does not fit the model; serde_json's message
    /// has the line and column, `near` the text there.
    #[error("{message}{}", near.as_ref().map(|n| format!(", near `{n}`")).unwrap_or_default())]
    Json {
        message: String,
        near: Option<String>,
    },
    #[error("key {key:?} appears twice in {at} (line {line}, column {column})")]
    DuplicateKey {
        key: String,
        at: String,
        line: usize,
        column: usize,
    },
    #[error("the top level is not a JSON object")]
    NotAnObject,
    #[error("no schema_version")]
    NoVersion,
    #[error("schema version {0}; this cargo-isolate reads 1")]
    Version(String),
    #[error("{field}{} is {value}: {why}", test.as_ref().map(|t| format!(" (test {t:?})")).unwrap_or_default())]
    Figure {
        field: String,
        /// The id of the test record the field is in.
        test: Option<String>,
        value: String,
        why: &'static str,
    },
}

/// Reads the report at `path`.
pub fn read(path: &Path) -> Result<Report, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text).map_err(|why| LoadError::Invalid {
        path: path.to_path_buf(),
        why,
    })
}

/// A report from its text: see the module doc. A report written before
/// the fields added to v1 existed reads with their defaults (a missing
/// `binary_id` is worked out from the package, target and kind as a run
/// forms it).
pub fn parse(text: &str) -> Result<Report, ReportError> {
    let value = strict_value(text)?;
    let Value::Object(top) = &value else {
        return Err(ReportError::NotAnObject);
    };
    // The version first: a later schema may not parse as this one, and
    // "missing field" would hide why.
    match top.get("schema_version") {
        Some(v) if *v == 1 => {}
        Some(v) => return Err(ReportError::Version(v.to_string())),
        None => return Err(ReportError::NoVersion),
    }
    check_figures(&value)?;
    drop(value);
    // From the text again (not the value), for serde_json's line and column.
    let mut report: Report = serde_json::from_str(text).map_err(|e| json_error(&e, text))?;
    for t in report.tests.iter_mut().filter(|t| t.binary_id.is_empty()) {
        t.binary_id = crate::model::binary_id(&t.package, &t.binary, &t.kind);
    }
    Ok(report)
}

fn json_error(e: &serde_json::Error, text: &str) -> ReportError {
    use serde_json::error::Category;
    let near = matches!(e.classify(), Category::Syntax | Category::Eof)
        .then(|| near(text, e.line(), e.column()))
        .flatten();
    ReportError::Json {
        message: e.to_string(),
        near,
    }
}

/// The text around `line`:`column` (1-based, as serde_json counts: the
/// column in bytes), on one line, for a message.
fn near(text: &str, line: usize, column: usize) -> Option<String> {
    let l = text.lines().nth(line.checked_sub(1)?)?;
    let at = column.saturating_sub(1).min(l.len());
    let mut start = at.saturating_sub(40);
    while !l.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = (at + 20).min(l.len());
    while !l.is_char_boundary(end) {
        end += 1;
    }
    let s = l[start..end].trim();
    (!s.is_empty()).then(|| for_terminal_line(s).into_owned())
}

// ------------------------------------------------------- duplicate keys

/// Where a duplicate key was found: the key, and the path to its object,
/// innermost segment first (filled in as the error unwinds).
struct Duplicate {
    key: String,
    path: Vec<String>,
}

/// Parses `text` into a [`Value`] as serde_json does, except that a key
/// twice in one object is an error naming it and its place.
fn strict_value(text: &str) -> Result<Value, ReportError> {
    let found = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed = StrictValue { found: &found }
        .deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v));
    parsed.map_err(|e| match found.into_inner() {
        Some(Duplicate { key, path }) => ReportError::DuplicateKey {
            key,
            at: path_name(path),
            line: e.line(),
            column: e.column(),
        },
        None => json_error(&e, text),
    })
}

/// "tests[3].attempts[0]" from its segments, innermost first; "the top
/// level" for none.
fn path_name(mut segments: Vec<String>) -> String {
    if segments.is_empty() {
        return "the top level".into();
    }
    segments.reverse();
    let joined = segments.concat();
    joined.strip_prefix('.').unwrap_or(&joined).to_string()
}

/// A segment of a path for a message: `.key` (made visible when the key is
/// not a plain name), `[3]`.
fn key_segment(key: &str) -> String {
    if !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        format!(".{key}")
    } else {
        format!("[{key:?}]")
    }
}

#[derive(Clone, Copy)]
struct StrictValue<'a> {
    found: &'a RefCell<Option<Duplicate>>,
}

impl StrictValue<'_> {
    /// Adds `segment` to the path of a duplicate found below.
    fn within<E>(self, segment: impl FnOnce() -> String) -> impl FnOnce(E) -> E {
        move |e| {
            if let Some(d) = self.found.borrow_mut().as_mut() {
                d.path.push(segment());
            }
            e
        }
    }
}

impl<'de> DeserializeSeed<'de> for StrictValue<'_> {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // serde_json gives only finite numbers.
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(item) = seq
            .next_element_seed(self)
            .map_err(self.within(|| format!("[{}]", items.len())))?
        {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                let message = format!("duplicate key {key:?}");
                *self.found.borrow_mut() = Some(Duplicate {
                    key,
                    path: Vec::new(),
                });
                return Err(de::Error::custom(message));
            }
            let value = map
                .next_value_seed(self)
                .map_err(self.within(|| key_segment(&key)))?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

// -------------------------------------------------------------- figures

/// What a number in a report measures, by its key.
#[derive(Clone, Copy, PartialEq)]
enum Figure {
    /// A count, a size in bytes, a limit, a CPU share: 0..=2^53.
    Amount,
    /// Milliseconds (`*_ms`, and the min/median/max under one): 0..=a year.
    Duration,
    /// An exit code, a change in percent: -2^53..=2^53.
    Signed,
    /// A share, 0..=1 (`pass_rate`).
    Fraction,
}

impl Figure {
    /// The figure of the value under `key`, in an object under `parent`.
    fn of(key: &str, parent: Figure) -> Figure {
        match key {
            "exit_code" | "percent" => Figure::Signed,
            "pass_rate" => Figure::Fraction,
            k if k.ends_with("_ms") => Figure::Duration,
            // A spread's min/median/max are figures of its parent's kind.
            _ if parent == Figure::Duration => Figure::Duration,
            _ => Figure::Amount,
        }
    }

    /// Why `v` cannot be this figure, if it cannot.
    fn refuse(self, v: f64) -> Option<&'static str> {
        match self {
            Figure::Signed if v.abs() > MAX_AMOUNT => Some("past 2^53, more than any run measures"),
            Figure::Signed => None,
            _ if v < 0.0 => Some("a figure is never negative"),
            Figure::Duration if v > MAX_DURATION_MS => Some("more than a year"),
            Figure::Fraction if v > 1.0 => Some("a share is at most 1"),
            Figure::Amount if v > MAX_AMOUNT => Some("past 2^53, more than any run measures"),
            _ => None,
        }
    }
}

/// A figure refused, with the path to it, innermost segment first.
struct Refused {
    path: Vec<String>,
    value: String,
    why: &'static str,
}

/// Every number in the report, checked by what its key says it measures.
fn check_figures(report: &Value) -> Result<(), ReportError> {
    walk(report, Figure::Amount).map_err(|r| {
        // tests[N] first: name the test.
        let test = match r.path.iter().rev().take(2).collect::<Vec<_>>()[..] {
            [first, index] if first == ".tests" => index
                .trim_matches(['[', ']'])
                .parse::<usize>()
                .ok()
                .and_then(|i| report["tests"][i]["id"].as_str())
                .map(|id| for_terminal_line(id).into_owned()),
            _ => None,
        };
        ReportError::Figure {
            field: path_name(r.path),
            test,
            value: r.value,
            why: r.why,
        }
    })
}

fn walk(v: &Value, figure: Figure) -> Result<(), Refused> {
    match v {
        Value::Number(n) => match n.as_f64().and_then(|x| figure.refuse(x)) {
            Some(why) => Err(Refused {
                path: Vec::new(),
                value: n.to_string(),
                why,
            }),
            None => Ok(()),
        },
        Value::Array(items) => items.iter().enumerate().try_for_each(|(i, item)| {
            walk(item, figure).map_err(|mut r| {
                r.path.push(format!("[{i}]"));
                r
            })
        }),
        Value::Object(map) => map.iter().try_for_each(|(k, item)| {
            walk(item, Figure::of(k, figure)).map_err(|mut r| {
                r.path.push(key_segment(k));
                r
            })
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{TestRecord, testing};
    use serde_json::json;

    /// A valid report of one record, "p a", as JSON.
    fn valid() -> Value {
        let mut t = TestRecord::new("p a".into(), "p", "p", "lib", Some("a".into()));
        t.outcome = "failed".into();
        (t.duration_ms, t.peak_memory_bytes, t.exit_code) = (Some(1.5), Some(1 << 20), Some(-1));
        let report = testing::report(vec![t], "2025-01-01T10:00:00.000Z", 10.0);
        serde_json::to_value(&report).unwrap()
    }

    /// `valid()` with the value at `path` (keys and indexes) set.
    fn with(path: &[&str], value: Value) -> Value {
        let mut v = valid();
        let mut at = &mut v;
        for key in path {
            at = match key.parse::<usize>() {
                Ok(i) => &mut at[i],
                Err(_) => &mut at[*key],
            };
        }
        *at = value;
        v
    }

    fn refused(text: &str) -> ReportError {
        parse(text).map(|_| ()).unwrap_err()
    }

    #[test]
    fn a_valid_report_reads() {
        let r = parse(&valid().to_string()).unwrap();
        assert_eq!(r.tests[0].exit_code, Some(-1));
        assert_eq!(r.tests[0].binary_id, "p");
    }

    #[test]
    fn a_key_twice_is_refused_where_it_is() {
        let text = serde_json::to_string_pretty(&valid()).unwrap();
        // In a test record: the second "outcome" would win in a Value and
        // be refused by serde's derive, with no place named.
        let twice = text.replacen(
            "\"outcome\": \"failed\"",
            "\"outcome\": \"failed\",\n      \"outcome\": \"passed\"",
            1,
        );
        let err = refused(&twice);
        let ReportError::DuplicateKey { key, at, line, .. } = &err else {
            panic!("{err}")
        };
        assert_eq!((key.as_str(), at.as_str()), ("outcome", "tests[0]"));
        assert_eq!(
            twice.lines().nth(line - 1).unwrap().trim(),
            "\"outcome\": \"passed\","
        );
        assert!(
            err.to_string()
                .starts_with("key \"outcome\" appears twice in tests[0] (line ")
        );
        // At the top level, in a map serde reads into a BTreeMap, and a key
        // no field has.
        let top = text.replacen("{", "{\"complete\": false,", 1);
        assert!(
            matches!(refused(&top), ReportError::DuplicateKey { at, .. } if at == "the top level")
        );
        let mut stressed = valid();
        stressed["tests"][0]["x-note"] = json!({"a b": {"k": 1}});
        let text = stressed
            .to_string()
            .replace("{\"k\":1}", "{\"k\":1,\"k\":2}");
        let err = refused(&text);
        assert!(
            matches!(&err, ReportError::DuplicateKey { key, at, .. } if key == "k" && at == "tests[0][\"x-note\"][\"a b\"]"),
            "{err}"
        );
    }

    #[test]
    fn negative_and_absurd_figures_are_refused_naming_the_field() {
        let cases: [(&[&str], Value, &str); 9] = [
            (
                &["tests", "0", "duration_ms"],
                json!(-5.0),
                "tests[0].duration_ms (test \"p a\") is -5.0: a figure is never negative",
            ),
            (
                &["tests", "0", "peak_memory_bytes"],
                json!(-1),
                "tests[0].peak_memory_bytes (test \"p a\") is -1: a figure is never negative",
            ),
            (
                &["tests", "0", "peak_memory_bytes"],
                json!(1u64 << 60),
                "tests[0].peak_memory_bytes (test \"p a\") is 1152921504606846976: past 2^53, more than any run measures",
            ),
            (
                &["tests", "0", "cpu_ms"],
                json!(4e10),
                "tests[0].cpu_ms (test \"p a\") is 40000000000.0: more than a year",
            ),
            (
                &["duration_ms"],
                json!(1e300),
                "duration_ms is 1e+300: more than a year",
            ),
            (
                &["settings", "timeout_ms"],
                json!(-1),
                "settings.timeout_ms is -1: a figure is never negative",
            ),
            (
                &["summary", "failed"],
                json!(-1),
                "summary.failed is -1: a figure is never negative",
            ),
            (
                &["tests", "0", "stress"],
                json!({"duration_ms": {"min": -1.0}}),
                "tests[0].stress.duration_ms.min (test \"p a\") is -1.0: a figure is never negative",
            ),
            (
                &["tests", "0", "stress"],
                json!({"pass_rate": 1.5}),
                "tests[0].stress.pass_rate (test \"p a\") is 1.5: a share is at most 1",
            ),
        ];
        for (path, value, want) in cases {
            let err = refused(&with(path, value).to_string());
            assert!(matches!(err, ReportError::Figure { .. }), "{err}");
            assert_eq!(err.to_string(), want);
        }
        // Within bounds: a year, 2^53, a negative exit code.
        let v = with(&["tests", "0", "duration_ms"], json!(MAX_DURATION_MS));
        let v = serde_json::to_string(&v).unwrap();
        assert!(parse(&v).is_ok());
    }

    #[test]
    fn what_json_cannot_hold_is_refused_with_where() {
        let text = serde_json::to_string_pretty(&valid()).unwrap();
        for bad in ["NaN", "Infinity", "-Infinity", "1e400"] {
            let t = text.replacen(
                "\"duration_ms\": 1.5",
                &format!("\"duration_ms\": {bad}"),
                1,
            );
            let err = refused(&t).to_string();
            assert!(err.contains(" at line "), "{bad}: {err}");
            assert!(
                err.contains(&format!("near `\"duration_ms\": {bad}")),
                "{bad}: {err}"
            );
        }
        assert_eq!(refused("[1, 2]"), ReportError::NotAnObject);
        assert_eq!(refused("{}"), ReportError::NoVersion);
        assert_eq!(
            refused("{\"schema_version\": 2}").to_string(),
            "schema version 2; this cargo-isolate reads 1"
        );
    }
}
