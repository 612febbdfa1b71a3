/*  ts_index.c: a record's index entries (ts_index.h). */
#include "ts_index.h"
#include "ts_key.h"

int
ts_index_entries (const ts_summary_t *s, const char *form, size_t form_len, uint64_t seq,
                  ts_index_fn *fn, void *arg)
{
    (void) form;
    (void) form_len;
    char key [TS_KEY_MAX];
    int rc = 0;
    /* G and M end with the sequence: a commit appends within each prefix */
    if (s->group)
        rc = fn (arg, key, ts_key_group (key, s->group, s->group_len, seq), true, "group");
    if (!rc && s->model)
        rc = fn (arg, key, ts_key_model (key, s->model, s->model_len, seq), true, "model");
    if (!rc && s->run)
        rc = fn (arg, key, ts_key_run (key, s->run, s->run_len, seq), false, "run");
    if (!rc && s->has_reward)
        rc = fn (arg, key, ts_key_reward (key, s->reward, s->ingested_ms, s->id, s->id_len),
                 true, "reward");
    if (!rc)
        rc = fn (arg, key, ts_key_time (key, ts_summary_time (s), s->id, s->id_len), true, "time");
    return rc;
}
