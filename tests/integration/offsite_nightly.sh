#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# tests/integration/offsite_nightly.sh - playbooks/nightly_validation.yaml,
# the seed's scheduled VALIDATION restore, against real servers: production
# (the fixture, still being written to after the dump), a scratch database on
# the same server, and the dumps in s3rver behind the read-only-enforcing
# nginx. It passes when all is well, and stops where it must otherwise: a
# stale dump or write-capable credentials in pre-flight (exit 4, nothing
# created), a schema that drifted since the dump at verification (exit 1);
# the report is written every time.
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
pg_createdb PG scratch
# the fixture's orders are from 2024: make them recent, as production's are
pg_sql PG appdb "update public.orders set created_at = now() - interval '1 minute' * (2000 - id)" >/dev/null
# as production's own job would: a restore recomputes materialized views, so
# one left stale here would differ from the restored copy (and it should)
pg_sql PG appdb "refresh materialized view audit.daily_order_counts_mv" >/dev/null
s3_start S3
offsite_env PG S3
od_run "setup: the nightly dump (dump.create with the read-write key)" 0 create.yaml

NIGHTLY=$ROOT/playbooks/nightly_validation.yaml
export BACKUP_S3_ENDPOINT=$S3_ENDPOINT BACKUP_S3_KEY_ID=$S3_RO_KEY BACKUP_S3_SECRET=$S3_SECRET
export PROD_DATABASE_URL="postgresql://postgres@127.0.0.1:$PG_PORT/appdb"
export SCRATCH_DATABASE_URL="postgresql://postgres@127.0.0.1:$PG_PORT/scratch"
R=$T_TMP/reports
nightly() { # NAME RC [args...]
    local name=$1 rc=$2 jd
    shift 2
    jd=$(mktemp -d "$T_TMP/journal.XXXXXX")
    t_exit "$name" "$rc" "$DRPLAY" run "$NIGHTLY" --journal-dir "$jd" --param bucket="$S3_BUCKET" \
        --param region=us-east-1 --param path_style=true --param report_dir="$R" \
        --param metrics_file="$R/nightly.prom" "$@"
    OD_JOURNAL=$(ls "$jd"/*.jsonl | head -n1)
    printf '%s\n' "$T_OUT" >&2
}

t_check "the shipped playbook lints clean" "$DRPLAY" lint "$NIGHTLY"

# production keeps writing after the dump
pg_sql PG appdb "insert into public.orders (user_id, quantity, unit_price, created_at) select 1, 1, 1, now() from generate_series(1, 50)" >/dev/null
dbs0=$(od_dbs PG)
nightly "nightly validation passes" 0
t_eq "nightly: every step of the proof's path ran ok" "ok ok ok ok ok ok ok ok" \
    "$(for s in latest credentials integrity restore copy verify drop report; do od_outcome "$s"; done | tr '\n' ' ' | sed 's/ $//')"
t_eq "nightly: the fallback to production was skipped" "skipped skipped skipped skipped" \
    "$(for s in no_proof live live_copy live_verify; do od_outcome "$s"; done | tr '\n' ' ' | sed 's/ $//')"
t_eq "nightly: restored the newest dump" "$(od_out latest key)" "$(od_out restore key)"
t_eq "nightly: the restore made a new database (recorded as created by the run)" 1 \
    "$(od_events created | grep -c "\"name\":\"$(od_out restore database)\"")"
t_eq "nightly: ... and dropped it (pg.drop)" "$(od_out restore database)" "$(od_out drop dropped)"
t_eq "nightly: the scratch server holds no leftover database" "$dbs0" "$(od_dbs PG)"
t_eq "nightly: verification against the proof passed" true "$(od_out verify passed)"
t_contains "nightly: compared schema, counts, sequences and checksums" "$(od_out verify checks)" '"schema","counts","sequences","checksums"'
t_eq "nightly: an exact checksum verdict for every table of the proof" \
    "$(od_out integrity proof | node -pe 'Object.keys(JSON.parse(require("fs").readFileSync(0)).checksums).length')" \
    "$(od_out verify verdicts | node -pe 'JSON.parse(require("fs").readFileSync(0)).filter(v => v.check === "checksums" && v.verdict === "ok").length')"
md=$(ls "$R"/nightly-validation-*.md | head -n1)
t_check "nightly: the Markdown report exists" test -s "$md"
t_check "nightly: the JSON, JUnit and Prometheus reports exist" test -s "${md%.md}.json" -a -s "${md%.md}.xml" -a -s "$R/nightly.prom"
t_contains "nightly: the report names the dump" "$(cat "$md")" "$(od_out latest key)"
t_contains "nightly: the report says it verified against the proof" "$(cat "$md")" "the dump's proof, exactly"
t_check "nightly: the report measured the RPO (from the dump's snapshot time)" \
    grep -Eq '"rpo_s": ?[0-9]' "${md%.md}.json"
t_contains "nightly: the textfile says the last run succeeded" "$(cat "$R/nightly.prom")" "drplay_last_run_success{"

# pre-flight failures: exit 4, nothing created
dbs1=$(od_dbs PG)
sleep 2
nightly "nightly with a stale dump stops at 'latest' (exit 4)" 4 --param max_age=1s
t_contains "stale: says the backup is stale" "$T_OUT" "the off-site backup is stale"
t_eq "stale: no database created" "$dbs1" "$(od_dbs PG)"
t_check "stale: the report was still written" test -n "$(ls -t "$R"/*.md | head -n1)"
BACKUP_S3_KEY_ID=$S3_RW_KEY nightly "nightly with write-capable credentials stops in pre-flight (exit 4)" 4
t_contains "rw key: names the problem" "$T_OUT" "can WRITE"
t_eq "rw key: no database created" "$dbs1" "$(od_dbs PG)"
t_eq "rw key: no probe object left" "" "$(s3_ls S3 prod/.drplay-probe)"

# a dump without a proof, then production's schema drifts: the fallback to
# production names the drift
sleep 1
od_run "setup: a dump without a proof" 0 create.yaml --param proof=false
pg_sql PG appdb "alter table public.users add column nickname text" >/dev/null
nightly "nightly of a dump without a proof compares with production and fails at the drift (exit 1)" 1
t_contains "no proof: says so" "$T_OUT" "the dump has no proof"
t_contains "drift: the schema difference is named" "$T_OUT" "nickname"
t_eq "drift: verify failed" false "$(od_out live_verify passed)"
t_eq "drift: the report still ran" ok "$(od_outcome report)"
t_contains "no proof: the report says what it compared with" "$(cat "$(ls -t "$R"/*.md | head -n1)")" "production, within tolerances: the dump has no proof"
t_eq "drift: the copy was still dropped (always)" ok "$(od_outcome drop)"
t_eq "drift: no leftover database" "$dbs0" "$(od_dbs PG)"

# a dump with a proof, then the same drift: the copy is still exactly the
# dump's moment
sleep 1
od_run "setup: a dump with a proof" 0 create.yaml
fk=$(od_out dump key)
pg_sql PG appdb "alter table public.users drop column nickname" >/dev/null
nightly "nightly after a schema drift in production passes against the proof" 0
t_eq "drift: verify against the proof passed" true "$(od_out verify passed)"

# a proof that disagrees with the dump (forged with its manifest, unsigned
# store): never a false pass
s3_get S3 "$fk.proof.json" "$T_TMP/fp.json" && s3_get S3 "$fk.manifest.json" "$T_TMP/fm.json" || die_setup "cannot download the proof"
node -e '
const fs = require("fs"), crypto = require("crypto");
const [pf, mf] = process.argv.slice(1);
const p = JSON.parse(fs.readFileSync(pf, "utf8"));
p.checksums["public.orders"].sha256 = "0".repeat(64);
const b = Buffer.from(JSON.stringify(p));
fs.writeFileSync(pf, b);
const m = JSON.parse(fs.readFileSync(mf, "utf8"));
m.proof.sha256 = crypto.createHash("sha256").update(b).digest("hex");
m.proof.size = b.length;
fs.writeFileSync(mf, JSON.stringify(m));' "$T_TMP/fp.json" "$T_TMP/fm.json"
s3_put S3 "$T_TMP/fp.json" "$fk.proof.json" >/dev/null && s3_put S3 "$T_TMP/fm.json" "$fk.manifest.json" >/dev/null ||
    die_setup "cannot upload the forged proof"
nightly "nightly of a dump whose proof disagrees fails at verify (exit 1)" 1
t_contains "forged proof: the table is named" "$T_OUT" "mismatch checksums public.orders"

# with BACKUP_VERIFY_KEY the unsigned dump is refused in pre-flight
openssl genpkey -algorithm ed25519 -out "$T_TMP/k.pem" 2>/dev/null && openssl pkey -in "$T_TMP/k.pem" -pubout -out "$T_TMP/k.pub" ||
    die_setup "openssl cannot make an Ed25519 key"
nightly "nightly with a verify key refuses an unsigned dump (exit 4)" 4 --param verify_key="$(cat "$T_TMP/k.pub")"
t_contains "verify key: unsigned refused" "$T_OUT" "is unsigned"
t_eq "verify key: no database created" "$dbs0" "$(od_dbs PG)"

# pg.drop drops only what this run created
cat > "$T_TMP/drop_other.yaml" <<YAML
drplay: 1
name: drop_other
resources:
  scratch: {kind: postgres, dsn: "postgresql://postgres@127.0.0.1:$PG_PORT/scratch", throwaway: true}
steps:
  - id: drop
    action: pg.drop
    with: {target: scratch, database: appdb}
YAML
t_exit "pg.drop of a database this run did not create is refused" 1 "$DRPLAY" run "$T_TMP/drop_other.yaml" --journal-dir "$T_TMP/j_drop"
t_contains "pg.drop: says why" "$T_OUT" "this run did not create it"
t_check "pg.drop: appdb still exists" grep -qx appdb <<<"$(od_dbs PG)"
