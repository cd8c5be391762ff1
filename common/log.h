/* log.h: the messages partmig writes to stderr besides its errors (which
 * err_print writes): "partmig: " and the text, "partmig: warning: " for a
 * warning, and "hint: " lines.  stdout is flushed first, so that a report on
 * stdout and a message on stderr keep their order in a shared log. */
#ifndef PARTMIG_LOG_H
#define PARTMIG_LOG_H

typedef enum {
    LOG_INFO,    /* "partmig: ..." -- progress, retries, summaries */
    LOG_WARNING, /* "partmig: warning: ..." -- something was skipped or not recorded */
    LOG_ERROR,   /* "partmig: ..." -- a failure reported without an Err */
} LogLevel;

/* One message at LEVEL; FMT without the prefix and the final newline. */
void log_msg(LogLevel level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "hint: ..." after a message: how to fix or what to do next. */
void log_hint(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
