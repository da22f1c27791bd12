//! The process of a running pod: its environment (env, envFrom, downward API
//! fields), emptyDir volumes as directories, the memory limit (cgroup or
//! `RLIMIT_AS`), and a task that waits for it and reports its [`Exit`].

use std::collections::HashMap;
use std::path::PathBuf;

use serde_json::{Value, json};
use tokio::sync::oneshot;

use super::cgroup::{Enforcement, cgroup_oom, kill_cgroup, make_cgroup, remove_cgroup};
use super::kubelet::{Exit, RunningPod};
use super::logs::{LogStream, pump};
use super::scheduler::{NODE_NAME, Requests};
use super::{Executor, MEMORY_ANNOTATION, TERMINATION_ENV, parse_quantity};
use crate::api::{PatchType, WriteOpts, now};

/// What runs for a pod's container.
pub(super) enum Program {
    /// A local program: the argv.
    Process(Vec<String>),
    /// The container's image on the Docker engine, with its `command`/`args`
    /// (each empty when the image's own entrypoint/cmd stand).
    Container {
        command: Vec<String>,
        args: Vec<String>,
        security: super::docker::Security,
    },
}

/// Host variables the `docker` CLI itself needs (its engine, its config).
const DOCKER_CLI_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "DOCKER_HOST",
    "DOCKER_CONFIG",
    "DOCKER_CONTEXT",
    "XDG_RUNTIME_DIR",
];
/// How long output is still read after the process exited (from descendants
/// holding its pipes) before the log is closed.
const OUTPUT_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

impl Executor {
    /// Variables of one `envFrom` entry: every key of the named Secret (base64
    /// `data` decoded, `stringData` as is) or ConfigMap, with the optional prefix.
    /// A missing optional source contributes nothing; a missing required one too,
    /// with a warning (a kubelet would keep the pod from starting).
    fn env_from(&self, ns: &str, source: &Value) -> Vec<(String, String)> {
        use base64::Engine as _;
        let prefix = source["prefix"].as_str().unwrap_or("");
        let (resource, reference, decode) = if source.get("secretRef").is_some() {
            ("secrets", &source["secretRef"], true)
        } else if source.get("configMapRef").is_some() {
            ("configmaps", &source["configMapRef"], false)
        } else {
            return Vec::new();
        };
        let Some(name) = reference["name"].as_str() else {
            return Vec::new();
        };
        let object = self
            .server
            .resource("", "v1", resource)
            .and_then(|ri| self.server.get(&ri, ns, name).ok());
        let Some(object) = object else {
            if reference["optional"].as_bool() != Some(true) {
                tracing::warn!(ns, name, resource, "envFrom source not found");
            }
            return Vec::new();
        };
        let mut vars = Vec::new();
        for (key, value) in object["data"].as_object().into_iter().flatten() {
            let Some(text) = value.as_str() else { continue };
            let value = if decode {
                match base64::engine::general_purpose::STANDARD.decode(text) {
                    Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                    Err(_) => continue,
                }
            } else {
                text.to_owned()
            };
            vars.push((format!("{prefix}{key}"), value));
        }
        for (key, value) in object["stringData"].as_object().into_iter().flatten() {
            if let Some(text) = value.as_str() {
                vars.push((format!("{prefix}{key}"), text.to_owned()));
            }
        }
        vars
    }

    /// Starts `program` as `pod`'s first container.
    pub(super) async fn launch(
        &mut self,
        pod: &Value,
        container: &Value,
        program: Program,
        requests: Requests,
    ) {
        let uid = crate::api::meta_string(pod, "uid");
        let ns = crate::api::meta_string(pod, "namespace");
        let name = crate::api::meta_string(pod, "name");
        let cname = container["name"].as_str().unwrap_or("main").to_string();
        let image = container["image"].as_str().unwrap_or_default().to_string();

        let pod_dir = self.config.work_dir.join(&uid);
        let _ = std::fs::create_dir_all(&pod_dir);
        let term_path = pod_dir.join("termination-log");
        let docker = match &program {
            Program::Container { .. } => self.config.container_runtime.clone(),
            Program::Process(_) => None,
        };
        // A container gets its pod's variables only; a local process also the
        // host's pass-through ones and where to write its termination message.
        let mut env: Vec<(String, String)> = Vec::new();
        if docker.is_none() {
            env.extend(
                self.config
                    .pass_env
                    .iter()
                    .filter_map(|k| std::env::var(k).ok().map(|v| (k.clone(), v))),
            );
            env.push((
                TERMINATION_ENV.into(),
                term_path.to_string_lossy().to_string(),
            ));
        }
        // envFrom first, so that `env` entries override them, as the kubelet does.
        for source in container["envFrom"].as_array().into_iter().flatten() {
            env.extend(self.env_from(&ns, source));
        }
        for e in container["env"].as_array().into_iter().flatten() {
            let Some(k) = e["name"].as_str() else {
                continue;
            };
            let v = if let Some(v) = e["value"].as_str() {
                Some(v.to_string())
            } else if let Some(fp) = e
                .pointer("/valueFrom/fieldRef/fieldPath")
                .and_then(Value::as_str)
            {
                match fp {
                    "metadata.name" => Some(name.clone()),
                    "metadata.namespace" => Some(ns.clone()),
                    "metadata.uid" => Some(uid.clone()),
                    "spec.nodeName" => Some(NODE_NAME.into()),
                    "status.podIP" | "status.hostIP" => Some("127.0.0.1".into()),
                    other => other
                        .strip_prefix("metadata.labels['")
                        .and_then(|l| l.strip_suffix("']"))
                        .and_then(|l| {
                            pod.pointer(&format!("/metadata/labels/{}", l.replace('/', "~1")))
                        })
                        .and_then(Value::as_str)
                        .map(str::to_string),
                }
            } else {
                None
            };
            if let Some(v) = v {
                env.push((k.to_string(), v));
            }
        }
        // emptyDir volumes become directories; a mount at /tmp becomes TMPDIR, and a
        // workingDir on a mount resolves to its directory.
        let mut mounts: HashMap<String, PathBuf> = HashMap::new();
        for v in pod
            .pointer("/spec/volumes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if v.get("emptyDir").is_some()
                && let Some(vn) = v["name"].as_str()
            {
                let d = pod_dir.join("volumes").join(vn);
                let _ = std::fs::create_dir_all(&d);
                if docker.is_some() {
                    // An emptyDir is world-writable, whatever user the container runs as.
                    use std::os::unix::fs::PermissionsExt;
                    let _ = std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777));
                }
                mounts.insert(vn.to_string(), d);
            }
        }
        let mut workdir = pod_dir.clone();
        let mut container_mounts = Vec::new();
        for m in container["volumeMounts"].as_array().into_iter().flatten() {
            let (Some(vn), Some(mp)) = (m["name"].as_str(), m["mountPath"].as_str()) else {
                continue;
            };
            let Some(d) = mounts.get(vn) else { continue };
            if docker.is_some() {
                container_mounts.push(super::docker::Mount {
                    host: d.clone(),
                    container: mp.to_string(),
                    read_only: m["readOnly"].as_bool().unwrap_or(false),
                });
                continue;
            }
            if mp == "/tmp" {
                env.push(("TMPDIR".into(), d.to_string_lossy().to_string()));
            }
            if container["workingDir"].as_str() == Some(mp) {
                workdir = d.clone();
            }
            env.push((
                format!("DEVCLUSTER_MOUNT_{}", vn.to_uppercase().replace('-', "_")),
                d.to_string_lossy().to_string(),
            ));
        }
        let limit = container
            .pointer("/resources/limits/memory")
            .and_then(|q| {
                q.as_str()
                    .map(str::to_string)
                    .or_else(|| q.as_u64().map(|n| n.to_string()))
            })
            .and_then(|q| parse_quantity(&q));
        let enforcement = match limit {
            // The container runtime enforces the limit itself.
            _ if docker.is_some() => Enforcement::Runtime,
            None => Enforcement::None,
            Some(l) if !self.config.disable_cgroups => {
                make_cgroup(&uid, l).unwrap_or(Enforcement::RlimitAs)
            }
            Some(_) => Enforcement::RlimitAs,
        };
        let container_name = super::docker::container_name(&ns, &name, &uid);
        let argv: Vec<String> = match (program, &docker) {
            (Program::Process(argv), _) => argv,
            (
                Program::Container {
                    command,
                    args,
                    security,
                },
                Some(docker),
            ) => {
                let term_target = container["terminationMessagePath"]
                    .as_str()
                    .unwrap_or("/dev/termination-log")
                    .to_string();
                if let Err(e) = super::docker::termination_file(&term_path) {
                    tracing::warn!(pod = %name, error = %e, "preparing the termination message file failed");
                }
                container_mounts.push(super::docker::Mount {
                    host: term_path.clone(),
                    container: term_target,
                    read_only: false,
                });
                let cpu_limit_millis = container
                    .pointer("/resources/limits/cpu")
                    .and_then(|q| {
                        q.as_str()
                            .map(str::to_string)
                            .or_else(|| q.as_u64().map(|n| n.to_string()))
                    })
                    .and_then(|q| pdfx_runtime::quantity::parse_millicores(&q).ok());
                let run = super::docker::ContainerRun {
                    name: &container_name,
                    executor_id: &self.config.work_dir.to_string_lossy(),
                    pod_uid: &uid,
                    image: &image,
                    command: &command,
                    args: &args,
                    env: &env,
                    mounts: container_mounts,
                    working_dir: container["workingDir"].as_str(),
                    memory_limit: limit,
                    cpu_limit_millis,
                    security,
                };
                let mut argv = vec![docker.program.to_string_lossy().into_owned()];
                argv.extend(
                    docker
                        .run_args(&run)
                        .into_iter()
                        .map(|a| a.to_string_lossy().into_owned()),
                );
                // The CLI reads the pod's variables (`--env NAME`) from its own environment.
                env.extend(
                    DOCKER_CLI_ENV
                        .iter()
                        .filter_map(|k| std::env::var(k).ok().map(|v| ((*k).to_string(), v))),
                );
                argv
            }
            (Program::Container { .. }, None) => return,
        };
        let program = argv[0].clone();
        let mut argv: Vec<std::ffi::OsString> = match (&enforcement, limit) {
            (Enforcement::CgroupV1(d) | Enforcement::CgroupV2(d), _) => {
                let mut a: Vec<std::ffi::OsString> = vec![
                    "/bin/sh".into(),
                    "-c".into(),
                    "echo $$ > \"$0/cgroup.procs\" && exec \"$@\"".into(),
                    d.into(),
                ];
                a.extend(argv.iter().map(Into::into));
                a
            }
            (Enforcement::RlimitAs, Some(l)) => {
                let mut a: Vec<std::ffi::OsString> = vec![
                    "/bin/sh".into(),
                    "-c".into(),
                    "ulimit -v \"$0\" && exec \"$@\"".into(),
                    (l / 1024).max(1).to_string().into(),
                ];
                a.extend(argv.iter().map(Into::into));
                a
            }
            _ => argv.iter().map(Into::into).collect(),
        };
        // A pod's process must not outlive the executor (a kill -9 of `pdfx up`
        // would leave runners writing to storage): the kernel sends it SIGKILL
        // when its parent goes. setpriv sets that and execs, so no unsafe
        // pre_exec is needed; the setting survives the exec chain. (A container
        // outlives its `docker run` CLI: the executor's Reaper removes it.)
        if let Some(setpriv) = &self.setpriv {
            let mut wrapped: Vec<std::ffi::OsString> = vec![
                setpriv.into(),
                "--pdeathsig".into(),
                "KILL".into(),
                "--".into(),
            ];
            wrapped.append(&mut argv);
            argv = wrapped;
        }
        let mut cmd = tokio::process::Command::new(&argv[0]);
        cmd.args(&argv[1..]);
        cmd.env_clear()
            .envs(env)
            .current_dir(&workdir)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let started = now();
        let spawned = cmd.spawn();
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) => {
                remove_cgroup(&enforcement).await;
                self.patch_status(&self.pods, pod, json!({
                    "phase": "Failed", "reason": "StartError", "message": format!("starting {program:?}: {e}"),
                    "containerStatuses": [{"name": cname, "image": image, "imageID": "", "ready": false, "restartCount": 0, "started": false,
                        "state": {"terminated": {"exitCode": 128, "reason": "StartError", "message": e.to_string(), "startedAt": started, "finishedAt": now()}}}]
                }))
                .await;
                return;
            }
        };
        // stdout and stderr go, line by line as they arrive, into the pod's log.
        let log = self
            .logs
            .create(&ns, &name, &uid, &cname)
            .inspect_err(|e| tracing::warn!(pod = %name, error = %e, "creating the pod log failed"))
            .ok();
        let mut pumps = Vec::new();
        if let Some(log) = &log {
            if let Some(out) = child.stdout.take() {
                pumps.push(tokio::spawn(pump(out, LogStream::Stdout, log.clone())));
            }
            if let Some(err) = child.stderr.take() {
                pumps.push(tokio::spawn(pump(err, LogStream::Stderr, log.clone())));
            }
        }
        let pid = child.id().unwrap_or(0);
        tracing::info!(pod = %name, pid, enforcement = enforcement.name(), "started pod process");
        // Record the running state and the enforcement method.
        let meta_patch = serde_json::to_vec(
            &json!({"metadata": {"annotations": {MEMORY_ANNOTATION: enforcement.name()}}}),
        )
        .unwrap_or_default();
        let _ = self
            .server
            .patch(
                &self.pods,
                &ns,
                &name,
                PatchType::Merge,
                &meta_patch,
                false,
                &WriteOpts::default(),
            )
            .await;
        self.patch_status(&self.pods, pod, json!({
            "phase": "Running", "startTime": started, "hostIP": "127.0.0.1", "podIP": "127.0.0.1",
            "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": started},
                           {"type": "PodScheduled", "status": "True", "lastTransitionTime": started}],
            "containerStatuses": [{"name": cname, "image": image, "imageID": "", "ready": true, "started": true, "restartCount": 0,
                "containerID": format!("devcluster://{pid}"), "state": {"running": {"startedAt": started}}}]
        }))
        .await;
        let (kill_tx, mut kill_rx) = oneshot::channel();
        self.running.insert(
            uid.clone(),
            RunningPod {
                kill: Some(kill_tx),
                requests,
            },
        );
        let tx = self.exits_tx.clone();
        let term_decl = container["terminationMessagePath"]
            .as_str()
            .map(PathBuf::from);
        tokio::spawn(async move {
            let mut killed_by_us = false;
            let status = tokio::select! {
                s = child.wait() => s,
                _ = &mut kill_rx => {
                    killed_by_us = true;
                    if let Some(docker) = &docker {
                        docker.kill(&container_name).await;
                    }
                    kill_cgroup(&enforcement).await;
                    let _ = child.start_kill();
                    child.wait().await
                }
            };
            let (mut code, signal) = match status {
                Ok(s) => {
                    use std::os::unix::process::ExitStatusExt;
                    (
                        s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(9)),
                        s.signal(),
                    )
                }
                Err(_) => (137, Some(9)),
            };
            // A cgroup OOM kill, or (under RLIMIT_AS) a process dying of a signal after failing to allocate.
            let mut oom = !killed_by_us
                && (cgroup_oom(&enforcement)
                    || (enforcement == Enforcement::RlimitAs
                        && matches!(signal, Some(6 | 9 | 11))));
            if oom {
                code = 137;
            }
            // The engine knows how the container ended (the CLI's own exit
            // code says less: 125 for its own errors).
            if let Some(docker) = &docker
                && let Some((container_code, container_oom)) = docker.finish(&container_name).await
            {
                code = container_code;
                oom = container_oom && !killed_by_us;
            }
            kill_cgroup(&enforcement).await;
            remove_cgroup(&enforcement).await;
            // The container ends with its process: what it wrote is read to the
            // end, except from descendants that keep its pipes open.
            for mut p in pumps {
                if tokio::time::timeout(OUTPUT_GRACE, &mut p).await.is_err() {
                    p.abort();
                }
            }
            if let Some(log) = log {
                log.finish();
            }
            let mut message = std::fs::read_to_string(&term_path).unwrap_or_default();
            if message.is_empty()
                && let Some(p) = term_decl.filter(|p| !p.starts_with("/dev"))
            {
                message = std::fs::read_to_string(p).unwrap_or_default();
            }
            message.truncate(4096);
            let _ = tx.send(Exit {
                pod_uid: uid,
                ns,
                name,
                code,
                oom,
                killed_by_us,
                message,
                started,
                finished: now(),
            });
        });
    }
}
