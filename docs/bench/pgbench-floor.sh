#!/usr/bin/env bash
# pgbench-floor.sh: what PostgreSQL alone charges for the rows of one create
# request, bare and with the sync condition -> create workflow, without Go,
# HTTP or the engine (docs/benchmarks.md, "The floor").
#
# It makes a fresh database, lets `actiontrigger load` create the schema, the
# collections and the workflow (10 requests), then runs pgbench on the exact
# statements the store sends (taken from the server log), alternating the
# variants, each on emptied tables:
#
#   bare           BEGIN; INSERT expense; COMMIT
#   workflow       + INSERT ledger; execution + counters + jobs (one CTE)
#   no-counters    workflow without the two counter upserts
#   lean           expense, ledger, and the execution with its jobs as JSON in
#                  one row (a column this script adds): no job rows, no counters
#   *-pipelined    the same with BEGIN sent with the first statement and the
#                  last statement with COMMIT (pgbench \startpipeline), as pgx's
#                  native batches could
#
# Usage: docs/bench/pgbench-floor.sh [clients] [seconds] [rounds]
#   (defaults 16 8 2; needs psql and pgbench, a PostgreSQL at $PGHOST:$PGPORT
#   with trust auth, user $PGUSER; run from the repository root)
set -euo pipefail
C=${1:-16}; T=${2:-8}; ROUNDS=${3:-2}
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
[ -f go.mod ] && [ -d cmd/actiontrigger ] || { echo "pgbench-floor: run it from the repository root" >&2; exit 2; }
case "$C$T$ROUNDS" in *[!0-9]*) echo "pgbench-floor: clients, seconds and rounds are whole numbers" >&2; exit 2;; esac
command -v pgbench >/dev/null || { echo "pgbench-floor: pgbench not found (Debian: postgresql-client)" >&2; exit 1; }
DB=at_floor_$$
DIR=$(mktemp -d)
trap 'psql -qd postgres -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1; rm -rf "$DIR"' EXIT
psql -qd postgres -c "CREATE DATABASE $DB"
go run ./cmd/actiontrigger load --n 10 --c 1 --db "postgres://$PGUSER@$PGHOST:$PGPORT/$DB?sslmode=disable" >/dev/null
WF=$(psql -d "$DB" -Atc "SELECT id FROM actiontrigger_workflows WHERE wf_key = 'load-sync' AND enabled")
[ -n "$WF" ] || { echo "pgbench-floor: no workflow load-sync in $DB" >&2; exit 1; }
psql -qd "$DB" -c "CREATE SEQUENCE floor_ids; ALTER TABLE actiontrigger_executions ADD COLUMN jobs_inline jsonb"

ID="'z' || lpad(nextval('floor_ids')::text, 20, '0')"
EXPENSE="INSERT INTO \"expenses\" (\"amount\", \"title\") VALUES (1, 'load x') ON CONFLICT DO NOTHING RETURNING \"id\", \"amount\", \"title\";"
LEDGER="INSERT INTO \"ledger\" (\"amount\", \"title\") VALUES (1, 'load x') ON CONFLICT DO NOTHING RETURNING \"id\", \"amount\", \"title\";"
EXEC_COLS="id, workflow_id, wf_key, event_key, context, status, reason, sync, manually, stack, runnable, resume_job_id, lease_owner, lease_until, attempt, created_at, updated_at, started_at, expires_at, ended_at, run_after, trace"
EXEC_VALS="$ID, '$WF', 'load-sync', '', '{\"data\": {\"id\": 2, \"title\": \"load 2\", \"amount\": 2}, \"user\": {\"id\": 1}, \"roleName\": \"member\"}', 1, '', true, false, NULL, false, '', '', NULL, 0, 1795925358477827, 1795925358477994, 1795925358477829, NULL, 1795925358477994, NULL, NULL"
COUNTERS=" c AS (INSERT INTO actiontrigger_workflow_counter_shards (workflow_id, shard, executed) SELECT id, :shard, 1 FROM w ON CONFLICT (workflow_id, shard) DO UPDATE SET executed = actiontrigger_workflow_counter_shards.executed + 1),
 k AS (INSERT INTO actiontrigger_key_counter_shards (wf_key, shard, executed) SELECT wf_key, :shard, 1 FROM w ON CONFLICT (wf_key, shard) DO UPDATE SET executed = actiontrigger_key_counter_shards.executed + 1),"
JOBS=" j AS (INSERT INTO actiontrigger_jobs (id, execution_id, node_key, node_type, seq, upstream_id, status, result, meta, log, branch, end_, retries, created_at, updated_at) SELECT $ID, x.id, v.* FROM x, (VALUES ('small', 'condition', 1::bigint, '', 1::bigint, 'true'::jsonb, NULL::jsonb, '', 1::bigint, false, NULL::text, 1795925358477831::bigint, 1795925358477831::bigint), ('book', 'create', 2, '', 1, '{\"id\": 2, \"title\": \"load 2\", \"amount\": 2}', NULL, '', NULL, false, NULL, 1795925358477836, 1795925358477836)) v WHERE EXISTS (SELECT 1 FROM w) ON CONFLICT DO NOTHING RETURNING 1)"
cte() { # $1: counters or "", sends the execution, counters and jobs as the store does
	echo "WITH x AS (INSERT INTO actiontrigger_executions ($EXEC_COLS) VALUES ($EXEC_VALS) ON CONFLICT DO NOTHING RETURNING id, workflow_id),
 w AS (SELECT id, wf_key FROM actiontrigger_workflows WHERE id IN (SELECT workflow_id FROM x) FOR KEY SHARE),
$1
$JOBS
 SELECT EXISTS (SELECT 1 FROM x), (SELECT wf_key FROM w), (SELECT count(*) FROM j);"
}
# pgbench reads ":name" as a variable: the inline jobs' JSON keeps a space after each colon.
LEAN="INSERT INTO actiontrigger_executions ($EXEC_COLS, jobs_inline) VALUES ($EXEC_VALS, '[{\"id\": \"01a2257e-378b-774a-b959-107c8a1ba67e\", \"nodeKey\": \"small\", \"nodeType\": \"condition\", \"seq\": 1, \"status\": 1, \"result\": true, \"branch\": 1, \"createdAt\": 1795925358477831}, {\"id\": \"01a2257e-378b-777f-8833-fe9592571bc3\", \"nodeKey\": \"book\", \"nodeType\": \"create\", \"seq\": 2, \"upstreamId\": \"01a2257e-378b-774a-b959-107c8a1ba67e\", \"status\": 1, \"result\": {\"id\": 2, \"title\": \"load 2\", \"amount\": 2}, \"createdAt\": 1795925358477836}]');"

plain() { printf '%s\n' '\set shard random(0, 15)' 'BEGIN;' "$@" 'COMMIT;'; }
piped() { # first statement with BEGIN, last with COMMIT
	local first=$1; shift
	printf '%s\n' '\set shard random(0, 15)' '\startpipeline' 'BEGIN;' "$first" '\endpipeline'
	if [ $# -eq 0 ]; then printf '%s\n' 'COMMIT;'; return; fi
	while [ $# -gt 1 ]; do printf '%s\n' "$1"; shift; done
	printf '%s\n' '\startpipeline' "$1" 'COMMIT;' '\endpipeline'
}
plain "$EXPENSE" >"$DIR/bare.sql"
plain "$EXPENSE" "$LEDGER" "$(cte "$COUNTERS")" >"$DIR/workflow.sql"
plain "$EXPENSE" "$LEDGER" "$(cte "")" >"$DIR/no-counters.sql"
plain "$EXPENSE" "$LEDGER" "$LEAN" >"$DIR/lean.sql"
piped "$EXPENSE" >"$DIR/bare-pipelined.sql"
piped "$EXPENSE" "$LEDGER" "$(cte "$COUNTERS")" >"$DIR/workflow-pipelined.sql"
piped "$EXPENSE" "$LEDGER" "$LEAN" >"$DIR/lean-pipelined.sql"
VARIANTS="bare workflow no-counters lean bare-pipelined workflow-pipelined lean-pipelined"
for v in $VARIANTS; do # each script runs once before measuring, and must not fail
	pgbench -n -M prepared -t 1 -f "$DIR/$v.sql" "$DB" >"$DIR/check" 2>&1 || { cat "$DIR/check" >&2; exit 1; }
done

echo "pgbench, $C clients, ${T}s per run, $ROUNDS rounds, database $DB (PostgreSQL $(psql -d "$DB" -Atc 'SHOW server_version'))"
declare -A sum
for r in $(seq "$ROUNDS"); do
	for v in $VARIANTS; do
		psql -qd "$DB" -c "TRUNCATE expenses, ledger, actiontrigger_jobs; DELETE FROM actiontrigger_executions" >/dev/null
		for t in actiontrigger_row_counts actiontrigger_key_counter_shards actiontrigger_workflow_counter_shards; do
			psql -qd "$DB" -c "VACUUM FULL $t" >/dev/null
		done
		psql -qd "$DB" -c "CHECKPOINT" >/dev/null
		out=$(pgbench -n -M prepared -c "$C" -j 2 -T "$T" -f "$DIR/$v.sql" "$DB" 2>&1)
		tps=$(echo "$out" | awk '/^tps/ {printf "%d", $3}')
		lat=$(echo "$out" | awk '/latency average/ {print $4}')
		[ -n "$tps" ] || { echo "$out" >&2; exit 1; }
		printf 'round %d  %-20s %7d tps  latency %s ms\n' "$r" "$v" "$tps" "$lat"
		sum[$v]=$(( ${sum[$v]:-0} + tps ))
	done
done
echo "mean over the rounds, and the ratio to bare (plain variants) or bare-pipelined (pipelined ones):"
for v in $VARIANTS; do
	base=bare; case $v in *-pipelined) base=bare-pipelined;; esac
	awk -v v="$v" -v s="${sum[$v]}" -v b="${sum[$base]}" -v n="$ROUNDS" 'BEGIN { printf "  %-20s %7d tps  %.2fx\n", v, s / n, s / b }'
done
