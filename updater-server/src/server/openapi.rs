//! `GET /openapi.json`: an OpenAPI 3.1 description of the HTTP API, kept by hand in `openapi.json` next to this file.
//!
//! A test (`tests/it/api.rs`, `openapi_document_lists_every_route`) checks that every route the router has is in the
//! document and that every operation the document lists is routed, so the two cannot drift apart unnoticed.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

/// The document.
pub const DOCUMENT: &str = include_str!("openapi.json");

/// `GET /openapi.json`.
pub async fn document() -> Response {
    let mut response = DOCUMENT.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
