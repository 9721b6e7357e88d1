#!/usr/bin/env bash
# `npm run test:cluster`: starts the real test cluster (building its binaries
# on the first run), runs the cluster layer's conformance suite against it
# through the Kubernetes driver, and stops the cluster. Jest arguments pass
# through (e.g. --json --outputFile=…).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# Stop it on the way out, also when starting it failed half-way.
trap '"$here/cluster.sh" stop' EXIT
kubeconfig=$("$here/cluster.sh" start | tail -n 1) || exit 1
cd "$root"
CI=true QUARTERDECK_TEST_KUBECONFIG="$kubeconfig" node scripts/test.js --cluster "$@"
