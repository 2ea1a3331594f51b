//! Two outbox relays on one PostgreSQL outbox (two instances of a service): every event goes out,
//! each aggregate's events in the order they were written, and neither relay waits on the other.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use skycamp_platform::events::{Record, Subscription};
use skycamp_platform::outbox::{self, Relay, Waker};
use skycamp_platform::{Db, Envelope, Transport};
use tokio_util::sync::CancellationToken;

/// Records what was published, slowly enough that two relays would overlap if they could.
#[derive(Default)]
struct Recorder(Mutex<Vec<Record>>);

#[async_trait]
impl Transport for Recorder {
    async fn publish(&self, records: &[Record]) -> anyhow::Result<()> {
        tokio::time::sleep(Duration::from_millis(5)).await;
        self.0.lock().unwrap().extend_from_slice(records);
        Ok(())
    }
    async fn subscribe(&self, _: &str, _: &[&str]) -> anyhow::Result<Box<dyn Subscription>> {
        anyhow::bail!("publish only")
    }
    async fn ping(&self) -> bool {
        true
    }
    async fn lag(&self, _: &str, _: &[&str]) -> anyhow::Result<i64> {
        Ok(0)
    }
}

#[tokio::test]
async fn two_relays_publish_everything_once_in_order_per_aggregate() {
    if std::env::var("SKYCAMP_TEST_POSTGRES_URL").is_err() {
        crate::support::cannot_run("PostgreSQL only (several instances need it); scripts/test runs it");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let url = crate::support::postgres_for(dir.path()).unwrap();
    let db = Db::connect_in_schema(&url, "relays").await.unwrap();
    db.migrate(&[outbox::MIGRATION]).await.unwrap();
    for n in 0..600 {
        let mut tx = db.begin().await.unwrap();
        let subject = format!("thing/{}", n % 10);
        let envelope = Envelope::new("things", "Changed", subject, serde_json::json!({ "n": n }));
        outbox::enqueue(&mut tx, "things", &envelope).await.unwrap();
        tx.commit().await.unwrap();
    }
    let recorder = Arc::new(Recorder::default());
    let stop = CancellationToken::new();
    let relays: Vec<_> = (0..2)
        .map(|_| {
            let relay = Relay::new("test", db.clone(), recorder.clone(), Waker::default());
            tokio::spawn(relay.run(stop.clone()))
        })
        .collect();
    crate::support::eventually("the outbox drained", || async { outbox::pending(&db).await.unwrap() == 0 }).await;
    stop.cancel();
    for r in relays {
        r.await.unwrap();
    }
    let published = recorder.0.lock().unwrap().clone();
    let numbers: Vec<i64> = published.iter().map(|r| r.envelope.data["n"].as_i64().unwrap()).collect();
    assert_eq!(numbers.len(), 600, "each row published once (no crash, so no repeat)");
    for key in 0..10 {
        let of_key: Vec<i64> = numbers.iter().copied().filter(|n| n % 10 == key).collect();
        assert!(of_key.windows(2).all(|w| w[0] < w[1]), "thing/{key} in write order: {of_key:?}");
    }
    db.close().await;
}
