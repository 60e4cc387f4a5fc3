//! The one error type of the edge functions.
//!
//! Every layer (auth, validation, Postgres, Storage) turns its failures into an
//! [`EdgeError`]; the response module renders it exactly once as HTTP status +
//! `{"error": {"code", "message"}}`. The message is always safe to show: causes
//! that must not reach a client (SQL text, connection strings, upstream bodies)
//! are written to stderr by the layer that saw them and replaced by a generic
//! sentence here.

use std::fmt;

/// The error classes of the API contract, each with its HTTP status and code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    InvalidRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    Conflict,
    PayloadTooLarge,
    UnsupportedMediaType,
    RateLimited,
    Internal,
    Unavailable,
}

impl ErrorKind {
    /// The HTTP status the kind answers with.
    pub fn status(self) -> u16 {
        match self {
            ErrorKind::InvalidRequest => 400,
            ErrorKind::Unauthorized => 401,
            ErrorKind::Forbidden => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::MethodNotAllowed => 405,
            ErrorKind::Conflict => 409,
            ErrorKind::PayloadTooLarge => 413,
            ErrorKind::UnsupportedMediaType => 415,
            ErrorKind::RateLimited => 429,
            ErrorKind::Internal => 500,
            ErrorKind::Unavailable => 503,
        }
    }

    /// The snake_case `error.code` of the JSON body.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest => "invalid_request",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::NotFound => "not_found",
            ErrorKind::MethodNotAllowed => "method_not_allowed",
            ErrorKind::Conflict => "conflict",
            ErrorKind::PayloadTooLarge => "payload_too_large",
            ErrorKind::UnsupportedMediaType => "unsupported_media_type",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Internal => "internal",
            ErrorKind::Unavailable => "unavailable",
        }
    }

    /// The kind for an HTTP status, as `PTxxx` SQLSTATEs name one. Statuses
    /// outside the contract have no kind (the caller treats them as internal).
    pub fn from_status(status: u16) -> Option<ErrorKind> {
        [
            ErrorKind::InvalidRequest,
            ErrorKind::Unauthorized,
            ErrorKind::Forbidden,
            ErrorKind::NotFound,
            ErrorKind::MethodNotAllowed,
            ErrorKind::Conflict,
            ErrorKind::PayloadTooLarge,
            ErrorKind::UnsupportedMediaType,
            ErrorKind::RateLimited,
            ErrorKind::Internal,
            ErrorKind::Unavailable,
        ]
        .into_iter()
        .find(|kind| kind.status() == status)
    }
}

/// A failure to answer with: its kind and a human sentence safe to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeError {
    pub kind: ErrorKind,
    pub message: String,
}

impl EdgeError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        EdgeError { kind, message: message.into() }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidRequest, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unauthorized, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    /// A server-side failure. `detail` goes to stderr only; the client sees a
    /// generic sentence.
    pub fn internal(detail: impl fmt::Display) -> Self {
        eprintln!("internal error: {detail}");
        Self::new(ErrorKind::Internal, "the server could not complete the request")
    }

    /// A dependency (Postgres, Storage) is unreachable. `detail` goes to
    /// stderr only.
    pub fn unavailable(what: &str, detail: impl fmt::Display) -> Self {
        eprintln!("{what} unavailable: {detail}");
        Self::new(ErrorKind::Unavailable, format!("{what} is unavailable, try again later"))
    }

    pub fn status(&self) -> u16 {
        self.kind.status()
    }

    pub fn code(&self) -> &'static str {
        self.kind.code()
    }
}

impl fmt::Display for EdgeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.code(), self.status(), self.message)
    }
}

impl std::error::Error for EdgeError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_status() {
        for status in [400, 401, 403, 404, 405, 409, 413, 415, 429, 500, 503] {
            let kind = ErrorKind::from_status(status).unwrap();
            assert_eq!(kind.status(), status);
        }
        assert_eq!(ErrorKind::from_status(418), None);
        assert_eq!(ErrorKind::from_status(200), None);
    }

    #[test]
    fn codes_are_the_contract_codes() {
        assert_eq!(ErrorKind::InvalidRequest.code(), "invalid_request");
        assert_eq!(ErrorKind::RateLimited.code(), "rate_limited");
        assert_eq!(ErrorKind::UnsupportedMediaType.code(), "unsupported_media_type");
        assert_eq!(ErrorKind::Internal.code(), "internal");
    }

    #[test]
    fn internal_errors_hide_their_detail() {
        let error = EdgeError::internal("password authentication failed for user postgres");
        assert_eq!(error.status(), 500);
        assert!(!error.message.contains("password"));
    }
}
