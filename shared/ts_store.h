/*  ts_store.h: one shard, one Kyoto Cabinet B+ tree file (layout: ts_key.h
 *  and docs/DESIGN.md, "Storage layout and keys") and, beside it, its records file (".rec" for ".kct":
 *  the records' bytes, appended; ts_store.c).
 *
 *  Lifecycle: ts_store_open takes the file's lock (fcntl, non-blocking) and
 *  keeps it until ts_store_destroy: exactly one process, with one handle,
 *  opens a shard. The handle is thread-safe, but Kyoto Cabinet transactions
 *  do not isolate readers from a writer in the same process, so a caller
 *  that needs answers to reflect only committed batches reads from the
 *  thread that writes, between put calls (the worker does).
 *
 *  Writes come only as batches through ts_store_put_batches: one soft
 *  transaction for all the batches given (a group commit), records with
 *  their index entries, the shard/group/model totals and one commit marker
 *  per batch. A batch whose marker exists is a replay: nothing is written
 *  and its original counts come back.
 */
#ifndef TS_STORE_H
#define TS_STORE_H

#include "ts_record.h"
#include "ts_totals.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ts_store ts_store_t;

/*  Kyoto Cabinet tuning appended to the path: 32 KiB pages, a 16 MiB page
 *  cache per shard, and no mmap (msiz=0): writes through a growing mmap
 *  page-fault on every new page. With the records in their own file a
 *  shard's tree holds index entries only, so a small cache covers much of
 *  it; a larger one made the workers grow without making imports faster
 *  (the measurements: docs/PERFORMANCE.md and the commit that set it).
 *  opts=c: a new tree's pages are written LZO-compressed (the cache holds
 *  them as they are, so a warm read never decompresses): the index
 *  entries repeat their summaries' fields page after page, and the tree
 *  halves (docs/DESIGN.md, "Storage"). Only a new file takes it: a tree
 *  created without keeps its pages as they are. */
#define TS_STORE_TUNING "#psiz=32768#pccap=16m#msiz=0#opts=c"

/*  The page compressor, appended after any tuning: a compressed tree must
 *  be read with the compressor that wrote it, whatever tuning opens it. */
#define TS_STORE_ZCOMP "#zcomp=lzo"

/*  One batch: the records of one chunk that fall in this shard. `records`
 *  is `nrecords` msgpack bin values back to back, each one record form
 *  (<summary><object>, ts_record.h). Borrowed for the call. */
typedef struct {
    const char *job;     size_t job_len;
    uint64_t    chunk;
    const char *records; size_t records_len;
    uint32_t    nrecords;
    /*  Full-text index (ts_search.h): the profile's steps pointer
     *  alternatives ("/traj|/messages"), whose text is indexed with each
     *  record; NULL: not indexed (import --no-text-index). */
    const char *text;    size_t text_len;
} ts_batch_t;

typedef struct {
    uint32_t imported;     /* records (labels) written */
    uint32_t duplicates;   /* records whose id was already stored (labels
                              that set the value their key has) */
    bool     replayed;     /* the batch had been committed before */
    uint32_t unknown;      /* labels whose record is not in the shard
                              (ts_labels.h): refused */
    size_t   unknown_off;  /* ... their [line, id] pairs, msgpack, in */
    size_t   unknown_len;  /* ts_store_unknown_labels () */
} ts_batch_result_t;

/*  The [line, id] pairs of the labels refused by the last put call (and by
 *  the first commit of a replayed batch), back to back (results say
 *  where); valid until the next put call. */
const char *ts_store_unknown_labels (const ts_store_t *self);

/*  Opens (creating if needed) the shard file at `path` (must end in
 *  ".kct"), with `tuning` (NULL for TS_STORE_TUNING). After a crash the
 *  open rolls back to the last commit. Returns the store, or NULL with
 *  *code set (TS_ELOCKED when another process holds the file, -errno such
 *  as -EACCES or -ENOSPC, TS_ESTORE) and a message naming the path in
 *  `err` (docs/INTERNALS.md, "Errors"). */
ts_store_t *ts_store_open (const char *path, const char *tuning, int *code,
                           char *err, size_t err_size);

/*  The store's tick, for work that holds the caller for long: while set,
 *  `fn` is called every 1,024 entries a scan visits (a check re-reads every
 *  record and its text) or keys a pass writes, for each record tokenized,
 *  between a drop's transactions and every 4,096 records a compaction
 *  moves, so that a worker sends its heartbeats meanwhile. NULL: none. */
typedef void (ts_store_tick_fn) (void *arg);

/*  ts_store_open with the tick set from the start: what the open itself
 *  does can take long too (re-tokenizing the records whose postings
 *  waited, migrating an older layout's postings: ~6 s a shard of 6,000
 *  records). */
ts_store_t *ts_store_open_ticking (const char *path, const char *tuning, ts_store_tick_fn *tick,
                                   void *tick_arg, int *code, char *err, size_t err_size);

/*  How new records are written to the records file (docs/DESIGN.md,
 *  "Compressed records"): as they are (NONE), or each compressed by zstd
 *  with the shard's dictionary, trained from its first records, at level
 *  1 (FAST) or 3 (SMALL). Records already stored stay as they are; every
 *  form is read. A handle starts with TS_COMPRESS_DEFAULT. */
typedef enum { TS_COMPRESS_NONE, TS_COMPRESS_FAST, TS_COMPRESS_SMALL } ts_compress_t;
#define TS_COMPRESS_DEFAULT TS_COMPRESS_SMALL

/*  "none", "fast", "small" -> *out: 0, or TS_EINVAL. */
int ts_compress_parse (const char *name, ts_compress_t *out);
const char *ts_compress_name (ts_compress_t mode);

/*  The mode of the records the next commits write. */
void ts_store_set_compress (ts_store_t *self, ts_compress_t mode);

/*  The dictionaries the shard holds (key K) and the id of the one new
 *  records use (0: none yet). */
void ts_store_dicts (ts_store_t *self, uint32_t *count, uint32_t *current);

/*  Closes the file (committing nothing new) and frees; safe on NULL. */
void ts_store_destroy (ts_store_t **self_p);

/*  Commits `n` batches in one transaction; results[i] gets batch i's
 *  counts. All or nothing: on failure nothing of the call is stored, and
 *  the error (TS_ESTORE, -ENOSPC, TS_ECORRUPT for undecodable records) is
 *  returned, with a message in ts_store_errmsg. */
int ts_store_put_batches (ts_store_t *self, const ts_batch_t *batches, size_t n,
                          ts_batch_result_t *results);

/*  The same, and when `delta` is not NULL and the call changed the totals,
 *  appends to it the totals delta of the call in the ts_delta form
 *  (ts_totals.h), tagged with the shard's new commit sequence number. A
 *  call that changed nothing appends nothing and keeps the sequence. */
int ts_store_put_batches_delta (ts_store_t *self, const ts_batch_t *batches, size_t n,
                                ts_batch_result_t *results, ts_buf_t *delta);

/*  The ids of new records wait in memory and reach the id index (R) many
 *  commits at a time, and so do their other index entries and their
 *  groups' totals (ts_store_ids.c says why): the pass. A get by id finds
 *  them where they wait, a group's totals add what waits; a scan, cursor
 *  or raw read of a tag with something waiting and the close make the
 *  pass first; an open after a crash reads them back from the records.
 *  This makes the pass now, in a transaction of its own (a worker does it
 *  when its imports are done). 0, or an error as from a commit. */
int ts_store_flush_ids (ts_store_t *self);

/*  How many ids wait for the id index. */
size_t ts_store_pending_ids (const ts_store_t *self);

/*  A commit that leaves at least `ids` ids waiting makes the pass (0: the
 *  default, 32,768). For tests, which want it to happen often. */
void ts_store_set_id_batch (ts_store_t *self, size_t ids);

/*  The shard's commit sequence: how many commits changed its totals. Each
 *  delta carries the sequence it produced, so a reader of deltas can tell a
 *  gap (a lost delta) from a repeat. */
uint64_t ts_store_seq (ts_store_t *self);

/*  Appends the shard's whole totals (shard, every group, every model) in
 *  the ts_delta form, with the current sequence: what a delta reader
 *  rebuilds from. */
int ts_store_snapshot (ts_store_t *self, ts_buf_t *out);

/*  True once a commit failed in Kyoto Cabinet (a full disk, an I/O
 *  error). Such a handle cannot be used again (a new transaction hangs)
 *  nor closed (closing writes a broken file): every call then fails, and
 *  ts_store_destroy leaves the file as it is. The process must exit; the
 *  next open rolls the file back to its last commit. A commit the disk
 *  clearly cannot take is refused before it starts (-ENOSPC), which keeps
 *  this rare. */
bool ts_store_is_broken (const ts_store_t *self);

/*  Looks up a commit marker. 0 and *result, or TS_ENOTFOUND. */
int ts_store_batch_result (ts_store_t *self, const char *job, size_t job_len,
                           uint64_t chunk, ts_batch_result_t *result);

/*  Appends the stored record form of `id` to `out`. 0, TS_ENOTFOUND, or an
 *  error. */
int ts_store_get (ts_store_t *self, const char *id, size_t id_len, ts_buf_t *out);

/*  A visitor gets each key and value (borrowed for the call). It returns 0
 *  to go on, 1 to stop, or a negative error that ends the scan. */
typedef int (ts_store_visit_fn) (const char *key, size_t key_len,
                                 const char *val, size_t val_len, void *arg);

/*  An ordered scan over the keys that start with `prefix`. It starts at
 *  `from` (NULL: the first key of the prefix in the scan's direction),
 *  skipping a key equal to `from` when `from_exclusive`; it ends after the
 *  last key whose first `to_len` bytes are <= `to` (>= when descending),
 *  or at the end of the prefix when `to` is NULL. */
typedef struct {
    const char *prefix; size_t prefix_len;
    const char *from;   size_t from_len;
    bool        from_exclusive;
    const char *to;     size_t to_len;
    bool        descending;
} ts_scan_t;

/*  Runs the scan. Returns 0 when it ran to its end or the visitor stopped
 *  it, the visitor's negative error, or TS_ESTORE. */
int ts_store_scan (ts_store_t *self, const ts_scan_t *scan, ts_store_visit_fn *fn, void *arg);

/*  The same scan, pulled one entry at a time: what a k-way merge over
 *  shards needs (ts_query.c). The scan's bytes are copied, so `scan` and
 *  its buffers may go away after the call. NULL when out of memory. The
 *  store must outlive the cursor, and must not be written while it is
 *  open (Kyoto Cabinet cursors do not isolate a reader from a writer). */
typedef struct ts_store_cursor ts_store_cursor_t;
ts_store_cursor_t *ts_store_cursor_new (ts_store_t *self, const ts_scan_t *scan);

/*  Moves to the next entry of the scan: 0 with the key and value, borrowed
 *  until the next call or the cursor's destruction; TS_ENOTFOUND when the
 *  scan has ended (and on every later call); or TS_ESTORE. */
int ts_store_cursor_next (ts_store_cursor_t *self, const char **key, size_t *key_len,
                          const char **val, size_t *val_len);

/*  Frees the cursor and sets *self_p to NULL; safe on NULL. */
void ts_store_cursor_destroy (ts_store_cursor_t **self_p);

/*  Totals of the shard, of one group, of one model (TS_ENOTFOUND when the
 *  group or model has no records here). */
int ts_store_totals (ts_store_t *self, ts_totals_t *out);
int ts_store_group_totals (ts_store_t *self, const char *group, size_t len, ts_totals_t *out);
int ts_store_model_totals (ts_store_t *self, const char *model, size_t len, ts_totals_t *out);

/*  Appends the value stored at a raw key to `out`: 0, TS_ENOTFOUND or an
 *  error. For the consistency checker and tools; everything else goes
 *  through the typed calls. */
int ts_store_get_raw (ts_store_t *self, const char *key, size_t klen, ts_buf_t *out);

/*  Checks that the records file holds the committed records back to back,
 *  in sequence order, and nothing after them: adds the problems found to
 *  *problems, the first one's text into `first` (when it is the first).
 *  Returns 0, or an error reading the tree. For ts_check. */
int ts_store_check_records (ts_store_t *self, uint64_t *problems, char *first, size_t size);
/*  Checks what waits in memory for the indexes (ids for R, index entries):
 *  exactly what the records from the marks 'I' and 'O' on call for. Adds
 *  to *problems, the first one's text into `first`. */
int ts_store_check_pending (ts_store_t *self, uint64_t *problems, char *first, size_t first_size);

/*  Number of records stored. */
uint64_t ts_store_count (ts_store_t *self);

/*  The file path, and the message of the last error on this store. */
const char *ts_store_path (const ts_store_t *self);
const char *ts_store_errmsg (const ts_store_t *self);

/* --- dropping a run (ts_store_drop.c; docs/DESIGN.md, "Dropping a run") -- */

/*  Records a drop transaction takes at most (a tick between them). */
#define TS_STORE_DROP_PER_TXN 4000

/*  Sets the store's tick (ts_store_open_ticking). */
void ts_store_set_tick (ts_store_t *self, ts_store_tick_fn *fn, void *arg);

/*  Removes every record of `run` from the shard with all its entries (D,
 *  R, and each index entry ts_index_entries lists), recounting the totals
 *  it touches: first a durable marker, then transactions of at most
 *  `per_txn` records (0: TS_STORE_DROP_PER_TXN), each one leaving totals
 *  that agree with the records, the last removing the marker. A run with
 *  no record here writes nothing. *dropped gets the records removed by
 *  this call. 0, or an error as from a commit (what was committed stays
 *  committed, and the marker says the drop is unfinished). */
int ts_store_drop_run (ts_store_t *self, const char *run, size_t run_len, size_t per_txn,
                       uint64_t *dropped);

/*  Is a drop unfinished (a process died during it)? */
bool ts_store_drop_pending (ts_store_t *self);

/*  Finishes every unfinished drop. *dropped: the records it removed. */
int ts_store_drop_resume (ts_store_t *self, size_t per_txn, uint64_t *dropped);

/*  Bytes of the records file that dropped records leave unused (until a
 *  compaction). */
uint64_t ts_store_freed_bytes (ts_store_t *self);

/*  Rewrites the records file without the bytes of dropped records: the
 *  live records are copied, in sequence order, into the next generation
 *  of the file, and one commit points their D entries there; the old
 *  file is then removed. A crash on either side of the commit leaves a
 *  shard that opens on one generation whole (the open removes the
 *  other). *reclaimed gets the bytes given back. Does nothing when no
 *  byte is unused. */
int ts_store_compact (ts_store_t *self, uint64_t *reclaimed);

#ifdef __cplusplus
}
#endif
#endif
