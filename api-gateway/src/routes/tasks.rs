//! `GET /extract` (the caller's tasks, from the cache) and `DELETE /extract/{task_id}`.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kube::api::DeleteParams;
use pdfx_crd::rest::{TaskState, TaskStatus, task_status};
use serde::{Deserialize, Serialize};

use crate::auth::Tenant;
use crate::error::{ApiError, ErrorBody, InLang, Localized};
use crate::lang::Lang;
use crate::routes::status::lookup;
use crate::state::AppState;

pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 500;

#[derive(Deserialize, Debug, Default)]
pub struct ListQuery {
    /// Tasks per page: 1 to 500, default 50.
    pub limit: Option<usize>,
    /// The `continue` of the previous page.
    #[serde(rename = "continue")]
    pub continue_token: Option<String>,
    /// Only tasks in this state: pending, processing, completed or failed.
    pub status: Option<String>,
}

#[derive(Serialize, Debug, Clone, utoipa::ToSchema)]
pub struct TaskList {
    /// Newest first.
    pub tasks: Vec<TaskStatus>,
    /// Pass as `continue` for the next page; absent on the last one.
    #[serde(rename = "continue", skip_serializing_if = "Option::is_none")]
    pub continue_token: Option<String>,
}

/// Where a task sorts: newest first, then by name (descending) for equal times.
type SortKey = (i64, String);

fn encode(key: &SortKey) -> String {
    format!("{}.{}", key.0, key.1)
}

fn decode(token: &str) -> Option<SortKey> {
    let (secs, name) = token.split_once('.')?;
    Some((secs.parse().ok()?, name.to_owned()))
}

/// The caller's tasks, newest first, from the watch cache.
#[utoipa::path(
    get,
    path = "/extract",
    tag = "extract",
    params(
        ("limit" = Option<usize>, Query, description = "Tasks per page, 1 to 500 (default 50)"),
        ("continue" = Option<String>, Query, description = "The `continue` of the previous page"),
        ("status" = Option<TaskState>, Query, description = "Only tasks in this state"),
    ),
    responses(
        (status = 200, description = "One page of tasks", body = TaskList),
        (status = 400, description = "A malformed parameter", body = ErrorBody),
        (status = 401, description = "No or unknown API key", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    lang: Lang,
    Tenant(tenant): Tenant,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Localized> {
    list_inner(&state, &tenant, query).lang(lang)
}

fn list_inner(
    state: &AppState,
    tenant: &str,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| {
        ApiError::bad_request(
            None,
            format!("malformed query: {e}"),
            format!("잘못된 쿼리: {e}"),
        )
    })?;
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(
            Some("limit"),
            format!("`limit` must be from 1 to {MAX_LIMIT}"),
            format!("`limit`는 1~{MAX_LIMIT} 사이여야 합니다"),
        ));
    }
    let wanted = match query.status.as_deref() {
        None | Some("") => None,
        Some(text) => Some(
            serde_json::from_value::<TaskState>(serde_json::Value::String(text.to_owned()))
                .map_err(|_| {
                    ApiError::bad_request(
                        Some("status"),
                        "`status` must be pending, processing, completed or failed",
                        "`status`는 pending, processing, completed, failed 중 하나여야 합니다",
                    )
                })?,
        ),
    };
    let after = match query.continue_token.as_deref() {
        None | Some("") => None,
        Some(token) => Some(decode(token).ok_or_else(|| {
            ApiError::bad_request(
                Some("continue"),
                "`continue` is not a token this server gave",
                "`continue` 값이 올바르지 않습니다",
            )
        })?),
    };
    let mut tasks: Vec<(SortKey, TaskStatus)> = state
        .cache()
        .tenant_tasks(tenant)
        .iter()
        .filter_map(|r| {
            let name = r.metadata.name.clone()?;
            let created = r
                .metadata
                .creation_timestamp
                .as_ref()
                .map_or(0, |t| t.0.as_second());
            let status = task_status(&name, r, None);
            Some(((created, name), status))
        })
        .filter(|(_, s)| wanted.is_none_or(|w| s.status == w))
        .filter(|(key, _)| after.as_ref().is_none_or(|a| key < a))
        .collect();
    tasks.sort_by(|a, b| b.0.cmp(&a.0));
    let more = tasks.len() > limit;
    tasks.truncate(limit);
    let continue_token = if more {
        tasks.last().map(|(key, _)| encode(key))
    } else {
        None
    };
    Ok(Json(TaskList {
        tasks: tasks.into_iter().map(|(_, s)| s).collect(),
        continue_token,
    })
    .into_response())
}

/// Cancel a task: its resource is deleted, and with it everything pdfx stored for it.
#[utoipa::path(
    delete,
    path = "/extract/{task_id}",
    tag = "extract",
    params(("task_id" = String, Path, description = "The `task_id` of the 202")),
    responses(
        (status = 204, description = "Cancelled (or deleted, if it had finished)"),
        (status = 401, description = "No or unknown API key", body = ErrorBody),
        (status = 404, description = "No such task for this tenant", body = ErrorBody),
        (status = 503, description = "The Kubernetes API is unavailable", body = ErrorBody,
            headers(("Retry-After" = u32))),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn cancel(
    State(state): State<AppState>,
    lang: Lang,
    Tenant(tenant): Tenant,
    Path(task_id): Path<String>,
) -> Result<Response, Localized> {
    cancel_inner(&state, &tenant, &task_id).await.lang(lang)
}

async fn cancel_inner(state: &AppState, tenant: &str, task_id: &str) -> Result<Response, ApiError> {
    lookup(state, tenant, task_id)?;
    let api = state.extractions(tenant);
    let params = DeleteParams::background();
    let outcome =
        tokio::time::timeout(state.config().backend_timeout, api.delete(task_id, &params))
            .await
            .map_err(|_| ApiError::ClusterUnavailable("delete timed out".into()))?;
    state.cache().forget(tenant, task_id);
    match outcome {
        Ok(_) => {
            tracing::info!(task_id, namespace = tenant, "task cancelled");
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        Err(e) => Err(ApiError::from_kube(&e)),
    }
}
