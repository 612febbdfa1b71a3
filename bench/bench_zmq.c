/*  bench_zmq.c: see bench_zmq.h. */
#include "bench_zmq.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define BQ_DEALER_SAY_MAX 3

int
bq_dealer_fail (bq_dealer_t *d, const char *what)
{
    if (d->said++ < BQ_DEALER_SAY_MAX)
        fprintf (stderr, "%s: %s: %s\n", d->prog, d->endpoint, what);
    return -1;
}

int
bq_dealer_open (bq_dealer_t *d, const char *prog, const char *endpoint)
{
    memset (d, 0, sizeof *d);
    d->prog = prog;
    d->endpoint = endpoint;
    int linger = 0;
    if (!(d->zctx = zmq_ctx_new ()) || !(d->sock = zmq_socket (d->zctx, ZMQ_DEALER))
    ||  zmq_setsockopt (d->sock, ZMQ_LINGER, &linger, sizeof linger)
    ||  zmq_connect (d->sock, endpoint)) {
        char why [160];
        snprintf (why, sizeof why, "cannot connect: %s", zmq_strerror (zmq_errno ()));
        bq_dealer_fail (d, why);
        bq_dealer_close (d);
        return -1;
    }
    zmq_msg_init (&d->reply);
    d->has_reply = true;
    return 0;
}

void
bq_dealer_close (bq_dealer_t *d)
{
    if (d->has_reply)
        zmq_msg_close (&d->reply);
    if (d->sock)
        zmq_close (d->sock);
    if (d->zctx)
        zmq_ctx_term (d->zctx);
    d->has_reply = false;
    d->sock = d->zctx = NULL;
}

int
bq_dealer_send (bq_dealer_t *d, const void *data, size_t len)
{
    while (zmq_send (d->sock, data, len, 0) < 0)
        if (zmq_errno () != EINTR)
            return bq_dealer_fail (d, zmq_strerror (zmq_errno ()));
    return 0;
}

int
bq_dealer_recv (bq_dealer_t *d, int timeout_ms)
{
    for (;;) {
        zmq_pollitem_t it = { d->sock, 0, ZMQ_POLLIN, 0 };
        int n = zmq_poll (&it, 1, timeout_ms);
        if (n < 0 && zmq_errno () == EINTR)
            continue;                   /* the full timeout again: good enough */
        if (n < 0)
            return bq_dealer_fail (d, zmq_strerror (zmq_errno ()));
        if (n == 0) {
            char why [64];
            snprintf (why, sizeof why, "no answer within %.1f s", timeout_ms / 1000.0);
            return bq_dealer_fail (d, why);
        }
        if (zmq_msg_recv (&d->reply, d->sock, 0) >= 0)
            return 0;
        if (zmq_errno () != EINTR)
            return bq_dealer_fail (d, zmq_strerror (zmq_errno ()));
    }
}
