//! The container runtime mode: a pod's container runs as a Docker container
//! from its own image, the way a kubelet with a container runtime runs it —
//! the security context (user, groups, read-only root, capabilities, no new
//! privileges), the memory and CPU limits, emptyDir volumes, and the
//! termination message file at the container's `terminationMessagePath` — so
//! that what a pod template asks for is enforced by a real runtime, not only
//! written down. Images are never pulled (`--pull never`): an image missing
//! from the engine is an image pull failure.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::Value;

/// Label on every container this executor starts, valued with its work dir,
/// so a restarted executor removes its own leftovers and nobody else's.
const EXECUTOR_LABEL: &str = "devcluster.pdfx.dev/executor";
/// Label naming the pod a container belongs to.
const POD_UID_LABEL: &str = "devcluster.pdfx.dev/pod-uid";

/// How pods run as containers.
#[derive(Debug, Clone)]
pub struct DockerRuntime {
    /// The `docker` CLI.
    pub program: PathBuf,
    /// `--network` of every container. `host` (the default) gives pods the
    /// machine's loopback, as the process runtime does, so they reach an S3
    /// server or OCR endpoint listening there.
    pub network: String,
    /// Host folders mounted at the same path in every container (read-write),
    /// e.g. `pdfx up`'s local storage folder.
    pub shared_folders: Vec<PathBuf>,
}

impl DockerRuntime {
    /// The `docker` on `PATH`, host network, nothing shared.
    pub fn new(program: PathBuf) -> Self {
        Self {
            program,
            network: "host".into(),
            shared_folders: Vec::new(),
        }
    }

    fn command(&self) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(&self.program);
        cmd.stdin(Stdio::null()).kill_on_drop(true);
        cmd
    }

    /// Output of a docker command that must succeed, else `None`.
    async fn output(&self, args: &[&str]) -> Option<String> {
        let out = self
            .command()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .output()
            .await
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// The image's configured user (`Config.User`), when the engine has the
    /// image; `None` when it has not.
    pub(super) async fn image_user(&self, image: &str) -> Option<String> {
        self.output(&["image", "inspect", "--format", "{{.Config.User}}", image])
            .await
    }

    /// Removes containers an earlier run of this executor left behind (their
    /// pods are marked Failed by the executor's start, as with a lost node).
    pub(super) async fn remove_leftovers(&self, executor_id: &str) {
        let filter = format!("label={EXECUTOR_LABEL}={}", executor_id);
        let Some(ids) = self
            .output(&["ps", "--all", "--quiet", "--filter", &filter])
            .await
        else {
            return;
        };
        for id in ids.split_whitespace() {
            tracing::info!(
                container = id,
                "removing a container of an earlier executor"
            );
            let _ = self.output(&["rm", "--force", id]).await;
        }
    }

    /// Stops a running container at once (SIGKILL), as the executor stops processes.
    pub(super) async fn kill(&self, name: &str) {
        let _ = self.output(&["kill", name]).await;
    }

    /// The container's end as the engine recorded it: (exit code, OOM killed);
    /// then the container is removed. `None` when it never got created.
    pub(super) async fn finish(&self, name: &str) -> Option<(i32, bool)> {
        let state = self
            .output(&[
                "container",
                "inspect",
                "--format",
                "{{.State.ExitCode}} {{.State.OOMKilled}}",
                name,
            ])
            .await;
        let _ = self.output(&["rm", "--force", name]).await;
        let state = state?;
        let mut parts = state.split_whitespace();
        let code = parts.next()?.parse().ok()?;
        let oom = parts.next() == Some("true");
        Some((code, oom))
    }

    /// The `docker run` command line of a container (the CLI stays in the
    /// foreground, its stdout and stderr are the container's).
    pub(super) fn run_args(&self, run: &ContainerRun<'_>) -> Vec<OsString> {
        let mut a: Vec<OsString> = vec![
            "run".into(),
            "--name".into(),
            run.name.into(),
            "--pull".into(),
            "never".into(),
            "--network".into(),
            (&self.network).into(),
            "--label".into(),
            format!("{EXECUTOR_LABEL}={}", run.executor_id).into(),
            "--label".into(),
            format!("{POD_UID_LABEL}={}", run.pod_uid).into(),
        ];
        let s = &run.security;
        if let Some(uid) = s.run_as_user {
            let user = match s.run_as_group {
                Some(gid) => format!("{uid}:{gid}"),
                None => uid.to_string(),
            };
            a.extend(["--user".into(), user.into()]);
        }
        for gid in &s.groups {
            a.extend(["--group-add".into(), gid.to_string().into()]);
        }
        if s.read_only_root {
            a.push("--read-only".into());
        }
        if s.no_new_privileges {
            a.extend(["--security-opt".into(), "no-new-privileges".into()]);
        }
        if s.privileged {
            a.push("--privileged".into());
        }
        for cap in &s.drop_capabilities {
            a.extend(["--cap-drop".into(), cap.into()]);
        }
        for cap in &s.add_capabilities {
            a.extend(["--cap-add".into(), cap.into()]);
        }
        if let Some(bytes) = run.memory_limit {
            // No swap beyond the limit, as a kubelet configures it.
            a.extend([
                "--memory".into(),
                bytes.to_string().into(),
                "--memory-swap".into(),
                bytes.to_string().into(),
            ]);
        }
        if let Some(millis) = run.cpu_limit_millis {
            a.extend([
                "--cpus".into(),
                format!("{:.3}", millis as f64 / 1000.0).into(),
            ]);
        }
        // Values come from the CLI's environment (`-e NAME`), so Secrets never
        // appear on a command line.
        for (name, _) in run.env {
            a.extend(["--env".into(), name.into()]);
        }
        for m in &run.mounts {
            let mut spec = OsString::from(&m.host);
            spec.push(":");
            spec.push(&m.container);
            if m.read_only {
                spec.push(":ro");
            }
            a.extend(["--volume".into(), spec]);
        }
        for folder in &self.shared_folders {
            let mut spec = OsString::from(folder);
            spec.push(":");
            spec.push(folder);
            a.extend(["--volume".into(), spec]);
        }
        if let Some(dir) = run.working_dir {
            a.extend(["--workdir".into(), dir.into()]);
        }
        if let Some((entrypoint, rest)) = run.command.split_first() {
            a.extend(["--entrypoint".into(), entrypoint.into()]);
            a.push(run.image.into());
            a.extend(rest.iter().map(Into::into));
        } else {
            a.push(run.image.into());
        }
        a.extend(run.args.iter().map(Into::into));
        a
    }
}

/// Removes an executor's containers when the executor is dropped (its task
/// aborted when `pdfx up` or the emulator stops): a container, unlike a child
/// process, does not end with the process that started it. A killed executor
/// cannot do this; its successor removes the leftovers on start.
pub(super) struct Reaper {
    pub(super) program: PathBuf,
    pub(super) executor_id: String,
}

impl Drop for Reaper {
    fn drop(&mut self) {
        let filter = format!("label={EXECUTOR_LABEL}={}", self.executor_id);
        let listed = std::process::Command::new(&self.program)
            .args(["ps", "--all", "--quiet", "--filter", &filter])
            .stdin(Stdio::null())
            .output();
        let Ok(listed) = listed else { return };
        let ids = String::from_utf8_lossy(&listed.stdout).to_string();
        if ids.trim().is_empty() {
            return;
        }
        let _ = std::process::Command::new(&self.program)
            .args(["rm", "--force"])
            .args(ids.split_whitespace())
            .stdin(Stdio::null())
            .output();
    }
}

/// A host path mounted into a container.
#[derive(Debug, Clone)]
pub(super) struct Mount {
    pub(super) host: PathBuf,
    pub(super) container: String,
    pub(super) read_only: bool,
}

/// Everything one `docker run` needs.
pub(super) struct ContainerRun<'a> {
    pub(super) name: &'a str,
    pub(super) executor_id: &'a str,
    pub(super) pod_uid: &'a str,
    pub(super) image: &'a str,
    pub(super) command: &'a [String],
    pub(super) args: &'a [String],
    pub(super) env: &'a [(String, String)],
    pub(super) mounts: Vec<Mount>,
    pub(super) working_dir: Option<&'a str>,
    pub(super) memory_limit: Option<u64>,
    pub(super) cpu_limit_millis: Option<u64>,
    pub(super) security: Security,
}

/// The effective security context of a pod's container: the container's
/// `securityContext` over the pod's, as the kubelet merges them.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Security {
    pub(super) run_as_user: Option<i64>,
    pub(super) run_as_group: Option<i64>,
    pub(super) run_as_non_root: bool,
    /// `fsGroup` and `supplementalGroups`.
    pub(super) groups: Vec<i64>,
    pub(super) read_only_root: bool,
    pub(super) no_new_privileges: bool,
    pub(super) privileged: bool,
    pub(super) drop_capabilities: Vec<String>,
    pub(super) add_capabilities: Vec<String>,
}

impl Security {
    pub(super) fn of(pod: &Value, container: &Value) -> Self {
        let pod_sc = pod.pointer("/spec/securityContext");
        let sc = container.get("securityContext");
        let int = |key: &str| {
            sc.and_then(|s| s.get(key))
                .and_then(Value::as_i64)
                .or_else(|| pod_sc.and_then(|s| s.get(key)).and_then(Value::as_i64))
        };
        let flag =
            |v: Option<&Value>, key: &str| v.and_then(|s| s.get(key)).and_then(Value::as_bool);
        let caps = |key: &str| -> Vec<String> {
            sc.and_then(|s| s.pointer(&format!("/capabilities/{key}")))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        };
        let mut groups: Vec<i64> = pod_sc
            .and_then(|s| s.get("fsGroup"))
            .and_then(Value::as_i64)
            .into_iter()
            .collect();
        groups.extend(
            pod_sc
                .and_then(|s| s.get("supplementalGroups"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_i64),
        );
        groups.dedup();
        Security {
            run_as_user: int("runAsUser"),
            run_as_group: int("runAsGroup"),
            run_as_non_root: flag(sc, "runAsNonRoot")
                .or(flag(pod_sc, "runAsNonRoot"))
                .unwrap_or(false),
            groups,
            read_only_root: flag(sc, "readOnlyRootFilesystem").unwrap_or(false),
            no_new_privileges: flag(sc, "allowPrivilegeEscalation") == Some(false),
            privileged: flag(sc, "privileged").unwrap_or(false),
            drop_capabilities: caps("drop"),
            add_capabilities: caps("add"),
        }
    }

    /// The kubelet's `runAsNonRoot` check against the user the container will
    /// run as (its `runAsUser`, else the image's user); the error is the
    /// kubelet's `CreateContainerConfigError` message.
    pub(super) fn check_non_root(
        &self,
        image_user: &str,
        pod: &str,
        container: &str,
    ) -> Result<(), String> {
        if !self.run_as_non_root {
            return Ok(());
        }
        let uid = match self.run_as_user {
            Some(uid) => uid,
            None => {
                let user = image_user.split(':').next().unwrap_or("");
                if user.is_empty() || user == "root" {
                    0
                } else {
                    match user.parse::<i64>() {
                        Ok(uid) => uid,
                        Err(_) => {
                            return Err(format!(
                                "container has runAsNonRoot and image has non-numeric user ({user}), cannot verify user is non-root (pod: \"{pod}\", container: {container})"
                            ));
                        }
                    }
                }
            }
        };
        if uid == 0 {
            return Err(format!(
                "container has runAsNonRoot and image will run as root (pod: \"{pod}\", container: {container})"
            ));
        }
        Ok(())
    }
}

/// A container name from the pod's namespace, name and uid: readable in
/// `docker ps`, unique per pod.
pub(super) fn container_name(ns: &str, pod: &str, uid: &str) -> String {
    let short: String = uid.chars().filter(|c| *c != '-').take(8).collect();
    format!("devcluster_{ns}_{pod}_{short}")
}

/// The `docker` to use: `$DOCKER` or `docker` on `PATH`.
pub fn find_docker() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("DOCKER").map(PathBuf::from)
        && p.is_file()
    {
        return Some(p);
    }
    super::kubelet::find_on_path("docker")
}

/// Prepares a file to be bind-mounted as the termination message: it must
/// exist before the mount and be writable by whatever user the container runs as.
pub(super) fn termination_file(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, b"")?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn runner_pod() -> Value {
        json!({"spec": {
            "securityContext": {"runAsNonRoot": true, "runAsUser": 65532, "runAsGroup": 65532, "fsGroup": 65532},
            "containers": [{"name": "runner", "image": "pdfx/ocr-runner:0.1.0", "securityContext": {
                "allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
                "capabilities": {"drop": ["ALL"]}}}]}})
    }

    #[test]
    fn the_container_context_is_merged_over_the_pods() {
        let pod = runner_pod();
        let s = Security::of(&pod, &pod["spec"]["containers"][0]);
        assert_eq!(s.run_as_user, Some(65532));
        assert_eq!(s.groups, vec![65532]);
        assert!(s.read_only_root && s.no_new_privileges && s.run_as_non_root);
        assert_eq!(s.drop_capabilities, vec!["ALL"]);
        let over = json!({"securityContext": {"runAsUser": 1000}});
        assert_eq!(Security::of(&pod, &over).run_as_user, Some(1000));
    }

    #[test]
    fn run_as_non_root_is_checked_against_the_image_user() {
        let mut s = Security {
            run_as_non_root: true,
            ..Security::default()
        };
        assert!(
            s.check_non_root("", "p", "c")
                .unwrap_err()
                .contains("will run as root")
        );
        assert!(s.check_non_root("0:0", "p", "c").is_err());
        assert!(
            s.check_non_root("app", "p", "c")
                .unwrap_err()
                .contains("non-numeric user (app)")
        );
        assert!(s.check_non_root("65532:65532", "p", "c").is_ok());
        s.run_as_user = Some(10);
        assert!(s.check_non_root("", "p", "c").is_ok());
        s.run_as_user = Some(0);
        assert!(s.check_non_root("65532", "p", "c").is_err());
    }

    #[test]
    fn run_args_carry_the_security_context_limits_and_mounts() {
        let pod = runner_pod();
        let rt = DockerRuntime {
            shared_folders: vec![PathBuf::from("/data/storage")],
            ..DockerRuntime::new(PathBuf::from("docker"))
        };
        let env = vec![("PDFX_SOURCE".to_string(), "secret-ish".to_string())];
        let args: Vec<String> = rt
            .run_args(&ContainerRun {
                name: "devcluster_ns_p_1234",
                executor_id: "/work",
                pod_uid: "u-1",
                image: "pdfx/ocr-runner:0.1.0",
                command: &[],
                args: &["job".to_string()],
                env: &env,
                mounts: vec![Mount {
                    host: PathBuf::from("/pods/u-1/volumes/tmp"),
                    container: "/tmp".into(),
                    read_only: false,
                }],
                working_dir: None,
                memory_limit: Some(512 * 1024 * 1024),
                cpu_limit_millis: Some(1500),
                security: Security::of(&pod, &pod["spec"]["containers"][0]),
            })
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let joined = args.join(" ");
        for expected in [
            "--pull never",
            "--user 65532:65532",
            "--group-add 65532",
            "--read-only",
            "--security-opt no-new-privileges",
            "--cap-drop ALL",
            "--memory 536870912 --memory-swap 536870912",
            "--cpus 1.500",
            "--env PDFX_SOURCE",
            "--volume /pods/u-1/volumes/tmp:/tmp",
            "--volume /data/storage:/data/storage",
            "pdfx/ocr-runner:0.1.0 job",
        ] {
            assert!(
                joined.contains(expected),
                "{expected:?} missing from {joined}"
            );
        }
        assert!(
            !joined.contains("secret-ish"),
            "env values stay off the command line"
        );
        assert!(joined.ends_with("pdfx/ocr-runner:0.1.0 job"));
    }

    #[test]
    fn a_command_replaces_the_entrypoint() {
        let rt = DockerRuntime::new(PathBuf::from("docker"));
        let command = vec!["/bin/sh".to_string(), "-c".to_string()];
        let args: Vec<String> = rt
            .run_args(&ContainerRun {
                name: "n",
                executor_id: "x",
                pod_uid: "u",
                image: "debian:bookworm-slim",
                command: &command,
                args: &["echo hi".to_string()],
                env: &[],
                mounts: Vec::new(),
                working_dir: Some("/w"),
                memory_limit: None,
                cpu_limit_millis: None,
                security: Security::default(),
            })
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let tail: Vec<&str> = args
            .iter()
            .rev()
            .take(6)
            .rev()
            .map(String::as_str)
            .collect();
        assert_eq!(
            tail,
            [
                "/w",
                "--entrypoint",
                "/bin/sh",
                "debian:bookworm-slim",
                "-c",
                "echo hi"
            ]
        );
    }
}
