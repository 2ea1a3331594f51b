//! Stored messages: written once per causing event, then delivered.

use std::sync::Arc;
use std::time::Duration;

use skycamp_contracts::notification::{self as ev, NotificationEvent};
use skycamp_contracts::{reservation_subject, topics};
use skycamp_platform::db::{Db, Migration, Tx};
use skycamp_platform::outbox::{self, Waker};
use skycamp_platform::{inbox, time};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::domain::{Draft, Message};
use crate::sender::Sender;

/// Schema of the notification database.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "messages",
        sql: "CREATE TABLE messages (id {id}, phone TEXT NOT NULL, email TEXT, reservation_id BIGINT NOT NULL,
                topic TEXT NOT NULL, text TEXT NOT NULL, cause_event_id TEXT NOT NULL UNIQUE,
                created_at TEXT NOT NULL, delivered_at TEXT, attempts BIGINT NOT NULL DEFAULT 0);
              CREATE INDEX messages_phone ON messages (phone, id)",
    },
    outbox::MIGRATION,
    inbox::MIGRATION,
    inbox::HANDLED_MS_MIGRATION,
    skycamp_platform::deadletter::MIGRATION,
];

type Row = (i64, String, Option<String>, i64, String, String, String, Option<String>);
const SELECT: &str = "SELECT id, phone, email, reservation_id, topic, text, created_at, delivered_at FROM messages";

fn to_message(r: Row) -> Message {
    let (id, phone, email, reservation_id, topic, text, created_at, delivered_at) = r;
    Message { id, phone, email, reservation_id, topic, text, created_at, delivered_at }
}

/// Messages and their delivery.
#[derive(Clone)]
pub struct NotificationStore {
    db: Db,
    waker: Waker,
    stored: Arc<Notify>,
}

impl NotificationStore {
    pub fn new(db: Db, waker: Waker) -> Self {
        Self { db, waker, stored: Arc::new(Notify::new()) }
    }

    /// Stores each message (and its `NotificationSent`) once per causing event, all in one
    /// transaction.
    pub async fn record_all(&self, drafts: &[(&str, &Draft)]) -> anyhow::Result<()> {
        if drafts.is_empty() {
            return Ok(());
        }
        let mut tx = self.db.begin().await?;
        for &(event_id, d) in drafts {
            Self::record_in(&mut tx, event_id, d).await?;
        }
        self.waker.commit(tx).await?;
        self.stored.notify_one();
        Ok(())
    }

    async fn record_in(tx: &mut Tx, event_id: &str, d: &Draft) -> anyhow::Result<()> {
        if !inbox::claim(tx, "notification", event_id).await? {
            return Ok(());
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO messages (phone, email, reservation_id, topic, text, cause_event_id, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(&d.phone)
        .bind(&d.email)
        .bind(d.reservation_id)
        .bind(d.topic)
        .bind(&d.text)
        .bind(event_id)
        .bind(time::now_rfc3339())
        .fetch_one(&mut **tx)
        .await?;
        let data = NotificationEvent {
            message_id: id,
            reservation_id: d.reservation_id,
            phone: d.phone.clone(),
            topic: d.topic.to_owned(),
        };
        let subject = reservation_subject(d.reservation_id);
        outbox::emit(tx, topics::NOTIFICATION, ev::NOTIFICATION_SENT, subject, &data).await
    }

    /// A customer's messages, newest first.
    pub async fn list(&self, phone: &str, before: Option<i64>, limit: i64) -> anyhow::Result<Vec<Message>> {
        let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{SELECT} WHERE phone = $1 AND id < $2 ORDER BY id DESC LIMIT $3"
        )))
        .bind(phone)
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(self.db.pool())
        .await?;
        Ok(rows.into_iter().map(to_message).collect())
    }

    /// Delivers undelivered messages until `shutdown`; a failing one is retried after a pause.
    pub async fn deliver(self, sender: Arc<dyn Sender>, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            let pause = match self.deliver_batch(sender.as_ref()).await {
                Ok(true) => continue,
                Ok(false) => Duration::from_millis(500),
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "message delivery failed; retrying");
                    Duration::from_secs(2)
                }
            };
            tokio::select! {
                _ = self.stored.notified() => {}
                _ = tokio::time::sleep(pause) => {}
                _ = shutdown.cancelled() => {}
            }
        }
    }

    /// Delivers up to 50 messages; true when it delivered all it found.
    async fn deliver_batch(&self, sender: &dyn Sender) -> anyhow::Result<bool> {
        let rows: Vec<Row> =
            sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} WHERE delivered_at IS NULL ORDER BY id LIMIT 50")))
                .fetch_all(self.db.pool())
                .await?;
        if rows.is_empty() {
            return Ok(false);
        }
        for message in rows.into_iter().map(to_message) {
            if let Err(e) = sender.send(&message).await {
                sqlx::query("UPDATE messages SET attempts = attempts + 1 WHERE id = $1")
                    .bind(message.id)
                    .execute(self.db.writer())
                    .await?;
                return Err(e);
            }
            sqlx::query("UPDATE messages SET delivered_at = $1, attempts = attempts + 1 WHERE id = $2")
                .bind(time::now_rfc3339())
                .bind(message.id)
                .execute(self.db.writer())
                .await?;
        }
        Ok(true)
    }
}
