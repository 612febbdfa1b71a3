/*  ts_worker_route.c: parsing a chunk into one batch per shard, sending each
 *  to its shard's owner (or queueing it here), reporting the chunk once
 *  every part is committed, and the shard map that says who owns what
 *  (parts of the worker: ts_worker_int.h).
 */
#include "ts_worker_int.h"
#include "ts_error.h"
#include "ts_log.h"
#include "ts_proto.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ts_input.h"
#include "ts_labels.h"
#include "ts_io.h"
#include "ts_parse.h"
#include "ts_wire.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

/* --- pending chunks ------------------------------------------------------- */

/*  Every part committed (or one failed): report the chunk. */
static void
s_chunk_finish (ts_worker_t *self, s_pending_t *p, int code, const char *msg)
{
    ts_hdr_t *h = &self->hdr;
    ts_wire_chunkdone_t m = {
        .job = ts_wire_cstr (p->job), .chunk = p->chunk,
        .failed = code != 0, .code = code, .msg = ts_wire_cstr (msg),
    };
    if (!code) {
        /* the warnings and the [shard, seq] of each part, packed in scratch */
        ts_buf_t *b = &self->scratch;
        msgpack_packer pk;
        msgpack_packer_init (&pk, b, ts_buf_packer_write);
        b->size = 0;
        ts_warn_pack (&p->warnings, &pk);
        size_t warned = b->size;
        msgpack_pack_array (&pk, p->nparts);
        for (uint32_t i = 0; i < p->nparts; i++) {
            msgpack_pack_array (&pk, 2);
            msgpack_pack_uint32 (&pk, p->parts [i].shard);
            msgpack_pack_uint64 (&pk, p->parts [i].seq);
        }
        m.counted = true;
        m.lines = p->lines;
        m.blank = p->blank;
        m.imported = p->imported;
        m.duplicates = p->duplicates;
        m.rejected = p->rejected;
        m.rejects = (ts_wire_array_t) { p->rejects.data ? p->rejects.data : "", p->rejects.size,
                                        p->nrejects };
        m.warnings = ts_wire_array_packed (b->data, warned);
        m.seqs = ts_wire_array_packed (b->data + warned, b->size - warned);
    }
    ts_wire_chunkdone_encode (h, &m);
    ts_hdr_send (h, zsock_resolve (self->ctrl), NULL, NULL, 0);
    char key [TS_JOB_MAX + 16];
    ts_map_delete (self->pending, key, ts_chunk_key (key, p->job, p->chunk));
}

/*  A part's answer: committed (counts and the commit's sequence), failed
 *  (code and message), or refused because the owner moved (code == 1). */
static void s_add_reject (s_pending_t *p, uint64_t line, const char *reason);

void
wk_on_part_done (ts_worker_t *self, const char *job, uint64_t chunk, uint32_t shard,
                uint32_t imported, uint32_t duplicates, uint64_t seq, int code, const char *msg,
                ts_mp_reader_t *refused, uint32_t nrefused)
{
    char key [TS_JOB_MAX + 16];
    s_pending_t *p = ts_map_get (self->pending, key, ts_chunk_key (key, job, chunk));
    if (!p)
        return;                         /* a late repeat */
    s_part_t *part = NULL;
    for (uint32_t i = 0; i < p->nparts; i++)
        if (p->parts [i].shard == shard)
            part = &p->parts [i];
    if (!part || part->done)
        return;
    if (code == 1) {                    /* not the owner: resend on a newer map */
        part->sent = 0;
        if (self->epoch > part->epoch_sent)
            wk_deliver (self, p, part);
        return;
    }
    if (code) {
        s_chunk_finish (self, p, code, msg);
        return;
    }
    part->done = true;
    part->seq = seq;
    ts_zref_unref (&part->payload);
    p->imported += imported;
    p->duplicates += duplicates;
    for (uint32_t i = 0; i < nrefused; i++) {       /* labels of no stored record */
        uint32_t two, idlen;
        uint64_t line;
        const char *id;
        char reason [TS_ID_MAX_BYTES + 64];
        if (ts_mp_read_array (refused, &two) || two != 2 || ts_mp_read_uint (refused, &line)
        ||  ts_mp_read_str (refused, &id, &idlen))
            break;
        snprintf (reason, sizeof reason, "id: no record with id '%.*s'", (int) idlen, id);
        s_add_reject (p, line, reason);
    }
    if (--p->outstanding == 0)
        s_chunk_finish (self, p, 0, NULL);
}

void
wk_redeliver (ts_worker_t *self, bool (*due) (const ts_worker_t *self, const s_part_t *part,
                                               int64_t now))
{
    int64_t now = wk_now ();
    size_t pos = 0;
    void *v;
    while (ts_map_next (self->pending, &pos, NULL, NULL, &v)) {
        s_pending_t *p = v;
        for (uint32_t i = 0; i < p->nparts; i++)
            if (!p->parts [i].done && due (self, &p->parts [i], now))
                wk_deliver (self, p, &p->parts [i]);
    }
}

/* --- parsing ---------------------------------------------------------------- */

/*  Sends a part to its shard's owner (or queues it here). */
void
wk_deliver (ts_worker_t *self, s_pending_t *p, s_part_t *part)
{
    int owner = self->owners ? self->owners [part->shard] : -1;
    part->epoch_sent = self->epoch;
    part->sent = wk_now ();
    part->sent_to = owner;
    if (owner < 0)
        return;                         /* no owner yet: the timer retries */
    if (owner == self->me) {
        s_batch_t *b = calloc (1, sizeof *b);
        if (!b)
            return;
        snprintf (b->job, sizeof b->job, "%s", p->job);
        b->chunk = p->chunk;
        b->shard = part->shard;
        b->n = part->n;
        snprintf (b->text, sizeof b->text, "%s", p->text);
        b->blob = ts_zref_ref (part->payload);
        wk_enqueue (self, b);
        return;
    }
    s_peer_t *peer = &self->peers [owner];
    if (!peer->dealer)
        return;
    ts_hdr_t *h = &self->hdr;
    ts_wire_batch_encode (h, &(ts_wire_batch_t) {
        .job = ts_wire_cstr (p->job), .text = ts_wire_cstr (p->text [0] ? p->text : NULL),
        .chunk = p->chunk, .shard = part->shard, .epoch = self->epoch, .n = part->n });
    void *sock = zsock_resolve (peer->dealer);
    if (zmq_send (sock, h->buf.data, h->buf.size, ZMQ_SNDMORE) >= 0)
        ts_zref_send (part->payload, sock, 0);
}

static ts_parser_t *
s_parser (ts_worker_t *self, const char *spec, char *err, size_t err_size)
{
    ts_parser_t *ps = ts_map_get (self->parsers, spec, strlen (spec));
    if (ps)
        return ps;
    ts_profile_t prof;
    if (ts_profile_parse (spec, &prof, err, err_size))
        return NULL;
    ps = ts_parser_new (&prof);
    if (!ps || ts_map_put (self->parsers, spec, strlen (spec), ps)) {
        ts_parser_destroy (&ps);
        snprintf (err, err_size, "out of memory");
        return NULL;
    }
    return ps;
}

static void
s_add_reject (s_pending_t *p, uint64_t line, const char *reason)
{
    p->rejected++;
    if (p->nrejects >= TS_REJECTS_PER_CHUNK)
        return;
    msgpack_packer pk;
    msgpack_packer_init (&pk, &p->rejects, ts_buf_packer_write);
    msgpack_pack_array (&pk, 2);
    msgpack_pack_uint64 (&pk, line);
    ts_mp_pack_cstr (&pk, reason);
    p->nrejects++;
}

/*  Reads the lines of a chunk sent as a reference ("file", "off", "fid",
 *  "bytes") into chunkbuf, followed by the parser's padding. 0, or
 *  TS_ENOINPUT with the reason in `err`: the producer then sends the
 *  bytes themselves. */
static int
s_read_ref (ts_worker_t *self, const ts_wire_chunk_t *c, char *err, size_t err_size)
{
    size_t flen = c->file.len, fidlen = c->fid.len;
    const char *file = c->file.ptr, *fid = c->fid.ptr;
    uint64_t off = c->off, bytes = c->bytes;
    if (!file || !fid || flen == 0 || flen >= sizeof self->ref_path || bytes > (UINT64_C (1) << 32)) {
        snprintf (err, err_size, "a chunk reference without a usable file, identity or size");
        return TS_ENOINPUT;
    }
    if (self->ref_fd < 0 || strlen (self->ref_path) != flen || memcmp (self->ref_path, file, flen)) {
        if (self->ref_fd >= 0)
            close (self->ref_fd);
        memcpy (self->ref_path, file, flen);
        self->ref_path [flen] = 0;
        self->ref_fd = open (self->ref_path, O_RDONLY | O_CLOEXEC);
        if (self->ref_fd < 0) {
            snprintf (err, err_size, "worker %s cannot open %s: %s", self->name, self->ref_path,
                      strerror (errno));
            self->ref_path [0] = 0;
            return TS_ENOINPUT;
        }
    }
    struct stat st;
    char id [TS_FILE_ID_MAX];
    if (fstat (self->ref_fd, &st)) {
        snprintf (err, err_size, "worker %s cannot stat %s: %s", self->name, self->ref_path,
                  strerror (errno));
        return TS_ENOINPUT;
    }
    ts_file_id (&st, id, sizeof id);
    if (strlen (id) != fidlen || memcmp (id, fid, fidlen)) {
        /* another file by that name, or the same one changed since the
         * producer opened it: reopened for the next chunk */
        snprintf (err, err_size, "%s is not the file the producer reads (changed, or another "
                  "machine's)", self->ref_path);
        close (self->ref_fd);
        self->ref_fd = -1;
        return TS_ENOINPUT;
    }
    self->chunkbuf.size = 0;
    if (ts_buf_reserve (&self->chunkbuf, (size_t) bytes + TS_PARSE_PADDING)) {
        snprintf (err, err_size, "out of memory");
        return TS_ENOINPUT;
    }
    ssize_t n = ts_pread_full (self->ref_fd, self->chunkbuf.data, (size_t) bytes, off);
    if (n < 0 || (uint64_t) n < bytes) {
        snprintf (err, err_size, "worker %s cannot read %s at %" PRIu64 ": %s", self->name,
                  self->ref_path, off + (uint64_t) (n < 0 ? 0 : n),
                  n < 0 ? strerror ((int) -n) : "the file ends there");
        return TS_ENOINPUT;
    }
    memset (self->chunkbuf.data + bytes, 0, TS_PARSE_PADDING);
    self->chunkbuf.size = (size_t) bytes;
    return 0;
}

/*  The lines of a chunk, from `at` to `end` (padded: followed by
 *  TS_PARSE_PADDING readable bytes), the first numbered `line`: each parsed
 *  into its shard's buffer, or counted blank or rejected. 0 or TS_ENOMEM. */
/*  A label line (a chunk of a label import: ts_labels.h), parsed by `ps`
 *  into self->scratch: its label form appended to its shard's buffer, or
 *  the reason it is refused in `reason`. 0 or TS_EBADLINE. */
static int
s_label_line (ts_worker_t *self, ts_parser_t *ps, const ts_summary_t *sum, const char *author,
              uint64_t line, int64_t now_ms, char *reason, size_t reason_size)
{
    ts_summary_t s;
    const char *obj;
    size_t olen;
    ts_label_t l;
    if (!ts_parser_id_found (ps)) {
        snprintf (reason, reason_size, "id: a label line needs \"id\", the labelled record's");
        return TS_EBADLINE;
    }
    if (ts_record_split (self->scratch.data, self->scratch.size, &s, &obj, &olen)
    ||  ts_label_from_object (obj, olen, author, &l, reason, reason_size))
        return TS_EBADLINE;
    l.id = sum->id;
    l.id_len = sum->id_len;
    l.time_ms = now_ms;
    l.line = line;
    if (ts_label_check (&l, reason, reason_size))
        return TS_EBADLINE;
    self->label_form.size = 0;
    if (ts_label_pack (&self->label_form, &l))
        return TS_ENOMEM;
    uint32_t shard = ts_shard_of (l.id, l.id_len, self->nshards);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &self->shard_bufs [shard], ts_buf_packer_write);
    msgpack_pack_bin (&pk, self->label_form.size);
    msgpack_pack_bin_body (&pk, self->label_form.data, self->label_form.size);
    self->shard_counts [shard]++;
    return 0;
}

static int
s_parse_lines (ts_worker_t *self, s_pending_t *p, ts_parser_t *ps, const char *at,
               const char *end, bool padded, uint64_t line, const char *author)
{
    int64_t now_ms = ts_now_ms ();
    char reason [512];
    while (at < end) {
        const char *nl = memchr (at, '\n', (size_t) (end - at));
        size_t llen = nl ? (size_t) (nl - at) : (size_t) (end - at);
        if (!padded && (size_t) (end - at) < llen + TS_PARSE_PADDING) {
            size_t rest = (size_t) (end - at);
            self->chunkbuf.size = 0;
            if (ts_buf_reserve (&self->chunkbuf, rest + TS_PARSE_PADDING))
                return TS_ENOMEM;
            memcpy (self->chunkbuf.data, at, rest);
            memset (self->chunkbuf.data + rest, 0, TS_PARSE_PADDING);
            at = self->chunkbuf.data;
            end = at + rest;
            nl = nl ? at + llen : NULL;
            padded = true;
        }
        p->lines++;
        if (ts_line_is_blank (at, llen))
            p->blank++;
        else {
            ts_summary_t sum;
            self->scratch.size = 0;
            int rc = ts_parser_parse (ps, at, llen, line, now_ms, &self->scratch, &sum, reason, sizeof reason);
            if (rc == 0 && author) {     /* a label import */
                rc = s_label_line (self, ps, &sum, author, line, now_ms, reason, sizeof reason);
                if (rc == TS_EBADLINE)
                    s_add_reject (p, line, reason);
                else if (rc)
                    return rc;
            }
            else if (rc == TS_EBADLINE)
                s_add_reject (p, line, reason);
            else if (rc)
                s_add_reject (p, line, ts_strerror (rc));
            else {
                const ts_parse_warning_t *wl;
                int nw = ts_parser_warnings (ps, &wl);
                for (int i = 0; i < nw; i++)
                    ts_warn_add (&p->warnings, wl [i].field, strlen (wl [i].field),
                                 wl [i].reason, strlen (wl [i].reason), 1, line);
                uint32_t s = ts_shard_of (sum.id, sum.id_len, self->nshards);
                msgpack_packer pk;
                msgpack_packer_init (&pk, &self->shard_bufs [s], ts_buf_packer_write);
                msgpack_pack_bin (&pk, self->scratch.size);
                msgpack_pack_bin_body (&pk, self->scratch.data, self->scratch.size);
                self->shard_counts [s]++;
            }
        }
        line++;
        at = nl ? nl + 1 : end;
    }
    return 0;
}

/*  Hands every shard's buffer that holds records to a part of p (none:
 *  p->nparts stays 0). 0 or TS_ENOMEM. */
static int
s_cut_parts (ts_worker_t *self, s_pending_t *p)
{
    uint32_t nparts = 0;
    for (unsigned s = 0; s < self->nshards; s++)
        nparts += self->shard_counts [s] > 0;
    if (nparts == 0)
        return 0;
    p->parts = calloc (nparts, sizeof *p->parts);
    if (!p->parts)
        return TS_ENOMEM;
    for (unsigned s = 0; s < self->nshards; s++) {
        if (!self->shard_counts [s])
            continue;
        s_part_t *part = &p->parts [p->nparts++];
        part->shard = s;
        part->n = self->shard_counts [s];
        /* the part takes the buffer; room for the next chunk's is reserved
         * now without being touched (pages come when written) */
        ts_buf_t *sb = &self->shard_bufs [s];
        char *data = realloc (sb->data, sb->size);      /* shrinks in place */
        if (data)
            sb->data = data;
        part->payload = ts_zref_new (sb->data, sb->size);
        if (part->payload)
            *sb = (ts_buf_t) { 0 };
        if (!part->payload || ts_buf_reserve (sb, part->payload->size))
            return TS_ENOMEM;
    }
    return 0;
}

/*  Parses one chunk into per-shard parts and sends them on. */
void
wk_parse_chunk (ts_worker_t *self, s_work_t *w)
{
    const ts_wire_chunk_t *c = &w->m.c;     /* points into w->header */
    char job [TS_JOB_MAX], profile [1024] = "default", err [512];
    ts_wire_str_copy (c->job, job, sizeof job);
    uint64_t chunk = c->chunk;
    uint64_t line0 = c->line0;
    if (c->profile.ptr)
        ts_wire_str_copy (c->profile, profile, sizeof profile);
    char key [TS_JOB_MAX + 16];
    size_t klen = ts_chunk_key (key, job, chunk);
    if (ts_map_get (self->pending, key, klen))
        return;                         /* already waiting for its parts */

    s_pending_t *p = calloc (1, sizeof *p);
    if (!p)
        return;
    snprintf (p->job, sizeof p->job, "%s", job);
    p->chunk = chunk;
    if (ts_map_put (self->pending, key, klen, p)) {
        wk_pending_free (p);
        return;
    }
    /* a label import's chunks say "labels[,author=NAME]" (ts_labels.h):
     * its lines are parsed as JSON with the default profile (its id is
     * /id) and become label forms */
    const char *author = NULL;
    if (!strncmp (profile, "labels", 6) && (!profile [6] || profile [6] == ',')) {
        author = strstr (profile, ",author=") ? strstr (profile, ",author=") + 8 : "";
        char *comma = strchr (author, ',');
        if (comma)
            *comma = 0;
    }
    ts_parser_t *ps = s_parser (self, author ? "default" : profile, err, sizeof err);
    if (!ps) {
        char m [sizeof profile + sizeof err + 32];
        snprintf (m, sizeof m, "bad profile '%s': %s", profile, err);
        s_chunk_finish (self, p, TS_EINVAL, m);
        return;
    }
    ts_profile_t prof;                  /* parsed above: it parses again */
    if (ts_profile_parse (profile, &prof, err, sizeof err) == 0)
        ts_profile_text_spec (&prof, p->text, sizeof p->text);
    if (!self->nshards) {               /* no map yet: cannot route */
        s_chunk_finish (self, p, TS_EBUSY, "worker has no shard map yet");
        return;
    }
    for (unsigned s = 0; s < self->nshards; s++) {
        self->shard_bufs [s].size = 0;
        self->shard_counts [s] = 0;
    }
    /* Lines are parsed where they are: simdjson reads a little past each
     * line's end, which inside the chunk is the next lines. The lines that
     * end too close to the chunk's end are parsed from a padded copy. */
    const char *at = (const char *) zframe_data (w->payload);
    const char *end = at + zframe_size (w->payload);
    bool padded = false;
    if (c->by_ref) {
        int rc = s_read_ref (self, c, err, sizeof err);
        if (rc) {
            s_chunk_finish (self, p, rc, err);
            return;
        }
        at = self->chunkbuf.data;
        end = at + self->chunkbuf.size;
        padded = true;                  /* read with the padding after it */
    }
    if (s_parse_lines (self, p, ps, at, end, padded, line0, author) || s_cut_parts (self, p)) {
        s_chunk_finish (self, p, TS_ENOMEM, "out of memory");
        return;
    }
    if (p->nparts == 0) {
        s_chunk_finish (self, p, 0, NULL);
        return;
    }
    p->outstanding = p->nparts;
    for (uint32_t i = 0; i < p->nparts; i++)
        wk_deliver (self, p, &p->parts [i]);
}

/* --- the map ----------------------------------------------------------------- */

static int
s_resize (ts_worker_t *self, unsigned nshards)
{
    if (self->nshards == nshards)
        return 0;
    if (self->nshards) {
        ts_error ("the shard count changed from %u to %u: refusing", self->nshards, nshards);
        return TS_EINVAL;
    }
    self->owners = malloc (nshards * sizeof *self->owners);
    self->shards = calloc (nshards, sizeof *self->shards);
    self->shard_bufs = calloc (nshards, sizeof *self->shard_bufs);
    self->shard_counts = calloc (nshards, sizeof *self->shard_counts);
    if (!self->owners || !self->shards || !self->shard_bufs || !self->shard_counts)
        return TS_ENOMEM;
    for (unsigned s = 0; s < nshards; s++)
        self->owners [s] = -1;
    self->nshards = nshards;
    return 0;
}

/*  The map's workers (by slot) into the peer table, with a dealer to
 *  every other worker; returns our own slot (-1: not in the map). */
static int
s_set_peers (ts_worker_t *self, const ts_shardmap_t *m)
{
    int me = -1;
    for (unsigned i = 0; i < m->nworkers; i++) {
        const ts_shardmap_worker_t *w = &m->workers [i];
        s_peer_t *pe = &self->peers [i];
        if (!w->name [0]) {
            zsock_destroy (&pe->dealer);
            pe->name [0] = pe->peer [0] = 0;
            continue;
        }
        if (!strcmp (w->name, self->name)) {
            me = (int) i;
            zsock_destroy (&pe->dealer);
        }
        else if (!pe->dealer || strcmp (pe->peer, w->peer)) {
            zsock_destroy (&pe->dealer);
            pe->dealer = ts_dealer_new (w->peer);
        }
        snprintf (pe->name, sizeof pe->name, "%s", w->name);
        snprintf (pe->peer, sizeof pe->peer, "%s", w->peer);
    }
    for (unsigned i = m->nworkers; i < TS_MAX_WORKERS; i++)
        zsock_destroy (&self->peers [i].dealer);
    return me;
}

/*  Takes the shards the map gives us, hands back those it takes away
 *  (commit what is queued, let go of the file, say "released"). */
static void
s_take_shards (ts_worker_t *self, const int *owners, unsigned nshards, uint64_t epoch)
{
    for (unsigned s = 0; s < nshards; s++) {
        s_shard_t *sh = &self->shards [s];
        bool wanted = self->me >= 0 && owners [s] == self->me;
        if (sh->wanted && !wanted) {
            wk_commit (self, s, true);
            wk_close_shard (self, s);
            sh->snap_wanted = false;
            ts_wire_released_encode (&self->hdr, &(ts_wire_released_t) { s, epoch });
            ts_hdr_send (&self->hdr, zsock_resolve (self->ctrl), NULL, NULL, 0);
        }
        sh->wanted = wanted;
        if (!wanted)
            sh->prefetched = false;
        if (wanted && !sh->store)
            sh->next_open = 0;
    }
}

/*  A part never sent, or sent to a worker that no longer owns its shard. */
static bool
s_owner_moved (const ts_worker_t *self, const s_part_t *part, int64_t now)
{
    (void) now;
    return part->sent == 0 || part->sent_to != self->owners [part->shard];
}

/*  A "map" from the aggregator (docs/INTERNALS.md): who owns which shard
 *  and how to reach them. Applied unless it is older than ours; parts
 *  sent to an owner that changed go to the new one. */
void
wk_on_map (ts_worker_t *self, ts_hdrin_t *in)
{
    ts_shardmap_t *m = &self->map_in;
    if (ts_shardmap_decode (in, m) || s_resize (self, m->nshards))
        return;
    if (m->inc == self->incarnation && m->epoch < self->epoch)
        return;                         /* an old map */
    int me = s_set_peers (self, m);
    bool changed = m->epoch != self->epoch || m->inc != self->incarnation;
    self->epoch = m->epoch;
    self->incarnation = m->inc;
    self->me = me;
    memcpy (self->owners, m->owners, m->nshards * sizeof *m->owners);
    if (changed)
        ts_info ("map epoch %" PRIu64 ": slot %d", m->epoch, me);
    s_take_shards (self, m->owners, m->nshards, m->epoch);
    wk_redeliver (self, s_owner_moved);
}
