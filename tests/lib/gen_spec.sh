#!/usr/bin/env bash
# gen_spec.sh: regenerates the parts of SPEC.md and grammar/ that come from the
# registry (`make spec`). tests/integration/spec_sync.sh checks they are current.
set -eu
cd "$(dirname "$0")/../.."
./drplay schema >grammar/playbook.schema.json
gen=$(mktemp)
./drplay actions --format=markdown >"$gen"
awk -v gen="$gen" '
	/<!-- BEGIN GENERATED ACTIONS -->/ { print; while ((getline l < gen) > 0) print l; skip = 1; next }
	/<!-- END GENERATED ACTIONS -->/ { skip = 0 }
	!skip { print }
' SPEC.md >SPEC.md.new
mv SPEC.md.new SPEC.md
rm -f "$gen"
echo "SPEC.md and grammar/playbook.schema.json regenerated"
