//! Panics of the runner's own threads, which end a run with an error,
//! never a pass: what they said, and the failures and delays the
//! integration tests provoke where nothing outside the runner can
//! (`CARGO_ISOLATE_FAILPOINT=where:what`, read in debug builds only; a
//! release build has none).

/// Whether the failpoint `place:what` is set.
fn is_set(place: &str, what: &str) -> bool {
    cfg!(debug_assertions)
        && std::env::var_os("CARGO_ISOLATE_FAILPOINT")
            .is_some_and(|set| set.to_str() == Some(&format!("{place}:{what}")))
}

/// Panics when the failpoint `place:what` is set.
pub fn hit(place: &str, what: &str) {
    if is_set(place, what) {
        panic!("failpoint {place}:{what}");
    }
}

/// Waits half a second when the failpoint `place:what` is set: a step
/// that is slow for once, as under load.
pub fn stall(place: &str, what: &str) {
    if is_set(place, what) {
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

/// What a panic said, when it said it with a string.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("no message")
}
