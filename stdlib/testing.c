/*
 * testing.c: small actions compiled only into the test build (tests/drplay-test,
 * -DDRPLAY_TESTING), one per category, so that the executor's gates and the
 * lint rules can be exercised without external systems. They do nothing but
 * succeed, or fail when asked (`fail: true`). Never part of the shipped binary.
 */
#include <string.h>

#include "family.h"

static int do_test(struct act *a)
{
	act_out_str(a, "value", act_str(a, "value") ? act_str(a, "value") : act_step_id(a));
	if (act_has(a, "name"))
		act_out_str(a, "name", act_str(a, "name"));
	if (act_bool(a, "fail", 0))
		return act_fail(a, "failure requested by the test (fail: true)");
	return ACT_OK;
}

static const struct param_spec test_params[] = {
	{ .name = "fail", .type = T_BOOL, .def = "false", .doc = "fail the step" },
	{ .name = "flag", .type = T_RESOURCE, .kind = "testflag", .doc = "a resource of kind testflag" },
	{ .name = "name", .type = T_STRING, .doc = "a name to output (snapshots)" },
	{ .name = "target", .type = T_RESOURCE, .flags = P_TARGET, .doc = "the resource it acts on" },
	{ .name = "value", .type = T_STRING, .doc = "a value to output" },
	{ .name = NULL },
};
static const struct output_spec test_outputs[] = {
	{ .name = "name", .type = T_STRING, .doc = "the name given" },
	{ .name = "value", .type = T_STRING, .doc = "the value given, or the step id" },
	{ .name = NULL },
};

/* test.snapshot's name is the snapshot's, as pitr.snapshot's is */
static const struct output_spec test_snapshot_outputs[] = {
	{ .name = "name", .type = T_STRING, .role = OUT_SNAPSHOT, .doc = "the name given" },
	{ .name = "value", .type = T_STRING, .doc = "the value given, or the step id" },
	{ .name = NULL },
};

#define TEST_ACTION_OUT(var, nm, fl, category, outs)                                                    \
	static const struct action_def var = { .name = nm, .run = do_test, .flags = fl, .cat = category,     \
					       .params = test_params, .outputs = outs, .doc = "test-only " nm }
#define TEST_ACTION(var, nm, fl, category) TEST_ACTION_OUT(var, nm, fl, category, test_outputs)

TEST_ACTION(t_maint_off, "test.maint_off", A_STATE, CAT_MAINT_OFF);
TEST_ACTION(t_maint_on, "test.maint_on", A_STATE, CAT_MAINT_ON);
TEST_ACTION(t_preflight, "test.preflight", 0, CAT_PREFLIGHT);
TEST_ACTION(t_report, "test.report", 0, CAT_REPORT);
TEST_ACTION(t_restore, "test.restore", A_DESTRUCT | A_STATE, CAT_RESTORE);
TEST_ACTION_OUT(t_snapshot, "test.snapshot", A_STATE, CAT_SNAPSHOT, test_snapshot_outputs);
TEST_ACTION(t_verify, "test.verify", 0, CAT_VERIFY);
TEST_ACTION(t_write, "test.write", A_STATE, CAT_OTHER);

/* test.progress: works for `seconds`, reporting `total` bytes done
 * evenly (act_progress every 100 ms), as a long restore does. */
static int do_progress(struct act *a)
{
	int64_t us = act_duration_us(a, "seconds", 3000000), total = act_int(a, "total", 1000000);
	for (int64_t done_us = 0; done_us < us; done_us += 100000) {
		act_progress(a, "work", (uint64_t)(total * done_us / us), (uint64_t)total);
		if (act_sleep(a, 100000) != 0)
			return act_fail(a, "cancelled while working");
	}
	act_progress(a, "work", (uint64_t)total, (uint64_t)total);
	return ACT_OK;
}
static const struct param_spec progress_params[] = {
	{ .name = "seconds", .type = T_DURATION, .def = "3s", .doc = "how long it works" },
	{ .name = "total", .type = T_INT, .def = "1000000", .doc = "the bytes it reports done by the end" },
	{ .name = NULL },
};
static const struct action_def t_progress = { .name = "test.progress", .run = do_progress, .cat = CAT_RESTORE,
					      .params = progress_params, .doc = "test-only: reports progress" };

static const struct action_def *const testing_actions[] = {
	&t_maint_off, &t_maint_on, &t_preflight, &t_progress, &t_report, &t_restore, &t_snapshot, &t_verify, &t_write, NULL,
};

static const struct param_spec test_kind_fields[] = {
	{ .name = "db", .type = T_RESOURCE, .flags = P_LIVE_REF, .doc = "another resource this one stands for" },
	{ .name = "note", .type = T_STRING, .doc = "free text" },
	{ .name = "token", .type = T_STRING, .flags = P_SECRET, .doc = "a credential" },
	{ .name = NULL },
};
static const struct kind_def test_kind = {
	.name = "test",
	.fields = test_kind_fields,
	.doc = "test-only resource kind",
};
static const struct param_spec no_fields[] = {
	{ .name = NULL },
};
static const struct kind_def testflag_kind = {
	.name = "testflag",
	.fields = no_fields,
	.doc = "test-only resource kind",
};

static const struct kind_def *const testing_kinds[] = { &test_kind, &testflag_kind, NULL };

const struct family testing_family = {
	.name = "testing",
	.actions = testing_actions,
	.kinds = testing_kinds,
};
