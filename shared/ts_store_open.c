/*  ts_store_open.c: opening and closing a shard handle (ts_store.h), and
 *  the process's registry of the shard files it holds open.
 *
 *  An open checks the file name, takes Kyoto Cabinet's lock, reads the
 *  key layout and refuses one it cannot read, opens the records file,
 *  migrates the postings of a layout before 8 (store_text_migrate) and
 *  reads back the ids and index entries a crash left waiting (ts_store_ids.c).
 *  A close first writes what waits, so that the next open need not.
 */
#include "ts_store_int.h"
#include "ts_error.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>
#include <sys/stat.h>

/*  fcntl locks belong to the process: a second handle on the same file in
 *  this process would not be refused by the lock, and closing it would drop
 *  the lock of the first (docs/DESIGN.md, "Failure model"). So the process keeps its own list of
 *  open shard files, by device and inode, and refuses a second open. */
enum { S_MAX_OPEN = 4096 };
static pthread_mutex_t s_open_lock = PTHREAD_MUTEX_INITIALIZER;
static struct { dev_t dev; ino_t ino; } s_open [S_MAX_OPEN];
static size_t s_nopen;

/*  Is the file open in this process? Called with s_open_lock held. */
static bool
s_is_open (dev_t dev, ino_t ino)
{
    for (size_t i = 0; i < s_nopen; i++)
        if (s_open [i].dev == dev && s_open [i].ino == ino)
            return true;
    return false;
}

static void
s_unregister (dev_t dev, ino_t ino)
{
    pthread_mutex_lock (&s_open_lock);
    for (size_t i = 0; i < s_nopen; i++)
        if (s_open [i].dev == dev && s_open [i].ino == ino) {
            s_open [i] = s_open [--s_nopen];
            break;
        }
    pthread_mutex_unlock (&s_open_lock);
}

/*  Frees what a handle holds besides its Kyoto Cabinet handle. */
static void
s_free (ts_store_t *self)
{
    store_rec_close (self);
    free (self->rec_path);
    free (self->iov);
    free (self->iov_raw);
    store_text_free (self);
    ts_buf_free (&self->scratch);
    ts_buf_free (&self->unknown);
    ts_buf_free (&self->defer);
    ts_map_destroy (&self->pend);
    ts_map_destroy (&self->qpend);
    free (self->path);
    free (self);
}

ts_store_t *
ts_store_open (const char *path, const char *tuning, int *code, char *err, size_t err_size)
{
    return ts_store_open_ticking (path, tuning, NULL, NULL, code, err, err_size);
}

ts_store_t *
ts_store_open_ticking (const char *path, const char *tuning, ts_store_tick_fn *tick,
                       void *tick_arg, int *code, char *err, size_t err_size)
{
    assert (path && code && (err || err_size == 0));
    ts_store_t *self = calloc (1, sizeof *self);
    if (self) {
        self->tick = tick;
        self->tick_arg = tick_arg;
    }
    char *full = NULL;
    bool locked = false;
    if (!self || !(self->path = strdup (path)) || !(self->db = kcdbnew ())
    ||  !(self->pend = ts_map_new (NULL)) || !(self->qpend = ts_map_new (free))) {
        *code = TS_ENOMEM;
        snprintf (err, err_size, "%s: out of memory", path);
        goto fail;
    }
    self->rec_fd = -1;
    size_t plen = strlen (path);
    if (plen < 4 || strcmp (path + plen - 4, ".kct")) {
        *code = TS_EINVAL;
        snprintf (err, err_size, "%s: a shard file name must end in .kct", path);
        goto fail;
    }
    if (!tuning)
        tuning = TS_STORE_TUNING;
    full = malloc (plen + strlen (tuning) + sizeof TS_STORE_ZCOMP);
    if (!full) {
        *code = TS_ENOMEM;
        goto fail;
    }
    strcpy (full, path);
    strcat (strcat (full, tuning), TS_STORE_ZCOMP);
    pthread_mutex_lock (&s_open_lock);
    locked = true;
    struct stat pre;
    if (stat (path, &pre) == 0 && s_is_open (pre.st_dev, pre.st_ino)) {
        *code = TS_ELOCKED;
        snprintf (err, err_size, "%s: cannot open: already open in this process", path);
        goto fail;
    }
    /* Never KCOTRUNCATE (it empties before locking) nor KCOAUTOTRAN (161
     * records/s); KCOTRYLOCK: a second owner fails at once, not blocks. */
    errno = 0;
    if (!kcdbopen (self->db, full, KCOWRITER | KCOCREATE | KCOTRYLOCK)) {
        int saved = errno;
        int kc_code = kcdbecode (self->db);
        const char *m = kcdbemsg (self->db);
        *code = store_kc_code (kc_code, saved, m, true);
        if (*code == TS_ECORRUPT)
            snprintf (err, err_size, "%s: cannot open: not a shard file, or a damaged one (%s)",
                      path, m);
        else
            snprintf (err, err_size, "%s: cannot open: %s (%s%s%s)", path,
                      *code == TS_ELOCKED ? "held by another process" : ts_strerror (*code),
                      m, saved ? ", " : "", saved ? strerror (saved) : "");
        goto fail;
    }
    free (full);
    full = NULL;
    self->pend_max = S_PENDING_IDS;
    self->next_seq = store_load_next_seq (self->db);
    int64_t layout;
    bool written = store_get_num (self->db, s_layout_key, &layout);
    if (!written)
        layout = self->next_seq > 1 ? 1 : S_LAYOUT;
    self->has_layout = written && layout == S_LAYOUT;
    if (layout < S_LAYOUT_READ || layout > S_LAYOUT) {
        *code = TS_EVERSION;
        snprintf (err, err_size, "%s: written with key layout %lld, this trajstore reads "
                  "layouts %d to %d: export it with the trajstore that wrote it and import "
                  "the export into a new data directory", path, (long long) layout,
                  S_LAYOUT_READ, S_LAYOUT);
        kcdbclose (self->db);
        goto fail;
    }
    int rc = store_rec_open (self);
    if (rc) {
        *code = rc;
        snprintf (err, err_size, "%s", rc == TS_ENOMEM ? "out of memory" : self->errmsg);
        kcdbclose (self->db);
        goto fail;
    }
    int64_t indexed, entries;
    if (!store_get_num (self->db, s_indexed_key, &indexed))
        indexed = INT64_MAX;
    if (!store_get_num (self->db, s_entries_key, &entries))
        entries = INT64_MAX;            /* layouts before 7: every entry in the tree */
    if (written && layout < S_LAYOUT)   /* old postings: before what waits is read back */
        rc = store_text_migrate (self, (uint64_t) entries < self->next_seq ? (uint64_t) entries
                                                                         : self->next_seq);
    if (rc) {
        *code = rc;
        snprintf (err, err_size, "%s: migrating the postings to key layout %d: %s", path,
                  S_LAYOUT, self->errmsg);
        kcdbclose (self->db);
        goto fail;
    }
    if ((uint64_t) indexed < self->next_seq || (uint64_t) entries < self->next_seq) {
        rc = store_pend_reload (self, (uint64_t) indexed, (uint64_t) entries);
        if (rc) {
            *code = rc;
            snprintf (err, err_size, "%s", self->errmsg);
            kcdbclose (self->db);
            goto fail;
        }
    }
    struct stat st;
    if (stat (path, &st) == 0 && s_nopen < S_MAX_OPEN) {
        self->dev = st.st_dev;
        self->ino = st.st_ino;
        self->registered = true;
        s_open [s_nopen].dev = st.st_dev;
        s_open [s_nopen].ino = st.st_ino;
        s_nopen++;
    }
    pthread_mutex_unlock (&s_open_lock);
    *code = 0;
    return self;
fail:
    if (locked)
        pthread_mutex_unlock (&s_open_lock);
    free (full);
    if (self) {
        if (self->db)
            kcdbdel (self->db);
        s_free (self);
    }
    return NULL;
}

void
ts_store_destroy (ts_store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ts_store_t *self = *self_p;
    /* R gets the waiting ids now so that the next open need not read
     * them back (if this fails they are still in D: it will) */
    if (!self->broken)
        ts_store_flush_ids (self);
    if (!self->broken) {
        kcdbclose (self->db);
        kcdbdel (self->db);
    }
    /* else: the handle is left as it is (see ts_store_is_broken) */
    if (self->registered)
        s_unregister (self->dev, self->ino);
    s_free (self);
    *self_p = NULL;
}

bool
ts_store_is_broken (const ts_store_t *self)
{
    return self->broken;
}
