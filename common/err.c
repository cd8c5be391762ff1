/* err.c: filling and printing the Err type. */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void err_clear(Err *err)
{
    memset(err, 0, sizeof *err);
}

bool err_set(Err *err, int code, const char *fmt, ...)
{
    va_list ap;
    err->code = code;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    err->hint[0] = '\0';
    return false;
}

bool err_at(Err *err, int code, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    err->code = code;
    snprintf(err->file, sizeof err->file, "%s", file ? file : "");
    err->line = line;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    err->hint[0] = '\0';
    return false;
}

bool err_hint(Err *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->hint, sizeof err->hint, fmt, ap);
    va_end(ap);
    return false;
}

void err_print(const Err *err)
{
    if (err->file[0] && err->line > 0)
        fprintf(stderr, "%s:%d: %s\n", err->file, err->line, err->msg);
    else if (err->file[0])
        fprintf(stderr, "%s: %s\n", err->file, err->msg);
    else
        fprintf(stderr, "partmig: %s\n", err->msg);
    if (err->hint[0])
        fprintf(stderr, "hint: %s\n", err->hint);
}
