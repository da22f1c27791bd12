#!/usr/bin/env bash
# The full test suite: installs what it needs (idempotent), then formatting,
# lints and every test of the workspace. This is what CI runs.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

bash scripts/install-deps.sh

# Tesseract's OpenMP threads cost ~5x the CPU per page on 2 cores; the runner
# sets this itself, and test binaries that load Tesseract in-process need it too.
export OMP_THREAD_LIMIT=1
export PDFIUM_LIBRARY_PATH="$root/.pdfium/lib/libpdfium.so"

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== generated CRD is current"
cargo run --quiet --locked -p pdfx-crd --bin crdgen | diff -u crds/pdfextraction.yaml - \
  || { echo "crds/pdfextraction.yaml is stale: cargo run -p pdfx-crd --bin crdgen > crds/pdfextraction.yaml" >&2; exit 1; }
# Integration tests run the workspace's binaries (the runner as a Job's
# program, the operator and gateway as processes); they never build them.
echo "== binaries the tests run"
cargo build --workspace --bins --locked
echo "== doc tests"
cargo test --workspace --locked --doc
echo "== chart: helm lint/template/schema, kubernetes-validate 1.29-1.34, checkov, RBAC from recorded requests, helm install/upgrade/uninstall and kubectl apply into the emulator"
.tools/venv/bin/python -m unittest charts/tests/test_chart.py charts/tests/test_rbac_recorded.py charts/tests/test_install.py
echo "== images: built on the Docker engine and run as Kubernetes runs them"
bash docker/test-images.sh
# Last, so that its summary is the closing line of the run.
echo "== tests"
cargo nextest run --workspace --locked --no-fail-fast
