//! Behaviour of the local-directory backend that S3 has no counterpart for.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use pdfx_storage::Store;

/// A writer killed mid-write leaves a temporary file that listings never show;
/// deleting objects in that folder removes it once its process is gone.
#[tokio::test]
async fn deleting_removes_temp_files_of_dead_writers() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::local(dir.path());
    store
        .put_bytes("x/pages/000001.json", "{}".into(), None)
        .await
        .unwrap();
    let folder = dir.path().join("x/pages");
    // No process can have this pid (above the kernel's maximum).
    let orphan = folder.join(".pdfx-tmp-999999999-0-00000000");
    let ours = folder.join(format!(".pdfx-tmp-{}-0-00000000", std::process::id()));
    std::fs::write(&orphan, b"partial").unwrap();
    std::fs::write(&ours, b"in progress").unwrap();
    assert_eq!(
        store.list("x/").await.unwrap().len(),
        1,
        "temporary files are not objects"
    );

    store.delete("x/pages/000001.json").await.unwrap();
    assert!(!orphan.exists(), "the dead writer's temporary file is gone");
    assert!(ours.exists(), "a live writer's temporary file is kept");
}

/// A cleanup that deletes no object in a folder (an extraction cancelled
/// before its first page finished) still sweeps the dead writers' temporary
/// files under its prefix, in every sub-folder, and leaves live writers' and
/// other prefixes' alone.
#[tokio::test]
async fn discarding_interrupted_writes_sweeps_a_prefix_recursively() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::local(dir.path());
    let pages = dir.path().join("x/doc/pages");
    let other = dir.path().join("x/doc2/pages");
    std::fs::create_dir_all(&pages).unwrap();
    std::fs::create_dir_all(&other).unwrap();
    let dead = [
        pages.join(".pdfx-tmp-999999999-0-00000000"),
        dir.path().join("x/doc/.pdfx-tmp-999999998-1-00000000"),
    ];
    let live = pages.join(format!(".pdfx-tmp-{}-0-00000000", std::process::id()));
    let elsewhere = other.join(".pdfx-tmp-999999999-0-00000000");
    for file in dead.iter().chain([&live, &elsewhere]) {
        std::fs::write(file, b"partial").unwrap();
    }

    assert_eq!(store.discard_interrupted_writes("x/doc/").await.unwrap(), 2);
    for file in &dead {
        assert!(!file.exists(), "{} is left", file.display());
    }
    assert!(live.exists(), "a live writer's temporary file is kept");
    assert!(elsewhere.exists(), "another prefix is not touched");
    assert!(store.discard_interrupted_writes("").await.is_err());
    assert_eq!(
        store
            .discard_interrupted_writes("nothing/here/")
            .await
            .unwrap(),
        0
    );
}
