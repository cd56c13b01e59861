//! What the server owes other services for a token: the state of each upload task, and
//! the URL its events go to.
//!
//! ```text
//! uploads  (token, task, state, result; PK (token, task))   task: index in `upload`
//! webhooks (token PK, url)
//! events   (id PK, url, event, body, created_at)   events not delivered yet
//! ```
//!
//! A task is claimed once (its row inserted) before it runs, so that the render that
//! finishes an output and the request that waits for it never both send it.

use rusqlite::{params, OptionalExtension};

use super::tokens::{json_text, json_value, TokenStore};
use crate::error::Result;

pub(super) const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS uploads (
        token TEXT NOT NULL,
        task INTEGER NOT NULL,
        state TEXT NOT NULL,
        result TEXT,
        PRIMARY KEY (token, task)
    );
    CREATE TABLE IF NOT EXISTS webhooks (
        token TEXT PRIMARY KEY,
        url TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS events (
        id TEXT PRIMARY KEY,
        url TEXT NOT NULL,
        event TEXT NOT NULL,
        body TEXT NOT NULL,
        created_at INTEGER NOT NULL
    );";

/// An event on its way to a webhook or callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEvent {
    pub id: String,
    pub url: String,
    pub event: String,
    /// The JSON body, exactly as signed and sent.
    pub body: String,
}

/// Where an upload task stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadState {
    /// Claimed; sending, or waiting to retry.
    Running,
    Done,
    Failed,
}

impl UploadState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Done => "done",
            Self::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Self {
        match text {
            "done" => Self::Done,
            "failed" => Self::Failed,
            _ => Self::Running,
        }
    }
}

/// One upload task's row.
#[derive(Debug, Clone, PartialEq)]
pub struct UploadRow {
    pub token: String,
    pub task: u32,
    pub state: UploadState,
    /// What the destination answered (no credentials), once the task ended.
    pub result: Option<serde_json::Value>,
}

impl TokenStore {
    /// Claims upload task `task` of `token`; false if it was claimed before.
    pub fn claim_upload(&self, token: &str, task: u32) -> Result<bool> {
        self.with(|c| {
            c.execute(
                "INSERT OR IGNORE INTO uploads VALUES (?1, ?2, 'running', NULL)",
                params![token, task],
            )
            .map(|n| n > 0)
        })
    }

    pub fn end_upload(
        &self,
        token: &str,
        task: u32,
        state: UploadState,
        result: &serde_json::Value,
    ) -> Result<()> {
        self.with(|c| {
            c.execute(
                "UPDATE uploads SET state = ?3, result = ?4 WHERE token = ?1 AND task = ?2",
                params![token, task, state.as_str(), json_text(result)],
            )
            .map(|_| ())
        })
    }

    /// The upload rows of a token, by task.
    pub fn uploads(&self, token: &str) -> Result<Vec<UploadRow>> {
        self.query_uploads("WHERE token = ?1 ORDER BY task", token)
    }

    /// Every upload that was running when the server stopped.
    pub fn running_uploads(&self) -> Result<Vec<UploadRow>> {
        self.query_uploads(
            "WHERE state = 'running' AND ?1 = ?1 ORDER BY token, task",
            "",
        )
    }

    /// Tokens with upload tasks and a stored output but no task claimed: a token made
    /// without rendering whose render ended just before a stop.
    pub fn unclaimed_uploads(&self) -> Result<Vec<String>> {
        self.with(|c| {
            let mut query = c.prepare(
                "SELECT token FROM tokens t WHERE upload IS NOT NULL \
                 AND EXISTS (SELECT 1 FROM outputs o WHERE o.token = t.token) \
                 AND NOT EXISTS (SELECT 1 FROM uploads u WHERE u.token = t.token)",
            )?;
            let rows = query.query_map([], |row| row.get(0))?;
            rows.collect()
        })
    }

    fn query_uploads(&self, filter: &str, value: &str) -> Result<Vec<UploadRow>> {
        self.with(|c| {
            let mut query = c.prepare(&format!(
                "SELECT token, task, state, result FROM uploads {filter}"
            ))?;
            let rows = query.query_map(params![value], |row| {
                Ok(UploadRow {
                    token: row.get(0)?,
                    task: row.get(1)?,
                    state: UploadState::parse(&row.get::<_, String>(2)?),
                    result: row.get::<_, Option<String>>(3)?.map(|t| json_value(&t)),
                })
            })?;
            rows.collect()
        })
    }

    /// Keeps an event until [`TokenStore::event_done`] says it was delivered or given up.
    pub fn queue_event(&self, event: &PendingEvent, now: i64) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT OR REPLACE INTO events VALUES (?1, ?2, ?3, ?4, ?5)",
                params![event.id, event.url, event.event, event.body, now],
            )
            .map(|_| ())
        })
    }

    pub fn event_done(&self, id: &str) -> Result<()> {
        self.with(|c| {
            c.execute("DELETE FROM events WHERE id = ?1", params![id])
                .map(|_| ())
        })
    }

    /// Events not delivered yet, oldest first.
    pub fn pending_events(&self) -> Result<Vec<PendingEvent>> {
        self.with(|c| {
            let mut query =
                c.prepare("SELECT id, url, event, body FROM events ORDER BY created_at, id")?;
            let rows = query.query_map([], |row| {
                Ok(PendingEvent {
                    id: row.get(0)?,
                    url: row.get(1)?,
                    event: row.get(2)?,
                    body: row.get(3)?,
                })
            })?;
            rows.collect()
        })
    }

    pub fn set_webhook(&self, token: &str, url: &str) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT OR REPLACE INTO webhooks VALUES (?1, ?2)",
                params![token, url],
            )
            .map(|_| ())
        })
    }

    /// The URL a token's events go to, if it has one.
    pub fn webhook(&self, token: &str) -> Result<Option<String>> {
        self.with(|c| {
            c.query_row(
                "SELECT url FROM webhooks WHERE token = ?1",
                params![token],
                |row| row.get(0),
            )
            .optional()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_is_claimed_once_and_running_ones_are_found_after_reopening() {
        let dir = tempfile::tempdir().expect("dir");
        {
            let store = TokenStore::open(dir.path()).expect("open");
            assert!(store.claim_upload("v2:local:a", 0).expect("claim"));
            assert!(!store.claim_upload("v2:local:a", 0).expect("claim again"));
            assert!(store.claim_upload("v2:local:a", 1).expect("claim"));
            let result = serde_json::json!({"status": 200});
            store
                .end_upload("v2:local:a", 0, UploadState::Done, &result)
                .expect("end");
            store
                .set_webhook("v2:local:a", "https://hooks.example/x")
                .expect("hook");
        }
        let store = TokenStore::open(dir.path()).expect("reopen");
        let rows = store.uploads("v2:local:a").expect("rows");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].state, UploadState::Done);
        assert_eq!(rows[0].result.as_ref().expect("result")["status"], 200);
        let running = store.running_uploads().expect("running");
        assert_eq!((running.len(), running[0].task), (1, 1));
        assert_eq!(
            store.webhook("v2:local:a").expect("hook").as_deref(),
            Some("https://hooks.example/x")
        );
        assert!(store.webhook("v2:local:b").expect("hook").is_none());
        let event = PendingEvent {
            id: "e1".to_owned(),
            url: "https://hooks.example/x".to_owned(),
            event: "finished".to_owned(),
            body: "{}".to_owned(),
        };
        store.queue_event(&event, 5).expect("queue");
        assert_eq!(store.pending_events().expect("pending"), [event]);
        store.event_done("e1").expect("done");
        assert!(store.pending_events().expect("pending").is_empty());
    }
}
