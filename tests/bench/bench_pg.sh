#!/usr/bin/env bash
# bench_pg.sh: the pg family's speed (issue: PostgreSQL actions and
# verification), on pgbench databases created here in a cluster of our own:
# scale 30 (3,000,000 pgbench_accounts rows) and scale 60 (twice as big).
# Measured with `drplay run` of a one-step playbook (tests/bench/playbooks/),
# i.e. what users run, start-up and connection included.
#   pg_checksum_vs_copy          pg.checksum of pgbench_accounts vs
#                                psql -c "COPY pgbench_accounts TO STDOUT" | sha256sum
#                                (best of 5 each, interleaved). Target ratio <= 1.0.
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
copy_sha() { q -d b30 -c "COPY pgbench_accounts TO STDOUT" | sha256sum >/dev/null; }
ours "$B30" pg_checksum.yaml || { echo "bench_pg: pg.checksum failed" >&2; exit 1; }
copy_sha # warm the cache for both
best_o="" best_b=""
for i in 1 2 3 4 5; do
	t=$(bench_time ours "$B30" pg_checksum.yaml) || exit 1
	if [ -z "$best_o" ] || awk -v a="$t" -v b="$best_o" 'BEGIN { exit !(a < b) }'; then best_o=$t; fi
	t=$(bench_time copy_sha) || exit 1
	if [ -z "$best_b" ] || awk -v a="$t" -v b="$best_b" 'BEGIN { exit !(a < b) }'; then best_b=$t; fi
done
bench_report pg_checksum_vs_copy "$best_o" s "$best_b" 1.0

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
best_o="" best_b=""
for i in 1 2 3; do
	t=$(bench_time ours "$B30" pg_counts.yaml) || exit 1
	if [ -z "$best_o" ] || awk -v a="$t" -v b="$best_o" 'BEGIN { exit !(a < b) }'; then best_o=$t; fi
	t=$(bench_time psql_counts) || exit 1
	if [ -z "$best_b" ] || awk -v a="$t" -v b="$best_b" 'BEGIN { exit !(a < b) }'; then best_b=$t; fi
done
bench_report pg_counts_vs_psql "$best_o" s "$best_b" 1.5
