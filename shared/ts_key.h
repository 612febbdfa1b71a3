/*  ts_key.h: the byte layout of a shard's keys (docs/DESIGN.md, "Storage
 *  layout and keys").
 *
 *  Records are found under D keys in the order they were stored, so a commit
 *  appends to the end of the tree instead of rewriting leaves all over it
 *  (Kyoto Cabinet writes a dirty leaf whole at every commit: with records
 *  keyed by random ids, a commit of 1,000 records rewrote most of the
 *  file); the R entry of an id is small and points at its D key. It holds
 *  the sequence alone (8 bytes): ids arrive in random order, so every
 *  commit rewrites most R leaves, and the smaller the entries the fewer
 *  leaves there are (the summary is not copied into R). A list in id
 *  order reads each summary from the record's D entry.
 *
 *  The group and model indexes end with the record's sequence, not its
 *  id, for the same reason: they are only ever read whole, one group's
 *  (or model's) prefix at a time, to collect the records of a group and
 *  sort them (ts_query.c), so their order within a prefix does not matter,
 *  and keyed by sequence a commit appends to the end of each prefix
 *  instead of landing at random places in it. The reward and time
 *  indexes are walked in list order and keep the id. Rewards take few
 *  values (0 and 1 mostly), so ties are ordered by when the record was
 *  imported before the id: (reward, ingested, id). Keyed (reward, id), a
 *  commit rewrote leaves all over each reward's range, which grows with
 *  the store; keyed this way it appends to the end of the range, and a
 *  large import stays as fast a record as a small one.
 *
 *  Every key starts with a one-byte tag. Strings inside a key that are
 *  followed by more key bytes (group, model, job) are escaped so that byte
 *  order of keys is the order of the strings: 0x00 -> 0x00 0xFF, and the
 *  string ends with 0x00 0x01. Numbers (seq8 too) are 8 big-endian bytes
 *  whose byte order is their numeric order (ts_key_put_i64). An id always
 *  comes last, raw.
 *
 *    R id                       the record's sequence (8 bytes)
 *    D seq8                     where the record (summary and object) is in
 *                               the records file (ts_store.c), by sequence;
 *                               layouts 4 and 5: the record itself
 *    G group* seq8              group index      (* escaped)
 *    W reward8 ingested8 id     reward index
 *    T time8 id                 created-time (else ingest-time) index
 *    M model* seq8              model index
 *    A run* seq8                run index (the records of one import run;
 *                               an empty value: no summary, kept small)
 *    S                          shard totals
 *    Q group                    group totals
 *    X model                    model totals
 *    C job* chunk8              commit marker of one batch
 *    F seg8 term                postings of a term in one segment (a commit's records)
 *                               (full-text search, ts_search.h)
 *    H seq8                     the record is text-indexed: its steps pointer
 *
 *  and the shard's metadata, one byte each (ts_store.c):
 *
 *    P                          the sequence of the next record (8 bytes)
 *    V                          the key layout the shard was written with
 *    I                          the sequence from which R may lack ids
 *                               (they wait in memory, and are read back
 *                               from D after a crash)
 *    O                          the sequence from which the G, W, T, M, A
 *                               entries and Q totals of the records may
 *                               be missing (layout 7: they wait in memory
 *                               for a sorted pass, ts_store_ids.c)
 *    L                          the committed length of the records file
 *    N                          the sequence of the shard's last statistics
 *                               delta (ts_store_seq; "delta" messages)
 *
 *  A run's totals in each of its groups are named U run* [group] (no group
 *  bytes: its records without a group) in a commit's delta and a snapshot,
 *  but not stored: kept in the tree like the group totals, their writes
 *  made a 100k import 1.4-1.6x slower (8.1 and 7.5 s -> 11.7 and 12.6 s,
 *  bench/run.sh import), so a snapshot recounts them from the summaries
 *  of the T entries.
 */
#ifndef TS_KEY_H
#define TS_KEY_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TS_KEY_MAX 2200   /* escaped 512-byte strings plus an id fit */

/*  The layout this trajstore writes (kept in each shard under key 'V',
 *  ts_store.c) and the oldest it still reads; 7 since every index may lag
 *  behind D (key 'O'); 8 since the postings are keyed by segment (F seg8
 *  term; older shards are migrated as they open, store_text_migrate). Raise TS_KEY_LAYOUT when
 *  what a key or its value means changes. */
#define TS_KEY_LAYOUT      8
#define TS_KEY_LAYOUT_READ 4

enum {
    TS_TAG_RECORD = 'R', TS_TAG_GROUP = 'G', TS_TAG_REWARD = 'W',
    TS_TAG_TIME = 'T', TS_TAG_MODEL = 'M', TS_TAG_SHARD_TOTALS = 'S', TS_TAG_DATA = 'D',
    TS_TAG_GROUP_TOTALS = 'Q', TS_TAG_MODEL_TOTALS = 'X', TS_TAG_COMMIT = 'C',
    TS_TAG_RUN = 'A', TS_TAG_RUN_TOTALS = 'U',
    TS_TAG_TEXT = 'F', TS_TAG_TEXT_DOC = 'H'     /* full-text search: ts_search.h */
};

/*  Each builder writes into `buf` (TS_KEY_MAX bytes) and returns the key's
 *  length. A NULL id builds the prefix shared by every id (for W: by every
 *  entry of that reward, whatever its ingest time); the _prefix
 *  builders, that shared by every sequence of one group (model). The
 *  sequence of a D, G or M key is its last 8 bytes. */
size_t ts_key_record (char *buf, const char *id, size_t id_len);
size_t ts_key_data (char *buf, uint64_t seq);
/*  H seq8: record `seq` has its text indexed (ts_search.h). */
size_t ts_key_text_doc (char *buf, uint64_t seq);
/*  F seg8: the prefix of a postings segment's keys (F seg8 term, ts_search.h). */
size_t ts_key_text_segment (char *buf, uint64_t seg);
size_t ts_key_group (char *buf, const char *group, size_t group_len, uint64_t seq);
size_t ts_key_group_prefix (char *buf, const char *group, size_t group_len);
size_t ts_key_model (char *buf, const char *model, size_t model_len, uint64_t seq);
size_t ts_key_model_prefix (char *buf, const char *model, size_t model_len);
size_t ts_key_run (char *buf, const char *run, size_t run_len, uint64_t seq);
size_t ts_key_run_prefix (char *buf, const char *run, size_t run_len);
/*  U names: `group` NULL for the run's records without a group; the
 *  prefix (ts_key_run_totals_prefix) is shared by all of one run. */
size_t ts_key_run_totals (char *buf, const char *run, size_t run_len,
                          const char *group, size_t group_len);
size_t ts_key_run_totals_prefix (char *buf, const char *run, size_t run_len);
/*  Reads a U name back: the run, unescaped into `run` (TS_KEY_MAX bytes),
 *  and the group, borrowed from the key (*group NULL: none). 0, or -1 for
 *  a key that is not one. */
int ts_key_run_totals_parse (const char *key, size_t klen, char *run, size_t *run_len,
                             const char **group, size_t *group_len);
size_t ts_key_reward (char *buf, double reward, int64_t ingested_ms, const char *id, size_t id_len);
size_t ts_key_time (char *buf, int64_t ms, const char *id, size_t id_len);
size_t ts_key_commit (char *buf, const char *job, size_t job_len, uint64_t chunk);
size_t ts_key_group_totals (char *buf, const char *group, size_t group_len);
size_t ts_key_model_totals (char *buf, const char *model, size_t model_len);

/*  Order-preserving 8-byte codes for doubles and signed integers. */
void   ts_key_put_double (char *out8, double v);

/*  A string escaped as inside keys (0x00 -> 0x00 0xFF, ended by 0x00
 *  0x01): the bytes written. And read back from key[*pos] into `out`
 *  (at least as long as the key): 0 and *pos after it, or -1. */
size_t ts_key_put_escaped (char *buf, const char *s, size_t len);
int    ts_key_get_escaped (const char *key, size_t klen, size_t *pos, char *out, size_t *out_len);
double ts_key_get_double (const char *in8);
void    ts_key_put_i64 (char *out8, int64_t v);
int64_t ts_key_get_i64 (const char *in8);

#ifdef __cplusplus
}
#endif
#endif
