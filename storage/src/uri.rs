//! Storage URIs (`s3://…`, `file:///…`); see [`StorageUri`].

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};

use crate::error::{Result, StorageError};
use crate::key;

/// Storage URIs: how a location in object storage is written in flags, env vars,
/// the `PdfExtraction` status (`result.location`) and logs.
///
/// Two forms:
///
/// - `s3://bucket/key/or/prefix`: an S3 bucket and a key (or prefix) in it.
///   Like the AWS CLI, the key is taken **literally**: `%20` stays `%20`, because
///   `%` is a legal character in an S3 key and the URI must round-trip any key
///   pdfx writes. Korean and other non-ASCII characters, spaces, `?` and `#`
///   are all part of the key.
/// - `file:///absolute/path`: a path on the local file system (single-machine
///   mode and tests). This one is a real URL: its path is percent-decoded
///   (`%20` is a space), so `?` and `#` must be written `%3F` and `%23`. The host
///   must be empty or `localhost`.
///
/// Both map onto a [`crate::Store`] plus a key prefix (see [`crate::Store::from_uri`]):
/// the bucket is the store of an `s3://` URI; for `file://` URIs the whole file
/// system (`/`) plays the bucket and the path, without its leading `/`, is the
/// key. That keeps the two symmetric: the key of `s3://b/x/y.pdf` is `x/y.pdf`,
/// the key of `file:///x/y.pdf` is `x/y.pdf`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StorageUri {
    /// `s3://bucket/key`
    S3 {
        /// The bucket name.
        bucket: String,
        /// The key or prefix in the bucket; may be empty (the whole bucket) and
        /// may end with `/`.
        key: String,
    },
    /// `file:///path`
    File {
        /// The absolute, UTF-8 path; may end with `/`.
        path: PathBuf,
    },
}

/// Characters escaped when printing a `file://` path: what RFC 3986 does not
/// allow in a path, plus `%` itself. Non-ASCII is always escaped.
const PATH_ESCAPES: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b']')
    .add(b'\\')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

impl StorageUri {
    /// Parses `s3://bucket/key` or `file:///abs/path`.
    ///
    /// Refuses (with [`StorageError::InvalidUri`]) an unknown scheme, a missing or
    /// malformed bucket, a relative or host-qualified file path, and any key that
    /// [`crate::key::validate_prefix`] refuses (`..`, empty segments, …).
    pub fn parse(input: &str) -> Result<Self> {
        let bad = |reason: &str| StorageError::InvalidUri {
            uri: input.to_owned(),
            reason: reason.to_owned(),
        };
        let Some((scheme, rest)) = input.split_once("://") else {
            return Err(bad("expected s3://bucket/key or file:///absolute/path"));
        };
        if scheme.eq_ignore_ascii_case("s3") {
            let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(bad("missing bucket name"));
            }
            validate_bucket(bucket).map_err(bad)?;
            key::validate_prefix(key).map_err(|e| bad(&key_reason(&e)))?;
            Ok(StorageUri::S3 {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
            })
        } else if scheme.eq_ignore_ascii_case("file") {
            let path = if rest.starts_with('/') {
                rest
            } else if let Some(path) = rest.strip_prefix("localhost") {
                path
            } else {
                return Err(bad(
                    "a file URI needs an absolute path (file:///path); relative paths and remote hosts are not supported",
                ));
            };
            if !path.starts_with('/') {
                return Err(bad("a file URI needs an absolute path (file:///path)"));
            }
            if path.contains(['?', '#']) {
                return Err(bad(
                    "query and fragment are not allowed; write '?' as %3F and '#' as %23",
                ));
            }
            let decoded = percent_decode_str(path)
                .decode_utf8()
                .map_err(|_| bad("the path is not valid UTF-8 after percent-decoding"))?;
            let relative = &decoded[1..];
            if relative.is_empty() {
                return Err(bad("the file system root is not a storage location"));
            }
            key::validate_prefix(relative).map_err(|e| bad(&key_reason(&e)))?;
            Ok(StorageUri::File {
                path: PathBuf::from(decoded.into_owned()),
            })
        } else {
            Err(bad("unknown scheme; expected s3:// or file://"))
        }
    }

    /// Builds the URI of a local path, which must be absolute and valid UTF-8.
    pub fn from_path(path: &Path) -> Result<Self> {
        let bad = |reason: &str| StorageError::InvalidUri {
            uri: path.display().to_string(),
            reason: reason.to_owned(),
        };
        let text = path
            .to_str()
            .ok_or_else(|| bad("the path is not valid UTF-8"))?;
        let relative = text
            .strip_prefix('/')
            .ok_or_else(|| bad("the path is not absolute"))?;
        if relative.is_empty() {
            return Err(bad("the file system root is not a storage location"));
        }
        key::validate_prefix(relative).map_err(|e| bad(&key_reason(&e)))?;
        Ok(StorageUri::File {
            path: path.to_owned(),
        })
    }

    /// The key (or prefix) this URI designates in its store: the S3 key, or the
    /// file path without its leading `/`.
    pub fn key(&self) -> &str {
        match self {
            StorageUri::S3 { key, .. } => key,
            // Constructed only from UTF-8 paths that start with '/'.
            StorageUri::File { path } => path
                .to_str()
                .map(|p| p.strip_prefix('/').unwrap_or(p))
                .unwrap_or_default(),
        }
    }

    /// The URI of `name` under this one, with exactly one `/` between them
    /// (see [`crate::key::join`]); e.g. the output prefix joined with `result.json`.
    pub fn join(&self, name: &str) -> Result<Self> {
        let joined = match self {
            StorageUri::S3 { bucket, key } => StorageUri::S3 {
                bucket: bucket.clone(),
                key: key::join(key, name),
            },
            StorageUri::File { .. } => StorageUri::File {
                path: PathBuf::from(format!("/{}", key::join(self.key(), name))),
            },
        };
        key::validate_prefix(joined.key()).map_err(|e| StorageError::InvalidUri {
            uri: joined.to_string(),
            reason: key_reason(&e),
        })?;
        Ok(joined)
    }
}

impl fmt::Display for StorageUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageUri::S3 { bucket, key } if key.is_empty() => write!(f, "s3://{bucket}"),
            StorageUri::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
            StorageUri::File { path } => {
                let text = path.to_string_lossy();
                write!(f, "file://{}", utf8_percent_encode(&text, PATH_ESCAPES))
            }
        }
    }
}

impl FromStr for StorageUri {
    type Err = StorageError;

    fn from_str(s: &str) -> Result<Self> {
        StorageUri::parse(s)
    }
}

/// S3 bucket naming rules, slightly relaxed for S3-compatible servers (which
/// accept `_`): 3–63 characters of lowercase letters, digits, `.`, `-` and `_`,
/// starting and ending with a letter or digit.
fn validate_bucket(bucket: &str) -> std::result::Result<(), &'static str> {
    if !(3..=63).contains(&bucket.len()) {
        return Err("a bucket name has 3 to 63 characters");
    }
    if !bucket
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'_'))
    {
        return Err("a bucket name has only lowercase letters, digits, '.', '-' and '_'");
    }
    let alnum = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !alnum(bucket.bytes().next()) || !alnum(bucket.bytes().last()) {
        return Err("a bucket name starts and ends with a letter or digit");
    }
    Ok(())
}

fn key_reason(err: &StorageError) -> String {
    match err {
        StorageError::InvalidKey { reason, .. } => format!("invalid key: {reason}"),
        other => other.to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn s3(bucket: &str, key: &str) -> StorageUri {
        StorageUri::S3 {
            bucket: bucket.into(),
            key: key.into(),
        }
    }

    #[test]
    fn parses_s3() {
        assert_eq!(StorageUri::parse("s3://bucket").unwrap(), s3("bucket", ""));
        assert_eq!(StorageUri::parse("s3://bucket/").unwrap(), s3("bucket", ""));
        assert_eq!(
            StorageUri::parse("s3://my-bucket/extractions/ns/x/").unwrap(),
            s3("my-bucket", "extractions/ns/x/")
        );
        assert_eq!(
            StorageUri::parse("S3://b.c-d/a.pdf").unwrap(),
            s3("b.c-d", "a.pdf")
        );
    }

    #[test]
    fn s3_keys_are_literal_like_the_aws_cli() {
        assert_eq!(
            StorageUri::parse("s3://bucket/문서/보고서 1.pdf").unwrap(),
            s3("bucket", "문서/보고서 1.pdf")
        );
        assert_eq!(
            StorageUri::parse("s3://bucket/a%20b.pdf").unwrap(),
            s3("bucket", "a%20b.pdf")
        );
        assert_eq!(
            StorageUri::parse("s3://bucket/what?#.pdf").unwrap(),
            s3("bucket", "what?#.pdf")
        );
    }

    #[test]
    fn parses_file() {
        assert_eq!(
            StorageUri::parse("file:///var/lib/pdfx/").unwrap(),
            StorageUri::File {
                path: "/var/lib/pdfx/".into()
            }
        );
        assert_eq!(
            StorageUri::parse("file://localhost/data/x.pdf").unwrap(),
            StorageUri::File {
                path: "/data/x.pdf".into()
            }
        );
        let korean = StorageUri::parse("file:///data/%EB%AC%B8%EC%84%9C/a%20b.pdf").unwrap();
        assert_eq!(
            korean,
            StorageUri::File {
                path: "/data/문서/a b.pdf".into()
            }
        );
        assert_eq!(korean.key(), "data/문서/a b.pdf");
        // Raw (unencoded) Korean and spaces are accepted too.
        assert_eq!(
            StorageUri::parse("file:///data/문서/a b.pdf").unwrap(),
            korean
        );
    }

    #[test]
    fn refuses_malformed() {
        for uri in [
            "",
            "bucket/key",
            "s3:/bucket/key",
            "s3://",
            "s3:///key",
            "s3://ab/key",
            "s3://Bucket/key",
            "s3://-bucket/key",
            "s3://bucket//key",
            "s3://bucket/a/../b",
            "s3://bucket/a\nb",
            "gs://bucket/key",
            "http://example.com/x.pdf",
            "file://relative/path",
            "file:relative/path",
            "file://",
            "file:///",
            "file://otherhost/data",
            "file:///data/x?y",
            "file:///data/x#y",
            "file:///data/../etc/passwd",
            "file:///data/%2e%2e/etc",
            "file:///data/%FF",
        ] {
            let err = StorageUri::parse(uri).expect_err(uri);
            assert!(
                matches!(err, StorageError::InvalidUri { .. }),
                "{uri:?}: {err}"
            );
        }
    }

    #[test]
    fn display_round_trips() {
        for uri in [
            s3("bucket", ""),
            s3("bucket", "문서/보고서 1.pdf"),
            s3("bucket", "a%20b/"),
            StorageUri::File {
                path: "/data/문서/a b%?#.pdf".into(),
            },
        ] {
            let text = uri.to_string();
            assert_eq!(StorageUri::parse(&text).unwrap(), uri, "{text}");
        }
        assert_eq!(
            StorageUri::File {
                path: "/data/a b.pdf".into()
            }
            .to_string(),
            "file:///data/a%20b.pdf"
        );
    }

    #[test]
    fn joins() {
        let out = StorageUri::parse("s3://bucket/extractions/ns/x/").unwrap();
        assert_eq!(
            out.join("result.json").unwrap().to_string(),
            "s3://bucket/extractions/ns/x/result.json"
        );
        let out = StorageUri::parse("file:///srv/pdfx").unwrap();
        assert_eq!(
            out.join("result.json").unwrap(),
            StorageUri::File {
                path: "/srv/pdfx/result.json".into()
            }
        );
        assert!(out.join("../x").is_err());
        assert_eq!(
            StorageUri::from_path(Path::new("/srv/pdfx")).unwrap(),
            StorageUri::parse("file:///srv/pdfx").unwrap()
        );
        assert!(StorageUri::from_path(Path::new("relative")).is_err());
    }
}
