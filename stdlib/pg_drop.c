/*
 * pg_drop.c: `pg.drop`, the clean-up of a validation run: it drops a
 * database only if this same run created it (dump.restore with into: new
 * records what it creates), and refuses every other database, whatever the
 * playbook says. It is declared destructive, so on a live server it also
 * needs disaster mode; aim it at the throwaway server the copy was made on.
 */
#include <string.h>

#include "family.h"
#include "pg_int.h"

static int do_pg_drop(struct act *a)
{
	struct resource *r = act_resource(a, "target");
	if (!r)
		return ACT_FAIL;
	const char *name = act_str(a, "database");
	if (!act_was_created(a, "database", name))
		return act_fail(a, "refusing to drop database '%s' on %s: this run did not create it (pg.drop removes only databases the same run created, e.g. with dump.restore into: new)",
				name, pg_where(r));
	/* Never drop the database we are connected to: use the resource's own
	 * database for the connection, or "postgres" when that is the one. */
	const char *own = pg_dbname(r);
	PGconn *c = strcmp(own, name) != 0 ? pg_connect(a, r) : pg_connect_db(a, r, "postgres");
	if (!c)
		return ACT_FAIL;
	pg_forget(r, name);
	char *ident = pg_ident(c, name);
	char *sql = xasprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", ident);
	char *what = xasprintf("dropping database '%s'", name);
	PGresult *res = pg_exec(a, c, what, sql);
	free(sql);
	free(what);
	free(ident);
	if (!res)
		return ACT_FAIL;
	PQclear(res);
	act_removed(a, "database", name);
	act_out_str(a, "dropped", name);
	act_log(a, "dropped database '%s' (created by this run)", name);
	act_journal(a, "database_dropped", json_pack("{s:s,s:s}", "database", name, "server", pg_where(r)));
	return ACT_OK;
}

static const struct param_spec pg_drop_params[] = {
	{ .name = "database", .type = T_STRING, .flags = P_REQUIRED,
	  .doc = "the database to drop; it must have been created by this run (e.g. ${steps.restore.database})" },
	{ .name = "target", .type = T_RESOURCE, .flags = P_REQUIRED | P_TARGET, .kind = "postgres",
	  .doc = "the server it is on (a postgres resource; its own database is used for the connection)" },
	{ .name = NULL },
};
static const struct output_spec pg_drop_outputs[] = {
	{ .name = "dropped", .type = T_STRING, .doc = "the database dropped" },
	{ .name = NULL },
};
const struct action_def pg_drop_def = {
	.name = "pg.drop",
	.run = do_pg_drop,
	.flags = A_STATE | A_DESTRUCT,
	.cat = CAT_OTHER,
	.params = pg_drop_params,
	.outputs = pg_drop_outputs,
	.doc = "Drops a database, only if this same run created it (the throwaway copy of a validation run); any other database is refused. Other sessions of it are ended (DROP DATABASE ... WITH (FORCE)).",
};

