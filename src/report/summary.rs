//! The end-of-run summary on stderr: counts by outcome, every failure with
//! its output, the five heaviest and the five slowest tests. Text from the
//! tests (ids, output, errors) is escaped for the terminal.

use super::escape::{for_terminal, for_terminal_line};
use super::progress::outcome_style;
use super::{Report, TestRecord, human_bytes};

/// Lines of each failure's output shown on the terminal (the report has it all).
const TAIL_LINES: usize = 40;

pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let failures: Vec<&TestRecord> = report
        .tests
        .iter()
        .filter(|t| !matches!(t.outcome, "passed" | "ignored"))
        .collect();
    for t in &failures {
        out += &format!(
            "\n--- {} {} ---\n",
            outcome_style(t.outcome).apply_to(t.outcome.to_uppercase()),
            for_terminal_line(&t.id)
        );
        let mut why = Vec::new();
        if let Some(c) = t.exit_code {
            why.push(format!("exit code {c}"));
        }
        if let Some(s) = &t.signal {
            why.push(for_terminal(s).into_owned());
        }
        if let Some(e) = &t.error {
            why.push(for_terminal(e).into_owned());
        }
        if !why.is_empty() {
            out += &format!("    {}\n", why.join(", "));
        }
        for (label, text) in [("stdout", &t.stdout), ("stderr", &t.stderr)] {
            let lines: Vec<&str> = text.lines().collect();
            if lines.is_empty() {
                continue;
            }
            let skip = lines.len().saturating_sub(TAIL_LINES);
            out += &format!(
                "  {label}{}:\n",
                if skip > 0 {
                    format!(" (last {TAIL_LINES} lines)")
                } else {
                    String::new()
                }
            );
            for l in &lines[skip..] {
                out += &format!("    {}\n", for_terminal(l));
            }
        }
    }
    let mut heavy: Vec<&TestRecord> = report
        .tests
        .iter()
        .filter(|t| t.peak_memory_bytes.or(t.peak_rss_bytes).is_some())
        .collect();
    heavy.sort_by_key(|t| std::cmp::Reverse(t.peak_memory_bytes.or(t.peak_rss_bytes)));
    if !heavy.is_empty() {
        out += "\nHighest peak memory:\n";
        for t in heavy.iter().take(5) {
            out += &format!(
                "  {:>10}  {}\n",
                human_bytes(t.peak_memory_bytes.or(t.peak_rss_bytes).unwrap_or(0)),
                for_terminal_line(&t.id)
            );
        }
    }
    let mut slow: Vec<&TestRecord> = report
        .tests
        .iter()
        .filter(|t| t.duration_ms.is_some())
        .collect();
    slow.sort_by(|a, b| {
        b.duration_ms
            .partial_cmp(&a.duration_ms)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    if !slow.is_empty() {
        out += "\nSlowest:\n";
        for t in slow.iter().take(5) {
            out += &format!(
                "  {:>9.1}ms  {}\n",
                t.duration_ms.unwrap_or(0.0),
                for_terminal_line(&t.id)
            );
        }
    }
    let s = &report.summary;
    out += &format!(
        "\nSummary [{:.3}s] {} tests run: {} passed, {} failed, {} ignored, {} timed out, {} OOM-killed, {} signaled, {} setup errors{}\n",
        report.duration_ms / 1000.0,
        s.total - s.ignored,
        s.passed,
        s.failed,
        s.ignored,
        s.timed_out,
        s.oom_killed,
        s.signaled,
        s.setup_error,
        if report.complete {
            ""
        } else {
            " (interrupted)"
        }
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{HostInfo, RunnerInfo, Settings, Summary, Tool};

    fn report(tests: Vec<TestRecord>) -> Report {
        Report {
            schema_version: 1,
            tool: Tool {
                name: "cargo-isolate",
                version: "0",
            },
            started_at: String::new(),
            duration_ms: 1.0,
            complete: true,
            host: HostInfo {
                kernel: String::new(),
                cgroup: "v2",
                rootless: false,
            },
            settings: Settings {
                isolation: "per-test",
                jobs: 1,
                memory_max: None,
                pids_max: None,
                cpus: None,
                timeout_ms: None,
            },
            summary: Summary::of(&tests),
            tests,
            runner: RunnerInfo {
                peak_rss_bytes: None,
            },
            not_run: Vec::new(),
        }
    }

    #[test]
    fn text_from_tests_is_escaped() {
        let mut t = TestRecord::new("p::b::evil\x1b]0;pwned\x07".into(), "p", "b", "test", None);
        t.outcome = "failed";
        t.exit_code = Some(101);
        t.duration_ms = Some(1.0);
        t.peak_memory_bytes = Some(1 << 20);
        t.stdout = "ok line\n\x1b[2J\x1b[Hcleared\r\nprogress 50%\rdone\n".into();
        t.stderr = "\u{9b}31mred\tand tab\n".into();
        t.error = Some("bad\x1b[1A".into());
        let out = render(&report(vec![t]));
        // console may color the outcome; nothing from the test may add escapes.
        let plain = console::strip_ansi_codes(&out);
        assert!(!plain.contains('\x1b') && !plain.contains('\r') && !plain.contains('\u{9b}'));
        assert!(!plain.contains('\x07'));
        assert!(
            plain.contains("--- FAILED p::b::evil\\x1b]0;pwned\\x07 ---"),
            "{plain}"
        );
        assert!(
            plain.contains("    exit code 101, bad\\x1b[1A\n"),
            "{plain}"
        );
        assert!(
            plain.contains("    ok line\n    \\x1b[2J\\x1b[Hcleared\n    progress 50%\\rdone\n"),
            "{plain}"
        );
        assert!(plain.contains("    \\u{9b}31mred\tand tab\n"), "{plain}");
        assert_eq!(
            plain.matches("p::b::evil\\x1b]0;pwned\\x07").count(),
            3,
            "{plain}"
        );
    }
}
