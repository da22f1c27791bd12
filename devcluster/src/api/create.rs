//! POST: metadata defaulting, name generation and validation, namespace checks.

use serde_json::{Value, json};

use super::meta::{meta_mut, name_errors, now, random_suffix};
use super::{ApiServer, WriteOpts};
use crate::builtins;
use crate::error::{ApiError, ApiResult, Cause};
use crate::registry::{Builtin, ResourceInfo};
use crate::store::Pending;

impl ApiServer {
    /// POST.
    pub async fn create(
        &self,
        ri: &ResourceInfo,
        ns: Option<&str>,
        body: Value,
        opts: &WriteOpts,
    ) -> ApiResult<Value> {
        if ri.builtin == Some(Builtin::Review) {
            // Reviews are answered, never stored.
            return Ok(builtins::reviews::answer(ri, &body));
        }
        let (obj, pending) = self.create_locked(ri, ns, body, opts)?;
        pending.durable().await?;
        if ri.builtin == Some(Builtin::Crd) && !opts.dry_run {
            self.register_crd(&obj);
        }
        Ok(Self::to_served(ri, &obj))
    }

    pub(super) fn create_locked(
        &self,
        ri: &ResourceInfo,
        ns: Option<&str>,
        mut body: Value,
        opts: &WriteOpts,
    ) -> ApiResult<(Value, Pending)> {
        if !body.is_object() {
            return Err(ApiError::BadRequest(
                "the body of the request must be a JSON object".into(),
            ));
        }
        if let Some(av) = body.get("apiVersion").and_then(Value::as_str)
            && av != ri.api_version()
        {
            return Err(ApiError::BadRequest(format!(
                "the API version in the data ({av}) does not match the expected API version ({})",
                ri.api_version()
            )));
        }
        if let Some(k) = body.get("kind").and_then(Value::as_str)
            && k != ri.kind
        {
            return Err(ApiError::BadRequest(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                ri.kind
            )));
        }
        body["apiVersion"] = json!(ri.api_version());
        body["kind"] = json!(ri.kind);
        let m = meta_mut(&mut body);
        if m.get("resourceVersion")
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
        {
            return Err(ApiError::BadRequest(
                "resourceVersion should not be set on objects to be created".into(),
            ));
        }
        let path_ns = if ri.namespaced {
            ns.unwrap_or("default")
        } else {
            ""
        };
        if ri.namespaced {
            match m.get("namespace").and_then(Value::as_str) {
                Some(b) if !b.is_empty() && b != path_ns => {
                    return Err(ApiError::BadRequest(
                        "the namespace of the provided object does not match the namespace sent on the request".into(),
                    ));
                }
                _ => {
                    m.insert("namespace".into(), json!(path_ns));
                }
            }
        } else {
            m.remove("namespace");
        }
        for k in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "selfLink",
        ] {
            m.remove(k);
        }
        let requested_fields = m.remove("managedFields");
        let generate = m
            .get("generateName")
            .and_then(Value::as_str)
            .map(str::to_string);
        let given = m
            .get("name")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        if given.is_none() && generate.is_none() {
            return Err(ApiError::Invalid(
                ri.qualified_kind(),
                Self::subject(ri, ""),
                vec![Cause::new(
                    "FieldValueRequired",
                    "Required value: name or generateName is required",
                    "metadata.name",
                )],
            ));
        }
        m.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
        m.insert("creationTimestamp".into(), json!(now()));
        if builtins::has_generation(ri) {
            m.insert("generation".into(), json!(1));
        }

        let mut txn = self.0.store.txn();
        if ri.namespaced {
            Self::check_namespace(&txn, path_ns)?;
        }
        let name = match given {
            Some(n) => n,
            None => {
                let prefix = generate.unwrap_or_default();
                let mut candidate = format!("{prefix}{}", random_suffix());
                while txn.get(&ri.storage, path_ns, &candidate).is_some() {
                    candidate = format!("{prefix}{}", random_suffix());
                }
                candidate
            }
        };
        if let Some(why) = name_errors(&name, ri.builtin == Some(Builtin::Namespace)) {
            return Err(ApiError::Invalid(
                ri.qualified_kind(),
                Self::subject(ri, &name),
                vec![Cause::new(
                    "FieldValueInvalid",
                    format!("Invalid value: {name:?}: {why}"),
                    "metadata.name",
                )],
            ));
        }
        meta_mut(&mut body).insert("name".into(), json!(name));
        if ri.status_subresource && (ri.is_custom() || ri.builtin == Some(Builtin::Kubernetes)) {
            // With a status subresource, status is only set through /status (built-in
            // create strategies reset it too).
            if let Some(m) = body.as_object_mut() {
                m.remove("status");
            }
        }
        let mut obj = Self::to_stored(ri, body);
        if let Some(b) = ri.builtin {
            builtins::prepare_create(b, &mut obj);
        }
        self.admit(ri, &mut obj, None, opts, &name)?;
        if ri.builtin == Some(Builtin::Service) {
            let existing: Vec<Value> = txn
                .list(&ri.storage, None, None)
                .iter()
                .map(|s| (**s).clone())
                .collect();
            builtins::service::allocate(&mut obj, &existing);
        }
        Self::record_managers(ri, None, &mut obj, requested_fields, false, opts);
        if txn.get(&ri.storage, path_ns, &name).is_some() {
            return Err(ApiError::AlreadyExists(Self::subject(ri, &name)));
        }
        if opts.dry_run {
            return Ok((obj, Pending::default()));
        }
        let stored = txn.put(&ri.storage, path_ns, &name, obj);
        Ok(((*stored).clone(), txn.finish()))
    }
}
