//! Accounts and failed sign-ins, in the account service's own database.

use skycamp_platform::db::{Db, Migration};

/// Schema of the account database.
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "accounts",
    sql: "CREATE TABLE accounts (phone TEXT PRIMARY KEY, password_hash TEXT NOT NULL, created_ms BIGINT NOT NULL);
          CREATE TABLE login_failures (login TEXT PRIMARY KEY, failures BIGINT NOT NULL, locked_until BIGINT NOT NULL)",
}];

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
        .execute(self.db.pool())
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
            "INSERT INTO login_failures (login, failures, locked_until) VALUES ($1, 1, 0)
             ON CONFLICT (login) DO UPDATE SET failures = login_failures.failures + 1 RETURNING failures",
        )
        .bind(login)
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

    /// A successful sign-in clears the login's failures.
    pub async fn succeeded(&self, login: &str) -> anyhow::Result<()> {
        sqlx::query("DELETE FROM login_failures WHERE login = $1").bind(login).execute(self.db.pool()).await?;
        Ok(())
    }
}
