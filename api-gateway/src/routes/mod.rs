//! The API's routes: one module per resource, each handler thin over the
//! cache, storage and the pure mappings in `pdfx_crd::rest`.

pub mod result;
pub mod status;
pub mod submit;
pub mod tasks;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post};

use crate::error::ApiError;
use crate::lang::Lang;
use crate::state::AppState;

/// The REST API (without the admin endpoints, which [`crate::run`] adds).
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/extract/pdf",
            // The upload is streamed and counted against --max-upload-bytes, not buffered.
            post(submit::submit).layer(DefaultBodyLimit::disable()),
        )
        .route("/extract/status/{task_id}", get(status::status))
        .route("/extract/result/{task_id}", get(result::result))
        .route("/extract/{task_id}", delete(tasks::cancel))
        .route("/extract", get(tasks::list))
        .route("/openapi.json", get(crate::openapi::serve))
        .fallback(|lang: Lang| async move { ApiError::NotFound.response(lang) })
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::metrics::track,
        ))
        .with_state(state)
        .merge(crate::console::router())
}
