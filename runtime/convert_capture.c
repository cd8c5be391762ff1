/* convert_capture.c: the copy method's change capture -- the log of keys
 * changed while the rows are copied, the trigger that fills it, the
 * function that re-copies those keys (all made by sql/conversion.sql's
 * functions, called here), and the catch-up rounds before the swap. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert_internal.h"
#include "progress.h"
#include "retry.h"

#define RESYNC_BATCH 1000 /* log entries per re-copy transaction: its row locks make writers of those rows wait */
/* A round longer than RESYNC_ROUND_SECS halves the next one's entries (down
 * to RESYNC_BATCH_MIN), a full one shorter than a quarter of it doubles
 * them: a round holds its rows share-locked to its end, so a writer of one
 * of them waits for the whole round (at 1,431 partitions a round of 800
 * entries took 1.6 s while both writers of a 300/s application waited). */
#define RESYNC_BATCH_MIN   50
#define RESYNC_ROUND_SECS  0.08
#define RESYNC_PENDING     100 /* swap when fewer changed keys wait: the swap re-copies them under its lock */
#define RESYNC_MAX_SECS    600
#define RESYNC_SETTLE_SECS 2.0

/* VALUES as a PostgreSQL array literal ({"a","b \\"c\\""}), a parameter's text. */
static const char *text_array(Arena *a, const char *const *values, int n)
{
    Buf b = {0};
    buf_putc(&b, '{');
    for (int i = 0; i < n; i++) {
        buf_append(&b, i ? ",\"" : "\"");
        for (const char *c = values[i]; *c; c++) {
            if (*c == '"' || *c == '\\')
                buf_putc(&b, '\\');
            buf_putc(&b, *c);
        }
        buf_putc(&b, '"');
    }
    buf_putc(&b, '}');
    const char *s = arena_strdup(a, buf_str(&b));
    buf_free(&b);
    return s;
}

/* Record the conversion's key (keyset order) and partition column in its
 * row, where sql/conversion.sql's functions read them (with their types,
 * from the catalog).  Idempotent; a conversion an older partmig started
 * gets them when it resumes. */
static bool capture_keys(Conv *v, Err *err)
{
    const char *params[] = {v->row.id, text_array(v->a, v->f.key, v->f.nkey), v->p->column};
    return pg_exec(v->c, "SELECT partmig.conversion_set_keys($1::bigint, $2::text[], $3)", 3, params, NULL, err);
}

/* The change log, the capture trigger function made for this table, and
 * the triggers: partmig.conversion_install_capture (sql/conversion.sql). */
static bool capture_body(PgConn *c, void *ctx, Err *err)
{
    Conv *v = ctx;
    const char *params[] = {v->row.id};
    return capture_keys(v, err) &&
           pg_exec(c, "SELECT partmig.conversion_install_capture($1::bigint)", 1, params, NULL, err) &&
           conv_set_state(v, "mirroring", err);
}

bool conv_install_capture(Conv *v, Err *err)
{
    return conv_locked(v, "installing the change capture trigger", capture_body, err);
}

/* Re-copy changed keys until fewer than RESYNC_PENDING wait. */
bool conv_resync_catch_up(Conv *v, Err *err)
{
    double t0 = retry_now();
    /* partmig.conversion_resync: sql/conversion.sql */
    int lim = RESYNC_BATCH_MIN * 2; /* grows in fast rounds: a slow first round would stall writers */
    char lims[16];
    const char *params[] = {v->row.id, lims};
    const char *sql = "SELECT partmig.conversion_resync($1::bigint, $2::integer, false)";
    if (!capture_keys(v, err))
        return false;
    const char *count = arena_printf(v->a, "SELECT count(*) FROM %s", v->q_log);
    int64_t total = 0;
    double busy = 0;   /* seconds spent in re-copy rounds */
    double settle = 0; /* when fewer than a round's work first waited */
    for (;;) {
        PgResult *r = NULL;
        double t1 = retry_now();
        snprintf(lims, sizeof lims, "%d", lim);
        if (!pg_exec(v->c, sql, 2, params, &r, err)) {
            /* 23514: a changed row fits no partition of the shadow; add its
             * partition and go on (rows keep coming: each round may find more) */
            if (strcmp(pg_last_sqlstate(v->c), "23514") != 0)
                return false;
            char msg[sizeof err->msg];
            snprintf(msg, sizeof msg, "%s", err->msg);
            int made = 0;
            if (!conv_cover_changed_rows(v, false, &made, err))
                return false;
            if (made == 0) {
                err_set(err, PM_EDB, "\"%s\": re-copying rows changed during the conversion failed: %s", v->qname, msg);
                return err_hint(err,
                                "find the row named above in %s, move it into the policy's partitions (or set "
                                "default_partition = true), then run apply again",
                                v->q_table);
            }
            continue;
        }
        int64_t done = pg_get_int(r, 0, 0);
        pg_result_free(r);
        double took = retry_now() - t1;
        busy += took;
        if (took > RESYNC_ROUND_SECS && lim > RESYNC_BATCH_MIN)
            lim = lim / 2 > RESYNC_BATCH_MIN ? lim / 2 : RESYNC_BATCH_MIN;
        else if (took < RESYNC_ROUND_SECS / 4 && done >= lim / 2 && lim < RESYNC_BATCH)
            lim = lim * 2 < RESYNC_BATCH ? lim * 2 : RESYNC_BATCH;
        if (!pg_exec(v->c, count, 0, NULL, &r, err))
            return false;
        int64_t left = pg_get_int(r, 0, 0);
        pg_result_free(r);
        total += done;
        /* caught up: what waits the swap re-copies under its lock, so aim
         * below RESYNC_PENDING; a table so busy that it never gets there
         * swaps after RESYNC_SETTLE_SECS with about one round's work */
        if (left < RESYNC_PENDING)
            break;
        if (done > 0 && left <= lim) {
            if (settle == 0)
                settle = retry_now();
            else if (retry_now() - settle > RESYNC_SETTLE_SECS)
                break;
        }
        if (retry_now() - t0 > RESYNC_MAX_SECS) {
            err_set(err, PM_EDB, "\"%s\": writes arrive faster than partmig re-copies them (%lld changed rows wait)",
                    v->qname, (long long)left);
            return err_hint(err, "run apply again at a quieter time; the conversion resumes where it is");
        }
    }
    if (total > 0)
        fprintf(stderr, "partmig: %s: re-copied %lld keys changed during the copy (%.0f keys/s)\n", v->qname,
                (long long)total, busy > 0 ? (double)total / busy : 0.0);
    return true;
}

/* The log and the capture function go; the re-copy function of a
 * conversion an older partmig started (one per conversion, conv_<id>_resync)
 * too, when there is one. */
bool conv_drop_capture(Conv *v, Err *err)
{
    Buf b = {0};
    buf_printf(
        &b, "DROP FUNCTION IF EXISTS %s(integer, boolean);\nDROP FUNCTION IF EXISTS %s();\nDROP TABLE IF EXISTS %s;\n",
        v->q_resync, v->q_capture, v->q_log);
    bool ok = conv_script(v->c, &b, err);
    buf_free(&b);
    return ok;
}
