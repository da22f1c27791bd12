//! Getting the source PDF onto local disk: pdfium needs random access, and the
//! whole file must never sit in memory. Local paths are used in place; objects
//! in storage and URLs are streamed into the work directory.

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::StreamExt;
use pdfx_crd::ip_range::IpRange;
use pdfx_storage::{S3Config, StorageError, StorageUri, Store};
use tokio::io::AsyncWriteExt;

use crate::error::RunnerError;
use crate::url_guard;

/// Where a source PDF comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum SourceLocation {
    Path(PathBuf),
    Storage(StorageUri),
    Url(url::Url),
}

impl SourceLocation {
    /// `s3://…` and `file://…` are storage URIs, `http(s)://…` a URL, anything
    /// else a local path.
    pub fn parse(input: &str) -> Result<Self, RunnerError> {
        let invalid =
            |e: String| RunnerError::InvalidOptions(format!("source {:?}: {e}", redact(input)));
        let lower = input.to_ascii_lowercase();
        if lower.starts_with("s3://") || lower.starts_with("file://") {
            StorageUri::parse(input)
                .map(SourceLocation::Storage)
                .map_err(|e| invalid(e.to_string()))
        } else if lower.starts_with("http://") || lower.starts_with("https://") {
            url::Url::parse(input)
                .map(SourceLocation::Url)
                .map_err(|e| invalid(e.to_string()))
        } else if input.is_empty() {
            Err(invalid("empty".into()))
        } else {
            Ok(SourceLocation::Path(PathBuf::from(input)))
        }
    }
}

/// A source as it may appear in logs, errors and the resource's status: an
/// http(s) URL loses its query (presigned signatures), fragment and user info.
pub fn redact(input: &str) -> String {
    match url::Url::parse(input) {
        Ok(mut url) if matches!(url.scheme(), "http" | "https") => {
            url.set_query(None);
            url.set_fragment(None);
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.to_string()
        }
        _ => input.to_owned(),
    }
}

fn storage_error(uri: &str, error: StorageError) -> RunnerError {
    if error.is_not_found() {
        RunnerError::SourceNotFound {
            uri: uri.to_owned(),
            message: "no such object".into(),
        }
    } else if error.is_access_denied() {
        RunnerError::SourceDenied {
            uri: uri.to_owned(),
            message: error.to_string(),
        }
    } else {
        RunnerError::SourceTransient {
            uri: uri.to_owned(),
            message: error.to_string(),
        }
    }
}

fn local_error(path: &Path, error: std::io::Error) -> RunnerError {
    let uri = path.display().to_string();
    match error.kind() {
        std::io::ErrorKind::NotFound => RunnerError::SourceNotFound {
            uri,
            message: "no such file".into(),
        },
        std::io::ErrorKind::PermissionDenied => RunnerError::SourceDenied {
            uri,
            message: error.to_string(),
        },
        _ => RunnerError::SourceTransient {
            uri,
            message: error.to_string(),
        },
    }
}

/// Makes the source available as a local file under `workdir` and returns its path.
/// A URL is fetched only from public addresses or `url_allowed` ranges
/// ([`crate::url_guard`]).
pub async fn fetch(
    source: &SourceLocation,
    s3: &S3Config,
    url_allowed: &[IpRange],
    workdir: &Path,
) -> Result<PathBuf, RunnerError> {
    let target = workdir.join("source.pdf");
    match source {
        SourceLocation::Path(path) => {
            let meta = tokio::fs::metadata(path)
                .await
                .map_err(|e| local_error(path, e))?;
            if !meta.is_file() {
                return Err(RunnerError::SourceNotFound {
                    uri: path.display().to_string(),
                    message: "not a file".into(),
                });
            }
            Ok(path.clone())
        }
        SourceLocation::Storage(uri @ StorageUri::File { path }) => {
            let meta = tokio::fs::metadata(path)
                .await
                .map_err(|e| local_error(path, e))?;
            if !meta.is_file() {
                return Err(RunnerError::SourceNotFound {
                    uri: uri.to_string(),
                    message: "not a file".into(),
                });
            }
            Ok(path.clone())
        }
        SourceLocation::Storage(uri) => {
            let text = uri.to_string();
            let (store, key) = Store::from_uri(uri, s3)
                .await
                .map_err(|e| storage_error(&text, e))?;
            store
                .download_to_file(&key, &target)
                .await
                .map_err(|e| storage_error(&text, e))?;
            Ok(target)
        }
        SourceLocation::Url(url) => {
            download(url, url_allowed, &target).await?;
            Ok(target)
        }
    }
}

/// Redirects followed before giving up; each is checked like the first URL.
const MAX_REDIRECTS: usize = 10;

async fn download(url: &url::Url, allowed: &[IpRange], target: &Path) -> Result<(), RunnerError> {
    let uri = redact(url.as_str());
    let transient = |message: String| RunnerError::SourceTransient {
        uri: uri.clone(),
        message,
    };
    let denied = |message: String| RunnerError::SourceDenied {
        uri: uri.clone(),
        message,
    };
    let mut current = url.clone();
    let mut redirects = 0;
    let response = loop {
        if !matches!(current.scheme(), "http" | "https") {
            return Err(denied(format!(
                "refused: a redirect to a {} URL",
                current.scheme()
            )));
        }
        let host = current
            .host_str()
            .ok_or_else(|| denied("the URL has no host".into()))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = current
            .port_or_known_default()
            .ok_or_else(|| denied("the URL has no port".into()))?;
        let addresses: Vec<std::net::SocketAddr> = match host.parse::<std::net::IpAddr>() {
            Ok(ip) => vec![std::net::SocketAddr::new(ip, port)],
            Err(_) => tokio::net::lookup_host((host.as_str(), port))
                .await
                .map_err(|e| transient(format!("resolving {host}: {e}")))?
                .collect(),
        };
        url_guard::check(&host, &addresses, allowed).map_err(denied)?;
        // Connect to the addresses just checked, never to a second answer of
        // the resolver; follow redirects here, each checked again.
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(30))
            .read_timeout(Duration::from_secs(120))
            .redirect(reqwest::redirect::Policy::none())
            .resolve_to_addrs(&host, &addresses)
            .build()
            .map_err(|e| transient(e.without_url().to_string()))?;
        let response = client
            .get(current.clone())
            .send()
            .await
            .map_err(|e| transient(e.without_url().to_string()))?;
        if !response.status().is_redirection() {
            break response;
        }
        redirects += 1;
        if redirects > MAX_REDIRECTS {
            return Err(RunnerError::SourceNotFound {
                uri: uri.clone(),
                message: format!("more than {MAX_REDIRECTS} redirects"),
            });
        }
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .ok_or_else(|| RunnerError::SourceNotFound {
                uri: uri.clone(),
                message: format!("HTTP {} without a Location", response.status()),
            })?;
        current = current
            .join(location)
            .map_err(|e| denied(format!("a redirect to an invalid URL: {e}")))?;
    };
    let status = response.status();
    if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
        return Err(RunnerError::SourceDenied {
            uri,
            message: format!("HTTP {status}"),
        });
    }
    if status.is_server_error()
        || status == reqwest::StatusCode::TOO_MANY_REQUESTS
        || status == reqwest::StatusCode::REQUEST_TIMEOUT
    {
        return Err(transient(format!("HTTP {status}")));
    }
    if !status.is_success() {
        return Err(RunnerError::SourceNotFound {
            uri,
            message: format!("HTTP {status}"),
        });
    }
    let partial = target.with_extension("part");
    let io = |e: std::io::Error| RunnerError::io(format!("writing {}", partial.display()), e);
    let mut file = tokio::fs::File::create(&partial).await.map_err(io)?;
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk =
            chunk.map_err(|e| transient(format!("download interrupted: {}", e.without_url())))?;
        file.write_all(&chunk).await.map_err(io)?;
    }
    file.sync_all().await.map_err(io)?;
    drop(file);
    tokio::fs::rename(&partial, target).await.map_err(io)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted_for_logs_and_status() {
        assert_eq!(
            redact("https://user:pw@example.com/a.pdf?X-Amz-Signature=abc#p"),
            "https://example.com/a.pdf"
        );
        assert_eq!(redact("s3://bucket/key?x"), "s3://bucket/key?x");
        assert_eq!(redact("/local/a.pdf"), "/local/a.pdf");
    }

    #[test]
    fn sources_are_classified_by_scheme() {
        assert!(matches!(
            SourceLocation::parse("s3://bucket/보고서.pdf"),
            Ok(SourceLocation::Storage(_))
        ));
        assert!(matches!(
            SourceLocation::parse("file:///tmp/a.pdf"),
            Ok(SourceLocation::Storage(_))
        ));
        assert!(matches!(
            SourceLocation::parse("https://example.com/a.pdf"),
            Ok(SourceLocation::Url(_))
        ));
        assert!(matches!(
            SourceLocation::parse("docs/a.pdf"),
            Ok(SourceLocation::Path(_))
        ));
        assert!(SourceLocation::parse("s3://").is_err());
        assert!(SourceLocation::parse("").is_err());
    }
}
