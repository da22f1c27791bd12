//! The object store: every object as JSON keyed by storage key / namespace / name,
//! one global strictly increasing resourceVersion (the etcd revision), a bounded
//! history of events for watch resumption, and a broadcast channel for live watches.
//!
//! Every change happens under one mutex, which assigns the RV, appends to the
//! history, broadcasts, and queues the persistence record — in that order and in
//! RV order. The caller then awaits durability (outside the lock) before
//! acknowledging. Watchers may therefore see an event a few hundred microseconds
//! before it is fsync'd; a crash in that window loses the event on disk, which a
//! reconnecting watcher handles like any relist (documented in the README).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;
use tokio::sync::broadcast;

use crate::error::{ApiError, ApiResult};
use crate::persist::{Persist, PersistError};
use crate::registry::StorageKey;

/// Watch event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Object created.
    Added,
    /// Object changed.
    Modified,
    /// Object removed.
    Deleted,
}

impl EventType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change, as stored in the history and broadcast to watchers.
#[derive(Debug)]
pub struct Event {
    /// The resourceVersion of the change.
    pub rv: u64,
    /// Which storage.
    pub key: StorageKey,
    /// Namespace ("" for cluster-scoped).
    pub ns: String,
    /// Name.
    pub name: String,
    /// What happened.
    pub kind: EventType,
    /// The object after the change (for deletions: the last state, with the deletion's RV).
    pub obj: Arc<Value>,
    /// The object before the change (selector-filtered watches need it).
    pub prev: Option<Arc<Value>>,
}

type Objects = BTreeMap<(String, String), Arc<Value>>;
type Entry<'a> = (&'a (String, String), &'a Arc<Value>);

/// The mutable state behind the store lock.
#[derive(Debug, Default)]
pub struct State {
    /// Current resourceVersion (the last one handed out).
    pub rv: u64,
    objects: HashMap<StorageKey, Objects>,
    history: VecDeque<Arc<Event>>,
    /// The oldest RV a watch may resume from: the history holds every event after it.
    pub window_start: u64,
}

/// The store.
#[derive(Debug)]
pub struct Store {
    state: Mutex<State>,
    tx: broadcast::Sender<Arc<Event>>,
    persist: Option<Persist>,
    history_cap: usize,
}

/// Persistence acknowledgements a write must wait for before it is answered.
#[derive(Debug, Default)]
#[must_use = "a write is durable only once its acknowledgement has been awaited"]
pub struct Pending(Vec<tokio::sync::oneshot::Receiver<Result<(), String>>>);

impl Pending {
    /// Wait until every record of the write is on disk.
    pub async fn durable(self) -> ApiResult<()> {
        for rx in self.0 {
            match rx.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(ApiError::Internal(e)),
                Err(_) => return Err(ApiError::Internal(PersistError::Stopped.to_string())),
            }
        }
        Ok(())
    }

    /// Merge another write's acknowledgements into this one.
    pub fn extend(&mut self, other: Pending) {
        self.0.extend(other.0);
    }
}

/// A write transaction: the store lock plus the acknowledgements collected so far.
pub struct Txn<'a> {
    store: &'a Store,
    /// The locked state.
    pub state: MutexGuard<'a, State>,
    pending: Pending,
}

impl Store {
    /// An in-memory store, or a persistent one when `data_dir` is given (state is restored from it).
    pub fn open(data_dir: Option<&Path>, history_cap: usize) -> Result<Self, PersistError> {
        let (tx, _) = broadcast::channel(8192);
        let mut state = State::default();
        let persist = match data_dir {
            None => None,
            Some(dir) => {
                let (p, loaded) = Persist::open(dir)?;
                state.rv = loaded.rv;
                for (key, ns, name, obj) in loaded.objects {
                    state
                        .objects
                        .entry(key)
                        .or_default()
                        .insert((ns, name), Arc::new(obj));
                }
                Some(p)
            }
        };
        // Nothing before now can be replayed: old watch RVs get 410 and relist.
        state.window_start = state.rv;
        Ok(Self {
            state: Mutex::new(state),
            tx,
            persist,
            history_cap,
        })
    }

    /// Lock the store for reading or writing.
    pub fn txn(&self) -> Txn<'_> {
        Txn {
            store: self,
            state: self.state.lock().unwrap_or_else(|p| p.into_inner()),
            pending: Pending::default(),
        }
    }

    /// Subscribe to live events (call with the lock held to line up with the history).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }
}

impl Txn<'_> {
    /// Current RV.
    pub fn rv(&self) -> u64 {
        self.state.rv
    }

    /// One object.
    pub fn get(&self, key: &StorageKey, ns: &str, name: &str) -> Option<Arc<Value>> {
        self.state
            .objects
            .get(key)
            .and_then(|m| m.get(&(ns.to_string(), name.to_string())))
            .cloned()
    }

    /// Objects of a storage in key order, optionally in one namespace, after `after` (exclusive).
    pub fn list(
        &self,
        key: &StorageKey,
        ns: Option<&str>,
        after: Option<&(String, String)>,
    ) -> Vec<Arc<Value>> {
        let Some(m) = self.state.objects.get(key) else {
            return Vec::new();
        };
        let range: Box<dyn Iterator<Item = Entry<'_>>> = match after {
            Some(a) => Box::new(m.range::<(String, String), _>((
                std::ops::Bound::Excluded(a.clone()),
                std::ops::Bound::Unbounded,
            ))),
            None => Box::new(m.iter()),
        };
        range
            .filter(|((n, _), _)| ns.is_none_or(|want| want == n))
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Every (storage key, object) pair (GC scans).
    pub fn all(&self) -> Vec<(StorageKey, Arc<Value>)> {
        self.state
            .objects
            .iter()
            .flat_map(|(k, m)| m.values().map(move |v| (k.clone(), v.clone())))
            .collect()
    }

    /// Events after `rv` in the history, or None when `rv` is older than the window.
    pub fn history_since(&self, rv: u64) -> Option<Vec<Arc<Event>>> {
        if rv < self.state.window_start {
            return None;
        }
        Some(
            self.state
                .history
                .iter()
                .filter(|e| e.rv > rv)
                .cloned()
                .collect(),
        )
    }

    /// Subscribe to live events, lined up with the history under this lock.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.store.subscribe()
    }

    fn record(&mut self, ev: Event, persisted: Option<&Value>) {
        if let Some(p) = &self.store.persist {
            self.pending
                .0
                .push(p.append(ev.rv, &ev.key, &ev.ns, &ev.name, persisted));
        }
        let ev = Arc::new(ev);
        self.state.history.push_back(ev.clone());
        while self.state.history.len() > self.store.history_cap {
            if let Some(old) = self.state.history.pop_front() {
                self.state.window_start = old.rv;
            }
        }
        // No receivers is fine: nobody is watching.
        let _ = self.store.tx.send(ev);
    }

    /// Store a new or changed object with the next RV (written into `metadata.resourceVersion`).
    pub fn put(&mut self, key: &StorageKey, ns: &str, name: &str, mut obj: Value) -> Arc<Value> {
        self.state.rv += 1;
        let rv = self.state.rv;
        if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert("resourceVersion".into(), Value::String(rv.to_string()));
        }
        let obj = Arc::new(obj);
        let prev = self
            .state
            .objects
            .entry(key.clone())
            .or_default()
            .insert((ns.to_string(), name.to_string()), obj.clone());
        let kind = if prev.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        let ev = Event {
            rv,
            key: key.clone(),
            ns: ns.to_string(),
            name: name.to_string(),
            kind,
            obj: obj.clone(),
            prev,
        };
        self.record(ev, Some(&obj));
        obj
    }

    /// Remove an object; the returned last state carries the deletion's RV.
    pub fn delete(&mut self, key: &StorageKey, ns: &str, name: &str) -> Option<Arc<Value>> {
        let prev = self
            .state
            .objects
            .get_mut(key)
            .and_then(|m| m.remove(&(ns.to_string(), name.to_string())))?;
        self.state.rv += 1;
        let rv = self.state.rv;
        let mut last = (*prev).clone();
        if let Some(meta) = last.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert("resourceVersion".into(), Value::String(rv.to_string()));
        }
        let last = Arc::new(last);
        let ev = Event {
            rv,
            key: key.clone(),
            ns: ns.to_string(),
            name: name.to_string(),
            kind: EventType::Deleted,
            obj: last.clone(),
            prev: Some(prev),
        };
        self.record(ev, None);
        Some(last)
    }

    /// Finish: release the lock and hand back what must be awaited for durability.
    pub fn finish(self) -> Pending {
        self.pending
    }
}
