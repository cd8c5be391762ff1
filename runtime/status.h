/* status.h: what `partmig status` shares between collecting (status.c) and
 * reporting (status_report.c): the status model is one JSON object, the
 * same that --json prints; --check judges it and --format openmetrics
 * renders it. */
#ifndef PARTMIG_STATUS_H
#define PARTMIG_STATUS_H

#include <jansson.h>
#include <stdbool.h>

#include "../common/arena.h"

/* Thresholds of `partmig status --check` (seconds unless said). */
typedef struct StatusThresholds {
    int premake_warn;            /* warning below this many whole intervals covered ahead of now */
    long long default_rows_warn; /* warning when DEFAULT holds more rows than this */
    long long finalize_warn;     /* a swapped conversion waiting for finalize longer than this */
    long long stalled_warn;      /* an unfinished conversion without progress for longer than this */
    long long retention_overdue; /* a partition due for retention for longer than this */
    long long maintain_warn;     /* last successful maintain older than this: warning */
    long long maintain_crit;     /* ... critical */
} StatusThresholds;

/* The defaults the --help text states. */
#define STATUS_PREMAKE_WARN      1
#define STATUS_DEFAULT_ROWS_WARN 0
#define STATUS_FINALIZE_WARN     (7LL * 86400)
#define STATUS_STALLED_WARN      (3600LL)
#define STATUS_RETENTION_OVERDUE (2LL * 86400)
#define STATUS_MAINTAIN_WARN     (36LL * 3600)
#define STATUS_MAINTAIN_CRIT     (72LL * 3600)

/* Nagios plugin exit codes. */
enum { CHECK_OK = 0, CHECK_WARNING = 1, CHECK_CRITICAL = 2, CHECK_UNKNOWN = 3 };

/* Judge ROOT (the status model) against T: an object {"status": "OK" |
 * "WARNING" | "CRITICAL", "code": 0..2, "summary": "...", "problems": [{"severity",
 * "table", "check", "message"}]} (a new reference). */
json_t *status_check(json_t *root, const StatusThresholds *t);

/* Print the check as a Nagios plugin does: "PARTMIG OK|WARNING|CRITICAL -
 * summary", then one line per problem. */
void status_print_check(json_t *check);

/* Partitions at most this big are counted exactly; bigger ones use reltuples. */
#define EXACT_COUNT_BYTES (8 * 1024 * 1024)

/* The text view of ROOT (status's model) on stdout. */
void status_print_human(json_t *root);

/* Print ROOT in the OpenMetrics text format, ending in "# EOF". */
void status_print_openmetrics(json_t *root);

/* "YYYY-MM-DDTHH:MM:SSZ" for unix seconds EPOCH (owned by ARENA). */
const char *status_rfc3339(Arena *arena, double epoch);

/* A duration "90", "90s", "15m", "36h", "7d", "2w" in seconds; -1 when
 * malformed. */
long long status_parse_duration(const char *text);

#endif
