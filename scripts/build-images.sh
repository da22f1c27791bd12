#!/usr/bin/env bash
# Builds the pdfx images on the local Docker engine from binaries built on this
# machine (no registry, no Rust image needed): makes the Debian base image if
# absent (docker/base/build-base.sh), stages each binary (stripped of debug
# info) and libpdfium in a small build context, and builds the Dockerfiles'
# `prebuilt` target. `--from-source` builds their default target instead,
# compiling inside rust:* (where that image can be pulled).
#
#   scripts/build-images.sh [--profile debug|release] [--tag TAG] [--from-source] [runner|operator|gateway ...]
#
# Images: pdfx/ocr-runner, pdfx/operator, pdfx/gateway, tagged with the
# chart's appVersion unless --tag says otherwise.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
profile="release"
tag="$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$root/charts/pdfx/Chart.yaml")"
from_source=0
components=()
while (($#)); do
  case "$1" in
    --profile) profile="$2"; shift 2 ;;
    --tag) tag="$2"; shift 2 ;;
    --from-source) from_source=1; shift ;;
    runner|operator|gateway) components+=("$1"); shift ;;
    *) echo "build-images: unknown argument $1" >&2; exit 2 ;;
  esac
done
((${#components[@]})) || components=(runner operator gateway)
target_dir="${CARGO_TARGET_DIR:-$root/target}/$profile"

# The classic builder unless buildx is installed: both build these Dockerfiles.
if docker buildx version >/dev/null 2>&1; then export DOCKER_BUILDKIT=1; else export DOCKER_BUILDKIT=0; fi

image_of() { case "$1" in runner) echo pdfx/ocr-runner ;; *) echo "pdfx/$1" ;; esac; }
binary_of() { case "$1" in runner) echo pdfx-ocr-runner ;; *) echo "pdfx-$1" ;; esac; }

bash "$root/docker/base/build-base.sh"

for component in "${components[@]}"; do
  image="$(image_of "$component"):$tag"
  dockerfile="$root/docker/$component/Dockerfile"
  if ((from_source)); then
    echo "build-images: $image from source"
    docker build -q -f "$dockerfile" -t "$image" "$root" >/dev/null
  else
    binary="$target_dir/$(binary_of "$component")"
    [ -x "$binary" ] || { echo "build-images: $binary is missing: cargo build --profile $profile -p pdfx-... first" >&2; exit 1; }
    context="$(mktemp -d)"
    mkdir -p "$context/bin"
    # Debug info is for the host's debugger; the image carries the code only.
    objcopy --strip-debug "$binary" "$context/bin/$(binary_of "$component")"
    if [ "$component" = runner ]; then
      bash "$root/scripts/fetch-pdfium.sh" "$root/.pdfium" >/dev/null
      mkdir -p "$context/pdfium/lib"
      cp "$root/.pdfium/lib/libpdfium.so" "$context/pdfium/lib/"
      cp -r "$root/.pdfium/licenses" "$context/pdfium/licenses"
    fi
    echo "build-images: $image from $binary"
    docker build -q -f "$dockerfile" --target prebuilt -t "$image" "$context" >/dev/null
    rm -rf "$context"
  fi
  echo "build-images: $image $(docker image inspect -f '{{.Size}}' "$image") bytes"
done
