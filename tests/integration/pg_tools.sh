#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# tests/integration/pg_tools.sh - where the dump family finds pg_dump,
# pg_restore and psql (SPEC 8.5): a postgres resource's bin_dir, else
# DRPLAY_PG_BINDIR, else the default search; a declared directory without
# the tool is refused before anything changes, naming the directory and the
# version to install. (That a client older than the server is refused is
# tests/unit/test_offsite.c's: the machine has one PostgreSQL version.)
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/pg.sh
. "$T_LIB/pg.sh"
require_drplay

pg_start PG
pg_load_fixture PG appdb
export TOOLS_DSN="${PG_DSN%/postgres}/appdb" TOOLS_STORE=$T_TMP/store
mkdir -p "$TOOLS_STORE"
J=$T_TMP/journal
run() { rm -rf "${TOOLS_STORE:?}"/*; "$DRPLAY" run "$ROOT/tests/integration/playbooks/pg_tools/dump.yaml" --journal-dir "$J" "$@"; }
out() { jq -r --arg s "$1" --arg k "$2" 'select(.event=="step_end" and .step==$s) | .outputs[$k] // empty' "$(ls -t "$J"/*.jsonl | head -1)"; }
dbs() { pg_sql PG postgres "select string_agg(datname, ',' order by datname) from pg_database"; }
major=$(pg_sql PG postgres "show server_version_num" | awk '{ print int($1 / 10000) }')
real=$(dirname "$(readlink -f "$(command -v pg_dump)")")
[[ -x /usr/lib/postgresql/$major/bin/pg_dump ]] && real=/usr/lib/postgresql/$major/bin

# bin_dir naming a directory of this server's tools (links to the real ones)
B=$T_TMP/bin
mkdir -p "$B" && for t in pg_dump pg_restore psql; do ln -s "$real/$t" "$B/$t"; done
t_exit "bin_dir with the tools: dump and restore" 0 run --param bin_dir="$B"
t_check "... pg_dump's version is the server's major ($(out dump pg_dump_version))" \
    grep -q "^$major\." <<<"$(out dump pg_dump_version)"
t_check "... the restore made a new database" test -n "$(out restore database)"

# a declared directory without the tool: refused before pg_dump, nothing stored
E=$T_TMP/empty
mkdir -p "$E"
t_exit "bin_dir without pg_dump: dump.create fails" 1 run --param bin_dir="$E"
t_contains "... naming the directory, the resource and the version to install" "$T_OUT" \
    "bin_dir '$E' of resource 'db' has no executable pg_dump; name the directory of the PostgreSQL $major client tools or newer"
t_eq "... nothing stored" "" "$(find "$TOOLS_STORE" -type f)"
DRPLAY_PG_BINDIR=$E t_exit "DRPLAY_PG_BINDIR without pg_dump: refused too" 1 run
t_contains "... naming DRPLAY_PG_BINDIR" "$T_OUT" "DRPLAY_PG_BINDIR '$E' has no executable pg_dump"
DRPLAY_PG_BINDIR=$E t_exit "bin_dir wins over DRPLAY_PG_BINDIR" 0 run --param bin_dir="$B" --param restore=false

# pg_dump there but no pg_restore: the restore is refused before it creates a database
rm "$B/pg_restore"
DBS0=$(dbs)
t_exit "bin_dir without pg_restore: dump.restore fails before changing anything" 1 run --param bin_dir="$B"
t_contains "... naming pg_restore" "$T_OUT" "has no executable pg_restore"
t_eq "... and created no database" "$(dbs)" "$DBS0"
t_exit "no bin_dir: the default search finds tools new enough" 0 run --param restore=false
