//! The configuration as a user writes it, and as a hostile or careless
//! one does: every error has a place that is right, and nothing panics.

use super::archive::check_archive_text;
use super::*;
use crate::budget::Thresholds;
use crate::filterset::TestInfo;
use std::time::Duration;

const FILE: &str = r#"
[profile.default]
memory-max = "256M"
timeout = "30s"
jobs = 4

[[profile.default.overrides]]
filter = "test(heavy)"
memory-max = "1G"
memory-budget = "512M"

[profile.ci]
timeout = "2m"
fail-fast = true

[[profile.ci.overrides]]
filter = "package(demo) & test(=tests::slow)"
timeout = "5m"
time-budget = "1s"
"#;

fn info<'a>(name: &'a str) -> TestInfo<'a> {
    TestInfo {
        package: "demo",
        binary: "demo",
        binary_id: "demo",
        kind: "lib",
        name,
        group: crate::filterset::GLOBAL_GROUP,
    }
}

/// Relative paths in these texts are relative to `/`.
fn base() -> Base {
    Base {
        dir: PathBuf::from("/"),
        what: "the workspace",
    }
}

fn load(text: &str, profile: &str) -> Result<Config, ConfigError> {
    parse(text, Path::new(".config/isolate.toml"), profile, &base())
}

#[test]
fn a_profile_inherits_from_default() {
    let c = load(FILE, "ci").unwrap();
    assert_eq!(c.run.jobs, Some(4), "from default");
    assert_eq!(c.run.fail_fast, Some(true), "its own");
    assert_eq!(
        c.run.sandbox.timeout,
        Some(Duration::from_secs(120)),
        "its own wins"
    );
    assert_eq!(c.run.sandbox.memory_max, Some(256 << 20));
    let d = load(FILE, "default").unwrap();
    assert_eq!(d.run.sandbox.timeout, Some(Duration::from_secs(30)));
    assert_eq!(d.run.fail_fast, None);
}

#[test]
fn the_first_matching_override_wins_and_falls_back_to_the_profile() {
    let c = load(FILE, "ci").unwrap();
    let slow = c.settings_for(&info("tests::slow"));
    assert_eq!(slow.sandbox.timeout, Some(Duration::from_secs(300)));
    assert_eq!(slow.time_budget, Some(Duration::from_secs(1)));
    assert_eq!(
        slow.sandbox.memory_max,
        Some(256 << 20),
        "the profile's, not the override's"
    );
    let heavy = c.settings_for(&info("tests::heavy_alloc"));
    assert_eq!(heavy.sandbox.memory_max, Some(1 << 30));
    assert_eq!(heavy.memory_budget, Some(512 << 20));
    assert_eq!(
        heavy.sandbox.timeout,
        Some(Duration::from_secs(120)),
        "the profile's"
    );
    let plain = c.settings_for(&info("tests::adds"));
    assert_eq!(plain.sandbox.memory_max, Some(256 << 20));
    assert_eq!(plain.memory_budget, None);
}

fn error(text: &str) -> ConfigError {
    load(text, "default").unwrap_err()
}

#[test]
fn errors_point_at_file_line_and_column() {
    let e = error("[profile.default]\nmemory-max = \"1\"\n");
    assert_eq!(e.at, Some((2, 14)), "{e}");
    assert!(e.message.contains("memory-max"), "{e}");
    assert!(
        e.to_string().starts_with(".config/isolate.toml:2:14: "),
        "{e}"
    );
    assert!(e.snippet(false).unwrap().contains("^^^"));

    let e = error("[profile.default]\nmemroy-max = \"1G\"\n");
    assert_eq!(e.at.map(|a| a.0), Some(2), "{e}");
    assert!(e.message.contains("memroy-max"), "unknown key named: {e}");

    let e = error("[profile.default\n");
    assert_eq!(e.at.map(|a| a.0), Some(1), "syntax: {e}");

    let e = error("[[profile.default.overrides]]\nfilter = \"test(a) & \"\n");
    assert_eq!(e.at.map(|a| a.0), Some(2), "{e}");
    assert!(e.message.contains("invalid filter"), "{e}");

    let e = error("[profile.default]\nisolation = \"sometimes\"\n");
    assert!(
        e.message.contains("per-test"),
        "the choices are listed: {e}"
    );

    let e = error("[profile.default]\njobs = 0\n");
    assert_eq!(e.at, Some((2, 8)), "{e}");

    let e = load(FILE, "nightly").unwrap_err();
    assert!(
        e.message.contains("\"nightly\"") && e.message.contains("ci"),
        "{e}"
    );
}

#[test]
fn regression_thresholds_default_to_memory_and_cpu() {
    let c = load(
        "[profile.default]\nmax-time-regression = \"25%\"\nmemory-regression-floor = \"4M\"\n",
        "default",
    )
    .unwrap();
    let t = c.thresholds();
    assert_eq!(t.time.unwrap().percent, 25.0, "set: compared");
    assert_eq!(t.time.unwrap().floor, 50.0, "its default floor");
    assert_eq!(t.memory.unwrap().floor, (4 << 20) as f64);
    assert_eq!(t.cpu, Thresholds::default().cpu);
    assert_eq!(Config::default().thresholds(), Thresholds::default());
}

#[test]
fn output_keys_and_a_default_filter() {
    let c = load(
        "[profile.default]\nhtml = \"r.html\"\nmessage-format = \"json\"\ncolor = \"never\"\ndefault-filter = \"not test(slow)\"\n",
        "default",
    )
    .unwrap();
    assert_eq!(
        c.run.html,
        Some(PathBuf::from("/r.html")),
        "relative to the base"
    );
    assert_eq!(c.run.message_format, Some(cli::MessageFormat::Json));
    assert_eq!(c.run.color.as_deref(), Some("never"));
    assert_eq!(c.run.default_filter.as_deref(), Some("not test(slow)"));
    let e = error("[profile.default]\ndefault-filter = \"test(\"\n");
    assert_eq!(e.at.map(|a| a.0), Some(2), "{e}");
    let e = error("[profile.default]\ncolor = \"purple\"\n");
    assert!(e.message.contains("auto, always, never"), "{e}");
}

#[test]
fn no_file_is_an_empty_default_profile() {
    let c = Config::load(None, None, None).unwrap();
    assert_eq!(c.run, RunSettings::default());
    assert!(
        Config::load(None, None, Some("ci")).is_err(),
        "a named profile needs a file"
    );
}

#[test]
fn an_archive_config_may_select_and_limit_but_not_shape_the_sandbox() {
    let path = Path::new("ws/.config/isolate.toml");
    let ok = "[profile.default]\ntimeout = \"1m\"\ndefault-filter = \"test(a)\"\nretries = 1\n\n[[profile.default.overrides]]\nfilter = \"test(b)\"\nmemory-max = \"1G\"\nnet-loss = \"1%\"\ntest-group = \"serial\"\n";
    check_archive_text(ok, path).unwrap();
    // An override may put a test in a group, so the groups may be defined.
    check_archive_text(
        &format!("[test-groups.serial]\nmax-threads = 1\n\n{ok}"),
        path,
    )
    .unwrap();
    let e = check_archive_text(
        "[profile.default]\ntimeout = \"1m\"\nisolation = \"none\"\nro-bind = [\"/root\"]\n",
        path,
    )
    .unwrap_err();
    assert_eq!(e.at, Some((3, 1)), "{e}");
    assert!(
        e.message.contains("profile.default.isolation (line 3)")
            && e.message.contains("profile.default.ro-bind (line 4)")
            && e.message.contains("--trust-archive-config"),
        "{e}"
    );
    // An allow-list: a key this version does not know is refused too,
    // in profiles, overrides and at the top.
    for (text, key) in [
        ("[profile.ci]\nseccomp = \"off\"\n", "profile.ci.seccomp"),
        (
            "[[profile.default.overrides]]\nfilter = \"all()\"\nenv = { A = \"1\" }\n",
            "profile.default.overrides.env",
        ),
        (
            "[profile.ci.hosts]\n\"db\" = \"127.0.0.1\"\n",
            "profile.ci.hosts",
        ),
        ("[profile.ci]\nreport = \"/etc/x\"\n", "profile.ci.report"),
        ("sandbox = false\n", "sandbox"),
    ] {
        let e = check_archive_text(text, path).unwrap_err();
        assert!(e.message.contains(key), "{text}: {e}");
    }
    // The documented CI example sets a junit path and hosts: an archive
    // carrying it needs the user's word.
    let docs = include_str!("../../docs/ci/isolate.toml");
    let e = check_archive_text(docs, path).unwrap_err();
    assert!(e.message.contains("profile.ci.junit"), "{e}");
}

/// The example in docs/ci/ is a real configuration.
#[test]
fn the_documented_example_parses() {
    let text = include_str!("../../docs/ci/isolate.toml");
    let c = parse(text, Path::new("docs/ci/isolate.toml"), "ci", &base()).unwrap();
    assert_eq!(c.run.retries, Some(1));
    assert_eq!(c.run.sandbox.hosts.as_ref().map(Vec::len), Some(1));
    let net = &c.overrides.last().unwrap().settings.sandbox.net;
    assert_eq!(net.net_loss, Some(20_000));
    assert_eq!(net.net_reject, Some(vec![cli::PortList(vec![6379])]));
}

// --- places in the text as written ---------------------------------------

/// Display columns of `c` in a terminal: 2 for the wide scripts these
/// tests use, else 1 (what annotate-snippets aligns carets by).
fn width(c: char) -> usize {
    match c as u32 {
        0x1100..=0x115F | 0x2E80..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF => 2,
        0xFF00..=0xFF60 | 0x1F300..=0x1FAFF | 0x20000..=0x3FFFD => 2,
        _ => 1,
    }
}

/// The text of the source line that the carets of `e`'s snippet stand
/// under.
fn under_carets(e: &ConfigError) -> String {
    let s = e.snippet(false).expect("a snippet");
    let lines: Vec<&str> = s.lines().collect();
    let i = lines
        .iter()
        .position(|l| l.contains('^') && l.trim_start().starts_with('|'))
        .unwrap_or_else(|| panic!("no caret line in\n{s}"));
    let (src, carets) = (lines[i - 1], lines[i]);
    let mut columns = Vec::new();
    let mut col = 0;
    for c in src.chars() {
        columns.push((col, c));
        col += width(c);
    }
    let marked: Vec<usize> = carets
        .chars()
        .enumerate()
        .filter(|(_, c)| *c == '^')
        .map(|(i, _)| i)
        .collect();
    columns
        .iter()
        .filter(|(col, _)| marked.contains(col))
        .map(|(_, c)| *c)
        .collect()
}

/// Issue 21: this file made the tool panic ("not a char boundary", exit
/// 101), and without a panic the caret was one column off per escape.
#[test]
fn the_issue_21_file_is_an_error_at_the_right_character() {
    let e = error("[[profile.default.overrides]]\nfilter = \"test(/\\\\d/) | é\"\n");
    assert_eq!(e.at, Some((2, 25)), "{e}");
    assert_eq!(under_carets(&e), "é", "{e}");
    assert!(e.message.starts_with("invalid filter: "), "{e}");
    assert!(
        !e.message.contains("at column"),
        "no column of the decoded text, which is not the file's: {e}"
    );
    let e = error("[[profile.default.overrides]]\nfilter = \"test(/\\\\d/) | x\"\n");
    assert_eq!(e.at, Some((2, 25)), "{e}");
    assert_eq!(under_carets(&e), "x", "{e}");
}

/// Line and column (1-based, in characters) of the first `needle` in
/// line `line` of `file`.
fn place_of(file: &str, line: usize, needle: &str) -> (usize, usize) {
    let text = file.lines().nth(line - 1).unwrap();
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle} in {text}"));
    (line, text[..at].chars().count() + 1)
}

#[test]
fn filter_errors_are_placed_through_every_string_form_and_escape() {
    for (text, line, under) in [
        // Escapes before the place, and in it.
        (
            r#"filter = "\u0074est(\x61)\t\u0026 \U00000062ogus()""#,
            2,
            r"\U00000062ogus",
        ),
        (r#"filter = "test(/\e\"\\d[/)""#, 2, "["),
        (r#"filter = "test(\"\\\\\" & ""#, 2, "\""),
        ("filter = 'test(/\\d/) | bogus()'", 2, "bogus"),
        ("filter = '''\ntest(/\\d/) |\n  bogus()'''", 4, "bogus"),
        (
            "filter = \"\"\"\ntest(a) & \\\n    \\u0062ogus()\"\"\"",
            4,
            "\\u0062ogus",
        ),
        // Non-ASCII and wide characters before the place, on its line.
        ("filter = \"test(é) | test(日本) | bogus()\"", 2, "bogus"),
        ("filter = \"test(日本)  |  \"", 2, "\""),
        // A tab is one column, as editors count it.
        ("filter =\t\"test(a)\t|\tbogus()\"", 2, "bogus"),
    ] {
        for key in ["filter", "default-filter"] {
            let (head, body) = match key {
                "filter" => ("[[profile.default.overrides]]", text.to_string()),
                _ => ("[profile.default]", text.replacen("filter", key, 1)),
            };
            let file = format!("{head}\n{body}\n");
            let e = error(&file);
            let want = if under == "\"" {
                // The end of the expression: its closing quote.
                let t = file.lines().nth(line - 1).unwrap();
                (line, t.chars().count())
            } else {
                place_of(&file, line, under)
            };
            assert_eq!(e.at, Some(want), "{file}: {e}");
            assert_eq!(under_carets(&e), under, "{file}: {e}");
        }
    }
}

#[test]
fn a_bom_and_crlf_line_endings_do_not_move_the_place() {
    let crlf = "[[profile.default.overrides]]\r\nfilter = \"test(/\\\\d/) | bogus()\"\r\n";
    for text in [crlf.to_string(), format!("\u{feff}{crlf}")] {
        let e = error(&text);
        assert_eq!(e.at, Some((2, 25)), "{text:?}: {e}");
        assert_eq!(under_carets(&e), "bogus", "{e}");
        let shown = e.to_string();
        assert!(!shown.contains(['\r', '␍']), "{shown:?}");
    }
    // A BOM is not a column of line 1.
    let e = error("\u{feff}jobs = 4\n");
    assert_eq!(e.at, Some((1, 1)), "{e}");
    let e = error("\u{feff}[profile.default]\njobs = 0\n");
    assert_eq!(e.at, Some((2, 8)), "{e}");
    // A file that is all BOM and CRLF parses.
    load(
        "\u{feff}[profile.default]\r\ntimeout = \"1s\"\r\n",
        "default",
    )
    .unwrap();
}

/// A string key whose value is written with escapes means the same as
/// written plainly: sizes, durations, paths, filters, enums.
#[test]
fn escaped_values_mean_what_they_decode_to() {
    let plain = "[profile.default]\nmemory-max = \"256M\"\ntimeout = \"30s\"\ndefault-filter = \"test(/\\\\d/) | test(é)\"\nisolation = \"per-test\"\nreport = \"out/r.json\"\nhostname = \"box\"\nnet-loss = \"5%\"\n\n[[profile.default.overrides]]\nfilter = \"test(é)\"\ntime-budget = \"1m\"\nmemory-budget = \"1.5G\"\n";
    let escaped = "\u{feff}[profile.default]\r\nmemory-max = \"\\u0032\\x35\\U00000036M\"\r\ntimeout = '''30s'''\r\ndefault-filter = \"\"\"test(/\\\\d/) | \\\r\n   test(\\u00e9)\"\"\"\r\nisolation = \"per\\u002dtest\"\r\nreport = \"out\\u002fr.json\"\r\nhostname = 'box'\r\nnet-loss = \"5\\u0025\"\r\n\r\n[[profile.default.overrides]]\r\nfilter = \"test(\\xe9)\"\r\ntime-budget = \"1\\x6d\"\r\nmemory-budget = \"1\\u002e5G\"\r\n";
    let a = load(plain, "default").unwrap();
    let b = load(escaped, "default").unwrap();
    assert_eq!(a.run, b.run);
    assert_eq!(a.run.sandbox.memory_max, Some(256 << 20));
    assert_eq!(
        a.run.default_filter.as_deref(),
        Some("test(/\\d/) | test(é)")
    );
    let t = info("tests::é");
    assert_eq!(a.settings_for(&t), b.settings_for(&t));
    assert_eq!(b.settings_for(&t).memory_budget, Some(3 << 29));
}

#[test]
fn a_megabyte_key_or_value_makes_a_short_error() {
    let big = "k".repeat(1 << 20);
    let start = std::time::Instant::now();
    for text in [
        format!("[profile.default]\n{big} = 1\n"),
        format!("[profile.default]\n\"{big}\" = 1\n"),
        format!("[profile.default]\nmemory-max = \"{big}\"\n"),
        format!("[profile.default]\ndefault-filter = \"test(a) | {big}\"\n"),
        format!("[profile.default.hosts]\n{big} = \"127.0.0.1\"\n"),
        format!("[profile.default]\nenv = {{ A = \"{big}\\u0000\" }}\n"),
        format!("[profile.default]\nro-bind = [\"/{big}\"]\n"),
    ] {
        let e = error(&text);
        assert_eq!(e.at.map(|a| a.0), Some(2), "{}", e.message);
        let shown = e.to_string();
        assert!(
            shown.len() < 4000,
            "{} bytes: {}",
            shown.len(),
            &shown[..400]
        );
        let e = check_archive_text(&text, Path::new("a.toml"));
        if let Err(e) = e {
            assert!(e.to_string().len() < 4000);
        }
    }
    let e = load("[profile.default]\njobs = 1\n", &big).unwrap_err();
    assert!(e.to_string().len() < 4000);
    let e = load(&format!("[profile.{big}]\njobs = 0\n"), &big).unwrap_err();
    assert_eq!(e.at, Some((2, 8)), "{}", e.message);
    assert!(
        start.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn odd_values_are_errors_at_their_place() {
    for (text, col, says) in [
        ("jobs = \"4\"", 8, "invalid type"),
        ("timeout = 30", 11, "invalid type"),
        ("ro-bind = \"/usr\"", 11, "invalid type"),
        ("env = [\"A\"]", 7, "invalid type"),
        ("jobs = 99999999999999999999", 8, "i64"),
        ("cpus = 1e400", 8, "overflow"),
        ("cpus = nan", 8, "number of CPUs"),
        ("cpus = inf", 8, "at most 4096"),
        ("cpus = -0.0", 8, "at least 0.01"),
        ("retries = 4294967296", 11, "at most 4294967295"),
        ("retries = -1", 11, "at least 0"),
        ("stress-count = 4294967296", 16, "at most"),
        ("max-fail = -9223372036854775808", 12, "at least 1"),
        ("tmpfs-inodes = -1", 16, "whole number"),
        ("pids-max = 9223372036854775807", 12, "at most"),
        ("memory-max = \"18446744073709551616\"", 14, "too large"),
        ("memory-max = \"1e30\"", 14, "too large"),
        ("output-limit = \"5 parsecs\"", 16, "unknown unit"),
        ("timeout = \"9999999999y\"", 11, "at most 1 year"),
        ("hostname = \"a\\u0000b\"", 12, "not allowed"),
        ("env = { \"A=B\" = \"x\" }", 9, "cannot contain '='"),
        ("env = { \"\" = \"x\" }", 9, "name is empty"),
        ("env = { A = \"x\\u0000y\" }", 13, "NUL"),
        ("report = \"a\\u0000b\"", 10, "NUL"),
        ("seccomp = \"\\u0000\"", 11, "NUL"),
        ("color = \"\\u001b[31m\"", 9, "not one of auto"),
        ("isolation = \"\"", 13, "not one of"),
    ] {
        let file = format!("[profile.default]\n{text}\n");
        let e = error(&file);
        assert_eq!(e.at, Some((2, col)), "{text}: {e}");
        assert!(e.message.contains(says), "{text}: {e}");
        assert!(
            !e.to_string().contains('\u{1b}'),
            "control characters shown as such: {e}"
        );
    }
    let e = error("[profile.default.hosts]\n\"a=b\" = \"127.0.0.1\"\n");
    assert!(e.message.contains("'='"), "{e}");
}

fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("isolate-config-")
        .tempdir()
        .unwrap()
}

/// `ro-bind` in an override is relative to the workspace, as every path
/// in the file; a missing one is an error naming the override and the
/// path (it used to resolve against the current directory, and vanish).
#[test]
fn ro_bind_paths_resolve_against_the_base_and_must_exist() {
    let ws = tempdir();
    let base = Base {
        dir: ws.path().join("app"),
        what: "the workspace",
    };
    std::fs::create_dir_all(ws.path().join("app/data")).unwrap();
    std::fs::create_dir_all(ws.path().join("shared")).unwrap();
    let text = "[profile.default]\nro-bind = [\"data\"]\n\n[[profile.default.overrides]]\nfilter = \"test(net)\"\nro-bind = [\"../shared\", \"/usr\"]\n";
    let c = parse(text, Path::new("isolate.toml"), "default", &base).unwrap();
    let real = |p: &str| std::fs::canonicalize(ws.path().join(p)).unwrap();
    assert_eq!(c.run.sandbox.ro_bind, Some(vec![real("app/data")]));
    assert_eq!(
        c.settings_for(&info("tests::net")).sandbox.ro_bind,
        Some(vec![real("shared"), PathBuf::from("/usr")])
    );

    let missing = "[profile.default]\n\n[[profile.default.overrides]]\nfilter = \"test(a)\"\n\n[[profile.default.overrides]]\nfilter = \"test(\\u0062)\"\nro-bind = [\"/usr\", \"fixtures/nope\"]\n";
    let e = parse(missing, Path::new("isolate.toml"), "default", &base).unwrap_err();
    assert_eq!(e.at, Some((8, 20)), "{e}");
    for part in [
        "override 2 of profile.default (filter = \"test(b)\")",
        &ws.path().join("app/fixtures/nope").display().to_string(),
        "No such file or directory",
        "relative paths are relative to the workspace",
    ] {
        assert!(e.message.contains(part), "{part}: {e}");
    }
    let e = parse(
        "[profile.default]\nro-bind = [\"/nope\"]\n",
        Path::new("isolate.toml"),
        "default",
        &base,
    )
    .unwrap_err();
    assert!(e.message.contains("of profile.default: /nope"), "{e}");
    assert!(!e.message.contains("relative paths"), "absolute: {e}");
    for root in ["/", "/.", "//", "/usr/.."] {
        let e = parse(
            &format!("[[profile.default.overrides]]\nfilter = \"all()\"\nro-bind = [{root:?}]\n"),
            Path::new("isolate.toml"),
            "default",
            &base,
        )
        .unwrap_err();
        assert!(e.message.contains("the sandbox's root is its own"), "{e}");
    }
}

#[test]
fn a_file_that_exists_is_never_skipped() {
    let ws = tempdir();
    let root = ws.path();
    // `.config` is a file: no configuration can be there.
    std::fs::write(root.join(".config"), "").unwrap();
    assert_eq!(Config::load(None, Some(root), None).unwrap().source, None);
    std::fs::remove_file(root.join(".config")).unwrap();
    std::fs::create_dir(root.join(".config")).unwrap();
    let file = root.join(DEFAULT_PATH);
    // A directory where the file should be.
    std::fs::create_dir(&file).unwrap();
    let e = Config::load(None, Some(root), None).unwrap_err();
    assert!(e.message.contains("cannot read it"), "{e}");
    std::fs::remove_dir(&file).unwrap();
    // A dangling link.
    std::os::unix::fs::symlink(root.join("elsewhere.toml"), &file).unwrap();
    let e = Config::load(None, Some(root), None).unwrap_err();
    assert!(e.message.contains("cannot read it"), "{e}");
    std::fs::remove_file(&file).unwrap();
    // Not UTF-8: placed at the first bad byte.
    std::fs::write(&file, b"[profile.default]\ntimeout = \"1\xffs\"\n").unwrap();
    let e = Config::load(None, Some(root), None).unwrap_err();
    assert_eq!(e.at, Some((2, 13)), "{e}");
    assert!(
        e.message.contains("not UTF-8") && e.message.contains("0xff"),
        "{e}"
    );
    // Not a regular file, or too large: said, not read for ever.
    for path in ["/dev/zero", "/dev/null", "/"] {
        let e = Config::load(Some(Path::new(path)), None, None).unwrap_err();
        assert!(e.message.contains("not a regular file"), "{path}: {e}");
    }
    let huge = root.join("huge.toml");
    let f = std::fs::File::create(&huge).unwrap();
    f.set_len(17 << 20).unwrap();
    let e = Config::load(Some(&huge), None, None).unwrap_err();
    assert!(e.message.contains("larger than 16 MiB"), "{e}");
    // Relative paths of a workspace's file: the workspace; of a file given
    // without a workspace: its directory.
    std::fs::write(&file, "[profile.default]\njunit = \"j.xml\"\n").unwrap();
    let c = Config::load(None, Some(root), None).unwrap();
    assert_eq!(c.run.junit, Some(root.join("j.xml")));
    let c = Config::load(Some(&file), None, None).unwrap();
    assert_eq!(c.run.junit, Some(root.join(".config/j.xml")));
}

// --- one definition per setting: layers, per setting --------------------

/// `cargo isolate test ARGS` as parsed, and which flags were given.
fn typed(args: &[&str]) -> (cli::TestArgs, cli::Explicit) {
    use clap::{CommandFactory, FromArgMatches};
    let argv = ["cargo-isolate", "test"].iter().chain(args);
    let matches = cli::Cli::command().try_get_matches_from(argv).unwrap();
    let explicit = cli::Explicit::of(&matches);
    match cli::Cli::from_arg_matches(&matches).unwrap().command {
        cli::Command::Test(t) => (*t, explicit),
        _ => unreachable!("a test command"),
    }
}

const LAYERED: &str = r#"
[profile.default]
cpus = 2.0
timeout = "10s"

[[profile.default.overrides]]
filter = "test(net)"
memory-max = "64M"
timeout = "20s"
retries = 2
env = { A = "default", C = "default" }

[profile.ci]
memory-max = "128M"

[[profile.ci.overrides]]
filter = "test(net)"
timeout = "30s"
env = { A = "ci", B = "ci" }

[[profile.ci.overrides]]
filter = "test(net_slow)"
timeout = "5m"
memory-max = "1G"
cpus = 0.5
"#;

/// nextest's rule: for each setting, the first matching override that
/// sets it, else the profile; an override that does not set a setting
/// does not hide a later one that does (issue 22).
#[test]
fn each_setting_comes_from_the_first_override_that_sets_it() {
    let c = load(LAYERED, "ci").unwrap();
    let t = c.settings_for(&info("tests::net_slow"));
    assert_eq!(
        t.sandbox.timeout,
        Some(Duration::from_secs(30)),
        "ci's first override sets it"
    );
    assert_eq!(
        t.sandbox.memory_max,
        Some(1 << 30),
        "ci's second override: the first does not set it"
    );
    assert_eq!(t.sandbox.cpus, Some(0.5), "ci's second override");
    assert_eq!(t.retries, Some(2), "the default profile's override");
    let env: Vec<String> = t
        .env_pairs()
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    assert_eq!(
        env,
        ["A=ci", "B=ci", "C=default"],
        "variable by variable, the first override that sets it"
    );

    let t = c.settings_for(&info("tests::net"));
    assert_eq!(t.sandbox.timeout, Some(Duration::from_secs(30)));
    assert_eq!(
        t.sandbox.memory_max,
        Some(64 << 20),
        "an override of the default profile comes before the chosen profile"
    );
    assert_eq!(t.sandbox.cpus, Some(2.0), "the default profile");

    let t = c.settings_for(&info("tests::adds"));
    assert_eq!(t.sandbox.memory_max, Some(128 << 20), "the chosen profile");
    assert_eq!(
        t.sandbox.timeout,
        Some(Duration::from_secs(10)),
        "default's"
    );
    assert_eq!(t.retries, None);
    assert!(
        t.env_pairs().is_empty(),
        "a profile's env is the run's, not a test's"
    );
}

/// The command line wins per setting, over every override; the rest
/// still comes from them.
#[test]
fn the_command_line_wins_setting_by_setting() {
    let c = load(LAYERED, "ci").unwrap();
    let (args, explicit) = typed(&["--memory-max", "300M", "--retries", "0"]);
    let args = c.apply(&args, &explicit);
    let given = cli::TestArgs::given(&args, &explicit);
    assert_eq!(given.sandbox.memory_max, Some(300 << 20));
    assert_eq!(given.sandbox.timeout, None, "not given: the file's");
    let t = c.test_settings(&info("tests::net_slow"), &given);
    assert_eq!(t.sandbox.memory_max, Some(300 << 20));
    assert_eq!(t.retries, Some(0));
    assert_eq!(t.sandbox.timeout, Some(Duration::from_secs(30)));
    assert_eq!(t.sandbox.cpus, Some(0.5));
    // The run's own values: the flag where given, else the profile's.
    assert_eq!(args.sandbox.memory_max, Some(300 << 20));
    assert_eq!(args.sandbox.timeout, Some(Duration::from_secs(10)));
    assert_eq!(args.sandbox.cpus, Some(2.0));
}

/// A group (fail-fast, no-fail-fast, max-fail; the stress bounds) is set
/// whole by the most specific layer that sets any of it: the command
/// line, else the chosen profile, else the default one.
#[test]
fn a_group_is_set_whole_by_one_layer() {
    let text = "[profile.default]\nfail-fast = true\nstress-duration = \"10m\"\n\n[profile.ci]\nno-fail-fast = true\nrepeat = 3\n";
    let ci = load(text, "ci").unwrap();
    let (args, explicit) = typed(&[]);
    let a = ci.apply(&args, &explicit);
    assert_eq!(
        a.max_fail(),
        None,
        "ci's no-fail-fast, not default's fail-fast"
    );
    assert_eq!(a.stress_count, Some(3), "ci's, spelled `repeat`");
    assert_eq!(a.stress_duration, None, "ci set the stress group");
    let d = load(text, "default").unwrap().apply(&args, &explicit);
    assert_eq!(d.max_fail(), Some(1));
    assert_eq!(d.stress_duration, Some(Duration::from_secs(600)));
    // One flag of a group given: the file sets none of it.
    let (args, explicit) = typed(&["--max-fail", "4", "--stress-duration", "1m"]);
    let a = load(text, "default").unwrap().apply(&args, &explicit);
    assert_eq!(a.max_fail(), Some(4));
    assert_eq!(a.stress_count, None);
    assert_eq!(a.stress_duration, Some(Duration::from_secs(60)));
}

/// The file's values reach the flags the command line left alone, each
/// as its row says: lists replaced, variables and hosts added, the
/// command line's last (so that they win).
#[test]
fn a_profile_fills_the_flags_not_given() {
    let c = load(
        "[profile.default]\njobs = 3\nhostname = \"box\"\nenv = { A = \"file\", B = \"file\" }\nscratch = \"disk\"\ndefault-filter = \"test(a)\"\n\n[profile.default.hosts]\n\"db.internal\" = \"127.0.0.1\"\n",
        "default",
    )
    .unwrap();
    let (args, explicit) = typed(&[
        "--hostname",
        "mine",
        "--env",
        "A=cli",
        "--hosts",
        "db.internal=::1",
    ]);
    let a = c.apply(&args, &explicit);
    assert_eq!(a.jobs, Some(3));
    assert_eq!(a.sandbox.hostname, "mine", "given: the command line's");
    assert_eq!(a.sandbox.scratch, cli::Scratch::Disk);
    let env: Vec<String> = a.sandbox.env.iter().map(ToString::to_string).collect();
    assert_eq!(
        env,
        ["A=file", "B=file", "A=cli"],
        "the command line's last"
    );
    let hosts: Vec<String> = a.sandbox.hosts.iter().map(ToString::to_string).collect();
    assert_eq!(hosts, ["db.internal=::1", "db.internal=127.0.0.1"]);
    assert_eq!(a.filtersets, ["test(a)"], "the default filter as -E");
    let (args, explicit) = typed(&["-E", "test(b)"]);
    assert_eq!(c.apply(&args, &explicit).filtersets, ["test(b)"]);
}

/// An override takes only per-test keys; a profile's own keys there are
/// refused at their place, as any unknown key.
#[test]
fn an_override_refuses_a_run_key_at_its_place() {
    let e = error("[[profile.default.overrides]]\nfilter = \"all()\"\njobs = 2\n");
    assert_eq!(e.at, Some((3, 1)), "{e}");
    assert!(e.message.contains("unknown field `jobs`"), "{e}");
    let e = error("[profile.default]\nfilter = \"all()\"\n");
    assert_eq!(e.at, Some((2, 1)), "{e}");
    let e = error("[[profile.default.overrides]]\nmemory-max = \"1G\"\n");
    assert!(e.message.contains("missing field `filter`"), "{e}");
    let e = error("[profile.default]\nrepeat = 2\nstress-count = 3\n");
    assert!(e.message.contains("set twice"), "{e}");
}

/// `slow-timeout` as nextest writes it: a period, or a table with
/// terminate-after and grace-period; per setting, like any other; errors at their place.
#[test]
fn a_slow_timeout_is_a_period_or_a_table() {
    let c = load(
        "[profile.default]\nslow-timeout = \"30s\"\n\n[[profile.default.overrides]]\nfilter = \"test(hangs)\"\nslow-timeout = { period = \"500ms\", terminate-after = 2, grace-period = \"2s\" }\n\n[[profile.default.overrides]]\nfilter = \"test(hangs)\"\nmemory-max = \"64M\"\n",
        "default",
    )
    .unwrap();
    let t = c.settings_for(&info("tests::hangs"));
    let st = t.slow_timeout.unwrap();
    assert_eq!(st.limit(), Some(Duration::from_secs(1)));
    assert_eq!(st.grace_period, Some(Duration::from_secs(2)));
    assert_eq!(t.sandbox.memory_max, Some(64 << 20), "the next override's");
    let t = c.settings_for(&info("tests::adds"));
    assert_eq!(
        t.slow_timeout.map(|s| s.period),
        Some(Duration::from_secs(30))
    );
    assert_eq!(t.slow_timeout.and_then(|s| s.limit()), None);
    for (text, col, says) in [
        ("slow-timeout = 30", 16, "a period"),
        (
            "slow-timeout = { period = \"1s\", on-timeout = \"pass\" }",
            16,
            "unknown field `on-timeout`, expected one of `period`, `terminate-after`, `grace-period`",
        ),
        (
            "slow-timeout = { period = \"1s\", grace-period = \"soon\" }",
            16,
            "grace-period: expected a duration",
        ),
        (
            "slow-timeout = { terminate-after = 2 }",
            16,
            "missing field `period`",
        ),
        (
            "slow-timeout = { period = \"0\", terminate-after = 2 }",
            16,
            "more than 0",
        ),
        ("slow-timeout = \"1s,terminate-after=0\"", 16, "at least 1"),
    ] {
        let e = error(&format!("[profile.default]\n{text}\n"));
        assert_eq!(e.at.map(|a| a.0), Some(2), "{text}: {e}");
        assert_eq!(e.at.map(|a| a.1), Some(col), "{text}: {e}");
        assert!(e.message.contains(says), "{text}: {e}");
    }
}
