//! The terminal's subscriber: the "Starting" banner, the progress of each
//! test (see [`super::progress`]), and the summary at the end.

use super::progress::Progress;
pub use super::progress::Shown;
pub use super::summary::Listed;
use super::{Settings, count, summary};
use crate::model::{RunEvent, RunStart, Subscriber};

pub struct Terminal {
    settings: Settings,
    /// False with --no-capture: the output already went to the terminal.
    show_output: bool,
    progress: Option<Progress>,
    /// Which tests get a status line as they end, and which the end lists.
    pub shown: Shown,
    pub listed: Listed,
}

impl Terminal {
    pub fn new(settings: Settings, show_output: bool) -> Terminal {
        Terminal {
            settings,
            show_output,
            progress: None,
            shown: Shown::default(),
            listed: Listed::default(),
        }
    }
}

/// `    Starting 12 tests across 3 binaries (1 skipped) (per-test, -j2,
/// cgroup v1, seed 7)`.
pub fn banner(s: &RunStart) -> String {
    format!(
        "    Starting {}{} across {}{} ({}, -j{}, cgroup {}{}{})",
        count(s.tests, "test", "tests"),
        s.stress_note,
        count(s.binaries, "binary", "binaries"),
        match s.skipped {
            0 => String::new(),
            n => format!(" ({n} skipped)"),
        },
        s.isolation,
        s.jobs,
        s.cgroup,
        if s.rootless { ", rootless" } else { "" },
        s.notes
    )
}

impl Subscriber for Terminal {
    fn on(&mut self, event: &RunEvent<'_>) {
        match *event {
            RunEvent::RunStarted(start) => {
                eprintln!("{}", banner(start));
                let mut p = Progress::new(start.runs, self.settings.clone(), self.show_output)
                    .showing(self.shown);
                if start.stress {
                    p = p.stress();
                }
                self.progress = Some(p);
            }
            RunEvent::TestStarted { id } => self.progress.iter_mut().for_each(|p| p.started(id)),
            RunEvent::TestSlow {
                id,
                elapsed,
                memory_bytes,
                cpu_ms,
            } => self
                .progress
                .iter_mut()
                .for_each(|p| p.slow(id, elapsed, memory_bytes, cpu_ms)),
            RunEvent::AttemptFinished { record } => self
                .progress
                .iter_mut()
                .for_each(|p| p.attempt_failed(record)),
            RunEvent::TestFinished { record } => {
                self.progress.iter_mut().for_each(|p| p.finished(record))
            }
            RunEvent::RunFinished {
                report,
                exit_code,
                verdict,
            } => {
                if let Some(p) = self.progress.take() {
                    p.finish();
                }
                eprint!("{}", summary::render_listing(report, verdict, self.listed));
                if exit_code == crate::error::EXIT_INTERRUPTED {
                    eprintln!(
                        "interrupted: the report holds the {} tests that finished",
                        report.tests.len()
                    );
                }
            }
        }
    }
}
