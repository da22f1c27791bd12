#!/usr/bin/env bash
# Runs pdfx on this machine with embedded defaults: no cloud, no cluster.
#
# The single-machine mode (`pdfx up`: API emulator, operator, gateway and local
# Jobs together) is not built yet. Until it is, this runs the part that exists,
# the extraction runner, on a sample PDF it generates (Korean text, half the
# pages born-digital and half scanned) and shows what came out.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

bash scripts/install-deps.sh
cargo build --release --locked -p pdfx-ocr-runner
runner="$root/target/release/pdfx-ocr-runner"
if [ -n "${CARGO_TARGET_DIR:-}" ]; then runner="$CARGO_TARGET_DIR/release/pdfx-ocr-runner"; fi

work="${PDFX_DEMO_DIR:-$root/.pdfx-demo}"
mkdir -p "$work"
"$runner" sample "$work/sample.pdf" --pages 4 --kind mixed --language korean
"$runner" extract "$work/sample.pdf" --out "$work/out" --languages kor+eng
echo
echo "== $work/out/result.txt (first lines)"
head -n 5 "$work/out/result.txt"
echo "…"
echo "Per-page results with word boxes and confidences: $work/out/result.json"
