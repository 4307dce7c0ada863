/*
 * resolve.c: secrets, the run-time resolver, resources and arguments
 * (resolve.h). Every secret read is registered for masking before its value
 * goes anywhere, and a value computed from one (a resource field built from
 * ${secret.X}) is a secret too.
 */
#include "resolve.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "redact.h"
#include "run.h"
#include "summary.h"
#include "text.h"
#include "typing.h"
#include "util.h"

/* ---- secrets ---- */

/* What kind of file st is, for a message. */
static const char *file_kind(const struct stat *st)
{
	return S_ISDIR(st->st_mode) ? "a directory" : S_ISFIFO(st->st_mode) ? "a FIFO"
	       : S_ISSOCK(st->st_mode) ? "a socket" : "a device";
}

/* Opens path for read_secret_file and checks what it is. Returns the fd,
 * or -1 with f set. */
static int open_secret_file(const char *path, int private, struct fail *f)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return fail_set(f, EXIT_REFUSED, "cannot be opened: %s", strerror(errno));
	struct stat st;
	if (fstat(fd, &st) != 0)
		fail_set(f, EXIT_REFUSED, "cannot be read: %s", strerror(errno));
	else if (!S_ISREG(st.st_mode))
		fail_set(f, EXIT_REFUSED, "is %s, not a regular file; point it at a file that holds the secret",
			 file_kind(&st));
	else if (private && (st.st_mode & (S_IRGRP | S_IROTH)))
		fail_set(f, EXIT_REFUSED, "can be read by %s (mode %03o); make it private: chmod 600",
			 (st.st_mode & S_IROTH) ? "every user" : "its group", (unsigned)(st.st_mode & 0777));
	else
		return fd;
	close(fd);
	return -1;
}

int read_secret_file(const char *path, int private, char **out, struct fail *f)
{
	*out = NULL;
	int fd = open_secret_file(path, private, f);
	if (fd < 0)
		return -1;
	struct strbuf sb;
	sb_init(&sb, SECRET_FILE_MAX + 1);
	char buf[4096];
	ssize_t r;
	int bad = 0;
	while (!bad && (r = read(fd, buf, sizeof(buf))) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			bad = fail_set(f, EXIT_REFUSED, "cannot be read: %s", strerror(errno));
		else
			sb_add(&sb, buf, (size_t)r);
		if (sb.len > SECRET_FILE_MAX)
			bad = fail_set(f, EXIT_REFUSED, "is larger than %zu KiB; a secret file holds one secret",
				       SECRET_FILE_MAX >> 10);
	}
	explicit_bzero(buf, sizeof(buf));
	close(fd);
	size_t len = sb.len;
	if (!bad && len && sb.buf[len - 1] == '\n')
		len--;
	if (!bad && len && sb.buf[len - 1] == '\r')
		len--;
	if (!bad && (len == 0 || memchr(sb.buf, '\0', len)))
		bad = fail_set(f, EXIT_REFUSED, "%s", len ? "holds a NUL byte; a secret is text" : "is empty");
	if (!bad)
		*out = xstrndup(sb.buf, len);
	if (sb.buf)
		explicit_bzero(sb.buf, sb.len);
	sb_release(&sb);
	return *out ? 0 : -1;
}

int secret_value(const char *name, char **out, struct fail *f, int *unset)
{
	*unset = 0;
	*out = NULL;
	const char *v = getenv(name);
	char *val = NULL;
	if (v) {
		val = xstrdup(v);
	} else {
		char *fname = xasprintf("%s_FILE", name);
		const char *path = getenv(fname);
		if (!path) {
			*unset = 1;
			fail_set(f, EXIT_INVALID,
				 "secret %s is not set; set the environment variable %s, or %s_FILE to a file holding it", name,
				 name, name);
		} else if (read_secret_file(path, 0, &val, f) != 0) {
			fail_prefix(f, "secret %s: the file named by %s ('%s') ", name, fname, path);
		}
		free(fname);
		if (!val)
			return -1;
	}
	size_t len = strlen(val);
	if (len < REDACT_MIN_LEN) {
		if (len)
			fail_set(f, EXIT_REFUSED,
				 "secret %s (from %s) is only %zu byte%s long; a secret shorter than %d bytes cannot be masked safely, so the run refuses it: use a longer one",
				 name, v ? "the environment" : "its _FILE", len, len == 1 ? "" : "s", REDACT_MIN_LEN);
		else
			fail_set(f, EXIT_REFUSED, "secret %s is set but empty; give it a value (at least %d bytes)", name,
				 REDACT_MIN_LEN);
		free_secret(val);
		return -1;
	}
	*out = val;
	return 0;
}

/* ---- the resolver, one function per root name ---- */

static int resolve_secret(struct run *r, const char *name, struct value *out, struct fail *f)
{
	(void)r;
	char *v = NULL;
	int unset;
	if (secret_value(name, &v, f, &unset) != 0)
		return -1;
	redact_register(v);
	out->t = V_STR;
	out->secret = 1;
	out->u.s = v;
	return 0;
}

static int resolve_env(struct run *r, const char *name, struct value *out, struct fail *f)
{
	(void)r;
	const char *v = getenv(name);
	if (!v)
		return fail_set(f, EXIT_INVALID, "environment variable %s is not set; set it before running", name);
	out->t = V_STR;
	out->u.s = xstrdup(v);
	return 0;
}

static int resolve_param(struct run *r, const char *name, struct value *out, struct fail *f)
{
	if (!name) {
		value_from_json(out, r->params);
		return 0;
	}
	json_t *v = json_object_get(r->params, name);
	const struct param_def *p = playbook_param(r->pb, name);
	if (!p)
		return fail_set(f, EXIT_INVALID, "param '%s' is not declared", name);
	if (!v || json_is_null(v)) {
		value_from_json(out, json_null());
		return 0;
	}
	int64_t us;
	if (p->type == T_TIMESTAMP && parse_timestamp(json_string_value(v), &us) == 0) {
		out->t = V_TIME;
		out->u.us = us;
	} else if (p->type == T_DURATION && parse_duration(json_string_value(v), &us) == 0) {
		out->t = V_DUR;
		out->u.us = us;
	} else {
		value_from_json(out, v);
	}
	return 0;
}

static int resolve_run_field(struct run *r, const char *name, struct value *out, struct fail *f)
{
	out->t = V_STR;
	if (!strcmp(name, "id"))
		out->u.s = xstrdup(r->run_id);
	else if (!strcmp(name, "mode"))
		out->u.s = xstrdup(mode_name(r->mode));
	else if (!strcmp(name, "playbook"))
		out->u.s = xstrdup(r->pb->name);
	else if (!strcmp(name, "file"))
		out->u.s = xstrdup(r->pb->file);
	else if (!strcmp(name, "started_at")) {
		out->t = V_TIME;
		out->u.us = r->started_us;
	} else {
		out->t = V_NULL;
		return fail_set(f, EXIT_INVALID, "run has no field '%s'", name);
	}
	return 0;
}

/* steps.ID: the step's outputs with its outcome, duration and error. */
static int resolve_step(struct run *r, const char *name, struct value *out, struct fail *f)
{
	long i = playbook_step_index(r->pb, name);
	if (i < 0)
		return fail_set(f, EXIT_INVALID, "there is no step '%s'", name);
	struct step_state *ss = &r->ss[i];
	if (ss->outcome == O_PENDING)
		return fail_set(f, EXIT_INVALID, "step '%s' has not run yet", name);
	json_t *o = ss->outputs ? json_deep_copy(ss->outputs) : json_object();
	json_object_set_new(o, "outcome", json_string(outcome_name(ss->outcome)));
	json_object_set_new(o, "duration", json_real((double)ss->dur_us / 1e6));
	if (ss->error)
		json_object_set_new(o, "error", json_text(ss->error));
	value_from_json(out, o);
	json_decref(o);
	return 0;
}

/* resources.NAME: its resolved fields, name, kind, live and throwaway;
 * a secret when any field was made from one. */
static int resolve_resource(struct run *r, const char *name, struct value *out, struct fail *f)
{
	const struct resource_def *rd = playbook_resource(r->pb, name);
	if (!rd)
		return fail_set(f, EXIT_INVALID, "there is no resource '%s'", name);
	struct resource *res = run_resource(r, (size_t)(rd - r->pb->resources), f);
	if (!res) {
		fail_prefix(f, "resource '%s': ", name);
		return -1;
	}
	json_t *o = json_deep_copy(res->fields);
	json_object_set_new(o, "name", json_string(res->name));
	json_object_set_new(o, "kind", json_string(res->kind ? res->kind->name : ""));
	json_object_set_new(o, "live", json_boolean(res->live));
	json_object_set_new(o, "throwaway", json_boolean(res->throwaway));
	value_from_json(out, o);
	json_decref(o);
	out->secret = json_object_size(json_object_get(r->res_taint, name)) > 0;
	return 0;
}

static const struct {
	const char *root;
	int (*resolve)(struct run *r, const char *name, struct value *out, struct fail *f);
	int name_optional; /* ${params} alone is the whole object */
} roots[] = {
	{ .root = "secret", .resolve = resolve_secret },
	{ .root = "env", .resolve = resolve_env },
	{ .root = "params", .resolve = resolve_param, .name_optional = 1 },
	{ .root = "run", .resolve = resolve_run_field },
	{ .root = "steps", .resolve = resolve_step },
	{ .root = "resources", .resolve = resolve_resource },
};

int run_resolve(void *ud, const char *root, const char *name, struct value *out, char **err)
{
	memset(out, 0, sizeof(*out));
	struct fail f = FAIL_INIT;
	int rc = -1;
	size_t i = 0;
	while (i < ARRAY_SIZE(roots) && strcmp(roots[i].root, root) != 0)
		i++;
	if (!name && (i == ARRAY_SIZE(roots) || !roots[i].name_optional))
		fail_set(&f, EXIT_INVALID, "'%s' needs a name after it", root);
	else if (i == ARRAY_SIZE(roots))
		fail_set(&f, EXIT_INVALID, "unknown name '%s'", root);
	else
		rc = roots[i].resolve(ud, name, out, &f);
	if (rc != 0)
		*err = fail_detach(&f);
	fail_release(&f);
	return rc;
}

/* A value computed from a secret is a secret (eval_ctx.secret_text). */
static void run_secret_text(void *ud, const char *text)
{
	(void)ud;
	redact_register(text);
}

/* Whether resources.NAME.FIELD was computed from a secret (known once the
 * resource is resolved, which evaluation does before reading a field). */
static int run_field_secret(void *ud, const char *root, const char *name, const char *field)
{
	struct run *r = ud;
	if (strcmp(root, "resources") != 0)
		return -1;
	return json_object_get(json_object_get(r->res_taint, name), field) != NULL;
}

struct eval_ctx run_ctx(struct run *r)
{
	struct eval_ctx ctx = { .resolve = run_resolve, .ud = r, .secret_text = run_secret_text,
				.field_secret = run_field_secret };
	return ctx;
}

/* ---- resources and arguments ---- */

/* Records that field `field` of resource `res` was made from a secret. */
static void taint_field(struct run *r, const char *res, const char *field)
{
	json_t *t = json_object_get(r->res_taint, res);
	if (!t) {
		t = json_object();
		json_object_set_new(r->res_taint, res, t);
	}
	json_object_set_new(t, field, json_true());
}

/* Evaluates and types one resource field into res->fields. */
static int resource_field(struct run *r, const struct resource_def *rd, size_t f, struct resource *res,
			  struct fail *fl)
{
	struct eval_ctx ctx = run_ctx(r);
	json_t *v = NULL;
	char *e = NULL;
	int secret = 0;
	if (vtree_eval(rd->fields[f], &ctx, &v, &e, &secret) != 0) {
		fail_set(fl, EXIT_STEP_FAILED, "field '%s': %s", rd->fspecs[f]->name, e);
		free(e);
		return -1;
	}
	if (json_is_null(v)) {
		json_decref(v);
		return 0;
	}
	json_t *c = coerce_value(rd->fspecs[f], v, fl);
	json_decref(v);
	if (!c) {
		fail_prefix(fl, "field ");
		return -1;
	}
	json_object_set_new(res->fields, rd->fspecs[f]->name, c);
	if (secret) /* a field made from a secret is a secret */
		taint_field(r, rd->name, rd->fspecs[f]->name);
	return 0;
}

struct resource *run_resource(struct run *r, size_t i, struct fail *f)
{
	const struct resource_def *rd = &r->pb->resources[i];
	if (r->res_state[i] == 2)
		return &r->res[i];
	if (r->res_state[i] == 1) {
		fail_set(f, EXIT_STEP_FAILED, "its fields refer back to it (a cycle between resources); break the cycle");
		return NULL;
	}
	if (!rd->kind) {
		fail_set(f, EXIT_STEP_FAILED, "its kind is unknown");
		return NULL;
	}
	r->res_state[i] = 1;
	struct resource *res = &r->res[i];
	json_decref(res->fields);
	res->fields = json_object();
	for (size_t k = 0; k < rd->nfields; k++) {
		if (resource_field(r, rd, k, res, f) != 0) {
			r->res_state[i] = 0;
			return NULL;
		}
	}
	for (const struct param_spec *p = rd->kind->fields; p->name; p++) {
		if (json_object_get(res->fields, p->name))
			continue;
		json_t *d = spec_default(p);
		if (d)
			json_object_set_new(res->fields, p->name, d);
	}
	r->res_state[i] = 2;
	return res;
}

/* Parameter p of step st, evaluated (or its default) and typed: 0 with
 * *out (NULL when it resolved to nothing and is optional), or -1. */
static int resolve_arg(struct run *r, const struct step *st, const struct param_spec *p, json_t **out,
		       struct fail *f)
{
	*out = NULL;
	const struct arg *a = step_arg(st, p->name);
	json_t *v = NULL;
	if (a) {
		struct eval_ctx ctx = run_ctx(r);
		char *e = NULL;
		if (vtree_eval(a->v, &ctx, &v, &e, NULL) != 0) {
			fail_set(f, EXIT_STEP_FAILED, "parameter '%s': %s", p->name, e);
			free(e);
			return -1;
		}
	} else {
		v = spec_default(p);
	}
	if (!v || json_is_null(v)) {
		json_decref(v);
		if (p->flags & P_REQUIRED)
			return fail_set(f, EXIT_STEP_FAILED, "parameter '%s' resolved to nothing; it is required", p->name);
		return 0;
	}
	*out = coerce_value(p, v, f);
	json_decref(v);
	if (!*out) {
		fail_prefix(f, "parameter ");
		return -1;
	}
	return 0;
}

json_t *resolve_args(struct run *r, const struct step *st, struct fail *f)
{
	json_t *args = json_object();
	for (const struct param_spec *p = st->def->params; p && p->name; p++) {
		json_t *v;
		if (resolve_arg(r, st, p, &v, f) != 0) {
			json_decref(args);
			return NULL;
		}
		if (v)
			json_object_set_new(args, p->name, v);
	}
	return args;
}
