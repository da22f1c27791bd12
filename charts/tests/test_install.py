"""The pdfx chart installed as a platform team installs it, into the devcluster
Kubernetes API emulator (the workspace's `pdfx-devcluster` binary, real HTTP):
Helm v4 with its default settings (server-side apply, release Secrets over
protobuf) installs, upgrades with changed values and uninstalls; the rendered
manifests of every value set are accepted by `kubectl apply` at 1.27 and 1.33.

Nothing runs the Deployments (the emulator's executor runs Jobs only), so this
checks what the API server accepts and stores, not that the pods start.

Run: .tools/venv/bin/python -m unittest charts/tests/test_install.py
(scripts/test.sh does, after building the workspace's binaries).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import unittest
from pathlib import Path

import helm_python as helm
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CHART = ROOT / "charts" / "pdfx"
BIN = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "debug"
KUBECTLS = [Path(f"/usr/lib/google-cloud-sdk/bin/kubectl.{v}") for v in ("1.27", "1.33")]
RELEASE, NAMESPACE = "pdfx", "pdfx-system"
CLUSTER_SCOPED = {"ClusterRole", "ClusterRoleBinding", "Namespace", "CustomResourceDefinition", "PriorityClass", "IngressClass"}
DEADLINE = 60  # seconds; a hang guard, not a timing assertion

VALUE_SETS: dict[str, dict] = {"default": {}}
for path in sorted((HERE / "values").glob("*.yaml")):
    VALUE_SETS[path.stem] = yaml.safe_load(path.read_text()) or {}


class Emulator:
    """`pdfx-devcluster serve` in a temporary folder, without its own CRD (the chart brings it)."""

    def __init__(self) -> None:
        self.work = Path(tempfile.mkdtemp(prefix="pdfx-install-"))
        self.kubeconfig = self.work / "kubeconfig"
        self.log = open(self.work / "devcluster.log", "w")
        self.process = subprocess.Popen(
            [str(BIN / "pdfx-devcluster"), "serve", "--data-dir", str(self.work / "cluster"),
             "--listen", "127.0.0.1:0", "--kubeconfig", str(self.kubeconfig), "--no-crd"],
            stdout=subprocess.PIPE, stderr=self.log, text=True)
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()
        if not self.url.startswith("http"):
            raise AssertionError(f"the emulator did not start: {(self.work / 'devcluster.log').read_text()}")

    def kubectl(self, *args: str, kubectl: Path = KUBECTLS[-1], check: bool = True) -> subprocess.CompletedProcess:
        out = subprocess.run([str(kubectl), "--kubeconfig", str(self.kubeconfig), *args],
                             capture_output=True, text=True, timeout=DEADLINE)
        if check and out.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
        return out

    def get(self, *args: str) -> dict:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=DEADLINE)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.log.close()


def names(listing: dict) -> set[str]:
    return {item["metadata"]["name"] for item in listing.get("items", [])}


class HelmInstall(unittest.TestCase):
    def setUp(self) -> None:
        self.cluster = Emulator()
        self.addCleanup(self.cluster.stop)

    def test_install_upgrade_uninstall_with_helm_defaults(self) -> None:
        cluster = self.cluster
        with helm.Config(kubeconfig_path=str(cluster.kubeconfig), namespace=NAMESPACE) as cfg:
            release = cfg.install(CHART, RELEASE, {}, namespace=NAMESPACE, create_namespace=True, timeout=DEADLINE)
            self.assertIn("deployed", json.dumps(release).lower(), release)
            # The CRD from the chart's crds/, established for clients.
            crd = cluster.get("crd", "pdfextractions.pdfx.dev")
            conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
            self.assertEqual(conditions.get("Established"), "True", crd["status"])
            deployments = names(cluster.get("deployments", "-n", NAMESPACE))
            self.assertEqual(deployments, {"pdfx-operator", "pdfx-gateway"})
            self.assertIn("pdfx-gateway", names(cluster.get("services", "-n", NAMESPACE)))
            accounts = names(cluster.get("serviceaccounts", "-n", NAMESPACE))
            self.assertTrue({"pdfx-operator", "pdfx-gateway", "pdfx-runner"} <= accounts, accounts)
            self.assertTrue(names(cluster.get("clusterroles")) & {"pdfx-operator", "pdfx-gateway"})
            self.assertTrue(names(cluster.get("networkpolicies", "-n", NAMESPACE)))
            self.assertEqual(cluster.get("deployment", "pdfx-operator", "-n", NAMESPACE)["spec"]["replicas"], 1)
            secrets = names(cluster.get("secrets", "-n", NAMESPACE, "-l", "owner=helm"))
            self.assertEqual(secrets, {f"sh.helm.release.v1.{RELEASE}.v1"})

            # Changed values: two operator replicas, three gateways with a PDB,
            # then ingress + autoscaler on; what the new values drop goes away.
            upgraded = {**VALUE_SETS["ha-operator"]}
            cfg.upgrade(CHART, RELEASE, upgraded, namespace=NAMESPACE, timeout=DEADLINE)
            self.assertEqual(cluster.get("deployment", "pdfx-operator", "-n", NAMESPACE)["spec"]["replicas"], 2)
            self.assertEqual(cluster.get("deployment", "pdfx-gateway", "-n", NAMESPACE)["spec"]["replicas"], 3)
            self.assertIn("pdfx-gateway", names(cluster.get("poddisruptionbudgets", "-n", NAMESPACE)))
            cfg.upgrade(CHART, RELEASE, VALUE_SETS["ingress-autoscaler"], namespace=NAMESPACE, timeout=DEADLINE)
            self.assertIn("pdfx-gateway", names(cluster.get("ingresses", "-n", NAMESPACE)))
            self.assertIn("pdfx-gateway", names(cluster.get("horizontalpodautoscalers", "-n", NAMESPACE)))
            self.assertEqual(cluster.get("deployment", "pdfx-operator", "-n", NAMESPACE)["spec"]["replicas"], 1)
            secrets = names(cluster.get("secrets", "-n", NAMESPACE, "-l", "owner=helm"))
            self.assertEqual(len(secrets), 3, secrets)

            cfg.uninstall(RELEASE, timeout=DEADLINE)
        self.assertEqual(names(cluster.get("deployments", "-n", NAMESPACE)), set())
        self.assertEqual(names(cluster.get("services", "-n", NAMESPACE)), set())
        self.assertEqual(names(cluster.get("secrets", "-n", NAMESPACE, "-l", "owner=helm")), set())
        # Helm leaves CRDs in place on uninstall (and so the users' extractions).
        self.assertIn("pdfextractions.pdfx.dev", names(cluster.get("crds")))


class KubectlApply(unittest.TestCase):
    def test_rendered_manifests_of_every_value_set_are_accepted(self) -> None:
        for name, values in VALUE_SETS.items():
            with helm.Chart.load(CHART) as chart:
                manifests = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
            docs = [d for t, text in sorted(manifests.items()) if not t.endswith("NOTES.txt")
                    for d in yaml.safe_load_all(text) if d]
            tests = [d for d in docs if "helm.sh/hook" in d.get("metadata", {}).get("annotations", {})]
            objects = [d for d in docs if d not in tests]
            # What `helm install -n` does for templates that name no namespace.
            for o in objects:
                if o["kind"] not in CLUSTER_SCOPED:
                    o["metadata"].setdefault("namespace", NAMESPACE)
            for kubectl in KUBECTLS:
                with self.subTest(values=name, kubectl=kubectl.name):
                    cluster = Emulator()
                    try:
                        crd = CHART / "crds" / "pdfextraction.yaml"
                        cluster.kubectl("apply", "-f", str(crd), kubectl=kubectl)
                        cluster.kubectl("wait", "--for=condition=Established", "crd/pdfextractions.pdfx.dev", kubectl=kubectl)
                        for ns in sorted({o["metadata"]["namespace"] for o in objects if "namespace" in o["metadata"]}):
                            cluster.kubectl("create", "namespace", ns, kubectl=kubectl, check=False)
                        rendered = cluster.work / "rendered.yaml"
                        rendered.write_text(yaml.safe_dump_all(objects))
                        out = cluster.kubectl("apply", "-f", str(rendered), kubectl=kubectl)
                        applied = [line for line in out.stdout.splitlines() if line.strip()]
                        self.assertEqual(len(applied), len(objects), out.stdout)
                        self.assertTrue(all(line.endswith(" created") for line in applied), out.stdout)
                        # Applied again unchanged, nothing changes — except where kubectl's
                        # own three-way diff always sends a patch, as it does against a real
                        # server: a Secret given as stringData (stored as data only), and a
                        # PodDisruptionBudget, whose selector's patch strategy is `replace`
                        # (the patch it sends is the selector alone; the object stays as is).
                        again = cluster.kubectl("apply", "-f", str(rendered), kubectl=kubectl)
                        always_patched = {f"secret/{o['metadata']['name']}" for o in objects
                                          if o["kind"] == "Secret" and o.get("stringData")}
                        always_patched |= {f"poddisruptionbudget.policy/{o['metadata']['name']}" for o in objects
                                           if o["kind"] == "PodDisruptionBudget"}
                        for line in again.stdout.splitlines():
                            if line.strip() and line.split()[0] not in always_patched:
                                self.assertTrue(line.endswith(" unchanged"), again.stdout)
                        listed = cluster.kubectl("get", "all", "-n", NAMESPACE, kubectl=kubectl).stdout
                        self.assertIn("deployment.apps/pdfx-gateway", listed)
                    finally:
                        cluster.stop()


if __name__ == "__main__":
    unittest.main()
