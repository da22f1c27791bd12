//! The resource registry: what each `group/version/plural` is (kind, scope,
//! subresources, printer columns, schema), the built-in types and the types
//! registered by CRDs.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::k8s_schema::{self, Schema};

/// Where objects of a resource are stored: one storage per group/resource,
/// whatever version they are served at.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StorageKey {
    /// API group ("" for core).
    pub group: String,
    /// Resource plural.
    pub resource: String,
}

impl StorageKey {
    /// Build from borrowed parts.
    pub fn new(group: &str, resource: &str) -> Self {
        Self {
            group: group.to_string(),
            resource: resource.to_string(),
        }
    }
}

/// Built-in types that have their own defaulting, validation or conversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    /// v1 Namespace.
    Namespace,
    /// batch/v1 Job.
    Job,
    /// v1 Pod.
    Pod,
    /// events.k8s.io/v1 Event (the stored form of events).
    Event,
    /// core/v1 Event: a view of the events.k8s.io/v1 objects, converted both ways.
    CoreEvent,
    /// coordination.k8s.io/v1 Lease.
    Lease,
    /// v1 Secret.
    Secret,
    /// v1 ConfigMap.
    ConfigMap,
    /// apiextensions.k8s.io/v1 CustomResourceDefinition.
    Crd,
    /// v1 Node (the executor's one node, with its capacity).
    Node,
}

/// A printer column (`additionalPrinterColumns`).
#[derive(Debug, Clone, PartialEq)]
pub struct PrinterColumn {
    /// Column header.
    pub name: String,
    /// `string`, `integer`, `number`, `boolean` or `date`.
    pub type_: String,
    /// OpenAPI format (optional).
    pub format: String,
    /// Description.
    pub description: String,
    /// 0 = always shown, >0 = only with `-o wide`.
    pub priority: i64,
    /// JSONPath (simple subset: `.a.b`, `.a[0].b`, `.a[?(@.x=="y")].b`).
    pub json_path: String,
}

/// One servable resource at one version.
#[derive(Debug, Clone)]
pub struct ResourceInfo {
    /// API group ("" for core).
    pub group: String,
    /// Served version.
    pub version: String,
    /// Plural (URL segment).
    pub plural: String,
    /// Singular.
    pub singular: String,
    /// Kind.
    pub kind: String,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
    /// Short names for kubectl.
    pub short_names: Vec<String>,
    /// Categories for kubectl (`kubectl get all`, `kubectl get pdfx`).
    pub categories: Vec<String>,
    /// Whether a `/status` subresource exists (status then only changes through it).
    pub status_subresource: bool,
    /// Printer columns for Table responses.
    pub columns: Vec<PrinterColumn>,
    /// The openAPIV3Schema of this version (custom resources).
    pub schema: Option<Value>,
    /// Whether the schema has CEL rules.
    pub has_cel: bool,
    /// Built-in behaviour, None for custom resources.
    pub builtin: Option<Builtin>,
    /// Where the objects are stored.
    pub storage: StorageKey,
    /// Extra field-selector fields besides metadata.name/namespace.
    pub field_selectors: Vec<String>,
}

impl ResourceInfo {
    /// `group/version` or `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `Kind.group` as the API server names a type in Invalid messages.
    pub fn qualified_kind(&self) -> String {
        if self.group.is_empty() {
            self.kind.clone()
        } else {
            format!("{}.{}", self.kind, self.group)
        }
    }

    /// Whether this is a custom resource (CRD-defined).
    pub fn is_custom(&self) -> bool {
        self.builtin.is_none()
    }

    /// The schema objects of this resource are validated, pruned and merged by, in
    /// their served form: the CRD version's structural schema, or the built-in
    /// type's published definition.
    pub fn type_schema(&self) -> Option<Schema<'_>> {
        match &self.schema {
            Some(s) if self.is_custom() => Some(Schema::structural(s)),
            _ => k8s_schema::definitions().for_kind(&self.group, &self.version, &self.kind),
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn builtin(
    group: &str,
    version: &str,
    plural: &str,
    singular: &str,
    kind: &str,
    namespaced: bool,
    short: &[&str],
    status: bool,
    b: Builtin,
    storage: (&str, &str),
) -> ResourceInfo {
    ResourceInfo {
        group: group.into(),
        version: version.into(),
        plural: plural.into(),
        singular: singular.into(),
        kind: kind.into(),
        namespaced,
        short_names: short.iter().map(|s| s.to_string()).collect(),
        categories: Vec::new(),
        status_subresource: status,
        columns: Vec::new(),
        schema: None,
        has_cel: false,
        builtin: Some(b),
        storage: StorageKey::new(storage.0, storage.1),
        field_selectors: Vec::new(),
    }
}

fn col(name: &str, type_: &str, path: &str, priority: i64, description: &str) -> PrinterColumn {
    PrinterColumn {
        name: name.into(),
        type_: type_.into(),
        format: String::new(),
        description: description.into(),
        priority,
        json_path: path.into(),
    }
}

/// Every built-in resource the emulator serves.
pub fn builtins() -> Vec<ResourceInfo> {
    let mut ns = builtin(
        "",
        "v1",
        "namespaces",
        "namespace",
        "Namespace",
        false,
        &["ns"],
        true,
        Builtin::Namespace,
        ("", "namespaces"),
    );
    ns.columns = vec![col(
        "Status",
        "string",
        ".status.phase",
        0,
        "The phase of the namespace",
    )];
    ns.field_selectors = vec!["status.phase".into()];
    let mut job = builtin(
        "batch",
        "v1",
        "jobs",
        "job",
        "Job",
        true,
        &[],
        true,
        Builtin::Job,
        ("batch", "jobs"),
    );
    job.categories = vec!["all".into()];
    job.columns = vec![
        col(
            "Completions",
            "integer",
            ".status.succeeded",
            0,
            "Succeeded pods",
        ),
        col("Active", "integer", ".status.active", 0, "Active pods"),
        col("Failed", "integer", ".status.failed", 0, "Failed pods"),
        col(
            "Image",
            "string",
            ".spec.template.spec.containers[0].image",
            1,
            "Image of the first container",
        ),
    ];
    let mut pod = builtin(
        "",
        "v1",
        "pods",
        "pod",
        "Pod",
        true,
        &["po"],
        true,
        Builtin::Pod,
        ("", "pods"),
    );
    pod.categories = vec!["all".into()];
    pod.columns = vec![
        col("Status", "string", ".status.phase", 0, "Phase of the pod"),
        col(
            "Reason",
            "string",
            ".status.containerStatuses[0].state.terminated.reason",
            0,
            "Termination reason",
        ),
        col(
            "Exit",
            "integer",
            ".status.containerStatuses[0].state.terminated.exitCode",
            1,
            "Exit code",
        ),
    ];
    pod.field_selectors = vec![
        "status.phase".into(),
        "spec.nodeName".into(),
        "spec.restartPolicy".into(),
    ];
    let mut ev = builtin(
        "events.k8s.io",
        "v1",
        "events",
        "event",
        "Event",
        true,
        &["ev"],
        false,
        Builtin::Event,
        ("events.k8s.io", "events"),
    );
    ev.columns = vec![
        col("Type", "string", ".type", 0, ""),
        col("Reason", "string", ".reason", 0, ""),
        col("Object", "string", ".regarding.name", 0, ""),
        col("Note", "string", ".note", 0, ""),
    ];
    ev.field_selectors = [
        "regarding.kind",
        "regarding.name",
        "regarding.namespace",
        "regarding.uid",
        "reason",
        "type",
        "reportingController",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut core_ev = builtin(
        "",
        "v1",
        "events",
        "event",
        "Event",
        true,
        &["ev"],
        false,
        Builtin::CoreEvent,
        ("events.k8s.io", "events"),
    );
    core_ev.columns = vec![
        col("Type", "string", ".type", 0, ""),
        col("Reason", "string", ".reason", 0, ""),
        col("Object", "string", ".involvedObject.name", 0, ""),
        col("Message", "string", ".message", 0, ""),
    ];
    core_ev.field_selectors = [
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut lease = builtin(
        "coordination.k8s.io",
        "v1",
        "leases",
        "lease",
        "Lease",
        true,
        &[],
        false,
        Builtin::Lease,
        ("coordination.k8s.io", "leases"),
    );
    lease.columns = vec![col("Holder", "string", ".spec.holderIdentity", 0, "")];
    let mut secret = builtin(
        "",
        "v1",
        "secrets",
        "secret",
        "Secret",
        true,
        &[],
        false,
        Builtin::Secret,
        ("", "secrets"),
    );
    secret.field_selectors = vec!["type".into()];
    let cm = builtin(
        "",
        "v1",
        "configmaps",
        "configmap",
        "ConfigMap",
        true,
        &["cm"],
        false,
        Builtin::ConfigMap,
        ("", "configmaps"),
    );
    let mut crd = builtin(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "customresourcedefinition",
        "CustomResourceDefinition",
        false,
        &["crd", "crds"],
        true,
        Builtin::Crd,
        ("apiextensions.k8s.io", "customresourcedefinitions"),
    );
    crd.columns = vec![col(
        "Created At",
        "date",
        ".metadata.creationTimestamp",
        0,
        "",
    )];
    let mut node = builtin(
        "",
        "v1",
        "nodes",
        "node",
        "Node",
        false,
        &["no"],
        true,
        Builtin::Node,
        ("", "nodes"),
    );
    node.columns = vec![
        col(
            "CPU",
            "string",
            ".status.allocatable.cpu",
            0,
            "Allocatable CPU",
        ),
        col(
            "Memory",
            "string",
            ".status.allocatable.memory",
            0,
            "Allocatable memory",
        ),
        col(
            "Pods",
            "string",
            ".status.allocatable.pods",
            0,
            "Allocatable pod count",
        ),
    ];
    vec![ns, pod, core_ev, secret, cm, job, ev, lease, crd, node]
}

/// Resource infos for every served version of a CRD object (its `spec`).
pub fn from_crd(crd: &Value) -> Vec<ResourceInfo> {
    let spec = &crd["spec"];
    let group = spec["group"].as_str().unwrap_or_default().to_string();
    let names = &spec["names"];
    let plural = names["plural"].as_str().unwrap_or_default().to_string();
    let kind = names["kind"].as_str().unwrap_or_default().to_string();
    let singular = names["singular"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| kind.to_lowercase());
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let namespaced = spec["scope"].as_str() != Some("Cluster");
    let mut out = Vec::new();
    for v in spec["versions"].as_array().into_iter().flatten() {
        if v["served"].as_bool() == Some(false) {
            continue;
        }
        let mut columns: Vec<PrinterColumn> = v["additionalPrinterColumns"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| PrinterColumn {
                name: c["name"].as_str().unwrap_or_default().into(),
                type_: c["type"].as_str().unwrap_or("string").into(),
                format: c["format"].as_str().unwrap_or_default().into(),
                description: c["description"].as_str().unwrap_or_default().into(),
                priority: c["priority"].as_i64().unwrap_or(0),
                json_path: c["jsonPath"].as_str().unwrap_or_default().into(),
            })
            .collect();
        if columns.is_empty() {
            // The API server's default columns for a CRD without printer columns.
            columns.push(col("Age", "date", ".metadata.creationTimestamp", 0, ""));
        }
        let schema = v.pointer("/schema/openAPIV3Schema").cloned();
        let has_cel = schema.as_ref().is_some_and(crate::schema::has_cel_rules);
        let field_selectors = v["selectableFields"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f["jsonPath"].as_str())
            .map(|p| p.trim_start_matches('.').to_string())
            .collect();
        out.push(ResourceInfo {
            group: group.clone(),
            version: v["name"].as_str().unwrap_or_default().into(),
            plural: plural.clone(),
            singular: singular.clone(),
            kind: kind.clone(),
            namespaced,
            short_names: strings(&names["shortNames"]),
            categories: strings(&names["categories"]),
            status_subresource: v.pointer("/subresources/status").is_some(),
            columns,
            schema,
            has_cel,
            builtin: None,
            storage: StorageKey::new(&group, &plural),
            field_selectors,
        });
    }
    out
}

/// All served resources, keyed by (group, version, plural).
#[derive(Debug, Default, Clone)]
pub struct Registry {
    by_gvr: BTreeMap<(String, String, String), Arc<ResourceInfo>>,
}

impl Registry {
    /// A registry with the built-in types.
    pub fn with_builtins() -> Self {
        let mut r = Self::default();
        for ri in builtins() {
            r.insert(ri);
        }
        r
    }

    /// Add or replace a resource.
    pub fn insert(&mut self, ri: ResourceInfo) {
        self.by_gvr.insert(
            (ri.group.clone(), ri.version.clone(), ri.plural.clone()),
            Arc::new(ri),
        );
    }

    /// Remove every version of a group/resource.
    pub fn remove_resource(&mut self, group: &str, plural: &str) {
        self.by_gvr
            .retain(|(g, _, p), _| !(g == group && p == plural));
    }

    /// Look up a resource.
    pub fn get(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceInfo>> {
        self.by_gvr
            .get(&(group.to_string(), version.to_string(), plural.to_string()))
            .cloned()
    }

    /// Every resource of a group/version.
    pub fn in_group_version(&self, group: &str, version: &str) -> Vec<Arc<ResourceInfo>> {
        self.by_gvr
            .iter()
            .filter(|((g, v, _), _)| g == group && v == version)
            .map(|(_, ri)| ri.clone())
            .collect()
    }

    /// Every resource.
    pub fn all(&self) -> Vec<Arc<ResourceInfo>> {
        self.by_gvr.values().cloned().collect()
    }

    /// The (group → versions) map, groups and versions in registration order of the name.
    pub fn groups(&self) -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (g, v, _) in self.by_gvr.keys() {
            let vs = out.entry(g.clone()).or_default();
            if !vs.contains(v) {
                vs.push(v.clone());
            }
        }
        out
    }

    /// The kind served for a storage key at any version (for GC owner lookups and errors).
    pub fn any_for_storage(&self, key: &StorageKey) -> Option<Arc<ResourceInfo>> {
        self.by_gvr
            .values()
            .find(|ri| ri.storage == *key && ri.builtin != Some(Builtin::CoreEvent))
            .cloned()
    }
}

/// The `APIResource` entries of a resource for discovery.
pub fn api_resources(ri: &ResourceInfo) -> Vec<Value> {
    let verbs = json!([
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch"
    ]);
    let mut main = json!({
        "name": ri.plural,
        "singularName": ri.singular,
        "namespaced": ri.namespaced,
        "kind": ri.kind,
        "verbs": verbs,
    });
    if !ri.short_names.is_empty() {
        main["shortNames"] = json!(ri.short_names);
    }
    if !ri.categories.is_empty() {
        main["categories"] = json!(ri.categories);
    }
    let mut out = vec![main];
    if ri.status_subresource {
        out.push(json!({
            "name": format!("{}/status", ri.plural),
            "singularName": "",
            "namespaced": ri.namespaced,
            "kind": ri.kind,
            "verbs": ["get", "patch", "update"],
        }));
    }
    out
}
