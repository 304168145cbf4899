//! `cargo isolate report ...`: work with reports already written.

use crate::cli::{DiffFormat, ReportCommand};
use crate::error::{EXIT_OK, EXIT_TEST_FAILED, Error};
use crate::report::{self, Report};
use std::path::{Path, PathBuf};

/// `report merge`: the merged report is written but does not cover the
/// whole run (a share missing or given twice, a test recorded twice or by
/// a share not given it, a shard that stopped early without a failure).
/// The same code as a setup failure: not a verdict on the tests, and never
/// green.
pub const EXIT_MERGE_INCOMPLETE: u8 = 96;

pub fn run(command: &ReportCommand) -> Result<u8, Error> {
    match command {
        ReportCommand::Diff {
            old,
            new,
            format,
            limit,
        } => {
            let diff = report::diff::compare(
                &read(old)?,
                &read(new)?,
                &crate::budget::Thresholds::default(),
            );
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
        ReportCommand::Merge {
            reports,
            output,
            junit,
            html,
        } => merge(reports, output, junit.as_deref(), html.as_deref()),
    }
}

/// `report merge`: reads every report before anything is written, so a
/// refusal (exit 2) leaves no file behind.
fn merge(
    paths: &[PathBuf],
    output: &Path,
    junit: Option<&Path>,
    html: Option<&Path>,
) -> Result<u8, Error> {
    let reports = paths
        .iter()
        .map(|p| Ok((p.clone(), read(p)?)))
        .collect::<Result<Vec<_>, Error>>()?;
    let merged = report::merge::merge(reports)
        .map_err(|e| Error::Usage(format!("cannot merge the reports: {}", visible(&e))))?;
    report::write_json(&merged, output)?;
    if let Some(path) = junit {
        report::junit::write(&merged, path, false)?;
    }
    if let Some(path) = html {
        report::write_atomically(path, report::html::render(&merged, None).as_bytes())?;
    }
    for line in report::merge::describe(&merged) {
        eprintln!("{line}");
    }
    eprintln!("      Report {}", output.display());
    if let Some(path) = junit {
        eprintln!("       JUnit {}", path.display());
    }
    if let Some(path) = html {
        eprintln!("        HTML {}", path.display());
    }
    Ok(merge_exit_code(&merged))
}

/// 96 when the reports do not add up to one run (a share missing or given
/// twice, a test recorded twice or by a share not given it, a test a share
/// was given and did not report: see `MergeInfo::adds_up`), failures or
/// not; else 100 when a test did not pass (also in a shard stopped early by
/// --fail-fast, as that run said); else 96 when a shard was incomplete;
/// else 0.
fn merge_exit_code(merged: &Report) -> u8 {
    use crate::model::{Cause, Verdict};
    // Judged as the shards' run was (the first shard's policy), as its
    // JUnit and HTML judge it.
    let verdict = Verdict::of(merged, merged.settings.policy.unwrap_or_default());
    let shares_wrong = merged.merged.as_ref().is_some_and(|m| !m.adds_up());
    let run_wide = |c: &Cause| matches!(c, Cause::SharesMissing | Cause::Interrupted);
    if shares_wrong {
        EXIT_MERGE_INCOMPLETE
    } else if verdict.failures().any(|f| !run_wide(&f.cause)) {
        EXIT_TEST_FAILED
    } else if !merged.complete {
        EXIT_MERGE_INCOMPLETE
    } else {
        EXIT_OK
    }
}

/// A report file, read into the model by the one loader every `report`
/// command shares ([`report::load`]); a file that is not one is a usage
/// error naming it and what is wrong where.
fn read(path: &Path) -> Result<Report, Error> {
    report::load::read(path).map_err(|e| Error::Usage(visible(&e)))
}

/// An error's message on one visible line: it quotes what the reports hold
/// (paths, shares, checksums), which is anyone's text.
fn visible(e: &dyn std::fmt::Display) -> String {
    report::escape::for_terminal_line(&e.to_string()).into_owned()
}
