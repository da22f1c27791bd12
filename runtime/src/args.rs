//! Command-line groups every binary flattens into its own arguments, so that a
//! setting has one name, one environment variable and one meaning everywhere.

use std::marker::PhantomData;
use std::net::SocketAddr;

use clap::{Arg, ArgMatches, Args, FromArgMatches};

use crate::logging::LogFormat;

/// A duration as people write it on a command line: `600`, `90s`, `10m`,
/// `1h30m` (a bare number is seconds).
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let bad = || format!("{text:?} is not a duration (e.g. 90s, 10m, 1h30m, or seconds)");
    let text = text.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(std::time::Duration::from_secs(seconds));
    }
    let mut total = 0u64;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return Err(bad()),
        };
        let value: u64 = number.parse().map_err(|_| bad())?;
        total = value
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
        number.clear();
    }
    if !number.is_empty() || text.is_empty() {
        return Err(bad());
    }
    Ok(std::time::Duration::from_secs(total))
}

/// `--log-format` (`PDFX_LOG_FORMAT`); the level comes from `RUST_LOG`.
#[derive(Args, Clone, Debug, Default)]
pub struct LogArgs {
    /// Log format on stderr: JSON lines unless stderr is a terminal (`auto`),
    /// `text` or `json`. The level comes from RUST_LOG.
    #[arg(long, env = "PDFX_LOG_FORMAT", value_enum, default_value_t = LogFormat::Auto, global = true)]
    pub log_format: LogFormat,
}

impl LogArgs {
    /// Installs the process-wide logger in this format.
    pub fn init(&self) -> Result<(), crate::logging::LoggingError> {
        crate::logging::init(self.log_format)
    }
}

/// Which flag, variable and default a binary's admin address goes by. Each
/// binary keeps the names it documents (the operator's `--listen` /
/// `PDFX_OPERATOR_LISTEN`) while sharing one definition.
pub trait AdminAddress {
    const FLAG: &'static str;
    const ENV: &'static str;
    const DEFAULT: &'static str;
}

/// The address of the admin endpoints (`/healthz`, `/readyz`, `/metrics`).
#[derive(Clone, Debug)]
pub struct AdminArgs<A> {
    pub listen: SocketAddr,
    names: PhantomData<A>,
}

impl<A> AdminArgs<A> {
    pub fn new(listen: SocketAddr) -> Self {
        Self {
            listen,
            names: PhantomData,
        }
    }
}

const ADMIN_ID: &str = "admin_listen";

impl<A: AdminAddress> FromArgMatches for AdminArgs<A> {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let listen = matches
            .get_one::<SocketAddr>(ADMIN_ID)
            .copied()
            .ok_or_else(|| {
                clap::Error::raw(
                    clap::error::ErrorKind::MissingRequiredArgument,
                    format!("--{} is required", A::FLAG),
                )
            })?;
        Ok(Self::new(listen))
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl<A: AdminAddress> Args for AdminArgs<A> {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        cmd.arg(
            Arg::new(ADMIN_ID)
                .long(A::FLAG)
                .env(A::ENV)
                .value_name("HOST:PORT")
                .default_value(A::DEFAULT)
                .value_parser(clap::value_parser!(SocketAddr))
                .help("Address of /healthz, /readyz and /metrics"),
        )
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

#[cfg(feature = "kube")]
pub use kube_client::{KubeArgs, KubeClientError};

#[cfg(feature = "kube")]
mod kube_client {
    use std::path::PathBuf;

    use clap::Args;

    /// How to reach the Kubernetes API: a kubeconfig file and context, else the
    /// standard inference (`KUBECONFIG`, `~/.kube/config`, in-cluster).
    #[derive(Args, Clone, Debug, Default)]
    pub struct KubeArgs {
        /// Kubeconfig file; default: KUBECONFIG, ~/.kube/config, then the in-cluster service account.
        #[arg(long, env = "PDFX_KUBECONFIG", value_name = "PATH")]
        pub kubeconfig: Option<PathBuf>,
        /// Kubeconfig context; default: its current context.
        #[arg(long, env = "PDFX_KUBE_CONTEXT", value_name = "NAME")]
        pub kube_context: Option<String>,
    }

    #[derive(Debug, thiserror::Error)]
    pub enum KubeClientError {
        #[error("reading the kubeconfig {path}: {source}")]
        Kubeconfig {
            path: PathBuf,
            source: kube::config::KubeconfigError,
        },
        #[error("finding the Kubernetes API (KUBECONFIG, ~/.kube/config or in-cluster): {0}")]
        Infer(#[from] kube::config::InferConfigError),
        #[error("building the Kubernetes client: {0}")]
        Client(#[from] kube::Error),
    }

    impl KubeArgs {
        /// The client configuration these settings name.
        pub async fn config(&self) -> Result<kube::Config, KubeClientError> {
            let options = kube::config::KubeConfigOptions {
                context: self.kube_context.clone(),
                ..Default::default()
            };
            match &self.kubeconfig {
                Some(path) => {
                    let file = kube::config::Kubeconfig::read_from(path).map_err(|source| {
                        KubeClientError::Kubeconfig {
                            path: path.clone(),
                            source,
                        }
                    })?;
                    kube::Config::from_custom_kubeconfig(file, &options)
                        .await
                        .map_err(|source| KubeClientError::Kubeconfig {
                            path: path.clone(),
                            source,
                        })
                }
                None if self.kube_context.is_some() => kube::Config::from_kubeconfig(&options)
                    .await
                    .map_err(|source| KubeClientError::Kubeconfig {
                        path: PathBuf::from("KUBECONFIG"),
                        source,
                    }),
                None => Ok(kube::Config::infer().await?),
            }
        }

        /// A client for the configured API server.
        pub async fn client(&self) -> Result<kube::Client, KubeClientError> {
            Ok(kube::Client::try_from(self.config().await?)?)
        }
    }
}

#[cfg(test)]
mod duration_tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations_read_as_written() {
        for (text, seconds) in [
            ("600", 600),
            ("90s", 90),
            ("10m", 600),
            ("1h30m", 5400),
            ("2h", 7200),
            ("1m5s", 65),
        ] {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_secs(seconds)),
                "{text}"
            );
        }
        for bad in ["", "m", "10x", "1.5m", "-3", "10m3", "h1"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}

#[cfg(all(test, feature = "kube"))]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use clap::Parser;
    use std::path::PathBuf;

    #[derive(Debug, Clone)]
    struct TestAdmin;
    impl AdminAddress for TestAdmin {
        const FLAG: &'static str = "listen";
        const ENV: &'static str = "PDFX_RUNTIME_TEST_LISTEN";
        const DEFAULT: &'static str = "0.0.0.0:8080";
    }

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        admin: AdminArgs<TestAdmin>,
        #[command(flatten)]
        log: LogArgs,
        #[command(flatten)]
        kube: KubeArgs,
    }

    #[test]
    fn groups_flatten_with_their_own_names_and_defaults() {
        let cli = Cli::try_parse_from(["x"]).unwrap();
        assert_eq!(cli.admin.listen, "0.0.0.0:8080".parse().unwrap());
        assert_eq!(cli.log.log_format, LogFormat::Auto);
        assert!(cli.kube.kubeconfig.is_none());

        let cli = Cli::try_parse_from([
            "x",
            "--listen",
            "127.0.0.1:9",
            "--log-format",
            "json",
            "--kubeconfig",
            "/k",
            "--kube-context",
            "c",
        ])
        .unwrap();
        assert_eq!(cli.admin.listen, "127.0.0.1:9".parse().unwrap());
        assert_eq!(cli.log.log_format, LogFormat::Json);
        assert_eq!(cli.kube.kubeconfig, Some(PathBuf::from("/k")));
        assert_eq!(cli.kube.kube_context.as_deref(), Some("c"));

        let error = Cli::try_parse_from(["x", "--listen", "nowhere"]).unwrap_err();
        assert!(error.to_string().contains("nowhere"), "{error}");
    }

    #[tokio::test]
    async fn a_named_kubeconfig_is_read() {
        let dir = std::env::temp_dir().join(format!("pdfx-runtime-kube-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("kubeconfig");
        std::fs::write(
            &path,
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:1\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\n    namespace: team-a\ncurrent-context: c\nusers:\n- name: u\n  user: {}\n",
        )
        .unwrap();
        let args = KubeArgs {
            kubeconfig: Some(path.clone()),
            kube_context: None,
        };
        let config = args.config().await.unwrap();
        assert_eq!(config.cluster_url.to_string(), "http://127.0.0.1:1/");
        assert_eq!(config.default_namespace, "team-a");

        let missing = KubeArgs {
            kubeconfig: Some(dir.join("absent")),
            kube_context: None,
        };
        assert!(matches!(
            missing.config().await,
            Err(KubeClientError::Kubeconfig { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
