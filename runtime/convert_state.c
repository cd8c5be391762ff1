/* convert_state.c: what every part of a conversion shares -- its row in
 * partmig.conversions, the names of its objects, and running a step under
 * the lock policy (a short lock_timeout first, growing with jittered
 * retries). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/quote.h"
#include "../model/partitions.h"
#include "convert_internal.h"
#include "progress.h"
#include "retry.h"
#include "runner.h"

#define DEFAULT_LOCK_MS 500
#define DEFAULT_RETRIES 40

typedef struct Locked {
    LockedBody body;
    void *ctx;
    int lock_ms, retries;
} Locked;

const char *conv_trigger_guard(Arena *a, const char *oid)
{
    return arena_printf(a,
                        "  IF coalesce(pg_catalog.pg_partition_root(TG_RELID), TG_RELID) IS DISTINCT FROM "
                        "%s::pg_catalog.oid THEN\n"
                        "    RAISE EXCEPTION 'partmig: this trigger function is not for table %%', "
                        "TG_RELID::pg_catalog.regclass;\n"
                        "  END IF;\n",
                        oid);
}

void conv_revoke_public(Buf *b, const char *function, const char *args)
{
    buf_printf(b, "REVOKE ALL ON FUNCTION %s(%s) FROM PUBLIC;\n", function, args);
}

const char *conv_name63(Arena *a, const char *base, const char *suffix)
{
    size_t bl = strlen(base), sl = strlen(suffix);
    if (bl + sl > 63)
        bl = 63 - sl;
    return arena_printf(a, "%.*s%s", (int)bl, base, suffix);
}

static void set_names(Conv *v)
{
    Arena *a = v->a;
    const char *id = v->row.id;
    v->q_shadow = v->row.shadow ? quote_qualified_str(a, v->p->schema, v->row.shadow) : NULL;
    v->q_kept = v->row.kept ? quote_qualified_str(a, v->p->schema, v->row.kept) : NULL;
    v->q_log = quote_qualified_str(a, "partmig", arena_printf(a, "conv_%s_log", id));
    v->q_capture = quote_qualified_str(a, "partmig", arena_printf(a, "conv_%s_capture", id));
    v->q_resync = quote_qualified_str(a, "partmig", arena_printf(a, "conv_%s_resync", id));
    v->q_reverse = quote_qualified_str(a, "partmig", arena_printf(a, "conv_%s_reverse", id));
    v->q_undo = quote_qualified_str(a, "partmig", arena_printf(a, "conv_%s_undo", id));
    v->q_guard = quote_qualified_str(a, "partmig", arena_printf(a, "conv_%s_guard", id));
    Buf q = {0};
    buf_append(&q, "partmig.conversion_guard(");
    quote_literal(&q, id);
    buf_putc(&q, ')');
    v->q_guard_call = arena_strdup(a, buf_str(&q));
    buf_free(&q);
}

int conv_lock_ms(const Conv *v)
{
    return v->o && v->o->lock_timeout_ms > 0 ? v->o->lock_timeout_ms : DEFAULT_LOCK_MS;
}

void conv_rollback_quietly(PgConn *c)
{
    if (pg_ok(c) && pg_in_transaction(c)) {
        Err ignored;
        pg_run(c, "ROLLBACK", &ignored);
    }
}

/* One try of a locked step: BODY in one transaction under LOCK_TIMEOUT.
 * A lock timeout, a deadlock or a serialization failure may be retried;
 * anything else, or a lost connection, may not. */
typedef struct LockedTry {
    PgConn *c;
    const Locked *l;
} LockedTry;

static bool locked_try(void *ctx, const char *lock_timeout, bool *retry, Err *err)
{
    LockedTry *t = ctx;
    const char *params[] = {lock_timeout};
    if (pg_run(t->c, "BEGIN", err) &&
        pg_exec(t->c, "SELECT pg_catalog.set_config('lock_timeout', $1, true)", 1, params, NULL, err) &&
        t->l->body(t->c, t->l->ctx, err) && pg_run(t->c, "COMMIT", err))
        return true;
    const char *st = pg_last_sqlstate(t->c);
    *retry = !strcmp(st, "55P03") || !strcmp(st, "40P01") || !strcmp(st, "40001");
    conv_rollback_quietly(t->c);
    *retry = *retry && pg_ok(t->c);
    return false;
}

/* BODY in one transaction under the lock policy: a short lock_timeout
 * first, growing to L->lock_ms over L->retries tries (retry.h). */
static bool locked_run(PgConn *c, const char *what, const Locked *l, Err *err)
{
    LockPolicy lp = lock_policy(l->lock_ms, l->retries);
    LockedTry t = {c, l};
    bool exhausted = false;
    if (retry_locked(&lp, NULL, what, locked_try, &t, &exhausted, err))
        return true;
    if (exhausted) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err->msg);
        err_set(err, PM_EDB, "%s: could not get the lock within %dms after %d attempts (%s)", what, l->lock_ms,
                lp.tries, msg);
        err_hint(err, "long transactions hold the table; run again when they are done (nothing changed)");
    }
    return false;
}

bool run_locked(PgConn *c, const char *what, LockedBody body, void *ctx, Err *err)
{
    Locked l = {body, ctx, DEFAULT_LOCK_MS, DEFAULT_RETRIES};
    return locked_run(c, what, &l, err);
}

/* The custom setting that keeps the undo log's triggers quiet in
 * partmig's own session before the swap (its re-copies into the new
 * table). */
const char *conv_quiet_setting(Conv *v)
{
    return arena_printf(v->a, "partmig.conv_%s_quiet", v->row.id);
}

/* A few partitions' DDL (partmig's triggers made or dropped): each try
 * waits at most LEAF_LOCK_MS, so that writers queued behind it wait no
 * longer -- autovacuum, vacuuming a partition, yields only after the
 * server's deadlock_timeout (1 s) -- and many tries, paused between. */
#define LEAF_LOCK_MS 40
#define LEAF_RETRIES 60

bool run_locked_brief(PgConn *c, const char *what, LockedBody body, void *ctx, Err *err)
{
    Locked l = {body, ctx, LEAF_LOCK_MS, LEAF_RETRIES};
    return locked_run(c, what, &l, err);
}

bool conv_locked(Conv *v, const char *what, LockedBody body, Err *err)
{
    Locked l = {body, v, conv_lock_ms(v), v->o && v->o->lock_retries > 0 ? v->o->lock_retries : DEFAULT_RETRIES};
    return locked_run(v->c, what, &l, err);
}

bool conv_set_state(Conv *v, const char *state, Err *err)
{
    const char *params[] = {v->row.id, state};
    if (!pg_exec(v->c, "UPDATE partmig.conversions SET state = $2, updated_at = now() WHERE id = $1::bigint", 2, params,
                 NULL, err))
        return false;
    v->row.state = arena_strdup(v->a, state);
    return true;
}

bool conv_load_row(Conv *v, Err *err)
{
    memset(&v->row, 0, sizeof v->row);
    PgResult *r = NULL;
    const char *params[] = {v->p->schema, v->p->table};
    if (!pg_exec(v->c,
                 "SELECT id::text, state, method, old_oid::text, shadow_name, kept_name, upper_bound, lower_bound"
                 " FROM partmig.conversions WHERE table_schema = $1 AND table_name = $2"
                 " ORDER BY (state NOT IN ('finalized', 'rolled_back')) DESC, id DESC LIMIT 1",
                 2, params, &r, err))
        return false;
    if (pg_nrows(r) > 0) {
        ConvRow *w = &v->row;
        w->found = true;
        w->id = arena_strdup(v->a, pg_get(r, 0, 0));
        w->state = arena_strdup(v->a, pg_get(r, 0, 1));
        w->method = arena_strdup(v->a, pg_get(r, 0, 2));
        w->old_oid = arena_strdup(v->a, pg_get(r, 0, 3));
        w->shadow = pg_isnull(r, 0, 4) ? NULL : arena_strdup(v->a, pg_get(r, 0, 4));
        w->kept = pg_isnull(r, 0, 5) ? NULL : arena_strdup(v->a, pg_get(r, 0, 5));
        w->upper = pg_isnull(r, 0, 6) ? NULL : arena_strdup(v->a, pg_get(r, 0, 6));
        w->lower = pg_isnull(r, 0, 7) ? NULL : arena_strdup(v->a, pg_get(r, 0, 7));
        set_names(v);
    }
    pg_result_free(r);
    return true;
}

bool conv_ledger_present(PgConn *c, bool *present, Err *err)
{
    PgResult *r = NULL;
    if (!pg_exec(c, "SELECT to_regclass('partmig.conversion_names') IS NOT NULL", 0, NULL, &r, err))
        return false;
    *present = pg_get(r, 0, 0)[0] == 't';
    pg_result_free(r);
    return true;
}

bool conv_record_swapped(Conv *v, double started, Err *err)
{
    char ms[32];
    snprintf(ms, sizeof ms, "%.3f", (retry_now() - started) * 1000.0);
    const char *params[] = {v->row.id, ms};
    return pg_exec(v->c,
                   "UPDATE partmig.conversions SET swap_ms = $2::float8, swapped_at = now() WHERE id = $1::bigint", 2,
                   params, NULL, err) &&
           conv_set_state(v, "swapped", err);
}

bool conv_state_is(const Conv *v, const char *s)
{
    return v->row.state && !strcmp(v->row.state, s);
}

bool conv_script(PgConn *c, const Buf *b, Err *err)
{
    if (b->len == 0)
        return true; /* an empty query string is an error to libpq */
    return pg_exec_script(c, buf_str(b), err);
}

const char *conv_overriding(const Conv *v)
{
    return v->f.nident > 0 ? " OVERRIDING SYSTEM VALUE" : "";
}

void conv_init(Conv *v, PgConn *c, const Policy *p, const ConvertOptions *o, Arena *a)
{
    memset(v, 0, sizeof *v);
    v->c = c;
    v->p = p;
    v->o = o;
    v->a = a;
    v->qname = policy_qualified_name(p, a);
    v->q_table = quote_qualified_str(a, p->schema, p->table);
}

bool conv_gather_original(Conv *v, Err *err)
{
    PgResult *r = NULL;
    const char *params[] = {v->row.old_oid};
    if (!pg_exec(v->c, "SELECT relname FROM pg_class WHERE oid = $1::oid", 1, params, &r, err))
        return false;
    if (pg_nrows(r) == 0) {
        pg_result_free(r);
        return err_set(err, PM_EDB, "the original table of \"%s\" is gone", v->qname);
    }
    Policy q = *v->p;
    q.table = arena_strdup(v->a, pg_get(r, 0, 0));
    pg_result_free(r);
    if (!preflight_gather(v->c, &q, v->a, &v->f, err))
        return false;
    if (v->p->primary_key.n == 0 && !v->f.key_index) {
        v->f.new_pk = v->f.key;
        v->f.nnew_pk = v->f.nkey;
    }
    return true;
}
