#!/usr/bin/env bash
# BI at bank scale through the hub, end to end: a sandbox of CUSTOMERS customers
# (default latencies), a sweep of its book into the snapshot (customers/s), then
# `c360 bench`'s segments and book-page scenarios against a hub over it, on PostgreSQL
# and on SQLite; with the PostgreSQL snapshot, two hubs sharing Redis and a RabbitMQ
# queue and the time from a change made in the sandbox to both hubs' answers
# (event_latency.py). A bench, not a test: run it by hand, on a release build.
#   cargo build --release && tools/bi-scale/hubs.sh [CUSTOMERS]
# Services: PostgreSQL at $PGURL, Redis at $REDIS, RabbitMQ at $AMQP (the defaults are
# this machine's, as .ci/run starts them). SKIP_SQLITE=1 stops after PostgreSQL;
# KEEP_DB=1 keeps the PostgreSQL database, and a later run with it reuses its snapshot
# instead of sweeping again.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-1000000}
BIN=${C360_BIN:-${CARGO_TARGET_DIR:-target}/release/c360}
PGURL=${PGURL:-postgres://postgres@127.0.0.1:5432/test}
REDIS=${REDIS:-redis://127.0.0.1:6379}
AMQP=${AMQP:-amqp://guest:guest@127.0.0.1:5672/%2f}
DURATION=${DURATION:-20s}
WORK=$(mktemp -d)
RUN=bi-scale-$$
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

ready() { for _ in $(seq 1 600); do curl -sf "$1" >/dev/null && return 0; sleep 0.2; done; echo "$1 did not come up" >&2; exit 1; }

# The bench's own settings: the demo profile (development keys) without the per-caller
# rate limits, which would otherwise throttle the load generator's one token.
export C360_PROFILE=demo C360_ACCESS__SUBJECT_RATE=0 C360_ACCESS__CLIENT_RATE=0
"$BIN" sandbox --customers "$N" --port 4100 --broker "$AMQP" \
  >"$WORK/sandbox.log" 2>&1 & pids+=($!)
ready http://127.0.0.1:4100/_sandbox/stats
TOKEN=$("$BIN" token --role bi_analyst --staff A0001 --ttl 8h)

sweep() { # database URL
  echo "== sweep into $1 ($N customers)"
  C360_DATABASE__URL=$1 /usr/bin/time -f "  sweep CPU: %U s user, %S s system, peak RSS %M KB" \
    "$BIN" snapshot build 2>&1 | grep -v '^snapshot: .* done' || true
}

bench() { # hub URL
  for scenario in segments book-page; do
    concurrency=1; [ $scenario = book-page ] && concurrency=4
    echo "== $scenario against $1, c$concurrency, $DURATION"
    "$BIN" bench --target "$1" --token "$TOKEN" --scenario $scenario --customers "$N" \
      --concurrency $concurrency --duration "$DURATION" | sed 's/^/  /'
  done
}

serve() { # port, database URL, extra env...
  local port=$1 db=$2; shift 2
  env C360_DATABASE__URL="$db" "$@" "$BIN" serve --port "$port" >"$WORK/hub-$port.log" 2>&1 &
  pids+=($!)
  ready "http://127.0.0.1:$port/readyz"
}

DB=c360_bi_hubs
PGDB="${PGURL%/*}/$DB"
if [ "${KEEP_DB:-}" = 1 ] && [ "$(psql "$PGDB" -Atc "SELECT count(*) FROM snapshot_runs WHERE finished_at IS NOT NULL" 2>/dev/null)" = 1 ]; then
  echo "== reusing the snapshot in $DB"
else
  psql "$PGURL" -qc "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
  sweep "$PGDB"
fi
feed=(C360_REDIS__URL="$REDIS" C360_REDIS__KEY_PREFIX="$RUN:" C360_FEED__URL="$AMQP"
  C360_FEED__QUEUE="$RUN.hub" C360_FEED__DEAD_LETTER_EXCHANGE="$RUN.dlx"
  C360_FEED__DEAD_LETTER_QUEUE="$RUN.dead")
serve 4001 "$PGDB" "${feed[@]}"
serve 4002 "$PGDB" "${feed[@]}"
HUBS=("${pids[@]: -2}")
echo "== PostgreSQL: $(psql "$PGDB" -Atc "SELECT pg_size_pretty(pg_total_relation_size('customer_snapshot'))") for the snapshot and its indexes"
bench http://127.0.0.1:4001
echo "== event to answer, two hubs"
python3 tools/bi-scale/event_latency.py --hubs http://127.0.0.1:4001 http://127.0.0.1:4002 \
  --sandbox http://127.0.0.1:4100 --token "$("$BIN" token --role admin --staff A0002 --ttl 1h)" \
  --burst 3000 --pause-pids "${HUBS[@]}" \
  | sed 's/^/  /'
[ "${KEEP_DB:-}" = 1 ] || psql "$PGURL" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
[ "${SKIP_SQLITE:-}" = 1 ] && exit 0

SQLITE="sqlite://$WORK/c360.db?mode=rwc"
sweep "$SQLITE"
serve 4003 "$SQLITE"
echo "== SQLite: $(du -h "$WORK/c360.db" | cut -f1) database file"
bench http://127.0.0.1:4003
