//! The one error type of the HTTP edge: a problem-details document from the catalogue, never
//! internals (those go to the log).

use axum::response::{IntoResponse, Response};
use http::{header, StatusCode};
use renkei_api::{ErrorCode, Problem, PROBLEM_CONTENT_TYPE};
use renkei_blob::BlobError;
use renkei_store::StoreError;

/// An error answered as `application/problem+json`.
#[derive(Debug)]
pub struct ApiError(pub Box<Problem>);

impl ApiError {
    /// The catalogue entry.
    pub fn new(code: ErrorCode) -> Self {
        Self(Box::new(Problem::new(code)))
    }
    /// With a detail for this occurrence (safe to show: no internals).
    pub fn detail(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self(Box::new(Problem::new(code).with_detail(detail)))
    }
    /// The stable code.
    pub fn code(&self) -> &str {
        &self.0.code
    }
}

impl From<ErrorCode> for ApiError {
    fn from(code: ErrorCode) -> Self {
        Self::new(code)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "metadata store error");
        match e {
            StoreError::Unavailable(_) => Self::new(ErrorCode::StorageUnavailable),
            StoreError::Full(_) => Self::new(ErrorCode::StorageFull),
            _ => Self::new(ErrorCode::Internal),
        }
    }
}

impl From<BlobError> for ApiError {
    fn from(e: BlobError) -> Self {
        match e {
            BlobError::StorageFull(_) => {
                tracing::error!(error = %e, "blob store is full");
                Self::new(ErrorCode::StorageFull)
            }
            BlobError::LengthMismatch { .. } | BlobError::Body(_) => {
                Self::detail(ErrorCode::LengthMismatch, e.to_string())
            }
            BlobError::DigestMismatch { .. } => Self::new(ErrorCode::DigestMismatch),
            other => {
                tracing::error!(error = %other, "blob store error");
                Self::new(ErrorCode::StorageUnavailable)
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&*self.0).unwrap_or_default();
        let mut resp = (status, body).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            http::HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
        );
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static("Bearer realm=\"renkei\""),
            );
        }
        resp
    }
}

/// Result alias of handlers.
pub type ApiResult<T> = Result<T, ApiError>;
