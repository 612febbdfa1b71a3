/*  ts_agg.h: the aggregator: the hub producers and workers connect to.
 *
 *  It distributes chunks to workers by credit, passes acknowledgements back
 *  to producers (only once the statistics include the chunk's commits),
 *  keeps the job ledger, membership and the shard map (with an epoch), and
 *  the merged statistics fed by the workers' sequence-numbered deltas.
 *  Everything it holds is rebuilt after a restart: workers re-register,
 *  producers resend what was not acknowledged, statistics come back from
 *  shard snapshots. Protocol: shared/ts_proto.h.
 */
#ifndef TS_AGG_H
#define TS_AGG_H

#include <stdbool.h>
#include <stddef.h>

typedef struct ts_agg ts_agg_t;

typedef struct {
    const char *data_dir;
    const char *ingest;     /* endpoints to bind */
    const char *control;
    const char *query;
    unsigned    nshards;    /* for a new store; an existing one keeps its own */
    unsigned    expect_workers; /* after a start, assign the shards as soon as this
                                   many workers registered (0: after the grace) */
} ts_agg_config_t;

/*  Binds the endpoints and loads or creates the store's metadata.
 *  NULL on failure with a message naming the endpoint or path in `err`. */
ts_agg_t *ts_agg_new (const ts_agg_config_t *cfg, char *err, size_t err_size);

/*  Runs until *stop becomes true (a signal handler sets it). 0 or an error. */
int ts_agg_run (ts_agg_t *self, volatile bool *stop);

void ts_agg_destroy (ts_agg_t **self_p);

#endif
