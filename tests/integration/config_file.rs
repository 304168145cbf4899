//! The configuration file as a user writes it, and as a hostile or careless
//! one does (issue 21): an error is exit 2 with the place in the text as
//! written, escapes, non-ASCII text, a byte-order mark and CRLF line
//! endings included; `ro-bind` in an override is relative to the
//! workspace and must exist; `color` in a profile colours the output; a
//! workspace cargo cannot locate stops the run instead of skipping the
//! file; and the run id stays random without /dev/urandom.

use super::*;

/// `fixtures/<name>` in a tempdir with `.config/isolate.toml` holding `toml`.
fn with_config(name: &str, toml: &str) -> (Option<tempfile::TempDir>, PathBuf) {
    let (tmp, dir) = fixture(name);
    std::fs::create_dir_all(dir.join(".config")).unwrap();
    std::fs::write(dir.join(".config/isolate.toml"), toml).unwrap();
    (tmp, dir)
}

/// `cargo isolate test ARGS` in `cwd`, no colours asked for either way.
fn isolate(cwd: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(["isolate", "test"])
        .args(args)
        .current_dir(cwd)
        .env_remove("NO_COLOR")
        .env_remove("CARGO_TERM_COLOR")
        .stdin(Stdio::null())
        .output()
        .expect("run cargo-isolate")
}

/// The characters of the snippet's source line that its carets stand
/// under (for lines without wide characters or tabs).
fn under_carets(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().collect();
    let Some(i) = lines
        .iter()
        .position(|l| l.contains('^') && l.trim_start().starts_with('|'))
    else {
        panic!("no caret line in:\n{stderr}");
    };
    let source: Vec<char> = lines[i - 1].chars().collect();
    lines[i]
        .chars()
        .enumerate()
        .filter(|(_, c)| *c == '^')
        .filter_map(|(col, _)| source.get(col))
        .collect()
}

/// Issue 21: this file made the tool panic at config.rs ("not a char
/// boundary", exit 101, a failed build to CI); then the same file with
/// every hostile trait at once.
#[test]
fn a_filter_error_is_exit_2_at_its_place_in_the_text_as_written() {
    for (toml, line, key, under) in [
        (
            "[[profile.default.overrides]]\nfilter = \"test(/\\\\d/) | é\"\n",
            2,
            "filter",
            "é",
        ),
        // The caret was one column off per escape before the place.
        (
            "[[profile.default.overrides]]\nfilter = \"test(/\\\\d/) | x\"\n",
            2,
            "filter",
            "x",
        ),
        // A BOM, CRLF, non-ASCII text before the place, every escape form.
        (
            "\u{feff}# é 日本\r\n[profile.default]\r\nmemory-max = \"\\u0032\\x35\\U00000036M\"\r\n\r\n[[profile.default.overrides]]\r\nfilter = \"\\u0074est(é) \\t| test(\\\\d) | x\"\r\n",
            6,
            "filter",
            "\\\\d",
        ),
        (
            "\u{feff}[profile.default]\r\ndefault-filter = '''\r\ntest(é) &\r\n  bogus()'''\r\n",
            4,
            "default-filter",
            "bogus",
        ),
    ] {
        let (_tmp, dir) = with_config("demo", toml);
        let out = isolate(&dir, &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{toml:?}:\n{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        // Where `under` is in the file, in characters from 1; a BOM is not
        // a column.
        let text = toml
            .trim_start_matches('\u{feff}')
            .split('\n')
            .nth(line - 1)
            .unwrap();
        let col = text[..text.find(under).unwrap()].chars().count() + 1;
        let place = format!(".config/isolate.toml:{line}:{col}: invalid {key}: ");
        assert!(
            stderr.contains(&place),
            "{toml:?}: wanted {place} in:\n{stderr}"
        );
        assert_eq!(under_carets(&stderr), under, "{toml:?}:\n{stderr}");
        assert!(!stderr.contains(['\r', '␍']), "{stderr:?}");
        assert!(
            !dir.join("target").exists(),
            "nothing is built before the configuration is checked"
        );
    }
}

/// A key of a megabyte, a value of the wrong type, a value too large:
/// exit 2 with a short message that names the place.
#[test]
fn odd_files_are_short_usage_errors() {
    let big = "k".repeat(1 << 20);
    for (toml, place) in [
        (format!("[profile.default]\n{big} = 1\n"), ":2:1: "),
        (
            "[profile.default]\nretries = 4294967296\n".to_string(),
            ":2:11: ",
        ),
        (
            "[profile.default]\nenv = { A = \"x\\u0000y\" }\n".to_string(),
            ":2:13: ",
        ),
        (
            // A raw NUL, which TOML does not allow in a string: at it.
            "[profile.default]\ntimeout = \"1\u{0}s\"\n".to_string(),
            ":2:13: ",
        ),
    ] {
        let (_tmp, dir) = with_config("demo", &toml);
        let out = isolate(&dir, &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{}",
            &stderr[..stderr.len().min(2000)]
        );
        assert!(
            stderr.contains(place),
            "{place}: {}",
            &stderr[..stderr.len().min(2000)]
        );
        assert!(stderr.len() < 8 << 10, "{} bytes of error", stderr.len());
    }
}

/// `ro-bind` in an override is relative to the workspace, whatever the
/// current directory (it was resolved against the current directory, and
/// a path missing there vanished); a missing path is exit 2 naming the
/// file, the override and the path.
#[test]
fn an_override_ro_bind_is_relative_to_the_workspace_and_must_exist() {
    let (tmp, dir) = fixture("binds");
    let outside = dir.parent().unwrap().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("probe.txt"), "bound\n").unwrap();
    let config = |bind: &str| {
        format!(
            "[[profile.default.overrides]]\nfilter = \"test(sees_the_bound_file)\"\nro-bind = [\"{bind}\"]\nenv = {{ PROBE_FILE = \"{}\" }}\n",
            outside.join("probe.txt").display()
        )
    };
    std::fs::create_dir_all(dir.join(".config")).unwrap();
    std::fs::write(dir.join(".config/isolate.toml"), config("../outside")).unwrap();
    // From a subdirectory: cargo finds the workspace above it.
    let out = isolate(&dir.join("src"), &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("sees_the_bound_file"), "{stderr}");

    std::fs::write(dir.join(".config/isolate.toml"), config("../nope")).unwrap();
    let out = isolate(&dir.join("src"), &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for part in [
        ".config/isolate.toml:3:12: ",
        "override 1 of profile.default (filter = \"test(sees_the_bound_file)\")",
        &dir.join("../nope").display().to_string(),
        "No such file or directory",
        "relative paths are relative to the workspace",
    ] {
        assert!(stderr.contains(part), "wanted {part:?} in:\n{stderr}");
    }
    drop(tmp);
}

/// The lines of the progress output that name a passing test.
fn pass_lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains("PASS"))
        .map(str::to_string)
        .collect()
}

/// `color` in a profile colours the output (it was read and then never
/// used), below `--color` and `CARGO_TERM_COLOR` as cargo's `term.color`.
#[test]
fn a_profile_color_goes_where_color_goes() {
    let one = ["--lib", "-E", "test(=tests::adds_numbers)"];
    let coloured = |out: &Output| {
        let lines = pass_lines(out);
        assert!(
            !lines.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        lines.iter().all(|l| l.contains('\u{1b}'))
    };
    let (_tmp, dir) = with_config("demo", "[profile.default]\ncolor = \"always\"\n");
    let out = isolate(&dir, &one);
    assert_code(&out, 0);
    assert!(
        coloured(&out),
        "the profile's always: {:?}",
        pass_lines(&out)
    );
    let out = isolate(&dir, &[&one[..], &["--color", "never"]].concat());
    assert!(!coloured(&out), "--color wins: {:?}", pass_lines(&out));
    let out = Command::new(BIN)
        .args(["isolate", "test"])
        .args(one)
        .current_dir(&dir)
        .env("CARGO_TERM_COLOR", "never")
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    assert!(
        !coloured(&out),
        "CARGO_TERM_COLOR wins: {:?}",
        pass_lines(&out)
    );
    std::fs::write(
        dir.join(".config/isolate.toml"),
        "[profile.default]\ncolor = \"never\"\n\n[profile.ci]\ncolor = \"always\"\n",
    )
    .unwrap();
    let out = isolate(&dir, &one);
    assert!(!coloured(&out), "{:?}", pass_lines(&out));
    let out = isolate(&dir, &[&one[..], &["--profile", "ci"]].concat());
    assert!(coloured(&out), "{:?}", pass_lines(&out));
}

/// When `cargo locate-project` fails, the run stops with cargo's words:
/// it used to go on without the workspace's configuration. A cargo that
/// knows no `locate-project` (a wrapper) stands for any failure here.
#[test]
fn a_workspace_cargo_cannot_locate_stops_the_run() {
    // The configuration would have run one test; without it all run and
    // one fails.
    let (tmp, dir) = with_config(
        "demo",
        "[profile.default]\ndefault-filter = \"test(=tests::adds_numbers)\"\n",
    );
    let real = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let wrapper = tmp
        .as_ref()
        .map_or_else(|| dir.clone(), |t| t.path().to_path_buf())
        .join("cargo-wrapper");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nif [ \"$1\" = locate-project ]; then\n  echo 'error: this wrapper knows no locate-project' >&2\n  exit 101\nfi\nexec '{real}' \"$@\"\n"
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = Command::new(BIN)
        .args(["isolate", "test", "--lib"])
        .current_dir(&dir)
        .env("CARGO", &wrapper)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(101), "{stderr}");
    assert!(
        stderr.contains("cannot find the workspace")
            && stderr.contains("this wrapper knows no locate-project"),
        "{stderr}"
    );
    assert!(!dir.join("target").exists(), "nothing built: {stderr}");

    // A --manifest-path that does not exist: cargo's message, exit 101.
    let out = isolate(&dir, &["--manifest-path", "nope/Cargo.toml"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(101), "{stderr}");
    assert!(
        stderr.contains("cannot find the workspace") && stderr.contains("does not exist"),
        "{stderr}"
    );

    // No workspace at all, and --config-file: the file is read (its error
    // is shown), relative to its own directory.
    let lone = tempfile::Builder::new()
        .prefix("isolate-it-lone-")
        .tempdir()
        .unwrap();
    if lone
        .path()
        .ancestors()
        .any(|d| d.join("Cargo.toml").exists())
    {
        skip("a Cargo.toml above the temp dir: no place without a workspace");
        return;
    }
    let file = lone.path().join("isolate.toml");
    std::fs::write(&file, "[profile.default]\nro-bind = [\"data\"]\n").unwrap();
    let out = isolate(lone.path(), &["--config-file", file.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&lone.path().join("data").display().to_string())
            && stderr.contains("relative to the directory of the file"),
        "{stderr}"
    );
}

/// The run id (also the seed of GitHub's stop-commands token) came from
/// /dev/urandom alone, and was all zeros when that could not be read. It
/// comes from getrandom(2) now: random with /dev/urandom gone.
#[test]
fn the_run_id_is_random_without_dev_urandom() {
    if !is_root() {
        skip("needs root for a mount namespace with /dev/urandom replaced");
        return;
    }
    let id = || {
        let out = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg(format!(
                "mount --bind /dev/null /dev/urandom && exec '{BIN}' isolate run -- sh -c 'echo \"id=$CARGO_ISOLATE_RUN_ID\"'"
            ))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_code(&out, 0);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let id = stdout
            .lines()
            .find_map(|l| l.strip_prefix("id="))
            .unwrap_or_else(|| panic!("no id in {stdout}"))
            .to_string();
        let v4 = regex::Regex::new(
            "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$",
        )
        .unwrap();
        assert!(v4.is_match(&id), "{id}");
        id
    };
    let (a, b) = (id(), id());
    assert_ne!(a, b, "two runs, two ids");
    assert_ne!(a, "00000000-0000-4000-8000-000000000000");
}

/// Issue 22's demo setting: an override's `slow-timeout` with
/// terminate-after ends a sleeping test as timed out after that many
/// periods; each setting comes from the first override that sets it (the
/// test's timeout from another); the flag's environment variable is the
/// command line, and wins over every override.
#[test]
fn an_overrides_slow_timeout_ends_a_sleeping_test_as_timed_out() {
    let _serial = host_wide();
    let (_tmp, dir) = with_config(
        "faults",
        r#"
[profile.default]
slow-timeout = "1m"

[[profile.default.overrides]]
filter = "test(=hangs)"
slow-timeout = { period = "500ms", terminate-after = 2 }

[[profile.default.overrides]]
filter = "test(=hangs) | test(=passes)"
timeout = "2m"
"#,
    );
    let select = ["--test", "faults", "-E", "test(=hangs) | test(=passes)"];
    let run = isolate_test(&dir, &select);
    assert_eq!(run.code(), 100, "{}", run.stderr());
    let t = run.test("hangs");
    assert_eq!(outcome(&t), "timed_out", "{t:#}");
    assert_eq!(
        t["limits"]["timeout_ms"], 1000,
        "two periods of 500ms, under the next override's 2m"
    );
    let ran = t["duration_ms"].as_f64().unwrap();
    assert!((900.0..30_000.0).contains(&ran), "ended at {ran} ms");
    let replay = t["replay"].as_str().unwrap();
    assert!(
        replay.contains("--slow-timeout 500ms,terminate-after=2"),
        "{replay}"
    );
    let p = run.test("passes");
    assert_eq!(outcome(&p), "passed", "{p:#}");
    assert_eq!(p["limits"]["timeout_ms"], 120_000, "its override's timeout");

    let report = unique_report(&dir);
    let out = Command::new(BIN)
        .args(["isolate", "test", "--report", report.to_str().unwrap()])
        .args(select)
        .env("CARGO_ISOLATE_SLOW_TIMEOUT", "300ms,terminate-after=1")
        .current_dir(&dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(100), "{out:?}");
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let hangs = r["tests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "hangs")
        .unwrap();
    assert_eq!(hangs["outcome"], "timed_out");
    assert_eq!(
        hangs["limits"]["timeout_ms"], 300,
        "the variable's, not the override's"
    );
}

/// `show-config` (nextest's habit): the file's values with where each came
/// from, as JSON that parses, and a file whose filter is hostile text
/// shown without its control characters reaching the terminal.
#[test]
fn show_config_says_where_each_value_came_from() {
    let (_tmp, dir) = with_config(
        "demo",
        "[profile.default]\nmemory-max = \"256M\"\n\n[profile.ci]\nretries = 2\n\n[[profile.ci.overrides]]\nfilter = \"test(x\\u001b[2Jslow)\"\ntimeout = \"5m\"\n",
    );
    let out = Command::new(BIN)
        .args(["isolate", "show-config", "--profile", "ci", "--cpus", "0.5"])
        .args(["--message-format", "json"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON value");
    let of = |key: &str| {
        v["settings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["key"] == key)
            .cloned()
            .unwrap_or_else(|| panic!("no {key} in {v}"))
    };
    assert_eq!(of("memory-max")["value"], "256M");
    assert_eq!(of("memory-max")["sources"][0]["name"], "profile.default");
    assert_eq!(of("retries")["sources"][0]["name"], "profile.ci");
    assert_eq!(of("cpus")["sources"][0]["kind"], "command-line");
    assert_eq!(of("timeout")["sources"][0]["kind"], "default");
    assert_eq!(v["overrides"][0]["settings"]["timeout"], "5m");

    let out = Command::new(BIN)
        .args(["isolate", "show-config", "--profile", "ci"])
        .current_dir(&dir)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success());
    assert!(
        text.contains("retries") && text.contains("[profile.ci]"),
        "{text}"
    );
    assert!(
        !text.contains('\u{1b}'),
        "an escape from the file reached the terminal: {text:?}"
    );
}

/// clap refuses `--no-capture --message-format json`; a profile that sets
/// one of them must not get the tests' output into the JSON stream either.
#[test]
fn no_capture_from_a_profile_is_refused_with_json_events() {
    let (_tmp, dir) = with_config("demo", "[profile.default]\nno-capture = true\n");
    let out = isolate(&dir, &["--message-format", "json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "no-capture comes from profile.default, the message format from command line"
        ),
        "{stderr}"
    );
    assert!(
        out.stdout.is_empty(),
        "nothing in the stream: {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
}
