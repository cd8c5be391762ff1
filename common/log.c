/* log.c: partmig's stderr messages (see log.h). */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>

static void write_line(const char *prefix, const char *fmt, va_list ap)
{
    fflush(stdout);
    fputs(prefix, stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    fflush(stderr);
}

void log_msg(LogLevel level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    write_line(level == LOG_WARNING ? "partmig: warning: " : "partmig: ", fmt, ap);
    va_end(ap);
}

void log_hint(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    write_line("hint: ", fmt, ap);
    va_end(ap);
}
