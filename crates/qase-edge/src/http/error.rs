//! The errors the Worker answers with ([`engine::http::error::ApiError`],
//! where each is mapped to its status and JSON body) as responses, and the
//! runtime's failures as the one error that hides their text.

pub use engine::http::error::ApiError;
use worker::web_sys::Response;

use crate::http::respond;

/// A runtime failure (`worker::Error`) as [`ApiError::Internal`]: its text
/// goes to the log, never to the caller.
pub trait OrInternal<T> {
    /// The value, or [`ApiError::Internal`] after logging the failure.
    fn or_internal(self) -> Result<T, ApiError>;
}

impl<T> OrInternal<T> for worker::Result<T> {
    fn or_internal(self) -> Result<T, ApiError> {
        self.map_err(internal)
    }
}

/// Logs a runtime failure and answers it as [`ApiError::Internal`].
fn internal(error: worker::Error) -> ApiError {
    worker::console_error!("internal error: {error}");
    ApiError::Internal
}

/// An error as the runtime's response.
pub trait ToResponse {
    /// Status, JSON body and any header the status calls for.
    fn to_response(&self) -> worker::Result<Response>;
}

impl ToResponse for ApiError {
    fn to_response(&self) -> worker::Result<Response> {
        let (body, status) = (self.body(), self.status());
        match self.header() {
            Some((name, value)) => respond::json_bytes_with_header(body, status, name, value),
            None => respond::json_bytes(body, status),
        }
    }
}
