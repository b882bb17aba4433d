#!/usr/bin/env bash
# The main job on the embedded default: a local simulated GPU cluster, the CRD, the operator, examples/.
set -euo pipefail
cd "$(dirname "$0")/.."
CLUSTER=${CLUSTER:-aiconform}
STATE=${AICONFORM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/aiconform}/clusters/$CLUSTER
PIDFILE=$STATE/run/operator.pid

stop_operator() {
  if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    kill "$(cat "$PIDFILE")" && echo "stopped the demo operator" >&2
  fi
  rm -f "$PIDFILE"
}

if [ "${1:-}" = "down" ]; then
  stop_operator
  aiconform dev-cluster --name "$CLUSTER" down
  exit 0
fi

echo "==> dev cluster (the first run builds Kubernetes from Go modules: 15-40 min on 2 cores)" >&2
KUBECONFIG=$(aiconform dev-cluster --name "$CLUSTER" up)
export KUBECONFIG
PATH=$(aiconform dev-cluster build --print-dir):$PATH   # the kubectl we built, matching the server
export PATH

echo "==> ConformanceProfile CRD" >&2
kubectl apply --server-side --force-conflicts --field-manager=aiconform-demo -f crds/
kubectl wait --for=condition=Established crd/conformanceprofiles.aiconform.io --timeout=60s >/dev/null

echo "==> operator (log: $STATE/logs/operator.log)" >&2
stop_operator
mkdir -p "$STATE/run" "$STATE/logs"
nohup aiconform run --kubeconfig "$KUBECONFIG" --bind-address 127.0.0.1 --liveness-port 18080 \
  --metrics-port 19090 >>"$STATE/logs/operator.log" 2>&1 &
echo $! >"$PIDFILE"
for _ in $(seq 1 100); do
  curl -fsS http://127.0.0.1:18080/healthz >/dev/null 2>&1 && break
  kill -0 "$(cat "$PIDFILE")" 2>/dev/null || { echo "operator exited; see $STATE/logs/operator.log" >&2; exit 1; }
  sleep 0.2
done

echo "==> examples/" >&2
kubectl apply -f examples/
for f in examples/*.yaml; do
  name=$(kubectl get -f "$f" -o jsonpath='{.metadata.name}')
  kubectl wait "conformanceprofile/$name" --for=jsonpath='{.status.observedGeneration}'="$(kubectl get -f "$f" -o jsonpath='{.metadata.generation}')" --timeout=60s >/dev/null
done

echo
kubectl get nodes -L nvidia.com/gpu.product,nvidia.com/gpu.count
echo
kubectl get conformanceprofiles
echo
echo "KUBECONFIG=$KUBECONFIG  (operator metrics: http://127.0.0.1:19090/metrics; stop everything: make demo-down)"
