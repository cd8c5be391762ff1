/* pg.c: partmig's PostgreSQL client, the only file that includes libpq-fe.h. */
#include "pg.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/buf.h"

struct PgConn {
    PGconn *conn;
    char sqlstate[6];
};

struct PgResult {
    PGresult *res;
};

/* libpq's messages end in a newline and may span lines: keep the first
 * line, drop the "ERROR:  " prefix the server adds. */
static void set_server_error(Err *err, const char *what, const char *msg)
{
    char line[900];
    const char *m = msg ? msg : "unknown error";
    if (!strncmp(m, "ERROR:  ", 8))
        m += 8;
    snprintf(line, sizeof line, "%s", m);
    line[strcspn(line, "\n")] = '\0';
    err_set(err, PM_EDB, "%s: %s", what, line);
}

/* Replace every occurrence of SECRET in MSG (size SIZE) with "***", copying
 * into a fresh buffer so no replacement is scanned again.  Secrets shorter
 * than 4 characters are left alone: they would blank ordinary words, and
 * libpq never quotes the password anyway. */
static void scrub(char *msg, size_t size, const char *secret)
{
    size_t n = secret ? strlen(secret) : 0;
    if (n < 4 || !strstr(msg, secret))
        return;
    Buf out = {0};
    for (const char *p = msg; *p;) {
        const char *hit = strstr(p, secret);
        if (!hit) {
            buf_append(&out, p);
            break;
        }
        buf_appendn(&out, p, (size_t)(hit - p));
        buf_append(&out, "***");
        p = hit + n;
    }
    snprintf(msg, size, "%s", buf_str(&out));
    buf_free(&out);
}

/* The password URL carries, if any, pointing into *OPTS (the caller frees
 * *OPTS with PQconninfoFree).  False when URL does not parse: libpq's parse
 * error quotes the URL, password included, so it is never shown. */
static bool url_password(const char *url, PQconninfoOption **opts, const char **password)
{
    char *parse_err = NULL;
    *password = NULL;
    *opts = PQconninfoParse(url, &parse_err);
    if (!*opts) {
        PQfreemem(parse_err);
        return false;
    }
    for (PQconninfoOption *o = *opts; o->keyword; o++)
        if (!strcmp(o->keyword, "password") && o->val && *o->val)
            *password = o->val;
    return true;
}

/* A bare database name ("mydb") is no conninfo string: libpq's expand_dbname
 * takes it as the dbname as is, and it holds no password. */
static bool is_conninfo(const char *url)
{
    return url && (strchr(url, '=') || !strncmp(url, "postgres://", 11) || !strncmp(url, "postgresql://", 13));
}

static bool unparsable_url(Err *err)
{
    err_set(err, PM_EINPUT, "the connection URL does not parse (not shown: it may hold a password)");
    return err_hint(err, "check its form: postgresql://user@host:port/dbname?sslmode=..., or key=value pairs");
}

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (!d)
        abort();
    return d;
}

static void params_add(PgConnParams *p, const char *key, const char *val)
{
    p->keys = realloc(p->keys, (size_t)(p->n + 1) * sizeof *p->keys);
    p->vals = realloc(p->vals, (size_t)(p->n + 1) * sizeof *p->vals);
    if (!p->keys || !p->vals)
        abort();
    p->keys[p->n] = xstrdup(key);
    p->vals[p->n] = xstrdup(val);
    p->n++;
}

bool pg_conn_params(const char *url, PgConnParams *out, Err *err)
{
    memset(out, 0, sizeof *out);
    if (!url || !*url)
        url = getenv("PARTMIG_DATABASE_URL");
    out->password = xstrdup("");
    if (!url || !*url)
        return true;
    if (!is_conninfo(url)) {
        params_add(out, "dbname", url);
        return true;
    }
    char *parse_err = NULL;
    /* libpq decodes the URI (percent-encoding included) and checks every
     * keyword; the values are as the server connection will use them */
    PQconninfoOption *opts = PQconninfoParse(url, &parse_err);
    if (!opts) {
        PQfreemem(parse_err);
        pg_conn_params_free(out);
        return unparsable_url(err);
    }
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val)
            continue;
        if (!strcmp(o->keyword, "password")) {
            free(out->password);
            out->password = xstrdup(o->val);
        } else
            params_add(out, o->keyword, o->val);
    }
    PQconninfoFree(opts);
    return true;
}

void pg_conn_params_free(PgConnParams *p)
{
    for (int i = 0; i < p->n; i++) {
        free(p->keys[i]);
        free(p->vals[i]);
    }
    free(p->keys);
    free(p->vals);
    free(p->password);
    memset(p, 0, sizeof *p);
}

PgConn *pg_connect(const char *url, Err *err)
{
    if (!url || !*url)
        url = getenv("PARTMIG_DATABASE_URL");
    PQconninfoOption *opts = NULL;
    const char *password = NULL;
    if (is_conninfo(url) && !url_password(url, &opts, &password)) {
        unparsable_url(err);
        return NULL;
    }
    const char *keys[] = {"dbname", "fallback_application_name", NULL};
    const char *vals[] = {url && *url ? url : NULL, "partmig", NULL};
    if (!vals[0]) {
        keys[0] = "fallback_application_name";
        vals[0] = "partmig";
        keys[1] = NULL;
    }
    PGconn *conn = PQconnectdbParams(keys, vals, 1 /* expand_dbname */);
    if (!conn) {
        PQconninfoFree(opts);
        err_set(err, PM_EDB, "cannot connect: out of memory");
        return NULL;
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        /* libpq's connection errors name host, port and user, not the
         * password; scrubbed all the same, in case a message ever quotes it */
        set_server_error(err, "cannot connect to the database", PQerrorMessage(conn));
        scrub(err->msg, sizeof err->msg, password);
        err_hint(err, "pass --db URL, set PARTMIG_DATABASE_URL, or the PG* environment variables");
        PQfinish(conn);
        PQconninfoFree(opts);
        return NULL;
    }
    PQconninfoFree(opts);
    PgConn *c = calloc(1, sizeof *c);
    if (!c) {
        PQfinish(conn);
        err_set(err, PM_EDB, "out of memory");
        return NULL;
    }
    c->conn = conn;
    /* a safe search_path before anything else runs (CVE-2018-1058) */
    PGresult *r = PQexec(conn, "SELECT pg_catalog.set_config('search_path', 'pg_catalog', false)");
    bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        set_server_error(err, "cannot set search_path", PQresultErrorMessage(r));
    PQclear(r);
    if (!ok) {
        pg_close(c);
        return NULL;
    }
    return c;
}

void pg_close(PgConn *c)
{
    if (!c)
        return;
    PQfinish(c->conn);
    free(c);
}

/* Keep R on success (RES) or turn it into ERR (SQLSTATE kept on C). */
static bool take_result(PgConn *c, PGresult *r, PgResult **res, Err *err)
{
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        snprintf(c->sqlstate, sizeof c->sqlstate, "%s", state ? state : "");
        const char *msg = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
        if (msg)
            err_set(err, PM_EDB, "%s", msg);
        else
            set_server_error(err, "database error", PQerrorMessage(c->conn));
        const char *detail = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL) : NULL;
        const char *hint = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_HINT) : NULL;
        if (hint)
            err_hint(err, "%s", hint);
        else if (detail)
            err_hint(err, "%s", detail);
        PQclear(r);
        return false;
    }
    if (res) {
        PgResult *pr = malloc(sizeof *pr);
        if (!pr) {
            PQclear(r);
            return err_set(err, PM_EDB, "out of memory");
        }
        pr->res = r;
        *res = pr;
    } else
        PQclear(r);
    return true;
}

bool pg_exec(PgConn *c, const char *sql, int nparams, const char *const *params, PgResult **res, Err *err)
{
    if (res)
        *res = NULL;
    c->sqlstate[0] = '\0';
    /* PG_QUERY_MARK first: partmig's own statements stay recognizable */
    size_t n = strlen(sql), m = strlen(PG_QUERY_MARK);
    char *marked = malloc(m + n + 1);
    if (!marked)
        return err_set(err, PM_EDB, "out of memory");
    memcpy(marked, PG_QUERY_MARK, m);
    memcpy(marked + m, sql, n + 1);
    bool ok = take_result(c, PQexecParams(c->conn, marked, nparams, NULL, params, NULL, NULL, 0), res, err);
    free(marked);
    return ok;
}

bool pg_exec_script(PgConn *c, const char *sql, Err *err)
{
    c->sqlstate[0] = '\0';
    return take_result(c, PQexec(c->conn, sql), NULL, err);
}

int pg_backend_pid(const PgConn *c)
{
    return PQbackendPID(c->conn);
}

bool pg_run(PgConn *c, const char *sql, Err *err)
{
    return pg_exec(c, sql, 0, NULL, NULL, err);
}

bool pg_query_text(PgConn *c, const char *sql, int nparams, const char *const *params, Arena *arena, const char **value,
                   Err *err)
{
    PgResult *r = NULL;
    *value = "";
    if (!pg_exec(c, sql, nparams, params, &r, err))
        return false;
    if (pg_nrows(r) > 0 && pg_ncols(r) > 0)
        *value = arena_strdup(arena, pg_get(r, 0, 0));
    pg_result_free(r);
    return true;
}

bool pg_query_bool(PgConn *c, const char *sql, int nparams, const char *const *params, bool *value, Err *err)
{
    PgResult *r = NULL;
    *value = false;
    if (!pg_exec(c, sql, nparams, params, &r, err))
        return false;
    *value = pg_nrows(r) > 0 && pg_ncols(r) > 0 && !strcmp(pg_get(r, 0, 0), "t");
    pg_result_free(r);
    return true;
}

const char *pg_last_sqlstate(const PgConn *c)
{
    return c->sqlstate;
}

int pg_nrows(const PgResult *r)
{
    return PQntuples(r->res);
}

int pg_ncols(const PgResult *r)
{
    return PQnfields(r->res);
}

const char *pg_get(const PgResult *r, int row, int col)
{
    return PQgetvalue(r->res, row, col);
}

bool pg_isnull(const PgResult *r, int row, int col)
{
    return PQgetisnull(r->res, row, col);
}

int64_t pg_get_int(const PgResult *r, int row, int col)
{
    return strtoll(PQgetvalue(r->res, row, col), NULL, 10);
}

const char **pg_column_strings(const PgResult *r, int col, Arena *arena)
{
    int n = PQntuples(r->res);
    const char **out = arena_alloc(arena, sizeof *out * (size_t)(n + 1));
    for (int i = 0; i < n; i++)
        out[i] = arena_strdup(arena, PQgetvalue(r->res, i, col));
    out[n] = NULL;
    return out;
}

void pg_result_free(PgResult *r)
{
    if (!r)
        return;
    PQclear(r->res);
    free(r);
}

int pg_server_version(const PgConn *c)
{
    return PQserverVersion(c->conn);
}

bool pg_in_transaction(const PgConn *c)
{
    return PQtransactionStatus(c->conn) != PQTRANS_IDLE;
}

void pg_cancel(PgConn *c)
{
    PGcancel *cancel = PQgetCancel(c->conn);
    if (!cancel)
        return;
    char buf[256];
    PQcancel(cancel, buf, sizeof buf);
    PQfreeCancel(cancel);
}

bool pg_ok(const PgConn *c)
{
    return c && PQstatus(c->conn) == CONNECTION_OK;
}

/* ---- command tag (added for the copier's verified batches) ---- */

int64_t pg_cmd_tuples(const PgResult *r)
{
    const char *n = r ? PQcmdTuples(r->res) : "";
    return n[0] ? strtoll(n, NULL, 10) : -1;
}
