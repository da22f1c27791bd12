//! The gateway's settings: [`GatewayArgs`] is the command line (flattened into
//! `pdfx-gateway` and `pdfx up`, so it carries no listen address of its own);
//! [`GatewayConfig`] is the same settings checked and typed.

use std::path::PathBuf;
use std::time::Duration;

use pdfx_runtime::args::parse_duration;
use pdfx_runtime::quantity::{QuantityError, parse_bytes};
use pdfx_storage::StorageUri;

/// The gateway's settings on the command line, each with its environment variable.
#[derive(clap::Args, Debug, Clone)]
pub struct GatewayArgs {
    /// Largest accepted upload (a quantity: `1Gi`, `500Mi`); larger ones get 413.
    #[arg(long, env = "PDFX_MAX_UPLOAD_BYTES", default_value = "1Gi")]
    pub max_upload_bytes: String,
    /// Unfinished tasks a tenant may have at once; one more gets 429.
    #[arg(long, env = "PDFX_MAX_QUEUED_PER_TENANT", default_value_t = 100)]
    pub max_queued_per_tenant: usize,
    /// Largest result.json whose per-page text a completed status carries inline;
    /// beyond it the status carries the summary and the result URL.
    #[arg(long, env = "PDFX_INLINE_RESULT_BYTES", default_value = "1Mi")]
    pub inline_result_bytes: String,
    /// Longest `?wait=N` long poll of the status endpoint (e.g. `60s`).
    #[arg(long, env = "PDFX_MAX_WAIT", default_value = "60s", value_parser = parse_duration)]
    pub max_wait: Duration,
    /// Serve without API keys: every request acts for `--tenant`. Only for a
    /// single machine; without it, API keys are required.
    #[arg(long, env = "PDFX_AUTH_DISABLED")]
    pub auth_disabled: bool,
    /// The namespace tasks go to when auth is disabled.
    #[arg(long, env = "PDFX_TENANT", default_value = "default")]
    pub tenant: String,
    /// File of hashed API keys, one `<namespace> sha256:<hex>` per line (re-read when it changes).
    #[arg(long, env = "PDFX_API_KEYS_FILE", value_name = "PATH")]
    pub api_keys_file: Option<PathBuf>,
    /// Secret `NAMESPACE/NAME` whose values hold hashed API keys in the file's format (watched).
    #[arg(long, env = "PDFX_API_KEYS_SECRET", value_name = "NS/NAME")]
    pub api_keys_secret: Option<String>,
    /// Age after which an upload that no PdfExtraction refers to is deleted.
    #[arg(long, env = "PDFX_UPLOAD_GRACE", default_value = "15m", value_parser = parse_duration)]
    pub upload_grace: Duration,
    /// How often the sweep of orphaned uploads runs.
    #[arg(long, env = "PDFX_SWEEP_INTERVAL", default_value = "5m", value_parser = parse_duration)]
    pub sweep_interval: Duration,
    /// Longest wait for one Kubernetes API or storage call made for a request.
    #[arg(long, env = "PDFX_BACKEND_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub backend_timeout: Duration,
}

impl Default for GatewayArgs {
    fn default() -> Self {
        Self {
            max_upload_bytes: "1Gi".into(),
            max_queued_per_tenant: 100,
            inline_result_bytes: "1Mi".into(),
            max_wait: Duration::from_secs(60),
            auth_disabled: false,
            tenant: "default".into(),
            api_keys_file: None,
            api_keys_secret: None,
            upload_grace: Duration::from_secs(15 * 60),
            sweep_interval: Duration::from_secs(5 * 60),
            backend_timeout: Duration::from_secs(10),
        }
    }
}

/// A setting that cannot be used; the message names the flag.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("--{flag}: {source}")]
    Quantity {
        flag: &'static str,
        source: QuantityError,
    },
    #[error(
        "no API keys: pass --api-keys-file or --api-keys-secret, or --auth-disabled to serve without authentication"
    )]
    NoAuth,
    #[error("--auth-disabled contradicts --api-keys-file / --api-keys-secret")]
    AuthConflict,
    #[error("--{flag}: {message}")]
    Invalid { flag: &'static str, message: String },
}

/// Where API keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthConfig {
    /// No keys: every request acts for this namespace.
    Disabled { tenant: String },
    /// Keys from a file, a Secret, or both.
    Keys {
        file: Option<PathBuf>,
        secret: Option<(String, String)>,
    },
}

/// The gateway's settings, checked and typed.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Where uploads are stored and results are read: the operator's `--storage-url`.
    pub storage: StorageUri,
    pub max_upload_bytes: u64,
    pub max_queued_per_tenant: usize,
    pub inline_result_bytes: u64,
    pub max_wait: Duration,
    pub auth: AuthConfig,
    pub upload_grace: Duration,
    pub sweep_interval: Duration,
    pub backend_timeout: Duration,
}

impl GatewayConfig {
    pub fn new(args: GatewayArgs, storage: StorageUri) -> Result<Self, ConfigError> {
        let quantity = |flag, text: &str| {
            parse_bytes(text).map_err(|source| ConfigError::Quantity { flag, source })
        };
        let max_upload_bytes = quantity("max-upload-bytes", &args.max_upload_bytes)?;
        let inline_result_bytes = quantity("inline-result-bytes", &args.inline_result_bytes)?;
        if max_upload_bytes == 0 {
            return Err(ConfigError::Invalid {
                flag: "max-upload-bytes",
                message: "must be more than 0".into(),
            });
        }
        if args.max_queued_per_tenant == 0 {
            return Err(ConfigError::Invalid {
                flag: "max-queued-per-tenant",
                message: "must be at least 1".into(),
            });
        }
        let secret = args
            .api_keys_secret
            .as_deref()
            .map(|text| match text.split_once('/') {
                Some((ns, name)) if is_dns_label(ns) && !name.is_empty() => {
                    Ok((ns.to_owned(), name.to_owned()))
                }
                _ => Err(ConfigError::Invalid {
                    flag: "api-keys-secret",
                    message: format!("{text:?} is not NAMESPACE/NAME"),
                }),
            })
            .transpose()?;
        let has_keys = args.api_keys_file.is_some() || secret.is_some();
        let auth = match (args.auth_disabled, has_keys) {
            (true, true) => return Err(ConfigError::AuthConflict),
            (false, false) => return Err(ConfigError::NoAuth),
            (true, false) => {
                if !is_dns_label(&args.tenant) {
                    return Err(ConfigError::Invalid {
                        flag: "tenant",
                        message: format!("{:?} is not a namespace name", args.tenant),
                    });
                }
                AuthConfig::Disabled {
                    tenant: args.tenant,
                }
            }
            (false, true) => AuthConfig::Keys {
                file: args.api_keys_file,
                secret,
            },
        };
        Ok(Self {
            storage,
            max_upload_bytes,
            max_queued_per_tenant: args.max_queued_per_tenant,
            inline_result_bytes,
            max_wait: args.max_wait,
            auth,
            upload_grace: args.upload_grace,
            sweep_interval: args.sweep_interval.max(Duration::from_secs(1)),
            backend_timeout: args.backend_timeout.max(Duration::from_millis(100)),
        })
    }

    /// Whether requests are served without API keys.
    pub fn auth_disabled(&self) -> bool {
        matches!(self.auth, AuthConfig::Disabled { .. })
    }
}

/// A Kubernetes namespace name (an RFC 1123 label).
pub use pdfx_crd::types::is_dns_label;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn storage() -> StorageUri {
        StorageUri::parse("s3://pdfx").unwrap()
    }

    #[test]
    fn auth_is_off_only_when_disabled_explicitly() {
        let err = GatewayConfig::new(GatewayArgs::default(), storage()).unwrap_err();
        assert!(matches!(err, ConfigError::NoAuth), "{err}");
        let off = GatewayConfig::new(
            GatewayArgs {
                auth_disabled: true,
                ..Default::default()
            },
            storage(),
        )
        .unwrap();
        assert!(off.auth_disabled());
        assert_eq!(
            off.auth,
            AuthConfig::Disabled {
                tenant: "default".into()
            }
        );
        let both = GatewayArgs {
            auth_disabled: true,
            api_keys_file: Some("/k".into()),
            ..Default::default()
        };
        assert!(matches!(
            GatewayConfig::new(both, storage()),
            Err(ConfigError::AuthConflict)
        ));
    }

    #[test]
    fn quantities_and_secrets_are_parsed() {
        let config = GatewayConfig::new(
            GatewayArgs {
                max_upload_bytes: "10Mi".into(),
                api_keys_secret: Some("pdfx-system/api-keys".into()),
                ..Default::default()
            },
            storage(),
        )
        .unwrap();
        assert_eq!(config.max_upload_bytes, 10 * 1024 * 1024);
        assert_eq!(config.inline_result_bytes, 1024 * 1024);
        assert!(!config.auth_disabled());
        let bad = GatewayArgs {
            api_keys_secret: Some("no-slash".into()),
            ..Default::default()
        };
        let err = GatewayConfig::new(bad, storage()).unwrap_err();
        assert!(err.to_string().starts_with("--api-keys-secret"), "{err}");
        let bad = GatewayArgs {
            max_upload_bytes: "lots".into(),
            auth_disabled: true,
            ..Default::default()
        };
        let err = GatewayConfig::new(bad, storage()).unwrap_err();
        assert!(err.to_string().starts_with("--max-upload-bytes"), "{err}");
    }

    #[test]
    fn namespace_names() {
        assert!(is_dns_label("team-a"));
        assert!(!is_dns_label("Team"));
        assert!(!is_dns_label("-a"));
        assert!(!is_dns_label(""));
    }
}
