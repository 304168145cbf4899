//! Filtersets that need the workspace (`deps()`, `rdeps()`, `platform()`,
//! `package()` matching nothing), on fixtures/graph:
//!
//!   top -> mid -> base      tester -(dev)-> base      lone      macros (proc-macro)
//!
//! Each package has one unit test, `tests::<package>_works`.

use super::*;
use std::collections::BTreeSet;

/// The test names a run's report holds.
fn names(run: &Run) -> BTreeSet<String> {
    run.tests().into_keys().collect()
}

fn expected(packages: &[&str]) -> BTreeSet<String> {
    packages
        .iter()
        .map(|p| format!("tests::{p}_works"))
        .collect()
}

/// `cargo isolate test -E EXPR` in `dir`, for a run that must not start.
fn refused(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(BIN)
        .args(["isolate", "test"])
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn rdeps_selects_the_dependants_of_a_member() {
    let (_tmp, dir) = fixture("graph");
    let run = isolate_test(&dir, &["-E", "rdeps(base)"]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    // mid directly, top through mid, tester through a dev-dependency, and
    // base itself; not lone, not macros.
    assert_eq!(
        names(&run),
        expected(&["base", "mid", "top", "tester"]),
        "{}",
        run.stderr()
    );
    for p in ["base", "mid", "top", "tester"] {
        assert_outcome(&run, &format!("tests::{p}_works"), "passed");
    }
    let run = isolate_test(&dir, &["-E", "rdeps(mid)"]);
    assert_eq!(names(&run), expected(&["mid", "top"]), "{}", run.stderr());
}

#[test]
fn deps_and_platform_select_from_the_workspace() {
    let (_tmp, dir) = fixture("graph");
    let run = isolate_test(&dir, &["-E", "deps(top)"]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_eq!(
        names(&run),
        expected(&["base", "mid", "top"]),
        "{}",
        run.stderr()
    );
    // The proc-macro crate's tests are built for the host.
    let run = isolate_test(&dir, &["-E", "platform(host)"]);
    assert_eq!(names(&run), expected(&["macros"]), "{}", run.stderr());
    let run = isolate_test(&dir, &["-E", "platform(target) - rdeps(base)"]);
    assert_eq!(names(&run), expected(&["lone"]), "{}", run.stderr());
}

#[test]
fn a_bad_filterset_exits_94_showing_the_expression() {
    let (_tmp, dir) = fixture("graph");
    // A syntax error: before anything is built.
    let (code, err) = refused(&dir, &["-E", "rdeps(base) & test("]);
    assert_eq!(code, Some(94), "{err}");
    assert!(
        err.contains("rdeps(base) & test(\n                   ^\n"),
        "{err}"
    );
    assert!(!dir.join("target").exists(), "nothing is built first");
    // A package the workspace does not have: an error, not "no tests".
    let (code, err) = refused(&dir, &["-E", "test(works) | package(nope)"]);
    assert_eq!(code, Some(94), "{err}");
    assert!(
        err.contains("test(works) | package(nope)\n                      ^^^^\n"),
        "{err}"
    );
    assert!(
        err.contains(
            "package(): no workspace package matches 'nope' (members: base, mid, top, lone, tester, macros) at column 23"
        ),
        "{err}"
    );
    // Only workspace packages are matched, as in nextest.
    let (code, err) = refused(&dir, &["-E", "rdeps(std)"]);
    assert_eq!(code, Some(94), "{err}");
    assert!(
        err.contains("rdeps(): no workspace package matches 'std'"),
        "{err}"
    );
    let (code, err) = refused(&dir, &["-E", "binary_id(base::nope)"]);
    assert_eq!(code, Some(94), "{err}");
    assert!(
        err.contains("binary_id(): no workspace binary id matches 'base::nope'"),
        "{err}"
    );
    // A name that is there but selects nothing runs nothing: exit 4.
    let (code, err) = refused(&dir, &["-E", "package(lone) & platform(host)"]);
    assert_eq!(code, Some(4), "{err}");
    // The profile's default-filter stands in for -E when none is given:
    // its error names it, not an -E the user never typed.
    std::fs::create_dir_all(dir.join(".config")).unwrap();
    std::fs::write(
        dir.join(".config/isolate.toml"),
        "[profile.default]\ndefault-filter = \"package(nope)\"\n",
    )
    .unwrap();
    let (code, err) = refused(&dir, &[]);
    assert_eq!(code, Some(94), "{err}");
    assert!(
        err.contains("invalid default-filter of the configuration:\npackage(nope)\n"),
        "{err}"
    );
    let (code, err) = refused(&dir, &["-E", "package(nope)"]);
    assert_eq!(code, Some(94), "{err}");
    assert!(err.contains("invalid -E expression:\n"), "{err}");
}

/// The graph travels in the archive: the run reads it there, with the
/// workspace gone.
#[test]
fn rdeps_works_from_an_archive() {
    let (tmp, dir) = fixture("graph");
    let tmp = tmp
        .as_ref()
        .map_or_else(|| dir.clone(), |t| t.path().to_path_buf());
    let archive = tmp.join("graph.tar.zst");
    let out = Command::new(BIN)
        .args(["isolate", "archive", "-o"])
        .arg(&archive)
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_code(&out, 0);
    let elsewhere = tmp.join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let remap = elsewhere.join("ws");
    let from_archive = |expr: &'static str| -> Vec<String> {
        let mut args = vec!["--archive-file".into(), archive.display().to_string()];
        args.extend(["--workspace-remap".into(), remap.display().to_string()]);
        args.extend(["-E".into(), expr.into()]);
        args
    };
    if std::env::var_os("ISOLATE_IT_PREBUILT").is_none() {
        std::fs::remove_dir_all(&dir).unwrap();
    }
    let args = from_archive("rdeps(mid)");
    let run = isolate_test(
        &elsewhere,
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_eq!(names(&run), expected(&["mid", "top"]), "{}", run.stderr());
    let args = from_archive("package(nope)");
    let (code, err) = refused(
        &elsewhere,
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert_eq!(code, Some(94), "{err}");
    assert!(err.contains("package(nope)\n        ^^^^\n"), "{err}");
}

/// When cargo metadata cannot give the graph (an older cargo, a package
/// not available offline), the run goes on without it: `deps()` says why
/// it cannot work, everything else runs.
#[test]
fn without_the_graph_deps_says_why_and_the_rest_runs() {
    use std::os::unix::fs::PermissionsExt;
    let (tmp, dir) = fixture("graph");
    let tmp = tmp
        .as_ref()
        .map_or_else(|| dir.clone(), |t| t.path().to_path_buf());
    let real = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let wrapper = tmp.join("cargo-without-resolve");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\n\
             case \"$*\" in *metadata*--filter-platform*) echo 'error: no graph today' >&2; exit 101 ;; esac\n\
             exec '{real}' \"$@\"\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let run = |expr: &str, report: &Path| {
        Command::new(BIN)
            .args(["isolate", "test", "--report"])
            .arg(report)
            .args(["-E", expr])
            .current_dir(&dir)
            .env("CARGO", &wrapper)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let out = run("deps(top)", &unique_report(&dir));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(94), "{err}");
    assert!(
        err.contains("deps(top)\n^^^^^^^^^\ndeps() needs the dependency graph, which cargo metadata did not give"),
        "{err}"
    );
    let report = unique_report(&dir);
    let out = run("package(top) | platform(host)", &report);
    assert_code(&out, 0);
    let run = Run {
        report: serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap(),
        out,
    };
    assert_eq!(
        names(&run),
        expected(&["top", "macros"]),
        "{}",
        run.stderr()
    );
}
