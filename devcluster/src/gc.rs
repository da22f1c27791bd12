//! Owner-reference garbage collection and namespace cleanup, asynchronous like the
//! real garbage collector: woken after deletions and on a timer, never inline with
//! the request that deleted the owner.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::{Value, json};

use crate::api::{
    ApiServer, DeleteOpts, finalizers as object_finalizers, meta_str as object_meta_str, owner_uids,
};
use crate::registry::StorageKey;

impl ApiServer {
    /// Run the collector until the server handle is dropped by everyone else.
    pub async fn run_gc(self) {
        loop {
            tokio::select! {
                _ = self.0.gc_wake.notified() => {}
                _ = tokio::time::sleep(self.0.config.gc_interval) => {}
            }
            for _ in 0..20 {
                if self.gc_once().await == 0 {
                    break;
                }
            }
        }
    }

    /// One collection pass; returns how many objects it changed or deleted.
    pub async fn gc_once(&self) -> usize {
        let reg = self.registry();
        let mut actions = 0;
        let pending = {
            let mut txn = self.0.store.txn();
            let all = txn.all();
            let by_uid: HashMap<String, (StorageKey, Arc<Value>)> = all
                .iter()
                .filter_map(|(k, o)| {
                    object_meta_str(o, "uid").map(|u| (u.to_string(), (k.clone(), o.clone())))
                })
                .collect();
            let terminating_ns: HashSet<String> = all
                .iter()
                .filter(|(k, o)| {
                    k.group.is_empty()
                        && k.resource == "namespaces"
                        && object_meta_str(o, "deletionTimestamp").is_some()
                })
                .filter_map(|(_, o)| object_meta_str(o, "name").map(str::to_string))
                .collect();
            let mut to_delete: Vec<(StorageKey, String, String)> = Vec::new();
            let mut has_dependents: HashSet<String> = HashSet::new();
            for (key, obj) in &all {
                let ns = object_meta_str(obj, "namespace")
                    .unwrap_or_default()
                    .to_string();
                let name = object_meta_str(obj, "name").unwrap_or_default().to_string();
                if object_meta_str(obj, "deletionTimestamp").is_some() {
                    // Already being deleted: its finalizers decide.
                    for u in owner_uids(obj) {
                        has_dependents.insert(u);
                    }
                    continue;
                }
                if !ns.is_empty() && terminating_ns.contains(&ns) {
                    to_delete.push((key.clone(), ns, name));
                    continue;
                }
                let owners = owner_uids(obj);
                if owners.is_empty() {
                    continue;
                }
                for u in &owners {
                    has_dependents.insert(u.clone());
                }
                let live: Vec<&(StorageKey, Arc<Value>)> =
                    owners.iter().filter_map(|u| by_uid.get(u)).collect();
                let foreground_owner = live.iter().any(|(_, o)| {
                    object_meta_str(o, "deletionTimestamp").is_some()
                        && object_finalizers(o)
                            .iter()
                            .any(|f| f == "foregroundDeletion")
                });
                if live.is_empty() || foreground_owner {
                    to_delete.push((key.clone(), ns, name));
                }
            }
            for (key, ns, name) in to_delete {
                let Some(ri) = reg.any_for_storage(&key) else {
                    continue;
                };
                match self.delete_locked(&mut txn, &ri, &ns, &name, &DeleteOpts::default()) {
                    Ok(_) => {
                        tracing::debug!(resource = %key.resource, %ns, %name, "garbage collected");
                        actions += 1;
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "garbage collection of a dependent failed")
                    }
                }
            }
            // Foreground owners whose dependents are gone lose their finalizer.
            for (key, obj) in &all {
                let uid = object_meta_str(obj, "uid").unwrap_or_default();
                let fins = object_finalizers(obj);
                if object_meta_str(obj, "deletionTimestamp").is_none()
                    || !fins.iter().any(|f| f == "foregroundDeletion")
                    || has_dependents.contains(uid)
                {
                    continue;
                }
                let ns = object_meta_str(obj, "namespace")
                    .unwrap_or_default()
                    .to_string();
                let name = object_meta_str(obj, "name").unwrap_or_default().to_string();
                let rest: Vec<String> = fins
                    .into_iter()
                    .filter(|f| f != "foregroundDeletion")
                    .collect();
                if rest.is_empty() {
                    txn.delete(key, &ns, &name);
                } else {
                    let mut new = (**obj).clone();
                    new["metadata"]["finalizers"] = json!(rest);
                    txn.put(key, &ns, &name, new);
                }
                actions += 1;
            }
            // Terminating namespaces are removed once empty.
            let ns_key = StorageKey::new("", "namespaces");
            for ns in &terminating_ns {
                let empty = !all.iter().any(|(k, o)| {
                    *k != ns_key && object_meta_str(o, "namespace") == Some(ns.as_str())
                });
                if empty && txn.delete(&ns_key, "", ns).is_some() {
                    actions += 1;
                }
            }
            txn.finish()
        };
        if let Err(e) = pending.durable().await {
            tracing::warn!(error = %e, "persisting garbage collection failed");
        }
        actions
    }
}
