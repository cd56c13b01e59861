//! Batches of render tasks, kept so that a batch survives a restart and goes on where it
//! stopped.
//!
//! ```text
//! batches     (id PK, routing, project, webhook, state, created_at)
//! batch_tasks (batch, idx, project, movie, params, format, upload, token, state, error;
//!              PK (batch, idx))
//! ```

use rusqlite::{params, OptionalExtension};

use super::tokens::{json_text, json_value, TokenStore};
use crate::error::Result;

pub(super) const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS batches (
        id TEXT PRIMARY KEY,
        routing TEXT NOT NULL,
        project TEXT NOT NULL,
        webhook TEXT,
        state TEXT NOT NULL,
        created_at INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS batch_tasks (
        batch TEXT NOT NULL,
        idx INTEGER NOT NULL,
        project TEXT NOT NULL,
        movie TEXT NOT NULL,
        params TEXT NOT NULL,
        format TEXT NOT NULL,
        upload TEXT,
        token TEXT,
        state TEXT NOT NULL,
        error TEXT,
        PRIMARY KEY (batch, idx)
    );
    CREATE INDEX IF NOT EXISTS batch_tasks_state ON batch_tasks (batch, state);";

/// Where a batch stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchState {
    /// Taking tasks; not started.
    Open,
    Running,
    /// Every task ended.
    Done,
    Cancelled,
}

impl BatchState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Running => "running",
            Self::Done => "done",
            Self::Cancelled => "cancelled",
        }
    }

    fn parse(text: &str) -> Self {
        match text {
            "running" => Self::Running,
            "done" => Self::Done,
            "cancelled" => Self::Cancelled,
            _ => Self::Open,
        }
    }
}

/// Where one task of a batch stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskState {
    Pending,
    Running,
    Done,
    Failed,
    Cancelled,
}

impl TaskState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    fn parse(text: &str) -> Self {
        match text {
            "running" => Self::Running,
            "done" => Self::Done,
            "failed" => Self::Failed,
            "cancelled" => Self::Cancelled,
            _ => Self::Pending,
        }
    }
}

/// One batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchRecord {
    pub id: String,
    pub routing: String,
    /// The project of tasks whose movie names none.
    pub project: String,
    pub webhook: Option<String>,
    pub state: BatchState,
    pub created_at: i64,
}

/// One task of a batch. Its `Debug` leaves out `upload`, which holds credentials.
#[derive(Clone, PartialEq)]
pub struct BatchTask {
    pub index: u32,
    pub project: String,
    pub movie: String,
    pub params: serde_json::Value,
    pub format: String,
    pub upload: Option<serde_json::Value>,
    /// The token made for the task once it started.
    pub token: Option<String>,
    pub state: TaskState,
    pub error: Option<String>,
}

impl std::fmt::Debug for BatchTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchTask")
            .field("index", &self.index)
            .field("project", &self.project)
            .field("movie", &self.movie)
            .field("format", &self.format)
            .field("token", &self.token)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// How many tasks of a batch are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TaskCounts {
    pub total: u64,
    pub pending: u64,
    pub running: u64,
    pub done: u64,
    pub failed: u64,
    pub cancelled: u64,
}

const TASK_COLUMNS: &str = "idx, project, movie, params, format, upload, token, state, error";

fn task_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<BatchTask> {
    Ok(BatchTask {
        index: row.get(0)?,
        project: row.get(1)?,
        movie: row.get(2)?,
        params: json_value(&row.get::<_, String>(3)?),
        format: row.get(4)?,
        upload: row.get::<_, Option<String>>(5)?.map(|t| json_value(&t)),
        token: row.get(6)?,
        state: TaskState::parse(&row.get::<_, String>(7)?),
        error: row.get(8)?,
    })
}

impl TokenStore {
    pub fn insert_batch(&self, batch: &BatchRecord) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO batches VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    batch.id,
                    batch.routing,
                    batch.project,
                    batch.webhook,
                    batch.state.as_str(),
                    batch.created_at
                ],
            )
            .map(|_| ())
        })
    }

    pub fn batch(&self, id: &str) -> Result<Option<BatchRecord>> {
        self.with(|c| {
            c.query_row(
                "SELECT id, routing, project, webhook, state, created_at FROM batches
                 WHERE id = ?1",
                params![id],
                |row| {
                    Ok(BatchRecord {
                        id: row.get(0)?,
                        routing: row.get(1)?,
                        project: row.get(2)?,
                        webhook: row.get(3)?,
                        state: BatchState::parse(&row.get::<_, String>(4)?),
                        created_at: row.get(5)?,
                    })
                },
            )
            .optional()
        })
    }

    /// Sets a batch's state; with `from`, only if it is in that state now. Whether it
    /// changed.
    pub fn set_batch_state(
        &self,
        id: &str,
        state: BatchState,
        from: Option<BatchState>,
    ) -> Result<bool> {
        self.with(|c| match from {
            Some(from) => c.execute(
                "UPDATE batches SET state = ?2 WHERE id = ?1 AND state = ?3",
                params![id, state.as_str(), from.as_str()],
            ),
            None => c.execute(
                "UPDATE batches SET state = ?2 WHERE id = ?1",
                params![id, state.as_str()],
            ),
        })
        .map(|n| n > 0)
    }

    /// Appends tasks (their `index` is assigned here) to a batch in one transaction, if
    /// it is still open; the batch's task count after it, or `None` if it is not open.
    pub fn add_batch_tasks(&self, id: &str, tasks: &[BatchTask]) -> Result<Option<u64>> {
        self.with(|c| {
            let transaction = c.unchecked_transaction()?;
            let state: Option<String> = transaction
                .query_row(
                    "SELECT state FROM batches WHERE id = ?1",
                    params![id],
                    |row| row.get(0),
                )
                .optional()?;
            if state.as_deref() != Some(BatchState::Open.as_str()) {
                return Ok(None);
            }
            let first: u32 = transaction.query_row(
                "SELECT COUNT(*) FROM batch_tasks WHERE batch = ?1",
                params![id],
                |row| row.get(0),
            )?;
            {
                let mut insert = transaction.prepare(
                    "INSERT INTO batch_tasks VALUES
                     (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL, 'pending', NULL)",
                )?;
                for (offset, task) in tasks.iter().enumerate() {
                    insert.execute(params![
                        id,
                        first + offset as u32,
                        task.project,
                        task.movie,
                        json_text(&task.params),
                        task.format,
                        task.upload.as_ref().map(json_text),
                    ])?;
                }
            }
            transaction.commit()?;
            Ok(Some(u64::from(first) + tasks.len() as u64))
        })
    }

    pub fn batch_counts(&self, id: &str) -> Result<TaskCounts> {
        self.with(|c| {
            let mut query = c.prepare(
                "SELECT state, COUNT(*) FROM batch_tasks WHERE batch = ?1 GROUP BY state",
            )?;
            let mut counts = TaskCounts::default();
            let rows = query.query_map(params![id], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)? as u64))
            })?;
            for row in rows {
                let (state, n) = row?;
                counts.total += n;
                match TaskState::parse(&state) {
                    TaskState::Pending => counts.pending += n,
                    TaskState::Running => counts.running += n,
                    TaskState::Done => counts.done += n,
                    TaskState::Failed => counts.failed += n,
                    TaskState::Cancelled => counts.cancelled += n,
                }
            }
            Ok(counts)
        })
    }

    /// Tasks of a batch in order, from `offset`, at most `limit`.
    pub fn batch_tasks(&self, id: &str, offset: u32, limit: u32) -> Result<Vec<BatchTask>> {
        self.with(|c| {
            let mut query = c.prepare(&format!(
                "SELECT {TASK_COLUMNS} FROM batch_tasks WHERE batch = ?1 AND idx >= ?2
                 ORDER BY idx LIMIT ?3"
            ))?;
            let rows = query.query_map(params![id, offset, limit], task_row)?;
            rows.collect()
        })
    }

    /// Marks the first pending task of a batch running and returns it.
    pub fn claim_batch_task(&self, id: &str) -> Result<Option<BatchTask>> {
        self.with(|c| {
            let transaction = c.unchecked_transaction()?;
            let task = transaction
                .query_row(
                    &format!(
                        "SELECT {TASK_COLUMNS} FROM batch_tasks
                         WHERE batch = ?1 AND state = 'pending' ORDER BY idx LIMIT 1"
                    ),
                    params![id],
                    task_row,
                )
                .optional()?;
            if let Some(task) = &task {
                transaction.execute(
                    "UPDATE batch_tasks SET state = 'running' WHERE batch = ?1 AND idx = ?2",
                    params![id, task.index],
                )?;
            }
            transaction.commit()?;
            Ok(task.map(|t| BatchTask {
                state: TaskState::Running,
                ..t
            }))
        })
    }

    pub fn set_batch_task(
        &self,
        id: &str,
        index: u32,
        state: TaskState,
        token: Option<&str>,
        error: Option<&str>,
    ) -> Result<()> {
        self.with(|c| {
            c.execute(
                "UPDATE batch_tasks SET state = ?3, token = COALESCE(?4, token), error = ?5
                 WHERE batch = ?1 AND idx = ?2",
                params![id, index, state.as_str(), token, error],
            )
            .map(|_| ())
        })
    }

    /// Marks a batch's pending tasks cancelled; how many there were.
    pub fn cancel_batch_tasks(&self, id: &str) -> Result<u64> {
        self.with(|c| {
            c.execute(
                "UPDATE batch_tasks SET state = 'cancelled' WHERE batch = ?1 AND state = 'pending'",
                params![id],
            )
            .map(|n| n as u64)
        })
    }

    /// Batches created before `before` that are not running, at most `limit`.
    pub fn stale_batches(&self, before: i64, limit: u32) -> Result<Vec<String>> {
        self.with(|c| {
            let mut query = c.prepare(
                "SELECT id FROM batches WHERE created_at < ?1 AND state != 'running' LIMIT ?2",
            )?;
            let rows = query.query_map(params![before, limit], |row| row.get(0))?;
            rows.collect()
        })
    }

    /// Deletes a batch and its tasks (not their tokens, which expire on their own).
    pub fn delete_batch(&self, id: &str) -> Result<()> {
        self.with(|c| {
            c.execute("DELETE FROM batch_tasks WHERE batch = ?1", params![id])?;
            c.execute("DELETE FROM batches WHERE id = ?1", params![id])
                .map(|_| ())
        })
    }

    /// Batches that were running when the server stopped, their running tasks put back
    /// to pending so that they run again (those of cancelled batches end cancelled).
    pub fn resume_batches(&self) -> Result<Vec<String>> {
        self.with(|c| {
            c.execute(
                "UPDATE batch_tasks SET state = 'pending'
                 WHERE state = 'running'
                   AND batch IN (SELECT id FROM batches WHERE state = 'running')",
                [],
            )?;
            c.execute(
                "UPDATE batch_tasks SET state = 'cancelled'
                 WHERE state = 'running'
                   AND batch IN (SELECT id FROM batches WHERE state = 'cancelled')",
                [],
            )?;
            let mut query = c.prepare("SELECT id FROM batches WHERE state = 'running'")?;
            let rows = query.query_map([], |row| row.get(0))?;
            rows.collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(movie: &str) -> BatchTask {
        BatchTask {
            index: 0,
            project: "demo".to_owned(),
            movie: movie.to_owned(),
            params: serde_json::json!({"name": "Ada"}),
            format: "mp4".to_owned(),
            upload: None,
            token: None,
            state: TaskState::Pending,
            error: None,
        }
    }

    #[test]
    fn tasks_are_claimed_in_order_and_running_ones_resume_after_reopening() {
        let dir = tempfile::tempdir().expect("dir");
        {
            let store = TokenStore::open(dir.path()).expect("open");
            store
                .insert_batch(&BatchRecord {
                    id: "b1".to_owned(),
                    routing: "default".to_owned(),
                    project: "demo".to_owned(),
                    webhook: None,
                    state: BatchState::Open,
                    created_at: 1,
                })
                .expect("batch");
            assert_eq!(
                store
                    .add_batch_tasks("b1", &[task("a"), task("b")])
                    .expect("add"),
                Some(2)
            );
            assert_eq!(
                store.add_batch_tasks("b1", &[task("c")]).expect("add"),
                Some(3)
            );
            assert!(store
                .set_batch_state("b1", BatchState::Running, Some(BatchState::Open))
                .expect("run"));
            assert!(!store
                .set_batch_state("b1", BatchState::Running, Some(BatchState::Open))
                .expect("run twice"));
            assert_eq!(
                store.add_batch_tasks("b1", &[task("d")]).expect("add"),
                None
            );
            assert_eq!(
                store.add_batch_tasks("b1", &[task("d")]).expect("add"),
                None
            );
            let first = store.claim_batch_task("b1").expect("claim").expect("task");
            assert_eq!((first.index, first.movie.as_str()), (0, "a"));
            store
                .set_batch_task("b1", 0, TaskState::Done, Some("v2:local:t"), None)
                .expect("done");
            let second = store.claim_batch_task("b1").expect("claim").expect("task");
            assert_eq!(second.index, 1);
        }
        let store = TokenStore::open(dir.path()).expect("reopen");
        assert_eq!(store.resume_batches().expect("resume"), ["b1"]);
        let counts = store.batch_counts("b1").expect("counts");
        assert_eq!((counts.total, counts.done, counts.pending), (3, 1, 2));
        let tasks = store.batch_tasks("b1", 0, 10).expect("tasks");
        assert_eq!(tasks[0].token.as_deref(), Some("v2:local:t"));
        assert_eq!(store.cancel_batch_tasks("b1").expect("cancel"), 2);
        assert!(
            store.stale_batches(10, 10).expect("stale").is_empty(),
            "b1 runs"
        );
        store
            .set_batch_state("b1", BatchState::Cancelled, None)
            .expect("cancel");
        assert_eq!(store.stale_batches(10, 10).expect("stale"), ["b1"]);
        store.delete_batch("b1").expect("delete");
        assert!(store.batch("b1").expect("batch").is_none());
        assert_eq!(store.batch_counts("b1").expect("counts").total, 0);
    }
}
