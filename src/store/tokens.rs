//! Token records and the finished outputs they own, in an SQLite file (WAL journal), so that
//! tokens, progress and finished files survive a restart.
//!
//! ```text
//! tokens  (token PK, project, movie, params, format, routing_key, parallel, upload,
//!          created_at, expires_at, total_frames, done_frames, state, error)
//! outputs (token, key, file, etag, size_bytes, content_type; PK (token, key))
//! ```
//!
//! Uploads, webhooks (`delivery.rs`) and batches (`batches.rs`) share the file.
//!
//! Each query is a few microseconds on a local file, so callers run them inline; one
//! connection behind a mutex serialises writers, as SQLite would anyway.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};

use crate::error::{Error, ErrorKind, Result};

/// Where a token's render stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenderState {
    /// Created; nothing rendered yet.
    Pending,
    /// A render is running.
    Rendering,
    /// The token's default output is finished.
    Done,
    /// The last render failed; `error` says why.
    Failed,
}

impl RenderState {
    fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Rendering => "rendering",
            Self::Done => "done",
            Self::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Self {
        match text {
            "rendering" => Self::Rendering,
            "done" => Self::Done,
            "failed" => Self::Failed,
            _ => Self::Pending,
        }
    }
}

/// One token as stored. Its `Debug` leaves out `upload`, which holds credentials.
#[derive(Clone, PartialEq)]
pub struct TokenRecord {
    /// The whole token, `v2:<region>:<id>`.
    pub token: String,
    pub project: String,
    /// The request's `movie` field as JSON: a name, or a map from extension to name.
    pub movie: serde_json::Value,
    /// The request's params as JSON.
    pub params: serde_json::Value,
    /// The extension of the returned `url`.
    pub format: String,
    pub routing_key: String,
    pub parallel: u32,
    /// The request's `upload` field, kept for when uploads run.
    pub upload: Option<serde_json::Value>,
    pub created_at: i64,
    pub expires_at: i64,
    /// Frames of the default output's movie.
    pub total_frames: u64,
    pub done_frames: u64,
    pub state: RenderState,
    pub error: Option<String>,
}

impl std::fmt::Debug for TokenRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenRecord")
            .field("token", &self.token)
            .field("project", &self.project)
            .field("movie", &self.movie)
            .field("format", &self.format)
            .field("upload", &self.upload.as_ref().map(|_| "(redacted)"))
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// One finished output of a token (or a part of one, such as an HLS segment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputRecord {
    /// What was asked for: the extension and options, or `part/<name>`.
    pub key: String,
    /// The blob's file name in the token's folder.
    pub file: String,
    /// A strong entity tag from the content.
    pub etag: String,
    pub size_bytes: u64,
    pub content_type: String,
}

/// The token database.
#[derive(Debug)]
pub struct TokenStore {
    connection: Mutex<Connection>,
}

pub(super) fn db_error(e: rusqlite::Error) -> Error {
    Error::new(ErrorKind::Io, format!("token database: {e}"))
}

pub(super) fn json_text(value: &serde_json::Value) -> String {
    value.to_string()
}

pub(super) fn json_value(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or(serde_json::Value::Null)
}

impl TokenStore {
    /// Opens (or creates) `data_dir/tokens.sqlite`.
    pub fn open(data_dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!("cannot create {}: {e}", data_dir.display()),
            )
        })?;
        let connection = Connection::open(data_dir.join("tokens.sqlite")).map_err(db_error)?;
        connection
            .execute_batch(
                "PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = NORMAL;
                 PRAGMA busy_timeout = 5000;
                 CREATE TABLE IF NOT EXISTS tokens (
                     token TEXT PRIMARY KEY,
                     project TEXT NOT NULL,
                     movie TEXT NOT NULL,
                     params TEXT NOT NULL,
                     format TEXT NOT NULL,
                     routing_key TEXT NOT NULL,
                     parallel INTEGER NOT NULL,
                     upload TEXT,
                     created_at INTEGER NOT NULL,
                     expires_at INTEGER NOT NULL,
                     total_frames INTEGER NOT NULL,
                     done_frames INTEGER NOT NULL,
                     state TEXT NOT NULL,
                     error TEXT
                 );
                 CREATE INDEX IF NOT EXISTS tokens_expiry ON tokens (expires_at);
                 CREATE TABLE IF NOT EXISTS outputs (
                     token TEXT NOT NULL,
                     key TEXT NOT NULL,
                     file TEXT NOT NULL,
                     etag TEXT NOT NULL,
                     size_bytes INTEGER NOT NULL,
                     content_type TEXT NOT NULL,
                     PRIMARY KEY (token, key)
                 );",
            )
            .map_err(db_error)?;
        connection
            .execute_batch(super::delivery::SCHEMA)
            .map_err(db_error)?;
        connection
            .execute_batch(super::batches::SCHEMA)
            .map_err(db_error)?;
        Ok(Self {
            connection: Mutex::new(connection),
        })
    }

    pub(super) fn with<T>(
        &self,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T> {
        // A panic while holding the lock leaves the connection itself intact.
        let connection = self
            .connection
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        work(&connection).map_err(db_error)
    }

    pub fn insert(&self, record: &TokenRecord) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO tokens VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                params![
                    record.token,
                    record.project,
                    json_text(&record.movie),
                    json_text(&record.params),
                    record.format,
                    record.routing_key,
                    record.parallel,
                    record.upload.as_ref().map(json_text),
                    record.created_at,
                    record.expires_at,
                    record.total_frames as i64,
                    record.done_frames as i64,
                    record.state.as_str(),
                    record.error,
                ],
            )
            .map(|_| ())
        })
    }

    /// The token, if it exists and has not expired at `now` (Unix seconds).
    pub fn get(&self, token: &str, now: i64) -> Result<Option<TokenRecord>> {
        self.with(|c| {
            c.query_row(
                "SELECT token, project, movie, params, format, routing_key, parallel, upload,
                        created_at, expires_at, total_frames, done_frames, state, error
                 FROM tokens WHERE token = ?1 AND expires_at > ?2",
                params![token, now],
                |row| {
                    Ok(TokenRecord {
                        token: row.get(0)?,
                        project: row.get(1)?,
                        movie: json_value(&row.get::<_, String>(2)?),
                        params: json_value(&row.get::<_, String>(3)?),
                        format: row.get(4)?,
                        routing_key: row.get(5)?,
                        parallel: row.get(6)?,
                        upload: row.get::<_, Option<String>>(7)?.map(|t| json_value(&t)),
                        created_at: row.get(8)?,
                        expires_at: row.get(9)?,
                        total_frames: row.get::<_, i64>(10)? as u64,
                        done_frames: row.get::<_, i64>(11)? as u64,
                        state: RenderState::parse(&row.get::<_, String>(12)?),
                        error: row.get(13)?,
                    })
                },
            )
            .optional()
        })
    }

    /// Records progress; `done_frames` only ever grows.
    pub fn set_state(
        &self,
        token: &str,
        state: RenderState,
        done_frames: u64,
        error: Option<&str>,
    ) -> Result<()> {
        self.with(|c| {
            c.execute(
                "UPDATE tokens SET state = ?2, done_frames = MAX(done_frames, ?3), error = ?4
                 WHERE token = ?1",
                params![token, state.as_str(), done_frames as i64, error],
            )
            .map(|_| ())
        })
    }

    /// Marks renders that were running when the server stopped as failed, so that no one
    /// waits for them; the next retrieval renders again. Returns how many there were.
    pub fn fail_interrupted(&self) -> Result<usize> {
        self.with(|c| {
            c.execute(
                "UPDATE tokens SET state = 'failed',
                        error = 'the render was interrupted by a server restart; retrieving the token renders it again'
                 WHERE state = 'rendering'",
                [],
            )
        })
    }

    pub fn put_output(&self, token: &str, output: &OutputRecord) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT OR REPLACE INTO outputs VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    token,
                    output.key,
                    output.file,
                    output.etag,
                    output.size_bytes as i64,
                    output.content_type
                ],
            )
            .map(|_| ())
        })
    }

    pub fn output(&self, token: &str, key: &str) -> Result<Option<OutputRecord>> {
        self.with(|c| {
            c.query_row(
                "SELECT key, file, etag, size_bytes, content_type FROM outputs
                 WHERE token = ?1 AND key = ?2",
                params![token, key],
                |row| {
                    Ok(OutputRecord {
                        key: row.get(0)?,
                        file: row.get(1)?,
                        etag: row.get(2)?,
                        size_bytes: row.get::<_, i64>(3)? as u64,
                        content_type: row.get(4)?,
                    })
                },
            )
            .optional()
        })
    }

    /// Deletes a token, its output records and its deliveries; whether it existed.
    pub fn delete(&self, token: &str) -> Result<bool> {
        self.with(|c| {
            c.execute("DELETE FROM outputs WHERE token = ?1", params![token])?;
            c.execute("DELETE FROM uploads WHERE token = ?1", params![token])?;
            c.execute("DELETE FROM webhooks WHERE token = ?1", params![token])?;
            c.execute("DELETE FROM tokens WHERE token = ?1", params![token])
                .map(|n| n > 0)
        })
    }

    /// Tokens that expired before `now`, at most `limit` of them.
    pub fn expired(&self, now: i64, limit: u32) -> Result<Vec<String>> {
        self.with(|c| {
            let mut query =
                c.prepare("SELECT token FROM tokens WHERE expires_at <= ?1 LIMIT ?2")?;
            let rows = query.query_map(params![now, limit], |row| row.get(0))?;
            rows.collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(token: &str, expires_at: i64) -> TokenRecord {
        TokenRecord {
            token: token.to_owned(),
            project: "demo".to_owned(),
            movie: serde_json::json!("welcome-video"),
            params: serde_json::json!({"name": "Zoë"}),
            format: "mp4".to_owned(),
            routing_key: "default".to_owned(),
            parallel: 1,
            upload: None,
            created_at: 100,
            expires_at,
            total_frames: 300,
            done_frames: 0,
            state: RenderState::Pending,
            error: None,
        }
    }

    #[test]
    fn records_survive_reopening_and_expire() {
        let dir = tempfile::tempdir().expect("dir");
        {
            let store = TokenStore::open(dir.path()).expect("open");
            store.insert(&record("v2:local:a", 1000)).expect("insert");
            store.insert(&record("v2:local:b", 150)).expect("insert");
            store
                .set_state("v2:local:a", RenderState::Rendering, 40, None)
                .expect("state");
            store
                .set_state("v2:local:a", RenderState::Rendering, 10, None)
                .expect("state");
        }
        let store = TokenStore::open(dir.path()).expect("reopen");
        let a = store.get("v2:local:a", 200).expect("get").expect("a");
        assert_eq!((a.done_frames, a.state), (40, RenderState::Rendering));
        assert_eq!(a.params["name"], "Zoë");
        assert!(store.get("v2:local:b", 200).expect("get").is_none());
        assert_eq!(store.expired(200, 10).expect("expired"), ["v2:local:b"]);
        assert_eq!(store.fail_interrupted().expect("fail"), 1);
        let a = store.get("v2:local:a", 200).expect("get").expect("a");
        assert_eq!(a.state, RenderState::Failed);
        assert!(store.delete("v2:local:a").expect("delete"));
        assert!(!store.delete("v2:local:a").expect("delete again"));
    }
}
