//! Sending a file to an HTTP endpoint: a PUT or POST of the bytes, streamed from the
//! stored file, with the request's headers.

use std::path::Path;

use super::send::{quoted, Failure, Outbound};
use super::task::{shown_url, HttpDestination, HttpMethod};

/// What the endpoint answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The URL without its query or user information.
    pub url: String,
    pub status: u16,
    pub attempts: u32,
}

pub async fn send(
    outbound: &Outbound,
    destination: &HttpDestination,
    file: &Path,
    size: u64,
    content_type: &str,
) -> Result<Sent, (Failure, u32)> {
    let method = match destination.method {
        HttpMethod::Put => reqwest::Method::PUT,
        HttpMethod::Post => reqwest::Method::POST,
    };
    let mut build = || {
        // Each try streams the file from its start.
        let handle = std::fs::File::open(file)
            .map_err(|e| Failure::permanent(format!("reading the output: {e}")))?;
        let stream = tokio_util::io::ReaderStream::new(tokio::fs::File::from_std(handle));
        let mut request = outbound
            .client()
            .request(method.clone(), destination.url.clone())
            .header(reqwest::header::CONTENT_LENGTH, size)
            .body(reqwest::Body::wrap_stream(stream));
        let mut typed = false;
        for (name, value) in &destination.headers {
            typed |= name.eq_ignore_ascii_case("content-type");
            request = request.header(name.as_str(), value.expose());
        }
        if !typed {
            request = request.header(reqwest::header::CONTENT_TYPE, content_type);
        }
        Ok(request)
    };
    let describe = |status: u16, body: &[u8]| {
        // An endpoint may echo the request's headers back: their values stay out.
        let mut message = format!("the endpoint answered {status} ({})", quoted(body));
        for (_, value) in &destination.headers {
            if value.expose().len() >= 4 {
                message = message.replace(value.expose(), "(redacted)");
            }
        }
        message
    };
    let (result, attempts) = outbound.send(&destination.url, &mut build, describe).await;
    match result {
        Ok(answer) => Ok(Sent {
            url: shown_url(&destination.url),
            status: answer.status,
            attempts,
        }),
        Err(failure) => Err((failure, attempts)),
    }
}
