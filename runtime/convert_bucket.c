/* convert_bucket.c: which partition of the new table each row of the
 * original table belongs to, as one SQL expression per partitioning level
 * (a binary search of the sorted bounds for range and list, the server's
 * own hash function for hash), so that the verification reads the original
 * table once whatever the number of partitions; and the new table's
 * partition tree as the catalog gives it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/quote.h"
#include "../model/partitions.h"
#include "convert_internal.h"

/* The fingerprint of ROW (an SQL row expression) of kind KIND. */
const char *conv_row_hash(Arena *a, int kind, const char *row)
{
    if (kind == HASH_TYPED)
        return arena_printf(a, "pg_catalog.hash_record_extended(%s, 0)", row);
    if (kind == HASH_TEXT)
        return arena_printf(a, "('x' || left(md5((%s)::text), 16))::bit(64)::bigint", row);
    return "0";
}

/* A parsed literal list: "(a, 'b', NULL)" into raw SQL tokens. */
static bool parse_literals(const char **p, Arena *a, const char ***out, int *n)
{
    const char *s = *p;
    int cap = 4;
    *n = 0;
    *out = arena_alloc(a, sizeof **out * (size_t)cap);
    if (*s++ != '(')
        return false;
    for (;;) {
        while (*s == ' ')
            s++;
        const char *start = s;
        if (*s == '\'') {
            for (s++; *s; s++)
                if (*s == '\'') {
                    if (s[1] != '\'')
                        break;
                    s++;
                }
            if (!*s)
                return false;
            s++;
        } else
            while (*s && *s != ',' && *s != ')')
                s++;
        if (s == start || !*s)
            return false;
        if (*n == cap) {
            *out = arena_grow(a, *out, (size_t)*n, (size_t)cap * 2, sizeof **out);
            cap *= 2;
        }
        (*out)[(*n)++] = arena_strndup(a, start, (size_t)(s - start));
        while (*s == ' ')
            s++;
        if (*s == ')')
            break;
        if (*s++ != ',')
            return false;
    }
    *p = s + 1;
    return true;
}

static bool skip_text(const char **p, const char *text)
{
    size_t n = strlen(text);
    if (strncmp(*p, text, n))
        return false;
    *p += n;
    return true;
}

/* TOKEN as a value of TYPE (MINVALUE, MAXVALUE and NULL give NULL). */
static const char *typed(Arena *a, const char *tok, const char *type)
{
    if (!strcmp(tok, "MINVALUE") || !strcmp(tok, "MAXVALUE") || !strcmp(tok, "NULL"))
        return arena_printf(a, "NULL::%s", type);
    return arena_printf(a, "(%s)::%s", tok, type);
}

static const char *collate(Arena *a, const char *coll)
{
    return *coll ? arena_printf(a, " COLLATE %s", coll) : "";
}

/* "{a,b,c}" of N ints. */
static void int_array(Buf *b, const int *v, int n)
{
    buf_append(b, "'{");
    for (int i = 0; i < n; i++)
        buf_printf(b, "%s%d", i ? "," : "", v[i]);
    buf_append(b, "}'::int4[]");
}

/* A range level: every bound of KIDS (sorted by the server) is a threshold
 * of width_bucket, a binary search; MAP gives each of the thresholds'
 * intervals its partition (or the DEFAULT one, or 0: none). */
static bool range_bucket(Conv *v, const TreeNode *parent, const TreeNode **kids, int n, const char *op, Buf *out,
                         bool *ok, Err *err)
{
    Arena *a = v->a;
    const char **lo = arena_alloc(a, sizeof *lo * (size_t)n), **hi = arena_alloc(a, sizeof *hi * (size_t)n);
    int dflt = 0, nranges = 0;
    for (int i = 0; i < n; i++) {
        const char *s = kids[i]->bound, **t1, **t2;
        int n1, n2;
        lo[i] = hi[i] = NULL;
        if (!strcmp(s, "DEFAULT")) {
            dflt = i + 1;
            continue;
        }
        if (!skip_text(&s, "FOR VALUES FROM ") || !parse_literals(&s, a, &t1, &n1) || !skip_text(&s, " TO ") ||
            !parse_literals(&s, a, &t2, &n2) || *s || n1 != 1 || n2 != 1) {
            *ok = false;
            return true;
        }
        lo[i] = t1[0];
        hi[i] = t2[0];
        nranges++;
    }
    if (nranges == 0) {
        buf_printf(out, "%d", dflt);
        return true;
    }
    const char *coll = collate(a, parent->coll);
    Buf q = {0};
    /* the thresholds come once, in the first row: repeated in every row
     * they made a result of partitions x thresholds */
    buf_append(&q, "WITH b (i, lo, hi) AS (VALUES ");
    for (int i = 0, k = 0; i < n; i++)
        if (lo[i])
            buf_printf(&q, "%s(%d, %s, %s)", k++ ? ", " : "", i + 1, typed(a, lo[i], parent->type),
                       typed(a, hi[i], parent->type));
    buf_printf(&q,
               "), r AS (SELECT x.v, row_number() OVER (ORDER BY x.v%s) AS k FROM (SELECT lo FROM b UNION SELECT hi "
               "FROM b) x (v) WHERE x.v IS NOT NULL) "
               "SELECT b.i, coalesce(rl.k, 0), coalesce(rh.k, -1), (SELECT count(*) FROM r), "
               "CASE WHEN b.i = (SELECT min(i) FROM b) THEN (SELECT array_agg(r.v ORDER BY r.k)::text FROM r) END "
               "FROM b LEFT JOIN r rl ON rl.v = b.lo LEFT JOIN r rh ON rh.v = b.hi ORDER BY b.i",
               coll);
    PgResult *r = NULL;
    bool done = pg_exec(v->c, buf_str(&q), 0, NULL, &r, err);
    buf_free(&q);
    if (!done)
        return false;
    int m = (int)pg_get_int(r, 0, 3);
    int *map = arena_alloc(a, sizeof *map * (size_t)(m + 1));
    for (int j = 0; j <= m; j++)
        map[j] = dflt;
    for (int row = 0; row < pg_nrows(r); row++) {
        int i = (int)pg_get_int(r, row, 0), from = (int)pg_get_int(r, row, 1), to = (int)pg_get_int(r, row, 2);
        if (to < 0)
            to = m + 1;
        for (int j = from; j < to && j <= m; j++) /* bucket j: thresholds[j] <= value < thresholds[j + 1] */
            map[j] = i;
    }
    buf_printf(out, "CASE WHEN %s IS NULL THEN %d ELSE (", op, dflt);
    int_array(out, map, m + 1);
    buf_printf(out, ")[pg_catalog.width_bucket(%s%s, %s::%s[]) + 1] END", op, coll,
               quote_literal_str(a, pg_get(r, 0, 4)), parent->type);
    pg_result_free(r);
    return true;
}

/* A list level: the values sorted by the server, found by width_bucket
 * (a binary search) and checked for equality. */
static bool list_bucket(Conv *v, const TreeNode *parent, const TreeNode **kids, int n, const char *op, Buf *out,
                        bool *ok, Err *err)
{
    Arena *a = v->a;
    int dflt = 0, nvals = 0;
    Buf q = {0};
    buf_append(&q, "WITH b (i, v) AS (VALUES ");
    for (int i = 0; i < n; i++) {
        const char *s = kids[i]->bound, **t;
        int nt;
        if (!strcmp(s, "DEFAULT")) {
            dflt = i + 1;
            continue;
        }
        if (!skip_text(&s, "FOR VALUES IN ") || !parse_literals(&s, a, &t, &nt) || *s) {
            *ok = false;
            buf_free(&q);
            return true;
        }
        for (int k = 0; k < nt; k++)
            buf_printf(&q, "%s(%d, %s)", nvals++ ? ", " : "", i + 1, typed(a, t[k], parent->type));
    }
    if (nvals == 0) {
        buf_free(&q);
        buf_printf(out, "%d", dflt);
        return true;
    }
    const char *coll = collate(a, parent->coll);
    buf_printf(&q,
               ") SELECT (SELECT array_agg(v ORDER BY v%s)::text FROM b WHERE v IS NOT NULL), "
               "(SELECT array_agg(i ORDER BY v%s)::text FROM b WHERE v IS NOT NULL), "
               "coalesce((SELECT min(i) FROM b WHERE v IS NULL), %d)",
               coll, coll, dflt);
    PgResult *r = NULL;
    bool done = pg_exec(v->c, buf_str(&q), 0, NULL, &r, err);
    buf_free(&q);
    if (!done)
        return false;
    if (pg_isnull(r, 0, 0))
        buf_printf(out, "CASE WHEN %s IS NULL THEN %s ELSE %d END", op, pg_get(r, 0, 2), dflt);
    else {
        const char *vals = arena_printf(a, "%s::%s[]", quote_literal_str(a, pg_get(r, 0, 0)), parent->type);
        const char *wb = arena_printf(a, "pg_catalog.width_bucket(%s%s, %s)", op, coll, vals);
        buf_printf(out, "CASE WHEN %s IS NULL THEN %s WHEN (%s)[%s] = %s THEN (%s::int4[])[%s] ELSE %d END", op,
                   pg_get(r, 0, 2), vals, wb, op, quote_literal_str(a, pg_get(r, 0, 1)), wb, dflt);
    }
    pg_result_free(r);
    return true;
}

/* Hash: the remainder modulo the greatest modulus G, found digit by digit
 * of G's prime factors with the server's own satisfies_hash_partition (any
 * modulus works there), so each row takes about the sum of those factors
 * in calls, not G. */
static void hash_tree(Buf *out, const char *parent, const char *op, const int *factors, int nf, int level, int rem,
                      int mod, const int *rmap)
{
    if (level == nf) {
        buf_printf(out, "%d", rmap[rem]);
        return;
    }
    int p = factors[level], next = mod * p;
    buf_append(out, "CASE");
    for (int t = 0; t < p - 1; t++) {
        buf_printf(out, " WHEN pg_catalog.satisfies_hash_partition(%s::oid, %d, %d, %s) THEN ", parent, next,
                   rem + t * mod, op);
        hash_tree(out, parent, op, factors, nf, level + 1, rem + t * mod, next, rmap);
    }
    buf_append(out, " ELSE ");
    hash_tree(out, parent, op, factors, nf, level + 1, rem + (p - 1) * mod, next, rmap);
    buf_append(out, " END");
}

static bool hash_bucket(Conv *v, const TreeNode *parent, const TreeNode **kids, int n, const char *op, Buf *out,
                        bool *ok)
{
    int *mods = arena_alloc(v->a, sizeof *mods * (size_t)n), *rems = arena_alloc(v->a, sizeof *rems * (size_t)n);
    int g = 1;
    for (int i = 0; i < n; i++) {
        if (sscanf(kids[i]->bound, "FOR VALUES WITH (modulus %d, remainder %d)", &mods[i], &rems[i]) != 2 ||
            mods[i] < 1 || mods[i] > 1 << 20) {
            *ok = false;
            return true;
        }
        if (mods[i] > g)
            g = mods[i];
    }
    int *rmap = arena_alloc(v->a, sizeof *rmap * (size_t)g);
    for (int r = 0; r < g; r++) {
        rmap[r] = 0;
        for (int i = 0; i < n; i++)
            if (r % mods[i] == rems[i])
                rmap[r] = i + 1;
    }
    int factors[32], nf = 0;
    for (int x = g, d = 2; x > 1;) {
        if (d * d > x) {
            factors[nf++] = x;
            break;
        }
        if (x % d == 0) {
            factors[nf++] = d;
            x /= d;
        } else
            d++;
    }
    hash_tree(out, parent->oid, op, factors, nf, 0, 0, 1, rmap);
    return true;
}

/* The bucket (1..N: index into KIDS; 0: no partition) of OP, the value of
 * PARENT's partition key.  *OK false: a layout this does not handle. */
static bool level_bucket(Conv *v, const TreeNode *parent, const TreeNode **kids, int n, const char *op, Buf *out,
                         bool *ok, Err *err)
{
    if (parent->natts != 1 || !*parent->col) {
        *ok = false;
        return true;
    }
    if (parent->strat == 'r')
        return range_bucket(v, parent, kids, n, op, out, ok, err);
    if (parent->strat == 'l')
        return list_bucket(v, parent, kids, n, op, out, ok, err);
    if (parent->strat == 'h')
        return hash_bucket(v, parent, kids, n, op, out, ok);
    *ok = false;
    return true;
}

static int by_bound(const void *x, const void *y)
{
    return strcmp((*(const TreeNode *const *)x)->bound, (*(const TreeNode *const *)y)->bound);
}

/* Children of PARENT among the NODES, sorted by bound text. */
static const TreeNode **children(Arena *a, TreeNode *nodes, int n, const char *parent, int *nk)
{
    const TreeNode **k = arena_alloc(a, sizeof *k * (size_t)(n + 1));
    *nk = 0;
    for (int i = 0; i < n; i++)
        if (!strcmp(nodes[i].parent, parent))
            k[(*nk)++] = &nodes[i];
    qsort(k, (size_t)*nk, sizeof *k, by_bound);
    return k;
}

/* The source query: each row of SRC (not in LOG) with its bucket pair,
 * grouped, with counts and summed HASH.  Sets every leaf's pair.  One or
 * two levels whose bounds can be searched; otherwise each leaf's partition
 * constraint in turn (correct, but rows x partitions). */
bool conv_bucket_query(Conv *v, TreeNode *nodes, int n, const char *src, const char *excl, const char *hash, Buf *q,
                       Err *err)
{
    Arena *a = v->a;
    const TreeNode *root = &nodes[0];
    int n1 = 0, n2 = 0;
    const TreeNode **k1 = children(a, nodes, n, root->oid, &n1), *tmpl = NULL, **k2 = NULL;
    bool ok = root->strat != 0;
    for (int i = 0; ok && i < n1; i++) {
        if (k1[i]->leaf) {
            ((TreeNode *)k1[i])->b1 = i + 1;
            continue;
        }
        int nk = 0;
        const TreeNode **kk = children(a, nodes, n, k1[i]->oid, &nk);
        if (!tmpl) {
            tmpl = k1[i];
            k2 = kk;
            n2 = nk;
        }
        ok = nk == n2 && k1[i]->strat == tmpl->strat && k1[i]->natts == tmpl->natts && !strcmp(k1[i]->col, tmpl->col) &&
             !strcmp(k1[i]->type, tmpl->type) && !strcmp(k1[i]->coll, tmpl->coll);
        for (int j = 0; ok && j < nk; j++) {
            ok = kk[j]->leaf && !strcmp(kk[j]->bound, k2[j]->bound);
            ((TreeNode *)kk[j])->b1 = i + 1;
            ((TreeNode *)kk[j])->b2 = j + 1;
        }
    }
    Buf e1 = {0}, e2 = {0};
    if (ok && !level_bucket(v, root, k1, n1, arena_printf(a, "o.%s", root->col), &e1, &ok, err))
        goto fail;
    if (ok && tmpl && !level_bucket(v, tmpl, k2, n2, "s.k2", &e2, &ok, err))
        goto fail;
    if (ok && !tmpl)
        buf_printf(q, "SELECT %s, 0, count(*), coalesce(sum(%s), 0)::text FROM %s o%s GROUP BY 1", buf_str(&e1), hash,
                   src, excl);
    else if (ok) {
        buf_append(q, "SELECT s.b1, CASE WHEN ('{f");
        for (int i = 0; i < n1; i++)
            buf_append(q, k1[i]->leaf ? ",f" : ",t");
        buf_printf(q,
                   "}'::bool[])[s.b1 + 1] THEN %s ELSE 0 END, count(*), coalesce(sum(s.h), 0)::text "
                   "FROM (SELECT %s AS b1, o.%s AS k2, %s AS h FROM %s o%s) s GROUP BY 1, 2",
                   buf_str(&e2), buf_str(&e1), tmpl->col, hash, src, excl);
    } else {
        buf_append(q, "SELECT CASE");
        int b = 0;
        for (int i = 0; i < n; i++)
            if (nodes[i].leaf) {
                nodes[i].b1 = ++b;
                nodes[i].b2 = 0;
                buf_printf(q, " WHEN %s THEN %d", nodes[i].constraint, b);
            }
        buf_printf(q, " ELSE 0 END, 0, count(*), coalesce(sum(%s), 0)::text FROM %s o%s GROUP BY 1", hash, src, excl);
    }
    buf_free(&e1);
    buf_free(&e2);
    return true;
fail:
    buf_free(&e1);
    buf_free(&e2);
    return false;
}

/* The new table's partition tree, root first. */
bool conv_read_tree(Conv *v, const char *dst, TreeNode **out, int *n, Err *err)
{
    PgResult *r = NULL;
    const char *params[] = {dst};
    if (!pg_exec(v->c,
                 "SELECT t.relid::oid::text, t.relid::regclass::text, coalesce(t.parentrelid::oid::text, ''), t.isleaf,"
                 " coalesce(pg_catalog.pg_get_expr(c.relpartbound, c.oid), ''), coalesce(pt.partstrat::text, ''),"
                 " coalesce(pt.partnatts, 0), coalesce(pg_catalog.quote_ident(a.attname), ''),"
                 " coalesce(pg_catalog.format_type(a.atttypid, a.atttypmod), ''),"
                 " coalesce((SELECT pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(co.collname)"
                 "  FROM pg_catalog.pg_collation co JOIN pg_catalog.pg_namespace n ON n.oid = co.collnamespace"
                 "  WHERE co.oid = pt.partcollation[0]), ''),"
                 " CASE WHEN t.isleaf THEN pg_catalog.pg_get_partition_constraintdef(t.relid) END,"
                 " (SELECT count(*) FROM pg_catalog.pg_index i WHERE i.indrelid = t.relid)"
                 " FROM pg_catalog.pg_partition_tree($1::regclass) t JOIN pg_catalog.pg_class c ON c.oid = t.relid"
                 " LEFT JOIN pg_catalog.pg_partitioned_table pt ON pt.partrelid = t.relid"
                 " LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = t.relid AND a.attnum = pt.partattrs[0]"
                 " ORDER BY t.level, 2",
                 1, params, &r, err))
        return false;
    *n = pg_nrows(r);
    *out = arena_alloc(v->a, sizeof **out * (size_t)(*n > 0 ? *n : 1));
    for (int i = 0; i < *n; i++) {
        TreeNode *x = &(*out)[i];
        memset(x, 0, sizeof *x);
        x->oid = arena_strdup(v->a, pg_get(r, i, 0));
        x->name = arena_strdup(v->a, pg_get(r, i, 1));
        x->parent = arena_strdup(v->a, pg_get(r, i, 2));
        x->leaf = !strcmp(pg_get(r, i, 3), "t");
        x->bound = arena_strdup(v->a, pg_get(r, i, 4));
        x->strat = pg_get(r, i, 5)[0];
        x->natts = (int)pg_get_int(r, i, 6);
        x->col = arena_strdup(v->a, pg_get(r, i, 7));
        x->type = arena_strdup(v->a, pg_get(r, i, 8));
        x->coll = arena_strdup(v->a, pg_get(r, i, 9));
        x->constraint = pg_isnull(r, i, 10) ? "false" : arena_strdup(v->a, pg_get(r, i, 10));
        x->nidx = (int)pg_get_int(r, i, 11);
    }
    pg_result_free(r);
    return true;
}
