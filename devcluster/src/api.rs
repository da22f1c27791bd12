//! The generic registry operations (create, get, list, update, patch, delete) with
//! the API server's metadata, status-subresource, generation, finalizer and
//! concurrency rules, and the type strategies (built-in or CRD schema) they call.

use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Map, Value, json};

use crate::builtins;
use crate::error::{ApiError, ApiResult, Cause, Subject};
use crate::patch::{self, PatchError};
use crate::persist::PersistError;
use crate::registry::{Builtin, Registry, ResourceInfo, StorageKey};
use crate::schema::{self, PatternCache};
use crate::selectors::{FieldSelector, LabelSelector};
use crate::store::{Pending, Store, Txn};

/// Current time as the API server writes timestamps (RFC 3339, seconds, `Z`).
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Configuration of the emulated API server.
#[derive(Debug, Clone)]
pub struct Config {
    /// Persist to this directory (None: in memory only).
    pub data_dir: Option<std::path::PathBuf>,
    /// Events kept for watch resumption; older RVs get 410 Expired.
    pub history: usize,
    /// Interval between BOOKMARK events on watches that allow them.
    pub bookmark_interval: Duration,
    /// Watch length when the client sends no `timeoutSeconds`.
    pub default_watch_timeout: Duration,
    /// How often the garbage collector scans even without a wake-up.
    pub gc_interval: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: None,
            history: 10_000,
            bookmark_interval: Duration::from_secs(10),
            default_watch_timeout: Duration::from_secs(1800),
            gc_interval: Duration::from_secs(2),
        }
    }
}

/// `fieldValidation` query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FieldValidation {
    /// Drop unknown fields silently.
    #[default]
    Ignore,
    /// Drop unknown fields (a real server also adds a Warning header).
    Warn,
    /// Reject unknown fields with 400.
    Strict,
}

/// Options shared by writes.
#[derive(Debug, Clone, Default)]
pub struct WriteOpts {
    /// `dryRun=All`: run everything but do not store.
    pub dry_run: bool,
    /// Unknown-field handling.
    pub field_validation: FieldValidation,
}

/// PATCH body types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// `application/merge-patch+json`.
    Merge,
    /// `application/json-patch+json`.
    Json,
    /// `application/strategic-merge-patch+json` (approximated as a merge patch for built-ins).
    Strategic,
    /// `application/apply-patch+yaml` (server-side apply, approximated as a merge patch).
    Apply,
}

/// `DeleteOptions` body.
#[derive(Debug, Clone, Default)]
pub struct DeleteOpts {
    /// `Background`, `Foreground` or `Orphan`.
    pub propagation: Option<String>,
    /// Precondition on uid.
    pub uid: Option<String>,
    /// Precondition on resourceVersion.
    pub resource_version: Option<String>,
    /// `dryRun: ["All"]`.
    pub dry_run: bool,
}

impl DeleteOpts {
    /// Parse a DeleteOptions body (empty = defaults).
    pub fn from_json(v: &Value) -> Self {
        Self {
            propagation: v
                .get("propagationPolicy")
                .and_then(Value::as_str)
                .map(str::to_string),
            uid: v
                .pointer("/preconditions/uid")
                .and_then(Value::as_str)
                .map(str::to_string),
            resource_version: v
                .pointer("/preconditions/resourceVersion")
                .and_then(Value::as_str)
                .map(str::to_string),
            dry_run: v
                .get("dryRun")
                .and_then(Value::as_array)
                .is_some_and(|a| a.iter().any(|x| x == "All")),
        }
    }
}

/// List query options.
#[derive(Debug, Clone, Default)]
pub struct ListOpts {
    /// Label selector.
    pub labels: LabelSelector,
    /// Field selector.
    pub fields: FieldSelector,
    /// Page size (0 = everything).
    pub limit: usize,
    /// Continue token.
    pub continue_token: Option<String>,
}

/// One page of a list.
#[derive(Debug, Clone)]
pub struct ListPage {
    /// Items in served form.
    pub items: Vec<Value>,
    /// The list's resourceVersion.
    pub rv: u64,
    /// Continue token when more items remain.
    pub cont: Option<String>,
    /// How many items remain after this page.
    pub remaining: Option<usize>,
}

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
}

/// A handle to the emulated API server (cheap to clone).
#[derive(Clone)]
pub struct ApiServer(pub Arc<Inner>);

impl std::fmt::Debug for ApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiServer").finish_non_exhaustive()
    }
}

fn meta(obj: &Value) -> Option<&Map<String, Value>> {
    obj.get("metadata").and_then(Value::as_object)
}

/// A metadata field as an owned string, empty when absent.
pub(crate) fn meta_string(obj: &Value, key: &str) -> String {
    meta_str(obj, key).unwrap_or_default().to_owned()
}

pub(crate) fn meta_str<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    meta(obj).and_then(|m| m.get(key)).and_then(Value::as_str)
}

fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.is_object() {
        *obj = json!({});
    }
    let m = match obj {
        Value::Object(m) => m,
        _ => unreachable!("just made an object"),
    };
    let entry = m.entry("metadata").or_insert_with(|| json!({}));
    if !entry.is_object() {
        *entry = json!({});
    }
    match entry {
        Value::Object(m) => m,
        _ => unreachable!("just made an object"),
    }
}

pub(crate) fn finalizers(obj: &Value) -> Vec<String> {
    meta(obj)
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

const NAME_CHARS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

fn random_suffix() -> String {
    (0..5)
        .map(|_| NAME_CHARS[fastrand::usize(..NAME_CHARS.len())] as char)
        .collect()
}

/// RFC 1123 subdomain (most names) or label (namespaces).
fn name_errors(name: &str, label_only: bool) -> Option<String> {
    let max = if label_only { 63 } else { 253 };
    let part_ok = |p: &str| {
        !p.is_empty()
            && p.len() <= 63
            && p.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && p.as_bytes().first().is_some_and(u8::is_ascii_alphanumeric)
            && p.as_bytes().last().is_some_and(u8::is_ascii_alphanumeric)
    };
    let ok = name.len() <= max
        && if label_only {
            part_ok(name)
        } else {
            name.split('.').all(part_ok)
        };
    if ok {
        None
    } else if label_only {
        Some("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')".into())
    } else {
        Some("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')".into())
    }
}

/// Everything outside `metadata` (and `status` when it is a subresource): what bumps `generation`.
fn generation_view(obj: &Value, status_is_sub: bool) -> Value {
    let mut v = obj.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("metadata");
        m.remove("apiVersion");
        m.remove("kind");
        if status_is_sub {
            m.remove("status");
        }
    }
    v
}

/// Continue tokens: the list RV and the last key served, base64 JSON (opaque to clients).
fn encode_continue(rv: u64, ns: &str, name: &str) -> String {
    base64::engine::general_purpose::STANDARD
        .encode(json!({"rv": rv, "ns": ns, "name": name}).to_string())
}

fn decode_continue(token: &str) -> ApiResult<(u64, (String, String))> {
    let bad = || ApiError::BadRequest(format!("continue key is not valid: {token:?}"));
    let raw = base64::engine::general_purpose::STANDARD
        .decode(token)
        .map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    let rv = v["rv"].as_u64().ok_or_else(bad)?;
    let ns = v["ns"].as_str().ok_or_else(bad)?.to_string();
    let name = v["name"].as_str().ok_or_else(bad)?.to_string();
    Ok((rv, (ns, name)))
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

    /// Type strategy for writes: built-in validation, or CRD pruning/defaulting/validation/CEL.
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
            causes.extend(builtins::validate(b, obj, old));
        } else if let Some(schema) = &ri.schema {
            let mut pruned = Vec::new();
            schema::prune(schema, obj, "", &mut pruned);
            if opts.field_validation == FieldValidation::Strict && !pruned.is_empty() {
                let fields: Vec<String> = pruned
                    .iter()
                    .map(|p| format!("unknown field \"{p}\""))
                    .collect();
                return Err(ApiError::BadRequest(format!(
                    "strict decoding error: {}",
                    fields.join(", ")
                )));
            }
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

    /// GET one object (served form).
    pub fn get(&self, ri: &ResourceInfo, ns: &str, name: &str) -> ApiResult<Value> {
        let ns = if ri.namespaced { ns } else { "" };
        let txn = self.0.store.txn();
        txn.get(&ri.storage, ns, name)
            .map(|o| Self::to_served(ri, &o))
            .ok_or_else(|| ApiError::NotFound(Self::subject(ri, name)))
    }

    /// LIST: (items in served form, list RV, continue token, remaining count).
    pub fn list(
        &self,
        ri: &ResourceInfo,
        ns: Option<&str>,
        opts: &ListOpts,
    ) -> ApiResult<ListPage> {
        let txn = self.0.store.txn();
        let (list_rv, after) = match &opts.continue_token {
            Some(t) if !t.is_empty() => {
                let (rv, after) = decode_continue(t)?;
                if rv < txn.state.window_start {
                    return Err(ApiError::Expired("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.".into()));
                }
                (rv, Some(after))
            }
            _ => (txn.rv(), None),
        };
        let ns = if ri.namespaced { ns } else { None };
        let mut items = Vec::new();
        let mut last_key = None;
        let mut remaining = 0usize;
        for stored in txn.list(&ri.storage, ns, after.as_ref()) {
            if !opts.labels.matches(&stored) {
                continue;
            }
            let served = Self::to_served(ri, &stored);
            if !opts.fields.matches(&served) {
                continue;
            }
            if opts.limit > 0 && items.len() >= opts.limit {
                remaining += 1;
                continue;
            }
            last_key = Some((
                meta_str(&stored, "namespace")
                    .unwrap_or_default()
                    .to_string(),
                meta_str(&stored, "name").unwrap_or_default().to_string(),
            ));
            items.push(served);
        }
        let cont = match (remaining > 0, last_key) {
            (true, Some((ns, name))) => Some(encode_continue(list_rv, &ns, &name)),
            _ => None,
        };
        Ok(ListPage {
            items,
            rv: list_rv,
            cont,
            remaining: (remaining > 0).then_some(remaining),
        })
    }

    /// POST.
    pub async fn create(
        &self,
        ri: &ResourceInfo,
        ns: Option<&str>,
        body: Value,
        opts: &WriteOpts,
    ) -> ApiResult<Value> {
        let (obj, pending) = self.create_locked(ri, ns, body, opts)?;
        pending.durable().await?;
        if ri.builtin == Some(Builtin::Crd) && !opts.dry_run {
            self.register_crd(&obj);
        }
        Ok(Self::to_served(ri, &obj))
    }

    fn create_locked(
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
            "managedFields",
        ] {
            m.remove(k);
        }
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
        if builtins::has_generation(ri.builtin) {
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
        if ri.status_subresource && ri.is_custom() {
            // The status of a custom resource with a status subresource is only set through /status.
            if let Some(m) = body.as_object_mut() {
                m.remove("status");
            }
        }
        let mut obj = Self::to_stored(ri, body);
        if let Some(b) = ri.builtin {
            builtins::prepare_create(b, &mut obj);
        }
        self.admit(ri, &mut obj, None, opts, &name)?;
        if txn.get(&ri.storage, path_ns, &name).is_some() {
            return Err(ApiError::AlreadyExists(Self::subject(ri, &name)));
        }
        if opts.dry_run {
            return Ok((obj, Pending::default()));
        }
        let stored = txn.put(&ri.storage, path_ns, &name, obj);
        Ok(((*stored).clone(), txn.finish()))
    }

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

    /// The core of PUT and PATCH, under the store lock. Returns (stored object, physically deleted).
    #[allow(clippy::too_many_arguments)]
    fn update_locked(
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
        let body = Self::to_stored(ri, body);
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
        self.admit(ri, &mut new, Some(&old), opts, name)?;

        if builtins::has_generation(ri.builtin) {
            let status_sub = ri.status_subresource;
            if generation_view(&new, status_sub) != generation_view(&old, status_sub) {
                let g = meta(&old)
                    .and_then(|m| m.get("generation"))
                    .and_then(Value::as_i64)
                    .unwrap_or(0);
                meta_mut(&mut new).insert("generation".into(), json!(g + 1));
            }
        }
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
        if builtins::has_generation(ri.builtin) {
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

/// The owner uids of an object.
pub(crate) fn owner_uids(obj: &Value) -> Vec<String> {
    meta(obj)
        .and_then(|m| m.get("ownerReferences"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|r| r["uid"].as_str())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}
