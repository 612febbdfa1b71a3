/*  ts_seqwait.h: items that came before their turn.
 *
 *  A shard's statistics deltas are numbered; the aggregator applies them
 *  in order. A shard's old owner's last delta and its new owner's first
 *  travel on different connections and may arrive in either order, so a
 *  delta ahead of a gap waits here until the gap fills (or, when it does
 *  not fill soon, the statistics are rebuilt from snapshots: see
 *  docs/DESIGN.md, "Statistics"). The items are the caller's; the list
 *  holds them, newest first.
 */
#ifndef TS_SEQWAIT_H
#define TS_SEQWAIT_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ts_seqwait_item {
    uint64_t seq;
    void    *item;
    int64_t  since;             /* when it started waiting */
    struct ts_seqwait_item *next;
} ts_seqwait_item_t;

typedef struct {
    ts_seqwait_item_t *head;
} ts_seqwait_t;                 /* { 0 }: empty */

/*  Where item `seq` stands after `last` was applied. */
typedef enum {
    TS_SEQ_OLD,                 /* seq <= last: a repeat, or covered */
    TS_SEQ_NEXT,                /* seq == last + 1: apply it now */
    TS_SEQ_EARLY                /* past a gap: hold it */
} ts_seq_verdict_t;

ts_seq_verdict_t ts_seq_judge (uint64_t last, uint64_t seq);

/*  Holds an item ahead of a gap. Returns 0 when held (the list owns it
 *  now), 1 when an item of that seq is held already (not taken), or
 *  TS_ENOMEM (not taken). */
int ts_seqwait_hold (ts_seqwait_t *w, uint64_t seq, void *item, int64_t now);

/*  Takes out the most recently held item of seq <= last + 1 and returns
 *  it, its seq in *seq: the caller applies it when *seq == last + 1 and
 *  drops it otherwise. NULL when every held item is further ahead. */
void *ts_seqwait_take (ts_seqwait_t *w, uint64_t last, uint64_t *seq);

/*  True when an item has waited longer than max_ms at `now`. */
bool ts_seqwait_is_stale (const ts_seqwait_t *w, int64_t now, int64_t max_ms);

/*  Drops every item, each handed to free_fn (when not NULL). */
void ts_seqwait_clear (ts_seqwait_t *w, void (*free_fn) (void *item));

#ifdef __cplusplus
}
#endif
#endif
