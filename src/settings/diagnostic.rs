//! A configuration error, shown against the text the user wrote:
//! `path:line:column: message`, then the line with a caret under the
//! place, drawn by annotate-snippets (the renderer of rustc and cargo: it
//! measures wide characters and tabs, trims long lines around the place
//! and makes control characters visible). A place is a byte range into
//! the text as read; it is clamped to the text and to character
//! boundaries here, so that no span, whatever made it, can make the
//! rendering panic or point at the wrong line.

use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};
use std::ops::Range;
use std::path::{Path, PathBuf};

/// A problem with the configuration, pointing into the file.
#[derive(Debug)]
pub struct ConfigError {
    pub path: PathBuf,
    /// 1-based line and column (in characters, as editors count them),
    /// when the problem has a place.
    pub at: Option<(usize, usize)>,
    pub message: String,
    /// The lines holding the place, for the snippet.
    window: Option<Window>,
}

/// The whole lines around a place, and the place within them.
#[derive(Debug)]
struct Window {
    text: String,
    first_line: usize,
    span: Range<usize>,
}

impl Window {
    /// `text` (whole lines) without the `\r` of CRLF line endings, which
    /// the renderer would show as a symbol, `span` moved to match.
    fn of(text: &str, first_line: usize, span: Range<usize>) -> Window {
        let mut out = String::with_capacity(text.len());
        let (mut start, mut end) = (span.start, span.end);
        for (i, c) in text.char_indices() {
            // '\r' is one byte: i + 1 is the next character.
            if c == '\r' && (i + 1 == text.len() || text[i + 1..].starts_with('\n')) {
                start -= usize::from(i < span.start);
                end -= usize::from(i < span.end);
                continue;
            }
            out.push(c);
        }
        Window {
            text: out,
            first_line,
            span: start..end,
        }
    }
}

/// A span over more lines than this is shown by its first lines only.
const MAX_LINES: usize = 6;
/// Of a long line, this many bytes either side of the place are shown.
const MAX_SHOWN: usize = 512;
/// User text quoted in a message (a key, a value) is cut to about this
/// many characters: a 1 MB key makes a line, not a megabyte of error.
const MAX_QUOTED_CHARS: usize = 80;
/// And a message to about this many (the choices of an unknown key are a
/// long but useful list).
const MAX_MESSAGE_CHARS: usize = 2000;

impl ConfigError {
    /// A problem with the file as a whole: it cannot be read, a profile
    /// is missing.
    pub fn whole(path: &Path, message: impl AsRef<str>) -> ConfigError {
        ConfigError {
            path: path.to_path_buf(),
            at: None,
            message: elide_quoted(message.as_ref()),
            window: None,
        }
    }

    /// A problem at `span` (bytes) of `text`, the contents of `path`.
    pub fn at(
        path: &Path,
        text: &str,
        span: Range<usize>,
        message: impl AsRef<str>,
    ) -> ConfigError {
        let span = clamp(text, span);
        let line_start = text[..span.start].rfind('\n').map_or(0, |i| i + 1);
        let line = text[..span.start].matches('\n').count() + 1;
        let column = text[line_start..span.start].chars().count() + 1;
        // What is shown: the place's first MAX_LINES lines, at most
        // MAX_SHOWN bytes of it and of the text either side (the renderer
        // trims a long line to the terminal anyway, and a megabyte line
        // would cost it a second).
        let mut end = text.floor_char_boundary(span.end.min(span.start + MAX_SHOWN));
        if let Some((i, _)) = text[line_start..end].match_indices('\n').nth(MAX_LINES - 1) {
            end = line_start + i;
        }
        let last = text.floor_char_boundary(if end > span.start { end - 1 } else { end });
        let line_end = text[last..].find('\n').map_or(text.len(), |i| last + i);
        let window_end = text
            .ceil_char_boundary(line_end.min(end + MAX_SHOWN))
            .max(end);
        let window_start = text
            .floor_char_boundary(span.start.saturating_sub(MAX_SHOWN))
            .max(line_start);
        ConfigError {
            path: path.to_path_buf(),
            at: Some((line, column)),
            message: elide_quoted(message.as_ref()),
            window: Some(Window::of(
                &text[window_start..window_end],
                line,
                span.start - window_start..end - window_start,
            )),
        }
    }

    /// The lines of the place with carets under it, if it has one.
    pub fn snippet(&self, styled: bool) -> Option<String> {
        let w = self.window.as_ref()?;
        let renderer = if styled {
            Renderer::styled()
        } else {
            Renderer::plain()
        };
        let report = [Group::with_level(Level::ERROR).element(
            Snippet::source(w.text.as_str())
                .line_start(w.first_line)
                .annotation(AnnotationKind::Primary.span(w.span.clone())),
        )];
        Some(renderer.render(&report))
    }

    /// `path:line:column: message` and the snippet, with colours or not.
    pub fn render(&self, styled: bool) -> String {
        let mut out = match self.at {
            Some((line, col)) => format!("{}:{line}:{col}: {}", self.path.display(), self.message),
            None => format!("{}: {}", self.path.display(), self.message),
        };
        if let Some(s) = self.snippet(styled) {
            out.push('\n');
            out.push_str(&s);
        }
        out
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render(false))
    }
}

impl std::error::Error for ConfigError {}

/// `span` within `text`, its ends on character boundaries.
fn clamp(text: &str, span: Range<usize>) -> Range<usize> {
    let start = text.floor_char_boundary(span.start.min(text.len()));
    let end = text.ceil_char_boundary(span.end.min(text.len()).max(start));
    start..end
}

/// `s` quoted for a message, cut in the middle when long.
pub fn quoted(s: &str) -> String {
    format!("{:?}", shorten(s))
}

/// `s`, cut in the middle when long (for user text in a message).
pub fn shorten(s: &str) -> String {
    let n = s.chars().count();
    if n <= MAX_QUOTED_CHARS {
        return s.to_string();
    }
    let head: String = s.chars().take(MAX_QUOTED_CHARS / 2).collect();
    let tail: String = s.chars().skip(n - MAX_QUOTED_CHARS / 4).collect();
    format!("{head}…{tail} ({n} characters)")
}

/// A message with every `backquoted` run of user text (serde's and toml's
/// way of quoting a key or a value) cut to a readable length, and the
/// whole cut to a few lines whatever else it quotes.
fn elide_quoted(message: &str) -> String {
    let out = elide_backquoted(message);
    let n = out.chars().count();
    if n <= MAX_MESSAGE_CHARS {
        return out;
    }
    let head: String = out.chars().take(MAX_MESSAGE_CHARS / 2).collect();
    let tail: String = out.chars().skip(n - MAX_MESSAGE_CHARS / 4).collect();
    format!(
        "{head} …({} characters left out)… {tail}",
        n - head.chars().count() - tail.chars().count()
    )
}

fn elide_backquoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(4096));
    for (i, part) in message.split('`').enumerate() {
        if i > 0 {
            out.push('`');
        }
        // Odd parts are between backquotes.
        if i % 2 == 1 {
            out.push_str(&shorten(part));
        } else {
            out.push_str(part);
        }
    }
    out
}
