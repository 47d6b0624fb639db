#!/usr/bin/env bash
# Starts `c360 demo` on free ports, runs the graphql-http audit against it, stops it.
# Usage: tools/graphql-http-audit/run.sh [path/to/c360]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-${CARGO_TARGET_DIR:-$here/../../target}/debug/c360}
cd "$here"
if [ ! -d node_modules/graphql-http ]; then
  npm install --no-package-lock --no-audit --no-fund --silent
fi
log=$(mktemp)
data=$(mktemp -d)
"$bin" demo --port 0 --sandbox-port 0 --customers 100 --latency none --data-dir "$data" >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$log" "$data"' EXIT
url=""
for _ in $(seq 1 50); do
  url=$(grep -o 'http://[0-9.:]*/graphql' "$log" | head -n 1 || true)
  [ -n "$url" ] && break
  sleep 0.2
done
[ -n "$url" ] || { echo "c360 demo did not start:"; cat "$log"; exit 1; }
token=$(C360_PROFILE=demo "$bin" token --role admin --staff A0001)
node audit.mjs "$url" "$token"
