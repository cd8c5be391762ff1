/* convert_writer.c: a test application writing to a table while partmig
 * converts it.  Each statement changes SCHEMA.TABLE and, in the same
 * statement (so in the same transaction), applies the identical change to
 * SCHEMA.expected_TABLE: an independent record of what was committed.
 *
 *   convert_writer TABLE PARTCOL STOPFILE [SEED]
 *
 * Until STOPFILE exists: inserts (copies of a random row with a fresh id),
 * updates of the partition key (moving rows across partitions), updates in
 * place, deletes.  Prints "writer TABLE ops=N errors=N max_ms=X at=T op=K" at
 * the end (T: the wall-clock start of the slowest statement, K: its kind);
 * each statement over 40 ms goes to stderr as "slow op=K at=T ms=X", to be
 * lined up with the server log.  Exit 1 when any statement failed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/arena.h"
#include "common/buf.h"
#include "common/quote.h"
#include "runtime/pg.h"

/* the wall clock as the server log prints it (UTC, milliseconds) */
static void wall_clock(char *out, size_t n)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char hms[16];
    strftime(hms, sizeof hms, "%H:%M:%S", &tm);
    snprintf(out, n, "%s.%03ld", hms, ts.tv_nsec / 1000000L);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: convert_writer TABLE PARTCOL STOPFILE [SEED]\n");
        return 2;
    }
    const char *table = argv[1], *col = argv[2], *stop = argv[3];
    unsigned seed = argc > 4 ? (unsigned)atoi(argv[4]) : 1;
    Arena a = {0};
    Buf t = {0}, e = {0}, c = {0}, et = {0};
    quote_qualified(&t, "public", table);
    char *expected = arena_printf(&a, "expected_%s", table);
    quote_qualified(&e, "public", expected);
    quote_ident(&c, col);
    quote_literal(&et, buf_str(&t));
    const char *T = buf_str(&t), *E = buf_str(&e), *C = buf_str(&c);

    const char *ins = arena_printf(&a,
                                   "WITH n AS (INSERT INTO %s SELECT (jsonb_populate_record(NULL::%s, to_jsonb(x) ||"
                                   " jsonb_build_object('id', nextval(pg_get_serial_sequence(%s, 'id'))))).*"
                                   " FROM %s x WHERE x.id = (SELECT min(id) FROM %s WHERE id >= $1::bigint)"
                                   " RETURNING *) INSERT INTO %s SELECT * FROM n",
                                   T, T, buf_str(&et), T, T, E);
    const char *move = arena_printf(&a,
                                    "WITH u AS (UPDATE %s SET %s = %s + interval '35 days' WHERE id = $1::bigint"
                                    " AND %s < now() - interval '40 days' RETURNING id, %s)"
                                    " UPDATE %s x SET %s = u.%s FROM u WHERE x.id = u.id",
                                    T, C, C, C, C, E, C, C);
    const char *touch = arena_printf(&a,
                                     "WITH u AS (UPDATE %s SET %s = %s + interval '1 second' WHERE id = $1::bigint"
                                     " AND %s < now() RETURNING id, %s)"
                                     " UPDATE %s x SET %s = u.%s FROM u WHERE x.id = u.id",
                                     T, C, C, C, C, E, C, C);
    const char *del = arena_printf(&a,
                                   "WITH d AS (DELETE FROM %s WHERE id = $1::bigint RETURNING id)"
                                   " DELETE FROM %s x USING d WHERE x.id = d.id",
                                   T, E);
    Err err;
    err_clear(&err);
    PgConn *conn = pg_connect(NULL, &err);
    if (!conn) {
        err_print(&err);
        return 1;
    }
    /* every update and delete finds its row of the expected table by id:
     * without an index each of them scans that table, and the time, growing
     * with the table, would be counted as a stall of the conversion */
    Buf ix = {0};
    quote_ident(&ix, arena_printf(&a, "%s_writer_id", expected));
    /* ... and with statistics: a table made by CREATE TABLE AS has none, so
     * the planner takes 1/200 of it per id; once TABLE is partitioned (an id
     * lookup is estimated at one row per partition) that estimate made each
     * update and delete of the expected table a hash join over a scan of all
     * of it (measured: 130-190 ms at 1M rows, counted as partmig's stall) */
    bool indexed = pg_run(conn, arena_printf(&a, "CREATE INDEX IF NOT EXISTS %s ON %s (id)", buf_str(&ix), E), &err) &&
                   pg_run(conn, arena_printf(&a, "ANALYZE %s", E), &err);
    buf_free(&ix);
    if (!indexed) {
        err_print(&err);
        pg_close(conn);
        return 1;
    }
    PgResult *r = NULL;
    long long maxid = 1;
    if (pg_exec(conn, arena_printf(&a, "SELECT max(id) FROM %s", T), 0, NULL, &r, &err))
        maxid = pg_get_int(r, 0, 0);
    pg_result_free(r);
    long ops = 0, errors = 0;
    double max_ms = 0;
    const char *max_kind = "-";
    char max_at[32] = "-";
    static const char *const kinds[] = {"insert", "move", "touch", "delete"};
    while (access(stop, F_OK) != 0) {
        int op = (int)(rand_r(&seed) % 10);
        char id[32];
        snprintf(id, sizeof id, "%lld", 1 + (long long)(rand_r(&seed) % (unsigned)(maxid > 0 ? maxid : 1)));
        const char *sql = op < 5 ? ins : op < 7 ? move : op < 9 ? touch : del;
        const char *kind = kinds[op < 5 ? 0 : op < 7 ? 1 : op < 9 ? 2 : 3];
        const char *params[] = {id};
        char at[32];
        wall_clock(at, sizeof at);
        double t0 = now_ms();
        if (!pg_exec(conn, sql, 1, params, NULL, &err)) {
            if (errors++ < 5)
                err_print(&err);
            if (!pg_ok(conn))
                break;
        }
        double ms = now_ms() - t0;
        if (ms > 40.0)
            fprintf(stderr, "slow op=%s at=%s ms=%.1f\n", kind, at, ms);
        if (ms > max_ms) {
            max_ms = ms;
            max_kind = kind;
            snprintf(max_at, sizeof max_at, "%s", at);
        }
        ops++;
        usleep(2000);
    }
    printf("writer %s ops=%ld errors=%ld max_ms=%.1f at=%s op=%s\n", table, ops, errors, max_ms, max_at, max_kind);
    pg_close(conn);
    buf_free(&t);
    buf_free(&e);
    buf_free(&c);
    buf_free(&et);
    arena_free(&a);
    return errors ? 1 : 0;
}
