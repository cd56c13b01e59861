//! Embedded storage: token records in SQLite and finished outputs as files, both under the
//! data folder. The store holds records and bytes without knowing what they mean.

mod batches;
mod blobs;
mod delivery;
mod tokens;

pub use batches::{BatchRecord, BatchState, BatchTask, TaskCounts, TaskState};
pub use blobs::{BlobStore, BlobWriter};
pub use delivery::{UploadRow, UploadState};
pub use tokens::{OutputRecord, RenderState, TokenRecord, TokenStore};
