/*
 * report_evidence.c: report.write's `evidence` format (SPEC 8.3.3): one
 * self-contained JSON document an auditor keeps: the playbook and its
 * SHA-256, who ran and authorized it and who approved its steps, the tool
 * versions, the states and verdicts, RTO by phase and RPO from the restored
 * point, and the journal's chain at the moment of writing; signed with
 * Ed25519 (lib/sign) when the step has a signing_key. `drplay evidence
 * verify` (interp/evidence.c) checks it.
 *
 * The signature covers the document's bytes as written, up to its last
 * member before `"signature"`, so that it can be checked without
 * re-serializing JSON (any JSON library orders and spells numbers its own
 * way): the document is written with two-space indentation, its signature
 * member last.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "report.h"
#include "sign.h"

/* The document's format version. */
#define EVIDENCE_FORMAT 1

/* The programs whose version the evidence records when the run started
 * them, and the argument that prints it. Others are listed by path only:
 * running an arbitrary program with --version could do anything. */
static const struct {
	const char *name, *arg;
} known_tools[] = {
	{ "initdb", "--version" },       { "pg_basebackup", "--version" }, { "pg_controldata", "--version" },
	{ "pg_ctl", "--version" },       { "pg_dump", "--version" },       { "pg_restore", "--version" },
	{ "pgbackrest", "version" },     { "postgres", "--version" },      { "psql", "--version" },
};

/* The first line a tool prints for its version (new string), or NULL. */
static char *tool_version(struct act *a, const char *path, const char *arg)
{
	if (strchr(path, '/') && access(path, X_OK) != 0)
		return NULL;
	char *argv[] = { (char *)path, (char *)arg, NULL };
	struct spawn_opts o = { .stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1, .capture_cap = 4096 };
	struct spawn_result res = { 0 };
	char *v = NULL;
	if (act_run(a, argv, &o, &res) == 0 && res.exited && res.status == 0 && res.out) {
		res.out[strcspn(res.out, "\r\n")] = '\0';
		v = xstrdup(res.out);
	}
	spawn_result_release(&res);
	return v;
}

/* {"drplay": version, "pg_dump": "pg_dump (PostgreSQL) 15.8", ...} for the
 * tools the run used; unknown programs as {"path": ...}. */
static json_t *tools_json(struct act *a, json_t *rec)
{
	json_t *out = json_object();
	json_object_set_new(out, "drplay", json_string(report_str(rec, "drplay")));
	const char *name;
	json_t *path;
	json_object_foreach(json_object_get(rec, "tools"), name, path)
	{
		const char *arg = NULL;
		for (size_t i = 0; i < ARRAY_SIZE(known_tools); i++)
			if (!strcmp(known_tools[i].name, name))
				arg = known_tools[i].arg;
		char *v = arg ? tool_version(a, json_string_value(path), arg) : NULL;
		if (v)
			json_object_set_new(out, name, json_pack("{s:s,s:s}", "path", json_string_value(path), "version", v));
		else
			json_object_set_new(out, name, json_pack("{s:s,s:n}", "path", json_string_value(path), "version"));
		free(v);
	}
	return out;
}

/* Who: the user who ran it, how disaster mode was authorized, and every
 * approval a step recorded (the approve action's outputs). */
static json_t *people_json(json_t *rec)
{
	json_t *p = json_object();
	json_object_set_new(p, "user", json_string(report_str(rec, "user")));
	if (*report_str(rec, "sudo_user"))
		json_object_set_new(p, "sudo_user", json_string(report_str(rec, "sudo_user")));
	json_object_set(p, "authorized_with", json_object_get(rec, "authorized_with"));
	json_t *appr = json_array();
	size_t i;
	json_t *s;
	json_array_foreach(json_object_get(rec, "steps"), i, s)
	{
		json_t *o = json_object_get(s, "outputs");
		if (strcmp(report_str(s, "outcome"), "ok") != 0 || !*report_str(o, "approved_by"))
			continue;
		json_array_append_new(appr, json_pack("{s:s,s:s,s:s,s:s}", "step", report_str(s, "id"), "by", report_str(o, "approved_by"),
						      "at", report_str(o, "approved_at"), "method", report_str(o, "method")));
	}
	json_object_set_new(p, "approvals", appr);
	return p;
}

/* Every step, briefly, and the verification steps with all their verdicts. */
static void steps_json(json_t *rec, json_t **steps, json_t **verification)
{
	*steps = json_array();
	*verification = json_array();
	size_t i;
	json_t *s;
	json_array_foreach(json_object_get(rec, "steps"), i, s)
	{
		json_t *o = json_pack("{s:s,s:s,s:s,s:s}", "id", report_str(s, "id"), "action", report_str(s, "action"), "category",
				      report_str(s, "category"), "outcome", report_str(s, "outcome"));
		if (*report_str(s, "started_at"))
			json_object_set(o, "started_at", json_object_get(s, "started_at"));
		if (json_object_get(s, "duration_s"))
			json_object_set(o, "duration_s", json_object_get(s, "duration_s"));
		if (*report_str(s, "error"))
			json_object_set(o, "error", json_object_get(s, "error"));
		json_array_append_new(*steps, o);
		if (strcmp(report_str(s, "category"), "verify") != 0 || !strcmp(report_str(s, "outcome"), "pending") ||
		    !strcmp(report_str(s, "outcome"), "skipped"))
			continue;
		json_t *outs = json_object_get(s, "outputs");
		json_t *v = json_pack("{s:s,s:s,s:s}", "step", report_str(s, "id"), "action", report_str(s, "action"), "outcome",
				      report_str(s, "outcome"));
		json_object_set_new(v, "verdicts", json_incref(json_object_get(outs, "verdicts") ? json_object_get(outs, "verdicts") : json_array()));
		json_array_append_new(*verification, v);
	}
}

static json_t *document(struct act *a, json_t *rec, json_t *states, const struct measures *m)
{
	json_t *d = json_object();
	json_object_set_new(d, "drplay_evidence", json_integer(EVIDENCE_FORMAT));
	json_object_set_new(d, "run", json_string(report_str(rec, "run")));
	json_object_set_new(d, "playbook", json_pack("{s:s,s:s,s:s}", "name", report_str(rec, "playbook"), "file",
						     report_str(rec, "file"), "sha256", report_str(rec, "playbook_sha256")));
	json_object_set_new(d, "mode", json_string(report_str(rec, "mode")));
	json_object_set(d, "started_at", json_object_get(rec, "started_at"));
	json_object_set(d, "written_at", json_object_get(rec, "now"));
	json_object_set_new(d, "people", people_json(rec));
	json_object_set_new(d, "tools", tools_json(a, rec));
	json_object_set_new(d, "summary", report_summary(a, rec, m));
	json_t *steps, *verification;
	steps_json(rec, &steps, &verification);
	json_object_set_new(d, "verification", verification);
	json_object_set(d, "states", states);
	json_object_set_new(d, "steps", steps);
	json_t *j = json_object_get(rec, "journal");
	json_object_set(d, "journal", j ? j : json_null());
	return d;
}

int report_evidence(struct act *a, const char *path, json_t *rec, json_t *states, const struct measures *m)
{
	json_t *d = document(a, rec, states, m);
	char *text = json_dumps(d, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(d);
	if (!text)
		return act_fail(a, "cannot write the evidence document: its content is not JSON (out of memory?)");
	char *masked = act_masked(a, text);
	free(text);
	/* masked ends with "\n}": the signed bytes are those before it */
	size_t n = strlen(masked);
	if (n < 2 || strcmp(masked + n - 2, "\n}") != 0) {
		free(masked);
		return act_fail(a, "cannot write the evidence document: unexpected JSON layout");
	}
	n -= 2;
	struct strbuf out = STRBUF_INIT;
	sb_add(&out, masked, n);
	if (act_has(a, "signing_key")) {
		const char *key = act_str(a, "signing_key");
		struct strbuf err = STRBUF_INIT;
		char sig[SIGN_B64_LEN + 1], id[65];
		int rc = sign_key_id(key, strlen(key), id, &err);
		if (rc == SIGN_OK)
			rc = sign_ed25519(key, strlen(key), masked, n, sig, &err);
		if (rc != SIGN_OK) {
			act_fail(a, "cannot sign the evidence document with signing_key: %s", sb_str(&err));
			sb_release(&err);
			sb_release(&out);
			free(masked);
			return ACT_FAIL;
		}
		sb_release(&err);
		sb_addf(&out, ",\n  \"signature\": {\"algorithm\": \"ed25519\", \"key_id\": \"%s\", \"value\": \"%s\"}", id, sig);
	}
	sb_adds(&out, "\n}\n");
	free(masked);
	int rc = report_write_atomic(path, sb_str(&out));
	sb_release(&out);
	if (rc != 0)
		return act_fail(a, "cannot write the evidence document '%s': %s; check that its directory is writable", path,
				strerror(errno));
	return ACT_OK;
}
