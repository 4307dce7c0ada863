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
	{ "fail", T_BOOL, 0, NULL, "false", NULL, "fail the step" },
	{ "flag", T_RESOURCE, 0, "testflag", NULL, NULL, "a resource of kind testflag" },
	{ "name", T_STRING, 0, NULL, NULL, NULL, "a name to output (snapshots)" },
	{ "target", T_RESOURCE, P_TARGET, NULL, NULL, NULL, "the resource it acts on" },
	{ "value", T_STRING, 0, NULL, NULL, NULL, "a value to output" },
	{ NULL, 0, 0, NULL, NULL, NULL, NULL },
};
static const struct output_spec test_outputs[] = {
	{ "name", T_STRING, "the name given" },
	{ "value", T_STRING, "the value given, or the step id" },
	{ NULL, 0, NULL },
};

/* test.snapshot's name is the snapshot's, as pitr.snapshot's is */
static const struct output_spec test_snapshot_outputs[] = {
	{ "name", T_STRING, "the name given", OUT_SNAPSHOT },
	{ "value", T_STRING, "the value given, or the step id" },
	{ NULL, 0, NULL },
};

#define TEST_ACTION_OUT(var, nm, fl, cat, outs) \
	static const struct action_def var = { nm, do_test, fl, cat, test_params, outs, "test-only " nm, NULL, NULL }
#define TEST_ACTION(var, nm, fl, cat) TEST_ACTION_OUT(var, nm, fl, cat, test_outputs)

TEST_ACTION(t_maint_off, "test.maint_off", A_STATE, CAT_MAINT_OFF);
TEST_ACTION(t_maint_on, "test.maint_on", A_STATE, CAT_MAINT_ON);
TEST_ACTION(t_preflight, "test.preflight", 0, CAT_PREFLIGHT);
TEST_ACTION(t_report, "test.report", 0, CAT_REPORT);
TEST_ACTION(t_restore, "test.restore", A_DESTRUCT | A_STATE, CAT_RESTORE);
TEST_ACTION_OUT(t_snapshot, "test.snapshot", A_STATE, CAT_SNAPSHOT, test_snapshot_outputs);
TEST_ACTION(t_verify, "test.verify", 0, CAT_VERIFY);
TEST_ACTION(t_write, "test.write", A_STATE, CAT_OTHER);

const struct action_def *const testing_actions[] = {
	&t_maint_off, &t_maint_on, &t_preflight, &t_report, &t_restore, &t_snapshot, &t_verify, &t_write, NULL,
};

static const struct param_spec test_kind_fields[] = {
	{ "db", T_RESOURCE, P_LIVE_REF, NULL, NULL, NULL, "another resource this one stands for" },
	{ "note", T_STRING, 0, NULL, NULL, NULL, "free text" },
	{ "token", T_STRING, P_SECRET, NULL, NULL, NULL, "a credential" },
	{ NULL, 0, 0, NULL, NULL, NULL, NULL },
};
static const struct kind_def test_kind = { "test", test_kind_fields, "test-only resource kind", NULL, NULL, NULL, NULL };
static const struct param_spec no_fields[] = { { NULL, 0, 0, NULL, NULL, NULL, NULL } };
static const struct kind_def testflag_kind = { "testflag", no_fields, "test-only resource kind", NULL, NULL, NULL, NULL };

const struct kind_def *const testing_kinds[] = { &test_kind, &testflag_kind, NULL };
