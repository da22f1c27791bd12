//! The checked-in CRD must be exactly what the types generate, and must carry
//! what `kubectl` users and the API server rely on.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use pdfx_crd::{OcrEngine, OcrMode, PdfExtraction, Source};
use serde_json::Value;

const CHECKED_IN: &str = include_str!("../pdfextraction.yaml");

/// Manifests are read the way kubectl sends them: YAML to JSON, then typed.
fn from_yaml(text: &str) -> Result<PdfExtraction, serde_json::Error> {
    let value: Value = serde_yaml::from_str(text).unwrap();
    serde_json::from_value(value)
}

fn generated() -> Value {
    serde_json::to_value(pdfx_crd::crd::crd()).unwrap()
}

fn schema() -> Value {
    generated()["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
}

#[test]
fn checked_in_yaml_matches_the_types() {
    let fresh = pdfx_crd::crd::crd_yaml().unwrap();
    assert!(
        fresh == CHECKED_IN,
        "crds/pdfextraction.yaml is stale: run `cargo run -p pdfx-crd --bin crdgen > crds/pdfextraction.yaml`"
    );
}

#[test]
fn names_scope_and_subresources() {
    let crd = generated();
    let spec = &crd["spec"];
    assert_eq!(crd["metadata"]["name"], "pdfextractions.pdfx.dev");
    assert_eq!(spec["group"], "pdfx.dev");
    assert_eq!(spec["scope"], "Namespaced");
    assert_eq!(spec["names"]["plural"], "pdfextractions");
    assert_eq!(spec["names"]["kind"], "PdfExtraction");
    assert_eq!(spec["names"]["shortNames"], serde_json::json!(["pdfx"]));
    assert_eq!(spec["names"]["categories"], serde_json::json!(["pdfx"]));
    let version = &spec["versions"][0];
    assert_eq!(version["name"], "v1alpha1");
    assert_eq!(version["served"], true);
    assert_eq!(version["storage"], true);
    assert_eq!(version["subresources"]["status"], serde_json::json!({}));
}

#[test]
fn printer_columns() {
    let columns = generated()["spec"]["versions"][0]["additionalPrinterColumns"].clone();
    let names: Vec<&str> = columns
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["Phase", "Progress", "Pages", "Attempts", "Reason", "Age"]
    );
    let path = |name: &str| {
        columns
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap()["jsonPath"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(path("Phase"), ".status.phase");
    assert_eq!(path("Progress"), ".status.progress.percent");
    assert_eq!(path("Age"), ".metadata.creationTimestamp");
}

#[test]
fn spec_validation_rules() {
    let spec = schema()["properties"]["spec"].clone();
    assert_eq!(spec["required"], serde_json::json!(["source"]));
    assert_eq!(
        spec["x-kubernetes-validations"][0]["rule"],
        "self == oldSelf"
    );

    let source = &spec["properties"]["source"];
    let one_of: Vec<Value> = source["oneOf"].as_array().unwrap().clone();
    assert_eq!(
        one_of,
        vec![
            serde_json::json!({"required": ["s3"]}),
            serde_json::json!({"required": ["url"]}),
            serde_json::json!({"required": ["storage"]})
        ]
    );
    assert_eq!(source["properties"]["url"]["pattern"], "^https://[^\\s]+$");

    let ocr = &spec["properties"]["ocr"]["properties"];
    assert_eq!(ocr["dpi"]["minimum"], 72.0);
    assert_eq!(ocr["dpi"]["maximum"], 600.0);
    assert_eq!(ocr["dpi"]["default"], 300);
    assert_eq!(
        ocr["mode"]["enum"],
        serde_json::json!(["auto", "always", "never"])
    );
    assert_eq!(
        ocr["engine"]["enum"],
        serde_json::json!(["tesseract", "http"])
    );
    assert_eq!(ocr["pages"]["pattern"], pdfx_crd::PAGE_RANGE_PATTERN);
    assert_eq!(
        ocr["languages"]["items"]["pattern"],
        pdfx_crd::LANGUAGE_PATTERN
    );
    assert_eq!(ocr["languages"]["default"], serde_json::json!(["eng"]));
    assert_eq!(
        spec["properties"]["resources"]["properties"]["memory"]["pattern"],
        pdfx_crd::QUANTITY_PATTERN
    );
}

/// `kubectl explain` shows these descriptions; every spec field must have one.
#[test]
fn every_spec_field_is_documented() {
    fn walk(path: &str, node: &Value, missing: &mut Vec<String>) {
        if let Some(props) = node.get("properties").and_then(Value::as_object) {
            for (name, child) in props {
                let child_path = format!("{path}.{name}");
                if child
                    .get("description")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
                {
                    missing.push(child_path.clone());
                }
                walk(&child_path, child, missing);
            }
        }
        if let Some(items) = node.get("items") {
            walk(&format!("{path}[]"), items, missing);
        }
    }
    let mut missing = Vec::new();
    walk("spec", &schema()["properties"]["spec"], &mut missing);
    assert!(
        missing.is_empty(),
        "fields without a description: {missing:?}"
    );
}

#[test]
fn the_example_manifest_parses_with_defaults() {
    let example = from_yaml(include_str!("../examples/scanned-report.yaml")).unwrap();
    assert!(
        matches!(&example.spec.source, Source::S3(o) if o.key == "보고서/2026-11 분기 보고서.pdf")
    );
    assert_eq!(example.spec.ocr.languages, ["kor", "eng"]);
    assert_eq!(example.spec.ocr.mode, OcrMode::Auto);
    assert_eq!(example.spec.ocr.engine, OcrEngine::Tesseract);

    let minimal = from_yaml(
        "apiVersion: pdfx.dev/v1alpha1\nkind: PdfExtraction\nmetadata: {name: a}\nspec:\n  source: {url: 'https://example.com/a.pdf'}\n",
    )
    .unwrap();
    assert_eq!(minimal.spec.ocr.dpi, 300);
    assert_eq!(minimal.spec.ocr.languages, ["eng"]);
}

#[test]
fn a_source_with_two_kinds_does_not_deserialize() {
    let two = "apiVersion: pdfx.dev/v1alpha1\nkind: PdfExtraction\nmetadata: {name: a}\nspec:\n  source: {url: 'https://x/a.pdf', storage: {key: k}}\n";
    assert!(from_yaml(two).is_err());
}
