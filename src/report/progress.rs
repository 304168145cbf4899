//! Progress while tests run: an indicatif bar on a terminal (done/total,
//! failures so far, the running tests), one plain line per finished test
//! otherwise. Colors follow --color, CARGO_TERM_COLOR and NO_COLOR. Test
//! ids are escaped for the terminal.

use super::escape::for_terminal_line;
use super::{TestRecord, human_bytes};
use console::Style;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::BTreeSet;
use std::io::IsTerminal;

pub struct Progress {
    bar: Option<ProgressBar>,
    failed: usize,
    running: BTreeSet<String>,
}

/// Decides and sets whether stderr output is colored.
pub fn init_color(flag: Option<&str>) {
    let choice = flag
        .map(str::to_string)
        .or_else(|| std::env::var("CARGO_TERM_COLOR").ok())
        .unwrap_or_else(|| "auto".into());
    let on = match choice.as_str() {
        "always" => true,
        "never" => false,
        _ => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::io::stderr().is_terminal()
        }
    };
    console::set_colors_enabled_stderr(on);
    console::set_colors_enabled(on);
}

pub fn outcome_style(outcome: &str) -> Style {
    match outcome {
        "passed" => Style::new().green().for_stderr(),
        "ignored" => Style::new().yellow().for_stderr(),
        _ => Style::new().red().bold().for_stderr(),
    }
}

/// "    FAILED [    1.0ms    1.0 MiB] p::b::t", the id escaped.
fn finished_line(t: &TestRecord) -> String {
    format!(
        "{:>10} [{:>9} {:>10}] {}",
        outcome_style(t.outcome).apply_to(t.outcome.to_uppercase()),
        t.duration_ms
            .map(|d| format!("{d:.1}ms"))
            .unwrap_or_default(),
        t.peak_memory_bytes
            .or(t.peak_rss_bytes)
            .map(human_bytes)
            .unwrap_or_default(),
        for_terminal_line(&t.id)
    )
}

impl Progress {
    pub fn new(total: usize) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let pb =
                ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
            pb.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}",
                )
                .expect("valid template"),
            );
            pb.enable_steady_tick(std::time::Duration::from_millis(120));
            pb
        });
        Progress {
            bar,
            failed: 0,
            running: BTreeSet::new(),
        }
    }

    pub fn started(&mut self, id: &str) {
        if self.bar.is_some() {
            self.running.insert(id.to_string());
            self.refresh();
        }
    }

    pub fn finished(&mut self, t: &TestRecord) {
        let failed = !matches!(t.outcome, "passed" | "ignored");
        if failed {
            self.failed += 1;
        }
        let line = finished_line(t);
        match &self.bar {
            Some(pb) => {
                self.running.remove(&t.id);
                pb.println(line);
                pb.inc(1);
                self.refresh();
            }
            None => eprintln!("{line}"),
        }
    }

    fn refresh(&self) {
        if let Some(pb) = &self.bar {
            let running: Vec<_> = self
                .running
                .iter()
                .take(3)
                .map(|id| for_terminal_line(id))
                .collect();
            pb.set_message(format!("{} failed · {}", self.failed, running.join(", ")));
        }
    }

    pub fn finish(&self) {
        if let Some(pb) = &self.bar {
            pb.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finished_line_escapes_the_id() {
        let mut t = TestRecord::new("p::b::t\x1b[2K\r\n".into(), "p", "b", "test", None);
        t.outcome = "passed";
        t.duration_ms = Some(1.0);
        t.peak_memory_bytes = Some(1 << 20);
        let line = console::strip_ansi_codes(&finished_line(&t)).into_owned();
        assert_eq!(
            line,
            "    PASSED [    1.0ms    1.0 MiB] p::b::t\\x1b[2K\\r\\n"
        );
    }
}
