//! Leader election over a coordination.k8s.io Lease on the emulator: one
//! holder at a time, renewal, and take-over once the holder stops renewing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use kube::Client;
use pdfx_devcluster::ApiServer;
use pdfx_operator::leader::LeaderElection;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_replica_leads_and_another_takes_over_when_it_stops() {
    let running = pdfx_devcluster::start(ApiServer::in_memory(), "127.0.0.1:0")
        .await
        .unwrap();
    let client = Client::try_from(kube::Config::new(running.url().parse().unwrap())).unwrap();
    let lease = Duration::from_secs(2);
    let a = LeaderElection::new(
        client.clone(),
        "default",
        "pdfx-operator",
        "replica-a",
        lease,
    );
    let b = LeaderElection::new(
        client.clone(),
        "default",
        "pdfx-operator",
        "replica-b",
        lease,
    );

    assert!(
        a.try_acquire().await.unwrap(),
        "the first replica takes the free lease"
    );
    assert!(!b.try_acquire().await.unwrap(), "a held lease is not taken");
    assert!(a.try_acquire().await.unwrap(), "the holder renews");
    assert!(!b.try_acquire().await.unwrap());

    // The holder stops renewing (crash); once the lease has expired the other takes it.
    tokio::time::sleep(lease + Duration::from_millis(1500)).await;
    assert!(
        b.try_acquire().await.unwrap(),
        "an expired lease is taken over"
    );
    assert!(
        !a.try_acquire().await.unwrap(),
        "the old holder does not get it back"
    );

    let leases: kube::Api<k8s_openapi::api::coordination::v1::Lease> =
        kube::Api::namespaced(client, "default");
    let spec = leases.get("pdfx-operator").await.unwrap().spec.unwrap();
    assert_eq!(spec.holder_identity.as_deref(), Some("replica-b"));
    assert_eq!(spec.lease_transitions, Some(1));
}
