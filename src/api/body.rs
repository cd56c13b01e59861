//! The JSON body of `POST /v2/render/{project}` and `POST /v2/token/{project}`, read and
//! checked once. Fields the API does not know are ignored, so that clients written for a
//! newer server keep working; every known field is checked, and an error names it.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::error::ApiError;
use crate::output::Format;
use crate::project::MovieChoice;
use crate::publish::task::kind;
use crate::publish::{parse_tasks, UploadTask};

/// The most segments one request may render at once on this machine.
pub const MAX_PARALLEL: u32 = 64;

#[derive(Debug, Deserialize)]
struct RawBody {
    movie: Option<serde_json::Value>,
    #[serde(default)]
    params: Option<serde_json::Value>,
    #[serde(default, rename = "async")]
    run_async: Option<serde_json::Value>,
    #[serde(default)]
    parallel: Option<serde_json::Value>,
    #[serde(default, alias = "routingKey")]
    routingkey: Option<serde_json::Value>,
    #[serde(default)]
    format: Option<serde_json::Value>,
    #[serde(default)]
    upload: Option<serde_json::Value>,
    #[serde(default)]
    webhook: Option<serde_json::Value>,
}

/// A checked render or token request.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderBody {
    pub movie: MovieChoice,
    pub params: serde_json::Map<String, serde_json::Value>,
    pub run_async: bool,
    /// Segments rendered at once, at most the machine's cores; `None`: all cores.
    pub parallel: Option<u32>,
    pub routing_key: String,
    /// The extension of the returned `url`.
    pub format: Format,
    /// The `upload` field as sent, kept with the token.
    pub upload: Option<serde_json::Value>,
    /// The upload tasks it names.
    pub uploads: Vec<UploadTask>,
    /// Where the render's events go.
    pub webhook: Option<url::Url>,
}

impl RenderBody {
    /// Reads and checks a request body.
    pub fn parse(bytes: &[u8]) -> Result<Self, ApiError> {
        let raw: RawBody = serde_json::from_slice(bytes).map_err(|e| {
            ApiError::bad_request(format!(
                "request body: expected a JSON object with `movie` ({e})"
            ))
        })?;

        let movie = match raw.movie {
            None => return Err(ApiError::bad_request("movie: required, found nothing")),
            Some(value) => movie_field(&value)?,
        };
        let params = match raw.params {
            None | Some(serde_json::Value::Null) => serde_json::Map::new(),
            Some(serde_json::Value::Object(map)) => map,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "params: expected an object of variable values, found {}",
                    kind(&other)
                )))
            }
        };
        let run_async = match raw.run_async {
            None | Some(serde_json::Value::Null) => false,
            Some(serde_json::Value::Bool(b)) => b,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "async: expected true or false, found {}",
                    kind(&other)
                )))
            }
        };
        let parallel = match raw.parallel {
            None | Some(serde_json::Value::Null) => None,
            Some(value) => value
                .as_u64()
                .filter(|n| (1..=u64::from(MAX_PARALLEL)).contains(n))
                .map(|n| Some(n as u32))
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "parallel: expected a whole number from 1 to {MAX_PARALLEL}, found {value}"
                    ))
                })?,
        };
        let routing_key = routing_field(raw.routingkey.as_ref(), "routingkey")?;
        let format = match raw.format {
            None | Some(serde_json::Value::Null) => Format::Mp4,
            Some(serde_json::Value::String(ext)) => Format::from_extension(&ext)
                .map_err(|e| ApiError::bad_request(format!("format: {e}")))?,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "format: expected an extension such as \"mp4\", found {}",
                    kind(&other)
                )))
            }
        };
        if let MovieChoice::ByExtension(_) = &movie {
            movie
                .for_extension(format.extension())
                .map_err(|e| ApiError::bad_request(format!("format {format}: {}", e.message())))?;
        }
        let upload = raw.upload.filter(|v| !v.is_null());
        let uploads = match &upload {
            Some(upload) => parse_tasks(upload).map_err(ApiError::bad_request)?,
            None => Vec::new(),
        };
        let webhook = webhook_field(raw.webhook)?;
        Ok(Self {
            movie,
            params,
            run_async,
            parallel,
            routing_key,
            format,
            upload,
            uploads,
            webhook,
        })
    }
}

fn movie_field(value: &serde_json::Value) -> Result<MovieChoice, ApiError> {
    let plain = |name: &str| crate::project::is_plain_name(name);
    match value {
        serde_json::Value::String(name) if plain(name) => Ok(MovieChoice::Name(name.clone())),
        serde_json::Value::Object(map) if !map.is_empty() => {
            let mut by_extension = BTreeMap::new();
            for (extension, name) in map {
                let format = Format::from_extension(extension)
                    .map_err(|e| ApiError::bad_request(format!("movie.{extension}: {e}")))?;
                match name.as_str() {
                    Some(name) if plain(name) => {
                        by_extension.insert(format.extension().to_owned(), name.to_owned());
                    }
                    _ => {
                        return Err(ApiError::bad_request(format!(
                            "movie.{extension}: expected a movie name, found {name}"
                        )))
                    }
                }
            }
            Ok(MovieChoice::ByExtension(by_extension))
        }
        other => Err(ApiError::bad_request(format!(
            "movie: expected a movie name (letters, digits, '-', '_', '.') or an object \
             mapping extensions to movie names, found {other}"
        ))),
    }
}

/// Reads a routing key field named `name`: `"default"` when absent.
pub(super) fn routing_field(
    value: Option<&serde_json::Value>,
    name: &str,
) -> Result<String, ApiError> {
    match value {
        None | Some(serde_json::Value::Null) => Ok("default".to_owned()),
        Some(serde_json::Value::String(key))
            if !key.is_empty()
                && key.len() <= 64
                && key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) =>
        {
            Ok(key.clone())
        }
        Some(other) => Err(ApiError::bad_request(format!(
            "{name}: expected up to 64 letters, digits, '-', '_' or '.', found {other}"
        ))),
    }
}

/// Reads a `webhook` field: an http(s) URL or nothing.
pub(super) fn webhook_field(
    value: Option<serde_json::Value>,
) -> Result<Option<url::Url>, ApiError> {
    let mut object = serde_json::Map::new();
    if let Some(value) = value {
        object.insert("webhook".to_owned(), value);
    }
    crate::publish::task::url_field(&object, "webhook", "body")
        .map_err(|e| ApiError::bad_request(e.trim_start_matches("body.").to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(body: &str) -> String {
        RenderBody::parse(body.as_bytes())
            .expect_err("invalid")
            .message
    }

    #[test]
    fn every_field_is_read() {
        let body = RenderBody::parse(
            br#"{"movie": {"mp4": "welcome-video", "gif": "short"}, "params": {"name": "Zoe"},
                 "async": true, "parallel": 4, "routingKey": "eu", "format": "gif",
                 "upload": {"extension": "mp4", "destination": {"type": "s3", "bucket": "videos"}},
                 "webhook": "https://hooks.example/render", "extra": 1}"#,
        )
        .expect("valid");
        assert!(body.run_async);
        assert_eq!((body.parallel, body.routing_key.as_str()), (Some(4), "eu"));
        assert_eq!(body.format, Format::Gif);
        assert_eq!(body.movie.for_extension("gif").expect("mapped"), "short");
        assert_eq!(body.uploads.len(), 1);
        assert_eq!(
            body.webhook.map(String::from).as_deref(),
            Some("https://hooks.example/render")
        );
        assert!(body.movie.for_extension("webm").is_err());
        let plain = RenderBody::parse(br#"{"movie": "welcome-video"}"#).expect("valid");
        assert_eq!((plain.parallel, plain.format), (None, Format::Mp4));
    }

    #[test]
    fn each_bad_field_is_named() {
        assert!(error("nope").starts_with("request body:"));
        assert!(error("{}").starts_with("movie: required"));
        assert!(error(r#"{"movie": "../x"}"#).starts_with("movie: expected a movie name"));
        assert!(error(r#"{"movie": "m", "params": []}"#).starts_with("params: expected"));
        assert!(error(r#"{"movie": "m", "async": "yes"}"#).starts_with("async:"));
        assert!(error(r#"{"movie": "m", "parallel": 0}"#).starts_with("parallel:"));
        assert!(error(r#"{"movie": "m", "parallel": 1000}"#).starts_with("parallel:"));
        assert!(error(r#"{"movie": "m", "routingkey": "a b"}"#).starts_with("routingkey:"));
        assert!(error(r#"{"movie": "m", "format": "avi"}"#).starts_with("format:"));
        assert!(error(r#"{"movie": {"mp4": "m"}, "format": "gif"}"#).contains("mapped: mp4"));
        assert!(error(
            r#"{"movie": "m", "upload": [{"extension": "mp4", "destination": {"type": "ftp"}}]}"#
        )
        .starts_with("upload[0].destination.type: expected \"s3\" or \"http\""));
        assert!(
            error(r#"{"movie": "m", "upload": {"destination": {"type": "s3"}}}"#)
                .starts_with("upload.extension: required")
        );
        assert!(error(r#"{"movie": "m", "webhook": "file:///etc/passwd"}"#)
            .starts_with("webhook: expected an http or https URL"));
    }
}
