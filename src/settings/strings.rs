//! Places inside a TOML string. A value such as a filter is parsed after
//! TOML has decoded its escapes, so its parser's positions are offsets into
//! the decoded text: `"test(/\\d/) | é"` decodes to `test(/\d/) | é`, one
//! byte shorter than what the file holds. This maps a range of the decoded
//! text back to the bytes the user wrote, with toml's own decoder
//! (toml_parser), so that every escape form (`\\`, `\u00e9`, `\U…`, `\x…`,
//! `\e`, a line-ending backslash in `"""` strings) counts as written.

use std::ops::Range;
use toml_parser::decoder::StringBuilder;

/// The bytes of `file` that hold `decoded[inner]`, where `token` is the
/// place of the string in `file` (quotes included) and `decoded` its value.
/// When the token cannot be mapped (it is not one string, or does not
/// decode to `decoded`), the whole token: never a wrong place.
pub fn raw_span(
    file: &str,
    token: Range<usize>,
    decoded: &str,
    inner: Range<usize>,
) -> Range<usize> {
    map(file, token.clone(), decoded, inner).unwrap_or(token)
}

fn map(
    file: &str,
    token: Range<usize>,
    decoded: &str,
    inner: Range<usize>,
) -> Option<Range<usize>> {
    let raw = file.get(token.clone())?;
    let source = toml_parser::Source::new(raw);
    let mut tokens = source.lex();
    let first = tokens.next()?;
    if first.span().start() != 0 || first.span().end() != raw.len() {
        return None;
    }
    let value = source.get(first)?;
    let encoding = first.kind().encoding()?;
    let mut builder = Builder {
        raw,
        decoded: String::new(),
        starts: Vec::new(),
        cursor: Some(0),
        ok: true,
    };
    let mut errors = Vec::new();
    let _ = value.decode_scalar(&mut builder, &mut errors);
    if !errors.is_empty() || !builder.ok || builder.decoded != decoded {
        return None;
    }
    // Where the value ends: before the closing quote(s).
    let close = match encoding {
        toml_parser::decoder::Encoding::MlBasicString
        | toml_parser::decoder::Encoding::MlLiteralString => 3,
        _ => 1,
    };
    let end_of_value = raw.len().checked_sub(close)?;
    let at = |d: usize| -> Option<usize> {
        if d >= decoded.len() {
            return Some(end_of_value);
        }
        // The last decoded character starting at or before `d`.
        let i = builder.starts.partition_point(|&(ds, _)| ds <= d);
        builder.starts.get(i.checked_sub(1)?).map(|&(_, rs)| rs)
    };
    let start = at(inner.start)?;
    let end = if inner.end > inner.start {
        at(inner.end)?.max(start)
    } else {
        start
    };
    Some(token.start + start..token.start + end)
}

/// Collects the decoded text, and where each of its characters starts in
/// the raw token. toml's decoder hands over slices of the raw text (their
/// address says where they were) and single characters for escapes (which
/// start where the last slice ended: at the backslash).
struct Builder<'s> {
    raw: &'s str,
    decoded: String,
    /// (decoded offset, raw offset) of each decoded character.
    starts: Vec<(usize, usize)>,
    /// Where the next escape starts in `raw`, if known.
    cursor: Option<usize>,
    ok: bool,
}

impl<'s> StringBuilder<'s> for Builder<'s> {
    fn clear(&mut self) {
        self.decoded.clear();
        self.starts.clear();
        self.cursor = Some(0);
    }

    fn push_str(&mut self, append: &'s str) -> bool {
        let base = self.raw.as_ptr() as usize;
        let at = (append.as_ptr() as usize).wrapping_sub(base);
        if at > self.raw.len() || self.raw.len() - at < append.len() {
            // Not a slice of the token: positions unknown from here on.
            self.ok = false;
        } else {
            for (i, _) in append.char_indices() {
                self.starts.push((self.decoded.len() + i, at + i));
            }
            self.cursor = Some(at + append.len());
        }
        self.decoded.push_str(append);
        true
    }

    fn push_char(&mut self, append: char) -> bool {
        match self.cursor.take() {
            Some(at) => self.starts.push((self.decoded.len(), at)),
            None => self.ok = false,
        }
        self.decoded.push(append);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The raw text `inner` of the decoded value maps to, for `value`
    /// written as `written` in `key = <written>`.
    fn raw(written: &str, inner: Range<usize>) -> String {
        let file = format!("k = {written}\n");
        let token = 4..4 + written.len();
        let decoded: String = toml::from_str::<toml::Table>(&file).unwrap()["k"]
            .as_str()
            .unwrap()
            .to_string();
        let span = raw_span(&file, token.clone(), &decoded, inner);
        assert!(
            span.start >= token.start && span.end <= token.end,
            "{span:?}"
        );
        file[span].to_string()
    }

    #[test]
    fn escapes_count_as_written() {
        // test(/\d/) | é — the é at decoded 13..15.
        assert_eq!(raw(r#""test(/\\d/) | é""#, 13..15), "é");
        assert_eq!(raw(r#""test(/\\d/) | é""#, 6..8), r"\\d");
        assert_eq!(raw(r#""a\u00e9b""#, 1..3), r"\u00e9");
        assert_eq!(raw(r#""a\u00e9b""#, 3..4), "b");
        assert_eq!(raw(r#""a\U0001F600b""#, 5..6), "b");
        assert_eq!(raw(r#""\x41\e\t\"z""#, 4..5), "z");
        assert_eq!(raw(r#""\x41\e\t\"z""#, 1..2), r"\e");
        // The end of the value: before the closing quote.
        assert_eq!(raw(r#""ab\\""#, 3..3), "");
        let file = "k = \"ab\\\\\"\n";
        assert_eq!(raw_span(file, 4..10, "ab\\", 3..3), 9..9);
    }

    #[test]
    fn every_string_form() {
        assert_eq!(raw(r"'C:\x\d é'", 7..9), "é");
        assert_eq!(raw("'''\nab\\né'''", 4..6), "é");
        assert_eq!(raw("\"\"\"\nab\\\n   cd\"\"\"", 2..3), "c");
        assert_eq!(raw("\"\"\"\r\na\r\nb\"\"\"", 3..4), "b");
    }

    #[test]
    fn a_mismatch_is_the_whole_token() {
        let file = "k = \"abc\"\n";
        assert_eq!(raw_span(file, 4..9, "xyz", 1..2), 4..9);
        assert_eq!(raw_span(file, 4..8, "abc", 1..2), 4..8, "not one token");
        assert_eq!(raw_span(file, 0..400, "abc", 1..2), 0..400, "out of range");
        assert_eq!(raw_span(file, 0..1, "k", 0..1), 0..1, "a bare key");
    }
}
