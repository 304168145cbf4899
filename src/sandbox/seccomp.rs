//! The second wall: a seccomp filter that the test's process installs
//! right before its exec. The namespaces are the first wall, but root in a
//! test is host uid 0 for everything the kernel keys by uid rather than by
//! namespace (keyrings, cgroup files reached through a cgroup namespace of
//! its own), and some calls reach the host whatever the namespace (the
//! clock, modules, the kernel log). The filter refuses those calls.
//!
//! A [`Profile`] is data: the built-in default (allow everything except the
//! calls in [`DEFAULT_REFUSED`], each with its reason) or an OCI/Docker JSON
//! profile (`--seccomp PATH`), so that a team can run its tests under
//! Docker's own default profile. It is compiled once per run, in the
//! runner, with seccompiler (rust-vmm's, Firecracker's: pure Rust, no C
//! library to build against or ship, and a filter that is plain data the
//! init installs with one syscall). A seccompiler filter has one action for
//! every match, so a profile becomes one program per action it uses: the
//! kernel runs every installed program and keeps the most restrictive
//! answer (seccomp(2)), which is the profile's meaning as long as no call
//! matches rules of two different actions.

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// What a filter answers for a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    Allow,
    Errno(u32),
    KillThread,
    KillProcess,
    Trap,
    Log,
    Trace(u32),
}

impl Action {
    fn to_seccompiler(self) -> SeccompAction {
        match self {
            Action::Allow => SeccompAction::Allow,
            Action::Errno(e) => SeccompAction::Errno(e),
            Action::KillThread => SeccompAction::KillThread,
            Action::KillProcess => SeccompAction::KillProcess,
            Action::Trap => SeccompAction::Trap,
            Action::Log => SeccompAction::Log,
            Action::Trace(n) => SeccompAction::Trace(n),
        }
    }
}

/// How one argument is compared (libseccomp's `SCMP_CMP_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// `arg & mask == value`.
    MaskedEq(u64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Condition {
    /// 0 to 5.
    pub arg: u8,
    pub op: Op,
    pub value: u64,
}

/// Calls that get `action` when every condition holds (none: always).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub syscalls: Vec<i64>,
    pub action: Action,
    pub conditions: Vec<Condition>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// What a call no rule matches gets.
    pub default: Action,
    pub rules: Vec<Rule>,
}

/// One family of calls the default profile refuses, and why.
pub struct Refused {
    pub names: &'static [&'static str],
    /// `EPERM`, or `ENOSYS` where libc falls back to an older call.
    pub errno: i32,
    /// Refused only when this argument condition holds.
    pub when: Option<Condition>,
    #[cfg_attr(
        not(test),
        expect(dead_code, reason = "the README's table is made from it, in a test")
    )]
    pub why: &'static str,
}

const fn masked(arg: u8, bits: u64) -> Option<Condition> {
    Some(Condition {
        arg,
        op: Op::MaskedEq(bits),
        value: bits,
    })
}

const fn equals(arg: u8, value: u64) -> Option<Condition> {
    Some(Condition {
        arg,
        op: Op::Eq,
        value,
    })
}

const NEWCGROUP: u64 = libc::CLONE_NEWCGROUP as u64;

/// The built-in profile: everything a test may need stays allowed; these
/// are refused. The README's table is this list.
pub const DEFAULT_REFUSED: &[Refused] = &[
    Refused {
        names: &["keyctl", "add_key", "request_key"],
        errno: libc::EPERM,
        when: None,
        why: "keys are found by id and checked by uid, not by namespace: root in a test \
              could read and add to host root's keyrings",
    },
    Refused {
        names: &["unshare", "clone"],
        errno: libc::EPERM,
        when: masked(0, NEWCGROUP),
        why: "a cgroup namespace of the test's own would let it mount a cgroup hierarchy \
              rooted where the sandbox sits, which for unused v1 hierarchies is the host's",
    },
    Refused {
        names: &["setns"],
        errno: libc::EPERM,
        when: equals(1, NEWCGROUP),
        why: "joining another cgroup namespace: as for unshare",
    },
    Refused {
        names: &["clone3"],
        errno: libc::ENOSYS,
        when: None,
        why: "its flags are in memory a filter cannot read; ENOSYS makes libc fall back \
              to clone, whose flags it can",
    },
    Refused {
        names: &[
            "init_module",
            "finit_module",
            "delete_module",
            "kexec_load",
            "kexec_file_load",
        ],
        errno: libc::EPERM,
        when: None,
        why: "kernel modules and kexec change the host's kernel",
    },
    Refused {
        names: &["reboot", "swapon", "swapoff", "acct"],
        errno: libc::EPERM,
        when: None,
        why: "host-wide: the machine's power, its swap, process accounting",
    },
    Refused {
        names: &["settimeofday", "clock_settime", "stime"],
        errno: libc::EPERM,
        when: None,
        why: "the wall clock is the host's",
    },
    Refused {
        names: &["syslog"],
        errno: libc::EPERM,
        when: None,
        why: "the kernel log is host-wide",
    },
    Refused {
        names: &["fanotify_init"],
        errno: libc::EPERM,
        when: None,
        why: "marks on the host's read-only binds (/usr, the target dir) would report \
              what host processes do with those files",
    },
    Refused {
        names: &["open_by_handle_at"],
        errno: libc::EPERM,
        when: None,
        why: "opens any inode of a mounted filesystem by handle, past the sandbox's mounts",
    },
    Refused {
        names: &["bpf"],
        errno: libc::EPERM,
        when: None,
        why: "eBPF programs and maps are kernel-wide surface no test needs",
    },
    Refused {
        names: &["ioctl"],
        errno: libc::EPERM,
        when: equals(1, libc::TIOCSTI),
        why: "TIOCSTI types into a terminal: with --no-capture the test's output is the \
              user's terminal",
    },
    Refused {
        names: &["iopl", "ioperm", "quotactl", "quotactl_fd"],
        errno: libc::EPERM,
        when: None,
        why: "host hardware (I/O ports) and the host's disk quotas",
    },
];

/// The number of `name` on this architecture, if it has that call.
fn syscall_number(name: &str) -> Option<i64> {
    syscalls::Sysno::from_str(name).ok().map(|s| s.id().into())
}

impl Profile {
    /// The built-in default: allow, but [`DEFAULT_REFUSED`].
    pub fn builtin() -> Profile {
        let rules = DEFAULT_REFUSED
            .iter()
            .map(|r| Rule {
                syscalls: r.names.iter().filter_map(|n| syscall_number(n)).collect(),
                action: Action::Errno(r.errno as u32),
                conditions: r.when.into_iter().collect(),
            })
            .collect();
        Profile {
            default: Action::Allow,
            rules,
        }
    }

    /// The built-in profile in two: what the zygote can carry for every
    /// sandbox (it and the inits make none of these calls), and `clone3`,
    /// which the zygote needs (`CLONE_INTO_CGROUP`) and each test's process
    /// refuses itself.
    pub fn builtin_split() -> (Profile, Profile) {
        let all = Profile::builtin();
        let clone3 = syscall_number("clone3");
        let (own, shared): (Vec<Rule>, Vec<Rule>) = all
            .rules
            .into_iter()
            .partition(|r| clone3.is_some_and(|n| r.syscalls.contains(&n)));
        let profile = |rules| Profile {
            default: Action::Allow,
            rules,
        };
        (profile(shared), profile(own))
    }

    /// Reads an OCI runtime-spec / Docker seccomp profile.
    pub fn from_oci_file(path: &Path) -> Result<Profile, ProfileError> {
        let text = std::fs::read_to_string(path).map_err(|e| ProfileError {
            path: path.to_path_buf(),
            at: String::new(),
            message: format!("cannot read it: {e}"),
        })?;
        Profile::from_oci_json(&text).map_err(|(at, message)| ProfileError {
            path: path.to_path_buf(),
            at,
            message,
        })
    }

    /// `Err((where, what))`: where is a line and column, or a field path
    /// such as `syscalls[3].action`.
    pub fn from_oci_json(text: &str) -> Result<Profile, (String, String)> {
        let mut de = serde_json::Deserializer::from_str(text);
        let oci: OciProfile = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let inner = e.inner();
            let at = match e.path().to_string().as_str() {
                "." | "?" => format!("line {} column {}", inner.line(), inner.column()),
                p => format!("{p} (line {} column {})", inner.line(), inner.column()),
            };
            (at, strip_position(&inner.to_string()))
        })?;
        oci.into_profile()
    }

    /// One BPF program per action the profile uses, to be installed
    /// together (see the module docs). `x32`: the kernel takes x32 calls
    /// (see [`with_x32_twin`]).
    pub fn compile(&self, x32: bool) -> Result<Filters, String> {
        let arch = native_arch().ok_or_else(|| {
            format!(
                "seccomp filters are built for x86_64, aarch64 and riscv64 only, not {}; \
                 pass --seccomp none to run without the second wall",
                std::env::consts::ARCH
            )
        })?;
        let mut listed = Calls::default();
        let mut by_action: BTreeMap<Action, Calls> = BTreeMap::new();
        for rule in self.rules.iter().filter(|r| r.action != self.default) {
            let conditions = rule
                .conditions
                .iter()
                .map(|c| c.to_seccompiler())
                .collect::<Result<Vec<_>, _>>()?;
            for &nr in &rule.syscalls {
                for nr in with_x32_twin(nr, x32) {
                    if self.default != Action::Allow {
                        listed.add(nr, &conditions)?;
                    }
                    if rule.action != Action::Allow {
                        by_action
                            .entry(rule.action)
                            .or_default()
                            .add(nr, &conditions)?;
                    }
                }
            }
        }
        let mut programs = Vec::new();
        let mut push = |calls: Calls, on_match: Action, otherwise: Action| {
            let filter = SeccompFilter::new(
                calls.into_rules(),
                otherwise.to_seccompiler(),
                on_match.to_seccompiler(),
                arch,
            )
            .map_err(|e| format!("compile the seccomp filter: {e}"))?;
            let bpf: BpfProgram = filter
                .try_into()
                .map_err(|e| format!("compile the seccomp filter: {e}"))?;
            programs.push(bpf.iter().map(encode).collect());
            Ok::<(), String>(())
        };
        if self.default != Action::Allow {
            push(listed, Action::Allow, self.default)?;
        }
        for (action, calls) in by_action {
            push(calls, action, Action::Allow)?;
        }
        Ok(Filters(programs))
    }
}

/// The syscalls and argument rules of one program.
#[derive(Default)]
struct Calls {
    rules: BTreeMap<i64, Vec<SeccompRule>>,
    unconditional: BTreeSet<i64>,
}

impl Calls {
    fn add(&mut self, nr: i64, conditions: &[SeccompCondition]) -> Result<(), String> {
        if conditions.is_empty() {
            self.unconditional.insert(nr);
            self.rules.entry(nr).or_default();
        } else {
            let rule = SeccompRule::new(conditions.to_vec())
                .map_err(|e| format!("compile the seccomp filter: {e}"))?;
            self.rules.entry(nr).or_default().push(rule);
        }
        Ok(())
    }

    /// seccompiler's form: an empty rule list matches the call always.
    fn into_rules(mut self) -> BTreeMap<i64, Vec<SeccompRule>> {
        for nr in &self.unconditional {
            self.rules.insert(*nr, Vec::new());
        }
        self.rules
    }
}

impl Condition {
    fn to_seccompiler(self) -> Result<SeccompCondition, String> {
        let op = match self.op {
            Op::Eq => SeccompCmpOp::Eq,
            Op::Ne => SeccompCmpOp::Ne,
            Op::Lt => SeccompCmpOp::Lt,
            Op::Le => SeccompCmpOp::Le,
            Op::Gt => SeccompCmpOp::Gt,
            Op::Ge => SeccompCmpOp::Ge,
            Op::MaskedEq(mask) => SeccompCmpOp::MaskedEq(mask),
        };
        SeccompCondition::new(self.arg, SeccompCmpArgLen::Qword, op, self.value)
            .map_err(|e| format!("argument condition {self:?}: {e}"))
    }
}

/// On x86_64 the same calls can be made through the x32 ABI, whose
/// numbers carry bit 30 and whose audit arch is x86_64's: where the kernel
/// takes x32 calls, a refusal must cover both numbers. (An allow-list
/// refuses them by default.) Where it does not (most kernels: x32 is off
/// or not built), the twins are left out: every entry lengthens the chain
/// the kernel walks per call, and once per syscall number when it attaches
/// the filter (its constant-action cache).
fn with_x32_twin(nr: i64, x32: bool) -> impl Iterator<Item = i64> {
    const X32_SYSCALL_BIT: i64 = 0x4000_0000;
    let twin = (x32 && cfg!(target_arch = "x86_64") && nr < X32_SYSCALL_BIT)
        .then_some(nr | X32_SYSCALL_BIT);
    std::iter::once(nr).chain(twin)
}

fn native_arch() -> Option<TargetArch> {
    match std::env::consts::ARCH {
        "x86_64" => Some(TargetArch::x86_64),
        "aarch64" => Some(TargetArch::aarch64),
        "riscv64" => Some(TargetArch::riscv64),
        _ => None,
    }
}

/// The compiled programs, each instruction packed in a `u64` so that the
/// spec carries them as plain numbers to the init.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Filters(pub Vec<Vec<u64>>);

fn encode(ins: &seccompiler::sock_filter) -> u64 {
    u64::from(ins.code) | u64::from(ins.jt) << 16 | u64::from(ins.jf) << 24 | u64::from(ins.k) << 32
}

fn decode(word: u64) -> seccompiler::sock_filter {
    seccompiler::sock_filter {
        code: word as u16,
        jt: (word >> 16) as u8,
        jf: (word >> 24) as u8,
        k: (word >> 32) as u32,
    }
}

impl Filters {
    /// Installs every program on the calling thread (no_new_privs must be
    /// set, which the init does first). In the test's process, before exec.
    pub fn install(&self) -> std::io::Result<()> {
        for program in &self.0 {
            let bpf: BpfProgram = program.iter().map(|w| decode(*w)).collect();
            seccompiler::apply_filter(&bpf).map_err(|e| match e {
                seccompiler::Error::Seccomp(io) | seccompiler::Error::Prctl(io) => io,
                other => std::io::Error::other(other.to_string()),
            })?;
        }
        Ok(())
    }
}

/// A profile file that cannot be used, with the place of the fault.
#[derive(Debug, thiserror::Error)]
#[error("--seccomp profile {}{}: {message}", path.display(), if at.is_empty() { String::new() } else { format!(", {at}") })]
pub struct ProfileError {
    pub path: PathBuf,
    pub at: String,
    pub message: String,
}

/// serde_json appends " at line L column C", which the caller puts first.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

// The OCI runtime spec's `linux.seccomp`, as Docker and podman write
// profiles (`names`, `includes`/`excludes`, `errnoRet`).

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OciProfile {
    default_action: String,
    default_errno_ret: Option<u32>,
    listener_path: Option<String>,
    #[serde(default)]
    syscalls: Vec<OciSyscall>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OciSyscall {
    #[serde(default)]
    names: Vec<String>,
    /// The older single-name form.
    name: Option<String>,
    action: String,
    errno_ret: Option<u32>,
    #[serde(default)]
    args: Vec<OciArg>,
    #[serde(default)]
    includes: OciFilter,
    #[serde(default)]
    excludes: OciFilter,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OciArg {
    index: u32,
    value: u64,
    #[serde(default)]
    value_two: u64,
    op: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct OciFilter {
    #[serde(default)]
    caps: Vec<String>,
    #[serde(default)]
    arches: Vec<String>,
    min_kernel: Option<String>,
}

/// The capabilities a `includes.caps` rule is judged against: Docker's
/// default set, since a test runs with no capability added.
const DOCKER_DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

fn native_arch_names() -> &'static [&'static str] {
    match std::env::consts::ARCH {
        "x86_64" => &["amd64", "x86_64", "SCMP_ARCH_X86_64"],
        "aarch64" => &["arm64", "aarch64", "SCMP_ARCH_AARCH64"],
        "riscv64" => &["riscv64", "SCMP_ARCH_RISCV64"],
        _ => &[],
    }
}

/// (major, minor) of "6.18.0-1-amd64" or "4.8".
fn kernel_version(s: &str) -> Option<(u32, u32)> {
    let mut parts = s.split(|c: char| !c.is_ascii_digit());
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

fn running_kernel() -> Option<(u32, u32)> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok()?;
    kernel_version(release.trim())
}

impl OciFilter {
    /// Whether a rule with this `includes` applies here.
    fn includes_us(&self, at: &str) -> Result<bool, (String, String)> {
        let caps = self
            .caps
            .iter()
            .all(|c| DOCKER_DEFAULT_CAPS.contains(&c.as_str()));
        let arches = self.arches.is_empty()
            || self
                .arches
                .iter()
                .any(|a| native_arch_names().contains(&a.as_str()));
        let kernel = match &self.min_kernel {
            None => true,
            Some(k) => {
                let want = kernel_version(k).ok_or_else(|| {
                    (
                        format!("{at}.minKernel"),
                        format!("{k:?} is not a kernel version such as \"5.8\""),
                    )
                })?;
                running_kernel().is_none_or(|have| have >= want)
            }
        };
        Ok(caps && arches && kernel)
    }

    /// Whether a rule with this `excludes` is left out here.
    fn excludes_us(&self) -> bool {
        self.caps
            .iter()
            .any(|c| DOCKER_DEFAULT_CAPS.contains(&c.as_str()))
            || self
                .arches
                .iter()
                .any(|a| native_arch_names().contains(&a.as_str()))
    }
}

fn oci_action(name: &str, errno: Option<u32>, at: &str) -> Result<Action, (String, String)> {
    let errno = errno.unwrap_or(libc::EPERM as u32);
    Ok(match name {
        "SCMP_ACT_ALLOW" => Action::Allow,
        "SCMP_ACT_ERRNO" => Action::Errno(errno),
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => Action::KillThread,
        "SCMP_ACT_KILL_PROCESS" => Action::KillProcess,
        "SCMP_ACT_TRAP" => Action::Trap,
        "SCMP_ACT_LOG" => Action::Log,
        "SCMP_ACT_TRACE" => Action::Trace(errno),
        "SCMP_ACT_NOTIFY" => {
            return Err((
                at.to_string(),
                "SCMP_ACT_NOTIFY needs a seccomp agent, which cargo-isolate does not run".into(),
            ));
        }
        other => {
            return Err((
                at.to_string(),
                format!(
                    "unknown action {other:?}: expected SCMP_ACT_ALLOW, SCMP_ACT_ERRNO, \
                     SCMP_ACT_KILL, SCMP_ACT_KILL_PROCESS, SCMP_ACT_KILL_THREAD, \
                     SCMP_ACT_TRAP, SCMP_ACT_LOG or SCMP_ACT_TRACE"
                ),
            ));
        }
    })
}

impl OciArg {
    fn condition(&self, at: &str) -> Result<Condition, (String, String)> {
        let arg = u8::try_from(self.index)
            .ok()
            .filter(|i| *i < 6)
            .ok_or_else(|| {
                (
                    format!("{at}.index"),
                    format!("{} is not an argument index (0 to 5)", self.index),
                )
            })?;
        let (op, value) = match self.op.as_str() {
            "SCMP_CMP_EQ" => (Op::Eq, self.value),
            "SCMP_CMP_NE" => (Op::Ne, self.value),
            "SCMP_CMP_LT" => (Op::Lt, self.value),
            "SCMP_CMP_LE" => (Op::Le, self.value),
            "SCMP_CMP_GT" => (Op::Gt, self.value),
            "SCMP_CMP_GE" => (Op::Ge, self.value),
            // libseccomp: `value` is the mask, `valueTwo` the datum.
            "SCMP_CMP_MASKED_EQ" => (Op::MaskedEq(self.value), self.value_two),
            other => {
                return Err((
                    format!("{at}.op"),
                    format!(
                        "unknown comparison {other:?}: expected SCMP_CMP_EQ, SCMP_CMP_NE, \
                         SCMP_CMP_LT, SCMP_CMP_LE, SCMP_CMP_GT, SCMP_CMP_GE or SCMP_CMP_MASKED_EQ"
                    ),
                ));
            }
        };
        Ok(Condition { arg, op, value })
    }
}

impl OciProfile {
    fn into_profile(self) -> Result<Profile, (String, String)> {
        if self.listener_path.as_deref().is_some_and(|p| !p.is_empty()) {
            return Err((
                "listenerPath".into(),
                "a seccomp agent is not supported; remove listenerPath".into(),
            ));
        }
        let default = oci_action(
            &self.default_action,
            self.default_errno_ret,
            "defaultAction",
        )?;
        let mut rules = Vec::new();
        for (i, s) in self.syscalls.iter().enumerate() {
            let at = format!("syscalls[{i}]");
            let action = oci_action(&s.action, s.errno_ret, &format!("{at}.action"))?;
            let conditions = s
                .args
                .iter()
                .enumerate()
                .map(|(j, a)| a.condition(&format!("{at}.args[{j}]")))
                .collect::<Result<Vec<_>, _>>()?;
            if s.names.is_empty() && s.name.is_none() {
                return Err((format!("{at}.names"), "no syscall names".into()));
            }
            if !s.includes.includes_us(&format!("{at}.includes"))? || s.excludes.excludes_us() {
                continue;
            }
            // Names this architecture lacks are skipped, as runc does:
            // Docker's profile lists every architecture's calls.
            let syscalls = s
                .names
                .iter()
                .chain(&s.name)
                .filter_map(|n| syscall_number(n))
                .collect::<Vec<_>>();
            if !syscalls.is_empty() {
                rules.push(Rule {
                    syscalls,
                    action,
                    conditions,
                });
            }
        }
        Ok(Profile { default, rules })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nr(name: &str) -> i64 {
        syscall_number(name).unwrap()
    }

    #[test]
    fn the_default_profile_names_calls_this_architecture_has() {
        let p = Profile::builtin();
        assert_eq!(p.default, Action::Allow);
        let all: Vec<i64> = p.rules.iter().flat_map(|r| r.syscalls.clone()).collect();
        for name in [
            "keyctl",
            "add_key",
            "request_key",
            "clone3",
            "unshare",
            "kexec_load",
        ] {
            assert!(all.contains(&nr(name)), "{name}");
        }
        let filters = p.compile(true).unwrap();
        // EPERM and ENOSYS: two programs.
        assert_eq!(filters.0.len(), 2);
        assert!(filters.0.iter().all(|p| !p.is_empty() && p.len() < 400));
    }

    #[test]
    fn instructions_round_trip_through_the_spec() {
        let ins = seccompiler::sock_filter {
            code: 0x15,
            jt: 3,
            jf: 250,
            k: 0xdead_beef,
        };
        assert_eq!(decode(encode(&ins)), ins);
    }

    #[test]
    fn an_oci_profile_becomes_rules() {
        let p = Profile::from_oci_json(
            r#"{
              "defaultAction": "SCMP_ACT_ERRNO",
              "defaultErrnoRet": 1,
              "architectures": ["SCMP_ARCH_X86_64"],
              "syscalls": [
                {"names": ["read", "write", "no_such_call"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
                {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
                {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
                {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
                {"names": ["chroot"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_SYS_CHROOT"]}}
              ]
            }"#,
        )
        .unwrap();
        assert_eq!(p.default, Action::Errno(1));
        assert_eq!(p.rules.len(), 4, "{p:?}");
        assert_eq!(p.rules[0].syscalls, vec![nr("read"), nr("write")]);
        assert_eq!(
            p.rules[2].conditions,
            vec![Condition {
                arg: 0,
                op: Op::MaskedEq(2114060288),
                value: 0
            }]
        );
        assert_eq!(p.rules[3].action, Action::Errno(38));
        // The allow-list, then ENOSYS for clone3.
        assert_eq!(p.compile(true).unwrap().0.len(), 2);
    }

    #[test]
    fn a_bad_profile_says_where() {
        let cases = [
            (
                r#"{"defaultAction": "SCMP_ACT_NOPE"}"#,
                "defaultAction",
                "unknown action",
            ),
            (
                r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}, {"names": ["x"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 7, "value": 1, "op": "SCMP_CMP_EQ"}]}]}"#,
                "syscalls[1].args[0].index",
                "argument index",
            ),
            (
                r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "LIKE"}]}]}"#,
                "syscalls[0].args[0].op",
                "unknown comparison",
            ),
            (
                r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": "read", "action": "SCMP_ACT_ERRNO"}]}"#,
                "syscalls[0].names",
                "expected a sequence",
            ),
            (
                r#"{"defaultAction": "SCMP_ACT_ALLOW", "#,
                "line 1 column",
                "EOF",
            ),
            (
                r#"{"syscalls": []}"#,
                "line 1 column",
                "missing field `defaultAction`",
            ),
        ];
        for (text, at, what) in cases {
            let (got_at, got_what) = Profile::from_oci_json(text).unwrap_err();
            assert!(got_at.starts_with(at), "{text}: at {got_at:?}");
            assert!(got_what.contains(what), "{text}: {got_what:?}");
        }
    }

    #[test]
    fn no_profile_text_panics() {
        // Bytes of a real profile, cut and mangled at every position.
        let good = r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"valueTwo":2,"op":"SCMP_CMP_MASKED_EQ"}],"includes":{"minKernel":"4.8"}}]}"#;
        for i in 0..good.len() {
            let _ = Profile::from_oci_json(&good[..i]);
            let mut mangled = good.as_bytes().to_vec();
            mangled[i] = b"0\"}]x:-9"[i % 8];
            if let Ok(text) = std::str::from_utf8(&mangled)
                && let Ok(p) = Profile::from_oci_json(text)
            {
                let _ = p.compile(true);
            }
        }
    }

    /// The default profile as the README's table: `| calls | errno | why |`.
    fn default_table() -> String {
        let mut out = String::from("| refused calls | answer | why |\n|---|---|---|\n");
        for r in DEFAULT_REFUSED {
            let calls: Vec<String> = r.names.iter().map(|n| format!("`{n}`")).collect();
            let mut calls = calls.join(", ");
            if let Some(c) = r.when {
                let what = match c.op {
                    Op::MaskedEq(_) => "with `CLONE_NEWCGROUP` in its flags",
                    _ if r.names == ["ioctl"] => "`TIOCSTI`",
                    _ => "for `CLONE_NEWCGROUP`",
                };
                calls = format!("{calls} {what}");
            }
            let errno = if r.errno == libc::ENOSYS {
                "ENOSYS"
            } else {
                "EPERM"
            };
            out += &format!(
                "| {calls} | {errno} | {} |\n",
                r.why.split_whitespace().collect::<Vec<_>>().join(" ")
            );
        }
        out
    }

    #[test]
    fn the_guide_shows_the_default_profile() {
        let page = include_str!("../../docs/guide/src/sandbox.md");
        let table = default_table();
        assert!(
            page.contains(&table),
            "docs/guide/src/sandbox.md should hold, as it is:\n{table}"
        );
    }

    #[test]
    fn kernel_versions_parse() {
        assert_eq!(kernel_version("6.18.0-1-amd64"), Some((6, 18)));
        assert_eq!(kernel_version("4.8"), Some((4, 8)));
        assert_eq!(kernel_version("x"), None);
    }
}
#[cfg(test)]
mod dump {
    /// `ISOLATE_DUMP_FILTER=PATH cargo test dump_the_default_filter -- --ignored`
    /// writes the default filter's programs (struct sock_filter, 8 bytes an
    /// instruction, one file per program) for measuring them outside.
    #[test]
    #[ignore = "a tool for measuring the filter, not a check"]
    fn dump_the_default_filter() {
        let Some(path) = std::env::var_os("ISOLATE_DUMP_FILTER") else {
            return;
        };
        let filters = super::Profile::builtin().compile(false).unwrap();
        for (i, p) in filters.0.iter().enumerate() {
            let bytes: Vec<u8> = p.iter().flat_map(|w| w.to_le_bytes()).collect();
            let mut name = path.clone();
            name.push(format!(".{i}"));
            std::fs::write(name, bytes).unwrap();
        }
    }
}
