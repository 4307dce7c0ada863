/*
 * procedures.h: the shipped procedures, embedded in the binary at build time.
 * A procedure is a reviewed playbook that a team imports (`import:
 * drplay:NAME@MAJOR`) and binds to its own resources and objectives; its YAML
 * lives in procedures/NAME@MAJOR.yaml in the source tree and is compiled into
 * a generated C file (procedures/embed.sh), so an installed drplay needs no
 * search path and runs the procedure it was built and tested with.
 */
#ifndef DRPLAY_PROCEDURES_H
#define DRPLAY_PROCEDURES_H

struct procedure {
	const char *name;   /* e.g. "database_restore" */
	int major;          /* the major version: incompatible changes get a new one */
	const char *file;   /* its path in the source tree, for diagnostics */
	const char *text;   /* the YAML, NUL-terminated */
};

/* Every shipped procedure, sorted by name then major, ended by an entry whose
 * name is NULL (generated). */
extern const struct procedure procedures[];

#endif
