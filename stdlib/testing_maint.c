/*
 * testing_maint.c: a maintenance driver compiled only into the test build
 * (tests/drplay-test; the Makefile builds stdlib/testing*.c into it alone),
 * and the executable form of HACKING.md's recipe "add a driver": this file
 * is the only one that names it. It declares its fields and its functions,
 * registers itself with DRIVER_REGISTER, and from then on the checker,
 * `drplay actions` (text, Markdown, JSON), the JSON Schema and the
 * maintenance.* actions know it (tests/integration/recipe_driver.sh checks
 * each).
 *
 * The `memory` driver keeps the flag in the drplay process: a one-step
 * `drplay maintenance on` writes it and reads it back; a later command
 * starts with the flag off again. A write becomes visible after `delay`,
 * so the read-back loop is exercised too.
 */
#include <stdlib.h>
#include <string.h>

#include "maint.h"

/* The flags of the process, one per cell. */
static struct cell {
	char *name;
	struct mflag flag;
	int64_t visible_at; /* mono_us() when the last write shows */
	struct mflag before; /* what reads see until then */
} *cells;
static size_t ncells;

static struct cell *cell_of(struct mctx *m)
{
	const char *name = res_str(m->r, "cell");
	for (size_t i = 0; i < ncells; i++)
		if (!strcmp(cells[i].name, name))
			return &cells[i];
	cells = xrealloc(cells, (ncells + 1) * sizeof(*cells));
	memset(&cells[ncells], 0, sizeof(*cells));
	cells[ncells].name = xstrdup(name);
	return &cells[ncells++];
}

static void copy_flag(struct mflag *to, const struct mflag *from)
{
	free(to->message);
	free(to->eta);
	to->on = from->on;
	to->message = from->message ? xstrdup(from->message) : NULL;
	to->eta = from->eta ? xstrdup(from->eta) : NULL;
}

static int memory_read(struct mctx *m, struct mflag *f)
{
	struct cell *c = cell_of(m);
	memset(f, 0, sizeof(*f));
	copy_flag(f, mono_us() >= c->visible_at ? &c->flag : &c->before);
	return M_OK;
}

static int memory_write(struct mctx *m, const struct mflag *f)
{
	struct cell *c = cell_of(m);
	copy_flag(&c->before, &c->flag);
	copy_flag(&c->flag, f);
	c->visible_at = mono_us() + res_duration_us(m->r, "delay", 0);
	return M_OK;
}

static const char *memory_where(struct mctx *m)
{
	return res_str(m->r, "cell");
}

static const struct param_spec memory_fields[] = {
	{ .name = "cell", .type = T_STRING, .flags = P_REQUIRED,
	  .doc = "the name of the flag in the process (switches naming the same cell share it)" },
	{ .name = "delay", .type = T_DURATION, .def = "0s", .doc = "how long a write takes to become visible" },
	{ .name = NULL },
};

static const struct maint_ops memory_ops = {
	.read = memory_read,
	.write = memory_write,
	.where = memory_where,
};

static const struct driver_def maint_memory_driver = {
	.kind = MAINT_KIND,
	.name = "memory",
	.doc = "test-only: a flag kept in the drplay process",
	.fields = memory_fields,
	.ops = &memory_ops,
};
DRIVER_REGISTER(maint_memory_driver)
