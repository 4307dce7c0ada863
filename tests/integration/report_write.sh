#!/usr/bin/env bash
# report_write.sh: report.write's four formats from a real run: what the
# Markdown says, that the JSON, JUnit XML and Prometheus textfile are valid
# and right, that secrets are masked, and that a failed run keeps the last
# success time in the metrics.
set -u
. "$(dirname "$0")/../lib/common.sh"
require_drplay
TDRPLAY=${DRPLAY_TEST_BIN:-$ROOT/tests/drplay-test}
PB=$ROOT/tests/integration/playbooks/report/drill.yaml
out=$(t_tmpdir report) || die_setup "no temp dir"
export REPORT_TOKEN=tok-report-secret-$RANDOM$RANDOM
J=$out/journal
jsget() { node -e 'const o=JSON.parse(require("fs").readFileSync(process.argv[1]));console.log(eval(process.argv[2]))' "$1" "$2"; }

t_exit "a passing drill writes its report" 0 "$TDRPLAY" run "$PB" --param out="$out/ok" --journal-dir "$J"
md=$(ls "$out"/ok/*.md)
t_contains "markdown: the title" "$(cat "$md")" "# Restore drill of the shop database"
t_contains "markdown: what was restored, from which source" "$(cat "$md")" "offsite dump daily/2026-11-29.dump"
t_contains "markdown: the safety snapshot" "$(cat "$md")" "main-before-restore-20261129T060000Z"
t_contains "markdown: the maintenance window" "$(cat "$md")" "on at step \`maint_on\`, off at step \`maint_off\`"
t_contains "markdown: RTO against the objective" "$(cat "$md")" "objective 15m: met"
t_contains "markdown: RPO against the objective" "$(cat "$md")" "objective 1h: MISSED"
t_contains "markdown: the three-state count table" "$(cat "$md")" "| public.orders | 2000 | 1900 | 2000 | **no** |"
t_contains "markdown: the freshness table" "$(cat "$md")" "| public.orders | 2026-11-29T05:59:00Z | 2026-11-29T04:30:00Z | 2026-11-29T05:59:00Z | **no** |"
t_contains "markdown: a state without checksums does not count as a difference" "$(cat "$md")" "| public.orders | 0123456789ab (2000 rows) | (not captured) | 0123456789ab (2000 rows) | yes |"
t_exit "three states named RESTORED and EXPECTED: a report" 0 "$DRPLAY" run "$ROOT/tests/integration/playbooks/report/restored_expected.yaml" \
	--param out="$out/three" --journal-dir "$J"
t_contains "markdown: the table marks RESTORED against EXPECTED" "$(cat "$out/three/three.md")" "| table | EXPECTED | BASELINE | RESTORED | RESTORED = EXPECTED |"
t_contains "markdown: ... a repaired table is yes, whatever the damaged baseline says" "$(cat "$out/three/three.md")" "| public.orders | 2000 | 400 | 2000 | yes |"
t_contains "markdown: ... a table the restore got wrong is no" "$(cat "$out/three/three.md")" "| public.users | 50 | 50 | 49 | **no** |"
t_contains "markdown: every step's timing" "$(cat "$md")" "| 6 | \`maint_off\` | test.maint_off | ok |"
t_not_contains "markdown: the secret is masked" "$(cat "$md")" "$REPORT_TOKEN"
t_contains "markdown: ... shown as ***" "$(cat "$md")" "| restored: token_check | *** |"
js=$(ls "$out"/ok/*.json)
t_eq "json: RPO in seconds (maintenance on minus the recovered point)" "true" \
	"$(jsget "$js" 'o.summary.rpo_s > 3600 && o.summary.rpo_s < 86400*400')"
t_eq "json: RPO objective missed" "missed" "$(jsget "$js" 'o.summary.rpo_objective.toLowerCase()')"
t_eq "json: three states" "BASELINE,POST-OFFSITE,POST-RECOVERY" "$(jsget "$js" 'Object.keys(o.states).join(",")')"
t_eq "json: maintenance not left on" "false" "$(jsget "$js" 'o.summary.maintenance.still_on')"
t_not_contains "json: no secret" "$(cat "$js")" "$REPORT_TOKEN"
xml=$(ls "$out"/ok/*.xml)
t_check "junit: well-formed XML" xmllint --noout "$xml"
t_contains "junit: one test case per step" "$(cat "$xml")" 'tests="6" failures="0"'
prom=$out/ok/metrics/drplay.prom
t_contains "prometheus: last run" "$(cat "$prom")" 'drplay_last_run_timestamp_seconds{playbook="report_drill",mode="validation"}'
t_contains "prometheus: success" "$(cat "$prom")" 'drplay_last_run_success{playbook="report_drill",mode="validation"} 1'
t_contains "prometheus: rto" "$(cat "$prom")" 'drplay_rto_seconds{playbook="report_drill",mode="validation"}'
t_contains "prometheus: rpo" "$(cat "$prom")" 'drplay_rpo_seconds{playbook="report_drill",mode="validation"}'
t_contains "prometheus: verify failures" "$(cat "$prom")" 'drplay_verify_failures{playbook="report_drill",mode="validation"} 0'
success=$(sed -n 's/^drplay_last_success_timestamp_seconds{[^}]*} //p' "$prom")
t_check "prometheus: every sample line is well formed" bash -c \
	"grep -v '^#' '$prom' | grep -vE '^[a-z_]+\{[a-z]+=\"[^\"]*\"(,[a-z]+=\"[^\"]*\")*\} [0-9.]+$' | { ! grep -q .; }"

# A failed verification: maintenance stays on, the report says so, and the
# metrics keep the time of the last success.
sleep 1
t_exit "a failing drill still writes its report (always)" 1 "$TDRPLAY" run "$PB" --param out="$out/ok" \
	--param fail_verify=true --journal-dir "$J"
md=$(ls -t "$out"/ok/*.md | head -n1)
t_contains "markdown: the failure" "$(cat "$md")" "**FAILED**"
t_contains "markdown: maintenance still ON" "$(cat "$md")" "**still ON**"
t_contains "markdown: the skipped maintenance_off and why" "$(cat "$md")" "| \`maint_off\` | test.maint_off | skipped |"
xml=$(ls -t "$out"/ok/*.xml | head -n1)
t_contains "junit: the failure is a failure" "$(cat "$xml")" 'failures="1"'
t_contains "junit: ... with its message" "$(cat "$xml")" "failure requested by the test"
t_contains "junit: skipped steps are skipped" "$(cat "$xml")" "<skipped message="
t_check "junit: still well-formed" xmllint --noout "$xml"
t_contains "prometheus: failed run" "$(cat "$prom")" 'drplay_last_run_success{playbook="report_drill",mode="validation"} 0'
t_contains "prometheus: last success kept from the earlier run" "$(cat "$prom")" "drplay_last_success_timestamp_seconds{playbook=\"report_drill\",mode=\"validation\"} $success"
t_contains "prometheus: verify failures counted" "$(cat "$prom")" 'drplay_verify_failures{playbook="report_drill",mode="validation"} 1'

t_exit "an unwritable report path fails the report step" 1 "$TDRPLAY" run "$PB" --param out=/proc/nope --journal-dir "$J"
t_contains "... naming the path and what to check" "$T_OUT" "cannot write the report '/proc/nope"
