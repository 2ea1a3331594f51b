//! The storage adapter: one pool type for SQLite and PostgreSQL, portable migrations.
//!
//! Everything dialect-specific lives in this file: connection set-up (SQLite pragmas), how a write
//! transaction starts (SQLite needs `BEGIN IMMEDIATE`), and the one DDL token `{id}` for an
//! auto-assigned integer primary key. Queries elsewhere use portable SQL with `$1` placeholders.
//!
//! **SQLite has one writer.** A SQLite file takes one write at a time; writers that find it
//! locked wait in SQLite's busy handler, which sleeps (1, 2, 5, 10 ms …) and polls, so under
//! contention every write pays milliseconds it did not need. Here each SQLite database has a
//! dedicated writer connection ([`Db::writer`], used by [`Db::begin`]): writers queue for it
//! in process and are handed it the moment it is free; readers use their own connections
//! ([`Db::pool`], opened `query_only`, so a write sent there fails loudly instead of contending).
//! On PostgreSQL both are the same pool.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context as _;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, AssertSqlSafe, Executor as _, Transaction};

/// Which engine a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// Works out the engine from a connection URL.
    pub fn from_url(url: &str) -> anyhow::Result<Self> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(Self::Postgres)
        } else {
            anyhow::bail!("unsupported database URL {url:?}: expected sqlite:… or postgres://…")
        }
    }
}

/// A schema change, applied once, in order of `version`.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    /// Portable DDL; `{id}` stands for an auto-assigned integer primary key column type.
    pub sql: &'static str,
}

/// A connection pool to one service's database.
#[derive(Clone, Debug)]
pub struct Db {
    /// Readers (on SQLite `query_only`); on PostgreSQL every query.
    pool: AnyPool,
    /// The one writer connection (SQLite); on PostgreSQL the same pool as `pool`.
    writer: AnyPool,
    dialect: Dialect,
    /// PostgreSQL: where to listen for other instances' notifications ([`Db::on_notify`]).
    listen_url: Option<std::sync::Arc<str>>,
}

/// Serialises schema changes of every Skycamp instance on one PostgreSQL server (held until the
/// end of the transaction that takes it).
const SCHEMA_LOCK: &str = "SELECT pg_advisory_xact_lock(7306010519418695024)";

/// A write transaction; commit it or it rolls back when dropped.
pub type Tx = Transaction<'static, Any>;

impl Db {
    /// Connects to `url` (`sqlite:///path/file.db` or `postgres://…`), creating a SQLite file if missing.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let dialect = Dialect::from_url(url)?;
        let url = match dialect {
            Dialect::Sqlite if !url.contains("mode=") => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}mode=rwc")
            }
            _ => url.to_owned(),
        };
        let options = AnyConnectOptions::from_str(&url).context("parsing database URL")?;
        let connect = |role| pool_options(dialect, role).connect_with(options.clone());
        let writer = connect(Role::Writer).await.with_context(|| format!("connecting to {}", redact(&url)))?;
        let pool = match dialect {
            // The writer first: it creates the file and switches it to WAL.
            Dialect::Sqlite => {
                connect(Role::Reader).await.with_context(|| format!("connecting to {}", redact(&url)))?
            }
            Dialect::Postgres => writer.clone(),
        };
        let listen_url = (dialect == Dialect::Postgres).then(|| url.as_str().into());
        Ok(Self { pool, writer, dialect, listen_url })
    }

    /// Connects to PostgreSQL with every table in `schema` (created if missing), so several
    /// services can share one database; a SQLite URL is one file for one service, as is.
    pub async fn connect_in_schema(url: &str, schema: &'static str) -> anyhow::Result<Self> {
        if Dialect::from_url(url)? == Dialect::Sqlite {
            return Self::connect(url).await;
        }
        anyhow::ensure!(schema.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "bad schema name {schema:?}");
        let setup = Self::connect(url).await?;
        // Instances starting together would race on the catalog; one at a time creates.
        let mut tx = setup.writer().begin().await?;
        sqlx::query(SCHEMA_LOCK).execute(&mut *tx).await?;
        sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA IF NOT EXISTS {schema}")))
            .execute(&mut *tx)
            .await
            .with_context(|| format!("creating schema {schema}"))?;
        tx.commit().await?;
        setup.close().await;
        sqlx::any::install_default_drivers();
        let options = AnyConnectOptions::from_str(url).context("parsing database URL")?;
        let pool = pool_options(Dialect::Postgres, Role::Writer)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    conn.execute(AssertSqlSafe(format!("SET search_path TO {schema}"))).await?;
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .with_context(|| format!("connecting to {}", redact(url)))?;
        Ok(Self { writer: pool.clone(), pool, dialect: Dialect::Postgres, listen_url: Some(url.into()) })
    }

    /// Opens (creating if needed) the SQLite file `name` in `dir`.
    pub async fn sqlite_in(dir: &std::path::Path, name: &str) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        Self::connect(&format!("sqlite://{}", dir.join(name).display())).await
    }

    /// The engine behind this pool.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The pool for reads (on SQLite a write sent here fails: use [`Db::writer`]).
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The pool for single-statement writes: on SQLite its one writer connection. Never use it
    /// while holding a transaction of the same database (that transaction holds the writer).
    pub fn writer(&self) -> &AnyPool {
        &self.writer
    }

    /// Starts a write transaction that holds the write lock from its first statement, so
    /// read-then-write transactions never fail to upgrade under concurrency.
    pub async fn begin(&self) -> anyhow::Result<Tx> {
        let tx = match self.dialect {
            Dialect::Sqlite => self.writer.begin_with("BEGIN IMMEDIATE").await,
            Dialect::Postgres => self.writer.begin().await,
        };
        tx.context("starting a transaction")
    }

    /// Tells every instance listening on `channel` ([`Db::on_notify`]) that something changed,
    /// when (and only if) `tx` commits. On SQLite, nothing: one process owns a file.
    pub async fn notify(&self, tx: &mut Tx, channel: &str) -> anyhow::Result<()> {
        if self.dialect == Dialect::Postgres {
            sqlx::query("SELECT pg_notify($1, '')").bind(channel).execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// On PostgreSQL, a worker that calls `changed` whenever any instance commits a
    /// [`Db::notify`] on `channel`, and whenever its listening connection was lost (notifications
    /// sent meanwhile are not kept). It runs until `shutdown`. None on SQLite.
    pub fn on_notify(
        &self,
        channel: &'static str,
        shutdown: tokio_util::sync::CancellationToken,
        changed: impl Fn() + Send + Sync + 'static,
    ) -> Option<impl Future<Output = ()> + Send + 'static> {
        let url = self.listen_url.clone()?;
        Some(async move {
            let listen = || async {
                let mut listener = sqlx::postgres::PgListener::connect(&url).await?;
                listener.listen(channel).await?;
                // Anything before the first LISTEN was missed.
                changed();
                loop {
                    // None: the connection was lost; the next call reconnects and listens again.
                    if listener.try_recv().await?.is_none() {
                        tracing::warn!(channel, "lost the notification connection; reconnecting");
                    }
                    changed();
                }
            };
            loop {
                let failed: anyhow::Result<()> = tokio::select! {
                    () = shutdown.cancelled() => return,
                    failed = listen() => failed,
                };
                if let Err(e) = failed {
                    tracing::warn!(channel, error = %e, "listening for notifications failed; again in 1 s");
                }
                changed();
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        })
    }

    /// Answers whether the database can be reached.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    /// Applies every migration not yet applied, each in its own transaction. On PostgreSQL,
    /// instances of a service starting together take turns (an advisory lock), so each
    /// migration runs once and none of them fails on a concurrent `CREATE`.
    pub async fn migrate(&self, migrations: &[Migration]) -> anyhow::Result<()> {
        if self.dialect == Dialect::Sqlite {
            return self.apply(migrations).await;
        }
        let mut lock = self.writer.begin().await?;
        sqlx::query(SCHEMA_LOCK).execute(&mut *lock).await?;
        let applied = self.apply(migrations).await;
        lock.commit().await?;
        applied
    }

    async fn apply(&self, migrations: &[Migration]) -> anyhow::Result<()> {
        self.writer
            .execute("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL)")
            .await
            .context("creating schema_migrations")?;
        for m in migrations {
            let mut tx = self.begin().await?;
            let done: Option<i64> = sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = $1")
                .bind(m.version)
                .fetch_optional(&mut *tx)
                .await?;
            if done.is_some() {
                continue;
            }
            let ddl = m.sql.replace("{id}", self.id_column());
            for statement in ddl.split(';').map(str::trim).filter(|s| !s.is_empty()) {
                sqlx::query(AssertSqlSafe(statement.to_owned()))
                    .execute(&mut *tx)
                    .await
                    .with_context(|| format!("migration {} {}: {statement}", m.version, m.name))?;
            }
            sqlx::query("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)")
                .bind(m.version)
                .bind(m.name)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
        Ok(())
    }

    fn id_column(&self) -> &'static str {
        match self.dialect {
            Dialect::Sqlite => "INTEGER PRIMARY KEY AUTOINCREMENT",
            Dialect::Postgres => "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
        }
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
        self.writer.close().await;
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Reader,
    Writer,
}

/// A pooled PostgreSQL connection idle this long is pinged before it is handed out (one that
/// is in use more often than this is not: under load, no acquire pays a round trip).
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);

/// Connection pool settings. sqlx's default pings every connection it hands out, one more round
/// trip per transaction or statement; this is the cost of a booking that the profile showed
/// (docs/PERFORMANCE.md). A SQLite connection is a handle on a local file that cannot drop, so it
/// is never pinged; a PostgreSQL one only when it sat idle (a restarted server is found then).
fn pool_options(dialect: Dialect, role: Role) -> AnyPoolOptions {
    let options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(10)).test_before_acquire(false);
    match (dialect, role) {
        (Dialect::Sqlite, role) => {
            let size = if role == Role::Writer { 1 } else { 4 };
            options.max_connections(size).after_connect(move |conn, _meta| {
                Box::pin(async move {
                    // WAL lets readers run beside the writer; FULL survives power loss, not just a
                    // crash. The busy timeout is for other processes (`up --processes` shares the
                    // event log's file); in process, writers queue for the one writer instead.
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    conn.execute("PRAGMA synchronous = FULL").await?;
                    conn.execute("PRAGMA busy_timeout = 10000").await?;
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                    if role == Role::Reader {
                        conn.execute("PRAGMA query_only = ON").await?;
                    }
                    Ok(())
                })
            })
        }
        (Dialect::Postgres, _) => options.max_connections(10).before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_IF_IDLE_FOR {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        }),
    }
}

fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}://***{}", &url[..scheme], &url[at..]),
        _ => url.to_owned(),
    }
}

/// True when `err` is a unique-constraint violation (a duplicate insert).
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(e) if e.is_unique_violation())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_logs() {
        assert_eq!(redact("postgres://app:secret@db:5432/x"), "postgres://***@db:5432/x");
        assert_eq!(redact("sqlite:///tmp/a.db"), "sqlite:///tmp/a.db");
    }

    #[test]
    fn unknown_url_schemes_are_refused() {
        assert!(Dialect::from_url("mysql://x").is_err());
        assert_eq!(Dialect::from_url("postgresql://x").unwrap(), Dialect::Postgres);
    }

    #[tokio::test]
    async fn migrations_apply_once_and_data_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        const M: &[Migration] =
            &[Migration { version: 1, name: "t", sql: "CREATE TABLE t (id {id}, v TEXT NOT NULL)" }];
        let db = Db::sqlite_in(dir.path(), "x.db").await.unwrap();
        db.migrate(M).await.unwrap();
        sqlx::query("INSERT INTO t (v) VALUES ('a')").execute(db.writer()).await.unwrap();
        db.close().await;
        let db = Db::sqlite_in(dir.path(), "x.db").await.unwrap();
        db.migrate(M).await.unwrap();
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t").fetch_one(db.pool()).await.unwrap();
        assert_eq!(n, 1);
    }
}
