#!/usr/bin/env bash
# Fetches libpdfium from the pypdfium2 wheel on PyPI (the only source this
# project may download from) into DIR/lib/libpdfium.so, with the wheel's license
# files in DIR/licenses. The wheel's SHA-256 is pinned, and the library must
# export the PDFium entry points pdfium-render binds to. Idempotent.
set -euo pipefail

dest="${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.pdfium}"
version="5.15.2"
wheel="pypdfium2-${version}-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
sha256="dc31aea5b0fb9fefc9b537a65f4113980b2c40798445736a7e6565bc85161e37"
stamp="$dest/.installed-$version"

verify_library() {
  local lib="$1"
  [ -s "$lib" ] || return 1
  # The magic bytes of an ELF object, then the symbols pdfium-render needs first.
  [ "$(head -c 4 "$lib" | od -An -tx1 | tr -d ' \n')" = "7f454c46" ] || return 1
  python3 - "$lib" <<'PY'
import ctypes, sys
lib = ctypes.CDLL(sys.argv[1])
for symbol in ("FPDF_InitLibraryWithConfig", "FPDF_LoadDocument", "FPDFText_LoadPage", "FPDF_RenderPageBitmap"):
    getattr(lib, symbol)
PY
}

if [ -f "$stamp" ] && verify_library "$dest/lib/libpdfium.so"; then
  echo "fetch-pdfium: $dest/lib/libpdfium.so present (pypdfium2 $version)"
  exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "fetch-pdfium: downloading pypdfium2 $version from PyPI"
python3 -m pip download --quiet --no-deps --only-binary=:all: \
  --platform manylinux_2_17_x86_64 --python-version 3.11 \
  "pypdfium2==$version" -d "$work"
got="$(sha256sum "$work/$wheel" | cut -d' ' -f1)"
if [ "$got" != "$sha256" ]; then
  echo "fetch-pdfium: checksum mismatch for $wheel: got $got, want $sha256" >&2
  exit 1
fi
(cd "$work" && python3 -m zipfile -e "$wheel" unpacked)
mkdir -p "$dest/lib" "$dest/licenses"
cp "$work/unpacked/pypdfium2_raw/libpdfium.so" "$dest/lib/libpdfium.so.tmp"
mv "$dest/lib/libpdfium.so.tmp" "$dest/lib/libpdfium.so"
rm -rf "$dest/licenses"
cp -r "$work/unpacked/pypdfium2-$version.dist-info/licenses" "$dest/licenses"
cp "$work/unpacked/pypdfium2_raw/version.json" "$dest/version.json"
verify_library "$dest/lib/libpdfium.so" || { echo "fetch-pdfium: $dest/lib/libpdfium.so is not a usable PDFium library" >&2; exit 1; }
touch "$stamp"
echo "fetch-pdfium: installed $dest/lib/libpdfium.so ($(cat "$dest/version.json"))"
