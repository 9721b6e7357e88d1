#!/usr/bin/env bash
# The real cluster the Kubernetes driver is tested against, on loopback only:
# etcd (Debian's etcd-server), kube-apiserver, kube-controller-manager,
# kube-scheduler and kwok (fake nodes whose pods become Ready, and whose Job
# pods complete). Binaries come from build.sh's cache.
#
#   cluster.sh start   starts it (or finds it running), installs deploy/,
#                      prints the kubeconfig path on its last line
#   cluster.sh stop    stops everything and removes its state
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
DIR=${QUARTERDECK_TEST_CLUSTER_DIR:-/tmp/quarterdeck-test-cluster}
ETCD_PORT=${ETCD_PORT:-12379}
API_PORT=${API_PORT:-16443}
KWOK_PORT=${KWOK_PORT:-20250}
log() { echo "[test-cluster] $*" >&2; }

stop() {
  for name in kwok kube-scheduler kube-controller-manager kube-apiserver etcd; do
    if [ -f "$DIR/$name.pid" ]; then
      kill "$(cat "$DIR/$name.pid")" 2>/dev/null || true
    fi
  done
  for name in kwok kube-scheduler kube-controller-manager kube-apiserver etcd; do
    if [ -f "$DIR/$name.pid" ]; then
      pid=$(cat "$DIR/$name.pid")
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
      rm -f "$DIR/$name.pid"
    fi
  done
  rm -rf "$DIR"
}

api() { # method path [curl args...]
  local method=$1 path=$2
  shift 2
  curl -sS --fail-with-body --cacert "$DIR/ca.crt" --cert "$DIR/admin.crt" --key "$DIR/admin.key" \
    -X "$method" "https://127.0.0.1:$API_PORT$path" "$@"
}

running() {
  [ -f "$DIR/kubeconfig" ] && [ -f "$DIR/kube-apiserver.pid" ] && kill -0 "$(cat "$DIR/kube-apiserver.pid")" 2>/dev/null &&
    api GET /readyz >/dev/null 2>&1
}

certs() {
  cd "$DIR"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=quarterdeck-test-ca" -keyout ca.key -out ca.crt 2>/dev/null
  sign() { # name subject [san]
    openssl req -newkey rsa:2048 -nodes -subj "$2" -keyout "$1.key" -out "$1.csr" 2>/dev/null
    if [ -n "${3:-}" ]; then printf 'subjectAltName=%s\n' "$3" >"$1.ext"; else : >"$1.ext"; fi
    openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile "$1.ext" -out "$1.crt" 2>/dev/null
  }
  sign apiserver "/CN=kube-apiserver" "IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc"
  sign admin "/O=system:masters/CN=quarterdeck-test-admin"
  sign kwok "/CN=kwok" "IP:127.0.0.1,DNS:localhost"
  openssl genrsa -out sa.key 2048 2>/dev/null
  openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
  cat >kubeconfig <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
  - name: quarterdeck-test
    cluster:
      server: https://127.0.0.1:$API_PORT
      certificate-authority: $DIR/ca.crt
users:
  - name: admin
    user:
      client-certificate: $DIR/admin.crt
      client-key: $DIR/admin.key
contexts:
  - name: quarterdeck-test
    context: { cluster: quarterdeck-test, user: admin }
current-context: quarterdeck-test
KUBECONFIG
  cd - >/dev/null
}

launch() { # name command...
  local name=$1
  shift
  nohup "$@" >"$DIR/$name.log" 2>&1 &
  echo $! >"$DIR/$name.pid"
}

wait_for() { # what command...
  local what=$1
  shift
  for _ in $(seq 1 300); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  log "$what did not come up; its log:"
  tail -30 "$DIR/$what.log" >&2 || true
  return 1
}

start() {
  if running; then
    log "already running"
    echo "$DIR/kubeconfig"
    return
  fi
  stop
  local bin
  bin=$("$here/build.sh" | tail -n 1)
  mkdir -p "$DIR"
  certs
  log "starting etcd on 127.0.0.1:$ETCD_PORT"
  launch etcd etcd --name quarterdeck-test --data-dir "$DIR/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
    --initial-cluster "quarterdeck-test=http://127.0.0.1:$((ETCD_PORT + 1))" --log-level warn
  wait_for etcd curl -sf "http://127.0.0.1:$ETCD_PORT/health"

  log "starting kube-apiserver on 127.0.0.1:$API_PORT"
  launch kube-apiserver "$bin/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$API_PORT" \
    --tls-cert-file "$DIR/apiserver.crt" --tls-private-key-file "$DIR/apiserver.key" \
    --client-ca-file "$DIR/ca.crt" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$DIR/sa.pub" --service-account-signing-key-file "$DIR/sa.key" \
    --service-cluster-ip-range 10.96.0.0/16 \
    --authorization-mode RBAC \
    --disable-admission-plugins ServiceAccount \
    --kubelet-preferred-address-types InternalIP \
    --kubelet-client-certificate "$DIR/admin.crt" --kubelet-client-key "$DIR/admin.key" \
    --profiling=false --v 0
  wait_for kube-apiserver api GET /readyz

  log "starting kube-controller-manager, kube-scheduler and kwok"
  # No node-lifecycle controller: the kwok node's heartbeats can lag under load on
  # 2 cores, and a fake node has no kubelet whose pods would really be lost.
  launch kube-controller-manager "$bin/kube-controller-manager" \
    --kubeconfig "$DIR/kubeconfig" --leader-elect=false --bind-address 127.0.0.1 --secure-port 0 \
    --controllers '*,-nodeipam,-nodelifecycle,-csrsigning,-csrapproving,-bootstrapsigner,-tokencleaner' \
    --service-account-private-key-file "$DIR/sa.key" --root-ca-file "$DIR/ca.crt" \
    --use-service-account-credentials=false --concurrent-gc-syncs 5 --v 0
  launch kube-scheduler "$bin/kube-scheduler" \
    --kubeconfig "$DIR/kubeconfig" --leader-elect=false --bind-address 127.0.0.1 --secure-port 0 --v 0
  cat >"$DIR/kwok.yaml" <<KWOK
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokConfiguration
options:
  enableCRDs: []
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterLogs
metadata:
  name: quarterdeck-test-logs
spec:
  selector: {}
  logs:
    - containers: []
      logsFile: $DIR/pod.log
      follow: false
KWOK
  # The CRI log format kwok serves container logs from.
  for line in 'line one' 'line two' 'line three'; do
    printf '%s stdout F %s\n' "$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)" "$line"
  done >"$DIR/pod.log"
  launch kwok "$bin/kwok" --kubeconfig "$DIR/kubeconfig" --config "$DIR/kwok.yaml" \
    --manage-all-nodes --node-ip 127.0.0.1 --node-port "$KWOK_PORT" \
    --server-address "127.0.0.1:$KWOK_PORT" \
    --tls-cert-file "$DIR/kwok.crt" --tls-private-key-file "$DIR/kwok.key"
  api POST /api/v1/nodes -H 'content-type: application/json' -d '{
    "apiVersion": "v1", "kind": "Node",
    "metadata": {"name": "kwok-node-0", "labels": {"type": "kwok", "kubernetes.io/hostname": "kwok-node-0"},
                 "annotations": {"kwok.x-k8s.io/node": "fake"}},
    "status": {"allocatable": {"cpu": "64", "memory": "256Gi", "pods": "1000"},
               "capacity": {"cpu": "64", "memory": "256Gi", "pods": "1000"}}
  }' >/dev/null
  ready_node() { api GET /api/v1/nodes/kwok-node-0 | grep -q '"type": "Ready",[^}]*"status": "True"' ||
    api GET /api/v1/nodes/kwok-node-0 | tr -d '\n ' | grep -q '"type":"Ready","status":"True"'; }
  wait_for kwok ready_node
  # The API server taints a new node not-ready; the node-lifecycle controller,
  # which we do not run, would lift it once the node is Ready.
  api PATCH /api/v1/nodes/kwok-node-0 -H 'content-type: application/merge-patch+json' -d '{"spec":{"taints":null}}' >/dev/null

  log "installing deploy/ (CRDs and RBAC)"
  node --require "$root/node_modules/@backstage/cli/config/nodeTransform.cjs" "$here/apply.ts" \
    "$DIR/kubeconfig" "$root/deploy/crds" "$root/deploy/gateway-api" "$root/deploy/rbac"
  echo "$DIR/kubeconfig"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
