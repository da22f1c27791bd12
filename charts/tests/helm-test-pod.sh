#!/usr/bin/env bash
# Runs the chart's `helm test` Pod for real: its script, image and security
# settings as rendered by Helm, in a container on the Docker engine, against a
# pdfx stack on this machine (the devcluster emulator with its local executor,
# the operator and the gateway, storage in a folder). It must submit its sample
# and see `completed`. Called by docker/test-images.sh once the images exist.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
profile="${PDFX_IMAGE_PROFILE:-debug}"
bin="${CARGO_TARGET_DIR:-$root/target}/$profile"
python="$root/.tools/venv/bin/python"
work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "helm-test-pod: FAILED: $*" >&2
  for log in "$work"/*.log; do echo "--- $(basename "$log")" >&2; tail -n 15 "$log" >&2; done
  exit 1
}
free_port() { "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { # URL WHAT
  for _ in $(seq 1 300); do
    if "$python" -c 'import sys,urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$1" 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  fail "$2 never answered $1"
}

api_port="$(free_port)"; operator_port="$(free_port)"; gateway_port="$(free_port)"
export PDFX_LOG_FORMAT=json PDFIUM_LIBRARY_PATH="${PDFIUM_LIBRARY_PATH:-$root/.pdfium/lib/libpdfium.so}"
mkdir -p "$work/store"
"$bin/pdfx-devcluster" serve --data-dir "$work/cluster" --listen "127.0.0.1:$api_port" \
  --kubeconfig "$work/kubeconfig" --executor --image "pdfx/ocr-runner=$bin/pdfx-ocr-runner" \
  >"$work/devcluster.log" 2>&1 &
pids+=("$!")
for _ in $(seq 1 300); do [ -s "$work/kubeconfig" ] && break; sleep 0.2; done
[ -s "$work/kubeconfig" ] || fail "the emulator wrote no kubeconfig"
export PDFX_KUBECONFIG="$work/kubeconfig"
"$bin/pdfx-operator" --storage-url "file://$work/store" --listen "127.0.0.1:$operator_port" \
  >"$work/operator.log" 2>&1 &
pids+=("$!")
"$bin/pdfx-gateway" --storage-url "file://$work/store" --listen "127.0.0.1:$gateway_port" \
  --auth-disabled --tenant default >"$work/gateway.log" 2>&1 &
pids+=("$!")
wait_http "http://127.0.0.1:$operator_port/readyz" operator
wait_http "http://127.0.0.1:$gateway_port/readyz" gateway

# The test Pod as Helm renders it: its image, command, script and security context.
"$python" - "$root/charts/pdfx" "$work/pod.json" <<'PY'
import json, sys, yaml, helm_python as helm
with helm.Chart.load(sys.argv[1]) as chart:
    rendered = chart.render({}, name="pdfx", namespace="pdfx-system", is_install=True)
pod = next(d for d in yaml.safe_load_all(rendered["pdfx/templates/tests/submit.yaml"]) if d and d["kind"] == "Pod")
json.dump(pod, open(sys.argv[2], "w"))
PY
field() { "$python" -c 'import json,sys; p=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$work/pod.json" "$1"; }
image="$(field 'p["spec"]["containers"][0]["image"]')"
uid="$(field 'p["spec"]["containers"][0]["securityContext"]["runAsUser"]')"
[ "$(field 'p["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"]')" = True ] || fail "the test pod is not read-only"
[ "$(field 'p["spec"]["containers"][0]["command"]')" = "['/bin/bash', '-ec']" ] || fail "unexpected command"
field 'p["spec"]["containers"][0]["args"][0]' >"$work/script.sh"

# The Service name resolves in a cluster; here the gateway is on the host.
echo "helm-test-pod: running the rendered test pod ($image, UID $uid) against the gateway on 127.0.0.1:$gateway_port"
if ! docker run --rm --read-only --tmpfs /tmp:rw,nosuid,nodev,size=16m --user "$uid:$uid" \
  --cap-drop ALL --security-opt no-new-privileges --memory 128m --network host \
  -e GATEWAY_HOST=127.0.0.1 -e GATEWAY_PORT="$gateway_port" -e TIMEOUT=240 \
  --entrypoint /bin/bash "$image" -ec "$(cat "$work/script.sh")" \
  >"$work/pod.log" 2>&1; then
  fail "the test pod failed: $(cat "$work/pod.log")"
fi
sed 's/^/helm-test-pod: pod: /' "$work/pod.log"
grep -qx "status completed" "$work/pod.log" || fail "the pod never saw completed"
echo "helm-test-pod: passed"
