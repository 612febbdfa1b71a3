/*  ts_worker.h: a worker: parses chunks into records, routes each record to
 *  the owner of its shard (itself or a peer), commits the batches of the
 *  shards it owns in group commits, reports a chunk done only when every
 *  part of it is committed, feeds the aggregator's statistics, and answers
 *  reads for its shards. One thread: reads are served between commits, so
 *  an answer reflects exactly the committed batches. Protocol:
 *  shared/ts_proto.h.
 */
#ifndef TS_WORKER_H
#define TS_WORKER_H

#include <stdbool.h>
#include <stddef.h>

/*  Read requests that reach the worker's peer socket and are not part of
 *  the import protocol ("rget", "rlist", ... from the api) go to the
 *  config's read handler (workers/ts_reads.c; NULL: such requests are
 *  counted and dropped). It gets the worker (for ts_worker_store), the
 *  request header and its frames, and returns the reply message (or NULL
 *  for none). */
typedef struct ts_worker ts_worker_t;
typedef struct _zmsg_t zmsg_t;
typedef zmsg_t *(ts_worker_read_fn) (ts_worker_t *self, const void *hdr, size_t hdr_len,
                                     zmsg_t *rest);

typedef struct {
    const char *name;           /* unique among the workers of a store */
    const char *data_dir;
    const char *control;        /* aggregator endpoint to connect */
    const char *peer_bind;      /* endpoint to bind for peers and the api */
    const char *peer_advertise; /* how others reach it (tcp: host:port) */
    const char *tuning;         /* Kyoto Cabinet tuning, NULL for default */
    ts_worker_read_fn *read_handler;    /* reads from the api, or NULL */
} ts_worker_config_t;

ts_worker_t *ts_worker_new (const ts_worker_config_t *cfg, char *err, size_t err_size);

/*  Runs until *stop; then hands its shards back (commits what it holds,
 *  tells the aggregator it leaves, closes every shard). 0 or an error. */
int ts_worker_run (ts_worker_t *self, volatile bool *stop);

void ts_worker_destroy (ts_worker_t **self_p);


/*  The open store of shard n, or NULL when this worker does not hold it. */
struct ts_store;
struct ts_store *ts_worker_store (ts_worker_t *self, unsigned shard);

/*  Sends a heartbeat if one is due: for work that holds the worker's
 *  thread for long (the read side's consistency check), between steps. */
void ts_worker_heartbeat (ts_worker_t *self);

/*  The same, as the store's tick (ts_store_tick_fn, set on every shard the
 *  worker opens): `worker` is the ts_worker_t, called between a drop's
 *  steps, within a compaction and every 1,024 entries a scan visits. */
void ts_worker_tick (void *worker);

/*  A drop changed shard n's totals outside a commit (with no delta): the
 *  aggregator is told to rebuild its statistics from snapshots. */
void ts_worker_resync (ts_worker_t *self, unsigned shard);

/*  After a failed write into shard n: its error for `trajstore health`,
 *  and leaving when the handle cannot be used again. */
void ts_worker_store_failed (ts_worker_t *self, unsigned shard);

/*  The current shard count and epoch (0 before the first map). */
unsigned ts_worker_nshards (const ts_worker_t *self);
unsigned long long ts_worker_epoch (const ts_worker_t *self);

#endif
