//! What only the S3 backend has: error mapping of a real server's answers,
//! cancellation of multipart uploads, default page and batch sizes, URIs and
//! environment configuration.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use pdfx_storage::s3::PART_SIZE;
use pdfx_storage::{S3Config, StorageError, StorageUri, Store, key};
use pdfx_testkit::{S3Server, generated_body};

/// Polls `check` until it holds, for at most 20 s (generous: a loaded CI
/// machine), so the test waits for an event rather than for a fixed time.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_upload_is_aborted() {
    let server = S3Server::start().unwrap();
    let store = server.store("pdfx-test").await.unwrap();
    // More than one part, then the input stalls forever: a client that stops
    // sending mid-upload.
    let body = generated_body(PART_SIZE as u64 + 1, 1).chain(futures::stream::pending());
    let upload = tokio::spawn({
        let store = store.clone();
        async move { store.put_stream("stalled.pdf", body, None).await }
    });
    eventually("the multipart upload is open", || {
        server.open_multipart_uploads().unwrap() == 1
    })
    .await;
    // Dropping the future (as axum does when the client disconnects) must abort
    // the upload in the background.
    upload.abort();
    assert!(upload.await.unwrap_err().is_cancelled());
    eventually("the multipart upload is aborted", || {
        server.open_multipart_uploads().unwrap() == 0
    })
    .await;
    assert!(store.list("").await.unwrap().is_empty());
}

#[tokio::test]
async fn missing_bucket() {
    let server = S3Server::start().unwrap();
    let store = Store::s3(&server.config(), "no-such-bucket").await.unwrap();
    let err = store.list("").await.unwrap_err();
    assert!(
        matches!(err, StorageError::BucketNotFound { ref bucket } if bucket == "no-such-bucket"),
        "{err:?}"
    );
    assert!(err.is_not_found() && !err.is_transient());
    // s3s-fs 0.14 answers GetObject in a missing bucket with NoSuchKey (S3 says
    // NoSuchBucket); either way the caller sees "not found".
    assert!(store.get("a").await.unwrap_err().is_not_found());
    // HEAD has no body, so no error code: a bare 404 reads as a missing object.
    assert!(matches!(
        store.head("a").await,
        Err(StorageError::NotFound { .. })
    ));
}

#[tokio::test]
async fn wrong_credentials_are_access_denied() {
    let server = S3Server::start().unwrap();
    server.create_bucket("pdfx-test").await.unwrap();
    let mut config = server.config();
    if let Some(credentials) = config.credentials.as_mut() {
        credentials.secret_access_key = "not-the-secret".into();
    }
    let store = Store::s3(&config, "pdfx-test").await.unwrap();
    for err in [
        store.get("a").await.map(drop).unwrap_err(),
        store.head("a").await.map(drop).unwrap_err(),
        store
            .put_bytes("a", Bytes::from_static(b"a"), None)
            .await
            .unwrap_err(),
        store.list("").await.map(drop).unwrap_err(),
    ] {
        assert!(matches!(err, StorageError::AccessDenied { .. }), "{err:?}");
        assert!(err.is_access_denied() && !err.is_transient());
    }
}

#[tokio::test]
async fn unreachable_server_is_transient() {
    // A port that nothing listens on: bind one, then free it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = S3Config::compatible(format!("http://127.0.0.1:{port}"), "us-east-1", "a", "b");
    let store = Store::s3(&config, "pdfx-test").await.unwrap();
    let err = store.head("a").await.unwrap_err();
    assert!(matches!(err, StorageError::Backend { .. }), "{err:?}");
    assert!(err.is_transient(), "{err:?}");
}

/// More than one page (1000) of listing and more than one DeleteObjects batch
/// (1000) with the real defaults.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_page_and_batch_sizes() {
    let server = S3Server::start().unwrap();
    let store = server.store("pdfx-test").await.unwrap();
    let n = 1003;
    futures::stream::iter(0..n)
        .map(|i| {
            let store = store.clone();
            async move {
                store
                    .put_bytes(&format!("many/{i:05}"), Bytes::from_static(b"."), None)
                    .await
            }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<_>>()
        .await
        .unwrap();
    let listing = store.list("many/").await.unwrap();
    assert_eq!(listing.len(), n);
    assert_eq!(listing[0].key, "many/00000");
    assert_eq!(listing[n - 1].key, format!("many/{:05}", n - 1));
    assert_eq!(store.delete_prefix("many/").await.unwrap(), n);
    assert!(store.list("").await.unwrap().is_empty());
}

#[tokio::test]
async fn stores_from_uris() {
    let server = S3Server::start().unwrap();
    server.create_bucket("pdfx-test").await.unwrap();

    let uri = StorageUri::parse("s3://pdfx-test/extractions/ns/문서 1/").unwrap();
    let (store, prefix) = Store::from_uri(&uri, &server.config()).await.unwrap();
    assert_eq!(prefix, "extractions/ns/문서 1/");
    let key = key::join(&prefix, "result.json");
    store
        .put_bytes(&key, Bytes::from_static(b"{}"), None)
        .await
        .unwrap();
    assert_eq!(
        std::fs::read(
            server
                .root()
                .join("pdfx-test/extractions/ns/문서 1/result.json")
        )
        .unwrap(),
        b"{}"
    );
    assert_eq!(
        store.uri_for(&key).unwrap(),
        uri.join("result.json").unwrap()
    );
    assert_eq!(store.describe(), "s3://pdfx-test");

    let dir = tempfile::TempDir::new().unwrap();
    let uri = StorageUri::from_path(&dir.path().join("out dir")).unwrap();
    let reparsed = StorageUri::parse(&uri.to_string()).unwrap();
    let (store, prefix) = Store::from_uri(&reparsed, &S3Config::default())
        .await
        .unwrap();
    let key = key::join(&prefix, "result.json");
    store
        .put_bytes(&key, Bytes::from_static(b"{}"), None)
        .await
        .unwrap();
    assert_eq!(
        std::fs::read(dir.path().join("out dir/result.json")).unwrap(),
        b"{}"
    );
    assert_eq!(keysof(&store, &prefix).await, std::slice::from_ref(&key));
    assert_eq!(
        store
            .presigned_get(&key, Duration::from_secs(60))
            .await
            .unwrap(),
        None
    );
}

async fn keysof(store: &Store, prefix: &str) -> Vec<String> {
    store
        .list(prefix)
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.key)
        .collect()
}

#[tokio::test]
async fn config_from_environment() {
    let server = S3Server::start().unwrap();
    server.create_bucket("pdfx-test").await.unwrap();
    let env = server.env();
    let config = S3Config::from_env_vars(|name| {
        env.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone())
    })
    .unwrap();
    assert_eq!(config, server.config());
    let store = Store::s3(&config, "pdfx-test").await.unwrap();
    store
        .put_bytes("a", Bytes::from_static(b"a"), None)
        .await
        .unwrap();
    assert_eq!(store.get_bytes("a", 10).await.unwrap(), "a");
}

/// `DeleteObjects` must carry a correct `Content-MD5` (AWS and several
/// compatible servers refuse it otherwise, and s3s-fs does not check it). A
/// minimal HTTP/1.1 server on loopback records the request as sent on the wire.
#[tokio::test]
async fn delete_objects_sends_content_md5() {
    use base64::Engine as _;
    use md5::Digest as _;
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel();
    let server = tokio::spawn(async move {
        loop {
            let (socket, _) = listener.accept().await.unwrap();
            let seen_tx = seen_tx.clone();
            tokio::spawn(async move {
                let mut socket = BufReader::new(socket);
                loop {
                    let mut request_line = String::new();
                    if socket.read_line(&mut request_line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let mut headers = Vec::new();
                    loop {
                        let mut line = String::new();
                        socket.read_line(&mut line).await.unwrap();
                        let line = line.trim_end();
                        if line.is_empty() {
                            break;
                        }
                        let (name, value) = line.split_once(':').unwrap();
                        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
                    }
                    let length = headers
                        .iter()
                        .find(|(n, _)| n == "content-length")
                        .map_or(0, |(_, v)| v.parse().unwrap());
                    let mut body = vec![0; length];
                    socket.read_exact(&mut body).await.unwrap();
                    let response_body = if request_line.starts_with("GET") {
                        concat!(
                            r#"<?xml version="1.0" encoding="UTF-8"?>"#,
                            r#"<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">"#,
                            "<Name>pdfx-test</Name><Prefix>p/</Prefix><KeyCount>2</KeyCount>",
                            "<MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>",
                            "<Contents><Key>p/a</Key><Size>1</Size></Contents>",
                            "<Contents><Key>p/문서 b</Key><Size>1</Size></Contents>",
                            "</ListBucketResult>"
                        )
                    } else {
                        concat!(
                            r#"<?xml version="1.0" encoding="UTF-8"?>"#,
                            r#"<DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></DeleteResult>"#
                        )
                    };
                    seen_tx.send((request_line, headers, body)).unwrap();
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/xml\r\ncontent-length: {}\r\n\r\n{response_body}",
                        response_body.len()
                    );
                    socket
                        .get_mut()
                        .write_all(response.as_bytes())
                        .await
                        .unwrap();
                }
            });
        }
    });

    let config = S3Config::compatible(endpoint, "us-east-1", "a", "b");
    let store = Store::s3(&config, "pdfx-test").await.unwrap();
    assert_eq!(store.delete_prefix("p/").await.unwrap(), 2);
    server.abort();

    let (list_line, _, _) = seen_rx.recv().await.unwrap();
    assert!(
        list_line.starts_with("GET /pdfx-test/?list-type=2"),
        "{list_line}"
    );
    let (delete_line, headers, body) = seen_rx.recv().await.unwrap();
    assert!(
        delete_line.starts_with("POST /pdfx-test/?delete"),
        "{delete_line}"
    );
    let body_text = String::from_utf8(body.clone()).unwrap();
    assert!(
        body_text.contains("<Key>p/a</Key>") && body_text.contains("<Key>p/문서 b</Key>"),
        "{body_text}"
    );
    let md5 = headers
        .iter()
        .find(|(n, _)| n == "content-md5")
        .map(|(_, v)| v.clone())
        .expect("a Content-MD5 header");
    assert_eq!(
        md5,
        base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(&body))
    );
}
