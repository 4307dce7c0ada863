#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# tests/integration/examples.sh - the CI and scheduler examples (examples/)
# validate against the schemas their platforms publish, from npm
# (tests/node/validate_examples.mjs: GitHub's workflow parser and schema,
# kubernetes-models, @kubernetes-models/argo-workflows), and broken copies
# of them are rejected, so the validation can fail; and they keep the
# promises README makes: the lint job builds with `make deps-build` only
# and uploads SARIF for pull requests and pushes to main, the validation
# runs on a schedule, no hostPath, every pod non-root with a read-only root
# filesystem, the playbook and parameters they run exist.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
require_drplay
require_node_modules
[[ -d $T_NODE_DIR/node_modules/kubernetes-models && -d $T_NODE_DIR/node_modules/@actions/workflow-parser ]] ||
    die_setup "tests/node/node_modules lacks the schema packages (run: make deps, or: cd tests/node && npm ci)"

E=$ROOT/examples
GH=$E/github-actions/drplay.yml
K8S=$E/kubernetes/cronjob.yaml
ARGO=$E/argo/fleet-validation.yaml
validate() { (cd "$T_NODE_DIR" && node --import ./json_import_hooks.mjs validate_examples.mjs "$@"); }
j() { node "$T_NODE_DIR/yaml2json.js" "$1" --compact; }

t_exit "the examples validate against the published schemas" 0 validate "$GH" "$K8S" "$ARGO"
t_eq "... every document was checked" 4 "$(grep -c '^ok ' <<<"$T_OUT")"

# broken copies: each schema must catch what it is there for
mkdir -p "$T_TMP/github-actions" "$T_TMP/k"
sed 's/^    runs-on: ubuntu-24.04/    run-on: ubuntu-24.04/' "$GH" >"$T_TMP/github-actions/typo.yml"
t_exit "a workflow with a misspelled key is rejected" 1 validate "$T_TMP/github-actions/typo.yml"
t_contains "... naming it" "$T_OUT" "Unexpected value 'run-on'"
sed 's/github.event_name ==/github.event_name ===/' "$GH" >"$T_TMP/github-actions/expr.yml"
t_exit "a workflow with a bad expression is rejected" 1 validate "$T_TMP/github-actions/expr.yml"
sed 's/^  concurrencyPolicy: Forbid.*/  concurrencyPolicy: Never/' "$K8S" >"$T_TMP/k/cronjob.yaml"
t_exit "a CronJob with a concurrencyPolicy Kubernetes does not have is rejected" 1 validate "$T_TMP/k/cronjob.yaml"
t_contains "... by the Kubernetes schema" "$T_OUT" "concurrencyPolicy must be equal to one of the allowed values"
sed 's/^  schedules: .*/  schedule: "30 5 * * *"/' "$ARGO" >"$T_TMP/k/argo.yaml"
t_exit "a CronWorkflow without schedules is rejected" 1 validate "$T_TMP/k/argo.yaml"
t_contains "... by Argo's schema" "$T_OUT" "must have required property schedules"

# ---- the GitHub Actions workflow ----
gh=$(j "$GH")
t_eq "workflow: runs on pull requests, pushes to main and a schedule" 'true true true' \
    "$(jq -r '[(.on.pull_request != null), (.on.push.branches == ["main"]), (.on.schedule | length > 0)] | map(tostring) | join(" ")' <<<"$gh")"
t_eq "workflow: lint builds with make deps-build only (no servers, no clang)" "make deps-build && make -j\"\$(nproc)\" drplay" \
    "$(jq -r '.jobs.lint.steps[] | select(.name // "" | test("^Build")) | .run' <<<"$gh")"
t_eq "workflow: lint runs for pull requests and pushes" "github.event_name == 'pull_request' || github.event_name == 'push'" \
    "$(jq -r '.jobs.lint.if' <<<"$gh")"
t_eq "workflow: the SARIF upload runs even when lint fails" "always()" \
    "$(jq -r '.jobs.lint.steps[] | select(.uses // "" | startswith("github/codeql-action/upload-sarif")) | .if' <<<"$gh")"
t_eq "workflow: ... with security-events: write on that job only" "write null" \
    "$(jq -r '"\(.jobs.lint.permissions["security-events"]) \(.permissions["security-events"])"' <<<"$gh")"
t_eq "workflow: the validation runs on the schedule" "github.event_name == 'schedule' || github.event_name == 'workflow_dispatch'" \
    "$(jq -r '.jobs["nightly-validation"].if' <<<"$gh")"
t_check "workflow: no job runs the full make deps" bash -c "! jq -r '.. | .run? // empty' <<<'$(jq -c . <<<"$gh")' | grep -Eq 'make deps(\$| )'"
t_exit "workflow: its lint command works on the shipped playbooks" 0 bash -c "cd '$ROOT' && '$DRPLAY' lint --format=sarif playbooks/*.yaml >'$T_TMP/drplay.sarif'"
t_eq "... and writes SARIF 2.1.0" 2.1.0 "$(jq -r .version "$T_TMP/drplay.sarif")"

# ---- Kubernetes and Argo ----
for f in "$K8S" "$ARGO"; do
    n=${f#"$E"/}
    doc=$(j "$f" | jq -c 'if type == "array" then . else [.] end')
    t_eq "$n: no hostPath volume" "" "$(jq -c '.. | objects | select(has("hostPath"))' <<<"$doc")"
    t_eq "$n: the pod runs as non-root with the RuntimeDefault seccomp profile" "true RuntimeDefault" \
        "$(jq -r '[.. | objects | select(has("runAsNonRoot"))][0] | "\(.runAsNonRoot) \(.seccompProfile.type)"' <<<"$doc")"
    t_eq "$n: every container: read-only root, no privilege escalation, no capabilities" "ok" \
        "$(jq -r '[.. | objects | select(has("image"))] as $c | if ($c | length) > 0 and ($c | all(.securityContext.readOnlyRootFilesystem == true and .securityContext.allowPrivilegeEscalation == false and .securityContext.capabilities.drop == ["ALL"])) then "ok" else "no" end' <<<"$doc")"
    t_check "$n: /tmp is a writable emptyDir (the root is read-only)" \
        jq -e '[.. | objects | select(has("emptyDir")) | .name] as $e | [.. | objects | select(.mountPath? == "/tmp") | .name] | .[0] as $m | $e | index($m) != null' <<<"$doc"
    t_contains "$n: metrics are pushed to a Pushgateway" "$(cat "$f")" '--data-binary @/tmp/nightly_validation.prom'
    # the playbook and the parameters they pass exist
    for p in $(grep -oE -- '--param [a-z_]+=' "$f" | sed 's/--param //; s/=$//' | sort -u); do
        t_check "$n: --param $p is a parameter of nightly_validation.yaml" \
            jq -e --arg p "$p" '.params | has($p)' <<<"$(j "$ROOT/playbooks/nightly_validation.yaml")"
    done
    t_contains "$n: runs the installed playbook" "$(cat "$f")" /usr/share/drplay/playbooks/nightly_validation.yaml
done
t_check "argo: fans out one validation per database of the list" \
    jq -e '.spec.workflowSpec.templates[] | select(.name == "fleet") | .dag.tasks[0].withParam == "{{workflow.parameters.databases}}"' <<<"$(j "$ARGO")"
t_check "argo: one failure does not stop the others" \
    jq -e '.spec.workflowSpec.templates[] | select(.name == "fleet") | .dag.failFast == false' <<<"$(j "$ARGO")"
t_eq "argo: the fleet list is JSON with a name, prefix and secret each" "3" \
    "$(j "$ARGO" | jq -r '.spec.workflowSpec.arguments.parameters[] | select(.name == "databases") | .value | fromjson | map(select(.name and .prefix and .secret)) | length')"
