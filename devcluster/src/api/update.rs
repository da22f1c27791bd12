//! PUT (main resource or `/status`): preconditions, server-owned metadata, generation,
//! the finalizer rules of a deleting object.

use serde_json::{Value, json};

use super::meta::{finalizers, generation_view, meta, meta_mut, meta_str};
use super::{ApiServer, WriteOpts};
use crate::builtins;
use crate::error::{ApiError, ApiResult, Cause};
use crate::registry::{Builtin, ResourceInfo};
use crate::store::Txn;

impl ApiServer {
    /// PUT (main resource or `/status`).
    pub async fn update(
        &self,
        ri: &ResourceInfo,
        ns: &str,
        name: &str,
        body: Value,
        status: bool,
        opts: &WriteOpts,
    ) -> ApiResult<Value> {
        let (obj, pending, deleted) = {
            let mut txn = self.0.store.txn();
            let r = self.update_locked(&mut txn, ri, ns, name, body, status, opts, true)?;
            (r.0, txn.finish(), r.1)
        };
        pending.durable().await?;
        self.after_write(ri, &obj, deleted);
        Ok(Self::to_served(ri, &obj))
    }

    /// The core of PUT and PATCH, under the store lock. Returns (stored object, physically deleted).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn update_locked(
        &self,
        txn: &mut Txn<'_>,
        ri: &ResourceInfo,
        ns: &str,
        name: &str,
        body: Value,
        status: bool,
        opts: &WriteOpts,
        require_rv: bool,
    ) -> ApiResult<(Value, bool)> {
        let ns = if ri.namespaced { ns } else { "" };
        let old = txn
            .get(&ri.storage, ns, name)
            .ok_or_else(|| ApiError::NotFound(Self::subject(ri, name)))?;
        if !body.is_object() {
            return Err(ApiError::BadRequest(
                "the body of the request must be a JSON object".into(),
            ));
        }
        let mut body = Self::to_stored(ri, body);
        let requested_fields = body
            .get_mut("metadata")
            .and_then(Value::as_object_mut)
            .and_then(|m| m.remove("managedFields"));
        let subject = Self::subject(ri, name);
        if let Some(n) = meta_str(&body, "name")
            && n != name
        {
            return Err(ApiError::BadRequest(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )));
        }
        if ri.namespaced
            && let Some(n) = meta_str(&body, "namespace")
            && !n.is_empty()
            && n != ns
        {
            return Err(ApiError::BadRequest(
                "the namespace of the provided object does not match the namespace sent on the request".into(),
            ));
        }
        if let Some(uid) = meta_str(&body, "uid")
            && !uid.is_empty()
            && Some(uid) != meta_str(&old, "uid")
        {
            return Err(ApiError::Conflict(
                subject,
                format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    meta_str(&old, "uid").unwrap_or_default()
                ),
            ));
        }
        let old_rv = meta_str(&old, "resourceVersion")
            .unwrap_or_default()
            .to_string();
        match meta_str(&body, "resourceVersion").filter(|s| !s.is_empty()) {
            None if require_rv && ri.is_custom() => {
                return Err(ApiError::Invalid(
                    ri.qualified_kind(),
                    subject,
                    vec![Cause::new(
                        "FieldValueInvalid",
                        "Invalid value: 0x0: must be specified for an update",
                        "metadata.resourceVersion",
                    )],
                ));
            }
            Some(rv) if rv != old_rv => {
                return Err(ApiError::Conflict(
                    subject,
                    "the object has been modified; please apply your changes to the latest version and try again".into(),
                ));
            }
            _ => {}
        }

        // Compose the new object according to the endpoint.
        let mut new = if status {
            let mut n = (*old).clone();
            match body.get("status") {
                Some(s) => n["status"] = s.clone(),
                None => {
                    if let Some(m) = n.as_object_mut() {
                        m.remove("status");
                    }
                }
            }
            if !ri.is_custom() {
                // Built-in status strategies keep label/annotation changes.
                for k in ["labels", "annotations"] {
                    match meta(&body).and_then(|m| m.get(k)) {
                        Some(v) => {
                            meta_mut(&mut n).insert(k.into(), v.clone());
                        }
                        None => {
                            meta_mut(&mut n).remove(k);
                        }
                    }
                }
            }
            n
        } else {
            let mut n = body;
            if ri.status_subresource {
                match old.get("status") {
                    Some(s) => n["status"] = s.clone(),
                    None => {
                        if let Some(m) = n.as_object_mut() {
                            m.remove("status");
                        }
                    }
                }
            }
            // Server-owned metadata cannot be changed by clients.
            let old_meta = meta(&old).cloned().unwrap_or_default();
            let m = meta_mut(&mut n);
            for k in [
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
                "name",
                "namespace",
                "generateName",
            ] {
                match old_meta.get(k) {
                    Some(v) => {
                        m.insert(k.into(), v.clone());
                    }
                    None => {
                        m.remove(k);
                    }
                }
            }
            m.remove("managedFields");
            m.remove("selfLink");
            n
        };
        if let Some(m) = new.as_object_mut() {
            m.insert(
                "apiVersion".into(),
                old.get("apiVersion")
                    .cloned()
                    .unwrap_or(json!(ri.api_version())),
            );
            m.insert("kind".into(), json!(ri.kind));
        }
        meta_mut(&mut new).insert("resourceVersion".into(), json!(old_rv));

        let deleting = meta_str(&old, "deletionTimestamp").is_some();
        if deleting {
            let before = finalizers(&old);
            let added: Vec<String> = finalizers(&new)
                .into_iter()
                .filter(|f| !before.contains(f))
                .collect();
            if !added.is_empty() {
                return Err(ApiError::Invalid(
                    ri.qualified_kind(),
                    subject,
                    vec![Cause::new(
                        "FieldValueForbidden",
                        format!(
                            "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers {added:?}"
                        ),
                        "metadata.finalizers",
                    )],
                ));
            }
        }
        if ri.builtin == Some(Builtin::Secret) {
            builtins::normalize_secret(&mut new);
        }
        if ri.builtin == Some(Builtin::Service) && !status {
            builtins::service::keep_allocated(&mut new, &old);
        }
        self.admit(ri, &mut new, Some(&old), opts, name)?;

        if builtins::has_generation(ri) {
            let status_sub = ri.status_subresource;
            if generation_view(&new, status_sub) != generation_view(&old, status_sub) {
                let g = meta(&old)
                    .and_then(|m| m.get("generation"))
                    .and_then(Value::as_i64)
                    .unwrap_or(0);
                meta_mut(&mut new).insert("generation".into(), json!(g + 1));
            }
        }
        Self::record_managers(ri, Some(&old), &mut new, requested_fields, status, opts);
        if new == *old {
            // No-op write: same RV, no event, as etcd's guaranteed update does.
            return Ok(((*old).clone(), false));
        }
        if opts.dry_run {
            return Ok((new, false));
        }
        if deleting && finalizers(&new).is_empty() {
            let last = txn
                .delete(&ri.storage, ns, name)
                .map(|v| (*v).clone())
                .unwrap_or(new);
            return Ok((last, true));
        }
        let stored = txn.put(&ri.storage, ns, name, new);
        Ok(((*stored).clone(), false))
    }
}
