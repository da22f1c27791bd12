//! Discovery (`/api`, `/apis`, resource lists), `/version` and the OpenAPI v3
//! documents kubectl uses for `explain` and server-side field validation.

use serde_json::{Map, Value, json};

use crate::registry::{Registry, ResourceInfo, api_resources};

/// `/version` (every field of k8s-openapi's `Info`).
pub fn version() -> Value {
    json!({
        "major": "1", "minor": "33", "gitVersion": "v1.33.0-pdfx-devcluster",
        "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
        "buildDate": "2025-01-01T00:00:00Z", "goVersion": "go1.24.0", "compiler": "gc",
        "platform": "linux/amd64", "emulationMajor": "1", "emulationMinor": "33",
        "minCompatibilityMajor": "1", "minCompatibilityMinor": "32"
    })
}

/// `/api` (APIVersions).
pub fn core_versions(server_address: &str) -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"],
           "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]})
}

fn group_json(name: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v}))
        .collect();
    let preferred = vs.first().cloned().unwrap_or(json!({}));
    json!({"name": name, "versions": vs, "preferredVersion": preferred})
}

/// `/apis` (APIGroupList).
pub fn group_list(reg: &Registry) -> Value {
    let groups: Vec<Value> = reg
        .groups()
        .iter()
        .filter(|(g, _)| !g.is_empty())
        .map(|(g, vs)| group_json(g, vs))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/{group}` (APIGroup).
pub fn group(reg: &Registry, name: &str) -> Option<Value> {
    let groups = reg.groups();
    let vs = groups.get(name)?;
    let mut g = group_json(name, vs);
    g["kind"] = json!("APIGroup");
    g["apiVersion"] = json!("v1");
    Some(g)
}

/// `/api/v1`, `/apis/{g}/{v}` (APIResourceList).
pub fn resource_list(reg: &Registry, group: &str, version: &str) -> Option<Value> {
    let rs = reg.in_group_version(group, version);
    if rs.is_empty() {
        return None;
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    let mut resources: Vec<Value> = rs.iter().flat_map(|ri| api_resources(ri)).collect();
    // The executor's kubelet serves container logs.
    if group.is_empty() && version == "v1" {
        resources.push(
            json!({"name": "pods/log", "singularName": "", "namespaced": true,
            "kind": "Pod", "verbs": ["get"]}),
        );
    }
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
    )
}

/// `/openapi/v3`: one entry per group/version.
pub fn openapi_v3_root(reg: &Registry) -> Value {
    let mut paths = Map::new();
    for (g, vs) in reg.groups() {
        for v in vs {
            let key = if g.is_empty() {
                format!("api/{v}")
            } else {
                format!("apis/{g}/{v}")
            };
            let hash = format!("{:016X}", fxhash(&key, reg));
            paths.insert(
                key.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{key}?hash={hash}")}),
            );
        }
    }
    json!({"paths": paths})
}

/// A hash that changes when the served resources of the registry change (kubectl caches by it).
fn fxhash(key: &str, reg: &Registry) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    let mut feed = |s: &str| {
        for b in s.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x100000001b3);
        }
    };
    feed(key);
    for ri in reg.all() {
        feed(&ri.plural);
        if let Some(s) = &ri.schema {
            feed(&s.to_string());
        }
    }
    h
}

/// The OpenAPI component name of a kind, reverse-DNS as the API server names them.
pub fn definition_name(ri: &ResourceInfo) -> String {
    if ri.group.is_empty() {
        format!("io.k8s.api.core.{}.{}", ri.version, ri.kind)
    } else {
        let rev: Vec<&str> = ri.group.split('.').rev().collect();
        format!("{}.{}.{}", rev.join("."), ri.version, ri.kind)
    }
}

fn gvk(ri: &ResourceInfo) -> Value {
    json!([{"group": ri.group, "version": ri.version, "kind": ri.kind}])
}

/// Recursively turn a CRD schema into an OpenAPI v3 component (drops `x-kubernetes-validations`
/// which kubectl does not need; keeps descriptions for `kubectl explain`).
fn clean_schema(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| k.as_str() != "x-kubernetes-validations")
                .map(|(k, v)| (k.clone(), clean_schema(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(clean_schema).collect()),
        other => other.clone(),
    }
}

const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

/// Add a built-in definition and everything it refers to.
fn insert_closure(schemas: &mut Map<String, Value>, root: &str) {
    let defs = crate::k8s_schema::definitions();
    for name in defs.closure(root) {
        if let Some(s) = defs.all().get(&name) {
            schemas.entry(name).or_insert_with(|| s.clone());
        }
    }
}

/// The per-group/version OpenAPI v3 document.
pub fn openapi_v3_gv(reg: &Registry, group: &str, version: &str) -> Option<Value> {
    let rs = reg.in_group_version(group, version);
    if rs.is_empty() {
        return None;
    }
    let mut schemas = Map::new();
    let mut paths = Map::new();
    insert_closure(&mut schemas, OBJECT_META);
    let defs = crate::k8s_schema::definitions();
    for ri in &rs {
        // Built-ins: the server's own definitions (so `kubectl explain` shows them).
        if !ri.is_custom()
            && let Some(def) = defs.name_of(&ri.group, &ri.version, &ri.kind)
        {
            insert_closure(&mut schemas, def);
            paths.insert(item_path(ri), operations(ri, def));
            continue;
        }
        let name = definition_name(ri);
        let mut schema = ri.schema.as_ref().map(clean_schema).unwrap_or_else(
            || json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
        );
        if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
            props.insert("metadata".into(), json!({"allOf": [{"$ref": format!("#/components/schemas/{OBJECT_META}")}], "description": "Standard object's metadata."}));
            props.entry("apiVersion").or_insert(json!({"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."}));
            props.entry("kind").or_insert(json!({"type": "string", "description": "Kind is a string value representing the REST resource this object represents."}));
        }
        schema["x-kubernetes-group-version-kind"] = gvk(ri);
        schemas.insert(name.clone(), schema);
        paths.insert(item_path(ri), operations(ri, &name));
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes (pdfx devcluster)", "version": "v1.33.0"},
        "paths": paths,
        "components": {"schemas": schemas}
    }))
}

fn item_path(ri: &ResourceInfo) -> String {
    let base = if ri.group.is_empty() {
        format!("/api/{}", ri.version)
    } else {
        format!("/apis/{}/{}", ri.group, ri.version)
    };
    if ri.namespaced {
        format!("{base}/namespaces/{{namespace}}/{}/{{name}}", ri.plural)
    } else {
        format!("{base}/{}/{{name}}", ri.plural)
    }
}

/// The item path's operations; kubectl looks for their `fieldValidation`
/// parameter to know the server validates fields itself.
fn operations(ri: &ResourceInfo, def: &str) -> Value {
    let body_ref = json!({"content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{def}")}}}});
    let params = json!([
        {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
        {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
        {"name": "fieldValidation", "in": "query", "description": "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields.", "schema": {"type": "string", "uniqueItems": true}}
    ]);
    let op = |verb: &str| {
        json!({
            "operationId": format!("{verb}{}", ri.kind),
            "parameters": params,
            "requestBody": body_ref,
            "responses": {"200": body_ref},
            "x-kubernetes-action": verb,
            "x-kubernetes-group-version-kind": {"group": ri.group, "version": ri.version, "kind": ri.kind}
        })
    };
    json!({"get": op("get"), "put": op("put"), "patch": op("patch"), "delete": op("delete")})
}
