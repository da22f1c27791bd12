#!/usr/bin/env bash
# Installs everything pdfx needs on a Debian 12 machine that already has Rust:
# Tesseract (eng + kor) and the headers its Rust binding compiles against, the
# fonts the tests render Korean with, cargo-nextest, and libpdfium (from the
# pypdfium2 wheel on PyPI). Idempotent: a second run checks and changes nothing.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"

apt_packages=(
  # build: the tesseract crate's -sys crates run bindgen against these headers
  pkg-config libclang-dev clang libtesseract-dev libleptonica-dev
  # run: the OCR engine and its language data
  libtesseract5 tesseract-ocr tesseract-ocr-eng tesseract-ocr-kor
  # tests: Korean glyphs for generated documents
  fonts-nanum
  # tests and benchmarks: the Korean and Latin fonts of generated scans
  fonts-nanum-extra fonts-unfonts-core fonts-liberation2 fonts-dejavu-core
  # tests: encrypting generated PDFs
  qpdf
  # fetching the pdfium wheel
  python3 python3-pip unzip ca-certificates
)

missing=()
for pkg in "${apt_packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]})); then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  echo "install-deps: installing from apt: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: apt packages present"
fi

if ! cargo nextest --version >/dev/null 2>&1; then
  echo "install-deps: installing cargo-nextest from crates.io"
  cargo install --locked cargo-nextest
fi

"$here/fetch-pdfium.sh" "$root/.pdfium"

# The gateway's tests run schemathesis against /openapi.json; same python3 as above.
schemathesis_version="4.32.5"
if python3 -m schemathesis.cli --version 2>/dev/null | grep -q "version $schemathesis_version\$"; then
  echo "install-deps: schemathesis $schemathesis_version present"
else
  echo "install-deps: installing schemathesis $schemathesis_version from PyPI"
  python3 -m pip install --quiet --disable-pip-version-check "schemathesis==$schemathesis_version" \
    || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages "schemathesis==$schemathesis_version"
fi
