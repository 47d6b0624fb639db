#!/usr/bin/env bash
# Instructions the hub executes per cold profile360 request, counted by valgrind's
# callgrind: a figure the noise of a shared machine cannot move, unlike req/s.
#
#   tools/instructions/cold360.sh [C360_BINARY] [REQUESTS]
#
# Starts `c360 sandbox` natively and `c360 serve` under callgrind (every cache tier on,
# as shipped; SQLite scratch database; the access audit on), sends WARMUP requests for
# distinct customers (connections, pools, lazy statics), zeroes the counters, sends
# REQUESTS requests for further distinct customers one after another, and prints the
# hub's instructions per request. With OUT=dir the callgrind file is kept there for
# callgrind_annotate (inclusive costs: --inclusive=yes).
#
# MODE=warm or MODE=warm-l1 counts a warm request instead: the measured requests cycle
# through the WARMUP customers already read, answered from the response tier (warm) or,
# with that tier off, from the in-process entity tier (warm-l1).
set -euo pipefail
bin=${1:-target/release/c360}
requests=${2:-200}
warmup=${WARMUP:-50}
mode=${MODE:-cold}
case "$mode" in cold|warm|warm-l1) ;; *) echo "MODE must be cold, warm or warm-l1" >&2; exit 2;; esac
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }
work=$(mktemp -d)
out=${OUT:-$work}
mkdir -p "$out"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

banner() { # file, prefix: waits for the line and prints the first word after the prefix
  for _ in $(seq 1 600); do
    if line=$(grep -m1 "$2" "$1" 2>/dev/null); then
      echo "${line#*"$2"}" | awk '{print $1}'; return 0
    fi
    sleep 0.2
  done
  echo "no '$2' from the process; it said:" >&2; cat "$1" "$work"/*.err >&2 2>/dev/null; exit 1
}

RUST_LOG=warn "$bin" sandbox --port 0 --latency none --customers 1000000 >"$work/sandbox.out" 2>&1 &
pids+=($!)
sandbox=$(banner "$work/sandbox.out" "c360 sandbox: ")
sandbox=${sandbox%%/\{*}

export C360_PROFILE=demo C360_ACCESS__SUBJECT_RATE=0 C360_ACCESS__CLIENT_RATE=0 RUST_LOG=warn
[ "$mode" = warm-l1 ] && export C360_CACHE__RESPONSE_ENABLED=false
export DATABASE_URL="sqlite://$work/c360.db"
for system in core cards loans channels; do
  export "C360_CONNECTORS__${system^^}__BASE_URL=$sandbox/$system/v1"
done
token=$("$bin" token --role teller --staff S0001 --branch B001 --client c360-bench --ttl 2h)
valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.out" \
  "$bin" serve --port 0 >"$work/hub.out" 2>"$work/valgrind.err" &
pids+=($!)
hub=$(banner "$work/hub.out" "c360 hub: ")
hub=${hub%/graphql}

query='query Profile($id: ID!) { customer(id: $id) { id kind name mobile idDocument { type number } status branch accounts { number type balance { amount currency } availableBalance { amount } status } cards { number kind status creditLimit { amount } outstanding { amount } } loans { id product outstanding { amount } overdueDays classification } onlineBanking { userId status lastLoginAt preferredChannel } sources { system fromCache stale error } } }'
ask() { # customer number
  local body
  body=$(printf '{"query":"%s","variables":{"id":"%d"}}' "$query" $((1000000000 + $1)))
  curl -sf "$hub/graphql" -H 'content-type: application/json' -H "authorization: Bearer $token" \
    -d "$body" | grep -q '"errors"' && { echo "customer $1: the answer has errors" >&2; exit 1; }
  return 0
}
for i in $(seq 1 "$warmup"); do ask $((i * 7919 % 999983 + 1)); done
callgrind_control --zero "${pids[1]}" >/dev/null 2>&1
for i in $(seq 1 "$requests"); do
  if [ "$mode" = cold ]; then ask $(((warmup + i) * 7919 % 999983 + 1))
  else ask $(((i % warmup + 1) * 7919 % 999983 + 1)); fi
done
callgrind_control --dump "${pids[1]}" >/dev/null 2>&1
sleep 1
total=$(for f in "$out"/callgrind.out*; do grep -m1 '^summary:' "$f" 2>/dev/null | awk '{print $2}'; done | sort -n | tail -1)
echo "instructions per $mode profile360 request: $((total / requests)) ($total over $requests requests)"
