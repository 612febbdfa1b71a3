/*  bench_zmq.h: a benchmark client's connection over ZeroMQ, as bench_query
 *  (to trajstore's api) and bench_floor (to a bare echo server) open it: a
 *  context and a DEALER socket of its own (made after any fork: ZeroMQ
 *  contexts do not survive one), linger 0, answers waited for with a
 *  timeout. Apart from bench_common: bench_sqlite_query needs no libzmq.
 */
#ifndef BENCH_ZMQ_H
#define BENCH_ZMQ_H

#include <stdbool.h>
#include <stddef.h>
#include <zmq.h>

typedef struct {
    const char *prog;           /* for messages */
    const char *endpoint;
    void       *zctx, *sock;
    zmq_msg_t   reply;          /* the last answer received */
    bool        has_reply;
    int         said;           /* failures said on stderr (at most a few) */
} bq_dealer_t;

/*  Connects a DEALER to endpoint. 0, or -1 after saying why on stderr
 *  (and closing what it opened). */
int  bq_dealer_open (bq_dealer_t *d, const char *prog, const char *endpoint);
void bq_dealer_close (bq_dealer_t *d);

/*  Sends one message. 0, or -1 (said). */
int  bq_dealer_send (bq_dealer_t *d, const void *data, size_t len);

/*  Waits up to timeout_ms for the next answer, into d->reply. 0, or -1
 *  when none came in time or receiving failed (said). */
int  bq_dealer_recv (bq_dealer_t *d, int timeout_ms);

/*  Says a failure of this connection on stderr, the first few times only
 *  (a client failing every request would drown the table). Returns -1. */
int  bq_dealer_fail (bq_dealer_t *d, const char *what);

#endif
