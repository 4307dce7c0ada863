#!/usr/bin/env bash
# pg_actions.sh: every pg.* read action against a real PostgreSQL server with
# the awkward fixture (tests/lib/pg_fixture.sql) and a pgbench database:
# exact counts (partitions under their parent and individually), the schema
# text, freshness, checksums checked against an independent implementation
# (tests/lib/pg_rowsum.js) and independent of the number of connections and of
# physical row order, pg.capture's state, pg.query (read-only by default,
# expectations, typed values, the live-write guard), pg.whoami's least-privilege
# expectations, lazy connections and connection errors without the password.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/pg.sh
. "$T_LIB/pg.sh"
require_drplay
PB=$ROOT/tests/integration/playbooks/pg
pg_start PG
pg_load_fixture PG appdb
pg_pgbench_init PG bench 2
J=$(t_tmpdir journal) || die_setup "no temp dir"
export APP_DSN="${PG_DSN%/postgres}/appdb" BENCH_DSN="${PG_DSN%/postgres}/bench"
run() { "$DRPLAY" run --journal-dir "$J" "$@"; }
out() { node "$T_LIB/journal_out.js" "$J" "$@"; }
sql() { pg_sql PG "$@"; }
# rows of a query as COPY text with drplay's canonical settings, through psql
canon_copy() { # DB SELECT
	PGOPTIONS="-c datestyle=ISO,YMD -c intervalstyle=postgres -c timezone=UTC -c extra_float_digits=1 -c bytea_output=hex -c lc_monetary=C" \
		"$PGBIN/psql" -X -q -h "$PG_HOST" -p "$PG_PORT" -U postgres -d "$1" -c "COPY ($2) TO STDOUT"
}

# ---------------------------------------------------------------- reads ---
t_exit "read_all: every read action succeeds" 0 run "$PB/read_all.yaml"
t_not_contains "read_all: the unused resource was never connected (lazy)" "$T_OUT" "nowhere"

for t in public.orders:2000 app.order_items:3000 public.users:500 public.events_nopk:300 app.MixedCase:50 \
	public.naïve_tbl:30 app.documents:6 audit.user_log:500; do
	t_eq "counts: ${t%%:*}" "${t##*:}" "$(out counts "o['counts']['${t%%:*}']")"
done
for p in 2024_01 2024_02 2024_03 default; do
	t_eq "counts: partition app.measurements_$p counted individually" \
		"$(sql appdb "select count(*) from only app.measurements_$p")" \
		"$(out counts "o['counts']['app.measurements_$p']")"
	t_eq "counts: ... and mapped to its parent" app.measurements "$(out counts "o['partitions']['app.measurements_$p']")"
done
t_eq "counts: a partitioned table counts all its partitions" 400 "$(out counts "o['counts']['app.measurements']")"
# every relation that holds rows, counted by the server one by one (partitioned
# tables hold none of their own; an unpopulated materialized view holds none)
user_rels="from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname not in ('pg_catalog', 'information_schema') and n.nspname !~ '^pg_toast'"
t_eq "counts: total counts each row once" \
	"$(sql appdb "select sum((xpath('/row/c/text()', query_to_xml(format('select count(*) as c from only %I.%I', n.nspname, c.relname), false, true, '')))[1]::text::bigint) $user_rels and (c.relkind = 'r' or (c.relkind = 'm' and c.relispopulated))")" \
	"$(out counts "o['total']")"
t_eq "counts: all includes materialized views; an unpopulated one counts null" "24 null" \
	"$(out counts "o.counts['audit.daily_order_counts_mv'] + ' ' + o.counts['music.playlist_sizes_mv']")"
t_eq "counts: listed names, quoted, mixed-case and non-ASCII, resolve (partitions added)" \
	'["app.MixedCase","app.measurements","app.measurements_2024_01","app.measurements_2024_02","app.measurements_2024_03","app.measurements_default","public.naïve_tbl","public.orders"]' \
	"$(out counts_named "Object.keys(o.counts).sort()")"
t_eq "counts: schemas limits the tables" "[]" "$(out counts_app "Object.keys(o.counts).filter(k => !k.startsWith('app.'))")"
t_eq "counts: ... and finds all of them" 8 "$(out counts_app "Object.keys(o.counts).length")"

t_eq "schema: sha256 is the SHA-256 of the text" "$(out schema "o['sha256']")" \
	"$(out schema "require('crypto').createHash('sha256').update(o.text).digest('hex')")"
t_eq "schema: objects is the number of lines" "$(out schema "o['objects']")" "$(out schema "o.text.split('\\n').length")"
t_eq "schema: lines are sorted and unique" true "$(out schema "(l => JSON.stringify(l) === JSON.stringify([...new Set(l)].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))))(o.text.split('\\n'))")"
stext=$(out schema "o['text']")
for want in $'column\tpublic.orders.status\t#3 public.order_status not null default \'pending\'::public.order_status' \
	$'extension\tplpgsql\tversion' \
	$'type\tpublic.order_status\tenum (\'pending\', \'paid\', \'shipped\', \'cancelled\', \'refunded\')' \
	$'domain\tpublic.email\ttext constraint email_check CHECK' \
	$'table\tapp.measurements\tpartitioned table RANGE (measured_on)' \
	$'table\tapp.measurements_2024_01\ttable partition of app.measurements FOR VALUES FROM (\'2024-01-01\') TO (\'2024-02-01\')' \
	$'constraint\tapp.order_items.order_items_pkey\tPRIMARY KEY (order_id, line_no)' \
	$'index\tpublic.users_lower_email_idx\tCREATE INDEX users_lower_email_idx ON public.users USING btree (lower((email)::text))' \
	$'sequence\tapp.invoice_no_seq\tbigint start 1000 increment 7' \
	$'view\tpublic.active_users_v\tSELECT users.id' \
	$'function\tpublic.order_total(p_order_id bigint)\treturns numeric language sql stable body sha256:' \
	$'trigger\tpublic.orders.orders_total\tCREATE TRIGGER orders_total BEFORE INSERT OR UPDATE ON public.orders' \
	$'column\tapp."MixedCase"."with space"\t#3 text' \
	$'column\tapp.order_items.line_total\t#6 numeric(14,2) generated always as'; do
	t_contains "schema: has '${want%%$'\t'*} ${want#*$'\t'}'" "$stext" "$want"
done
t_not_contains "schema: no system objects" "$stext" $'\tpg_catalog.'
t_not_contains "schema: no objects of extensions or built in (plpgsql's language, the public schema's comment)" "$stext" "standard public schema"
t_not_contains "schema: no sequence positions (last_value 1070)" "$stext" "1070"

t_eq "freshness: newest orders.created_at" 2024-01-24T14:40:00.000000Z "$(out freshness "o['newest']['public.orders']")"
t_eq "freshness: a date column" "$(sql appdb "select to_char(max(measured_on), 'YYYY-MM-DD') from app.measurements")T00:00:00.000000Z" \
	"$(out freshness "o['newest']['app.measurements']")"
t_eq "freshness: age is the server time minus the newest value" true \
	"$(out freshness "Math.abs(o.age_s['public.orders'] - (Date.now() - Date.UTC(2024, 0, 24, 14, 40)) / 1000) < 120")"
t_eq "freshness: max_age is the oldest of the tables" true \
	"$(out freshness "/^[0-9]+d/.test(o.max_age)")"

t_eq "checksum: the same with 1 and 4 connections" "$(out ck1 "o['checksums']")" "$(out ck4 "o['checksums']")"
t_eq "checksum: every table (partitions under their parent) and materialized view" \
	"$(sql appdb "select count(*) $user_rels and c.relkind in ('r', 'p', 'm') and not c.relispartition")" "$(out ck1 "Object.keys(o.checksums).length")"
t_eq "checksum: an unpopulated materialized view is recorded as such" '{"rows":null,"sha256":null,"key":[],"populated":false}' \
	"$(out ck1 "JSON.stringify(o.checksums['music.playlist_sizes_mv'])")"
t_eq "checksum: a table without primary key has no key" "[]" "$(out ck1 "o['checksums']['public.events_nopk']['key']")"
t_eq "checksum: ranges add up to the rows" 2000 "$(out ck1 "o.checksums['public.orders'].ranges.reduce((s, r) => s + r.rows, 0)")"
t_eq "checksum: at most 64 ranges per table" true "$(out ck1 "Object.values(o.checksums).every(v => (v.ranges || []).length <= 64)")"
cols_of() { sql appdb "select string_agg(quote_ident(attname), ', ' order by attnum) from pg_attribute where attrelid = '$1'::regclass and attnum > 0 and not attisdropped"; }
for t in public.orders public.events_nopk app.documents app.measurements public.users 'public."naïve_tbl"' 'app."MixedCase"'; do
	key=$(sql appdb "select n.nspname || '.' || c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.oid = '$t'::regclass")
	ref=$(canon_copy appdb "SELECT $(cols_of "$t") FROM $t" | node "$T_LIB/pg_rowsum.js")
	t_eq "checksum: $key equals an independent implementation" "$ref" "$(out ck4 "o['checksums']['$key']['sha256']")"
done

t_eq "capture: a state with every section" '["captured_at","checksums","counts","database","drplay_state","freshness","name","partitions","resource","schema","sequences","server","server_version"]' \
	"$(out capture "Object.keys(o.state).sort()")"
t_eq "capture: its name, resource, database and server" "baseline app appdb 127.0.0.1:$PG_PORT" \
	"$(out capture "['name', 'resource', 'database', 'server'].map(k => o.state[k]).join(' ')")"
t_eq "capture: captured_at is the server time" true \
	"$(out capture "Math.abs(Date.parse(o.captured_at) - Date.now()) < 120000")"
t_eq "capture: the checksums asked for" '["app.measurements","public.events_nopk","public.orders"]' "$(out capture "Object.keys(o.state.checksums).sort()")"
t_eq "capture: compact (under 100 kB for the fixture)" true "$(out capture "JSON.stringify(o.state).length < 100000")"

t_eq "whoami: the superuser" "postgres true" "$(out whoami "o.current_user + ' ' + o.superuser")"
t_eq "query: value and count, with a parameter" "400 1" "$(out q_value "o.value + ' ' + o.count")"
t_eq "query: typed values (jsonb, timestamptz, numeric)" '["Zoë","2023-06-21T15:00:00Z",1.5]' \
	"$(out q_rows "[o['rows'][1]['profile']['name'], o['rows'][1]['created_at'], o['rows'][1]['balance']]")"

# order independence and parallel block ranges on a bigger table
t_exit "checksum: pgbench tables, 1 connection" 0 run "$PB/checksum_bench.yaml" --param jobs=1
one=$(out ck "o['checksums']")
ref=$(canon_copy bench "SELECT aid, bid, abalance, filler FROM pgbench_accounts" | node "$T_LIB/pg_rowsum.js")
t_eq "checksum: pgbench_accounts equals an independent implementation" "$ref" "$(out ck "o['checksums']['public.pgbench_accounts']['sha256']")"
t_exit "checksum: pgbench tables, 3 connections" 0 run "$PB/checksum_bench.yaml" --param jobs=3
t_eq "checksum: ... the same digests" "$one" "$(out ck "o['checksums']")"
t_eq "checksum: ... read in several block ranges" true "$(out ck "ev.find(x => x.event === 'pg_read').statements > 4")"
sql bench "update pgbench_accounts set abalance = abalance where aid % 3 = 0" >/dev/null
sql bench "vacuum pgbench_accounts" >/dev/null
t_eq "checksum: rows moved on disk (every third row rewritten)" t \
	"$(sql bench "select (select min(ctid) from pgbench_accounts where aid = 3) > (select max(ctid) from pgbench_accounts where aid % 3 = 1)")"
t_exit "checksum: after the rewrite" 0 run "$PB/checksum_bench.yaml" --param jobs=2
t_eq "checksum: ... physical order does not change the digests" "$one" "$(out ck "o['checksums']")"


# ------------------------------------------------------------- pg.query ---
t_exit "query: a write without writes: true fails" 4 run "$PB/query.yaml" --param sql="DELETE FROM orders WHERE id = 1"
t_contains "query: ... saying it is read-only unless writes: true" "$T_OUT" "pg.query is read-only unless the step says writes: true"
t_eq "query: ... and nothing was deleted" 1 "$(sql appdb "select count(*) from orders where id = 1")"
t_exit "query: writes: true on a throwaway resource" 0 run "$PB/query.yaml" --param sql="UPDATE orders SET note = note WHERE id <= 3" --param writes=true
t_eq "query: ... counts the affected rows" 3 "$(out q "o['count']")"
t_exit "query: an expectation that does not hold fails" 4 run "$PB/query.yaml" --param sql="SELECT count(*) FROM users" --param expect=499
t_contains "query: ... naming both values" "$T_OUT" "query result is '500', expected '499'"
t_exit "query: one statement only" 4 run "$PB/query.yaml" --param sql="SELECT 1; SELECT 2"
t_contains "query: ... the server refuses the second" "$T_OUT" "cannot insert multiple commands"
t_exit "query: an unknown table is a clear failure" 4 run "$PB/query.yaml" --param sql="SELECT * FROM no_such_table"
t_contains "query: ... naming it" "$T_OUT" 'relation "no_such_table" does not exist'
t_exit "query: a write on a live resource is refused in validation mode" 3 run "$PB/query_live_write.yaml"
t_contains "query: ... by the guard" "$T_OUT" "destructive-in-validation"
TOKEN=drill-token t_exit "query: ... and runs in authorized disaster mode" 0 run "$PB/query_live_write.yaml" --mode=disaster --authorize=drill-token

# ------------------------------------------------------------- pg.whoami ---
pg_psql PG -d appdb -c "CREATE ROLE report_ro LOGIN; GRANT SELECT ON ALL TABLES IN SCHEMA public TO report_ro" >/dev/null ||
	die_setup "cannot create role report_ro"
APP_DSN="postgresql://report_ro@127.0.0.1:$PG_PORT/appdb" t_exit "whoami: a read-only role is what is expected" 0 run "$PB/whoami.yaml"
t_eq "whoami: ... it may read public, not the other schemas" '["public"]' "$(out who "o['can_read']")"
t_eq "whoami: ... per-schema privileges" '{"usage":true,"create":false,"tables":5,"select":5,"insert":0,"update":0,"delete":0,"truncate":0}' \
	"$(out who "o.schemas.public")"
APP_DSN=${PG_PW_DSN%/postgres}/appdb t_exit "whoami: a role that may write everywhere fails can_write: [public]" 4 run "$PB/whoami.yaml" --param can_write=public
t_contains "whoami: ... naming what it may write" "$T_OUT" 'can_write is ["app","audit","music","public","saas"], expected ["public"]'
t_not_contains "whoami: ... without the password" "$T_OUT" "$PG_PW_PASSWORD"
t_eq "whoami: ... memberships" true "$(out who "o.member_of.includes('pg_write_all_data') && o.member_of.includes('pg_read_all_data')")"
APP_DSN=$PG_DSN t_exit "whoami: superuser: false fails for a superuser" 4 run "$PB/whoami.yaml" --param can_write=public
t_contains "whoami: ... saying so" "$T_OUT" "superuser is true, expected false"

# ---------------------------------------------------------- connections ---
t_exit "session: steps share one connection" 0 run "$PB/session.yaml"
t_eq "session: ... the same backend for every step" "$(out first "o.rows[0].pid")" "$(out second "o.value")"
t_eq "session: ... application_name defaults to drplay" drplay "$(out first "o.rows[0].app")"
t_eq "session: ... closed when the run ends" 0 "$(sql postgres "select count(*) from pg_stat_activity where application_name = 'drplay'")"

# ------------------------------------------------------- connection errors ---
port=$(free_port) || die_setup "no free port"
APP_DSN="postgresql://drplay_pw:$PG_PW_PASSWORD@127.0.0.1:$port/appdb" t_exit "connect: a server that is down" 4 run "$PB/query.yaml" --param sql="SELECT 1"
t_contains "connect: ... names the resource, host and port" "$T_OUT" "cannot connect to postgres resource 'app' at 127.0.0.1:$port/appdb"
t_contains "connect: ... and says what to check" "$T_OUT" "check that the server is running and reachable"
t_not_contains "connect: ... never the password" "$T_OUT" "$PG_PW_PASSWORD"
APP_DSN="postgresql://drplay_pw:wrong-$PG_PW_PASSWORD@127.0.0.1:$PG_PORT/appdb" t_exit "connect: a wrong password" 4 run "$PB/query.yaml" --param sql="SELECT 1"
t_contains "connect: ... says authentication failed" "$T_OUT" 'password authentication failed for user "drplay_pw"'
t_not_contains "connect: ... without the password" "$T_OUT" "wrong-$PG_PW_PASSWORD"
t_not_contains "connect: ... not in the journal either" "$(cat "$J"/*.jsonl)" "$PG_PW_PASSWORD"
