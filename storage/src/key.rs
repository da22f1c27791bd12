//! Object keys: what this crate accepts, and how to build them.
//!
//! Keys are `/`-separated UTF-8 paths such as `extractions/ns/name/pages/000001.json`
//! or `문서/보고서 1.pdf`. The rules are the same on both backends (rather than
//! S3's "anything goes") so that a key that works in a local test works on S3 and
//! vice versa, and so that the local backend can map a key to a path under its
//! root without ever escaping it:
//!
//! - not empty, at most 1024 bytes (S3's limit);
//! - no leading `/`, no empty segment (`a//b`), no trailing `/` on a key;
//! - no `.` or `..` segment;
//! - no segment longer than 255 bytes (a file name's limit on Linux);
//! - no control characters (they break S3's XML listings and terminals);
//! - no segment starting with `.pdfx-tmp-`, reserved for the local backend's
//!   temporary files.
//!
//! A *prefix* (for [`crate::Store::list`] and [`crate::Store::delete_prefix`])
//! may also be empty (everything) and may end with `/`. Its last segment may be
//! partial (`pages/0000` matches `pages/000001.json`).

use crate::error::{Result, StorageError};

/// S3's maximum key length in bytes.
pub const MAX_KEY_LEN: usize = 1024;
/// The longest segment allowed (Linux `NAME_MAX`).
pub const MAX_SEGMENT_LEN: usize = 255;
/// File names starting with this are the local backend's temporary files.
pub(crate) const TMP_MARKER: &str = ".pdfx-tmp-";

/// Checks an object key against the rules in the [module docs](self).
pub fn validate_key(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(invalid(key, "empty key"));
    }
    if key.ends_with('/') {
        return Err(invalid(key, "a key must not end with '/'"));
    }
    validate_common(key)
}

/// Checks a listing/deletion prefix: like [`validate_key`], but it may be empty
/// and may end with `/`.
pub fn validate_prefix(prefix: &str) -> Result<()> {
    if prefix.is_empty() {
        return Ok(());
    }
    validate_common(prefix.strip_suffix('/').unwrap_or(prefix)).map_err(|e| match e {
        StorageError::InvalidKey { reason, .. } => invalid(prefix, reason),
        other => other,
    })
}

fn validate_common(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(invalid(key, "empty segment"));
    }
    if key.len() > MAX_KEY_LEN {
        return Err(invalid(key, "longer than 1024 bytes"));
    }
    if key.starts_with('/') {
        return Err(invalid(key, "absolute keys are not allowed"));
    }
    if key.chars().any(char::is_control) {
        return Err(invalid(key, "control characters are not allowed"));
    }
    for segment in key.split('/') {
        match segment {
            "" => return Err(invalid(key, "empty segment")),
            "." | ".." => return Err(invalid(key, "'.' and '..' segments are not allowed")),
            s if s.len() > MAX_SEGMENT_LEN => {
                return Err(invalid(key, "a segment is longer than 255 bytes"));
            }
            s if s.starts_with(TMP_MARKER) => {
                return Err(invalid(
                    key,
                    "segments starting with '.pdfx-tmp-' are reserved",
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

fn invalid(key: &str, reason: &'static str) -> StorageError {
    StorageError::InvalidKey {
        key: key.to_owned(),
        reason,
    }
}

/// Joins a prefix and a relative name with exactly one `/` between them:
/// `join("extractions/ns/x/", "result.json")` and `join("extractions/ns/x", "result.json")`
/// both give `extractions/ns/x/result.json`; an empty prefix gives the name.
/// Does not validate: the store validates every key it is given.
pub fn join(prefix: &str, name: &str) -> String {
    let name = name.trim_start_matches('/');
    if prefix.is_empty() {
        name.to_owned()
    } else if prefix.ends_with('/') {
        format!("{prefix}{name}")
    } else {
        format!("{prefix}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_keys() {
        for key in [
            "a",
            "source.pdf",
            "extractions/ns/name/pages/000001.json",
            "문서/보고서 1.pdf",
            "with space/and+plus & percent%20.txt",
            ".hidden/file",
        ] {
            assert!(validate_key(key).is_ok(), "{key}");
        }
    }

    #[test]
    fn rejects_bad_keys() {
        let long_segment = "x".repeat(256);
        let long_key = "a/".repeat(600);
        for key in [
            "",
            "/abs",
            "a//b",
            "a/",
            "..",
            "a/../b",
            "./a",
            "a/.",
            "a\nb",
            "nul\0",
            ".pdfx-tmp-123",
            long_segment.as_str(),
            long_key.as_str(),
        ] {
            assert!(
                matches!(validate_key(key), Err(StorageError::InvalidKey { .. })),
                "{key:?} should be refused"
            );
        }
    }

    #[test]
    fn prefixes() {
        for prefix in ["", "a/", "a", "pages/0000", "문서/"] {
            assert!(validate_prefix(prefix).is_ok(), "{prefix}");
        }
        for prefix in ["/", "/a", "a//", "a//b/", "../", "a/../"] {
            assert!(validate_prefix(prefix).is_err(), "{prefix:?}");
        }
    }

    #[test]
    fn joins() {
        assert_eq!(join("", "a.json"), "a.json");
        assert_eq!(join("p", "a.json"), "p/a.json");
        assert_eq!(join("p/", "a.json"), "p/a.json");
        assert_eq!(join("p/", "/a.json"), "p/a.json");
    }
}
