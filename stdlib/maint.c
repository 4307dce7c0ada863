/*
 * maint.c: the `maintenance` resource kind (a switch the application reads on
 * every request, flipped without a deploy) and maintenance.on / .off /
 * .status. How the flag is stored is a driver's business, one file each
 * (maint_http.c, maint_redis.c, maint_postgres.c, maint_file.c; maint.h):
 * on/off write the flag through the switch's driver, then read it back
 * until the change is visible or the resource's confirm_timeout passes, and
 * output the measured flip time.
 *
 * `fail: open|closed` is declared by the playbook (never defaulted): it is
 * what the APPLICATION does when it cannot read the flag. drplay cannot
 * change it; it states it in every output and, when the store is down or
 * answers garbage, fails the step and says what the application is doing
 * meanwhile: closed = it shows maintenance (writes gated), open = it serves
 * traffic and writes are NOT gated.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "credential.h"
#include "maint.h"
#include "text.h"

/* Per-run state of one switch, kept on the resource (connections reused by
 * the steps of a run) and released with it: its driver's own. */
struct mhandle {
	const struct maint_ops *ops;
	void *state;
};

static void mflag_release(struct mflag *f)
{
	free(f->message);
	free(f->eta);
	f->message = f->eta = NULL;
}

static void mhandle_release(void *p)
{
	struct mhandle *h = p;
	if (!h)
		return;
	if (h->state && h->ops->release)
		h->ops->release(h->state);
	else
		free(h->state);
	free(h);
}

void *maint_state(struct mctx *m, size_t size)
{
	if (!m->h->state)
		m->h->state = xcalloc(1, size);
	return m->h->state;
}

void maint_seterr(struct mctx *m, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(m->err, sizeof(m->err), fmt, ap);
	va_end(ap);
	for (char *p = m->err; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
}

const char *maint_doc_key(struct mctx *m, const char *field, const char *def)
{
	const char *k = res_str(m->r, field);
	return k && *k ? k : def;
}

const char *maint_flag_key(struct mctx *m)
{
	return maint_doc_key(m, "flag_key", "maintenanceMode");
}

int maint_flag_value(json_t *v)
{
	if (json_is_boolean(v))
		return json_is_true(v);
	if (json_is_integer(v) && (json_integer_value(v) == 0 || json_integer_value(v) == 1))
		return (int)json_integer_value(v);
	if (json_is_null(v) || !v)
		return 0;
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		static const char *const yes[] = { "true", "on", "yes", "1", NULL };
		static const char *const no[] = { "false", "off", "no", "0", "", NULL };
		for (size_t i = 0; yes[i]; i++)
			if (!strcasecmp(s, yes[i]))
				return 1;
		for (size_t i = 0; no[i]; i++)
			if (!strcasecmp(s, no[i]))
				return 0;
	}
	return -1;
}

json_t *maint_flag_doc(struct mctx *m, const struct mflag *f)
{
	json_t *o = json_object();
	json_object_set_new(o, maint_flag_key(m), json_boolean(f->on));
	json_object_set_new(o, maint_doc_key(m, "message_key", "message"), json_string(f->message ? f->message : ""));
	json_object_set_new(o, maint_doc_key(m, "eta_key", "eta"),
			    f->eta && *f->eta ? json_string(f->eta) : json_null());
	return o;
}

int maint_parse_doc(struct mctx *m, json_t *doc, const char *what, struct mflag *f)
{
	if (!json_is_object(doc)) {
		maint_seterr(m, "%s is not a JSON object", what);
		return M_DOWN;
	}
	int v = maint_flag_value(json_object_get(doc, maint_flag_key(m)));
	if (v < 0) {
		maint_seterr(m, "%s has no boolean '%s'", what, maint_flag_key(m));
		return M_DOWN;
	}
	f->on = v;
	const char *ms = json_string_value(json_object_get(doc, maint_doc_key(m, "message_key", "message")));
	const char *es = json_string_value(json_object_get(doc, maint_doc_key(m, "eta_key", "eta")));
	f->message = ms ? xstrdup(ms) : NULL;
	f->eta = es ? xstrdup(es) : NULL;
	return M_OK;
}

/* ---- the actions ---- */

/* The switch's driver, or NULL after act_fail. */
static const struct driver_def *switch_driver(struct act *a, struct resource *r)
{
	const char *name = res_str(r, "driver");
	const struct driver_def *d = kind_driver(r->kind, name);
	if (d)
		return d;
	struct strbuf known = STRBUF_INIT;
	for (const struct driver_def *const *k = r->kind->drivers; k && *k; k++)
		sb_addf(&known, "%s%s", known.len ? ", " : "", (*k)->name);
	act_fail(a, "maintenance switch '%s' has driver '%s', which is not one of %s", r->name, name ? name : "",
		 sb_str(&known));
	sb_release(&known);
	return NULL;
}

static int setup(struct act *a, struct mctx *m, const struct driver_def **d)
{
	memset(m, 0, sizeof(*m));
	m->a = a;
	m->r = act_resource(a, "switch");
	if (!m->r)
		return -1;
	*d = switch_driver(a, m->r);
	if (!*d)
		return -1;
	m->h = res_handle(m->r);
	if (!m->h) {
		m->h = xcalloc(1, sizeof(*m->h));
		m->h->ops = (*d)->ops;
		res_set_handle(m->r, m->h);
	}
	m->req_timeout_ms = (long)(res_duration_us(m->r, "request_timeout", 5000000) / 1000);
	if (m->req_timeout_ms < 1)
		m->req_timeout_ms = 1;
	return 0;
}

static const struct maint_ops *ops(const struct driver_def *d)
{
	return d->ops;
}

static const char *fail_mode(struct mctx *m)
{
	const char *f = res_str(m->r, "fail");
	return f ? f : "closed";
}

static int fail_open(struct mctx *m)
{
	return !strcmp(fail_mode(m), "open");
}

/* What the application does while the store cannot be read. */
static const char *down_effect(struct mctx *m)
{
	return fail_open(m) ? "fail: open: the application SERVES TRAFFIC and writes are NOT gated while it cannot read the flag"
			    : "fail: closed: the application shows maintenance (writes gated) while it cannot read the flag";
}

static void out_common(struct act *a, struct mctx *m, const struct driver_def *d)
{
	act_out_str(a, "fail_mode", fail_mode(m));
	act_out_str(a, "driver", d->name);
	act_out_str(a, "store", ops(d)->where(m));
}

/* The store cannot be read (down, or garbage): say what the application is
 * doing meanwhile, loudly, in the output, the log, the journal and the
 * error. */
static int store_down(struct act *a, struct mctx *m, const struct driver_def *d, const char *doing)
{
	char err[900];
	snprintf(err, sizeof(err), "%s", m->err);
	act_out_str(a, "state", "unknown");
	act_out_str(a, "effective", fail_open(m) ? "serving traffic, writes NOT gated (store down, fail: open)"
						 : "maintenance shown, writes gated (store down, fail: closed)");
	act_log(a, "%sflag store of switch '%s' (%s) cannot be read: %s", fail_open(m) ? "WARNING: " : "",
		m->r->name, d->name, err);
	act_log(a, "%s%s", fail_open(m) ? "WARNING: " : "", down_effect(m));
	json_t *f = json_object();
	json_object_set_new(f, "resource", json_string(m->r->name));
	json_object_set_new(f, "state", json_string(fail_open(m) ? "store down: fail open: application serving, writes NOT gated"
								 : "store down: fail closed: application gated"));
	json_object_set_new(f, "fail_mode", json_string(fail_mode(m)));
	json_object_set_new(f, "message", json_text(err));
	act_journal(a, "maintenance_store_down", f);
	const char *then;
	if (!strcmp(doing, "status"))
		then = "";
	else if (fail_open(m))
		then = !strcmp(doing, "on")
			       ? "; WRITES ARE NOT GATED: do not restore now; fix the store (or freeze writes in the database, e.g. pg.freeze), then turn maintenance on again"
			       : "; the flag still says ON, so the site goes back into maintenance when the store returns: run maintenance off again then";
	else
		then = !strcmp(doing, "on")
			       ? "; the flag itself is NOT set: when the store returns the site reopens, so fix the store and turn maintenance on again before restoring"
			       : "; the site stays in maintenance until the store returns and maintenance is turned off again";
	return act_fail(a, "cannot %s maintenance switch '%s': the flag store (%s, %s) cannot be read: %s; %s%s",
			!strcmp(doing, "status") ? "read" : !strcmp(doing, "on") ? "turn on" : "turn off", m->r->name,
			d->name, ops(d)->where(m), err, down_effect(m), then);
}

static int refused(struct act *a, struct mctx *m, const struct driver_def *d, const char *doing)
{
	return act_fail(a, "cannot %s maintenance switch '%s': %s; check the switch's %s settings and credentials",
			doing, m->r->name, m->err, d->name);
}

static int do_status(struct act *a)
{
	struct mctx m;
	const struct driver_def *d;
	if (setup(a, &m, &d) != 0)
		return ACT_FAIL;
	out_common(a, &m, d);
	struct mflag f = { 0 };
	int st = ops(d)->read(&m, &f);
	if (st == M_DOWN)
		return store_down(a, &m, d, "status");
	if (st != M_OK)
		return refused(a, &m, d, "read");
	act_out_str(a, "state", f.on ? "on" : "off");
	act_out_str(a, "effective", f.on ? "maintenance shown, writes gated" : "serving traffic");
	act_out_str(a, "message", f.message ? f.message : "");
	act_out_str(a, "eta", f.eta ? f.eta : "");
	act_log(a, "switch '%s' (%s, fail: %s) is %s%s%s%s%s", m.r->name, d->name, fail_mode(&m), f.on ? "ON" : "OFF",
		f.message && *f.message ? ": " : "", f.message ? f.message : "", f.eta && *f.eta ? ", ETA " : "",
		f.eta ? f.eta : "");
	mflag_release(&f);
	return ACT_OK;
}

static int flip(struct act *a, int on)
{
	struct mctx m;
	const struct driver_def *d;
	const char *doing = on ? "on" : "off";
	if (setup(a, &m, &d) != 0)
		return ACT_FAIL;
	out_common(a, &m, d);
	struct mflag prev = { 0 };
	int st = ops(d)->read(&m, &prev);
	if (st == M_DOWN)
		return store_down(a, &m, d, doing);
	if (st != M_OK)
		return refused(a, &m, d, "read");
	act_out_str(a, "previous", prev.on ? "on" : "off");
	mflag_release(&prev);
	struct mflag want = { 0 };
	want.on = on;
	if (on) {
		const char *msg = act_str(a, "message");
		const char *eta = act_str(a, "eta");
		want.message = xstrdup(msg ? msg : res_str(m.r, "message") ? res_str(m.r, "message") : "");
		want.eta = eta ? xstrdup(eta) : res_str(m.r, "eta") ? xstrdup(res_str(m.r, "eta")) : NULL;
	}
	int64_t t0 = mono_us();
	st = ops(d)->write(&m, &want);
	int64_t t_written = mono_us();
	if (st == M_DOWN) {
		mflag_release(&want);
		return store_down(a, &m, d, doing);
	}
	if (st != M_OK) {
		mflag_release(&want);
		return refused(a, &m, d, on ? "turn on" : "turn off");
	}
	/* Read back until the change is visible or the deadline passes. */
	int64_t limit = res_duration_us(m.r, "confirm_timeout", 10000000);
	int64_t deadline = t0 + limit;
	int64_t wait = 2000;
	int reads = 0;
	int seen = -1;
	for (;;) {
		struct mflag got = { 0 };
		st = ops(d)->read(&m, &got);
		reads++;
		if (st == M_DOWN) {
			mflag_release(&want);
			return store_down(a, &m, d, doing);
		}
		if (st != M_OK) {
			mflag_release(&want);
			return refused(a, &m, d, "read back");
		}
		seen = got.on;
		mflag_release(&got);
		if (seen == on)
			break;
		if (mono_us() + wait > deadline || act_cancelled(a)) {
			mflag_release(&want);
			char lim[32];
			act_out_int(a, "reads", reads);
			return act_fail(a, "maintenance switch '%s' (%s, %s): the flag was written but %d read%s in %s still show it %s; the store may be slow to propagate or another writer changed it back; check %s, then run maintenance %s again (raise confirm_timeout if the store is known to be slow)",
					m.r->name, d->name, ops(d)->where(&m), reads, reads == 1 ? "" : "s",
					fmt_duration(limit, lim, sizeof(lim)), seen ? "ON" : "OFF", ops(d)->where(&m), doing);
		}
		if (act_sleep(a, wait) != 0)
			continue;
		if (wait < 50000)
			wait *= 2;
	}
	int64_t t1 = mono_us();
	double ms = (double)(t1 - t0) / 1000.0;
	act_out_str(a, "state", doing);
	act_out(a, "flip_ms", json_real(ms));
	act_out_dur(a, "flip_time", t1 - t0);
	act_out(a, "write_ms", json_real((double)(t_written - t0) / 1000.0));
	act_out_int(a, "reads", reads);
	/* Rounded up to the second: everything the application wrote before
	 * the freeze is at or before it (a restore `to:` it loses nothing). */
	act_out_time(a, "confirmed_at", (now_us() / 1000000 + 1) * 1000000);
	act_out_str(a, "effective", on ? "maintenance shown, writes gated" : "serving traffic");
	act_out_str(a, "message", want.message ? want.message : "");
	act_out_str(a, "eta", want.eta ? want.eta : "");
	act_log(a, "switch '%s' (%s, fail: %s) is %s, confirmed by reading it back after %.1f ms (%d read%s)", m.r->name,
		d->name, fail_mode(&m), on ? "ON" : "OFF", ms, reads, reads == 1 ? "" : "s");
	json_t *j = json_object();
	json_object_set_new(j, "resource", json_string(m.r->name));
	json_object_set_new(j, "state", json_string(on ? "maintenance on" : "maintenance off"));
	json_object_set_new(j, "flip_ms", json_real(ms));
	json_object_set_new(j, "fail_mode", json_string(fail_mode(&m)));
	json_object_set_new(j, "driver", json_string(d->name));
	act_journal(a, "maintenance_changed", j);
	mflag_release(&want);
	return ACT_OK;
}

static int do_on(struct act *a)
{
	return flip(a, 1);
}

static int do_off(struct act *a)
{
	return flip(a, 0);
}

/* Static checks of a maintenance resource: its driver's own (required
 * fields there, no field of another driver). */
static int maint_check(const struct argq *q)
{
	return kind_check_drivers(MAINT_KIND, q);
}

static const char *const fail_modes[] = { "open", "closed", NULL };

/* The fields every switch has; `driver` and each driver's own come from
 * the drivers (maint_*.c). */
static const struct param_spec maint_fields[] = {
	{ .name = "confirm_timeout", .type = T_DURATION, .def = "10s",
	  .doc = "how long on/off read the flag back waiting for the change" },
	{ .name = "eta", .type = T_STRING,
	  .doc = "the ETA stored with the flag when it goes on (\"back by 10:30 ET\")" },
	{ .name = "eta_key", .type = T_STRING, .def = "eta",
	  .doc = "http, redis (json), file: the key of the ETA in the document" },
	{ .name = "fail", .type = T_STRING, .flags = P_REQUIRED, .allowed = fail_modes,
	  .doc = "what the APPLICATION does when it cannot read the flag: closed = shows maintenance, open = serves traffic (declared, never defaulted)" },
	{ .name = "flag_key", .type = T_STRING, .def = "maintenanceMode",
	  .doc = "http, redis (json), file: the key of the boolean in the document" },
	{ .name = "message", .type = T_STRING, .doc = "the maintenance page's message stored with the flag" },
	{ .name = "message_key", .type = T_STRING, .def = "message",
	  .doc = "http, redis (json), file: the key of the message in the document" },
	{ .name = "request_timeout", .type = T_DURATION, .def = "5s",
	  .doc = "the limit for one request to the store" },
	{ .name = NULL },
};

/* `drplay maintenance on|off|status FILE --switch NAME`. */
static const struct kind_command maint_command = {
	.option = "switch",
	.usage = "drplay maintenance on|off|status FILE --switch NAME [--message TEXT] [--eta TEXT]\n"
		 "                   [--mode=MODE] [--authorize-file FILE | --authorize=TOKEN]\n"
		 "                   [--journal-dir DIR] [--json]",
	.help = "The one-command maintenance switch for people: runs maintenance.on, .off or .status\n"
		"on the playbook's resource NAME (kind maintenance) as a one-step run through the\n"
		"normal executor (masking, journal for on/off). on/off read the flag back until the\n"
		"change is visible and print the measured flip time; the switch's declared fail mode\n"
		"(open or closed) is stated, and what the application does if the store is down.\n"
		"Exit: 0 done; 1 the flip failed or was not confirmed; 2 usage or playbook error;\n"
		"4 status could not read the flag.\n",
};

static const struct kind_def maint_kind = {
	.name = MAINT_KIND,
	.fields = maint_fields,
	.doc = "A maintenance switch the application reads on every request, flipped in seconds without a deploy: an HTTP (edge-config style) flag, a Redis key, a flag row in PostgreSQL, or a file. `fail` declares what the application does when it cannot read the flag.",
	.release = mhandle_release,
	.check = maint_check,
	.foreign_field = "field '%s' belongs to the %s driver%s, and this switch uses the %s driver; remove it",
	.command = &maint_command,
};

static const struct param_spec flip_params[] = {
	{ .name = "eta", .type = T_STRING, .flags = P_PRINTED,
	  .doc = "the ETA to store (default: the switch's eta; on only)" },
	{ .name = "message", .type = T_STRING, .flags = P_PRINTED,
	  .doc = "the message to store (default: the switch's message; on only)" },
	{ .name = "switch", .type = T_RESOURCE, .flags = P_REQUIRED | P_TARGET, .kind = "maintenance",
	  .doc = "the maintenance switch" },
	{ .name = NULL },
};
static const struct param_spec status_params[] = {
	{ .name = "switch", .type = T_RESOURCE, .flags = P_REQUIRED | P_TARGET, .kind = "maintenance",
	  .doc = "the maintenance switch" },
	{ .name = NULL },
};

#define COMMON_OUTPUTS                                                                                    \
	{ .name = "driver", .type = T_STRING, .doc = "the switch's driver" },                           \
	{ .name = "effective", .type = T_STRING,                                                          \
	  .doc = "what the application does now (from the flag, or from `fail` when the store is down)" }, \
	{ .name = "fail_mode", .type = T_STRING, .doc = "the switch's declared fail mode: open or closed" }, \
	{ .name = "state", .type = T_STRING, .doc = "on, off, or unknown (the store cannot be read)" },   \
	{ .name = "store", .type = T_STRING, .doc = "where the flag lives (URL, key, table row or file)" }

static const struct output_spec flip_outputs[] = {
	{ .name = "confirmed_at", .type = T_TIMESTAMP,
	  .doc = "when the read-back first showed the change, rounded up to the second (a restore target that keeps every write made before the freeze)" },
	COMMON_OUTPUTS,
	{ .name = "eta", .type = T_STRING, .doc = "the ETA stored" },
	{ .name = "flip_ms", .type = T_NUMBER, .doc = "milliseconds from the write to the read-back that showed it" },
	{ .name = "flip_time", .type = T_DURATION, .doc = "the same as a duration" },
	{ .name = "message", .type = T_STRING, .doc = "the message stored" },
	{ .name = "previous", .type = T_STRING, .doc = "on or off before the flip" },
	{ .name = "reads", .type = T_INT, .doc = "read-backs it took" },
	{ .name = "write_ms", .type = T_NUMBER, .doc = "milliseconds the write request took" },
	{ .name = NULL },
};
static const struct output_spec status_outputs[] = {
	COMMON_OUTPUTS,
	{ .name = "eta", .type = T_STRING, .doc = "the ETA stored with the flag" },
	{ .name = "message", .type = T_STRING, .doc = "the message stored with the flag" },
	{ .name = NULL },
};

static const struct action_def maint_off_def = {
	.name = "maintenance.off",
	.run = do_off,
	.flags = A_STATE,
	.cat = CAT_MAINT_OFF,
	.params = flip_params,
	.outputs = flip_outputs,
	.doc = "Turns the switch off (clearing message and ETA), then reads it back until the change is visible or confirm_timeout passes; outputs the measured flip time. The executor never runs it after a failed gate or verification. If the store cannot be read the step fails and says what the application does meanwhile (the switch's `fail`).",
};
static const struct action_def maint_on_def = {
	.name = "maintenance.on",
	.run = do_on,
	.flags = A_STATE,
	.cat = CAT_MAINT_ON,
	.params = flip_params,
	.outputs = flip_outputs,
	.doc = "Turns the switch on with a message and ETA, then reads it back until the change is visible or confirm_timeout passes; outputs the measured flip time. If the store cannot be read the step fails and says what the application does meanwhile: with fail: closed it shows maintenance; with fail: open it serves traffic and writes are NOT gated.",
};
static const struct action_def maint_status_def = {
	.name = "maintenance.status",
	.run = do_status,
	.cat = CAT_PREFLIGHT,
	.params = status_params,
	.outputs = status_outputs,
	.doc = "Reads the switch: on or off, message, ETA, and the declared fail mode. A preflight: as a gate before maintenance.on it proves the switch can be read before any outage. Fails when the store cannot be read, saying what the application does meanwhile.",
};

static const struct action_def *const maint_actions[] = { &maint_off_def, &maint_on_def, &maint_status_def, NULL };
static const struct kind_def *const maint_kinds[] = { &maint_kind, NULL };

/* A redis URL's password; the http driver's bearer token. */
static const struct redact_pattern maint_patterns[] = {
	REDACT_URL_PASSWORD,
	REDACT_BEARER,
	{ .re = NULL },
};

const struct family maint_family = {
	.name = "maintenance",
	.actions = maint_actions,
	.kinds = maint_kinds,
	.patterns = maint_patterns,
};
