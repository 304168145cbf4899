//! The one command that runs a test alone again in the same sandbox: its
//! package and target, `--exact` name, limits and timeout as this test got
//! them (overrides included), network faults, environment choices and
//! seed. Printed under each failure and kept in each record, quoted for a
//! POSIX shell so that any test name pastes safely.

use crate::cli::{Isolation, PidsMax, RunIgnored, Scratch, TestArgs};
use crate::execute::BinaryContext;
use crate::plan::RunUnit;
use crate::sandbox::netfault::NetFaults;

/// What a replay is made of, beside the unit itself.
pub struct Replay<'a> {
    /// The run's arguments after the configuration was applied.
    pub args: &'a TestArgs,
    /// The arguments as typed: `--env` values and the profile come from
    /// here, so that the configuration's own variables are not printed.
    pub typed: &'a TestArgs,
    /// libtest arguments that reach each binary (not filters).
    pub passthrough: &'a [String],
}

impl Replay<'_> {
    pub fn command(&self, b: &BinaryContext, u: &RunUnit) -> String {
        let (args, typed) = (self.args, self.typed);
        let mut w = Words(vec!["cargo".into(), "isolate".into(), "test".into()]);
        selection(&mut w, args, b);
        w.opt("--profile", typed.profile.as_ref());
        w.opt(
            "--config-file",
            typed.config_file.as_ref().map(|p| p.display()),
        );
        if let Some(name) = &u.name {
            w.flag("--exact", true);
            w.0.push(name.clone());
        }
        if args.run_ignored != RunIgnored::Default {
            let v = match args.run_ignored {
                RunIgnored::Only => "only",
                _ => "all",
            };
            w.pair("--run-ignored", v);
        }
        let isolation = u.settings.isolation.unwrap_or(args.isolation);
        if isolation != Isolation::PerTest {
            w.pair("--isolation", isolation.as_str());
        }
        w.flag(
            "--read-only-source",
            u.settings.read_only_source.unwrap_or(args.read_only_source),
        );
        let s = &args.sandbox;
        w.opt(
            "--memory-max",
            u.settings.memory_max.or(s.memory_max).map(size),
        );
        match (u.settings.pids_max, s.pids_max) {
            (Some(n), _) | (None, Some(PidsMax::Limit(n))) => w.pair("--pids-max", &n.to_string()),
            (None, Some(PidsMax::Unlimited)) => w.pair("--pids-max", "unlimited"),
            (None, None) => {}
        }
        w.opt("--cpus", u.settings.cpus.or(s.cpus));
        w.opt(
            "--timeout",
            u.settings
                .timeout
                .or(s.timeout)
                .map(|t| humantime::format_duration(t).to_string().replace(' ', "")),
        );
        if s.hostname != "isolate" {
            w.pair("--hostname", &s.hostname);
        }
        w.flag("--env-clear", s.env_clear);
        for e in &typed.sandbox.env {
            match &e.value {
                Some(v) => w.pair("--env", &format!("{}={v}", e.key)),
                None => w.pair("--env", &e.key),
            }
        }
        if s.scratch == Scratch::Disk {
            w.pair("--scratch", "disk");
            w.opt("--scratch-size", s.scratch_size.map(size));
        }
        w.flag("--no-sys", s.no_sys);
        if s.seccomp != crate::cli::Seccomp::Default {
            w.pair("--seccomp", &s.seccomp.to_string());
        }
        w.opt("--tmpfs-size", s.tmpfs_size.map(size));
        w.opt("--tmpfs-inodes", s.tmpfs_inodes);
        for p in s.ro_bind.iter().chain(&u.settings.ro_bind) {
            w.pair("--ro-bind", &p.display().to_string());
        }
        w.flag("--allow-unenforced-limits", s.allow_unenforced_limits);
        for (flag, value) in net_flags(&u.settings.net.to_faults()) {
            w.pair(flag, &value);
        }
        for h in &s.hosts {
            w.pair("--hosts", &h.to_string());
        }
        w.opt("--seed", args.seed);
        if !self.passthrough.is_empty() {
            w.0.push("--".into());
            w.0.extend(self.passthrough.iter().cloned());
        }
        w.0.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" ")
    }
}

/// The `--net-*` flags that set `f` again.
fn net_flags(f: &NetFaults) -> Vec<(&'static str, String)> {
    use crate::netfaults::{format_duration_us, format_loss, format_rate};
    let ports = |p: &[u16]| p.iter().map(u16::to_string).collect::<Vec<_>>().join(",");
    let mut out = Vec::new();
    if f.loss_ppm > 0 {
        out.push(("--net-loss", format_loss(f.loss_ppm)));
    }
    if !f.reject_ports.is_empty() {
        out.push(("--net-reject", ports(&f.reject_ports)));
    }
    if !f.drop_ports.is_empty() {
        out.push(("--net-drop", ports(&f.drop_ports)));
    }
    if let Some(r) = f.rate_bps {
        out.push(("--net-rate", format_rate(r)));
    }
    if let Some(d) = f.delay_us {
        out.push(("--net-delay", format_duration_us(d)));
    }
    if let Some(j) = f.jitter_us {
        out.push(("--net-jitter", format_duration_us(j)));
    }
    out
}

/// Which binary: from an archive by its binary id, since nothing is
/// built; else cargo's package and target flags and the build's own.
fn selection(w: &mut Words, args: &TestArgs, b: &BinaryContext) {
    if let Some(archive) = &args.archive_file {
        w.pair("--archive-file", &archive.display().to_string());
        w.opt(
            "--workspace-remap",
            args.workspace_remap.as_ref().map(|p| p.display()),
        );
        w.flag("--trust-archive-config", args.trust_archive_config);
        w.opt("--archive-max-bytes", args.archive_max_bytes.map(size));
        w.opt("--archive-max-entries", args.archive_max_entries);
        let id = crate::model::binary_id(&b.package, &b.target, &b.kind);
        w.pair("-E", &format!("binary_id(={id})"));
        return;
    }
    let c = &args.cargo;
    w.opt(
        "--manifest-path",
        c.manifest_path.as_ref().map(|p| p.display()),
    );
    w.pair("-p", &b.package);
    match b.kind.as_str() {
        "bin" | "test" | "example" | "bench" => w.pair(&format!("--{}", b.kind), &b.target),
        _ => w.flag("--lib", true),
    }
    for f in &c.features {
        w.pair("--features", f);
    }
    w.flag("--all-features", c.all_features);
    w.flag("--no-default-features", c.no_default_features);
    w.flag("--release", c.release);
    w.opt("--cargo-profile", c.cargo_profile.as_ref());
    w.opt("--target-dir", c.target_dir.as_ref().map(|p| p.display()));
    w.flag("--locked", c.locked);
    w.flag("--offline", c.offline);
    w.flag("--frozen", c.frozen);
}

struct Words(Vec<String>);

impl Words {
    fn flag(&mut self, name: &str, on: bool) {
        if on {
            self.0.push(name.into());
        }
    }

    fn pair(&mut self, name: &str, value: &str) {
        self.0.push(name.into());
        self.0.push(value.into());
    }

    fn opt(&mut self, name: &str, value: Option<impl std::fmt::Display>) {
        if let Some(v) = value {
            self.pair(name, &v.to_string());
        }
    }
}

/// A byte count as the size flags read it back: exact, in the largest
/// binary unit that divides it.
fn size(bytes: u64) -> String {
    for (shift, unit) in [(30, "G"), (20, "M"), (10, "K")] {
        if bytes >= 1 << shift && bytes.is_multiple_of(1 << shift) {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    bytes.to_string()
}

/// `arg` as one POSIX shell word: bare when it is plain, else in single
/// quotes, or in bash's `$'...'` with escapes when it holds control
/// characters, which single quotes would pass raw to the terminal.
pub fn quote(arg: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:=,+%@".contains(c);
    if !arg.is_empty() && arg.chars().all(plain) {
        return arg.to_string();
    }
    if !arg.chars().any(char::is_control) {
        return format!("'{}'", arg.replace('\'', r"'\''"));
    }
    let mut out = String::from("$'");
    for c in arg.chars() {
        match c {
            '\\' => out.push_str(r"\\"),
            '\'' => out.push_str(r"\'"),
            '\n' => out.push_str(r"\n"),
            '\t' => out.push_str(r"\t"),
            c if c.is_control() => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("\\x{b:02x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_words_stay_bare_and_others_are_quoted() {
        assert_eq!(quote("net::tcp_echo"), "net::tcp_echo");
        assert_eq!(quote("--memory-max"), "--memory-max");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote("$(rm -rf /)"), "'$(rm -rf /)'");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("evil\x1b]0;x\x07\n"), r"$'evil\x1b]0;x\x07\n'");
    }

    #[test]
    fn sizes_read_back_exactly() {
        assert_eq!(size(64 << 20), "64M");
        assert_eq!(size(1 << 30), "1G");
        assert_eq!(size((1 << 30) + (1 << 20)), "1025M");
        assert_eq!(size(1000), "1000");
        assert_eq!(crate::cli::parse_memory_max(&size(96 << 20)), Ok(96 << 20));
    }
}
