//! The wall clock: the one place the manager reads the time ([`now`]). The engine is handed it
//! as a function (see `engine::EngineCtx`), so its time can be another in tests.

use std::time::{SystemTime, UNIX_EPOCH};

use vsm_core::Timestamp;

/// The current time.
pub(crate) fn now() -> Timestamp {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    Timestamp::from_millis(ms)
}
