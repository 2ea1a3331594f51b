//! Dead letters: an event a consumer keeps failing on is parked here (in the consuming service's
//! own database) so the consumer can go on; parked events can be listed and replayed.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

use crate::consumer::Handler;
use crate::db::{Db, Migration};
use crate::events::{Envelope, Record};
use crate::http::{ApiError, Json, Path, Query};

/// The dead-letter table; add it to the migrations of every service that consumes events.
pub const MIGRATION: Migration = Migration {
    version: 9003,
    name: "dead letters",
    sql: "CREATE TABLE dead_letters (id {id}, consumer TEXT NOT NULL, topic TEXT NOT NULL, event_id TEXT NOT NULL,
            event_type TEXT NOT NULL, envelope TEXT NOT NULL, error TEXT NOT NULL, attempts BIGINT NOT NULL,
            parked_at TEXT NOT NULL, replayed_at TEXT)",
};

/// Parked events not yet replayed, in `db`.
pub async fn parked(db: &Db) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM dead_letters WHERE replayed_at IS NULL").fetch_one(db.pool()).await?)
}

/// A parked event as the admin API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    pub id: i64,
    pub consumer: String,
    pub topic: String,
    pub event_id: String,
    pub event_type: String,
    pub event: serde_json::Value,
    /// The last failure's cause chain.
    pub error: String,
    pub attempts: i64,
    pub parked_at: String,
    pub replayed_at: Option<String>,
}

type Row = (i64, String, String, String, String, String, String, i64, String, Option<String>);
const SELECT: &str = "SELECT id, consumer, topic, event_id, event_type, envelope, error, attempts, parked_at, replayed_at FROM dead_letters";

fn to_letter(r: Row) -> DeadLetter {
    let (id, consumer, topic, event_id, event_type, envelope, error, attempts, parked_at, replayed_at) = r;
    let event = serde_json::from_str(&envelope).unwrap_or(serde_json::Value::String(envelope));
    DeadLetter { id, consumer, topic, event_id, event_type, event, error, attempts, parked_at, replayed_at }
}

/// One service's parked events, and the handlers that can replay them.
#[derive(Clone)]
pub struct DeadLetters {
    db: Db,
    handlers: Arc<std::sync::Mutex<HashMap<String, Arc<dyn Handler>>>>,
    /// The inbox retention: an event older than it is never replayed (see [`crate::inbox`]).
    retention: std::time::Duration,
}

impl DeadLetters {
    pub fn new(db: Db, retention: std::time::Duration) -> Self {
        Self { db, handlers: Arc::default(), retention }
    }

    /// Makes `handler` the one that replays `consumer`'s dead letters.
    pub fn register(&self, consumer: &str, handler: Arc<dyn Handler>) {
        self.handlers.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(consumer.to_owned(), handler);
    }

    /// Parks `record` for `consumer` after `attempts` failures ending in `error`.
    pub async fn park(&self, consumer: &str, record: &Record, error: &str, attempts: u32) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO dead_letters (consumer, topic, event_id, event_type, envelope, error, attempts, parked_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(consumer)
        .bind(&record.topic)
        .bind(&record.envelope.id)
        .bind(&record.envelope.kind)
        .bind(serde_json::to_string(&record.envelope)?)
        .bind(error)
        .bind(i64::from(attempts))
        .bind(crate::time::now_rfc3339())
        .execute(self.db.writer())
        .await?;
        metrics::counter!(crate::metrics::DEAD_LETTERS_PARKED, "group" => consumer.to_owned()).increment(1);
        Ok(())
    }

    /// Up to `limit` parked events after id `after`, oldest first; replayed ones too when `all`.
    pub async fn list(&self, all: bool, after: Option<i64>, limit: i64) -> anyhow::Result<Vec<DeadLetter>> {
        let sql = format!("{SELECT} WHERE ($1 = 1 OR replayed_at IS NULL) AND id > $2 ORDER BY id LIMIT $3");
        let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(i64::from(all))
            .bind(after.unwrap_or(0))
            .bind(limit)
            .fetch_all(self.db.pool())
            .await?;
        Ok(rows.into_iter().map(to_letter).collect())
    }

    async fn get(&self, id: i64) -> anyhow::Result<Option<DeadLetter>> {
        let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} WHERE id = $1")))
            .bind(id)
            .fetch_optional(self.db.pool())
            .await?;
        Ok(row.map(to_letter))
    }

    /// Runs a parked event through its consumer's handler again; on success it is marked replayed.
    pub async fn replay(&self, id: i64) -> Result<DeadLetter, ApiError> {
        let letter = self.get(id).await?.ok_or_else(|| ApiError::not_found(format!("dead letter {id} not found")))?;
        if letter.replayed_at.is_some() {
            return Err(ApiError::conflict(format!("dead letter {id} was already replayed")));
        }
        let handler =
            self.handlers.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&letter.consumer).cloned();
        let handler =
            handler.ok_or_else(|| ApiError::conflict(format!("no consumer {} runs here", letter.consumer)))?;
        let envelope: Envelope = serde_json::from_value(letter.event.clone())
            .map_err(|e| ApiError::conflict(format!("dead letter {id} is not a readable event: {e}")))?;
        if !crate::inbox::within(&envelope, crate::time::now_millis(), self.retention) {
            return Err(ApiError::conflict(format!(
                "dead letter {id} is older than the inbox retention: it may have been handled already, \
                 so it is not replayed; check its effect by hand"
            )));
        }
        if let Err(e) = handler.handle(&envelope).await {
            let why = format!("{e:#}");
            sqlx::query("UPDATE dead_letters SET error = $1, attempts = attempts + 1 WHERE id = $2")
                .bind(&why)
                .bind(id)
                .execute(self.db.writer())
                .await
                .map_err(ApiError::from)?;
            return Err(ApiError::conflict(format!("replay of dead letter {id} failed again: {why}")));
        }
        sqlx::query("UPDATE dead_letters SET replayed_at = $1 WHERE id = $2")
            .bind(crate::time::now_rfc3339())
            .bind(id)
            .execute(self.db.writer())
            .await
            .map_err(ApiError::from)?;
        Ok(self.get(id).await?.unwrap_or(letter))
    }

    /// `GET /deadLetters[?all=true]` and `POST /deadLetters/{id}/replay`, for admins only.
    pub fn routes(self) -> Router {
        // Replaying is an operator action that is safe to repeat; a key on it is refused.
        let refuse_key = axum::middleware::from_fn(crate::idempotency::refuse);
        Router::new()
            .route("/deadLetters", get(list))
            .route("/deadLetters/{id}/replay", post(replay).layer(refuse_key))
            .route_layer(axum::middleware::from_fn(crate::auth::admin_only))
            .with_state(self)
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Also those already replayed.
    all: Option<bool>,
}

/// The dead-letter API's part of the OpenAPI document, at the gateway's paths
/// (`/deadLetters/{service}/…` goes to that service's `/deadLetters/…`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(list, replay))]
pub struct Api;

#[utoipa::path(get, path = "/deadLetters/{service}", tag = "operations",
    params(("service" = String, Path, description = "The service whose consumers parked them"), ListQuery, crate::openapi::Paging),
    responses((status = 200, description = "Parked events, a page at a time", body = [DeadLetter])),
    security(("bearer" = ["admin"])))]
async fn list(
    State(letters): State<DeadLetters>,
    Query(q): Query<ListQuery>,
    page: crate::paging::Page,
) -> Result<axum::response::Response, ApiError> {
    let parked = letters.list(q.all.unwrap_or(false), page.cursor_id()?, page.fetch()).await?;
    Ok(page.answer(parked, |d| d.id.to_string()))
}

#[utoipa::path(post, path = "/deadLetters/{service}/{id}/replay", tag = "operations",
    params(("service" = String, Path, description = "The service"), ("id" = i64, Path, description = "The dead letter")),
    responses((status = 200, description = "Handed to its consumer again", body = DeadLetter)),
    security(("bearer" = ["admin"])))]
async fn replay(State(letters): State<DeadLetters>, Path(id): Path<i64>) -> Result<Json<DeadLetter>, ApiError> {
    letters.replay(id).await.map(Json)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use async_trait::async_trait;
    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::consumer::{self, Consumer};
    use crate::eventlog::EventLog;
    use crate::events::Transport;

    /// Fails on events whose data says `poison` until it is told the cause is fixed.
    struct Picky {
        fixed: AtomicBool,
        handled: std::sync::Mutex<Vec<i64>>,
    }

    #[async_trait]
    impl Handler for Picky {
        async fn handle(&self, event: &Envelope) -> anyhow::Result<()> {
            if event.data["poison"] == true && !self.fixed.load(Ordering::SeqCst) {
                anyhow::bail!("cannot handle poison yet");
            }
            self.handled.lock().unwrap().push(event.data["n"].as_i64().unwrap());
            Ok(())
        }
    }

    fn record(n: i64, poison: bool) -> Record {
        let envelope =
            Envelope::new("t", "Thing", format!("thing/{n}"), serde_json::json!({ "n": n, "poison": poison }));
        Record { topic: "t".into(), key: envelope.subject.clone(), envelope }
    }

    #[tokio::test]
    async fn a_poison_event_is_parked_the_consumer_goes_on_and_a_fixed_one_replays() {
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::open(dir.path()).await.unwrap();
        let db = Db::sqlite_in(dir.path(), "svc.db").await.unwrap();
        db.migrate(&[MIGRATION]).await.unwrap();
        let letters = DeadLetters::new(db, std::time::Duration::from_secs(86_400));
        let handler = Arc::new(Picky { fixed: AtomicBool::new(false), handled: Default::default() });
        letters.register("g", handler.clone());
        log.publish(&[record(1, false), record(2, true), record(3, false)]).await.unwrap();

        let stop = CancellationToken::new();
        let consumer = Consumer::for_tests(handler.clone(), letters.clone());
        let run = tokio::spawn(consumer::run(Arc::new(log.clone()), consumer, stop.clone()));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while handler.handled.lock().unwrap().len() < 2 {
            assert!(std::time::Instant::now() < deadline, "the consumer jammed on the poison event");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        stop.cancel();
        run.await.unwrap();
        assert_eq!(*handler.handled.lock().unwrap(), [1, 3], "the event after the poison one was handled");

        let parked = letters.list(false, None, 100).await.unwrap();
        assert_eq!(parked.len(), 1);
        assert_eq!((parked[0].event["data"]["n"].as_i64(), parked[0].attempts), (Some(2), 3));
        assert!(parked[0].error.contains("cannot handle poison yet"));
        assert!(letters.replay(parked[0].id).await.is_err(), "still failing: stays parked");

        handler.fixed.store(true, Ordering::SeqCst);
        let replayed = letters.replay(parked[0].id).await.unwrap();
        assert!(replayed.replayed_at.is_some());
        assert_eq!(*handler.handled.lock().unwrap(), [1, 3, 2]);
        assert!(letters.list(false, None, 100).await.unwrap().is_empty());
        assert_eq!(letters.list(true, None, 100).await.unwrap().len(), 1, "replayed letters stay listed with all=true");
        assert!(letters.replay(parked[0].id).await.is_err(), "a letter replays once");
    }
}
