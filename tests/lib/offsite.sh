# shellcheck shell=bash source-path=SCRIPTDIR
# tests/lib/offsite.sh - helpers for the off-site store tests (dump.*, offsite.*).
# Source after common.sh, pg.sh and s3.sh.
#
#   offsite_env PG S3 [KEYID]   export the OFFSITE_* variables the playbooks in
#                          tests/integration/playbooks/offsite/ read: the database
#                          appdb on cluster PG (OFFSITE_DB_DSN; OFFSITE_SCRATCH_DSN
#                          = the same server's database `scratch`), the store S3
#                          (nginx endpoint) with KEYID (default: the read-write
#                          key), prefix prod, OFFSITE_DIR = an empty directory, and
#                          the tunables OFFSITE_RETRIES (5), OFFSITE_READ_TIMEOUT
#                          (60s), OFFSITE_PART_MB (16), OFFSITE_PAGE (1000)
#   od_run NAME RC PLAYBOOK [drplay run args...]
#                          run a playbook of that folder with a fresh journal; pass
#                          when it exits RC (T_OUT = output, T_RC = exit code,
#                          OD_JOURNAL = the journal file)
#   od_out STEP FIELD      an output of STEP from OD_JOURNAL (strings raw, other
#                          values as JSON; empty when absent)
#   od_outcome STEP        STEP's outcome in OD_JOURNAL (ok, failed, skipped, ...)
#   od_events EVENT        the JSON lines of OD_JOURNAL's EVENT events
#   od_json FILE EXPR      evaluate a JS expression on the JSON in FILE (as `j`)
#   od_dbs PG              the databases of cluster PG, one per line, sorted

OD_PB=$ROOT/tests/integration/playbooks/offsite
OD_JOURNAL=

offsite_env() { # PG S3 [KEYID]
    local pg=$1 s3=$2 key=${3:-} v
    v="${pg}_PORT"
    export OFFSITE_DB_DSN="postgresql://postgres@127.0.0.1:${!v}/appdb"
    v="${s3}_ENDPOINT"
    export OFFSITE_S3_ENDPOINT=${!v}
    v="${s3}_BUCKET"
    export OFFSITE_S3_BUCKET=${!v}
    v="${s3}_RW_KEY"
    export OFFSITE_S3_KEY=${key:-${!v}}
    v="${s3}_SECRET"
    export OFFSITE_S3_SECRET=${!v}
    v="${pg}_PORT"
    export OFFSITE_SCRATCH_DSN="postgresql://postgres@127.0.0.1:${!v}/scratch"
    export OFFSITE_PREFIX=prod OFFSITE_RETRIES=5 OFFSITE_READ_TIMEOUT=60s OFFSITE_PART_MB=16 OFFSITE_PAGE=1000
    OFFSITE_DIR=$(t_tmpdir dirstore) || die_setup "cannot create a directory store"
    export OFFSITE_DIR
}

od_run() { # NAME RC PLAYBOOK [args...]
    local name=$1 rc=$2 pb=$3 jd
    shift 3
    jd=$(mktemp -d "$T_TMP/journal.XXXXXX") || die_setup "cannot create a journal dir"
    t_exit "$name" "$rc" "$DRPLAY" run "$OD_PB/$pb" --journal-dir "$jd" "$@"
    OD_JOURNAL=$(ls "$jd"/*.jsonl 2>/dev/null | head -n1)
    printf '%s\n' "$T_OUT" >&2
}

od_out() { # STEP FIELD
    [[ -n $OD_JOURNAL && -f $OD_JOURNAL ]] || return 0
    node -e '
const fs = require("fs");
const [f, step, field] = process.argv.slice(1);
for (const l of fs.readFileSync(f, "utf8").split("\n")) {
  if (!l) continue;
  const e = JSON.parse(l);
  if (e.event === "step_end" && e.step === step && e.outputs && field in e.outputs) {
    const v = e.outputs[field];
    console.log(typeof v === "string" ? v : JSON.stringify(v));
  }
}' "$OD_JOURNAL" "$1" "$2"
}

od_outcome() { # STEP
    [[ -n $OD_JOURNAL && -f $OD_JOURNAL ]] || return 0
    node -e '
const fs = require("fs");
for (const l of fs.readFileSync(process.argv[1], "utf8").split("\n")) {
  if (!l) continue;
  const e = JSON.parse(l);
  if ((e.event === "step_end" || e.event === "step_skip") && e.step === process.argv[2])
    console.log(e.event === "step_skip" ? "skipped" : e.outcome);
}' "$OD_JOURNAL" "$1"
}

od_events() { # EVENT
    [[ -n $OD_JOURNAL && -f $OD_JOURNAL ]] || return 0
    grep "\"event\":\"$1\"" "$OD_JOURNAL" || true
}

od_json() { # FILE EXPR
    node -e '
const fs = require("fs");
const j = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
const v = eval(process.argv[2]);
console.log(typeof v === "string" ? v : JSON.stringify(v));' "$1" "$2"
}

od_dbs() { # PG
    pg_sql "$1" postgres "select datname from pg_database order by 1"
}
