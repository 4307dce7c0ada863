#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# tests/fault/offsite_faults.sh - bad dumps and a misbehaving store, each a
# clear step failure naming the object and the cause: truncated object, one
# flipped byte, a gzip stream cut short, a file that is not a dump, manifest
# missing or lying about its size, connections dropped mid-download (resumed
# with a Range request, or failing clearly), 5xx/429 (retried) vs 4xx (never
# retried), a hanging store, a disk too small for a parallel restore,
# pg_restore failing halfway; and the pre-flight gates: exit 4, nothing changed.
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

od_run "setup: dump.create (without a proof: offsite_proof.sh tests those)" 0 create.yaml --param proof=false
key=$(od_out dump key)
[[ -n $key ]] || die_setup "dump.create gave no key"
s3_get S3 "$key" "$T_TMP/good.dump" || die_setup "cannot download $key"
s3_get S3 "$key.manifest.json" "$T_TMP/good.man" || die_setup "cannot download the manifest"
size=$(stat -c %s "$T_TMP/good.dump")

put_with_manifest() { # FILE KEY MANIFEST_FILE
    s3_put S3 "$1" "$2" && s3_put S3 "$3" "$2.manifest.json" || die_setup "cannot upload $2"
}
manifest_of() { # FILE -> a manifest for FILE's real bytes, in FILE.man
    node -e '
const fs = require("fs"), crypto = require("crypto");
const b = fs.readFileSync(process.argv[1]);
const m = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
m.size = b.length;
m.sha256 = crypto.createHash("sha256").update(b).digest("hex");
fs.writeFileSync(process.argv[1] + ".man", JSON.stringify(m));' "$1" "$T_TMP/good.man"
}

# truncated: half the bytes, the original manifest
head -c $((size / 2)) "$T_TMP/good.dump" >"$T_TMP/trunc.dump"
put_with_manifest "$T_TMP/trunc.dump" prod/bad/trunc-20261101T000000Z.dump "$T_TMP/good.man"
# one flipped byte in the middle, same size, the original manifest
cp "$T_TMP/good.dump" "$T_TMP/flip.dump"
off=$((size / 2))
orig=$(od -An -tu1 -j "$off" -N1 "$T_TMP/flip.dump" | tr -d ' ')
printf "$(printf '\\%03o' $((orig ^ 1)))" | dd of="$T_TMP/flip.dump" bs=1 seek="$off" conv=notrunc status=none
put_with_manifest "$T_TMP/flip.dump" prod/bad/flip-20261101T000000Z.dump "$T_TMP/good.man"
# a gzip stream cut short (a plain dump of another tool, no manifest)
pg_dump -h 127.0.0.1 -p "$PG_PORT" -U postgres appdb | gzip >"$T_TMP/plain.sql.gz"
head -c $(($(stat -c %s "$T_TMP/plain.sql.gz") / 2)) "$T_TMP/plain.sql.gz" >"$T_TMP/cut.sql.gz"
s3_put S3 "$T_TMP/cut.sql.gz" prod/bad/cut-2026-11-01.sql.gz || die_setup "upload failed"
# not a dump: a PNG-like header and random bytes, with an honest manifest
{ printf '\x89PNG\r\n\x1a\n'; head -c 100000 /dev/urandom; } >"$T_TMP/notadump.dump"
manifest_of "$T_TMP/notadump.dump"
put_with_manifest "$T_TMP/notadump.dump" prod/bad/notadump-20261101T000000Z.dump "$T_TMP/notadump.dump.man"
# not a dump, gzipped
head -c 50000 /dev/urandom | gzip >"$T_TMP/random.sql.gz"
s3_put S3 "$T_TMP/random.sql.gz" prod/bad/random-2026-11-01.sql.gz || die_setup "upload failed"
# manifest missing
s3_put S3 "$T_TMP/good.dump" prod/bad/nomanifest-20261101T000000Z.dump || die_setup "upload failed"
# manifest lying about the size
node -e '
const fs = require("fs");
const m = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
m.size += 1000;
fs.writeFileSync(process.argv[2], JSON.stringify(m));' "$T_TMP/good.man" "$T_TMP/lying.man"
put_with_manifest "$T_TMP/good.dump" prod/bad/lying-20261101T000000Z.dump "$T_TMP/lying.man"
# a manifest that is not JSON
printf '{"sha256": "nope"' >"$T_TMP/broken.man"
put_with_manifest "$T_TMP/good.dump" prod/bad/badmanifest-20261101T000000Z.dump "$T_TMP/broken.man"

export OFFSITE_S3_KEY=$S3_RO_KEY
check_fails() { # NAME KEY NEEDLE...
    local name=$1 k=$2
    shift 2
    od_run "check: $name fails in pre-flight (exit 4)" 4 check.yaml --param key="$k"
    t_contains "check: $name: the error names the object" "$T_OUT" "'$k'"
    for n in "$@"; do t_contains "check: $name: $n" "$T_OUT" "$n"; done
    t_contains "check: $name: nothing changed" "$T_OUT" "nothing changed"
}
check_fails "truncated object" prod/bad/trunc-20261101T000000Z.dump \
    "has $((size / 2)) bytes but its manifest says $size" "truncated"
check_fails "one flipped byte" prod/bad/flip-20261101T000000Z.dump "is corrupt: its SHA-256 is" \
    "but its manifest says $(od_json "$T_TMP/good.man" j.sha256)"
check_fails "gzip stream cut short" prod/bad/cut-2026-11-01.sql.gz "the gzip stream is cut short"
check_fails "not a dump" prod/bad/notadump-20261101T000000Z.dump "it is not a dump: it starts with bytes 89 50 4e 47"
check_fails "random bytes gzipped" prod/bad/random-2026-11-01.sql.gz "not a dump" "once decompressed"
check_fails "manifest missing" prod/bad/nomanifest-20261101T000000Z.dump "has no manifest"
check_fails "manifest lying about the size" prod/bad/lying-20261101T000000Z.dump \
    "has $size bytes but its manifest says $((size + 1000))"
check_fails "manifest not JSON" prod/bad/badmanifest-20261101T000000Z.dump "manifest" "is not valid: it is not JSON"
od_run "check: the good dump passes (control)" 0 check.yaml --param key="$key"

# ------------------------------------------------- restore of bad dumps ---
dbs0=$(od_dbs PG)
od_run "restore: a truncated dump fails before changing anything (exit 4)" 4 restore.yaml --param key=prod/bad/trunc-20261101T000000Z.dump
t_contains "restore truncated: says the sizes differ, nothing restored" "$T_OUT" "nothing was restored"
t_contains "restore truncated: the run says nothing changed" "$T_OUT" "failed before it changed anything (no outage)"
t_eq "restore truncated: the journal's step_end says changed: false" false \
    "$(od_events step_end | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).changed))')"
t_eq "restore truncated: no database was created" "$dbs0" "$(od_dbs PG)"
od_run "restore: a dump with a flipped byte fails" 1 restore.yaml --param key=prod/bad/flip-20261101T000000Z.dump
t_contains "restore flipped: names the object" "$T_OUT" "prod/bad/flip-20261101T000000Z.dump"
t_check "restore flipped: the cause is the corruption (SHA-256 or pg_restore's read error)" \
    grep -Eq "does not match its manifest|pg_restore exited" <<<"$T_OUT"
od_run "restore: not a dump fails" 1 restore.yaml --param key=prod/bad/notadump-20261101T000000Z.dump
t_contains "restore not a dump: says so" "$T_OUT" "is not usable: it is not a dump"

# the exit class follows what changed: refused before anything changed -> 4
dbs0=$(od_dbs PG)
od_run "restore into: new over an existing database: refused before anything changed (exit 4)" 4 restore.yaml \
    --param key="$key" --param database=appdb
t_contains "restore into existing name: names the database and what to do" "$T_OUT" \
    "database 'appdb' already exists on 127.0.0.1:$PG_PORT/appdb; into: new creates a fresh one"
t_contains "restore into existing name: the step changed nothing" "$T_OUT" ", nothing changed): database 'appdb' already exists"
t_eq "restore into existing name: no database created or dropped" "$dbs0" "$(od_dbs PG)"
objs0=$(s3_ls S3 prod/ | sort)
OFFSITE_DB_DSN="postgresql://postgres@127.0.0.1:$(free_port)/appdb" \
    od_run "dump.create that cannot connect: fails before anything changed (exit 4)" 4 create.yaml
t_contains "dump.create cannot connect: says so" "$T_OUT" "cannot connect to postgres resource 'db'"
t_contains "dump.create cannot connect: no outage" "$T_OUT" "which failed before it changed anything (no outage)"
t_eq "dump.create cannot connect: the store is unchanged" "$objs0" "$(s3_ls S3 prod/ | sort)"

# pg_restore failing halfway: the target already holds an index named like
# one of the dump's (post-data, after every table's rows): tables and data
# are restored, then it stops at that index.
conflict="create table public.zz_conflict (x int); create index orders_created_at_idx on public.zz_conflict (x)"
pg_createdb PG scratch
pg_sql PG scratch "$conflict" >/dev/null
od_run "restore: pg_restore failing halfway fails the step" 1 restore.yaml --param key="$key" --param into=existing
t_contains "restore halfway: names the tool and its exit" "$T_OUT" "pg_restore exited with status 1"
t_contains "restore halfway: names the object" "$T_OUT" "while restoring '$key' into database 'scratch'"
t_contains "restore halfway: the server's error" "$T_OUT" 'relation "orders_created_at_idx" already exists'
t_contains "restore halfway: the statement" "$T_OUT" 'Command was: CREATE INDEX orders_created_at_idx'
t_eq "restore halfway: rows before the failure were restored" 500 \
    "$(pg_sql PG scratch 'select count(*) from public.users')"
pg_sql PG postgres "drop database scratch" >/dev/null
pg_createdb PG scratch
pg_sql PG scratch "$conflict" >/dev/null
od_run "restore: halfway failure with single_transaction" 1 restore.yaml --param key="$key" \
    --param into=existing --param single_transaction=true
t_eq "restore single_transaction: nothing was restored" 0 \
    "$(pg_sql PG scratch "select count(*) from pg_tables where tablename = 'users'")"

od_run "restore: allow_errors goes past the conflict" 0 restore.yaml --param key="$key" --param into=existing \
    --param allow_errors=true
t_eq "restore allow_errors: one error ignored" 1 "$(od_out restore errors_ignored)"
t_contains "restore allow_errors: warns about it" "$T_OUT" "1 errors were ignored (allow_errors: true)"
od_run "restore: over the same database again fails (objects exist)" 1 restore.yaml --param key="$key" \
    --param into=existing
t_contains "restore again: already exists" "$T_OUT" "already exists"
od_run "restore: clean: true restores over an existing copy" 0 restore.yaml --param key="$key" --param into=existing \
    --param clean=true
t_eq "restore clean: the rows are there once" 500 "$(pg_sql PG scratch 'select count(*) from public.users')"
t_contains "restore clean: the harmless failed drops are named as such" "$T_OUT" "failed harmlessly"
# an object outside the dump depends on one of its tables: the clean phase
# cannot drop users, so re-creating it fails: a real error
pg_sql PG scratch "create table public.zz_ref (u bigint references public.users (id))" >/dev/null
od_run "restore: clean: true still fails on a real error" 1 restore.yaml --param key="$key" --param into=existing \
    --param clean=true
t_contains "restore clean, real error: names it" "$T_OUT" 'already exists (Command was: CREATE'
t_contains "restore clean, real error: says it is not the clean phase's" "$T_OUT" "besides the clean phase's"

# disk too small for a parallel restore
mkdir -p "$T_TMP/small"
mount -t tmpfs -o size=256k drplay-small "$T_TMP/small" || die_setup "cannot mount a small tmpfs"
on_exit umount "$T_TMP/small"
dbs0=$(od_dbs PG)
od_run "restore: jobs 2 with a workdir too small fails before changing anything (exit 4)" 4 restore.yaml --param key="$key" --param jobs=2 \
    --param workdir="$T_TMP/small"
t_contains "restore small disk: says how much is free and needed" "$T_OUT" \
    "workdir '$T_TMP/small' has 256.0 KiB free, but restoring '$key' with jobs: 2 needs"
t_contains "restore small disk: says what to do" "$T_OUT" "jobs: 1 (streams without a local copy)"
t_eq "restore small disk: checked before anything changed (no database created)" "$dbs0" "$(od_dbs PG)"
t_eq "restore small disk: nothing was downloaded" 0 "$(du -sk "$T_TMP/small" | cut -f1)"

# ------------------------------------------------------- a faulty store ---
s3_fault_start S3
export OFFSITE_S3_ENDPOINT=$S3_FAULT_ENDPOINT
stat_of() { faultproxy_stats S3_FAULT | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).stats[process.argv[1]]))' "$1"; }

faultproxy_set S3_FAULT '{"clear": true, "failFirst": 2, "failStatus": 503}' >/dev/null
od_run "503 twice: retried, then the check passes" 0 check.yaml --param key="$key"
t_contains "503: retries are logged" "$T_OUT" "SlowDown"
t_eq "503: two requests failed" 2 "$(stat_of failed)"
faultproxy_set S3_FAULT '{"clear": true, "failFirst": 1, "failStatus": 429}' >/dev/null
od_run "429: retried, then the check passes" 0 check.yaml --param key="$key"
t_contains "429: retry logged" "$T_OUT" "retrying in"
faultproxy_set S3_FAULT '{"clear": true, "failFirst": 1, "failStatus": 403}' >/dev/null
od_run "403: not retried, fails (exit 4)" 4 check.yaml --param key="$key"
t_contains "403: names the cause" "$T_OUT" "AccessDenied"
t_not_contains "403: no retry" "$T_OUT" "retrying"
t_eq "403: exactly one request" 1 "$(stat_of requests)"
faultproxy_set S3_FAULT '{"clear": true, "failFirst": 50, "failStatus": 500}' >/dev/null
OFFSITE_RETRIES=2 od_run "500 every time: fails after the retries (exit 4)" 4 check.yaml --param key="$key"
t_contains "500 always: says it gave up after retries" "$T_OUT" "failed after retries: InternalError"
t_eq "500 always: 1 + 2 retries" 3 "$(stat_of requests)"

faultproxy_set S3_FAULT "{\"clear\": true, \"cutAfter\": 65536, \"cutCount\": 1, \"methods\": [\"GET\"], \"match\": \"\\\\.dump\$\"}" >/dev/null
od_run "a connection dropped mid-download: resumed, the check passes" 0 check.yaml --param key="$key"
t_contains "cut: resumed with a Range request" "$T_OUT" "after 65536 bytes; resuming with a Range request"
t_eq "cut: the proxy cut one response" 1 "$(stat_of cut)"
t_check "cut: the store answered the resumption with 206" \
    grep -q "\"GET /drplay-backups/${key//./\\.} HTTP/1.1\" 206" "$S3_PROXY_LOG"
t_eq "cut: journal counts the resumption" 1 \
    "$(od_events dump_checked | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).resumes))')"
t_eq "cut: the SHA-256 still matches" "$(od_json "$T_TMP/good.man" j.sha256)" "$(od_out check sha256)"

faultproxy_set S3_FAULT "{\"clear\": true, \"cutAfter\": 65536, \"cutCount\": 1, \"methods\": [\"GET\"], \"match\": \"\\\\.dump\$\"}" >/dev/null
src_users=$(pg_sql PG appdb 'select count(*) from public.orders')
od_run "a connection dropped mid-restore: resumed, the restore succeeds" 0 restore.yaml --param key="$key"
t_eq "cut restore: the restored counts are right" "$src_users" \
    "$(pg_sql PG "$(od_out restore database)" 'select count(*) from public.orders')"
t_contains "cut restore: resumed" "$T_OUT" "resuming with a Range request"

faultproxy_set S3_FAULT '{"clear": true, "resetFirst": 50}' >/dev/null
OFFSITE_RETRIES=2 od_run "connections reset every time: fails clearly (exit 4)" 4 check.yaml --param key="$key"
t_contains "reset: says it failed after retries" "$T_OUT" "failed after retries"
t_contains "reset: says what to check" "$T_OUT" "check the endpoint, the network and that the store is up"

faultproxy_set S3_FAULT "{\"clear\": true, \"hangFirst\": 1, \"methods\": [\"GET\"], \"match\": \"\\\\.dump\$\"}" >/dev/null
OFFSITE_READ_TIMEOUT=1s od_run "a hanging answer: timed out, retried, the check passes" 0 check.yaml --param key="$key"
t_contains "hang: the timeout is named" "$T_OUT" "no data for 1s (read_timeout)"
faultproxy_set S3_FAULT '{"clear": true}' >/dev/null

# ---------------------------------------------- pre-flight: exit 4, no change
export OFFSITE_S3_ENDPOINT=$S3_ENDPOINT
objs0=$(s3_ls S3 prod/ | sort)
dbs0=$(od_dbs PG)
od_run "pre-flight with a corrupt dump: exit 4" 4 preflight.yaml --param key=prod/bad/flip-20261101T000000Z.dump
t_contains "pre-flight corrupt: says nothing changed" "$T_OUT" "nothing changed"
t_contains "pre-flight corrupt: the restore was never started" "$T_OUT" "restore: dump.restore  skipped"
t_eq "pre-flight corrupt: no database created" "$dbs0" "$(od_dbs PG)"
OFFSITE_S3_KEY=$S3_RW_KEY od_run "pre-flight with write-capable credentials: exit 4" 4 preflight.yaml --param key="$key"
t_contains "pre-flight rw key: whoami names the problem" "$T_OUT" "can WRITE"
t_eq "pre-flight rw key: the store is unchanged (probe removed)" "$objs0" "$(s3_ls S3 prod/ | sort)"
s3_proxy_stop S3
OFFSITE_RETRIES=1 od_run "pre-flight with the store unreachable: exit 4" 4 preflight.yaml --param key="$key"
t_contains "pre-flight unreachable: says it cannot connect" "$T_OUT" "connect"
t_eq "pre-flight unreachable: no database created" "$dbs0" "$(od_dbs PG)"
s3_proxy_start S3
t_eq "pre-flight: the store is unchanged" "$objs0" "$(s3_ls S3 prod/ | sort)"
