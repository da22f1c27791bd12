//! kube-runtime's Controller (with `.owns()`, i.e. a metadata watcher) and the
//! `finalizer()` helper against the emulator.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use pdfx_crd::PdfExtraction;
use serde_json::json;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Oops(String);

struct Ctx {
    client: kube::Client,
    reconciles: AtomicUsize,
    cleanups: AtomicUsize,
}

async fn reconcile(
    obj: Arc<PdfExtraction>,
    ctx: Arc<Ctx>,
) -> Result<Action, kube::runtime::finalizer::Error<Oops>> {
    ctx.reconciles.fetch_add(1, Ordering::SeqCst);
    let ns = obj.namespace().unwrap();
    let api: Api<PdfExtraction> = Api::namespaced(ctx.client.clone(), &ns);
    let ctx2 = ctx.clone();
    finalizer(&api, "pdfx.dev/cleanup", obj, |ev| async move {
        match ev {
            Finalizer::Apply(o) => {
                let jobs: Api<Job> = Api::namespaced(ctx2.client.clone(), &ns);
                let name = format!("{}-1", o.name_any());
                if jobs
                    .get_opt(&name)
                    .await
                    .map_err(|e| Oops(e.to_string()))?
                    .is_none()
                {
                    let mut job: Job = serde_json::from_value(json!({
                        "metadata": {"name": name, "labels": {"pdfx.dev/extraction": o.name_any()}},
                        "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never",
                            "containers": [{"name": "runner", "image": "pdfx-ocr-runner"}]}}}
                    }))
                    .unwrap();
                    job.metadata.owner_references =
                        Some(vec![o.controller_owner_ref(&()).unwrap()]);
                    jobs.create(&PostParams::default(), &job)
                        .await
                        .map_err(|e| Oops(e.to_string()))?;
                }
                Ok(Action::await_change())
            }
            Finalizer::Cleanup(_) => {
                ctx2.cleanups.fetch_add(1, Ordering::SeqCst);
                Ok(Action::await_change())
            }
        }
    })
    .await
}

fn error_policy(
    _: Arc<PdfExtraction>,
    _: &kube::runtime::finalizer::Error<Oops>,
    _: Arc<Ctx>,
) -> Action {
    Action::requeue(Duration::from_millis(200))
}

#[tokio::test]
async fn controller_with_owns_and_finalizer() {
    let (_srv, client) = start().await;
    let ctx = Arc::new(Ctx {
        client: client.clone(),
        reconciles: AtomicUsize::new(0),
        cleanups: AtomicUsize::new(0),
    });
    let pdfxs: Api<PdfExtraction> = Api::all(client.clone());
    let jobs_all: Api<Job> = Api::all(client.clone());
    let controller = Controller::new(pdfxs, watcher::Config::default())
        .owns(
            jobs_all,
            watcher::Config::default().labels("pdfx.dev/extraction"),
        )
        .run(reconcile, error_policy, ctx.clone())
        .for_each(|_| async {});
    let handle = tokio::spawn(controller);

    let api: Api<PdfExtraction> = Api::namespaced(client.clone(), "default");
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    api.create(&PostParams::default(), &pdfx("c1"))
        .await
        .unwrap();
    // The finalizer is added (JSON patch with test-against-null), then the Job created.
    eventually(|| {
        let (api, jobs) = (api.clone(), jobs.clone());
        async move {
            let o = api.get("c1").await.unwrap();
            let has_fin = o.finalizers().contains(&"pdfx.dev/cleanup".to_string());
            (has_fin && jobs.get_opt("c1-1").await.unwrap().is_some()).then_some(())
        }
    })
    .await;
    let job = jobs.get("c1-1").await.unwrap();
    let owner = &job.owner_references()[0];
    assert_eq!(owner.kind, "PdfExtraction");
    assert_eq!(owner.controller, Some(true));

    // An owned Job changing triggers a reconcile of its owner (the metadata watcher of .owns()).
    let before = ctx.reconciles.load(Ordering::SeqCst);
    jobs.delete("c1-1", &DeleteParams::background())
        .await
        .unwrap();
    eventually(|| {
        let (ctx, jobs) = (ctx.clone(), jobs.clone());
        async move {
            (ctx.reconciles.load(Ordering::SeqCst) > before
                && jobs.get_opt("c1-1").await.unwrap().is_some())
            .then_some(())
        }
    })
    .await;

    // Deleting the resource runs the cleanup, removes the finalizer, and the object goes away;
    // the GC then removes the owned Job.
    api.delete("c1", &DeleteParams::default()).await.unwrap();
    eventually(|| {
        let api = api.clone();
        async move { api.get_opt("c1").await.unwrap().is_none().then_some(()) }
    })
    .await;
    assert!(ctx.cleanups.load(Ordering::SeqCst) >= 1);
    eventually(|| {
        let jobs = jobs.clone();
        async move { jobs.get_opt("c1-1").await.unwrap().is_none().then_some(()) }
    })
    .await;
    handle.abort();
}
