//! API keys: each bound to one tenant (= one namespace), stored only as
//! SHA-256 hashes, from a file and/or a Secret, reloaded when they change.
//!
//! The file format (also a Secret's values), one key per line:
//!
//! ```text
//! # tenant-namespace  sha256:<hex of SHA-256 of the key>  [comment]
//! team-a  sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08  ci
//! ```
//!
//! `printf %s "$KEY" | sha256sum` gives the hex. Keys are long random strings,
//! so a plain SHA-256 is as good as a slow password hash here.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use pdfx_runtime::Shutdown;
use pdfx_runtime::admin::ReadinessCheck;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::{AuthConfig, is_dns_label};
use crate::error::{ApiError, Localized};
use crate::lang::Lang;
use crate::state::AppState;

/// How often the key file is checked for changes.
pub const FILE_POLL: Duration = Duration::from_secs(2);

/// One key: its tenant and the SHA-256 of the key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyEntry {
    pub tenant: String,
    pub hash: [u8; 32],
}

/// A line of a key file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {problem}")]
pub struct KeyFileError {
    pub line: usize,
    pub problem: String,
}

/// Parses the key file format (see the module docs).
pub fn parse_keys(text: &str) -> Result<Vec<KeyEntry>, KeyFileError> {
    let mut keys = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |problem: String| KeyFileError {
            line: i + 1,
            problem,
        };
        let mut words = line.split_whitespace();
        let (Some(tenant), Some(hash)) = (words.next(), words.next()) else {
            return Err(bad("expected `<namespace> sha256:<hex>`".into()));
        };
        if !is_dns_label(tenant) {
            return Err(bad(format!("{tenant:?} is not a namespace name")));
        }
        let hex_text = hash
            .strip_prefix("sha256:")
            .ok_or_else(|| bad("the hash must start with sha256:".into()))?;
        let mut digest = [0u8; 32];
        hex::decode_to_slice(hex_text, &mut digest)
            .map_err(|_| bad("the hash must be 64 hex digits".into()))?;
        keys.push(KeyEntry {
            tenant: tenant.to_owned(),
            hash: digest,
        });
    }
    Ok(keys)
}

/// The hash a key is stored as.
pub fn hash_key(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// The key set in force, shared by the request path and the reloaders.
#[derive(Clone, Debug)]
pub struct Keys {
    disabled_tenant: Option<String>,
    from_file: Arc<RwLock<Arc<Vec<KeyEntry>>>>,
    from_secret: Arc<RwLock<Arc<Vec<KeyEntry>>>>,
}

impl Keys {
    pub fn new(config: &AuthConfig) -> Self {
        Self {
            disabled_tenant: match config {
                AuthConfig::Disabled { tenant } => Some(tenant.clone()),
                AuthConfig::Keys { .. } => None,
            },
            from_file: Arc::default(),
            from_secret: Arc::default(),
        }
    }

    /// The tenant of a presented key. Every entry is compared, in constant
    /// time, so the answer's timing says nothing about which hash was close.
    pub fn tenant_of(&self, presented: &str) -> Option<String> {
        let hash = hash_key(presented);
        let mut found: Option<String> = None;
        for set in [&self.from_file, &self.from_secret] {
            let entries = set.read().map(|g| g.clone()).unwrap_or_default();
            for entry in entries.iter() {
                if bool::from(entry.hash.ct_eq(&hash)) && found.is_none() {
                    found = Some(entry.tenant.clone());
                }
            }
        }
        found
    }

    fn replace(set: &RwLock<Arc<Vec<KeyEntry>>>, keys: Vec<KeyEntry>) {
        if let Ok(mut guard) = set.write() {
            *guard = Arc::new(keys);
        }
    }

    /// Loads the file once (start-up) so that a bad file stops the gateway.
    pub async fn load_file(&self, path: &Path) -> Result<usize, String> {
        let text = tokio::fs::read_to_string(path)
            .await
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        let keys = parse_keys(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let n = keys.len();
        Self::replace(&self.from_file, keys);
        Ok(n)
    }

    /// Re-reads the file whenever its content changes; a broken version is
    /// logged and the keys in force are kept.
    pub async fn watch_file(self, path: PathBuf, shutdown: Shutdown) {
        let mut last = tokio::fs::read(&path).await.ok();
        loop {
            tokio::select! {
                () = tokio::time::sleep(FILE_POLL) => {}
                () = shutdown.wait() => return,
            }
            let now = tokio::fs::read(&path).await.ok();
            if now == last {
                continue;
            }
            last = now.clone();
            let Some(bytes) = now else {
                tracing::warn!(path = %path.display(), "the API key file is gone; keeping the keys in force");
                continue;
            };
            match parse_keys(&String::from_utf8_lossy(&bytes)) {
                Ok(keys) => {
                    tracing::info!(path = %path.display(), keys = keys.len(), "API keys reloaded");
                    Self::replace(&self.from_file, keys);
                }
                Err(e) => {
                    tracing::error!(path = %path.display(), error = %e, "the API key file is invalid; keeping the keys in force");
                }
            }
        }
    }

    /// Follows a Secret: every value of it is read in the key file format.
    pub async fn watch_secret(
        self,
        client: Client,
        namespace: String,
        name: String,
        ready: ReadinessCheck,
        shutdown: Shutdown,
    ) {
        let api: Api<Secret> = Api::namespaced(client, &namespace);
        let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
        let mut secrets = std::pin::pin!(watcher(api, config).default_backoff().applied_objects());
        ready.not_ready(format!("waiting for the Secret {namespace}/{name}"));
        loop {
            let next = tokio::select! {
                next = secrets.next() => next,
                () = shutdown.wait() => return,
            };
            match next {
                None => return,
                Some(Err(e)) => {
                    tracing::warn!(secret = %name, error = %e, "watching the API key Secret");
                }
                Some(Ok(secret)) => {
                    let mut keys = Vec::new();
                    let mut broken = None;
                    for (field, value) in secret.data.unwrap_or_default() {
                        match parse_keys(&String::from_utf8_lossy(&value.0)) {
                            Ok(more) => keys.extend(more),
                            Err(e) => broken = Some(format!("{field}: {e}")),
                        }
                    }
                    match broken {
                        Some(e) => {
                            tracing::error!(secret = %name, error = %e, "the API key Secret is invalid; keeping the keys in force")
                        }
                        None => {
                            tracing::info!(secret = %name, keys = keys.len(), "API keys loaded from the Secret");
                            Self::replace(&self.from_secret, keys);
                            ready.ready();
                        }
                    }
                }
            }
        }
    }
}

/// The caller's tenant (namespace), from its API key or the configured
/// tenant when auth is disabled. Rejects with 401.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tenant(pub String);

/// The key of a request: `Authorization: Bearer KEY`, else `X-API-Key: KEY`.
fn presented_key(parts: &Parts) -> Option<&str> {
    let bearer = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        });
    bearer
        .or_else(|| {
            parts
                .headers
                .get("x-api-key")
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        })
        .filter(|k| !k.is_empty())
}

impl FromRequestParts<AppState> for Tenant {
    type Rejection = Localized;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Localized> {
        let keys = state.keys();
        if let Some(tenant) = &keys.disabled_tenant {
            return Ok(Tenant(tenant.clone()));
        }
        let lang = parts
            .headers
            .get(axum::http::header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .map_or(Lang::En, Lang::from_header);
        presented_key(parts)
            .and_then(|key| keys.tenant_of(key))
            .map(Tenant)
            .ok_or(Localized(lang, ApiError::Unauthorized))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn hex_of(key: &str) -> String {
        hex::encode(hash_key(key))
    }

    #[test]
    fn the_file_format() {
        let text = format!(
            "# comment\n\nteam-a sha256:{} ci\nteam-b\tsha256:{}\n",
            hex_of("key-a"),
            hex_of("key-b")
        );
        let keys = parse_keys(&text).unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0].tenant, "team-a");
        assert_eq!(keys[0].hash, hash_key("key-a"));
        for bad in [
            "team-a",
            "Team sha256:00",
            "team-a md5:00",
            "team-a sha256:zz",
        ] {
            let err = parse_keys(bad).unwrap_err();
            assert_eq!(err.line, 1, "{bad}");
        }
    }

    #[test]
    fn keys_map_to_their_tenant_only() {
        let keys = Keys::new(&AuthConfig::Keys {
            file: None,
            secret: None,
        });
        Keys::replace(
            &keys.from_file,
            parse_keys(&format!("team-a sha256:{}", hex_of("key-a"))).unwrap(),
        );
        Keys::replace(
            &keys.from_secret,
            parse_keys(&format!("team-b sha256:{}", hex_of("key-b"))).unwrap(),
        );
        assert_eq!(keys.tenant_of("key-a").as_deref(), Some("team-a"));
        assert_eq!(keys.tenant_of("key-b").as_deref(), Some("team-b"));
        assert_eq!(keys.tenant_of("key-c"), None);
        assert_eq!(keys.tenant_of(""), None);
    }
}
