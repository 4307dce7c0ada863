#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# tests/bench/bench_salvage.sh - bench salvage: the bench database (pgbench
# scale $BENCH_SALVAGE_SCALE, default 10: 1,000,000 accounts) gets 10,000
# rows after a point T, is restored to T (local driver), and `drplay salvage`
# takes the 10,000 discarded rows out of the preserved state into SQL and
# CSV. Baseline, side by side: the same preserved state started the same
# way by hand (cp -a of the preserved directory, a free port, archive_mode
# off, pg_ctl start -w) and `pg_dump --data-only` of the same tables, then
# pg_ctl stop and the copy removed. Best of N, taken in turn. Target 1.5.
set -u
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/lib.sh"
. "$T_LIB/pg.sh"
require_drplay
BP=$ROOT/tests/bench/playbooks
J=$(t_tmpdir journal) || die_setup "no temp dir"
N=${BENCH_SALVAGE_RUNS:-3}
SCALE=${BENCH_SALVAGE_SCALE:-10}
pg_start PG --archive
export PG_DATA PG_ARCHIVE BASE_BACKUPS=$PG_DIR/base_backups DB_DSN=${PG_DSN%/postgres}/bench
mkdir -p "$BASE_BACKUPS" && chown postgres: "$BASE_BACKUPS" 2>/dev/null
echo "# bench_salvage: pgbench scale $SCALE, 10,000 rows after T, a restore to T..." >&2
pg_pgbench_init PG bench "$SCALE"
pg_as_postgres "$PGBIN/pg_basebackup" -D "$BASE_BACKUPS/base" -X stream -c fast -h "$PG_HOST" -p "$PG_PORT" \
	-U postgres >/dev/null 2>&1 || die_setup "pg_basebackup failed"
sleep 1.1
T=$(date -u +%FT%TZ)
sleep 1.1
top=$(pg_sql PG bench "select max(aid) from pgbench_accounts")
pg_sql PG bench "insert into pgbench_accounts (aid, bid, abalance, filler) select $top + i, 1, i, 'after T' from generate_series(1, 10000) i" >/dev/null ||
	die_setup "cannot write after T"
sleep 1.1
"$DRPLAY" run "$BP/salvage_bench.yaml" --journal-dir "$J" --param to="$T" >/dev/null 2>&1 || die_setup "the restore failed (see $J)"
STATE=$PG_DIR/drplay-preserved/before-salvage
[[ -d $STATE ]] || die_setup "no preserved state"
TABLES=(-t public.pgbench_accounts -t public.pgbench_branches -t public.pgbench_tellers -t public.pgbench_history)
k=0
ours() {
	k=$((k + 1))
	"$DRPLAY" salvage "$BP/salvage_bench.yaml" --resource history --state before-salvage --out "$T_TMP/out-$k" \
		--journal-dir "$J" >"$T_TMP/ours.log" 2>&1 || return 1
	grep -q "holds 10000 rows the restore discarded" "$T_TMP/ours.log"
}
by_hand() {
	k=$((k + 1))
	local copy=$PG_DIR/hand-$k port
	port=$(free_port)
	pg_as_postgres cp -a --reflink=auto "$STATE" "$copy" || return 1
	printf 'port = %s\narchive_mode = off\n' "$port" | pg_as_postgres tee -a "$copy/postgresql.auto.conf" >/dev/null
	pg_as_postgres "$PGBIN/pg_ctl" -D "$copy" -l "$copy.log" -w start >/dev/null || return 1
	"$PGBIN/pg_dump" -h 127.0.0.1 -p "$port" -U postgres --data-only "${TABLES[@]}" -f "$T_TMP/hand-$k.sql" bench
	local rc=$?
	pg_as_postgres "$PGBIN/pg_ctl" -D "$copy" -m fast -w stop >/dev/null
	rm -rf "$copy" "$copy.log" "$T_TMP/hand-$k.sql"
	return $rc
}
best_o="" best_b=""
for ((i = 0; i < N; i++)); do
	t=$(bench_time ours) || die_setup "drplay salvage failed (see $T_TMP/ours.log)"
	if [[ -z $best_o ]] || awk -v a="$t" -v b="$best_o" 'BEGIN { exit !(a < b) }'; then best_o=$t; fi
	rm -rf "$T_TMP"/out-*
	t=$(bench_time by_hand) || die_setup "the by-hand pg_dump failed"
	if [[ -z $best_b ]] || awk -v a="$t" -v b="$best_b" 'BEGIN { exit !(a < b) }'; then best_b=$t; fi
done
bench_report salvage "$best_o" s "$best_b" 1.5
