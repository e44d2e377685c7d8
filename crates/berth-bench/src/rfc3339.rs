//! Engine time stamps (`State.FinishedAt`: `2024-05-01T12:34:56.123456789Z`) and this host's
//! clock, both in nanoseconds since the Unix epoch. The parser is the store's, so berth and
//! its benchmark read the engine's times one way.

use std::time::{SystemTime, UNIX_EPOCH};

pub use berth_store::time::unix_nanos_from_rfc3339 as parse_unix_nanos;

/// Now, in nanoseconds since the Unix epoch (the engine's clock is this host's).
pub fn now_unix_nanos() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0)
}
