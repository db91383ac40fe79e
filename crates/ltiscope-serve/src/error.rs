//! The one place where failures become HTTP statuses. Internals (database errors, paths) are
//! logged, never sent: the client gets a short message that says what to do.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Why a request was refused.
#[derive(Debug)]
pub enum ApiError {
    /// No or unknown key.
    Unauthorized,
    /// A valid key without the right scope.
    Forbidden(&'static str),
    /// Content type or encoding not accepted.
    UnsupportedMediaType(String),
    /// Body (or inflated body) above the cap.
    TooLarge(usize),
    /// Malformed request; the body was quarantined when it could be.
    BadRequest(String),
    /// Well-formed, but a version we do not speak.
    Unprocessable(String),
    /// An id conflict (xAPI PUT).
    Conflict(String),
    /// The body did not arrive in time.
    Timeout,
    /// The queue is full: retry later.
    Overloaded(u32),
    /// The store cannot take writes right now.
    Unavailable,
    /// No such report or resource.
    NotFound(String),
    /// Something failed inside; the details are in the server log, not in the reply.
    Internal,
}

impl ApiError {
    /// The status code.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Timeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::Overloaded(_) | ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The message for the client.
    pub fn message(&self) -> String {
        match self {
            ApiError::Unauthorized => "missing or unknown API key: send it as `Authorization: Bearer <key>` (create one with `ltiscope keys create`)".into(),
            ApiError::Forbidden(what) => format!("this key may not {what}"),
            ApiError::UnsupportedMediaType(m) => m.clone(),
            ApiError::TooLarge(max) => format!("body larger than {max} bytes: send smaller batches"),
            ApiError::BadRequest(m)
            | ApiError::Unprocessable(m)
            | ApiError::Conflict(m)
            | ApiError::NotFound(m) => m.clone(),
            ApiError::Internal => "the request failed inside ltiscope: the server log has the details".into(),
            ApiError::Timeout => "the request body did not arrive in time".into(),
            ApiError::Overloaded(_) => "ltiscope is busy: retry after the number of seconds in Retry-After".into(),
            ApiError::Unavailable => "the store cannot accept writes right now: retry later".into(),
        }
    }
}

/// A query string the handler's parameters cannot take (`?limit=ten`): a 400 in the API's
/// JSON, saying which parameter and why, where axum would reply in plain text.
impl From<axum::extract::rejection::QueryRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::QueryRejection) -> Self {
        use axum::extract::rejection::QueryRejection;
        let why = match &rejection {
            // The deserializer's own words name the parameter: `limit: invalid digit ...`.
            QueryRejection::FailedToDeserializeQueryString(e) => {
                std::error::Error::source(e).map_or_else(|| e.body_text(), ToString::to_string)
            }
            other => other.body_text(),
        };
        ApiError::BadRequest(format!(
            "bad query parameter: {why} (see /api/v1/openapi.json for what each takes)"
        ))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.message() }).to_string();
        let mut response = (self.status(), body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let retry = match self {
            ApiError::Overloaded(s) => Some(s),
            ApiError::Unavailable => Some(5),
            _ => None,
        };
        if let Some(s) = retry
            && let Ok(v) = HeaderValue::from_str(&s.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
    }
}
