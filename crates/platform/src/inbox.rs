//! The idempotent inbox: a consumer records each handled event id in the same transaction as its
//! effect, so a redelivered event finds its id taken and changes nothing.

use crate::db::{Migration, Tx};

/// The inbox table; add it to a consuming service's migrations.
pub const MIGRATION: Migration = Migration {
    version: 9001,
    name: "inbox",
    sql: "CREATE TABLE inbox (consumer TEXT NOT NULL, event_id TEXT NOT NULL, handled_at TEXT NOT NULL,
          PRIMARY KEY (consumer, event_id))",
};

/// Claims `event_id` for `consumer` inside `tx`. Returns `false` when it was already handled:
/// the caller must then leave the transaction without effect.
pub async fn claim(tx: &mut Tx, consumer: &str, event_id: &str) -> anyhow::Result<bool> {
    let inserted = sqlx::query(
        "INSERT INTO inbox (consumer, event_id, handled_at) VALUES ($1, $2, $3)
         ON CONFLICT (consumer, event_id) DO NOTHING",
    )
    .bind(consumer)
    .bind(event_id)
    .bind(crate::time::now_rfc3339())
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
        db.migrate(&[MIGRATION]).await.unwrap();
        let mut tx = db.begin().await.unwrap();
        assert!(claim(&mut tx, "c", "e1").await.unwrap());
        assert!(!claim(&mut tx, "c", "e1").await.unwrap());
        assert!(claim(&mut tx, "other", "e1").await.unwrap());
        tx.commit().await.unwrap();
    }

    #[tokio::test]
    async fn a_rolled_back_claim_leaves_the_event_unhandled() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::sqlite_in(dir.path(), "x.db").await.unwrap();
        db.migrate(&[MIGRATION]).await.unwrap();
        let mut tx = db.begin().await.unwrap();
        assert!(claim(&mut tx, "c", "e1").await.unwrap());
        drop(tx);
        let mut tx = db.begin().await.unwrap();
        assert!(claim(&mut tx, "c", "e1").await.unwrap());
    }
}
