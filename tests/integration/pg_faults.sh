#!/usr/bin/env bash
# pg_faults.sh: bad input and faults in the pg actions, against a real server.
# Each is a clear step failure naming the table and the cause, never a crash
# (exit codes are drplay's own: 4 = failed before any change, 130 =
# interrupted) and never a false PASS: an unknown table or column, a freshness
# column that is not a timestamp, a role without SELECT rights, a statement
# timeout, a step timeout and SIGINT in the middle of a checksum (the server's
# statements are cancelled), and the server killed in the middle of a checksum.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/pg.sh
. "$T_LIB/pg.sh"
require_drplay
PB=$ROOT/tests/integration/playbooks/pg
pg_start PG
pg_load_fixture PG appdb
pg_pgbench_init PG big 40
J=$(t_tmpdir journal) || die_setup "no temp dir"
export APP_DSN=${PG_DSN%/postgres}/appdb BIG_DSN=${PG_DSN%/postgres}/big
run() { "$DRPLAY" run --journal-dir "$J" "$@"; }
out() { node "$T_LIB/journal_out.js" "$J" "$@"; }
active_copies() { pg_sql PG postgres "select count(*) from pg_stat_activity where datname = 'big' and state = 'active' and query like 'COPY (SELECT%'"; }
copies_running() { [ "$(active_copies)" -ge 1 ]; }
copies_gone() { [ "$(active_copies)" = 0 ]; }
no_crash() { # NAME: the last output has no sign of a crash, and nothing bypassed the transcript
	t_not_contains "$1: ... no crash" "$T_OUT" "Segmentation"
	t_not_contains "$1: ... no abort" "$T_OUT" "Aborted"
	t_not_contains "$1: ... no raw server notices on stderr" "$T_OUT" "FATAL:"
}

# ----------------------------------------------------------- bad input ---
t_exit "unknown table: a step failure" 4 run "$PB/fault_counts.yaml" --param table=no_such_table
t_contains "unknown table: ... naming it and the database" "$T_OUT" "table 'no_such_table' does not exist in database 'appdb' (resource 'app')"
t_exit "unknown schema-qualified table" 4 run "$PB/fault_counts.yaml" --param table=app.orders
t_contains "unknown schema-qualified table: ... named" "$T_OUT" "table 'app.orders' does not exist"
t_exit "malformed table name" 4 run "$PB/fault_counts.yaml" --param table='a.b.c"'
t_contains "malformed table name: ... says so" "$T_OUT" "is not valid; write table, schema.table or a quoted SQL name"
t_exit "unknown freshness column: a step failure" 4 run "$PB/fault_fresh.yaml" --param column=no_such_column
t_contains "unknown column: ... naming column and table" "$T_OUT" "column 'no_such_column' does not exist in table public.orders"
t_exit "freshness column that is not a timestamp" 4 run "$PB/fault_fresh.yaml" --param column=note
t_contains "not a timestamp: ... naming column, table and type" "$T_OUT" "freshness column public.orders.note is of type text, not a timestamp"
t_exit "a failed read leaves the connection usable (on_failure: continue)" 0 run "$PB/fault_recover.yaml"
t_eq "recover: ... the next step counted" 2000 "$(out good "o.counts['public.orders']")"

# ----------------------------------- a password written raw in the URI ---
# libpq splits such a URI elsewhere (host pw7@..., port lk): the message
# quotes what it read, and none of the password may be in it.
for raw in 'lk@pw7' 'lk/pw7' 'lk pw7'; do
	APP_DSN="postgresql://u:$raw@127.0.0.1:1/appdb" t_exit "a password written raw ('$raw'): a step failure" 4 \
		run "$PB/fault_counts.yaml" --param table=orders
	t_contains "... naming the resource" "$T_OUT" "postgres resource 'app'"
	t_not_contains "... none of the password" "$T_OUT" "pw7"
	t_not_contains "... nor in the journal" "$(cat "$J"/*.jsonl)" "pw7"
done
t_contains "... the raw '@' named, and what to write" "$(APP_DSN='postgresql://u:lk@pw7@127.0.0.1:1/appdb' run "$PB/fault_counts.yaml" --param table=orders 2>&1)" \
	"the dsn's password holds a raw '@', which ends it early; percent-encode it as %40"

# ------------------------------------------------- no SELECT rights ---
pg_psql PG -c "REVOKE pg_read_all_data FROM $PG_PW_USER" >/dev/null || die_setup "cannot revoke pg_read_all_data"
APP_DSN=${PG_PW_DSN%/postgres}/appdb t_exit "no SELECT rights: the run goes on (on_failure: continue)" 0 run "$PB/fault_read.yaml"
t_eq "no SELECT rights: ... counts, checksum and capture all failed" "failed failed failed" \
	"$(for s in counts checksum capture; do out "$s" "e.outcome"; done | tr '\n' ' ' | sed 's/ $//')"
t_contains "no SELECT rights: ... naming the table" "$T_OUT" "permission denied for table orders"
t_contains "no SELECT rights: ... the role" "$T_OUT" "as role $PG_PW_USER"
t_contains "no SELECT rights: ... and what to do" "$T_OUT" "grant the role SELECT on the tables"
t_not_contains "no SELECT rights: ... never the password" "$T_OUT" "$PG_PW_PASSWORD"
t_eq "no SELECT rights: ... no state was produced" null "$(out capture "o.state === undefined ? null : 'state'")"
pg_psql PG -c "GRANT pg_read_all_data TO $PG_PW_USER" >/dev/null

# --------------------------------------------------- timeouts ---
t_exit "statement_timeout: a step failure" 4 run "$PB/fault_big.yaml" --param statement_timeout=100ms --param jobs=1
t_contains "statement_timeout: ... naming the table and the cause" "$T_OUT" "checksumming table public.pgbench_accounts failed: canceling statement due to statement timeout"
t_contains "statement_timeout: ... and what to do" "$T_OUT" "raise it, or give the step more time"
t_not_contains "statement_timeout: ... the next step never ran" "$T_OUT" "after the checksum"
no_crash "statement_timeout"

t_exit "step timeout during a checksum" 4 run "$PB/fault_timeout.yaml"
t_contains "step timeout: ... says so" "$T_OUT" "timed out after 300ms"
if wait_until 5 copies_gone; then
	t_pass "step timeout: ... the server's statements were cancelled"
else
	t_fail "step timeout: ... the server's statements were cancelled" "$(active_copies) COPY statements still running"
fi

"$DRPLAY" run --journal-dir "$J" "$PB/fault_big.yaml" --param jobs=2 >"$T_TMP/int.out" 2>&1 &
pid=$!
if wait_until 20 copies_running; then
	kill -INT "$pid"
	wait "$pid"
	T_RC=$?
	T_OUT=$(cat "$T_TMP/int.out")
	t_eq "SIGINT during a checksum: exit 130" 130 "$T_RC"
	t_contains "SIGINT: ... the step says it was interrupted" "$T_OUT" "INTERRUPTED"
	t_not_contains "SIGINT: ... the next step never ran" "$T_OUT" "after the checksum"
	if wait_until 5 copies_gone; then
		t_pass "SIGINT: ... the server's statements were cancelled"
	else
		t_fail "SIGINT: ... the server's statements were cancelled" "$(active_copies) COPY statements still running"
	fi
else
	kill "$pid" 2>/dev/null
	wait "$pid"
	t_fail "SIGINT during a checksum" "the checksum's COPY never showed up in pg_stat_activity"
fi

# ------------------------------------------ the server goes away (last) ---
"$DRPLAY" run --journal-dir "$J" "$PB/fault_big.yaml" --param jobs=2 >"$T_TMP/kill.out" 2>&1 &
pid=$!
if wait_until 20 copies_running; then
	pg_kill PG
	wait "$pid"
	T_RC=$?
	T_OUT=$(cat "$T_TMP/kill.out")
	t_eq "server killed mid-checksum: a step failure (exit 4)" 4 "$T_RC"
	t_contains "server killed: ... naming the table and the lost connection" "$T_OUT" "checksumming table public.pgbench_accounts failed: the connection to 127.0.0.1:$PG_PORT was lost"
	t_contains "server killed: ... says nothing was captured" "$T_OUT" "nothing was captured"
	t_not_contains "server killed: ... the next step never ran" "$T_OUT" "after the checksum"
	t_eq "server killed: ... no checksum output" null "$(out checksum "o.checksums === undefined ? null : 'present'")"
	no_crash "server killed"
else
	kill "$pid" 2>/dev/null
	wait "$pid"
	t_fail "server killed mid-checksum" "the checksum's COPY never showed up in pg_stat_activity"
fi
