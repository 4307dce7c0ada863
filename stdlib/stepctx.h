/*
 * stepctx.h: a step, seen by the libraries in lib/. A family that calls a
 * library (a store, an S3 client, a JSON API) gives it a struct libctx made
 * from its struct act: the library then stops when the step is interrupted
 * or times out, logs through the step (masked), registers the secrets it
 * finds, and leaves the reason of a failure for the family to report.
 */
#ifndef DRPLAY_STEPCTX_H
#define DRPLAY_STEPCTX_H

#include "../interp/action.h"
#include "libctx.h"

/* A context bound to the step a (release it with libctx_release). */
struct libctx stepctx(struct act *a);

/* Fails the step with the reason the library left in c, when it left one
 * (when a sink of the family's stopped the library, the sink's own act_fail
 * stands), and forgets it. Returns ACT_FAIL, like act_fail. */
int stepctx_fail(struct act *a, struct libctx *c);

#endif
