/*
 * pitr_neon.c: the `neon` pitr driver, on Neon's HTTP API (v2, bearer key)
 * through libcurl (jsonhttp.c):
 *   window    GET /projects/{project}: history_retention_seconds back from now
 *   snapshot  POST /projects/{project}/branches  {branch: {parent_id, name}}:
 *             a branch from the current head
 *   restore   POST /projects/{project}/branches/{branch}/restore with
 *             source_branch_id (the branch itself for a time, or the named
 *             snapshot / preserved branch), source_timestamp and
 *             preserve_under_name (Neon keeps the replaced state as a branch)
 *   branch    POST /projects/{project}/branches  {branch: {parent_id, name,
 *             parent_timestamp}, endpoints: [{type: read_write}]}; the
 *             connection string from the answer's connection_uris, else from
 *             GET /projects/{project}/connection_uri
 *   discard   DELETE /projects/{project}/branches/{id}
 * Every call that answers with `operations` is followed by polling
 * GET /projects/{project}/operations/{id} until each one is finished, up
 * to operation_timeout. 423 and 503 answers are retried (Neon documents
 * them as always safe to retry); other 4xx/5xx answers fail the step with
 * Neon's message. After a restore, drplay waits until the database resource
 * accepts connections and is out of recovery.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonhttp.h"
#include "stepctx.h"
#include "pitr.h"

struct neon {
	struct pitr *p;
	struct jh_client http;
	const char *base, *project, *key;
	char branch_id[128];
	int64_t op_timeout_us, poll_us;
};

static int neon_init(struct pitr *p, struct neon *n)
{
	memset(n, 0, sizeof(*n));
	n->p = p;
	n->base = res_str(p->r, "api_url");
	if (!n->base)
		n->base = "https://console.neon.tech/api/v2";
	n->project = res_str(p->r, "project_id");
	n->key = res_str(p->r, "api_key");
	n->op_timeout_us = res_duration_us(p->r, "operation_timeout", 600000000LL);
	n->poll_us = res_duration_us(p->r, "poll_interval", 500000);
	if (n->poll_us < 10000)
		n->poll_us = 10000;
	if (!n->project || !*n->project || !n->key || !*n->key) {
		act_fail(p->a, "pitr resource '%s' (neon) needs project_id and api_key", p->r->name);
		return -1;
	}
	act_secret(p->a, n->key);
	return 0;
}

static void neon_release(struct neon *n)
{
	jh_client_release(&n->http);
}

/* One API call; retries 423/503 until operation_timeout. Returns the JSON
 * answer (new reference) for a 2xx, NULL after act_fail otherwise. */
static json_t *neon_call(struct neon *n, const char *method, const char *path, json_t *body, const char *what)
{
	struct act *a = n->p->a;
	char *url = xasprintf("%s%s", n->base, path);
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	int64_t end = mono_us() + n->op_timeout_us;
	int64_t wait = 200000;
	json_t *out = NULL;
	for (;;) {
		struct jh_resp r;
		struct libctx lc = stepctx(a); /* jsonhttp reports through r, not lc */
		int rc = jh_request(&lc, &n->http, method, url, NULL, n->key, text, 60000, &r);
		libctx_release(&lc);
		if (rc != 0) {
			act_fail(a, "Neon API %s %s (%s): no answer: %s; check api_url and the network", method, path, what, r.err);
			jh_resp_release(&r);
			break;
		}
		if (r.status >= 200 && r.status < 300) {
			if (!json_is_object(r.json)) {
				act_fail(a, "Neon API %s %s (%s) answered %ld with something that is not a JSON object", method, path,
					 what, r.status);
				jh_resp_release(&r);
				break;
			}
			out = json_incref(r.json);
			jh_resp_release(&r);
			break;
		}
		if ((r.status == 423 || r.status == 503) && mono_us() + wait < end && !act_cancelled(a)) {
			act_log(a, "Neon API %s %s answered %ld (%s); retrying", method, path, r.status,
				r.status == 423 ? "locked by another operation" : "unavailable");
			jh_resp_release(&r);
			act_sleep(a, wait);
			if (wait < 5000000)
				wait *= 2;
			continue;
		}
		act_fail(a, "Neon API %s %s (%s) failed: %s%s", method, path, what, jh_describe(&r),
			 r.status == 401 || r.status == 403 ? "; check api_key (it needs restore and branch rights)" :
			 r.status == 404 ? "; check project_id and branch" : "");
		jh_resp_release(&r);
		break;
	}
	free(url);
	free(text);
	return out;
}

/* Polls every operation in the answer until it is finished. */
static int neon_wait_ops(struct neon *n, json_t *answer, const char *what)
{
	struct act *a = n->p->a;
	json_t *ops = json_object_get(answer, "operations");
	size_t i;
	json_t *op;
	int64_t end = mono_us() + n->op_timeout_us;
	json_array_foreach(ops, i, op)
	{
		const char *id = json_string_value(json_object_get(op, "id"));
		if (!id)
			continue;
		char *path = xasprintf("/projects/%s/operations/%s", n->project, id);
		json_t *cur = json_incref(op);
		int rc = 0;
		for (;;) {
			const char *st = json_string_value(json_object_get(cur, "status"));
			if (!st)
				st = "unknown";
			if (!strcmp(st, "finished") || !strcmp(st, "skipped"))
				break;
			if (!strcmp(st, "failed") || !strcmp(st, "error") || !strcmp(st, "cancelled") || !strcmp(st, "cancelling")) {
				const char *e = json_string_value(json_object_get(cur, "error"));
				act_fail(a, "Neon operation %s (%s, for %s) ended '%s'%s%s", id,
					 json_string_value(json_object_get(cur, "action")) ? json_string_value(json_object_get(cur, "action")) : "?",
					 what, st, e ? ": " : "", e ? e : "");
				rc = -1;
				break;
			}
			if (mono_us() > end || act_cancelled(a)) {
				char lim[32];
				act_fail(a, "Neon operation %s (for %s) was still '%s' after %s; it may finish later: check the project in Neon's console before retrying",
					 id, what, st, fmt_duration(n->op_timeout_us, lim, sizeof(lim)));
				rc = -1;
				break;
			}
			act_sleep(a, n->poll_us);
			json_t *r = neon_call(n, "GET", path, NULL, "operation status");
			if (!r) {
				rc = -1;
				break;
			}
			json_t *o = json_object_get(r, "operation");
			if (!json_is_object(o)) {
				act_fail(a, "Neon API answered the status of operation %s without an 'operation' object", id);
				json_decref(r);
				rc = -1;
				break;
			}
			json_decref(cur);
			cur = json_incref(o);
			json_decref(r);
		}
		json_decref(cur);
		free(path);
		if (rc != 0)
			return -1;
	}
	return 0;
}

/* The project's branches (new reference), or NULL after act_fail. */
static json_t *neon_branches(struct neon *n)
{
	char *path = xasprintf("/projects/%s/branches", n->project);
	json_t *r = neon_call(n, "GET", path, NULL, "listing branches");
	free(path);
	if (!r)
		return NULL;
	json_t *b = json_incref(json_object_get(r, "branches"));
	json_decref(r);
	if (!json_is_array(b)) {
		json_decref(b);
		act_fail(n->p->a, "Neon API listed branches without a 'branches' array");
		return NULL;
	}
	return b;
}

static json_t *by_name(json_t *branches, const char *name)
{
	size_t i;
	json_t *b;
	json_array_foreach(branches, i, b)
	{
		const char *nm = json_string_value(json_object_get(b, "name"));
		const char *id = json_string_value(json_object_get(b, "id"));
		if ((nm && !strcmp(nm, name)) || (id && !strcmp(id, name)))
			return b;
	}
	return NULL;
}

/* The id of the resource's own branch (given as an id or a name). */
static int live_branch(struct neon *n)
{
	const char *br = res_str(n->p->r, "branch");
	if (!br || !*br) {
		act_fail(n->p->a, "pitr resource '%s' (neon) needs branch: the branch it restores", n->p->r->name);
		return -1;
	}
	if (!strncmp(br, "br-", 3)) {
		snprintf(n->branch_id, sizeof(n->branch_id), "%s", br);
		return 0;
	}
	json_t *all = neon_branches(n);
	if (!all)
		return -1;
	json_t *b = by_name(all, br);
	if (!b) {
		act_fail(n->p->a, "Neon project '%s' has no branch named '%s'; check branch:", n->project, br);
		json_decref(all);
		return -1;
	}
	snprintf(n->branch_id, sizeof(n->branch_id), "%s", json_string_value(json_object_get(b, "id")));
	json_decref(all);
	return 0;
}

static int neon_window(struct pitr *p, struct pitr_window *w)
{
	struct neon n;
	if (neon_init(p, &n) != 0)
		return ACT_FAIL;
	char *path = xasprintf("/projects/%s", n.project);
	json_t *r = neon_call(&n, "GET", path, NULL, "reading the project");
	free(path);
	int rc = ACT_FAIL;
	if (r) {
		json_t *proj = json_object_get(r, "project");
		json_t *ret = json_object_get(proj, "history_retention_seconds");
		if (!json_is_integer(ret)) {
			act_fail(p->a, "Neon API: project '%s' has no history_retention_seconds", n.project);
		} else {
			int64_t now = now_us();
			w->latest = now;
			w->earliest = now - (int64_t)json_integer_value(ret) * 1000000;
			snprintf(w->note, sizeof(w->note), "Neon keeps %lld s of history for project %s",
				 (long long)json_integer_value(ret), n.project);
			snprintf(w->earliest_note, sizeof(w->earliest_note), "project %s keeps %lld s of history",
				 n.project, (long long)json_integer_value(ret));
			rc = ACT_OK;
		}
		json_decref(r);
	}
	neon_release(&n);
	return rc;
}

static int neon_snapshot(struct pitr *p, const char *name)
{
	struct neon n;
	if (neon_init(p, &n) != 0)
		return ACT_FAIL;
	int rc = ACT_FAIL;
	if (live_branch(&n) != 0)
		goto out;
	char *path = xasprintf("/projects/%s/branches", n.project);
	json_t *body = json_pack("{s:{s:s,s:s}}", "branch", "parent_id", n.branch_id, "name", name);
	json_t *r = neon_call(&n, "POST", path, body, "creating the snapshot branch");
	json_decref(body);
	free(path);
	if (!r)
		goto out;
	if (neon_wait_ops(&n, r, "the snapshot branch") == 0) {
		json_t *b = json_object_get(r, "branch");
		const char *lsn = json_string_value(json_object_get(b, "parent_lsn"));
		act_out_str(p->a, "lsn", lsn ? lsn : "");
		act_log(p->a, "Neon branch %s ('%s') made from the head of %s", json_string_value(json_object_get(b, "id")), name,
			n.branch_id);
		rc = ACT_OK;
	}
	json_decref(r);
out:
	neon_release(&n);
	return rc;
}

/* Waits until the database resource accepts connections and is out of
 * recovery (Neon restarts the branch's computes after a restore). */
static int neon_wait_db(struct neon *n, int64_t timeout_us)
{
	struct act *a = n->p->a;
	const char *dsn = res_str(n->p->db, "dsn");
	int64_t end = mono_us() + timeout_us;
	char last[300] = "";
	pg_forget(n->p->db, NULL);
	while (mono_us() < end && !act_cancelled(a)) {
		const char *keys[] = { "dbname", "connect_timeout", NULL };
		const char *vals[] = { dsn, "5", NULL };
		PGconn *c = PQconnectdbParams(keys, vals, 1);
		if (c && PQstatus(c) == CONNECTION_OK) {
			PGresult *res = PQexec(c, "SELECT pg_is_in_recovery()");
			int ok = res && PQresultStatus(res) == PGRES_TUPLES_OK && PQgetvalue(res, 0, 0)[0] == 'f';
			PQclear(res);
			PQfinish(c);
			if (ok)
				return 0;
			snprintf(last, sizeof(last), "still in recovery");
		} else {
			snprintf(last, sizeof(last), "%s", c ? PQerrorMessage(c) : "out of memory");
			last[strcspn(last, "\n")] = '\0';
			PQfinish(c);
		}
		act_sleep(a, 200000);
	}
	act_fail(a, "the database of '%s' (%s) did not accept connections out of recovery after the restore: %s", n->p->r->name,
		 pg_where(n->p->db), last);
	return -1;
}

static int neon_restore(struct pitr *p, const struct pitr_restore_req *q, int64_t *recovered_us)
{
	struct neon n;
	if (neon_init(p, &n) != 0)
		return ACT_FAIL;
	int rc = ACT_FAIL;
	json_t *body = NULL, *r = NULL;
	if (live_branch(&n) != 0)
		goto out;
	if (q->from) {
		json_t *all = neon_branches(&n);
		if (!all)
			goto out;
		json_t *src = by_name(all, q->from);
		if (!src || !strcmp(json_string_value(json_object_get(src, "id")), n.branch_id)) {
			act_fail(p->a, "Neon project '%s' has no snapshot or preserved branch named '%s'; nothing was changed", n.project,
				 q->from);
			json_decref(all);
			goto out;
		}
		body = json_pack("{s:s,s:s}", "source_branch_id", json_string_value(json_object_get(src, "id")),
				 "preserve_under_name", q->preserve_as);
		json_decref(all);
	} else {
		char ts[40];
		body = json_pack("{s:s,s:s,s:s}", "source_branch_id", n.branch_id, "source_timestamp",
				 fmt_timestamp(q->to_us, ts, sizeof(ts)), "preserve_under_name", q->preserve_as);
		if (q->to_us % 1000000)
			act_log(p->a, "note: Neon takes timestamps to the second; restoring to %s", ts);
	}
	char *path = xasprintf("/projects/%s/branches/%s/restore", n.project, n.branch_id);
	r = neon_call(&n, "POST", path, body, "restoring the branch");
	free(path);
	if (!r)
		goto out;
	act_log(p->a, "Neon accepted the restore of %s; the replaced state is kept as branch '%s'", n.branch_id, q->preserve_as);
	json_t *f = json_object();
	json_object_set_new(f, "resource", json_string(p->db->name));
	json_object_set_new(f, "state", json_string("restoring (Neon restarts its computes)"));
	json_object_set_new(f, "message", json_string("Neon restore accepted; waiting for its operations"));
	act_journal(p->a, "database_restoring", f);
	if (neon_wait_ops(&n, r, "the restore") != 0)
		goto out;
	if (neon_wait_db(&n, res_duration_us(p->r, "operation_timeout", 600000000LL)) != 0)
		goto out;
	f = json_object();
	json_object_set_new(f, "resource", json_string(p->db->name));
	json_object_set_new(f, "state", json_string("running"));
	json_object_set_new(f, "message", json_string("restored by Neon"));
	act_journal(p->a, "database_started", f);
	*recovered_us = q->from ? 0 : q->to_us;
	rc = ACT_OK;
out:
	json_decref(body);
	json_decref(r);
	neon_release(&n);
	return rc;
}

static int neon_branch(struct pitr *p, const char *name, int64_t at_us, char **dsn)
{
	struct neon n;
	if (neon_init(p, &n) != 0)
		return ACT_FAIL;
	int rc = ACT_FAIL;
	json_t *r = NULL;
	if (live_branch(&n) != 0)
		goto out;
	json_t *br = json_pack("{s:s,s:s}", "parent_id", n.branch_id, "name", name);
	if (at_us) {
		char ts[40];
		json_object_set_new(br, "parent_timestamp", json_string(fmt_timestamp(at_us, ts, sizeof(ts))));
	}
	json_t *body = json_pack("{s:o,s:[{s:s}]}", "branch", br, "endpoints", "type", "read_write");
	char *path = xasprintf("/projects/%s/branches", n.project);
	r = neon_call(&n, "POST", path, body, "creating the branch");
	json_decref(body);
	free(path);
	if (!r)
		goto out;
	const char *id = json_string_value(json_object_get(json_object_get(r, "branch"), "id"));
	if (!id) {
		act_fail(p->a, "Neon API created a branch but its answer has no branch id");
		goto out;
	}
	if (neon_wait_ops(&n, r, "the branch") != 0)
		goto out;
	const char *uri = json_string_value(json_object_get(json_array_get(json_object_get(r, "connection_uris"), 0),
							    "connection_uri"));
	json_t *cu = NULL;
	if (!uri) {
		const char *db = res_str(p->r, "database_name");
		const char *role = res_str(p->r, "role_name");
		PQconninfoOption *opts = PQconninfoParse(res_str(p->db, "dsn") ? res_str(p->db, "dsn") : "", NULL);
		const char *dsn_db = NULL, *dsn_user = NULL;
		for (PQconninfoOption *o = opts; o && o->keyword; o++) {
			if (!strcmp(o->keyword, "dbname"))
				dsn_db = o->val;
			if (!strcmp(o->keyword, "user"))
				dsn_user = o->val;
		}
		char *edb = jh_escape(db ? db : dsn_db ? dsn_db : "neondb");
		char *erole = jh_escape(role ? role : dsn_user ? dsn_user : "neondb_owner");
		char *bid = jh_escape(id);
		char *cpath = xasprintf("/projects/%s/connection_uri?branch_id=%s&database_name=%s&role_name=%s", n.project, bid,
					edb, erole);
		PQconninfoFree(opts);
		free(edb);
		free(erole);
		free(bid);
		cu = neon_call(&n, "GET", cpath, NULL, "reading the branch's connection string");
		free(cpath);
		if (!cu)
			goto out;
		uri = json_string_value(json_object_get(cu, "uri"));
	}
	if (!uri) {
		act_fail(p->a, "Neon API gave no connection string for branch %s", id);
		json_decref(cu);
		goto out;
	}
	PQconninfoOption *o2 = PQconninfoParse(uri, NULL);
	for (PQconninfoOption *o = o2; o && o->keyword; o++)
		if (!strcmp(o->keyword, "password") && o->val && *o->val)
			act_secret(p->a, o->val);
	PQconninfoFree(o2);
	*dsn = xstrdup(uri);
	json_decref(cu);
	act_log(p->a, "Neon branch %s ('%s') created from %s%s", id, name, n.branch_id, at_us ? " at the given time" : "");
	rc = ACT_OK;
out:
	json_decref(r);
	neon_release(&n);
	return rc;
}

/* Deletes a branch by name; refuses the resource's own branch. */
static int delete_named(struct neon *n, const char *name)
{
	json_t *all = neon_branches(n);
	if (!all)
		return ACT_FAIL;
	json_t *b = by_name(all, name);
	int rc = ACT_FAIL;
	if (!b) {
		act_fail(n->p->a, "Neon project '%s' has no branch named '%s'", n->project, name);
	} else if (!strcmp(json_string_value(json_object_get(b, "id")), n->branch_id) ||
		   json_is_true(json_object_get(b, "default"))) {
		act_fail(n->p->a, "refusing to delete Neon branch '%s': it is the live or the default branch", name);
	} else {
		char *path = xasprintf("/projects/%s/branches/%s", n->project, json_string_value(json_object_get(b, "id")));
		json_t *r = neon_call(n, "DELETE", path, NULL, "deleting the branch");
		free(path);
		if (r && neon_wait_ops(n, r, "deleting the branch") == 0)
			rc = ACT_OK;
		json_decref(r);
	}
	json_decref(all);
	return rc;
}

static int neon_discard(struct pitr *p, const char *name)
{
	struct neon n;
	if (neon_init(p, &n) != 0)
		return ACT_FAIL;
	int rc = live_branch(&n) == 0 ? delete_named(&n, name) : ACT_FAIL;
	neon_release(&n);
	return rc;
}

static json_t *neon_list(struct pitr *p)
{
	struct neon n;
	if (neon_init(p, &n) != 0)
		return NULL;
	json_t *out = NULL;
	if (live_branch(&n) == 0) {
		json_t *all = neon_branches(&n);
		if (all) {
			out = json_array();
			size_t i;
			json_t *b;
			json_array_foreach(all, i, b)
			{
				const char *id = json_string_value(json_object_get(b, "id"));
				if (!id || !strcmp(id, n.branch_id) || json_is_true(json_object_get(b, "default")))
					continue;
				json_t *o = json_object();
				json_object_set(o, "name", json_object_get(b, "name"));
				json_object_set_new(o, "type", json_string("branch"));
				json_object_set(o, "created", json_object_get(b, "created_at"));
				json_object_set_new(o, "detail", json_sprintf("Neon branch %s, parent %s", id,
									     json_string_value(json_object_get(b, "parent_id"))
										     ? json_string_value(json_object_get(b, "parent_id"))
										     : "-"));
				json_array_append_new(out, o);
			}
			json_decref(all);
		}
	}
	neon_release(&n);
	return out;
}

static int neon_remove(struct pitr *p, const char *name)
{
	return neon_discard(p, name);
}

static int neon_exists(struct pitr *p, const char *name)
{
	struct neon n;
	if (neon_init(p, &n) != 0)
		return 0;
	json_t *all = neon_branches(&n);
	int r = all && by_name(all, name) != NULL;
	json_decref(all);
	neon_release(&n);
	return r;
}

static const struct param_spec neon_fields[] = {
	{ .name = "api_key", .type = T_STRING, .flags = P_REQUIRED | P_SECRET,
	  .doc = "the API key (from ${secret.NAME}); restore and branch rights suffice" },
	{ .name = "api_url", .type = T_STRING, .def = "https://console.neon.tech/api/v2", .doc = "the API's base URL" },
	{ .name = "branch", .type = T_STRING, .flags = P_REQUIRED,
	  .doc = "the branch this resource restores (its id br-... or its name)" },
	{ .name = "database_name", .type = T_STRING,
	  .doc = "the database a branch's connection string names (default: the database resource's)" },
	{ .name = "operation_timeout", .type = T_DURATION, .def = "10m",
	  .doc = "how long to wait for an API operation to finish" },
	{ .name = "poll_interval", .type = T_DURATION, .def = "500ms", .doc = "how often to ask about an operation" },
	{ .name = "project_id", .type = T_STRING, .flags = P_REQUIRED, .doc = "the project" },
	{ .name = "role_name", .type = T_STRING,
	  .doc = "the role a branch's connection string uses (default: the database resource's user)" },
	{ .name = NULL },
};

static const struct pitr_ops neon_ops = {
	.window = neon_window,
	.snapshot = neon_snapshot,
	.restore = neon_restore,
	.branch = neon_branch,
	.discard = neon_discard,
	.list = neon_list,
	.remove = neon_remove,
	.exists = neon_exists,
};

static const struct driver_def pitr_neon_driver = {
	.kind = PITR_KIND,
	.name = "neon",
	.doc = "Neon's branch API (HTTP, a bearer key): restores and branches are Neon branches",
	.fields = neon_fields,
	.ops = &neon_ops,
};
DRIVER_REGISTER(pitr_neon_driver)
