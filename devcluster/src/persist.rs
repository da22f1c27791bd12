//! Crash-safe persistence: an append-only log of framed records
//! (`u32 length | u32 crc32 | JSON`), fsync'd before a write is acknowledged.
//!
//! A dedicated thread does the I/O and group-commits: every record queued while
//! the previous `fdatasync` ran is written and synced together, so concurrent
//! writers share one sync. On open, the log is replayed up to the first torn or
//! corrupt frame (a crash mid-append), then compacted into a fresh file (written,
//! synced, renamed over the old one, directory synced) holding only live objects
//! and the resourceVersion counter.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::registry::StorageKey;

/// Errors of the persistence layer.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    /// File system error.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The writer thread is gone.
    #[error("the persistence thread has stopped")]
    Stopped,
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> PersistError {
    let context = context.into();
    move |source| PersistError::Io { context, source }
}

/// One log record: an object's new state (`o` = null for a deletion).
#[derive(Debug, Serialize, Deserialize)]
struct Record {
    rv: u64,
    g: String,
    r: String,
    ns: String,
    n: String,
    o: Option<Value>,
}

/// What a replayed log holds.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The highest resourceVersion ever handed out.
    pub rv: u64,
    /// Every live object.
    pub objects: Vec<(StorageKey, String, String, Value)>,
}

type Ack = tokio::sync::oneshot::Sender<Result<(), String>>;

/// Handle to the writer thread.
#[derive(Debug)]
pub struct Persist {
    tx: mpsc::Sender<(Vec<u8>, Ack)>,
}

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 8);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

fn encode(rv: u64, key: &StorageKey, ns: &str, name: &str, obj: Option<&Value>) -> Vec<u8> {
    let rec = Record {
        rv,
        g: key.group.clone(),
        r: key.resource.clone(),
        ns: ns.to_string(),
        n: name.to_string(),
        o: obj.cloned(),
    };
    // Serialising a Value-bearing struct cannot fail.
    frame(&serde_json::to_vec(&rec).unwrap_or_default())
}

/// Replay a log, stopping at the first torn/corrupt frame.
fn replay(path: &Path) -> Result<Loaded, PersistError> {
    let mut buf = Vec::new();
    match File::open(path) {
        Ok(mut f) => {
            f.read_to_end(&mut buf)
                .map_err(io(format!("reading {}", path.display())))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Loaded::default()),
        Err(e) => return Err(io(format!("opening {}", path.display()))(e)),
    }
    let mut live: std::collections::BTreeMap<(StorageKey, String, String), Value> =
        Default::default();
    let mut rv = 0u64;
    let mut pos = 0usize;
    while pos + 8 <= buf.len() {
        let len = u32::from_le_bytes([buf[pos], buf[pos + 1], buf[pos + 2], buf[pos + 3]]) as usize;
        let crc = u32::from_le_bytes([buf[pos + 4], buf[pos + 5], buf[pos + 6], buf[pos + 7]]);
        let Some(payload) = buf.get(pos + 8..pos + 8 + len) else {
            tracing::warn!(
                offset = pos,
                "torn record at the end of the log (crash mid-write); ignoring it"
            );
            break;
        };
        if crc32fast::hash(payload) != crc {
            tracing::warn!(
                offset = pos,
                "corrupt record in the log; ignoring it and everything after"
            );
            break;
        }
        let Ok(rec) = serde_json::from_slice::<Record>(payload) else {
            tracing::warn!(
                offset = pos,
                "undecodable record in the log; stopping replay"
            );
            break;
        };
        rv = rv.max(rec.rv);
        let key = (StorageKey::new(&rec.g, &rec.r), rec.ns, rec.n);
        match rec.o {
            Some(o) => {
                live.insert(key, o);
            }
            None => {
                live.remove(&key);
            }
        }
        pos += 8 + len;
    }
    Ok(Loaded {
        rv,
        objects: live
            .into_iter()
            .map(|((k, ns, n), v)| (k, ns, n, v))
            .collect(),
    })
}

fn sync_dir(dir: &Path) -> Result<(), PersistError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(format!("syncing directory {}", dir.display())))
}

impl Persist {
    /// Open (or create) the store in `dir`: replay, compact, and start the writer thread.
    pub fn open(dir: &Path) -> Result<(Self, Loaded), PersistError> {
        std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
        let log = dir.join("store.log");
        let loaded = replay(&log)?;
        let tmp = dir.join("store.log.compact");
        {
            let mut f = File::create(&tmp).map_err(io(format!("creating {}", tmp.display())))?;
            let mut out = Vec::new();
            for (k, ns, n, v) in &loaded.objects {
                let rv = v
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(loaded.rv);
                out.extend(encode(rv, k, ns, n, Some(v)));
            }
            // Keeps the counter even when the newest write was a deletion.
            out.extend(encode(loaded.rv, &StorageKey::new("", ""), "", "", None));
            f.write_all(&out).map_err(io("writing the compacted log"))?;
            f.sync_all().map_err(io("syncing the compacted log"))?;
        }
        std::fs::rename(&tmp, &log).map_err(io("replacing the log with its compacted copy"))?;
        sync_dir(dir)?;
        let file = OpenOptions::new()
            .append(true)
            .open(&log)
            .map_err(io(format!("opening {} for append", log.display())))?;
        let (tx, rx) = mpsc::channel::<(Vec<u8>, Ack)>();
        let path: PathBuf = log.clone();
        std::thread::Builder::new()
            .name("devcluster-persist".into())
            .spawn(move || writer(file, rx, path))
            .map_err(io("starting the persistence thread"))?;
        Ok((Self { tx }, loaded))
    }

    /// Queue a record; the receiver resolves once it is on disk.
    pub fn append(
        &self,
        rv: u64,
        key: &StorageKey,
        ns: &str,
        name: &str,
        obj: Option<&Value>,
    ) -> tokio::sync::oneshot::Receiver<Result<(), String>> {
        let (ack, rx) = tokio::sync::oneshot::channel();
        if let Err(mpsc::SendError((_, ack))) = self.tx.send((encode(rv, key, ns, name, obj), ack))
        {
            let _ = ack.send(Err(PersistError::Stopped.to_string()));
        }
        rx
    }
}

fn writer(mut file: File, rx: mpsc::Receiver<(Vec<u8>, Ack)>, path: PathBuf) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
            if batch.len() >= 4096 {
                break;
            }
        }
        let mut buf = Vec::with_capacity(batch.iter().map(|(b, _)| b.len()).sum());
        for (b, _) in &batch {
            buf.extend_from_slice(b);
        }
        let result = file
            .write_all(&buf)
            .and_then(|()| file.sync_data())
            .map_err(|e| format!("writing {}: {e}", path.display()));
        if let Err(e) = &result {
            tracing::error!(error = %e, "persisting failed");
        }
        for (_, ack) in batch {
            let _ = ack.send(result.clone());
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn replay_survives_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (p, loaded) = Persist::open(dir.path()).unwrap();
            assert_eq!(loaded.rv, 0);
            let k = StorageKey::new("", "configmaps");
            p.append(
                1,
                &k,
                "default",
                "a",
                Some(&json!({"metadata": {"resourceVersion": "1"}})),
            )
            .await
            .unwrap()
            .unwrap();
            p.append(
                2,
                &k,
                "default",
                "b",
                Some(&json!({"metadata": {"resourceVersion": "2"}})),
            )
            .await
            .unwrap()
            .unwrap();
            p.append(3, &k, "default", "b", None)
                .await
                .unwrap()
                .unwrap();
        }
        // A half-written frame, as a crash mid-append leaves.
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.path().join("store.log"))
            .unwrap();
        f.write_all(&[200, 0, 0, 0, 1, 2]).unwrap();
        drop(f);
        let (_p, loaded) = Persist::open(dir.path()).unwrap();
        assert_eq!(loaded.rv, 3);
        assert_eq!(loaded.objects.len(), 1);
        assert_eq!(loaded.objects[0].2, "a");
    }
}
