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
  # chart checks (a venv of PyPI tools) and the images' Debian base
  python3-venv debootstrap
  # pdfx up --runtime docker: local storage shared with the runner's UID (setfacl)
  acl
  # tests: the web console in a real browser (headless, through WebDriver)
  chromium chromium-driver
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

# Python tools of the test suite, in one venv: Helm v4 as a library, the
# Kubernetes schemas and checkov (charts/tests), schemathesis (the gateway's
# OpenAPI test, api-gateway/tests/openapi.rs), the official Kubernetes Python
# client (devcluster/tests/kinds.rs runs it against the emulator).
chart_tools=(helm-python-sdk==0.2.2 kubernetes-validate==1.37.0 checkov==3.3.30 schemathesis==4.32.5 kubernetes==36.0.3)
venv="$root/.tools/venv"
stamp="$venv/.installed-$(echo "${chart_tools[*]}" | sha256sum | cut -c1-16)"
if [ -f "$stamp" ] && "$venv/bin/python" -c 'import helm_python, kubernetes_validate, schemathesis, kubernetes' 2>/dev/null; then
  echo "install-deps: Python test tools present (${chart_tools[*]})"
else
  echo "install-deps: installing Python test tools from PyPI: ${chart_tools[*]}"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet "${chart_tools[@]}"
  touch "$stamp"
fi
