#!/usr/bin/env python3
"""Writes kubernetes.json: the Kubernetes OpenAPI v3 schemas of every built-in type,
from the definitions kubernetes-validate ships (generated from the API server's own
OpenAPI, x-kubernetes-* extensions kept), turned back into the API server's
/openapi/v3 form: single types, `allOf: [$ref]` wrappers, int-or-string and
preserve-unknown-fields markers where the server uses them.

Run by hand when moving to a newer Kubernetes:
  python3 devcluster/openapi/generate.py \
    .tools/venv/lib/python3.11/site-packages/kubernetes_validate/kubernetes-json-schema/v1.33.0-local/_definitions.json \
    > devcluster/openapi/kubernetes.json
"""
import json
import sys

PREFIX = "#/components/schemas/"

# Types whose JSON form is not what their Go struct suggests; the API server
# publishes them this way.
SPECIAL = {
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {
        "type": "string", "format": "int-or-string", "x-kubernetes-int-or-string": True},
    "io.k8s.apimachinery.pkg.api.resource.Quantity": {
        "type": "string", "format": "quantity", "x-kubernetes-int-or-string": True},
    "io.k8s.apimachinery.pkg.runtime.RawExtension": {
        "type": "object", "x-kubernetes-preserve-unknown-fields": True},
    "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1": {
        "type": "object", "x-kubernetes-preserve-unknown-fields": True},
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSON": {
        "x-kubernetes-preserve-unknown-fields": True},
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrArray": {
        "x-kubernetes-preserve-unknown-fields": True},
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrBool": {
        "x-kubernetes-preserve-unknown-fields": True},
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrStringArray": {
        "x-kubernetes-preserve-unknown-fields": True},
}


def convert(s, top_level=False):
    if isinstance(s, list):
        return [convert(x) for x in s]
    if not isinstance(s, dict):
        return s
    out = {}
    for k, v in s.items():
        if k == "type" and isinstance(v, list):
            non_null = [t for t in v if t != "null"]
            out[k] = non_null[0] if len(non_null) == 1 else non_null
        elif k == "$ref":
            out[k] = PREFIX + v.rsplit("/", 1)[-1]
        elif k == "properties":
            out[k] = {name: convert(p) for name, p in v.items()}
        else:
            out[k] = convert(v)
    # kubernetes-validate adds enums on apiVersion/kind; the server has none.
    if top_level and "properties" in out:
        for name in ("apiVersion", "kind"):
            out["properties"].get(name, {}).pop("enum", None)
    # A $ref with siblings is an allOf wrapper in the server's v3 documents.
    if "$ref" in out and len(out) > 1:
        ref = out.pop("$ref")
        out["allOf"] = [{"$ref": ref}]
    return out


def main():
    defs = json.load(open(sys.argv[1]))["$defs"]
    schemas = {}
    for name, schema in sorted(defs.items()):
        if name in SPECIAL:
            special = dict(SPECIAL[name])
            if "description" in schema:
                special["description"] = schema["description"]
            schemas[name] = special
        else:
            schemas[name] = convert(schema, top_level=True)
    json.dump({"components": {"schemas": schemas}}, sys.stdout, separators=(",", ":"), sort_keys=True)
    sys.stdout.write("\n")


main()
