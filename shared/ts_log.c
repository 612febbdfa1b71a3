/*  ts_log.c: one-line-per-event logging for the programs (ts_log.h). */
#include "ts_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static char s_process [64] = "trajstore";
static ts_log_level_t s_level = TS_LOG_INFO;

void
ts_log_init (const char *process, ts_log_level_t level)
{
    snprintf (s_process, sizeof s_process, "%s", process);
    s_level = level;
}

bool
ts_log_level_parse (const char *text, ts_log_level_t *level)
{
    static const char *names [] = { "debug", "info", "warn", "error" };
    for (int i = 0; i < 4; i++)
        if (!strcmp (text, names [i])) {
            *level = (ts_log_level_t) i;
            return true;
        }
    return false;
}

void
ts_log (ts_log_level_t level, const char *fmt, ...)
{
    static const char *tags [] = { "DEBUG", "INFO ", "WARN ", "ERROR" };
    if (level < s_level)
        return;
    struct timespec ts;
    struct tm tm;
    clock_gettime (CLOCK_REALTIME, &ts);
    gmtime_r (&ts.tv_sec, &tm);
    char line [2048];
    int n = snprintf (line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s ",
                      tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                      tm.tm_sec, ts.tv_nsec / 1000000, tags [level], s_process);
    va_list ap;
    va_start (ap, fmt);
    if (n > 0 && (size_t) n < sizeof line)
        vsnprintf (line + n, sizeof line - (size_t) n, fmt, ap);
    va_end (ap);
    /* one write per line, so lines of concurrent processes never interleave */
    size_t len = strnlen (line, sizeof line - 2);
    line [len++] = '\n';
    fwrite (line, 1, len, stderr);
    fflush (stderr);
}
