//! PATCH: JSON, merge, strategic merge (built-ins) and server-side apply, applied
//! to the served form and written through the create/update paths; and the
//! managedFields bookkeeping every write goes through.

use serde_json::{Value, json};

use super::meta::{meta_mut, meta_str, now};
use super::{ApiServer, PatchType, WriteOpts};
use crate::error::{ApiError, ApiResult, Cause, Subject};
use crate::patch::{self, PatchError};
use crate::registry::{Builtin, ResourceInfo};
use crate::ssa;
use crate::store::Pending;

/// The longest fieldManager the server accepts.
const FIELD_MANAGER_MAX: usize = 128;

fn patch_options_invalid(reason: &str, message: &str, field: &str) -> ApiError {
    ApiError::Invalid(
        "PatchOptions.meta.k8s.io".into(),
        Subject {
            group: "meta.k8s.io".into(),
            kind: "PatchOptions".into(),
            name: String::new(),
        },
        vec![Cause::new(reason, message, field)],
    )
}

/// `ValidatePatchOptions`, checked before the object is looked up, as the server does.
fn validate_patch_options(ptype: PatchType, opts: &WriteOpts) -> ApiResult<()> {
    let manager = opts.field_manager.as_deref().unwrap_or("");
    if ptype == PatchType::Apply {
        if manager.is_empty() {
            return Err(patch_options_invalid(
                "FieldValueRequired",
                "Required value: is required for apply patch",
                "fieldManager",
            ));
        }
    } else if opts.force.is_some() {
        return Err(patch_options_invalid(
            "FieldValueForbidden",
            "Forbidden: may not be specified for non-apply patch",
            "force",
        ));
    }
    if manager.len() > FIELD_MANAGER_MAX {
        return Err(patch_options_invalid(
            "FieldValueTooLong",
            &format!("Too long: may not be more than {FIELD_MANAGER_MAX} bytes"),
            "fieldManager",
        ));
    }
    Ok(())
}

/// An apply configuration must be a whole object of the endpoint's type, naming
/// the object on the URL, without managedFields.
fn check_apply_config(ri: &ResourceInfo, name: &str, config: &Value) -> ApiResult<()> {
    if !config.is_object() {
        return Err(ApiError::BadRequest(
            "the body of the request must be a JSON object".into(),
        ));
    }
    let (Some(av), Some(kind)) = (
        config.get("apiVersion").and_then(Value::as_str),
        config.get("kind").and_then(Value::as_str),
    ) else {
        return Err(ApiError::BadRequest(format!(
            "Object 'Kind' is missing in '{config}'"
        )));
    };
    if av != ri.api_version() {
        return Err(ApiError::BadRequest(format!(
            "the API version in the data ({av}) does not match the expected API version ({})",
            ri.api_version()
        )));
    }
    if kind != ri.kind {
        return Err(ApiError::BadRequest(format!(
            "the kind in the data ({kind}) does not match the expected kind ({})",
            ri.kind
        )));
    }
    if let Some(n) = meta_str(config, "name")
        && n != name
    {
        return Err(ApiError::BadRequest(format!(
            "the name of the object ({n}) does not match the name on the URL ({name})"
        )));
    }
    if config.pointer("/metadata/managedFields").is_some() {
        return Err(ApiError::BadRequest(
            "metadata.managedFields must be nil".into(),
        ));
    }
    Ok(())
}

impl ApiServer {
    fn ssa_context<'a>(
        ri: &'a ResourceInfo,
        api_version: &'a str,
        status: bool,
    ) -> ssa::Context<'a> {
        ssa::Context {
            schema: ri.type_schema(),
            api_version,
            status,
            has_status_subresource: ri.status_subresource,
        }
    }

    /// Record a write in `new`'s managedFields (stored forms; the fields are those
    /// of the served type). `requested` is what the request carried; after a
    /// server-side apply it is the result, kept as it is.
    pub(super) fn record_managers(
        ri: &ResourceInfo,
        old: Option<&Value>,
        new: &mut Value,
        requested: Option<Value>,
        status: bool,
        opts: &WriteOpts,
    ) {
        let fields = if opts.applied {
            requested
        } else {
            let api_version = ri.api_version();
            let ctx = Self::ssa_context(ri, &api_version, status);
            let old = old.map(|o| Self::to_served(ri, o));
            let mut served = Self::to_served(ri, new);
            ssa::record_update(
                &ctx,
                old.as_ref(),
                &mut served,
                requested.as_ref(),
                opts.manager(),
                &now(),
            );
            served.pointer("/metadata/managedFields").cloned()
        };
        match fields {
            Some(f) => {
                meta_mut(new).insert("managedFields".into(), f);
            }
            None => {
                meta_mut(new).remove("managedFields");
            }
        }
    }

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
        validate_patch_options(ptype, opts)?;
        let parse_json = || -> ApiResult<Value> {
            serde_json::from_slice(body)
                .map_err(|e| ApiError::BadRequest(format!("error decoding patch: {e}")))
        };
        let patch_doc = match ptype {
            PatchType::Apply => {
                let y: serde_yaml::Value = serde_yaml::from_slice(body)
                    .map_err(|e| ApiError::BadRequest(format!("error decoding YAML: {e}")))?;
                let config = serde_json::to_value(y)
                    .map_err(|e| ApiError::BadRequest(format!("error decoding YAML: {e}")))?;
                check_apply_config(ri, name, &config)?;
                config
            }
            PatchType::Strategic if ri.is_custom() => {
                return Err(ApiError::UnsupportedMediaType(
                    "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml".into(),
                ));
            }
            _ => parse_json()?,
        };
        let applied_opts = WriteOpts {
            applied: true,
            ..opts.clone()
        };
        let api_version = ri.api_version();
        let ctx = Self::ssa_context(ri, &api_version, status);
        let apply = |live: Option<&Value>| -> ApiResult<Value> {
            ssa::apply(
                &ctx,
                live,
                &patch_doc,
                opts.field_manager.as_deref().unwrap_or(""),
                opts.force == Some(true),
                &now(),
            )
            .map_err(ApiError::ApplyConflict)
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
                    let mut obj = apply(None)?;
                    meta_mut(&mut obj).insert("name".into(), json!(name));
                    let (obj, pending) = self.create_locked(ri, Some(ns), obj, &applied_opts)?;
                    Outcome::Created(obj, pending)
                }
                None => return Err(ApiError::NotFound(Self::subject(ri, name))),
                Some(current) => {
                    let served = Self::to_served(ri, &current);
                    let mut write_opts = opts;
                    let mut doc = match ptype {
                        // Failed `test` operations and bad paths are both 422 Invalid, as in the API server.
                        PatchType::Json => {
                            let mut doc = served;
                            patch::json_patch(&mut doc, &patch_doc).map_err(|e: PatchError| {
                                ApiError::Invalid(
                                    ri.qualified_kind(),
                                    Self::subject(ri, name),
                                    vec![Cause::new("FieldValueInvalid", e.to_string(), "")],
                                )
                            })?;
                            doc
                        }
                        PatchType::Merge => {
                            let mut doc = served;
                            patch::merge_patch(&mut doc, &patch_doc);
                            doc
                        }
                        PatchType::Strategic => {
                            patch::strategic_merge_patch(&served, &patch_doc, ctx.schema)
                                .map_err(|e| ApiError::BadRequest(e.to_string()))?
                        }
                        PatchType::Apply => {
                            write_opts = &applied_opts;
                            apply(Some(&served))?
                        }
                    };
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
                    let r =
                        self.update_locked(&mut txn, ri, ns, name, doc, status, write_opts, false)?;
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
