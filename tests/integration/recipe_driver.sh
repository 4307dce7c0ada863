#!/usr/bin/env bash
# tests/integration/recipe_driver.sh - HACKING.md's recipe "add a driver",
# followed: stdlib/testing_maint.c declares the maintenance driver `memory`
# in one file, compiled into tests/drplay-test alone, and names it nowhere
# else. Registered from that file, the driver must appear everywhere the
# registry is described - `drplay actions` as text and JSON, the JSON Schema,
# the Markdown that generates SPEC.md's reference (generated output, not the
# committed SPEC) - be checked like the shipped drivers (its required field,
# no field of another driver), and work through maintenance.on / .status. The
# shipped ./drplay knows none of it.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
require_drplay
TDRPLAY=${DRPLAY_TEST_BIN:-$ROOT/tests/drplay-test}
[ -x "$TDRPLAY" ] || die_setup "$TDRPLAY is not built (make all)"
work=$(t_tmpdir recipe) || die_setup "no temp dir"

# ---- one file ----
files=$(grep -rl 'maint_memory_driver\|"memory"' "$ROOT/stdlib" "$ROOT/interp" "$ROOT/lib" | sed "s|$ROOT/||" | sort | tr '\n' ' ')
t_eq "recipe: the driver is named in one file only" "stdlib/testing_maint.c " "$files"

# ---- drplay actions (text) ----
t_exit "recipe: actions maintenance (text)" 0 "$TDRPLAY" actions maintenance
t_contains "recipe: text lists the driver and what it needs" "$T_OUT" "    memory           needs cell"
t_contains "recipe: text lists its field, prefixed with the driver" "$T_OUT" "memory: the name of the flag in the process"
t_contains "recipe: text lists it among the driver field's values" "$T_OUT" "one of file|http|memory|postgres|redis"
t_exit "recipe: the shipped binary (text)" 0 "$DRPLAY" actions maintenance
t_not_contains "recipe: the shipped binary knows no memory driver" "$T_OUT" "memory"

# ---- drplay actions (JSON) ----
"$TDRPLAY" actions maintenance --format=json >"$work/kind.json"
t_eq "recipe: JSON: the driver with its doc and field" 'memory|test-only: a flag kept in the drplay process|cell:string:true,delay:duration:false' \
	"$(node -e 'const k=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")).kinds[0];const d=k.drivers.find(x=>x.name==="memory");console.log([d.name,d.doc,d.fields.map(f=>f.name+":"+f.type+":"+f.required).join(",")].join("|"))' "$work/kind.json")"
t_eq "recipe: JSON: the kind's driver field allows it" "true" \
	"$(node -e 'const k=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")).kinds[0];console.log(k.fields.find(f=>f.name==="driver").allowed.includes("memory"))' "$work/kind.json")"

# ---- the JSON Schema ----
"$TDRPLAY" schema >"$work/schema.json"
t_eq "recipe: schema: the driver and its fields in the maintenance kind" "true true true" \
	"$(node -e 'const s=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));const k=s.$defs.resource.allOf.find(x=>x.if.properties.kind.const==="maintenance").then.properties;console.log(k.driver.anyOf[0].enum.includes("memory"),!!k.cell,!!k.delay)' "$work/schema.json")"
cat >"$work/mem.yaml" <<'EOF'
drplay: 1
resources:
  site: {kind: maintenance, driver: memory, fail: closed, cell: site, delay: 30ms}
steps:
  - {id: status, action: maintenance.status, with: {switch: site}}
EOF
t_check "recipe: schema: a playbook using the driver validates" node "$T_NODE_DIR/validate-json.js" "$work/schema.json" "$work/mem.yaml"
"$DRPLAY" schema >"$work/shipped.json"
t_check "recipe: the committed schema is the shipped binary's (no test driver in it)" cmp -s "$work/shipped.json" "$ROOT/grammar/playbook.schema.json"

# ---- the generated SPEC reference ----
"$TDRPLAY" actions --format=markdown >"$work/spec.md"
t_contains "recipe: SPEC reference: the driver's row" "$(cat "$work/spec.md")" "| \`memory\` | \`cell\` | \`delay\` | test-only: a flag kept in the drplay process |"
t_contains "recipe: SPEC reference: its field in the kind's table" "$(cat "$work/spec.md")" "| \`cell\` | string | no |  | memory: the name of the flag in the process"
t_not_contains "recipe: the committed SPEC.md has no test driver" "$(cat "$ROOT/SPEC.md")" "| \`memory\` |"

# ---- checked like the shipped drivers ----
t_exit "recipe: lint: a good switch" 0 "$TDRPLAY" lint "$work/mem.yaml"
cat >"$work/bad.yaml" <<'EOF'
drplay: 1
resources:
  site: {kind: maintenance, driver: memory, fail: closed, path: /tmp/x.json}
steps:
  - {id: status, action: maintenance.status, with: {switch: site}}
EOF
t_exit "recipe: lint: a switch without the driver's field" 1 "$TDRPLAY" lint "$work/bad.yaml"
t_contains "recipe: ... names the field it needs" "$T_OUT" "the memory driver needs the field 'cell'"
t_contains "recipe: ... refuses another driver's field" "$T_OUT" "field 'path' belongs to the file driver, and this switch uses the memory driver; remove it"
t_exit "recipe: the shipped binary refuses the driver" 1 "$DRPLAY" lint "$work/mem.yaml"
t_contains "recipe: ... as a value not allowed" "$T_OUT" "is 'memory', which is not one of: file, http, postgres, redis"

# ---- and it works ----
t_exit "recipe: maintenance on through the driver" 0 "$TDRPLAY" maintenance on "$work/mem.yaml" --switch site --journal-dir "$work/j"
t_contains "recipe: ... read back after the driver's delay" "$T_OUT" "switch 'site' (memory, fail: closed) is ON, confirmed by reading it back"
t_exit "recipe: maintenance status through the driver (a new process: off)" 0 "$TDRPLAY" maintenance status "$work/mem.yaml" --switch site --journal-dir "$work/j"
t_contains "recipe: ... says where the flag lives" "$T_OUT" "switch 'site' (memory, fail: closed) is OFF"
