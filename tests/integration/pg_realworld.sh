#!/usr/bin/env bash
# pg_realworld.sh: verification with no false PASS on a schema modelled on
# public sample databases (tests/lib/pg_fixture.sql: a chinook-like music
# store, a multi-tenant schema), loaded into a default database and into one
# with another collation (ICU sv-SE).
#
# For every kind a restore must bring back (triggers in each enabled state,
# foreign keys whose triggers were disabled, sequence positions, policies and
# FORCE, rules and their state, comments, populated and unpopulated
# materialized views and their rows, extended statistics, event triggers, the
# database's collation, owners and privileges on request): two equal copies
# compare equal (a template copy, and drplay's own dump.create/dump.restore),
# and each mutation is detected and names the object; differing rows of
# composite keys with a low-cardinality first column are named by their full
# key; materialized views can be named and read; foreign tables are read only
# when named; row-level security never yields a partial read; server errors
# carry DETAIL; long differing schema lines show where they differ; the size
# figures of pg.counts, pg.checksum and pg.capture agree.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/pg.sh
. "$T_LIB/pg.sh"
require_drplay
PB=$ROOT/tests/integration/playbooks/pg
pg_start PG
pg_load_fixture PG src
pg_psql PG -c "CREATE DATABASE coll TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'sv-SE' LOCALE 'C.UTF-8'" >/dev/null ||
	die_setup "cannot create a database with the ICU locale sv-SE"
pg_load_fixture PG coll
J=$(t_tmpdir journal) || die_setup "no temp dir"
RW_DIR=$(t_tmpdir store) || die_setup "no temp dir"
export RW_DIR
BASE=${PG_DSN%/postgres}
run() { "$DRPLAY" run --journal-dir "$J" "$@"; }
out() { node "$T_LIB/journal_out.js" "$J" "$@"; }
copy() { # SRC DST: a fresh copy
	pg_psql PG -c "DROP DATABASE IF EXISTS $2" -c "CREATE DATABASE $2 TEMPLATE $1" >/dev/null || die_setup "cannot copy $1 to $2"
}
compare() { # A B [args]: rw_compare.yaml
	A_DSN=$BASE/$1 B_DSN=$BASE/$2 run "$PB/rw_compare.yaml" "${@:3}"
}
diffs() { out verify "o.verdicts.filter(v => v.verdict !== 'ok').map(v => v.check + ' ' + v.table + ' ' + v.verdict).join('; ')"; }
mutate() { # NAME SQL: a copy of src with one change; compared with src, it must fail (exit 4, all read-only)
	copy src "$1"
	pg_sql PG "$1" "$2" >/dev/null || die_setup "mutation $1 failed: $2"
	t_exit "$1: detected" 4 compare src "$1"
}

# ------------------------------------------------------------ equal copies ---
copy src same
t_exit "equal: a template copy compares equal" 0 compare src same
t_eq "equal: ... every verdict ok" "" "$(diffs)"
t_eq "equal: ... compared by default: schema, counts, sequences, checksums" '["schema","counts","sequences","checksums"]' \
	"$(out verify "o.checks")"
copy coll coll_same
t_exit "equal: a copy of the sv-SE (ICU) database compares equal" 0 compare coll coll_same

A_DSN=$BASE/src t_exit "round trip: drplay's dump.create and dump.restore give an equal database" 0 run "$PB/rw_roundtrip.yaml"
t_eq "round trip: ... every verdict ok" "" "$(diffs)"
t_eq "round trip: ... the restored copy was dropped" "$(out restore "o.database")" "$(out drop "o.dropped")"
# the equality covers every kind: the states hold each of them
stext=$(out expected "o.state.schema.text")
for want in $'trigger\tmusic.track.track_audit\t' '; disabled' '; enable replica' '; enable always' \
	$'policy\tsaas.accounts.hide_deleted\trestrictive for select' ' row level security force row level security' \
	$'rule\tsaas.audit_events.audit_events_no_delete\t' $'rule\tsaas.audit_events.audit_events_no_update\tCREATE RULE audit_events_no_update AS ON UPDATE TO saas.audit_events DO INSTEAD NOTHING; disabled' \
	$'comment\ttable music.track\tone recording' $'comment\ttable column music.artist.name\t' $'comment\tpolicy tenant_isolation on saas.accounts\t' \
	$'comment\trule audit_events_no_delete on saas.audit_events\t' $'comment\tevent trigger fixture_ddl_watch\t' \
	$'table\tmusic.playlist_sizes_mv\tmaterialized view not populated' $'table\tmusic.genre_stats_mv\tmaterialized view\n' \
	$'statistics\tmusic.track_album_genre_stx\tCREATE STATISTICS' $'event trigger\tfixture_ddl_watch\ton ddl_command_end' \
	$'collation\tmusic.sv\tprovider icu' $'text search configuration\tmusic.track_search\t' \
	$'database\tlc_collate\tC.UTF-8' $'column\tmusic.track.track_id\t#1 integer not null identity always'; do
	t_contains "round trip: the compared schema holds '${want//$'\t'/ }'" "$stext" "$want"
done
t_eq "round trip: ... and the sequences, each ahead of the columns it feeds" \
	'["music.album_album_id_seq","music.artist_artist_id_seq","music.track_track_id_seq","saas.account_id_seq"]' \
	"$(out expected "Object.keys(o.state.sequences).filter(k => k.startsWith('music.') || k === 'saas.account_id_seq').sort()")"
t_eq "round trip: ... the shared sequence feeds saas.accounts.id (a nextval default)" '[{"column":"saas.accounts.id","max":2000,"behind":false}]' \
	"$(out expected "o.state.sequences['saas.account_id_seq'].feeds")"
t_eq "sizes: pg.capture with counts and checksums counts each relation's heap once" \
	"$(pg_sql PG src "select sum(pg_relation_size(c.oid)) from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.relkind in ('r', 'm') and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname !~ '^pg_toast' and (c.relkind = 'r' or c.relispopulated)")" \
	"$(out expected "ev.find(x => x.event === 'pg_read' && x.step === 'expected').heap_bytes")"
t_eq "round trip: ... both materialized views counted (one not populated)" "25 null" \
	"$(out expected "o.state.counts['music.genre_stats_mv'] + ' ' + o.state.counts['music.playlist_sizes_mv']")"

A_DSN=$BASE/coll t_exit "round trip: the sv-SE database through dump.create and dump.restore compares equal" 0 run "$PB/rw_roundtrip.yaml"
t_eq "round trip sv-SE: ... every verdict ok" "" "$(diffs)"
t_eq "round trip sv-SE: ... the copy was created with the source's ICU locale (from the manifest)" "i sv-SE" "$(out locale "o.value")"

# ----------------------------------------------------------------- triggers ---
mutate trig_disabled "ALTER TABLE music.track DISABLE TRIGGER track_check_length"
t_eq "trig_disabled: ... the trigger is named" "schema music.track.track_check_length mismatch" "$(diffs)"
t_contains "trig_disabled: ... its state shown" "$(out verify "o.verdicts.find(v => v.verdict !== 'ok').actual")" "; disabled"
mutate trig_replica "ALTER TABLE music.track ENABLE REPLICA TRIGGER track_check_length"
t_eq "trig_replica: ... named" "schema music.track.track_check_length mismatch" "$(diffs)"
t_contains "trig_replica: ... shown" "$T_OUT" "; enable replica"
mutate trig_always "ALTER TABLE music.track ENABLE ALWAYS TRIGGER track_check_length"
t_contains "trig_always: ... shown" "$T_OUT" "; enable always"
mutate trig_enabled "ALTER TABLE music.track ENABLE TRIGGER track_audit"
t_eq "trig_enabled: a disabled trigger enabled is named" "schema music.track.track_audit mismatch" "$(diffs)"
mutate fk_off "ALTER TABLE music.playlist_track DISABLE TRIGGER ALL"
t_eq "fk_off: foreign keys whose triggers are disabled are named" \
	"schema music.playlist_track.playlist_track_playlist_id_fkey mismatch; schema music.playlist_track.playlist_track_track_id_fkey mismatch" "$(diffs)"
t_contains "fk_off: ... saying so" "$T_OUT" "; internal triggers disabled"

# ---------------------------------------------------------------- sequences ---
mutate seq_lag "SELECT setval('music.track_track_id_seq', 3400)"
t_eq "seq_lag: the position and the column it feeds" \
	"sequences music.track_track_id_seq mismatch; sequences music.track_track_id_seq behind" "$(diffs)"
t_contains "seq_lag: ... names sequence, column and both values" "$T_OUT" \
	"in the actual database sequence music.track_track_id_seq would return 3401 next, but column music.track.track_id already holds 3503"
t_contains "seq_lag: ... says what follows" "$T_OUT" "fails with a duplicate key"
t_eq "seq_lag: ... the behind verdict names the column" "music.track.track_id actual" \
	"$(out verify "(v => v.column + ' ' + v.side)(o.verdicts.find(v => v.verdict === 'behind'))")"
A_DSN=$BASE/src B_DSN=$BASE/seq_lag t_exit "seq_lag: against a live database that moved on (max_behind: any), still detected" 4 \
	run "$PB/rw_compare_live.yaml"
t_eq "seq_lag: ... by the column check alone" "sequences music.track_track_id_seq behind" "$(diffs)"
mutate seq_shared "SELECT setval('saas.account_id_seq', 1500)"
t_contains "seq_shared: a sequence behind the column its nextval default feeds" "$T_OUT" \
	"sequence saas.account_id_seq would return 1501 next, but column saas.accounts.id already holds 2000"
copy src seq_ahead
pg_sql PG seq_ahead "SELECT nextval('music.artist_artist_id_seq') FROM generate_series(1, 10)" >/dev/null
t_exit "seq_ahead: a sequence 10 values ahead (within what WAL replay skips) passes" 0 compare src seq_ahead
t_eq "seq_ahead: ... saying so" "the actual sequence is 10 values ahead, within the 33 that WAL replay may skip" \
	"$(out verify "o.verdicts.find(v => v.table === 'music.artist_artist_id_seq').detail")"
pg_sql PG seq_ahead "SELECT setval('music.artist_artist_id_seq', 5000)" >/dev/null
t_exit "seq_ahead: far ahead is a difference" 4 compare src seq_ahead
t_eq "seq_ahead: ... named" "sequences music.artist_artist_id_seq mismatch" "$(diffs)"

# ------------------------------------------------ row-level security, rules ---
mutate pol_dropped "DROP POLICY hide_deleted ON saas.accounts"
t_eq "pol_dropped: the lost policy is named" "schema saas.accounts.hide_deleted missing" "$(diffs)"
mutate pol_added "CREATE POLICY no_deletes ON saas.accounts FOR DELETE USING (false)"
t_eq "pol_added: the gained policy is named" "schema saas.accounts.no_deletes extra" "$(diffs)"
mutate no_force "ALTER TABLE saas.accounts NO FORCE ROW LEVEL SECURITY"
t_eq "no_force: FORCE lost is named at the table" "schema saas.accounts mismatch" "$(diffs)"
t_contains "no_force: ... showing it" "$T_OUT" "row level security force row level security"
mutate rule_dropped "DROP RULE audit_events_no_delete ON saas.audit_events"
t_contains "rule_dropped: the lost rule is named" "$(diffs)" "schema saas.audit_events.audit_events_no_delete missing"
t_contains "rule_dropped: ... and its comment" "$(diffs)" "schema rule audit_events_no_delete on saas.audit_events missing"
mutate rule_added "CREATE RULE tenants_no_delete AS ON DELETE TO saas.tenants DO INSTEAD NOTHING"
t_eq "rule_added: the gained rule is named" "schema saas.tenants.tenants_no_delete extra" "$(diffs)"
mutate rule_enabled "ALTER TABLE saas.audit_events ENABLE RULE audit_events_no_update"
t_eq "rule_enabled: a disabled rule enabled is named" "schema saas.audit_events.audit_events_no_update mismatch" "$(diffs)"

# ----------------------------------------------------- materialized views ---
mutate mv_unpopulated "REFRESH MATERIALIZED VIEW music.genre_stats_mv WITH NO DATA"
t_eq "mv_unpopulated: schema, counts and checksums name it" \
	"schema music.genre_stats_mv mismatch; counts music.genre_stats_mv mismatch; checksums music.genre_stats_mv mismatch" "$(diffs)"
t_contains "mv_unpopulated: ... saying it is not populated" "$T_OUT" "the materialized view is not populated in the actual database"
mutate mv_populated "REFRESH MATERIALIZED VIEW music.playlist_sizes_mv"
t_contains "mv_populated: populated where the original is not" "$(diffs)" "counts music.playlist_sizes_mv mismatch"
mutate mv_rows "UPDATE music.track SET genre_id = 1 WHERE track_id = 7; REFRESH MATERIALIZED VIEW music.genre_stats_mv; UPDATE music.track SET genre_id = 22 WHERE track_id = 7"
t_eq "mv_rows: a materialized view holding different rows (its tables equal) is named" \
	"checksums music.genre_stats_mv mismatch" "$(diffs)"

# ------------------------------------------------------------- comments etc. ---
mutate comments "COMMENT ON TABLE music.track IS 'one take'; COMMENT ON COLUMN music.track.milliseconds IS NULL; COMMENT ON FUNCTION music.track_check() IS 'refuses long tracks'"
t_eq "comments: each changed or lost comment is named" \
	"schema function music.track_check() mismatch; schema table column music.track.milliseconds missing; schema table music.track mismatch" "$(diffs)"
mutate stx_dropped "DROP STATISTICS music.track_album_genre_stx"
t_contains "stx_dropped: the statistics object is named" "$(diffs)" "schema music.track_album_genre_stx missing"
mutate evt_disabled "ALTER EVENT TRIGGER fixture_ddl_watch DISABLE"
t_eq "evt_disabled: the event trigger is named" "schema fixture_ddl_watch mismatch" "$(diffs)"

t_exit "collation: the same schema and rows in a database with another collation are different" 4 compare src coll
t_contains "collation: ... the locale provider named" "$(diffs)" "schema locale_provider mismatch"
t_contains "collation: ... and the ICU locale" "$(diffs)" "schema locale extra"
t_contains "collation: ... showing both" "$T_OUT" "expected libc, actual icu"
t_not_contains "collation: ... while the rows are equal" "$(diffs)" "checksums"

mutate view_end "CREATE OR REPLACE VIEW music.track_v WITH (security_barrier = true) AS SELECT t.track_id, t.name, a.title AS album FROM music.track t LEFT JOIN music.album a USING (album_id) WHERE t.track_id > 0"
t_eq "view_end: the view is named" "schema music.track_v mismatch" "$(diffs)"
line=$(grep -o "schema mismatch music.track_v: expected .*, actual .*; view differs" <<<"$T_OUT" | head -n1)
t_contains "view_end: a long line differing at its end shows the difference (actual)" "$line" "WHERE t.track_id > 0"
t_check "view_end: ... both sides cut around it, so they differ on screen" \
	test "$(sed 's/^schema mismatch music.track_v: expected \(.*\), actual \(.*\); view differs$/\1/' <<<"$line")" != \
	"$(sed 's/^schema mismatch music.track_v: expected \(.*\), actual \(.*\); view differs$/\2/' <<<"$line")"
t_contains "view_end: ... and marked as cut" "$line" "expected ..."

# ---------------------------------------------------- owners and privileges ---
copy src granted
pg_sql PG granted "GRANT SELECT ON music.track TO fixture_reader; ALTER TABLE music.genre OWNER TO fixture_reader" >/dev/null
t_exit "privileges: out by default (a throwaway restore drops them)" 0 compare src granted
t_exit "privileges: compared with privileges: true" 4 compare src granted --param privileges=true
t_eq "privileges: ... the grant and the owner are named" \
	"schema table music.genre mismatch; schema table music.genre mismatch; schema table music.track mismatch" "$(diffs)"
t_eq "privileges: ... as owner and privileges lines" '["owner","privileges","privileges"]' \
	"$(out verify "o.verdicts.filter(v => v.verdict !== 'ok').map(v => v.kind).sort()")"

# -------------------------------------------------- rows of composite keys ---
mutate playlist "DELETE FROM music.playlist_track WHERE playlist_id = 1 AND track_id = 2000"
t_contains "playlist: a row deleted from a 3290-row playlist is named by its full key" "$T_OUT" "(missing key (1,2000))"
t_contains "playlist: ... in a range of the whole key" "$T_OUT" "(playlist_id, track_id) ["
t_eq "playlist: ... within max_queries, not stopped" "true undefined" \
	"$(out verify "(o.queries <= 64) + ' ' + o.verdicts.find(v => v.check === 'checksums' && v.verdict !== 'ok').stopped")"
mutate tenant "UPDATE saas.accounts SET plan = 'team' WHERE tenant_id = 3 AND id = 1002"
t_eq "tenant: a changed row of (tenant_id, id) is named by its full key" '[["(3,1002)"],[],[]]' \
	"$(out verify "o.verdicts.find(v => v.check === 'checksums' && v.verdict !== 'ok').ranges.map(r => [r.changed, r.missing, r.extra])[0]")"
t_exit "playlist: with max_queries 6 the narrowing stops early" 4 compare src playlist --param max_queries=6
t_contains "playlist: ... and the verdict says why" "$(out verify "o.verdicts.find(v => v.check === 'checksums' && v.verdict !== 'ok').stopped")" \
	"max_queries (6) reached"
t_contains "playlist: ... as does the message" "$T_OUT" "not narrowed further: max_queries (6) reached"

# ------------------------------------------- named materialized views, foreign tables ---
A_DSN=$BASE/src t_exit "named: a materialized view in pg.counts, pg.checksum and pg.capture lists" 0 run "$PB/rw_named.yaml" --param table=music.genre_stats_mv
t_not_contains "named: ... no 'cannot lock'" "$T_OUT" "cannot lock"
t_eq "named: ... counted" 25 "$(out counts "o.counts['music.genre_stats_mv']")"
t_eq "named: ... checksummed" 25 "$(out checksum "o.checksums['music.genre_stats_mv'].rows")"
A_DSN=$BASE/src t_exit "named: an unpopulated materialized view" 0 run "$PB/rw_named.yaml" --param table=music.playlist_sizes_mv
t_eq "named: ... counted as null, checksummed as not populated" "null false" \
	"$(out capture "o.state.counts['music.playlist_sizes_mv'] + ' ' + o.state.checksums['music.playlist_sizes_mv'].populated")"

copy src fdw
printf '1,one\n2,two\n3,three\n' >"$T_TMP/rows.csv"
chmod 0644 "$T_TMP/rows.csv"
pg_sql PG fdw "CREATE EXTENSION file_fdw; CREATE SERVER files FOREIGN DATA WRAPPER file_fdw;
	CREATE FOREIGN TABLE public.ext_rows (id int, name text) SERVER files OPTIONS (filename '$T_TMP/rows.csv', format 'csv');
	CREATE FOREIGN TABLE public.ext_gone (id int) SERVER files OPTIONS (filename '$T_TMP/no-such-file.csv', format 'csv')" >/dev/null ||
	die_setup "cannot create the foreign tables"
A_DSN=$BASE/fdw t_exit "foreign tables: counts and checksums of all never read them" 0 run "$PB/rw_all.yaml"
t_eq "foreign tables: ... not in counts or checksums" "[]" \
	"$(out counts "Object.keys(o.counts).concat(Object.keys(ev.filter(x => x.step === 'checksum' && x.event === 'step_end')[0].outputs.checksums)).filter(k => k.startsWith('public.ext_'))")"
heap() { out "$1" "ev.find(x => x.event === 'pg_read' && x.step === '$1').heap_bytes"; }
t_eq "sizes: pg.counts and pg.checksum of all report the same table heap (each relation once)" "$(heap counts)" "$(heap checksum)"
t_eq "sizes: ... of every relation read" "$(pg_sql PG fdw "select sum(pg_relation_size(c.oid)) from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.relkind in ('r', 'm') and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname !~ '^pg_toast' and (c.relkind = 'r' or c.relispopulated)")" \
	"$(heap checksum)"
A_DSN=$BASE/fdw t_exit "foreign tables: read when named" 0 run "$PB/rw_named.yaml" --param table=public.ext_rows
t_eq "foreign tables: ... its rows counted and checksummed" "3 3" \
	"$(out capture "o.state.counts['public.ext_rows'] + ' ' + o.state.checksums['public.ext_rows'].rows")"
A_DSN=$BASE/fdw t_exit "foreign tables: a named one that cannot be read fails" 4 run "$PB/rw_named.yaml" --param table=public.ext_gone
t_contains "foreign tables: ... naming it and the server's reason" "$T_OUT" "counting rows of table public.ext_gone failed: could not open file"

# ---------------------------------------------------- row-level security ---
PW=${PG_PW_DSN%/postgres}
A_DSN=$PW/src t_exit "rls: a role that row-level security filters gets no partial count" 4 run "$PB/rw_named.yaml" --param table=saas.accounts
t_contains "rls: ... the step names the table and why" "$T_OUT" "counting rows of table saas.accounts failed: query would be affected by row-level security policy"
t_contains "rls: ... and what to do" "$T_OUT" "row-level security would hide rows from role drplay_pw, so nothing was read"
t_not_contains "rls: ... without the password" "$T_OUT" "$PG_PW_PASSWORD"
A_DSN=$BASE/src t_exit "rls: a superuser reads every row" 0 run "$PB/rw_named.yaml" --param table=saas.accounts
t_eq "rls: ... all 2000" 2000 "$(out counts "o.counts['saas.accounts']")"

# --------------------------------------------------------- DETAIL and HINT ---
copy src dup
APP_DSN=$BASE/dup t_exit "detail: a server error of a pg action carries its DETAIL" 1 run "$PB/query.yaml" --param writes=true \
	--param sql="INSERT INTO music.genre VALUES (1, 'again')"
t_contains "detail: ... the key that broke the constraint" "$T_OUT" \
	'duplicate key value violates unique constraint "genre_pkey"; detail: Key (genre_id)=(1) already exists.'
