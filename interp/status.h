/*
 * status.h: `drplay status`: which run to show, showing it, and following
 * it live (status.c).
 */
#ifndef DRPLAY_STATUS_H
#define DRPLAY_STATUS_H

struct status_opts {
	const char *dir;      /* --journal-dir, or NULL for the default */
	const char *run_id;   /* RUN_ID, or NULL */
	const char *playbook; /* --playbook NAME, or NULL */
	int follow;           /* --follow */
	int json;             /* --json */
	int verify;           /* --verify: check the journal's hash chain (chain.c) */
};

/* Shows the run o picks: RUN_ID's; else the newest run of a playbook (of
 * --playbook NAME when given) by its start, one-step commands (`drplay
 * maintenance on`) only when there is no such run. With follow, prints
 * every event of it as it is journaled until it ends, and returns its exit
 * code (EXIT_INTERRUPTED when its process is gone without an end: killed);
 * else returns 0. EXIT_INVALID when there is no such run. */
int status_show(const struct status_opts *o);

#endif
