//! Where a test was when it was killed at its timeout ([`Hang`]): each
//! thread of each of its processes, its kernel state, wait channel and
//! system call, and, where a debugger could attach, its stack. It tells a
//! real hang (every thread asleep in `futex` or `accept4`) from a busy
//! retry loop (a thread running, or in `nanosleep` under a loop).

use serde::{Deserialize, Serialize};

/// What the runner saw of a test's threads just before it killed it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Hang {
    /// The threads, by process then thread id (host ids).
    pub threads: Vec<HungThread>,
    /// Threads seen but not recorded (past the report's bound).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub threads_omitted: u64,
    /// The debugger that read the stacks ("eu-stack", "gdb"); null: none
    /// did (`note` says why).
    pub debugger: Option<String>,
    /// Why stacks (or part of the rest) are missing, when they are.
    #[serde(default)]
    pub note: Option<String>,
    /// How long the inspection held up the kill.
    pub inspect_ms: f64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One thread of a hung test.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HungThread {
    /// Its process id, as the host sees it.
    pub pid: i32,
    /// Its thread id, as the host sees it.
    pub tid: i32,
    /// Its name (`comm`: at most 15 bytes, set by the test).
    pub name: String,
    /// Its state letter from `stat` (R running, S sleeping, D disk wait,
    /// T stopped, Z zombie...).
    pub state: String,
    /// The kernel function it sleeps in (`wchan`); null when running or
    /// not readable.
    pub wchan: Option<String>,
    /// The system call it is in, by name where known ("futex",
    /// "accept4"), else "syscall N"; "running" in user space; null when
    /// not readable.
    pub syscall: Option<String>,
    /// Its user-space stack, innermost first, function names demangled;
    /// empty without a debugger.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stack: Vec<String>,
}

/// Crates whose frames are the runtime's, not the test's own code.
const RUNTIME_CRATES: [&str; 5] = ["std", "core", "alloc", "test", "panic_unwind"];

impl HungThread {
    /// The innermost frame of the test's own code: the first that names a
    /// Rust path outside the standard library and the test harness (libc's
    /// frames and `<T as Trait>` shims are skipped).
    pub fn own_frame(&self) -> Option<&str> {
        self.stack.iter().map(String::as_str).find(|f| {
            f.split_once("::").is_some_and(|(krate, _)| {
                !krate.is_empty() && !krate.starts_with('<') && !RUNTIME_CRATES.contains(&krate)
            })
        })
    }

    /// One line for a person: `thread 'waiter' (tid 12) S futex_do_wait
    /// futex at hang::waits`.
    pub fn line(&self) -> String {
        let mut line = format!("thread '{}' (tid {}) {}", self.name, self.tid, self.state);
        if let Some(w) = &self.wchan {
            line += &format!(" {w}");
        }
        if let Some(s) = &self.syscall {
            line += &format!("  {s}");
        }
        if let Some(f) = self.own_frame() {
            line += &format!("  at {f}");
        } else if let Some(f) = self.stack.first() {
            line += &format!("  in {f}");
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thread(stack: &[&str]) -> HungThread {
        HungThread {
            pid: 7,
            tid: 9,
            name: "waiter".into(),
            state: "S".into(),
            wchan: Some("futex_do_wait".into()),
            syscall: Some("futex".into()),
            stack: stack.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn the_own_frame_is_the_first_outside_the_runtime() {
        let t = thread(&[
            "syscall",
            "std::sys::sync::condvar::futex::Condvar::wait",
            "<core::panic::unwind_safe::AssertUnwindSafe<F> as core::ops::FnOnce<()>>::call_once",
            "hang::hang_waiter_blocks_on_condvar",
            "hang::waits_forever_on_a_condvar::{{closure}}",
        ]);
        assert_eq!(t.own_frame(), Some("hang::hang_waiter_blocks_on_condvar"));
        assert_eq!(
            t.line(),
            "thread 'waiter' (tid 9) S futex_do_wait  futex  at hang::hang_waiter_blocks_on_condvar"
        );
        let runtime_only = thread(&["syscall", "std::thread::park", "test::run_test"]);
        assert_eq!(runtime_only.own_frame(), None);
        assert!(runtime_only.line().ends_with("  in syscall"));
        assert!(thread(&[]).line().ends_with("futex"));
    }
}
