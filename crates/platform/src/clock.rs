//! The platform's clock. Services ask it for "now" and "today" instead of the system, so tests
//! can move time forward without sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use time::{Date, OffsetDateTime};

/// Wall-clock time plus an adjustable offset; clones share the offset.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self::default()
    }

    /// Now (UTC), shifted by any offset.
    pub fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc() + time::Duration::milliseconds(self.offset_ms.load(Ordering::Relaxed))
    }

    /// Now as milliseconds since the Unix epoch: what deadlines (pending payments, stuck sagas)
    /// are measured with.
    pub fn now_millis(&self) -> i64 {
        (self.now().unix_timestamp_nanos() / 1_000_000) as i64
    }

    /// Today's date (UTC).
    pub fn today(&self) -> Date {
        self.now().date()
    }

    /// Moves this clock (and every clone) forward by `days` (tests).
    pub fn advance_days(&self, days: i64) {
        self.offset_ms.fetch_add(days * 86_400_000, Ordering::Relaxed);
    }

    /// Moves this clock (and every clone) forward by `by` (tests: a deadline passes at once).
    pub fn advance(&self, by: std::time::Duration) {
        self.offset_ms.fetch_add(by.as_millis() as i64, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_an_advance() {
        let clock = Clock::system();
        let other = clock.clone();
        let before = other.today();
        clock.advance_days(3);
        assert_eq!(other.today(), before + time::Duration::days(3));
    }

    #[test]
    fn an_advance_in_milliseconds_moves_now_by_as_much() {
        let clock = Clock::system();
        let before = clock.now_millis();
        clock.advance(std::time::Duration::from_secs(61));
        let moved = clock.now_millis() - before;
        assert!((61_000..62_000).contains(&moved), "moved {moved} ms");
    }
}
