//! A SQLite connection shared by async code.
//!
//! rusqlite is blocking, so every call runs on tokio's blocking pool with the
//! connection locked. Databases are opened in WAL mode with `synchronous = FULL`:
//! a committed transaction is on disk when `call` returns.

use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::error::StoreError;

/// One schema step: applied in order, recorded in `PRAGMA user_version`.
pub type Migration = &'static str;

#[derive(Clone)]
pub struct Db {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("path", &self.path).finish()
    }
}

/// Makes the database (it holds password hashes and mail metadata) readable by
/// its owner only, whatever the umask or the mode of a data dir created
/// beforehand. SQLite gives its `-wal` and `-shm` files the database's mode
/// when it creates them; ones left by an earlier release are fixed here too.
fn owner_only(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::PermissionsExt;
    let mut paths = vec![path.to_path_buf()];
    for suffix in ["-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        paths.push(p.into());
    }
    for p in paths {
        match std::fs::metadata(&p) {
            Ok(m) if m.permissions().mode() & 0o077 != 0 => {
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600))?;
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

impl Db {
    /// Opens (creating if needed) the database at `path` and brings its schema up to
    /// date with `migrations`.
    pub fn open(path: &Path, migrations: &[Migration]) -> Result<Db, StoreError> {
        let conn = Connection::open(path)?;
        owner_only(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        for (i, step) in migrations.iter().enumerate().skip(version.max(0) as usize) {
            let tx = conn.unchecked_transaction()?;
            tx.execute_batch(step)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            tx.commit()?;
        }
        Ok(Db {
            conn: Arc::new(Mutex::new(conn)),
            path: path.to_path_buf(),
        })
    }

    /// Brings the tables of one module (the relay queue, the job queue, ...) up to
    /// date. Each module numbers its own steps, so modules never share a counter.
    pub fn migrate_module(&self, module: &str, steps: &[Migration]) -> Result<(), StoreError> {
        self.call_blocking(|c| {
            c.execute_batch(
                "CREATE TABLE IF NOT EXISTS schema_versions (module TEXT PRIMARY KEY, version INTEGER NOT NULL)",
            )?;
            let tx = c.transaction()?;
            let version: i64 = tx
                .query_row(
                    "SELECT version FROM schema_versions WHERE module = ?1",
                    [module],
                    |r| r.get(0),
                )
                .unwrap_or(0);
            for (i, step) in steps.iter().enumerate().skip(version.max(0) as usize) {
                tx.execute_batch(step)?;
                tx.execute(
                    "INSERT INTO schema_versions (module, version) VALUES (?1, ?2)
                     ON CONFLICT(module) DO UPDATE SET version = excluded.version",
                    rusqlite::params![module, (i + 1) as i64],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` with the connection on the blocking pool.
    pub async fn call<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(|e| StoreError::Internal(format!("database task failed: {e}")))?
    }

    /// Runs `f` with the connection on the current thread (for CLI commands and
    /// code already on a blocking thread).
    pub fn call_blocking<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut guard = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }
}
