//! The web console at `/` (docs/architecture.md, "The REST API"): five
//! hand-written static files embedded in the binary. The page talks only to
//! the public REST API, with the caller's key in an `Authorization` header,
//! so it can do nothing a REST client cannot.

use std::sync::LazyLock;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

/// Only the page's own files: no inline script or style, no other origin, no
/// framing. `connect-src 'self'` keeps the key from being sent anywhere else.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'none'; \
     frame-ancestors 'none'; base-uri 'none'";

/// Assets are not content-addressed by name, so browsers revalidate each
/// time; the ETag makes that a 304 with no body.
const CACHE_CONTROL: &str = "no-cache";

/// One embedded file.
struct Asset {
    body: &'static [u8],
    content_type: &'static str,
    etag: HeaderValue,
}

impl Asset {
    fn new(body: &'static [u8], content_type: &'static str) -> Self {
        let digest = Sha256::digest(body);
        let etag = format!("\"{}\"", hex::encode(&digest[..16]));
        Self {
            body,
            content_type,
            etag: HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("\"0\"")),
        }
    }

    fn respond(&self, request: &HeaderMap) -> Response {
        let fresh = request
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|tags| {
                tags.split(',')
                    .any(|t| t.trim().trim_start_matches("W/") == self.etag)
            });
        let headers = [
            (header::ETAG, self.etag.clone()),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static(CACHE_CONTROL),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CONTENT_SECURITY_POLICY),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
        ];
        if fresh {
            return (StatusCode::NOT_MODIFIED, headers).into_response();
        }
        let mut response = (headers, self.body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(self.content_type),
        );
        response
    }
}

static INDEX: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        include_bytes!("../console/index.html"),
        "text/html; charset=utf-8",
    )
});
static APP_JS: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        include_bytes!("../console/app.js"),
        "text/javascript; charset=utf-8",
    )
});
static I18N_JS: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        include_bytes!("../console/i18n.js"),
        "text/javascript; charset=utf-8",
    )
});
static REST_JS: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        include_bytes!("../console/rest.js"),
        "text/javascript; charset=utf-8",
    )
});
static STYLE_CSS: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        include_bytes!("../console/style.css"),
        "text/css; charset=utf-8",
    )
});

fn asset(name: &str) -> Option<&'static Asset> {
    match name {
        "app.js" => Some(&APP_JS),
        "i18n.js" => Some(&I18N_JS),
        "rest.js" => Some(&REST_JS),
        "style.css" => Some(&STYLE_CSS),
        _ => None,
    }
}

/// `GET /` and `GET /console/{file}`; merged beside the API by [`crate::routes::router`].
pub fn router() -> Router {
    Router::new()
        .route(
            "/",
            get(|headers: HeaderMap| async move { INDEX.respond(&headers) }),
        )
        .route(
            "/console/{file}",
            get(|Path(file): Path<String>, headers: HeaderMap| async move {
                match asset(&file) {
                    Some(asset) => asset.respond(&headers),
                    None => StatusCode::NOT_FOUND.into_response(),
                }
            }),
        )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    async fn get(path: &str, etag: Option<&str>) -> Response {
        let mut request = Request::get(path);
        if let Some(tag) = etag {
            request = request.header(header::IF_NONE_MATCH, tag);
        }
        router()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn files_are_served_with_their_type_and_policy() {
        for (path, kind) in [
            ("/", "text/html; charset=utf-8"),
            ("/console/app.js", "text/javascript; charset=utf-8"),
            ("/console/i18n.js", "text/javascript; charset=utf-8"),
            ("/console/rest.js", "text/javascript; charset=utf-8"),
            ("/console/style.css", "text/css; charset=utf-8"),
        ] {
            let response = get(path, None).await;
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            let headers = response.headers();
            assert_eq!(headers[header::CONTENT_TYPE], kind, "{path}");
            assert_eq!(
                headers[header::CONTENT_SECURITY_POLICY],
                CONTENT_SECURITY_POLICY
            );
            assert_eq!(headers[header::CACHE_CONTROL], "no-cache");
            let body = response.into_body().collect().await.unwrap().to_bytes();
            assert!(!body.is_empty(), "{path}");
        }
    }

    #[tokio::test]
    async fn a_matching_etag_is_answered_with_304() {
        let first = get("/console/app.js", None).await;
        let tag = first.headers()[header::ETAG].to_str().unwrap().to_owned();
        let again = get("/console/app.js", Some(&tag)).await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        let body = again.into_body().collect().await.unwrap().to_bytes();
        assert!(body.is_empty());
        let other = get("/console/app.js", Some("\"elsewhere\"")).await;
        assert_eq!(other.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn unknown_assets_are_not_found() {
        assert_eq!(
            get("/console/../Cargo.toml", None).await.status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            get("/console/index.js", None).await.status(),
            StatusCode::NOT_FOUND
        );
    }
}
