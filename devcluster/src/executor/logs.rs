//! Captured container logs, stored as a kubelet stores them: one file per
//! container under `<work_dir>/logs/<ns>_<pod>_<uid>/<container>/0.log`, each
//! line in the CRI format (`<RFC3339Nano> <stdout|stderr> <F|P> <text>`),
//! stdout and stderr interleaved in arrival order. A file that reaches half the
//! bound is rotated to `0.log.1` (replacing the previous one), so a pod keeps
//! at most its bound of the newest output. Logs go with their pod.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::watch;

/// The kubelet's (containerd's) longest log record: longer lines are split
/// into partial (`P`) records.
pub const MAX_RECORD: usize = 16 * 1024;

const CURRENT: &str = "0.log";
const ROTATED: &str = "0.log.1";

/// Which stream a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStream {
    /// The process's standard output.
    Stdout,
    /// The process's standard error.
    Stderr,
}

impl LogStream {
    fn name(self) -> &'static str {
        match self {
            LogStream::Stdout => "stdout",
            LogStream::Stderr => "stderr",
        }
    }
}

/// Formats a time as Go's `time.RFC3339Nano` does (trailing zeros of the
/// fraction dropped), the format of CRI log files and of `timestamps=true`.
pub fn rfc3339_nano(t: chrono::DateTime<chrono::Utc>) -> String {
    use chrono::Timelike as _;
    let base = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let nanos = t.nanosecond() % 1_000_000_000;
    if nanos == 0 {
        return format!("{base}Z");
    }
    let frac = format!("{nanos:09}");
    format!("{base}.{}Z", frac.trim_end_matches('0'))
}

/// Where the readable part of a container's log is, in bytes counted since
/// the log was opened (so that a reader's position survives rotations).
struct State {
    file: Option<File>,
    /// Where `0.log.1` starts (it ends where `0.log` starts).
    rotated_start: u64,
    current_start: u64,
    /// The end of the last whole record.
    written: u64,
    /// The process has exited: nothing more will be written.
    finished: bool,
    /// The pod is gone and its log with it.
    removed: bool,
}

/// The log of one container.
pub struct ContainerLog {
    dir: PathBuf,
    /// Size at which `0.log` is rotated.
    half: u64,
    state: Mutex<State>,
    /// Bumped on every change, for followers.
    changed: watch::Sender<u64>,
}

impl std::fmt::Debug for ContainerLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContainerLog")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// A chunk read from a log.
#[derive(Debug, Default)]
pub struct Chunk {
    /// Whole records (possibly several), from `start`.
    pub bytes: Vec<u8>,
    /// Where the chunk starts: later than asked when rotation dropped the asked part.
    pub start: u64,
    /// The end of the log when the chunk was read.
    pub end: u64,
    /// No more will be written (the process exited, or the pod is gone).
    pub finished: bool,
}

impl ContainerLog {
    fn open(dir: PathBuf, max_bytes: u64, finished: bool) -> std::io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        let len = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
        let rotated = len(&dir.join(ROTATED));
        let current = len(&dir.join(CURRENT));
        let file = if finished {
            None
        } else {
            Some(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(dir.join(CURRENT))?,
            )
        };
        Ok(Self {
            dir,
            half: (max_bytes / 2).max(1),
            state: Mutex::new(State {
                file,
                rotated_start: 0,
                current_start: rotated,
                written: rotated + current,
                finished,
                removed: false,
            }),
            changed: watch::channel(0).0,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn bump(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A receiver that sees every later change.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Appends one record (`full`: it ends a line).
    pub fn append(&self, stream: LogStream, text: &[u8], full: bool) {
        let ts = rfc3339_nano(chrono::Utc::now());
        let tag = if full { "F" } else { "P" };
        let mut record = Vec::with_capacity(text.len() + ts.len() + 12);
        record.extend_from_slice(format!("{ts} {} {tag} ", stream.name()).as_bytes());
        record.extend_from_slice(text);
        record.push(b'\n');
        let mut st = self.lock();
        if st.removed {
            return;
        }
        if st.written - st.current_start + record.len() as u64 > self.half
            && st.written > st.current_start
            && let Err(e) = self.rotate(&mut st)
        {
            tracing::warn!(dir = %self.dir.display(), error = %e, "rotating a pod log failed");
        }
        let Some(file) = st.file.as_mut() else {
            return;
        };
        match file.write_all(&record) {
            Ok(()) => st.written += record.len() as u64,
            Err(e) => {
                tracing::warn!(dir = %self.dir.display(), error = %e, "writing a pod log failed")
            }
        }
        drop(st);
        self.bump();
    }

    /// `0.log` becomes `0.log.1` (the older one goes), and a new `0.log` starts.
    fn rotate(&self, st: &mut State) -> std::io::Result<()> {
        std::fs::rename(self.dir.join(CURRENT), self.dir.join(ROTATED))?;
        st.rotated_start = st.current_start;
        st.current_start = st.written;
        st.file = Some(
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.dir.join(CURRENT))?,
        );
        Ok(())
    }

    /// No more output will come (the process exited).
    pub fn finish(&self) {
        let mut st = self.lock();
        st.finished = true;
        st.file = None;
        drop(st);
        self.bump();
    }

    fn remove(&self) {
        let mut st = self.lock();
        st.removed = true;
        st.finished = true;
        st.file = None;
        if let Some(pod_dir) = self.dir.parent()
            && let Err(e) = std::fs::remove_dir_all(pod_dir)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(dir = %pod_dir.display(), error = %e, "removing a pod log failed");
        }
        drop(st);
        self.bump();
    }

    /// Where the readable log starts.
    pub fn start(&self) -> u64 {
        self.lock().rotated_start
    }

    /// Reads up to `max` bytes of whole records from `pos` (or from the oldest
    /// record kept, when rotation dropped `pos`).
    pub fn read(&self, pos: u64, max: usize) -> std::io::Result<Chunk> {
        let st = self.lock();
        let mut chunk = Chunk {
            start: pos.max(st.rotated_start),
            end: st.written,
            finished: st.finished,
            bytes: Vec::new(),
        };
        if st.removed || chunk.start >= st.written {
            chunk.start = chunk.start.min(st.written);
            return Ok(chunk);
        }
        let (path, offset, until) = if chunk.start >= st.current_start {
            (CURRENT, chunk.start - st.current_start, st.written)
        } else {
            (ROTATED, chunk.start - st.rotated_start, st.current_start)
        };
        let want = (until - chunk.start).min(max as u64);
        let mut f = File::open(self.dir.join(path))?;
        f.seek(SeekFrom::Start(offset))?;
        f.take(want).read_to_end(&mut chunk.bytes)?;
        // Only whole records (`max` exceeds the longest record): a chunk cut
        // by `max` ends at its last newline.
        if let Some(last) = chunk.bytes.iter().rposition(|b| *b == b'\n') {
            chunk.bytes.truncate(last + 1);
        }
        Ok(chunk)
    }
}

/// Copies a process's output stream into its log, line by line.
pub async fn pump(mut src: impl AsyncRead + Unpin, stream: LogStream, log: Arc<ContainerLog>) {
    let mut buf = vec![0u8; 32 * 1024];
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let n = match src.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                tracing::debug!(error = %e, "reading a pod's output failed");
                break;
            }
        };
        pending.extend_from_slice(&buf[..n]);
        let mut from = 0;
        while let Some(i) = pending[from..].iter().position(|b| *b == b'\n') {
            let line = &pending[from..from + i];
            if line.is_empty() {
                log.append(stream, b"", true);
            }
            let pieces = line.len().div_ceil(MAX_RECORD);
            for (k, piece) in line.chunks(MAX_RECORD).enumerate() {
                log.append(stream, piece, k + 1 == pieces);
            }
            from += i + 1;
        }
        pending.drain(..from);
        while pending.len() >= MAX_RECORD {
            log.append(stream, &pending[..MAX_RECORD], false);
            pending.drain(..MAX_RECORD);
        }
    }
    // A last line without a newline is still a whole line, as the runtime writes it.
    if !pending.is_empty() {
        log.append(stream, &pending, true);
    }
}

/// Every pod's logs under one directory.
pub struct LogStore {
    dir: PathBuf,
    max_bytes: u64,
    /// By pod uid, then container name.
    pods: Mutex<HashMap<String, HashMap<String, Arc<ContainerLog>>>>,
}

impl std::fmt::Debug for LogStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogStore")
            .field("dir", &self.dir)
            .field("max_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}

impl LogStore {
    /// The store in `dir`, with the logs an earlier executor left there (their
    /// processes are gone: they are finished).
    pub fn open(dir: PathBuf, max_bytes: u64) -> Self {
        let mut pods: HashMap<String, HashMap<String, Arc<ContainerLog>>> = HashMap::new();
        for pod_dir in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let name = pod_dir.file_name().to_string_lossy().into_owned();
            let Some((_, uid)) = name.rsplit_once('_') else {
                continue;
            };
            for c in std::fs::read_dir(pod_dir.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                let cname = c.file_name().to_string_lossy().into_owned();
                match ContainerLog::open(c.path(), max_bytes, true) {
                    Ok(log) => {
                        pods.entry(uid.to_string())
                            .or_default()
                            .insert(cname, Arc::new(log));
                    }
                    Err(e) => {
                        tracing::warn!(dir = %c.path().display(), error = %e, "reading a pod log failed")
                    }
                }
            }
        }
        Self {
            dir,
            max_bytes,
            pods: Mutex::new(pods),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, HashMap<String, Arc<ContainerLog>>>> {
        self.pods.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new log for a container that is starting (appending to what it has).
    pub fn create(
        &self,
        ns: &str,
        pod: &str,
        uid: &str,
        container: &str,
    ) -> std::io::Result<Arc<ContainerLog>> {
        let dir = self.dir.join(format!("{ns}_{pod}_{uid}")).join(container);
        let log = Arc::new(ContainerLog::open(dir, self.max_bytes, false)?);
        self.lock()
            .entry(uid.to_string())
            .or_default()
            .insert(container.to_string(), log.clone());
        Ok(log)
    }

    /// The log of a pod's container, when there is one.
    pub fn get(&self, uid: &str, container: &str) -> Option<Arc<ContainerLog>> {
        self.lock().get(uid)?.get(container).cloned()
    }

    /// Drops the logs of every pod not in `pods` (by uid): the pod is gone.
    pub fn retain(&self, pods: &HashSet<String>) {
        let gone: Vec<HashMap<String, Arc<ContainerLog>>> = {
            let mut all = self.lock();
            let uids: Vec<String> = all.keys().filter(|u| !pods.contains(*u)).cloned().collect();
            uids.iter().filter_map(|u| all.remove(u)).collect()
        };
        for log in gone.iter().flat_map(HashMap::values) {
            log.remove();
        }
    }
}

/// Where the API server finds the executor's log store (none without an executor).
#[derive(Debug, Default)]
pub struct LogRegistry(Mutex<Option<Arc<LogStore>>>);

impl LogRegistry {
    /// Installs the executor's store.
    pub fn set(&self, store: Arc<LogStore>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(store);
    }

    /// The executor's store, when one runs.
    pub fn get(&self) -> Option<Arc<LogStore>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[cfg(test)]
#[path = "logs_tests.rs"]
mod tests;
