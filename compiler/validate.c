/* validate.c: policy checks -- text patterns (PCRE2) and combinations. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "validate.h"

#include <ctype.h>
#include <fcntl.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/quote.h"
#include "../model/partitions.h"
#include "../model/policy.h"

/* Patterns compiled once per process, freed by validate_release().  All are
 * compiled with PCRE2_DOLLAR_ENDONLY: `$` is the end of the subject, never
 * "before a final newline" (so "t\n" is not an identifier), and PCRE2_UTF:
 * a subject that is not UTF-8 never matches. */
enum { PAT_DATE, PAT_ZONE, PAT_TEXT, PAT_COUNT };
static const char *const pattern_text[PAT_COUNT] = {
    [PAT_DATE] = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
    [PAT_ZONE] = "^(UTC|GMT|[A-Z][A-Za-z_+-]{1,30}(/[A-Za-z0-9_+-]{1,30}){1,2})$",
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

bool validate_identifier(const char *s)
{
    return ident_is_plain(s);
}

bool validate_date(const char *s)
{
    WallTime t;
    return matches(PAT_DATE, s) && walltime_parse(s, &t);
}

static const char *const timezone_names[] = {
#include "timezones.inc"
};
#define TIMEZONE_COUNT ((int)(sizeof timezone_names / sizeof *timezone_names))

static int cmp_name(const void *key, const void *elem)
{
    return strcmp(key, *(const char *const *)elem);
}

bool validate_timezone(const char *s)
{
    return matches(PAT_ZONE, s) &&
           bsearch(s, timezone_names, (size_t)TIMEZONE_COUNT, sizeof *timezone_names, cmp_name) != NULL;
}

const char *validate_timezone_problem(const char *s)
{
    if (validate_timezone(s))
        return NULL;
    if (s && (!strcmp(s, "utc") || !strcmp(s, "Utc") || !strcmp(s, "gmt")))
        return "expected \"UTC\" in capitals (partmig compares names exactly)";
    if (s && !strchr(s, '/'))
        return "expected an IANA Area/City name such as \"Europe/Berlin\", or \"UTC\" (other single-word zone "
               "names read as fixed-offset abbreviations in timestamps)";
    return "not a time zone name PostgreSQL knows: expected an IANA Area/City name such as \"Europe/Berlin\", or "
           "\"UTC\"";
}

/* Edit distance of A and B, ASCII case ignored, capped at 99 (names are
 * short; anything longer is no suggestion anyway). */
static int edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 60 || lb > 60)
        return 99;
    int row[61];
    for (size_t j = 0; j <= lb; j++)
        row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int up = row[j];
            int ca = a[i - 1] >= 'A' && a[i - 1] <= 'Z' ? a[i - 1] + 32 : a[i - 1];
            int cb = b[j - 1] >= 'A' && b[j - 1] <= 'Z' ? b[j - 1] + 32 : b[j - 1];
            int best = diag + (ca != cb);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* The part after the last '/' (the city), or S. */
static const char *zone_city(const char *s)
{
    const char *slash = strrchr(s, '/');
    return slash ? slash + 1 : s;
}

size_t validate_timezone_suggest(const char *s, char *out, size_t cap)
{
    /* up to three names, the closest first: by the whole name, or by the
     * city alone ("Berlin" -> "Europe/Berlin") */
    int best[3] = {-1, -1, -1}, dist[3] = {99, 99, 99};
    size_t found = 0;
    out[0] = '\0';
    if (!s || strlen(s) > 60)
        return 0;
    int limit = strlen(s) <= 4 ? 1 : strlen(s) <= 8 ? 2 : 3;
    for (int i = 0; i < TIMEZONE_COUNT; i++) {
        int d = edit_distance(s, timezone_names[i]);
        int dc = edit_distance(zone_city(s), zone_city(timezone_names[i]));
        if (dc < d && strchr(timezone_names[i], '/'))
            d = dc;
        if (d > limit)
            continue;
        for (int k = 0; k < 3; k++)
            if (d < dist[k]) {
                for (int m = 2; m > k; m--)
                    best[m] = best[m - 1], dist[m] = dist[m - 1];
                best[k] = i, dist[k] = d;
                break;
            }
    }
    for (int k = 0; k < 3 && best[k] >= 0 && dist[k] == dist[0]; k++) {
        size_t used = strlen(out);
        snprintf(out + used, cap - used, "%s\"%s\"", k ? ", " : "", timezone_names[best[k]]);
        found++;
    }
    return found;
}

/* ---- where a key is written: a small Lua lexer over the policy's text ----
 * Lua keeps no line for a table field, so the line of a bad key is found in
 * the source: the `partition "name"` (or `defaults`) call on the line Lua
 * reported, then the key inside its table constructor, nested keys inside
 * nested constructors.  Whatever the lexer cannot follow (a table built
 * elsewhere, a key from defaults) leaves the call's own line. */

enum { TK_EOF, TK_NAME, TK_STRING, TK_NUMBER, TK_EQ, TK_PUNCT };

typedef struct Lexer {
    const char *s, *end;
    int line;
} Lexer;

typedef struct Token {
    int kind;
    const char *text; /* name or string contents (not unescaped) */
    size_t len;
    int line;
    char ch; /* TK_PUNCT: the character */
} Token;

/* Skip a long bracket "[==[ ... ]==]" starting at s (on '['); false when it is not one. */
static bool skip_long_bracket(Lexer *lx)
{
    const char *p = lx->s + 1;
    size_t level = 0;
    while (p < lx->end && *p == '=')
        p++, level++;
    if (p >= lx->end || *p != '[')
        return false;
    for (p++; p < lx->end; p++) {
        if (*p == '\n')
            lx->line++;
        if (*p == ']') {
            const char *q = p + 1;
            size_t l = 0;
            while (q < lx->end && *q == '=')
                q++, l++;
            if (l == level && q < lx->end && *q == ']') {
                lx->s = q + 1;
                return true;
            }
        }
    }
    lx->s = lx->end;
    return true;
}

static Token lex_next(Lexer *lx)
{
    Token t = {TK_EOF, NULL, 0, 0, 0};
    for (;;) {
        while (lx->s < lx->end && (*lx->s == ' ' || *lx->s == '\t' || *lx->s == '\r' || *lx->s == '\n' ||
                                   *lx->s == '\f' || *lx->s == '\v'))
            lx->line += *lx->s++ == '\n';
        if (lx->end - lx->s >= 2 && lx->s[0] == '-' && lx->s[1] == '-') {
            lx->s += 2;
            if (lx->s < lx->end && *lx->s == '[' && skip_long_bracket(lx))
                continue;
            while (lx->s < lx->end && *lx->s != '\n')
                lx->s++;
            continue;
        }
        break;
    }
    t.line = lx->line;
    if (lx->s >= lx->end)
        return t;
    const char *p = lx->s;
    unsigned char c = (unsigned char)*p;
    if (c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
        while (lx->s < lx->end && (*lx->s == '_' || (*lx->s >= 'a' && *lx->s <= 'z') ||
                                   (*lx->s >= 'A' && *lx->s <= 'Z') || (*lx->s >= '0' && *lx->s <= '9')))
            lx->s++;
        t.kind = TK_NAME, t.text = p, t.len = (size_t)(lx->s - p);
    } else if (c >= '0' && c <= '9') {
        while (lx->s < lx->end && (isalnum((unsigned char)*lx->s) || *lx->s == '.' ||
                                   ((*lx->s == '+' || *lx->s == '-') && strchr("eEpP", lx->s[-1]))))
            lx->s++;
        t.kind = TK_NUMBER, t.text = p, t.len = (size_t)(lx->s - p);
    } else if (c == '"' || c == '\'') {
        for (lx->s++; lx->s < lx->end && *lx->s != (char)c && *lx->s != '\n'; lx->s++)
            if (*lx->s == '\\' && lx->s + 1 < lx->end)
                lx->line += *++lx->s == '\n';
        t.kind = TK_STRING, t.text = p + 1, t.len = (size_t)(lx->s - p - 1);
        if (lx->s < lx->end && *lx->s == (char)c)
            lx->s++;
    } else if (c == '[' && lx->end - p >= 2 && (p[1] == '[' || p[1] == '=') && skip_long_bracket(lx)) {
        t.kind = TK_STRING, t.text = p, t.len = 0; /* a long string: contents not needed */
    } else if (c == '=' && !(lx->end - p >= 2 && p[1] == '=')) {
        lx->s++;
        t.kind = TK_EQ;
    } else {
        /* two-character operators that contain '=' must not read as TK_EQ */
        lx->s += (strchr("=~<>", c) && lx->end - p >= 2 && p[1] == '=') ? 2 : 1;
        t.kind = TK_PUNCT, t.ch = (char)c;
    }
    return t;
}

static Token lex_peek(const Lexer *lx)
{
    Lexer copy = *lx;
    return lex_next(&copy);
}

static bool tok_is(Token t, int kind, const char *text)
{
    return t.kind == kind && t.len == strlen(text) && !memcmp(t.text, text, t.len);
}

/* Skip one field value up to (not including) the ',' ';' or '}' that ends it. */
static void skip_value(Lexer *lx)
{
    int depth = 0;
    for (;;) {
        Token t = lex_peek(lx);
        if (t.kind == TK_EOF)
            return;
        if (t.kind == TK_PUNCT) {
            if (depth == 0 && (t.ch == ',' || t.ch == ';' || t.ch == '}'))
                return;
            depth += strchr("({[", t.ch) ? 1 : strchr(")}]", t.ch) ? -1 : 0;
        }
        lex_next(lx);
    }
}

/* One step of a key path: a name ("retention") or a position ("[2]"). */
typedef struct PathStep {
    const char *name;
    size_t len;
    long pos; /* > 0: a position */
} PathStep;

/* Inside a constructor (its '{' consumed; consumed through its '}' on
 * return): the line of the field for PATH (N steps), as deep as the text can
 * be followed, or 0 when the first step is not there.  Of a key written twice
 * the last counts, as in Lua. */
static int find_field(Lexer *lx, const PathStep *path, int n)
{
    long position = 0;
    int found = 0;
    for (;;) {
        Token t = lex_next(lx);
        if (t.kind == TK_EOF || (t.kind == TK_PUNCT && t.ch == '}'))
            return found;
        bool match = false;
        Token value;
        if (t.kind == TK_NAME && lex_peek(lx).kind == TK_EQ) {
            match = !path->pos && t.len == path->len && !memcmp(t.text, path->name, t.len);
            lex_next(lx);
            value = lex_next(lx);
        } else if (t.kind == TK_PUNCT && t.ch == '[') {
            Token key = lex_next(lx);
            if (key.kind == TK_STRING && !path->pos)
                match = key.len == path->len && !memcmp(key.text, path->name, key.len);
            else if (key.kind == TK_NUMBER && path->pos)
                match = key.len < 20 && strtol(key.text, NULL, 10) == path->pos;
            Token close = lex_next(lx);
            if (close.kind != TK_PUNCT || close.ch != ']' || lex_next(lx).kind != TK_EQ)
                return found; /* not a plain [key] = value: give up */
            value = lex_next(lx);
        } else {
            match = path->pos && path->pos == ++position;
            value = t;
        }
        if (value.kind == TK_EOF)
            return found;
        if (match)
            found = t.line;
        if (match && n > 1 && value.kind == TK_PUNCT && value.ch == '{') {
            int deeper = find_field(lx, path + 1, n - 1);
            if (deeper)
                found = deeper;
        } else if (value.kind == TK_PUNCT && strchr("({[", value.ch)) {
            for (int depth = 1; depth > 0;) {
                Token u = lex_next(lx);
                if (u.kind == TK_EOF)
                    return found;
                if (u.kind == TK_PUNCT)
                    depth += strchr("({[", u.ch) ? 1 : strchr(")}]", u.ch) ? -1 : 0;
            }
        }
        skip_value(lx);
        Token sep = lex_next(lx);
        if (sep.kind != TK_PUNCT || sep.ch == '}' || (sep.ch != ',' && sep.ch != ';'))
            return found;
    }
}

/* Parse "indexes[2].columns", "values.eu", "columns[3][1]" into at most MAX
 * steps; returns the count (0 when KEY is empty or too deep). */
static int parse_path(const char *key, PathStep *steps, int max)
{
    int n = 0;
    const char *p = key;
    while (*p && *p != ' ') {
        if (n == max)
            return 0;
        if (*p == '.') {
            p++;
            continue;
        }
        if (*p == '[') {
            char *end;
            long pos = strtol(p + 1, &end, 10);
            if (*end != ']' || pos < 1)
                return 0;
            steps[n++] = (PathStep){NULL, 0, pos};
            p = end + 1;
            continue;
        }
        const char *start = p;
        while (*p && *p != '.' && *p != '[' && *p != ' ')
            p++;
        steps[n++] = (PathStep){start, (size_t)(p - start), 0};
    }
    return n;
}

int policy_key_line_in(const char *text, size_t len, int call_line, const char *call, const char *name, const char *key)
{
    PathStep steps[8];
    int n = key ? parse_path(key, steps, 8) : 0;
    if (n == 0 || call_line < 1)
        return 0;
    Lexer lx = {text, text + len, 1};
    /* to the start of CALL_LINE (a long string or comment crossing into it
     * is rare enough to ignore: then the call is not found) */
    while (lx.s < lx.end && lx.line < call_line)
        lx.line += *lx.s++ == '\n';
    for (;;) {
        Token t = lex_next(&lx);
        if (t.kind == TK_EOF || t.line > call_line)
            return 0;
        if (!tok_is(t, TK_NAME, call))
            continue;
        Token u = lex_next(&lx);
        bool paren = u.kind == TK_PUNCT && u.ch == '(';
        if (paren)
            u = lex_next(&lx);
        if (name && u.kind == TK_STRING) {
            if (u.len != strlen(name) || memcmp(u.text, name, u.len))
                continue; /* another table's entry */
            u = lex_next(&lx);
        } else if (name && paren) {
            /* partition(expr): a name made by the policy's code */
            for (int depth = 1; depth > 0 && u.kind != TK_EOF; u = lex_next(&lx))
                if (u.kind == TK_PUNCT)
                    depth += u.ch == '(' ? 1 : u.ch == ')' ? -1 : 0;
            paren = false;
        } else if (name) {
            continue;
        }
        if (paren && u.kind == TK_PUNCT && u.ch == ')')
            u = lex_next(&lx);
        if (name && u.kind == TK_PUNCT && u.ch == '(')
            u = lex_next(&lx);
        if (u.kind != TK_PUNCT || u.ch != '{')
            continue;
        return find_field(&lx, steps, n);
    }
}

int policy_key_line(const char *path, int call_line, const char *call, const char *name, const char *key)
{
    /* the file was read a moment ago by the Lua loader: read it again,
     * without blocking on or following what is not a plain file */
    int line = 0;
    char *text = NULL;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > (off_t)(16 << 20))
        goto done;
    text = malloc((size_t)st.st_size + 1);
    if (!text)
        goto done;
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, text + got, (size_t)st.st_size - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    line = policy_key_line_in(text, got, call_line, call, name, key);
done:
    free(text);
    if (fd >= 0)
        close(fd);
    return line;
}

/* ---- how to write each key: the hint of an error about it ---- */

static const struct {
    const char *key, *example;
} key_examples[] = {
    {"table name", "partition \"journal_entries\" { ... } names a table with a lowercase SQL name"},
    {"schema", "schema = \"public\" (a lowercase SQL name)"},
    {"by", "by = \"range\", \"list\" or \"hash\""},
    {"column", "column = \"created_at\" (the partition key: a lowercase column name)"},
    {"interval", "interval = \"1 month\" (N hour|day|week|month|quarter|year), or an integer step such as "
                 "interval = 1000000 for an integer key"},
    {"start", "start = \"2024-01-01\" (a date; an integer for an integer step), or leave it out to start "
              "from the data"},
    {"premake", "premake = 3 (partitions made ahead of now, 0..1000)"},
    {"timezone", "timezone = \"Europe/Berlin\" (an IANA Area/City name), or \"UTC\""},
    {"naming", "naming = \"{table}_p{YYYY}_{MM}\" (a-z 0-9 _ and the placeholders {table} {YYYY} {MM} {DD} {HH} "
               "{Q} {N})"},
    {"default_partition", "default_partition = true (or false)"},
    {"modulus", "modulus = 8 (the number of hash partitions, 2..1024)"},
    {"values", "values = { eu = { \"DE\", \"FR\" }, us = { \"US\" } } (a partition name = its values)"},
    {"indexes", "indexes = { { columns = { \"tenant_id\" } }, { columns = { \"email\", \"created_at\" }, unique = "
                "true } }"},
    {"indexes.columns", "columns = { \"tenant_id\", \"created_at\" } (lowercase column names)"},
    {"indexes.unique", "unique = true (its columns must include the partition key)"},
    {"indexes.name", "name = \"journal_entries_tenant_idx\" (a lowercase SQL name)"},
    {"indexes.method", "method = \"btree\", \"hash\", \"gin\", \"gist\" or \"brin\""},
    {"retention", "retention = { keep = \"24 months\" }"},
    {"retention.keep", "keep = \"24 months\" (N hour|day|week|month|quarter|year, at least one interval)"},
    {"retention.keep_table", "keep_table = true (detach old partitions and keep them as tables)"},
    {"retention.keep_index", "keep_index = false (drop the indexes of partitions kept as tables)"},
    {"retention.archive", "archive = \"schema:archive\" or \"dump:/var/backups/partmig\""},
    {"tiering", "tiering = { { older_than = \"6 months\", tablespace = \"cold\" } }"},
    {"tiering.older_than", "older_than = \"6 months\" (shorter than retention.keep)"},
    {"tiering.tablespace", "tablespace = \"cold\" (an existing tablespace, lowercase name)"},
    {"subpartition", "subpartition = { by = \"hash\", column = \"tenant_id\", modulus = 4 }, or { by = \"list\", "
                     "column = \"region\", values = { eu = { \"EU\" } } }"},
    {"subpartition.by", "by = \"hash\" or \"list\""},
    {"subpartition.column", "column = \"tenant_id\" (not the partition column)"},
    {"subpartition.modulus", "modulus = 4 (2..1024, with by = \"hash\")"},
    {"subpartition.values", "values = { eu = { \"EU\" }, us = { \"US\" } } (with by = \"list\")"},
    {"existing", "existing = { method = \"copy\", batch_size = 50000, jobs = 1 }"},
    {"existing.method", "method = \"copy\" (online), \"attach\" (zero-copy, range only) or \"none\""},
    {"existing.batch_size", "batch_size = 50000 (rows per copy batch, 100..10000000)"},
    {"existing.jobs", "jobs = 2 (parallel copy jobs, 1..16)"},
    {"backend", "backend = \"native\" or \"pg_partman\""},
    {"columns", "columns = { { \"id\", \"bigint NOT NULL\" }, { \"created_at\", \"timestamptz NOT NULL\" } } "
                "(to create a table that does not exist)"},
    {"primary_key", "primary_key = { \"id\", \"created_at\" } (it must include the partition column)"},
};

const char *policy_key_example(const char *key)
{
    /* "indexes[2].columns[1]" -> "indexes.columns"; "values.eu" -> "values";
     * "columns[3] name" -> "columns"; unknown deeper names fall back to
     * their parent */
    char norm[128];
    size_t o = 0;
    for (const char *p = key ? key : ""; *p && *p != ' ' && o + 1 < sizeof norm; p++) {
        if (*p == '[') {
            while (*p && *p != ']')
                p++;
            if (!*p)
                break;
            continue;
        }
        norm[o++] = *p;
    }
    norm[o] = '\0';
    for (;;) {
        for (size_t i = 0; i < sizeof key_examples / sizeof *key_examples; i++)
            if (!strcmp(norm, key_examples[i].key))
                return key_examples[i].example;
        char *dot = strrchr(norm, '.');
        if (!dot)
            return NULL;
        *dot = '\0';
    }
}

const char *validate_closest(const char *word, const char *const *choices)
{
    const char *best = NULL;
    int best_d = 99;
    int limit = strlen(word) <= 4 ? 1 : strlen(word) <= 8 ? 2 : 3;
    for (int i = 0; choices[i]; i++) {
        int d = edit_distance(word, choices[i]);
        if (d <= limit && d < best_d)
            best = choices[i], best_d = d;
    }
    return best;
}

/* ---- whole policies ---- */

/* FAIL(KEY, fmt, ...): the policy is wrong about KEY (its path, e.g.
 * "retention.keep" or "indexes[2].columns"; NULL: the entry as a whole). */
#define FAIL(KEY, ...)                                                                                                 \
    do {                                                                                                               \
        policy_fail(p, err, KEY, __VA_ARGS__);                                                                         \
        return false;                                                                                                  \
    } while (0)

/* The error names the line of KEY in the policy's text (when it can be found
 * there, else the partition's line) and its hint shows how KEY is written;
 * callers with a better hint set their own after this. */
static void policy_fail(const Policy *p, Err *err, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void policy_fail(const Policy *p, Err *err, const char *key, const char *fmt, ...)
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
    int line = p->source_line;
    if (key && p->source_file && p->source_line > 0) {
        int at = policy_key_line(p->source_file, p->source_line, "partition", p->table, key);
        if (at > 0)
            line = at;
    }
    err_at(err, PM_EINPUT, file, line, "partition \"%s\": %s", table, escaped);
    const char *example = policy_key_example(key);
    if (example)
        err_hint(err, "for example %s; docs/POLICY.md describes every key", example);
    else
        err_hint(err, "docs/POLICY.md describes every key, its type and an example");
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

/* NAME, the value of KEY (WHAT in messages), is a plain lowercase SQL name. */
static bool check_ident(const Policy *p, const char *key, const char *what, const char *name, Err *err)
{
    if (!name)
        FAIL(key, "%s is required", what);
    if (!validate_identifier(name)) {
        policy_fail(p, err, key, "%s \"%s\": %s", what, name, IDENT_RULE);
        return err_hint(err, "partmig only manages tables and columns with plain lowercase names: rename it, or "
                             "use a view or a new table with such names");
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
                FAIL("naming",
                     "naming \"%s\": unknown placeholder at \"%.12s\"; allowed: {table} {YYYY} {MM} {DD} {HH} {Q} {N}",
                     t, c);
            has[k] = true;
            c += strlen(ph[k]);
            continue;
        }
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_'))
            FAIL("naming", "naming \"%s\": only a-z, 0-9, _ and placeholders are allowed", t);
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
        FAIL("naming", "naming \"%s\": must contain %s so that every partition gets its own name", t, need);
    if (t[0] >= '0' && t[0] <= '9')
        FAIL("naming", "naming \"%s\": must not start with a digit", t);
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
        FAIL(what, "%s: %d lists, more than the limit of %d", what, n, POLICY_MAX_LISTS);
    long total = 0;
    for (int i = 0; i < n; i++) {
        char key[1100];
        snprintf(key, sizeof key, "%s.%s", what, lists[i].name);
        if (!validate_identifier(lists[i].name))
            FAIL(what, "%s: list name \"%s\": %s", what, lists[i].name, IDENT_RULE);
        if (lists[i].values.n == 0)
            FAIL(key, "%s.%s: expected at least one value", what, lists[i].name);
        total += lists[i].values.n;
        if (total > POLICY_MAX_LIST_VALUES)
            FAIL(what, "%s: more than %d values, the limit for one table", what, POLICY_MAX_LIST_VALUES);
        for (int v = 0; v < lists[i].values.n; v++) {
            const char *bad = validate_text(lists[i].values.items[v]);
            if (bad)
                FAIL(key, "%s.%s: value \"%s\" holds %s", what, lists[i].name, lists[i].values.items[v],
                     !strcmp(bad, "a control character") ? "a control character (line break, tab, ...)" : bad);
        }
    }
    DupKey *keys = malloc(sizeof *keys * (size_t)(total + 1));
    int *list_of = malloc(sizeof *list_of * (size_t)(total + 1));
    if (!keys || !list_of) {
        free(keys);
        free(list_of);
        FAIL(what, "%s: out of memory", what);
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
        char key[1100];
        snprintf(key, sizeof key, "%s.%s", what, lists[i].name);
        policy_fail(p, err, key, "%s: value \"%s\" appears twice (in \"%s\" and \"%s\")", what,
                    lists[i].values.items[v], lists[list_of[earlier]].name, lists[i].name);
        err_hint(err, "a value may route to one partition only: remove it from \"%s\" or from \"%s\"",
                 lists[list_of[earlier]].name, lists[i].name);
    }
    free(keys);
    free(list_of);
    return ok;
}

static bool check_column_type(const Policy *p, const ColumnDef *c, int i, Err *err)
{
    char key[32];
    snprintf(key, sizeof key, "columns[%d]", i + 1);
    const char *t = c->type;
    const char *bad = validate_text(t);
    if (bad)
        FAIL(key, "column \"%s\" type \"%s\": holds %s", c->name, t, bad);
    if (!*t || strchr(t, ';') || strstr(t, "--") || strstr(t, "/*") || strstr(t, "*/") || strchr(t, '"') ||
        strchr(t, '\\'))
        FAIL(key,
             "column \"%s\" type \"%s\": expected a type and column constraints without ; -- /* */ quotes or line "
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
        FAIL(key, "column \"%s\" type \"%s\": unbalanced parentheses or quotes", c->name, c->type);
    return true;
}

/* Counts within the POLICY_MAX_* limits (the Lua loader checks them first;
 * this holds for policies made any other way). */
static bool check_limits(const Policy *p, Err *err)
{
    if (p->nindexes > POLICY_MAX_INDEXES)
        FAIL("indexes", "indexes: %d entries, more than the limit of %d", p->nindexes, POLICY_MAX_INDEXES);
    for (int i = 0; i < p->nindexes; i++)
        if (p->indexes[i].columns.n > POLICY_MAX_INDEX_COLUMNS)
            FAIL("indexes", "indexes[%d].columns: %d entries, more than the limit of %d", i + 1,
                 p->indexes[i].columns.n, POLICY_MAX_INDEX_COLUMNS);
    if (p->primary_key.n > POLICY_MAX_INDEX_COLUMNS)
        FAIL("primary_key", "primary_key: %d entries, more than the limit of %d", p->primary_key.n,
             POLICY_MAX_INDEX_COLUMNS);
    if (p->ncolumns > POLICY_MAX_COLUMNS)
        FAIL("columns", "columns: %d entries, more than the limit of %d", p->ncolumns, POLICY_MAX_COLUMNS);
    if (p->ntiers > POLICY_MAX_TIERS)
        FAIL("tiering", "tiering: %d entries, more than the limit of %d", p->ntiers, POLICY_MAX_TIERS);
    return true;
}

static bool validate_one(const Policy *p, Err *err)
{
    if (!check_limits(p, err))
        return false;
    if (!check_ident(p, NULL, "table name", p->table, err) || !check_ident(p, "schema", "schema", p->schema, err))
        return false;
    if (!p->column) {
        policy_fail(p, err, NULL, "\"column\" is required (the partition key)");
        return err_hint(err, "add column = \"created_at\" (the column whose value picks the partition); "
                             "\"partmig init\" proposes one from the table");
    }
    if (!check_ident(p, "column", "column", p->column, err))
        return false;
    if (!validate_timezone(p->timezone)) {
        char near[200];
        policy_fail(p, err, "timezone", "timezone \"%s\": %s", p->timezone, validate_timezone_problem(p->timezone));
        if (validate_timezone_suggest(p->timezone, near, sizeof near))
            return err_hint(err, "did you mean %s? (IANA Area/City names as PostgreSQL knows them, or \"UTC\")", near);
        return err_hint(err, "use an IANA Area/City name such as \"Europe/Berlin\" or \"America/New_York\", "
                             "or \"UTC\" (psql: SELECT name FROM pg_timezone_names)");
    }

    switch (p->by) {
    case PART_RANGE:
        if (p->interval.unit == UNIT_NONE)
            FAIL("interval", "by \"range\" needs \"interval\" (N hour|day|week|month|quarter|year or an integer step)");
        if (p->modulus || p->nlists)
            FAIL(p->modulus ? "modulus" : "values", "by \"range\" takes no \"modulus\" or \"values\"");
        if (p->start) {
            if (p->interval.unit == UNIT_INTEGER) {
                char *end;
                strtoll(p->start, &end, 10);
                if (!*p->start || *end)
                    FAIL("start", "start \"%s\": expected an integer for an integer step", p->start);
            } else if (!validate_date(p->start)) {
                FAIL("start", "start \"%s\": expected a real date YYYY-MM-DD", p->start);
            }
        }
        break;
    case PART_HASH:
        if (p->interval.unit != UNIT_NONE || p->start)
            FAIL(p->start ? "start" : "interval", "by \"hash\" takes no \"interval\" or \"start\"");
        if (p->modulus < 2 || p->modulus > 1024)
            FAIL("modulus", "by \"hash\" needs \"modulus\" 2..1024");
        if (p->nlists)
            FAIL("values", "by \"hash\" takes no \"values\"");
        break;
    case PART_LIST:
        if (p->interval.unit != UNIT_NONE || p->start)
            FAIL(p->start ? "start" : "interval", "by \"list\" takes no \"interval\" or \"start\"");
        if (p->nlists == 0)
            FAIL("values", "by \"list\" needs \"values\" = { name = { \"A\", \"B\" }, ... }");
        if (p->modulus)
            FAIL("modulus", "by \"list\" takes no \"modulus\"");
        if (!check_lists(p, p->lists, p->nlists, "values", err))
            return false;
        break;
    }

    if (p->naming) {
        if (p->by == PART_LIST)
            FAIL("naming", "naming: list partitions are named \"<table>_<name>\"; remove \"naming\"");
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
    if (longest > 63 || (p->default_partition && strlen(p->table) + 8 > 63)) {
        policy_fail(p, err, p->naming ? "naming" : NULL, "partition names would be longer than 63 bytes");
        return err_hint(err, "PostgreSQL cuts names at 63 bytes: use a shorter \"naming\" template%s",
                        p->by == PART_LIST ? " or shorter list names" : "");
    }

    for (int i = 0; i < p->nindexes; i++) {
        const IndexSpec *ix = &p->indexes[i];
        char key[64], columns_key[64], name_key[64];
        snprintf(key, sizeof key, "indexes[%d]", i + 1);
        snprintf(columns_key, sizeof columns_key, "indexes[%d].columns", i + 1);
        snprintf(name_key, sizeof name_key, "indexes[%d].name", i + 1);
        if (ix->columns.n == 0)
            FAIL(columns_key, "indexes[%d]: expected at least one column", i + 1);
        for (int c = 0; c < ix->columns.n; c++)
            if (!check_ident(p, columns_key, "index column", ix->columns.items[c], err))
                return false;
        if (ix->name && !check_ident(p, name_key, "index name", ix->name, err))
            return false;
        if (!ix->name) {
            size_t len = strlen(p->table) + 4;
            for (int c = 0; c < ix->columns.n; c++)
                len += strlen(ix->columns.items[c]) + 1;
            if (len > 63)
                FAIL(key, "indexes[%d]: the derived index name is longer than 63 bytes; give it a \"name\"", i + 1);
        }
        if (ix->unique && (!strlist_has(&ix->columns, p->column) ||
                           (p->subpartition.set && !strlist_has(&ix->columns, p->subpartition.column)))) {
            policy_fail(p, err, columns_key,
                        "indexes[%d]: a unique index on a partitioned table must include the partition key", i + 1);
            return err_hint(err, "add \"%s\" to its columns%s", p->column,
                            p->subpartition.set ? " (and the subpartition column)" : "");
        }
    }
    for (int i = 0; i < p->primary_key.n; i++)
        if (!check_ident(p, "primary_key", "primary_key column", p->primary_key.items[i], err))
            return false;
    if (p->primary_key.n && (!strlist_has(&p->primary_key, p->column) ||
                             (p->subpartition.set && !strlist_has(&p->primary_key, p->subpartition.column)))) {
        policy_fail(p, err, "primary_key", "primary_key must include the partition key \"%s\"", p->column);
        return err_hint(err, "PostgreSQL requires it on partitioned tables, e.g. primary_key = { \"id\", \"%s\" }",
                        p->column);
    }

    if (p->ncolumns) {
        bool has_key = false, has_sub = !p->subpartition.set;
        for (int i = 0; i < p->ncolumns; i++) {
            char key[32];
            snprintf(key, sizeof key, "columns[%d]", i + 1);
            if (!check_ident(p, key, "column name", p->columns[i].name, err) ||
                !check_column_type(p, &p->columns[i], i, err))
                return false;
            has_key |= !strcmp(p->columns[i].name, p->column);
            has_sub |= p->subpartition.set && !strcmp(p->columns[i].name, p->subpartition.column);
        }
        DupKey *keys = malloc(sizeof *keys * ((size_t)p->ncolumns + 1));
        if (!keys)
            FAIL("columns", "columns: out of memory");
        for (int i = 0; i < p->ncolumns; i++)
            keys[i] = (DupKey){p->columns[i].name, NULL, i};
        int earlier, twice = first_duplicate(keys, p->ncolumns, &earlier);
        free(keys);
        if (twice >= 0) {
            char key[32];
            snprintf(key, sizeof key, "columns[%d]", twice + 1);
            policy_fail(p, err, key, "column \"%s\" is declared twice", p->columns[twice].name);
            return err_hint(err, "keep one { \"%s\", \"type\" } pair", p->columns[twice].name);
        }
        if (!has_key || !has_sub)
            FAIL("columns", "columns: the partition key \"%s\" is not among the columns",
                 !has_key ? p->column : p->subpartition.column);
        for (int i = 0; i < p->primary_key.n; i++) {
            bool found = false;
            for (int j = 0; j < p->ncolumns; j++)
                found |= !strcmp(p->columns[j].name, p->primary_key.items[i]);
            if (!found)
                FAIL("primary_key", "primary_key column \"%s\" is not among the columns", p->primary_key.items[i]);
        }
    }

    if (p->retention.set) {
        if (p->by != PART_RANGE || !is_time(p->interval))
            FAIL("retention", "retention needs a range policy with a time interval");
        if (!is_time(p->retention.keep))
            FAIL("retention.keep", "retention.keep: expected N hour|day|week|month|quarter|year");
        if (approx_hours(p->retention.keep) < approx_hours(p->interval))
            FAIL("retention.keep",
                 "retention.keep is shorter than one interval: every partition would be dropped as soon as it "
                 "is made");
        if (p->retention.archive == ARCHIVE_SCHEMA &&
            !check_ident(p, "retention.archive", "retention.archive schema", p->retention.archive_target, err))
            return false;
        if (p->retention.archive == ARCHIVE_DUMP) {
            const char *d = p->retention.archive_target;
            if (!strcmp(d, "..") || !strncmp(d, "../", 3) || strstr(d, "/../") ||
                (strlen(d) >= 3 && !strcmp(d + strlen(d) - 3, "/..")))
                FAIL("retention.archive", "retention.archive \"dump:%s\": the directory may not climb with \"..\"", d);
            for (const char *c = p->retention.archive_target; *c; c++)
                if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
                      strchr("_./-", *c)))
                    FAIL("retention.archive",
                         "retention.archive \"dump:%s\": the directory may use only A-Z a-z 0-9 _ . / -",
                         p->retention.archive_target);
        }
    }
    for (int i = 0; i < p->ntiers; i++) {
        char key[64];
        snprintf(key, sizeof key, "tiering[%d].tablespace", i + 1);
        if (p->by != PART_RANGE || !is_time(p->interval))
            FAIL("tiering", "tiering needs a range policy with a time interval");
        if (!check_ident(p, key, "tiering tablespace", p->tiers[i].tablespace, err))
            return false;
        if (p->retention.set && approx_hours(p->tiers[i].older_than) >= approx_hours(p->retention.keep)) {
            snprintf(key, sizeof key, "tiering[%d].older_than", i + 1);
            FAIL(key,
                 "tiering[%d].older_than is not shorter than retention.keep: partitions would be dropped before "
                 "they move",
                 i + 1);
        }
    }

    if (p->subpartition.set) {
        const Subpartition *s = &p->subpartition;
        if (!check_ident(p, "subpartition.column", "subpartition.column", s->column, err))
            return false;
        if (!strcmp(s->column, p->column))
            FAIL("subpartition.column", "subpartition.column must differ from the partition column \"%s\"", p->column);
        if (s->by == PART_LIST && !check_lists(p, s->lists, s->nlists, "subpartition.values", err))
            return false;
    }

    if (p->existing.method == EXISTING_ATTACH && p->by != PART_RANGE)
        FAIL("existing.method",
             "existing.method \"attach\" needs by = \"range\": the old table becomes the partition below the "
             "first range bound; use method \"copy\" for hash and list policies");
    if (p->backend == BACKEND_PG_PARTMAN) {
        if (p->by != PART_RANGE || !is_time(p->interval))
            FAIL("backend", "backend \"pg_partman\" supports only range policies with a time interval here");
        if (p->subpartition.set)
            FAIL("subpartition", "backend \"pg_partman\" does not take \"subpartition\" here");
        if (p->naming)
            FAIL("naming", "backend \"pg_partman\" names partitions itself; remove \"naming\"");
    }
    return true;
}

bool policy_validate(PolicySet *set, Err *err)
{
    if (set->n > POLICY_MAX_ENTRIES) {
        policy_fail(&set->items[POLICY_MAX_ENTRIES], err, NULL, "more than %d partition entries, the limit",
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
            policy_fail(p, err, NULL, "table \"%s.%s\" is declared twice", p->schema, p->table);
            return err_hint(err, "the first is at %s:%d; keep one", file, q->source_line);
        }
    }
    return true;
}
