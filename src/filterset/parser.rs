//! The filterset parser, written with `winnow` combinators.
//!
//! The parser stops at the first error and reports it as a [`Diag`] with a
//! byte span into the expression. Every error is raised as
//! [`ErrMode::Cut`], so `alt`/`opt` never swallow a real diagnostic; a
//! backtrack error only escapes if a branch was forgotten, and the caller maps
//! it to a generic message instead of panicking.
//!
//! Recursion only happens through `not`/`!` and parentheses, and both count
//! against [`MAX_DEPTH`], so neither the parser nor the evaluator nor `Drop` of
//! the tree can overflow the stack. Chains of binary operators are collected
//! into flat n-ary nodes rather than a left-leaning tree for the same reason.

use super::{
    BuildPlatform, Expr, Field, Matcher, WorkspaceLeaf, WorkspacePredicate, kind_is_known,
};
use std::ops::Range;
use winnow::{
    LocatingSlice, Parser,
    combinator::{alt, delimited, preceded},
    error::{ErrMode, ModalResult, ParserError},
    stream::{Location, Stream},
    token::{any, one_of, take_till, take_while},
};

/// How deeply `not`/`!` and parentheses may nest.
pub(super) const MAX_DEPTH: usize = 64;

type Input<'a> = LocatingSlice<&'a str>;
type PResult<T> = ModalResult<T, Diag>;

/// A parse error: a message and the byte span it refers to.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Diag {
    pub(super) message: String,
    pub(super) span: Range<usize>,
}

impl<'a> ParserError<Input<'a>> for Diag {
    type Inner = Self;

    fn from_input(input: &Input<'a>) -> Self {
        let at = input.current_token_start();
        Diag {
            message: String::new(),
            span: at..at,
        }
    }

    fn into_inner(self) -> Result<Self::Inner, Self> {
        Ok(self)
    }
}

/// Raises a diagnostic that stops the whole parse.
fn fail<T>(message: impl Into<String>, span: Range<usize>) -> PResult<T> {
    Err(ErrMode::Cut(Diag {
        message: message.into(),
        span,
    }))
}

/// Parses a whole filterset expression.
pub(super) fn parse(source: &str) -> Result<Expr, Diag> {
    let mut input = LocatingSlice::new(source);
    match filterset(&mut input) {
        Ok(expr) => Ok(expr),
        Err(ErrMode::Cut(diag) | ErrMode::Backtrack(diag)) if !diag.message.is_empty() => Err(diag),
        Err(ErrMode::Cut(diag) | ErrMode::Backtrack(diag)) => Err(Diag {
            message: "invalid filterset".to_owned(),
            span: diag.span,
        }),
        Err(ErrMode::Incomplete(_)) => Err(Diag {
            message: "invalid filterset".to_owned(),
            span: 0..source.len(),
        }),
    }
}

fn filterset(i: &mut Input<'_>) -> PResult<Expr> {
    let expr = or_expr(i, 0, None)?;
    ws(i)?;
    if i.is_empty() {
        return Ok(expr);
    }
    let (token, span) = peek_token(i);
    if token == ")" {
        fail("unexpected ')' without a matching '('", span)
    } else {
        fail(
            format!("expected an operator or the end of the expression, found '{token}'"),
            span,
        )
    }
}

// ---------------------------------------------------------------------------
// Lexical helpers

fn is_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Skips spaces, tabs and line breaks (filtersets may span lines in TOML).
fn ws(i: &mut Input<'_>) -> PResult<()> {
    take_while(0.., is_ws).void().parse_next(i)
}

fn pos(i: &Input<'_>) -> usize {
    i.current_token_start()
}

/// Consumes `c` if it comes next.
fn eat(i: &mut Input<'_>, mut c: char) -> bool {
    let result: PResult<char> = c.parse_next(i);
    result.is_ok()
}

fn ident<'a>(i: &mut Input<'a>) -> PResult<&'a str> {
    take_while(1.., is_ident_char).parse_next(i)
}

/// Describes the next token (an identifier, `&&`/`||`, or one character) for
/// error messages, without consuming it.
fn peek_token(i: &Input<'_>) -> (String, Range<usize>) {
    let at = pos(i);
    let rest: &str = i;
    let len = if rest.starts_with("&&") || rest.starts_with("||") {
        2
    } else {
        let word: usize = rest
            .chars()
            .take_while(|&c| is_ident_char(c))
            .map(char::len_utf8)
            .sum();
        if word > 0 {
            word
        } else {
            rest.chars().next().map_or(0, char::len_utf8)
        }
    };
    let token = rest.get(..len).unwrap_or_default();
    (printable(token), at..at + len)
}

/// Makes a token safe to quote in a one-line message.
fn printable(s: &str) -> String {
    s.chars().flat_map(char::escape_debug).collect()
}

// ---------------------------------------------------------------------------
// Operators

#[derive(Clone, Copy, PartialEq)]
enum AndOp {
    And,
    Difference,
}

/// Tries to parse an `and`-level operator; on no operator, consumes nothing.
fn and_op(i: &mut Input<'_>) -> PResult<Option<(AndOp, String)>> {
    let start = i.checkpoint();
    ws(i)?;
    let at = pos(i);
    let rest: &str = i;
    if rest.starts_with("&&") {
        return fail(
            "'&&' is not a filterset operator; use '&' or 'and'",
            at..at + 2,
        );
    }
    if let Ok(c) = one_of::<_, _, Diag>(['&', '-']).parse_next(i) {
        let op = if c == '&' {
            AndOp::And
        } else {
            AndOp::Difference
        };
        return Ok(Some((op, c.to_string())));
    }
    if let Ok(word) = ident(i) {
        if word == "and" {
            return Ok(Some((AndOp::And, word.to_owned())));
        }
        if word.eq_ignore_ascii_case("and") {
            return fail(
                format!("'{word}' is not a filterset operator; use 'and' or '&'"),
                at..at + word.len(),
            );
        }
    }
    i.reset(&start);
    Ok(None)
}

/// Tries to parse an `or`-level operator; on no operator, consumes nothing.
fn or_op(i: &mut Input<'_>) -> PResult<Option<String>> {
    let start = i.checkpoint();
    ws(i)?;
    let at = pos(i);
    let rest: &str = i;
    if rest.starts_with("||") {
        return fail(
            "'||' is not a filterset operator; use '|', '+' or 'or'",
            at..at + 2,
        );
    }
    if let Ok(c) = one_of::<_, _, Diag>(['|', '+']).parse_next(i) {
        return Ok(Some(c.to_string()));
    }
    if let Ok(word) = ident(i) {
        if word == "or" {
            return Ok(Some(word.to_owned()));
        }
        if word.eq_ignore_ascii_case("or") {
            return fail(
                format!("'{word}' is not a filterset operator; use 'or', '|' or '+'"),
                at..at + word.len(),
            );
        }
    }
    i.reset(&start);
    Ok(None)
}

// ---------------------------------------------------------------------------
// Expressions

/// `or_expr = and_expr { or_op and_expr }`. `after` names the token before
/// the first operand, for "expected an expression after ..." messages.
fn or_expr(i: &mut Input<'_>, depth: usize, after: Option<&str>) -> PResult<Expr> {
    let mut terms = vec![and_expr(i, depth, after)?];
    while let Some(op) = or_op(i)? {
        terms.push(and_expr(i, depth, Some(&op))?);
    }
    Ok(if terms.len() == 1 {
        terms.swap_remove(0)
    } else {
        Expr::Or(terms)
    })
}

/// `and_expr = unary { ("&" | "and" | "-") unary }`; `a - b` is `a & !b`.
fn and_expr(i: &mut Input<'_>, depth: usize, after: Option<&str>) -> PResult<Expr> {
    let mut terms = vec![unary(i, depth, after)?];
    while let Some((op, text)) = and_op(i)? {
        let rhs = unary(i, depth, Some(&text))?;
        terms.push(match op {
            AndOp::And => rhs,
            AndOp::Difference => Expr::Not(Box::new(rhs)),
        });
    }
    Ok(if terms.len() == 1 {
        terms.swap_remove(0)
    } else {
        Expr::And(terms)
    })
}

fn expected_expr(after: Option<&str>) -> String {
    match after {
        Some(op) => format!("expected an expression after '{op}'"),
        None => "expected an expression".to_owned(),
    }
}

fn check_depth(depth: usize, span: Range<usize>) -> PResult<()> {
    if depth >= MAX_DEPTH {
        fail(
            format!("the expression nests 'not' and parentheses more than {MAX_DEPTH} levels deep"),
            span,
        )
    } else {
        Ok(())
    }
}

/// `unary = ("not" | "!") unary | "(" or_expr ")" | predicate`.
///
/// This, `or_expr` and `and_expr` are the frames that stack up with nesting,
/// so error reporting lives in separate cold functions to keep them small.
fn unary(i: &mut Input<'_>, depth: usize, after: Option<&str>) -> PResult<Expr> {
    ws(i)?;
    let at = pos(i);
    match i.peek_token() {
        Some('!') => {
            check_depth(depth, at..at + 1)?;
            let _ = any.parse_next(i)?;
            Ok(Expr::Not(Box::new(unary(i, depth + 1, Some("!"))?)))
        }
        Some('(') => {
            check_depth(depth, at..at + 1)?;
            let _ = any.parse_next(i)?;
            let inner = or_expr(i, depth + 1, Some("("))?;
            ws(i)?;
            if !eat(i, ')') {
                return unclosed_paren(i, at);
            }
            Ok(inner)
        }
        Some(c) if is_ident_char(c) => {
            let word = ident(i)?;
            let span = at..at + word.len();
            match word {
                "not" => {
                    check_depth(depth, span)?;
                    Ok(Expr::Not(Box::new(unary(i, depth + 1, Some("not"))?)))
                }
                "and" | "or" => operator_instead_of_expr(word, span, after),
                _ => predicate(i, word, span),
            }
        }
        _ => missing_expr(i, after),
    }
}

#[cold]
#[inline(never)]
fn unclosed_paren<T>(i: &Input<'_>, open: usize) -> PResult<T> {
    let here = pos(i);
    let (token, span) = peek_token(i);
    if token.is_empty() {
        fail(
            format!("expected ')' to close the '(' at column {}", open + 1),
            here..here,
        )
    } else {
        fail(
            format!(
                "expected ')' to close the '(' at column {}, found '{token}'",
                open + 1
            ),
            span,
        )
    }
}

#[cold]
#[inline(never)]
fn operator_instead_of_expr<T>(word: &str, span: Range<usize>, after: Option<&str>) -> PResult<T> {
    fail(
        format!("{}, found the operator '{word}'", expected_expr(after)),
        span,
    )
}

#[cold]
#[inline(never)]
fn missing_expr<T>(i: &Input<'_>, after: Option<&str>) -> PResult<T> {
    let (token, span) = peek_token(i);
    if token.is_empty() {
        fail(expected_expr(after), span)
    } else {
        fail(format!("{}, found '{token}'", expected_expr(after)), span)
    }
}

// ---------------------------------------------------------------------------
// Predicates

#[derive(Clone, Copy)]
enum Arg {
    /// `all()`, `none()`, `default()`.
    None,
    /// A name matcher with the given default matcher kind.
    Matcher(DefaultMatcher),
    /// `platform(host)`: free text.
    Text,
}

/// The matcher used when a name matcher has no `=`, `~`, `/` or `#` prefix.
#[derive(Clone, Copy, PartialEq)]
enum DefaultMatcher {
    Equal,
    Contains,
    Glob,
}

/// What a predicate's name makes of its argument.
#[derive(Clone, Copy)]
enum Pred {
    /// `all()`, `none()`.
    Set,
    Field(Field),
    Workspace(WorkspacePredicate),
    Platform,
    /// Parsed, then refused: `default()`.
    Unsupported,
}

const KNOWN_PREDICATES: &str = "all(), none(), test(), package(), deps(), rdeps(), binary(), binary_id(), kind(), group() or platform()";

/// `predicate = name ws "(" argument ")"`; `name` has been consumed.
fn predicate(i: &mut Input<'_>, name: &str, name_span: Range<usize>) -> PResult<Expr> {
    use WorkspacePredicate as W;
    let glob = Arg::Matcher(DefaultMatcher::Glob);
    let (pred, arg) = match name {
        "all" | "none" => (Pred::Set, Arg::None),
        "test" => (
            Pred::Field(Field::Test),
            Arg::Matcher(DefaultMatcher::Contains),
        ),
        "kind" => (
            Pred::Field(Field::Kind),
            Arg::Matcher(DefaultMatcher::Equal),
        ),
        "package" => (Pred::Workspace(W::Package), glob),
        "deps" => (Pred::Workspace(W::Deps), glob),
        "rdeps" => (Pred::Workspace(W::Rdeps), glob),
        "binary" => (Pred::Workspace(W::Binary), glob),
        "binary_id" => (Pred::Workspace(W::BinaryId), glob),
        "group" => (Pred::Workspace(W::Group), glob),
        "platform" => (Pred::Platform, Arg::Text),
        "default" => (Pred::Unsupported, Arg::None),
        _ => {
            return fail(
                format!(
                    "unknown predicate '{}'; expected {KNOWN_PREDICATES}",
                    printable(name)
                ),
                name_span,
            );
        }
    };

    ws(i)?;
    if !eat(i, '(') {
        let at = pos(i);
        return fail(format!("expected '(' after '{name}'"), at..at);
    }

    let expr = match arg {
        Arg::None => {
            ws(i)?;
            let at = pos(i);
            let extra = take_till(0.., ')').parse_next(i)?;
            if !extra.is_empty() {
                return fail(format!("{name}() takes no argument"), at..at + extra.len());
            }
            match name {
                "all" => Some(Expr::All),
                "none" => Some(Expr::None),
                _ => None,
            }
        }
        Arg::Matcher(default) => {
            ws(i)?;
            let rest: &str = i;
            let at = pos(i);
            let matcher = matcher(i, name, default)?;
            let written = rest.get(..pos(i) - at).unwrap_or_default();
            let arg = at..at + written.trim_end_matches(is_ws).len();
            match pred {
                Pred::Field(field) => Some(Expr::Leaf(field, matcher)),
                Pred::Workspace(predicate) => {
                    close_paren(i, name)?;
                    return Ok(Expr::Workspace(WorkspaceLeaf {
                        predicate,
                        matcher,
                        span: name_span.start..pos(i),
                        arg,
                    }));
                }
                _ => None,
            }
        }
        Arg::Text => {
            ws(i)?;
            let rest: &str = i;
            let at = pos(i);
            let text = matcher_text(i)?;
            let written = rest.get(..pos(i) - at).unwrap_or_default();
            let span = at..at + written.trim_end_matches(is_ws).len();
            // nextest trims the argument: `platform( host )` is the host.
            match text.trim_matches(is_ws) {
                "host" => Some(Expr::Platform(BuildPlatform::Host)),
                "target" => Some(Expr::Platform(BuildPlatform::Target)),
                "" => {
                    return fail(format!("expected 'host' or 'target' after '{name}('"), span);
                }
                other => {
                    return fail(
                        format!(
                            "invalid argument for {name}(): expected 'host' or 'target', found '{}'",
                            printable(other)
                        ),
                        span,
                    );
                }
            }
        }
    };

    close_paren(i, name)?;
    match expr {
        Some(expr) => Ok(expr),
        None => fail(
            format!("{name}() is not supported by cargo-isolate"),
            name_span.start..pos(i),
        ),
    }
}

/// Expects the `)` that closes `name(`, after optional whitespace.
fn close_paren(i: &mut Input<'_>, name: &str) -> PResult<()> {
    ws(i)?;
    let at = pos(i);
    match i.peek_token() {
        Some(')') => {
            let _ = any.parse_next(i)?;
            Ok(())
        }
        Some(',') => unexpected_comma(name, at),
        None => fail(format!("expected ')' to close '{name}('"), at..at),
        Some(_) => {
            let (token, span) = peek_token(i);
            fail(
                format!("expected ')' to close '{name}(', found '{token}'"),
                span,
            )
        }
    }
}

fn unexpected_comma<T>(name: &str, at: usize) -> PResult<T> {
    fail(
        format!("unexpected ','; {name}() takes a single matcher (write '\\,' to match a comma)"),
        at..at + 1,
    )
}

// ---------------------------------------------------------------------------
// Name matchers

/// `matcher = ws ( "=" text | "~" text | "#" text | "/" regex "/" | text )`.
fn matcher(i: &mut Input<'_>, pred: &str, default: DefaultMatcher) -> PResult<Matcher> {
    ws(i)?;
    let at = pos(i);
    let prefix = i.peek_token();
    let (kind, prefix) = match prefix {
        Some('/') => return regex_matcher(i),
        Some('=') => (DefaultMatcher::Equal, Some('=')),
        Some('~') => (DefaultMatcher::Contains, Some('~')),
        Some('#') => (DefaultMatcher::Glob, Some('#')),
        _ => (default, None),
    };
    if prefix.is_some() {
        let _ = any.parse_next(i)?;
    }
    let text_start = pos(i);
    let text = matcher_text(i)?;
    let text_span = text_start..pos(i);
    if text.is_empty() {
        let message = match prefix {
            Some(p) => format!("expected a string after '{p}' in '{pred}('"),
            None => format!("expected a matcher after '{pred}('"),
        };
        return fail(message, text_span.start..text_span.start);
    }
    // A comma ends the text; say so before complaining about a glob cut short.
    if i.peek_token() == Some(',') {
        return unexpected_comma(pred, text_span.end);
    }
    match kind {
        DefaultMatcher::Equal => {
            if pred == "kind" && !kind_is_known(&text) {
                return fail(
                    format!(
                        "unknown binary kind '{}'; expected one of {}",
                        printable(&text),
                        super::BINARY_KINDS.join(", ")
                    ),
                    at..text_span.end,
                );
            }
            Ok(Matcher::Equal(text))
        }
        DefaultMatcher::Contains => Ok(Matcher::Contains(text)),
        DefaultMatcher::Glob => glob(text, text_span),
    }
}

/// Matcher text: everything up to an unescaped `,` or `)`, with escapes
/// decoded. Leading whitespace has already been skipped; trailing whitespace
/// is kept, as nextest does.
fn matcher_text(i: &mut Input<'_>) -> PResult<String> {
    let mut text = String::new();
    loop {
        let literal = take_till(0.., (',', ')', '\\')).parse_next(i)?;
        text.push_str(literal);
        if i.peek_token() != Some('\\') {
            return Ok(text);
        }
        text.push(escape(i)?);
    }
}

/// `escape = "\" ( "n" | "r" | "t" | "b" | "f" | "\" | "/" | ")" | "," | "u{" hex{1,6} "}" )`.
fn escape(i: &mut Input<'_>) -> PResult<char> {
    let at = pos(i);
    let _ = '\\'.parse_next(i)?;
    let mut simple = alt((
        'n'.value('\n'),
        'r'.value('\r'),
        't'.value('\t'),
        'b'.value('\u{08}'),
        'f'.value('\u{0C}'),
        '\\'.value('\\'),
        '/'.value('/'),
        ')'.value(')'),
        ','.value(','),
    ));
    let simple: PResult<char> = simple.parse_next(i);
    if let Ok(c) = simple {
        return Ok(c);
    }
    let start = i.checkpoint();
    let mut unicode = preceded(
        'u',
        delimited('{', take_while(1..=6, |c: char| c.is_ascii_hexdigit()), '}'),
    );
    let unicode: PResult<&str> = unicode.parse_next(i);
    if let Ok(hex) = unicode {
        return match u32::from_str_radix(hex, 16).ok().and_then(char::from_u32) {
            Some(c) => Ok(c),
            None => fail(
                format!("invalid unicode escape '\\u{{{hex}}}': not a unicode scalar value"),
                at..pos(i),
            ),
        };
    }
    i.reset(&start);
    match i.peek_token() {
        None => fail("expected an escape sequence after '\\'", at..pos(i)),
        Some('u') => fail(
            "invalid unicode escape; expected '\\u{' followed by 1 to 6 hex digits and '}'",
            at..at + 2,
        ),
        Some(c) => fail(
            format!(
                "invalid escape sequence '\\{}'; valid escapes are \\n \\r \\t \\b \\f \\\\ \\/ \\) \\, and \\u{{...}}",
                printable(&c.to_string())
            ),
            at..at + 1 + c.len_utf8(),
        ),
    }
}

fn glob(text: String, span: Range<usize>) -> PResult<Matcher> {
    // Same settings as nextest: backslash is not an escape (use `[*]`), and
    // `{a\,}` may have an empty alternative. Match the glob's regex against the
    // whole name, without globset's path semantics.
    let glob = match globset::GlobBuilder::new(&text)
        .backslash_escape(false)
        .empty_alternates(true)
        .build()
    {
        Ok(glob) => glob,
        Err(error) => {
            return fail(
                format!("invalid glob: {}", one_line(&error.kind().to_string())),
                span,
            );
        }
    };
    match regex::bytes::Regex::new(glob.regex()) {
        Ok(regex) => Ok(Matcher::Glob { glob: text, regex }),
        Err(error) => fail(
            format!("invalid glob: {}", one_line(&error.to_string())),
            span,
        ),
    }
}

/// `regex = "/" { "\/" | char - "/" } "/"`: `\/` is an escaped slash, every
/// other backslash sequence goes to the regex crate unchanged.
fn regex_matcher(i: &mut Input<'_>) -> PResult<Matcher> {
    let open = pos(i);
    let _ = '/'.parse_next(i)?;
    let mut pattern = String::new();
    // Source offset of every byte of `pattern`, plus one past the end.
    let mut offsets: Vec<usize> = Vec::new();
    loop {
        let at = pos(i);
        let literal = take_till(0.., ('/', '\\')).parse_next(i)?;
        pattern.push_str(literal);
        offsets.extend(at..at + literal.len());
        let at = pos(i);
        match i.peek_token() {
            Some('/') => {
                let _ = any.parse_next(i)?;
                offsets.push(at);
                break;
            }
            Some('\\') => {
                let _ = any.parse_next(i)?;
                if eat(i, '/') {
                    pattern.push('/');
                } else {
                    pattern.push('\\');
                }
                offsets.push(at);
            }
            _ => {
                return fail("unterminated regex: expected a closing '/'", open..open + 1);
            }
        }
    }
    let whole = open..pos(i);
    match regex::Regex::new(&pattern) {
        Ok(regex) => Ok(Matcher::Regex(regex)),
        Err(error) => {
            let (message, span) = regex_error(&pattern, &error);
            let span = match span {
                Some(r) => {
                    let map = |k: usize| offsets.get(k).copied().unwrap_or(whole.end);
                    let (start, end) = (map(r.start), map(r.end));
                    if start < end {
                        start..end
                    } else {
                        start..start + 1
                    }
                }
                None => whole,
            };
            fail(format!("invalid regex: {message}"), span)
        }
    }
}

/// A one-line description and (where known) the span within the pattern.
fn regex_error(pattern: &str, error: &regex::Error) -> (String, Option<Range<usize>>) {
    match regex_syntax::Parser::new().parse(pattern) {
        Err(regex_syntax::Error::Parse(e)) => (
            one_line(&e.kind().to_string()),
            Some(e.span().start.offset..e.span().end.offset),
        ),
        Err(regex_syntax::Error::Translate(e)) => (
            one_line(&e.kind().to_string()),
            Some(e.span().start.offset..e.span().end.offset),
        ),
        _ => (one_line(&error.to_string()), None),
    }
}

/// Puts another crate's error message on one line, starting in lowercase.
fn one_line(s: &str) -> String {
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => s,
    }
}
