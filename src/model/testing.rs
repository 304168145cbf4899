//! What the unit tests build their reports from.

use super::*;

/// A run with a 32 MiB memory limit and a 3 s timeout.
pub fn settings() -> Settings {
    Settings {
        isolation: "per-test",
        jobs: 1,
        memory_max: Some(32 << 20),
        pids_max: None,
        cpus: None,
        timeout_ms: Some(3000),
        seccomp: None,
        policy: None,
        enforced: Enforced::default(),
    }
}

/// A complete report of `tests`, as a run would write it.
pub fn report(tests: Vec<TestRecord>, started_at: &str, duration_ms: f64) -> Report {
    Report {
        schema_version: 1,
        tool: Tool {
            name: "cargo-isolate",
            version: "0".into(),
        },
        started_at: started_at.into(),
        duration_ms,
        complete: true,
        host: HostInfo {
            systemd_scope: None,
            kernel: String::new(),
            cgroup: "v2",
            rootless: false,
        },
        settings: settings(),
        summary: Summary::of(&tests),
        tests,
        runner: RunnerInfo {
            peak_rss_bytes: None,
        },
        not_run: Vec::new(),
        baseline: None,
        archive: None,
        partition: None,
        merged: None,
        selection: None,
    }
}
