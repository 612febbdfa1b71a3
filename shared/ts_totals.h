/*  ts_totals.h: exact running totals of a set of records (a shard, a group,
 *  a model, or all of them merged).
 *
 *  Sums merge by addition, so totals of disjoint sets combine exactly, in
 *  any order: the aggregator merges shard totals this way. Reward std comes
 *  from the sum of squares. The histogram has TS_HIST_BINS equal bins over
 *  [0, 1] plus one below 0 and one above 1 (rewards outside [0, 1] are
 *  rare but kept): bins[0] < 0, bins[1..BINS] the bins, bins[BINS+1] > 1;
 *  a reward of exactly 1.0 falls in the last regular bin.
 */
#ifndef TS_TOTALS_H
#define TS_TOTALS_H

#include "ts_record.h"
#include <msgpack.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TS_HIST_BINS 20

typedef struct {
    uint64_t count;          /* records */
    uint64_t successes;      /* records with success true */
    uint64_t success_known;  /* records with a success value */
    uint64_t reward_n;       /* records with a reward */
    double   reward_sum, reward_sq, reward_min, reward_max;
    uint64_t steps_n;
    uint64_t steps_sum;
    uint64_t hist [TS_HIST_BINS + 2];
} ts_totals_t;

/*  Empty totals. */
void ts_totals_init (ts_totals_t *t);

/*  Adds one record. */
void ts_totals_add (ts_totals_t *t, const ts_summary_t *s);

/*  Adds `src` into `dst`. */
void ts_totals_merge (ts_totals_t *dst, const ts_totals_t *src);

/*  Histogram bin of a reward. */
int ts_totals_bin (double reward);

/*  msgpack form: [count, successes, success_known, reward_n, reward_sum,
 *  reward_sq, reward_min|nil, reward_max|nil, steps_n, steps_sum, [hist]]. */
int ts_totals_pack (msgpack_packer *pk, const ts_totals_t *t);

/*  The totals as a client reads them: records, successes, success_known,
 *  success_rate, reward_n, reward_mean/std/min/max, steps_mean, steps_n,
 *  histogram (docs/PROTOCOL.md, `stats`). */
void ts_totals_pack_map (msgpack_packer *pk, const ts_totals_t *t);
int ts_totals_unpack (const void *data, size_t len, ts_totals_t *t, size_t *consumed);

/*  The ts_delta form: what a shard's totals changed by in one commit (or,
 *  in a snapshot, the totals themselves):
 *      [seq, shard totals, [[group, totals]...], [[model, totals]...],
 *       [[run, group|nil, [count, successes, success_known, reward_n,
 *                          reward_sum]]...]]
 *  The runs part, a run's counts in each of its groups, is absent from
 *  deltas of builds before runs; it carries what runs and compare report
 *  (the rest of its totals reads as empty), which keeps a delta small: a
 *  whole totals a run and group cost the 100k import 17% more CPU.
 *  A sixth part, [[run, model, totals]...], holds a run's whole totals per
 *  model (`stats --run`), its records without a model under a nil model
 *  (so the run's whole totals, reward std and histogram included, are
 *  the sum of its entries); a run has few models, so this costs one entry
 *  or two a commit. Deltas of builds before it have five parts.
 *  ts_delta_read walks one, calling back for each part. */
typedef struct {
    void (*shard) (void *arg, const ts_totals_t *t);
    void (*group) (void *arg, const char *name, size_t len, const ts_totals_t *t);
    void (*model) (void *arg, const char *name, size_t len, const ts_totals_t *t);
    void *arg;
    /* group NULL: the run's records without a group */
    void (*run) (void *arg, const char *run, size_t run_len, const char *group,
                 size_t group_len, const ts_totals_t *t);
    void (*run_model) (void *arg, const char *run, size_t run_len, const char *model,
                       size_t model_len, const ts_totals_t *t);
} ts_delta_visitor_t;

/*  Packs one entry of the run-model part, [run, model|nil, totals], from
 *  its name (ts_delta_run_model_name). */
int ts_delta_pack_run_model (msgpack_packer *pk, const char *name, size_t len, const ts_totals_t *t);

/*  The name a run-model entry of summary `s` (which names a run) is kept
 *  under while its totals are summed: "run\0model", or "run" alone for a
 *  record without a model (a run name holds no NUL, ts_profile.h). Its
 *  length, or 0 when it does not fit `size` bytes. */
size_t ts_delta_run_model_name (char *buf, size_t size, const ts_summary_t *s);

/*  Packs one entry of the runs part: [run, group|nil, [counts]]. */
int ts_delta_pack_run (msgpack_packer *pk, const char *run, size_t run_len,
                       const char *group, size_t group_len, const ts_totals_t *t);

/*  Reads a delta; *seq gets its sequence. Returns 0 or TS_ECORRUPT (the
 *  callbacks may have run for a prefix of it). */
int ts_delta_read (const void *data, size_t len, uint64_t *seq, const ts_delta_visitor_t *v);

/*  Exact equality (counts, and sums compared with a relative 1e-9: sums of
 *  the same doubles added in another order may differ in the last bits). */
bool ts_totals_equal (const ts_totals_t *a, const ts_totals_t *b);

#ifdef __cplusplus
}
#endif
#endif
