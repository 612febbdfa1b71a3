/*  ts_log.h: the programs' log: one line per event on stderr,
 *      2026-11-29T01:50:00.123Z INFO  worker[w1] opened shard 3 (epoch 4)
 *  Library code (the rest of shared/) never logs: it returns errors, and
 *  the program that decides what they mean logs them here, once.
 */
#ifndef TS_LOG_H
#define TS_LOG_H

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { TS_LOG_DEBUG, TS_LOG_INFO, TS_LOG_WARN, TS_LOG_ERROR } ts_log_level_t;

/*  Names the process ("worker[w1]") and sets the lowest level written. */
void ts_log_init (const char *process, ts_log_level_t level);

/*  Parses "debug", "info", "warn", "error"; returns false otherwise. */
bool ts_log_level_parse (const char *text, ts_log_level_t *level);

void ts_log (ts_log_level_t level, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

#define ts_debug(...) ts_log (TS_LOG_DEBUG, __VA_ARGS__)
#define ts_info(...)  ts_log (TS_LOG_INFO, __VA_ARGS__)
#define ts_warn(...)  ts_log (TS_LOG_WARN, __VA_ARGS__)
#define ts_error(...) ts_log (TS_LOG_ERROR, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif
