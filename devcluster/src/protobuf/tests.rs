//! Decoding of hand-built protobuf bodies, written as gogo protobuf writes them (non-pointer
//! scalars always present, zero or not), into the JSON a JSON client sends.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine;
use prost_reflect::DynamicMessage;
use prost_reflect::prost::Message;
use serde_json::{Value, json};

use super::{ProtoError, decode, envelope::message_for, pool};

/// `k8s\0` + runtime.Unknown around the message built from its proto-JSON form.
fn body(api_version: &str, kind: &str, proto_json: Value) -> Vec<u8> {
    let desc = message_for(api_version, kind).unwrap();
    let msg = DynamicMessage::deserialize(desc, proto_json).unwrap();
    let unknown = pool()
        .unwrap()
        .get_message_by_name("k8s.io.apimachinery.pkg.runtime.Unknown")
        .unwrap();
    let raw = base64::engine::general_purpose::STANDARD.encode(msg.encode_to_vec());
    let env = json!({"typeMeta": {"apiVersion": api_version, "kind": kind}, "raw": raw,
                     "contentEncoding": "", "contentType": ""});
    let env = DynamicMessage::deserialize(unknown, env).unwrap();
    [b"k8s\0".as_slice(), &env.encode_to_vec()].concat()
}

/// ObjectMeta as gogo writes it for a new object: every non-pointer field, zero or not.
fn meta(name: &str) -> Value {
    json!({"name": name, "generateName": "", "namespace": "", "selfLink": "", "uid": "",
           "resourceVersion": "", "generation": "0", "creationTimestamp": {}})
}

#[test]
fn pod_with_quantities_int_or_string_inlined_sources_and_pointer_zeros() {
    let pod = json!({
        "metadata": meta("p"),
        "spec": {
            "containers": [{
                "name": "c", "image": "busybox", "stdin": false, "workingDir": "",
                "ports": [{"name": "", "hostPort": 0, "containerPort": 8080, "protocol": "TCP", "hostIP": ""}],
                "resources": {"limits": {"memory": {"string": "64Mi"}, "cpu": {"string": "500m"}}},
                "readinessProbe": {"handler": {"httpGet": {"path": "/healthz",
                    "port": {"type": "1", "intVal": 0, "strVal": "http"}, "host": "", "scheme": ""}},
                    "initialDelaySeconds": 0, "periodSeconds": 5},
                "livenessProbe": {"handler": {"tcpSocket": {"port": {"type": "0", "intVal": 8080, "strVal": ""}, "host": ""}}},
            }],
            "volumes": [{"name": "v", "volumeSource": {"configMap": {
                "localObjectReference": {"name": "cm"}, "defaultMode": 420}}}],
            "restartPolicy": "Never", "terminationGracePeriodSeconds": "0",
            "enableServiceLinks": false, "nodeName": "",
        },
        "status": {},
    });
    let got = decode(&body("v1", "Pod", pod)).unwrap();
    assert_eq!(
        got,
        json!({
            "kind": "Pod", "apiVersion": "v1",
            "metadata": {"name": "p", "creationTimestamp": null},
            "spec": {
                "containers": [{
                    "name": "c", "image": "busybox",
                    "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                    "resources": {"limits": {"cpu": "500m", "memory": "64Mi"}},
                    "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 5},
                    "livenessProbe": {"tcpSocket": {"port": 8080}},
                }],
                "volumes": [{"name": "v", "configMap": {"name": "cm", "defaultMode": 420}}],
                "restartPolicy": "Never",
                "terminationGracePeriodSeconds": 0,
                "enableServiceLinks": false,
            },
            "status": {},
        })
    );
}

#[test]
fn secret_bytes_are_base64_and_int64s_numbers() {
    let mut m = meta("s");
    m["generation"] = json!("3");
    let secret = json!({"metadata": m, "data": {"token": "czNjcsOpdA==", "empty": ""},
                        "type": "Opaque"});
    let got = decode(&body("v1", "Secret", secret)).unwrap();
    assert_eq!(got["data"], json!({"empty": "", "token": "czNjcsOpdA=="}));
    assert_eq!(got["metadata"]["generation"], json!(3));
    assert_eq!(got["type"], json!("Opaque"));
}

#[test]
fn events_leases_and_nodes_carry_times_and_quantities() {
    let ev = json!({"metadata": meta("e"), "eventTime": {"seconds": "1700000000", "nanos": 123456789},
                    "reason": "Started", "regarding": {"kind": "Pod", "name": "p"},
                    "deprecatedFirstTimestamp": {}, "deprecatedCount": 0});
    let got = decode(&body("events.k8s.io/v1", "Event", ev)).unwrap();
    assert_eq!(got["apiVersion"], json!("events.k8s.io/v1"));
    assert_eq!(got["eventTime"], json!("2023-11-14T22:13:20.123456Z"));
    assert_eq!(got["deprecatedFirstTimestamp"], Value::Null);
    assert!(got.get("deprecatedCount").is_none(), "{got}");
    let core = json!({"metadata": meta("e2"), "involvedObject": {"kind": "Pod", "name": "p"},
                      "firstTimestamp": {"seconds": "1700000000"}, "count": 2, "type": "Normal"});
    let got = decode(&body("v1", "Event", core)).unwrap();
    assert_eq!(got["firstTimestamp"], json!("2023-11-14T22:13:20Z"));
    assert_eq!(got["count"], json!(2));
    let lease = json!({"metadata": meta("l"), "spec": {"holderIdentity": "me",
        "leaseDurationSeconds": 15, "renewTime": {"seconds": "1700000000", "nanos": 5000}}});
    let got = decode(&body("coordination.k8s.io/v1", "Lease", lease)).unwrap();
    assert_eq!(
        got["spec"],
        json!({"holderIdentity": "me", "leaseDurationSeconds": 15, "renewTime": "2023-11-14T22:13:20.000005Z"})
    );
    let node = json!({"metadata": meta("n"), "status": {"capacity": {"cpu": {"string": "4"},
        "memory": {"string": "8Gi"}}}});
    let got = decode(&body("v1", "Node", node)).unwrap();
    assert_eq!(
        got["status"]["capacity"],
        json!({"cpu": "4", "memory": "8Gi"})
    );
}

#[test]
fn delete_options_in_any_builtin_group_and_raw_extensions() {
    let opts = json!({"propagationPolicy": "Background", "gracePeriodSeconds": "0", "dryRun": []});
    for gv in ["v1", "batch/v1", "apps/v1"] {
        let got = decode(&body(gv, "DeleteOptions", opts.clone())).unwrap();
        assert_eq!(
            got,
            json!({"kind": "DeleteOptions", "apiVersion": gv, "propagationPolicy": "Background",
                   "gracePeriodSeconds": 0})
        );
    }
    let raw = base64::engine::general_purpose::STANDARD.encode(br#"{"spec":{"replicas":2}}"#);
    let rev = json!({"metadata": meta("r"), "data": {"raw": raw}, "revision": "7"});
    let got = decode(&body("apps/v1", "ControllerRevision", rev)).unwrap();
    assert_eq!(got["data"], json!({"spec": {"replicas": 2}}));
    assert_eq!(got["revision"], json!(7));
}

#[test]
fn custom_resources_and_broken_bodies_are_refused() {
    assert!(message_for("pdfx.dev/v1alpha1", "PdfExtraction").is_none());
    assert!(message_for("batch.example.com/v1", "Job").is_none());
    assert!(message_for("rbac.authorization.k8s.io/v1", "ClusterRole").is_some());
    assert!(message_for("networking.k8s.io/v1", "NetworkPolicy").is_some());
    assert!(message_for("internal.apiserver.k8s.io/v1alpha1", "StorageVersion").is_some());
    assert!(matches!(decode(b"{}"), Err(ProtoError::NoMagic)));
    assert!(matches!(
        decode(b"k8s\0\xff\xff"),
        Err(ProtoError::Malformed { .. })
    ));
    let mut b = body("v1", "ConfigMap", json!({"metadata": meta("c")}));
    b.truncate(b.len() - 3);
    assert!(decode(&b).is_err());
}

#[test]
fn crd_schemas_use_their_json_names_and_unions() {
    let def = base64::engine::general_purpose::STANDARD.encode(br#"{"a":1}"#);
    let schema = json!({
        "type": "object", "id": "", "ref": "#/x", "xKubernetesPreserveUnknownFields": true,
        "properties": {
            "spec": {"type": "object", "default": {"raw": def},
                     "additionalProperties": {"allows": true}},
            "tags": {"type": "array", "items": {"schema": {"type": "string"}}},
            "free": {"additionalProperties": {"schema": {"type": "integer"}}},
        },
        "dependencies": {"x": {"property": ["y"]}},
    });
    let crd = json!({"metadata": meta("things.example.com"), "spec": {
        "group": "example.com", "scope": "Namespaced",
        "names": {"plural": "things", "kind": "Thing"},
        "versions": [{"name": "v1", "served": true, "storage": true,
                      "schema": {"openAPIV3Schema": schema}}]}});
    let got = decode(&body(
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        crd,
    ))
    .unwrap();
    assert_eq!(
        got["spec"]["versions"][0]["schema"]["openAPIV3Schema"],
        json!({
            "type": "object", "$ref": "#/x", "x-kubernetes-preserve-unknown-fields": true,
            "properties": {
                "spec": {"type": "object", "default": {"a": 1}, "additionalProperties": true},
                "tags": {"type": "array", "items": {"type": "string"}},
                "free": {"additionalProperties": {"type": "integer"}},
            },
            "dependencies": {"x": ["y"]},
        })
    );
    assert_eq!(
        got["spec"]["names"],
        json!({"plural": "things", "kind": "Thing"})
    );
}
