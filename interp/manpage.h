/*
 * manpage.h: the manual pages drplay(1) and drplay-playbook(5) in roff,
 * generated from the command table and the registry (`drplay manpage`).
 */
#ifndef DRPLAY_MANPAGE_H
#define DRPLAY_MANPAGE_H

#include <stdio.h>

/* One command as main.c's table declares it. */
struct man_cmd {
	const char *name;
	const char *usage;
	const char *help;
};

/* Writes page `section` ("1": the commands cmds[0..n), "5": the playbook
 * format from the registry) to f. Returns 0, or -1 for another section. */
int manpage_print(const char *section, const struct man_cmd *cmds, size_t n, FILE *f);

#endif
