//! The Job of one attempt, built from the resource and the configuration alone
//! (a pure function: the same inputs always give the same Job, so a restarted
//! operator recreates nothing and a test can check every field).

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::ResourceExt;
use pdfx_crd::layout;
use pdfx_crd::runner::RunnerOptions;
use pdfx_crd::runner::{EXIT_INVALID_INPUT, EXIT_SOURCE_UNAVAILABLE};
use pdfx_crd::{OcrEngine, PdfExtraction, Source};
use pdfx_storage::StorageUri;
use serde_json::json;

use crate::config::OperatorConfig;

/// Label on everything pdfx creates for an extraction: the resource's uid
/// (always a valid label value, unlike long names).
pub const EXTRACTION_UID_LABEL: &str = "pdfx.dev/extraction-uid";
/// Label with the resource's name, when it fits in a label value.
pub const EXTRACTION_NAME_LABEL: &str = "pdfx.dev/extraction";
pub const ATTEMPT_ANNOTATION: &str = "pdfx.dev/attempt";
pub const MANAGED_BY: &str = "pdfx-operator";
/// Kueue's queue label, copied from the resource to its Jobs.
pub const KUEUE_QUEUE_LABEL: &str = "kueue.x-k8s.io/queue-name";
pub const CONTAINER_NAME: &str = "runner";
/// Non-root user of the runner image.
pub const RUNNER_UID: i64 = 65532;

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("the resource has no namespace")]
    NoNamespace,
    #[error("the resource has no uid yet")]
    NoUid,
    #[error(
        "spec.ocr.engine is http but the operator has no OCR endpoint configured (--ocr-endpoint)"
    )]
    NoOcrEndpoint,
    #[error("building the Job: {0}")]
    Build(#[from] serde_json::Error),
    #[error("the output location: {0}")]
    Output(#[from] pdfx_storage::StorageError),
}

/// Name of the Job of `attempt`: `<name>-<attempt>`, shortened with a hash
/// when the name is too long for a Job (whose name becomes a 63-character label).
pub fn job_name(resource_name: &str, attempt: u32) -> String {
    let suffix = format!("-{attempt}");
    let max = 63 - suffix.len();
    if resource_name.len() <= max {
        return format!("{resource_name}{suffix}");
    }
    let hash = fnv1a(resource_name.as_bytes());
    let keep = max - 9;
    let head: String = resource_name.chars().take(keep).collect();
    format!("{}-{hash:08x}{suffix}", head.trim_end_matches(['-', '.']))
}

fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |hash, &b| {
        (hash ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// Joins a storage URL (`s3://bucket[/prefix]` or `file:///dir`) and a key.
pub fn storage_join(base: &StorageUri, key: &str) -> String {
    format!(
        "{}/{}",
        base.to_string().trim_end_matches('/'),
        key.trim_start_matches('/')
    )
}

/// The runner's source argument for a resource.
pub fn source_uri(resource: &PdfExtraction, config: &OperatorConfig) -> String {
    match &resource.spec.source {
        Source::S3(object) => format!("s3://{}/{}", object.bucket, object.key),
        Source::Url(url) => url.clone(),
        Source::Storage(object) => storage_join(&config.storage, &object.key),
    }
}

/// Where the runner writes: the resource's output, or the default prefix.
pub fn output_location(
    resource: &PdfExtraction,
    config: &OperatorConfig,
) -> Result<StorageUri, JobError> {
    let location = match &resource.spec.output {
        Some(output) => StorageUri::parse(&format!(
            "s3://{}/{}",
            output.s3.bucket,
            layout::normalize_prefix(&output.s3.prefix)
        ))?,
        None => {
            let namespace = resource.namespace().ok_or(JobError::NoNamespace)?;
            config
                .storage
                .join(&layout::default_prefix(&namespace, &resource.name_any()))?
        }
    };
    Ok(location)
}

/// [`output_location`] as the runner's argument.
pub fn output_uri(resource: &PdfExtraction, config: &OperatorConfig) -> Result<String, JobError> {
    Ok(output_location(resource, config)?.to_string())
}

/// What the runner is asked to do for a resource (its environment).
pub fn runner_options(
    resource: &PdfExtraction,
    config: &OperatorConfig,
) -> Result<RunnerOptions, JobError> {
    let mut options = RunnerOptions::new(
        source_uri(resource, config),
        output_uri(resource, config)?,
        &resource.spec.ocr,
    );
    if resource.spec.ocr.engine == OcrEngine::Http {
        options.ocr_endpoint = Some(config.ocr_endpoint.clone().ok_or(JobError::NoOcrEndpoint)?);
    }
    options.url_allowed_ranges = config.url_allowed_ranges.clone();
    Ok(options)
}

/// Labels selecting everything of one extraction.
pub fn selector_labels(uid: &str) -> std::collections::BTreeMap<String, String> {
    [
        (EXTRACTION_UID_LABEL.to_owned(), uid.to_owned()),
        (
            "app.kubernetes.io/managed-by".to_owned(),
            MANAGED_BY.to_owned(),
        ),
    ]
    .into()
}

/// The Job of attempt `attempt`: the runner asked for `runner`, with memory
/// limit `memory` and `cpu`.
pub fn desired_job(
    resource: &PdfExtraction,
    runner: &RunnerOptions,
    attempt: u32,
    memory: &Quantity,
    cpu: &Quantity,
    config: &OperatorConfig,
) -> Result<Job, JobError> {
    let namespace = resource.namespace().ok_or(JobError::NoNamespace)?;
    let uid = resource.uid().ok_or(JobError::NoUid)?;
    let name = resource.name_any();

    let mut labels = selector_labels(&uid);
    labels.insert("app.kubernetes.io/name".into(), "pdfx-runner".into());
    if name.len() <= 63 {
        labels.insert(EXTRACTION_NAME_LABEL.into(), name.clone());
    }
    if let Some(queue) = resource.labels().get(KUEUE_QUEUE_LABEL) {
        labels.insert(KUEUE_QUEUE_LABEL.into(), queue.clone());
    }

    let mut env: Vec<serde_json::Value> = runner
        .to_env()
        .into_iter()
        .map(|(name, value)| json!({"name": name, "value": value}))
        .collect();
    if let Some(endpoint) = &config.storage_endpoint {
        env.push(json!({"name": pdfx_storage::env::ENDPOINT, "value": endpoint}));
    }
    if let Some(region) = &config.storage_region {
        env.push(json!({"name": pdfx_storage::env::REGION, "value": region}));
    }
    let env_from = match &config.storage_secret {
        Some(secret) => json!([{"secretRef": {"name": secret}}]),
        None => json!([]),
    };

    let mut pod_spec = json!({
        "restartPolicy": "Never",
        "automountServiceAccountToken": false,
        "enableServiceLinks": false,
        "securityContext": {
            "runAsNonRoot": true,
            "runAsUser": RUNNER_UID,
            "runAsGroup": RUNNER_UID,
            "fsGroup": RUNNER_UID,
            "seccompProfile": {"type": "RuntimeDefault"}
        },
        "containers": [{
            "name": CONTAINER_NAME,
            "image": config.runner_image,
            "args": ["job"],
            "env": env,
            "envFrom": env_from,
            "resources": {
                "requests": {"memory": memory, "cpu": cpu},
                "limits": {"memory": memory, "cpu": cpu}
            },
            "securityContext": {
                "allowPrivilegeEscalation": false,
                "readOnlyRootFilesystem": true,
                "runAsNonRoot": true,
                "privileged": false,
                "capabilities": {"drop": ["ALL"]},
                "seccompProfile": {"type": "RuntimeDefault"}
            },
            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
            "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "FallbackToLogsOnError"
        }],
        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": config.tmp_size_limit.quantity()}}]
    });
    if let Some(policy) = &config.image_pull_policy {
        pod_spec["containers"][0]["imagePullPolicy"] = json!(policy);
    }
    if let Some(account) = &config.runner_service_account {
        pod_spec["serviceAccountName"] = json!(account);
    }

    let job = json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name(&name, attempt),
            "namespace": namespace,
            "labels": labels,
            "annotations": {ATTEMPT_ANNOTATION: attempt.to_string()},
            "ownerReferences": [{
                "apiVersion": "pdfx.dev/v1alpha1",
                "kind": "PdfExtraction",
                "name": name,
                "uid": uid,
                "controller": true,
                "blockOwnerDeletion": true
            }]
        },
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": config.active_deadline_seconds,
            "podFailurePolicy": {"rules": [
                {"action": "FailJob", "onExitCodes": {"containerName": CONTAINER_NAME, "operator": "In", "values": [EXIT_INVALID_INPUT, EXIT_SOURCE_UNAVAILABLE]}},
                {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}
            ]},
            "template": {
                "metadata": {"labels": labels},
                "spec": pod_spec
            }
        }
    });
    Ok(serde_json::from_value(job)?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use pdfx_crd::{OcrOptions, PdfExtractionSpec, S3Object, StorageObject};

    fn resource(source: Source) -> PdfExtraction {
        let mut r = PdfExtraction::new(
            "report",
            PdfExtractionSpec {
                source,
                output: None,
                ocr: OcrOptions::default(),
                resources: None,
                ttl_seconds_after_finished: None,
            },
        );
        r.metadata.namespace = Some("team-a".into());
        r.metadata.uid = Some("0b6f1c9e-0000-4000-8000-000000000001".into());
        r
    }

    fn job_json(resource: &PdfExtraction, config: &OperatorConfig) -> serde_json::Value {
        let runner = runner_options(resource, config).unwrap_or_else(|e| panic!("{e}"));
        let job = desired_job(
            resource,
            &runner,
            2,
            &Quantity("768Mi".into()),
            config.default_cpu.quantity(),
            config,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        serde_json::to_value(job).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Each requirement of the restricted Pod Security Standard, field by field.
    #[test]
    fn the_pod_meets_the_restricted_pod_security_standard() {
        let job = job_json(
            &resource(Source::Storage(StorageObject { key: "k".into() })),
            &OperatorConfig::new("img", "s3://bucket".parse().unwrap()),
        );
        let pod = &job["spec"]["template"]["spec"];
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
        assert_eq!(
            pod["securityContext"]["seccompProfile"]["type"],
            "RuntimeDefault"
        );
        assert_ne!(pod["securityContext"]["runAsUser"], 0);
        assert_eq!(pod["automountServiceAccountToken"], false);
        assert!(
            pod.get("hostNetwork").is_none()
                && pod.get("hostPID").is_none()
                && pod.get("hostIPC").is_none()
        );
        for volume in pod["volumes"].as_array().unwrap_or(&vec![]) {
            assert!(
                volume.get("emptyDir").is_some(),
                "only emptyDir volumes: {volume}"
            );
        }
        let containers = pod["containers"].as_array().cloned().unwrap_or_default();
        assert_eq!(containers.len(), 1);
        let c = &containers[0]["securityContext"];
        assert_eq!(c["allowPrivilegeEscalation"], false);
        assert_eq!(c["privileged"], false);
        assert_eq!(c["readOnlyRootFilesystem"], true);
        assert_eq!(c["runAsNonRoot"], true);
        assert_eq!(c["capabilities"]["drop"], serde_json::json!(["ALL"]));
        assert!(c["capabilities"].get("add").is_none());
        assert_eq!(c["seccompProfile"]["type"], "RuntimeDefault");
        assert!(containers[0].get("ports").is_none());
    }

    #[test]
    fn the_job_carries_limits_retry_policy_and_ownership() {
        let mut r = resource(Source::Storage(StorageObject {
            key: "uploads/a.pdf".into(),
        }));
        r.metadata.labels = Some([(KUEUE_QUEUE_LABEL.to_owned(), "batch".to_owned())].into());
        let mut config = OperatorConfig::new("pdfx/runner:1", "s3://pdfx-data".parse().unwrap());
        config.storage_secret = Some("pdfx-s3".into());
        let job = job_json(&r, &config);
        assert_eq!(job["metadata"]["name"], "report-2");
        assert_eq!(job["metadata"]["labels"][KUEUE_QUEUE_LABEL], "batch");
        assert_eq!(
            job["metadata"]["labels"][EXTRACTION_UID_LABEL],
            "0b6f1c9e-0000-4000-8000-000000000001"
        );
        assert_eq!(
            job["metadata"]["ownerReferences"][0]["kind"],
            "PdfExtraction"
        );
        assert_eq!(job["metadata"]["ownerReferences"][0]["controller"], true);
        let spec = &job["spec"];
        assert_eq!(spec["backoffLimit"], 0);
        assert_eq!(spec["activeDeadlineSeconds"], 6 * 3600);
        let rule = &spec["podFailurePolicy"]["rules"][0];
        assert_eq!(rule["action"], "FailJob");
        assert_eq!(rule["onExitCodes"]["values"], serde_json::json!([2, 3]));
        let pod = &spec["template"]["spec"];
        assert_eq!(pod["restartPolicy"], "Never");
        let c = &pod["containers"][0];
        assert_eq!(c["resources"]["limits"]["memory"], "768Mi");
        assert_eq!(c["resources"]["requests"]["memory"], "768Mi");
        assert_eq!(
            c["resources"]["limits"]["cpu"],
            c["resources"]["requests"]["cpu"]
        );
        assert_eq!(
            c["envFrom"][0]["secretRef"]["name"], "pdfx-s3",
            "credentials come by Secret reference"
        );
        let env: std::collections::BTreeMap<String, String> = c["env"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                (
                    e["name"].as_str().unwrap_or_default().to_owned(),
                    e["value"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        assert_eq!(env["PDFX_SOURCE"], "s3://pdfx-data/uploads/a.pdf");
        assert_eq!(
            env["PDFX_OUTPUT"],
            "s3://pdfx-data/extractions/team-a/report/"
        );
        assert!(
            !env.keys().any(|k| k.contains("SECRET")),
            "no inline credentials"
        );
        assert_eq!(pod["volumes"][0]["emptyDir"]["sizeLimit"], "10Gi");
        assert_eq!(c["volumeMounts"][0]["mountPath"], "/tmp");
    }

    #[test]
    fn job_names_are_deterministic_and_fit_a_label() {
        assert_eq!(job_name("report", 1), "report-1");
        let long = "a".repeat(250);
        let name = job_name(&long, 12);
        assert!(name.len() <= 63, "{name}");
        assert!(name.ends_with("-12"));
        assert_eq!(name, job_name(&long, 12));
        assert_ne!(job_name(&format!("{long}x"), 12), name);
    }

    #[test]
    fn sources_and_outputs_resolve_to_runner_uris() {
        let config = OperatorConfig::new("pdfx/runner:1", "s3://pdfx-data".parse().unwrap());
        let storage = resource(Source::Storage(StorageObject {
            key: "uploads/a b.pdf".into(),
        }));
        assert_eq!(
            source_uri(&storage, &config),
            "s3://pdfx-data/uploads/a b.pdf"
        );
        assert_eq!(
            output_uri(&storage, &config).unwrap_or_default(),
            "s3://pdfx-data/extractions/team-a/report/"
        );
        let s3 = resource(Source::S3(S3Object {
            bucket: "docs".into(),
            key: "보고서.pdf".into(),
        }));
        assert_eq!(source_uri(&s3, &config), "s3://docs/보고서.pdf");
        let local = OperatorConfig::new("pdfx/runner:1", "file:///var/lib/pdfx/".parse().unwrap());
        assert_eq!(
            source_uri(&storage, &local),
            "file:///var/lib/pdfx/uploads/a b.pdf"
        );
    }
}
