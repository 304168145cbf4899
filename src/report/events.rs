//! `--message-format json`: the run as a stream of JSON objects on stdout,
//! one per line, for CI systems and IDEs: `run-started`, `test-started`,
//! `test-slow`, `attempt-finished` (a failed attempt before its retry),
//! `test-finished` (with the test's full record), `run-finished`.

use super::{Report, TestRecord};
use crate::model::{RunEvent, Subscriber};
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

impl Subscriber for EventStream {
    fn on(&mut self, event: &RunEvent<'_>) {
        match *event {
            RunEvent::RunStarted(s) => self.run_started(&s.run_id, &s.profile, s.tests, s.binaries),
            RunEvent::TestStarted { id } => self.test_started(id),
            RunEvent::TestSlow { id, elapsed } => self.emit(json!({
                "type": "test-slow",
                "id": id,
                "elapsed_ms": elapsed.as_secs_f64() * 1000.0,
            })),
            RunEvent::AttemptFinished { record } => self.emit(json!({
                "type": "attempt-finished",
                "id": record.id,
                "attempt": record.attempt,
                "test": record,
            })),
            RunEvent::TestFinished { record } => self.test_finished(record),
            RunEvent::RunFinished { report, exit_code } => self.run_finished(report, exit_code),
        }
    }
}
