//! Making text from tests safe to print on a terminal or in Markdown.
//!
//! A test's name, output and error messages are whatever the test binary
//! produced: an escape sequence in them could move the cursor, rewrite what
//! the summary says, change the window title or worse. Everything shown on
//! the terminal goes through [`for_terminal`]; the JSON and JUnit reports keep
//! the raw text.
//!
//! In Markdown (the GitHub step summary, `report diff --format markdown`)
//! the same text could write a heading, a link, an image or raw HTML, or
//! break out of a table cell: [`markdown_text`] escapes every character
//! Markdown could read as syntax, [`markdown_code`] and
//! [`markdown_code_cell`] make code spans it cannot end.

use std::borrow::Cow;
use std::fmt::Write;

/// `s` with every control character but '\n' and '\t' (C0 including ESC and
/// '\r', DEL, and C1 U+0080..=U+009F) replaced by a visible escape: `\x1b`,
/// `\r`, `\0`, `\x7f`, `\u{9b}`. Borrows when there is nothing to replace.
pub fn for_terminal(s: &str) -> Cow<'_, str> {
    escape(s, |c| c != '\n' && c != '\t' && c.is_control())
}

/// As [`for_terminal`], and '\n' and '\t' are escaped too: for text that
/// must stay on one line (a test id, a progress message).
pub fn for_terminal_line(s: &str) -> Cow<'_, str> {
    escape(s, char::is_control)
}

/// Characters that reorder or hide text without being `char::is_control`:
/// the bidirectional overrides and isolates (a "Trojan Source" id reads
/// backwards), the line and paragraph separators, the zero-width marks.
fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}'
    )
}

/// One line of visible text for Markdown: as [`for_terminal_line`], and
/// the invisible format characters escaped too.
pub(crate) fn visible_line(s: &str) -> Cow<'_, str> {
    escape(s, |c| c.is_control() || is_invisible_format(c))
}

/// `s` as Markdown inline text that renders as `s` on one line and as
/// nothing else: control and invisible characters become visible escapes
/// (as [`for_terminal_line`] writes them, so CR and LF cannot end the line,
/// the table row or the list item), then every ASCII punctuation character
/// is backslash-escaped. CommonMark reads an escaped punctuation character
/// as itself, always, so no heading, emphasis, link, image, autolink, HTML
/// tag, entity or table cell separator can start; escaping `:`, `.` and
/// `@` also keeps GitHub's extended autolinks (`www.`, `https://`, e-mail
/// addresses) from matching. Fit for paragraphs, list items and table
/// cells alike.
pub fn markdown_text(s: &str) -> String {
    let visible = visible_line(s);
    let mut out = String::with_capacity(visible.len() + visible.len() / 4);
    for c in visible.chars() {
        if c.is_ascii_punctuation() {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `s` as a Markdown code span outside a table (a list item, a paragraph):
/// control and invisible characters visibly escaped, and fenced with one
/// backtick more than the longest run of backticks in it, so nothing in it
/// can close the span. Inside a code span nothing else is syntax.
pub fn markdown_code(s: &str) -> String {
    code_span(&visible_line(s))
}

/// `s` in a table cell, as a code span when that is safe and as
/// [`markdown_text`] otherwise. In a GFM table the cell is cut at every `|`
/// before the span is read, and `\|` keeps one in the cell; but the
/// table's scanner takes a backslash followed by punctuation as a pair, so
/// a text's own `\` before its `|` would free the pipe, and a code span
/// cannot escape a backslash. Text with a backslash is therefore written
/// escaped, not as code.
pub fn markdown_code_cell(s: &str) -> String {
    let visible = visible_line(s);
    if visible.contains('\\') {
        return markdown_text(s);
    }
    code_span(&visible.replace('|', "\\|"))
}

/// `text` (already one visible line) between backtick fences longer than
/// any run of backticks in it, padded with a space on each side: CommonMark
/// strips exactly one from each side when both are there, and without them
/// a backtick at either end would merge with the fence.
fn code_span(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    format!("{fence} {text} {fence}")
}

fn escape(s: &str, replace: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !s.chars().any(&replace) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if !replace(c) {
            out.push(c);
            continue;
        }
        // Writing to a String cannot fail.
        let _ = match c {
            '\0' => out.write_str("\\0"),
            '\t' => out.write_str("\\t"),
            '\n' => out.write_str("\\n"),
            '\r' => out.write_str("\\r"),
            c if (c as u32) < 0x80 => write!(out, "\\x{:02x}", c as u32),
            c => write!(out, "\\u{{{:x}}}", c as u32),
        };
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        for s in ["", "tests::it_works", "naïve — ünïcödé ✓ 日本", "a\tb\nc\n"] {
            assert!(
                matches!(for_terminal(s), Cow::Borrowed(b) if b == s),
                "{s:?}"
            );
        }
        assert!(matches!(
            for_terminal_line("p::b::t"),
            Cow::Borrowed("p::b::t")
        ));
    }

    #[test]
    fn c0_controls_are_escaped() {
        assert_eq!(for_terminal("\x1b[2J\x1b[Hgone"), "\\x1b[2J\\x1b[Hgone");
        assert_eq!(for_terminal("50%\rdone"), "50%\\rdone");
        assert_eq!(for_terminal("a\0b\x07c\x08"), "a\\0b\\x07c\\x08");
        assert_eq!(for_terminal("\x01\x1f"), "\\x01\\x1f");
    }

    #[test]
    fn del_and_c1_controls_are_escaped() {
        assert_eq!(for_terminal("x\x7fy"), "x\\x7fy");
        // CSI and OSC as single C1 characters.
        assert_eq!(for_terminal("\u{9b}31m red"), "\\u{9b}31m red");
        assert_eq!(for_terminal("\u{9d}0;title\u{9c}"), "\\u{9d}0;title\\u{9c}");
        assert_eq!(for_terminal("\u{80}\u{9f}\u{a0}"), "\\u{80}\\u{9f}\u{a0}");
    }

    #[test]
    fn newlines_and_tabs_are_kept_unless_one_line() {
        assert_eq!(for_terminal("a\n\tb\r\n"), "a\n\tb\\r\n");
        assert_eq!(for_terminal_line("a\n\tb\r\n"), "a\\n\\tb\\r\\n");
    }

    #[test]
    fn no_control_character_survives() {
        let all: String = (0..=0x10ffff).filter_map(char::from_u32).collect();
        assert!(
            !for_terminal(&all)
                .chars()
                .any(|c| c.is_control() && c != '\n' && c != '\t')
        );
        assert!(!for_terminal_line(&all).chars().any(char::is_control));
    }
}
