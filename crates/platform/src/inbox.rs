//! The idempotent inbox: a consumer records each handled event id in the same transaction as its
//! effect, so a redelivered event finds its id taken and changes nothing.
//!
//! Entries are pruned once older than the retention ([`prune`]), so the table does not grow
//! without bound. That stays safe because an event older than the retention is never applied
//! ([`within`]): if it was handled before, its entry was at least as old as the event itself, so
//! it is pruned only once the event is too old to be applied again. Such an event is parked as a
//! dead letter for an operator instead. The retention (30 days by default) is far longer than any
//! redelivery: Kafka keeps a topic 7 days by default, and a relay re-publishes within seconds.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::db::{Db, Migration, Tx};
use crate::events::Envelope;

/// The inbox table; add it to a consuming service's migrations.
pub const MIGRATION: Migration = Migration {
    version: 9001,
    name: "inbox",
    sql: "CREATE TABLE inbox (consumer TEXT NOT NULL, event_id TEXT NOT NULL, handled_at TEXT NOT NULL,
          PRIMARY KEY (consumer, event_id))",
};

/// When each entry was handled, in ms, so entries can be pruned.
pub const HANDLED_MS_MIGRATION: Migration = Migration {
    version: 9004,
    name: "inbox handled time",
    sql: "ALTER TABLE inbox ADD COLUMN handled_ms BIGINT NOT NULL DEFAULT 0",
};

/// Room for clocks that disagree between the producer of an event and its consumer.
pub const SKEW_MARGIN: Duration = Duration::from_secs(3600);

/// Whether `event` may be applied at `now_ms`: it is younger than `retention` (less the skew
/// margin), so an entry from an earlier handling of it has not been pruned. Events whose time
/// cannot be read are taken to be fresh.
pub fn within(event: &Envelope, now_ms: i64, retention: Duration) -> bool {
    let Some(at_ms) = crate::time::parse_rfc3339_millis(&event.time) else { return true };
    at_ms >= now_ms - retention.as_millis() as i64 + SKEW_MARGIN.as_millis() as i64
}

/// Entries handled before this instant (ms) are pruned at `now_ms`.
fn cutoff(now_ms: i64, retention: Duration) -> i64 {
    now_ms - retention.as_millis() as i64
}

/// Deletes entries handled before `now_ms - retention`; returns how many went.
pub async fn prune(db: &Db, now_ms: i64, retention: Duration) -> anyhow::Result<u64> {
    let cutoff = cutoff(now_ms, retention);
    let cutoff_text = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(cutoff) * 1_000_000)
        .map(crate::time::format_rfc3339)
        .unwrap_or_default();
    // Entries written before `handled_ms` existed are judged by their RFC 3339 text.
    let gone = sqlx::query(
        "DELETE FROM inbox WHERE (handled_ms > 0 AND handled_ms < $1) OR (handled_ms = 0 AND handled_at < $2)",
    )
    .bind(cutoff)
    .bind(cutoff_text)
    .execute(db.writer())
    .await?;
    Ok(gone.rows_affected())
}

/// Prunes `db`'s inbox hourly until `shutdown`.
pub async fn prune_hourly(db: Db, retention: Duration, shutdown: CancellationToken) {
    crate::time::hourly("inbox entries pruned", shutdown, || prune(&db, crate::time::now_millis(), retention)).await;
}

/// Claims `event_id` for `consumer` inside `tx`. Returns `false` when it was already handled:
/// the caller must then leave the transaction without effect.
pub async fn claim(tx: &mut Tx, consumer: &str, event_id: &str) -> anyhow::Result<bool> {
    let inserted = sqlx::query(
        "INSERT INTO inbox (consumer, event_id, handled_at, handled_ms) VALUES ($1, $2, $3, $4)
         ON CONFLICT (consumer, event_id) DO NOTHING",
    )
    .bind(consumer)
    .bind(event_id)
    .bind(crate::time::now_rfc3339())
    .bind(crate::time::now_millis())
    .execute(&mut **tx)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Db;

    #[tokio::test]
    async fn an_event_is_claimed_once_per_consumer() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::sqlite_in(dir.path(), "x.db").await.unwrap();
        db.migrate(&[MIGRATION, HANDLED_MS_MIGRATION]).await.unwrap();
        let mut tx = db.begin().await.unwrap();
        assert!(claim(&mut tx, "c", "e1").await.unwrap());
        assert!(!claim(&mut tx, "c", "e1").await.unwrap());
        assert!(claim(&mut tx, "other", "e1").await.unwrap());
        tx.commit().await.unwrap();
    }

    const HOUR: i64 = 3_600_000;

    fn event_at(ms: i64) -> Envelope {
        let mut e = Envelope::new("t", "Thing", "thing/1".into(), serde_json::json!({}));
        let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap();
        e.time = crate::time::format_rfc3339(at);
        e
    }

    proptest::proptest! {
        /// Whenever an event is still young enough to be applied, the entry of its first handling
        /// has survived every prune before: a redelivery is always recognised.
        #[test]
        fn an_event_young_enough_to_apply_never_lost_its_inbox_entry(
            event_ms in 0i64..(240 * HOUR),
            first_delay in -HOUR..(240 * HOUR),
            prune_after in 0i64..(960 * HOUR),
            redeliver_after in 0i64..(720 * HOUR),
            retention_h in 24i64..720,
        ) {
            let retention = Duration::from_secs(retention_h as u64 * 3600);
            let handled = event_ms + first_delay;
            let pruned_at = handled + prune_after;
            let redelivered = pruned_at + redeliver_after;
            let base = 1_700_000_000_000;
            if within(&event_at(base + event_ms), base + redelivered, retention) {
                proptest::prop_assert!(handled >= cutoff(pruned_at, retention));
            }
        }
    }

    #[tokio::test]
    async fn pruning_keeps_recent_entries_and_drops_old_ones() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::sqlite_in(dir.path(), "x.db").await.unwrap();
        db.migrate(&[MIGRATION, HANDLED_MS_MIGRATION]).await.unwrap();
        let mut tx = db.begin().await.unwrap();
        claim(&mut tx, "c", "e1").await.unwrap();
        tx.commit().await.unwrap();
        let day = Duration::from_secs(86_400);
        let now = crate::time::now_millis();
        assert_eq!(prune(&db, now + 3_600_000, day).await.unwrap(), 0);
        let mut tx = db.begin().await.unwrap();
        assert!(!claim(&mut tx, "c", "e1").await.unwrap(), "still recognised after a prune");
        drop(tx);
        assert_eq!(prune(&db, now + 2 * 86_400_000, day).await.unwrap(), 1);
    }

    #[test]
    fn only_events_younger_than_the_retention_are_applied() {
        let now = 1_700_000_000_000;
        let retention = Duration::from_secs(30 * 86_400);
        assert!(within(&event_at(now - 5_000), now, retention));
        assert!(!within(&event_at(now - 30 * 86_400_000), now, retention));
        let mut unreadable = event_at(now);
        unreadable.time = "yesterday".into();
        assert!(within(&unreadable, now, retention), "a time that cannot be read is no reason to park");
    }

    #[tokio::test]
    async fn a_rolled_back_claim_leaves_the_event_unhandled() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::sqlite_in(dir.path(), "x.db").await.unwrap();
        db.migrate(&[MIGRATION, HANDLED_MS_MIGRATION]).await.unwrap();
        let mut tx = db.begin().await.unwrap();
        assert!(claim(&mut tx, "c", "e1").await.unwrap());
        drop(tx);
        let mut tx = db.begin().await.unwrap();
        assert!(claim(&mut tx, "c", "e1").await.unwrap());
    }
}
