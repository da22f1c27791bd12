//! How to reach an S3 service: [`S3Config`] and its credentials, read from the
//! environment, and the SDK client built from them.

use std::fmt;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use url::Url;

use super::DEFAULT_COMPATIBLE_REGION;
use crate::env;
use crate::error::{Result, StorageError};

/// Static credentials for S3. `Debug` does not print the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Credentials {
    /// The access key id.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
    /// A session token, for temporary credentials.
    pub session_token: Option<String>,
}

impl fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// How to reach an S3 service. The bucket is not part of it: it comes from the
/// storage URI (see [`crate::Store::from_uri`]), so one configuration serves
/// every bucket pdfx touches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct S3Config {
    /// Endpoint URL of an S3-compatible server (e.g. `http://minio:9000`); `None`
    /// for AWS itself.
    pub endpoint: Option<String>,
    /// Region; `None` means: [`DEFAULT_COMPATIBLE_REGION`] when `endpoint` is set,
    /// else the AWS default chain (`AWS_REGION`, profile, IMDS).
    pub region: Option<String>,
    /// Path-style requests (`endpoint/bucket/key`) instead of virtual-hosted ones.
    pub force_path_style: bool,
    /// Static credentials; `None` uses the AWS default credential chain
    /// (environment, profile, web identity / IRSA, container and instance roles).
    pub credentials: Option<S3Credentials>,
    /// Keys per `ListObjectsV2` page; `None` for the server's default (1000).
    /// A tuning and testing knob: tests set it small to exercise pagination.
    pub list_page_size: Option<i32>,
    /// Keys per `DeleteObjects` request, capped at
    /// [`MAX_DELETE_BATCH`](super::MAX_DELETE_BATCH); `None` for the cap.
    pub delete_batch_size: Option<usize>,
}

impl S3Config {
    /// A configuration for an S3-compatible server with static credentials:
    /// path-style, explicit region.
    pub fn compatible(
        endpoint: impl Into<String>,
        region: impl Into<String>,
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
    ) -> Self {
        S3Config {
            endpoint: Some(endpoint.into()),
            region: Some(region.into()),
            force_path_style: true,
            credentials: Some(S3Credentials {
                access_key_id: access_key_id.into(),
                secret_access_key: secret_access_key.into(),
                session_token: None,
            }),
            ..S3Config::default()
        }
    }

    /// Reads the configuration from the process environment:
    ///
    /// | variable | meaning | default |
    /// |---|---|---|
    /// | `PDFX_S3_ENDPOINT` | endpoint URL of an S3-compatible server (`http://…` or `https://…`) | AWS |
    /// | `PDFX_S3_REGION` | region | `us-east-1` with an endpoint, else the AWS chain (`AWS_REGION`, …) |
    /// | `PDFX_S3_ACCESS_KEY_ID` | static access key id (with the secret) | the AWS credential chain |
    /// | `PDFX_S3_SECRET_ACCESS_KEY` | static secret access key (with the id) | the AWS credential chain |
    /// | `PDFX_S3_SESSION_TOKEN` | session token for temporary static credentials | none |
    /// | `PDFX_S3_FORCE_PATH_STYLE` | `true`/`false` (also `1`/`0`, `yes`/`no`) | `true` with an endpoint, else `false` |
    ///
    /// Empty values count as unset. An access key without its secret (or the
    /// reverse), a malformed endpoint or a malformed boolean is an error rather
    /// than a silent fallback to other credentials.
    pub fn from_env() -> Result<Self> {
        Self::from_env_vars(|name| std::env::var(name).ok())
    }

    /// [`S3Config::from_env`] with the variables read through `get`: for tests,
    /// and for callers that take settings from elsewhere (e.g. CLI flags).
    pub fn from_env_vars(get: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let get = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let endpoint = get(env::ENDPOINT);
        if let Some(endpoint) = &endpoint {
            let url = Url::parse(endpoint).map_err(|e| {
                StorageError::Config(format!("{} {endpoint:?} is not a URL: {e}", env::ENDPOINT))
            })?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(StorageError::Config(format!(
                    "{} {endpoint:?} must be an http:// or https:// URL",
                    env::ENDPOINT
                )));
            }
        }
        let credentials = match (get(env::ACCESS_KEY_ID), get(env::SECRET_ACCESS_KEY)) {
            (Some(access_key_id), Some(secret_access_key)) => Some(S3Credentials {
                access_key_id,
                secret_access_key,
                session_token: get(env::SESSION_TOKEN),
            }),
            (None, None) => None,
            _ => {
                return Err(StorageError::Config(format!(
                    "{} and {} must be set together",
                    env::ACCESS_KEY_ID,
                    env::SECRET_ACCESS_KEY
                )));
            }
        };
        let force_path_style = match get(env::FORCE_PATH_STYLE) {
            None => endpoint.is_some(),
            Some(v) => match v.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => true,
                "0" | "false" | "no" | "off" => false,
                _ => {
                    return Err(StorageError::Config(format!(
                        "{} {v:?} is not a boolean",
                        env::FORCE_PATH_STYLE
                    )));
                }
            },
        };
        Ok(S3Config {
            endpoint,
            region: get(env::REGION),
            force_path_style,
            credentials,
            ..S3Config::default()
        })
    }

    /// Builds an SDK client with the settings S3-compatible servers need (see the
    /// [module docs](super)).
    ///
    /// With static credentials and a known region the client is built without
    /// `aws-config`'s default chains, so nothing probes instance metadata or reads
    /// profile files; otherwise the default chains supply what is missing.
    pub async fn client(&self) -> Result<Client> {
        let region = self.region.clone().or_else(|| {
            self.endpoint
                .as_ref()
                .map(|_| DEFAULT_COMPATIBLE_REGION.to_owned())
        });
        let mut builder = match (&self.credentials, region) {
            (Some(creds), Some(region)) => aws_sdk_s3::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new(region))
                .credentials_provider(static_credentials(creds)),
            (creds, region) => {
                let mut loader = aws_config::defaults(BehaviorVersion::latest());
                if let Some(region) = region {
                    loader = loader.region(Region::new(region));
                }
                if let Some(creds) = creds {
                    loader = loader.credentials_provider(static_credentials(creds));
                }
                let shared = loader.load().await;
                if shared.region().is_none() {
                    return Err(StorageError::Config(
                        "no S3 region: set PDFX_S3_REGION (or AWS_REGION)".into(),
                    ));
                }
                aws_sdk_s3::config::Builder::from(&shared)
            }
        };
        builder = builder
            .force_path_style(self.force_path_style)
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        if let Some(endpoint) = &self.endpoint {
            builder = builder.endpoint_url(endpoint);
        }
        Ok(Client::from_conf(builder.build()))
    }
}

fn static_credentials(creds: &S3Credentials) -> Credentials {
    Credentials::new(
        &creds.access_key_id,
        &creds.secret_access_key,
        creds.session_token.clone(),
        None,
        "pdfx-static",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_config() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let cfg = S3Config::from_env_vars(env(&[
            ("PDFX_S3_ENDPOINT", "http://127.0.0.1:9000"),
            ("PDFX_S3_ACCESS_KEY_ID", "ak"),
            ("PDFX_S3_SECRET_ACCESS_KEY", "sk"),
        ]));
        let cfg = cfg.ok();
        assert_eq!(
            cfg.as_ref().map(|c| (c.force_path_style, c.region.clone())),
            Some((true, None))
        );
        assert!(format!("{cfg:?}").contains("<redacted>"));
        assert!(!format!("{cfg:?}").contains("sk\""));

        let cfg = S3Config::from_env_vars(env(&[("PDFX_S3_REGION", "eu-west-1")])).ok();
        assert_eq!(
            cfg,
            Some(S3Config {
                region: Some("eu-west-1".into()),
                ..S3Config::default()
            })
        );
        for bad in [
            &[("PDFX_S3_ACCESS_KEY_ID", "ak")][..],
            &[("PDFX_S3_SECRET_ACCESS_KEY", "sk")][..],
            &[("PDFX_S3_ENDPOINT", "minio:9000")][..],
            &[("PDFX_S3_ENDPOINT", "ftp://minio:9000")][..],
            &[("PDFX_S3_FORCE_PATH_STYLE", "maybe")][..],
        ] {
            let bad: &'static [(&'static str, &'static str)] = bad;
            assert!(
                matches!(
                    S3Config::from_env_vars(env(bad)),
                    Err(StorageError::Config(_))
                ),
                "{bad:?}"
            );
        }
        let cfg = S3Config::from_env_vars(env(&[
            ("PDFX_S3_ENDPOINT", "https://s3.example"),
            ("PDFX_S3_FORCE_PATH_STYLE", "no"),
            ("PDFX_S3_ACCESS_KEY_ID", ""),
        ]))
        .ok();
        assert_eq!(cfg.map(|c| c.force_path_style), Some(false));
    }
}
