/*  ts_reads.h: the worker's answers to the api's reads (ts_reads.c). */
#ifndef TS_READS_H
#define TS_READS_H

#include "ts_worker.h"
#include <czmq.h>

/*  The read handler (see ts_worker_set_read_handler). */
zmsg_t *ts_reads_handle (ts_worker_t *w, const void *hdr, size_t hdr_len, zmsg_t *rest);

/*  Frees the handler's buffers at exit. */
void ts_reads_cleanup (void);

#endif
