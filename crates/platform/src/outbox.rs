//! The transactional outbox: a service writes its events in the same transaction as the state
//! change, and the [`Relay`] publishes them afterwards. A crash between publishing and deleting
//! re-publishes; consumers' inboxes make that harmless.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::db::{Db, Dialect, Migration, Tx};
use crate::events::{Envelope, Record, Transport};

/// The outbox table; add it to a producing service's migrations.
pub const MIGRATION: Migration = Migration {
    version: 9000,
    name: "outbox",
    sql: "CREATE TABLE outbox (seq {id}, topic TEXT NOT NULL, msg_key TEXT NOT NULL, body TEXT NOT NULL)",
};

const BATCH: i64 = 200;

/// Writes `envelope` to the outbox inside `tx`, for `topic`, keyed by the envelope's subject.
pub async fn enqueue(tx: &mut Tx, topic: &str, envelope: &Envelope) -> anyhow::Result<()> {
    sqlx::query("INSERT INTO outbox (topic, msg_key, body) VALUES ($1, $2, $3)")
        .bind(topic)
        .bind(&envelope.subject)
        .bind(serde_json::to_string(envelope)?)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Builds an event about `subject` with payload `data` and writes it to the outbox inside `tx`.
pub async fn emit<T: serde::Serialize>(
    tx: &mut Tx,
    topic: &str,
    kind: &str,
    subject: String,
    data: &T,
) -> anyhow::Result<()> {
    let envelope = Envelope::new(topic, kind, subject, serde_json::to_value(data)?);
    enqueue(tx, topic, &envelope).await
}

/// Wakes a relay after a commit so events go out without waiting for the next poll.
#[derive(Clone, Default, Debug)]
pub struct Waker(Arc<Notify>);

impl Waker {
    /// Tells the relay there is something to publish.
    pub fn wake(&self) {
        self.0.notify_one();
    }

    /// Commits `tx`, then wakes the relay.
    pub async fn commit(&self, tx: Tx) -> anyhow::Result<()> {
        tx.commit().await?;
        self.wake();
        Ok(())
    }
}

/// Moves committed outbox rows to the transport, oldest first.
pub struct Relay {
    service: &'static str,
    db: Db,
    transport: Arc<dyn Transport>,
    waker: Waker,
    poll_interval: Duration,
}

impl Relay {
    /// A relay for `db`'s outbox; `waker` is the handle the service calls after commits.
    pub fn new(service: &'static str, db: Db, transport: Arc<dyn Transport>, waker: Waker) -> Self {
        Self { service, db, transport, waker, poll_interval: Duration::from_millis(200) }
    }

    /// Publishes until `shutdown`, then flushes what is left (for at most `flush_for`).
    pub async fn run(self, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            match self.publish_batch().await {
                Ok(n) if n > 0 => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %format!("{e:#}"), "outbox relay failed; will retry"),
            }
            tokio::select! {
                _ = self.waker.0.notified() => {}
                _ = tokio::time::sleep(self.poll_interval) => {}
                _ = shutdown.cancelled() => {}
            }
        }
        self.flush(Duration::from_secs(5)).await;
    }

    async fn flush(&self, within: Duration) {
        let flushed = tokio::time::timeout(within, async {
            while let Ok(n) = self.publish_batch().await {
                if n == 0 {
                    return true;
                }
            }
            false
        })
        .await;
        if !matches!(flushed, Ok(true)) {
            tracing::warn!("outbox not fully flushed at shutdown; the rest goes out at next start");
        }
    }

    /// Publishes one batch; returns how many rows went out.
    ///
    /// Several instances of a service share one outbox on PostgreSQL. One relay at a time holds
    /// the outbox (a transaction-scoped advisory lock, taken with `try`, so the others never wait
    /// on it: they find nothing to do and look again later). `FOR UPDATE SKIP LOCKED` alone would
    /// let two relays publish one reservation's events out of order. A relay that dies mid-batch
    /// loses its lock with its connection; the next one publishes the batch again, which the
    /// consumers' inboxes make harmless.
    ///
    /// On SQLite (one process owns the file, so one relay) the rows are read on a reader
    /// connection and deleted by the writer afterwards, without an enclosing transaction: the
    /// relay never holds the database's one writer connection while it waits for the transport
    /// (on Kafka, the broker's acknowledgement), which would stall every write of the service.
    pub async fn publish_batch(&self) -> anyhow::Result<usize> {
        if self.db.dialect() == Dialect::Sqlite {
            let rows = Self::unpublished(&mut *self.db.pool().acquire().await?).await?;
            let Some(published) = self.publish(rows).await? else { return Ok(0) };
            return Self::delete(&mut *self.db.writer().acquire().await?, &published).await;
        }
        let mut tx = self.db.writer().begin().await?;
        let lock = "SELECT pg_try_advisory_xact_lock(hashtext(current_schema() || '.outbox'))";
        if !sqlx::query_scalar::<_, bool>(lock).fetch_one(&mut *tx).await? {
            return Ok(0);
        }
        let rows = Self::unpublished(&mut tx).await?;
        let n = match self.publish(rows).await? {
            Some(published) => Self::delete(&mut tx, &published).await?,
            None => 0,
        };
        tx.commit().await?;
        Ok(n)
    }

    /// The oldest batch of the outbox.
    async fn unpublished(conn: &mut sqlx::AnyConnection) -> anyhow::Result<Vec<(i64, String, String, String)>> {
        Ok(sqlx::query_as("SELECT seq, topic, msg_key, body FROM outbox ORDER BY seq LIMIT $1")
            .bind(BATCH)
            .fetch_all(&mut *conn)
            .await?)
    }

    /// Publishes `rows`; the seqs published, or None when there were none.
    async fn publish(&self, rows: Vec<(i64, String, String, String)>) -> anyhow::Result<Option<Vec<i64>>> {
        if rows.is_empty() {
            return Ok(None);
        }
        let published: Vec<i64> = rows.iter().map(|r| r.0).collect();
        let records = rows
            .into_iter()
            .map(|(_, topic, key, body)| Ok(Record { topic, key, envelope: serde_json::from_str(&body)? }))
            .collect::<anyhow::Result<Vec<_>>>()?;
        self.transport.publish(&records).await?;
        let now = crate::time::now_millis();
        let delay = metrics::histogram!(crate::metrics::OUTBOX_PUBLISH_SECONDS, "service" => self.service);
        for record in &records {
            if let Some(written) = crate::time::parse_rfc3339_millis(&record.envelope.time) {
                delay.record(now.saturating_sub(written) as f64 / 1000.0);
            }
        }
        Ok(Some(published))
    }

    /// Deletes exactly the rows published: on PostgreSQL a smaller seq can commit after a larger
    /// one was read, so "everything up to the last seq" could delete a row never published.
    async fn delete(conn: &mut sqlx::AnyConnection, published: &[i64]) -> anyhow::Result<usize> {
        let placeholders: Vec<String> = (1..=published.len()).map(|i| format!("${i}")).collect();
        let delete = format!("DELETE FROM outbox WHERE seq IN ({})", placeholders.join(", "));
        let mut query = sqlx::query(sqlx::AssertSqlSafe(delete));
        for seq in published {
            query = query.bind(*seq);
        }
        query.execute(&mut *conn).await?;
        Ok(published.len())
    }
}

/// Number of events waiting in `db`'s outbox.
pub async fn pending(db: &Db) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM outbox").fetch_one(db.pool()).await?)
}
