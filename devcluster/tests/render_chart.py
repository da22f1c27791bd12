"""Render a Helm chart as `helm template` would (Helm v4 as a library), for
devcluster/tests/kinds.rs to `kubectl apply`. Usage: render_chart.py CHART VALUES|- NAMESPACE OUT"""

import sys
from pathlib import Path

import helm_python as helm
import yaml


def main() -> None:
    chart_dir, values_file, namespace, out = sys.argv[1:5]
    values = {} if values_file == "-" else (yaml.safe_load(Path(values_file).read_text()) or {})
    with helm.Chart.load(Path(chart_dir)) as chart:
        manifests = chart.render(values, name="rel", namespace=namespace, is_install=True)
    docs = []
    for template, text in sorted(manifests.items()):
        # NOTES and `helm test` hooks are not installed by `helm install`.
        if template.endswith("NOTES.txt") or "/templates/tests/" in template:
            continue
        docs.extend(d for d in yaml.safe_load_all(text) if d)
    Path(out).write_text(yaml.safe_dump_all(docs))


if __name__ == "__main__":
    main()
