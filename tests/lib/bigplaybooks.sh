# shellcheck shell=bash
# tests/lib/bigplaybooks.sh: generated hostile playbooks for the lint scale
# test (tests/integration/lint_scale.sh) and bench (tests/bench/bench_core.sh).
# Each writes FILE and prints nothing; awk keeps them fast on a bare machine.

# gen_mixed_errors N FILE: N errors of four kinds, N/4 of each: an unknown
# action (with a close name, so "did you mean" is computed), a duplicate step
# id, a reference to an unknown step and one to a later step.
gen_mixed_errors() {
	awk -v n="$1" 'BEGIN {
		print "drplay: 1"; print "name: mixed"; print "steps:"
		for (i = 0; i < n / 4; i++) {
			printf "  - {id: s%d, action: lgo, with: {message: x}}\n", i
			printf "  - {id: s%d, action: log, with: {message: x}}\n", i
			printf "  - {id: t%d, action: log, with: {message: \"${steps.z%d.outcome}\"}, when: \"steps.t%d.outcome == 1\"}\n", i, i, i + 1
		}
	}' >"$2"
}

# gen_unknown_keys N FILE: one step with N parameters its action does not take.
gen_unknown_keys() {
	awk -v n="$1" 'BEGIN {
		print "drplay: 1"; print "name: keys"; print "steps:"
		print "  - id: a"; print "    action: log"; print "    with:"; print "      message: x"
		for (i = 0; i < n; i++) printf "      p%d: 1\n", i
	}' >"$2"
}

# gen_maintenance_steps N FILE: N maintenance.on steps with no preflight gate
# and no maintenance.off, each followed by a step that requires it.
gen_maintenance_steps() {
	awk -v n="$1" 'BEGIN {
		print "drplay: 1"; print "name: maint"
		print "resources:"; print "  site: {kind: maintenance, driver: file, path: /nonexistent/flag.json, fail: open}"
		print "steps:"
		for (i = 0; i < n; i++) {
			printf "  - {id: m%d, action: maintenance.on, with: {switch: site}}\n", i
			printf "  - {id: l%d, action: log, with: {message: x}, requires: [m%d]}\n", i, i
		}
	}' >"$2"
}

# gen_requires_dag N FILE: N steps, each requiring the two before it, then a
# maintenance.off that requires the last two: 2^N paths through requires.
gen_requires_dag() {
	awk -v n="$1" 'BEGIN {
		print "drplay: 1"; print "name: dag"
		print "resources:"; print "  site: {kind: maintenance, driver: file, path: /nonexistent/flag.json, fail: open}"
		print "steps:"
		print "  - {id: s0, action: log, with: {message: x}}"
		print "  - {id: s1, action: log, with: {message: x}}"
		for (i = 2; i < n; i++) printf "  - {id: s%d, action: log, with: {message: x}, requires: [s%d, s%d]}\n", i, i - 1, i - 2
		printf "  - {id: off, action: maintenance.off, with: {switch: site}, requires: [s%d, s%d]}\n", n - 1, n - 2
	}' >"$2"
}
