//! DELETE and DELETE collection: preconditions, propagation policy, finalizers and
//! the deletion timestamp, and the orphaning of dependents.

use std::sync::Arc;

use serde_json::{Value, json};

use super::meta::{finalizers, meta_mut, meta_str, now, owner_uids};
use super::{ApiServer, DeleteOpts, ListOpts, ListPage};
use crate::builtins;
use crate::error::{ApiError, ApiResult};
use crate::registry::{Builtin, ResourceInfo, StorageKey};
use crate::store::Txn;

impl ApiServer {
    /// DELETE one object. Returns the object while finalizers are pending, else a Success Status.
    pub async fn delete(
        &self,
        ri: &ResourceInfo,
        ns: &str,
        name: &str,
        opts: &DeleteOpts,
    ) -> ApiResult<Value> {
        let (out, deleted, pending) = {
            let mut txn = self.0.store.txn();
            let (out, deleted) = self.delete_locked(&mut txn, ri, ns, name, opts)?;
            (out, deleted, txn.finish())
        };
        pending.durable().await?;
        self.after_write(ri, &out, deleted);
        self.0.gc_wake.notify_one();
        if deleted {
            Ok(json!({
                "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                "details": {"name": name, "group": ri.group, "kind": ri.plural, "uid": meta_str(&out, "uid")}
            }))
        } else {
            Ok(Self::to_served(ri, &out))
        }
    }

    /// Delete under the lock. Returns (object, physically deleted).
    pub(crate) fn delete_locked(
        &self,
        txn: &mut Txn<'_>,
        ri: &ResourceInfo,
        ns: &str,
        name: &str,
        opts: &DeleteOpts,
    ) -> ApiResult<(Value, bool)> {
        let ns = if ri.namespaced { ns } else { "" };
        let subject = Self::subject(ri, name);
        let old = txn
            .get(&ri.storage, ns, name)
            .ok_or_else(|| ApiError::NotFound(subject.clone()))?;
        if let Some(uid) = &opts.uid
            && Some(uid.as_str()) != meta_str(&old, "uid")
        {
            return Err(ApiError::Conflict(
                subject,
                format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    meta_str(&old, "uid").unwrap_or_default()
                ),
            ));
        }
        if let Some(rv) = &opts.resource_version
            && Some(rv.as_str()) != meta_str(&old, "resourceVersion")
        {
            return Err(ApiError::Conflict(
                subject,
                format!(
                    "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                    meta_str(&old, "resourceVersion").unwrap_or_default()
                ),
            ));
        }
        if opts.dry_run {
            return Ok(((*old).clone(), false));
        }
        // Jobs orphan their pods unless told otherwise (the batch/v1 default).
        let policy = opts.propagation.clone().unwrap_or_else(|| {
            if ri.builtin == Some(Builtin::Job) {
                "Orphan"
            } else {
                "Background"
            }
            .to_string()
        });
        let uid = meta_str(&old, "uid").unwrap_or_default().to_string();
        if policy == "Orphan" {
            orphan_dependents(txn, &uid);
        }
        let mut fins = finalizers(&old);
        if policy == "Foreground" && !fins.iter().any(|f| f == "foregroundDeletion") {
            fins.push("foregroundDeletion".into());
        }
        let is_ns = ri.builtin == Some(Builtin::Namespace);
        if fins.is_empty() && !is_ns {
            let last = txn
                .delete(&ri.storage, ns, name)
                .map(|v| (*v).clone())
                .unwrap_or_default();
            if ri.builtin == Some(Builtin::Crd) {
                // Deleting a CRD deletes every instance.
                if let (Some(g), Some(p)) = (
                    last.pointer("/spec/group").and_then(Value::as_str),
                    last.pointer("/spec/names/plural").and_then(Value::as_str),
                ) {
                    let key = StorageKey::new(g, p);
                    for o in txn.list(&key, None, None) {
                        let (ons, on) = (
                            meta_str(&o, "namespace").unwrap_or_default().to_string(),
                            meta_str(&o, "name").unwrap_or_default().to_string(),
                        );
                        txn.delete(&key, &ons, &on);
                    }
                }
            }
            return Ok((last, true));
        }
        if meta_str(&old, "deletionTimestamp").is_some() {
            // Repeated DELETE of a deleting object changes nothing.
            return Ok(((*old).clone(), false));
        }
        let mut new = (*old).clone();
        let m = meta_mut(&mut new);
        m.insert("deletionTimestamp".into(), json!(now()));
        m.insert("deletionGracePeriodSeconds".into(), json!(0));
        if !fins.is_empty() {
            m.insert("finalizers".into(), json!(fins));
        }
        if builtins::has_generation(ri) {
            let g = m.get("generation").and_then(Value::as_i64).unwrap_or(0);
            m.insert("generation".into(), json!(g + 1));
        }
        if is_ns {
            new["status"] = json!({"phase": "Terminating"});
        }
        let stored = txn.put(&ri.storage, ns, name, new);
        Ok(((*stored).clone(), false))
    }

    /// DELETE a collection (label/field selected).
    pub async fn delete_collection(
        &self,
        ri: &ResourceInfo,
        ns: Option<&str>,
        list: &ListOpts,
        opts: &DeleteOpts,
    ) -> ApiResult<Value> {
        let ListPage { items, .. } = self.list(
            ri,
            ns,
            &ListOpts {
                limit: 0,
                continue_token: None,
                ..list.clone()
            },
        )?;
        let mut out = Vec::new();
        let pending = {
            let mut txn = self.0.store.txn();
            for item in &items {
                let n = meta_str(item, "name").unwrap_or_default();
                let ins = meta_str(item, "namespace").unwrap_or_default();
                if let Ok((o, _)) = self.delete_locked(&mut txn, ri, ins, n, opts) {
                    out.push(Self::to_served(ri, &o));
                }
            }
            txn.finish()
        };
        pending.durable().await?;
        self.0.gc_wake.notify_one();
        Ok(
            json!({"apiVersion": ri.api_version(), "kind": format!("{}List", ri.kind), "metadata": {"resourceVersion": self.0.store.txn().rv().to_string()}, "items": out}),
        )
    }
}

/// Remove owner references to `uid` from every object (Orphan propagation).
pub(crate) fn orphan_dependents(txn: &mut Txn<'_>, uid: &str) {
    let dependents: Vec<(StorageKey, Arc<Value>)> = txn
        .all()
        .into_iter()
        .filter(|(_, o)| owner_uids(o).iter().any(|u| u == uid))
        .collect();
    for (key, o) in dependents {
        let mut new = (*o).clone();
        let m = meta_mut(&mut new);
        let refs: Vec<Value> = m
            .get("ownerReferences")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter(|r| r["uid"] != uid).cloned().collect())
            .unwrap_or_default();
        if refs.is_empty() {
            m.remove("ownerReferences");
        } else {
            m.insert("ownerReferences".into(), json!(refs));
        }
        let ns = meta_str(&o, "namespace").unwrap_or_default().to_string();
        let name = meta_str(&o, "name").unwrap_or_default().to_string();
        txn.put(&key, &ns, &name, new);
    }
}
