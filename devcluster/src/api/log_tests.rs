//! Unit tests of `pods/log`: option parsing and validation, container and
//! status checks, and the kubelet's output formatting.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use serde_json::json;

#[test]
fn options_parse_and_validate_as_the_api_server() {
    let o = LogOptions::parse(
        Some("container=c&follow=true&tailLines=2&timestamps=true&limitBytes=10&sinceTime=2024-01-02T03:04:05Z"),
        "p",
    )
    .unwrap();
    assert_eq!(o.container.as_deref(), Some("c"));
    assert!(o.follow && o.timestamps && !o.previous);
    assert_eq!((o.tail_lines, o.limit_bytes), (Some(2), Some(10)));
    assert_eq!(o.since.unwrap().to_rfc3339(), "2024-01-02T03:04:05+00:00");
    let since = LogOptions::parse(Some("sinceSeconds=60"), "p")
        .unwrap()
        .since
        .unwrap();
    assert!((Utc::now() - since).num_seconds() >= 59);
    let err = |q| LogOptions::parse(Some(q), "p").unwrap_err();
    assert_eq!(
        err("tailLines=-1").to_string(),
        "PodLogOptions \"p\" is invalid: tailLines: Invalid value: -1: must be greater than or equal to 0"
    );
    assert_eq!(err("limitBytes=0").code(), 422);
    assert_eq!(err("sinceSeconds=0").code(), 422);
    assert!(
        err("sinceSeconds=5&sinceTime=2024-01-02T03:04:05Z")
            .to_string()
            .contains("at most one of")
    );
    assert_eq!(err("tailLines=x").code(), 400);
}

#[test]
fn container_is_the_only_one_or_must_be_named() {
    let one = json!({"spec": {"containers": [{"name": "a"}]}});
    assert_eq!(container_name(&one, "p", None).unwrap(), "a");
    assert_eq!(
        container_name(&one, "p", Some("b"))
            .unwrap_err()
            .to_string(),
        "container b is not valid for pod p"
    );
    let two = json!({"spec": {"initContainers": [{"name": "i"}], "containers": [{"name": "a"}, {"name": "b"}]}});
    assert_eq!(container_name(&two, "p", Some("i")).unwrap(), "i");
    assert_eq!(
        container_name(&two, "p", None).unwrap_err().to_string(),
        "a container name must be specified for pod p, choose one of: [i a b]"
    );
}

#[test]
fn status_says_why_there_is_no_log() {
    let pod =
        |state: Value| json!({"status": {"containerStatuses": [{"name": "c", "state": state}]}});
    let msg = |p: &Value, previous| check_status(p, "p", "c", previous).unwrap_err().to_string();
    let pull = pod(json!({"waiting": {"reason": "ErrImagePull"}}));
    assert_eq!(
        msg(&pull, false),
        r#"container "c" in pod "p" is waiting to start: image can't be pulled"#
    );
    let backoff = pod(json!({"waiting": {"reason": "ImagePullBackOff"}}));
    assert_eq!(
        msg(&backoff, false),
        r#"container "c" in pod "p" is waiting to start: trying and failing to pull image"#
    );
    assert_eq!(
        msg(&json!({"status": {}}), false),
        r#"container "c" in pod "p" is waiting to start: ContainerCreating"#
    );
    let running = pod(json!({"running": {"startedAt": "x"}}));
    assert!(check_status(&running, "p", "c", false).is_ok());
    assert_eq!(
        msg(&running, true),
        r#"previous terminated container "c" in pod "p" not found"#
    );
    let done = pod(json!({"terminated": {"exitCode": 0, "containerID": "devcluster://1"}}));
    assert!(check_status(&done, "p", "c", false).is_ok());
    let never = pod(json!({"terminated": {"exitCode": 128, "reason": "StartError"}}));
    assert_eq!(
        msg(&never, false),
        r#"container "c" in pod "p" is terminated"#
    );
}

#[test]
fn records_format_as_the_kubelet_writes_them() {
    let mut f = Formatter {
        timestamps: false,
        since: None,
        remaining: None,
    };
    let mut out = Vec::new();
    assert!(f.record(b"2024-01-02T03:04:05.5Z stdout F hello world\n", &mut out));
    assert!(f.record(b"2024-01-02T03:04:06Z stderr P part", &mut out));
    assert!(f.record(b"2024-01-02T03:04:06Z stderr F ial\n", &mut out));
    assert!(f.record(b"2024-01-02T03:04:07Z stdout F \n", &mut out));
    assert_eq!(out, b"hello world\npartial\n\n");

    let mut f = Formatter {
        timestamps: true,
        since: Some("2024-01-02T03:04:06Z".parse().unwrap()),
        remaining: Some(30),
    };
    let mut out = Vec::new();
    assert!(f.record(b"2024-01-02T03:04:05.5Z stdout F old\n", &mut out));
    assert!(f.record(b"2024-01-02T03:04:06Z stdout F new\n", &mut out));
    assert!(!f.record(b"2024-01-02T03:04:07.25Z stdout F cut here\n", &mut out));
    assert_eq!(out, b"2024-01-02T03:04:06Z new\n2024-");
}
