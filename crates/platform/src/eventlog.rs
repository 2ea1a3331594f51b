//! The embedded event transport: a durable, append-only log in one SQLite file.
//!
//! Several processes may share the file (SQLite locks it); each consumer group keeps one
//! committed offset. Appends are serialised by SQLite's single writer, so sequence numbers become
//! visible in order and a reader never skips one. In-process consumers of an appended topic are
//! woken at once (and only they). Other processes sharing the file are rung at once too: each
//! opens a doorbell, a Unix datagram socket in `events.wake/` beside the file, and a publisher
//! sends one byte to every other doorbell there after its commit (a doorbell whose process is
//! gone is removed). Polling every [`POLL_INTERVAL`] stays as the fallback, for a bell lost or a
//! directory where sockets cannot be made.
//!
//! Like a Kafka topic, the log keeps records for a retention period ([`EventLog::prune`]): a record
//! goes once it is older than that and every consumer group has committed past it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use sqlx::AssertSqlSafe;
use tokio::sync::Notify;

use crate::db::{Db, Migration};
use crate::events::{Delivery, Envelope, Record, Subscription, Transport};

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "event log",
        sql: "CREATE TABLE events (seq {id}, topic TEXT NOT NULL, msg_key TEXT NOT NULL, body TEXT NOT NULL);
          CREATE INDEX events_topic_seq ON events (topic, seq);
          CREATE TABLE consumer_offsets (grp TEXT PRIMARY KEY, seq BIGINT NOT NULL, topics TEXT NOT NULL)",
    },
    Migration {
        version: 2,
        name: "event log retention",
        sql: "ALTER TABLE events ADD COLUMN appended_ms BIGINT NOT NULL DEFAULT 0",
    },
];

const BATCH: i64 = 256;

/// How long a consumer waits for a wake-up before it looks at the log anyway.
pub const POLL_INTERVAL: Duration = Duration::from_millis(25);

/// The embedded log; cheap to clone.
#[derive(Clone)]
pub struct EventLog {
    db: Db,
    /// One wake-up per topic, shared by the in-process subscribers of that topic.
    appended: Arc<Mutex<HashMap<String, Arc<Notify>>>>,
    poll_interval: Duration,
    /// How often, at most, a busy group writes its offset ([`SAVE_OFFSET_EVERY`]).
    save_offset_every: Duration,
    /// This process's doorbell, rung by publishers in other processes; None where one cannot be
    /// made (consumers then poll).
    doorbell: Option<Arc<Doorbell>>,
}

impl EventLog {
    /// Opens (creating if needed) the log at `events.db` in `dir`.
    pub async fn open(dir: &std::path::Path) -> anyhow::Result<Self> {
        Self::open_polling_every(dir, POLL_INTERVAL).await
    }

    /// [`EventLog::open`] with another fallback poll interval (tests use an hour, to show that
    /// nothing waits for it).
    pub async fn open_polling_every(dir: &std::path::Path, poll_interval: Duration) -> anyhow::Result<Self> {
        let db = Db::sqlite_in(dir, "events.db").await?;
        db.migrate(MIGRATIONS).await?;
        let appended: Arc<Mutex<HashMap<String, Arc<Notify>>>> = Arc::default();
        let doorbell = match Doorbell::open(&dir.join("events.wake"), appended.clone()) {
            Ok(d) => Some(Arc::new(d)),
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "no doorbell for other processes; they will poll the event log");
                None
            }
        };
        Ok(Self { db, appended, poll_interval, save_offset_every: SAVE_OFFSET_EVERY, doorbell })
    }

    /// The same log whose busy groups write their offsets at most every `every`.
    pub fn saving_offsets_every(self, every: Duration) -> Self {
        Self { save_offset_every: every, ..self }
    }

    fn wake_up_for(&self, topic: &str) -> Arc<Notify> {
        let mut map = self.appended.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.entry(topic.to_owned()).or_default().clone()
    }

    /// The newest sequence number, 0 when empty.
    pub async fn head(&self) -> anyhow::Result<i64> {
        Ok(sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM events").fetch_one(self.db.pool()).await?)
    }

    /// The committed offset of every consumer group.
    pub async fn offsets(&self) -> anyhow::Result<Vec<(String, i64)>> {
        Ok(sqlx::query_as("SELECT grp, seq FROM consumer_offsets ORDER BY grp").fetch_all(self.db.pool()).await?)
    }

    /// Consumer lag: records in a group's topics after its committed offset, summed over all groups.
    pub async fn total_lag(&self) -> anyhow::Result<i64> {
        let groups: Vec<(String, String)> =
            sqlx::query_as("SELECT grp, topics FROM consumer_offsets").fetch_all(self.db.pool()).await?;
        let mut lag = 0;
        for (group, topics) in groups {
            let topics: Vec<&str> = topics.split(',').collect();
            lag += Transport::lag(self, &group, &topics).await?;
        }
        Ok(lag)
    }

    /// Every record in the log, oldest first (for tools and tests).
    pub async fn records(&self) -> anyhow::Result<Vec<Record>> {
        let rows: Vec<(String, String, String)> =
            sqlx::query_as("SELECT topic, msg_key, body FROM events ORDER BY seq").fetch_all(self.db.pool()).await?;
        rows.into_iter().map(to_record).collect()
    }

    /// Deletes records appended before `now_ms - retention` that every consumer group has
    /// committed; returns how many went.
    pub async fn prune(&self, now_ms: i64, retention: Duration) -> anyhow::Result<u64> {
        let gone = sqlx::query(
            "DELETE FROM events WHERE appended_ms < $1
               AND seq <= (SELECT COALESCE(MIN(seq), 0) FROM consumer_offsets)",
        )
        .bind(now_ms - retention.as_millis() as i64)
        .execute(self.db.writer())
        .await?;
        Ok(gone.rows_affected())
    }

    /// Prunes hourly until `shutdown`.
    pub async fn prune_hourly(self, retention: Duration, shutdown: tokio_util::sync::CancellationToken) {
        crate::time::hourly("old event log records pruned", shutdown, || {
            self.prune(crate::time::now_millis(), retention)
        })
        .await;
    }

    /// Closes the underlying pool.
    pub async fn close(&self) {
        self.db.close().await;
    }
}

fn to_record((topic, key, body): (String, String, String)) -> anyhow::Result<Record> {
    let envelope: Envelope = serde_json::from_str(&body)?;
    Ok(Record { topic, key, envelope })
}

#[async_trait]
impl Transport for EventLog {
    /// Appends `records` in order, all or none. Up to [`APPEND_AT_ONCE`] records are one `INSERT`
    /// statement, its own transaction: one round trip to the writer where a transaction around
    /// single-row inserts took one per record and two more for `BEGIN` and `COMMIT`.
    async fn publish(&self, records: &[Record]) -> anyhow::Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let now = crate::time::now_millis();
        if records.len() <= APPEND_AT_ONCE {
            append(records, now)?.execute(self.db.writer()).await?;
        } else {
            let mut tx = self.db.begin().await?;
            for chunk in records.chunks(APPEND_AT_ONCE) {
                append(chunk, now)?.execute(&mut *tx).await?;
            }
            tx.commit().await?;
        }
        let mut topics: Vec<&str> = records.iter().map(|r| r.topic.as_str()).collect();
        topics.dedup();
        for topic in topics {
            self.wake_up_for(topic).notify_waiters();
        }
        if let Some(doorbell) = &self.doorbell {
            doorbell.ring_others();
        }
        Ok(())
    }

    async fn subscribe(&self, group: &str, topics: &[&str]) -> anyhow::Result<Box<dyn Subscription>> {
        // Registering the group at offset 0 makes its lag visible before its first commit.
        sqlx::query(
            "INSERT INTO consumer_offsets (grp, seq, topics) VALUES ($1, 0, $2)
             ON CONFLICT (grp) DO UPDATE SET topics = excluded.topics",
        )
        .bind(group)
        .bind(topics.join(","))
        .execute(self.db.writer())
        .await?;
        let committed: Option<i64> = sqlx::query_scalar("SELECT seq FROM consumer_offsets WHERE grp = $1")
            .bind(group)
            .fetch_optional(self.db.pool())
            .await?;
        let placeholders: Vec<String> = (0..topics.len()).map(|i| format!("${}", i + 2)).collect();
        let select = format!(
            "SELECT seq, topic, msg_key, body FROM events WHERE seq > $1 AND topic IN ({}) ORDER BY seq LIMIT {BATCH}",
            placeholders.join(", ")
        );
        Ok(Box::new(LogSubscription {
            wake_ups: topics.iter().map(|t| self.wake_up_for(t)).collect(),
            log: self.clone(),
            topics: topics.iter().map(|t| (*t).to_owned()).collect(),
            select,
            cursor: committed.unwrap_or(0),
            offset: Offset { group: group.to_owned(), unsaved: None, saved_at: None },
        }))
    }

    async fn ping(&self) -> bool {
        self.db.ping().await
    }

    async fn lag(&self, group: &str, topics: &[&str]) -> anyhow::Result<i64> {
        let committed: Option<i64> = sqlx::query_scalar("SELECT seq FROM consumer_offsets WHERE grp = $1")
            .bind(group)
            .fetch_optional(self.db.pool())
            .await?;
        let mut lag = 0;
        for topic in topics {
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE topic = $1 AND seq > $2")
                .bind(topic)
                .bind(committed.unwrap_or(0))
                .fetch_one(self.db.pool())
                .await?;
            lag += n;
        }
        Ok(lag)
    }
}

/// Records appended by one `INSERT` (four parameters each, far below SQLite's limit).
const APPEND_AT_ONCE: usize = 256;

/// One `INSERT` of `records`; SQLite assigns their sequence numbers in the order given.
fn append<'q>(
    records: &'q [Record],
    now: i64,
) -> anyhow::Result<sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>> {
    let rows: Vec<String> = (0..records.len())
        .map(|i| format!("(${}, ${}, ${}, ${})", 4 * i + 1, 4 * i + 2, 4 * i + 3, 4 * i + 4))
        .collect();
    let sql = format!("INSERT INTO events (topic, msg_key, body, appended_ms) VALUES {}", rows.join(", "));
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for r in records {
        query = query.bind(r.topic.as_str()).bind(r.key.as_str()).bind(serde_json::to_string(&r.envelope)?).bind(now);
    }
    Ok(query)
}

struct LogSubscription {
    wake_ups: Vec<Arc<Notify>>,
    log: EventLog,
    topics: Vec<String>,
    select: String,
    cursor: i64,
    offset: Offset,
}

/// A group's handled position as `consumer_offsets` keeps it (a field of its own, so `poll` can
/// write it while it listens on the subscription's wake-ups).
struct Offset {
    group: String,
    /// The handled position not yet written, and when it was last written (never: the first
    /// commit is written at once).
    unsaved: Option<i64>,
    saved_at: Option<std::time::Instant>,
}

/// Under load a group writes its offset at most this often: every write is a commit on the log's
/// one writer, which publishers wait for. A lost offset only means events delivered again,
/// which every handler's inbox absorbs. An idle group writes it before it waits.
const SAVE_OFFSET_EVERY: Duration = Duration::from_millis(100);

impl LogSubscription {
    async fn fetch(&self) -> anyhow::Result<Vec<Delivery>> {
        let mut query =
            sqlx::query_as::<_, (i64, String, String, String)>(AssertSqlSafe(self.select.as_str())).bind(self.cursor);
        for t in &self.topics {
            query = query.bind(t);
        }
        let rows = query.fetch_all(self.log.db.pool()).await?;
        rows.into_iter()
            .map(|(seq, topic, key, body)| {
                Ok(Delivery { record: to_record((topic, key, body))?, partition: 0, position: seq })
            })
            .collect()
    }
}

#[async_trait]
impl Subscription for LogSubscription {
    async fn poll(&mut self) -> anyhow::Result<Vec<Delivery>> {
        // Listen before reading, so an append during the read is not missed.
        let mut woken: Vec<_> = self.wake_ups.iter().map(|n| Box::pin(n.notified())).collect();
        woken.iter_mut().for_each(|n| {
            n.as_mut().enable();
        });
        let batch = self.fetch().await?;
        if batch.is_empty() {
            self.offset.save(&self.log.db).await?;
            let any = futures::future::select_all(woken);
            let _ = tokio::time::timeout(self.log.poll_interval, any).await;
        }
        Ok(batch)
    }

    async fn commit(&mut self, handled: &[Delivery]) -> anyhow::Result<()> {
        let Some(delivery) = handled.last() else { return Ok(()) };
        self.cursor = delivery.position;
        self.offset.unsaved = Some(delivery.position);
        if self.offset.saved_at.is_none_or(|at| at.elapsed() >= self.log.save_offset_every) {
            self.offset.save(&self.log.db).await?;
        }
        Ok(())
    }
}

impl Offset {
    /// Writes the handled position, if it moved since the last write.
    async fn save(&mut self, db: &Db) -> anyhow::Result<()> {
        let Some(position) = self.unsaved else { return Ok(()) };
        sqlx::query("UPDATE consumer_offsets SET seq = $2 WHERE grp = $1")
            .bind(&self.group)
            .bind(position)
            .execute(db.writer())
            .await?;
        self.unsaved = None;
        self.saved_at = Some(std::time::Instant::now());
        Ok(())
    }
}

/// A Unix datagram socket other processes ring after they append; ringing wakes every
/// subscriber of this process. Removed (and its listener stopped) when the log is dropped.
struct Doorbell {
    dir: std::path::PathBuf,
    path: std::path::PathBuf,
    socket: Arc<tokio::net::UnixDatagram>,
    listener: tokio::task::JoinHandle<()>,
}

impl Doorbell {
    fn open(dir: &std::path::Path, appended: Arc<Mutex<HashMap<String, Arc<Notify>>>>) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        static OPENED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = OPENED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = dir.join(format!("{}-{n}.sock", std::process::id()));
        // A file left by an earlier process with this pid (pids are reused) is nobody's now.
        let _ = std::fs::remove_file(&path);
        let socket = Arc::new(tokio::net::UnixDatagram::bind(&path)?);
        let inbox = socket.clone();
        let listener = tokio::spawn(async move {
            let mut byte = [0u8; 1];
            while inbox.recv(&mut byte).await.is_ok() {
                let wake: Vec<Arc<Notify>> =
                    appended.lock().unwrap_or_else(std::sync::PoisonError::into_inner).values().cloned().collect();
                wake.iter().for_each(|n| n.notify_waiters());
            }
        });
        Ok(Self { dir: dir.to_owned(), path, socket, listener })
    }

    /// Sends one byte to every other doorbell; removes those nobody listens on any more.
    fn ring_others(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return };
        for entry in entries.flatten() {
            let peer = entry.path();
            if peer == self.path || peer.extension().is_none_or(|e| e != "sock") {
                continue;
            }
            match self.socket.try_send_to(&[1], &peer) {
                Ok(_) => {}
                // Its process is gone: nobody will ever ring it again.
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    let _ = std::fs::remove_file(&peer);
                }
                // A full queue means that process has a ring waiting already.
                Err(_) => {}
            }
        }
    }
}

impl Drop for Doorbell {
    fn drop(&mut self) {
        self.listener.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two logs on one file are two processes: no in-process wake-up reaches the other. With an
    /// hour's poll interval, the subscriber still gets the record, because the publisher rang.
    #[tokio::test]
    async fn another_process_appending_wakes_a_waiting_subscriber_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let publisher = EventLog::open(dir.path()).await.unwrap();
        let consumer = EventLog::open_polling_every(dir.path(), Duration::from_secs(3600)).await.unwrap();
        let mut sub = consumer.subscribe("g", &["a"]).await.unwrap();
        let waiting = tokio::spawn(async move {
            let empty = sub.poll().await.unwrap();
            assert!(empty.is_empty());
            sub.poll().await.unwrap()
        });
        // The subscriber is waiting (or about to): a ring it misses would leave it for an hour.
        tokio::time::sleep(Duration::from_millis(200)).await;
        publisher.publish(&[record("a", 7)]).await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(20), waiting).await.expect("woken, not polled").unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].record.envelope.data["n"], 7);
    }

    #[tokio::test]
    async fn a_doorbell_whose_process_is_gone_is_removed_when_rung() {
        let dir = tempfile::tempdir().unwrap();
        let publisher = EventLog::open(dir.path()).await.unwrap();
        let gone = EventLog::open(dir.path()).await.unwrap();
        let bells = dir.path().join("events.wake");
        assert_eq!(std::fs::read_dir(&bells).unwrap().count(), 2);
        // A process killed with SIGKILL leaves its socket file behind, with nobody on it.
        let left = gone.doorbell.as_ref().unwrap().path.clone();
        let stale = std::os::unix::net::UnixDatagram::bind(bells.join("dead.sock")).unwrap();
        drop(stale);
        publisher.publish(&[record("a", 1)]).await.unwrap();
        assert!(!bells.join("dead.sock").exists(), "the dead process's doorbell is gone");
        assert!(left.exists(), "a live one stays");
    }

    fn record(topic: &str, n: i64) -> Record {
        let envelope = Envelope::new(topic, "Thing", format!("thing/{n}"), serde_json::json!({ "n": n }));
        Record { topic: topic.into(), key: format!("thing/{n}"), envelope }
    }

    /// One statement per publish up to `APPEND_AT_ONCE`, one transaction of several beyond:
    /// either way every record is there once, in the order published.
    #[tokio::test]
    async fn batches_small_and_large_are_appended_whole_and_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::open(dir.path()).await.unwrap();
        let small: Vec<Record> = (0..3).map(|n| record("a", n)).collect();
        let large: Vec<Record> = (3..3 + 2 * APPEND_AT_ONCE as i64 + 5).map(|n| record("a", n)).collect();
        log.publish(&small).await.unwrap();
        log.publish(&large).await.unwrap();
        log.publish(&[]).await.unwrap();
        let got: Vec<i64> =
            log.records().await.unwrap().iter().map(|r| r.envelope.data["n"].as_i64().unwrap()).collect();
        assert_eq!(got, (0..3 + 2 * APPEND_AT_ONCE as i64 + 5).collect::<Vec<_>>());
        let mut sub = log.subscribe("g", &["a"]).await.unwrap();
        let first = sub.poll().await.unwrap();
        assert_eq!(first[0].record.envelope.data["n"], 0);
        assert!(first.windows(2).all(|w| w[0].position < w[1].position), "sequence numbers follow the order");
    }

    #[tokio::test]
    async fn a_group_resumes_after_its_last_commit_and_sees_only_its_topics() {
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::open(dir.path()).await.unwrap();
        log.publish(&[record("a", 1), record("b", 2), record("a", 3)]).await.unwrap();

        let mut sub = log.subscribe("g", &["a"]).await.unwrap();
        let got = sub.poll().await.unwrap();
        assert_eq!(got.iter().map(|d| d.record.envelope.data["n"].as_i64().unwrap()).collect::<Vec<_>>(), [1, 3]);
        sub.commit(&got[..1]).await.unwrap();

        let reopened = EventLog::open(dir.path()).await.unwrap();
        let mut again = reopened.subscribe("g", &["a"]).await.unwrap();
        let rest = again.poll().await.unwrap();
        assert_eq!(rest.len(), 1, "only the uncommitted record is delivered again");
        assert_eq!(rest[0].record.envelope.data["n"], 3);
        assert_eq!(reopened.total_lag().await.unwrap(), 1, "one record of topic a is unhandled");
        again.commit(&rest).await.unwrap();
        assert_eq!(reopened.total_lag().await.unwrap(), 0);
    }

    #[tokio::test]
    async fn under_load_a_group_writes_its_offset_at_most_every_interval_and_before_it_waits() {
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::open_polling_every(dir.path(), Duration::from_millis(10))
            .await
            .unwrap()
            .saving_offsets_every(Duration::from_secs(3600));
        log.publish(&[record("a", 1)]).await.unwrap();
        let mut sub = log.subscribe("g", &["a"]).await.unwrap();
        let first = sub.poll().await.unwrap();
        sub.commit(&first).await.unwrap();
        assert_eq!(log.total_lag().await.unwrap(), 0, "the first commit is written at once");

        log.publish(&[record("a", 2), record("a", 3)]).await.unwrap();
        let next = sub.poll().await.unwrap();
        sub.commit(&next).await.unwrap();
        assert_eq!(log.total_lag().await.unwrap(), 2, "within the interval: handled, not yet written");
        assert!(sub.poll().await.unwrap().is_empty());
        assert_eq!(log.total_lag().await.unwrap(), 0, "written before waiting for more");
    }

    #[tokio::test]
    async fn records_go_once_old_and_committed_by_every_group() {
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::open(dir.path()).await.unwrap();
        log.publish(&[record("a", 1), record("a", 2)]).await.unwrap();
        let mut fast = log.subscribe("fast", &["a"]).await.unwrap();
        let mut slow = log.subscribe("slow", &["a"]).await.unwrap();
        let got = fast.poll().await.unwrap();
        fast.commit(&got).await.unwrap();
        let later = crate::time::now_millis() + 10_000;
        let day = Duration::from_secs(86_400);
        assert_eq!(log.prune(later, day).await.unwrap(), 0, "younger than the retention");
        assert_eq!(log.prune(later, Duration::from_secs(1)).await.unwrap(), 0, "the slow group still needs them");
        let first = slow.poll().await.unwrap();
        slow.commit(&first[..1]).await.unwrap();
        assert_eq!(log.prune(later, Duration::from_secs(1)).await.unwrap(), 1, "only what every group passed");
        assert_eq!(log.records().await.unwrap().len(), 1);
    }
}
