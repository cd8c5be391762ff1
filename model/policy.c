/* policy.c: the policy model's canonical JSON (jansson) and names. */
#include "policy.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "interval.h"

static const char *by_name(PartBy by)
{
    return by == PART_LIST ? "list" : by == PART_HASH ? "hash" : "range";
}

static const char *method_name(ExistingMethod m)
{
    return m == EXISTING_ATTACH ? "attach" : m == EXISTING_NONE ? "none" : "copy";
}

const char *policy_qualified_name(const Policy *p, Arena *arena)
{
    return arena_printf(arena, "%s.%s", p->schema ? p->schema : "public", p->table);
}

const char *policy_index_name(const IndexSpec *ix, const Policy *p, Arena *arena)
{
    if (ix->name)
        return ix->name;
    Buf b = {0};
    buf_append(&b, p->table);
    for (int i = 0; i < ix->columns.n; i++)
        buf_printf(&b, "_%s", ix->columns.items[i]);
    buf_append(&b, ix->unique ? "_key" : "_idx");
    const char *name = arena_strdup(arena, buf_str(&b));
    buf_free(&b);
    return name;
}

const char *policy_naming(const Policy *p)
{
    return p->naming ? p->naming : naming_default(p->by == PART_RANGE ? p->interval.unit : UNIT_NONE);
}

/* ---- to JSON ---- */

static json_t *interval_json(Interval iv)
{
    if (iv.unit == UNIT_NONE)
        return json_null();
    Buf b = {0};
    interval_format(&b, iv);
    json_t *j = json_string(buf_str(&b));
    buf_free(&b);
    return j;
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *strlist_json(const StrList *l)
{
    json_t *a = json_array();
    for (int i = 0; i < l->n; i++)
        json_array_append_new(a, json_string(l->items[i]));
    return a;
}

static json_t *lists_json(const ListPartition *lists, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a,
                              json_pack("{s:s, s:o}", "name", lists[i].name, "values", strlist_json(&lists[i].values)));
    return a;
}

const char *policy_to_json(const Policy *p, Arena *arena)
{
    json_t *o = json_object();
    json_object_set_new(o, "schema", json_string(p->schema ? p->schema : "public"));
    json_object_set_new(o, "table", json_string(p->table ? p->table : ""));
    json_object_set_new(o, "by", json_string(by_name(p->by)));
    json_object_set_new(o, "column", str_or_null(p->column));
    json_object_set_new(o, "interval", interval_json(p->by == PART_RANGE ? p->interval : (Interval){0}));
    json_object_set_new(o, "start", str_or_null(p->start));
    json_object_set_new(o, "premake", json_integer(p->premake));
    json_object_set_new(o, "timezone", json_string(p->timezone ? p->timezone : "UTC"));
    json_object_set_new(o, "naming", json_string(policy_naming(p)));
    json_object_set_new(o, "default_partition", json_boolean(p->default_partition));
    json_object_set_new(o, "modulus", json_integer(p->modulus));
    json_object_set_new(o, "values", lists_json(p->lists, p->nlists));

    json_t *ixs = json_array();
    for (int i = 0; i < p->nindexes; i++) {
        const IndexSpec *ix = &p->indexes[i];
        json_array_append_new(ixs, json_pack("{s:s, s:o, s:b, s:s}", "name", policy_index_name(ix, p, arena), "columns",
                                             strlist_json(&ix->columns), "unique", ix->unique, "method",
                                             ix->method ? ix->method : "btree"));
    }
    json_object_set_new(o, "indexes", ixs);

    if (p->retention.set) {
        const Retention *r = &p->retention;
        json_t *archive = r->archive == ARCHIVE_SCHEMA ? json_sprintf("schema:%s", r->archive_target)
                          : r->archive == ARCHIVE_DUMP ? json_sprintf("dump:%s", r->archive_target)
                                                       : json_null();
        json_object_set_new(o, "retention",
                            json_pack("{s:o, s:b, s:b, s:o}", "keep", interval_json(r->keep), "keep_table",
                                      r->keep_table, "keep_index", r->keep_index, "archive", archive));
    } else {
        json_object_set_new(o, "retention", json_null());
    }

    json_t *tiers = json_array();
    for (int i = 0; i < p->ntiers; i++)
        json_array_append_new(tiers, json_pack("{s:o, s:s}", "older_than", interval_json(p->tiers[i].older_than),
                                               "tablespace", p->tiers[i].tablespace));
    json_object_set_new(o, "tiering", tiers);

    if (p->subpartition.set) {
        const Subpartition *s = &p->subpartition;
        json_object_set_new(o, "subpartition",
                            json_pack("{s:s, s:s, s:i, s:o}", "by", by_name(s->by), "column", s->column, "modulus",
                                      s->modulus, "values", lists_json(s->lists, s->nlists)));
    } else {
        json_object_set_new(o, "subpartition", json_null());
    }

    json_object_set_new(o, "existing",
                        json_pack("{s:s, s:i, s:i}", "method", method_name(p->existing.method), "batch_size",
                                  p->existing.batch_size, "jobs", p->existing.jobs));
    json_object_set_new(o, "backend", json_string(p->backend == BACKEND_PG_PARTMAN ? "pg_partman" : "native"));

    json_t *cols = json_array();
    for (int i = 0; i < p->ncolumns; i++)
        json_array_append_new(cols, json_pack("[s, s]", p->columns[i].name, p->columns[i].type));
    json_object_set_new(o, "columns", cols);
    json_object_set_new(o, "primary_key", strlist_json(&p->primary_key));

    char *text = json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENSURE_ASCII);
    const char *result = arena_strdup(arena, text ? text : "{}");
    free(text);
    json_decref(o);
    return result;
}

/* ---- from JSON ---- */

typedef struct Reader {
    Arena *arena;
    Err *err;
    bool ok;
} Reader;

static bool bad(Reader *r, const char *key, const char *what)
{
    if (r->ok)
        err_set(r->err, PM_EINPUT, "policy state: \"%s\": expected %s", key, what);
    r->ok = false;
    return false;
}

static const char *get_str(Reader *r, json_t *o, const char *key, bool nullable)
{
    json_t *v = json_object_get(o, key);
    if ((!v || json_is_null(v)) && nullable)
        return NULL;
    if (!json_is_string(v)) {
        bad(r, key, nullable ? "a string or null" : "a string");
        return NULL;
    }
    return arena_strdup(r->arena, json_string_value(v));
}

static int get_int(Reader *r, json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v)) {
        bad(r, key, "an integer");
        return 0;
    }
    return (int)json_integer_value(v);
}

static bool get_bool(Reader *r, json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_boolean(v)) {
        bad(r, key, "true or false");
        return false;
    }
    return json_is_true(v);
}

static Interval get_interval(Reader *r, json_t *o, const char *key)
{
    Interval iv = {0};
    const char *s = get_str(r, o, key, true);
    if (s && !interval_parse(s, true, &iv))
        bad(r, key, "an interval");
    return iv;
}

static StrList get_strlist(Reader *r, json_t *v, const char *key)
{
    StrList l = {0};
    if (!json_is_array(v)) {
        bad(r, key, "an array of strings");
        return l;
    }
    l.n = (int)json_array_size(v);
    l.items = arena_alloc(r->arena, sizeof *l.items * (size_t)(l.n + 1));
    for (int i = 0; i < l.n; i++) {
        json_t *s = json_array_get(v, (size_t)i);
        if (!json_is_string(s)) {
            bad(r, key, "an array of strings");
            l.n = 0;
            return l;
        }
        l.items[i] = arena_strdup(r->arena, json_string_value(s));
    }
    return l;
}

static ListPartition *get_lists(Reader *r, json_t *o, const char *key, int *n)
{
    json_t *a = json_object_get(o, key);
    *n = 0;
    if (!json_is_array(a)) {
        bad(r, key, "an array");
        return NULL;
    }
    size_t cnt = json_array_size(a);
    ListPartition *lists = arena_alloc(r->arena, sizeof *lists * (cnt + 1));
    for (size_t i = 0; i < cnt; i++) {
        json_t *e = json_array_get(a, i);
        lists[i].name = get_str(r, e, "name", false);
        lists[i].values = get_strlist(r, json_object_get(e, "values"), "values");
    }
    *n = (int)cnt;
    return lists;
}

static PartBy get_by(Reader *r, json_t *o, const char *key)
{
    const char *s = get_str(r, o, key, false);
    if (!s)
        return PART_RANGE;
    if (!strcmp(s, "range"))
        return PART_RANGE;
    if (!strcmp(s, "list"))
        return PART_LIST;
    if (!strcmp(s, "hash"))
        return PART_HASH;
    bad(r, key, "range, list or hash");
    return PART_RANGE;
}

bool policy_from_json(const char *text, Arena *arena, Policy *out, Err *err)
{
    memset(out, 0, sizeof *out);
    json_error_t jerr;
    json_t *o = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    Reader r = {arena, err, true};
    if (!o || !json_is_object(o)) {
        err_set(err, PM_EINPUT, "policy state is not a JSON object: %s", o ? "not an object" : jerr.text);
        r.ok = false;
        goto done;
    }
    out->schema = get_str(&r, o, "schema", false);
    out->table = get_str(&r, o, "table", false);
    out->by = get_by(&r, o, "by");
    out->column = get_str(&r, o, "column", true);
    out->interval = get_interval(&r, o, "interval");
    out->start = get_str(&r, o, "start", true);
    out->premake = get_int(&r, o, "premake");
    out->timezone = get_str(&r, o, "timezone", false);
    out->naming = get_str(&r, o, "naming", true);
    out->default_partition = get_bool(&r, o, "default_partition");
    out->modulus = get_int(&r, o, "modulus");
    out->lists = get_lists(&r, o, "values", &out->nlists);

    json_t *ixs = json_object_get(o, "indexes");
    if (!json_is_array(ixs)) {
        bad(&r, "indexes", "an array");
        goto done;
    }
    out->nindexes = (int)json_array_size(ixs);
    out->indexes = arena_alloc(arena, sizeof *out->indexes * (size_t)(out->nindexes + 1));
    for (int i = 0; i < out->nindexes; i++) {
        json_t *e = json_array_get(ixs, (size_t)i);
        IndexSpec *ix = &out->indexes[i];
        ix->name = get_str(&r, e, "name", false);
        ix->columns = get_strlist(&r, json_object_get(e, "columns"), "columns");
        ix->unique = get_bool(&r, e, "unique");
        ix->method = get_str(&r, e, "method", false);
    }

    json_t *ret = json_object_get(o, "retention");
    if (ret && json_is_object(ret)) {
        Retention *rt = &out->retention;
        rt->set = true;
        rt->keep = get_interval(&r, ret, "keep");
        rt->keep_table = get_bool(&r, ret, "keep_table");
        rt->keep_index = get_bool(&r, ret, "keep_index");
        const char *a = get_str(&r, ret, "archive", true);
        if (a && !strncmp(a, "schema:", 7)) {
            rt->archive = ARCHIVE_SCHEMA;
            rt->archive_target = a + 7;
        } else if (a && !strncmp(a, "dump:", 5)) {
            rt->archive = ARCHIVE_DUMP;
            rt->archive_target = a + 5;
        } else if (a) {
            bad(&r, "archive", "\"schema:<name>\", \"dump:<directory>\" or null");
        }
    } else if (ret && !json_is_null(ret)) {
        bad(&r, "retention", "an object or null");
    }

    json_t *tiers = json_object_get(o, "tiering");
    if (!json_is_array(tiers)) {
        bad(&r, "tiering", "an array");
        goto done;
    }
    out->ntiers = (int)json_array_size(tiers);
    out->tiers = arena_alloc(arena, sizeof *out->tiers * (size_t)(out->ntiers + 1));
    for (int i = 0; i < out->ntiers; i++) {
        json_t *e = json_array_get(tiers, (size_t)i);
        out->tiers[i].older_than = get_interval(&r, e, "older_than");
        out->tiers[i].tablespace = get_str(&r, e, "tablespace", false);
    }

    json_t *sub = json_object_get(o, "subpartition");
    if (sub && json_is_object(sub)) {
        Subpartition *s = &out->subpartition;
        s->set = true;
        s->by = get_by(&r, sub, "by");
        s->column = get_str(&r, sub, "column", false);
        s->modulus = get_int(&r, sub, "modulus");
        s->lists = get_lists(&r, sub, "values", &s->nlists);
    } else if (sub && !json_is_null(sub)) {
        bad(&r, "subpartition", "an object or null");
    }

    json_t *ex = json_object_get(o, "existing");
    if (!json_is_object(ex)) {
        bad(&r, "existing", "an object");
        goto done;
    }
    const char *m = get_str(&r, ex, "method", false);
    out->existing.method = m && !strcmp(m, "attach") ? EXISTING_ATTACH
                           : m && !strcmp(m, "none") ? EXISTING_NONE
                                                     : EXISTING_COPY;
    out->existing.batch_size = get_int(&r, ex, "batch_size");
    out->existing.jobs = get_int(&r, ex, "jobs");

    const char *backend = get_str(&r, o, "backend", false);
    out->backend = backend && !strcmp(backend, "pg_partman") ? BACKEND_PG_PARTMAN : BACKEND_NATIVE;

    json_t *cols = json_object_get(o, "columns");
    if (!json_is_array(cols)) {
        bad(&r, "columns", "an array");
        goto done;
    }
    out->ncolumns = (int)json_array_size(cols);
    out->columns = out->ncolumns ? arena_alloc(arena, sizeof *out->columns * (size_t)out->ncolumns) : NULL;
    for (int i = 0; i < out->ncolumns; i++) {
        json_t *c = json_array_get(cols, (size_t)i);
        json_t *n = json_array_get(c, 0), *t = json_array_get(c, 1);
        if (!json_is_string(n) || !json_is_string(t)) {
            bad(&r, "columns", "[name, type] pairs");
            goto done;
        }
        out->columns[i].name = arena_strdup(arena, json_string_value(n));
        out->columns[i].type = arena_strdup(arena, json_string_value(t));
    }
    out->primary_key = get_strlist(&r, json_object_get(o, "primary_key"), "primary_key");
done:
    json_decref(o);
    return r.ok;
}

void policy_defaults(Policy *p)
{
    memset(p, 0, sizeof *p);
    p->schema = "public";
    p->premake = 3;
    p->timezone = "UTC";
    p->retention.keep_index = true;
    p->existing.method = EXISTING_COPY;
    p->existing.batch_size = 50000;
    p->existing.jobs = 1;
    p->backend = BACKEND_NATIVE;
}

const char *policy_changed_keys(const Policy *a, const Policy *b, Arena *arena)
{
    json_t *ja = json_loads(policy_to_json(a, arena), 0, NULL);
    json_t *jb = json_loads(policy_to_json(b, arena), 0, NULL);
    Buf out = {0};
    const char *key;
    json_t *va;
    /* canonical JSON always has the same keys; iterate in sorted order */
    const char **keys = arena_alloc(arena, sizeof *keys * (json_object_size(ja) + 1));
    size_t n = 0;
    json_object_foreach(ja, key, va)
    {
        if (!json_equal(va, json_object_get(jb, key)))
            keys[n++] = key;
    }
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(keys[j - 1], keys[j]) > 0; j--) {
            const char *t = keys[j];
            keys[j] = keys[j - 1];
            keys[j - 1] = t;
        }
    for (size_t i = 0; i < n; i++)
        buf_printf(&out, "%s%s", i ? ", " : "", keys[i]);
    const char *result = arena_strdup(arena, buf_str(&out));
    buf_free(&out);
    json_decref(ja);
    json_decref(jb);
    return result;
}

const char *const policy_keys_new_table[] = {"backend", "by", "column", "interval", "modulus", "subpartition", NULL};
const char *const policy_keys_relayout[] = {
    "columns", "default_partition", "existing", "naming", "primary_key", "schema", "start",
    "table",   "timezone",          "values",   NULL};

const char *policy_changed_among(const Policy *a, const Policy *b, const char *const *keys, Arena *arena)
{
    json_t *ja = json_loads(policy_to_json(a, arena), 0, NULL);
    json_t *jb = json_loads(policy_to_json(b, arena), 0, NULL);
    Buf out = {0};
    for (int i = 0; keys[i]; i++)
        if (!json_equal(json_object_get(ja, keys[i]), json_object_get(jb, keys[i])))
            buf_printf(&out, "%s%s", out.len ? ", " : "", keys[i]);
    const char *result = arena_strdup(arena, buf_str(&out));
    buf_free(&out);
    json_decref(ja);
    json_decref(jb);
    return result;
}
