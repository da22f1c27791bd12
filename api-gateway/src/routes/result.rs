//! `GET /extract/result/{task_id}?format=json|text`: streamed from storage.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use pdfx_crd::layout::ExtractionLayout;
use pdfx_crd::rest::{TaskState, task_status};
use serde::Deserialize;

use crate::auth::Tenant;
use crate::error::{ApiError, ErrorBody, InLang, Localized};
use crate::lang::Lang;
use crate::routes::status::lookup;
use crate::state::AppState;

/// The two forms of a result (documentation of `format`).
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum ResultFormat {
    Json,
    Text,
}

#[derive(Deserialize, Debug, Default)]
pub struct ResultQuery {
    /// `json` (default): result.json; `text`: result.txt, pages separated by form feeds.
    pub format: Option<String>,
}

/// The full result of a completed task, streamed from storage.
#[utoipa::path(
    get,
    path = "/extract/result/{task_id}",
    tag = "extract",
    params(
        ("task_id" = String, Path, description = "The `task_id` of the 202"),
        ("format" = Option<ResultFormat>, Query, description = "`json` (default): result.json; `text`: plain text, pages separated by form feeds"),
    ),
    responses(
        (status = 200, description = "The result", content(
            (Object = "application/json"),
            (String = "text/plain"),
        )),
        (status = 400, description = "An unknown `format`", body = ErrorBody),
        (status = 401, description = "No or unknown API key", body = ErrorBody),
        (status = 404, description = "No such task for this tenant", body = ErrorBody),
        (status = 409, description = "The task has not completed", body = ErrorBody),
        (status = 503, description = "Storage is unavailable", body = ErrorBody,
            headers(("Retry-After" = u32))),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn result(
    State(state): State<AppState>,
    lang: Lang,
    Tenant(tenant): Tenant,
    Path(task_id): Path<String>,
    query: Result<Query<ResultQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Localized> {
    result_inner(state, tenant, task_id, query).await.lang(lang)
}

async fn result_inner(
    state: AppState,
    tenant: String,
    task_id: String,
    query: Result<Query<ResultQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let bad_format = || {
        ApiError::bad_request(
            Some("format"),
            "`format` must be json or text",
            "`format`은 json 또는 text여야 합니다",
        )
    };
    let Query(query) = query.map_err(|_| bad_format())?;
    let text = match query.format.as_deref() {
        None | Some("json") => false,
        Some("text") => true,
        Some(_) => return Err(bad_format()),
    };
    let resource = lookup(&state, &tenant, &task_id)?;
    match task_status(&task_id, &resource, None).status {
        TaskState::Completed => {}
        TaskState::Failed => return Err(ApiError::NotReady { failed: true }),
        TaskState::Pending | TaskState::Processing => {
            return Err(ApiError::NotReady { failed: false });
        }
    }
    if resource.spec.output.is_some() {
        // Results written to a user's own bucket are read there, not through the gateway.
        return Err(ApiError::NotFound);
    }
    let layout = ExtractionLayout::for_resource(&tenant, &task_id);
    let (key, content_type) = if text {
        (layout.result_txt(), "text/plain; charset=utf-8")
    } else {
        (layout.result_json(), "application/json")
    };
    let full = state.storage_key(&key);
    let object = tokio::time::timeout(state.config().backend_timeout, state.store().get(&full))
        .await
        .map_err(|_| ApiError::StorageUnavailable("reading the result timed out".into()))?
        .map_err(|e| ApiError::from_storage(&e))?;
    let length = object.range.end - object.range.start;
    let mut response = Body::from_stream(object.body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    Ok(response)
}
