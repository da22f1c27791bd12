//! Memory limits of pod processes: a memory cgroup (v1 or v2) per pod where
//! one can be created, else `RLIMIT_AS`; and reading a cgroup's OOM kills.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// How a memory limit is enforced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Enforcement {
    None,
    CgroupV1(PathBuf),
    CgroupV2(PathBuf),
    RlimitAs,
    /// The container runtime (a Docker container's own memory cgroup).
    Runtime,
}

impl Enforcement {
    pub(super) fn name(&self) -> &'static str {
        match self {
            Enforcement::None => "none",
            Enforcement::CgroupV1(_) => "cgroup-v1",
            Enforcement::CgroupV2(_) => "cgroup-v2",
            Enforcement::RlimitAs => "rlimit-as",
            Enforcement::Runtime => "container-runtime",
        }
    }
}

fn own_cgroup(controller_line: impl Fn(&str) -> bool) -> Option<String> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    text.lines()
        .find(|l| controller_line(l))
        .and_then(|l| l.splitn(3, ':').nth(2))
        .map(str::to_string)
}

/// Create a memory cgroup for a pod with the given limit, v1 first, then v2.
pub(super) fn make_cgroup(pod_uid: &str, limit: u64) -> Option<Enforcement> {
    let v1_root = Path::new("/sys/fs/cgroup/memory");
    if v1_root.join("memory.limit_in_bytes").exists() || v1_root.join("cgroup.procs").exists() {
        let own = own_cgroup(|l| {
            l.split(':')
                .nth(1)
                .is_some_and(|c| c.split(',').any(|x| x == "memory"))
        })
        .unwrap_or_else(|| "/".into());
        let dir = v1_root
            .join(own.trim_start_matches('/'))
            .join(format!("devcluster-{pod_uid}"));
        if std::fs::create_dir_all(&dir).is_ok()
            && std::fs::write(dir.join("memory.limit_in_bytes"), limit.to_string()).is_ok()
        {
            // Also cap swap where accounted, so the process cannot escape the limit by swapping.
            let _ = std::fs::write(dir.join("memory.memsw.limit_in_bytes"), limit.to_string());
            return Some(Enforcement::CgroupV1(dir));
        }
        let _ = std::fs::remove_dir(&dir);
    }
    let v2_root = Path::new("/sys/fs/cgroup");
    if v2_root.join("cgroup.controllers").exists() {
        let own = own_cgroup(|l| l.starts_with("0::")).unwrap_or_else(|| "/".into());
        let parent = v2_root.join(own.trim_start_matches('/'));
        let _ = std::fs::write(parent.join("cgroup.subtree_control"), "+memory");
        let dir = parent.join(format!("devcluster-{pod_uid}"));
        if std::fs::create_dir_all(&dir).is_ok()
            && std::fs::write(dir.join("memory.max"), limit.to_string()).is_ok()
        {
            let _ = std::fs::write(dir.join("memory.swap.max"), "0");
            return Some(Enforcement::CgroupV2(dir));
        }
        let _ = std::fs::remove_dir(&dir);
    }
    None
}

pub(super) fn cgroup_oom(e: &Enforcement) -> bool {
    let read = |p: PathBuf| std::fs::read_to_string(p).unwrap_or_default();
    let count = |text: &str, key: &str| {
        text.lines()
            .find_map(|l| {
                l.strip_prefix(key)
                    .map(|v| v.trim().parse::<u64>().unwrap_or(0))
            })
            .unwrap_or(0)
    };
    match e {
        Enforcement::CgroupV1(d) => {
            let oc = read(d.join("memory.oom_control"));
            count(&oc, "oom_kill ") > 0 || count(&oc, "under_oom ") > 0
        }
        Enforcement::CgroupV2(d) => count(&read(d.join("memory.events")), "oom_kill ") > 0,
        _ => false,
    }
}

pub(super) async fn kill_cgroup(e: &Enforcement) {
    let dir = match e {
        Enforcement::CgroupV1(d) | Enforcement::CgroupV2(d) => d,
        _ => return,
    };
    if let Enforcement::CgroupV2(d) = e
        && std::fs::write(d.join("cgroup.kill"), "1").is_ok()
    {
        return;
    }
    let pids: Vec<String> = std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    if !pids.is_empty() {
        let _ = tokio::process::Command::new("kill")
            .arg("-9")
            .args(&pids)
            .status()
            .await;
    }
}

pub(super) async fn remove_cgroup(e: &Enforcement) {
    if let Enforcement::CgroupV1(d) | Enforcement::CgroupV2(d) = e {
        // The kernel refuses rmdir until the last task is gone; retry briefly.
        for _ in 0..50 {
            if std::fs::remove_dir(d).is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tracing::warn!(dir = %d.display(), "could not remove pod cgroup");
    }
}
