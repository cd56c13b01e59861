//! A stored file as an HTTP answer: 200, 206 or 416 by `Range` and `If-Range`, 304 by
//! `If-None-Match`, HEAD without a body (RFC 9110, sections 13 and 14). The body comes
//! from an in-memory cache of hot files, weighed by bytes, or else from disk in chunks as
//! the connection takes them.

use std::path::PathBuf;

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Response, StatusCode};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::range::{if_range_allows, none_match, parse_range, RangeAnswer};
use super::Body;

/// Bytes read from disk per body chunk.
const CHUNK_BYTES: usize = 256 * 1024;

/// A finished file and what its answers say about it.
#[derive(Debug, Clone)]
pub struct StoredFile {
    pub path: PathBuf,
    pub size_bytes: u64,
    /// A strong tag, quoted: `"b3-..."`.
    pub etag: String,
    pub content_type: String,
    pub cache_control: String,
}

/// Finished files kept in memory, weighed by their size, so that hot outputs are served
/// without reading the disk or copying. Keyed by path and entity tag: a file rewritten
/// with other bytes is never served from a stale copy.
#[derive(Debug, Clone)]
pub struct FileCache {
    files: moka::future::Cache<(PathBuf, String), Bytes>,
    max_file_bytes: u64,
}

impl FileCache {
    /// A cache of at most `budget_bytes`, holding files of at most `max_file_bytes`.
    pub fn new(budget_bytes: u64, max_file_bytes: u64) -> Self {
        let files = moka::future::Cache::builder()
            .weigher(|_, bytes: &Bytes| u32::try_from(bytes.len()).unwrap_or(u32::MAX))
            .max_capacity(budget_bytes)
            .build();
        Self {
            files,
            max_file_bytes,
        }
    }

    /// The whole file, from memory or read once for every concurrent asker; `None` for
    /// files too large to keep or that cannot be read whole.
    async fn bytes(&self, file: &StoredFile) -> Option<Bytes> {
        if file.size_bytes > self.max_file_bytes {
            return None;
        }
        let key = (file.path.clone(), file.etag.clone());
        let path = file.path.clone();
        let bytes = self
            .files
            .try_get_with(
                key,
                async move { tokio::fs::read(&path).await.map(Bytes::from) },
            )
            .await
            .ok()?;
        (bytes.len() as u64 == file.size_bytes).then_some(bytes)
    }
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// An answer held in memory, such as a cached segment, served like a stored file.
#[derive(Debug, Clone)]
pub struct MemoryFile {
    pub bytes: Bytes,
    /// A strong tag, quoted: `"b3-..."`.
    pub etag: String,
    pub content_type: String,
    pub cache_control: String,
}

/// What the headers of an answer say about its entity.
struct Entity<'a> {
    size_bytes: u64,
    etag: &'a str,
    content_type: &'a str,
    cache_control: &'a str,
}

/// The answer to a GET (or HEAD, with `head`) of `file` with the request's `headers`.
pub async fn respond(
    file: &StoredFile,
    headers: &HeaderMap,
    head: bool,
    cache: &FileCache,
) -> Response<Body> {
    let entity = Entity {
        size_bytes: file.size_bytes,
        etag: &file.etag,
        content_type: &file.content_type,
        cache_control: &file.cache_control,
    };
    let (builder, span) = match plan_answer(&entity, headers) {
        Ok(planned) => planned,
        Err(answer) => return *answer,
    };
    let length = span.end - span.start;
    let body = if head || length == 0 {
        super::empty()
    } else if let Some(bytes) = cache.bytes(file).await {
        super::full(bytes.slice(span.start as usize..span.end as usize))
    } else {
        file_body(file.path.clone(), span.start, length)
    };
    builder
        .body(body)
        .unwrap_or_else(|_| super::internal_error())
}

/// The answer to a GET (or HEAD) of bytes held in memory, with ranges and tags as for
/// stored files.
pub fn respond_memory(file: &MemoryFile, headers: &HeaderMap, head: bool) -> Response<Body> {
    let entity = Entity {
        size_bytes: file.bytes.len() as u64,
        etag: &file.etag,
        content_type: &file.content_type,
        cache_control: &file.cache_control,
    };
    let (builder, span) = match plan_answer(&entity, headers) {
        Ok(planned) => planned,
        Err(answer) => return *answer,
    };
    let body = if head || span.is_empty() {
        super::empty()
    } else {
        super::full(file.bytes.slice(span.start as usize..span.end as usize))
    };
    builder
        .body(body)
        .unwrap_or_else(|_| super::internal_error())
}

/// The status and headers of an answer and the span of bytes its body holds, or a whole
/// answer without a body (304, 416).
fn plan_answer(
    entity: &Entity<'_>,
    headers: &HeaderMap,
) -> Result<(hyper::http::response::Builder, std::ops::Range<u64>), Box<Response<Body>>> {
    let mut builder = Response::builder()
        .header(header::CONTENT_TYPE, entity.content_type)
        .header(header::ETAG, entity.etag)
        .header(header::CACHE_CONTROL, entity.cache_control)
        .header(header::ACCEPT_RANGES, "bytes");

    if none_match(header_str(headers, header::IF_NONE_MATCH), entity.etag) {
        return Err(Box::new(
            builder
                .status(StatusCode::NOT_MODIFIED)
                .body(super::empty())
                .unwrap_or_else(|_| super::internal_error()),
        ));
    }

    let size = entity.size_bytes;
    let range = if if_range_allows(header_str(headers, header::IF_RANGE), entity.etag) {
        parse_range(header_str(headers, header::RANGE), size)
    } else {
        RangeAnswer::Full
    };
    let (status, span) = match range {
        RangeAnswer::Full => (StatusCode::OK, 0..size),
        RangeAnswer::Partial(span) => {
            builder = builder.header(
                header::CONTENT_RANGE,
                format!("bytes {}-{}/{size}", span.start, span.end - 1),
            );
            (StatusCode::PARTIAL_CONTENT, span)
        }
        RangeAnswer::Unsatisfiable => {
            // Not cacheable: a cache that keys on the URL alone must not keep it.
            if let Some(headers) = builder.headers_mut() {
                headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            }
            return Err(Box::new(
                builder
                    .status(StatusCode::RANGE_NOT_SATISFIABLE)
                    .header(header::CONTENT_RANGE, format!("bytes */{size}"))
                    .header(header::CONTENT_LENGTH, HeaderValue::from_static("0"))
                    .body(super::empty())
                    .unwrap_or_else(|_| super::internal_error()),
            ));
        }
    };
    let builder = builder
        .status(status)
        .header(header::CONTENT_LENGTH, span.end - span.start);
    Ok((builder, span))
}

/// `length` bytes of the file at `path` from `offset`, read chunk by chunk. A file that
/// cannot be read, or is shorter than promised, ends the body with an error, so that the
/// connection is cut rather than a short answer passing for a whole one.
fn file_body(path: PathBuf, offset: u64, length: u64) -> Body {
    struct Reading {
        file: Option<tokio::fs::File>,
        path: PathBuf,
        offset: u64,
        left: u64,
    }
    let start = Reading {
        file: None,
        path,
        offset,
        left: length,
    };
    let stream = futures::stream::unfold(start, |mut reading| async move {
        if reading.left == 0 {
            return None;
        }
        let chunk = async {
            if reading.file.is_none() {
                let mut file = tokio::fs::File::open(&reading.path).await?;
                file.seek(std::io::SeekFrom::Start(reading.offset)).await?;
                reading.file = Some(file);
            }
            let file = reading
                .file
                .as_mut()
                .ok_or_else(|| std::io::Error::other("file handle missing after open"))?;
            let want = reading.left.min(CHUNK_BYTES as u64) as usize;
            let mut buffer = vec![0u8; want];
            let read = file.read(&mut buffer).await?;
            if read == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!(
                        "{} ended {} bytes early",
                        reading.path.display(),
                        reading.left
                    ),
                ));
            }
            buffer.truncate(read);
            Ok(buffer)
        }
        .await;
        match chunk {
            Ok(buffer) => {
                reading.left -= buffer.len() as u64;
                Some((Ok(Frame::data(Bytes::from(buffer))), reading))
            }
            Err(e) => {
                reading.left = 0;
                Some((Err(e), reading))
            }
        }
    });
    StreamBody::new(stream).boxed()
}
