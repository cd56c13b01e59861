//! Delivery: finished outputs rendered once and kept (`render` mode), streams sent while
//! they render (`get`) or rendered segment by segment as players ask (`play`), and serving
//! stored files with byte ranges and entity tags. Knows tokens only as store records; knows
//! nothing of routes.

pub mod file;
pub mod finished;
pub mod range;
pub mod segments;
pub mod stream;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::{Response, StatusCode};

/// Every response body: whole buffers or chunks read from disk.
pub type Body = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

pub fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// A bare 500 for the rare case where building a response itself fails.
pub fn internal_error() -> Response<Body> {
    let mut response = Response::new(full(
        r#"{"status":500,"error":"internal","message":"the response could not be built"}"#,
    ));
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response
}

/// A strong entity tag from content: quoted, stable across restarts and machines.
pub fn content_etag(bytes: &[u8]) -> String {
    digest_etag(&blake3::hash(bytes))
}

/// The entity tag of content whose BLAKE3 digest is `digest`.
pub fn digest_etag(digest: &blake3::Hash) -> String {
    let hex: String = digest.as_bytes()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("\"b3-{hex}\"")
}
