/*  ts_store_int.h: what the parts of a shard handle share (not a public
 *  API; the shard's API is ts_store.h).
 *
 *    ts_store.c       the group commit (ts_store_put_batches)
 *    ts_store_open.c  open and close, the registry of open shard files
 *    ts_store_ids.c   ids waiting for the id index R
 *    ts_store_rec.c   the records file beside the tree, compressed records
 *                     and their dictionaries
 *    ts_store_meta.c  one-number keys, errors, stored totals
 *    ts_store_read.c  point reads, scans, snapshots, the pull cursor
 *    ts_store_drop.c  dropping a run's records, and compacting the records file
 */
#ifndef TS_STORE_INT_H
#define TS_STORE_INT_H

#include "ts_store.h"
#include "ts_key.h"
#include "ts_map.h"

#include <kclangc.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

_Static_assert (sizeof (uintptr_t) >= sizeof (uint64_t), "a sequence fits a map value");

struct ts_store {
    KCDB *db;
    dev_t dev;                  /* identity of the file, for the registry */
    ino_t ino;
    bool  registered;
    char *path;
    char  errmsg [512];
    ts_buf_t scratch;
    bool     broken;            /* a commit failed: see ts_store_is_broken */
    bool     has_layout;        /* key V says S_LAYOUT */
    uint64_t next_seq;          /* the sequence of the next record stored */
    ts_map_t *pend;             /* ids stored but not yet in R -> sequence */
    size_t   pend_bytes;        /* of those ids */
    size_t   pend_max;          /* a pass into R at this many ids */
    ts_buf_t defer;             /* index entries waiting for the pass:
                                   [klen u32][vlen u32][key][value]... */
    size_t   ndefer;            /* entries in it */
    size_t   defer_mark;        /* its size when the transaction began */
    size_t   ndefer_mark;
    uint8_t  defer_tags [32];   /* the key tags among them (a bitmap) */
    ts_map_t *qpend;            /* group -> ts_totals_t *: what waits for
                                   the group's totals (Q) */
    int      rec_fd;            /* the records file, or -1 */
    char    *rec_path;
    uint64_t rec_end;           /* its committed length (key 'L') */
    uint64_t rec_next;          /* and what the open transaction adds */
    ts_buf_t unknown;           /* refused labels of the put call (ts_labels.h) */
    struct iovec *iov;          /* the records it adds, not written yet */
    size_t   niov, iov_cap;     /* (a NULL base: next in the compressed ones) */
    struct iovec *iov_raw;      /* each record as given, until the commit */
    struct ts_postings *text;   /* the open transaction's postings (ts_search_write.c) */
    ts_store_tick_fn *tick;     /* ts_store_set_tick */
    void    *tick_arg;
    unsigned tick_n;
    struct store_z *z;          /* compression and dictionaries (ts_store_rec.c) */
};

/*  The next record sequence is kept under key 'P' (8 bytes), written in
 *  the transaction that uses it, so a rollback takes it back too. */
static const char s_next_key [1] = { 'P' };

/*  The key layout (ts_key.h) a shard was written with, under key 'V',
 *  written with the first commit: 2 since the group and model indexes end
 *  with the sequence, 3 since R holds the sequence alone, 4 since reward
 *  ties are ordered by ingest time, 5 since R may lag behind D (key 'I',
 *  below), 6 since records live in the records file (below), 7 since the
 *  other indexes may lag behind D too (key 'O'). A shard with records and
 *  no 'V' is of layout 1. Shards of layouts 4 to 6 are read as they are (R
 *  complete without 'I', the other indexes without 'O', records in D) and
 *  say 7 once written: what they held stays where it is. */
#define S_LAYOUT TS_KEY_LAYOUT
#define S_LAYOUT_READ TS_KEY_LAYOUT_READ
static const char s_layout_key [1] = { 'V' };
/*  A pass into R comes when this many ids wait, or their bytes reach
 *  S_PENDING_BYTES: it then costs a few hundred bytes a record instead of
 *  a few KiB, and an open after a crash reads at most this many records
 *  back from D. */
#define S_PENDING_IDS   32768
#define S_PENDING_BYTES (4u << 20)

static const char s_indexed_key [1] = { 'I' };
/*  And the index entries of the records from this sequence on (layout 7:
 *  G, W, T, M, A entries wait in memory too, "Index entries waiting" in
 *  ts_store_ids.c): written with 'I', at the same sequences. */
static const char s_entries_key [1] = { 'O' };
/*  A pass also comes when the waiting entries reach this many bytes: the
 *  memory a shard holds for them (16 shards: 192 MiB at most). */
#define S_PENDING_ENTRY_BYTES (12u << 20)
/*  And when the waiting postings reach this many (ts_search_write.c; 16
 *  shards: 128 MiB more at most). */
#define S_PENDING_TEXT_BYTES  (8u << 20)
/* --- the records file ------------------------------------------------------
 *
 *  A record's bytes (summary and object) go to the shard's records file,
 *  shard-NNN.rec beside shard-NNN.kct, appended in sequence order, and
 *  its D entry holds where they are: a locator, S_LOC_TAG then the offset
 *  (8 bytes) and the length (4). In the tree, 4 KiB records filled its
 *  leaves: Kyoto Cabinet copied each record into a leaf, the leaf into
 *  its page buffer at commit, and kept every leaf in its page cache;
 *  appended to a file of their own they are written once, from the
 *  chunk's buffer (the figures: docs/PERFORMANCE.md and the commit that
 *  moved them).
 *
 *  The file holds committed records only, back to back: a transaction
 *  writes its records (pwritev, from the batches) just before its commit,
 *  and the commit sets key 'L' to the file's new length. A rollback cuts
 *  the file back to 'L', and so does an open (a process that ended between
 *  the write and the commit left a tail that no D entry names). A file
 *  shorter than 'L' lost records: the open refuses it.
 *
 *  S_LOC_TAG is a byte msgpack never uses, so it never starts a record
 *  that layouts 4 and 5 kept in D itself: both kinds are read.
 *
 *  A compressed record (docs/DESIGN.md, "Compressed records") has a longer
 *  locator, S_LOC_ZLEN bytes: the same three fields (the length is the
 *  stored, compressed one), then the record's own length (4) and the id of
 *  the dictionary it was compressed with (4; 0: none), whose bytes are
 *  under key 'K' id (4 bytes big-endian), written in the transaction that
 *  trained it, so before or with the first record that names it. */
#define S_LOC_TAG ((char) 0xc1)
#define S_LOC_LEN 13
#define S_LOC_ZLEN 21
#define S_LOC_MAX S_LOC_ZLEN
static const char s_reclen_key [1] = { 'L' };
/*  The records file's generation (absent: 0), which a compaction advances
 *  (ts_store_drop.c). */
static const char s_recgen_key [1] = { 'g' };

#define S_TAG_DICT 'K'

/*  A locator, unpacked. */
typedef struct {
    uint64_t off;
    uint32_t len;               /* bytes in the records file */
    uint32_t raw;               /* the record's bytes (len when not packed) */
    uint32_t dict;              /* its dictionary, 0: none */
    bool     packed;            /* compressed by zstd */
} store_loc_t;

/* ts_store.c */
int store_settle (ts_store_t *self, const char *key, size_t klen);
/*  Ends the open transaction: commits when rc is 0, else rolls back (the
 *  records file and the ids added from sequence `first` too); returns rc
 *  or the commit's error. `wrote_ids`: the commit put the waiting ids in R. */
int store_end (ts_store_t *self, int rc, uint64_t first, bool wrote_ids);
/*  The error of a handle whose commit failed (ts_store_is_broken). */
int store_refuse_broken (ts_store_t *self);
/*  Calls the store's tick, if set (ts_store_set_tick). */
void store_tick (ts_store_t *self);
/*  Calls it every 1,024 steps of a long walk or write (entries scanned,
 *  keys of a pass written): a worker's heartbeat must not wait for the
 *  whole pass (TS_WORKER_DEAD_MS). */
static inline void
store_tick_step (ts_store_t *self)
{
    if ((++self->tick_n & 1023) == 0)
        store_tick (self);
}
/*  -ENOSPC (with the message) when the disk cannot take a commit of
 *  about `bytes`, else 0. */
int store_space_check (ts_store_t *self, size_t bytes);

/* ts_store_ids.c */
/*  A key and its value, to sort by key (store_ent_cmp, for qsort). */
typedef struct {
    const char *key;
    size_t      klen;
    const void *val;
    size_t      vlen;
} store_ent_t;
int store_ent_cmp (const void *a, const void *b);
bool store_pend_find (const ts_store_t *self, const char *id, size_t len, uint64_t *seq);
int store_pend_add (ts_store_t *self, const char *id, size_t len, uint64_t seq);
void store_pend_forget (ts_store_t *self, uint64_t from);
int store_write_pending (ts_store_t *self);
int store_pend_reload (ts_store_t *self, uint64_t ids_from, uint64_t entries_from);
int store_defer (ts_store_t *self, ts_buf_t *to, const char *key, size_t klen,
                 const char *val, size_t vlen);
int store_index_record (ts_store_t *self, ts_buf_t *to, const ts_summary_t *s,
                        const char *sum, size_t sum_len, uint64_t seq);
void store_defer_forget (ts_store_t *self, bool all);
ts_totals_t *store_qpend_slot (ts_store_t *self, ts_map_t *map, const char *group, size_t len);
bool store_defer_waits (const ts_store_t *self, char tag);

/* ts_store_rec.c */
size_t store_loc_pack (char *b, const store_loc_t *loc);
bool store_loc_unpack (const char *v, size_t vlen, store_loc_t *loc);
int store_rec_open (ts_store_t *self);
void store_rec_close (ts_store_t *self);
char *store_rec_path (const ts_store_t *self, uint64_t gen);
int store_rec_add (ts_store_t *self, const char *ptr, uint32_t len, char *loc, size_t *loc_len);
int store_rec_write (ts_store_t *self);
void store_rec_end (ts_store_t *self, bool kept);
int store_rec_read (ts_store_t *self, uint64_t seq, const store_loc_t *loc, ts_buf_t *out);
int store_resolve (ts_store_t *self, const char *key, size_t klen, const char **val, size_t *vlen, ts_buf_t *buf);

/* ts_store_meta.c */
/*  The one mapping of Kyoto Cabinet's errors to ours: KC's code, the errno
 *  it left and its message; `opening`: kcdbopen's error, where a lock held
 *  elsewhere, a file that is not a tree and a missing file have answers
 *  of their own. */
int store_kc_code (int code, int saved, const char *msg, bool opening);
bool store_get_num (KCDB *db, const char *key, int64_t *v);
uint64_t store_load_next_seq (KCDB *db);
int store_kc_error (ts_store_t *self, const char *what);
int store_set_num (ts_store_t *self, const char *key, int64_t v, const char *what);

/* ts_search_write.c: the full-text index, written through these alone.
 * Postings wait in memory like the index entries (from 'O' on) and reach
 * the tree in the pass, as one segment. */
typedef struct ts_postings ts_postings_t;
/*  Adds the postings of record `seq` (its object, the steps pointer spec)
 *  to those waiting, and writes its H entry. */
int store_text_add (ts_store_t *self, uint64_t seq, int64_t time, const char *obj, size_t olen,
                    const char *spec, size_t slen);
/*  Writes the waiting postings as one segment (one F entry a term), in the
 *  pass's transaction (store_write_pending); store_text_reset forgets them
 *  once it holds. */
int store_text_flush (ts_store_t *self);
void store_text_reset (ts_store_t *self);
int store_text_readd (ts_store_t *self, uint64_t seq, int64_t time, const char *obj, size_t olen);
/*  Forgets the waiting postings and reads back those of the records from
 *  'O' on (ts_store_ids.c; an open does it with store_pend_reload). */
int store_text_reload (ts_store_t *self);
/*  A shard of a layout before 8: its postings removed and written again
 *  as segments from its records before `upto` ('O'), then 'V' says 8. */
int store_text_migrate (ts_store_t *self, uint64_t upto);
#define S_MIGRATE_KEYS 65536            /* old postings removed a transaction */
bool store_text_waits (const ts_store_t *self);
size_t store_text_bytes (const ts_store_t *self);
void store_text_free (ts_store_t *self);

/* ts_store_read.c */
int store_scan (ts_store_t *self, const ts_scan_t *sc, ts_store_visit_fn *fn, void *arg, bool resolve);

#endif
