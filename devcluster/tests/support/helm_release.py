"""One Helm v4 release step against a cluster, through the helm_python SDK (the Helm Go
library, whose typed client writes release Secrets as Kubernetes protobuf).

Usage: python helm_release.py KUBECONFIG NAMESPACE RELEASE install|upgrade|uninstall

The chart (a ConfigMap and a Secret whose data come from values) is written to a temporary
directory each time; `upgrade` changes the values so the objects and the release change, and drops the
ConfigMap's `farewell` key (which server-side apply must then remove).
Prints the release summary as one JSON line.
"""
import json
import sys
import tempfile
from pathlib import Path

import helm_python as helm

CHART_YAML = "apiVersion: v2\nname: proto-demo\nversion: 0.1.0\n"
VALUES_YAML = "greeting: hello\nfarewell: goodbye\n"
CONFIGMAP = """apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-config
  labels:
    app.kubernetes.io/instance: {{ .Release.Name }}
data:
  greeting: {{ .Values.greeting | quote }}
  {{- with .Values.farewell }}
  farewell: {{ . | quote }}
  {{- end }}
"""
SECRET = """apiVersion: v1
kind: Secret
metadata:
  name: {{ .Release.Name }}-secret
type: Opaque
stringData:
  token: {{ printf "token-%s" .Values.greeting | quote }}
"""


def write_chart(root: Path) -> Path:
    chart = root / "proto-demo"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(CHART_YAML)
    (chart / "values.yaml").write_text(VALUES_YAML)
    (chart / "templates" / "configmap.yaml").write_text(CONFIGMAP)
    (chart / "templates" / "secret.yaml").write_text(SECRET)
    return chart


def main() -> None:
    kubeconfig, namespace, release, step = sys.argv[1:5]
    with tempfile.TemporaryDirectory() as tmp:
        chart_dir = write_chart(Path(tmp))
        with helm.Config(kubeconfig_path=kubeconfig, namespace=namespace) as cfg:
            if step == "install":
                out = cfg.install(chart_dir, release, namespace=namespace, timeout=60)
            elif step == "upgrade":
                out = cfg.upgrade(chart_dir, release, {"greeting": "bonjour", "farewell": None},
                                  namespace=namespace, timeout=60)
            elif step == "uninstall":
                out = cfg.uninstall(release, timeout=60)
            else:
                raise SystemExit(f"unknown step {step}")
    print(json.dumps({"step": step, "summary": str(out)[:200]}))


if __name__ == "__main__":
    main()
