//! An archive is untrusted input (`test --archive-file`): hostile archives,
//! made here with the `tar` crate, and hostile neighbours (uid 65534 in a
//! shared temp dir or workspace). Their "test binary" is a shell script
//! that speaks libtest's listing protocol and, when run, prints where it
//! runs, what it can read and whether it could write to the host: enough
//! to see a sandbox turned off or a host directory shown, without cargo.

use super::*;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

/// A secret the host holds and no test may see.
const SECRET: &str = "TOPSECRET-9c1e77";

/// One tar entry, as an attacker may write it (no path checks).
enum Item {
    File(String, Vec<u8>, u32),
    Dir(String),
    Link(String, String),
    /// A file of `size` zeros, written as many small zstd frames: a few
    /// KiB of archive for GiBs unpacked.
    Zeros(String, u64),
}

fn file(path: &str, data: impl Into<Vec<u8>>) -> Item {
    Item::File(path.into(), data.into(), 0o644)
}

fn link(path: &str, target: &str) -> Item {
    Item::Link(path.into(), target.into())
}

/// A tempdir whose paths uid 65534 may traverse (the default is 0700).
struct Scene {
    tmp: tempfile::TempDir,
}

impl Scene {
    fn new() -> Scene {
        let tmp = tempfile::Builder::new()
            .prefix("isolate-it-archive-")
            .tempdir()
            .unwrap();
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        Scene { tmp }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.tmp.path().join(rel)
    }

    /// The host's secret: a directory holding `secret.txt`.
    fn secret_dir(&self) -> PathBuf {
        let dir = self.path("secret");
        if !dir.exists() {
            std::fs::create_dir(&dir).unwrap();
            std::fs::write(dir.join("secret.txt"), SECRET).unwrap();
        }
        dir
    }

    /// Where a test that escaped would leave a mark on the host.
    fn canary(&self) -> PathBuf {
        self.path("canary")
    }

    /// The TMPDIR runs get: the default unpack place is under it, and it
    /// is sticky and open to all, as /tmp is.
    fn shared_tmp(&self) -> PathBuf {
        let dir = self.path("tmp");
        if !dir.exists() {
            std::fs::create_dir(&dir).unwrap();
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o1777)).unwrap();
        }
        dir
    }

    /// `cargo isolate test --archive-file ARCHIVE ARGS` with TMPDIR the
    /// scene's and no XDG_RUNTIME_DIR.
    fn run(&self, archive: &Path, args: &[&str]) -> Output {
        self.run_with_xdg(None, archive, args)
    }

    /// As [`Scene::run`], with XDG_RUNTIME_DIR `xdg` when given.
    fn run_with_xdg(&self, xdg: Option<&Path>, archive: &Path, args: &[&str]) -> Output {
        let mut cmd = Command::new(BIN);
        cmd.args(["isolate", "test", "--archive-file"])
            .arg(archive)
            .args(args)
            .current_dir(self.tmp.path())
            .env("TMPDIR", self.shared_tmp())
            .env_remove("XDG_RUNTIME_DIR")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        if let Some(x) = xdg {
            cmd.env("XDG_RUNTIME_DIR", x);
        }
        cmd.output().unwrap()
    }
}

/// What a test binary of the archive does: lists `probe` (and, as test
/// names, the first line of a `secret.txt` in its directory, if any: a
/// listing runs code too); run, says what it sees.
fn probe_script(tag: &str, scene: &Scene) -> Vec<u8> {
    format!(
        r#"#!/bin/sh
case "$*" in
  *--ignored*) exit 0 ;;
  *--list*)
    echo "probe: test"
    [ -r secret.txt ] && echo "listed_$(head -n 1 secret.txt): test"
    exit 0 ;;
esac
echo "{tag} in $(pwd)"
cat secret.txt {secret}/secret.txt 2>/dev/null
touch {canary} 2>/dev/null && echo "{tag} wrote the canary"
exit 0
"#,
        secret = scene.secret_dir().display(),
        canary = scene.canary().display()
    )
    .into_bytes()
}

/// The manifest of a one-binary archive built at /old/ws: the binary at
/// target/debug/deps/probe-1, its package at `package_dir` (relative to
/// the workspace).
fn manifest(package_dir: &str, executable: &str) -> Vec<u8> {
    let metadata = serde_json::json!({
        "packages": [], "workspace_members": [], "workspace_default_members": [],
        "resolve": null, "workspace_root": "/old/ws", "target_directory": "/old/ws/target",
        "build_directory": "/old/ws/target", "version": 1, "metadata": null
    });
    serde_json::to_vec(&serde_json::json!({
        "format": 1, "tool_version": "0", "created_at": "2025-01-01T00:00:00Z",
        "workspace_root": "/old/ws", "target_dir": "/old/ws/target",
        "build": {
            "binaries": [{
                "package": "p", "package_id": "path+file:///old/ws/pkg#p@0.1.0",
                "target": "p", "kind": "lib",
                "executable": executable,
                "manifest_dir": format!("/old/ws/{package_dir}"),
                "custom_harness": false
            }],
            "metadata": metadata, "out_dirs": {}, "linked_paths": [], "bin_exes": {}
        }
    }))
    .unwrap()
}

const EXE: &str = "/old/ws/target/debug/deps/probe-1";

/// An archive that runs: the manifest, the package dir and the probe.
fn runnable(tag: &str, scene: &Scene) -> Vec<Item> {
    vec![
        file("cargo-isolate-archive.json", manifest("pkg", EXE)),
        Item::Dir("workspace/pkg".into()),
        file("workspace/pkg/Cargo.toml", "[package]\nname = \"p\"\n"),
        Item::File(
            "target/debug/deps/probe-1".into(),
            probe_script(tag, scene),
            0o755,
        ),
    ]
}

/// Writes `items` as a zstd tar at `path`, bypassing the tar crate's own
/// path checks, as an attacker would.
fn write_archive(path: &Path, items: &[Item]) {
    use std::io::Write;
    let mut out = std::fs::File::create(path).unwrap();
    let mut tar = Vec::new();
    let header = |name: &str, kind: tar::EntryType, size: u64, mode: u32| {
        let mut h = tar::Header::new_gnu();
        let bytes = name.as_bytes();
        h.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(size);
        h.set_mtime(0);
        h
    };
    let frame = |out: &mut std::fs::File, bytes: &[u8]| {
        out.write_all(&zstd::encode_all(bytes, 1).unwrap()).unwrap();
    };
    for item in items {
        match item {
            Item::File(name, data, mode) => {
                let mut h = header(name, tar::EntryType::Regular, data.len() as u64, *mode);
                h.set_cksum();
                tar.extend_from_slice(h.as_bytes());
                tar.extend_from_slice(data);
                tar.resize(tar.len().next_multiple_of(512), 0);
            }
            Item::Dir(name) => {
                let mut h = header(name, tar::EntryType::Directory, 0, 0o755);
                h.set_cksum();
                tar.extend_from_slice(h.as_bytes());
            }
            Item::Link(name, target) => {
                let mut h = header(name, tar::EntryType::Symlink, 0, 0o777);
                let bytes = target.as_bytes();
                h.as_old_mut().linkname[..bytes.len()].copy_from_slice(bytes);
                h.set_cksum();
                tar.extend_from_slice(h.as_bytes());
            }
            Item::Zeros(name, size) => {
                let mut h = header(name, tar::EntryType::Regular, *size, 0o644);
                h.set_cksum();
                tar.extend_from_slice(h.as_bytes());
                frame(&mut out, &tar);
                tar.clear();
                // Concatenated frames decompress as one stream.
                const CHUNK: u64 = 64 << 20;
                assert_eq!(size % CHUNK, 0);
                let zeros = zstd::encode_all(std::io::repeat(0).take(CHUNK), 1).unwrap();
                for _ in 0..size / CHUNK {
                    out.write_all(&zeros).unwrap();
                }
            }
        }
    }
    tar.extend_from_slice(&[0; 1024]);
    frame(&mut out, &tar);
}

use std::io::Read;

fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Bytes under `dir`, links not followed.
fn bytes_under(dir: &Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let meta = entry.metadata().unwrap();
        total += meta.blocks() * 512;
        if meta.is_dir() {
            total += bytes_under(&entry.path());
        }
    }
    total
}

/// Item 1 of issue 20: an archive's own `.config/isolate.toml` could turn
/// its sandbox off (`isolation = "none"`) or show it a host directory
/// (`ro-bind`). Now such keys are refused (exit 2) unless the user vouches
/// for the file or gives their own; selection, limits and budgets apply.
#[test]
fn an_archive_config_cannot_weaken_the_sandbox() {
    let scene = Scene::new();
    let secret = scene.secret_dir();
    let hostile: [(&str, String); 3] = [
        (
            "isolation",
            "[profile.default]\nisolation = \"none\"\n".into(),
        ),
        (
            "ro-bind",
            format!("[profile.default]\nro-bind = [\"{}\"]\n", secret.display()),
        ),
        (
            "overrides.isolation",
            "[[profile.default.overrides]]\nfilter = \"all()\"\nisolation = \"none\"\n".into(),
        ),
    ];
    for (i, (key, config)) in hostile.iter().enumerate() {
        let archive = scene.path(&format!("config-{i}.tar.zst"));
        let mut items = runnable("PROBE", &scene);
        items.push(file("workspace/.config/isolate.toml", config.as_str()));
        write_archive(&archive, &items);
        let out = scene.run(&archive, &["--no-capture"]);
        let all = text(&out);
        assert!(
            !scene.canary().exists(),
            "{key}: the test ran unsandboxed:\n{all}"
        );
        assert!(
            !all.contains(SECRET),
            "{key}: the test read the host's secret:\n{all}"
        );
        assert_eq!(out.status.code(), Some(2), "{key}:\n{all}");
        assert!(
            all.contains(key) && all.contains("--trust-archive-config"),
            "{key}: the message names the key and the way out:\n{all}"
        );
        assert!(!all.contains("PROBE in"), "{key}: nothing ran:\n{all}");

        // The user's word: the archive's file is used as it is.
        if *key == "isolation" {
            let out = scene.run(&archive, &["--trust-archive-config", "--no-capture"]);
            assert_code(&out, 0);
            assert!(
                scene.canary().exists(),
                "trusted: its isolation = none applies"
            );
            std::fs::remove_file(scene.canary()).unwrap();
            // Or the user's own file instead of the archive's.
            let own = scene.path("own.toml");
            std::fs::write(&own, "[profile.default]\ntimeout = \"30s\"\n").unwrap();
            let out = scene.run(
                &archive,
                &["--config-file", own.to_str().unwrap(), "--no-capture"],
            );
            assert_code(&out, 0);
            assert!(text(&out).contains("PROBE in"));
            assert!(
                !scene.canary().exists(),
                "sandboxed: the archive's file is not read"
            );
        }
    }

    // What an archive's configuration may set, it sets: a default filter
    // (the listed secret-free `probe` only), limits and budgets.
    let archive = scene.path("allowed.tar.zst");
    let mut items = runnable("PROBE", &scene);
    items.push(file("workspace/pkg/secret.txt", "not-a-secret\n"));
    items.push(file(
        "workspace/.config/isolate.toml",
        "[profile.default]\ndefault-filter = \"test(=probe)\"\ntimeout = \"30s\"\nmemory-budget = \"1G\"\nretries = 1\n\n[[profile.default.overrides]]\nfilter = \"all()\"\nmemory-max = \"512M\"\n",
    ));
    write_archive(&archive, &items);
    let report = scene.path("allowed.json");
    let out = scene.run(&archive, &["--report", report.to_str().unwrap()]);
    assert_code(&out, 0);
    let r = read_report(&report);
    let names: Vec<&str> = r["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["probe"], "the archive's default-filter applied");
    remove_unpacked(&scene);
}

/// Removes what runs unpacked in the scene's TMPDIR (root-owned, 0700).
fn remove_unpacked(scene: &Scene) {
    let _ = std::fs::remove_dir_all(tmp_dir_of(scene));
}

fn uid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// Item 2 of issue 20: a symlink in an archive led the sandbox to a host
/// directory: `workspace/pkg -> /root`, named as the package directory, was
/// mounted as the test's cwd (the listing alone showed its files); a
/// symlink to a host file; a top-level `target` link made the runner
/// create directories outside. Every symlink must now stay inside the
/// archive, and the archive is refused before anything runs.
#[test]
fn an_archive_cannot_show_its_tests_a_host_directory() {
    let scene = Scene::new();
    let secret = scene.secret_dir();
    let victim = scene.path("victim");
    std::fs::create_dir(&victim).unwrap();
    let secret_file = secret.join("secret.txt");
    let probe = |scene: &Scene| {
        Item::File(
            "target/debug/deps/probe-1".into(),
            probe_script("PROBE", scene),
            0o755,
        )
    };
    let attacks: Vec<(&str, Vec<Item>)> = vec![
        (
            "package dir linked to a host dir",
            vec![
                file("cargo-isolate-archive.json", manifest("pkg", EXE)),
                link("workspace/pkg", secret.to_str().unwrap()),
                probe(&scene),
            ],
        ),
        (
            "a file linked to a host file",
            vec![
                file("cargo-isolate-archive.json", manifest("pkg", EXE)),
                file("workspace/pkg/Cargo.toml", ""),
                link("workspace/pkg/secret.txt", secret_file.to_str().unwrap()),
                probe(&scene),
            ],
        ),
        (
            "a relative link climbing out",
            vec![
                file("cargo-isolate-archive.json", manifest("pkg", EXE)),
                Item::Dir("workspace".into()),
                link("workspace/pkg", "../../../secret"),
                probe(&scene),
            ],
        ),
        (
            "the target dir linked to a host dir",
            vec![
                file(
                    "cargo-isolate-archive.json",
                    manifest("pkg", "/old/ws/pkg/probe-1"),
                ),
                link("target", victim.to_str().unwrap()),
                Item::File(
                    "workspace/pkg/probe-1".into(),
                    probe_script("PROBE", &scene),
                    0o755,
                ),
            ],
        ),
    ];
    for (name, items) in attacks {
        let archive = scene.path("hostile.tar.zst");
        write_archive(&archive, &items);
        for args in [&["--list"][..], &["--no-capture"][..]] {
            let out = scene.run(&archive, args);
            let all = text(&out);
            assert!(
                !all.contains(SECRET),
                "{name} {args:?}: the host's secret shown:\n{all}"
            );
            assert!(!all.contains("PROBE in"), "{name} {args:?}: it ran:\n{all}");
            assert!(
                std::fs::read_dir(&victim).unwrap().next().is_none(),
                "{name} {args:?}: something was made outside the archive"
            );
            assert_eq!(out.status.code(), Some(96), "{name} {args:?}:\n{all}");
            assert!(all.contains("refused entry"), "{name} {args:?}:\n{all}");
        }
        remove_unpacked(&scene);
    }

    // A link that stays inside is fine: a package dir shared through one.
    let archive = scene.path("inside.tar.zst");
    let mut items = vec![
        file("cargo-isolate-archive.json", manifest("pkg", EXE)),
        file("workspace/shared/Cargo.toml", ""),
        file("workspace/shared/secret.txt", "in-the-archive\n"),
        link("workspace/pkg", "shared"),
    ];
    items.push(probe(&scene));
    write_archive(&archive, &items);
    let out = scene.run(&archive, &["--list"]);
    assert_code(&out, 0);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("listed_in-the-archive"),
        "{}",
        text(&out)
    );
    remove_unpacked(&scene);
}

/// Item 3 of issue 20: a few KiB of archive declaring GiBs of zeros filled
/// the disk. The headers are read first: a declared total over the cap
/// (or over the free space) is refused before a byte of it is written.
#[test]
fn an_archive_bomb_is_refused_before_it_is_written() {
    let scene = Scene::new();
    let bomb = scene.path("bomb.tar.zst");
    let mut items = runnable("PROBE", &scene);
    items.push(Item::Zeros("target/zeros".into(), 8 << 30));
    write_archive(&bomb, &items);
    let size = std::fs::metadata(&bomb).unwrap().len();
    assert!(size < 1 << 20, "a small archive: {size} bytes");
    let start = Instant::now();
    let out = scene.run(&bomb, &[]);
    let took = start.elapsed();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(96), "{all}");
    assert!(
        all.contains("--archive-max-bytes") && all.contains("8.0 GiB"),
        "the message says what and how to allow it:\n{all}"
    );
    let written = bytes_under(&scene.shared_tmp());
    assert!(written < 1 << 20, "{written} bytes written");
    assert!(
        took < Duration::from_secs(10),
        "refused at the header: {took:?}"
    );
    // MEASURE for the README: archive size, declared size, time to refuse.
    println!(
        "MEASURE bomb: {size} B archive declaring 8 GiB refused in {:.0} ms, {written} B written",
        took.as_secs_f64() * 1000.0
    );

    // The cap is a flag: a smaller one refuses what the default allows,
    // a larger one allows it.
    let archive = scene.path("zeros.tar.zst");
    let mut items = runnable("PROBE", &scene);
    items.push(Item::Zeros("workspace/pkg/zeros".into(), 64 << 20));
    write_archive(&archive, &items);
    let out = scene.run(&archive, &["--archive-max-bytes", "32M"]);
    assert_eq!(out.status.code(), Some(96), "{}", text(&out));
    assert!(
        text(&out).contains("over the cap of 32.0 MiB"),
        "{}",
        text(&out)
    );
    assert!(bytes_under(&scene.shared_tmp()) < 1 << 20);
    let out = scene.run(&archive, &["--archive-max-bytes", "128M"]);
    assert_code(&out, 0);
    remove_unpacked(&scene);

    // Entries count too.
    let archive = scene.path("many.tar.zst");
    let mut items = runnable("PROBE", &scene);
    items.extend((0..50).map(|i| file(&format!("workspace/pkg/f{i}"), "")));
    write_archive(&archive, &items);
    let out = scene.run(&archive, &["--archive-max-entries", "20"]);
    assert_eq!(out.status.code(), Some(96), "{}", text(&out));
    assert!(
        text(&out).contains("more than 20 entries"),
        "{}",
        text(&out)
    );
    assert!(bytes_under(&scene.shared_tmp()) < 1 << 20);
}

/// Item 3, the free space: under the cap but over what the file system
/// has (a 16 MiB tmpfs, in a mount namespace of its own): refused first.
#[test]
fn an_archive_larger_than_the_free_space_is_refused_before_it_is_written() {
    if !is_root() {
        return skip("needs root to mount a small tmpfs");
    }
    let scene = Scene::new();
    let archive = scene.path("big.tar.zst");
    let mut items = runnable("PROBE", &scene);
    items.push(Item::Zeros("workspace/pkg/zeros".into(), 64 << 20));
    write_archive(&archive, &items);
    let small = scene.path("small");
    std::fs::create_dir(&small).unwrap();
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(r#"mount -t tmpfs -o size=16m tmpfs "$1" && shift && exec "$@"; echo NO-TMPFS"#)
        .arg("sh")
        .arg(&small)
        .arg(BIN)
        .args(["isolate", "test", "--archive-file"])
        .arg(&archive)
        .arg("--workspace-remap")
        .arg(small.join("unpacked"))
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let all = text(&out);
    if all.contains("NO-TMPFS") || out.status.code().is_none() {
        skip("cannot mount a tmpfs in a mount namespace here");
        return note(&all);
    }
    assert_eq!(out.status.code(), Some(96), "{all}");
    assert!(
        all.contains("free") && all.contains("--workspace-remap"),
        "{all}"
    );
}

/// Item 4 of issue 20: the default unpack directory was a predictable name
/// in the shared temp dir, reused whenever its marker held the archive's
/// hash (which CI logs print), so another local user could plant a test
/// binary that root then ran. Now archives unpack in a directory that only
/// the invoking user can write, checked before any use: one another user
/// made (or linked) is refused; what they plant elsewhere is never read.
#[test]
fn an_unpack_dir_another_user_planted_is_never_used() {
    if !is_root() {
        return skip("needs root to act as uid 65534 with setpriv");
    }
    let scene = Scene::new();
    let archive = scene.path("tests.tar.zst");
    write_archive(&archive, &runnable("LEGIT", &scene));
    let sha = {
        use sha2::Digest;
        let bytes = std::fs::read(&archive).unwrap();
        format!("{:x}", sha2::Sha256::digest(&bytes))
    };
    // The attacker's unpack: the same manifest, their own binary, the
    // marker with the hash from the CI log.
    let planted = scene.path("planted");
    write_tree(&planted, &runnable("ATTACKER", &scene));
    std::fs::write(planted.join(".cargo-isolate-unpacked"), &sha).unwrap();
    let tmp = scene.shared_tmp();
    let nobody = |script: &str| {
        let out = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .args(["sh", "-c", script, "sh"])
            .arg(&planted)
            .arg(&tmp)
            .arg(&sha[..16])
            .arg(uid().to_string())
            .output()
            .unwrap();
        assert_code(&out, 0);
    };
    // Where the old versions looked, and where this one does.
    nobody(r#"cp -a "$1" "$2/cargo-isolate-archive-$3""#);
    nobody(r#"mkdir -m 777 "$2/cargo-isolate-$4" && cp -a "$1" "$2/cargo-isolate-$4/archive-$3""#);
    let out = scene.run(&archive, &["--no-capture"]);
    let all = text(&out);
    assert!(!all.contains("ATTACKER"), "the planted binary ran:\n{all}");
    assert_eq!(out.status.code(), Some(96), "{all}");
    assert!(
        all.contains(&format!("cargo-isolate-{}", uid())) && all.contains("uid 65534"),
        "the message names the directory and its owner:\n{all}"
    );

    // A link to the attacker's directory is no better.
    nobody(r#"rm -rf "$2/cargo-isolate-$4" && ln -s "$1" "$2/cargo-isolate-$4""#);
    let out = scene.run(&archive, &["--no-capture"]);
    let all = text(&out);
    assert!(!all.contains("ATTACKER"), "the planted binary ran:\n{all}");
    assert_eq!(out.status.code(), Some(96), "{all}");
    assert!(all.contains("symlink"), "{all}");

    // Gone: the archive unpacks in a fresh directory of ours and runs.
    nobody(r#"rm -f "$2/cargo-isolate-$4""#);
    let out = scene.run(&archive, &["--no-capture"]);
    let all = text(&out);
    assert!(!all.contains("ATTACKER"), "the planted binary ran:\n{all}");
    assert!(all.contains("LEGIT in"), "{all}");
    assert_code(&out, 0);
    let mine = tmp.join(format!("cargo-isolate-{}", uid()));
    let meta = std::fs::symlink_metadata(&mine).unwrap();
    assert_eq!((meta.uid(), meta.mode() & 0o7777), (uid(), 0o700));
    assert!(mine.join(format!("archive-{}", &sha[..16])).is_dir());
    let staging: Vec<_> = std::fs::read_dir(&mine)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".staging"))
        .collect();
    assert!(staging.is_empty(), "no staging dir is left behind");
    remove_unpacked(&scene);
    let _ = std::fs::remove_dir_all(tmp.join(format!("cargo-isolate-archive-{}", &sha[..16])));
}

/// The default place is `$XDG_RUNTIME_DIR/cargo-isolate` when that is a
/// private directory of ours; one that is not (sudo keeps the caller's)
/// is passed over for `<tmp>/cargo-isolate-<uid>`.
#[test]
fn archives_unpack_in_the_users_runtime_dir_when_it_is_theirs() {
    let scene = Scene::new();
    let archive = scene.path("tests.tar.zst");
    write_archive(&archive, &runnable("PROBE", &scene));
    let xdg = scene.path("run-user");
    std::fs::create_dir(&xdg).unwrap();
    std::fs::set_permissions(&xdg, std::fs::Permissions::from_mode(0o700)).unwrap();
    let ours = tmp_dir_of(&scene);
    let out = scene.run_with_xdg(Some(&xdg), &archive, &["--list"]);
    assert_code(&out, 0);
    let unpacked: Vec<_> = std::fs::read_dir(xdg.join("cargo-isolate"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        unpacked.len() == 1 && unpacked[0].starts_with("archive-"),
        "{unpacked:?}"
    );
    assert!(!ours.exists(), "not under TMPDIR");
    if is_root() {
        // Someone else's runtime dir: not used, and not touched.
        std::os::unix::fs::chown(&xdg, Some(65534), Some(65534)).unwrap();
        std::fs::remove_dir_all(xdg.join("cargo-isolate")).unwrap();
        let out = scene.run_with_xdg(Some(&xdg), &archive, &["--list"]);
        assert_code(&out, 0);
        assert!(!xdg.join("cargo-isolate").exists());
        assert!(ours.is_dir());
        remove_unpacked(&scene);
    }
}

/// `<tmp>/cargo-isolate-<uid>` of the scene's TMPDIR.
fn tmp_dir_of(scene: &Scene) -> PathBuf {
    scene.shared_tmp().join(format!("cargo-isolate-{}", uid()))
}

/// Writes `items` as plain files (what an attacker copies into place).
fn write_tree(root: &Path, items: &[Item]) {
    for item in items {
        match item {
            Item::File(name, data, mode) => {
                let p = root.join(name);
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(&p, data).unwrap();
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(*mode)).unwrap();
            }
            Item::Dir(name) => std::fs::create_dir_all(root.join(name)).unwrap(),
            Item::Link(..) | Item::Zeros(..) => unreachable!(),
        }
    }
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Item 4, the report: in a workspace another user owns, `target/isolate`
/// made a symlink sent root's report where that user chose. A link there,
/// or a directory not ours, is refused (exit 96) and nothing is written.
#[test]
fn a_report_is_not_written_through_a_link_another_user_planted() {
    if !is_root() {
        return skip("needs root to act as uid 65534 with setpriv");
    }
    let (tmp, dir) = fixture("same");
    if let Some(t) = &tmp {
        std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let victim = dir.with_extension("victim");
    std::fs::create_dir(&victim).unwrap();
    let chown = Command::new("chown")
        .args(["-R", "65534:65534"])
        .arg(&dir)
        .status()
        .unwrap();
    assert!(chown.success());
    for plant in [
        format!(
            "mkdir -p target && ln -s {} target/isolate",
            victim.display()
        ),
        "rm -f target/isolate && mkdir target/isolate".to_string(),
    ] {
        let out = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .args(["sh", "-c", &plant])
            .current_dir(&dir)
            .output()
            .unwrap();
        assert_code(&out, 0);
        let out = Command::new(BIN)
            .args(["isolate", "test", "t1"])
            .current_dir(&dir)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let all = text(&out);
        assert!(
            std::fs::read_dir(&victim).unwrap().next().is_none(),
            "{plant}: the report went where uid 65534 chose:\n{all}"
        );
        assert!(
            !dir.join("target/isolate/report.json").exists(),
            "{plant}: written into uid 65534's directory"
        );
        assert_eq!(out.status.code(), Some(96), "{plant}:\n{all}");
        assert!(
            all.contains("target/isolate") && all.contains("--report"),
            "{plant}:\n{all}"
        );
    }
}

/// An archive cannot make a setuid binary (root unpacks it) or a file
/// anyone may swap: modes keep their permission bits only, less others'
/// write.
#[test]
fn an_archive_cannot_make_setuid_or_world_writable_files() {
    let scene = Scene::new();
    let archive = scene.path("modes.tar.zst");
    let mut items = runnable("PROBE", &scene);
    items.push(Item::File(
        "target/debug/suid".into(),
        b"#!/bin/sh\n".to_vec(),
        0o4755,
    ));
    items.push(Item::File(
        "workspace/pkg/open".into(),
        b"x".to_vec(),
        0o666,
    ));
    write_archive(&archive, &items);
    let into = scene.path("unpacked");
    let out = scene.run(
        &archive,
        &["--workspace-remap", into.to_str().unwrap(), "--list"],
    );
    assert_code(&out, 0);
    let mode = |p: &str| std::fs::metadata(into.join(p)).unwrap().mode() & 0o7777;
    assert_eq!(mode("target/debug/suid"), 0o755);
    assert_eq!(mode("workspace/pkg/open"), 0o644);
    assert_eq!(mode("target/debug/deps/probe-1"), 0o755);
}

/// The packing side says so first: `cargo isolate archive` refuses a
/// symlink a run would refuse, and names it.
#[test]
fn an_archive_is_not_made_with_a_symlink_leading_out() {
    let (_tmp, dir) = fixture("same");
    std::os::unix::fs::symlink("/etc/hostname", dir.join("host-file")).unwrap();
    let pack = |extra: &[&str]| {
        Command::new(BIN)
            .args(["isolate", "archive", "-o", "t.tar.zst"])
            .args(extra)
            .current_dir(&dir)
            .output()
            .unwrap()
    };
    let out = pack(&[]);
    assert_eq!(out.status.code(), Some(96), "{}", text(&out));
    assert!(
        text(&out).contains("host-file -> /etc/hostname") && text(&out).contains("--exclude-files"),
        "{}",
        text(&out)
    );
    assert!(!dir.join("t.tar.zst").exists());
    assert_code(&pack(&["--exclude-files", "host-file"]), 0);
}

/// nextest's flag name, `--archive-file` (`-o` stays), and the mode any
/// tool's output file gets, 0666 less the umask: another job or user
/// reads it to run its share (it was 0600).
#[test]
fn an_archive_is_written_with_nextests_flag_and_the_umasks_mode() {
    let (_tmp, dir) = fixture("same");
    let pack = |umask: &str, flag: &str, file: &str| {
        let out = Command::new("sh")
            .args(["-c", r#"umask "$1"; shift; exec "$@""#, "sh", umask, BIN])
            .args(["isolate", "archive", flag, file])
            .current_dir(&dir)
            .output()
            .unwrap();
        assert_code(&out, 0);
        std::fs::metadata(dir.join(file)).unwrap().mode() & 0o7777
    };
    assert_eq!(pack("022", "--archive-file", "a.tar.zst"), 0o644);
    assert_eq!(pack("027", "-o", "b.tar.zst"), 0o640);
    assert_eq!(pack("002", "--output", "c.tar.zst"), 0o664);
}

/// `runnable`'s archive, built at `root` instead of /old/ws.
fn built_at(root: &str, tag: &str, scene: &Scene) -> Vec<Item> {
    let mut items = runnable(tag, scene);
    let text = String::from_utf8(manifest("pkg", EXE)).unwrap();
    items[0] = file(
        "cargo-isolate-archive.json",
        text.replace("/old/ws", root).into_bytes(),
    );
    items
}

/// Issue 22: a sandbox shows an archive where it was built (its tests run
/// in the build's package dir), and only there: the build's paths come
/// from the archive, and one that would shadow what the sandbox shows from
/// the host (/usr, /proc, /etc, the root...) is refused before anything
/// runs, with the path and the reason. Without a sandbox the paths are the
/// unpack's.
#[test]
fn an_archive_runs_where_it_was_built_but_never_over_the_system() {
    let scene = Scene::new();
    let archive = scene.path("srv.tar.zst");
    write_archive(&archive, &built_at("/srv/build/ws", "PROBE", &scene));
    let into = scene.path("unpacked");
    let out = scene.run(
        &archive,
        &["--workspace-remap", into.to_str().unwrap(), "--no-capture"],
    );
    assert_code(&out, 0);
    assert!(
        text(&out).contains("PROBE in /srv/build/ws/pkg\n"),
        "{}",
        text(&out)
    );
    assert!(!Path::new("/srv/build").exists(), "made on the host");
    let out = scene.run(
        &archive,
        &[
            "--workspace-remap",
            into.to_str().unwrap(),
            "--no-capture",
            "--isolation",
            "none",
        ],
    );
    assert_code(&out, 0);
    let unpacked_pkg = std::fs::canonicalize(&into).unwrap().join("workspace/pkg");
    assert!(
        text(&out).contains(&format!("PROBE in {}\n", unpacked_pkg.display())),
        "{}",
        text(&out)
    );
    for (root, says) in [
        ("/usr/src/ws", "which would shadow /usr in the sandbox"),
        ("/proc/self", "which would shadow /proc in the sandbox"),
        ("/etc", "which would shadow /etc in the sandbox"),
        ("/tmp", "which would shadow /tmp in the sandbox"),
    ] {
        let archive = scene.path("system.tar.zst");
        write_archive(&archive, &built_at(root, "PROBE", &scene));
        let out = scene.run(&archive, &["--no-capture"]);
        let all = text(&out);
        assert_eq!(out.status.code(), Some(2), "{root}:\n{all}");
        assert!(
            all.contains(&format!("its workspace was built at {root}, {says}")),
            "{root}:\n{all}"
        );
        assert!(!all.contains("PROBE in"), "{root}: it ran:\n{all}");
        remove_unpacked(&scene);
    }
}
