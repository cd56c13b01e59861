//! The crate's one error type.
//!
//! Every failure carries an [`ErrorKind`] that callers branch on (the HTTP layer maps kinds to
//! status codes in one place) and a message that names what was expected, what was found and
//! where, so that the input can be fixed without reading the source.

use std::fmt;

/// What went wrong, coarsely; the message says exactly what.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A movie file that does not parse or does not validate.
    InvalidMovie,
    /// A request parameter that does not fit its variable.
    InvalidParam,
    /// A project, movie or asset that does not exist.
    NotFound,
    /// An asset that may not be fetched (scheme, address, redirect policy).
    AssetRefused,
    /// An asset that was fetched or read but is too large, too slow or undecodable.
    AssetFailed,
    /// Reading or writing a local file failed.
    Io,
    /// A format or feature that needs a program this machine does not have.
    Unavailable,
    /// A bug or an unexpected state inside the server.
    Internal,
}

/// An error with a kind and a message that carries its context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    /// Builds an error of `kind` with a complete, lowercase message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn invalid_movie(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidMovie, message)
    }

    pub(crate) fn invalid_param(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidParam, message)
    }

    pub(crate) fn refused(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::AssetRefused, message)
    }

    pub(crate) fn asset(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::AssetFailed, message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    /// Prefixes the message with where the error happened.
    pub fn context(mut self, what: impl fmt::Display) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

pub type Result<T, E = Error> = std::result::Result<T, E>;
