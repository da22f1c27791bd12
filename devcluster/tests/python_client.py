"""The official Kubernetes Python client against the devcluster: Deployment and
Service create, list, patch, delete. Run by devcluster/tests/kinds.rs with the
kubeconfig as the only argument; prints "python client: ok"."""

import sys

from kubernetes import client, config
from kubernetes.client.rest import ApiException


def main() -> None:
    config.load_kube_config(config_file=sys.argv[1])
    apps, core = client.AppsV1Api(), client.CoreV1Api()
    labels = {"app": "py"}
    deployment = client.V1Deployment(
        metadata=client.V1ObjectMeta(name="py", labels=labels),
        spec=client.V1DeploymentSpec(
            replicas=1,
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(containers=[client.V1Container(name="web", image="nginx:1.27")]),
            ),
        ),
    )
    created = apps.create_namespaced_deployment("default", deployment)
    assert created.metadata.uid, created
    assert created.spec.template.spec.containers[0].termination_message_path == "/dev/termination-log"

    listed = apps.list_namespaced_deployment("default", label_selector="app=py")
    assert [d.metadata.name for d in listed.items] == ["py"], listed

    patched = apps.patch_namespaced_deployment("py", "default", {"spec": {"replicas": 4}})
    assert patched.spec.replicas == 4, patched.spec
    scaled = apps.patch_namespaced_deployment_status("py", "default", {"status": {"replicas": 4, "availableReplicas": 4}})
    assert scaled.status.available_replicas == 4, scaled.status

    service = client.V1Service(
        metadata=client.V1ObjectMeta(name="py"),
        spec=client.V1ServiceSpec(selector=labels, ports=[client.V1ServicePort(name="http", port=8080)]),
    )
    svc = core.create_namespaced_service("default", service)
    assert svc.spec.type == "ClusterIP" and svc.spec.cluster_ip.startswith("10."), svc.spec
    assert svc.spec.ports[0].target_port == 8080 and svc.spec.ports[0].protocol == "TCP", svc.spec
    svc = core.patch_namespaced_service("py", "default", {"metadata": {"labels": {"tier": "web"}}})
    assert svc.metadata.labels == {"tier": "web"}, svc.metadata
    names = [s.metadata.name for s in core.list_namespaced_service("default").items]
    assert sorted(names) == ["kubernetes", "py"], names
    all_services = core.list_service_for_all_namespaces()
    assert len(all_services.items) == 2, all_services

    core.delete_namespaced_service("py", "default")
    apps.delete_namespaced_deployment("py", "default")
    try:
        apps.read_namespaced_deployment("py", "default")
        raise AssertionError("deployment still there")
    except ApiException as e:
        assert e.status == 404, e
    print("python client: ok")


if __name__ == "__main__":
    main()
