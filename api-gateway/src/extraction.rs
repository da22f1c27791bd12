//! The pure step of a submission: names and the `PdfExtraction` an upload
//! becomes. Only the handler touches storage and the API.

use std::collections::BTreeMap;

use pdfx_crd::layout::ExtractionLayout;
use pdfx_crd::{OcrOptions, PdfExtraction, PdfExtractionSpec, Source, StorageObject};
use sha2::{Digest, Sha256};

/// Label: the tenant (= namespace) a task belongs to.
pub const LABEL_TENANT: &str = "pdfx.dev/tenant";
/// Label: who created the resource (`gateway`).
pub const LABEL_ORIGIN: &str = "pdfx.dev/origin";
pub const ORIGIN_GATEWAY: &str = "gateway";
/// Label: the hash of the `Idempotency-Key` (the resource name is derived from it too).
pub const LABEL_IDEMPOTENCY: &str = "pdfx.dev/idempotency-key-hash";
pub use pdfx_crd::rest::ANNOTATION_FILENAME;
pub const ANNOTATION_SIZE: &str = "pdfx.dev/size-bytes";
pub const ANNOTATION_SHA256: &str = "pdfx.dev/sha256";
pub const ANNOTATION_UPLOAD: &str = "pdfx.dev/upload-id";

/// Longest accepted `Idempotency-Key`.
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

/// A fresh task id (the resource name): `t` and 32 hex digits.
pub fn new_task_id() -> String {
    format!("t{}", uuid::Uuid::new_v4().simple())
}

/// The task id of an idempotent submission: the same tenant and key always
/// give the same name, so that the API server's AlreadyExists decides a race.
pub fn idempotent_task_id(tenant: &str, key: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(tenant.as_bytes());
    hash.update([0]);
    hash.update(key.as_bytes());
    let digest = hex::encode(hash.finalize());
    format!("k{}", &digest[..32])
}

/// A fresh upload id: its own object per attempt, so racing uploads of one
/// idempotency key never overwrite each other.
pub fn new_upload_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// What an accepted upload is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub upload_id: String,
    /// Key relative to the storage URL (what `spec.source.storage.key` holds).
    pub key: String,
    pub size: u64,
    pub sha256: String,
    pub filename: Option<String>,
}

/// The upload's key relative to the storage URL.
pub fn upload_key(namespace: &str, task_id: &str, upload_id: &str) -> String {
    ExtractionLayout::for_resource(namespace, task_id).upload(upload_id)
}

/// The resource for an accepted upload.
pub fn extraction_for(
    namespace: &str,
    task_id: &str,
    upload: &Upload,
    ocr: OcrOptions,
    idempotency_key: Option<&str>,
) -> PdfExtraction {
    let spec = PdfExtractionSpec {
        source: Source::Storage(StorageObject {
            key: upload.key.clone(),
        }),
        output: None,
        ocr,
        resources: None,
        ttl_seconds_after_finished: None,
    };
    let mut resource = PdfExtraction::new(task_id, spec);
    resource.metadata.namespace = Some(namespace.to_owned());
    let mut labels = BTreeMap::from([
        (LABEL_TENANT.to_owned(), namespace.to_owned()),
        (LABEL_ORIGIN.to_owned(), ORIGIN_GATEWAY.to_owned()),
    ]);
    if idempotency_key.is_some() {
        // The name already is the hash; the label makes such tasks selectable.
        labels.insert(LABEL_IDEMPOTENCY.to_owned(), task_id.to_owned());
    }
    resource.metadata.labels = Some(labels);
    let mut annotations = BTreeMap::from([
        (ANNOTATION_SIZE.to_owned(), upload.size.to_string()),
        (ANNOTATION_SHA256.to_owned(), upload.sha256.clone()),
        (ANNOTATION_UPLOAD.to_owned(), upload.upload_id.clone()),
    ]);
    if let Some(name) = &upload.filename {
        annotations.insert(ANNOTATION_FILENAME.to_owned(), name.clone());
    }
    resource.metadata.annotations = Some(annotations);
    resource
}

/// A client's file name as an annotation value: no control characters, at most
/// 255 characters (annotations are small).
pub fn clean_filename(name: &str) -> Option<String> {
    let cleaned: String = name.chars().filter(|c| !c.is_control()).take(255).collect();
    let cleaned = cleaned.trim().to_owned();
    (!cleaned.is_empty()).then_some(cleaned)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn idempotent_ids_depend_on_tenant_and_key_only() {
        let a = idempotent_task_id("team-a", "order-1");
        assert_eq!(a, idempotent_task_id("team-a", "order-1"));
        assert_ne!(a, idempotent_task_id("team-b", "order-1"));
        assert_ne!(a, idempotent_task_id("team-a", "order-2"));
        // "ab"+"c" and "a"+"bc" must not collide.
        assert_ne!(idempotent_task_id("ab", "c"), idempotent_task_id("a", "bc"));
        assert_eq!(a.len(), 33);
        assert!(new_task_id().starts_with('t') && new_task_id().len() == 33);
        assert_ne!(new_upload_id(), new_upload_id());
    }

    #[test]
    fn the_resource_points_at_its_upload_and_says_where_it_came_from() {
        let upload = Upload {
            upload_id: "u1".into(),
            key: upload_key("team-a", "t1", "u1"),
            size: 42,
            sha256: "ab".repeat(32),
            filename: clean_filename("보고서.pdf"),
        };
        assert_eq!(upload.key, "extractions/team-a/t1/source-u1.pdf");
        let r = extraction_for("team-a", "t1", &upload, OcrOptions::default(), None);
        assert_eq!(r.metadata.name.as_deref(), Some("t1"));
        assert_eq!(r.metadata.namespace.as_deref(), Some("team-a"));
        assert_eq!(
            r.spec.source,
            Source::Storage(StorageObject {
                key: upload.key.clone()
            })
        );
        let labels = r.metadata.labels.clone().unwrap();
        assert_eq!(labels[LABEL_TENANT], "team-a");
        assert_eq!(labels[LABEL_ORIGIN], "gateway");
        assert!(!labels.contains_key(LABEL_IDEMPOTENCY));
        let annotations = r.metadata.annotations.unwrap();
        assert_eq!(annotations[ANNOTATION_FILENAME], "보고서.pdf");
        assert_eq!(annotations[ANNOTATION_SIZE], "42");
        assert_eq!(annotations[ANNOTATION_SHA256], "ab".repeat(32));
        let keyed = extraction_for("team-a", "kabc", &upload, OcrOptions::default(), Some("x"));
        assert_eq!(keyed.metadata.labels.unwrap()[LABEL_IDEMPOTENCY], "kabc");
    }

    #[test]
    fn file_names_are_cleaned() {
        assert_eq!(clean_filename(" a\nb.pdf "), Some("ab.pdf".into()));
        assert_eq!(clean_filename("\n"), None);
        assert_eq!(clean_filename(&"x".repeat(300)).unwrap().len(), 255);
    }
}
