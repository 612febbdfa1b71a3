/*  ts_api.h: the api: the front door for clients (docs/PROTOCOL.md).
 *
 *  It validates a request, answers statistics from the aggregator, and
 *  answers reads by asking the owners of the relevant shards and merging
 *  their ordered answers. It holds no data: every answer comes from the
 *  processes that hold the committed state when the request arrives, so
 *  nothing it returns is stale. One thread, fully asynchronous: a large
 *  query waits on its workers without holding small ones back.
 */
#ifndef TS_API_H
#define TS_API_H

#include <stdbool.h>
#include <stddef.h>

typedef struct ts_api ts_api_t;

typedef struct {
    const char *bind;        /* client endpoint */
    const char *query;       /* aggregator query endpoint */
    const char *data_dir;
} ts_api_config_t;

ts_api_t *ts_api_new (const ts_api_config_t *cfg, char *err, size_t err_size);
int  ts_api_run (ts_api_t *self, volatile bool *stop);
void ts_api_destroy (ts_api_t **self_p);

#endif
