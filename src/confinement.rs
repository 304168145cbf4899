//! What confines this process when the sandbox or its cgroup cannot be
//! made: a container (Docker, podman, Kubernetes), its capabilities, a
//! seccomp filter, AppArmor (Ubuntu's restriction on unprivileged user
//! namespaces, a container's profile), a read-only cgroup mount. Read once
//! from files under a root directory (`/` for real; fixture trees in the
//! tests), then [`Confinement::namespaces_advice`] and
//! [`Confinement::cgroup_advice`] name the cause and the smallest change.

use std::path::Path;

/// CAP_SYS_ADMIN's bit in the capability sets of /proc/self/status.
const CAP_SYS_ADMIN: u32 = 21;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Confinement {
    /// Inside a container: its engine when known ("podman", "docker"),
    /// else what `container=` says, else "a container".
    pub container: Option<String>,
    /// CAP_SYS_ADMIN in the effective set (`None`: unreadable).
    pub cap_sys_admin: Option<bool>,
    /// A seccomp filter is on this process (mode 2 in /proc/self/status).
    pub seccomp_filter: bool,
    /// `kernel.apparmor_restrict_unprivileged_userns = 1` (Ubuntu 23.10+).
    pub apparmor_restricts_userns: bool,
    /// This process's AppArmor label ("unconfined", "cargo-isolate
    /// (unconfined)", "docker-default (enforce)"); `None` without AppArmor.
    pub apparmor_label: Option<String>,
    /// user.max_user_namespaces is 0.
    pub userns_disabled: bool,
    /// Debian's kernel.unprivileged_userns_clone is 0.
    pub unprivileged_userns_off: bool,
    /// Every cgroup filesystem mounted here is read-only (and there is one).
    pub cgroup_read_only: bool,
}

impl Confinement {
    /// Reads the files under `root` (`/` for this process).
    pub fn read(root: &Path) -> Confinement {
        let text = |p: &str| std::fs::read_to_string(root.join(p)).ok();
        let sysctl = |p: &str| text(p).map(|s| s.trim().to_string());
        let status = text("proc/self/status").unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(str::trim)
        };
        let cap_sys_admin = field("CapEff:")
            .and_then(|hex| u64::from_str_radix(hex, 16).ok())
            .map(|caps| caps & (1 << CAP_SYS_ADMIN) != 0);
        let apparmor_label = sysctl("proc/self/attr/apparmor/current")
            .or_else(|| sysctl("proc/self/attr/current"))
            .map(|l| l.trim_end_matches('\0').to_string())
            .filter(|l| !l.is_empty())
            // Without AppArmor the legacy file holds another LSM's label.
            .filter(|_| root.join("sys/kernel/security/apparmor").exists() || apparmor_only(root));
        Confinement {
            container: container(root),
            cap_sys_admin,
            seccomp_filter: field("Seccomp:") == Some("2"),
            apparmor_restricts_userns: sysctl(
                "proc/sys/kernel/apparmor_restrict_unprivileged_userns",
            )
            .as_deref()
                == Some("1"),
            apparmor_label,
            userns_disabled: sysctl("proc/sys/user/max_user_namespaces").as_deref() == Some("0"),
            unprivileged_userns_off: sysctl("proc/sys/kernel/unprivileged_userns_clone").as_deref()
                == Some("0"),
            cgroup_read_only: cgroup_read_only(&text("proc/self/mountinfo").unwrap_or_default()),
        }
    }

    /// AppArmor confines this process with a profile that enforces (not
    /// "unconfined", not a profile in unconfined or complain mode).
    fn apparmor_enforced(&self) -> bool {
        self.apparmor_label
            .as_deref()
            .is_some_and(|l| l.ends_with("(enforce)"))
    }

    /// Unconfined, or a profile that is not the one for this binary: what
    /// Ubuntu's restriction denies user namespaces to.
    fn apparmor_unprofiled(&self) -> bool {
        self.apparmor_label
            .as_deref()
            .is_none_or(|l| l == "unconfined")
    }

    /// Why namespaces could not be made, and the smallest change: one
    /// paragraph, each line indented for the setup error's message.
    pub fn namespaces_advice(&self, rootless: bool) -> String {
        // Even as root the sandbox makes a (nested) user namespace.
        if self.userns_disabled {
            return "  user namespaces are disabled here (user.max_user_namespaces = 0):\n  \
                    enable them with `sudo sysctl -w user.max_user_namespaces=15000`"
                .into();
        }
        if rootless && self.unprivileged_userns_off {
            return "  unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone = 0):\n  \
                    enable them with `sudo sysctl -w kernel.unprivileged_userns_clone=1`, or run as root"
                .into();
        }
        if rootless && self.apparmor_restricts_userns && self.apparmor_unprofiled() {
            return "  AppArmor refuses: it restricts unprivileged user namespaces here \
                    (kernel.apparmor_restrict_unprivileged_userns = 1, Ubuntu 23.10+) and \
                    cargo-isolate has no profile that allows them:\n  \
                    install the profile from the repository's docs/apparmor/cargo-isolate \
                    (the guide's Getting started: `sudo install -m 644 docs/apparmor/cargo-isolate \
                    /etc/apparmor.d/ && sudo apparmor_parser -r /etc/apparmor.d/cargo-isolate`),\n  \
                    or allow them for all with `sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`, or run as root"
                .into();
        }
        // What an engine says when it is known; capabilities and seccomp
        // are read as they are (a Kubernetes pod leaves no marker file).
        let engine = self.container.as_deref().unwrap_or("this container");
        if !rootless && self.cap_sys_admin == Some(false) {
            return "  no CAP_SYS_ADMIN: mounting the sandbox's filesystems needs it, and this \
                    process (a container's root) lacks it:\n  run the container with \
                    `--cap-add SYS_ADMIN` (enough under Docker's and podman's default seccomp \
                    profiles; Kubernetes: securityContext.capabilities.add: [\"SYS_ADMIN\"]), \
                    or `--privileged`"
                .into();
        }
        if self.seccomp_filter {
            return match rootless {
                true => format!(
                    "  seccomp refuses: {engine}'s seccomp profile forbids unshare/clone of \
                     namespaces to a user other than root:\n  run the tests as root in the \
                     container with `--cap-add SYS_ADMIN`, or run it with `--security-opt \
                     seccomp=unconfined`, or `--privileged`"
                ),
                false => format!(
                    "  seccomp refuses: {engine}'s seccomp profile forbids unshare/clone of \
                     namespaces though CAP_SYS_ADMIN is there:\n  run the container with \
                     `--security-opt seccomp=unconfined` (Kubernetes: \
                     securityContext.seccompProfile.type: Unconfined), or `--privileged`"
                ),
            };
        }
        if self.apparmor_enforced() {
            return format!(
                "  AppArmor refuses: {engine} runs under the AppArmor profile {}, which \
                 forbids mounts:\n  run the container with `--security-opt \
                 apparmor=unconfined` (Kubernetes: \
                 securityContext.appArmorProfile.type: Unconfined), or `--privileged`",
                self.apparmor_label.as_deref().unwrap_or("")
            );
        }
        match (&self.container, rootless) {
            (Some(engine), _) => format!(
                "  {engine} forbids namespaces here:\n  run the container with `--privileged`"
            ),
            (None, true) => "  user namespaces are not available to this user (a seccomp or \
                             LSM policy may forbid them):\n  run as root, or allow \
                             unprivileged user namespaces"
                .into(),
            (None, false) => "  even root cannot make namespaces here: a seccomp or LSM \
                              policy forbids them; in a container, run it with `--privileged`"
                .into(),
        }
    }

    /// Why there is no cgroup to write, and the smallest change.
    pub fn cgroup_advice(&self, rootless: bool) -> String {
        if let Some(engine) = &self.container {
            if self.cgroup_read_only {
                return format!(
                    "the cgroup filesystem is mounted read-only in {engine}: give it a \
                     writable cgroup: `--cgroupns=private` with a writable cgroup mount, \
                     or `--privileged` (Kubernetes: securityContext.privileged: true)"
                );
            }
            return match rootless {
                true => format!(
                    "an ordinary user in {engine} cannot write its cgroup: run the tests \
                     as root in the container, with a writable cgroup (`--cgroupns=private` \
                     and a writable mount, or `--privileged`)"
                ),
                false => format!(
                    "no writable cgroup in {engine}: `--cgroupns=private` with a writable \
                     cgroup mount, or `--privileged`"
                ),
            };
        }
        match rootless {
            true => "an ordinary user needs a delegated cgroup v2 subtree: run as root, or in \
                     a cgroup of your own (on systemd, `systemd-run --user --scope -p \
                     Delegate=yes cargo isolate test ...`, which cargo-isolate does itself \
                     when a user manager answers)"
                .into(),
            false if self.cgroup_read_only => {
                "the cgroup filesystem is mounted read-only here: remount it read-write".into()
            }
            false => {
                "no cgroup v1 memory hierarchy or cgroup v2 tree is mounted writable here".into()
            }
        }
    }
}

/// The legacy /proc/self/attr/current is AppArmor's when the kernel's
/// security dir says so (`lsm` lists it first).
fn apparmor_only(root: &Path) -> bool {
    std::fs::read_to_string(root.join("sys/kernel/security/lsm"))
        .is_ok_and(|l| l.split(',').next() == Some("apparmor"))
}

/// Which container this is, from what the engines leave: podman's
/// /run/.containerenv, Docker's /.dockerenv, `container=` in the
/// environment of pid 1 (systemd's convention, set by podman, LXC...).
fn container(root: &Path) -> Option<String> {
    if root.join("run/.containerenv").exists() {
        return Some("podman".into());
    }
    if root.join(".dockerenv").exists() {
        return Some("docker".into());
    }
    let environ = std::fs::read(root.join("proc/1/environ")).ok()?;
    environ
        .split(|b| *b == 0)
        .find_map(|kv| kv.strip_prefix(b"container="))
        .map(|v| match String::from_utf8_lossy(v).into_owned() {
            v if v.is_empty() => "a container".into(),
            v => v,
        })
}

/// Every cgroup or cgroup2 mount in `mountinfo` is read-only (per-mount
/// option `ro`, the sixth field), and there is at least one.
fn cgroup_read_only(mountinfo: &str) -> bool {
    let mut any = false;
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        if !matches!(right.split(' ').next(), Some("cgroup" | "cgroup2")) {
            continue;
        }
        let ro = left
            .split(' ')
            .nth(5)
            .is_some_and(|opts| opts.split(',').any(|o| o == "ro"));
        if !ro {
            return false;
        }
        any = true;
    }
    any
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// A fake root: `files` as (path, contents).
    fn root(files: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        for (path, contents) in files {
            let p = tmp.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, contents).unwrap();
        }
        let r = tmp.path().to_path_buf();
        (tmp, r)
    }

    const ALL_CAPS: &str = "Name:\tx\nCapEff:\t000001ffffffffff\nSeccomp:\t0\n";
    const DOCKER_CAPS: &str = "CapEff:\t00000000a80425fb\nSeccomp:\t2\n";
    const SYS_ADMIN_FILTERED: &str = "CapEff:\t00000000a82425fb\nSeccomp:\t2\n";
    const CGROUP_RO: &str =
        "30 25 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw\n";
    const CGROUP_RW: &str =
        "30 25 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw\n";

    #[test]
    fn ubuntus_restriction_is_named_with_the_profile_when_unconfined() {
        let (_t, r) = root(&[
            (
                "proc/sys/kernel/apparmor_restrict_unprivileged_userns",
                "1\n",
            ),
            ("proc/self/attr/apparmor/current", "unconfined\n"),
            ("sys/kernel/security/apparmor/profiles", ""),
            (
                "proc/self/status",
                "CapEff:\t0000000000000000\nSeccomp:\t0\n",
            ),
        ]);
        let c = Confinement::read(&r);
        assert!(c.apparmor_restricts_userns);
        assert_eq!(c.apparmor_label.as_deref(), Some("unconfined"));
        let msg = c.namespaces_advice(true);
        assert!(msg.contains("AppArmor refuses"), "{msg}");
        assert!(msg.contains("docs/apparmor/cargo-isolate"), "{msg}");
        assert!(
            msg.contains("apparmor_restrict_unprivileged_userns=0"),
            "{msg}"
        );
        // Root is not restricted.
        assert!(!c.namespaces_advice(false).contains("AppArmor"));
    }

    #[test]
    fn a_binary_with_its_profile_is_not_blamed_on_apparmor() {
        let (_t, r) = root(&[
            (
                "proc/sys/kernel/apparmor_restrict_unprivileged_userns",
                "1\n",
            ),
            (
                "proc/self/attr/apparmor/current",
                "cargo-isolate (unconfined)\n",
            ),
            ("sys/kernel/security/apparmor/profiles", ""),
        ]);
        let msg = Confinement::read(&r).namespaces_advice(true);
        assert!(!msg.contains("AppArmor refuses"), "{msg}");
    }

    #[test]
    fn the_legacy_attr_file_is_apparmors_only_when_it_is_the_lsm() {
        let (_t, r) = root(&[("proc/self/attr/current", "system_u:system_r:unconfined_t\n")]);
        assert_eq!(Confinement::read(&r).apparmor_label, None);
        let (_t, r) = root(&[
            ("proc/self/attr/current", "unconfined\n"),
            ("sys/kernel/security/lsm", "apparmor,capability\n"),
        ]);
        assert_eq!(
            Confinement::read(&r).apparmor_label.as_deref(),
            Some("unconfined")
        );
    }

    #[test]
    fn a_container_without_sys_admin_is_told_cap_add() {
        let (_t, r) = root(&[(".dockerenv", ""), ("proc/self/status", DOCKER_CAPS)]);
        let c = Confinement::read(&r);
        assert_eq!(c.container.as_deref(), Some("docker"));
        assert_eq!(c.cap_sys_admin, Some(false));
        let msg = c.namespaces_advice(false);
        assert!(msg.contains("no CAP_SYS_ADMIN"), "{msg}");
        assert!(msg.contains("--cap-add SYS_ADMIN"), "{msg}");
    }

    #[test]
    fn sys_admin_and_still_refused_under_a_filter_is_seccomp() {
        let (_t, r) = root(&[
            ("run/.containerenv", ""),
            ("proc/self/status", SYS_ADMIN_FILTERED),
        ]);
        let c = Confinement::read(&r);
        assert_eq!(c.container.as_deref(), Some("podman"));
        assert_eq!(c.cap_sys_admin, Some(true));
        let msg = c.namespaces_advice(false);
        assert!(msg.contains("seccomp refuses"), "{msg}");
        assert!(msg.contains("seccomp=unconfined"), "{msg}");
    }

    #[test]
    fn a_containers_apparmor_profile_is_named() {
        let (_t, r) = root(&[
            ("proc/1/environ", "PATH=/bin\0container=docker\0"),
            ("proc/self/status", ALL_CAPS),
            (
                "proc/self/attr/apparmor/current",
                "docker-default (enforce)",
            ),
            ("sys/kernel/security/apparmor/profiles", ""),
        ]);
        let c = Confinement::read(&r);
        assert_eq!(c.container.as_deref(), Some("docker"));
        let msg = c.namespaces_advice(false);
        assert!(msg.contains("AppArmor refuses"), "{msg}");
        assert!(msg.contains("docker-default (enforce)"), "{msg}");
        assert!(msg.contains("apparmor=unconfined"), "{msg}");
    }

    #[test]
    fn a_read_only_cgroup_mount_in_a_container_never_means_systemd_run() {
        let (_t, r) = root(&[
            ("run/.containerenv", ""),
            ("proc/self/mountinfo", CGROUP_RO),
        ]);
        let c = Confinement::read(&r);
        assert!(c.cgroup_read_only);
        for rootless in [false, true] {
            let msg = c.cgroup_advice(rootless);
            assert!(msg.contains("read-only"), "{msg}");
            assert!(msg.contains("--cgroupns=private"), "{msg}");
            assert!(msg.contains("--privileged"), "{msg}");
            assert!(!msg.contains("systemd-run"), "{msg}");
        }
        let (_t, r) = root(&[
            ("run/.containerenv", ""),
            ("proc/self/mountinfo", CGROUP_RW),
        ]);
        let c = Confinement::read(&r);
        assert!(!c.cgroup_read_only);
        assert!(!c.cgroup_advice(true).contains("systemd-run"));
        // Outside a container the user's way is systemd's.
        let (_t, r) = root(&[("proc/self/mountinfo", CGROUP_RW)]);
        assert!(
            Confinement::read(&r)
                .cgroup_advice(true)
                .contains("systemd-run")
        );
    }

    #[test]
    fn no_container_no_cgroup_mount_is_not_read_only() {
        assert!(!cgroup_read_only(""));
        let (_t, r) = root(&[("proc/1/environ", "PATH=/bin\0HOME=/\0")]);
        assert_eq!(Confinement::read(&r).container, None);
    }
}
