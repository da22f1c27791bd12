#!/usr/bin/env bash
# Builds the pdfx images on this machine's Docker engine and runs the runner
# image the way a Job runs it (operator/src/job.rs): read-only root, /tmp a
# tmpfs, UID 65532, no capabilities, no privilege escalation, no network, a
# memory limit. Checks the extracted text of an English mixed sample (text
# layer + OCR) and a Korean scan, then that a too-small limit gets the runner
# OOM-killed and `docker inspect` says so; the operator and gateway images
# start as the non-root user and answer --version; and the chart's helm test
# Pod passes against a local stack (charts/tests/helm-test-pod.sh).
#
# Skipped, with the reason printed, only when no Docker engine is reachable.
# Uses the workspace's binaries of PDFX_IMAGE_PROFILE (default debug: the ones
# scripts/test.sh has just built).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
profile="${PDFX_IMAGE_PROFILE:-debug}"
target_dir="${CARGO_TARGET_DIR:-$root/target}/$profile"

if ! command -v docker >/dev/null 2>&1; then
  echo "test-images: SKIPPED: no docker command on this machine"
  exit 0
fi
if ! docker info >/dev/null 2>&1; then
  echo "test-images: SKIPPED: no Docker engine answers (docker info failed)"
  exit 0
fi

bash "$root/scripts/build-images.sh" --profile "$profile" runner operator gateway
tag="$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$root/charts/pdfx/Chart.yaml")"
runner="pdfx/ocr-runner:$tag"
uid="$(sed -n 's/^pub const RUNNER_UID: i64 = \([0-9]*\);/\1/p' "$root/operator/src/job.rs")"
[ -n "$uid" ] || { echo "test-images: RUNNER_UID not found in operator/src/job.rs" >&2; exit 1; }

work="$(mktemp -d)"
# run() executes in $(...) subshells, so the names are fixed here, not collected.
containers=(pdfx-test-en-$$ pdfx-test-ko-$$ pdfx-test-oom-$$)
cleanup() {
  for c in "${containers[@]}"; do docker rm -f "$c" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "test-images: FAILED: $*" >&2; exit 1; }

# Samples with known text, made by the host's runner (the Korean one needs the
# host's Nanum font, which the image rightly does not carry).
export PDFIUM_LIBRARY_PATH="${PDFIUM_LIBRARY_PATH:-$root/.pdfium/lib/libpdfium.so}"
mkdir -p "$work/in"
"$target_dir/pdfx-ocr-runner" sample --pages 2 --kind mixed --language english "$work/in/en.pdf" >/dev/null
"$target_dir/pdfx-ocr-runner" sample --pages 1 --kind scanned --language korean "$work/in/ko.pdf" >/dev/null
chmod -R a+rX "$work/in"

# run NAME MEMORY PDF LANGUAGES: the runner's job mode, as the Job runs it.
# The result folder is the only mount it may write (a volume standing in for S3).
run() {
  local name="$1" memory="$2" pdf="$3" languages="$4"
  mkdir -p "$work/$name"
  chmod 0777 "$work/$name"
  local container="pdfx-test-$name-$$"
  docker run --name "$container" \
    --read-only --tmpfs /tmp:rw,nosuid,nodev,size=256m \
    --user "$uid:$uid" --cap-drop ALL --security-opt no-new-privileges \
    --network none --memory "$memory" --memory-swap "$memory" \
    -v "$work/in:/in:ro" -v "$work/$name:/out" \
    -e PDFX_SOURCE="file:///in/$pdf" -e PDFX_OUTPUT="file:///out/result/" \
    -e PDFX_LANGUAGES="$languages" -e TERMINATION_MESSAGE_PATH=/out/termination-log \
    "$runner" job >"$work/$name.log" 2>&1 || true
  docker inspect -f '{{.State.ExitCode}} {{.State.OOMKilled}}' "$container"
}

expect_text() {
  local name="$1" text="$2"
  grep -qF "$text" "$work/$name/result/result.txt" \
    || fail "$name: \"$text\" not in the result: $(head -c 600 "$work/$name/result/result.txt" 2>/dev/null; tail -n 5 "$work/$name.log")"
}

state="$(run en 512m en.pdf eng)"
[ "$state" = "0 false" ] || fail "en: exit/oom $state: $(tail -n 20 "$work/en.log")"
expect_text en "Page 1 of the sample report"   # page 1: the text layer
expect_text en "Page 2 of the sample report"   # page 2: a scan, read by Tesseract
echo "test-images: runner extracted the English sample under --memory 512m ($(grep -c . "$work/en/result/result.txt") lines; termination message: $(head -c 200 "$work/en/termination-log"))"

state="$(run ko 512m ko.pdf kor)"
[ "$state" = "0 false" ] || fail "ko: exit/oom $state: $(tail -n 20 "$work/ko.log")"
expect_text ko "보고서 1쪽"
echo "test-images: runner read the Korean scan with kor under --memory 512m"

oom_memory="${PDFX_OOM_TEST_MEMORY:-40m}"
state="$(run oom "$oom_memory" en.pdf eng)"
[ "${state#* }" = "true" ] || fail "oom: with --memory $oom_memory the runner was not OOM-killed (exit/oom $state): $(tail -n 10 "$work/oom.log")"
echo "test-images: with --memory $oom_memory the runner was OOM-killed: docker inspect says OOMKilled=true, exit code ${state% *}, termination message: $(head -c 300 "$work/oom/termination-log" 2>/dev/null || echo none)"

for image in operator gateway; do
  binary="pdfx-$image"
  out="$(docker run --rm --read-only --user "$uid:$uid" --cap-drop ALL --security-opt no-new-privileges \
    --network none "pdfx/$image:$tag" --version 2>&1)" || fail "$image --version: $out"
  user="$(docker image inspect -f '{{.Config.User}}' "pdfx/$image:$tag")"
  [ "$user" = "65532:65532" ] || fail "$image runs as '$user', not 65532:65532"
  echo "test-images: $image image: $out (user $user)"
done
[ "$(docker image inspect -f '{{.Config.User}}' "$runner")" = "65532:65532" ] || fail "runner image is not non-root"
docker run --rm --read-only --network none --entrypoint /bin/sh "$runner" -c \
  'test -n "$(ls -A /usr/share/doc/pdfium/LICENSES)"' \
  || fail "the runner image lacks the pdfium licence files"

# The chart's `helm test` Pod, rendered by Helm, run in the runner image against
# the real gateway, operator and emulator on this machine.
bash "$root/charts/tests/helm-test-pod.sh"

for image in "$runner" "pdfx/operator:$tag" "pdfx/gateway:$tag" debian:bookworm-slim; do
  printf 'test-images: size %-26s %s MB\n' "$image" "$(( $(docker image inspect -f '{{.Size}}' "$image") / 1000000 ))"
done
echo "test-images: passed"
