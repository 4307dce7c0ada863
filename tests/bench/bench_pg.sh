#!/usr/bin/env bash
# bench_pg.sh: the pg family's speed (issue: PostgreSQL actions and
# verification), on pgbench databases created here in a cluster of our own:
# scale 30 (3,000,000 pgbench_accounts rows) and scale 60 (twice as big).
# Measured with `drplay run` of a one-step playbook (tests/bench/playbooks/),
# i.e. what users run, start-up and connection included.
#   pg_checksum_vs_copy          pg.checksum of pgbench_accounts vs
#                                psql -c "COPY pgbench_accounts TO STDOUT" | sha256sum
#                                (best of 5 each, interleaved). Target ratio <= 1.0.
#   pg_checksum_jobs1_vs_copy    the same with jobs: 1 (no parallel block ranges),
#                                against the same baseline: stated for comparison.
#   pg_checksum_vs_md5_array_agg vs SELECT md5(array_agg(t ORDER BY aid)::text)
#                                FROM pgbench_accounts t (one run). Target <= 0.1.
#   pg_checksum_vs_md5_string_agg vs SELECT md5(string_agg(t::text, '' ORDER BY aid))
#                                (one run): stated for comparison; target <= 1.0.
#   pg_checksum_rss              peak RSS of drplay (MB) during that checksum;
#                                baseline: psql's peak RSS streaming the same COPY.
#                                Target: under 64 MB.
#   pg_checksum_rss_2x           peak RSS at scale 60 / peak RSS at scale 30
#                                (constant memory). Target ratio <= 1.1.
#   pg_counts_vs_psql            pg.counts of all tables (tables: all) vs one psql
#                                running SELECT count(*) for each of the same tables
#                                (best of 3 each). Target ratio <= 1.5.
#   pg_capture_schema            pg.capture of the schema (counts and sequence
#                                positions off) of a database of 2,000 tables, each
#                                with a bigserial key, an index, a trigger and two
#                                comments, vs pg_dump --schema-only of it to /dev/null
#                                (best of 5 each, interleaved). Target ratio <= 0.5.
# Other work on the machine makes the timings noisy; run it on a quiet machine.
set -u
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/lib.sh"
. "$T_LIB/pg.sh"
require_drplay
PB=$ROOT/tests/bench/playbooks
J=$(t_tmpdir journal) || die_setup "no temp dir"
PSQL=$PGBIN/psql

pg_start BENCH --conf shared_buffers=256MB
echo "# bench_pg: creating pgbench databases (scale 30 and 60)..." >&2
pg_pgbench_init BENCH b30 30
pg_pgbench_init BENCH b60 60
B30=${BENCH_DSN%/postgres}/b30
B60=${BENCH_DSN%/postgres}/b60
q() { "$PSQL" -X -q -h 127.0.0.1 -p "$BENCH_PORT" -U postgres "$@"; }
for db in b30 b60; do q -d "$db" -c "VACUUM ANALYZE" >/dev/null; done

ours() { BENCH_DSN=$1 "$DRPLAY" run --journal-dir "$J" "$PB/$2" >/dev/null 2>&1; }
# interleaved N OURS BASELINE: the best time of each of two commands (names
# of functions) over N runs taken in turn, into best_o and best_b
interleaved() {
	local n=$1 i t
	best_o="" best_b=""
	for ((i = 0; i < n; i++)); do
		t=$(bench_time "$2") || return 1
		if [ -z "$best_o" ] || awk -v a="$t" -v b="$best_o" 'BEGIN { exit !(a < b) }'; then best_o=$t; fi
		t=$(bench_time "$3") || return 1
		if [ -z "$best_b" ] || awk -v a="$t" -v b="$best_b" 'BEGIN { exit !(a < b) }'; then best_b=$t; fi
	done
}
copy_sha() { q -d b30 -c "COPY pgbench_accounts TO STDOUT" | sha256sum >/dev/null; }
ours "$B30" pg_checksum.yaml || { echo "bench_pg: pg.checksum failed" >&2; exit 1; }
copy_sha # warm the cache for both
ours_checksum() { ours "$B30" pg_checksum.yaml; }
interleaved 5 ours_checksum copy_sha || exit 1
bench_report pg_checksum_vs_copy "$best_o" s "$best_b" 1.0
check_o=$best_o
# the same with one connection (one sequential scan, no block ranges)
best_1=""
for i in 1 2 3; do
	t=$(bench_time ours "$B30" pg_checksum_jobs1.yaml) || exit 1
	if [ -z "$best_1" ] || awk -v a="$t" -v b="$best_1" 'BEGIN { exit !(a < b) }'; then best_1=$t; fi
done
bench_report pg_checksum_jobs1_vs_copy "$best_1" s "$best_b" 1.0
best_o=$check_o

t=$(bench_time q -d b30 -Atc "SELECT md5(array_agg(t ORDER BY aid)::text) FROM pgbench_accounts t") || exit 1
bench_report pg_checksum_vs_md5_array_agg "$best_o" s "$t" 0.1
t=$(bench_time q -d b30 -Atc "SELECT md5(string_agg(t::text, '' ORDER BY aid)) FROM pgbench_accounts t") || exit 1
bench_report pg_checksum_vs_md5_string_agg "$best_o" s "$t" 1.0

rss30=$(BENCH_DSN=$B30 bench_rss_kb "$DRPLAY" run --journal-dir "$J" "$PB/pg_checksum.yaml") || exit 1
rss_psql=$(bench_rss_kb "$PSQL" -X -q -h 127.0.0.1 -p "$BENCH_PORT" -U postgres -d b30 -o /dev/null -c "COPY pgbench_accounts TO STDOUT") || exit 1
bench_report pg_checksum_rss "$(awk -v k="$rss30" 'BEGIN { print k / 1024 }')" MB "$(awk -v k="$rss_psql" 'BEGIN { print k / 1024 }')" 64 value
rss60=$(BENCH_DSN=$B60 bench_rss_kb "$DRPLAY" run --journal-dir "$J" "$PB/pg_checksum.yaml") || exit 1
bench_report pg_checksum_rss_2x "$(awk -v k="$rss60" 'BEGIN { print k / 1024 }')" MB "$(awk -v k="$rss30" 'BEGIN { print k / 1024 }')" 1.1

tables=$(q -d b30 -Atc "SELECT string_agg(format('SELECT count(*) FROM %I.%I;', schemaname, relname), ' ' ORDER BY relname) FROM pg_stat_user_tables")
psql_counts() { q -d b30 -Atc "$tables" >/dev/null; }
ours "$B30" pg_counts.yaml || { echo "bench_pg: pg.counts failed" >&2; exit 1; }
ours_counts() { ours "$B30" pg_counts.yaml; }
interleaved 3 ours_counts psql_counts || exit 1
bench_report pg_counts_vs_psql "$best_o" s "$best_b" 1.5

# 2,000 tables with indexes, sequences, triggers and comments, made in
# batches (one transaction each: the locks of 2,000 new tables would not fit)
pg_createdb BENCH s2000 || { echo "bench_pg: cannot create s2000" >&2; exit 1; }
{
	echo "CREATE SCHEMA app; CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS \$\$ BEGIN NEW.updated_at := now(); RETURN NEW; END \$\$;"
	for b in $(seq 0 9); do
		cat <<SQL
DO \$\$ BEGIN
  FOR i IN $((b * 200 + 1))..$((b * 200 + 200)) LOOP
    EXECUTE format('CREATE TABLE app.t%s (id bigserial PRIMARY KEY, account_id integer NOT NULL, name text, amount numeric(12,2) DEFAULT 0, created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz)', i);
    EXECUTE format('CREATE INDEX t%s_account_idx ON app.t%s (account_id, created_at)', i, i);
    EXECUTE format('CREATE TRIGGER t%s_touch BEFORE UPDATE ON app.t%s FOR EACH ROW EXECUTE FUNCTION app.touch()', i, i);
    EXECUTE format('COMMENT ON TABLE app.t%s IS %L', i, 'table number ' || i);
    EXECUTE format('COMMENT ON COLUMN app.t%s.amount IS %L', i, 'in cents');
  END LOOP;
END \$\$;
SQL
	done
} | q -d s2000 >/dev/null || { echo "bench_pg: cannot create the 2,000 tables" >&2; exit 1; }
S2000=${BENCH_DSN%/postgres}/s2000
dump_schema() { "$PGBIN/pg_dump" --schema-only -h 127.0.0.1 -p "$BENCH_PORT" -U postgres -d s2000 -f /dev/null; }
ours "$S2000" pg_capture_schema.yaml || { echo "bench_pg: pg.capture of the schema failed" >&2; exit 1; }
dump_schema
ours_schema() { ours "$S2000" pg_capture_schema.yaml; }
interleaved 5 ours_schema dump_schema || exit 1
bench_report pg_capture_schema "$best_o" s "$best_b" 0.5
