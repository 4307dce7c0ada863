#!/usr/bin/env bash
# pg_freeze.sh: pg.freeze / pg.unfreeze, the write freeze at the database, on a
# real server with real client sessions: sessions opened before the freeze are
# ended after the grace period (and reported), new sessions cannot write while
# drplay's own can, unfreeze ends the sessions opened during the freeze and
# writes work again; a freeze that cannot end a session is undone; a role that
# may not alter the database changes nothing; lint knows the categories.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/pg.sh
. "$T_LIB/pg.sh"
require_drplay
PB=$ROOT/tests/integration/playbooks/pg
pg_start PG
J=$(t_tmpdir journal) || die_setup "no temp dir"
run() { "$DRPLAY" run --journal-dir "$J" "$@"; }
out() { node "$T_LIB/journal_out.js" "$J" "$@"; }
pg_psql PG -c "CREATE DATABASE shop" -c "CREATE DATABASE ownd OWNER $PG_PW_USER" >/dev/null || die_setup "cannot create databases"
pg_sql PG shop "CREATE TABLE t (x int); INSERT INTO t VALUES (1)" >/dev/null
pg_sql PG ownd "CREATE TABLE t (x int); ALTER TABLE t OWNER TO $PG_PW_USER" >/dev/null
export SHOP_DSN=${PG_DSN%/postgres}/shop

# client DB APP: an idle session (psql waiting on its input) as the application would hold
client() {
	local db=$1 app=$2 f=$T_TMP/client-$2.pid
	{
		sleep 600 &
		echo $! >"$f"
		wait
	} | PGAPPNAME=$app "$PGBIN/psql" -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d "$db" >/dev/null 2>&1 &
	on_exit "kill $! \$(cat '$f' 2>/dev/null) 2>/dev/null; true"
}
# a session running a long statement
busy() {
	PGAPPNAME=$2 "$PGBIN/psql" -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d "$1" -c "SELECT pg_sleep(600)" >/dev/null 2>&1 &
	on_exit "kill $! 2>/dev/null; true"
}
sessions() { pg_sql PG postgres "select count(*) from pg_stat_activity where application_name = '$1'"; }
has_session() { [ "$(sessions "$1")" -ge 1 ]; }
no_session() { [ "$(sessions "$1")" = 0 ]; }
frozen() { pg_sql PG postgres "select count(*) from pg_db_role_setting s join pg_database d on d.oid = s.setdatabase where d.datname = '$1' and 'default_transaction_read_only=on' = any(s.setconfig)"; }
is_frozen() { [ "$(frozen "$1")" = 1 ]; }

client shop app-worker
busy shop app-long
wait_until 10 has_session app-worker && wait_until 10 has_session app-long || die_setup "client sessions did not connect"

run "$PB/freeze.yaml" --param hold=4s >"$T_TMP/freeze.out" 2>&1 &
pid=$!
if wait_until 15 no_session app-worker; then
	t_pass "freeze: the idle session opened before the freeze was ended"
	t_eq "freeze: the database is read-only for new sessions" 1 "$(frozen shop)"
	client shop late-client
	wait_until 10 has_session late-client || t_fail "freeze: a client connects during the freeze" "late-client did not connect"
	T_OUT=$("$PGBIN/psql" -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d shop -c "INSERT INTO t VALUES (3)" 2>&1)
	t_contains "freeze: a new session cannot write" "$T_OUT" "cannot execute INSERT in a read-only transaction"
else
	t_fail "freeze: the idle session opened before the freeze was ended" "app-worker is still connected"
fi
wait "$pid"
T_RC=$?
T_OUT=$(cat "$T_TMP/freeze.out")
t_eq "freeze: the run succeeds" 0 "$T_RC"
t_eq "freeze: ... reports the sessions it ended" '["app-long","app-worker"]' \
	"$(out freeze "o.ended.map(s => s.application).sort()")"
t_eq "freeze: ... with pid, user and client" true \
	"$(out freeze "o.ended.every(s => s.pid > 0 && s.user === 'postgres' && s.client === '127.0.0.1')")"
t_eq "freeze: ... and journals them" 2 "$(out freeze "ev.find(x => x.event === 'pg_sessions_ended' && x.step === 'freeze').sessions.length")"
t_eq "freeze: ... never its own session" true "$(out freeze "o.ended.every(s => s.application.indexOf('drplay') < 0)")"
t_eq "freeze: drplay's own new session could write" 1 "$(pg_sql PG shop "select count(*) from t where x = 2")"
t_eq "freeze: the other client's write did not land" 0 "$(pg_sql PG shop "select count(*) from t where x = 3")"
t_eq "unfreeze: ends the session opened during the freeze" '["late-client"]' "$(out unfreeze "o.ended.map(s => s.application)")"
t_eq "unfreeze: the database is no longer frozen" 0 "$(frozen shop)"
t_check "unfreeze: a new session can write again" "$PGBIN/psql" -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d shop -v ON_ERROR_STOP=1 -c "INSERT INTO t VALUES (4)"

# --------------------------------------- a freeze that cannot complete is undone ---
busy ownd su-client
wait_until 10 has_session su-client || die_setup "su-client did not connect"
SHOP_DSN=${PG_PW_DSN%/postgres}/ownd t_exit "freeze: a superuser's session the role may not end fails the step" 1 run "$PB/freeze.yaml" --param grace=200ms
t_contains "freeze: ... naming the session and why" "$T_OUT" "1 session(s) opened before the freeze could not be ended (pid"
t_contains "freeze: ... and undoing the freeze" "$T_OUT" "the freeze was undone"
t_eq "freeze: ... the database is not frozen" 0 "$(frozen ownd)"
t_contains "freeze: ... the run stopped at the gate (never unfroze anything else)" "$T_OUT" "unfreeze: pg.unfreeze  skipped"
t_check "freeze: ... new sessions can write" "$PGBIN/psql" -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d ownd -v ON_ERROR_STOP=1 -c "INSERT INTO t VALUES (5)"
t_eq "freeze: ... the superuser's session is still there" 1 "$(sessions su-client)"

SHOP_DSN=${PG_PW_DSN%/postgres}/shop t_exit "freeze: a role that does not own the database: exit 4, nothing changed (no outage)" 4 run "$PB/freeze.yaml" --param grace=200ms
t_contains "freeze: ... says so, and that nothing changed" "$T_OUT" "must be owner of database shop; the role must own the database or be a superuser; nothing was changed"
t_contains "freeze: ... the step is marked as having changed nothing" "$T_OUT" ", nothing changed): cannot freeze database shop"
t_contains "freeze: ... and so is the run" "$T_OUT" "which failed before it changed anything (no outage)"
t_not_contains "freeze: ... without the password" "$T_OUT" "$PG_PW_PASSWORD"
t_eq "freeze: ... shop is not frozen" 0 "$(frozen shop)"

# ------------------------------------------------------------------ lint ---
t_exit "lint: freeze and unfreeze playbook is clean" 0 "$DRPLAY" lint "$PB/freeze.yaml"
t_exit "lint: a freeze without its unfreeze, an unverified unfreeze" 1 "$DRPLAY" lint "$PB/freeze_lint.yaml"
t_contains "lint: ... maintenance-without-off for the frozen database" "$T_OUT" "[maintenance-without-off] step 'freeze' turns maintenance on"
t_contains "lint: ... maintenance-off-unverified for the unfreeze" "$T_OUT" "[maintenance-off-unverified] step 'unfreeze_other' lifts maintenance"
t_exit "actions: categories and effects are registered" 0 "$DRPLAY" actions
t_contains "actions: ... pg.freeze maintenance_on" "$T_OUT" "pg.freeze              state-changing         maintenance_on"
t_contains "actions: ... pg.unfreeze maintenance_off" "$T_OUT" "pg.unfreeze            state-changing         maintenance_off"
t_contains "actions: ... verify.compare verify" "$T_OUT" "verify.compare         read-only              verify"
t_contains "actions: ... pg.query depends on writes" "$T_OUT" "pg.query               depends on parameters  other"
