//! Unit tests of the log store: the record format, long lines split into
//! partial records, rotation keeping the newest output within the bound, and
//! removal.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

fn read_all(log: &ContainerLog) -> String {
    let mut pos = log.start();
    let mut out = Vec::new();
    loop {
        let chunk = log.read(pos, 1 << 20).unwrap();
        if chunk.bytes.is_empty() {
            return String::from_utf8(out).unwrap();
        }
        pos = chunk.start + chunk.bytes.len() as u64;
        out.extend(chunk.bytes);
    }
}

#[test]
fn rfc3339_nano_drops_trailing_zeros_as_go_does() {
    let t = |s: &str| s.parse::<chrono::DateTime<chrono::Utc>>().unwrap();
    assert_eq!(
        rfc3339_nano(t("2024-01-02T03:04:05Z")),
        "2024-01-02T03:04:05Z"
    );
    assert_eq!(
        rfc3339_nano(t("2024-01-02T03:04:05.120Z")),
        "2024-01-02T03:04:05.12Z"
    );
    assert_eq!(
        rfc3339_nano(t("2024-01-02T03:04:05.000000001Z")),
        "2024-01-02T03:04:05.000000001Z"
    );
}

#[tokio::test]
async fn pump_writes_cri_records_and_splits_long_lines() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::open(dir.path().to_path_buf(), 10 << 20);
    let log = store.create("ns", "p", "uid-1", "c").unwrap();
    let long = "x".repeat(MAX_RECORD + 10);
    let input = format!("a\n\n{long}\nno newline");
    pump(input.as_bytes(), LogStream::Stderr, log.clone()).await;
    log.finish();
    let text = read_all(&log);
    let records: Vec<(&str, &str, &str)> = text
        .lines()
        .map(|l| {
            let mut f = l.splitn(4, ' ');
            let ts = f.next().unwrap();
            assert!(ts.parse::<chrono::DateTime<chrono::Utc>>().is_ok(), "{ts}");
            (f.next().unwrap(), f.next().unwrap(), f.next().unwrap_or(""))
        })
        .collect();
    let tail = "x".repeat(10);
    assert_eq!(
        records,
        [
            ("stderr", "F", "a"),
            ("stderr", "F", ""),
            ("stderr", "P", &long[..MAX_RECORD]),
            ("stderr", "F", tail.as_str()),
            ("stderr", "F", "no newline"),
        ]
    );
    assert!(dir.path().join("ns_p_uid-1/c/0.log").is_file());
    assert!(log.read(0, 1024).unwrap().finished);
}

#[test]
fn rotation_keeps_the_newest_output_within_the_bound() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::open(dir.path().to_path_buf(), 4096);
    let log = store.create("ns", "p", "uid-1", "c").unwrap();
    for i in 0..500 {
        log.append(LogStream::Stdout, format!("line {i:04}").as_bytes(), true);
    }
    let text = read_all(&log);
    assert!(
        text.len() <= 4096 && text.len() > 2048,
        "{} bytes",
        text.len()
    );
    let numbers: Vec<u32> = text
        .lines()
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(numbers.last(), Some(&499));
    assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1), "contiguous");
    // A reader left behind by rotation resumes at the oldest record kept.
    let chunk = log.read(0, 1 << 20).unwrap();
    assert_eq!(chunk.start, log.start());
    assert!(chunk.start > 0);

    // A reopened store (a restarted executor) reads the same, finished.
    drop(store);
    let again = LogStore::open(dir.path().to_path_buf(), 4096);
    let reopened = again.get("uid-1", "c").unwrap();
    assert_eq!(read_all(&reopened), text);
    assert!(reopened.read(0, 16).unwrap().finished);
    // The pod is gone: its log goes, and a follower sees the end.
    let follower = reopened.subscribe();
    again.retain(&HashSet::new());
    assert!(follower.has_changed().unwrap());
    assert!(again.get("uid-1", "c").is_none());
    assert!(!dir.path().join("ns_p_uid-1").exists());
    let chunk = reopened.read(0, 1 << 20).unwrap();
    assert!(chunk.bytes.is_empty() && chunk.finished);
}
