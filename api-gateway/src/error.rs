//! Every error a client sees: `{"error": {"code", "message"}}` with the right
//! status. Internal causes are logged, never returned.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::lang::Lang;
use crate::options::OptionError;

/// Seconds a client should wait after a 429 or 503.
pub const RETRY_AFTER_BUSY: u32 = 5;

/// The body of every error response.
#[derive(Serialize, Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable: `bad_request`, `invalid_option`, `unauthorized`,
    /// `not_found`, `not_ready`, `payload_too_large`, `unsupported_media_type`,
    /// `too_many_tasks`, `unavailable`, `internal`.
    #[schema(value_type = String)]
    pub code: &'static str,
    /// For people: English, or Korean when `Accept-Language` prefers `ko`.
    pub message: String,
    /// The request field or option at fault (`invalid_option`, `bad_request`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// What went wrong with a request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("malformed request: {en}")]
    BadRequest {
        field: Option<String>,
        en: String,
        ko: String,
    },
    #[error("invalid option: {0}")]
    InvalidOption(OptionError),
    #[error("no or unknown API key")]
    Unauthorized,
    #[error("no such task")]
    NotFound,
    #[error("the task has not completed")]
    NotReady { failed: bool },
    #[error("the upload is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the upload is not a PDF")]
    NotPdf,
    #[error("unsupported content type {0:?}")]
    UnsupportedContentType(String),
    #[error("the tenant has {limit} unfinished tasks")]
    TooManyTasks { limit: usize },
    #[error("storage unavailable: {0}")]
    StorageUnavailable(String),
    #[error("Kubernetes API unavailable: {0}")]
    ClusterUnavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn bad_request(field: Option<&str>, en: impl Into<String>, ko: impl Into<String>) -> Self {
        ApiError::BadRequest {
            field: field.map(str::to_owned),
            en: en.into(),
            ko: ko.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } | ApiError::InvalidOption(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::NotReady { .. } => StatusCode::CONFLICT,
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::NotPdf | ApiError::UnsupportedContentType(_) => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            ApiError::TooManyTasks { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::StorageUnavailable(_) | ApiError::ClusterUnavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { .. } => "bad_request",
            ApiError::InvalidOption(_) => "invalid_option",
            ApiError::Unauthorized => "unauthorized",
            ApiError::NotFound => "not_found",
            ApiError::NotReady { .. } => "not_ready",
            ApiError::TooLarge { .. } => "payload_too_large",
            ApiError::NotPdf | ApiError::UnsupportedContentType(_) => "unsupported_media_type",
            ApiError::TooManyTasks { .. } => "too_many_tasks",
            ApiError::StorageUnavailable(_) | ApiError::ClusterUnavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    pub fn message(&self, lang: Lang) -> String {
        match self {
            ApiError::BadRequest { en, ko, .. } => lang.pick(en.clone(), ko.clone()),
            ApiError::InvalidOption(e) => e.message(lang),
            ApiError::Unauthorized => lang.pick(
                "a valid API key is required (Authorization: Bearer KEY or X-API-Key)",
                "유효한 API 키가 필요합니다 (Authorization: Bearer KEY 또는 X-API-Key)",
            ),
            ApiError::NotFound => lang.pick("no such task", "해당 작업이 없습니다"),
            ApiError::NotReady { failed: false } => lang.pick(
                "the task has not completed yet; poll its status",
                "작업이 아직 완료되지 않았습니다. 상태를 다시 조회하세요",
            ),
            ApiError::NotReady { failed: true } => lang.pick(
                "the task failed and has no result; see its status",
                "작업이 실패하여 결과가 없습니다. 상태를 확인하세요",
            ),
            ApiError::TooLarge { limit } => lang.pick(
                format!("the upload is larger than the limit of {limit} bytes"),
                format!("업로드가 최대 크기 {limit} 바이트를 넘습니다"),
            ),
            ApiError::NotPdf => lang.pick(
                "the upload is not a PDF (it does not start with %PDF-)",
                "업로드한 파일이 PDF가 아닙니다 (%PDF-로 시작하지 않음)",
            ),
            ApiError::UnsupportedContentType(t) => lang.pick(
                format!("content type {t:?} is not accepted: send multipart/form-data or application/pdf"),
                format!("콘텐츠 유형 {t:?}은(는) 지원되지 않습니다. multipart/form-data 또는 application/pdf로 보내세요"),
            ),
            ApiError::TooManyTasks { limit } => lang.pick(
                format!("too many unfinished tasks (limit {limit}); retry later"),
                format!("완료되지 않은 작업이 너무 많습니다 (최대 {limit}개). 잠시 후 다시 시도하세요"),
            ),
            ApiError::StorageUnavailable(_) => lang.pick(
                "storage is unavailable; retry later",
                "저장소를 사용할 수 없습니다. 잠시 후 다시 시도하세요",
            ),
            ApiError::ClusterUnavailable(_) => lang.pick(
                "the Kubernetes API is unavailable; retry later",
                "Kubernetes API를 사용할 수 없습니다. 잠시 후 다시 시도하세요",
            ),
            ApiError::Internal(_) => lang.pick("internal error", "내부 오류"),
        }
    }

    fn field(&self) -> Option<String> {
        match self {
            ApiError::BadRequest { field, .. } => field.clone(),
            ApiError::InvalidOption(e) => Some(e.field.to_owned()),
            _ => None,
        }
    }

    /// The response in the caller's language.
    pub fn response(&self, lang: Lang) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(error = %self, "request failed");
        } else {
            tracing::debug!(error = %self, "request refused");
        }
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message: self.message(lang),
                field: self.field(),
            },
        };
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        match self {
            ApiError::TooManyTasks { .. }
            | ApiError::StorageUnavailable(_)
            | ApiError::ClusterUnavailable(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_BUSY));
            }
            ApiError::Unauthorized => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"pdfx\""),
                );
            }
            _ => {}
        }
        response
    }

    /// A storage failure as the client sees it.
    pub fn from_storage(e: &pdfx_storage::StorageError) -> Self {
        if e.is_not_found() {
            ApiError::NotFound
        } else {
            ApiError::StorageUnavailable(e.to_string())
        }
    }

    /// A Kubernetes API failure as the client sees it.
    pub fn from_kube(e: &kube::Error) -> Self {
        match e {
            kube::Error::Api(status) if status.code == 404 => ApiError::NotFound,
            kube::Error::Api(status) if status.code == 422 || status.code == 400 => {
                ApiError::bad_request(
                    None,
                    format!("the Kubernetes API refused the task: {}", status.message),
                    format!("Kubernetes API가 작업을 거부했습니다: {}", status.message),
                )
            }
            kube::Error::Api(status) if status.code < 500 && status.code != 429 => {
                ApiError::Internal(e.to_string())
            }
            _ => ApiError::ClusterUnavailable(e.to_string()),
        }
    }
}

/// Handlers answer `Result<Response, Localized>`: the error with the caller's language.
pub struct Localized(pub Lang, pub ApiError);

impl IntoResponse for Localized {
    fn into_response(self) -> Response {
        self.1.response(self.0)
    }
}

pub trait InLang<T> {
    fn lang(self, lang: Lang) -> Result<T, Localized>;
}

impl<T> InLang<T> for Result<T, ApiError> {
    fn lang(self, lang: Lang) -> Result<T, Localized> {
        self.map_err(|e| Localized(lang, e))
    }
}
