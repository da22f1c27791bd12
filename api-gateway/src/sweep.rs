//! The sweep of orphaned uploads: an upload older than the grace period
//! whose PdfExtraction does not exist, or refers to another key, is deleted.
//! It catches what no request could clean up: a gateway killed between
//! storing and creating, a create that timed out and never landed.

use std::time::{Duration, SystemTime};

use pdfx_crd::Source;
use pdfx_crd::layout::parse_upload_key;
use pdfx_runtime::Shutdown;

use crate::state::AppState;

/// Runs a sweep every `interval` until `shutdown`, once the cache has synced.
pub async fn run(state: AppState, shutdown: Shutdown) {
    tokio::select! {
        () = state.cache().wait_synced() => {}
        () = shutdown.wait() => return,
    }
    let interval = state.config().sweep_interval;
    loop {
        match sweep_once(&state).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "orphaned uploads deleted"),
            Err(e) => tracing::warn!(error = %e, "sweeping orphaned uploads"),
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = shutdown.wait() => return,
        }
    }
}

/// One pass; returns how many uploads it deleted.
pub async fn sweep_once(state: &AppState) -> Result<usize, pdfx_storage::StorageError> {
    let grace = state.config().upload_grace;
    let prefix = state.storage_key(pdfx_crd::layout::EXTRACTIONS_DIR);
    let mut deleted = 0;
    for object in state.store().list(&prefix).await? {
        let Some(relative) = state.relative_key(&object.key) else {
            continue;
        };
        let Some((namespace, name)) = parse_upload_key(relative) else {
            continue;
        };
        if !is_older_than(state, &object.key, grace).await {
            continue;
        }
        if refers_to(state.cache().get(namespace, name).as_deref(), relative) {
            continue;
        }
        // The cache may lag; ask the API server before deleting anything.
        match state.extractions(namespace).get_opt(name).await {
            Ok(found) if refers_to(found.as_ref(), relative) => continue,
            Ok(_) => {}
            Err(e) => {
                tracing::debug!(error = %e, namespace, name, "cannot check an upload's resource; keeping it");
                continue;
            }
        }
        state.store().delete(&object.key).await?;
        state.metrics().orphans_deleted.inc();
        tracing::info!(key = %object.key, "orphaned upload deleted");
        deleted += 1;
    }
    Ok(deleted)
}

fn refers_to(resource: Option<&pdfx_crd::PdfExtraction>, key: &str) -> bool {
    matches!(resource.map(|r| &r.spec.source), Some(Source::Storage(s)) if s.key == key)
}

async fn is_older_than(state: &AppState, key: &str, grace: Duration) -> bool {
    match state.store().head(key).await {
        Ok(meta) => meta
            .last_modified
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .is_some_and(|age| age >= grace),
        Err(_) => false,
    }
}
