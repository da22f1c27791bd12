//! Reading the CPU and memory limits of the process's cgroup (v2 or v1), which
//! decide how many OCR workers run. In a Job's pod these are the container's
//! `resources.limits`.

use std::path::{Path, PathBuf};

use crate::decide::Limits;

/// Limits of the cgroup this process runs in; unknown parts stay `None`.
pub fn current() -> Limits {
    let proc_cgroup = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    read_limits(Path::new("/sys/fs/cgroup"), &proc_cgroup)
}

/// Limits under a cgroup filesystem mounted at `root`, for a process whose
/// `/proc/self/cgroup` reads `proc_cgroup`. Inside a container the cgroup
/// namespace makes the path `/`; on a host it is the full path, and v1
/// controllers each have their own hierarchy.
pub fn read_limits(root: &Path, proc_cgroup: &str) -> Limits {
    let read = |path: PathBuf| std::fs::read_to_string(path).ok();
    let mut limits = Limits::default();
    for line in proc_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let rel = path.trim_start_matches('/');
        if controllers.is_empty() {
            // The process's own cgroup, or the mount's root when the path is
            // not visible (a container sharing the host's cgroup namespace).
            for dir in [root.join(rel), root.to_path_buf()] {
                if limits.cpus.is_none() {
                    limits.cpus = read(dir.join("cpu.max")).and_then(|t| parse_cpu_max(&t));
                }
                if limits.memory_bytes.is_none() {
                    limits.memory_bytes =
                        read(dir.join("memory.max")).and_then(|t| parse_memory(&t));
                }
            }
            continue;
        }
        for controller in controllers.split(',') {
            match controller {
                "memory" if limits.memory_bytes.is_none() => {
                    limits.memory_bytes = [root.join("memory").join(rel), root.join("memory")]
                        .into_iter()
                        .find_map(|dir| {
                            read(dir.join("memory.limit_in_bytes")).and_then(|t| parse_memory(&t))
                        });
                }
                "cpu" if limits.cpus.is_none() => {
                    limits.cpus = [root.join("cpu").join(rel), root.join("cpu")]
                        .into_iter()
                        .find_map(|dir| {
                            let quota = read(dir.join("cpu.cfs_quota_us"))?;
                            let period = read(dir.join("cpu.cfs_period_us"))?;
                            parse_cfs(&quota, &period)
                        });
                }
                _ => {}
            }
        }
    }
    limits
}

/// cgroup v2 `cpu.max`: `max 100000` (unlimited) or `200000 100000` (2 CPUs).
pub fn parse_cpu_max(text: &str) -> Option<f64> {
    let mut parts = text.split_whitespace();
    let quota = parts.next()?;
    let period: f64 = parts.next().unwrap_or("100000").parse().ok()?;
    if quota == "max" || period <= 0.0 {
        return None;
    }
    let quota: f64 = quota.parse().ok()?;
    (quota > 0.0).then_some(quota / period)
}

/// cgroup v1 CFS quota and period; a quota of -1 means unlimited.
pub fn parse_cfs(quota: &str, period: &str) -> Option<f64> {
    let quota: f64 = quota.trim().parse().ok()?;
    let period: f64 = period.trim().parse().ok()?;
    (quota > 0.0 && period > 0.0).then_some(quota / period)
}

/// A memory limit in bytes; `max` (v2) or a huge v1 value (page-rounded i64::MAX) means none.
pub fn parse_memory(text: &str) -> Option<u64> {
    let text = text.trim();
    if text == "max" {
        return None;
    }
    let bytes: u64 = text.parse().ok()?;
    (bytes < (1 << 60)).then_some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_files_parse() {
        assert_eq!(parse_cpu_max("max 100000\n"), None);
        assert_eq!(parse_cpu_max("150000 100000\n"), Some(1.5));
        assert_eq!(parse_memory("max\n"), None);
        assert_eq!(parse_memory("536870912\n"), Some(536_870_912));
    }

    #[test]
    fn v1_files_parse() {
        assert_eq!(parse_cfs("-1", "100000"), None);
        assert_eq!(parse_cfs("50000\n", "100000\n"), Some(0.5));
        assert_eq!(parse_memory("9223372036854771712"), None);
    }

    #[test]
    fn limits_are_read_from_the_process_cgroup() {
        let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let write = |rel: &str, text: &str| {
            let path = root.path().join(rel);
            std::fs::create_dir_all(path.parent().unwrap_or(root.path()))
                .unwrap_or_else(|e| panic!("{e}"));
            std::fs::write(path, text).unwrap_or_else(|e| panic!("{e}"));
        };
        // v2, namespaced: the process sits at the root of its cgroup.
        write("cpu.max", "200000 100000");
        write("memory.max", "1073741824");
        let v2 = read_limits(root.path(), "0::/\n");
        assert_eq!(
            v2,
            Limits {
                cpus: Some(2.0),
                memory_bytes: Some(1 << 30)
            }
        );

        // v1 on a host: each controller has its own hierarchy and path.
        write("memory/jobs/a/memory.limit_in_bytes", "268435456");
        write("cpu/cpu.cfs_quota_us", "100000");
        write("cpu/cpu.cfs_period_us", "100000");
        let v1 = read_limits(root.path(), "4:memory:/jobs/a\n2:cpu,cpuacct:/other\n");
        assert_eq!(
            v1,
            Limits {
                cpus: Some(1.0),
                memory_bytes: Some(256 << 20)
            }
        );
    }
}
