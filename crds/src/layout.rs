//! Where an extraction's objects live in storage (docs/architecture.md, "Storage layout").
//!
//! Everything the runner writes, the operator mirrors and the gateway serves is
//! addressed through [`ExtractionLayout`], so the three agree by construction.

/// Object name of a gateway upload, under the extraction's prefix.
pub const SOURCE_PDF: &str = "source.pdf";
/// Name prefix of a gateway upload with its own id (`source-<id>.pdf`): two
/// racing uploads for one idempotency key never overwrite each other.
const UPLOAD_STEM: &str = "source-";
/// Folder under which every extraction's default prefix sits.
pub const EXTRACTIONS_DIR: &str = "extractions/";
/// Folder of per-page checkpoints.
pub const PAGES_DIR: &str = "pages/";
/// Progress written by the runner at most once a second.
pub const PROGRESS_JSON: &str = "progress.json";
/// The assembled result; its existence means the extraction is done.
pub const RESULT_JSON: &str = "result.json";
/// Plain text, pages separated by form feeds.
pub const RESULT_TXT: &str = "result.txt";
/// What the page checkpoints were made from (source digest and options); a
/// rerun whose source or options differ starts over instead of mixing results.
pub const CHECKPOINT_JSON: &str = "checkpoint.json";

/// The default output prefix of an extraction within the configured bucket.
pub fn default_prefix(namespace: &str, name: &str) -> String {
    format!("{EXTRACTIONS_DIR}{namespace}/{name}/")
}

/// The namespace and name of the extraction a gateway upload belongs to, when
/// `key` is one (`extractions/<ns>/<name>/source.pdf` or `…/source-<id>.pdf`);
/// what the gateway's sweep of orphaned uploads looks for.
pub fn parse_upload_key(key: &str) -> Option<(&str, &str)> {
    let rest = key.strip_prefix(EXTRACTIONS_DIR)?;
    let mut parts = rest.split('/');
    let (namespace, name, file) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || namespace.is_empty() || name.is_empty() || !is_upload_name(file) {
        return None;
    }
    Some((namespace, name))
}

fn is_upload_name(file: &str) -> bool {
    file == SOURCE_PDF
        || file
            .strip_prefix(UPLOAD_STEM)
            .and_then(|rest| rest.strip_suffix(".pdf"))
            .is_some_and(|id| {
                !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
}

/// A prefix that ends in exactly one `/` (or is empty: the bucket root).
pub fn normalize_prefix(prefix: &str) -> String {
    let trimmed = prefix.trim_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("{trimmed}/")
    }
}

/// Object name of a page checkpoint, relative to the prefix: `pages/000001.json`.
/// Six digits keep listings in page order for every realistic document.
pub fn page_object(page: u32) -> String {
    format!("{PAGES_DIR}{page:06}.json")
}

/// The page number of a checkpoint object name (relative or full key), if it is one.
pub fn parse_page_object(key: &str) -> Option<u32> {
    let name = key.rsplit('/').next()?;
    let digits = name.strip_suffix(".json")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|&page| page > 0)
}

/// The keys of one extraction's objects under its output prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtractionLayout {
    prefix: String,
}

impl ExtractionLayout {
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: normalize_prefix(prefix),
        }
    }

    /// The layout of an extraction writing to the default prefix.
    pub fn for_resource(namespace: &str, name: &str) -> Self {
        Self::new(&default_prefix(namespace, name))
    }

    /// The prefix, with a trailing `/` unless it is the bucket root.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn source_pdf(&self) -> String {
        format!("{}{SOURCE_PDF}", self.prefix)
    }

    /// A gateway upload with its own id; `id` is alphanumeric or `-`.
    pub fn upload(&self, id: &str) -> String {
        format!("{}{UPLOAD_STEM}{id}.pdf", self.prefix)
    }

    /// Whether `key` is a gateway upload directly under this prefix.
    pub fn is_upload(&self, key: &str) -> bool {
        key.strip_prefix(self.prefix.as_str())
            .is_some_and(|file| !file.contains('/') && is_upload_name(file))
    }

    pub fn pages_prefix(&self) -> String {
        format!("{}{PAGES_DIR}", self.prefix)
    }

    pub fn page(&self, page: u32) -> String {
        format!("{}{}", self.prefix, page_object(page))
    }

    pub fn progress(&self) -> String {
        format!("{}{PROGRESS_JSON}", self.prefix)
    }

    pub fn result_json(&self) -> String {
        format!("{}{RESULT_JSON}", self.prefix)
    }

    pub fn result_txt(&self) -> String {
        format!("{}{RESULT_TXT}", self.prefix)
    }

    pub fn checkpoint(&self) -> String {
        format!("{}{CHECKPOINT_JSON}", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sit_under_one_normalized_prefix() {
        let layout = ExtractionLayout::new("/extractions/team-a/report//");
        assert_eq!(layout.prefix(), "extractions/team-a/report/");
        assert_eq!(
            layout.page(7),
            "extractions/team-a/report/pages/000007.json"
        );
        assert_eq!(
            layout.result_json(),
            "extractions/team-a/report/result.json"
        );
        assert_eq!(layout.source_pdf(), "extractions/team-a/report/source.pdf");
        assert_eq!(ExtractionLayout::new("").progress(), "progress.json");
        assert_eq!(
            ExtractionLayout::for_resource("ns", "doc").prefix(),
            "extractions/ns/doc/"
        );
    }

    #[test]
    fn uploads_are_recognised_under_their_own_prefix_only() {
        let layout = ExtractionLayout::for_resource("team-a", "doc");
        let upload = layout.upload("3f2a-77");
        assert_eq!(upload, "extractions/team-a/doc/source-3f2a-77.pdf");
        assert!(layout.is_upload(&upload));
        assert!(layout.is_upload(&layout.source_pdf()));
        assert_eq!(parse_upload_key(&upload), Some(("team-a", "doc")));
        let other = ExtractionLayout::for_resource("team-a", "doc2");
        assert!(!other.is_upload(&upload));
        for not_upload in [
            "extractions/team-a/doc/result.json",
            "extractions/team-a/doc/pages/source-1.pdf",
            "extractions/team-a/doc/source-.pdf",
            "extractions/team-a/doc/source-a/b.pdf",
            "mine/team-a/doc/source-1.pdf",
            "extractions/team-a/source-1.pdf",
        ] {
            assert!(!layout.is_upload(not_upload), "{not_upload}");
            assert_eq!(parse_upload_key(not_upload), None, "{not_upload}");
        }
    }

    #[test]
    fn page_objects_parse_back_and_others_do_not() {
        assert_eq!(parse_page_object("x/pages/000123.json"), Some(123));
        assert_eq!(parse_page_object(&page_object(1_234_567)), Some(1_234_567));
        for other in [
            "pages/abc.json",
            "pages/.json",
            "pages/000000.json",
            "pages/1.txt",
            "result.json",
        ] {
            assert_eq!(parse_page_object(other), None, "{other}");
        }
    }
}
