//! Accounts and failed sign-ins, in the account service's own database.

use skycamp_platform::db::{Db, Migration};

/// Schema of the account database.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "accounts",
        sql: "CREATE TABLE accounts (phone TEXT PRIMARY KEY, password_hash TEXT NOT NULL, created_ms BIGINT NOT NULL);
              CREATE TABLE login_failures (login TEXT PRIMARY KEY, failures BIGINT NOT NULL, locked_until BIGINT NOT NULL)",
    },
    Migration {
        version: 2,
        name: "when a login last failed",
        sql: "ALTER TABLE login_failures ADD COLUMN last_failed_ms BIGINT NOT NULL DEFAULT 0",
    },
];

/// How long a login's failures are remembered after the last one.
pub const FAILURES_KEPT_MS: i64 = 24 * 3600 * 1000;

/// Customer accounts (by phone) and the failure count of every login tried.
#[derive(Clone)]
pub struct AccountStore {
    db: Db,
}

impl AccountStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Creates the account; false when the phone already has one (which is left as it is).
    pub async fn create(&self, phone: &str, password_hash: &str, now_ms: i64) -> anyhow::Result<bool> {
        let done = sqlx::query(
            "INSERT INTO accounts (phone, password_hash, created_ms) VALUES ($1, $2, $3) ON CONFLICT (phone) DO NOTHING",
        )
        .bind(phone)
        .bind(password_hash)
        .bind(now_ms)
        .execute(self.db.writer())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The account's password hash, if the phone has an account.
    pub async fn password_hash(&self, phone: &str) -> anyhow::Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT password_hash FROM accounts WHERE phone = $1")
            .bind(phone)
            .fetch_optional(self.db.pool())
            .await?)
    }

    /// Until when (ms) the login is locked; 0 when it is not.
    pub async fn locked_until(&self, login: &str) -> anyhow::Result<i64> {
        let until: Option<i64> = sqlx::query_scalar("SELECT locked_until FROM login_failures WHERE login = $1")
            .bind(login)
            .fetch_optional(self.db.pool())
            .await?;
        Ok(until.unwrap_or(0))
    }

    /// Counts one more failure; `lock_ms` gives the lock for a failure count. Returns the count.
    pub async fn failed(&self, login: &str, now_ms: i64, lock_ms: impl Fn(i64) -> i64) -> anyhow::Result<i64> {
        let mut tx = self.db.begin().await?;
        let failures: i64 = sqlx::query_scalar(
            "INSERT INTO login_failures (login, failures, locked_until, last_failed_ms) VALUES ($1, 1, 0, $2)
             ON CONFLICT (login) DO UPDATE SET failures = login_failures.failures + 1, last_failed_ms = $2
             RETURNING failures",
        )
        .bind(login)
        .bind(now_ms)
        .fetch_one(&mut *tx)
        .await?;
        let lock = lock_ms(failures);
        if lock > 0 {
            sqlx::query("UPDATE login_failures SET locked_until = $2 WHERE login = $1")
                .bind(login)
                .bind(now_ms + lock)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(failures)
    }

    /// Forgets the failures of logins that have not failed for [`FAILURES_KEPT_MS`] (and are not
    /// locked), so names tried once do not pile up; returns how many went.
    pub async fn forget_old_failures(&self, now_ms: i64) -> anyhow::Result<u64> {
        let gone = sqlx::query("DELETE FROM login_failures WHERE last_failed_ms < $1 AND locked_until < $2")
            .bind(now_ms - FAILURES_KEPT_MS)
            .bind(now_ms)
            .execute(self.db.writer())
            .await?;
        Ok(gone.rows_affected())
    }

    /// How many logins have failures on record (for tests and operators).
    pub async fn logins_with_failures(&self) -> anyhow::Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM login_failures").fetch_one(self.db.pool()).await?)
    }

    /// A successful sign-in clears the login's failures.
    pub async fn succeeded(&self, login: &str) -> anyhow::Result<()> {
        sqlx::query("DELETE FROM login_failures WHERE login = $1").bind(login).execute(self.db.writer()).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn failures_are_forgotten_a_day_after_the_last_unless_locked() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::sqlite_in(dir.path(), "account.db").await.unwrap();
        db.migrate(MIGRATIONS).await.unwrap();
        let store = AccountStore::new(db);
        let lock = |n: i64| if n >= 2 { 10 * FAILURES_KEPT_MS } else { 0 };
        store.failed("once", 0, lock).await.unwrap();
        store.failed("locked", 0, lock).await.unwrap();
        store.failed("locked", 1, lock).await.unwrap();
        store.failed("recent", FAILURES_KEPT_MS, lock).await.unwrap();
        assert_eq!(store.forget_old_failures(FAILURES_KEPT_MS + 2).await.unwrap(), 1, "only the stale one");
        assert_eq!(store.locked_until("locked").await.unwrap(), 1 + 10 * FAILURES_KEPT_MS, "a lock outlives it");
        assert_eq!(store.logins_with_failures().await.unwrap(), 2);
    }
}
