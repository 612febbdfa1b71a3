/*  ts_seqwait.c: items that came before their turn (ts_seqwait.h). */
#include "ts_seqwait.h"
#include "ts_error.h"

#include <assert.h>
#include <stdlib.h>

ts_seq_verdict_t
ts_seq_judge (uint64_t last, uint64_t seq)
{
    if (seq <= last)
        return TS_SEQ_OLD;
    return seq == last + 1 ? TS_SEQ_NEXT : TS_SEQ_EARLY;
}

int
ts_seqwait_hold (ts_seqwait_t *w, uint64_t seq, void *item, int64_t now)
{
    assert (w);
    for (ts_seqwait_item_t *e = w->head; e; e = e->next)
        if (e->seq == seq)
            return 1;
    ts_seqwait_item_t *e = calloc (1, sizeof *e);
    if (!e)
        return TS_ENOMEM;
    e->seq = seq;
    e->item = item;
    e->since = now;
    e->next = w->head;
    w->head = e;
    return 0;
}

void *
ts_seqwait_take (ts_seqwait_t *w, uint64_t last, uint64_t *seq)
{
    assert (w && seq);
    for (ts_seqwait_item_t **pp = &w->head; *pp; pp = &(*pp)->next) {
        ts_seqwait_item_t *e = *pp;
        if (e->seq > last + 1)
            continue;
        *pp = e->next;
        void *item = e->item;
        *seq = e->seq;
        free (e);
        return item;
    }
    return NULL;
}

bool
ts_seqwait_is_stale (const ts_seqwait_t *w, int64_t now, int64_t max_ms)
{
    for (const ts_seqwait_item_t *e = w->head; e; e = e->next)
        if (now - e->since > max_ms)
            return true;
    return false;
}

void
ts_seqwait_clear (ts_seqwait_t *w, void (*free_fn) (void *item))
{
    while (w->head) {
        ts_seqwait_item_t *e = w->head;
        w->head = e->next;
        if (free_fn)
            free_fn (e->item);
        free (e);
    }
}
