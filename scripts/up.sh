#!/usr/bin/env bash
# Runs all of pdfx on this machine with embedded defaults (no cloud, no
# cluster): `pdfx up` starts the Kubernetes API emulator, the local executor,
# the operator and the REST gateway in one process, keeping its state in
# ./.pdfx. Arguments are passed to `pdfx up` (see `pdfx up --help`), e.g.
#   scripts/up.sh --listen 0.0.0.0:8080 --slots 4
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

bash scripts/install-deps.sh
cargo build --release --locked -p pdfx-cli -p pdfx-ocr-runner
bin="${CARGO_TARGET_DIR:-$root/target}/release"

# The runner loads libpdfium from here (scripts/install-deps.sh puts it there)
# and runs Tesseract single-threaded per worker.
export PDFIUM_LIBRARY_PATH="${PDFIUM_LIBRARY_PATH:-$root/.pdfium/lib/libpdfium.so}"
export OMP_THREAD_LIMIT=1
echo "pdfx: built $bin/pdfx; starting pdfx up (Ctrl-C stops it)" >&2
exec "$bin/pdfx" up --runner "$bin/pdfx-ocr-runner" "$@"
