//! Embedded storage: token records in SQLite and finished outputs as files, both under the
//! data folder. The store holds records and bytes without knowing what they mean.

mod batches;
mod blobs;
mod delivery;
mod tokens;

pub use batches::{BatchRecord, BatchState, BatchTask, TaskCounts, TaskState};
pub use blobs::{BlobStore, BlobWriter};
pub use delivery::{PendingEvent, UploadRow, UploadState};
pub use tokens::{OutputRecord, RenderState, TokenRecord, TokenStore};

/// Now, in Unix seconds: the clock of every stored time.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
