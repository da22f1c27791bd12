#!/usr/bin/env python3
"""Writes the Kubernetes protobuf schema the emulator decodes request bodies with,
from two registry packages: the `k8s-pb` crate (crates.io; its prost-generated
structs carry every message, field number and wire type) and the built-in
OpenAPI document (../openapi/kubernetes.json, from kubernetes-validate on PyPI),
which gives each field's JSON name and documentation.

Usage (after `cargo fetch`, so the crate is in the local registry):
  python3 devcluster/proto/generate.py ~/.cargo/registry/src/*/k8s-pb-0.9.0

Writes k8s.io/<package path>/generated.proto (proto2, fields named as their JSON
keys) and fields.txt, what the wire cannot say about the JSON form:
  <message> <field> inline     a struct embedded in its parent (`json:",inline"`):
                               its fields are the parent's
  <message> <field> json=NAME  a JSON key that is no valid proto identifier
  <message> <field> omitzero   a scalar whose zero a JSON client never sends: the
                               wire has it because the Go encoder writes every
                               non-pointer field. Kept (not omitzero): scalars whose
                               documentation names a non-zero default — there an
                               explicit zero means something (Go pointer fields).
"""
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
OPENAPI = json.loads((HERE.parent / "openapi" / "kubernetes.json").read_text())["components"]["schemas"]

FIELD_RE = re.compile(
    r'#\[prost\((?P<kind>[a-z0-9_]+)(?: = "(?P<kv>[^"]+)")?(?P<rest>[^\]]*)tag = "(?P<tag>\d+)"[^\]]*\)\]\s*'
    r'pub (?:r#)?(?P<name>[a-z0-9_]+):\s*(?P<rtype>.+?),\n(?=    [#/]|$)', re.S)
STRUCT_RE = re.compile(r'pub struct (?P<name>[A-Za-z0-9_]+) \{(?:\}|(?P<body>.*?)\n\})', re.S)
SCALARS = {"string": "string", "int32": "int32", "int64": "int64", "bool": "bool", "double": "double", "bytes": "bytes"}
ZERO_DEFAULT = re.compile(r"[Dd]efault(?:s| is| value is)?(?: to| is)?:? (?:false|0|\"\")\b")
NONZERO_DEFAULT = re.compile(r"[Dd]efault")


def package_of(module: list[str]) -> str:
    return "k8s.io." + ".".join(module)


def openapi_name(package: str, message: str) -> str:
    rest = package.removeprefix("k8s.io.")
    rest = rest.replace("apiextensions_apiserver", "apiextensions-apiserver").replace("kube_aggregator", "kube-aggregator")
    return f"io.k8s.{rest}.{message}"


def proto_message_name(package: str, rust_name: str) -> str:
    """prost renames messages to Rust case (JSONSchemaProps → JsonSchemaProps); the
    Kubernetes name is the OpenAPI definition's of the same package."""
    prefix = openapi_name(package, "")
    for name in OPENAPI_BY_LOWER.get(prefix.lower() + rust_name.lower(), []):
        return name[len(prefix):]
    return rust_name


OPENAPI_BY_LOWER: dict[str, list[str]] = defaultdict(list)
for _name in OPENAPI:
    OPENAPI_BY_LOWER[_name.lower()].append(_name)


def normalize(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def lower_camel(snake: str) -> str:
    head, *tail = snake.split("_")
    return head + "".join(t[:1].upper() + t[1:] for t in tail)


def inner_path(rtype: str) -> str:
    """The message path inside Option<…>, Vec<…>, Box<…> or a map's value."""
    t = re.sub(r"\s+", "", rtype).replace(",>", ">")
    for wrapper in ("::core::option::Option<", "::prost::alloc::vec::Vec<", "::prost::alloc::boxed::Box<"):
        while t.startswith(wrapper):
            t = t[len(wrapper):-1]
    if t.startswith("::prost::alloc::collections::BTreeMap<") or t.startswith("::std::collections::BTreeMap<"):
        t = t[t.index("<") + 1:-1]
        t = t.split(",", 1)[1]
    return t.rstrip(",")


def resolve(path: str, module: list[str]) -> tuple[str, str]:
    parts = path.split("::")
    base = list(module)
    while parts and parts[0] == "super":
        base.pop()
        parts.pop(0)
    if parts and parts[0] == "crate":
        base, parts = [], parts[1:]
    package = package_of(base + parts[:-1])
    return package, proto_message_name(package, parts[-1])


def main() -> None:
    src = Path(sys.argv[1]) / "src"
    packages: dict[str, dict] = {}
    for rs in sorted(src.rglob("mod.rs")):
        module = list(rs.relative_to(src).parent.parts)
        if not module or module[0] == "metrics":
            continue
        text = rs.read_text()
        structs = list(STRUCT_RE.finditer(text))
        if not structs:
            continue
        package = package_of(module)
        messages = []
        for st in structs:
            fields = []
            for f in FIELD_RE.finditer((st.group("body") or "") + "\n"):
                fields.append((f, module))
            messages.append((proto_message_name(package, st.group("name")), fields))
        packages[package] = {"module": module, "messages": messages}

    # Rust field names of every message, to recognise an inlined struct by its fields.
    field_names = {(pkg, m): {normalize(f.group("name")) for f, _ in fs}
                   for pkg, info in packages.items() for m, fs in info["messages"]}
    notes: list[str] = []
    for package, info in sorted(packages.items()):
        imports = set()
        lines = []
        for message, fields in info["messages"]:
            schema = OPENAPI.get(openapi_name(package, message), {})
            props = schema.get("properties", {})
            by_norm = {normalize(p): p for p in props}
            lines.append(f"message {message} {{")
            for f, module in fields:
                kind, kv, rest, tag, rust = f.group("kind"), f.group("kv"), f.group("rest"), f.group("tag"), f.group("name")
                label = "repeated" if "repeated" in rest else "optional"
                json_name = by_norm.get(normalize(rust))
                proto_name = lower_camel(rust)
                full = f"{package}.{message}"
                if kind in ("btree_map", "hash_map", "map"):
                    key, value = [x.strip() for x in kv.split(",")]
                    if value == "message":
                        vpkg, vname = resolve(inner_path(f.group("rtype")), module)
                        if vpkg != package:
                            imports.add(vpkg)
                        value = f".{vpkg}.{vname}"
                    ptype = f"map<{key}, {value}>"
                    label = ""
                elif kind == "message":
                    mpkg, mname = resolve(inner_path(f.group("rtype")), module)
                    if mpkg != package:
                        imports.add(mpkg)
                    ptype = f".{mpkg}.{mname}"
                    inner = field_names.get((mpkg, mname), set())
                    if json_name is None and props and inner & set(by_norm):
                        notes.append(f"{full} {proto_name} inline")
                else:
                    ptype = SCALARS["bytes" if kind == "bytes" else kind]
                if json_name is not None:
                    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", json_name):
                        proto_name = json_name
                    else:
                        notes.append(f"{full} {proto_name} json={json_name}")
                if kind in SCALARS and label == "optional":
                    doc = (props.get(json_name or "", {}) or {}).get("description", "")
                    if ZERO_DEFAULT.search(doc) or not NONZERO_DEFAULT.search(doc) or kind == "string":
                        notes.append(f"{full} {proto_name} omitzero")
                lines.append(f"  {label + ' ' if label else ''}{ptype} {proto_name} = {tag};")
            lines.append("}")
            lines.append("")
        path = HERE / "k8s.io" / Path(*info["module"]) / "generated.proto"
        path.parent.mkdir(parents=True, exist_ok=True)
        header = [
            "// Generated by devcluster/proto/generate.py from the k8s-pb crate (crates.io)",
            "// and devcluster/openapi/kubernetes.json. Do not edit.",
            'syntax = "proto2";',
            f"package {package};",
        ]
        header += [f'import "k8s.io/{"/".join(packages[p]["module"])}/generated.proto";' for p in sorted(imports) if p in packages]
        path.write_text("\n".join(header) + "\n\n" + "\n".join(lines))
    (HERE / "fields.txt").write_text(
        "# generated by generate.py from the k8s-pb crate and ../openapi/kubernetes.json\n" + "\n".join(sorted(set(notes))) + "\n")


main()
