//! The report files' subscriber: at the end of a run, the JSON report,
//! and JUnit and HTML when asked, each a new file renamed into place.
//! JUnit and HTML say the run's verdict, the one the run-finished event carries.

use super::{Report, html, junit, write_atomically, write_json};
use crate::error::Error;
use crate::model::{RunEvent, Subscriber, Verdict};
use crate::owned::PinnedDir;
use std::path::{Path, PathBuf};

pub struct ReportFiles {
    pub json: PathBuf,
    pub junit: Option<PathBuf>,
    pub junit_success_output: bool,
    pub html: Option<PathBuf>,
    /// `--baseline`, for the HTML page's comparison: read and checked
    /// before the run.
    pub baseline: Option<Report>,
    /// `target/isolate`, checked and held open, when a file goes there.
    pub pinned: Option<PinnedDir>,
    written: Option<Result<(), Error>>,
}

impl ReportFiles {
    pub fn new(json: PathBuf) -> ReportFiles {
        ReportFiles {
            json,
            junit: None,
            junit_success_output: false,
            html: None,
            baseline: None,
            pinned: None,
            written: None,
        }
    }

    /// Whether the files were written (`Ok` too when the run never ended).
    pub fn written(&mut self) -> Result<(), Error> {
        self.written.take().unwrap_or(Ok(()))
    }

    /// The files written, as the end of a run lists them.
    pub fn shown(&self) -> String {
        let mut out = format!("      Report {}\n", self.json.display());
        if let Some(junit) = &self.junit {
            out += &format!("       JUnit {}\n", junit.display());
        }
        if let Some(html) = &self.html {
            out += &format!("        HTML {}\n", html.display());
        }
        out
    }

    /// The files, judged as the report's own policy says.
    pub fn write(&self, report: &Report) -> Result<(), Error> {
        let policy = report.settings.policy.unwrap_or_default();
        self.write_judged(report, &Verdict::of(report, policy))
    }

    /// The files, JUnit and HTML saying `verdict`.
    fn write_judged(&self, report: &Report, verdict: &Verdict) -> Result<(), Error> {
        // Reports in target/isolate go through the checked, open
        // directory; elsewhere they go where the user said. Either way a
        // report is a new file renamed into place: a link at its own name
        // is replaced, never followed.
        let via = |p: &Path| match (&self.pinned, p.file_name()) {
            (Some(d), Some(name)) if p.parent() == Some(d.shown()) => d.join(name),
            _ => p.to_path_buf(),
        };
        // Errors name the path the user knows, not /proc/self/fd/N.
        let shown = |p: &Path| {
            let p = p.to_path_buf();
            move |e: Error| match e {
                Error::WriteReport { source, .. } => Error::WriteReport { path: p, source },
                e => e,
            }
        };
        write_json(report, &via(&self.json)).map_err(shown(&self.json))?;
        if let Some(p) = self.junit.as_deref() {
            junit::write_with(report, verdict, &via(p), self.junit_success_output)
                .map_err(shown(p))?;
        }
        if let Some(p) = self.html.as_deref() {
            let page = html::render_with(report, self.baseline.as_ref(), verdict);
            write_atomically(&via(p), page.as_bytes()).map_err(shown(p))?;
        }
        Ok(())
    }
}

impl Subscriber for ReportFiles {
    fn on(&mut self, event: &RunEvent<'_>) {
        if let RunEvent::RunFinished {
            report, verdict, ..
        } = *event
        {
            self.written = Some(self.write_judged(report, verdict));
        }
    }
}
