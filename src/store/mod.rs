//! Embedded storage: token records in SQLite and finished outputs as files, both under the
//! data folder. The store holds records and bytes without knowing what they mean.

mod blobs;
mod tokens;

pub use blobs::{BlobStore, BlobWriter};
pub use tokens::{OutputRecord, RenderState, TokenRecord, TokenStore};
