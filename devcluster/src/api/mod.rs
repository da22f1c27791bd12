//! The generic registry operations (create, get, list, update, patch, delete) with
//! the API server's metadata, status-subresource, generation, finalizer and
//! concurrency rules, and the type strategies (built-in or CRD schema) they call.

mod create;
mod delete;
mod list;
pub mod log;
mod meta;
mod opts;
mod patch;
mod update;

pub use meta::now;
pub(crate) use meta::{finalizers, meta_str, meta_string, owner_uids};
pub use opts::{
    Config, DeleteOpts, FieldValidation, ListOpts, ListPage, PatchType, Warnings, WriteOpts,
};

use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

use serde_json::{Value, json};

use crate::builtins;
use crate::error::{ApiError, ApiResult, Subject};
use crate::persist::PersistError;
use crate::registry::{Builtin, Registry, ResourceInfo, StorageKey};
use crate::schema::{self, PatternCache};
use crate::store::{Store, Txn};

/// The shared server state.
pub struct Inner {
    /// Objects, RV, history.
    pub store: Store,
    /// Served resources.
    pub registry: RwLock<Registry>,
    cel: Mutex<kube_cel::Validator>,
    patterns: PatternCache,
    /// Wakes the garbage collector after deletions.
    pub gc_wake: tokio::sync::Notify,
    /// Configuration.
    pub config: Config,
    /// Requests answered over HTTP, by kind.
    pub requests: crate::stats::RequestStats,
    /// The executor's captured container logs (`pods/log`), when one runs.
    pub pod_logs: crate::executor::logs::LogRegistry,
}

/// A handle to the emulated API server (cheap to clone).
#[derive(Clone)]
pub struct ApiServer(pub Arc<Inner>);

impl std::fmt::Debug for ApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiServer").finish_non_exhaustive()
    }
}

impl ApiServer {
    /// Start a server state (restores persisted objects and registers stored CRDs).
    pub fn new(config: Config) -> Result<Self, PersistError> {
        let store = Store::open(config.data_dir.as_deref(), config.history)?;
        let server = Self(Arc::new(Inner {
            store,
            registry: RwLock::new(Registry::with_builtins()),
            cel: Mutex::new(kube_cel::Validator::new()),
            patterns: PatternCache::default(),
            gc_wake: tokio::sync::Notify::new(),
            config,
            requests: crate::stats::RequestStats::default(),
            pod_logs: crate::executor::logs::LogRegistry::default(),
        }));
        server.bootstrap();
        Ok(server)
    }

    /// In-memory server with default configuration.
    pub fn in_memory() -> Self {
        match Self::new(Config::default()) {
            Ok(s) => s,
            Err(_) => unreachable!("an in-memory store opens no file"),
        }
    }

    /// A persistent server in `dir` with default settings otherwise.
    pub fn persistent(dir: &Path) -> Result<Self, PersistError> {
        Self::new(Config {
            data_dir: Some(dir.to_path_buf()),
            ..Config::default()
        })
    }

    fn bootstrap(&self) {
        let crd_key = StorageKey::new("apiextensions.k8s.io", "customresourcedefinitions");
        let ns_key = StorageKey::new("", "namespaces");
        let mut txn = self.0.store.txn();
        for crd in txn.list(&crd_key, None, None) {
            self.register_crd(&crd);
        }
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            if txn.get(&ns_key, "", ns).is_none() {
                let mut obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {
                    "name": ns, "uid": uuid::Uuid::new_v4().to_string(), "creationTimestamp": now()}});
                builtins::prepare_create(Builtin::Namespace, &mut obj);
                txn.put(&ns_key, "", ns, obj);
            }
        }
        // The `kubernetes` Service every cluster has (`kubectl get svc`, cluster-info).
        let svc_key = StorageKey::new("", "services");
        if txn.get(&svc_key, "default", "kubernetes").is_none() {
            let mut obj = json!({"apiVersion": "v1", "kind": "Service", "metadata": {
                "name": "kubernetes", "namespace": "default",
                "uid": uuid::Uuid::new_v4().to_string(), "creationTimestamp": now(),
                "labels": {"component": "apiserver", "provider": "kubernetes"}},
                "spec": {"clusterIP": builtins::service::KUBERNETES_IP,
                         "ports": [{"name": "https", "port": 443, "targetPort": 6443}]}});
            builtins::prepare_create(Builtin::Service, &mut obj);
            builtins::service::allocate(&mut obj, &[]);
            txn.put(&svc_key, "default", "kubernetes", obj);
        }
        // Bootstrap writes are durable on the next fsync; nobody waits for them.
        drop(txn.finish());
    }

    /// The registry (read).
    pub fn registry(&self) -> Registry {
        self.0
            .registry
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Look up a resource.
    pub fn resource(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceInfo>> {
        self.0
            .registry
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(group, version, plural)
    }

    fn register_crd(&self, crd: &Value) {
        let infos = crate::registry::from_crd(crd);
        let mut reg = self.0.registry.write().unwrap_or_else(|p| p.into_inner());
        if let Some(first) = infos.first() {
            reg.remove_resource(&first.group, &first.plural);
        }
        for ri in infos {
            tracing::info!(group = %ri.group, version = %ri.version, plural = %ri.plural, "registered custom resource");
            reg.insert(ri);
        }
    }

    fn subject(ri: &ResourceInfo, name: &str) -> Subject {
        Subject {
            group: ri.group.clone(),
            kind: ri.plural.clone(),
            name: name.to_string(),
        }
    }

    /// The stored form of an object → the form served at `ri`'s version.
    pub fn to_served(ri: &ResourceInfo, stored: &Value) -> Value {
        let mut v = if ri.builtin == Some(Builtin::CoreEvent) {
            builtins::event_to_core(stored)
        } else {
            stored.clone()
        };
        if let Some(m) = v.as_object_mut() {
            m.insert("apiVersion".into(), json!(ri.api_version()));
            m.insert("kind".into(), json!(ri.kind));
        }
        v
    }

    fn to_stored(ri: &ResourceInfo, served: Value) -> Value {
        if ri.builtin == Some(Builtin::CoreEvent) {
            builtins::core_to_event(&served)
        } else {
            served
        }
    }

    /// Does the namespace exist (and is it not terminating)?
    fn check_namespace(txn: &Txn<'_>, ns: &str) -> ApiResult<()> {
        match txn.get(&StorageKey::new("", "namespaces"), "", ns) {
            None => Err(ApiError::NotFound(Subject {
                group: String::new(),
                kind: "namespaces".into(),
                name: ns.to_string(),
            })),
            Some(n) if meta_str(&n, "deletionTimestamp").is_some() => {
                Err(ApiError::Forbidden(format!(
                    "unable to create new content in namespace {ns} because it is being terminated"
                )))
            }
            Some(_) => Ok(()),
        }
    }

    /// Type strategy for writes: what the decoder does (unknown fields, types),
    /// then built-in validation, or CRD pruning/defaulting/validation/CEL.
    fn admit(
        &self,
        ri: &ResourceInfo,
        obj: &mut Value,
        old: Option<&Value>,
        opts: &WriteOpts,
        name: &str,
    ) -> ApiResult<()> {
        let mut causes = Vec::new();
        if let Some(b) = ri.builtin {
            Self::decode_builtin(ri, obj, opts)?;
            causes.extend(builtins::validate(b, obj, old));
        } else if let Some(schema) = &ri.schema {
            let mut pruned = Vec::new();
            schema::prune(schema, obj, "", &mut pruned);
            Self::unknown_fields(ri, &pruned, opts)?;
            schema::apply_defaults(schema, obj);
            schema::validate(schema, obj, "", &self.0.patterns, &mut causes);
            if causes.is_empty() && ri.has_cel {
                let cel = self.0.cel.lock().unwrap_or_else(|p| p.into_inner());
                causes.extend(schema::validate_cel(&cel, schema, obj, old));
            }
        }
        if causes.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Invalid(
                ri.qualified_kind(),
                Self::subject(ri, name),
                causes,
            ))
        }
    }

    /// A built-in object as its Go type would decode it: fields the type lacks
    /// dropped (or, with `fieldValidation=Strict`, refused), a wrong JSON type refused.
    fn decode_builtin(ri: &ResourceInfo, obj: &mut Value, opts: &WriteOpts) -> ApiResult<()> {
        // Core events are stored in their events.k8s.io/v1 form.
        let (group, version, kind) = if ri.builtin == Some(Builtin::CoreEvent) {
            ("events.k8s.io", "v1", "Event")
        } else {
            (ri.group.as_str(), ri.version.as_str(), ri.kind.as_str())
        };
        let defs = crate::k8s_schema::definitions();
        let (Some(def), Some(schema)) = (
            defs.name_of(group, version, kind),
            defs.for_kind(group, version, kind),
        ) else {
            return Ok(());
        };
        let decoded = builtins::fields::decode(schema, def, obj);
        if let Some(e) = decoded.type_error {
            return Err(ApiError::BadRequest(format!(
                "{} in version {:?} cannot be handled as a {}: {e}",
                ri.kind, ri.version, ri.kind
            )));
        }
        Self::unknown_fields(ri, &decoded.unknown, opts)
    }

    /// Strict: 400 naming every unknown (or duplicate) field, as the decoder's
    /// strict errors read; Warn: one warning each; Ignore: nothing.
    fn unknown_fields(ri: &ResourceInfo, unknown: &[String], opts: &WriteOpts) -> ApiResult<()> {
        let mut errors: Vec<String> = opts
            .duplicates
            .iter()
            .map(|p| format!("duplicate field \"{p}\""))
            .collect();
        errors.extend(unknown.iter().map(|p| format!("unknown field \"{p}\"")));
        if errors.is_empty() {
            return Ok(());
        }
        match opts.field_validation {
            FieldValidation::Strict => Err(ApiError::BadRequest(format!(
                "{} in version {:?} cannot be handled as a {}: strict decoding error: {}",
                ri.kind,
                ri.version,
                ri.kind,
                errors.join(", ")
            ))),
            FieldValidation::Warn => {
                opts.warnings.extend(errors);
                Ok(())
            }
            FieldValidation::Ignore => {
                tracing::debug!(kind = %ri.kind, ?errors, "dropped fields the type lacks");
                Ok(())
            }
        }
    }

    fn after_write(&self, ri: &ResourceInfo, obj: &Value, deleted: bool) {
        if ri.builtin == Some(Builtin::Crd) {
            if deleted {
                if let (Some(g), Some(p)) = (
                    obj.pointer("/spec/group").and_then(Value::as_str),
                    obj.pointer("/spec/names/plural").and_then(Value::as_str),
                ) {
                    self.0
                        .registry
                        .write()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove_resource(g, p);
                }
            } else {
                self.register_crd(obj);
            }
        }
        if deleted {
            self.0.gc_wake.notify_one();
        }
    }
}
