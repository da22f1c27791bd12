//! Options and results of the registry operations, as parsed from query strings and bodies.

use std::time::Duration;

use serde_json::Value;

use crate::selectors::{FieldSelector, LabelSelector};

/// Configuration of the emulated API server.
#[derive(Debug, Clone)]
pub struct Config {
    /// Persist to this directory (None: in memory only).
    pub data_dir: Option<std::path::PathBuf>,
    /// Events kept for watch resumption; older RVs get 410 Expired.
    pub history: usize,
    /// Interval between BOOKMARK events on watches that allow them.
    pub bookmark_interval: Duration,
    /// Watch length when the client sends no `timeoutSeconds`.
    pub default_watch_timeout: Duration,
    /// How often the garbage collector scans even without a wake-up.
    pub gc_interval: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: None,
            history: 10_000,
            bookmark_interval: Duration::from_secs(10),
            default_watch_timeout: Duration::from_secs(1800),
            gc_interval: Duration::from_secs(2),
        }
    }
}

/// `fieldValidation` query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FieldValidation {
    /// Drop unknown fields silently.
    #[default]
    Ignore,
    /// Drop unknown fields (a real server also adds a Warning header).
    Warn,
    /// Reject unknown fields with 400.
    Strict,
}

/// Options shared by writes.
#[derive(Debug, Clone, Default)]
pub struct WriteOpts {
    /// `dryRun=All`: run everything but do not store.
    pub dry_run: bool,
    /// Unknown-field handling.
    pub field_validation: FieldValidation,
    /// `fieldManager` query parameter (required for server-side apply).
    pub field_manager: Option<String>,
    /// The User-Agent's first token (`kubectl`, `helm`): the manager of a
    /// non-apply write that names none, as the server records it.
    pub user_agent_manager: Option<String>,
    /// `force` query parameter, when given.
    pub force: Option<bool>,
    /// Set by server-side apply, which computed the object's managedFields itself.
    pub(crate) applied: bool,
    /// Keys the JSON body repeats (a strict-decoding error, like unknown fields).
    pub duplicates: Vec<String>,
    /// `Warning` headers for the response (`fieldValidation=Warn`).
    pub warnings: Warnings,
}

impl WriteOpts {
    /// The manager a non-apply write is recorded under. Writes from inside the
    /// emulator (executor, garbage collector) name none and are `devcluster`'s.
    pub fn manager(&self) -> &str {
        self.field_manager
            .as_deref()
            .or(self.user_agent_manager.as_deref())
            .unwrap_or("devcluster")
    }
}

/// Warnings collected while a request is served, for its `Warning: 299` headers.
#[derive(Debug, Clone, Default)]
pub struct Warnings(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl Warnings {
    /// Add warnings.
    pub fn extend(&self, w: impl IntoIterator<Item = String>) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).extend(w);
    }

    /// The warnings so far.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// PATCH body types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// `application/merge-patch+json`.
    Merge,
    /// `application/json-patch+json`.
    Json,
    /// `application/strategic-merge-patch+json` (built-in kinds only).
    Strategic,
    /// `application/apply-patch+yaml` (server-side apply).
    Apply,
}

/// `DeleteOptions` body.
#[derive(Debug, Clone, Default)]
pub struct DeleteOpts {
    /// `Background`, `Foreground` or `Orphan`.
    pub propagation: Option<String>,
    /// Precondition on uid.
    pub uid: Option<String>,
    /// Precondition on resourceVersion.
    pub resource_version: Option<String>,
    /// `dryRun: ["All"]`.
    pub dry_run: bool,
}

impl DeleteOpts {
    /// Parse a DeleteOptions body (empty = defaults).
    pub fn from_json(v: &Value) -> Self {
        Self {
            propagation: v
                .get("propagationPolicy")
                .and_then(Value::as_str)
                .map(str::to_string),
            uid: v
                .pointer("/preconditions/uid")
                .and_then(Value::as_str)
                .map(str::to_string),
            resource_version: v
                .pointer("/preconditions/resourceVersion")
                .and_then(Value::as_str)
                .map(str::to_string),
            dry_run: v
                .get("dryRun")
                .and_then(Value::as_array)
                .is_some_and(|a| a.iter().any(|x| x == "All")),
        }
    }
}

/// List query options.
#[derive(Debug, Clone, Default)]
pub struct ListOpts {
    /// Label selector.
    pub labels: LabelSelector,
    /// Field selector.
    pub fields: FieldSelector,
    /// Page size (0 = everything).
    pub limit: usize,
    /// Continue token.
    pub continue_token: Option<String>,
}

/// One page of a list.
#[derive(Debug, Clone)]
pub struct ListPage {
    /// Items in served form.
    pub items: Vec<Value>,
    /// The list's resourceVersion.
    pub rv: u64,
    /// Continue token when more items remain.
    pub cont: Option<String>,
    /// How many items remain after this page.
    pub remaining: Option<usize>,
}
