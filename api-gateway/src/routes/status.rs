//! `GET /extract/status/{task_id}`: from the cache, never the API server.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use pdfx_crd::layout::ExtractionLayout;
use pdfx_crd::rest::{TaskState, TaskStatus, task_status};
use pdfx_crd::result::ResultDocument;
use pdfx_crd::{PdfExtraction, Phase};
use serde::{Deserialize, Serialize};

use crate::auth::Tenant;
use crate::error::{ApiError, ErrorBody, InLang, Localized};
use crate::lang::Lang;
use crate::state::AppState;

/// Body of a status answer: the shared REST status, plus where the full result is.
#[derive(Serialize, Debug, Clone, utoipa::ToSchema)]
pub struct StatusBody {
    #[serde(flatten)]
    pub status: TaskStatus,
    /// `completed` only: the full result (`?format=json|text`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result_url: Option<String>,
}

#[derive(Deserialize, Debug, Default)]
pub struct StatusQuery {
    /// Seconds to wait for a change of state or progress (capped by the server).
    pub wait: Option<u64>,
}

/// The resource of a tenant's task; another tenant's is as unknown as a missing one.
pub fn lookup(
    state: &AppState,
    tenant: &str,
    task_id: &str,
) -> Result<Arc<PdfExtraction>, ApiError> {
    state.cache().get(tenant, task_id).ok_or(ApiError::NotFound)
}

/// The status of a task, from the watch cache.
///
/// `?wait=N` long-polls: the answer comes as soon as the state or progress
/// changes (or after N seconds, capped by the server).
#[utoipa::path(
    get,
    path = "/extract/status/{task_id}",
    tag = "extract",
    params(
        ("task_id" = String, Path, description = "The `task_id` of the 202"),
        ("wait" = Option<u64>, Query, description = "Seconds to wait for a change"),
        ("Accept-Language" = Option<String>, Header, description = "`ko` for Korean messages"),
    ),
    responses(
        (status = 200, description = "The task", body = StatusBody,
            headers(("Retry-After" = Option<u32>, description = "While unfinished"))),
        (status = 400, description = "A malformed `wait`", body = ErrorBody),
        (status = 401, description = "No or unknown API key", body = ErrorBody),
        (status = 404, description = "No such task for this tenant", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn status(
    State(state): State<AppState>,
    lang: Lang,
    Tenant(tenant): Tenant,
    Path(task_id): Path<String>,
    query: Result<Query<StatusQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Localized> {
    let Query(query) = query
        .map_err(|_| {
            ApiError::bad_request(
                Some("wait"),
                "`wait` must be a whole number of seconds",
                "`wait`는 초 단위 정수여야 합니다",
            )
        })
        .lang(lang)?;
    let resource = lookup(&state, &tenant, &task_id).lang(lang)?;
    let mut current = task_status(&task_id, &resource, None);
    let wait = Duration::from_secs(query.wait.unwrap_or(0)).min(state.config().max_wait);
    if !wait.is_zero() && !current.status.is_finished() {
        current = long_poll(&state, &tenant, &task_id, current, wait).await;
    }
    let resource = state.cache().get(&tenant, &task_id).unwrap_or(resource);
    Ok(respond(&state, &resource, current, lang).await)
}

/// Waits until the watch shows the task in another state or with other
/// progress, or `wait` passes, or the gateway stops.
async fn long_poll(
    state: &AppState,
    tenant: &str,
    task_id: &str,
    start: TaskStatus,
    wait: Duration,
) -> TaskStatus {
    let mut changes = state.cache().subscribe();
    let deadline = tokio::time::Instant::now() + wait;
    let shutdown = state.shutdown().wait();
    tokio::pin!(shutdown);
    let seen = |s: &TaskStatus| (s.status, s.progress, s.pages_done, s.pages_total);
    let mut current = start.clone();
    loop {
        tokio::select! {
            changed = changes.changed() => {
                if changed.is_err() {
                    return current;
                }
            }
            () = tokio::time::sleep_until(deadline) => return current,
            () = &mut shutdown => return current,
        }
        match state.cache().get(tenant, task_id) {
            Some(r) => current = task_status(task_id, &r, None),
            // Deleted meanwhile: what the client sees is a cancellation.
            None => {
                current.status = TaskState::Failed;
                current.error_code = Some(pdfx_crd::rest::CANCELLED.to_owned());
                current.error_message = Some("the extraction was cancelled".to_owned());
                return current;
            }
        }
        if seen(&current) != seen(&start) {
            return current;
        }
    }
}

async fn respond(
    state: &AppState,
    resource: &PdfExtraction,
    mut status: TaskStatus,
    lang: Lang,
) -> Response {
    let mut result_url = None;
    if status.status == TaskState::Completed {
        result_url = Some(format!("/extract/result/{}", status.task_id));
        if let Some(document) = inline_document(state, resource).await {
            status = task_status(&status.task_id, resource, Some(&document));
        }
    }
    if lang == Lang::Ko {
        status.message = korean_message(resource, &status);
    }
    let retry = status.status.retry_after_seconds();
    let body = Json(StatusBody { status, result_url });
    match retry {
        Some(seconds) => ([(header::RETRY_AFTER, seconds.to_string())], body).into_response(),
        None => body.into_response(),
    }
}

/// The result document, when it is small enough to answer inline.
async fn inline_document(state: &AppState, resource: &PdfExtraction) -> Option<ResultDocument> {
    if resource.spec.output.is_some() {
        return None;
    }
    let namespace = resource.metadata.namespace.as_deref()?;
    let name = resource.metadata.name.as_deref()?;
    let key = state.storage_key(&ExtractionLayout::for_resource(namespace, name).result_json());
    let limit = usize::try_from(state.config().inline_result_bytes).unwrap_or(usize::MAX);
    let read = state.store().get_bytes(&key, limit);
    match tokio::time::timeout(state.config().backend_timeout, read).await {
        Ok(Ok(bytes)) => match serde_json::from_slice(&bytes) {
            Ok(doc) => Some(doc),
            Err(e) => {
                tracing::warn!(key, error = %e, "result.json does not parse");
                None
            }
        },
        Ok(Err(pdfx_storage::StorageError::TooLarge { .. })) => None,
        Ok(Err(e)) => {
            tracing::warn!(key, error = %e, "reading result.json for an inline answer");
            None
        }
        Err(_) => None,
    }
}

/// The status sentence in Korean (the operator's own messages are English).
fn korean_message(resource: &PdfExtraction, status: &TaskStatus) -> Option<String> {
    let phase = resource.status.as_ref().and_then(|s| s.phase);
    let text = match status.status {
        TaskState::Pending if phase == Some(Phase::Queued) => {
            "대기열에 있습니다: 빈 처리 슬롯을 기다리는 중입니다".to_owned()
        }
        TaskState::Pending => "처리를 기다리는 중입니다".to_owned(),
        TaskState::Processing => match (status.pages_done, status.pages_total) {
            (Some(done), Some(total)) if total > 0 => {
                format!("처리 중입니다: {total}쪽 중 {done}쪽 완료")
            }
            _ => "처리 중입니다".to_owned(),
        },
        TaskState::Completed | TaskState::Failed => return status.message.clone(),
    };
    Some(text)
}
