/* planner.h: the delta between the policy state a migrations directory was
 * built from and the policies now, as one Migration (a step list). */
#ifndef PARTMIG_PLANNER_H
#define PARTMIG_PLANNER_H

#include <stdbool.h>

#include "../common/arena.h"
#include "../common/err.h"
#include "../model/plan.h"
#include "../model/policy.h"

typedef struct PlanInput {
    const PolicySet *old; /* state folded from the existing files (policy order of first appearance) */
    const PolicySet *now; /* policies loaded and validated now (policy order) */
    const char *as_of;    /* "YYYY-MM-DD": the date static range partitions are listed up to */
    int version;          /* number of the version to build */
    const char *sources;  /* policy files, for the header ("policies/erp.lua") */
    /* "schema.table" names the user allows to be unregistered (--forget);
     * allow_forget: any (--allow-forget) */
    const char *const *forget;
    int nforget;
    bool allow_forget;
    /* "schema.table" names whose by/column/interval/... may change as a
     * relayout (--relayout): apply converts with the new layout where no
     * earlier version partitioned the table, and refuses where one did */
    const char *const *relayout;
    int nrelayout;
} PlanInput;

/* Build the next version into *OUT (owned by ARENA).  *CHANGED is false when
 * the policies equal the old state (then *OUT is empty and nothing should be
 * written).  A change of a layout key (policy_keys_relayout) becomes a
 * relayout: an ensure_table step with relayout=yes and the steps after it,
 * which apply turns into a conversion with the new layout when the earlier
 * version never partitioned the table, or into the online part (new list
 * partitions, DEFAULT on or off) when it did.  Errors, PM_EINPUT naming the
 * policy's file:line with a hint: a change of a policy_keys_new_table key
 * not allowed by in->relayout; a table that would be unregistered without
 * in->forget / in->allow_forget naming it. */
bool plan_build(const PlanInput *in, Arena *arena, Migration *out, bool *changed, Err *err);

#endif
