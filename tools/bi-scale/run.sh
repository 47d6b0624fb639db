#!/usr/bin/env bash
# segmentSummary and a customerBook page over a 1,000,000-row customer snapshot, on
# PostgreSQL and SQLite: fills a scratch database with synthetic rows (migration 0006
# as shipped), then times the statements src/store/snapshot.rs sends, three times
# each. A bench, not a test: run it by hand on a quiet machine.
#   tools/bi-scale/run.sh [ROWS]     (PostgreSQL at $PGURL, default the local server)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROWS=${1:-1000000}
PGURL=${PGURL:-postgres://postgres@127.0.0.1:5432/test}
DB=c360_bi_scale
psql "$PGURL" -qc "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
PGDB="${PGURL%/*}/$DB"
psql "$PGDB" -q -f migrations/postgres/0006_customer_snapshot.sql
psql "$PGDB" -qc "INSERT INTO customer_snapshot SELECT (1000000000+i)::text, (1000000000+i)::text,
  lpad(((i*7919)%120)::text,4,'0'), 'S'||((i*31)%2000),
  (ARRAY['MASS','GOLD','PLATINUM','DIAMOND','PRIVATE'])[1+(i*13)%5],
  (ARRAY['EXPLORATION','FORMATION','STABILITY','DECLINE','CHURNED'])[1+(i*17)%5],
  (ARRAY['LOW','MEDIUM','HIGH'])[1+(i*11)%3], (i*7)%100, (i*104729)%500000000,
  (i*104729)%500000000, (i*3)%1000000, 0, 0, 1+i%3, i%2, i%2, i%2=0, i%3=0, 1+i%5, 1+i%5,
  1+i%5, NULL, false, false, now(), now(), now(), '{}', now(), 'sweep:1', 1
  FROM generate_series(1::bigint, $ROWS) i"
psql "$PGDB" -qc "VACUUM ANALYZE customer_snapshot"
SEGMENTS="SELECT tier AS k0, COALESCE(branch, 'NONE') AS k1, CAST(NULL AS TEXT) AS k2, CAST(NULL AS TEXT) AS k3, COUNT(*) AS count, CAST(SUM(aum_fen) AS BIGINT) AS aum_fen, MIN(computed_at) AS as_of FROM customer_snapshot GROUP BY k0, k1 ORDER BY k0, k1"
PAGE="SELECT * FROM customer_snapshot WHERE cif > '1000500000' ORDER BY cif LIMIT 21"
BRANCH_PAGE="SELECT * FROM customer_snapshot WHERE (branch = '0042') AND cif > '1000500000' ORDER BY cif LIMIT 21"
echo "PostgreSQL, $ROWS rows:"
for q in "$SEGMENTS" "$SEGMENTS" "$SEGMENTS" "$PAGE" "$PAGE" "$BRANCH_PAGE"; do
  printf '\\timing on\n%s \\g /dev/null\n' "$q" | psql "$PGDB" -q | grep Time | sed "s/^/  ${q:0:40}…  /"
done
psql "$PGURL" -qc "DROP DATABASE $DB"
SQLITE=$(mktemp -d)/snapshot.db
python3 - "$SQLITE" "$ROWS" "$SEGMENTS" "$PAGE" "$BRANCH_PAGE" <<'PY'
import sqlite3, sys, time
path, rows, queries = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
c = sqlite3.connect(path)
c.execute("PRAGMA journal_mode=WAL")
c.executescript(open("migrations/sqlite/0006_customer_snapshot.sql").read())
T = ["MASS", "GOLD", "PLATINUM", "DIAMOND", "PRIVATE"]
S = ["EXPLORATION", "FORMATION", "STABILITY", "DECLINE", "CHURNED"]
L = ["LOW", "MEDIUM", "HIGH"]
now = "2026-12-03T21:00:00.000000+00:00"
c.executemany("INSERT INTO customer_snapshot VALUES (%s)" % ",".join("?" * 31), (
    (str(1000000000 + i), str(1000000000 + i), str((i * 7919) % 120).zfill(4), "S%d" % ((i * 31) % 2000),
     T[(i * 13) % 5], S[(i * 17) % 5], L[(i * 11) % 3], (i * 7) % 100, (i * 104729) % 500000000,
     (i * 104729) % 500000000, (i * 3) % 1000000, 0, 0, 1 + i % 3, i % 2, i % 2, i % 2 == 0, i % 3 == 0,
     1 + i % 5, 1 + i % 5, 1 + i % 5, None, False, False, now, now, now, "{}", now, "sweep:1", 1)
    for i in range(1, rows + 1)))
c.commit()
c.execute("ANALYZE")
print(f"SQLite, {rows} rows:")
for q in [queries[0]] * 3 + [queries[1]] * 2 + [queries[2]]:
    t = time.time()
    c.execute(q).fetchall()
    print(f"  {q[:40]}…  Time: {(time.time() - t) * 1000:.1f} ms")
PY
rm -rf "$(dirname "$SQLITE")"
