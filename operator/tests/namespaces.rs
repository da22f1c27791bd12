//! The namespaced mode of the chart: the operator watches a list of
//! namespaces (one controller each, sharing admission) and nothing else.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Cluster, WAIT};
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::PostParams;
use pdfx_crd::{PdfExtraction, PdfExtractionSpec, Phase, Source, StorageObject};
use pdfx_ocr_runner::sample::{SampleKind, SampleLanguage, SampleSpec, write_sample};

/// A document under the namespace's own prefix (a namespace reads only its
/// own part of the shared bucket).
fn upload_in(cluster: &Cluster, namespace: &str) -> String {
    let key = format!("extractions/{namespace}/doc/source.pdf");
    let path = cluster.storage.path().join(&key);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    write_sample(
        &path,
        &SampleSpec::new(1, SampleKind::Text, SampleLanguage::English),
    )
    .unwrap();
    key
}

async fn create_in(cluster: &Cluster, namespace: &str, name: &str) {
    let key = upload_in(cluster, namespace);
    let namespaces: Api<Namespace> = Api::all(cluster.client.clone());
    let object: Namespace =
        serde_json::from_value(serde_json::json!({"metadata": {"name": namespace}})).unwrap();
    let _ = namespaces.create(&PostParams::default(), &object).await;
    let spec = PdfExtractionSpec {
        source: Source::Storage(StorageObject { key }),
        output: None,
        ocr: Default::default(),
        resources: None,
        ttl_seconds_after_finished: None,
    };
    Api::<PdfExtraction>::namespaced(cluster.client.clone(), namespace)
        .create(&PostParams::default(), &PdfExtraction::new(name, spec))
        .await
        .unwrap();
}

fn phase_in(
    cluster: &Cluster,
    namespace: &str,
    name: &str,
) -> impl std::future::Future<Output = Option<Phase>> {
    let api = Api::<PdfExtraction>::namespaced(cluster.client.clone(), namespace);
    let name = name.to_owned();
    async move { api.get(&name).await.unwrap().status.and_then(|s| s.phase) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_of_namespaces_is_watched_and_nothing_else() {
    let mut cluster = Cluster::new(2).await;
    cluster.config.namespaces = vec!["team-a".into(), "team-b".into()];
    cluster.start_operator();
    for (namespace, name) in [("team-a", "a"), ("team-b", "b"), ("team-c", "c")] {
        create_in(&cluster, namespace, name).await;
    }
    for (namespace, name) in [("team-a", "a"), ("team-b", "b")] {
        let done = tokio::time::timeout(WAIT, async {
            loop {
                if let Some(phase) = phase_in(&cluster, namespace, name).await
                    && phase.is_terminal()
                {
                    return phase;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await
        .unwrap();
        assert_eq!(done, Phase::Succeeded, "{namespace}/{name}");
    }
    // Both finished; one outside the list was never touched (no status, no Job).
    assert_eq!(phase_in(&cluster, "team-c", "c").await, None);
    let jobs: Api<k8s_openapi::api::batch::v1::Job> =
        Api::namespaced(cluster.client.clone(), "team-c");
    assert!(
        jobs.list(&Default::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
}
