/* planner.h: the delta between the policy state a migrations directory was
 * built from and the policies now, as one Migration (a step list). */
#ifndef PARTMIG_PLANNER_H
#define PARTMIG_PLANNER_H

#include <stdbool.h>

#include "../common/arena.h"
#include "../common/err.h"
#include "../common/plan.h"
#include "policy.h"

typedef struct PlanInput {
    const PolicySet *old; /* state folded from the existing files (policy order of first appearance) */
    const PolicySet *now; /* policies loaded and validated now (policy order) */
    const char *as_of;    /* "YYYY-MM-DD": the date static range partitions are listed up to */
    int version;          /* number of the version to build */
    const char *sources;  /* policy files, for the header ("policies/erp.lua") */
} PlanInput;

/* Build the next version into *OUT (owned by ARENA).  *CHANGED is false when
 * the policies equal the old state (then *OUT is empty and nothing should be
 * written).  Errors (a change that needs a new table, not an edit) are
 * PM_EINPUT naming the policy's file:line, with a hint. */
bool plan_build(const PlanInput *in, Arena *arena, Migration *out, bool *changed, Err *err);

#endif
