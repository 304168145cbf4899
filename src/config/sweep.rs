//! The no-panic sweep of the configuration parser, as the filterset parser
//! has one: random files, valid TOML with odd values and broken TOML, with
//! every string form and escape, non-ASCII text, a BOM, CRLF. Whatever the
//! text, loading returns, and an error has a place inside the file and
//! renders.

use super::archive::check_archive_text;
use super::{Base, Config, ConfigError, parse};
use crate::filterset::TestInfo;
use clap::Parser;
use std::path::{Path, PathBuf};

/// A fixed-seed xorshift, so that a failure is reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

/// Every key a profile or an override knows, and a few it does not.
const KEYS: &[&str] = &[
    "jobs",
    "fail-fast",
    "no-fail-fast",
    "max-fail",
    "no-capture",
    "stress-count",
    "repeat",
    "stress-duration",
    "flaky-fails",
    "retries",
    "output-limit",
    "run-ignored",
    "report",
    "junit",
    "junit-store-success-output",
    "html",
    "message-format",
    "color",
    "default-filter",
    "isolation",
    "read-only-source",
    "reuse-netns",
    "hostname",
    "env-clear",
    "no-sys",
    "scratch",
    "tmpfs-size",
    "tmpfs-inodes",
    "scratch-size",
    "allow-unenforced-limits",
    "seccomp",
    "memory-max",
    "pids-max",
    "cpus",
    "timeout",
    "slow-timeout",
    "period",
    "terminate-after",
    "grace-period",
    "env",
    "ro-bind",
    "memory-budget",
    "time-budget",
    "cpu-budget",
    "net-loss",
    "net-reject",
    "net-drop",
    "net-rate",
    "net-delay",
    "net-jitter",
    "net-ports",
    "net-direction",
    "hosts",
    "budgets",
    "baseline",
    "max-memory-regression",
    "max-time-regression",
    "max-cpu-regression",
    "memory-regression-floor",
    "time-regression-floor",
    "cpu-regression-floor",
    "overrides",
    "filter",
    "profile",
    "memroy-max",
    "é",
    "",
    "a.b",
    "\"quoted key\"",
];

/// Values that mean something to some key.
const MEANINGFUL: &[&str] = &[
    "256M",
    "1.5G",
    "64MiB",
    "8",
    "0",
    "1e30",
    "16777216T",
    "30s",
    "1h 30m",
    "1500ms",
    "80,1000-2000",
    "out",
    "0.5",
    "1y",
    "-1s",
    "5%",
    "100%",
    "1Mbit",
    "10ms",
    "5432,6379",
    "per-test",
    "per-binary",
    "none",
    "auto",
    "always",
    "never",
    "json",
    "human",
    "disk",
    "default",
    "only",
    "all",
    "warn",
    "fail",
    "test(/\\d/) | é",
    "test(a) & ",
    "package(x) - kind(lib)",
    "not (all()",
    "test(/[/)",
    "/usr",
    "data",
    "../x",
    "/",
    "",
    ".",
    "/dev/null",
    "127.0.0.1",
    "::1",
    "db.internal",
    "日本語",
    "\u{1b}[31m",
    "\u{0}",
    "\u{feff}",
    "\r\n",
    "\u{202e}rtl",
    "\u{10ffff}",
];

/// `s` as a TOML string, in a random form, each character written plainly
/// or as a random escape where the form allows.
fn string(rng: &mut Rng, s: &str) -> String {
    let plain_literal = !s.contains(['\'', '\n', '\r']) && !s.chars().any(char::is_control);
    let form = rng.below(4);
    match form {
        0 if plain_literal => format!("'{s}'"),
        1 if plain_literal && !s.contains("'''") => {
            format!("'''{}{s}'''", if rng.chance(2) { "\n" } else { "" })
        }
        _ => {
            let multi = form == 3;
            let mut out = String::from(if multi { "\"\"\"" } else { "\"" });
            for c in s.chars() {
                let escaped = match rng.below(5) {
                    0 => format!("\\u{:04X}", c as u32).to_string(),
                    1 => format!("\\U{:08x}", c as u32),
                    2 if (c as u32) < 0x100 => format!("\\x{:02x}", c as u32),
                    _ => match c {
                        '"' => "\\\"".into(),
                        '\\' => "\\\\".into(),
                        '\n' if multi => "\n".into(),
                        '\n' => "\\n".into(),
                        '\r' => "\\r".into(),
                        '\t' => "\\t".into(),
                        '\u{1b}' => "\\e".into(),
                        c if c.is_control() => format!("\\u{:04x}", c as u32),
                        c => c.to_string(),
                    },
                };
                if (c as u32) >= 0x10000 && escaped.starts_with("\\u") {
                    // \u takes four digits: write it as \U.
                    out.push_str(&format!("\\U{:08x}", c as u32));
                } else {
                    out.push_str(&escaped);
                }
                if multi && rng.chance(30) {
                    out.push_str("\\\n   ");
                }
            }
            out.push_str(if multi { "\"\"\"" } else { "\"" });
            out
        }
    }
}

fn value(rng: &mut Rng, depth: usize) -> String {
    match rng.below(if depth > 2 { 8 } else { 10 }) {
        0..=2 => {
            let s = rng.pick(MEANINGFUL).to_string();
            string(rng, &s)
        }
        3 => rng
            .pick(&[
                "0",
                "1",
                "-1",
                "4",
                "4096",
                "9223372036854775807",
                "-9223372036854775808",
                "99999999999999999999",
                "0x10",
                "0o7",
                "0b1",
                "1_000",
                "+5",
            ])
            .to_string(),
        4 => rng
            .pick(&[
                "0.5", "nan", "inf", "-inf", "-0.0", "1e308", "1e400", "5e-324", "2.0",
            ])
            .to_string(),
        5 => rng.pick(&["true", "false"]).to_string(),
        6 => rng
            .pick(&["1979-05-27T07:32:00Z", "07:32:00", "1979-05-27"])
            .to_string(),
        7 => {
            let s: String = (0..rng.below(6))
                .map(|_| char::from_u32(rng.below(0x11000) as u32).unwrap_or('x'))
                .collect();
            string(rng, &s)
        }
        8 => {
            let n = rng.below(4);
            let items: Vec<String> = (0..n).map(|_| value(rng, depth + 1)).collect();
            format!("[{}]", items.join(", "))
        }
        _ => {
            let n = rng.below(3);
            let items: Vec<String> = (0..n)
                .map(|_| format!("{} = {}", key(rng), value(rng, depth + 1)))
                .collect();
            format!("{{ {} }}", items.join(", "))
        }
    }
}

fn key(rng: &mut Rng) -> String {
    let k = rng.pick(KEYS).to_string();
    if rng.chance(6) || k.is_empty() || k.contains(['.', ' ', 'é']) {
        string(rng, &k)
    } else {
        k
    }
}

fn header(rng: &mut Rng) -> String {
    let profile = rng
        .pick(&["default", "ci", "\"ci\"", "'é'", "x"])
        .to_string();
    match rng.below(6) {
        0 => format!("[profile.{profile}]"),
        1 => format!(
            "[[profile.{profile}.overrides]]\nfilter = {}",
            value(rng, 0)
        ),
        2 => format!("[[profile.{profile}.overrides]]"),
        3 => format!("[profile.{profile}.hosts]"),
        4 => format!("[profile.{profile}.env]"),
        _ => rng
            .pick(&["[profile]", "[[profile]]", "[x]", "[profile.default"])
            .to_string(),
    }
}

fn file(rng: &mut Rng) -> String {
    let mut out = String::new();
    if rng.chance(10) {
        out.push('\u{feff}');
    }
    for _ in 0..rng.below(12) {
        if rng.chance(3) {
            out.push_str(&header(rng));
        } else {
            out.push_str(&format!("{} = {}", key(rng), value(rng, 0)));
        }
        if rng.chance(8) {
            out.push_str(" # é 日本 \u{1b}");
        }
        out.push('\n');
    }
    if rng.chance(5) {
        out = out.replace('\n', "\r\n");
    }
    out
}

/// A random cut, deletion or insertion at character boundaries.
fn mutate(rng: &mut Rng, text: &str) -> String {
    let bounds: Vec<usize> = text
        .char_indices()
        .map(|(i, _)| i)
        .chain([text.len()])
        .collect();
    let a = *rng.pick(&bounds);
    let b = *rng.pick(&bounds);
    let (a, b) = (a.min(b), a.max(b));
    match rng.below(3) {
        0 => text[..a].to_string(),
        1 => format!("{}{}", &text[..a], &text[b..]),
        _ => {
            let junk = rng.pick(&[
                "\"", "'", "\\", "[", "]", "{", "=", "\n", "\r", "é", "\u{0}", "\"\"\"", "\\u", "#",
            ]);
            format!("{}{junk}{}", &text[..a], &text[a..])
        }
    }
}

/// Loading `text` returns; an error has a place inside it and renders.
#[track_caller]
fn survives(text: &str) {
    let base = Base {
        dir: PathBuf::from("/"),
        what: "the workspace",
    };
    let path = Path::new(".config/isolate.toml");
    let lines = text.split('\n').count();
    let check = |e: &ConfigError| {
        assert!(!e.message.is_empty(), "{text:?}");
        if let Some((line, col)) = e.at {
            assert!(
                line >= 1 && line <= lines,
                "line {line} of {lines}: {text:?}: {e}"
            );
            assert!(col >= 1, "{text:?}: {e}");
            let snippet = e.snippet(false).expect("a place has a snippet");
            assert!(snippet.contains('^'), "{text:?}:\n{snippet}");
        }
        let shown = e.to_string();
        let _ = e.render(true);
        assert!(shown.len() < 64 << 10, "{} bytes", shown.len());
    };
    for profile in ["default", "ci"] {
        match parse(text, path, profile, &base) {
            Ok(c) => exercise(&c),
            Err(e) => check(&e),
        }
    }
    if let Err(e) = check_archive_text(text, path) {
        check(&e);
    }
}

/// What the run asks of a configuration.
fn exercise(c: &Config) {
    let args = match crate::cli::Cli::try_parse_from(["cargo-isolate", "test"]) {
        Ok(crate::cli::Cli {
            command: crate::cli::Command::Test(a),
        }) => a,
        _ => unreachable!("`test` parses"),
    };
    let _ = c.apply(&args, &crate::cli::Explicit::default());
    let info = TestInfo {
        package: "demo",
        binary: "demo",
        binary_id: "demo",
        kind: "lib",
        name: "tests::é",
        group: crate::filterset::GLOBAL_GROUP,
    };
    let _ = c.test_settings(&info, &Default::default());
    let _ = c.any_override_unsandboxed();
}

#[test]
fn never_panics_on_random_files() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..3_000 {
        let text = file(&mut rng);
        survives(&text);
        survives(&mutate(&mut rng, &text));
    }
}

#[test]
fn never_panics_on_truncations_of_a_hostile_file() {
    let full = "\u{feff}[profile.default]\r\nmemory-max = \"\\u0032\\x35\\U00000036M\"\r\ntimeout = '''30s'''\r\nenv = { \"K\\u00e9\" = \"v\\t\\\"\" }\r\ndefault-filter = \"\"\"test(/\\\\d/) | \\\r\n   test(\\u00e9) | test(日本)\"\"\"\r\n\r\n[[profile.default.overrides]]\r\nfilter = \"test(/\\\\d/) | é\"\r\nro-bind = ['/usr']\r\n\r\n[profile.ci.hosts]\r\n\"db.\\u0069nternal\" = \"127.0.0.1\"\r\n";
    for (i, _) in full.char_indices() {
        survives(&full[..i]);
        survives(&full[i..]);
    }
}

#[test]
fn never_panics_on_every_escape_of_every_meaningful_value() {
    let mut rng = Rng(42);
    for key in KEYS {
        for v in MEANINGFUL {
            let written = string(&mut rng, v);
            survives(&format!("[profile.default]\n{key} = {written}\n"));
            survives(&format!(
                "[[profile.default.overrides]]\nfilter = {}\n{key} = {written}\n",
                string(&mut rng, "all()")
            ));
        }
    }
}

/// Any span over any text renders, and the place it names is the one a
/// plain count of lines and characters gives (the renderer must never
/// see a span that splits a character).
#[test]
fn any_span_of_any_text_renders_at_its_place() {
    const PIECES: &[&str] = &[
        "a", "=", " ", "\t", "\n", "\r\n", "\r", "é", "日本", "😀", "\u{0}", "\u{1b}", "\u{feff}",
        "\u{202e}", "\"", "\\", "\u{300}",
    ];
    let mut rng = Rng(7);
    for _ in 0..20_000 {
        let text: String = (0..rng.below(24)).map(|_| *rng.pick(PIECES)).collect();
        let a = rng.below(text.len() + 3);
        let b = rng.below(text.len() + 3);
        let e = ConfigError::at(Path::new("x.toml"), &text, a..b, "m");
        let rendered = e.to_string();
        // The place: the start clamped to the text and moved back to a
        // character boundary.
        let mut start = a.min(text.len());
        while !text.is_char_boundary(start) {
            start -= 1;
        }
        let line = text[..start].matches('\n').count() + 1;
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        let col = text[line_start..start].chars().count() + 1;
        assert_eq!(e.at, Some((line, col)), "{text:?} {a}..{b}");
        assert!(
            rendered.starts_with(&format!("x.toml:{line}:{col}: m")),
            "{text:?} {a}..{b}: {rendered}"
        );
    }
}
