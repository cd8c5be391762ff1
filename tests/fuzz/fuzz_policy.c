/* fuzz_policy.c: a Lua policy text through the sandbox (policy_load_file),
 * validation, the planner (partition bounds included) and the policy-state
 * JSON round trip that incremental compiles rely on. */
#include "compiler/planner.h"
#include "model/policy.h"
#include "compiler/validate.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[128];
    snprintf(path, sizeof path, "%s/policy.lua", fuzz_scratch_dir());
    fuzz_write_file(path, data, size);
    Arena arena = {0};
    Err err;
    err_clear(&err);
    PolicySet set = {0}, none = {0};
    if (!policy_load_file(path, &arena, &set, &err) || !policy_validate(&set, &err))
        goto done;
    for (int i = 0; i < set.n; i++) {
        const char *json = policy_to_json(&set.items[i], &arena);
        Policy back;
        Err jerr;
        err_clear(&jerr);
        if (!policy_from_json(json, &arena, &back, &jerr) || strcmp(policy_to_json(&back, &arena), json) != 0) {
            fprintf(stderr, "policy state does not read back: %s\n%s\n", jerr.msg, json);
            abort();
        }
    }
    PlanInput in = {.old = &none, .now = &set, .as_of = "2025-03-15", .version = 1, .sources = path};
    Migration m;
    bool changed;
    (void)plan_build(&in, &arena, &m, &changed, &err);
done:
    validate_release();
    arena_free(&arena);
    return 0;
}
