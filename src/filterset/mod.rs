//! Filtersets: nextest's test-selection language, for the parts that apply to
//! cargo-isolate.
//!
//! A filterset such as `package(my-crate) & test(/parse_/) - test(slow)`
//! selects tests by predicates on the test name, package, target (binary),
//! binary id and binary kind, combined with set operators. The syntax and
//! semantics follow <https://nexte.st/docs/filtersets/reference/>, so
//! expressions written for `cargo nextest run -E` keep working.
//!
//! # Grammar
//!
//! ```text
//! filterset = or_expr EOF ;
//! or_expr   = and_expr { ( "|" | "+" | "or" ) and_expr } ;
//! and_expr  = unary { ( "&" | "and" | "-" ) unary } ;   (* a - b  ==  a & not b *)
//! unary     = ( "not" | "!" ) unary | "(" or_expr ")" | predicate ;
//! predicate = ( "all" | "none" ) "(" ")"
//!           | ( "test" | "package" | "binary" | "binary_id" | "kind" ) "(" matcher ")" ;
//! matcher   = "=" text | "~" text | "#" text | "/" regex "/" | text ;
//! text      = { char - ( "," | ")" | "\" ) | escape }- ;     (* non-empty *)
//! escape    = "\" ( "n" | "r" | "t" | "b" | "f" | "\" | "/" | ")" | "," | "u{" hex{1..6} "}" ) ;
//! regex     = { char - ( "/" | "\" ) | "\/" | "\" char } ;  (* handed to the regex crate *)
//! ```
//!
//! Precedence, tightest first: parentheses, `not`/`!`, `and`/`&`/`-`,
//! `or`/`|`/`+`; binary operators associate to the left. Whitespace (space,
//! tab, line break) may appear between tokens and before a matcher; inside
//! `text` it is part of the string, exactly as in nextest.
//!
//! Matchers: `=s` equals `s`, `~s` contains `s`, `/re/` regex found anywhere
//! in the name (anchor with `^…$`), `#g` glob matching the whole name (`*`
//! also crosses `/` and `::`; escape metacharacters as `[*]`). Without a
//! prefix, the default is the one nextest documents: contains for `test()`,
//! glob for `package()`, `binary()` and `binary_id()`, equality for `kind()`.
//! An unescaped `,` or `)` ends the text, so glob alternates are written
//! `#{a\,b}`; a regex runs to the next unescaped `/` and may contain `)`.
//!
//! # Differences from nextest
//!
//! - `deps()`, `rdeps()`, `platform()`, `default()` and `group()` parse but
//!   are rejected ("deps() is not supported by cargo-isolate"): they need
//!   nextest's package graph, platform split or configuration.
//! - `package()`, `binary()` and `binary_id()` are evaluated against the
//!   strings in [`TestInfo`]; nextest additionally rejects a matcher that
//!   matches no workspace package or binary.
//! - `kind()` with an equality matcher must name one of [`BINARY_KINDS`].
//! - The keywords `not`/`and`/`or` need only a word boundary after them
//!   (nextest needs a space), and tabs count as whitespace.
//! - Only the first error is reported; `not` and parentheses nest at most 64
//!   levels deep.
//!
//! # Parser and dependencies
//!
//! nextest's own `nextest-filtering` crate was not used: it compiles
//! filtersets against a `guppy` package graph (its `Filterset::parse` needs a
//! `PackageGraph`), and brings guppy, nextest-metadata, miette, recursion and
//! smol_str along for predicates we reject anyway. The parser is instead a
//! small recursive-descent parser written with `winnow` — the combinator
//! crate nextest-filtering itself uses, and already in our lock file through
//! `toml`, so it adds no new crate. Matching uses `regex` (nextest's regex
//! semantics), `regex-syntax` (error kinds and spans for bad regexes) and
//! `globset` with nextest's settings (no backslash escapes, empty
//! alternates), so regexes and globs behave exactly as in nextest. All of
//! them are compiled once, in [`Filterset::parse`].

mod parser;
#[cfg(test)]
mod tests;

use std::fmt;
use std::ops::Range;

/// The binary kinds `kind()` accepts, as nextest names them.
pub const BINARY_KINDS: [&str; 6] = ["lib", "bin", "test", "bench", "example", "proc-macro"];

fn kind_is_known(kind: &str) -> bool {
    BINARY_KINDS.contains(&kind)
}

/// What a filterset is evaluated against: one test, or one whole binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestInfo<'a> {
    /// The package name.
    pub package: &'a str,
    /// The cargo target name.
    pub binary: &'a str,
    /// nextest's binary id, e.g. `"pkg"` (lib), `"pkg::it"` (test) or
    /// `"pkg::bin/name"`.
    pub binary_id: &'a str,
    /// One of [`BINARY_KINDS`].
    pub kind: &'a str,
    /// The libtest name; `""` for a whole-binary unit.
    pub name: &'a str,
}

/// A parsed filterset, with its regexes and globs compiled.
#[derive(Debug, Clone)]
pub struct Filterset {
    source: String,
    expr: Expr,
}

#[derive(Debug, Clone)]
enum Expr {
    All,
    None,
    Leaf(Field, Matcher),
    Not(Box<Expr>),
    /// Intersection of all terms (`a - b` is stored as `a`, `Not(b)`).
    And(Vec<Expr>),
    /// Union of all terms.
    Or(Vec<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Test,
    Package,
    Binary,
    BinaryId,
    Kind,
}

#[derive(Debug, Clone)]
enum Matcher {
    Equal(String),
    Contains(String),
    Glob {
        #[expect(dead_code, reason = "the pattern as written, shown by Debug")]
        glob: String,
        regex: regex::bytes::Regex,
    },
    Regex(regex::Regex),
}

impl Matcher {
    fn is_match(&self, s: &str) -> bool {
        match self {
            Matcher::Equal(value) => s == value,
            Matcher::Contains(value) => s.contains(value.as_str()),
            Matcher::Glob { regex, .. } => regex.is_match(s.as_bytes()),
            Matcher::Regex(regex) => regex.is_match(s),
        }
    }
}

impl Field {
    fn get<'a>(self, t: &TestInfo<'a>) -> &'a str {
        match self {
            Field::Test => t.name,
            Field::Package => t.package,
            Field::Binary => t.binary,
            Field::BinaryId => t.binary_id,
            Field::Kind => t.kind,
        }
    }
}

impl Expr {
    fn matches(&self, t: &TestInfo<'_>) -> bool {
        match self {
            Expr::All => true,
            Expr::None => false,
            Expr::Leaf(field, matcher) => matcher.is_match(field.get(t)),
            Expr::Not(inner) => !inner.matches(t),
            Expr::And(terms) => terms.iter().all(|e| e.matches(t)),
            Expr::Or(terms) => terms.iter().any(|e| e.matches(t)),
        }
    }

    /// Three-valued: `None` when the answer depends on the test name.
    fn matches_binary(&self, t: &TestInfo<'_>) -> Option<bool> {
        match self {
            Expr::All => Some(true),
            Expr::None => Some(false),
            Expr::Leaf(Field::Test, _) => None,
            Expr::Leaf(field, matcher) => Some(matcher.is_match(field.get(t))),
            Expr::Not(inner) => inner.matches_binary(t).map(|b| !b),
            Expr::And(terms) => {
                let mut result = Some(true);
                for term in terms {
                    match term.matches_binary(t) {
                        Some(false) => return Some(false),
                        Some(true) => {}
                        None => result = None,
                    }
                }
                result
            }
            Expr::Or(terms) => {
                let mut result = Some(false);
                for term in terms {
                    match term.matches_binary(t) {
                        Some(true) => return Some(true),
                        Some(false) => {}
                        None => result = None,
                    }
                }
                result
            }
        }
    }
}

impl Filterset {
    /// Parses and compiles `expr`. Never panics; errors carry a byte span.
    pub fn parse(expr: &str) -> Result<Filterset, FiltersetError> {
        match parser::parse(expr) {
            Ok(compiled) => Ok(Filterset {
                source: expr.to_owned(),
                expr: compiled,
            }),
            Err(diag) => Err(FiltersetError {
                message: diag.message,
                span: diag.span,
            }),
        }
    }

    /// Whether the test (or whole-binary unit, with `name == ""`) is selected.
    pub fn matches(&self, t: &TestInfo<'_>) -> bool {
        self.expr.matches(t)
    }

    /// Decides for a whole binary without its test names, like nextest's
    /// `matches_binary`: `Some(b)` if every test in the binary gets the same
    /// answer `b` whatever its name, `None` if it depends on `test()`.
    /// `t.name` is ignored.
    pub fn matches_binary(&self, t: &TestInfo<'_>) -> Option<bool> {
        self.expr.matches_binary(t)
    }

    /// The expression as written.
    #[cfg_attr(not(test), expect(dead_code, reason = "kept for messages and tests"))]
    pub fn source(&self) -> &str {
        &self.source
    }
}

/// Why a filterset did not parse.
#[derive(Debug, Clone, PartialEq)]
pub struct FiltersetError {
    /// What is wrong, in lowercase, without the position.
    pub message: String,
    /// Byte offsets into the expression; empty when pointing between
    /// characters (e.g. at the end for a missing `)`).
    pub span: Range<usize>,
}

impl fmt::Display for FiltersetError {
    /// `"<message> at column <n>"`, where `n` is the 1-based byte column
    /// (the character column for ASCII expressions).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at column {}", self.message, self.span.start + 1)
    }
}

impl std::error::Error for FiltersetError {}

impl FiltersetError {
    /// The expression on one line, carets under the span, then the message:
    ///
    /// ```text
    /// test(/[/)
    ///       ^
    /// invalid regex: unclosed character class at column 7
    /// ```
    pub fn render(&self, expr: &str) -> String {
        let start = floor_char_boundary(expr, self.span.start);
        let end = floor_char_boundary(expr, self.span.end).max(start);
        let pad = console::measure_text_width(&one_line(&expr[..start]));
        let marks = console::measure_text_width(&one_line(&expr[start..end])).max(1);
        format!(
            "{}\n{}{}\n{self}",
            one_line(expr),
            " ".repeat(pad),
            "^".repeat(marks)
        )
    }
}

/// Replaces line breaks and tabs with spaces and other control characters
/// with U+FFFD, one character for one, so carets stay aligned.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\n' | '\r' | '\t' => ' ',
            c if c.is_control() => char::REPLACEMENT_CHARACTER,
            c => c,
        })
        .collect()
}

fn floor_char_boundary(s: &str, index: usize) -> usize {
    let mut index = index.min(s.len());
    while !s.is_char_boundary(index) {
        index -= 1;
    }
    index
}
