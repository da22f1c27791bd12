//! The command-line choice of how pods run, shared by `pdfx-devcluster serve`
//! and `pdfx up`.

use std::path::PathBuf;

use super::docker::{DockerRuntime, find_docker};

/// How the executor runs a pod's container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum RuntimeKind {
    /// As a local program (the image mapped to a path).
    #[default]
    Process,
    /// As a container of its own image on the Docker engine.
    Docker,
}

/// `--runtime` and its settings.
#[derive(Debug, Clone, clap::Args)]
pub struct RuntimeArgs {
    /// How pods run: `process` (images mapped to local programs) or `docker`
    /// (each pod a container of its image, security context and limits
    /// enforced by the engine; images must be in the local engine).
    #[arg(
        long = "runtime",
        env = "DEVCLUSTER_RUNTIME",
        value_enum,
        default_value_t
    )]
    pub kind: RuntimeKind,
    /// `--network` of pod containers (with `--runtime docker`). `host` lets
    /// them reach services on this machine's loopback, as local processes do.
    #[arg(long, env = "DEVCLUSTER_DOCKER_NETWORK", default_value = "host")]
    pub docker_network: String,
}

/// Why the container runtime cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("--runtime docker: no docker command found (set DOCKER or put docker on PATH)")]
    NoDocker,
    #[error("--runtime docker: the Docker engine does not answer (`docker info` failed: {0})")]
    EngineDown(String),
}

impl RuntimeArgs {
    /// The container runtime to give the executor (`None`: local processes),
    /// checked to answer; `shared_folders` are mounted at their own path in
    /// every container.
    pub async fn container_runtime(
        &self,
        shared_folders: Vec<PathBuf>,
    ) -> Result<Option<DockerRuntime>, RuntimeError> {
        if self.kind == RuntimeKind::Process {
            return Ok(None);
        }
        let program = find_docker().ok_or(RuntimeError::NoDocker)?;
        let info = tokio::process::Command::new(&program)
            .args(["info", "--format", "{{.ServerVersion}}"])
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .map_err(|e| RuntimeError::EngineDown(e.to_string()))?;
        if !info.status.success() {
            return Err(RuntimeError::EngineDown(
                String::from_utf8_lossy(&info.stderr).trim().to_string(),
            ));
        }
        Ok(Some(DockerRuntime {
            program,
            network: self.docker_network.clone(),
            shared_folders,
        }))
    }
}
