//! The end-of-run summary on stderr: counts by outcome, every failure with
//! its output, the five heaviest and the five slowest tests.

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
            t.id
        );
        let mut why = Vec::new();
        if let Some(c) = t.exit_code {
            why.push(format!("exit code {c}"));
        }
        if let Some(s) = &t.signal {
            why.push(s.clone());
        }
        if let Some(e) = &t.error {
            why.push(e.clone());
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
                out += &format!("    {l}\n");
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
                t.id
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
            out += &format!("  {:>9.1}ms  {}\n", t.duration_ms.unwrap_or(0.0), t.id);
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
