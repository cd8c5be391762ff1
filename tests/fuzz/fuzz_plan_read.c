/* fuzz_plan_read.c: the migration file reader (plan_read) on arbitrary text,
 * then the policy lines it returns (policy_from_json), as the runtime reads
 * a migrations directory.  What it reads must write back and read again. */
#include "model/plan.h"
#include "model/policy.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_string(data, size);
    Arena arena = {0};
    Buf out = {0};
    Err err;
    err_clear(&err);
    Migration m;
    if (plan_read("fuzz.sql", text, &arena, &m, &err)) {
        (void)plan_file_name(&m, &arena);
        for (int i = 0; i < m.nsteps; i++)
            (void)step_arg(&m.steps[i], "index");
        for (int i = 0; i < m.npolicies; i++) {
            Policy p;
            Err perr;
            err_clear(&perr);
            if (policy_from_json(m.policies[i], &arena, &p, &perr))
                (void)policy_to_json(&p, &arena);
        }
        /* the writer's output of what was read is a migration again */
        plan_write(&m, &out);
        Migration again;
        Err werr;
        err_clear(&werr);
        if (!plan_read("fuzz-rewritten.sql", buf_str(&out), &arena, &again, &werr)) {
            fprintf(stderr, "rewritten migration does not read back: %s\n", werr.msg);
            abort();
        }
    }
    buf_free(&out);
    arena_free(&arena);
    free(text);
    return 0;
}
