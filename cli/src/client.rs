//! The pdfx REST API as a Rust client: the same paths and bodies any HTTP
//! client uses (docs/architecture.md, "The REST API"), with the status body
//! read into `pdfx_crd::rest::TaskStatus` — the gateway's own definition.

use std::path::Path;
use std::time::Duration;

use futures::{Stream, StreamExt, TryStreamExt};
use pdfx_crd::rest::TaskStatus;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::Deserialize;
use url::Url;

/// Options of a submission, sent as form fields next to the file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SubmitOptions {
    /// Tesseract languages joined by `+` (`kor+eng`).
    pub languages: Option<String>,
    pub pages: Option<String>,
    pub dpi: Option<u32>,
    /// `auto`, `always` or `never`.
    pub mode: Option<String>,
    pub engine: Option<String>,
    pub idempotency_key: Option<String>,
}

/// The answer to a submission (`202 Accepted`).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Submitted {
    pub task_id: String,
    pub status: String,
    #[serde(default)]
    pub message: Option<String>,
}

/// A page of the caller's tasks.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct TaskPage {
    #[serde(default)]
    pub tasks: Vec<TaskStatus>,
    /// Pass back as `continue` for the next page; absent on the last one.
    #[serde(default, rename = "continue")]
    pub next: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error body: its message is what people read.
    #[error("{message}")]
    Api {
        status: StatusCode,
        code: String,
        message: String,
    },
    #[error("cannot reach the pdfx server at {url}: {source}")]
    Unreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{context}: {source}")]
    Http {
        context: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("reading {path}: {source}")]
    File {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the server at {0} is not a valid URL")]
    BadUrl(String),
}

impl ClientError {
    /// The HTTP status of an API error.
    #[cfg(test)]
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// The error body every pdfx endpoint uses: `{"error": {"code", "message"}}`.
#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    code: String,
    message: String,
}

/// A client of one pdfx server.
#[derive(Clone, Debug)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    api_key: Option<String>,
}

impl Client {
    pub fn new(server: &str, api_key: Option<String>) -> Result<Self, ClientError> {
        let mut base = Url::parse(server).map_err(|_| ClientError::BadUrl(server.to_owned()))?;
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("pdfx-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|source| ClientError::Http {
                context: "building the HTTP client".into(),
                source,
            })?;
        Ok(Self {
            http,
            base,
            api_key: api_key.filter(|k| !k.is_empty()),
        })
    }

    fn request(&self, method: Method, path: &str) -> Result<RequestBuilder, ClientError> {
        let url = self
            .base
            .join(path)
            .map_err(|_| ClientError::BadUrl(format!("{}{path}", self.base)))?;
        let mut request = self.http.request(method, url);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        Ok(request)
    }

    async fn send(&self, request: RequestBuilder) -> Result<reqwest::Response, ClientError> {
        let response = request.send().await.map_err(|source| {
            if source.is_connect() || source.is_timeout() {
                ClientError::Unreachable {
                    url: self.base.to_string(),
                    source,
                }
            } else {
                ClientError::Http {
                    context: "talking to the pdfx server".into(),
                    source,
                }
            }
        })?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        Err(match serde_json::from_str::<ErrorBody>(&text) {
            Ok(body) => ClientError::Api {
                status,
                code: body.error.code,
                message: body.error.message,
            },
            Err(_) => ClientError::Api {
                status,
                code: status.as_str().to_owned(),
                message: format!(
                    "the server answered {status}{}",
                    if text.trim().is_empty() {
                        String::new()
                    } else {
                        format!(": {}", text.trim())
                    }
                ),
            },
        })
    }

    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        request: RequestBuilder,
        what: &str,
    ) -> Result<T, ClientError> {
        self.send(request)
            .await?
            .json()
            .await
            .map_err(|source| ClientError::Http {
                context: format!("reading {what}"),
                source,
            })
    }

    /// Uploads a PDF as `multipart/form-data`, streamed from the file, and
    /// reports the bytes sent so far through `sent`.
    pub async fn submit(
        &self,
        path: &Path,
        options: &SubmitOptions,
        sent: impl Fn(u64) + Send + Sync + 'static,
    ) -> Result<Submitted, ClientError> {
        let file_error = |source| ClientError::File {
            path: path.display().to_string(),
            source,
        };
        let file = tokio::fs::File::open(path).await.map_err(file_error)?;
        let size = file.metadata().await.map_err(file_error)?.len();
        let mut total = 0u64;
        let body = tokio_util::io::ReaderStream::new(file).inspect_ok(move |chunk| {
            total += chunk.len() as u64;
            sent(total);
        });
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "document.pdf".to_owned());
        let part =
            reqwest::multipart::Part::stream_with_length(reqwest::Body::wrap_stream(body), size)
                .file_name(name)
                .mime_str("application/pdf")
                .map_err(|source| ClientError::Http {
                    context: "building the upload".into(),
                    source,
                })?;
        // Options before the file: the server validates them before storing anything.
        let mut form = reqwest::multipart::Form::new();
        for (field, value) in [
            ("languages", options.languages.clone()),
            ("pages", options.pages.clone()),
            ("dpi", options.dpi.map(|d| d.to_string())),
            ("ocr_mode", options.mode.clone()),
            ("engine", options.engine.clone()),
        ] {
            if let Some(value) = value {
                form = form.text(field, value);
            }
        }
        form = form.part("file", part);
        let mut request = self.request(Method::POST, "extract/pdf")?.multipart(form);
        if let Some(key) = &options.idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        self.json(request, "the submission's answer").await
    }

    /// The task's status; with `wait`, the server answers as soon as it changes
    /// (or when `wait` has passed).
    pub async fn status(
        &self,
        task_id: &str,
        wait: Option<Duration>,
    ) -> Result<TaskStatus, ClientError> {
        let mut request =
            self.request(Method::GET, &format!("extract/status/{}", encode(task_id)))?;
        if let Some(wait) = wait {
            request = request
                .query(&[("wait", wait.as_secs().to_string())])
                .timeout(wait + Duration::from_secs(30));
        }
        self.json(request, "the task's status").await
    }

    /// The full result (`json` or `text`) as a stream of bytes.
    pub async fn result(
        &self,
        task_id: &str,
        format: &str,
    ) -> Result<impl Stream<Item = Result<bytes::Bytes, ClientError>> + use<>, ClientError> {
        let request = self
            .request(Method::GET, &format!("extract/result/{}", encode(task_id)))?
            .query(&[("format", format)]);
        let response = self.send(request).await?;
        Ok(response.bytes_stream().map(|chunk| {
            chunk.map_err(|source| ClientError::Http {
                context: "reading the result".into(),
                source,
            })
        }))
    }

    /// Cancels (deletes) a task; the server answers `204 No Content`.
    pub async fn cancel(&self, task_id: &str) -> Result<(), ClientError> {
        let request = self.request(Method::DELETE, &format!("extract/{}", encode(task_id)))?;
        self.send(request).await.map(drop)
    }

    /// One page of the caller's tasks, newest first.
    pub async fn list(
        &self,
        status: Option<&str>,
        limit: Option<u32>,
        next: Option<&str>,
    ) -> Result<TaskPage, ClientError> {
        let mut query: Vec<(&str, String)> = Vec::new();
        if let Some(status) = status {
            query.push(("status", status.to_owned()));
        }
        if let Some(limit) = limit {
            query.push(("limit", limit.to_string()));
        }
        if let Some(next) = next {
            query.push(("continue", next.to_owned()));
        }
        let request = self.request(Method::GET, "extract")?.query(&query);
        self.json(request, "the task list").await
    }
}

/// A task id as one path segment: everything but unreserved characters escaped.
fn encode(task_id: &str) -> String {
    const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(task_id, SEGMENT).to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::extract::{Multipart, Path as AxumPath, Query};
    use axum::http::HeaderMap;
    use axum::response::IntoResponse;
    use axum::routing::{get, post};
    use std::collections::HashMap;

    async fn serve(router: Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        url
    }

    #[tokio::test]
    async fn submit_sends_options_before_the_file_and_the_key() {
        let router = Router::new().route(
            "/extract/pdf",
            post(|headers: HeaderMap, mut form: Multipart| async move {
                let mut fields = Vec::new();
                while let Some(field) = form.next_field().await.unwrap() {
                    let name = field.name().unwrap().to_owned();
                    let file = field.file_name().map(str::to_owned);
                    let bytes = field.bytes().await.unwrap();
                    fields.push((name, file, bytes.len()));
                }
                let auth = headers["authorization"].to_str().unwrap().to_owned();
                let key = headers["idempotency-key"].to_str().unwrap().to_owned();
                (
                    axum::http::StatusCode::ACCEPTED,
                    axum::Json(serde_json::json!({
                        "task_id": format!("{fields:?}|{auth}|{key}"),
                        "status": "pending",
                        "message": "accepted"
                    })),
                )
            }),
        );
        let url = serve(router).await;
        let dir = tempfile::tempdir().unwrap();
        let pdf = dir.path().join("보고서.pdf");
        std::fs::write(&pdf, vec![b'x'; 100_000]).unwrap();
        let client = Client::new(&url, Some("k-123".into())).unwrap();
        let sent = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let progress = sent.clone();
        let options = SubmitOptions {
            languages: Some("kor+eng".into()),
            dpi: Some(200),
            idempotency_key: Some("once".into()),
            ..SubmitOptions::default()
        };
        let answer = client
            .submit(&pdf, &options, move |n| {
                progress.store(n, std::sync::atomic::Ordering::SeqCst)
            })
            .await
            .unwrap();
        assert_eq!(
            answer.task_id,
            "[(\"languages\", None, 7), (\"dpi\", None, 3), (\"file\", Some(\"보고서.pdf\"), 100000)]|Bearer k-123|once"
        );
        assert_eq!(sent.load(std::sync::atomic::Ordering::SeqCst), 100_000);
    }

    #[tokio::test]
    async fn server_errors_read_as_their_message() {
        let router = Router::new()
            .route(
                "/extract/status/{id}",
                get(|AxumPath(id): AxumPath<String>| async move {
                    (
                        axum::http::StatusCode::NOT_FOUND,
                        axum::Json(serde_json::json!({"error": {"code": "not_found", "message": format!("no task {id}")}})),
                    )
                }),
            )
            .route(
                "/extract",
                get(|Query(q): Query<HashMap<String, String>>| async move {
                    if q.get("status").map(String::as_str) == Some("bad") {
                        (axum::http::StatusCode::BAD_GATEWAY, "upstream down").into_response()
                    } else {
                        axum::Json(serde_json::json!({"tasks": [], "continue": "c1"})).into_response()
                    }
                }),
            );
        let url = serve(router).await;
        let client = Client::new(&format!("{url}/"), None).unwrap();
        let error = client.status("a b", None).await.unwrap_err();
        assert_eq!(error.to_string(), "no task a b");
        assert_eq!(error.status(), Some(StatusCode::NOT_FOUND));
        let page = client.list(None, Some(5), None).await.unwrap();
        assert_eq!(page.next.as_deref(), Some("c1"));
        let error = client.list(Some("bad"), None, None).await.unwrap_err();
        assert_eq!(
            error.to_string(),
            "the server answered 502 Bad Gateway: upstream down"
        );

        let nowhere = Client::new("http://127.0.0.1:1", None).unwrap();
        let error = nowhere.status("x", None).await.unwrap_err();
        assert!(matches!(error, ClientError::Unreachable { .. }), "{error}");
    }
}
