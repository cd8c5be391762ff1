/* progress.c: the copy's progress bar (tty) or progress lines (logs). */
#include "progress.h"
#include "retry.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

void progress_start(Progress *p, const char *label, int64_t total)
{
    memset(p, 0, sizeof *p);
    snprintf(p->label, sizeof p->label, "%s", label);
    p->total = total > 0 ? total : 0;
    p->start = p->last = retry_now();
    p->tty = isatty(fileno(stderr));
}

static void print_line(Progress *p, int64_t done, bool final)
{
    double el = retry_now() - p->start;
    double rate = el > 0 ? (double)done / el : 0;
    int64_t total = p->total > done ? p->total : done;
    if (p->tty) {
        int width = 30, fill = total > 0 ? (int)((double)done * width / (double)total) : 0;
        char bar[64];
        for (int i = 0; i < width; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[width] = '\0';
        double eta = rate > 0 && total > done ? (double)(total - done) / rate : 0;
        fprintf(stderr, "\r%s [%s] %lld/%lld rows  %.0f rows/s  ETA %.0fs   ", p->label, bar, (long long)done,
                (long long)total, rate, eta);
        if (final)
            fputc('\n', stderr);
    } else {
        fprintf(stderr, "partmig: %s: %lld rows copied in %.1fs (%.0f rows/s)%s\n", p->label, (long long)done, el, rate,
                final ? ", done" : "");
    }
    fflush(stderr);
    p->printed = true;
}

void progress_update(Progress *p, int64_t done)
{
    double now = retry_now();
    if (now - p->last < (p->tty ? 0.2 : 5.0))
        return;
    p->last = now;
    print_line(p, done, false);
}

void progress_finish(Progress *p, int64_t done)
{
    print_line(p, done, true);
}
