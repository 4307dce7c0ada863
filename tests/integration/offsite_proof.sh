#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# tests/integration/offsite_proof.sh - the proof taken with a dump and signed
# manifests (SPEC.md 8.5.7, 8.5.8), on a real S3 store (s3rver behind nginx)
# and on a dir store: dump.create stores KEY.proof.json in pg_dump's
# snapshot and records its SHA-256 in the manifest; offsite.check and
# dump.restore output it; a restored copy verifies exactly against it, and a
# changed row of the copy is named. Every bad input is refused by name before
# anything changes (exit 4, no database created): a truncated, replaced or
# missing proof, a proof of another database or of another format, an
# unsigned manifest or one signed with another key when the store declares
# verify_key, a manifest altered after it was signed.
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
K=$(t_tmpdir keys) || die_setup "cannot create a key directory"
for k in a b; do
    openssl genpkey -algorithm ed25519 -out "$K/$k.pem" 2>/dev/null || die_setup "openssl cannot make an Ed25519 key"
    openssl pkey -in "$K/$k.pem" -pubout -out "$K/$k.pub" || die_setup "openssl cannot write a public key"
done
OFFSITE_SIGNING_KEY_A=$(cat "$K/a.pem")
OFFSITE_VERIFY_KEY_A=$(cat "$K/a.pub")
OFFSITE_VERIFY_KEY_B=$(cat "$K/b.pub")
export OFFSITE_SIGNING_KEY_A OFFSITE_VERIFY_KEY_A OFFSITE_VERIFY_KEY_B

# objects of the store under test ($KIND: s3 or dir), by key
obj_get() { # KEY FILE
    if [[ $KIND == dir ]]; then cp "$OFFSITE_DIR/$1" "$2"; else s3_get S3 "$1" "$2"; fi
}
obj_put() { # FILE KEY
    if [[ $KIND == dir ]]; then cp "$1" "$OFFSITE_DIR/$2"; else s3_put S3 "$1" "$2" >/dev/null; fi
}
obj_rm() { # KEY
    if [[ $KIND == dir ]]; then rm -f "$OFFSITE_DIR/$1"; else s3_rm S3 "$1"; fi
}
sha() { sha256sum "$1" | cut -d' ' -f1; }
# edit a JSON file in place with a JS statement on `j`
json_edit() { # FILE JS
    node -e '
const fs = require("fs");
const j = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
eval(process.argv[2]);
fs.writeFileSync(process.argv[1], JSON.stringify(j));' "$1" "$2"
}
restored_dbs() { od_dbs PG | grep -c '_restore_' || true; }

# A refusal: check (gate) and restore alone each exit 4 naming WHY, and no
# database is created.
refused() { # NAME STORE KEY WHY
    local name=$1 st=$2 key=$3 why=$4 n0
    n0=$(restored_dbs)
    od_run "$KIND $name: offsite.check refuses (exit 4)" 4 proof_verify.yaml --param store="$st" --param key="$key"
    t_contains "$KIND $name: offsite.check names the cause" "$T_OUT" "$why"
    t_contains "$KIND $name: nothing changed" "$T_OUT" "before any state-changing step"
    od_run "$KIND $name: dump.restore refuses (exit 4)" 4 proof_verify.yaml --param store="$st" --param key="$key" \
        --param check=false
    t_contains "$KIND $name: dump.restore names the cause" "$T_OUT" "$why"
    t_eq "$KIND $name: no database was created" "$n0" "$(restored_dbs)"
}

# a stale materialized view: pg_dump stores its query, and pg_restore's
# REFRESH fills the copy from the restored rows; the proof records those
# rows (the query's result in the snapshot), not the stale ones
pg_sql PG appdb "refresh materialized view audit.daily_order_counts_mv;
    insert into public.orders (user_id, quantity, unit_price, created_at) select 1, 1, 1, '2031-01-01' from generate_series(1, 5)" >/dev/null
t_eq "setup: the materialized view is stale" 0 \
    "$(pg_sql PG appdb "select count(*) from audit.daily_order_counts_mv where day = '2031-01-01'")"

for KIND in s3 dir; do
    W=$(t_tmpdir "work-$KIND")
    # ------------------------------------------------ the proof, taken and used
    od_run "$KIND: dump.create with a proof, signed with key A" 0 proof_create.yaml --param store="${KIND}a"
    key=$(od_out dump key)
    t_eq "$KIND: the proof output is KEY.proof.json" "$key.proof.json" "$(od_out dump proof)"
    t_eq "$KIND: signed output" true "$(od_out dump signed)"
    t_eq "$KIND: the journal's dump_created names the proof and the signature" "$key.proof.json true" \
        "$(od_events dump_created | node -pe 'const e = JSON.parse(require("fs").readFileSync(0)); e.proof + " " + e.signed')"
    obj_get "$key.manifest.json" "$W/m.json"
    obj_get "$key.proof.json" "$W/p.json"
    t_eq "$KIND: the manifest records the proof's SHA-256" "$(sha "$W/p.json")" "$(od_json "$W/m.json" j.proof.sha256)"
    t_eq "$KIND: ... and its size" "$(stat -c %s "$W/p.json")" "$(od_json "$W/m.json" j.proof.size)"
    t_eq "$KIND: the proof's moment is the dump's snapshot time" "$(od_json "$W/m.json" j.snapshot_time)" \
        "$(od_json "$W/p.json" j.captured_at)"
    t_eq "$KIND: the proof counts public.orders as the database does" \
        "$(pg_sql PG appdb 'select count(*) from public.orders')" "$(od_json "$W/p.json" 'j.counts["public.orders"]')"
    t_eq "$KIND: the proof counts the partitions" "$(pg_sql PG appdb "select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.relkind in ('r','p','m') and n.nspname not in ('pg_catalog','information_schema')")" \
        "$(od_json "$W/p.json" 'Object.keys(j.counts).length')"
    t_eq "$KIND: the proof counts the stale materialized view's rows as a restore makes them" \
        "$(pg_sql PG appdb "select count(*) from (select (created_at at time zone 'UTC')::date, count(*) from public.orders group by 1) q")" \
        "$(od_json "$W/p.json" 'j.counts["audit.daily_order_counts_mv"]')"
    t_eq "$KIND: the proof has the schema, sequences and checksums" true \
        "$(od_json "$W/p.json" '!!(j.schema.sha256 && Object.keys(j.sequences).length && j.checksums["public.orders"].sha256)')"
    t_eq "$KIND: the manifest is signed with key A" "$(od_json "$W/m.json" j.signature.key_id)" \
        "$(openssl pkey -pubin -in "$K/a.pub" -outform DER | tail -c 32 | sha256sum | cut -d' ' -f1)"

    od_run "$KIND: the restored copy verifies exactly against the proof" 0 proof_verify.yaml --param store="${KIND}a" --param key="$key"
    t_eq "$KIND: offsite.check output the proof" proof "$(od_out check proof | node -pe 'JSON.parse(require("fs").readFileSync(0)).name')"
    t_eq "$KIND: offsite.check checked the signature and the proof first" '["signature","proof"]' \
        "$(od_out check checked | node -pe 'JSON.stringify(JSON.parse(require("fs").readFileSync(0)).slice(0, 2))')"
    t_eq "$KIND: every table's checksum verdict is ok against the proof" \
        "$(od_json "$W/p.json" 'Object.keys(j.checksums).length')" \
        "$(od_out verify verdicts | node -pe 'JSON.parse(require("fs").readFileSync(0)).filter(v => v.check === "checksums" && v.verdict === "ok").length')"

    od_run "$KIND: a changed row of the copy fails verification" 1 proof_verify.yaml --param store="${KIND}a" --param key="$key" --param tamper=true
    t_contains "$KIND: ... naming the table and the key range" "$T_OUT" "mismatch checksums public.orders"
    t_contains "$KIND: ... down to the key while the source still holds it" "$T_OUT" "changed key 1500"
    pg_sql PG appdb "update public.orders set quantity = quantity + 7 where id = 1501" >/dev/null
    od_run "$KIND: after the source moved on, the copy's change is still found" 1 proof_verify.yaml --param store="${KIND}a" --param key="$key" --param tamper=true
    t_contains "$KIND: ... by table and key range" "$T_OUT" "mismatch checksums public.orders"
    t_contains "$KIND: ... saying why it is not narrowed to keys" "$T_OUT" "not narrowed further: the expected state is a dump's proof and its source database has changed since the dump"
    pg_sql PG appdb "update public.orders set quantity = quantity - 7 where id = 1501" >/dev/null

    # ------------------------------------------------------------ signatures
    refused "signed with another key" "${KIND}b" "$key" "is signed with another key"
    od_run "$KIND: an unsigned dump" 0 proof_create.yaml --param store="$KIND"
    ukey=$(od_out dump key)
    t_eq "$KIND: unsigned: signed output false" false "$(od_out dump signed)"
    refused "unsigned with verify_key" "${KIND}b" "$ukey" "is unsigned"
    od_run "$KIND: without verify_key an unsigned dump is checked" 0 proof_verify.yaml --param store="$KIND" --param key="$ukey"

    # a forged proof with the manifest rewritten to match: the signature fails
    cp "$W/p.json" "$W/p2.json"
    json_edit "$W/p2.json" 'j.counts["public.orders"] += 1'
    cp "$W/m.json" "$W/m2.json"
    json_edit "$W/m2.json" "j.proof.sha256 = '$(sha "$W/p2.json")'; j.proof.size = $(stat -c %s "$W/p2.json")"
    obj_put "$W/p2.json" "$key.proof.json"
    obj_put "$W/m2.json" "$key.manifest.json"
    refused "forged proof and manifest" "${KIND}a" "$key" "was altered after it was signed"
    # the same forgery on an unsigned dump: the proof matches its manifest,
    # and verification against it fails (never a false pass)
    obj_get "$ukey.proof.json" "$W/up.json"
    obj_get "$ukey.manifest.json" "$W/um.json"
    cp "$W/up.json" "$W/up2.json"
    json_edit "$W/up2.json" 'j.counts["public.orders"] += 1'
    cp "$W/um.json" "$W/um2.json"
    json_edit "$W/um2.json" "j.proof.sha256 = '$(sha "$W/up2.json")'; j.proof.size = $(stat -c %s "$W/up2.json")"
    obj_put "$W/up2.json" "$ukey.proof.json"
    obj_put "$W/um2.json" "$ukey.manifest.json"
    od_run "$KIND: an unsigned forged proof is not a pass" 1 proof_verify.yaml --param store="$KIND" --param key="$ukey"
    t_contains "$KIND: ... the count differs" "$T_OUT" "mismatch counts public.orders"
    obj_put "$W/m.json" "$key.manifest.json"

    # ------------------------------------------------------------ bad proofs
    head -c 1000 "$W/p.json" >"$W/ptrunc.json"
    obj_put "$W/ptrunc.json" "$key.proof.json"
    refused "truncated proof" "${KIND}a" "$key" "does not match its manifest"
    obj_put "$W/p2.json" "$key.proof.json"
    refused "replaced proof" "${KIND}a" "$key" "does not match its manifest"
    obj_rm "$key.proof.json"
    refused "missing proof" "${KIND}a" "$key" "but the store has none"
    obj_put "$W/p.json" "$key.proof.json"
    od_run "$KIND: the proof put back verifies again" 0 proof_verify.yaml --param store="${KIND}a" --param key="$key"

    # unsigned dumps whose manifest agrees with a wrong proof
    mismatched() { # NAME JS-ON-PROOF JS-ON-MANIFEST WHY
        cp "$W/up.json" "$W/x.json"
        json_edit "$W/x.json" "$2"
        cp "$W/um.json" "$W/xm.json"
        json_edit "$W/xm.json" "$3; j.proof.sha256 = '$(sha "$W/x.json")'; j.proof.size = $(stat -c %s "$W/x.json")"
        obj_put "$W/x.json" "$ukey.proof.json"
        obj_put "$W/xm.json" "$ukey.manifest.json"
        refused "$1" "$KIND" "$ukey" "$4"
    }
    mismatched "proof of another database" 'j.database = "otherdb"; j.proof.database = "otherdb"' '' \
        "is the proof of database 'otherdb', but the dump is of database 'appdb'"
    mismatched "proof of another dump" 'j.proof.dump = "prod/other.dump"' '' "not of '$ukey'"
    mismatched "proof of an older format (its own)" 'j.proof.format = 0' '' "it is of format 0"
    mismatched "proof of an unknown format (the manifest's)" '' 'j.proof.format = 2' "its proof is of format 2"
    mismatched "not a proof" 'delete j.proof' '' "it is not a drplay proof"
    obj_put "$W/up.json" "$ukey.proof.json"
    obj_put "$W/um.json" "$ukey.manifest.json"

    obj_rm "$ukey.manifest.json"
    refused "no manifest with verify_key" "${KIND}b" "$ukey" "has no manifest, so no signature"

    # ------------------------------------------------------------ no proof
    sleep 1 # a new second: keys are the snapshot time
    od_run "$KIND: dump.create with proof: false" 0 proof_create.yaml --param store="$KIND" --param proof=false
    nkey=$(od_out dump key)
    t_eq "$KIND: no proof output" null "$(od_out dump proof)"
    t_eq "$KIND: no proof object" "" \
        "$(if [[ $KIND == dir ]]; then ls "$OFFSITE_DIR/$nkey.proof.json" 2>/dev/null; else s3_ls S3 "$nkey.proof"; fi)"
done

# a proof that cannot be read (a role that may not read the tables) fails
# the dump: nothing is stored
KIND=dir
pg_sql PG appdb "create role noread login; revoke all on all tables in schema public from public" >/dev/null
files0=$(find "$OFFSITE_DIR" -type f | sort)
sleep 1 # a new second: keys are the snapshot time
OFFSITE_DB_DSN="postgresql://noread@127.0.0.1:$PG_PORT/appdb" \
    od_run "dir: dump.create when the proof cannot be read" 1 proof_create.yaml --param store=dir
t_contains "proof unreadable: the cause is the server's" "$T_OUT" "permission denied"
t_contains "proof unreadable: says nothing was stored" "$T_OUT" "nothing was stored"
t_eq "proof unreadable: no new file, no temporary file" "$files0" "$(find "$OFFSITE_DIR" -type f | sort)"

# a signing key that is not an Ed25519 private key: refused before the dump
files0=$(find "$OFFSITE_DIR" -type f | sort)
OFFSITE_SIGNING_KEY_A="not-a-pem-key-0123456789" od_run "dir: dump.create with an unusable signing_key (exit 4)" 4 \
    proof_create.yaml --param store=dira
t_contains "bad signing_key: named" "$T_OUT" "the signing_key of store 'dira' is not usable"
t_not_contains "bad signing_key: the key is not shown" "$T_OUT" "not-a-pem-key-0123456789"
t_eq "bad signing_key: nothing stored" "$files0" "$(find "$OFFSITE_DIR" -type f | sort)"
