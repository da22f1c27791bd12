//! One behaviour suite, run against both backends: an S3 server (s3s-fs via
//! pdfx-testkit, over loopback, with SigV4) and a local directory. Each test is
//! written once as `async fn name(fx: Fixture)` and instantiated twice by
//! `suite!`, so the backends cannot drift apart unnoticed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use pdfx_storage::s3::PART_SIZE;
use pdfx_storage::{StorageError, Store};
use pdfx_testkit::{S3Server, failing_body, generated_body, generated_bytes};
use sha2::{Digest, Sha256};
use tempfile::TempDir;

/// A store under test plus what keeps it alive.
struct Fixture {
    store: Store,
    /// Set for S3: the server, to inspect open multipart uploads.
    server: Option<S3Server>,
    /// Scratch space for downloads (and the local store's root).
    scratch: TempDir,
}

impl Fixture {
    fn is_s3(&self) -> bool {
        self.server.is_some()
    }

    fn scratch(&self, name: &str) -> PathBuf {
        self.scratch.path().join(name)
    }

    /// Nothing half-written is left: no open multipart upload on S3, no
    /// temporary file in the local store.
    fn assert_no_leftovers(&self) {
        match &self.server {
            Some(server) => assert_eq!(server.open_multipart_uploads().unwrap(), 0),
            None => {
                let tmp = walk(&self.scratch.path().join("store"))
                    .into_iter()
                    .filter(|p| p.to_string_lossy().contains(".pdfx-tmp-"))
                    .collect::<Vec<_>>();
                assert!(tmp.is_empty(), "temporary files left: {tmp:?}");
            }
        }
    }
}

async fn s3_fixture() -> Fixture {
    let server = S3Server::start().unwrap();
    let mut config = server.config();
    // Small pages and batches so that a few dozen keys exercise pagination of
    // ListObjectsV2 and batching of DeleteObjects.
    config.list_page_size = Some(7);
    config.delete_batch_size = Some(5);
    let store = server.store_with("pdfx-test", config).await.unwrap();
    Fixture {
        store,
        server: Some(server),
        scratch: TempDir::new().unwrap(),
    }
}

async fn local_fixture() -> Fixture {
    let scratch = TempDir::new().unwrap();
    Fixture {
        store: Store::local(scratch.path().join("store")),
        server: None,
        scratch,
    }
}

macro_rules! suite {
    ($($name:ident),* $(,)?) => {
        mod s3 {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::init_tracing();
                    super::$name(super::s3_fixture().await).await;
                }
            )*
        }
        mod local {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::init_tracing();
                    super::$name(super::local_fixture().await).await;
                }
            )*
        }
    };
}

suite!(
    put_get_roundtrip,
    streamed_multipart_upload,
    part_boundaries,
    range_get,
    head_metadata,
    list_by_prefix,
    delete_object,
    delete_by_prefix,
    spaces_and_korean_keys,
    missing_objects_are_not_found,
    failed_upload_leaves_nothing,
    failed_upload_keeps_previous_version,
    download_to_file,
    presigned_get,
    invalid_keys_are_refused,
);

fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

async fn sha256_of<S: Stream<Item = std::io::Result<Bytes>>>(stream: S) -> (u64, [u8; 32]) {
    let mut hasher = Sha256::new();
    let mut len = 0u64;
    let mut stream = std::pin::pin!(stream);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        len += chunk.len() as u64;
        hasher.update(&chunk);
    }
    (len, hasher.finalize().into())
}

async fn read_all(store: &Store, key: &str) -> Vec<u8> {
    let object = store.get(key).await.unwrap();
    let mut out = Vec::new();
    let mut body = object.body;
    while let Some(chunk) = body.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    out
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        }
        out.push(path);
    }
    out
}

fn keys(listing: &[pdfx_storage::ObjectSummary]) -> Vec<&str> {
    listing.iter().map(|o| o.key.as_str()).collect()
}

// ---------------------------------------------------------------------------

async fn put_get_roundtrip(fx: Fixture) {
    let store = &fx.store;
    let body = Bytes::from_static(br#"{"pagesTotal":3,"pagesDone":1}"#);
    store
        .put_bytes("x/progress.json", body.clone(), Some("application/json"))
        .await
        .unwrap();
    assert_eq!(read_all(store, "x/progress.json").await, body);
    assert_eq!(
        store.get_bytes("x/progress.json", 1024).await.unwrap(),
        body
    );

    let object = store.get("x/progress.json").await.unwrap();
    assert_eq!(object.meta.size, body.len() as u64);
    assert_eq!(object.range, 0..body.len() as u64);

    // A small streamed body (several chunks, one PutObject).
    let written = store
        .put_stream("x/page.json", generated_body(100_000, 1), None)
        .await
        .unwrap();
    assert_eq!(written, 100_000);
    assert_eq!(
        read_all(store, "x/page.json").await,
        generated_bytes(100_000, 1)
    );

    // Overwrite replaces.
    store
        .put_bytes("x/progress.json", Bytes::from_static(b"{}"), None)
        .await
        .unwrap();
    assert_eq!(read_all(store, "x/progress.json").await, b"{}");

    // An empty object is an object.
    store
        .put_bytes("x/empty", Bytes::new(), None)
        .await
        .unwrap();
    assert_eq!(store.head("x/empty").await.unwrap().size, 0);
    assert!(read_all(store, "x/empty").await.is_empty());

    // get_bytes refuses what is bigger than its limit.
    let err = store.get_bytes("x/page.json", 1000).await.unwrap_err();
    assert!(
        matches!(err, StorageError::TooLarge { limit: 1000, .. }),
        "{err}"
    );
    fx.assert_no_leftovers();
}

async fn streamed_multipart_upload(fx: Fixture) {
    let store = &fx.store;
    // 20 MiB and change, of unknown length, in odd-sized chunks: three parts on S3.
    let len = 20 * 1024 * 1024 + 12_345;
    let (_, expected) = sha256_of(generated_body(len, 7)).await;

    let written = store
        .put_stream(
            "big/source.pdf",
            generated_body(len, 7),
            Some("application/pdf"),
        )
        .await
        .unwrap();
    assert_eq!(written, len);
    assert_eq!(store.head("big/source.pdf").await.unwrap().size, len);

    let object = store.get("big/source.pdf").await.unwrap();
    assert_eq!(object.meta.size, len);
    let (got_len, got) = sha256_of(object.body).await;
    assert_eq!(got_len, len);
    assert_eq!(got, expected, "content differs after a multipart upload");
    fx.assert_no_leftovers();
}

/// Sizes around the single-put / multipart switch and the part size.
async fn part_boundaries(fx: Fixture) {
    let store = &fx.store;
    let part = PART_SIZE as u64;
    for (i, len) in [0, 1, part - 1, part, part + 1, 2 * part]
        .into_iter()
        .enumerate()
    {
        let key = format!("sizes/{len}");
        let seed = 100 + i as u64;
        let written = store
            .put_stream(&key, generated_body(len, seed), None)
            .await
            .unwrap();
        assert_eq!(written, len, "{key}");
        let (got_len, got) = sha256_of(store.get(&key).await.unwrap().body).await;
        let (_, expected) = sha256_of(generated_body(len, seed)).await;
        assert_eq!((got_len, got), (len, expected), "{key}");
    }
    fx.assert_no_leftovers();
}

async fn range_get(fx: Fixture) {
    let store = &fx.store;
    let data = generated_bytes(1000, 3);
    store
        .put_bytes("r/obj", data.clone().into(), None)
        .await
        .unwrap();

    for (range, expected) in [
        (0..10, 0..10),
        (990..1000, 990..1000),
        (995..2000, 995..1000),
        (500..501, 500..501),
    ] {
        let object = store.get_range("r/obj", range.clone()).await.unwrap();
        assert_eq!(object.meta.size, 1000);
        assert_eq!(object.range, expected, "{range:?}");
        let (_, got) = sha256_of(object.body).await;
        let want: [u8; 32] =
            Sha256::digest(&data[expected.start as usize..expected.end as usize]).into();
        assert_eq!(got, want, "{range:?}");
    }
    for range in [1000..1001, 2000..3000, 5..5] {
        let err = store.get_range("r/obj", range.clone()).await.unwrap_err();
        assert!(
            matches!(err, StorageError::InvalidRange { .. }),
            "{range:?}: {err}"
        );
    }
}

async fn head_metadata(fx: Fixture) {
    let store = &fx.store;
    let before = SystemTime::now() - Duration::from_secs(5);
    store
        .put_bytes(
            "h/result.json",
            Bytes::from_static(b"{\"pages\":[]}"),
            Some("application/json"),
        )
        .await
        .unwrap();
    let meta = store.head("h/result.json").await.unwrap();
    assert_eq!(meta.key, "h/result.json");
    assert_eq!(meta.size, 12);
    let etag = meta.etag.clone().expect("an etag");
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    assert!(meta.last_modified.expect("a modification time") >= before);
    if fx.is_s3() {
        assert_eq!(meta.content_type.as_deref(), Some("application/json"));
    } else {
        assert_eq!(meta.content_type, None);
    }
    assert!(store.exists("h/result.json").await.unwrap());
    assert!(!store.exists("h/other.json").await.unwrap());

    // The ETag changes when the content does.
    store
        .put_bytes(
            "h/result.json",
            Bytes::from_static(b"{\"pages\":[1]}"),
            None,
        )
        .await
        .unwrap();
    assert_ne!(store.head("h/result.json").await.unwrap().etag, Some(etag));
}

async fn list_by_prefix(fx: Fixture) {
    let store = &fx.store;
    // 23 keys under x/ (more than three pages of 7 on S3), written out of order,
    // and neighbours that must not show up.
    let mut expected: Vec<String> = (0..20)
        .rev()
        .map(|i| format!("x/pages/{i:06}.json"))
        .collect();
    expected.extend([
        "x/progress.json".to_owned(),
        "x/result.json".to_owned(),
        "x/a/b/c/deep.txt".to_owned(),
    ]);
    for key in &expected {
        store
            .put_bytes(key, Bytes::from(key.clone()), None)
            .await
            .unwrap();
    }
    for key in ["x-other/a", "xy/z", "y/x/a", "x.json"] {
        store
            .put_bytes(key, Bytes::from_static(b"n"), None)
            .await
            .unwrap();
    }
    expected.sort();

    let listing = store.list("x/").await.unwrap();
    assert_eq!(keys(&listing), expected);
    for entry in &listing {
        assert_eq!(entry.size, entry.key.len() as u64);
    }

    // A partial last segment.
    let listing = store.list("x/pages/00001").await.unwrap();
    assert_eq!(
        keys(&listing),
        (10..20)
            .map(|i| format!("x/pages/{i:06}.json"))
            .collect::<Vec<_>>()
    );

    // A prefix without a slash matches neighbours too, as on S3.
    let listing = store.list("x").await.unwrap();
    assert_eq!(listing.len(), expected.len() + 3);
    assert!(keys(&listing).contains(&"x-other/a"));
    assert!(keys(&listing).contains(&"x.json"));
    assert!(keys(&listing).contains(&"xy/z"));

    assert!(store.list("nothing/").await.unwrap().is_empty());
    assert_eq!(store.list("").await.unwrap().len(), expected.len() + 4);
    let all = store.list("").await.unwrap();
    let mut sorted = keys(&all);
    sorted.sort();
    assert_eq!(keys(&all), sorted, "listing is sorted");
}

async fn delete_object(fx: Fixture) {
    let store = &fx.store;
    store
        .put_bytes("d/a", Bytes::from_static(b"a"), None)
        .await
        .unwrap();
    store
        .put_bytes("d/b", Bytes::from_static(b"b"), None)
        .await
        .unwrap();
    store.delete("d/a").await.unwrap();
    assert!(store.head("d/a").await.unwrap_err().is_not_found());
    assert_eq!(keys(&store.list("d/").await.unwrap()), ["d/b"]);
    // Deleting what is not there is fine.
    store.delete("d/a").await.unwrap();
    store.delete("never/was").await.unwrap();
}

async fn delete_by_prefix(fx: Fixture) {
    let store = &fx.store;
    // 12 objects: three DeleteObjects batches of at most 5 on S3.
    for i in 0..10 {
        store
            .put_bytes(
                &format!("extractions/ns/doc/pages/{i:06}.json"),
                Bytes::from_static(b"{}"),
                None,
            )
            .await
            .unwrap();
    }
    store
        .put_bytes(
            "extractions/ns/doc/result.json",
            Bytes::from_static(b"{}"),
            None,
        )
        .await
        .unwrap();
    store
        .put_bytes(
            "extractions/ns/doc/result.txt",
            Bytes::from_static(b""),
            None,
        )
        .await
        .unwrap();
    store
        .put_bytes(
            "extractions/ns/doc2/result.json",
            Bytes::from_static(b"{}"),
            None,
        )
        .await
        .unwrap();
    store
        .put_bytes("extractions/ns/keep.json", Bytes::from_static(b"{}"), None)
        .await
        .unwrap();

    assert_eq!(
        store.delete_prefix("extractions/ns/doc/").await.unwrap(),
        12
    );
    assert!(store.list("extractions/ns/doc/").await.unwrap().is_empty());
    assert_eq!(
        keys(&store.list("extractions/").await.unwrap()),
        [
            "extractions/ns/doc2/result.json",
            "extractions/ns/keep.json"
        ]
    );
    assert_eq!(store.delete_prefix("extractions/ns/doc/").await.unwrap(), 0);

    if let Store::Local(local) = store {
        // The emptied directories go too, but not the parents outside the prefix.
        assert!(!local.root().join("extractions/ns/doc").exists());
        assert!(local.root().join("extractions/ns").is_dir());
    }

    let err = store.delete_prefix("").await.unwrap_err();
    assert!(matches!(err, StorageError::InvalidKey { .. }), "{err}");
    assert_eq!(store.list("").await.unwrap().len(), 2);
}

async fn spaces_and_korean_keys(fx: Fixture) {
    let store = &fx.store;
    let names = [
        "문서/보고서 1.pdf",
        "문서/하위 폴더/결과.json",
        "with space/a b+c&d=e.txt",
        "percent%20sign/100%.txt",
        "q?mark#hash/file;x=1.txt",
    ];
    for (i, key) in names.iter().enumerate() {
        let body = generated_bytes(1000 + i, i as u64);
        store
            .put_stream(key, generated_body(1000 + i as u64, i as u64), None)
            .await
            .unwrap();
        assert_eq!(read_all(store, key).await, body, "{key}");
        assert_eq!(
            store.head(key).await.unwrap().size,
            1000 + i as u64,
            "{key}"
        );
        let path = fx.scratch(&format!("dl-{i}"));
        store.download_to_file(key, &path).await.unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), body, "{key}");
    }
    let mut sorted = names.to_vec();
    sorted.sort();
    assert_eq!(keys(&store.list("").await.unwrap()), sorted);
    assert_eq!(
        keys(&store.list("문서/").await.unwrap()),
        ["문서/보고서 1.pdf", "문서/하위 폴더/결과.json"]
    );
    assert_eq!(store.delete_prefix("문서/").await.unwrap(), 2);
    store.delete("with space/a b+c&d=e.txt").await.unwrap();
    assert_eq!(
        keys(&store.list("").await.unwrap()),
        ["percent%20sign/100%.txt", "q?mark#hash/file;x=1.txt"]
    );

    // The URI of a key parses back to the same store location.
    let uri = store.uri_for("문서/보고서 1.pdf").unwrap();
    let reparsed = pdfx_storage::StorageUri::parse(&uri.to_string()).unwrap();
    assert_eq!(reparsed, uri);
}

async fn missing_objects_are_not_found(fx: Fixture) {
    let store = &fx.store;
    store
        .put_bytes("present/a", Bytes::from_static(b"a"), None)
        .await
        .unwrap();
    let mut missing = vec!["missing.pdf", "present/b", "문서/없음.pdf"];
    // A key that is only a "directory" of other keys. s3s-fs serves the directory
    // itself there (HEAD 200, GET 500); real S3 says NoSuchKey, as the local
    // backend does.
    if !fx.is_s3() {
        missing.push("present");
    }
    for key in missing {
        let errors = [
            store.get(key).await.map(drop).unwrap_err(),
            store.head(key).await.map(drop).unwrap_err(),
            store.get_range(key, 0..10).await.map(drop).unwrap_err(),
            store.get_bytes(key, 10).await.map(drop).unwrap_err(),
            store
                .download_to_file(key, &fx.scratch("missing"))
                .await
                .map(drop)
                .unwrap_err(),
        ];
        for err in errors {
            assert!(
                matches!(&err, StorageError::NotFound { key: k } if k == key),
                "{key}: {err:?}"
            );
            assert!(err.is_not_found() && !err.is_transient());
        }
        assert!(!store.exists(key).await.unwrap());
    }
    assert!(
        !fx.scratch("missing").exists(),
        "a failed download leaves no file"
    );
}

async fn failed_upload_leaves_nothing(fx: Fixture) {
    let store = &fx.store;
    // Fails after more than one part (multipart started, part 1 uploaded) and,
    // separately, within the first part (nothing sent yet).
    for (key, len) in [
        ("fail/big.pdf", PART_SIZE as u64 + 2 * 1024 * 1024),
        ("fail/small.pdf", 1000),
    ] {
        let err = store
            .put_stream(key, failing_body(len, 9), None)
            .await
            .unwrap_err();
        match &err {
            StorageError::Input { key: k, source } => {
                assert_eq!(k, key);
                assert_eq!(source.kind(), std::io::ErrorKind::ConnectionReset);
            }
            other => panic!("{key}: expected an input error, got {other:?}"),
        }
        assert!(store.head(key).await.unwrap_err().is_not_found(), "{key}");
    }
    assert!(store.list("").await.unwrap().is_empty());
    fx.assert_no_leftovers();
}

async fn failed_upload_keeps_previous_version(fx: Fixture) {
    let store = &fx.store;
    store
        .put_bytes("v/source.pdf", Bytes::from_static(b"version 1"), None)
        .await
        .unwrap();
    let err = store
        .put_stream("v/source.pdf", failing_body(PART_SIZE as u64 + 1, 4), None)
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::Input { .. }), "{err}");
    assert_eq!(read_all(store, "v/source.pdf").await, b"version 1");
    fx.assert_no_leftovers();
}

async fn download_to_file(fx: Fixture) {
    let store = &fx.store;
    let len = 3 * 1024 * 1024 + 17;
    store
        .put_stream("dl/source.pdf", generated_body(len, 5), None)
        .await
        .unwrap();
    // Into a directory that does not exist yet, over an existing file.
    let path = fx.scratch("nested/dir/source.pdf");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, b"stale").unwrap();
    assert_eq!(
        store
            .download_to_file("dl/source.pdf", &path)
            .await
            .unwrap(),
        len
    );
    let file = tokio::fs::File::open(&path).await.unwrap();
    let (got_len, got) = sha256_of(tokio_util_reader_stream(file)).await;
    let (_, expected) = sha256_of(generated_body(len, 5)).await;
    assert_eq!((got_len, got), (len, expected));
    let siblings: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
    assert_eq!(
        siblings.len(),
        1,
        "no temporary file left beside the download"
    );
}

fn tokio_util_reader_stream(file: tokio::fs::File) -> impl Stream<Item = std::io::Result<Bytes>> {
    futures::stream::unfold(file, |mut file| async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 64 * 1024];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Bytes::from(buf)), file))
            }
            Err(e) => Some((Err(e), file)),
        }
    })
}

async fn presigned_get(fx: Fixture) {
    let store = &fx.store;
    let body = generated_bytes(4321, 11);
    for key in ["p/result.json", "문서/보고서 1.pdf"] {
        store
            .put_bytes(key, body.clone().into(), None)
            .await
            .unwrap();
        let url = store
            .presigned_get(key, Duration::from_secs(300))
            .await
            .unwrap();
        if !fx.is_s3() {
            assert_eq!(url, None);
            continue;
        }
        let url = url.expect("a presigned URL on S3");
        assert!(
            url.query().unwrap_or_default().contains("X-Amz-Signature="),
            "{url}"
        );
        // A plain HTTP client with no credentials can fetch it.
        let response = reqwest::get(url.clone()).await.unwrap();
        assert_eq!(response.status(), 200, "{url}");
        assert_eq!(response.bytes().await.unwrap(), body, "{url}");
        // A tampered signature (same length, one hex digit changed) is refused.
        let mut tampered = url.clone();
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if k == "X-Amz-Signature" {
                    let flipped = if v.starts_with('0') { "1" } else { "0" };
                    format!("{flipped}{}", &v[1..])
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        tampered.query_pairs_mut().clear().extend_pairs(pairs);
        let response = reqwest::get(tampered).await.unwrap();
        assert_eq!(response.status(), 403);
    }
    // The SDK refuses lifetimes over 7 days.
    if fx.is_s3() {
        let err = store
            .presigned_get("p/result.json", Duration::from_secs(8 * 24 * 3600))
            .await
            .unwrap_err();
        assert!(matches!(err, StorageError::Config(_)), "{err}");
    }
}

async fn invalid_keys_are_refused(fx: Fixture) {
    let store = &fx.store;
    for key in ["", "../escape", "/abs", "a//b", "a/./b", "dir/", "a\u{0}b"] {
        let errors = [
            store
                .put_bytes(key, Bytes::from_static(b"x"), None)
                .await
                .map(drop)
                .unwrap_err(),
            store
                .put_stream(key, generated_body(10, 1), None)
                .await
                .map(drop)
                .unwrap_err(),
            store.get(key).await.map(drop).unwrap_err(),
            store.head(key).await.map(drop).unwrap_err(),
            store.delete(key).await.map(drop).unwrap_err(),
        ];
        for err in errors {
            assert!(
                matches!(err, StorageError::InvalidKey { .. }),
                "{key:?}: {err:?}"
            );
        }
    }
    for prefix in ["/", "../", "a//"] {
        assert!(
            matches!(
                store.list(prefix).await,
                Err(StorageError::InvalidKey { .. })
            ),
            "{prefix:?}"
        );
        assert!(
            matches!(
                store.delete_prefix(prefix).await,
                Err(StorageError::InvalidKey { .. })
            ),
            "{prefix:?}"
        );
    }
    assert!(store.list("").await.unwrap().is_empty());
}
