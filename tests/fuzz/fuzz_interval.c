/* fuzz_interval.c: interval, date and integer text as policies and the
 * database hand it to partmig, and the partition bounds computed from it.
 * Input lines: interval, start, from, to, a step count for interval_add. */
#include "model/partitions.h"
#include "compiler/validate.h"
#include "fuzz_util.h"

/* Line I of TEXT (split in place on '\n'); "" past the last. */
static const char *line(char **lines, int nlines, int i)
{
    return i < nlines ? lines[i] : "";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *text = fuzz_string(data, size);
    char *lines[8];
    int nlines = 0;
    for (char *p = text; nlines < 8;) {
        lines[nlines++] = p;
        char *nl = strchr(p, '\n');
        if (!nl)
            break;
        *nl = '\0';
        p = nl + 1;
    }
    Arena arena = {0};
    Buf b = {0};
    Err err;
    err_clear(&err);

    Interval iv;
    WallTime t, anchor = {1970, 1, 1, 0};
    int64_t n = 0, x;
    bool have_iv = interval_parse(line(lines, nlines, 0), true, &iv);
    (void)validate_date(line(lines, nlines, 1));
    (void)int64_parse(line(lines, nlines, 4), &n);
    if (walltime_parse(line(lines, nlines, 2), &t)) {
        walltime_format(&b, t);
        WallTime again;
        if (!walltime_parse(buf_str(&b), &again) || walltime_cmp(t, again) != 0)
            abort(); /* what partmig writes it reads back */
        if (have_iv && iv.unit != UNIT_INTEGER) {
            WallTime r;
            (void)interval_add(iv, t, n);
            (void)interval_floor(iv, anchor, t);
            (void)interval_add_checked(iv, t, n, &r);
            (void)interval_floor_checked(iv, anchor, t, &r);
            buf_reset(&b);
            partition_name(&b, naming_default(iv.unit), "t", t, n);
        }
    }
    if (have_iv && iv.unit == UNIT_INTEGER && int64_parse(line(lines, nlines, 2), &x)) {
        int64_t r;
        (void)interval_floor_int(iv.count, n, x);
        (void)interval_floor_int_checked(iv.count, n, x, &r);
    }
    if (have_iv) {
        /* the bounds of a range policy with this interval and start */
        Policy p;
        policy_defaults(&p);
        p.table = "t";
        p.column = "k";
        p.interval = iv;
        p.start = *line(lines, nlines, 1) ? line(lines, nlines, 1) : NULL;
        PartitionSpec *specs;
        int nspecs;
        if (partitions_range(&p, line(lines, nlines, 2), line(lines, nlines, 3), &arena, &specs, &nspecs, &err)) {
            for (int i = 1; i < nspecs; i++)
                if (iv.unit == UNIT_INTEGER ? specs[i].lower_int != specs[i - 1].upper_int
                                            : walltime_cmp(specs[i].lower, specs[i - 1].upper) != 0)
                    abort(); /* partitions tile the range: no gap, no overlap */
        }
    }
    validate_release();
    buf_free(&b);
    arena_free(&arena);
    free(text);
    return 0;
}
