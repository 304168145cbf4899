//! `--message-format json`: the run as a stream of JSON objects on stdout,
//! one per line, for CI systems and IDEs: `run-started`, `test-started`,
//! `test-finished` (with the test's full record), `run-finished`.

use super::{Report, TestRecord};
use serde_json::{Value, json};
use std::io::Write;

/// Writes events to stdout, one line each, flushed as they happen.
pub struct EventStream {
    out: std::io::Stdout,
}

impl EventStream {
    pub fn new() -> EventStream {
        EventStream {
            out: std::io::stdout(),
        }
    }

    fn emit(&mut self, event: Value) {
        let mut lock = self.out.lock();
        let _ = serde_json::to_writer(&mut lock, &event);
        let _ = lock.write_all(b"\n");
        let _ = lock.flush();
    }

    pub fn run_started(&mut self, run_id: &str, profile: &str, tests: usize, binaries: usize) {
        self.emit(json!({
            "type": "run-started",
            "run_id": run_id,
            "profile": profile,
            "tests": tests,
            "binaries": binaries,
        }));
    }

    pub fn test_started(&mut self, id: &str) {
        self.emit(json!({"type": "test-started", "id": id}));
    }

    pub fn test_finished(&mut self, record: &TestRecord) {
        self.emit(json!({"type": "test-finished", "id": record.id, "test": record}));
    }

    pub fn run_finished(&mut self, report: &Report, exit_code: u8) {
        self.emit(json!({
            "type": "run-finished",
            "complete": report.complete,
            "summary": report.summary,
            "not_run": report.not_run,
            "exit_code": exit_code,
        }));
    }
}
