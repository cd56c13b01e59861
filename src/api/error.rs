//! Errors as HTTP answers: `{"status": 400, "error": "invalid_param", "message": "..."}`
//! with the matching status, `Cache-Control: no-store`, and CORS like every answer. The
//! crate's error kinds map to statuses here and nowhere else.

use hyper::StatusCode;

use crate::error::{Error, ErrorKind};

/// An error on its way to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    /// A stable machine-readable name, such as `invalid_param`.
    pub code: &'static str,
    pub message: String,
    /// Seconds for `Retry-After` (429 and 503).
    pub retry_after_seconds: Option<u32>,
    /// Where the answer sends the client (a redirect to another region).
    pub location: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after_seconds: None,
            location: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// The same error, its message prefixed with where it happened.
    pub fn with_prefix(self, at: &str) -> Self {
        Self {
            message: format!("{at}: {}", self.message),
            ..self
        }
    }

    /// The JSON body.
    pub fn body(&self) -> String {
        serde_json::json!({
            "status": self.status.as_u16(),
            "error": self.code,
            "message": self.message,
        })
        .to_string()
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        let (status, code) = match error.kind() {
            ErrorKind::InvalidMovie => (StatusCode::BAD_REQUEST, "invalid_movie"),
            ErrorKind::InvalidParam => (StatusCode::BAD_REQUEST, "invalid_param"),
            ErrorKind::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            ErrorKind::AssetRefused => (StatusCode::BAD_REQUEST, "asset_refused"),
            ErrorKind::AssetFailed => (StatusCode::BAD_REQUEST, "asset_failed"),
            ErrorKind::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ErrorKind::Io | ErrorKind::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        Self::new(status, code, error.message())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_statuses() {
        let api: ApiError = Error::invalid_param("param `name`: too long").into();
        assert_eq!(api.status, StatusCode::BAD_REQUEST);
        let body: serde_json::Value = serde_json::from_str(&api.body()).expect("json");
        assert_eq!(body["status"], 400);
        assert_eq!(body["error"], "invalid_param");
        assert_eq!(body["message"], "param `name`: too long");
        let api: ApiError = Error::not_found("movie \"x\" not found").into();
        assert_eq!(api.status, StatusCode::NOT_FOUND);
    }
}
