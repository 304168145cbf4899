//! Panics of the runner's own threads, which end a run with an error,
//! never a pass: what they said, and the failures the integration tests
//! provoke where nothing outside the runner can (`CARGO_ISOLATE_FAILPOINT=
//! where:what`, read in debug builds only; a release build has none).

/// Panics when the failpoint `place:what` is set.
pub fn hit(place: &str, what: &str) {
    if cfg!(debug_assertions)
        && let Some(set) = std::env::var_os("CARGO_ISOLATE_FAILPOINT")
        && set.to_str() == Some(&format!("{place}:{what}"))
    {
        panic!("failpoint {place}:{what}");
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
