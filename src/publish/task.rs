//! Upload tasks as requests name them (`upload`: one object or a list), read and checked
//! once. Errors name the field (`upload[1].destination.bucket: ...`) and never repeat a
//! credential.
//!
//! ```json
//! {"extension": "mp4", "async": false, "onsuccess": "https://...", "onerror": "https://...",
//!  "destination": {"type": "s3", "bucket": "b", "filename": "a/b.mp4",
//!                  "aws_access_key_id": "...", "aws_secret_access_key": "...",
//!                  "s3host": "s3.eu-west-1.amazonaws.com", "secure": true,
//!                  "contenttype": "video/mp4", "contentdisposition": "attachment",
//!                  "acl": "public-read", "cachecontrol": "max-age=60",
//!                  "metadata": {"campaign": "spring"}}}
//! {"extension": "webm", "destination": {"type": "http", "url": "https://...",
//!                  "method": "PUT", "headers": {"Authorization": "Bearer ..."}}}
//! ```

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};
use url::Url;

pub use crate::assets::fetch::{shown, shown_url};
use crate::output::Format;

/// The destination types this server sends to.
pub const DESTINATION_TYPES: [&str; 2] = ["s3", "http"];

/// A string that never shows in `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(secret)")
    }
}

/// One upload task.
#[derive(Debug, Clone, PartialEq)]
pub struct UploadTask {
    /// Which output of the token to send.
    pub extension: Format,
    pub destination: Destination,
    /// Whether the request answers before this task ends.
    pub run_async: bool,
    /// Told the result when the task succeeds.
    pub onsuccess: Option<Url>,
    /// Told the result when the task fails for good.
    pub onerror: Option<Url>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Destination {
    S3(S3Destination),
    Http(HttpDestination),
}

impl Destination {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::S3(_) => "s3",
            Self::Http(_) => "http",
        }
    }
}

/// An S3 bucket, on AWS or any S3-compatible store.
#[derive(Debug, Clone, PartialEq)]
pub struct S3Destination {
    pub bucket: String,
    /// The object key; by default `<token id>.<extension>`.
    pub filename: Option<String>,
    /// Access key id and secret; without them requests go unsigned.
    pub credentials: Option<(String, Secret)>,
    /// Another endpoint (`host[:port]`), for other regions or S3-compatible stores.
    pub host: Option<String>,
    pub region: Option<String>,
    pub secure: bool,
    pub content_type: Option<String>,
    pub content_disposition: Option<String>,
    pub acl: Option<String>,
    pub cache_control: Option<String>,
    pub metadata: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpMethod {
    Put,
    Post,
}

/// A URL that takes the file in the body of a PUT or POST.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpDestination {
    pub url: Url,
    pub method: HttpMethod,
    /// Sent as they are; their values are treated as secrets.
    pub headers: Vec<(String, Secret)>,
}

/// The canned ACLs S3 knows.
const ACLS: [&str; 7] = [
    "private",
    "public-read",
    "public-read-write",
    "authenticated-read",
    "aws-exec-read",
    "bucket-owner-read",
    "bucket-owner-full-control",
];

/// Reads `upload` (one task or a list).
pub fn parse_tasks(upload: &Value) -> Result<Vec<UploadTask>, String> {
    match upload {
        Value::Array(list) => list
            .iter()
            .enumerate()
            .map(|(i, task)| parse_task(task, &format!("upload[{i}]")))
            .collect(),
        task => Ok(vec![parse_task(task, "upload")?]),
    }
}

/// What a JSON value is, for messages: `a string`, `an array`, ...
pub(crate) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Reads the string field `name` of `object`, if present; `at` names the object.
fn string(object: &Map<String, Value>, name: &str, at: &str) -> Result<Option<String>, String> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.len() <= 2048 && !s.chars().any(char::is_control) => {
            Ok(Some(s.clone()))
        }
        Some(Value::String(_)) => Err(format!(
            "{at}.{name}: expected at most 2048 characters without control characters"
        )),
        Some(other) => Err(format!(
            "{at}.{name}: expected a string, found {}",
            kind(other)
        )),
    }
}

fn boolean(object: &Map<String, Value>, name: &str, at: &str) -> Result<Option<bool>, String> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(format!(
            "{at}.{name}: expected true or false, found {}",
            kind(other)
        )),
    }
}

/// An http(s) URL field. Addresses are checked when the URL is used.
pub fn url_field(object: &Map<String, Value>, name: &str, at: &str) -> Result<Option<Url>, String> {
    let Some(text) = string(object, name, at)? else {
        return Ok(None);
    };
    let url = Url::parse(&text).map_err(|e| format!("{at}.{name}: expected a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(format!(
            "{at}.{name}: expected an http or https URL with a host"
        ));
    }
    Ok(Some(url))
}

fn parse_task(value: &Value, at: &str) -> Result<UploadTask, String> {
    let Some(task) = value.as_object() else {
        return Err(format!(
            "{at}: expected an object with `extension` and `destination`, found {}",
            kind(value)
        ));
    };
    let extension = match string(task, "extension", at)? {
        Some(ext) => {
            let format = Format::from_extension(ext.trim_start_matches('.'))
                .map_err(|e| format!("{at}.extension: {e}"))?;
            if matches!(format, Format::M3u8 | Format::Mpd) {
                return Err(format!(
                    "{at}.extension: {format} is a playlist of many files; an upload sends \
                     one file (mp4, webm, mov, gif, zip, a still, ...)"
                ));
            }
            format
        }
        None => {
            return Err(format!(
                "{at}.extension: required, an output extension such as \"mp4\""
            ))
        }
    };
    let destination = match task.get("destination") {
        Some(Value::Object(d)) => parse_destination(d, &format!("{at}.destination"))?,
        None | Some(Value::Null) => {
            return Err(format!(
                "{at}.destination: required, an object with `type` (\"s3\" or \"http\")"
            ))
        }
        Some(other) => {
            return Err(format!(
                "{at}.destination: expected an object, found {}",
                kind(other)
            ))
        }
    };
    Ok(UploadTask {
        extension,
        destination,
        run_async: boolean(task, "async", at)?.unwrap_or(false),
        onsuccess: url_field(task, "onsuccess", at)?,
        onerror: url_field(task, "onerror", at)?,
    })
}

fn parse_destination(d: &Map<String, Value>, at: &str) -> Result<Destination, String> {
    let supported = "expected \"s3\" or \"http\"";
    match d.get("type").and_then(Value::as_str) {
        Some("s3") => parse_s3(d, at).map(Destination::S3),
        Some("http") => parse_http(d, at).map(Destination::Http),
        Some(other) => Err(format!(
            "{at}.type: {supported}, found {other:?} (supported destinations: {})",
            DESTINATION_TYPES.join(", ")
        )),
        None => Err(format!("{at}.type: required, {supported}")),
    }
}

fn parse_s3(d: &Map<String, Value>, at: &str) -> Result<S3Destination, String> {
    let bucket = string(d, "bucket", at)?
        .ok_or_else(|| format!("{at}.bucket: required, the bucket's name"))?;
    let valid_bucket = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && !bucket.starts_with(['.', '-'])
        && !bucket.ends_with(['.', '-']);
    if !valid_bucket {
        return Err(format!(
            "{at}.bucket: expected 3 to 63 lowercase letters, digits, '.' or '-', found {bucket:?}"
        ));
    }
    let filename = string(d, "filename", at)?;
    if let Some(key) = &filename {
        // URLs resolve `.` and `..`, so such a key would be written elsewhere.
        let dots = key
            .split('/')
            .any(|segment| segment == "." || segment == "..");
        if key.is_empty() || key.len() > 1024 || key.starts_with('/') || dots {
            return Err(format!(
                "{at}.filename: expected an object key of 1 to 1024 bytes, not starting with \
                 '/', without `.` or `..` segments"
            ));
        }
    }
    let access_key = string(d, "aws_access_key_id", at)?;
    let secret_key = string(d, "aws_secret_access_key", at)?;
    let credentials = match (access_key, secret_key) {
        (Some(id), Some(secret)) => Some((id, Secret(secret))),
        (None, None) => None,
        _ => {
            return Err(format!(
                "{at}: expected both aws_access_key_id and aws_secret_access_key, or neither"
            ))
        }
    };
    let host = string(d, "s3host", at)?
        .map(|h| {
            let bare = h
                .trim_start_matches("https://")
                .trim_start_matches("http://")
                .trim_end_matches('/');
            let valid = !bare.is_empty()
                && bare.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']')
                });
            if valid {
                Ok(bare.to_owned())
            } else {
                Err(format!(
                    "{at}.s3host: expected a host name with an optional port, found {h:?}"
                ))
            }
        })
        .transpose()?;
    let region = string(d, "region", at)?;
    if let Some(region) = &region {
        if region.is_empty()
            || !region
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(format!(
                "{at}.region: expected a region name such as \"eu-west-1\""
            ));
        }
    }
    let acl = string(d, "acl", at)?;
    if let Some(acl) = &acl {
        if !ACLS.contains(&acl.as_str()) {
            return Err(format!(
                "{at}.acl: expected one of {}, found {acl:?}",
                ACLS.join(", ")
            ));
        }
    }
    let metadata = match d.get("metadata") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(Value::Object(map)) => {
            let mut metadata = BTreeMap::new();
            for (name, value) in map {
                let valid_name = !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                let value = match value {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    other => {
                        return Err(format!(
                            "{at}.metadata.{name}: expected a string, found {}",
                            kind(other)
                        ))
                    }
                };
                if !valid_name || !value.bytes().all(|b| (b' '..=b'~').contains(&b)) {
                    return Err(format!(
                        "{at}.metadata.{name}: expected a name of letters, digits, '-' or '_' \
                         and a printable ASCII value"
                    ));
                }
                metadata.insert(name.to_ascii_lowercase(), value);
            }
            if metadata
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>()
                > 2048
            {
                return Err(format!("{at}.metadata: at most 2 KB of names and values"));
            }
            metadata
        }
        Some(other) => {
            return Err(format!(
                "{at}.metadata: expected an object of names and values, found {}",
                kind(other)
            ))
        }
    };
    let header = |name: &str| -> Result<Option<String>, String> {
        let value = string(d, name, at)?;
        match &value {
            Some(v) if !v.bytes().all(|b| (b' '..=b'~').contains(&b)) => Err(format!(
                "{at}.{name}: expected printable ASCII (encode other characters, as RFC 5987 \
                 does for file names)"
            )),
            _ => Ok(value),
        }
    };
    Ok(S3Destination {
        bucket,
        filename,
        credentials,
        host,
        region,
        secure: boolean(d, "secure", at)?.unwrap_or(true),
        content_type: header("contenttype")?,
        content_disposition: header("contentdisposition")?,
        acl,
        cache_control: header("cachecontrol")?,
        metadata,
    })
}

fn parse_http(d: &Map<String, Value>, at: &str) -> Result<HttpDestination, String> {
    let url = url_field(d, "url", at)?
        .ok_or_else(|| format!("{at}.url: required, the http or https URL to send to"))?;
    let method = match string(d, "method", at)?.map(|m| m.to_ascii_uppercase()) {
        None => HttpMethod::Put,
        Some(m) if m == "PUT" => HttpMethod::Put,
        Some(m) if m == "POST" => HttpMethod::Post,
        Some(m) => return Err(format!("{at}.method: expected PUT or POST, found {m:?}")),
    };
    let headers = match d.get("headers") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(map)) => {
            let mut headers = Vec::new();
            for (name, value) in map {
                let Some(value) = value.as_str() else {
                    return Err(format!("{at}.headers.{name}: expected a string"));
                };
                let lower = name.to_ascii_lowercase();
                let valid = hyper::header::HeaderName::from_bytes(name.as_bytes()).is_ok()
                    && hyper::header::HeaderValue::from_str(value).is_ok();
                if !valid {
                    return Err(format!("{at}.headers.{name}: not a valid HTTP header"));
                }
                if matches!(
                    lower.as_str(),
                    "host" | "content-length" | "transfer-encoding" | "connection"
                ) {
                    return Err(format!(
                        "{at}.headers.{name}: set by the server, not by the request"
                    ));
                }
                headers.push((name.clone(), Secret(value.to_owned())));
            }
            headers
        }
        Some(other) => {
            return Err(format!(
                "{at}.headers: expected an object of header names and values, found {}",
                kind(other)
            ))
        }
    };
    Ok(HttpDestination {
        url,
        method,
        headers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(json: &str) -> String {
        let value: Value = serde_json::from_str(json).expect("json");
        parse_tasks(&value).expect_err("invalid")
    }

    #[test]
    fn reads_s3_and_http_tasks() {
        let value = serde_json::json!([
            {"extension": "mp4", "destination": {"type": "s3", "bucket": "my-bucket",
             "aws_access_key_id": "AKID", "aws_secret_access_key": "SECRET",
             "s3host": "http://127.0.0.1:9000/", "secure": false, "acl": "public-read",
             "metadata": {"Campaign": "spring", "n": 3}}},
            {"extension": "webm", "async": true, "onerror": "https://hooks.example/e",
             "destination": {"type": "http", "url": "https://put.example/x?sig=abc",
             "method": "post", "headers": {"Authorization": "Bearer t"}}}
        ]);
        let tasks = parse_tasks(&value).expect("valid");
        let Destination::S3(s3) = &tasks[0].destination else {
            panic!("s3")
        };
        assert_eq!(s3.host.as_deref(), Some("127.0.0.1:9000"));
        assert_eq!(s3.metadata["campaign"], "spring");
        assert_eq!(s3.metadata["n"], "3");
        assert!(!s3.secure);
        let debug = format!("{tasks:?}");
        assert!(
            !debug.contains("SECRET") && !debug.contains("Bearer t"),
            "{debug}"
        );
        assert!(tasks[1].run_async);
        let Destination::Http(http) = &tasks[1].destination else {
            panic!("http")
        };
        assert_eq!(http.method, HttpMethod::Post);
        assert_eq!(shown_url(&http.url), "https://put.example/x");
    }

    #[test]
    fn errors_name_the_field() {
        assert!(
            error(r#"{"extension": "mp4", "destination": {"type": "ftp"}}"#)
                .starts_with("upload.destination.type: expected \"s3\" or \"http\"")
        );
        assert!(
            error(r#"[{"extension": "mp4", "destination": {"type": "s3"}}]"#)
                .starts_with("upload[0].destination.bucket: required")
        );
        assert!(error(r#"{"destination": {"type": "s3"}}"#).starts_with("upload.extension"));
        assert!(
            error(r#"{"extension": "m3u8", "destination": {"type": "s3", "bucket": "abc"}}"#)
                .contains("one file")
        );
        let half = error(
            r#"{"extension": "mp4", "destination": {"type": "s3", "bucket": "abc",
                "aws_secret_access_key": "TOPSECRET"}}"#,
        );
        assert!(
            half.contains("both") && !half.contains("TOPSECRET"),
            "{half}"
        );
        assert!(error(
            r#"{"extension": "mp4", "destination": {"type": "http", "url": "ftp://x/y"}}"#
        )
        .starts_with("upload.destination.url"));
        assert!(error(
            r#"{"extension": "mp4", "destination": {"type": "s3", "bucket": "abc", "acl": "all"}}"#
        )
        .contains("public-read"));
        assert!(error(
            r#"{"extension": "mp4", "destination": {"type": "s3", "bucket": "abc", "filename": "a/../b"}}"#
        )
        .starts_with("upload.destination.filename"));
        assert!(error(
            r#"{"extension": "mp4", "destination": {"type": "s3", "bucket": "abc",
                "contentdisposition": "attachment; filename=Zoë.mp4"}}"#
        )
        .starts_with("upload.destination.contentdisposition: expected printable ASCII"));
    }
}
