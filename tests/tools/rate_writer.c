/* rate_writer.c: an application writing by id, as ERP code does, at a fixed rate or flat out.
 *
 *   rate_writer TABLE RATE CLIENTS STOP [COLUMN]
 *
 * CLIENTS processes, one connection each, run
 *   UPDATE TABLE SET amount = amount + 1 WHERE id = $1
 * for a random id between 1 and the table's max(id) at start; with COLUMN
 * (the partition column), an application that names it too, so that each
 * statement is planned in one partition:
 *   UPDATE TABLE SET amount = amount + 1 WHERE id = $1 AND COLUMN = $2
 * for random rows among 10,000 read at start.
 * RATE > 0: a fixed rate (RATE transactions/s over all clients, each client on
 * its own evenly spaced schedule); a transaction's latency counts from its
 * scheduled start, so a stall shows as the queue it builds, as an application
 * at a fixed load sees it.  RATE = 0: a closed loop (capacity).
 * STOP: a number of seconds, or a file whose existence ends the run.  With a
 * file, STOP.ready appears once every client is connected and has planned
 * its statement once (a cold backend's first plan over thousands of
 * partitions takes tens of ms, and reading the rows takes seconds there):
 * the schedule starts then, so wait for it before what is to be measured.
 * Prints one line:
 *   rate_writer ops=N errors=N seconds=S tps=X max_ms=M late=L at=T first_late=F last_ms=E
 * (late: transactions over 100 ms from their schedule; at: wall clock, UTC,
 * of the slowest one's scheduled start; first_late: that of the first late
 * one, or -; last_ms: the latency of each client's last transaction, the
 * largest: near max_ms, the writer was still falling behind when it stopped
 * -- a rate above what the table takes, not a stall that passed).
 * Exit 1 when any statement failed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/arena.h"
#include "common/buf.h"
#include "common/quote.h"
#include "runtime/pg.h"

typedef struct {
    long ops, errors, late;
    double max_ms, max_at, seconds;
    double first_late_at; /* wall clock; 0: none */
    double last_ms;
} Tally;

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* HH:MM:SS.mmm, UTC, of wall clock T */
static void clock_text(double t, char *out, size_t size)
{
    time_t s = (time_t)t;
    struct tm tm;
    gmtime_r(&s, &tm);
    char hms[16];
    strftime(hms, sizeof hms, "%H:%M:%S", &tm);
    snprintf(out, size, "%s.%03d", hms, (int)((t - (double)s) * 1000));
}

static void sleep_until(double t)
{
    double d = t - mono_s();
    if (d <= 0)
        return;
    struct timespec ts = {(time_t)d, (long)((d - (double)(time_t)d) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* With COLUMN: the rows the clients write, (id, COLUMN as text). */
typedef struct {
    int n;
    char (*id)[32];
    char (*value)[64];
} Rows;

/* one client: runs until STOP, fills T */
static int client(const char *update, const char *explain, long long maxid, const Rows *rows, double rate, int clients,
                  int k, const char *stop, double seconds, const int sync[2][2], Tally *t)
{
    Err err;
    err_clear(&err);
    PgConn *conn = pg_connect(NULL, &err);
    /* warm: the statement planned once (EXPLAIN writes nothing) */
    const char *first[2] = {rows->n > 0 ? rows->id[0] : "1", rows->n > 0 ? rows->value[0] : NULL};
    if (!conn || !pg_exec(conn, explain, rows->n > 0 ? 2 : 1, first, NULL, &err)) {
        err_print(&err);
        return 1;
    }
    /* ready; then wait for the others (the go pipe closes) */
    char byte = 'r';
    if (write(sync[0][1], &byte, 1) != 1 || read(sync[1][0], &byte, 1) != 0)
        return 1;
    unsigned seed = 7919u * (unsigned)(k + 1);
    double interval = rate > 0 ? (double)clients / rate : 0;
    double start = mono_s(), wall0 = wall_s();
    double next = start + interval * (double)k / (double)clients;
    int checks = 0;
    for (;;) {
        if (seconds > 0 ? mono_s() - start >= seconds : (++checks % 16 == 0 && access(stop, F_OK) == 0))
            break;
        if (interval > 0)
            sleep_until(next);
        double sched = interval > 0 ? next : mono_s();
        char id[32];
        const char *params[2] = {id, NULL};
        if (rows->n > 0) {
            int i = (int)(rand_r(&seed) % (unsigned)rows->n);
            params[0] = rows->id[i];
            params[1] = rows->value[i];
        } else
            snprintf(id, sizeof id, "%lld", 1 + (long long)(rand_r(&seed) % (unsigned)(maxid > 0 ? maxid : 1)));
        if (!pg_exec(conn, update, rows->n > 0 ? 2 : 1, params, NULL, &err)) {
            if (t->errors++ < 3)
                err_print(&err);
            if (!pg_ok(conn))
                break;
        }
        double ms = (mono_s() - sched) * 1000.0;
        if (ms > t->max_ms) {
            t->max_ms = ms;
            t->max_at = wall0 + (sched - start);
        }
        if (ms > 100.0 && t->late++ == 0)
            t->first_late_at = wall0 + (sched - start);
        t->last_ms = ms;
        t->ops++;
        next += interval;
    }
    t->seconds = mono_s() - start;
    pg_close(conn);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 5 && argc != 6) {
        fprintf(stderr, "usage: rate_writer TABLE RATE CLIENTS STOP [COLUMN]\n");
        return 2;
    }
    double rate = atof(argv[2]);
    int clients = atoi(argv[3]);
    const char *stop = argv[4];
    char *end = NULL;
    double seconds = strtod(stop, &end);
    if (end == stop || *end != '\0')
        seconds = 0; /* a stop file */
    if (clients < 1 || clients > 64 || rate < 0) {
        fprintf(stderr, "rate_writer: bad RATE or CLIENTS\n");
        return 2;
    }
    int rc = 1;
    Arena a = {0};
    Buf t = {0};
    Tally *tallies = calloc((size_t)clients, sizeof *tallies);
    int(*pipes)[2] = calloc((size_t)clients, sizeof *pipes);
    pid_t *pids = calloc((size_t)clients, sizeof *pids);
    Err err;
    err_clear(&err);
    PgConn *conn = NULL;
    if (!tallies || !pipes || !pids)
        goto done;
    quote_qualified(&t, "public", argv[1]);
    Rows rows = {0};
    const char *update = arena_printf(&a, "UPDATE %s SET amount = amount + 1 WHERE id = $1::bigint", buf_str(&t));
    if (argc == 6) {
        Buf col = {0};
        quote_ident(&col, argv[5]);
        update = arena_printf(&a, "%s AND %s = $2", update, buf_str(&col));
        buf_free(&col);
    }
    conn = pg_connect(NULL, &err);
    long long maxid = 1;
    PgResult *r = NULL;
    if (!conn ||
        !pg_exec(conn, arena_printf(&a, "SELECT coalesce(max(id), 1) FROM %s", buf_str(&t)), 0, NULL, &r, &err)) {
        err_print(&err);
        goto done;
    }
    maxid = pg_get_int(r, 0, 0);
    pg_result_free(r);
    r = NULL;
    if (argc == 6) {
        Buf col = {0};
        quote_ident(&col, argv[5]);
        bool got = pg_exec(
            conn,
            arena_printf(&a, "SELECT id, %s::text FROM %s ORDER BY random() LIMIT 10000", buf_str(&col), buf_str(&t)),
            0, NULL, &r, &err);
        buf_free(&col);
        if (!got) {
            err_print(&err);
            goto done;
        }
        rows.n = pg_nrows(r);
        rows.id = arena_alloc(&a, sizeof *rows.id * (size_t)(rows.n + 1));
        rows.value = arena_alloc(&a, sizeof *rows.value * (size_t)(rows.n + 1));
        for (int i = 0; i < rows.n; i++) {
            snprintf(rows.id[i], sizeof rows.id[i], "%s", pg_get(r, i, 0));
            snprintf(rows.value[i], sizeof rows.value[i], "%s", pg_get(r, i, 1));
        }
        pg_result_free(r);
    }
    pg_close(conn);
    conn = NULL;
    /* sync[0]: each client's byte when ready; sync[1]: closed to start them */
    int sync[2][2];
    if (pipe(sync[0]) != 0 || pipe(sync[1]) != 0) {
        perror("rate_writer");
        goto done;
    }
    const char *explain = arena_printf(&a, "EXPLAIN %s", update);
    for (int k = 0; k < clients; k++) {
        if (pipe(pipes[k]) != 0 || (pids[k] = fork()) < 0) {
            perror("rate_writer");
            goto done;
        }
        if (pids[k] == 0) {
            Tally mine = {0};
            close(pipes[k][0]);
            close(sync[0][0]);
            close(sync[1][1]);
            int crc = client(update, explain, maxid, &rows, rate, clients, k, stop, seconds, sync, &mine);
            ssize_t w = write(pipes[k][1], &mine, sizeof mine);
            _exit(crc || w != (ssize_t)sizeof mine ? 1 : 0);
        }
        close(pipes[k][1]);
    }
    close(sync[0][1]);
    close(sync[1][0]);
    int ready = 0;
    char byte;
    while (ready < clients && read(sync[0][0], &byte, 1) == 1)
        ready++;
    close(sync[0][0]);
    if (ready == clients && seconds == 0) {
        const char *flag = arena_printf(&a, "%s.ready", stop);
        FILE *f = fopen(flag, "w");
        if (f)
            fclose(f);
    }
    close(sync[1][1]); /* go */
    Tally all = {0};
    bool ok = ready == clients;
    for (int k = 0; k < clients; k++) {
        Tally one = {0};
        if (read(pipes[k][0], &one, sizeof one) != (ssize_t)sizeof one)
            ok = false;
        close(pipes[k][0]);
        int status = 0;
        waitpid(pids[k], &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            ok = false;
        all.ops += one.ops;
        all.errors += one.errors;
        all.late += one.late;
        if (one.seconds > all.seconds)
            all.seconds = one.seconds;
        if (one.first_late_at > 0 && (all.first_late_at == 0 || one.first_late_at < all.first_late_at))
            all.first_late_at = one.first_late_at;
        if (one.last_ms > all.last_ms)
            all.last_ms = one.last_ms;
        if (one.max_ms > all.max_ms) {
            all.max_ms = one.max_ms;
            all.max_at = one.max_at;
        }
    }
    char at[32], first_late[32];
    clock_text(all.max_at, at, sizeof at);
    if (all.first_late_at > 0)
        clock_text(all.first_late_at, first_late, sizeof first_late);
    else
        snprintf(first_late, sizeof first_late, "-");
    printf("rate_writer ops=%ld errors=%ld seconds=%.2f tps=%.0f max_ms=%.1f late=%ld at=%s first_late=%s "
           "last_ms=%.1f\n",
           all.ops, all.errors, all.seconds, all.seconds > 0 ? (double)all.ops / all.seconds : 0.0, all.max_ms,
           all.late, at, first_late, all.last_ms);
    rc = ok && all.errors == 0 ? 0 : 1;
done:
    pg_close(conn);
    free(tallies);
    free(pipes);
    free(pids);
    buf_free(&t);
    arena_free(&a);
    return rc;
}
