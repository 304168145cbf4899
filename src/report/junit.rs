//! JUnit XML (quick-junit): one testsuite per binary, peak memory, RSS and
//! CPU as testcase properties.

use super::{Report, TestRecord};
use crate::error::Error;
use quick_junit::{NonSuccessKind, Property, TestCase, TestCaseStatus, TestSuite};
use std::path::Path;
use std::time::Duration;

pub fn write(report: &Report, path: &Path) -> Result<(), Error> {
    let mut junit = quick_junit::Report::new("cargo-isolate");
    junit.set_time(Duration::from_secs_f64(report.duration_ms / 1000.0));
    let mut suites: Vec<(String, TestSuite)> = Vec::new();
    for t in &report.tests {
        let suite_name = format!("{}::{}", t.package, t.binary);
        let idx = match suites.iter().position(|(n, _)| *n == suite_name) {
            Some(i) => i,
            None => {
                suites.push((suite_name.clone(), TestSuite::new(suite_name)));
                suites.len() - 1
            }
        };
        suites[idx].1.add_test_case(case(t));
    }
    junit.add_test_suites(suites.into_iter().map(|(_, s)| s));
    let xml = junit.to_string().map_err(|e| Error::WriteReport {
        path: path.to_path_buf(),
        source: std::io::Error::other(e),
    })?;
    super::write_atomically(path, xml.as_bytes())
}

fn case(t: &TestRecord) -> TestCase {
    let status = match t.outcome {
        "passed" => TestCaseStatus::success(),
        "ignored" => TestCaseStatus::skipped(),
        other => {
            let kind = if other == "failed" {
                NonSuccessKind::Failure
            } else {
                NonSuccessKind::Error
            };
            let mut s = TestCaseStatus::non_success(kind);
            s.set_type(other);
            let mut msg = other.to_string();
            if let Some(c) = t.exit_code {
                msg += &format!(", exit code {c}");
            }
            if let Some(sig) = &t.signal {
                msg += &format!(", {sig}");
            }
            if let Some(e) = &t.error {
                msg += &format!(": {e}");
            }
            s.set_message(msg);
            s
        }
    };
    let mut name = t.name.clone().unwrap_or_else(|| t.binary.clone());
    if let Some(k) = t.attempt {
        name = format!("{name}#{k}");
    }
    let mut c = TestCase::new(name, status);
    c.set_classname(format!("{}::{}", t.package, t.binary));
    if let Some(ms) = t.duration_ms {
        c.set_time(Duration::from_secs_f64(ms / 1000.0));
    }
    let props = [
        (
            "peak_memory_bytes",
            t.peak_memory_bytes.map(|v| v.to_string()),
        ),
        ("peak_rss_bytes", t.peak_rss_bytes.map(|v| v.to_string())),
        ("cpu_ms", t.cpu_ms.map(|v| format!("{v:.3}"))),
        ("pids_peak", t.pids_peak.map(|v| v.to_string())),
    ];
    for (k, v) in props {
        if let Some(v) = v {
            c.add_property(Property::new(k, v));
        }
    }
    c.set_system_out(t.stdout.clone());
    c.set_system_err(t.stderr.clone());
    c
}
