//! Filtersets: nextest's test-selection language.
//!
//! A filterset such as `package(my-crate) & test(/parse_/) - test(slow)`
//! selects tests by predicates on the test name, package, target (binary),
//! binary id, binary kind, build platform and the workspace's dependency
//! graph, combined with set operators. The syntax and semantics follow
//! <https://nexte.st/docs/filtersets/reference/>, so expressions written
//! for `cargo nextest run -E` keep working.
//!
//! Two steps, as in nextest (`nextest-filtering`'s parse, then compile
//! against the package graph): [`ParsedFilterset::parse`] checks the
//! syntax before anything is built, and [`ParsedFilterset::compile`] binds
//! it to the [`Workspace`] read from cargo metadata, giving a
//! [`Filterset`]. The configuration, read before the build, uses
//! [`Filterset::parse`], which compiles without a workspace.
//!
//! # Grammar
//!
//! ```text
//! filterset = or_expr EOF ;
//! or_expr   = and_expr { ( "|" | "+" | "or" ) and_expr } ;
//! and_expr  = unary { ( "&" | "and" | "-" ) unary } ;   (* a - b  ==  a & not b *)
//! unary     = ( "not" | "!" ) unary | "(" or_expr ")" | predicate ;
//! predicate = ( "all" | "none" ) "(" ")"
//!           | ( "test" | "package" | "deps" | "rdeps" | "binary" | "binary_id" | "kind" ) "(" matcher ")"
//!           | "platform" "(" ( "host" | "target" ) ")" ;
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
//! glob for `package()`, `deps()`, `rdeps()`, `binary()` and `binary_id()`,
//! equality for `kind()`. An unescaped `,` or `)` ends the text, so glob
//! alternates are written `#{a\,b}`; a regex runs to the next unescaped `/`
//! and may contain `)`.
//!
//! # The workspace predicates, as nextest defines them
//!
//! - `package(m)`: the tests of the workspace packages whose name `m`
//!   matches. A matcher that matches no workspace package is an error
//!   (nextest's `NoPackageMatch`), not an empty set.
//! - `deps(m)`: the tests of the packages `m` matches and of every
//!   workspace package they depend on, directly or not, through normal,
//!   build or dev dependencies (nextest's `DependsCache::depends_on`).
//! - `rdeps(m)`: the tests of the packages `m` matches and of every
//!   workspace package that depends on them, directly or not.
//! - `binary(m)`, `binary_id(m)`: an error as well when `m` matches no
//!   target (binary id) of a workspace package, build scripts aside.
//! - `platform(host)`: the tests built for the host, which are the
//!   proc-macro crates' (nextest's `BuildPlatform::Host`); `platform(target)`
//!   all the others. Without cross-compilation both are this machine, but
//!   the split is the binary's, as in nextest.
//!
//! # Differences from nextest
//!
//! - The graph is cargo metadata's for the host platform with the build's
//!   own feature flags (nextest asks for `--all-features` and the target
//!   platform): an optional dependency counts when its feature is on, and
//!   no package the build did not need is downloaded for it.
//! - Packages are told apart by name (cargo makes them unique within a
//!   workspace), as [`TestInfo`] carries the name.
//! - `package(nope)` is found once the build is done, since that is when
//!   cargo metadata is read; syntax errors are found before.
//! - In the configuration (overrides, read before the build), `deps()` and
//!   `rdeps()` are refused, and `package()`, `binary()` and `binary_id()`
//!   match names without the "matches nothing" check.
//! - `group(m)`: the tests whose group (`[test-groups]`, an override's
//!   `test-group`) `m` matches, `@global` for those in none; as in nextest
//!   only in -E expressions (the overrides decide the groups), and an error
//!   when `m` matches no group.
//! - `default()` parses but is rejected ("default() is not supported by
//!   cargo-isolate"): it needs nextest's configuration.
//! - `kind()` with an equality matcher must name one of [`BINARY_KINDS`].
//! - The keywords `not`/`and`/`or` need only a word boundary after them
//!   (nextest needs a space), and tabs count as whitespace.
//! - Only the first error is reported; `not` and parentheses nest at most 64
//!   levels deep.
//!
//! # Parser and dependencies
//!
//! nextest's own `nextest-filtering` crate was not used: it compiles
//! filtersets against a `guppy` package graph, and brings guppy,
//! nextest-metadata, miette, recursion and smol_str along. The graph
//! predicates need only a walk over cargo metadata's resolve
//! ([`workspace`]), and the parser is a small recursive-descent parser
//! written with `winnow` — the combinator crate nextest-filtering itself
//! uses, and already in our lock file through `toml`, so it adds no new
//! crate. Matching uses `regex` (nextest's regex semantics),
//! `regex-syntax` (error kinds and spans for bad regexes) and `globset`
//! with nextest's settings (no backslash escapes, empty alternates), so
//! regexes and globs behave exactly as in nextest. All of them are
//! compiled once, in [`ParsedFilterset::parse`].

mod compile;
mod parser;
#[cfg(test)]
mod tests;
mod workspace;

pub use workspace::Workspace;

use std::collections::BTreeSet;
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
    /// Its test group (`group()`), [`GLOBAL_GROUP`] when in none; only
    /// -E expressions read it, once the configuration has placed the test.
    pub group: &'a str,
}

/// The group of a test no override puts in one, as nextest names it.
pub const GLOBAL_GROUP: &str = "@global";

/// A filterset whose syntax is checked, its regexes and globs compiled,
/// and whose workspace predicates wait for [`ParsedFilterset::compile`].
#[derive(Debug, Clone)]
pub struct ParsedFilterset {
    source: String,
    expr: Expr,
}

/// A filterset ready to match tests: every predicate resolved.
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
    /// `platform()`: proc-macro crates are built for the host.
    Platform(BuildPlatform),
    /// A predicate on the workspace, before [`compile`]; never in a
    /// [`Filterset`].
    Workspace(WorkspaceLeaf),
    /// What `package()`, `deps()` and `rdeps()` compile to: the names of
    /// the workspace packages selected.
    Packages(BTreeSet<String>),
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
    /// The test's group: the first matching override's `test-group`, else
    /// [`GLOBAL_GROUP`].
    Group,
}

/// nextest's `BuildPlatform`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BuildPlatform {
    Host,
    Target,
}

impl BuildPlatform {
    /// As nextest's binary list decides: proc-macro crates run in the
    /// compiler, so their tests are built for the host.
    fn of_kind(kind: &str) -> BuildPlatform {
        match kind {
            "proc-macro" => BuildPlatform::Host,
            _ => BuildPlatform::Target,
        }
    }
}

/// The predicates that need the workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WorkspacePredicate {
    Package,
    Deps,
    Rdeps,
    Binary,
    BinaryId,
    /// `group()`: the test groups the configuration defines.
    Group,
}

impl WorkspacePredicate {
    fn name(self) -> &'static str {
        match self {
            WorkspacePredicate::Package => "package",
            WorkspacePredicate::Deps => "deps",
            WorkspacePredicate::Rdeps => "rdeps",
            WorkspacePredicate::Binary => "binary",
            WorkspacePredicate::BinaryId => "binary_id",
            WorkspacePredicate::Group => "group",
        }
    }
}

#[derive(Debug, Clone)]
struct WorkspaceLeaf {
    predicate: WorkspacePredicate,
    matcher: Matcher,
    /// The whole predicate, `deps(x)`.
    span: Range<usize>,
    /// The matcher as written, `x` (trailing whitespace left out).
    arg: Range<usize>,
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
            Field::Group => t.group,
        }
    }
}

impl Expr {
    fn matches(&self, t: &TestInfo<'_>) -> bool {
        match self {
            Expr::All => true,
            Expr::None => false,
            Expr::Leaf(field, matcher) => matcher.is_match(field.get(t)),
            Expr::Platform(p) => BuildPlatform::of_kind(t.kind) == *p,
            Expr::Packages(names) => names.contains(t.package),
            // Compiled away before any match.
            Expr::Workspace(_) => false,
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
            // A test's group comes with its name: the overrides match names.
            Expr::Leaf(Field::Test | Field::Group, _) => None,
            Expr::Leaf(..) | Expr::Platform(_) | Expr::Packages(_) | Expr::Workspace(_) => {
                Some(self.matches(t))
            }
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

impl ParsedFilterset {
    /// Parses `expr` and compiles its regexes and globs. Never panics;
    /// errors carry a byte span.
    pub fn parse(expr: &str) -> Result<ParsedFilterset, FiltersetError> {
        match parser::parse(expr) {
            Ok(parsed) => Ok(ParsedFilterset {
                source: expr.to_owned(),
                expr: parsed,
            }),
            Err(diag) => Err(FiltersetError {
                message: diag.message,
                span: diag.span,
            }),
        }
    }

    /// Binds the workspace predicates to `workspace`, as nextest compiles
    /// a filterset against its package graph: `package()`, `deps()`,
    /// `rdeps()`, `binary()` or `binary_id()` matching nothing there is an
    /// error placed on its matcher.
    pub fn compile(&self, workspace: &Workspace) -> Result<Filterset, FiltersetError> {
        self.compile_with(Some(workspace))
    }

    fn compile_with(&self, workspace: Option<&Workspace>) -> Result<Filterset, FiltersetError> {
        match compile::compile(&self.expr, &self.source, workspace) {
            Ok(expr) => Ok(Filterset {
                source: self.source.clone(),
                expr,
            }),
            Err(diag) => Err(FiltersetError {
                message: diag.message,
                span: diag.span,
            }),
        }
    }

    /// The expression as written.
    pub fn source(&self) -> &str {
        &self.source
    }
}

impl Filterset {
    /// Parses and compiles `expr` without a workspace, for filters read
    /// before the build (the configuration): `deps()` and `rdeps()` are an
    /// error, and `package()`, `binary()` and `binary_id()` match names
    /// unchecked. Never panics; errors carry a byte span.
    pub fn parse(expr: &str) -> Result<Filterset, FiltersetError> {
        ParsedFilterset::parse(expr)?.compile_with(None)
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
    pub fn source(&self) -> &str {
        &self.source
    }
}

/// Why a filterset did not parse, or did not compile against the workspace.
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
