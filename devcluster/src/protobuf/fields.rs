//! What the .proto files cannot say about an API type's JSON form, read from the Go
//! crate's messages and the OpenAPI document by proto/generate.py into proto/fields.txt.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

/// Per-field JSON facts, keyed by `(message full name, proto field name)`.
#[derive(Default)]
pub struct Fields {
    /// Embedded structs whose fields the JSON form flattens into the parent.
    inline: HashSet<(String, String)>,
    /// JSON names that differ from the proto names.
    renamed: HashMap<(String, String), String>,
    /// Non-pointer `omitempty` scalars: written by protobuf always, omitted by JSON when zero.
    omitzero: HashSet<(String, String)>,
}

impl Fields {
    fn parse(text: &str) -> Self {
        let mut f = Fields::default();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let mut parts = line.split_whitespace();
            let (Some(msg), Some(field), Some(fact)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let key = (msg.to_string(), field.to_string());
            match fact {
                "inline" => {
                    f.inline.insert(key);
                }
                "omitzero" => {
                    f.omitzero.insert(key);
                }
                other => {
                    if let Some(name) = other.strip_prefix("json=") {
                        f.renamed.insert(key, name.to_string());
                    }
                }
            }
        }
        f
    }

    /// The table generated with the protos.
    pub fn get() -> &'static Fields {
        static FIELDS: OnceLock<Fields> = OnceLock::new();
        FIELDS.get_or_init(|| Fields::parse(include_str!("../../proto/fields.txt")))
    }

    fn key(msg: &str, field: &str) -> (String, String) {
        (msg.to_string(), field.to_string())
    }

    /// Whether the field is an inlined embedded struct.
    pub fn is_inline(&self, msg: &str, field: &str) -> bool {
        self.inline.contains(&Self::key(msg, field))
    }

    /// The field's JSON name.
    pub fn json_name<'a>(&'a self, msg: &str, field: &'a str) -> &'a str {
        self.renamed
            .get(&Self::key(msg, field))
            .map_or(field, String::as_str)
    }

    /// Whether a zero value of this scalar field is left out of the JSON.
    pub fn omit_zero(&self, msg: &str, field: &str) -> bool {
        self.omitzero.contains(&Self::key(msg, field))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn table_knows_object_meta_and_inlined_volume_sources() {
        let f = Fields::get();
        let meta = "k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta";
        assert!(f.omit_zero(meta, "generateName"));
        assert!(!f.omit_zero("k8s.io.api.batch.v1.JobSpec", "backoffLimit"));
        assert!(f.is_inline("k8s.io.api.core.v1.Volume", "volumeSource"));
        // Keys that are no proto identifiers.
        let props = "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps";
        assert_eq!(f.json_name(props, "ref"), "$ref");
        assert_eq!(
            f.json_name(props, "xKubernetesPreserveUnknownFields"),
            "x-kubernetes-preserve-unknown-fields"
        );
        // A pointer whose zero differs from its documented default keeps it.
        assert!(!f.omit_zero(
            "k8s.io.api.core.v1.PodSpec",
            "terminationGracePeriodSeconds"
        ));
        assert!(f.omit_zero("k8s.io.api.core.v1.Container", "stdin"));
        assert_eq!(f.json_name(meta, "name"), "name");
    }
}
