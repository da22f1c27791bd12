//! `POST /extract/pdf`: the body streamed to storage, then the resource created.

use axum::extract::multipart::Field;
use axum::extract::{FromRequest, Multipart, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kube::ResourceExt;
use kube::api::{ListParams, PostParams};
use pdfx_crd::rest::TaskState;
use pdfx_crd::{OcrOptions, PdfExtraction};
use serde::Serialize;

use crate::auth::Tenant;
use crate::error::{ApiError, ErrorBody, InLang, Localized};
use crate::extraction::{self, MAX_IDEMPOTENCY_KEY, Upload};
use crate::lang::Lang;
use crate::options::RawOptions;
use crate::state::AppState;
use crate::upload::{Inspect, Rejected};

/// Longest text option field read from a form.
const MAX_FIELD_BYTES: usize = 4096;
/// Most of a refused body read before answering (see [`drain`]).
const DRAIN_LIMIT: usize = 1024 * 1024;
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(5);
/// `Retry-After` of a 202: the first status poll.
const FIRST_POLL_SECONDS: u32 = 2;

/// The multipart form of `POST /extract/pdf` (documentation only: the handler
/// streams the fields as they come).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct SubmitForm {
    /// The PDF.
    #[schema(content_media_type = "application/pdf")]
    pub file: Vec<u8>,
    pub languages: Option<String>,
    pub dpi: Option<String>,
    pub pages: Option<String>,
    pub ocr_mode: Option<String>,
    pub engine: Option<String>,
}

/// Body of a 202 (the seed's shape).
#[derive(Serialize, Debug, Clone, utoipa::ToSchema)]
pub struct Accepted {
    pub task_id: String,
    /// `pending` for a new task; an idempotent repeat shows the task's state now.
    pub status: TaskState,
    pub message: String,
}

type QueryPairs = Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>;

/// Submit a PDF for extraction.
///
/// `multipart/form-data` with the field `file` (and optional option fields),
/// or the raw PDF as `application/pdf` with the options as query parameters.
/// With `Idempotency-Key`, the same key from the same tenant always answers
/// with the same task and stores nothing twice.
#[utoipa::path(
    post,
    path = "/extract/pdf",
    tag = "extract",
    params(
        ("languages" = Option<String>, Query, description = "Tesseract languages, e.g. `kor+eng` (default `eng`)"),
        ("dpi" = Option<String>, Query, description = "OCR resolution, 72 to 600 (default 300)"),
        ("pages" = Option<String>, Query, description = "Pages, e.g. `1-5,9`, `10-`, `-3` (default all)"),
        ("ocr_mode" = Option<String>, Query, description = "`auto`, `always` or `never`"),
        ("engine" = Option<String>, Query, description = "`tesseract` or `http`"),
        ("filename" = Option<String>, Query, description = "Original file name of a raw upload"),
        ("Idempotency-Key" = Option<String>, Header, description = "Same key + same tenant = same task"),
        ("Accept-Language" = Option<String>, Header, description = "`ko` for Korean messages"),
    ),
    request_body(content(
        (SubmitForm = "multipart/form-data"),
        (Vec<u8> = "application/pdf"),
    )),
    responses(
        (status = 202, description = "Accepted: poll `Location`", body = Accepted,
            headers(("Location" = String, description = "The status URL"), ("Retry-After" = u32))),
        (status = 400, description = "Malformed request or invalid option (`field` names it)", body = ErrorBody),
        (status = 401, description = "No or unknown API key", body = ErrorBody),
        (status = 413, description = "Larger than the upload limit", body = ErrorBody),
        (status = 415, description = "Not a PDF, or an unsupported content type", body = ErrorBody),
        (status = 429, description = "Too many unfinished tasks for the tenant", body = ErrorBody,
            headers(("Retry-After" = u32))),
        (status = 503, description = "Storage or the Kubernetes API is unavailable", body = ErrorBody,
            headers(("Retry-After" = u32))),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn submit(
    State(state): State<AppState>,
    lang: Lang,
    Tenant(tenant): Tenant,
    query: QueryPairs,
    request: Request,
) -> Result<Response, Localized> {
    submit_inner(state, lang, tenant, query, request)
        .await
        .lang(lang)
}

async fn submit_inner(
    state: AppState,
    lang: Lang,
    tenant: String,
    query: QueryPairs,
    request: Request,
) -> Result<Response, ApiError> {
    // The body is not Sync: the checks below hold only the headers across awaits.
    let headers = request.headers().clone();
    let before = async {
        let Query(pairs) = query.map_err(|e| {
            ApiError::bad_request(
                None,
                format!("malformed query: {e}"),
                format!("잘못된 쿼리: {e}"),
            )
        })?;
        let mut from_query = RawOptions::default();
        let mut filename = None;
        for (k, v) in pairs {
            if k == "filename" {
                filename = extraction::clean_filename(&v);
            } else {
                from_query.set(&k, v);
            }
        }
        let idempotency_key = idempotency_key(&headers)?;
        let task_id = match &idempotency_key {
            Some(key) => extraction::idempotent_task_id(&tenant, key),
            None => extraction::new_task_id(),
        };
        if idempotency_key.is_some()
            && let Some(existing) = state.cache().get(&tenant, &task_id)
        {
            return Ok(Err(accepted(&existing, lang)));
        }
        check_quota(&state, &tenant)?;
        check_backends(&state, &tenant).await?;
        Ok(Ok((from_query, filename, idempotency_key, task_id)))
    };
    let (from_query, filename, idempotency_key, task_id) = match before.await {
        Ok(Ok(go_on)) => go_on,
        Ok(Err(repeat)) => {
            drain(request).await;
            return Ok(repeat);
        }
        Err(e) => {
            drain(request).await;
            return Err(e);
        }
    };

    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let upload_id = extraction::new_upload_id();
    let key = extraction::upload_key(&tenant, &task_id, &upload_id);
    let (upload, ocr) = match essence.as_str() {
        "multipart/form-data" => {
            let multipart = Multipart::from_request(request, &state)
                .await
                .map_err(|e| {
                    ApiError::bad_request(
                        None,
                        format!("malformed multipart body: {e}"),
                        format!("잘못된 multipart 본문: {e}"),
                    )
                })?;
            from_multipart(&state, multipart, from_query, upload_id, key).await?
        }
        "" | "application/pdf" | "application/octet-stream" => {
            let ocr = match from_query.validate() {
                Ok(ocr) => ocr,
                Err(e) => {
                    drain(request).await;
                    return Err(ApiError::InvalidOption(e));
                }
            };
            let body = request.into_body().into_data_stream();
            let upload = store_upload(&state, body, upload_id, key, filename).await?;
            (upload, ocr)
        }
        _ => {
            drain(request).await;
            return Err(ApiError::UnsupportedContentType(content_type));
        }
    };

    // From here on the work runs to its end even if the client goes away, so
    // that an upload never stays without its resource (or the other way round).
    let resource =
        extraction::extraction_for(&tenant, &task_id, &upload, ocr, idempotency_key.as_deref());
    let creating = tokio::spawn(create(
        state.clone(),
        resource,
        upload,
        idempotency_key.is_some(),
    ));
    let created = creating
        .await
        .map_err(|e| ApiError::Internal(format!("the create task panicked: {e}")))??;
    Ok(accepted(&created, lang))
}

/// Reads and drops a small body the gateway refuses before storing it, so
/// that the client, still sending, reads the answer instead of a reset
/// connection. A larger one is cut off (the connection closes).
async fn drain(request: Request) {
    let mut body = request.into_body().into_data_stream();
    let mut read = 0usize;
    let drained = async {
        while let Some(Ok(chunk)) = futures::StreamExt::next(&mut body).await {
            read += chunk.len();
            if read > DRAIN_LIMIT {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME, drained).await;
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let bad = || {
        ApiError::bad_request(
            Some("Idempotency-Key"),
            format!(
                "the Idempotency-Key header must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"
            ),
            format!("Idempotency-Key 헤더는 1~{MAX_IDEMPOTENCY_KEY}자의 ASCII 문자여야 합니다"),
        )
    };
    let text = value.to_str().map_err(|_| bad())?.trim();
    if text.is_empty() || text.len() > MAX_IDEMPOTENCY_KEY {
        return Err(bad());
    }
    Ok(Some(text.to_owned()))
}

fn check_quota(state: &AppState, tenant: &str) -> Result<(), ApiError> {
    let limit = state.config().max_queued_per_tenant;
    let unfinished = state
        .cache()
        .tenant_tasks(tenant)
        .iter()
        .filter(|r| {
            !pdfx_crd::rest::task_status("", r, None)
                .status
                .is_finished()
        })
        .count();
    if unfinished >= limit {
        return Err(ApiError::TooManyTasks { limit });
    }
    Ok(())
}

/// Refuses at once, before any byte is read, when storage or the API server
/// is known to be down, instead of after the client has sent a whole file.
async fn check_backends(state: &AppState, tenant: &str) -> Result<(), ApiError> {
    if !state.storage_ok() {
        return Err(ApiError::StorageUnavailable(
            "the last storage probe failed".into(),
        ));
    }
    if !state.cache().is_healthy() {
        let api = state.extractions(tenant);
        let params = ListParams::default().limit(1);
        match tokio::time::timeout(state.config().backend_timeout, api.list(&params)).await {
            Ok(Ok(_)) => state.cache().mark_healthy(),
            Ok(Err(e)) => return Err(ApiError::from_kube(&e)),
            Err(_) => return Err(ApiError::ClusterUnavailable("probe timed out".into())),
        }
    }
    Ok(())
}

/// Streams a body into storage under `key`.
async fn store_upload<S, E>(
    state: &AppState,
    body: S,
    upload_id: String,
    key: String,
    filename: Option<String>,
) -> Result<Upload, ApiError>
where
    S: futures::Stream<Item = Result<bytes::Bytes, E>> + Unpin + Send,
    E: std::fmt::Display,
{
    let limit = state.config().max_upload_bytes;
    let counter = state.metrics().upload_bytes.clone();
    let (stream, seen) = Inspect::counted(body, limit, Some(counter));
    let full = state.storage_key(&key);
    let stored = state
        .store()
        .put_stream(&full, stream, Some("application/pdf"))
        .await;
    let seen = seen
        .lock()
        .map_err(|_| ApiError::Internal("upload state poisoned".into()))?;
    let outcome = match &stored {
        Ok(_) => "stored",
        Err(_) if seen.rejected.is_some() => "rejected",
        Err(_) if seen.input_failed => "client_failed",
        Err(_) => "storage_failed",
    };
    state.metrics().uploads.with_label_values(&[outcome]).inc();
    match stored {
        Ok(size) => Ok(Upload {
            upload_id,
            key,
            size,
            sha256: seen.sha256_hex(),
            filename,
        }),
        Err(e) => Err(match seen.rejected.or_else(|| Rejected::find(&e)) {
            Some(Rejected::TooLarge(limit)) => ApiError::TooLarge { limit },
            Some(Rejected::NotPdf) => ApiError::NotPdf,
            None if seen.input_failed => ApiError::bad_request(
                Some("file"),
                "the request body ended early",
                "요청 본문이 중간에 끊겼습니다",
            ),
            None => {
                state.set_storage_ok(!e.is_transient());
                ApiError::from_storage(&e)
            }
        }),
    }
}

async fn from_multipart(
    state: &AppState,
    mut multipart: Multipart,
    from_query: RawOptions,
    upload_id: String,
    key: String,
) -> Result<(Upload, OcrOptions), ApiError> {
    let malformed = |e: axum::extract::multipart::MultipartError| {
        ApiError::bad_request(
            None,
            format!("malformed multipart body: {e}"),
            format!("잘못된 multipart 본문: {e}"),
        )
    };
    let mut form = RawOptions::default();
    let mut upload: Option<Upload> = None;
    let result = async {
        while let Some(field) = multipart.next_field().await.map_err(malformed)? {
            let name = field.name().unwrap_or("").to_owned();
            if name == "file" {
                if upload.is_some() {
                    return Err(ApiError::bad_request(
                        Some("file"),
                        "only one `file` field is accepted",
                        "`file` 필드는 하나만 보낼 수 있습니다",
                    ));
                }
                // Options sent before the file are checked before it is stored.
                form.clone()
                    .or(from_query.clone())
                    .validate()
                    .map_err(ApiError::InvalidOption)?;
                let filename = field.file_name().and_then(extraction::clean_filename);
                upload = Some(
                    store_upload(state, field, upload_id.clone(), key.clone(), filename).await?,
                );
            } else if crate::options::FIELDS.contains(&name.as_str()) {
                let value = read_text(field, &name).await?;
                form.set(&name, value);
            } else {
                tracing::debug!(field = %name, "ignoring an unknown form field");
            }
        }
        let ocr = form
            .clone()
            .or(from_query.clone())
            .validate()
            .map_err(ApiError::InvalidOption)?;
        match &upload {
            Some(u) => Ok((u.clone(), ocr)),
            None => Err(ApiError::bad_request(
                Some("file"),
                "the form has no `file` field",
                "폼에 `file` 필드가 없습니다",
            )),
        }
    }
    .await;
    if result.is_err()
        && let Some(stored) = &upload
    {
        delete_upload(state, &stored.key).await;
    }
    result
}

async fn read_text(mut field: Field<'_>, name: &str) -> Result<String, ApiError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(|e| {
        ApiError::bad_request(
            Some(name),
            format!("malformed multipart body: {e}"),
            format!("잘못된 multipart 본문: {e}"),
        )
    })? {
        bytes.extend_from_slice(&chunk);
        if bytes.len() > MAX_FIELD_BYTES {
            return Err(ApiError::bad_request(
                Some(name),
                format!("the field `{name}` is longer than {MAX_FIELD_BYTES} bytes"),
                format!("`{name}` 필드가 {MAX_FIELD_BYTES}바이트를 넘습니다"),
            ));
        }
    }
    String::from_utf8(bytes).map_err(|_| {
        ApiError::bad_request(
            Some(name),
            format!("the field `{name}` is not UTF-8 text"),
            format!("`{name}` 필드가 UTF-8 텍스트가 아닙니다"),
        )
    })
}

/// Deletes an upload the gateway will not use; a failure is left to the sweep.
pub async fn delete_upload(state: &AppState, key: &str) {
    let full = state.storage_key(key);
    match tokio::time::timeout(state.config().backend_timeout, state.store().delete(&full)).await {
        Ok(Ok(())) => tracing::debug!(key = %full, "unused upload deleted"),
        Ok(Err(e)) => {
            tracing::warn!(key = %full, error = %e, "could not delete an unused upload; the sweep will")
        }
        Err(_) => {
            tracing::warn!(key = %full, "deleting an unused upload timed out; the sweep will")
        }
    }
}

/// Creates the resource; on any failure the upload is deleted. An
/// idempotent race lost to another request answers with the winner's task.
async fn create(
    state: AppState,
    resource: PdfExtraction,
    upload: Upload,
    idempotent: bool,
) -> Result<PdfExtraction, ApiError> {
    let namespace = resource.namespace().unwrap_or_default();
    let name = resource.name_any();
    let api = state.extractions(&namespace);
    let timeout = state.config().backend_timeout;
    let created =
        tokio::time::timeout(timeout, api.create(&PostParams::default(), &resource)).await;
    match created {
        Ok(Ok(created)) => {
            state.cache().mark_healthy();
            state.cache().remember_created(created.clone());
            tracing::info!(task_id = %name, namespace = %namespace, size = upload.size, "task created");
            Ok(created)
        }
        Ok(Err(kube::Error::Api(status))) if status.code == 409 && idempotent => {
            delete_upload(&state, &upload.key).await;
            tracing::info!(task_id = %name, "idempotent repeat: answering with the existing task");
            match tokio::time::timeout(timeout, api.get(&name)).await {
                Ok(Ok(existing)) => Ok(existing),
                Ok(Err(e)) => Err(ApiError::from_kube(&e)),
                Err(_) => Err(ApiError::ClusterUnavailable("get timed out".into())),
            }
        }
        Ok(Err(kube::Error::Api(status))) if status.code == 404 => {
            // The tenant's namespace does not exist: a key bound to a
            // namespace nobody created. The client cannot fix that.
            delete_upload(&state, &upload.key).await;
            tracing::error!(namespace = %namespace, "creating a task failed: {}", status.message);
            Err(ApiError::Internal(format!(
                "the tenant's namespace {namespace} is missing: {}",
                status.message
            )))
        }
        Ok(Err(e)) => {
            delete_upload(&state, &upload.key).await;
            let error = ApiError::from_kube(&e);
            if matches!(error, ApiError::ClusterUnavailable(_)) {
                state.cache().mark_unhealthy();
            }
            Err(error)
        }
        Err(_) => {
            state.cache().mark_unhealthy();
            // The create may still land, so the upload stays: the sweep keeps
            // it if its resource appears and removes it after the grace if not.
            tracing::warn!(task_id = %name, "creating the resource timed out");
            Err(ApiError::ClusterUnavailable("create timed out".into()))
        }
    }
}

fn accepted(resource: &PdfExtraction, lang: Lang) -> Response {
    let task_id = resource.name_any();
    let status = pdfx_crd::rest::task_status(&task_id, resource, None).status;
    let body = Accepted {
        task_id: task_id.clone(),
        status,
        message: lang.pick(
            "the PDF was accepted; poll the status URL (Location) for progress",
            "PDF가 접수되었습니다. 진행 상황은 상태 URL(Location)에서 확인하세요",
        ),
    };
    let location = format!("/extract/status/{task_id}");
    (
        StatusCode::ACCEPTED,
        [
            (header::LOCATION, location),
            (header::RETRY_AFTER, FIRST_POLL_SECONDS.to_string()),
        ],
        axum::Json(body),
    )
        .into_response()
}
