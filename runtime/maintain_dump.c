/* maintain_dump.c: pg_dump of a detached partition and the check of its COPY rows. */
#include "maintain_dump.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/buf.h"
#include "../common/quote.h"

static int hexval(int ch)
{
    return isdigit(ch) ? ch - '0' : isxdigit(ch) ? (tolower(ch) - 'a' + 10) : -1;
}

/* Percent-decode S[0..N) into a malloc'ed string. */
static char *pct_decode(const char *s, size_t n)
{
    char *out = malloc(n + 1);
    size_t j = 0;
    if (!out)
        abort();
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && hexval((unsigned char)s[i + 1]) >= 0 && hexval((unsigned char)s[i + 2]) >= 0) {
            out[j++] = (char)(hexval((unsigned char)s[i + 1]) * 16 + hexval((unsigned char)s[i + 2]));
            i += 2;
        } else
            out[j++] = s[i];
    }
    out[j] = '\0';
    return out;
}

/* URI form: postgresql://user:secret@host/db?password=secret&x=y */
static void split_uri(const char *url, Buf *without, char **password)
{
    const char *auth = strstr(url, "://") + 3;
    size_t alen = strcspn(auth, "/?");
    const char *at = NULL;
    for (const char *q = auth; q < auth + alen; q++)
        if (*q == '@')
            at = q;
    buf_appendn(without, url, (size_t)(auth - url));
    if (at) {
        const char *colon = memchr(auth, ':', (size_t)(at - auth));
        if (colon) {
            *password = pct_decode(colon + 1, (size_t)(at - colon - 1));
            buf_appendn(without, auth, (size_t)(colon - auth));
        } else
            buf_appendn(without, auth, (size_t)(at - auth));
        buf_appendn(without, at, (size_t)(auth + alen - at));
    } else
        buf_appendn(without, auth, alen);
    const char *rest = auth + alen;
    const char *query = strchr(rest, '?');
    if (!query) {
        buf_append(without, rest);
        return;
    }
    buf_appendn(without, rest, (size_t)(query - rest));
    bool first = true;
    for (const char *q = query + 1; *q;) {
        size_t len = strcspn(q, "&");
        if (len > 9 && !strncmp(q, "password=", 9)) {
            free(*password);
            *password = pct_decode(q + 9, len - 9);
        } else if (len) {
            buf_putc(without, first ? '?' : '&');
            buf_appendn(without, q, len);
            first = false;
        }
        q += len;
        if (*q == '&')
            q++;
    }
}

/* key = value form; values may be single-quoted with \' and \\ escapes. */
static void split_keywords(const char *url, Buf *without, char **password)
{
    const char *q = url;
    while (*q) {
        while (isspace((unsigned char)*q))
            q++;
        if (!*q)
            break;
        const char *key = q;
        while (*q && *q != '=' && !isspace((unsigned char)*q))
            q++;
        size_t klen = (size_t)(q - key);
        while (isspace((unsigned char)*q))
            q++;
        if (*q == '=')
            q++;
        while (isspace((unsigned char)*q))
            q++;
        const char *val = q;
        Buf v = {0};
        if (*q == '\'') {
            q++;
            while (*q && *q != '\'') {
                if (*q == '\\' && q[1])
                    q++;
                buf_putc(&v, *q++);
            }
            if (*q)
                q++;
        } else
            while (*q && !isspace((unsigned char)*q)) {
                if (*q == '\\' && q[1])
                    q++;
                buf_putc(&v, *q++);
            }
        if (klen == 8 && !strncmp(key, "password", 8)) {
            free(*password);
            *password = strdup(buf_str(&v));
        } else {
            if (without->len)
                buf_putc(without, ' ');
            buf_appendn(without, key, klen);
            buf_putc(without, '=');
            buf_appendn(without, val, (size_t)(q - val));
        }
        buf_free(&v);
    }
}

void dump_split_password(const char *url, char **without, char **password)
{
    Buf b = {0};
    *password = NULL;
    if (!strncmp(url, "postgresql://", 13) || !strncmp(url, "postgres://", 11))
        split_uri(url, &b, password);
    else
        split_keywords(url, &b, password);
    *without = strdup(buf_str(&b));
    if (!*password)
        *password = strdup("");
    buf_free(&b);
    if (!*without || !*password)
        abort();
}

bool dump_table(const char *db_url, const char *schema, const char *table, const char *path, Err *err)
{
    if (!db_url || !*db_url)
        db_url = getenv("PARTMIG_DATABASE_URL");
    const char *prog = getenv("PARTMIG_PG_DUMP");
    if (!prog || !*prog)
        prog = "pg_dump";
    char *conn = NULL, *password = NULL;
    if (db_url && *db_url)
        dump_split_password(db_url, &conn, &password);
    Buf pattern = {0}, file = {0}, dbname = {0};
    /* inside double quotes pg_dump's pattern characters are literal */
    quote_qualified(&pattern, schema, table);
    buf_printf(&file, "--file=%s", path);
    if (conn)
        buf_printf(&dbname, "--dbname=%s", conn);
    const char *argv[12];
    int k = 0;
    argv[k++] = prog;
    argv[k++] = "--format=plain";
    argv[k++] = "--no-password";
    argv[k++] = "--strict-names";
    argv[k++] = "--table";
    argv[k++] = buf_str(&pattern);
    argv[k++] = buf_str(&file);
    if (conn)
        argv[k++] = buf_str(&dbname);
    argv[k] = NULL;
    bool ok = false;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        err_set(err, PM_EDB, "cannot start pg_dump: %s", strerror(errno));
        goto done;
    }
    if (pid == 0) {
        if (password && *password)
            setenv("PGPASSWORD", password, 1);
        execvp(prog, (char *const *)argv);
        fprintf(stderr, "partmig: cannot run \"%s\": %s\n", prog, strerror(errno));
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) {
            err_set(err, PM_EDB, "waiting for pg_dump: %s", strerror(errno));
            goto done;
        }
    if (WIFSIGNALED(status))
        err_set(err, PM_EDB, "pg_dump of \"%s.%s\" was killed by signal %d", schema, table, WTERMSIG(status));
    else if (WEXITSTATUS(status) != 0) {
        err_set(err, PM_EDB, "pg_dump of \"%s.%s\" failed (exit status %d)", schema, table, WEXITSTATUS(status));
        err_hint(err, "see pg_dump's message above; the table is kept");
    } else
        ok = true;
done:
    free(conn);
    free(password);
    buf_free(&pattern);
    buf_free(&file);
    buf_free(&dbname);
    return ok;
}

bool dump_count_rows(const char *path, int64_t *rows, Err *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return err_set(err, PM_EDB, "cannot read dump \"%s\": %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int blocks = 0;
    bool in_copy = false, ok = false;
    *rows = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        if (in_copy) {
            if (!strcmp(line, "\\.\n") || !strcmp(line, "\\."))
                in_copy = false;
            else
                (*rows)++;
        } else if (!strncmp(line, "COPY ", 5) && len > 12 && strstr(line, " FROM stdin;")) {
            in_copy = true;
            blocks++;
        }
    }
    if (ferror(f))
        err_set(err, PM_EDB, "cannot read dump \"%s\": %s", path, strerror(errno));
    else if (in_copy)
        err_set(err, PM_EDB, "dump \"%s\" ends inside its COPY block", path);
    else if (blocks != 1)
        err_set(err, PM_EDB, "dump \"%s\" holds %d COPY blocks, expected 1", path, blocks);
    else
        ok = true;
    free(line);
    fclose(f);
    return ok;
}
