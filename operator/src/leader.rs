//! Leader election with a coordination.k8s.io/v1 Lease, so that only one
//! replica acts. kube-rs has none built in; this is the usual loop: take the
//! Lease when it is free or expired, renew it well before it expires, and stop
//! acting (exit) when it is lost. Updates carry the Lease's resourceVersion in
//! a JSON merge patch, so two replicas can never both win a race.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::json;

pub struct LeaderElection {
    api: Api<Lease>,
    name: String,
    identity: String,
    lease_duration: Duration,
}

impl LeaderElection {
    pub fn new(
        client: Client,
        namespace: &str,
        name: &str,
        identity: &str,
        lease_duration: Duration,
    ) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            name: name.into(),
            identity: identity.into(),
            lease_duration,
        }
    }

    /// Tries once to take or renew the Lease; `Ok(true)` when this replica holds it.
    pub async fn try_acquire(&self) -> Result<bool, kube::Error> {
        let now = Timestamp::now();
        let seconds = i32::try_from(self.lease_duration.as_secs()).unwrap_or(i32::MAX);
        let Some(lease) = self.api.get_opt(&self.name).await? else {
            let lease: Lease = serde_json::from_value(json!({
                "metadata": {"name": self.name},
                "spec": {"holderIdentity": self.identity, "leaseDurationSeconds": seconds,
                         "acquireTime": MicroTime(now), "renewTime": MicroTime(now), "leaseTransitions": 0}
            }))
            .map_err(kube::Error::SerdeError)?;
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
                Err(e) => Err(e),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().unwrap_or_default();
        let expired = spec.renew_time.as_ref().is_none_or(|renewed| {
            let duration = i64::from(spec.lease_duration_seconds.unwrap_or(seconds));
            renewed.0.as_second() + duration < now.as_second()
        });
        if holder != self.identity && !expired {
            return Ok(false);
        }
        let transitions = spec.lease_transitions.unwrap_or(0) + i32::from(holder != self.identity);
        let mut patch = json!({
            "metadata": {"resourceVersion": lease.metadata.resource_version},
            "spec": {"holderIdentity": self.identity, "leaseDurationSeconds": seconds,
                     "renewTime": MicroTime(now), "leaseTransitions": transitions}
        });
        if holder != self.identity {
            patch["spec"]["acquireTime"] = json!(MicroTime(now));
        }
        match self
            .api
            .patch(&self.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Waits until this replica holds the Lease.
    pub async fn acquire(&self) -> Result<(), kube::Error> {
        loop {
            if self.try_acquire().await? {
                tracing::info!(lease = %self.name, identity = %self.identity, "became leader");
                return Ok(());
            }
            tokio::time::sleep(self.lease_duration / 3).await;
        }
    }

    /// Renews the Lease until it is lost, or until renewals have failed for a
    /// whole lease duration (another replica may then hold it); returns then,
    /// and the caller stops acting.
    pub async fn keep(&self) {
        let mut renewed = std::time::Instant::now();
        loop {
            tokio::time::sleep(self.lease_duration / 5).await;
            // A renewal that hangs must not keep a leader acting past its lease.
            let attempt = tokio::time::timeout(self.lease_duration / 5, self.try_acquire()).await;
            match attempt
                .unwrap_or_else(|_| Err(kube::Error::Service("lease renewal timed out".into())))
            {
                Ok(true) => renewed = std::time::Instant::now(),
                Ok(false) => {
                    tracing::error!(lease = %self.name, "leadership lost");
                    return;
                }
                Err(e) => tracing::warn!(error = %e, "renewing the lease failed; retrying"),
            }
            // Give up well before the lease can expire, so that a new leader
            // never overlaps with this one.
            if renewed.elapsed() >= self.lease_duration * 2 / 3 {
                tracing::error!(lease = %self.name, "could not renew the lease in time");
                return;
            }
        }
    }
}
