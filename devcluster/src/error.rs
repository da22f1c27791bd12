//! API errors, rendered as `metav1.Status` bodies with the reason and code a real
//! API server would use (kube's `is_not_found`, `is_already_exists`, … look at them).

use serde_json::{Value, json};

/// One field-level cause of an `Invalid` error (`details.causes[]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Cause {
    /// Machine-readable reason, e.g. `FieldValueRequired`.
    pub reason: String,
    /// Human-readable message, e.g. `Required value`.
    pub message: String,
    /// Dotted path of the field, e.g. `spec.source`.
    pub field: String,
}

impl Cause {
    /// A cause with the given reason, message and field.
    pub fn new(reason: &str, message: impl Into<String>, field: impl Into<String>) -> Self {
        Self {
            reason: reason.to_string(),
            message: message.into(),
            field: field.into(),
        }
    }

    /// The cause as the API server words it in the top-level message: `field: message`.
    pub fn render(&self) -> String {
        if self.field.is_empty() {
            self.message.clone()
        } else {
            format!("{}: {}", self.field, self.message)
        }
    }
}

/// What names the object an error is about (`details`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Subject {
    /// API group ("" for core).
    pub group: String,
    /// Resource plural (in `details.kind`, except for Invalid, which names the Kind).
    pub kind: String,
    /// Object name.
    pub name: String,
}

impl Subject {
    /// `plural.group` or just `plural` for the core group, as in `pdfextractions.pdfx.dev "x" not found`.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.kind.clone()
        } else {
            format!("{}.{}", self.kind, self.group)
        }
    }
}

/// An error of the emulated API, mapped one to one onto a `metav1.Status`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 404 NotFound.
    #[error("{}", not_found_message(.0))]
    NotFound(Subject),
    /// 404 NotFound for a path that names no known resource.
    #[error("the server could not find the requested resource")]
    NoSuchResource,
    /// 409 AlreadyExists.
    #[error("{} \"{}\" already exists", .0.qualified(), .0.name)]
    AlreadyExists(Subject),
    /// 409 Conflict (stale resourceVersion, failed precondition).
    #[error("Operation cannot be fulfilled on {} \"{}\": {}", .0.qualified(), .0.name, .1)]
    Conflict(Subject, String),
    /// 409 Conflict of a server-side apply with other field managers: one
    /// `FieldManagerConflict` cause per field, no name or kind in the details.
    #[error("{}", crate::ssa::conflict_message(.0))]
    ApplyConflict(Vec<crate::ssa::Conflict>),
    /// 422 Invalid with field causes. The first field is the kind (e.g. `PdfExtraction.pdfx.dev`).
    #[error("{}", invalid_message(.0, .1, .2))]
    Invalid(String, Subject, Vec<Cause>),
    /// 400 BadRequest.
    #[error("{0}")]
    BadRequest(String),
    /// 403 Forbidden.
    #[error("{0}")]
    Forbidden(String),
    /// 405 MethodNotAllowed.
    #[error("the server does not allow this method on the requested resource")]
    MethodNotAllowed,
    /// 406 NotAcceptable.
    #[error("{0}")]
    NotAcceptable(String),
    /// 410 Expired (too old resourceVersion / continue token).
    #[error("{0}")]
    Expired(String),
    /// 415 UnsupportedMediaType.
    #[error("the body of the request was in an unknown format - accepted media types include: {0}")]
    UnsupportedMediaType(String),
    /// 500 InternalError (persistence failure and the like).
    #[error("Internal error occurred: {0}")]
    Internal(String),
    /// 504 Timeout.
    #[error("{0}")]
    Timeout(String),
}

fn not_found_message(s: &Subject) -> String {
    format!("{} \"{}\" not found", s.qualified(), s.name)
}

fn invalid_message(kind: &str, s: &Subject, causes: &[Cause]) -> String {
    let rendered: Vec<String> = causes.iter().map(Cause::render).collect();
    let body = if rendered.len() == 1 {
        rendered[0].clone()
    } else {
        format!("[{}]", rendered.join(", "))
    };
    format!("{kind} \"{}\" is invalid: {body}", s.name)
}

impl ApiError {
    /// A 422 with one cause.
    pub fn invalid_one(kind: &str, subject: Subject, cause: Cause) -> Self {
        ApiError::Invalid(kind.to_string(), subject, vec![cause])
    }

    /// HTTP status code.
    pub fn code(&self) -> u16 {
        match self {
            ApiError::NotFound(_) | ApiError::NoSuchResource => 404,
            ApiError::AlreadyExists(_) | ApiError::Conflict(..) | ApiError::ApplyConflict(_) => 409,
            ApiError::Invalid(..) => 422,
            ApiError::BadRequest(_) => 400,
            ApiError::Forbidden(_) => 403,
            ApiError::MethodNotAllowed => 405,
            ApiError::NotAcceptable(_) => 406,
            ApiError::Expired(_) => 410,
            ApiError::UnsupportedMediaType(_) => 415,
            ApiError::Internal(_) => 500,
            ApiError::Timeout(_) => 504,
        }
    }

    /// `metav1.Status.reason`.
    pub fn reason(&self) -> &'static str {
        match self {
            ApiError::NotFound(_) | ApiError::NoSuchResource => "NotFound",
            ApiError::AlreadyExists(_) => "AlreadyExists",
            ApiError::Conflict(..) | ApiError::ApplyConflict(_) => "Conflict",
            ApiError::Invalid(..) => "Invalid",
            ApiError::BadRequest(_) => "BadRequest",
            ApiError::Forbidden(_) => "Forbidden",
            ApiError::MethodNotAllowed => "MethodNotAllowed",
            ApiError::NotAcceptable(_) => "NotAcceptable",
            ApiError::Expired(_) => "Expired",
            ApiError::UnsupportedMediaType(_) => "UnsupportedMediaType",
            ApiError::Internal(_) => "InternalError",
            ApiError::Timeout(_) => "Timeout",
        }
    }

    /// The full `metav1.Status` body.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.to_string(),
            "reason": self.reason(),
            "code": self.code(),
        });
        let subject = match self {
            ApiError::NotFound(s) | ApiError::AlreadyExists(s) | ApiError::Conflict(s, _) => {
                Some((s, None))
            }
            ApiError::Invalid(_, s, causes) => Some((s, Some(causes))),
            _ => None,
        };
        if let Some((s, causes)) = subject {
            // NotFound, AlreadyExists and Conflict name the resource (plural);
            // Invalid names the Kind (`errors.NewInvalid(GroupKind, …)`).
            let kind = match self {
                ApiError::Invalid(qualified, ..) => {
                    qualified.split('.').next().unwrap_or_default().to_string()
                }
                _ => s.kind.clone(),
            };
            let mut details = json!({"name": s.name, "group": s.group, "kind": kind});
            if let Some(causes) = causes {
                details["causes"] = causes
                    .iter()
                    .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
                    .collect();
            }
            status["details"] = details;
        }
        if let ApiError::ApplyConflict(conflicts) = self {
            status["details"] = json!({"causes": conflicts
                .iter()
                .map(|c| json!({"reason": "FieldManagerConflict",
                    "message": format!("conflict with {}", c.manager), "field": c.path}))
                .collect::<Vec<_>>()});
        }
        status
    }
}

/// Result alias for API operations.
pub type ApiResult<T> = Result<T, ApiError>;
