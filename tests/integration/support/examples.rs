//! The examples of a Markdown page, as the guide's harness reads them
//! (`guide.rs` runs them): trycmd's format, from clap's and cargo's docs.
//!
//! A fenced block whose info string starts with `console` holds commands
//! (`$ ` lines, `\` continues one), each optionally followed by `? N` (its
//! exit code, 0 when absent) and by the output it prints. In the output a
//! line `...` stands for any lines, `[..]` for any text within a line, a
//! duration or size (`0.015s`, `64.8 MiB`) for any other, a progress
//! counter `(3/7)` for any `(k/7)` (tests finish in their own order), and a
//! run of spaces for any run (columns are aligned to the widest value). A block
//! with `file=PATH` among its options is a file the next commands read.
//!
//! Pure text in, text out: no process is run here.

use regex::Regex;
use std::sync::LazyLock;

/// One block of a page, in page order.
#[derive(Debug, PartialEq)]
pub(crate) enum Block {
    Console(Console),
    File { path: String, text: String },
}

#[derive(Debug, PartialEq)]
pub(crate) struct Console {
    /// `any-order`: the output lines may come in any order (tests finish
    /// in their own order under -j2).
    pub any_order: bool,
    /// `as-nobody`: run as uid 65534, the rootless case.
    pub as_nobody: bool,
    pub steps: Vec<Step>,
}

#[derive(Debug, PartialEq)]
pub(crate) struct Step {
    pub command: String,
    pub code: i32,
    pub output: Vec<String>,
    /// Where the step's `?` line and output are in the page (0-based, end
    /// exclusive): what bless rewrites.
    pub lines: std::ops::Range<usize>,
    /// The indentation of the block (inside a list item), for bless.
    pub indent: String,
}

/// The examples of a page. An error says which line is malformed.
pub(crate) fn parse(page: &str) -> Result<Vec<Block>, String> {
    let lines: Vec<&str> = page.lines().collect();
    let mut blocks = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some((indent, fence, info)) = opening_fence(lines[i]) else {
            i += 1;
            continue;
        };
        let start = i + 1;
        let mut end = start;
        while end < lines.len() && !closes(lines[end], &fence) {
            end += 1;
        }
        if end == lines.len() {
            return Err(format!("line {}: a fenced block is never closed", i + 1));
        }
        let body: Vec<&str> = lines[start..end]
            .iter()
            .map(|l| l.strip_prefix(indent.as_str()).unwrap_or(l.trim_start()))
            .collect();
        let mut words = info.split(',').map(str::trim);
        let lang = words.next().unwrap_or("");
        let options: Vec<&str> = words.collect();
        if let Some(path) = options.iter().find_map(|o| o.strip_prefix("file=")) {
            // A page writes only inside its scratch copy: never an absolute
            // path, never up and out of it (the harness runs as root).
            let p = std::path::Path::new(path);
            if p.is_absolute() || p.components().any(|c| c.as_os_str() == "..") {
                return Err(format!(
                    "line {}: file={path} leaves the page's directory",
                    i + 1
                ));
            }
            let mut text = body.join("\n");
            text.push('\n');
            blocks.push(Block::File {
                path: path.to_string(),
                text,
            });
        } else if lang == "console" {
            let console = console(&body, start, &indent, &options)
                .map_err(|e| format!("line {}: {e}", i + 1))?;
            blocks.push(Block::Console(console));
        }
        i = end + 1;
    }
    Ok(blocks)
}

/// `(indent, backticks, info)` of a line that opens a fenced block.
fn opening_fence(line: &str) -> Option<(String, String, String)> {
    let trimmed = line.trim_start();
    let indent = &line[..line.len() - trimmed.len()];
    let ticks = trimmed.len() - trimmed.trim_start_matches('`').len();
    (ticks >= 3).then(|| {
        (
            indent.to_string(),
            "`".repeat(ticks),
            trimmed[ticks..].trim().to_string(),
        )
    })
}

fn closes(line: &str, fence: &str) -> bool {
    let t = line.trim();
    t.starts_with(fence) && t.trim_start_matches('`').is_empty()
}

fn console(body: &[&str], first: usize, indent: &str, options: &[&str]) -> Result<Console, String> {
    let mut c = Console {
        any_order: false,
        as_nobody: false,
        steps: Vec::new(),
    };
    for o in options {
        match *o {
            "any-order" => c.any_order = true,
            "as-nobody" => c.as_nobody = true,
            other => return Err(format!("unknown console option `{other}`")),
        }
    }
    let mut i = 0;
    while i < body.len() {
        let Some(first_line) = body[i].strip_prefix("$ ") else {
            return Err(format!("output before any `$ ` command: {:?}", body[i]));
        };
        let mut command = first_line.to_string();
        i += 1;
        while command.ends_with('\\') && i < body.len() {
            command.push('\n');
            command.push_str(body[i]);
            i += 1;
        }
        let out_start = i;
        let mut code = 0;
        if let Some(n) = body.get(i).and_then(|l| l.strip_prefix("? ")) {
            code = n
                .trim()
                .parse()
                .map_err(|_| format!("`? {n}` is not an exit code"))?;
            i += 1;
        }
        let mut output = Vec::new();
        while i < body.len() && !body[i].starts_with("$ ") {
            output.push(body[i].to_string());
            i += 1;
        }
        c.steps.push(Step {
            command,
            code,
            output,
            lines: first + out_start..first + i,
            indent: indent.to_string(),
        });
    }
    Ok(c)
}

/// A duration or a size as the tool prints them (and a run of spaces
/// before one, since columns are padded to the widest).
static MEASURE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\d+(?:\.\d+)?\s?(?:ns|µs|us|ms|s|B|KiB|MiB|GiB|TiB)\b").unwrap());

const ANY_MEASURE: &str = r"\s*\d+(?:\.\d+)?\s?(?:ns|µs|us|ms|s|B|KiB|MiB|GiB|TiB)\b";

/// A progress counter, `(3/7)`: which test finished third varies.
static COUNTER: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\(\d+/(\d+)\)").unwrap());

/// The regex a pattern line stands for (see the module doc).
fn line_regex(pattern: &str) -> Regex {
    let mut re = String::from("^");
    for (k, literal) in pattern.trim_end().split("[..]").enumerate() {
        if k > 0 {
            re.push_str(".*");
        }
        let mut wild: Vec<(usize, usize, String)> = MEASURE
            .find_iter(literal)
            .map(|m| (m.start(), m.end(), ANY_MEASURE.to_string()))
            .collect();
        for c in COUNTER.captures_iter(literal) {
            let m = c.get(0).unwrap();
            wild.push((m.start(), m.end(), format!(r"\(\d+/{}\)", &c[1])));
        }
        wild.sort();
        let mut last = 0;
        for (start, end, any) in wild {
            if start >= last {
                re.push_str(&spaced(&literal[last..start]));
                re.push_str(&any);
                last = end;
            }
        }
        re.push_str(&spaced(&literal[last..]));
    }
    re.push('$');
    Regex::new(&re).unwrap()
}

/// Literal text with each run of spaces standing for any run.
fn spaced(text: &str) -> String {
    let mut out = String::new();
    for (k, word) in text.split(' ').enumerate() {
        if k > 0 && !out.ends_with(r"\s*") {
            out.push_str(r"\s*");
        }
        out.push_str(&regex::escape(word));
    }
    // A pattern's spaces are where the output's are, but a column padded
    // to a wider value may have more or fewer: `\s*` takes both.
    out
}

pub(crate) fn line_matches(pattern: &str, actual: &str) -> bool {
    line_regex(pattern).is_match(actual.trim_end())
}

/// Whether `actual` is what `expected` describes (see the module doc).
pub(crate) fn output_matches(expected: &[String], actual: &[String], any_order: bool) -> bool {
    if any_order {
        return matches_any_order(expected, actual);
    }
    let pats: Vec<Regex> = expected
        .iter()
        .map(|p| line_regex(if p.trim() == "..." { "" } else { p }))
        .collect();
    let wild: Vec<bool> = expected.iter().map(|p| p.trim() == "...").collect();
    // memo[i][j]: pattern i.. against actual j.. already failed.
    let mut failed = vec![vec![false; actual.len() + 1]; expected.len() + 1];
    fn go(
        i: usize,
        j: usize,
        pats: &[Regex],
        wild: &[bool],
        actual: &[String],
        failed: &mut [Vec<bool>],
    ) -> bool {
        if failed[i][j] {
            return false;
        }
        let ok = if i == pats.len() {
            j == actual.len()
        } else if wild[i] {
            (j..=actual.len()).any(|k| go(i + 1, k, pats, wild, actual, failed))
        } else {
            j < actual.len()
                && pats[i].is_match(actual[j].trim_end())
                && go(i + 1, j + 1, pats, wild, actual, failed)
        };
        if !ok {
            failed[i][j] = true;
        }
        ok
    }
    go(0, 0, &pats, &wild, actual, &mut failed)
}

/// Each pattern line matches a line of its own, in any order; other lines
/// are allowed only where the pattern has a `...`.
fn matches_any_order(expected: &[String], actual: &[String]) -> bool {
    let elided = expected.iter().any(|p| p.trim() == "...");
    let pats: Vec<&String> = expected.iter().filter(|p| p.trim() != "...").collect();
    if !elided && pats.len() != actual.len() {
        return false;
    }
    let mut used = vec![false; actual.len()];
    // The most specific patterns first, so that a `[..]` line does not take
    // the line a literal one needs.
    let mut order: Vec<&String> = pats.clone();
    order.sort_by_key(|p| std::cmp::Reverse(p.len() - p.matches("[..]").count() * 6));
    order.iter().all(|p| {
        let re = line_regex(p);
        let found = (0..actual.len()).find(|&k| !used[k] && re.is_match(actual[k].trim_end()));
        found.map(|k| used[k] = true).is_some()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(s: &str) -> Vec<String> {
        s.lines().map(String::from).collect()
    }

    #[test]
    fn a_console_block_is_commands_codes_and_output() {
        let page = "text\n\n  ```console\n  $ cargo isolate test \\\n    --memory-max 32M\n  ? 100\n  PASS\n  ...\n  $ true\n  ```\n\n```toml,file=a/b.toml\nx = 1\n```\n";
        let blocks = parse(page).unwrap();
        let Block::Console(c) = &blocks[0] else {
            panic!("{blocks:?}")
        };
        assert_eq!(c.steps.len(), 2);
        assert_eq!(
            c.steps[0].command,
            "cargo isolate test \\\n  --memory-max 32M"
        );
        assert_eq!(c.steps[0].code, 100);
        assert_eq!(c.steps[0].output, ["PASS", "..."]);
        assert_eq!(c.steps[0].lines, 5..8);
        assert_eq!(c.steps[0].indent, "  ");
        assert_eq!(c.steps[1].code, 0);
        assert!(c.steps[1].output.is_empty());
        assert_eq!(
            blocks[1],
            Block::File {
                path: "a/b.toml".into(),
                text: "x = 1\n".into()
            }
        );
    }

    #[test]
    fn malformed_blocks_are_errors_not_silence() {
        assert!(parse("```console\nno prompt\n```\n").is_err());
        assert!(parse("```console,fast\n$ true\n```\n").is_err());
        assert!(parse("```console\n$ true\n? x\n```\n").is_err());
        assert!(parse("```console\n$ true\n").is_err());
        assert!(parse("```toml,file=/etc/passwd\nx\n```\n").is_err());
        assert!(parse("```toml,file=a/../../b\nx\n```\n").is_err());
        // Other languages are not examples.
        assert_eq!(parse("```sh\ncargo isolate test\n```\n").unwrap(), []);
    }

    #[test]
    fn measures_and_spaces_are_wildcards_and_nothing_else_is() {
        let p = "        PASS [   0.015s  876.0 KiB] (1/7) demo tests::adds_numbers";
        assert!(line_matches(
            p,
            "        PASS [  12.340s   64.8 MiB] (1/7) demo tests::adds_numbers"
        ));
        assert!(!line_matches(
            p,
            "        FAIL [   0.015s  876.0 KiB] (1/7) demo tests::adds_numbers"
        ));
        assert!(line_matches(
            p,
            "        PASS [   0.015s  876.0 KiB] (5/7) demo tests::adds_numbers"
        ));
        assert!(!line_matches(
            p,
            "        PASS [   0.015s  876.0 KiB] (1/8) demo tests::adds_numbers"
        ));
        // A count is not a measure.
        assert!(!line_matches(
            "7 tests run: 6 passed",
            "7 tests run: 5 passed"
        ));
        assert!(line_matches(
            "report [..]/report.json",
            "report /tmp/x/report.json"
        ));
        assert!(!line_matches(
            "report [..]/report.json",
            "report /tmp/x/report.txt"
        ));
    }

    #[test]
    fn ellipsis_lines_take_any_lines_and_order_counts_unless_told() {
        let exp = lines("a\n...\nz");
        assert!(output_matches(&exp, &lines("a\nz"), false));
        assert!(output_matches(&exp, &lines("a\nb\nc\nz"), false));
        assert!(!output_matches(&exp, &lines("a\nb"), false));
        assert!(!output_matches(&lines("a\nb"), &lines("a\nb\nc"), false));
        assert!(!output_matches(&lines("b\na"), &lines("a\nb"), false));
        assert!(output_matches(&lines("b\na"), &lines("a\nb"), true));
        assert!(!output_matches(&lines("b\na"), &lines("a\nb\nc"), true));
        assert!(output_matches(&lines("b\n...\na"), &lines("a\nc\nb"), true));
        assert!(!output_matches(&lines("a\na"), &lines("a\nb"), true));
    }
}
