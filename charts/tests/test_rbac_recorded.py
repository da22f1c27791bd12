"""RBAC proven from the code's own requests: the operator and the gateway run
against the devcluster emulator, each behind its own recording proxy, through
a whole extraction (submitted through the gateway, run by the operator as a Job,
read back, then deleted). Every Kubernetes request each one made must be
allowed by what the chart grants its ServiceAccount, and every grant must be
used by a request (or be listed below with the code path that needs it).

Needs the workspace's debug binaries (scripts/test.sh builds them first).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request
from pathlib import Path

import helm_python as helm
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from recording_proxy import RecordingProxy, Request  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "debug"
RELEASE, RELEASE_NS, TENANT = "pdfx", "pdfx-system", "default"
# The chart as this run uses the programs: two operator replicas (leader
# election), the tenant namespace the gateway acts for.
VALUES = {"namespaces": [TENANT], "operator": {"replicas": 2}, "gateway": {"auth": {"enabled": False}}}
# The chart's environment of each Deployment is given to its program, except
# what points at the cluster's storage (here a folder) and the listen address.
NOT_PASSED = ("PDFX_STORAGE_URL", "PDFX_S3_", "PDFX_RUNNER_S3_ENDPOINT", "PDFX_STORAGE_SECRET", "PDFX_LISTEN", "POD_")
DEADLINE = 180  # seconds; a hang guard, not a timing assertion

# Grants no request of this scenario exercises, each with the code that uses it.
NOT_EXERCISED = {
    "operator": {
        # controller/mod.rs: Action::DeleteResource, when a finished resource's ttl runs out.
        ("pdfx.dev", "pdfextractions", "delete"),
        # controller/mod.rs: re-reading the status after the API server refuses a Job.
        ("pdfx.dev", "pdfextractions/status", "get"),
        # run.rs: await_condition watches the CRD when its first list finds it not yet established.
        ("apiextensions.k8s.io", "customresourcedefinitions", "watch"),
        # controller/mod.rs: Recorder series, when the same Event repeats.
        ("events.k8s.io", "events", "patch"),
        # controller/mod.rs: the largest node's memory, read only after an attempt was OOM-killed.
        ("", "nodes", "list"),
    },
    "gateway": {
        # sweep.rs: whether an old upload's extraction still exists; routes/submit.rs: re-reading after a create conflict.
        ("pdfx.dev", "pdfextractions", "get"),
    },
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


RUNNING: list[subprocess.Popen] = []


def wait_until(what: str, check, deadline: float = DEADLINE):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        stopped = [p.args[0] for p in RUNNING if p.poll() is not None]
        if stopped:
            raise AssertionError(f"{what}: {', '.join(map(str, stopped))} exited")
        result = check()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {deadline}s")


def http(method: str, url: str, body: bytes | None = None, headers: dict | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError:
        return 0, b""


def grants(objects: list[dict], account: str) -> list[tuple[str | None, dict]]:
    """(namespace or None for cluster-wide, rule) for every rule bound to the ServiceAccount."""
    roles = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): o for o in objects if o["kind"] in ("Role", "ClusterRole")}
    out = []
    for binding in objects:
        if binding["kind"] not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        if not any(s["kind"] == "ServiceAccount" and s["name"] == account and s["namespace"] == RELEASE_NS for s in binding["subjects"]):
            continue
        ref = binding["roleRef"]
        namespace = binding["metadata"].get("namespace") if binding["kind"] == "RoleBinding" else None
        role = roles[(ref["kind"], namespace if ref["kind"] == "Role" else None, ref["name"])]
        out += [(namespace, rule) for rule in role["rules"]]
    return out


def allows(rule: dict, request: Request) -> bool:
    resource = f"{request.resource}/{request.subresource}" if request.subresource else request.resource
    return (
        request.group in rule["apiGroups"]
        and resource in rule["resources"]
        and request.verb in rule["verbs"]
        and (not rule.get("resourceNames") or request.name in rule["resourceNames"])
    )


class RecordedRbac(unittest.TestCase):
    def test_every_request_is_granted_and_every_grant_is_used(self) -> None:
        for program in ("pdfx-devcluster", "pdfx-operator", "pdfx-gateway", "pdfx-ocr-runner"):
            self.assertTrue((BIN / program).is_file(), f"{BIN / program} is missing: cargo build --workspace --bins")
        with helm.Chart.load(ROOT / "charts" / "pdfx") as chart:
            rendered = chart.render(VALUES, name=RELEASE, namespace=RELEASE_NS, is_install=True)
        objects = [d for path, text in rendered.items() if not path.endswith("NOTES.txt") for d in yaml.safe_load_all(text) if isinstance(d, dict) and "kind" in d]
        def chart_env(component: str) -> dict[str, str]:
            return {
                e["name"]: e["value"]
                for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == f"{RELEASE}-{component}"
                for e in o["spec"]["template"]["spec"]["containers"][0]["env"]
                if "value" in e and not e["name"].startswith(NOT_PASSED)
            }
        operator_env, gateway_env = chart_env("operator"), chart_env("gateway")
        self.assertEqual(operator_env["PDFX_LEADER_ELECTION"], "true")
        self.assertEqual((gateway_env["PDFX_AUTH_DISABLED"], gateway_env["PDFX_TENANT"]), ("true", TENANT))
        recorded = self.run_scenario(operator_env, gateway_env)
        for component in ("operator", "gateway"):
            rules = grants(objects, f"{RELEASE}-{component}")
            self.assertTrue(rules, f"no rules bound to {component}")
            requests = [r for r in recorded[component] if r.group is not None]
            self.assertTrue(requests, f"{component} made no API requests")
            denied = sorted({str(r) for r in requests if not any(allows(rule, r) and (ns is None or ns == r.namespace) for ns, rule in rules)})
            self.assertEqual(denied, [], f"{component}: requests the chart does not allow")
            used = {(g, res, v) for _, rule in rules for g in rule["apiGroups"] for res in rule["resources"] for v in rule["verbs"]
                    if any(allows({**rule, "apiGroups": [g], "resources": [res], "verbs": [v]}, r) for r in requests)}
            granted = {(g, res, v) for _, rule in rules for g in rule["apiGroups"] for res in rule["resources"] for v in rule["verbs"]}
            self.assertEqual(granted - used, NOT_EXERCISED[component], f"{component}: grants no request used (beyond the documented ones)")
            distinct = sorted({str(r) for r in requests})
            print(f"{component}: {len(requests)} requests, {len(distinct)} distinct, all allowed; {len(used)} of {len(granted)} grants used", file=sys.stderr)
            for line in distinct:
                print(f"  {component}: {line}", file=sys.stderr)

    def run_scenario(self, operator_env: dict, gateway_env: dict) -> dict[str, list[Request]]:
        work = Path(tempfile.mkdtemp(prefix="pdfx-rbac-"))
        processes = RUNNING
        processes.clear()
        proxies: list[RecordingProxy] = []
        logs = []

        def start(name: str, args: list[str], env: dict) -> None:
            log = open(work / f"{name}.log", "w")
            logs.append((name, work / f"{name}.log", log))
            processes.append(subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **env}))

        def kubeconfig_via(proxy: RecordingProxy, name: str) -> str:
            config = yaml.safe_load((work / "kubeconfig").read_text())
            for cluster in config["clusters"]:
                cluster["cluster"]["server"] = f"http://127.0.0.1:{proxy.port}"
            path = work / f"kubeconfig-{name}"
            path.write_text(yaml.safe_dump(config))
            return str(path)

        try:
            api = free_port()
            env = {"PDFX_LOG_FORMAT": "json", "PDFIUM_LIBRARY_PATH": os.environ.get("PDFIUM_LIBRARY_PATH", str(ROOT / ".pdfium/lib/libpdfium.so"))}
            start("devcluster", [str(BIN / "pdfx-devcluster"), "serve", "--data-dir", str(work / "cluster"), "--listen", f"127.0.0.1:{api}",
                                 "--kubeconfig", str(work / "kubeconfig"), "--executor", "--image", f"pdfx/ocr-runner={BIN / 'pdfx-ocr-runner'}"], env)
            wait_until("the emulator's kubeconfig", lambda: (work / "kubeconfig").exists() and (work / "kubeconfig").stat().st_size > 0)
            # What `helm install -n pdfx-system` finds: the release namespace exists.
            namespace = json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": RELEASE_NS}}).encode()
            code, body = http("POST", f"http://127.0.0.1:{api}/api/v1/namespaces", namespace, {"Content-Type": "application/json"})
            self.assertIn(code, (201, 409), body)
            operator_proxy, gateway_proxy = RecordingProxy(("127.0.0.1", api)), RecordingProxy(("127.0.0.1", api))
            proxies += [operator_proxy, gateway_proxy]
            operator_port, gateway_port = free_port(), free_port()
            store = f"file://{work / 'store'}"
            (work / "store").mkdir()
            # Each program with the settings the chart gives it (leader election, its Lease, the runner's account, job limits...).
            start("operator", [str(BIN / "pdfx-operator"), "--listen", f"127.0.0.1:{operator_port}", "--storage-url", store], {
                **env, "PDFX_KUBECONFIG": kubeconfig_via(operator_proxy, "operator"), "POD_NAMESPACE": RELEASE_NS, "POD_NAME": "pdfx-operator-0",
                **operator_env,
            })
            start("gateway", [str(BIN / "pdfx-gateway"), "--listen", f"127.0.0.1:{gateway_port}", "--storage-url", store],
                  {**env, "PDFX_KUBECONFIG": kubeconfig_via(gateway_proxy, "gateway"), **gateway_env})
            gateway = f"http://127.0.0.1:{gateway_port}"
            wait_until("the operator ready", lambda: http("GET", f"http://127.0.0.1:{operator_port}/readyz")[0] == 200)
            wait_until("the gateway ready", lambda: http("GET", f"{gateway}/readyz")[0] == 200)

            subprocess.run([str(BIN / "pdfx-ocr-runner"), "sample", "--pages", "2", str(work / "sample.pdf")], check=True, env={**os.environ, **env}, capture_output=True)
            status, body = http("POST", f"{gateway}/extract/pdf", (work / "sample.pdf").read_bytes(), {"Content-Type": "application/pdf"})
            self.assertEqual(status, 202, body)
            task = json.loads(body)["task_id"]

            def finished():
                code, text = http("GET", f"{gateway}/extract/status/{task}?wait=5")
                state = json.loads(text).get("status") if code == 200 else None
                return state if state in ("completed", "failed") else None
            self.assertEqual(wait_until("the task finished", finished), "completed")
            self.assertEqual(http("GET", f"{gateway}/extract/result/{task}?format=text")[0], 200)
            self.assertEqual(http("GET", f"{gateway}/extract")[0], 200)
            self.assertIn(http("DELETE", f"{gateway}/extract/{task}")[0], (200, 202, 204))
            wait_until("the task gone", lambda: http("GET", f"{gateway}/extract/status/{task}")[0] == 404)
            # The operator's cleanup (the finalizer) runs on the deletion; give its
            # requests a moment to be recorded by waiting for the resource to go.
            def resource_gone():
                code, _ = http("GET", f"http://127.0.0.1:{api}/apis/pdfx.dev/v1alpha1/namespaces/{TENANT}/pdfextractions/{task}")
                return code == 404
            wait_until("the resource deleted (finalizer released)", resource_gone)
            # A leader renews its Lease periodically (a third of its 15 s
            # duration); a scenario that finished sooner has not renewed yet.
            def lease_renewed():
                return any(r.resource == "leases" and r.verb == "patch" for r in operator_proxy.recorded())
            wait_until("the operator renewing its Lease", lease_renewed)
            return {"operator": operator_proxy.recorded(), "gateway": gateway_proxy.recorded()}
        except BaseException:
            for name, path, log in logs:
                log.flush()
                print(f"--- {name}.log\n" + "\n".join(path.read_text(errors="replace").splitlines()[-15:]), file=sys.stderr)
            raise
        finally:
            # The clients first, then the emulator they talk to.
            for process in reversed(processes):
                process.terminate()
            for process in processes:
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
            for proxy in proxies:
                proxy.close()
            for _, _, log in logs:
                log.close()
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
