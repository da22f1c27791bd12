//! PATCH: JSON, merge, strategic (approximated) and apply (approximated) patches,
//! applied to the served form and written through the update path.

use serde_json::{Value, json};

use super::meta::{meta_mut, meta_str};
use super::{ApiServer, PatchType, WriteOpts};
use crate::error::{ApiError, ApiResult, Cause};
use crate::patch::{self, PatchError};
use crate::registry::{Builtin, ResourceInfo};
use crate::store::Pending;

impl ApiServer {
    /// PATCH (main resource or `/status`).
    #[allow(clippy::too_many_arguments)]
    pub async fn patch(
        &self,
        ri: &ResourceInfo,
        ns: &str,
        name: &str,
        ptype: PatchType,
        body: &[u8],
        status: bool,
        opts: &WriteOpts,
    ) -> ApiResult<Value> {
        let parse_json = || -> ApiResult<Value> {
            serde_json::from_slice(body)
                .map_err(|e| ApiError::BadRequest(format!("error decoding patch: {e}")))
        };
        let patch_doc = match ptype {
            PatchType::Apply => {
                let y: serde_yaml::Value = serde_yaml::from_slice(body)
                    .map_err(|e| ApiError::BadRequest(format!("error decoding YAML: {e}")))?;
                serde_json::to_value(y)
                    .map_err(|e| ApiError::BadRequest(format!("error decoding YAML: {e}")))?
            }
            PatchType::Strategic if ri.is_custom() => {
                return Err(ApiError::UnsupportedMediaType(
                    "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml".into(),
                ));
            }
            _ => parse_json()?,
        };
        enum Outcome {
            Created(Value, Pending),
            Updated((Value, bool), Pending),
        }
        let outcome = {
            let mut txn = self.0.store.txn();
            let nsx = if ri.namespaced { ns } else { "" };
            match txn.get(&ri.storage, nsx, name) {
                None if ptype == PatchType::Apply && !status => {
                    // Server-side apply creates missing objects.
                    drop(txn);
                    let mut obj = patch_doc;
                    meta_mut(&mut obj).insert("name".into(), json!(name));
                    let (obj, pending) = self.create_locked(ri, Some(ns), obj, opts)?;
                    Outcome::Created(obj, pending)
                }
                None => return Err(ApiError::NotFound(Self::subject(ri, name))),
                Some(current) => {
                    let mut doc = Self::to_served(ri, &current);
                    match ptype {
                        // Failed `test` operations and bad paths are both 422 Invalid, as in the API server.
                        PatchType::Json => {
                            patch::json_patch(&mut doc, &patch_doc).map_err(|e: PatchError| {
                                ApiError::Invalid(
                                    ri.qualified_kind(),
                                    Self::subject(ri, name),
                                    vec![Cause::new("FieldValueInvalid", e.to_string(), "")],
                                )
                            })?
                        }
                        PatchType::Merge | PatchType::Apply => {
                            patch::merge_patch(&mut doc, &patch_doc)
                        }
                        PatchType::Strategic => {
                            patch::merge_patch(&mut doc, &strip_directives(patch_doc.clone()))
                        }
                    }
                    // A patch that does not name a resourceVersion is unconditional.
                    let rv_in_patch = match ptype {
                        PatchType::Json => patch_doc.as_array().is_some_and(|ops| {
                            ops.iter().any(|o| o["path"] == "/metadata/resourceVersion")
                        }),
                        _ => patch_doc.pointer("/metadata/resourceVersion").is_some(),
                    };
                    if !rv_in_patch {
                        meta_mut(&mut doc).insert(
                            "resourceVersion".into(),
                            json!(meta_str(&current, "resourceVersion")),
                        );
                    }
                    let r = self.update_locked(&mut txn, ri, ns, name, doc, status, opts, false)?;
                    Outcome::Updated(r, txn.finish())
                }
            }
        };
        let result = match outcome {
            Outcome::Created(obj, pending) => {
                pending.durable().await?;
                if ri.builtin == Some(Builtin::Crd) {
                    self.register_crd(&obj);
                }
                return Ok(Self::to_served(ri, &obj));
            }
            Outcome::Updated(r, pending) => (r, pending),
        };
        let ((obj, deleted), pending) = result;
        pending.durable().await?;
        self.after_write(ri, &obj, deleted);
        Ok(Self::to_served(ri, &obj))
    }
}

/// Strategic-merge directives (`$patch`, `$retainKeys`, `$setElementOrder/…`) have no
/// meaning in a JSON merge patch; dropping them is the documented approximation.
fn strip_directives(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k, strip_directives(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(strip_directives).collect()),
        other => other,
    }
}
