//! Past one machine (`fixtures/shards`): an archive built here runs
//! elsewhere without cargo or the sources, in shares that never overlap,
//! and the shares' reports merge into the report one run would write.

use super::*;

/// `cargo isolate ARGS` in `dir`, with cargo and the sources out of reach:
/// PATH holds no cargo or rustc, and cargo's variables are gone. TMPDIR is
/// `dir` (a test's own temporary directory): an archive unpacked in its
/// default place goes with it, never into the machine's /tmp.
fn without_cargo(dir: &Path, args: &[&str]) -> Output {
    without_cargo_in(dir, dir, args)
}

/// As [`without_cargo`], with TMPDIR `tmp` (and no XDG_RUNTIME_DIR): where
/// an archive unpacks by default.
fn without_cargo_in(dir: &Path, tmp: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("isolate")
        .args(args)
        .current_dir(dir)
        .env("TMPDIR", tmp)
        .env_remove("XDG_RUNTIME_DIR")
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env_remove("CARGO")
        .env_remove("RUSTC")
        .env_remove("CARGO_HOME")
        .env_remove("RUSTUP_HOME")
        .env_remove("RUSTUP_TOOLCHAIN")
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

/// id -> outcome of every test of a report.
fn outcomes(report: &Value) -> std::collections::BTreeMap<String, String> {
    report["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["id"].as_str().unwrap().to_string(),
                outcome(t).to_string(),
            )
        })
        .collect()
}

/// The fixture archived, the sources moved away, and the archive copied
/// to a fresh directory: (the reference run's report, the new dir, the
/// archive there, the tempdirs to keep).
fn archived() -> (Value, PathBuf, PathBuf, Vec<tempfile::TempDir>) {
    let (tmp, dir) = fixture("shards");
    let full = isolate_test(&dir, &["--workspace"]);
    assert_eq!(full.code(), 0, "{}", full.stderr());
    let archive = tmp.as_ref().unwrap().path().join("tests.tar.zst");
    let out = Command::new(BIN)
        .args(["isolate", "archive", "--workspace", "-o"])
        .arg(&archive)
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_code(&out, 0);
    assert!(String::from_utf8_lossy(&out.stderr).contains("Archived 4 test binaries"));
    // The sources are gone: nothing may be read from where they were built.
    std::fs::rename(&dir, dir.with_extension("moved")).unwrap();
    let elsewhere = tempfile::Builder::new()
        .prefix("isolate-it-elsewhere-")
        .tempdir()
        .unwrap();
    let copy = elsewhere.path().join("copied.tar.zst");
    std::fs::copy(&archive, &copy).unwrap();
    let new_dir = elsewhere.path().to_path_buf();
    (full.report, new_dir, copy, vec![tmp.unwrap(), elsewhere])
}

#[test]
fn an_archive_runs_in_shares_elsewhere_and_merges_into_one_report() {
    let (full, dir, archive, _keep) = archived();
    let want = outcomes(&full);
    assert_eq!(want.len(), 26, "{want:?}");
    let archive = archive.to_str().unwrap();
    let timings = dir.join("timings.json");
    std::fs::write(&timings, serde_json::to_vec(&full).unwrap()).unwrap();
    for scheme in ["hash", "slice", "duration"] {
        let unpacked = dir.join(format!("unpacked-{scheme}"));
        let mut shards = Vec::new();
        let mut sha = None;
        for k in 1..=3 {
            let report = dir.join(format!("{scheme}-{k}.json"));
            let partition = format!("{scheme}:{k}/3");
            let mut args = vec![
                "test",
                "--archive-file",
                archive,
                "--workspace-remap",
                unpacked.to_str().unwrap(),
                "--partition",
                &partition,
                "--report",
                report.to_str().unwrap(),
            ];
            if scheme == "duration" {
                args.extend(["--timings", timings.to_str().unwrap()]);
            }
            let out = without_cargo(&dir, &args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                matches!(out.status.code(), Some(0 | 4)),
                "{partition}: {err}"
            );
            let r = read_report(&report);
            assert_eq!(r["partition"]["index"], k);
            assert_eq!(r["partition"]["total"], 3);
            assert_eq!(r["partition"]["scheme"], scheme);
            // The same archive, by content.
            let this = r["archive"]["sha256"].as_str().unwrap().to_string();
            assert_eq!(sha.get_or_insert(this.clone()), &this);
            let given: Vec<&str> = r["partition"]["tests"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap())
                .collect();
            let ran: Vec<String> = outcomes(&r).into_keys().collect();
            assert_eq!(
                given.len(),
                ran.len(),
                "{partition}: given {given:?}, ran {ran:?}"
            );
            shards.push(report);
        }
        let merged = dir.join(format!("{scheme}-merged.json"));
        let junit = dir.join(format!("{scheme}-merged.xml"));
        let mut args = vec!["report", "merge", "-o", merged.to_str().unwrap()];
        args.extend(["--junit", junit.to_str().unwrap()]);
        args.extend(shards.iter().map(|s| s.to_str().unwrap()));
        let out = without_cargo(&dir, &args);
        assert_code(&out, 0);
        let m = read_report(&merged);
        assert_eq!(m["complete"], true, "{scheme}");
        // The same ids, each once, with the same outcomes as one run:
        // also the test that uses `env!("CARGO_BIN_EXE_app")` and
        // `env!("CARGO_MANIFEST_DIR")`, unpacked in another directory
        // with the sources gone (issue 22).
        assert_eq!(outcomes(&m), want, "{scheme}");
        assert_eq!(
            want.get("app::cli the_compile_time_paths_hold")
                .map(String::as_str),
            Some("passed")
        );
        assert_eq!(m["tests"].as_array().unwrap().len(), want.len());
        assert_eq!(m["summary"]["passed"], full["summary"]["passed"]);
        assert_eq!(m["summary"]["ignored"], 1);
        assert!(
            std::fs::read_to_string(&junit)
                .unwrap()
                .contains("reads_the_build_script_output")
        );
        if scheme == "hash" {
            // Two shares of three: written, but not complete, and said so.
            let partial = dir.join("partial.json");
            let out = without_cargo(
                &dir,
                &[
                    "report",
                    "merge",
                    "-o",
                    partial.to_str().unwrap(),
                    shards[0].to_str().unwrap(),
                    shards[2].to_str().unwrap(),
                ],
            );
            assert_code(&out, 96);
            assert!(String::from_utf8_lossy(&out.stderr).contains('2'));
            assert_eq!(read_report(&partial)["complete"], false);
        }
    }
}

/// The sum of the times of each share's tests, in `scheme`: their times in
/// `reference`, the run whose report is the `--timings` file, so that what
/// is compared is how the scheme split the tests, not how loaded the
/// machine was while each share ran.
fn share_times(
    dir: &Path,
    archive: &str,
    scheme: &str,
    timings: &Path,
    reference: &Value,
) -> Vec<f64> {
    let took: HashMap<&str, f64> = reference["tests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| Some((t["id"].as_str()?, t["duration_ms"].as_f64()?)))
        .collect();
    (1..=3)
        .map(|k| {
            let report = dir.join(format!("times-{scheme}-{k}.json"));
            let partition = format!("{scheme}:{k}/3");
            // The default unpack place, under a TMPDIR of the test's own.
            std::fs::create_dir_all(dir.join("tmp")).unwrap();
            let out = without_cargo_in(
                dir,
                &dir.join("tmp"),
                &[
                    "test",
                    "--archive-file",
                    archive,
                    "--partition",
                    &partition,
                    "--timings",
                    timings.to_str().unwrap(),
                    "--report",
                    report.to_str().unwrap(),
                ],
            );
            assert!(
                matches!(out.status.code(), Some(0 | 4)),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            read_report(&report)["tests"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|t| took.get(t["id"].as_str().unwrap()))
                .sum()
        })
        .collect()
}

/// Three 800 ms tests among 22 fast ones: shares by measured time are
/// within 20% of the ideal (the total over 3); shares by hash are not,
/// because hash puts two of the slow tests together. (Each share is timed
/// with the reference run's figures: see `share_times`.)
#[test]
fn duration_shares_balance_slow_tests_where_hash_does_not() {
    let (full, dir, archive, _keep) = archived();
    let timings = dir.join("timings.json");
    std::fs::write(&timings, serde_json::to_vec(&full).unwrap()).unwrap();
    let archive = archive.to_str().unwrap();
    // These six runs unpack at the default place, once, and reuse it: the
    // per-user directory under TMPDIR (here the test's own).
    let by_duration = share_times(&dir, archive, "duration", &timings, &full);
    let by_hash = share_times(&dir, archive, "hash", &timings, &full);
    let sha = read_report(&dir.join("times-hash-1.json"))["archive"]["sha256"]
        .as_str()
        .unwrap()
        .to_string();
    let uid = nix::unistd::geteuid().as_raw();
    let unpacked = dir
        .join("tmp")
        .join(format!("cargo-isolate-{uid}/archive-{}", &sha[..16]));
    assert!(unpacked.join("workspace/app/data/input.txt").is_file());
    let total: f64 = by_duration.iter().sum();
    let ideal = total / 3.0;
    let worst = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
    // For the README: cargo test --test integration duration_shares -- --nocapture
    println!(
        "MEASURE ideal={ideal:.0}ms duration={by_duration:.0?} (largest {:.0}%) hash={by_hash:.0?} (largest {:.0}%)",
        worst(&by_duration) / ideal * 100.0,
        worst(&by_hash) / ideal * 100.0
    );
    assert!(
        worst(&by_duration) <= ideal * 1.2,
        "{by_duration:?} vs ideal {ideal}"
    );
    assert!(
        worst(&by_hash) > ideal * 1.2,
        "{by_hash:?} vs ideal {ideal}"
    );
}

/// A malformed archive cannot write outside the directory it is unpacked
/// in, through `..`, an absolute path or a symlink, and is refused whole.
#[test]
fn a_hostile_archive_writes_nothing_outside_its_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let victim = tmp.path().join("victim");
    std::fs::create_dir(&victim).unwrap();
    let attacks: [(&str, Vec<RawEntry>); 3] = [
        (
            "dotdot",
            vec![("workspace/../../victim/pwned", tar::EntryType::Regular, "")],
        ),
        (
            "symlink",
            vec![
                (
                    "workspace/link",
                    tar::EntryType::Symlink,
                    victim.to_str().unwrap(),
                ),
                ("workspace/link/pwned", tar::EntryType::Regular, ""),
            ],
        ),
        ("device", vec![("workspace/null", tar::EntryType::Char, "")]),
    ];
    for (name, entries) in attacks {
        let path = tmp.path().join(format!("{name}.tar.zst"));
        write_raw_archive(&path, &entries);
        let into = tmp.path().join(format!("unpacked-{name}"));
        let out = Command::new(BIN)
            .args(["isolate", "test", "--archive-file"])
            .arg(&path)
            .arg("--workspace-remap")
            .arg(&into)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_code(&out, 96);
        assert!(err.contains("refused entry"), "{name}: {err}");
        assert!(
            std::fs::read_dir(&victim).unwrap().next().is_none(),
            "{name} wrote into the victim directory"
        );
    }
}

/// A tar entry as an attacker writes it: path, type, link target.
type RawEntry<'a> = (&'a str, tar::EntryType, &'a str);

/// Writes a zstd tar with these raw entries (path, type, link target),
/// bypassing the tar crate's own path checks, as an attacker would.
fn write_raw_archive(path: &Path, entries: &[RawEntry]) {
    let file = std::fs::File::create(path).unwrap();
    let enc = zstd::Encoder::new(file, 1).unwrap();
    let mut b = tar::Builder::new(enc);
    for (name, kind, link) in entries {
        let mut h = tar::Header::new_gnu();
        // Set the name bytes directly: set_path refuses `..`.
        let bytes = name.as_bytes();
        h.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
        h.set_entry_type(*kind);
        h.set_mode(0o644);
        h.set_size(0);
        if !link.is_empty() {
            h.set_link_name(link).unwrap();
        }
        h.set_cksum();
        b.append(&h, std::io::empty()).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap();
}

#[test]
fn archive_and_partition_mistakes_are_usage_errors() {
    let (_tmp, dir) = fixture("shards");
    let run = |args: &[&str]| {
        let out = Command::new(BIN)
            .arg("isolate")
            .args(args)
            .current_dir(&dir)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = run(&["test", "--partition", "hash:0/3"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("hash:1/3"), "{err}");
    let (code, err) = run(&["test", "--partition", "duration:1/2"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--timings"), "{err}");
    let (code, err) = run(&["test", "--partition", "auto"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("CI_NODE_INDEX"), "{err}");
    let (code, err) = run(&["test", "--archive-file", "nope.tar.zst"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("nope.tar.zst"), "{err}");
    std::fs::write(dir.join("junk.tar.zst"), b"not an archive").unwrap();
    let (code, err) = run(&["test", "--archive-file", "junk.tar.zst", "-p", "app"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("-E"), "{err}");
}

/// Issue 22: shard 1 of a run and shard 2 of a run filtered by name (so
/// that it ran a few of its tests) merged as `complete: true`, exit 0,
/// and the tests the filter left out never ran. Each report now records
/// what its run was asked to run, and the merge refuses different ones.
#[test]
fn a_filtered_shard_does_not_merge_with_an_unfiltered_one() {
    let (full, dir, archive, _keep) = archived();
    let archive = archive.to_str().unwrap();
    let shard = |k: u32, extra: &[&str]| {
        let report = dir.join(format!("shard-{k}-{}.json", extra.len()));
        let partition = format!("hash:{k}/2");
        let mut args = vec!["test", "--archive-file", archive, "--partition", &partition];
        args.extend(["--report", report.to_str().unwrap()]);
        args.extend(extra);
        let out = without_cargo(&dir, &args);
        assert!(
            matches!(out.status.code(), Some(0 | 4)),
            "{partition} {extra:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        report
    };
    let one = shard(1, &[]);
    let filtered = shard(2, &["reads"]);
    let r1 = read_report(&one);
    let r2 = read_report(&filtered);
    assert_eq!(r1["selection"]["filters"], serde_json::json!([]));
    assert_eq!(r2["selection"]["filters"], serde_json::json!(["reads"]));
    assert_eq!(r1["selection"]["tests"], full["summary"]["total"]);
    assert_eq!(r1["selection"]["archive_sha256"], r1["archive"]["sha256"]);
    assert_eq!(r1["selection"]["run_ignored"], "default");
    let merged = dir.join("merged.json");
    let merge = |shards: &[&Path]| {
        let mut args = vec!["report", "merge", "-o", merged.to_str().unwrap()];
        args.extend(shards.iter().map(|s| s.to_str().unwrap()));
        without_cargo(&dir, &args)
    };
    let out = merge(&[&one, &filtered]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "{} and {} were asked to run different tests (selection.filters: [] in {0}, [\"reads\"] in {1})",
            one.display(),
            filtered.display()
        )),
        "{err}"
    );
    assert!(!merged.exists(), "nothing is written");

    // The same selection: every selected test ran exactly once.
    let two = shard(2, &[]);
    let out = merge(&[&one, &two]);
    assert_code(&out, 0);
    let m = read_report(&merged);
    assert_eq!(m["complete"], true);
    assert_eq!(m["selection"], r1["selection"]);
    assert_eq!(m["summary"]["total"], full["summary"]["total"]);
}
