#!/usr/bin/env bash
# tests/demo/demo.sh: `make demo`. Runs the shipped toolbox check on this
# machine and shows where its journal is.
set -euo pipefail
cd "$(dirname "$0")/../.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "== drplay demo: the restore toolbox check (playbooks/toolbox_check.yaml)"
./drplay lint playbooks/toolbox_check.yaml
./drplay run playbooks/toolbox_check.yaml --journal-dir "$work/journal"
./drplay status --journal-dir "$work/journal"
