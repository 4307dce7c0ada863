#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# tests/integration/offsite_dir.sh - the `dir` store (an NFS/rclone mount in
# real life, a directory here): atomic dump.create (nothing under the final
# name, no temporary file left, when pg_dump fails or the run is
# interrupted), list/latest/check/restore from it, whoami on a writable and
# on a read-only mount, keys that try to leave the directory; and an
# interrupted multipart upload to S3 leaves no object.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/pg.sh
. "$T_LIB/pg.sh"
# shellcheck source=../lib/s3.sh
. "$T_LIB/s3.sh"
# shellcheck source=../lib/offsite.sh
. "$T_LIB/offsite.sh"
require_drplay

pg_start PG
pg_load_fixture PG appdb
s3_start S3
offsite_env PG S3
D=$OFFSITE_DIR

tmp_files() { find "$D" -name '*.drplay-tmp-*' -o -name '.drplay-probe-*' | sort; }

# ------------------------------------------------------------ dump.create ---
od_run "dump.create into a dir store" 0 create.yaml --param store=dir
key=$(od_out dump key)
t_check "dir: the key is prod/appdb-YYYYMMDDTHHMMSSZ.dump" grep -Eq '^prod/appdb-[0-9]{8}T[0-9]{6}Z\.dump$' <<<"$key"
t_check "dir: the dump is a file under the directory" test -f "$D/$key"
t_check "dir: its manifest beside it" test -f "$D/$key.manifest.json"
t_eq "dir: the manifest's sha256 is the file's" "$(sha256sum "$D/$key" | cut -d' ' -f1)" \
    "$(od_json "$D/$key.manifest.json" j.sha256)"
t_eq "dir: the manifest's size is the file's" "$(stat -c %s "$D/$key")" "$(od_json "$D/$key.manifest.json" j.size)"
t_eq "dir: no temporary file left" "" "$(tmp_files)"
t_eq "dir: parts output 0 (a file)" 0 "$(od_out dump parts)"
t_check "dir: pg_restore reads it" pg_restore --list "$D/$key"

# pg_dump failing: a role that may not read the tables
pg_sql PG appdb "create role noread login; revoke all on all tables in schema public from public" >/dev/null
files0=$(find "$D" -type f | sort)
OFFSITE_DB_DSN="postgresql://noread@127.0.0.1:$PG_PORT/appdb" \
    od_run "dump.create when pg_dump fails" 1 create.yaml --param store=dir --param name=failing --param proof=false
t_contains "pg_dump fails: the error is pg_dump's" "$T_OUT" "pg_dump of 127.0.0.1:$PG_PORT/appdb exited with status 1"
t_contains "pg_dump fails: ... with the server's reason" "$T_OUT" "permission denied"
t_contains "pg_dump fails: says nothing was stored" "$T_OUT" "nothing was stored"
t_eq "pg_dump fails: no new file, no temporary file" "$files0" "$(find "$D" -type f | sort)"

# interrupted: SIGINT while pg_dump is writing
pg_sql PG appdb "create table public.bulk(id int primary key, b bytea); insert into public.bulk select g, decode(md5(g::text)||md5(random()::text)||md5(random()::text)||md5(random()::text), 'hex') from generate_series(1, 400000) g" \
    >/dev/null || die_setup "cannot create the bulk table"
interrupt_create() { # STORE READY_CMD... -> drplay's exit code after SIGINT, sent once READY_CMD holds
    local st=$1 jd pid
    shift
    jd=$(mktemp -d "$T_TMP/journal.XXXXXX")
    "$DRPLAY" run "$OD_PB/create.yaml" --journal-dir "$jd" --param store="$st" --param name=interrupted \
        >"$T_TMP/int-$st.out" 2>&1 &
    pid=$!
    wait_until 30 "$@" || printf 'interrupt_create: %s never held\n' "$*" >&2
    kill -INT "$pid"
    wait "$pid"
}
dir_tmp_growing() { [[ -n $(find "$D" -name '*.drplay-tmp-*' -size +1k) ]]; }
mpu_started() { grep -q 'POST /drplay-backups/prod/interrupted-.*?uploads=' "$S3_PROXY_LOG"; }
drplay_sessions() { pg_sql PG postgres "select count(*) from pg_stat_activity where application_name = 'drplay'"; }
no_drplay_sessions() { [[ $(drplay_sessions) == 0 ]]; }

interrupt_create dir dir_tmp_growing
t_eq "interrupted dump.create into dir: exit 130" 130 "$?"
t_eq "interrupted: no dump under the final name, no temporary file" "$files0" "$(find "$D" -type f | sort)"
t_contains "interrupted: says nothing was stored" "$(cat "$T_TMP/int-dir.out")" "nothing was stored"
wait_until 5 no_drplay_sessions
t_eq "interrupted: pg_dump and the snapshot session are gone" 0 "$(drplay_sessions)"

OFFSITE_PART_MB=5 interrupt_create s3 mpu_started
t_eq "interrupted dump.create into s3: exit 130" 130 "$?"
t_eq "interrupted s3: no object under the key" "" "$(s3_ls S3 prod/interrupted)"
t_check "interrupted s3: the multipart upload's abort was sent (DELETE ?uploadId=)" \
    grep -q 'DELETE /drplay-backups/prod/interrupted-.*uploadId=' "$S3_PROXY_LOG"
t_check "interrupted s3: the transcript says so" \
    grep -Eq "aborted the multipart upload|could not abort the multipart upload" "$T_TMP/int-s3.out"
pg_sql PG appdb "drop table public.bulk" >/dev/null

# ------------------------------------------------- list, latest, check ---
cp "$D/$key" "$D/prod/older-20261101T000000Z.dump"
mkdir -p "$D/prod/legacy"
pg_dump -h 127.0.0.1 -p "$PG_PORT" -U postgres appdb | gzip >"$D/prod/legacy/appdb-2026-11-02.sql.gz"
touch "$D/prod/.hidden.dump" "$D/prod/.x.dump.drplay-tmp-0011"
od_run "offsite.list of the dir store" 0 list.yaml --param store=dir
t_eq "dir list: three dumps (hidden and temporary files left out)" 3 "$(od_out list count)"
t_eq "dir list: newest is the drplay dump" "$key" "$(od_out list newest)"
od_run "offsite.latest before 2026-11-03 in the dir store" 0 list.yaml --param store=dir \
    --param before=2026-11-03T00:00:00Z
t_eq "dir latest before: the .sql.gz by its date" prod/legacy/appdb-2026-11-02.sql.gz "$(od_out latest key)"
t_eq "dir latest before: 2026-11-02 is midnight UTC" 2026-11-02T00:00:00Z "$(od_out latest taken_at)"
rm -f "$D/prod/.hidden.dump" "$D/prod/.x.dump.drplay-tmp-0011"
od_run "offsite.check of the dir dump" 0 check.yaml --param store=dir --param key="$key"
t_eq "dir check: what it checked" '["proof","readable","size","sha256","format","toc","expect_tables"]' "$(od_out check checked)"
rel_count() { # RELKINDS: relations of those kinds in the source's user schemas
    pg_sql PG appdb "select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.relkind = any('{$1}') and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname !~ '^pg_toast'"
}
t_eq "dir check: tables counts each table and partition once (not a partition's TABLE ATTACH entry, not views)" \
    "$(rel_count r,p)" "$(od_out check tables)"
t_eq "dir check: views and materialized views are reported apart" "$(rel_count v,m)" "$(od_out check views)"
t_contains "dir check: ... and logged" "$T_OUT" "$(rel_count r,p) tables, $(rel_count v,m) views"
od_run "offsite.check of the dir's plain .sql.gz" 0 check.yaml --param store=dir --param key=prod/legacy/appdb-2026-11-02.sql.gz
t_eq "dir check plain: the same tables, counted from the SQL text" "$(rel_count r,p)" "$(od_out check tables)"
t_eq "dir check plain: the same views" "$(rel_count v,m)" "$(od_out check views)"
od_run "offsite.check of a key leaving the directory fails" 4 check.yaml --param store=dir --param key=../../etc/passwd
t_contains "dir check ..: refused as a path outside the store" "$T_OUT" "is not a relative path below the store"

# ---------------------------------------------------------------- restore ---
od_run "dump.restore from the dir store into a new database" 0 restore.yaml --param store=dir --param key="$key"
t_eq "dir restore: the orders are all there" "$(pg_sql PG appdb 'select count(*) from public.orders')" \
    "$(pg_sql PG "$(od_out restore database)" 'select count(*) from public.orders')"
OFFSITE_DB_DSN=${OFFSITE_DB_DSN%/appdb}/postgres od_run "dump.restore into a new database on a server's other database" 0 \
    restore.yaml --param store=dir --param key="$key"
t_contains "dir restore: the new database is named after the database the dump copies" "$(od_out restore database)" "appdb_restore_"
od_run "dump.restore of the dir's .sql.gz" 0 restore.yaml --param store=dir \
    --param key=prod/legacy/appdb-2026-11-02.sql.gz
t_eq "dir restore plain: the users are all there" 500 \
    "$(pg_sql PG "$(od_out restore database)" 'select count(*) from public.users')"

# ----------------------------------------------------------------- whoami ---
od_run "whoami read on the dir store" 0 whoami.yaml --param store=dir --param expect=read
t_eq "dir whoami: the identity is the OS user" "uid $(id -u) ($(id -un)) on $D" "$(od_out whoami identity)"
od_run "whoami read_only on a writable dir fails" 4 whoami.yaml --param store=dir
t_contains "dir whoami writable: says it can write" "$T_OUT" "can WRITE"
t_contains "dir whoami writable: ... with advice for a directory" "$T_OUT" "mount it read-only"
t_not_contains "dir whoami writable: ... not for an S3 key" "$T_OUT" "policy"
t_eq "dir whoami writable: the probe file was removed" "" "$(tmp_files)"
ro=$(t_tmpdir ro) || die_setup "no temp dir"
mount --bind -o ro "$D" "$ro" || die_setup "cannot bind-mount $D read-only"
on_exit umount "$ro"
OFFSITE_DIR=$ro od_run "whoami read_only on a read-only mount" 0 whoami.yaml --param store=dir
t_eq "dir whoami ro: cannot write" false "$(od_out whoami can_write)"
t_eq "dir whoami ro: cannot delete" false "$(od_out whoami can_delete)"
t_contains "dir whoami ro: the reason" "$T_OUT" "Read-only file system"
OFFSITE_DIR=$ro od_run "dump.create into a read-only mount fails" 1 create.yaml --param store=dir
t_contains "dir create ro: names the cause" "$T_OUT" "Read-only file system"
OFFSITE_DIR=$T_TMP/no-such-dir od_run "a dir store that is not there fails" 4 list.yaml --param store=dir
t_contains "dir missing: says the mount is missing" "$T_OUT" "is not a directory"
