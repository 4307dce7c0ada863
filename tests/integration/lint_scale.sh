#!/usr/bin/env bash
# lint_scale.sh: lint stays linear and bounded on hostile, generated files
# (SPEC section 7, "Lint at scale"): 200,000 findings in one file, 50,000 of
# four kinds with "did you mean" suggestions, 20,000 maintenance steps, and a
# requires: graph with 2^60 paths. Each must finish (a 60 s guard against a
# hang, not a speed test: `make bench` measures lint_50k_errors), count every
# finding, and print at most 1,000 per file with the count of the rest.
set -u
. "$(dirname "$0")/../lib/common.sh"
. "$T_LIB/bigplaybooks.sh"
require_drplay
work=$(t_tmpdir lint) || die_setup "no temp dir"

lint() { timeout 60 "$DRPLAY" lint "$@"; }

gen_unknown_keys 200000 "$work/keys.yaml"
t_exit "200,000 unknown parameters: lint finishes with errors" 1 lint "$work/keys.yaml"
t_contains "... every one counted" "$T_OUT" "200000 errors, 0 warnings"
t_eq "... 1,000 printed, each with its source line and caret" 1000 "$(grep -c '\[unknown-param\]' <<<"$T_OUT")"
t_contains "... and the rest counted, not printed" "$T_OUT" \
	"keys.yaml: note: 199000 more errors and 0 more warnings not shown (the first 1000 of this file are above; fix them first)"
t_contains "... the first is the first in the file" "$(grep -m1 unknown-param <<<"$T_OUT")" "keys.yaml:8:7:"

t_exit "json: 200,000 findings" 1 lint --format=json "$work/keys.yaml"
t_eq "json: 1,000 listed, 199,000 omitted, 200,000 counted" "1000 199000 200000" \
	"$(jq -r '"\(.diagnostics | length) \(.omitted) \(.errors)"' <<<"$T_OUT")"
t_exit "sarif: 200,000 findings" 1 lint --format=sarif "$work/keys.yaml"
printf '%s\n' "$T_OUT" >"$work/keys.sarif"
t_eq "sarif: 1,000 results and a notification of the rest" "1000 199000 more results not listed (at most 1000 per file)" \
	"$(jq -r '.runs[0] | "\(.results | length) \(.invocations[0].toolExecutionNotifications[0].message.text)"' "$work/keys.sarif")"
require_node_modules
t_check "sarif: the capped log validates against the official SARIF 2.1.0 schema" \
	node "$T_NODE_DIR/validate-json.js" "$ROOT/tests/schemas/sarif-schema-2.1.0.json" "$work/keys.sarif"

gen_mixed_errors 50000 "$work/mixed.yaml"
t_exit "50,000 findings of four kinds: lint finishes" 1 lint "$work/mixed.yaml"
t_contains "... every one counted" "$T_OUT" "50000 errors, 0 warnings"
t_contains "... early ones still get a suggestion" "$T_OUT" "unknown action 'lgo' (did you mean 'log'?)"
t_contains "... and the unknown step reference too" "$T_OUT" "reference to unknown step 'z0' (did you mean 's0'?)"

gen_maintenance_steps 20000 "$work/maint.yaml"
t_exit "20,000 maintenance steps: lint finishes" 1 lint "$work/maint.yaml"
t_contains "... each missing preflight and off counted" "$T_OUT" "40000 errors, 0 warnings"

gen_requires_dag 60 "$work/dag.yaml"
t_exit "a requires: graph with 2^60 paths: lint finishes" 1 lint "$work/dag.yaml"
t_contains "... and finds no verify gate on any path" "$T_OUT" "[maintenance-off-unverified]"
t_contains "... exactly once" "$T_OUT" "1 error, 0 warnings"
