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

/// Built-in types: the ones with their own defaulting, validation or conversion,
/// and `Kubernetes` for the rest (stored and checked against their published schema).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    /// Any other built-in kind (Deployment, Role, Ingress, …): its schema, nothing more.
    Kubernetes,
    /// v1 Service (type/port defaults, a ClusterIP allocated).
    Service,
    /// rbac RoleBinding and ClusterRoleBinding (`roleRef` immutable).
    RoleBinding,
    /// An access or identity review: create-only, answered, never stored.
    Review,
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
#[derive(Debug, Clone)]
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
    /// A built-in printer's cell, computed from the object (then `json_path` is unused).
    pub compute: Option<fn(&Value) -> Value>,
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
    /// Whether `columns` is the whole row (a built-in printer: Name and Age included).
    pub full_columns: bool,
    /// The openAPIV3Schema of this version (custom resources).
    pub schema: Option<Value>,
    /// Whether the schema has CEL rules.
    pub has_cel: bool,
    /// Built-in type (with its behaviour), None for custom resources.
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

    /// The verbs discovery lists (and the only ones served).
    pub fn verbs(&self) -> &'static [&'static str] {
        if self.builtin == Some(Builtin::Review) {
            &["create"]
        } else {
            &[
                "create",
                "delete",
                "deletecollection",
                "get",
                "list",
                "patch",
                "update",
                "watch",
            ]
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
                compute: None,
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
            columns.push(PrinterColumn {
                name: "Age".into(),
                type_: "date".into(),
                format: String::new(),
                description: String::new(),
                priority: 0,
                json_path: ".metadata.creationTimestamp".into(),
                compute: None,
            });
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
            full_columns: false,
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
        for ri in crate::builtins::kinds::builtins() {
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
    let verbs = json!(ri.verbs());
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
