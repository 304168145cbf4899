//! Progress while tests run, as cargo-nextest shows it: an indicatif bar on
//! a terminal (done/total, failures so far, the running tests), one status
//! line per finished test otherwise, with a `(n/N)` counter. A test that did
//! not pass is shown as soon as it ends: its status line, why it failed and
//! the tail of its stderr and stdout. Colors follow --color,
//! CARGO_TERM_COLOR and NO_COLOR. Everything from the tests is escaped for
//! the terminal.

use super::escape::{for_terminal, for_terminal_line};
use super::{Settings, TestRecord, count, human_bytes};
use crate::model::Outcome;
use console::Style;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::BTreeSet;
use std::io::IsTerminal;

/// Lines of each stream of a failure's output shown on the terminal (the
/// report has it all).
pub const TAIL_LINES: usize = 40;

pub struct Progress {
    settings: Settings,
    /// False with --no-capture: the output already went to the terminal.
    show_output: bool,
    bar: Option<ProgressBar>,
    /// Tests that run (ignored ones are not started, not counted here).
    total: usize,
    done: usize,
    failed: usize,
    skipped: usize,
    running: BTreeSet<String>,
    /// Under a stress run: the tests whose first failure was shown in
    /// full; later failures get their status line only.
    stress_failed: Option<BTreeSet<String>>,
    shown: Shown,
}

/// Which tests get a status line as they end (`--status-level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shown {
    pub fail: bool,
    pub retry: bool,
    pub slow: bool,
    pub pass: bool,
    pub skip: bool,
}

impl Default for Shown {
    /// nextest's default, `pass`: all but skipped tests.
    fn default() -> Shown {
        Shown {
            fail: true,
            retry: true,
            slow: true,
            pass: true,
            skip: false,
        }
    }
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

pub fn outcome_style(outcome: Outcome) -> Style {
    match outcome {
        Outcome::Passed => Style::new().green().bold().for_stderr(),
        Outcome::Ignored => Style::new().yellow().bold().for_stderr(),
        _ => Style::new().red().bold().for_stderr(),
    }
}

/// The status word, as nextest writes it: PASS, FAIL, SKIP, TIMEOUT,
/// SIGSEGV (the signal), plus OOM and SETUP ERR.
pub fn label(t: &TestRecord) -> String {
    let word = word(t.outcome, t.signal.as_deref());
    // One run of a stress run, retried: "RUN 3 TRY 2 PASS".
    if let (Some(run), Some(last)) = (t.stress_run, t.attempts.last()) {
        return format!("RUN {run} TRY {} {word}", last.attempt);
    }
    match (t.attempts.is_empty(), t.attempt) {
        // A retried test's last attempt: "TRY 3 PASS", as nextest.
        (false, Some(n)) => format!("TRY {n} {word}"),
        // One run of a stress run.
        (true, Some(n)) if t.stress.is_none() => format!("RUN {n} {word}"),
        _ => word,
    }
}

/// The status word of an outcome alone: PASS, FAIL, SIGSEGV...
pub fn word(outcome: Outcome, signal: Option<&str>) -> String {
    match outcome {
        Outcome::Passed => "PASS".into(),
        Outcome::Failed => "FAIL".into(),
        Outcome::Ignored => "SKIP".into(),
        Outcome::TimedOut => "TIMEOUT".into(),
        Outcome::OomKilled => "OOM".into(),
        Outcome::Signaled => signal
            .map(|s| for_terminal_line(s).into_owned())
            .unwrap_or_else(|| "SIGNAL".into()),
        Outcome::SetupError => "SETUP ERR".into(),
    }
}

/// The id, escaped: the binary id in magenta, the test name in blue.
pub fn styled_id(t: &TestRecord) -> String {
    let binary = Style::new().magenta().bold().for_stderr();
    let name = Style::new().blue().bold().for_stderr();
    match t
        .id
        .strip_prefix(t.binary_id.as_str())
        .and_then(|rest| rest.strip_prefix(' '))
    {
        Some(rest) if !t.binary_id.is_empty() => format!(
            "{} {}",
            binary.apply_to(for_terminal_line(&t.binary_id)),
            name.apply_to(for_terminal_line(rest))
        ),
        _ => binary.apply_to(for_terminal_line(&t.id)).to_string(),
    }
}

/// `        FAIL [   0.012s   1.0 MiB] (3/8) p::b t`: the status word, the
/// duration and peak memory (blank when not measured), the counter when
/// there is one, the id escaped.
pub fn status_line(t: &TestRecord, counter: Option<(usize, usize)>) -> String {
    let duration = t
        .duration_ms
        .map(|d| format!("{:>8.3}s", d / 1000.0))
        .unwrap_or_default();
    let memory = t
        .peak_memory_bytes
        .or(t.peak_rss_bytes)
        .map(human_bytes)
        .unwrap_or_default();
    let counter = match counter {
        Some((n, total)) => {
            let w = total.to_string().len();
            format!("({n:>w$}/{total}) ")
        }
        None => String::new(),
    };
    format!(
        "{:>12} [{duration:>9} {memory:>10}] {counter}{}",
        outcome_style(t.outcome).apply_to(label(t)),
        styled_id(t)
    )
}

/// The last `max` lines of `text` (blank lines at either end left out) and
/// how many lines were cut before them.
fn tail(text: &str, max: usize) -> (Vec<&str>, usize) {
    let mut lines: Vec<&str> = text.lines().collect();
    while lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
    }
    let first = lines
        .iter()
        .position(|l| !l.trim().is_empty())
        .unwrap_or(lines.len());
    let lines = &lines[first..];
    let cut = lines.len().saturating_sub(max);
    (lines[cut..].to_vec(), cut)
}

/// What follows the status line of a test that did not pass: why, in one
/// line, then the tail of its stderr and of its stdout, escaped.
pub fn failure_detail(t: &TestRecord, settings: &Settings, show_output: bool) -> String {
    let mut out = format!(
        "{:>12} {}\n",
        "",
        Style::new()
            .bold()
            .for_stderr()
            .apply_to(for_terminal_line(&t.reason(settings)))
    );
    if let Some(replay) = &t.replay {
        out += &format!(
            "{:>12} {} {}\n",
            "",
            Style::new().dim().for_stderr().apply_to("replay:"),
            for_terminal_line(replay)
        );
    }
    if let Some(hang) = &t.hang {
        out += &hang_detail(hang);
    }
    if !show_output {
        return out;
    }
    let mut any = false;
    for (label, text) in [("stderr", &t.stderr), ("stdout", &t.stdout)] {
        let (lines, cut) = tail(text, TAIL_LINES);
        if lines.is_empty() {
            continue;
        }
        any = true;
        let note = match cut {
            0 => String::new(),
            n => format!(
                " ({} cut, the last {TAIL_LINES} shown; the report has them all)",
                count(n, "line", "lines")
            ),
        };
        out += &format!(
            "  {}{note}\n",
            outcome_style(t.outcome).apply_to(format!("{label} ───"))
        );
        for l in lines {
            match l.trim().is_empty() {
                true => out.push('\n'),
                false => out += &format!("    {}\n", for_terminal(l)),
            }
        }
    }
    if any {
        out.push('\n');
    }
    out
}

/// Threads of a hung test shown on the terminal; the report has them all.
const HANG_THREADS_SHOWN: usize = 8;

/// Where a test killed at its timeout was: one line per thread (its name
/// and stack frames are the test's text, escaped), then why stacks are
/// missing, if they are.
fn hang_detail(hang: &crate::model::Hang) -> String {
    let dim = Style::new().dim().for_stderr();
    let total = hang.threads.len() as u64 + hang.threads_omitted;
    let by = match &hang.debugger {
        Some(d) => format!(", stacks by {d}"),
        None => String::new(),
    };
    let mut out = format!(
        "{:>12} {}\n",
        "",
        dim.apply_to(format!(
            "when killed ({}{by}, read in {:.0} ms):",
            count(total as usize, "thread", "threads"),
            hang.inspect_ms
        ))
    );
    for t in hang.threads.iter().take(HANG_THREADS_SHOWN) {
        out += &format!("{:>12}   {}\n", "", for_terminal_line(&t.line()));
    }
    let more = total.saturating_sub(HANG_THREADS_SHOWN.min(hang.threads.len()) as u64);
    if more > 0 {
        out += &format!(
            "{:>12}   {}\n",
            "",
            dim.apply_to(format!(
                "and {more} more (the report keeps {} of {total})",
                hang.threads.len()
            ))
        );
    }
    if let Some(note) = &hang.note {
        out += &format!("{:>12}   {}\n", "", dim.apply_to(for_terminal_line(note)));
    }
    out
}

impl Progress {
    /// `total`: the tests that run, as the "Starting N tests" header counts
    /// them (ignored tests are reported but not started, and not counted).
    /// `show_output`: print a failure's output tail (false with --no-capture,
    /// where it was streamed already).
    pub fn new(total: usize, settings: Settings, show_output: bool) -> Progress {
        let mut p = Progress::plain(total, settings, show_output);
        p.bar = std::io::stderr().is_terminal().then(|| {
            let pb =
                ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
            pb.set_style(
                ProgressStyle::with_template(
                    "{prefix:>12.green.bold} [{elapsed_precise}] {bar:30} {pos}/{len}: {wide_msg}",
                )
                .expect("valid template"),
            );
            pb.set_prefix("Running");
            pb.enable_steady_tick(std::time::Duration::from_millis(120));
            pb
        });
        p.refresh();
        p
    }

    /// Without a bar: one line per test on stderr.
    fn plain(total: usize, settings: Settings, show_output: bool) -> Progress {
        Progress {
            settings,
            show_output,
            bar: None,
            total,
            done: 0,
            failed: 0,
            skipped: 0,
            running: BTreeSet::new(),
            stress_failed: None,
            shown: Shown::default(),
        }
    }

    /// Which status lines to print.
    pub fn showing(mut self, shown: Shown) -> Self {
        self.shown = shown;
        self
    }

    /// A stress run: every run is a line, only a test's first failure
    /// shows its output.
    pub fn stress(mut self) -> Self {
        self.stress_failed = Some(BTreeSet::new());
        self
    }

    pub fn started(&mut self, id: &str) {
        self.running.insert(id.to_string());
        self.refresh();
    }

    pub fn finished(&mut self, t: &TestRecord) {
        let text = self.record(t);
        self.print(&text);
    }

    /// An attempt that failed, with a retry to come: a line with why it
    /// failed (its output is in the report).
    pub fn attempt_failed(&mut self, a: &TestRecord) {
        if !self.shown.retry {
            return;
        }
        let line = format!(
            "{:>12} [{:>9} {:>10}] {}: {}\n",
            outcome_style(a.outcome).apply_to(format!(
                "{}TRY {} {}",
                a.stress_run
                    .map(|r| format!("RUN {r} "))
                    .unwrap_or_default(),
                a.attempt.unwrap_or(1),
                word(a.outcome, a.signal.as_deref())
            )),
            a.duration_ms
                .map(|d| format!("{:>8.3}s", d / 1000.0))
                .unwrap_or_default(),
            a.peak_memory_bytes.map(human_bytes).unwrap_or_default(),
            styled_id(a),
            for_terminal_line(
                a.panic_message
                    .as_deref()
                    .or(a.error.as_deref())
                    .unwrap_or(a.outcome.as_str())
            )
        );
        self.print(&line);
    }

    /// `        SLOW [> 60.000s   12.0 MiB] p::b t (CPU 59.1s)`, as nextest
    /// says it, with the memory the test holds and the CPU it used so far:
    /// a test that spins is told from one that waits.
    pub fn slow(
        &mut self,
        id: &str,
        elapsed: std::time::Duration,
        memory_bytes: Option<u64>,
        cpu_ms: Option<f64>,
    ) {
        if !self.shown.slow {
            return;
        }
        let cpu = cpu_ms
            .map(|ms| format!(" (CPU {:.1}s)", ms / 1000.0))
            .unwrap_or_default();
        let line = format!(
            "{:>12} [>{:>8.3}s {:>10}] {}{cpu}\n",
            Style::new().yellow().bold().for_stderr().apply_to("SLOW"),
            elapsed.as_secs_f64(),
            memory_bytes.map(human_bytes).unwrap_or_default(),
            for_terminal_line(id)
        );
        self.print(&line);
    }

    fn print(&mut self, text: &str) {
        match &self.bar {
            Some(pb) => {
                pb.suspend(|| eprint!("{text}"));
                if self.done <= self.total {
                    pb.set_position(self.done as u64);
                }
                self.refresh();
            }
            None => eprint!("{text}"),
        }
    }

    /// Counts `t` and gives what to print for it. A test that was started
    /// counts towards n/N; an ignored one (never started) does not.
    fn record(&mut self, t: &TestRecord) -> String {
        let was_running = self.running.remove(&t.id);
        let counted = was_running || t.outcome != Outcome::Ignored;
        let counter = if counted {
            self.done += 1;
            // The counter only without the bar, which shows it itself.
            self.bar
                .is_none()
                .then_some((self.done, self.total.max(self.done)))
        } else {
            self.skipped += 1;
            None
        };
        let mut text = String::new();
        let shown = match t.outcome {
            Outcome::Passed => self.shown.pass,
            Outcome::Ignored => self.shown.skip,
            _ => self.shown.fail,
        };
        if shown {
            text += &status_line(t, counter);
            text.push('\n');
        }
        if !t.outcome.is_success() {
            self.failed += 1;
            let first = match &mut self.stress_failed {
                Some(seen) => seen.insert(t.id.clone()),
                None => true,
            };
            if first && self.shown.fail {
                text += &failure_detail(t, &self.settings, self.show_output);
            }
        }
        text
    }

    fn refresh(&self) {
        if let Some(pb) = &self.bar {
            let running: Vec<_> = self
                .running
                .iter()
                .take(3)
                .map(|id| for_terminal_line(id))
                .collect();
            let mut msg = format!("{} running", self.running.len());
            if self.failed > 0 {
                msg += &format!(", {} failed", self.failed);
            }
            if self.skipped > 0 {
                msg += &format!(", {} skipped", self.skipped);
            }
            if !running.is_empty() {
                msg += &format!(" · {}", running.join(", "));
            }
            pb.set_message(msg);
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

    use crate::report::testing::settings;

    fn record(id: &str, outcome: &'static str) -> TestRecord {
        let mut t = TestRecord::new(format!("demo {id}"), "demo", "demo", "lib", Some(id.into()));
        t.outcome = outcome.into();
        if outcome != "ignored" {
            t.duration_ms = Some(4.0);
            t.peak_memory_bytes = Some(1 << 20);
        }
        t
    }

    fn plain(s: &str) -> String {
        console::strip_ansi_codes(s).into_owned()
    }

    #[test]
    fn status_line_escapes_the_id() {
        let mut t = TestRecord::new("p::b::t\x1b[2K\r\n".into(), "p", "b", "test", None);
        t.outcome = "passed".into();
        t.duration_ms = Some(1.0);
        t.peak_memory_bytes = Some(1 << 20);
        assert_eq!(
            plain(&status_line(&t, None)),
            "        PASS [   0.001s    1.0 MiB] p::b::t\\x1b[2K\\r\\n"
        );
    }

    #[test]
    fn lines_without_a_bar_carry_a_counter_of_the_tests_that_run() {
        let settings = settings();
        let mut p = Progress::plain(3, settings.clone(), true).showing(Shown {
            skip: true,
            ..Shown::default()
        });
        let mut lines = Vec::new();
        for (id, outcome) in [
            ("tests::a", "passed"),
            ("tests::skipped", "ignored"),
            ("tests::b", "passed"),
            ("tests::c", "passed"),
        ] {
            let t = record(id, outcome);
            if outcome != "ignored" {
                p.started(&t.id);
            }
            lines.push(plain(&p.record(&t)));
        }
        assert_eq!(
            lines,
            [
                "        PASS [   0.004s    1.0 MiB] (1/3) demo tests::a\n",
                "        SKIP [                    ] demo tests::skipped\n",
                "        PASS [   0.004s    1.0 MiB] (2/3) demo tests::b\n",
                "        PASS [   0.004s    1.0 MiB] (3/3) demo tests::c\n",
            ]
        );
        assert_eq!((p.done, p.skipped, p.failed), (3, 1, 0));
    }

    /// nextest's default status level shows no skipped test; `none`
    /// shows nothing, and still counts.
    #[test]
    fn the_status_level_chooses_the_lines() {
        let mut p = Progress::plain(2, settings(), true);
        assert_eq!(p.record(&record("tests::skipped", "ignored")), "");
        assert!(plain(&p.record(&record("tests::a", "passed"))).contains("PASS"));
        let none = Shown {
            fail: false,
            retry: false,
            slow: false,
            pass: false,
            skip: false,
        };
        let mut p = Progress::plain(1, settings(), true).showing(none);
        assert_eq!(p.record(&record("tests::b", "failed")), "");
        assert_eq!((p.done, p.failed), (1, 1));
    }

    #[test]
    fn the_counter_is_padded_to_the_total() {
        let t = record("tests::a", "passed");
        assert!(plain(&status_line(&t, Some((3, 12)))).contains("] ( 3/12) demo tests::a"));
    }

    #[test]
    fn a_failure_is_shown_at_once_with_its_reason_and_escaped_output() {
        let settings = settings();
        let mut p = Progress::plain(1, settings.clone(), true);
        let mut t = record("tests::evil\x1b]0;pwned\x07", "failed");
        t.exit_code = Some(101);
        t.panic_message = Some("boom \x1b[2J".into());
        t.stdout = "\nrunning 1 test\n\x1b[2J\x1b[Hcleared\r\nprogress 50%\rdone\n\n".into();
        t.stderr = "\u{9b}31mred\tand tab\n".into();
        p.started(&t.id);
        let out = p.record(&t);
        let text = plain(&out);
        assert!(!text.contains('\x1b') && !text.contains('\r') && !text.contains('\x07'));
        assert!(!text.contains('\u{9b}'));
        assert_eq!(
            text,
            "        FAIL [   0.004s    1.0 MiB] (1/1) demo tests::evil\\x1b]0;pwned\\x07\n\
             \x20            panicked: boom \\x1b[2J\n\
             \x20 stderr ───\n\
             \x20   \\u{9b}31mred\tand tab\n\
             \x20 stdout ───\n\
             \x20   running 1 test\n\
             \x20   \\x1b[2J\\x1b[Hcleared\n\
             \x20   progress 50%\\rdone\n\
             \n"
        );
        assert_eq!(p.failed, 1);
    }

    #[test]
    fn the_reason_says_what_killed_it() {
        let settings = settings();
        let mut t = record("tests::big", "oom_killed");
        t.panic_message = Some("out of memory".into());
        let text = plain(&failure_detail(&t, &settings, true));
        assert_eq!(
            text,
            "             killed at the memory limit of 32.0 MiB, after it panicked: out of memory\n"
        );
        t.outcome = "signaled".into();
        t.signal = Some("SIGSEGV".into());
        assert!(plain(&status_line(&t, None)).starts_with("     SIGSEGV ["));
        t.outcome = "timed_out".into();
        assert!(plain(&status_line(&t, None)).starts_with("     TIMEOUT ["));
        assert!(plain(&failure_detail(&t, &settings, true)).contains("timed out after 3s"));
    }

    #[test]
    fn only_the_tail_of_long_output_is_shown() {
        let settings = settings();
        let mut t = record("tests::noisy", "failed");
        t.stderr = (1..=100).map(|i| format!("line {i}\n")).collect();
        let text = plain(&failure_detail(&t, &settings, true));
        assert!(
            text.contains("  stderr ─── (60 lines cut, the last 40 shown; the report has them all)\n    line 61\n"),
            "{text}"
        );
        assert!(text.ends_with("    line 100\n\n"), "{text}");
        assert!(!text.contains("line 60\n"));
        assert!(!text.contains("stdout"));
        // Streamed already with --no-capture: the reason only.
        let text = plain(&failure_detail(&t, &settings, false));
        assert_eq!(text.lines().count(), 1, "{text}");
    }

    #[test]
    fn a_hung_test_shows_a_line_per_thread_escaped_and_bounded() {
        use crate::model::{Hang, HungThread};
        let settings = settings();
        let mut t = record("tests::hangs", "timed_out");
        let thread = |tid: i32, name: &str| HungThread {
            pid: 40,
            tid,
            name: name.into(),
            state: "S".into(),
            wchan: Some("futex_do_wait".into()),
            syscall: Some("futex".into()),
            stack: vec!["syscall".into(), "demo::waits".into()],
        };
        let mut threads = vec![thread(40, "main"), thread(41, "\x1b[2Jevil")];
        threads.extend((42..52).map(|tid| thread(tid, "crowd")));
        t.hang = Some(Hang {
            threads,
            threads_omitted: 3,
            debugger: Some("eu-stack".into()),
            note: Some("a note\r\x1b[1A".into()),
            inspect_ms: 21.4,
        });
        let text = plain(&failure_detail(&t, &settings, false));
        let lines: Vec<&str> = text.lines().skip(1).collect();
        assert_eq!(
            lines[..3],
            [
                "             when killed (15 threads, stacks by eu-stack, read in 21 ms):",
                "               thread 'main' (tid 40) S futex_do_wait  futex  at demo::waits",
                "               thread '\\x1b[2Jevil' (tid 41) S futex_do_wait  futex  at demo::waits",
            ]
        );
        assert_eq!(lines.len(), 1 + 8 + 2, "{text}");
        assert_eq!(
            lines[9],
            "               and 7 more (the report keeps 12 of 15)"
        );
        assert_eq!(lines[10], "               a note\\r\\x1b[1A");
    }
}
