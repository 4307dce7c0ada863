#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# evidence_pitr.sh: RTO by phase on a real point-in-time restore (the local
# pitr driver on a PostgreSQL 15 with a WAL archive and a pg_basebackup base
# backup): the restored database verified exactly against a reference
# database; the phases present in every report format and summing to the
# RTO; WAL replay timed; the Prometheus lines parsed; the evidence records
# the PostgreSQL tools the run used and verifies with its journal; the
# journal's chain verifies.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/pg.sh
. "$T_LIB/pg.sh"
require_drplay

PB=$ROOT/tests/integration/playbooks/evidence/pitr.yaml
J=$T_TMP/journal
out=$(t_tmpdir evpitr) || die_setup "no temp dir"
pg_start PG --archive
export DB_DSN=$PG_DSN PG_DATA PG_ARCHIVE DRPLAY_TOKEN=pitr-token FLAG_FILE=$out/maintenance.json
export BASE_BACKUPS=$PG_DIR/base_backups
mkdir -p "$BASE_BACKUPS" && chown postgres: "$BASE_BACKUPS" 2>/dev/null
pg_createdb PG ref || die_setup "cannot create database ref"
export REF_DSN=${PG_DSN%/postgres}/ref
[[ $REF_DSN != "$PG_DSN" ]] || die_setup "cannot derive the ref DSN from '$PG_DSN'"
mk='create table t (id int primary key, at timestamptz not null, note text)'
row() { echo "insert into t values ($1, '2026-01-01 00:00:0$1+00', 'row $1')"; }
pg_sql PG postgres "$mk" >/dev/null && pg_sql PG ref "$mk" >/dev/null || die_setup "cannot create table t"
pg_sql PG ref "$(row 1); $(row 2)" >/dev/null
pg_sql PG postgres "$(row 1)" >/dev/null
pg_as_postgres "$PGBIN/pg_basebackup" -D "$BASE_BACKUPS/nightly" -X stream -c fast -h "$PG_HOST" -p "$PG_PORT" \
	-U postgres >/dev/null 2>&1 || die_setup "pg_basebackup failed"
pg_sql PG postgres "$(row 2)" >/dev/null
sleep 1.1
T1=$(date -u +%FT%TZ)
sleep 1.1
pg_sql PG postgres "$(row 3)" >/dev/null

t_exit "a PITR drill to T1 with evidence succeeds" 0 "$DRPLAY" run "$PB" --mode=disaster --authorize=pitr-token \
	--param to="$T1" --param out="$out/r" --journal-dir "$J"
t_eq "the restored database has the rows before T1" "1,2" "$(pg_sql PG postgres "select string_agg(id::text, ',' order by id) from t")"
js=$(ls "$out"/r/drplay-*.json | grep -v '[.]evidence[.]json$')
ev=$(ls "$out"/r/*.evidence.json)
jsget() { node -e 'const o=JSON.parse(require("fs").readFileSync(process.argv[1]));console.log(eval(process.argv[2]))' "$1" "$2"; }
ph='o.summary.rto_phases'
t_eq "json: verified exactly against the reference" "true" "$(jsget "$js" 'o.summary.verified_exactly')"
t_check "json: WAL replay took time ($(jsget "$js" "$ph.replay_s")s)" node -e "process.exit($(jsget "$js" "$ph.replay_s") > 0 ? 0 : 1)"
t_check "json: restore took time ($(jsget "$js" "$ph.restore_s")s)" node -e "process.exit($(jsget "$js" "$ph.restore_s") > 0 ? 0 : 1)"
t_check "json: verification took time ($(jsget "$js" "$ph.verification_s")s)" node -e "process.exit($(jsget "$js" "$ph.verification_s") > 0 ? 0 : 1)"
t_eq "json: nothing downloaded (a local archive)" "0" "$(jsget "$js" "$ph.download_s")"
t_eq "json: the phases sum to the RTO (the maintenance window), other included" "true" \
	"$(jsget "$js" "Math.abs($ph.download_s+$ph.restore_s+$ph.replay_s+$ph.verification_s+$ph.other_s - o.summary.rto_s) < 0.01 && Math.abs($ph.maintenance_window_s - o.summary.rto_s) < 0.001")"
t_eq "json: replay is part of the restore step's time" "true" \
	"$(jsget "$js" "(() => { const s = o.run.steps.find(s => s.id == 'restore'); return Math.abs(s.phases.replay_s + $ph.restore_s - s.duration_s) < 0.01 && s.outputs.replay_seconds == s.phases.replay_s; })()")"
t_eq "json: the snapshot and maintenance steps fall in other" "true" \
	"$(jsget "$js" "$ph.other_s >= o.run.steps.find(s => s.id == 'safety').duration_s")"
t_eq "json: the restored point is the last replayed transaction, RPO measured from it" "true" \
	"$(jsget "$js" "o.summary.restored_point == o.run.steps.find(s => s.id == 'restore').outputs.recovered_to.replace(/\.[0-9]+Z$/, 'Z') && o.summary.rpo_s > 0")"
md=$(cat "$out"/r/*.md)
t_contains "markdown: RTO by phase" "$md" "| RTO by phase | download 0.0s; restore "
t_contains "markdown: WAL replay" "$md" "; WAL replay "
t_contains "markdown: verified exactly" "$md" "| verified exactly | yes"
xml=$(ls "$out"/r/*.xml)
t_check "junit: well-formed" xmllint --noout "$xml"
t_contains "junit: the replay phase as a property" "$(cat "$xml")" '<property name="rto_phase_replay_s" value="'
prom=$out/r/metrics/drplay.prom
lbl='playbook="evidence-pitr",mode="disaster"'
for p in download restore replay verification other maintenance_window; do
	t_check "prometheus: phase $p parses as a number" bash -c \
		"grep -qE '^drplay_rto_phase_seconds\{$lbl,phase=\"$p\"\} [0-9]+\.[0-9]{3}$' '$prom'"
done
t_eq "prometheus: the replay line is the JSON's replay (to the ms)" \
	"$(jsget "$js" "$ph.replay_s.toFixed(3)")" \
	"$(sed -n "s/^drplay_rto_phase_seconds{$lbl,phase=\"replay\"} //p" "$prom")"
t_check "prometheus: the last verified restore is set" grep -qE "^drplay_last_verified_restore_timestamp_seconds\{$lbl\} [0-9]+\.[0-9]{3}$" "$prom"
t_eq "evidence: the PostgreSQL tools it ran, with versions" "true" \
	"$(jsget "$ev" '["pg_ctl", "pg_basebackup", "pg_controldata"].every(k => /PostgreSQL/.test(o.tools[k].version))')"
t_exit "evidence verify with the journal" 0 "$DRPLAY" evidence verify "$ev" --journal "$(ls "$J"/*.jsonl)"
t_exit "status --verify: the PITR run's journal is intact" 0 "$DRPLAY" status --verify --journal-dir "$J"
