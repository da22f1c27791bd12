//! Counts of the requests the API server answered over HTTP, so that tests can
//! state what a client costs (e.g. writes per extraction, writes of an idle
//! controller). In-process writes (the executor's) are not requests and are not
//! counted. The log of recent writes is bounded, so a long-running single-machine
//! server does not grow with it.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Most recent writes kept for inspection.
const WRITE_LOG: usize = 10_000;

/// One write request: method and path (query excluded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteRecord {
    pub method: String,
    pub path: String,
    pub status: u16,
}

#[derive(Debug, Default)]
pub struct RequestStats {
    reads: AtomicU64,
    watches: AtomicU64,
    writes: AtomicU64,
    log: Mutex<VecDeque<WriteRecord>>,
}

/// A point-in-time copy of the counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestCounts {
    /// GET requests that are not watches (get, list, discovery).
    pub reads: u64,
    pub watches: u64,
    /// POST, PUT, PATCH and DELETE requests, whatever their outcome.
    pub writes: u64,
}

impl RequestStats {
    pub fn record(&self, method: &str, path: &str, watch: bool, status: u16) {
        match method {
            "GET" | "HEAD" if watch => self.watches.fetch_add(1, Ordering::Relaxed),
            "GET" | "HEAD" | "OPTIONS" => self.reads.fetch_add(1, Ordering::Relaxed),
            _ => {
                if let Ok(mut log) = self.log.lock() {
                    if log.len() == WRITE_LOG {
                        log.pop_front();
                    }
                    log.push_back(WriteRecord {
                        method: method.to_owned(),
                        path: path.to_owned(),
                        status,
                    });
                }
                self.writes.fetch_add(1, Ordering::Relaxed)
            }
        };
    }

    pub fn counts(&self) -> RequestCounts {
        RequestCounts {
            reads: self.reads.load(Ordering::Relaxed),
            watches: self.watches.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
        }
    }

    /// The most recent writes, oldest first.
    pub fn recent_writes(&self) -> Vec<WriteRecord> {
        self.log
            .lock()
            .map(|l| l.iter().cloned().collect())
            .unwrap_or_default()
    }
}
