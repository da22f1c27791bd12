//! `/openapi.json`: the OpenAPI 3.1 document, generated from the handlers'
//! annotations and types. A copy is checked in (`api-gateway/openapi.json`)
//! and a test fails when it drifts.

use axum::Json;
use axum::response::IntoResponse;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::{result, status, submit, tasks};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "pdfx",
        description = "PDF text extraction: submit a PDF, poll its status, read the result.",
        license(name = "Apache-2.0")
    ),
    paths(
        submit::submit,
        status::status,
        result::result,
        tasks::list,
        tasks::cancel,
        healthz,
        readyz,
        metrics
    ),
    components(schemas(result::ResultFormat)),
    modifiers(&Security),
    tags((name = "extract", description = "Extraction tasks"), (name = "admin", description = "Probes and metrics"))
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
    }
}

/// The document as served and checked in.
pub fn document() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|_| "{}".to_owned())
}

pub async fn serve() -> impl IntoResponse {
    Json(ApiDoc::openapi())
}

/// Liveness: the process is up.
#[utoipa::path(get, path = "/healthz", tag = "admin",
    responses((status = 200, description = "Alive", body = String, content_type = "text/plain")))]
#[allow(dead_code)]
fn healthz() {}

/// Readiness: the PdfExtraction cache is synced and storage answers.
#[utoipa::path(get, path = "/readyz", tag = "admin",
    responses(
        (status = 200, description = "Ready; lists the checks", body = String, content_type = "text/plain"),
        (status = 503, description = "Not ready; lists the failing checks", body = String, content_type = "text/plain"),
    ))]
#[allow(dead_code)]
fn readyz() {}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "admin",
    responses((status = 200, description = "The text exposition format", body = String, content_type = "text/plain")))]
#[allow(dead_code)]
fn metrics() {}
