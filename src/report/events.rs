//! `--message-format json`: the run as a stream of JSON objects on stdout,
//! one per line, for CI systems and IDEs: `run-started`, `test-started`,
//! `test-slow`, `attempt-finished` (each attempt of each test: a failed
//! one before its retry with its full record, then the last one),
//! `test-finished` (with the test's full record), and `run-finished` with
//! the exit code and the verdict that earned it. Every event has `time`,
//! when it was written (RFC 3339 UTC, milliseconds). Nothing else is
//! written to stdout meanwhile: GitHub's workflow commands go to stderr.

use super::{Report, TestRecord, rfc3339};
use crate::model::{RunEvent, Subscriber, Verdict};
use serde_json::{Value, json};
use std::io::Write;
use std::time::SystemTime;

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

    /// `fields` as an event of `kind`, stamped with the time.
    fn emit(&mut self, kind: &str, mut fields: Value) {
        if let Value::Object(map) = &mut fields {
            map.insert("type".into(), kind.into());
            map.insert("time".into(), rfc3339(SystemTime::now()).into());
        }
        let mut lock = self.out.lock();
        let _ = serde_json::to_writer(&mut lock, &fields);
        let _ = lock.write_all(b"\n");
        let _ = lock.flush();
    }

    /// One attempt's end: its number, outcome and time, and for a failed
    /// attempt with a retry to come, its whole record.
    fn attempt_finished(&mut self, record: &TestRecord, retry: bool) {
        let mut fields = json!({
            "id": record.id,
            "attempt": record.last_attempt(),
            "outcome": record.outcome,
            "started_at": record.started_at,
            "duration_ms": record.duration_ms,
            "retry": retry,
        });
        if retry {
            fields["test"] = json!(record);
        }
        self.emit("attempt-finished", fields);
    }

    fn run_finished(&mut self, report: &Report, exit_code: u8, verdict: &Verdict) {
        self.emit(
            "run-finished",
            json!({
                "complete": report.complete,
                "summary": report.summary,
                "not_run": report.not_run,
                "exit_code": exit_code,
                "verdict": {
                    "result": verdict.word(),
                    "headline": verdict.headline(),
                    "policy": verdict.policy,
                    "findings": verdict.findings,
                },
            }),
        );
    }
}

impl Subscriber for EventStream {
    fn on(&mut self, event: &RunEvent<'_>) {
        match *event {
            RunEvent::RunStarted(s) => self.emit(
                "run-started",
                json!({
                    "run_id": s.run_id,
                    "profile": s.profile,
                    "tests": s.tests,
                    "binaries": s.binaries,
                }),
            ),
            RunEvent::TestStarted { id } => self.emit("test-started", json!({"id": id})),
            RunEvent::TestSlow {
                id,
                elapsed,
                memory_bytes,
                cpu_ms,
            } => self.emit(
                "test-slow",
                json!({
                    "id": id,
                    "elapsed_ms": elapsed.as_secs_f64() * 1000.0,
                    "memory_bytes": memory_bytes,
                    "cpu_ms": cpu_ms,
                }),
            ),
            RunEvent::AttemptFinished { record } => self.attempt_finished(record, true),
            RunEvent::TestFinished { record } => {
                self.attempt_finished(record, false);
                self.emit("test-finished", json!({"id": record.id, "test": record}));
            }
            RunEvent::RunFinished {
                report,
                exit_code,
                verdict,
            } => self.run_finished(report, exit_code, verdict),
        }
    }
}
