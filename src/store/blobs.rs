//! Finished outputs as files under the data folder: each written to a temporary file in the
//! same folder and renamed into place, so that a reader sees a whole file or none, even if
//! the server dies mid-write.
//!
//! ```text
//! <data>/outputs/<token id>/<output name>      finished outputs and their parts
//! ```
//!
//! Names come from the server (token ids and output names it made), never from a request
//! as they stand; each is checked to be a single plain path component anyway.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind, Result};

/// The folder of finished outputs.
#[derive(Debug, Clone)]
pub struct BlobStore {
    root: PathBuf,
}

fn io_error(what: &str, path: &Path, e: std::io::Error) -> Error {
    Error::new(ErrorKind::Io, format!("{what} {}: {e}", path.display()))
}

/// Refuses anything but one plain file name: no separators, no `..`, nothing hidden.
fn component(name: &str) -> Result<&str> {
    let plain = !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if plain {
        Ok(name)
    } else {
        Err(Error::internal(format!(
            "blob name {name:?} is not a plain file name"
        )))
    }
}

impl BlobStore {
    /// Opens (and creates) the store under `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Self> {
        let root = data_dir.join("outputs");
        std::fs::create_dir_all(&root).map_err(|e| io_error("cannot create", &root, e))?;
        Ok(Self { root })
    }

    /// The folder of one token's outputs.
    pub fn folder(&self, token_id: &str) -> Result<PathBuf> {
        Ok(self.root.join(component(token_id)?))
    }

    /// The path of `name` among a token's outputs.
    pub fn path(&self, token_id: &str, name: &str) -> Result<PathBuf> {
        Ok(self.folder(token_id)?.join(component(name)?))
    }

    /// Writes `bytes` as `name`: to a temporary file, flushed to disk, then renamed.
    pub fn put(&self, token_id: &str, name: &str, bytes: &[u8]) -> Result<PathBuf> {
        let mut writer = self.writer(token_id, name)?;
        writer.write(bytes)?;
        writer.finish()
    }

    /// A writer of `name` that takes the file's bytes piece by piece.
    pub fn writer(&self, token_id: &str, name: &str) -> Result<BlobWriter> {
        let folder = self.folder(token_id)?;
        std::fs::create_dir_all(&folder).map_err(|e| io_error("cannot create", &folder, e))?;
        let target = folder.join(component(name)?);
        let temp = tempfile::Builder::new()
            .prefix(".partial-")
            .tempfile_in(&folder)
            .map_err(|e| io_error("cannot create a file in", &folder, e))?;
        Ok(BlobWriter { temp, target })
    }

    /// Removes every output of a token; a token with none is fine.
    pub fn remove_token(&self, token_id: &str) -> Result<()> {
        let folder = self.folder(token_id)?;
        match std::fs::remove_dir_all(&folder) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error("cannot remove", &folder, e)),
        }
    }
}

/// A file being written: a temporary file beside its target, renamed into place by
/// [`BlobWriter::finish`]. Dropped before that, it leaves nothing behind.
#[derive(Debug)]
pub struct BlobWriter {
    temp: tempfile::NamedTempFile,
    target: PathBuf,
}

impl BlobWriter {
    pub fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.temp
            .write_all(bytes)
            .map_err(|e| io_error("cannot write", self.temp.path(), e))
    }

    /// Flushes the file to disk and renames it into place.
    pub fn finish(self) -> Result<PathBuf> {
        let target = self.target.clone();
        self.persist(target)
    }

    /// As [`BlobWriter::finish`], under another plain name in the same folder (one known
    /// only once the bytes are, such as their digest).
    pub fn finish_as(self, name: &str) -> Result<PathBuf> {
        let folder = self
            .target
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let target = folder.join(component(name)?);
        self.persist(target)
    }

    fn persist(self, target: PathBuf) -> Result<PathBuf> {
        let temp = self.temp;
        temp.as_file()
            .sync_all()
            .map_err(|e| io_error("cannot write", temp.path(), e))?;
        temp.persist(&target)
            .map_err(|e| io_error("cannot rename into", &target, e.error))?;
        Ok(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn puts_are_whole_and_names_stay_inside() {
        let dir = tempfile::tempdir().expect("dir");
        let store = BlobStore::open(dir.path()).expect("store");
        let path = store.put("abc", "out.mp4", b"bytes").expect("put");
        assert_eq!(std::fs::read(&path).expect("read"), b"bytes");
        store.put("abc", "out.mp4", b"other").expect("overwrite");
        assert_eq!(std::fs::read(&path).expect("read"), b"other");
        for bad in ["../x", "a/b", ".hidden", "", "a\\b"] {
            assert!(store.put("abc", bad, b"x").is_err(), "{bad}");
            assert!(store.folder(bad).is_err(), "{bad}");
        }
        store.remove_token("abc").expect("remove");
        assert!(!path.exists());
        store.remove_token("abc").expect("removing twice is fine");
    }
}
