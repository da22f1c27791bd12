//! The operator as one future: wait for the CRD, take the Lease when asked,
//! run the controller until shutdown. `pdfx-operator` and `pdfx up` both call
//! [`run`]; neither repeats these steps.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::runtime::wait::{await_condition, conditions};
use kube::{Api, Client};
use pdfx_runtime::{Admin, Shutdown};
use pdfx_storage::S3Config;

use crate::config::OperatorConfig;
use crate::controller;
use crate::leader::LeaderElection;
use crate::metrics::Metrics;

/// How long the operator waits for its CRD before giving up.
pub const CRD_WAIT: Duration = Duration::from_secs(300);
/// How long a Lease lasts without renewal.
pub const LEASE_DURATION: Duration = Duration::from_secs(15);

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("registering metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error(
        "the PdfExtraction CRD was not established within {} s (install crds/pdfextraction.yaml)",
        CRD_WAIT.as_secs()
    )]
    CrdMissing,
    #[error("watching the PdfExtraction CRD: {0}")]
    CrdWatch(#[from] kube::runtime::wait::Error),
    #[error("acquiring the leader lease: {0}")]
    Lease(#[source] kube::Error),
    #[error("lost the leader lease; stopping so that only the new leader acts")]
    LostLease,
}

/// Runs the operator until `shutdown` (or until it loses its Lease). Its
/// metrics go to `admin`'s registry; its readiness check `crd` passes once the
/// CRD is established.
pub async fn run(
    client: Client,
    mut config: OperatorConfig,
    s3: S3Config,
    admin: &Admin,
    shutdown: Shutdown,
) -> Result<(), RunError> {
    // Unless told otherwise, runners reach storage where the operator does.
    if config.storage_endpoint.is_none() {
        config.storage_endpoint = s3.endpoint.clone();
    }
    if config.storage_region.is_none() {
        config.storage_region = s3.region.clone();
    }
    let metrics = Arc::new(Metrics::registered_in(admin.registry())?);
    let crd_ready = admin.readiness().check("crd");

    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    tracing::info!("waiting for the pdfextractions.pdfx.dev CRD to be established");
    let established = await_condition(
        crds,
        "pdfextractions.pdfx.dev",
        conditions::is_crd_established(),
    );
    tokio::select! {
        waited = tokio::time::timeout(CRD_WAIT, established) => {
            waited.map_err(|_| RunError::CrdMissing)??;
        }
        () = shutdown.wait() => return Ok(()),
    }
    // Ready once the CRD is there: a standby replica is healthy and ready too,
    // or a rolling update with maxUnavailable 0 would never finish.
    crd_ready.ready();

    let election = match &config.leader_election {
        Some(lease) => {
            let election = LeaderElection::new(
                client.clone(),
                &lease.namespace,
                &lease.name,
                &lease.identity,
                LEASE_DURATION,
            );
            tokio::select! {
                acquired = election.acquire() => acquired.map_err(RunError::Lease)?,
                () = shutdown.wait() => return Ok(()),
            }
            Some(election)
        }
        None => None,
    };
    tracing::info!(
        namespaces = %if config.namespaces.is_empty() { "<all>".to_owned() } else { config.namespaces.join(",") },
        "operator running"
    );
    let controller = controller::run(client, config, s3, metrics, shutdown.clone());
    match election {
        Some(election) => tokio::select! {
            () = controller => Ok(()),
            () = election.keep() => Err(RunError::LostLease),
        },
        None => {
            controller.await;
            Ok(())
        }
    }
}
