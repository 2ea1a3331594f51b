//! The platform's clock. Services ask it for "now" and "today" instead of the system, so tests
//! can move time forward without sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use time::{Date, OffsetDateTime};

/// Wall-clock time plus an adjustable offset; clones share the offset.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    offset_secs: Arc<AtomicI64>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self::default()
    }

    /// Now (UTC), shifted by any offset.
    pub fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc() + time::Duration::seconds(self.offset_secs.load(Ordering::Relaxed))
    }

    /// Today's date (UTC).
    pub fn today(&self) -> Date {
        self.now().date()
    }

    /// Moves this clock (and every clone) forward by `days` (tests).
    pub fn advance_days(&self, days: i64) {
        self.offset_secs.fetch_add(days * 86_400, Ordering::Relaxed);
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
}
