//! Where an extraction's objects live in storage (docs/architecture.md, "Storage layout").
//!
//! Everything the runner writes, the operator mirrors and the gateway serves is
//! addressed through [`ExtractionLayout`], so the three agree by construction.

/// Object name of a gateway upload, under the extraction's prefix.
pub const SOURCE_PDF: &str = "source.pdf";
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
    format!("extractions/{namespace}/{name}/")
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
