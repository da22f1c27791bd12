//! The protocol checklist's [N] items against the emulator over real HTTP with the
//! unmodified kube 5.0 client (and raw requests where the client hides the detail).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Event as CoreEvent, Namespace};
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Resource, ResourceExt};
use pdfx_crd::PdfExtraction;
use serde_json::{Value, json};

struct E {
    code: u16,
    reason: String,
    message: String,
}

fn api_err(e: kube::Error) -> E {
    match e {
        kube::Error::Api(s) => E {
            code: s.code,
            reason: s.reason.clone(),
            message: s.message.clone(),
        },
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn crud_and_error_statuses() {
    let (srv, client) = start().await;
    let api: Api<PdfExtraction> = Api::namespaced(client.clone(), "default");
    let created = api
        .create(&PostParams::default(), &pdfx("a"))
        .await
        .unwrap();
    let meta = &created.metadata;
    assert!(meta.uid.is_some() && meta.creation_timestamp.is_some());
    assert_eq!(meta.generation, Some(1));
    assert!(!meta.resource_version.clone().unwrap().is_empty());
    assert_eq!(meta.namespace.as_deref(), Some("default"));

    // 409 AlreadyExists (kube checks the reason only).
    let e = api_err(
        api.create(&PostParams::default(), &pdfx("a"))
            .await
            .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (409, "AlreadyExists"));
    // 404 NotFound, and get_opt relies on it.
    let e = api_err(api.get("missing").await.unwrap_err());
    assert_eq!((e.code, e.reason.as_str()), (404, "NotFound"));
    assert_eq!(e.message, "pdfextractions.pdfx.dev \"missing\" not found");
    assert!(api.get_opt("missing").await.unwrap().is_none());

    // generateName.
    let mut g = pdfx("");
    g.metadata.name = None;
    g.metadata.generate_name = Some("gen-".into());
    let gen_obj = api.create(&PostParams::default(), &g).await.unwrap();
    let gname = gen_obj.name_any();
    assert!(gname.starts_with("gen-") && gname.len() == 9, "{gname}");

    // Namespace must exist.
    let other: Api<PdfExtraction> = Api::namespaced(client.clone(), "nope");
    let e = api_err(
        other
            .create(&PostParams::default(), &pdfx("x"))
            .await
            .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (404, "NotFound"));
    assert!(
        e.message.contains("namespaces \"nope\" not found"),
        "{}",
        e.message
    );

    // Replace with optimistic concurrency: stale RV → 409 Conflict.
    let mut stale = created.clone();
    let mut fresh = api.get("a").await.unwrap();
    fresh.metadata.labels = Some([("x".to_string(), "1".to_string())].into());
    let replaced = api
        .replace("a", &PostParams::default(), &fresh)
        .await
        .unwrap();
    assert_ne!(
        replaced.metadata.resource_version,
        created.metadata.resource_version
    );
    assert_eq!(
        replaced.metadata.generation,
        Some(1),
        "label changes do not bump generation"
    );
    stale.metadata.labels = Some([("x".to_string(), "2".to_string())].into());
    let e = api_err(
        api.replace("a", &PostParams::default(), &stale)
            .await
            .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (409, "Conflict"));

    // CRs: PUT without metadata.resourceVersion → 422.
    let mut body = serde_json::to_value(&replaced).unwrap();
    body["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("resourceVersion");
    let (code, ct, v) = raw(
        &srv.url(),
        "PUT",
        "/apis/pdfx.dev/v1alpha1/namespaces/default/pdfextractions/a",
        &[],
        Some(body),
    )
    .await;
    assert_eq!(code, 422);
    assert_eq!(ct, "application/json");
    assert_eq!(v["reason"], "Invalid");
    assert_eq!(v["kind"], "Status");

    // RV on create → 400; namespace mismatch → 400.
    let mut with_rv = pdfx_json("b");
    with_rv["metadata"]["resourceVersion"] = json!("5");
    let (code, _, v) = raw(
        &srv.url(),
        "POST",
        "/apis/pdfx.dev/v1alpha1/namespaces/default/pdfextractions",
        &[],
        Some(with_rv),
    )
    .await;
    assert_eq!((code, v["reason"].as_str()), (400, Some("BadRequest")));
    let mut wrong_ns = pdfx_json("b");
    wrong_ns["metadata"]["namespace"] = json!("kube-system");
    let (code, _, _) = raw(
        &srv.url(),
        "POST",
        "/apis/pdfx.dev/v1alpha1/namespaces/default/pdfextractions",
        &[],
        Some(wrong_ns),
    )
    .await;
    assert_eq!(code, 400);
    // Unknown path → 404 Status with JSON content type.
    let (code, ct, v) = raw(&srv.url(), "GET", "/apis/nope.dev/v1/things", &[], None).await;
    assert_eq!(
        (code, ct.as_str(), v["kind"].as_str()),
        (404, "application/json", Some("Status"))
    );
    // Queries may start with `?&`.
    let (code, _, v) = raw(
        &srv.url(),
        "GET",
        "/apis/pdfx.dev/v1alpha1/namespaces/default/pdfextractions?&limit=1",
        &[],
        None,
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(v["items"].as_array().unwrap().len(), 1);

    // Delete: without finalizers the object is gone (kube's Either::Right(Status)).
    let res = api.delete("a", &DeleteParams::default()).await.unwrap();
    assert!(res.is_right());
    assert!(api.get_opt("a").await.unwrap().is_none());
    // Cluster-wide list of a namespaced type (Controller uses Api::all).
    let all: Api<PdfExtraction> = Api::all(client.clone());
    assert_eq!(
        all.list(&ListParams::default()).await.unwrap().items.len(),
        1
    );
    drop(srv);
}

#[tokio::test]
async fn schema_pruning_defaulting_validation_and_cel() {
    let (srv, client) = start().await;
    let api: Api<PdfExtraction> = Api::namespaced(client.clone(), "default");
    let mut body = pdfx_json("p");
    body["spec"]["bogus"] = json!(1);
    body["spec"]["ocr"] = json!({"dpi": 150, "extra": true});
    body["status"] = json!({"phase": "Running"});
    let (code, _, v) = raw(
        &srv.url(),
        "POST",
        "/apis/pdfx.dev/v1alpha1/namespaces/default/pdfextractions",
        &[],
        Some(body),
    )
    .await;
    assert_eq!(code, 201, "{v}");
    assert!(
        v["spec"].get("bogus").is_none(),
        "unknown spec field pruned"
    );
    assert!(v["spec"]["ocr"].get("extra").is_none());
    assert_eq!(v["spec"]["ocr"]["dpi"], 150);
    assert_eq!(v["spec"]["ocr"]["mode"], "auto", "defaults applied");
    assert_eq!(v["spec"]["ocr"]["languages"], json!(["eng"]));
    assert!(
        v.get("status").is_none(),
        "status dropped on create with a status subresource"
    );

    // Unknown status fields are pruned as well.
    let patched = api
        .patch_status(
            "p",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Queued", "nonsense": 1}})),
        )
        .await
        .unwrap();
    let pv = serde_json::to_value(&patched).unwrap();
    assert_eq!(pv["status"]["phase"], "Queued");
    let (_, _, raw_obj) = raw(
        &srv.url(),
        "GET",
        "/apis/pdfx.dev/v1alpha1/namespaces/default/pdfextractions/p",
        &[],
        None,
    )
    .await;
    assert!(raw_obj["status"].get("nonsense").is_none());

    // fieldValidation=Strict rejects unknown fields instead.
    let mut strict = pdfx_json("strict");
    strict["spec"]["bogus"] = json!(1);
    let (code, _, v) = raw(
        &srv.url(),
        "POST",
        "/apis/pdfx.dev/v1alpha1/namespaces/default/pdfextractions?fieldValidation=Strict",
        &[],
        Some(strict),
    )
    .await;
    assert_eq!(code, 400);
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("unknown field \"spec.bogus\""),
        "{v}"
    );

    // Validation: 422 Invalid with field causes.
    let mut bad = pdfx_json("bad");
    bad["spec"]["ocr"] = json!({"dpi": 1000, "mode": "sometimes", "languages": ["EN"]});
    bad["spec"]["source"] = json!({"url": "http://x", "storage": {"key": "k"}});
    let (code, _, v) = raw(
        &srv.url(),
        "POST",
        "/apis/pdfx.dev/v1alpha1/namespaces/default/pdfextractions",
        &[],
        Some(bad),
    )
    .await;
    assert_eq!(code, 422, "{v}");
    assert_eq!(v["reason"], "Invalid");
    let causes = v["details"]["causes"].as_array().unwrap();
    let fields: Vec<&str> = causes
        .iter()
        .map(|c| c["field"].as_str().unwrap())
        .collect();
    for f in [
        "spec.ocr.dpi",
        "spec.ocr.mode",
        "spec.ocr.languages[0]",
        "spec.source",
        "spec.source.url",
    ] {
        assert!(fields.contains(&f), "{f} missing from {fields:?}");
    }
    let msg = v["message"].as_str().unwrap();
    assert!(
        msg.starts_with("PdfExtraction.pdfx.dev \"bad\" is invalid: ["),
        "{msg}"
    );
    assert!(msg.contains("should be less than or equal to 600"), "{msg}");
    // Required field.
    let (code, _, v) = raw(&srv.url(), "POST", "/apis/pdfx.dev/v1alpha1/namespaces/default/pdfextractions", &[],
        Some(json!({"apiVersion": "pdfx.dev/v1alpha1", "kind": "PdfExtraction", "metadata": {"name": "nospec"}, "spec": {}}))).await;
    assert_eq!(code, 422);
    assert_eq!(v["details"]["causes"][0]["reason"], "FieldValueRequired");
    assert_eq!(v["details"]["causes"][0]["field"], "spec.source");

    // CEL `self == oldSelf`: spec is immutable.
    let e = api_err(
        api.patch(
            "p",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"ocr": {"dpi": 200}}})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (422, "Invalid"));
    assert!(e.message.contains("spec is immutable"), "{}", e.message);
    // Metadata changes are still allowed.
    api.patch(
        "p",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"a": "b"}}})),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn status_subresource_generation_and_noop_writes() {
    let (_srv, client) = start().await;
    let api: Api<PdfExtraction> = Api::namespaced(client.clone(), "default");
    api.create(&PostParams::default(), &pdfx("s"))
        .await
        .unwrap();
    let mut w = api
        .watch(&WatchParams::default().disable_bookmarks(), "0")
        .await
        .unwrap()
        .boxed();
    // Synthetic ADDED first.
    assert!(matches!(
        w.try_next().await.unwrap(),
        Some(WatchEvent::Added(_))
    ));

    // Status through /status: generation unchanged, spec changes ignored.
    let s1 = api
        .patch_status(
            "s",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"status": {"phase": "Running"}, "metadata": {"labels": {"ignored": "yes"}}}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(s1.metadata.generation, Some(1));
    assert!(
        s1.labels().get("ignored").is_none(),
        "CR /status ignores metadata"
    );
    assert!(matches!(
        w.try_next().await.unwrap(),
        Some(WatchEvent::Modified(_))
    ));

    // The main endpoint ignores status.
    let s2 = api
        .patch(
            "s",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Failed"}})),
        )
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(&s2).unwrap()["status"]["phase"],
        "Running"
    );
    assert_eq!(
        s2.metadata.resource_version, s1.metadata.resource_version,
        "no-op write keeps the RV"
    );

    // A no-op status patch: same RV, and no watch event (the next event is the label change below).
    let s3 = api
        .patch_status(
            "s",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Running"}})),
        )
        .await
        .unwrap();
    assert_eq!(s3.metadata.resource_version, s1.metadata.resource_version);
    let s4 = api
        .patch(
            "s",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"l": "1"}}})),
        )
        .await
        .unwrap();
    match w.try_next().await.unwrap() {
        Some(WatchEvent::Modified(o)) => {
            assert_eq!(o.metadata.resource_version, s4.metadata.resource_version)
        }
        other => panic!("expected the label change, got {other:?}"),
    }
    // Finalizers + deletion: deletionTimestamp, generation +1, MODIFIED; emptying finalizers deletes.
    api.patch(
        "s",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": ["pdfx.dev/cleanup"]}})),
    )
    .await
    .unwrap();
    let _ = w.try_next().await.unwrap();
    let del = api.delete("s", &DeleteParams::default()).await.unwrap();
    let deleting = del
        .left()
        .expect("object returned while finalizers are pending");
    assert!(deleting.metadata.deletion_timestamp.is_some());
    assert_eq!(deleting.metadata.generation, Some(2));
    assert!(matches!(
        w.try_next().await.unwrap(),
        Some(WatchEvent::Modified(_))
    ));
    // Repeated DELETE is a no-op.
    let again = api
        .delete("s", &DeleteParams::default())
        .await
        .unwrap()
        .left()
        .unwrap();
    assert_eq!(
        again.metadata.resource_version,
        deleting.metadata.resource_version
    );
    // No new finalizers on a deleting object.
    let e = api_err(
        api.patch(
            "s",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": ["pdfx.dev/cleanup", "other"]}})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(e.code, 422);
    api.patch(
        "s",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    match w.try_next().await.unwrap() {
        Some(WatchEvent::Deleted(o)) => assert!(o.metadata.resource_version.is_some()),
        other => panic!("expected DELETED, got {other:?}"),
    }
    assert!(api.get_opt("s").await.unwrap().is_none());
}

#[tokio::test]
async fn json_patch_test_against_missing_path_and_strategic_merge() {
    let (srv, client) = start().await;
    let api: Api<PdfExtraction> = Api::namespaced(client.clone(), "default");
    api.create(&PostParams::default(), &pdfx("j"))
        .await
        .unwrap();
    let patch: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/metadata/finalizers", "value": null},
        {"op": "add", "path": "/metadata/finalizers", "value": ["f"]}
    ]))
    .unwrap();
    let o = api
        .patch(
            "j",
            &PatchParams::default(),
            &Patch::Json::<()>(patch.clone()),
        )
        .await
        .unwrap();
    assert_eq!(o.finalizers(), &["f".to_string()]);
    // The same test now fails → 422.
    let e = api_err(
        api.patch("j", &PatchParams::default(), &Patch::Json::<()>(patch))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 422);
    // Strategic merge on a CR → 415; unknown content type → 415.
    let (code, _, v) = raw(
        &srv.url(),
        "PATCH",
        "/apis/pdfx.dev/v1alpha1/namespaces/default/pdfextractions/j",
        &[("Content-Type", "application/strategic-merge-patch+json")],
        Some(json!({"metadata": {"labels": {"a": "b"}}})),
    )
    .await;
    assert_eq!(
        (code, v["reason"].as_str()),
        (415, Some("UnsupportedMediaType"))
    );
    let (code, _, _) = raw(
        &srv.url(),
        "PATCH",
        "/apis/pdfx.dev/v1alpha1/namespaces/default/pdfextractions/j",
        &[("Content-Type", "text/plain")],
        Some(json!({})),
    )
    .await;
    assert_eq!(code, 415);
    // Built-ins accept strategic merge and apply patches.
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    cms.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "c"}, "data": {"a": "1"}})).unwrap(),
    )
    .await
    .unwrap();
    let c = cms
        .patch(
            "c",
            &PatchParams::default(),
            &Patch::Strategic(json!({"data": {"b": "2"}})),
        )
        .await
        .unwrap();
    assert_eq!(c.data.unwrap().len(), 2);
    let applied = cms
        .patch("c2", &PatchParams::apply("test").force(), &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c2"}, "data": {"x": "y"}})))
        .await
        .unwrap();
    assert_eq!(applied.data.unwrap()["x"], "y");
}

#[tokio::test]
async fn list_paging_and_selectors() {
    let (srv, client) = start().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    for i in 0..7 {
        let tier = if i % 2 == 0 { "even" } else { "odd" };
        cms.create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": format!("cm{i}"), "labels": {"tier": tier, "n": i.to_string()}}})).unwrap())
            .await
            .unwrap();
    }
    // Paging with limit/continue.
    let mut names = Vec::new();
    let mut lp = ListParams::default().limit(3);
    let page = cms.list(&lp).await.unwrap();
    let first_rv = page.metadata.resource_version.clone().unwrap();
    assert!(!first_rv.is_empty());
    assert_eq!(page.metadata.remaining_item_count, Some(4));
    names.extend(page.items.iter().map(|c| c.name_any()));
    let mut cont = page.metadata.continue_;
    while let Some(c) = cont.filter(|c| !c.is_empty()) {
        lp = lp.continue_token(&c);
        let page = cms.list(&lp).await.unwrap();
        assert_eq!(
            page.metadata.resource_version.as_deref(),
            Some(first_rv.as_str())
        );
        names.extend(page.items.iter().map(|c| c.name_any()));
        cont = page.metadata.continue_;
    }
    assert_eq!(names, (0..7).map(|i| format!("cm{i}")).collect::<Vec<_>>());
    // Label selectors.
    let count = |sel: &'static str| {
        let cms = cms.clone();
        async move {
            cms.list(&ListParams::default().labels(sel))
                .await
                .unwrap()
                .items
                .len()
        }
    };
    assert_eq!(count("tier=even").await, 4);
    assert_eq!(count("tier==odd").await, 3);
    assert_eq!(count("tier!=odd").await, 4);
    assert_eq!(count("n in (1,2,3)").await, 3);
    assert_eq!(count("n notin (1,2,3)").await, 4);
    assert_eq!(count("tier").await, 7);
    assert_eq!(count("!tier").await, 0);
    // Field selectors: metadata.name / metadata.namespace; others → 400.
    assert_eq!(
        cms.list(&ListParams::default().fields("metadata.name=cm3"))
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    assert_eq!(
        cms.list(&ListParams::default().fields("metadata.namespace=default,metadata.name!=cm3"))
            .await
            .unwrap()
            .items
            .len(),
        6
    );
    let e = api_err(
        cms.list(&ListParams::default().fields("data.a=1"))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 400);
    assert!(
        e.message.contains("field label not supported"),
        "{}",
        e.message
    );
    // Expired continue token → 410 (history window of 5 events).
    let small = pdfx_devcluster::ApiServer::new(pdfx_devcluster::Config {
        history: 5,
        ..Default::default()
    })
    .unwrap();
    let (srv2, client2) = start_with(small).await;
    let cms2: Api<ConfigMap> = Api::namespaced(client2.clone(), "default");
    for i in 0..3 {
        cms2.create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": format!("x{i}")}})).unwrap(),
        )
        .await
        .unwrap();
    }
    let page = cms2.list(&ListParams::default().limit(1)).await.unwrap();
    for i in 0..10 {
        cms2.create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": format!("y{i}")}})).unwrap(),
        )
        .await
        .unwrap();
    }
    let e = api_err(
        cms2.list(
            &ListParams::default()
                .limit(1)
                .continue_token(&page.metadata.continue_.unwrap()),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (410, "Expired"));
    drop((srv, srv2));
}

#[tokio::test]
async fn watch_replay_bookmarks_expiry_and_selector_semantics() {
    let server = pdfx_devcluster::ApiServer::new(pdfx_devcluster::Config {
        history: 20,
        bookmark_interval: Duration::from_millis(200),
        ..Default::default()
    })
    .unwrap();
    let (srv, client) = start_with(server).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let a = cms
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "a", "labels": {"sel": "yes"}}}))
                .unwrap(),
        )
        .await
        .unwrap();
    let rv_a = a.resource_version().unwrap();
    cms.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"k": "v"}})),
    )
    .await
    .unwrap();
    // Replay from rv_a: the MODIFIED since.
    let mut w = cms
        .watch(
            &WatchParams::default().timeout(30).disable_bookmarks(),
            &rv_a,
        )
        .await
        .unwrap()
        .boxed();
    match w.try_next().await.unwrap() {
        Some(WatchEvent::Modified(o)) => assert_eq!(o.data.unwrap()["k"], "v"),
        other => panic!("expected replayed MODIFIED, got {other:?}"),
    }
    // Bookmarks: TypeMeta + RV present (kube parses them into Bookmark).
    let mut wb = cms
        .watch(&WatchParams::default().timeout(30), &rv_a)
        .await
        .unwrap()
        .boxed();
    let _ = wb.try_next().await.unwrap();
    let bm = tokio::time::timeout(WAIT, wb.try_next())
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(bm, Some(WatchEvent::Bookmark(ref b)) if !b.metadata.resource_version.is_empty()),
        "{bm:?}"
    );

    // Selector-filtered watch: leaving the selection is DELETED, entering is ADDED.
    let mut ws = cms
        .watch(
            &WatchParams::default()
                .labels("sel=yes")
                .timeout(30)
                .disable_bookmarks(),
            "0",
        )
        .await
        .unwrap()
        .boxed();
    assert!(matches!(
        ws.try_next().await.unwrap(),
        Some(WatchEvent::Added(_))
    ));
    cms.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"sel": "no"}}})),
    )
    .await
    .unwrap();
    assert!(matches!(
        ws.try_next().await.unwrap(),
        Some(WatchEvent::Deleted(_))
    ));
    cms.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"sel": "yes"}}})),
    )
    .await
    .unwrap();
    assert!(matches!(
        ws.try_next().await.unwrap(),
        Some(WatchEvent::Added(_))
    ));

    // Too old → a 200 stream with one ERROR event, code 410.
    for i in 0..30 {
        cms.create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": format!("f{i}")}})).unwrap(),
        )
        .await
        .unwrap();
    }
    let mut wo = cms
        .watch(&WatchParams::default().disable_bookmarks(), &rv_a)
        .await
        .unwrap()
        .boxed();
    match wo.try_next().await.unwrap() {
        Some(WatchEvent::Error(e)) => assert_eq!((e.code, e.reason.as_str()), (410, "Expired")),
        other => panic!("expected ERROR 410, got {other:?}"),
    }
    assert!(
        wo.try_next().await.unwrap().is_none(),
        "stream closes after the error"
    );
    // timeoutSeconds closes the stream cleanly.
    let mut wt = cms
        .watch(&WatchParams::default().timeout(1), "0")
        .await
        .unwrap()
        .boxed();
    let closed = tokio::time::timeout(WAIT, async {
        while let Some(_ev) = wt.try_next().await.unwrap() {}
    })
    .await;
    assert!(closed.is_ok());
    drop(srv);
}

#[tokio::test]
async fn watcher_and_reflector() {
    let (_srv, client) = start().await;
    let api: Api<PdfExtraction> = Api::all(client.clone());
    let (reader, writer) = reflector::store();
    let stream = reflector(writer, watcher(api.clone(), watcher::Config::default()))
        .applied_objects()
        .boxed();
    let handle = tokio::spawn(async move {
        let mut s = stream;
        while let Some(_o) = s.try_next().await.unwrap() {}
    });
    let ns_api: Api<PdfExtraction> = Api::namespaced(client.clone(), "default");
    for n in ["r1", "r2", "r3"] {
        ns_api
            .create(&PostParams::default(), &pdfx(n))
            .await
            .unwrap();
    }
    tokio::time::timeout(WAIT, reader.wait_until_ready())
        .await
        .unwrap()
        .unwrap();
    eventually(|| {
        let r = reader.clone();
        async move { (r.state().len() == 3).then_some(()) }
    })
    .await;
    ns_api.delete("r2", &DeleteParams::default()).await.unwrap();
    eventually(|| {
        let r = reader.clone();
        async move { (r.state().len() == 2).then_some(()) }
    })
    .await;
    // Metadata-only list / watch (Controller::owns uses these).
    let meta = api.list_metadata(&ListParams::default()).await.unwrap();
    assert_eq!(meta.items.len(), 2);
    assert_eq!(meta.types.kind.as_str(), "PartialObjectMetadataList");
    handle.abort();
}

#[tokio::test]
async fn events_recorder_and_core_view() {
    use kube::runtime::events::{Event, EventType, Recorder, Reporter};
    let (_srv, client) = start().await;
    let api: Api<PdfExtraction> = Api::namespaced(client.clone(), "default");
    let obj = api
        .create(&PostParams::default(), &pdfx("ev"))
        .await
        .unwrap();
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "pdfx-operator".into(),
            instance: None,
        },
    );
    let ev = Event {
        type_: EventType::Normal,
        reason: "Accepted".into(),
        note: Some("accepted for extraction".into()),
        action: "Accept".into(),
        secondary: None,
    };
    recorder.publish(&ev, &obj.object_ref(&())).await.unwrap();
    // Second publish of the same event → merge patch of the series.
    recorder.publish(&ev, &obj.object_ref(&())).await.unwrap();
    let core: Api<CoreEvent> = Api::namespaced(client.clone(), "default");
    let fs = format!(
        "involvedObject.name=ev,involvedObject.namespace=default,involvedObject.kind=PdfExtraction,involvedObject.uid={}",
        obj.uid().unwrap()
    );
    let list = core.list(&ListParams::default().fields(&fs)).await.unwrap();
    assert_eq!(list.items.len(), 1);
    let e = &list.items[0];
    assert_eq!(e.reason.as_deref(), Some("Accepted"));
    assert_eq!(e.message.as_deref(), Some("accepted for extraction"));
    assert_eq!(e.count, Some(2));
}

#[tokio::test]
async fn jobs_builtin_defaults_validation_and_gc() {
    let (srv, client) = start().await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let job: Job = serde_json::from_value(json!({
        "metadata": {"name": "j1"},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "runner"}]}}}
    }))
    .unwrap();
    let j = jobs.create(&PostParams::default(), &job).await.unwrap();
    let spec = j.spec.clone().unwrap();
    assert_eq!(spec.backoff_limit, Some(6));
    assert_eq!(spec.completions, Some(1));
    assert_eq!(spec.parallelism, Some(1));
    assert_eq!(spec.completion_mode.as_deref(), Some("NonIndexed"));
    assert_eq!(spec.suspend, Some(false));
    let uid = j.uid().unwrap();
    assert_eq!(
        spec.selector.unwrap().match_labels.unwrap()["batch.kubernetes.io/controller-uid"],
        uid
    );
    let labels = spec.template.metadata.unwrap().labels.unwrap();
    assert_eq!(labels["job-name"], "j1");
    assert_eq!(labels["batch.kubernetes.io/job-name"], "j1");
    // Validation: restartPolicy Always and missing image.
    let bad: Job = serde_json::from_value(json!({
        "metadata": {"name": "bad"},
        "spec": {"template": {"spec": {"restartPolicy": "Always", "containers": [{"name": "c"}]}}}
    }))
    .unwrap();
    let e = api_err(jobs.create(&PostParams::default(), &bad).await.unwrap_err());
    assert_eq!(e.code, 422);
    assert!(
        e.message.contains("spec.template.spec.restartPolicy"),
        "{}",
        e.message
    );
    assert!(
        e.message.contains("spec.template.spec.containers[0].image"),
        "{}",
        e.message
    );
    // Immutable template.
    let e = api_err(
        jobs.patch("j1", &PatchParams::default(), &Patch::Merge(json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "other"}]}}}})))
            .await
            .unwrap_err(),
    );
    assert!(e.message.contains("field is immutable"), "{}", e.message);

    // Owner-reference GC: a ConfigMap owned by the Job; Background delete removes it.
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let owned = |name: &str, owner: &Job| -> ConfigMap {
        serde_json::from_value(json!({"metadata": {"name": name, "ownerReferences": [{
            "apiVersion": "batch/v1", "kind": "Job", "name": owner.name_any(), "uid": owner.uid().unwrap(), "controller": true}]}}))
        .unwrap()
    };
    cms.create(&PostParams::default(), &owned("dep1", &j))
        .await
        .unwrap();
    jobs.delete("j1", &DeleteParams::background())
        .await
        .unwrap();
    eventually(|| {
        let cms = cms.clone();
        async move { cms.get_opt("dep1").await.unwrap().is_none().then_some(()) }
    })
    .await;
    // Jobs default to Orphan: dependents survive and lose the owner reference.
    let j2 = jobs.create(&PostParams::default(), &serde_json::from_value::<Job>(json!({
        "metadata": {"name": "j2"},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "runner"}]}}}
    })).unwrap()).await.unwrap();
    cms.create(&PostParams::default(), &owned("dep2", &j2))
        .await
        .unwrap();
    jobs.delete("j2", &DeleteParams::default()).await.unwrap();
    srv.server.gc_once().await;
    let dep2 = cms.get("dep2").await.unwrap();
    assert!(
        dep2.metadata
            .owner_references
            .unwrap_or_default()
            .is_empty()
    );
    // Foreground: the owner waits for its dependents.
    let j3 = jobs.create(&PostParams::default(), &serde_json::from_value::<Job>(json!({
        "metadata": {"name": "j3"},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "runner"}]}}}
    })).unwrap()).await.unwrap();
    cms.create(&PostParams::default(), &owned("dep3", &j3))
        .await
        .unwrap();
    let fg = jobs
        .delete("j3", &DeleteParams::foreground())
        .await
        .unwrap();
    assert!(
        fg.left()
            .unwrap()
            .finalizers()
            .contains(&"foregroundDeletion".to_string())
    );
    eventually(|| {
        let (jobs, cms) = (jobs.clone(), cms.clone());
        async move {
            (jobs.get_opt("j3").await.unwrap().is_none()
                && cms.get_opt("dep3").await.unwrap().is_none())
            .then_some(())
        }
    })
    .await;
    // Namespace deletion removes its contents.
    let nss: Api<Namespace> = Api::all(client.clone());
    nss.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "tmp"}})).unwrap(),
    )
    .await
    .unwrap();
    let tmp_cms: Api<ConfigMap> = Api::namespaced(client.clone(), "tmp");
    tmp_cms
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "x"}})).unwrap(),
        )
        .await
        .unwrap();
    nss.delete("tmp", &DeleteParams::default()).await.unwrap();
    eventually(|| {
        let nss = nss.clone();
        async move { nss.get_opt("tmp").await.unwrap().is_none().then_some(()) }
    })
    .await;
}

#[tokio::test]
async fn discovery_table_and_openapi() {
    let (srv, client) = start().await;
    let discovery = kube::Discovery::new(client.clone()).run().await.unwrap();
    let (ar, caps) = discovery
        .groups()
        .flat_map(|g| g.recommended_resources())
        .find(|(ar, _)| ar.plural == "pdfextractions")
        .expect("pdfextractions discovered");
    assert_eq!(ar.kind, "PdfExtraction");
    assert!(
        caps.subresources
            .iter()
            .any(|(s, _)| s.plural == "status" || s.plural.ends_with("/status"))
            || caps.subresources.is_empty()
    );
    let (_, _, v) = raw(&srv.url(), "GET", "/apis/pdfx.dev/v1alpha1", &[], None).await;
    let res = v["resources"].as_array().unwrap();
    let main = res.iter().find(|r| r["name"] == "pdfextractions").unwrap();
    assert_eq!(main["shortNames"], json!(["pdfx"]));
    assert_eq!(main["categories"], json!(["pdfx"]));
    assert_eq!(main["singularName"], "pdfextraction");
    assert!(res.iter().any(|r| r["name"] == "pdfextractions/status"));
    let (_, _, v) = raw(&srv.url(), "GET", "/version", &[], None).await;
    for f in [
        "major",
        "minor",
        "gitVersion",
        "gitCommit",
        "gitTreeState",
        "buildDate",
        "goVersion",
        "compiler",
        "platform",
    ] {
        assert!(v.get(f).is_some(), "{f}");
    }
    let (code, ct, _) = raw(&srv.url(), "GET", "/openapi/v2", &[], None).await;
    assert_eq!(
        (code, ct.as_str()),
        (
            200,
            "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
        )
    );
    let (_, _, root) = raw(&srv.url(), "GET", "/openapi/v3", &[], None).await;
    let url = root["paths"]["apis/pdfx.dev/v1alpha1"]["serverRelativeURL"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, _, doc) = raw(&srv.url(), "GET", &url, &[], None).await;
    let schema = &doc["components"]["schemas"]["dev.pdfx.v1alpha1.PdfExtraction"];
    assert_eq!(
        schema["x-kubernetes-group-version-kind"][0]["kind"],
        "PdfExtraction"
    );
    assert!(schema["properties"]["spec"]["description"].is_string());
    // Table with printer columns.
    let api: Api<PdfExtraction> = Api::namespaced(client.clone(), "default");
    api.create(&PostParams::default(), &pdfx("t"))
        .await
        .unwrap();
    api.patch_status("t", &PatchParams::default(), &Patch::Merge(json!({"status": {"phase": "Running", "progress": {"pagesTotal": 10, "pagesDone": 4, "percent": 40}, "currentAttempt": 1}})))
        .await
        .unwrap();
    let accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
    let (code, _, t) = raw(
        &srv.url(),
        "GET",
        "/apis/pdfx.dev/v1alpha1/namespaces/default/pdfextractions",
        &[("Accept", accept)],
        None,
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(t["kind"], "Table");
    let cols: Vec<&str> = t["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        cols,
        [
            "Name", "Phase", "Progress", "Pages", "Attempts", "Reason", "Age"
        ]
    );
    let cells = &t["rows"][0]["cells"];
    assert_eq!(cells[0], "t");
    assert_eq!(cells[1], "Running");
    assert_eq!(cells[2], 40);
    assert_eq!(cells[3], 10);
    assert_eq!(cells[4], 1);
    assert!(
        cells[6].as_str().unwrap().ends_with('s'),
        "age rendered: {cells}"
    );
    assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    // Metadata-only get.
    let (_, _, m) = raw(
        &srv.url(),
        "GET",
        "/apis/pdfx.dev/v1alpha1/namespaces/default/pdfextractions/t",
        &[(
            "Accept",
            "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1",
        )],
        None,
    )
    .await;
    assert_eq!(m["kind"], "PartialObjectMetadata");
    assert!(m.get("spec").is_none());
    let (code, ct, _) = raw(&srv.url(), "GET", "/healthz", &[], None).await;
    assert_eq!((code, ct.as_str()), (200, "text/plain"));
    // CRD status conditions.
    let (_, _, crd) = raw(
        &srv.url(),
        "GET",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/pdfextractions.pdfx.dev",
        &[],
        None,
    )
    .await;
    let conds: Vec<&str> = crd["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert!(conds.contains(&"Established") && conds.contains(&"NamesAccepted"));
    assert_eq!(crd["status"]["storedVersions"], json!(["v1alpha1"]));
    let _: Value = crd;
}

#[tokio::test]
async fn dry_run_delete_collection_preconditions_streaming_lists_and_misc_builtins() {
    use k8s_openapi::api::coordination::v1::Lease;
    use k8s_openapi::api::core::v1::Secret;
    let (_srv, client) = start().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let cm = |n: &str| -> ConfigMap {
        serde_json::from_value(json!({"metadata": {"name": n, "labels": {"batch": "x"}}})).unwrap()
    };
    // dryRun=All stores nothing.
    let pp = PostParams {
        dry_run: true,
        ..Default::default()
    };
    cms.create(&pp, &cm("dry")).await.unwrap();
    assert!(cms.get_opt("dry").await.unwrap().is_none());
    // Streaming lists (sendInitialEvents + initial-events-end bookmark).
    for n in ["d1", "d2", "d3"] {
        cms.create(&PostParams::default(), &cm(n)).await.unwrap();
    }
    let (reader, writer) = reflector::store();
    let s = reflector(
        writer,
        watcher(cms.clone(), watcher::Config::default().streaming_lists()),
    )
    .applied_objects()
    .boxed();
    let h = tokio::spawn(async move {
        let mut s = s;
        while let Some(_o) = s.try_next().await.unwrap() {}
    });
    tokio::time::timeout(WAIT, reader.wait_until_ready())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reader.state().len(), 3);
    h.abort();
    // Delete preconditions: wrong uid → 409.
    let dp = DeleteParams {
        preconditions: Some(kube::api::Preconditions {
            uid: Some("nope".into()),
            resource_version: None,
        }),
        ..Default::default()
    };
    let e = api_err(cms.delete("d1", &dp).await.unwrap_err());
    assert_eq!((e.code, e.reason.as_str()), (409, "Conflict"));
    // deletecollection with a label selector.
    cms.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels("batch=x"),
    )
    .await
    .unwrap();
    assert!(
        cms.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    // Secret: stringData is folded into base64 data; bad base64 → 422.
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "default");
    let s = secrets
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "s"}, "stringData": {"k": "v"}}))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(s.data.unwrap()["k"].0, b"v".to_vec());
    assert!(s.string_data.is_none());
    // Lease CRUD (leader election).
    let leases: Api<Lease> = Api::namespaced(client.clone(), "default");
    leases
        .create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": "pdfx-operator"}, "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15}})).unwrap())
        .await
        .unwrap();
    let l = leases
        .patch(
            "pdfx-operator",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"holderIdentity": "b"}})),
        )
        .await
        .unwrap();
    assert_eq!(l.spec.unwrap().holder_identity.as_deref(), Some("b"));
}
