//! `cargo isolate report ...`: work with reports already written.

use crate::cli::{DiffFormat, ReportCommand};
use crate::error::{EXIT_OK, Error};
use crate::report;
use std::path::Path;

pub fn run(command: &ReportCommand) -> Result<u8, Error> {
    match command {
        ReportCommand::Diff {
            old,
            new,
            format,
            limit,
        } => {
            let diff = report::diff::compare(&read(old)?, &read(new)?).map_err(Error::Usage)?;
            print!(
                "{}",
                report::diff::render(&diff, *format == DiffFormat::Markdown, *limit)
            );
            Ok(EXIT_OK)
        }
        ReportCommand::Html {
            report,
            output,
            baseline,
        } => {
            let path = report
                .clone()
                .unwrap_or_else(|| Path::new("target/isolate/report.json").to_path_buf());
            let baseline = baseline.as_deref().map(read).transpose()?;
            let page = report::html::render(&read(&path)?, baseline.as_ref());
            report::write_atomically(output, page.as_bytes())?;
            eprintln!("        HTML {}", output.display());
            Ok(EXIT_OK)
        }
    }
}

/// A report file, as JSON; a file that is not one is a usage error.
fn read(path: &Path) -> Result<serde_json::Value, Error> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Usage(format!("cannot read {}: {e}", path.display())))?;
    serde_json::from_str(&text)
        .map_err(|e| Error::Usage(format!("{} is not a JSON report: {e}", path.display())))
}
