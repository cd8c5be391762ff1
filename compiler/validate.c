/* validate.c: policy checks -- text patterns (PCRE2) and combinations. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "validate.h"

#include <pcre2.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "partitions.h"
#include "policy.h"

/* Patterns compiled once per process, freed by validate_release().  All are
 * compiled with PCRE2_DOLLAR_ENDONLY: `$` is the end of the subject, never
 * "before a final newline" (so "t\n" is not an identifier), and PCRE2_UTF:
 * a subject that is not UTF-8 never matches. */
enum { PAT_IDENT, PAT_INTERVAL, PAT_INTEGER, PAT_DATE, PAT_ZONE, PAT_TEXT, PAT_COUNT };
static const char *const pattern_text[PAT_COUNT] = {
    [PAT_IDENT] = "^[a-z_][a-z0-9_]{0,62}$",
    [PAT_INTERVAL] = "^ *([1-9][0-9]{0,5}) +(hour|day|week|month|quarter|year)s? *$",
    [PAT_INTEGER] = "^ *([1-9][0-9]{0,17}) *$",
    [PAT_DATE] = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
    [PAT_ZONE] = "^(UTC|[A-Z][A-Za-z_+-]{1,30}(/[A-Za-z0-9_+-]{1,30}){1,2})$",
    [PAT_TEXT] = "^[^\\x00-\\x1f\\x7f-\\x{9f}]*$", /* no C0, DEL or C1 control character */
};
static pcre2_code *patterns[PAT_COUNT];
static pcre2_match_data *match_data;

static pcre2_code *pattern(int which)
{
    if (!patterns[which]) {
        int code;
        PCRE2_SIZE offset;
        patterns[which] = pcre2_compile((PCRE2_SPTR)pattern_text[which], PCRE2_ZERO_TERMINATED,
                                        PCRE2_UTF | PCRE2_DOLLAR_ENDONLY, &code, &offset, NULL);
        if (!patterns[which]) {
            /* a bug in the table above, not bad input */
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(code, msg, sizeof msg);
            fprintf(stderr, "partmig: internal pattern %d: %s at offset %zu\n", which, (char *)msg, (size_t)offset);
            abort();
        }
    }
    if (!match_data) {
        match_data = pcre2_match_data_create(8, NULL);
        if (!match_data)
            abort();
    }
    return patterns[which];
}

/* pcre2_match's result for S and pattern WHICH: > 0 a match (captures stay
 * in match_data), PCRE2_ERROR_NOMATCH, or another error (a UTF-8 error when
 * S is not UTF-8). */
static int match(int which, const char *s)
{
    pcre2_code *re = pattern(which);
    return pcre2_match(re, (PCRE2_SPTR)s, strlen(s), 0, 0, match_data, NULL);
}

/* True when S matches pattern WHICH.  Invalid UTF-8 and other match errors
 * count as "no match". */
static bool matches(int which, const char *s)
{
    return s && match(which, s) > 0;
}

/* Capture N of the last match, copied into OUT (size CAP). */
static void capture(int n, const char *s, char *out, size_t cap)
{
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(match_data);
    size_t len = ov[2 * n + 1] - ov[2 * n];
    if (len >= cap)
        len = cap - 1;
    memcpy(out, s + ov[2 * n], len);
    out[len] = '\0';
}

void validate_release(void)
{
    for (int i = 0; i < PAT_COUNT; i++) {
        pcre2_code_free(patterns[i]);
        patterns[i] = NULL;
    }
    pcre2_match_data_free(match_data);
    match_data = NULL;
}

const char *validate_text(const char *s)
{
    int rc = match(PAT_TEXT, s);
    return rc > 0 ? NULL : rc == PCRE2_ERROR_NOMATCH ? "a control character" : "invalid UTF-8";
}

/* Length of the printable character at S (LEFT > 0 bytes available): 1..4
 * for a UTF-8 sequence encoding no control character, 0 otherwise. */
static size_t utf8_printable_len(const unsigned char *s, size_t left)
{
    if (s[0] >= 0x20 && s[0] < 0x7f)
        return 1;
    size_t n;
    unsigned long cp;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        n = 2, cp = s[0] & 0x1f;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        n = 3, cp = s[0] & 0x0f;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        n = 4, cp = s[0] & 0x07;
    else
        return 0;
    if (n > left)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    static const unsigned long shortest[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < shortest[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp <= 0x9f))
        return 0;
    return n;
}

void text_escape(char *out, size_t cap, const char *in, size_t len_in)
{
    size_t o = 0;
    const unsigned char *s = (const unsigned char *)in, *end = s + len_in;
    while (s < end) {
        char esc[8];
        size_t n = utf8_printable_len(s, (size_t)(end - s)), len;
        const char *piece;
        if (n) {
            piece = (const char *)s, len = n;
        } else {
            snprintf(esc, sizeof esc, "\\x%02x", *s);
            piece = *s == '\n' ? "\\n" : *s == '\r' ? "\\r" : *s == '\t' ? "\\t" : esc;
            len = strlen(piece), n = 1;
        }
        if (o + len >= cap)
            break;
        memcpy(out + o, piece, len);
        o += len;
        s += n;
    }
    out[o] = '\0';
}

bool validate_identifier(const char *s)
{
    return matches(PAT_IDENT, s);
}

bool interval_parse(const char *text, bool allow_integer, Interval *out)
{
    char num[32], unit[16];
    if (matches(PAT_INTERVAL, text)) {
        capture(1, text, num, sizeof num);
        capture(2, text, unit, sizeof unit);
        static const struct {
            const char *word;
            IntervalUnit unit;
        } units[] = {{"hour", UNIT_HOUR},   {"day", UNIT_DAY},         {"week", UNIT_WEEK},
                     {"month", UNIT_MONTH}, {"quarter", UNIT_QUARTER}, {"year", UNIT_YEAR}};
        for (size_t i = 0; i < sizeof units / sizeof *units; i++)
            if (!strcmp(unit, units[i].word)) {
                out->unit = units[i].unit;
                out->count = strtoll(num, NULL, 10);
                return true;
            }
        return false;
    }
    if (allow_integer && matches(PAT_INTEGER, text)) {
        capture(1, text, num, sizeof num);
        out->unit = UNIT_INTEGER;
        out->count = strtoll(num, NULL, 10);
        return true;
    }
    return false;
}

bool validate_date(const char *s)
{
    WallTime t;
    return matches(PAT_DATE, s) && walltime_parse(s, &t);
}

bool validate_timezone(const char *s)
{
    return matches(PAT_ZONE, s);
}

/* ---- whole policies ---- */

#define FAIL(...)                                                                                                      \
    do {                                                                                                               \
        policy_fail(p, err, __VA_ARGS__);                                                                              \
        return false;                                                                                                  \
    } while (0)

static void policy_fail(const Policy *p, Err *err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void policy_fail(const Policy *p, Err *err, const char *fmt, ...)
{
    /* the message quotes the policy's text: escape it all (partmig's own text has no control characters) */
    char msg[900], escaped[sizeof err->msg], file[sizeof err->file];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char table[220];
    const char *f = p->source_file ? p->source_file : "", *t = p->table ? p->table : "";
    text_escape(escaped, sizeof escaped, msg, strlen(msg));
    text_escape(file, sizeof file, f, strlen(f));
    text_escape(table, sizeof table, t, strlen(t));
    err_at(err, PM_EINPUT, file, p->source_line, "partition \"%s\": %s", table, escaped);
}

/* A key to look for duplicates: A (and B when not NULL) at list position I. */
typedef struct DupKey {
    const char *a, *b;
    int i;
} DupKey;

static int dupkey_cmp(const void *x, const void *y)
{
    const DupKey *k = x, *l = y;
    int c = strcmp(k->a, l->a);
    if (!c && k->b && l->b)
        c = strcmp(k->b, l->b);
    return c ? c : (k->i > l->i) - (k->i < l->i);
}

/* Of the N keys (in any order; sorted on return), the position of the first
 * one in list order that equals an earlier one, or -1; *EARLIER gets the
 * first position holding that key.  O(n log n): a policy may hold thousands. */
static int first_duplicate(DupKey *keys, int n, int *earlier)
{
    int found = -1;
    if (n > 1)
        qsort(keys, (size_t)n, sizeof *keys, dupkey_cmp);
    for (int g = 0, k = 1; k < n; k++) {
        DupKey probe = keys[k];
        probe.i = keys[g].i;
        if (dupkey_cmp(&keys[g], &probe) != 0) {
            g = k; /* a new group starts */
            continue;
        }
        if (found < 0 || keys[k].i < found) {
            found = keys[k].i;
            *earlier = keys[g].i;
        }
    }
    return found;
}

static const char IDENT_RULE[] = "expected a lowercase SQL name matching ^[a-z_][a-z0-9_]{0,62}$";

static bool check_ident(const Policy *p, const char *what, const char *name, Err *err)
{
    if (!name)
        FAIL("%s is required", what);
    if (!validate_identifier(name)) {
        policy_fail(p, err, "%s \"%s\": %s", what, name, IDENT_RULE);
        return err_hint(err, "partmig only manages tables and columns with plain lowercase names");
    }
    return true;
}

static bool strlist_has(const StrList *l, const char *s)
{
    for (int i = 0; i < l->n; i++)
        if (!strcmp(l->items[i], s))
            return true;
    return false;
}

/* Rough length of an interval in hours, to compare durations. */
static int64_t approx_hours(Interval iv)
{
    switch (iv.unit) {
    case UNIT_HOUR: return iv.count;
    case UNIT_DAY: return iv.count * 24;
    case UNIT_WEEK: return iv.count * 24 * 7;
    case UNIT_MONTH: return iv.count * 24 * 30;
    case UNIT_QUARTER: return iv.count * 24 * 91;
    case UNIT_YEAR: return iv.count * 24 * 365;
    default: return 0;
    }
}

static bool is_time(Interval iv)
{
    return iv.unit != UNIT_NONE && iv.unit != UNIT_INTEGER;
}

/* Template placeholders must be known, the text around them safe, and the
 * unit's placeholders present so that every partition gets its own name. */
static bool check_naming(const Policy *p, Err *err)
{
    const char *t = p->naming;
    bool has[8] = {0};
    static const char *const ph[] = {"{table}", "{YYYY}", "{MM}", "{DD}", "{HH}", "{Q}", "{N}"};
    for (const char *c = t; *c;) {
        if (*c == '{') {
            int k = -1;
            for (int i = 0; i < 7; i++)
                if (!strncmp(c, ph[i], strlen(ph[i])))
                    k = i;
            if (k < 0)
                FAIL("naming \"%s\": unknown placeholder at \"%.12s\"; allowed: {table} {YYYY} {MM} {DD} {HH} {Q} {N}",
                     t, c);
            has[k] = true;
            c += strlen(ph[k]);
            continue;
        }
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_'))
            FAIL("naming \"%s\": only a-z, 0-9, _ and placeholders are allowed", t);
        c++;
    }
    IntervalUnit u = p->by == PART_RANGE ? p->interval.unit : UNIT_NONE;
    bool unique;
    const char *need;
    switch (u) {
    case UNIT_HOUR: unique = has[1] && has[2] && has[3] && has[4], need = "{YYYY} {MM} {DD} {HH}"; break;
    case UNIT_DAY:
    case UNIT_WEEK: unique = has[1] && has[2] && has[3], need = "{YYYY} {MM} {DD}"; break;
    case UNIT_MONTH: unique = has[1] && has[2], need = "{YYYY} {MM}"; break;
    case UNIT_QUARTER: unique = has[1] && (has[5] || has[2]), need = "{YYYY} and {Q} (or {MM})"; break;
    case UNIT_YEAR: unique = has[1], need = "{YYYY}"; break;
    default: unique = p->by == PART_LIST || has[6], need = "{N}"; break;
    }
    if (!unique)
        FAIL("naming \"%s\": must contain %s so that every partition gets its own name", t, need);
    if (t[0] >= '0' && t[0] <= '9')
        FAIL("naming \"%s\": must not start with a digit", t);
    return true;
}

/* Longest partition name the policy can produce (range and hash). */
static size_t longest_name(const Policy *p)
{
    Buf b = {0};
    partition_name(&b, policy_naming(p), p->table, (WallTime){9999, 12, 28, 23}, INT64_MIN);
    size_t n = b.len;
    buf_free(&b);
    return n;
}

/* Values are printable text, unique across the lists, within the limits. */
static bool check_lists(const Policy *p, const ListPartition *lists, int n, const char *what, Err *err)
{
    if (n > POLICY_MAX_LISTS)
        FAIL("%s: %d lists, more than the limit of %d", what, n, POLICY_MAX_LISTS);
    long total = 0;
    for (int i = 0; i < n; i++) {
        if (!validate_identifier(lists[i].name))
            FAIL("%s: list name \"%s\": %s", what, lists[i].name, IDENT_RULE);
        if (lists[i].values.n == 0)
            FAIL("%s.%s: expected at least one value", what, lists[i].name);
        total += lists[i].values.n;
        if (total > POLICY_MAX_LIST_VALUES)
            FAIL("%s: more than %d values, the limit for one table", what, POLICY_MAX_LIST_VALUES);
        for (int v = 0; v < lists[i].values.n; v++) {
            const char *bad = validate_text(lists[i].values.items[v]);
            if (bad)
                FAIL("%s.%s: value \"%s\" holds %s", what, lists[i].name, lists[i].values.items[v],
                     !strcmp(bad, "a control character") ? "a control character (line break, tab, ...)" : bad);
        }
    }
    DupKey *keys = malloc(sizeof *keys * (size_t)(total + 1));
    int *list_of = malloc(sizeof *list_of * (size_t)(total + 1));
    if (!keys || !list_of) {
        free(keys);
        free(list_of);
        FAIL("%s: out of memory", what);
    }
    int k = 0;
    for (int i = 0; i < n; i++)
        for (int v = 0; v < lists[i].values.n; v++) {
            list_of[k] = i;
            keys[k] = (DupKey){lists[i].values.items[v], NULL, k};
            k++;
        }
    int earlier = 0, later = first_duplicate(keys, k, &earlier);
    bool ok = later < 0;
    if (!ok) {
        /* the value's text: position LATER in list order */
        int i = list_of[later], v = later;
        for (int j = 0; j < i; j++)
            v -= lists[j].values.n;
        policy_fail(p, err, "%s: value \"%s\" appears twice (in \"%s\" and \"%s\")", what, lists[i].values.items[v],
                    lists[list_of[earlier]].name, lists[i].name);
    }
    free(keys);
    free(list_of);
    return ok;
}

static bool check_column_type(const Policy *p, const ColumnDef *c, Err *err)
{
    const char *t = c->type;
    const char *bad = validate_text(t);
    if (bad)
        FAIL("column \"%s\" type \"%s\": holds %s", c->name, t, bad);
    if (!*t || strchr(t, ';') || strstr(t, "--") || strstr(t, "/*") || strstr(t, "*/") || strchr(t, '"') ||
        strchr(t, '\\'))
        FAIL("column \"%s\" type \"%s\": expected a type and column constraints without ; -- /* */ quotes or line "
             "breaks",
             c->name, t);
    int depth = 0, quotes = 0;
    for (; *t; t++) {
        depth += *t == '(' ? 1 : *t == ')' ? -1 : 0;
        quotes += *t == '\'';
        if (depth < 0)
            break;
    }
    if (depth != 0 || quotes % 2)
        FAIL("column \"%s\" type \"%s\": unbalanced parentheses or quotes", c->name, c->type);
    return true;
}

/* Counts within the POLICY_MAX_* limits (the Lua loader checks them first;
 * this holds for policies made any other way). */
static bool check_limits(const Policy *p, Err *err)
{
    if (p->nindexes > POLICY_MAX_INDEXES)
        FAIL("indexes: %d entries, more than the limit of %d", p->nindexes, POLICY_MAX_INDEXES);
    for (int i = 0; i < p->nindexes; i++)
        if (p->indexes[i].columns.n > POLICY_MAX_INDEX_COLUMNS)
            FAIL("indexes[%d].columns: %d entries, more than the limit of %d", i + 1, p->indexes[i].columns.n,
                 POLICY_MAX_INDEX_COLUMNS);
    if (p->primary_key.n > POLICY_MAX_INDEX_COLUMNS)
        FAIL("primary_key: %d entries, more than the limit of %d", p->primary_key.n, POLICY_MAX_INDEX_COLUMNS);
    if (p->ncolumns > POLICY_MAX_COLUMNS)
        FAIL("columns: %d entries, more than the limit of %d", p->ncolumns, POLICY_MAX_COLUMNS);
    if (p->ntiers > POLICY_MAX_TIERS)
        FAIL("tiering: %d entries, more than the limit of %d", p->ntiers, POLICY_MAX_TIERS);
    return true;
}

static bool validate_one(const Policy *p, Err *err)
{
    if (!check_limits(p, err))
        return false;
    if (!check_ident(p, "table name", p->table, err) || !check_ident(p, "schema", p->schema, err))
        return false;
    if (!p->column)
        FAIL("\"column\" is required (the partition key)");
    if (!check_ident(p, "column", p->column, err))
        return false;
    if (!validate_timezone(p->timezone))
        FAIL("timezone \"%s\": expected \"UTC\" or an Area/City name such as \"Europe/Berlin\"", p->timezone);

    switch (p->by) {
    case PART_RANGE:
        if (p->interval.unit == UNIT_NONE)
            FAIL("by \"range\" needs \"interval\" (N hour|day|week|month|quarter|year or an integer step)");
        if (p->modulus || p->nlists)
            FAIL("by \"range\" takes no \"modulus\" or \"values\"");
        if (p->start) {
            if (p->interval.unit == UNIT_INTEGER) {
                char *end;
                strtoll(p->start, &end, 10);
                if (!*p->start || *end)
                    FAIL("start \"%s\": expected an integer for an integer step", p->start);
            } else if (!validate_date(p->start)) {
                FAIL("start \"%s\": expected a real date YYYY-MM-DD", p->start);
            }
        }
        break;
    case PART_HASH:
        if (p->interval.unit != UNIT_NONE || p->start)
            FAIL("by \"hash\" takes no \"interval\" or \"start\"");
        if (p->modulus < 2 || p->modulus > 1024)
            FAIL("by \"hash\" needs \"modulus\" 2..1024");
        if (p->nlists)
            FAIL("by \"hash\" takes no \"values\"");
        break;
    case PART_LIST:
        if (p->interval.unit != UNIT_NONE || p->start)
            FAIL("by \"list\" takes no \"interval\" or \"start\"");
        if (p->nlists == 0)
            FAIL("by \"list\" needs \"values\" = { name = { \"A\", \"B\" }, ... }");
        if (p->modulus)
            FAIL("by \"list\" takes no \"modulus\"");
        if (!check_lists(p, p->lists, p->nlists, "values", err))
            return false;
        break;
    }

    if (p->naming) {
        if (p->by == PART_LIST)
            FAIL("naming: list partitions are named \"<table>_<name>\"; remove \"naming\"");
        if (!check_naming(p, err))
            return false;
    }
    size_t longest = 0;
    if (p->by == PART_LIST) {
        for (int i = 0; i < p->nlists; i++)
            if (strlen(p->table) + 1 + strlen(p->lists[i].name) > longest)
                longest = strlen(p->table) + 1 + strlen(p->lists[i].name);
    } else {
        longest = longest_name(p);
    }
    longest += partition_subname_suffix_max(p);
    if (longest > 63 || (p->default_partition && strlen(p->table) + 8 > 63))
        FAIL("partition names would be longer than 63 bytes");

    for (int i = 0; i < p->nindexes; i++) {
        const IndexSpec *ix = &p->indexes[i];
        if (ix->columns.n == 0)
            FAIL("indexes[%d]: expected at least one column", i + 1);
        for (int c = 0; c < ix->columns.n; c++)
            if (!check_ident(p, "index column", ix->columns.items[c], err))
                return false;
        if (ix->name && !check_ident(p, "index name", ix->name, err))
            return false;
        if (!ix->name) {
            size_t len = strlen(p->table) + 4;
            for (int c = 0; c < ix->columns.n; c++)
                len += strlen(ix->columns.items[c]) + 1;
            if (len > 63)
                FAIL("indexes[%d]: the derived index name is longer than 63 bytes; give it a \"name\"", i + 1);
        }
        if (ix->unique && (!strlist_has(&ix->columns, p->column) ||
                           (p->subpartition.set && !strlist_has(&ix->columns, p->subpartition.column)))) {
            policy_fail(p, err, "indexes[%d]: a unique index on a partitioned table must include the partition key",
                        i + 1);
            return err_hint(err, "add \"%s\" to its columns%s", p->column,
                            p->subpartition.set ? " (and the subpartition column)" : "");
        }
    }
    for (int i = 0; i < p->primary_key.n; i++)
        if (!check_ident(p, "primary_key column", p->primary_key.items[i], err))
            return false;
    if (p->primary_key.n && (!strlist_has(&p->primary_key, p->column) ||
                             (p->subpartition.set && !strlist_has(&p->primary_key, p->subpartition.column)))) {
        policy_fail(p, err, "primary_key must include the partition key \"%s\"", p->column);
        return err_hint(err, "PostgreSQL requires it on partitioned tables, e.g. primary_key = { \"id\", \"%s\" }",
                        p->column);
    }

    if (p->ncolumns) {
        bool has_key = false, has_sub = !p->subpartition.set;
        for (int i = 0; i < p->ncolumns; i++) {
            if (!check_ident(p, "column name", p->columns[i].name, err) || !check_column_type(p, &p->columns[i], err))
                return false;
            has_key |= !strcmp(p->columns[i].name, p->column);
            has_sub |= p->subpartition.set && !strcmp(p->columns[i].name, p->subpartition.column);
        }
        DupKey *keys = malloc(sizeof *keys * ((size_t)p->ncolumns + 1));
        if (!keys)
            FAIL("columns: out of memory");
        for (int i = 0; i < p->ncolumns; i++)
            keys[i] = (DupKey){p->columns[i].name, NULL, i};
        int earlier, twice = first_duplicate(keys, p->ncolumns, &earlier);
        free(keys);
        if (twice >= 0)
            FAIL("column \"%s\" is declared twice", p->columns[twice].name);
        if (!has_key || !has_sub)
            FAIL("columns: the partition key \"%s\" is not among the columns",
                 !has_key ? p->column : p->subpartition.column);
        for (int i = 0; i < p->primary_key.n; i++) {
            bool found = false;
            for (int j = 0; j < p->ncolumns; j++)
                found |= !strcmp(p->columns[j].name, p->primary_key.items[i]);
            if (!found)
                FAIL("primary_key column \"%s\" is not among the columns", p->primary_key.items[i]);
        }
    }

    if (p->retention.set) {
        if (p->by != PART_RANGE || !is_time(p->interval))
            FAIL("retention needs a range policy with a time interval");
        if (!is_time(p->retention.keep))
            FAIL("retention.keep: expected N hour|day|week|month|quarter|year");
        if (approx_hours(p->retention.keep) < approx_hours(p->interval))
            FAIL("retention.keep is shorter than one interval: every partition would be dropped as soon as it "
                 "is made");
        if (p->retention.archive == ARCHIVE_SCHEMA &&
            !check_ident(p, "retention.archive schema", p->retention.archive_target, err))
            return false;
        if (p->retention.archive == ARCHIVE_DUMP) {
            const char *d = p->retention.archive_target;
            if (!strcmp(d, "..") || !strncmp(d, "../", 3) || strstr(d, "/../") ||
                (strlen(d) >= 3 && !strcmp(d + strlen(d) - 3, "/..")))
                FAIL("retention.archive \"dump:%s\": the directory may not climb with \"..\"", d);
            for (const char *c = p->retention.archive_target; *c; c++)
                if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
                      strchr("_./-", *c)))
                    FAIL("retention.archive \"dump:%s\": the directory may use only A-Z a-z 0-9 _ . / -",
                         p->retention.archive_target);
        }
    }
    for (int i = 0; i < p->ntiers; i++) {
        if (p->by != PART_RANGE || !is_time(p->interval))
            FAIL("tiering needs a range policy with a time interval");
        if (!check_ident(p, "tiering tablespace", p->tiers[i].tablespace, err))
            return false;
        if (p->retention.set && approx_hours(p->tiers[i].older_than) >= approx_hours(p->retention.keep))
            FAIL("tiering[%d].older_than is not shorter than retention.keep: partitions would be dropped before "
                 "they move",
                 i + 1);
    }

    if (p->subpartition.set) {
        const Subpartition *s = &p->subpartition;
        if (!check_ident(p, "subpartition.column", s->column, err))
            return false;
        if (!strcmp(s->column, p->column))
            FAIL("subpartition.column must differ from the partition column \"%s\"", p->column);
        if (s->by == PART_LIST && !check_lists(p, s->lists, s->nlists, "subpartition.values", err))
            return false;
    }

    if (p->existing.method == EXISTING_ATTACH && p->by != PART_RANGE)
        FAIL("existing.method \"attach\" needs by = \"range\": the old table becomes the partition below the "
             "first range bound; use method \"copy\" for hash and list policies");
    if (p->backend == BACKEND_PG_PARTMAN) {
        if (p->by != PART_RANGE || !is_time(p->interval))
            FAIL("backend \"pg_partman\" supports only range policies with a time interval here");
        if (p->subpartition.set)
            FAIL("backend \"pg_partman\" does not take \"subpartition\" here");
        if (p->naming)
            FAIL("backend \"pg_partman\" names partitions itself; remove \"naming\"");
    }
    return true;
}

bool policy_validate(PolicySet *set, Err *err)
{
    if (set->n > POLICY_MAX_ENTRIES) {
        policy_fail(&set->items[POLICY_MAX_ENTRIES], err, "more than %d partition entries, the limit",
                    POLICY_MAX_ENTRIES);
        return err_hint(err, "partmig manages up to %d tables in one compile", POLICY_MAX_ENTRIES);
    }
    /* the first entry (in order) naming a table an earlier one names */
    DupKey *keys = malloc(sizeof *keys * (size_t)(set->n + 1));
    if (!keys)
        return err_set(err, PM_EINPUT, "out of memory validating %d policies", set->n);
    for (int i = 0; i < set->n; i++)
        keys[i] = (DupKey){set->items[i].schema ? set->items[i].schema : "",
                           set->items[i].table ? set->items[i].table : "", i};
    int first = 0, twice = first_duplicate(keys, set->n, &first);
    free(keys);
    for (int i = 0; i < set->n; i++) {
        const Policy *p = &set->items[i];
        if (!validate_one(p, err))
            return false;
        if (i == twice) {
            const Policy *q = &set->items[first];
            char file[256];
            const char *f = q->source_file ? q->source_file : "";
            text_escape(file, sizeof file, f, strlen(f));
            policy_fail(p, err, "table \"%s.%s\" is declared twice", p->schema, p->table);
            return err_hint(err, "the first is at %s:%d; keep one", file, q->source_line);
        }
    }
    return true;
}
