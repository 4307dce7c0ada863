#!/usr/bin/env bash
# house.sh: the shape of the code that HACKING.md promises, checked on every
# run of the suite (issue "the house"):
#   - no function in lib/, interp/ or stdlib/ is longer than 120 lines, except
#     those HACKING.md names under "Long functions", with the reason;
#   - no import cycle among the object files: file A imports B when A uses a
#     symbol B defines (nm), and the graph of those edges has no loop (tsort);
#   - the layers include only downwards: lib/ includes nothing of interp/ or
#     stdlib/; stdlib/ includes of interp/ only the action API (action.h);
#     interp/ includes nothing of stdlib/ except main.c's family list;
#   - the registry's tables use designated initializers.
# Each check names the file and line at fault.
set -u
. "$(dirname "$0")/../lib/common.sh"
cd "$ROOT" || die_setup "no repository root"
OBJ=${DRPLAY_HOUSE_OBJDIR:-build/release}
ls "$OBJ"/interp/*.o >/dev/null 2>&1 || die_setup "no objects in $OBJ (make all first)"

# ---- function lengths ----
allowed=$(sed -n '/^## Long functions/,/^## /p' HACKING.md | grep -oE '^- `[A-Za-z_0-9]+`' | tr -d '`- ')
long=$(awk '
	FNR == 1 { sig = ""; start = 0 }
	start == 0 && /^[A-Za-z_].*\(/ && $0 !~ /;[ \t]*$/ { sig = $0; sigline = FNR; next }
	start == 0 && /^\{/ && sig != "" { start = FNR; next }
	start > 0 && /^\}/ {
		n = FNR - start - 1
		name = sig; sub(/\(.*/, "", name); k = split(name, w, /[ \t*]+/)
		if (n > 120) printf "%s %s:%d %d\n", w[k], FILENAME, sigline, n
		start = 0; sig = ""
	}' lib/*.c interp/*.c stdlib/*.c)
bad=""
while read -r name where n; do
	[ -n "$name" ] || continue
	grep -qx "$name" <<<"$allowed" || bad+="$name ($n lines) at $where; "
done <<<"$long"
if [ -z "$bad" ]; then
	t_pass "house: no function over 120 lines but those HACKING.md names"
else
	t_fail "house: no function over 120 lines but those HACKING.md names" "$bad"
fi
# the exceptions HACKING.md names are real, long functions (no stale excuses)
for name in $allowed; do
	if grep -q "^$name " <<<"$long"; then
		t_pass "house: HACKING.md's long function '$name' exists and is long"
	else
		t_fail "house: HACKING.md's long function '$name' exists and is long" "not found over 120 lines: drop it from HACKING.md"
	fi
done

# ---- import cycles (link level) ----
unit() { local u=${1#"$OBJ"/}; u=${u%.o}; case $u in *lazy*) u=lib/lazy ;; esac; printf '%s' "$u"; }
work=$(t_tmpdir house) || die_setup "no temp dir"
defs=$work/defs uses=$work/uses
: >"$defs"; : >"$uses"
for o in "$OBJ"/lib/*.o "$OBJ"/interp/*.o "$OBJ"/stdlib/*.o "$OBJ"/lazy_stubs.o; do
	[ -f "$o" ] || continue
	u=$(unit "$o")
	nm "$o" | awk -v u="$u" -v D="$defs" -v U="$uses" '
		NF == 3 && $2 ~ /^[TDBRV]$/ { print $3, u >> D }
		NF == 2 && $1 == "U" { print u, $2 >> U }'
done
edges=$(awk 'NR == FNR { def[$1] = $2; next } ($2 in def) && def[$2] != $1 { print $1, def[$2] }' "$defs" "$uses" | sort -u)
[ -n "$edges" ] || die_setup "no import edges found in $OBJ"
loops=$(tsort <<<"$edges" 2>&1 >/dev/null)
if [ -z "$loops" ]; then
	t_pass "house: no import cycle among $(awk '{print $1; print $2}' <<<"$edges" | sort -u | wc -l) object files"
else
	t_fail "house: no import cycle among the object files" "$loops"
fi

# ---- includes go downwards ----
inc_bad() { # DIR PATTERN-OF-ALLOWED: includes of "..." in DIR that leave their layer
	grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]+"' "$1"/*.[ch] | grep -E "$2"
}
b=$(inc_bad lib '"\.\./(interp|stdlib)/|"(action|plan|run|run_internal|guard|check|journal|family|pg|pitr|maint)\.h"')
t_eq "house: lib/ includes nothing of interp/ or stdlib/" "" "$b"
b=$(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]+"' stdlib/*.[ch] |
	grep -E '"(\.\./interp/)?(plan|run|run_internal|guard|check|journal|prepare|resolve|proc|summary|lint|eval|diag|describe|registry)\.h"')
t_eq "house: stdlib/ includes of interp/ only the action API" "" "$b"
b=$(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]+"' interp/*.[ch] | grep -v '^interp/main.c:' |
	grep -E '"(\.\./stdlib/)?(family|pg|pg_int|pg_tables|pitr|maint|dump|stores|stepctx)\.h"')
t_eq "house: interp/ includes nothing of stdlib/ (main.c registers the families)" "" "$b"

# ---- designated initializers in the registry's tables ----
b=$(awk '
	/^(static )?const struct (action_def|kind_def|driver_def) [a-z_0-9]+ *= *\{/ { want = 1; at = FILENAME ":" FNR; next }
	want && NF { if ($1 !~ /^\./) print at; want = 0 }' stdlib/*.c)
t_eq "house: every action, kind and driver declaration uses designated initializers" "" "$b"
