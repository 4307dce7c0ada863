#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# tests/integration/offsite_s3.sh - dumps in a real S3 server (s3rver behind
# nginx, which refuses writes by the read-only key): dump.create with its
# manifest, listing (continuation tokens), latest (manifest time, key
# timestamp, LastModified; foreign pg_dump | gzip files), whoami both ways,
# check, restore (stream, parallel, plain SQL through psql), multipart upload,
# and the store errors: bucket or key missing, wrong key id, unreachable.
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

t0=$(date -u +%s)

# ------------------------------------------------------------ dump.create ---
od_run "dump.create into s3 succeeds" 0 create.yaml
key=$(od_out dump key)
t_check "dump.create: the key is PREFIX/DB-YYYYMMDDTHHMMSSZ.dump" \
    grep -Eq '^prod/appdb-[0-9]{8}T[0-9]{6}Z\.dump$' <<<"$key"
t_eq "dump.create: manifest key" "$key.manifest.json" "$(od_out dump manifest)"
t_eq "dump.create: the dump and its manifest are in the bucket" "$key $key.manifest.json" \
    "$(s3_ls S3 prod/ | grep -v '^prod/\.' | sort | tr '\n' ' ' | sed 's/ $//')"
s3_get S3 "$key" "$T_TMP/dump1" || die_setup "cannot download $key"
s3_get S3 "$key.manifest.json" "$T_TMP/man1" || die_setup "cannot download the manifest"
sha=$(sha256sum "$T_TMP/dump1" | cut -d' ' -f1)
t_eq "manifest: sha256 is the object's" "$sha" "$(od_json "$T_TMP/man1" j.sha256)"
t_eq "manifest: size is the object's" "$(stat -c %s "$T_TMP/dump1")" "$(od_json "$T_TMP/man1" j.size)"
t_eq "manifest: format" custom "$(od_json "$T_TMP/man1" j.format)"
t_eq "manifest: database" appdb "$(od_json "$T_TMP/man1" j.database)"
sv=$(pg_sql PG appdb "select split_part(current_setting('server_version'), ' ', 1)")
t_eq "manifest: server version" "$sv" "$(od_json "$T_TMP/man1" j.server_version)"
pv=$(pg_dump --version | awk '{print $3}')
t_eq "manifest: pg_dump version" "$pv" "$(od_json "$T_TMP/man1" j.pg_dump_version)"
snap=$(od_json "$T_TMP/man1" j.snapshot_time)
snap_s=$(date -u -d "$snap" +%s 2>/dev/null || echo 0)
t_check "manifest: snapshot_time is the dump's moment (within the run)" \
    test "$snap_s" -ge "$t0" -a "$snap_s" -le "$(date -u +%s)"
t_eq "dump.create: taken_at output = manifest snapshot_time" "$snap" "$(od_out dump taken_at)"
t_eq "dump.create: the key's timestamp is the snapshot time" "$(date -u -d "$snap" +%Y%m%dT%H%M%SZ)" \
    "$(sed -E 's/.*-([0-9T]+Z)\.dump$/\1/' <<<"$key")"
t_check "dump.create: pg_restore reads the stored dump" pg_restore --list "$T_TMP/dump1"
t_eq "dump.create: journal has a dump_created event with the size" "$(stat -c %s "$T_TMP/dump1")" \
    "$(od_events dump_created | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).bytes))')"
t_not_contains "dump.create: the secret key never appears in the output" "$T_OUT" "$OFFSITE_S3_SECRET"
t_check "dump.create: ... nor in the journal" bash -c "! grep -qF -- '$OFFSITE_S3_SECRET' '$OD_JOURNAL'"

# --------------------------------------------------- foreign dumps, latest ---
# Plain `pg_dump | gzip` files made by another tool, without manifests: one
# with a timestamp in its name, one without (its LastModified counts).
pg_dump -h 127.0.0.1 -p "$PG_PORT" -U postgres appdb | gzip >"$T_TMP/plain.sql.gz" ||
    die_setup "pg_dump | gzip failed"
s3_put S3 "$T_TMP/plain.sql.gz" prod/legacy/appdb-2026-11-01_04-30-00.sql.gz || die_setup "upload failed"
s3_put S3 "$T_TMP/plain.sql.gz" prod/legacy/appdb-20261015-0430.sql.gz || die_setup "upload failed"
s3_put S3 "$T_TMP/plain.sql.gz" other/appdb-20300101T000000Z.sql.gz || die_setup "upload failed"
printf 'not a dump\n' >"$T_TMP/readme"
s3_put S3 "$T_TMP/readme" prod/README.txt || die_setup "upload failed"

export OFFSITE_S3_KEY=$S3_RO_KEY
od_run "offsite.list with the read-only key" 0 list.yaml
t_eq "offsite.list: counts the three dumps (not manifests, not README, not other prefixes)" 3 \
    "$(od_out list count)"
t_eq "offsite.list: newest first" "$key" "$(od_out list newest)"
t_contains "offsite.list: the drplay dump's time comes from its manifest" "$(od_out list dumps)" \
    "\"key\":\"$key\",\"size\":$(stat -c %s "$T_TMP/dump1"),\"taken_at\":\"$snap\",\"time_source\":\"manifest\""
t_contains "offsite.list: a foreign dump's time comes from its key" "$(od_out list dumps)" \
    '"key":"prod/legacy/appdb-2026-11-01_04-30-00.sql.gz","size":'
t_contains "offsite.list: ... 2026-11-01T04:30:00Z (key), plain, gzip, no manifest" "$(od_out list dumps)" \
    '"taken_at":"2026-11-01T04:30:00Z","time_source":"key","last_modified":'
t_eq "offsite.latest: newest now is the drplay dump" "$key" "$(od_out latest key)"
t_eq "offsite.latest: taken_at" "$snap" "$(od_out latest taken_at)"
t_eq "offsite.latest: time_source" manifest "$(od_out latest time_source)"
t_eq "offsite.latest: size" "$(stat -c %s "$T_TMP/dump1")" "$(od_out latest size)"
t_check "offsite.latest: age is a short duration" grep -Eq '^[0-9.]+(ms|s|m[0-9]*s?)$' <<<"$(od_out latest age)"

od_run "offsite.latest before 2026-11-02" 0 list.yaml --param before=2026-11-02T00:00:00Z
t_eq "offsite.latest before: picks the foreign .sql.gz by its key time" \
    prod/legacy/appdb-2026-11-01_04-30-00.sql.gz "$(od_out latest key)"
t_eq "offsite.latest before: taken_at from the key" 2026-11-01T04:30:00Z "$(od_out latest taken_at)"
t_eq "offsite.latest before: format plain" plain "$(od_out latest format)"
t_eq "offsite.latest before: compression gzip" gzip "$(od_out latest compression)"
t_eq "offsite.latest before: no manifest" false "$(od_out latest manifest)"
od_run "offsite.latest before 2026-11-01T04:29:59Z" 0 list.yaml --param before=2026-11-01T04:29:59Z
t_eq "offsite.latest: at or before (the dump a second later is not taken)" \
    prod/legacy/appdb-20261015-0430.sql.gz "$(od_out latest key)"
t_eq "offsite.latest: 20261015-0430 is read as 2026-10-15T04:30:00Z" 2026-10-15T04:30:00Z \
    "$(od_out latest taken_at)"
od_run "offsite.latest before anything: fails (exit 4: nothing changed)" 4 list.yaml --param before=2020-01-01T00:00:00Z
t_contains "offsite.latest: says there is no dump at or before the time" "$T_OUT" \
    "no dump taken at or before 2020-01-01T00:00:00Z"

# LastModified: a dump whose key carries no time
s3_put S3 "$T_TMP/plain.sql.gz" prod/untimed/nightly.sql.gz || die_setup "upload failed"
od_run "offsite.latest of a key without a time" 0 list.yaml --param match='^untimed/'
t_eq "offsite.latest: time from LastModified" last_modified "$(od_out latest time_source)"
t_eq "offsite.latest: match filters the keys" prod/untimed/nightly.sql.gz "$(od_out latest key)"
od_run "offsite.latest max_age: a dump from 2026-11-01 is stale (exit 4: nothing changed)" 4 latest_max_age.yaml \
    --param match='^legacy/' --param max_age=1h
t_contains "offsite.latest max_age: says it is stale" "$T_OUT" "older than max_age 1h"

# Continuation tokens: pages of 2 objects
OFFSITE_PAGE=2 od_run "offsite.list with pages of two objects" 0 list.yaml
t_eq "offsite.list: follows continuation tokens (4 dumps over several pages)" 4 "$(od_out list count)"
t_check "offsite.list: ... the proxy saw continuation-token requests" \
    grep -q 'continuation-token=.*max-keys=2' "$S3_PROXY_LOG"

# ----------------------------------------------------------------- whoami ---
od_run "offsite.whoami expect read_only with the read-only key" 0 whoami.yaml
t_eq "whoami: can_list" true "$(od_out whoami can_list)"
t_eq "whoami: can_read" true "$(od_out whoami can_read)"
t_eq "whoami: cannot write" false "$(od_out whoami can_write)"
t_eq "whoami: cannot delete" false "$(od_out whoami can_delete)"
t_eq "whoami: key id partly masked" DRPL...0002 "$(od_out whoami key_id)"
t_not_contains "whoami: the full key id is not in the identity" "$(od_out whoami identity)" "$S3_RO_KEY"
t_check "whoami: the write probe was a PUT refused by the proxy" \
    grep -Eq '"PUT /drplay-backups/prod/\.drplay-probe-write-[0-9a-f]+ HTTP/1.1" 403' "$S3_PROXY_LOG"
t_check "whoami: the delete probe was a DELETE refused by the proxy" \
    grep -Eq '"DELETE /drplay-backups/prod/\.drplay-probe-delete-[0-9a-f]+ HTTP/1.1" 403' "$S3_PROXY_LOG"

OFFSITE_S3_KEY=$S3_RW_KEY od_run "offsite.whoami expect read_only with the read-write key fails (exit 4: nothing changed)" 4 whoami.yaml
t_contains "whoami rw: says the credentials can write" "$T_OUT" "can WRITE"
t_contains "whoami rw: ... and that the probe was deleted again" "$T_OUT" "was deleted again"
t_eq "whoami rw: no probe object is left" "" "$(s3_ls S3 prod/.drplay-probe)"
t_eq "whoami rw: can_write output" true "$(od_out whoami can_write)"
OFFSITE_S3_KEY=$S3_RW_KEY od_run "offsite.whoami expect read with the read-write key" 0 whoami.yaml \
    --param expect=read
t_eq "whoami read: does not probe writes (can_write null)" null "$(od_out whoami can_write)"

od_run "offsite.whoami with the expected key id" 0 whoami.yaml --param key_id="$S3_RO_KEY"
od_run "offsite.whoami with another key id than expected fails" 4 whoami.yaml --param key_id=AKIAEXPECTEDKEY00001
t_contains "whoami key id: says which was used and which was expected, masked" "$T_OUT" \
    "used with access key DRPL...0002, not the expected AKIA...0001"
t_not_contains "whoami key id: the full key ids are not printed" "$T_OUT" "$S3_RO_KEY"

OFFSITE_S3_KEY=$S3_BAD_KEY od_run "offsite.whoami with an unknown key id fails (exit 4: nothing changed)" 4 whoami.yaml
t_contains "whoami bad key: names the cause" "$T_OUT" "InvalidAccessKeyId"
t_contains "whoami bad key: says what to check" "$T_OUT" "check access_key"

# ------------------------------------------------------------------ check ---
od_run "offsite.check of the drplay dump" 0 check.yaml --param key="$key"
t_eq "check: what it checked" '["readable","size","sha256","format","toc","expect_tables"]' \
    "$(od_out check checked)"
t_eq "check: sha256" "$sha" "$(od_out check sha256)"
t_eq "check: format" custom "$(od_out check format)"
t_eq "check: manifest" true "$(od_out check manifest)"
ntoc=$(pg_restore --list "$T_TMP/dump1" | grep -c '^[0-9]')
t_eq "check: TOC entries as pg_restore --list counts them" "$ntoc" "$(od_out check toc_entries)"
t_eq "check: taken_at from the manifest" "$snap" "$(od_out check taken_at)"
od_run "offsite.check of a foreign .sql.gz (no manifest needed)" 0 check.yaml \
    --param key=prod/legacy/appdb-2026-11-01_04-30-00.sql.gz
t_eq "check .sql.gz: what it checked" '["readable","gzip","format","expect_tables"]' "$(od_out check checked)"
t_eq "check .sql.gz: format plain" plain "$(od_out check format)"
t_eq "check .sql.gz: sha256 of the object" "$(sha256sum "$T_TMP/plain.sql.gz" | cut -d' ' -f1)" \
    "$(od_out check sha256)"
# A key with characters outside RFC 3986's unreserved set: the SigV4
# canonical path (libcurl's escaping, '/' kept) must match the server's.
odd='prod/odd names/app db+1 (x)=y&z~ü,é;@$!.sql.gz'
odd_enc=$(jq -rn --arg k "$odd" '$k | split("/") | map(@uri) | join("/")') # curl signs the path as given
s3_put S3 "$T_TMP/plain.sql.gz" "$odd_enc" || die_setup "upload failed"
od_run "offsite.check of a key with spaces, +, =, &, @ and UTF-8 (signed path)" 0 check.yaml --param key="$odd"
t_eq "odd key: the object's sha256 (it was read)" "$(sha256sum "$T_TMP/plain.sql.gz" | cut -d' ' -f1)" \
    "$(od_out check sha256)"
od_run "offsite.check of a .sql.gz with manifest: required fails (exit 4: nothing changed)" 4 check.yaml \
    --param key=prod/legacy/appdb-2026-11-01_04-30-00.sql.gz --param manifest=required
t_contains "check required: says the manifest is missing" "$T_OUT" "has no manifest"
od_run "offsite.check expecting a table the dump lacks fails (exit 4: nothing changed)" 4 check_missing_table.yaml --param key="$key"
t_contains "check missing table: names it" "$T_OUT" 'does not contain expected table ["public.no_such_table"]'
od_run "offsite.check of a .sql.gz expecting a table it lacks fails (exit 4: nothing changed)" 4 check_missing_table.yaml \
    --param key=prod/legacy/appdb-2026-11-01_04-30-00.sql.gz
t_contains "check .sql.gz missing table: names it" "$T_OUT" 'public.no_such_table'
od_run "offsite.check of a key that does not exist fails (exit 4: nothing changed)" 4 check.yaml --param key=prod/nope-20261101T000000Z.dump
t_contains "check missing key: names the object" "$T_OUT" "prod/nope-20261101T000000Z.dump"

# ---------------------------------------------------------------- restore ---
counts() { # DB -> "users orders order_items measurements"
    pg_sql PG "$1" "select (select count(*) from public.users)||' '||(select count(*) from public.orders)||' '||(select count(*) from app.order_items)||' '||(select count(*) from app.measurements)"
}
src_counts=$(counts appdb)
before_dbs=$(od_dbs PG)
od_run "dump.restore into a new database (stream)" 0 restore.yaml --param key="$key"
newdb=$(od_out restore database)
t_check "restore: a new database was created" grep -qx "$newdb" <<<"$(od_dbs PG)"
t_check "restore: its name is not one that existed" bash -c "! grep -qx '$newdb' <<<'$before_dbs'"
t_eq "restore: counts equal the source's" "$src_counts" "$(counts "$newdb")"
t_eq "restore: journal records it as created by the run" 1 "$(od_events created | grep -c "\"name\":\"$newdb\"")"
t_eq "restore: verified against the manifest" true "$(od_out restore verified)"
t_eq "restore: format" custom "$(od_out restore format)"
dsn=$(od_out restore dsn)
t_eq "restore: the dsn output connects to the new database" "$newdb" \
    "$(psql "$dsn" -X -At -c 'select current_database()' 2>&1)"
t_check "restore: dump_restored event with bytes and rate" \
    grep -q '"event":"dump_restored".*"bytes":[0-9]*,"seconds":[0-9.e-]*,"rate_bytes_per_s"' "$OD_JOURNAL"

t_not_contains "restore (no terminal, quick): no progress line" "$T_OUT" "restore:"
jd=$(mktemp -d "$T_TMP/journal.XXXXXX")
script -qefc "$DRPLAY run $OD_PB/restore.yaml --journal-dir $jd --param key=$key" /dev/null >"$T_TMP/tty.out" 2>&1
t_check "restore on a terminal: a progress bar (phase, bytes, rate) that ends at 100%" \
    grep -Eq '^ +restore +\[#{20}\] 100% ([0-9.]+ KiB) / \1  [0-9.]+ [KMG]?i?B/s' <(tr '\r' '\n' <"$T_TMP/tty.out")
dsize=$(stat -c %s "$T_TMP/dump1")
t_eq "restore on a terminal: the journal has the figures" 1 \
    "$(grep -c "\"_progress\":{\"restore\":{\"bytes\":$dsize,\"total\":$dsize,\"seconds\":" "$jd"/*.jsonl)"

od_run "dump.restore jobs: 2 into a new database" 0 restore.yaml --param key="$key" --param jobs=2
t_eq "restore jobs 2: counts equal the source's" "$src_counts" "$(counts "$(od_out restore database)")"
t_eq "restore jobs 2: used 2 jobs" 2 "$(od_out restore jobs)"
t_contains "restore jobs 2: downloaded and verified before pg_restore" "$T_OUT" "downloaded and verified"
t_check "restore jobs 2: the download phase is timed (RTO by phase, SPEC 8.3.2)" \
    node -e "process.exit($(od_out restore download_seconds) > 0 ? 0 : 1)"

od_run "dump.restore of a plain .sql.gz (psql)" 0 restore.yaml \
    --param key=prod/legacy/appdb-2026-11-01_04-30-00.sql.gz
t_eq "restore plain: counts equal the source's" "$src_counts" "$(counts "$(od_out restore database)")"
t_eq "restore plain: format" plain "$(od_out restore format)"
t_eq "restore plain: compression" gzip "$(od_out restore compression)"
t_eq "restore plain: not verified (no manifest)" false "$(od_out restore verified)"
t_eq "restore plain: streamed, so no separate download phase" 0 "$(od_out restore download_seconds)"
od_run "dump.restore of a plain .sql.gz with jobs: 2 (one psql session)" 0 restore.yaml \
    --param key=prod/legacy/appdb-2026-11-01_04-30-00.sql.gz --param jobs=2
t_contains "restore plain jobs 2: says jobs has no effect" "$T_OUT" "jobs: 2 has no effect on a plain SQL dump"
t_eq "restore plain jobs 2: counts equal the source's" "$src_counts" "$(counts "$(od_out restore database)")"

# -------------------------------------------------------------- round trip --
export OFFSITE_S3_KEY=$S3_RW_KEY
od_run "round trip: dump, check, restore into new, verify.compare with checksums" 0 roundtrip.yaml
t_eq "round trip: verify.compare passed" true "$(od_out verify passed)"
t_eq "round trip: no differences" 0 "$(od_out verify differences)"
t_contains "round trip: checksums were compared" "$(od_out verify checks)" checksums
t_eq "round trip: the restore's taken_at is the dump's snapshot time" "$(od_out dump taken_at)" \
    "$(od_out restore taken_at)"
od_run "round trip with one row changed in the copy: verify.compare fails" 1 roundtrip.yaml --param tamper=true
t_contains "round trip tampered: names the table" "$T_OUT" "public.orders"
t_contains "round trip tampered: locates the key" "$T_OUT" "1500"
export OFFSITE_S3_KEY=$S3_RO_KEY

# --------------------------------------------------------------- multipart --
# A dump larger than one 5 MiB part: random bytes do not compress.
pg_sql PG appdb "create table public.bulk(id int primary key, b bytea); insert into public.bulk select g, decode(md5(g::text)||md5(random()::text)||md5(random()::text)||md5(random()::text), 'hex') from generate_series(1, 250000) g" \
    >/dev/null || die_setup "cannot create the bulk table"
export OFFSITE_S3_KEY=$S3_RW_KEY
OFFSITE_PART_MB=5 od_run "dump.create of a dump larger than a part" 0 create.yaml --param name=big
bigkey=$(od_out dump key)
t_check "multipart: more than one part" test "$(od_out dump parts)" -gt 1
t_check "multipart: the proxy saw InitiateMultipartUpload" \
    grep -q "\"POST /drplay-backups/${bigkey//./\\.}?uploads= HTTP/1.1\" 200" "$S3_PROXY_LOG"
t_check "multipart: ... part 2" grep -q "PUT /drplay-backups/${bigkey//./\\.}?partNumber=2&uploadId=" "$S3_PROXY_LOG"
t_check "multipart: ... and CompleteMultipartUpload" \
    grep -q "\"POST /drplay-backups/${bigkey//./\\.}?uploadId=[0-9a-f]* HTTP/1.1\" 200" "$S3_PROXY_LOG"
s3_get S3 "$bigkey" "$T_TMP/big" || die_setup "cannot download $bigkey"
t_eq "multipart: the assembled object has the manifest's sha256" "$(od_out dump sha256)" \
    "$(sha256sum "$T_TMP/big" | cut -d' ' -f1)"
export OFFSITE_S3_KEY=$S3_RO_KEY
od_run "multipart dump: check passes" 0 check.yaml --param key="$bigkey"

# ------------------------------------------------------------ store errors --
OFFSITE_S3_BUCKET=no-such-bucket od_run "a missing bucket fails (exit 4: nothing changed)" 4 list.yaml
t_contains "missing bucket: the S3 error code" "$T_OUT" "NoSuchBucket"
t_contains "missing bucket: says what to check" "$T_OUT" "check bucket"
OFFSITE_S3_KEY=$S3_BAD_KEY od_run "a wrong access key id fails (exit 4: nothing changed)" 4 list.yaml
t_contains "wrong key id: InvalidAccessKeyId from the store" "$T_OUT" "InvalidAccessKeyId"
t_not_contains "wrong key id: no retry lines" "$T_OUT" "retrying"
port=$(free_port) || die_setup "no free port"
OFFSITE_S3_ENDPOINT=http://127.0.0.1:$port OFFSITE_RETRIES=2 od_run "an unreachable store fails (exit 4: nothing changed)" 4 list.yaml
t_contains "unreachable: says it could not connect" "$T_OUT" "connect"
t_contains "unreachable: retried with backoff" "$T_OUT" "retrying in"
t_contains "unreachable: says what to check" "$T_OUT" "check the endpoint"
