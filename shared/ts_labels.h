/*  ts_labels.h: labels on records (docs/DESIGN.md, "Labels").
 *
 *  A label is key = value (strings; the value may be empty) on one record,
 *  with its author and time. A shard keeps every label ever set, in the
 *  shard that holds the record, as an append-only history; removing a
 *  label is one more entry (value nil). The latest entry of a key counts.
 *  The record itself never changes. Keys (ts_key.h has the others):
 *
 *    a id* key* lseq8       one history entry: [value | nil, author, time_ms]
 *    a                      the shard's next label sequence (8 bytes)
 *    b key* value* id       the label index: the record's summary, for each
 *                           record whose latest value of key is value
 *
 *  Labels travel as *label forms* in the batches that carry records (the
 *  import path and its exactly-once accounting: docs/DESIGN.md, "Commits
 *  and exactly-once"): 0xC1 'L' then the msgpack array [id, key, value |
 *  nil, author, time_ms, line]. A record form starts with a msgpack array,
 *  never with 0xC1 (a byte msgpack does not use), so a batch may hold both.
 *  A label whose record is not in the shard is refused and reported with
 *  its line; one that sets the value the key already has is a duplicate
 *  (nothing is written), so importing the same labels again changes
 *  nothing.
 */
#ifndef TS_LABELS_H
#define TS_LABELS_H

#include "ts_buf.h"
#include "ts_store.h"

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TS_LABEL_KEY_MAX    128     /* bytes of a key */
#define TS_LABEL_VALUE_MAX  512     /* bytes of a value */
#define TS_LABEL_AUTHOR_MAX 128     /* bytes of an author */
#define TS_TAG_LABEL_HIST   'a'
#define TS_TAG_LABEL_INDEX  'b'

typedef struct {
    const char *id;     uint32_t id_len;
    const char *key;    uint32_t key_len;
    const char *value;  uint32_t value_len;    /* NULL: the label is removed */
    const char *author; uint32_t author_len;
    int64_t     time_ms;
    uint64_t    line;                          /* of its input (0: none) */
} ts_label_t;

/*  Checks a label's key, value and author (lengths; a key is 1..128 bytes
 *  without control characters). 0, or TS_EINVAL with the reason in `why`. */
int ts_label_check (const ts_label_t *l, char *why, size_t why_size);

/*  Appends the label form of `l` to `out`. 0 or TS_ENOMEM. */
int ts_label_pack (ts_buf_t *out, const ts_label_t *l);

/*  Is this travelling form a label form (rather than a record form)? */
bool ts_label_is_form (const char *p, size_t len);

/*  Reads a label form; strings borrow `p`. 0 or TS_ECORRUPT. */
int ts_label_unpack (const char *p, size_t len, ts_label_t *l);

/*  One label line of a label import, {"id": .., "key": .., "value": ..
 *  [, "author": ..]} already parsed to the msgpack object `obj`: fills *l
 *  (strings borrow obj; author defaults to `author`). A value null
 *  removes the label. 0, or TS_EBADLINE with the reason in `why`. */
int ts_label_from_object (const char *obj, size_t obj_len, const char *author,
                          ts_label_t *l, char *why, size_t why_size);

/*  Key builders (TS_KEY_MAX bytes). */
size_t ts_key_label_hist_prefix (char *buf, const char *id, size_t id_len,
                                 const char *key, size_t key_len);     /* key NULL: the id's */
size_t ts_key_label_index_prefix (char *buf, const char *key, size_t key_len,
                                  const char *value, size_t value_len); /* value NULL: the key's */

/* --- on a shard (ts_store_labels.c) -------------------------------------- */

/*  Inside ts_store_put_batches' transaction: applies one label form. *done
 *  gets 1 written, 0 a duplicate (the key has that value already), -1 the
 *  record is not in this shard. 0 or an error (message in the store). */
int ts_store_label_apply (ts_store_t *self, const char *form, size_t len, int *done,
                          ts_label_t *label);

/*  The latest entry of `key` on record `id`: 0 with *value (NULL when
 *  removed; borrowed from `buf`), TS_ENOTFOUND when never set. */
int ts_store_label_get (ts_store_t *self, const char *id, size_t id_len,
                        const char *key, size_t key_len, ts_buf_t *buf,
                        const char **value, uint32_t *value_len);

/*  Packs the labels of record `id` as a map key -> {value, author,
 *  time_ms} (removed ones left out); *n gets how many. With `history`, an
 *  array of every entry [key, value|nil, author, time_ms] instead. */
int ts_store_labels_of (ts_store_t *self, const char *id, size_t id_len, bool history,
                        ts_buf_t *out, uint32_t *n);

/*  Removes a record's label history and its label index entries, in the
 *  open transaction: what `drop --run` does for each record it removes. */
int ts_store_labels_forget (ts_store_t *self, const char *id, size_t id_len);

/*  Calls fn for every entry of the label index (key, value, id, summary). */
typedef int (ts_label_index_fn) (void *arg, const char *key, size_t key_len,
                                 const char *value, size_t value_len,
                                 const char *id, size_t id_len,
                                 const char *summary, size_t summary_len);
int ts_store_label_index_scan (ts_store_t *self, const char *key, size_t key_len,
                               const char *value, size_t value_len,
                               ts_label_index_fn *fn, void *arg);

/*  Checks the label index against the history: every record's latest
 *  value of each key has its index entry (with the record's summary), and
 *  every index entry is such a latest value. Adds to *problems, the first
 *  one's text into `first` (when empty); *labels gets how many current
 *  labels there are. 0 or an error reading the tree. */
int ts_store_labels_check (ts_store_t *self, uint64_t *labels, uint64_t *problems,
                           char *first, size_t size);

/* --- statistics by label (ts_labels_stats.c) ------------------------------ */

/*  Totals per (key, value[, model]) of labelled records: each worker adds
 *  its shards' (ts_labels_totals), the api merges the workers' rows and
 *  answers the client. */
typedef struct ts_label_acc ts_label_acc_t;
ts_label_acc_t *ts_label_acc_new (void);
void ts_label_acc_destroy (ts_label_acc_t **self_p);

/*  Adds the rows of a worker, [[key, value, model|nil, totals]...]. 0 or
 *  TS_ECORRUPT. */
int ts_label_acc_add_rows (ts_label_acc_t *self, const char *rows, size_t len);

/*  Packs the rows as a worker sends them. */
int ts_label_acc_pack_rows (ts_label_acc_t *self, msgpack_packer *pk);

/*  Packs the rows for a client, sorted by key, value, model: an array of
 *  {"key", "value", ["model",] "totals": T}. */
int ts_label_acc_pack_client (ts_label_acc_t *self, msgpack_packer *pk);

/*  Over `n` stores: the records the filter `f` selects (its label
 *  conditions too) that have a label of `key` (NULL: any key), added to
 *  acc under their latest value, split by model when `per_model`. */
int ts_labels_totals (ts_store_t *const *stores, size_t n, const void *filter,
                      const char *key, size_t key_len, bool per_model, ts_label_acc_t *acc);

#ifdef __cplusplus
}
#endif
#endif
