/*  fuzz_request.c: libFuzzer target for the request decoders: the listing
 *  fields of client requests (ts_request.h), protocol headers (ts_msg.h)
 *  and the typed internal messages (ts_wire.h), which all read bytes
 *  straight off the wire.
 *
 *  Every input is one frame. It goes to ts_listing_parse with a fixed
 *  cursor key (and with key 0, as the workers call it), and to
 *  ts_hdr_parse and every ts_hdr_get_*. Neither may crash, leak, read out
 *  of bounds or leave a refusal without a message naming a field. When a
 *  listing parses, a cursor is made with ts_listing_cursor after a
 *  summary drawn from the input, put into the same request in place of
 *  its own cursor, and parsed back: it must be accepted, bound to the same
 *  filter, and carry the summary's key and id exactly; and the same
 *  cursor under another key must be refused. Any mismatch aborts, which
 *  libFuzzer reports as a crash with the input saved.
 *
 *  A header that parses also goes to the typed decoders: every one of
 *  ts_wire.h's (each reads it as its own type), whose accepted messages
 *  must point into the frame and survive an encode and a decode
 *  unchanged, and the shard map's (ts_shardmap_decode), whose accepted
 *  maps must stay within their bounds.
 *
 *  The same frame also goes to ts_request_parse, the api's envelope: a
 *  refusal must carry one of the envelope's codes and a message, an
 *  acceptance a known op (and, for get, an id within bounds).
 *
 *  The first corpus directory, when empty, is seeded with a few valid
 *  requests (LLVMFuzzerInitialize writes them): a msgpack map with the
 *  right field names is otherwise a long way from random bytes.
 */
#include "ts_error.h"
#include "ts_mp.h"
#include "ts_msg.h"
#include "ts_proto.h"
#include "ts_query.h"
#include "ts_record.h"
#include "ts_request.h"
#include "ts_shardmap.h"
#include "ts_wire.h"

#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_KEY UINT64_C (0x5eed5eed12345678)

static void
s_die (const char *what, const uint8_t *data, size_t size)
{
    fprintf (stderr, "fuzz_request: %s\ninput (%zu bytes):", what, size);
    for (size_t i = 0; i < size && i < 200; i++)
        fprintf (stderr, " %02x", data [i]);
    fprintf (stderr, "\n");
    abort ();
}

/* --- seeds ------------------------------------------------------------------ */

static void
s_seed (const char *dir, int n, const ts_buf_t *b)
{
    char path [4096];
    snprintf (path, sizeof path, "%s/seed-%02d", dir, n);
    FILE *f = fopen (path, "wb");
    if (!f)
        return;
    fwrite (b->data, 1, b->size, f);
    fclose (f);
}

static void
s_write_seeds (const char *dir)
{
    ts_buf_t b = { 0 };
    msgpack_packer pk;
    int n = 0;
    msgpack_packer_init (&pk, &b, ts_buf_packer_write);

    /* a list with every field */
    msgpack_pack_map (&pk, 11);
    ts_mp_pack_cstr (&pk, "v");       msgpack_pack_int (&pk, 1);
    ts_mp_pack_cstr (&pk, "op");      ts_mp_pack_cstr (&pk, "list");
    ts_mp_pack_cstr (&pk, "rid");     msgpack_pack_uint64 (&pk, 7);
    ts_mp_pack_cstr (&pk, "group");
    msgpack_pack_array (&pk, 2);
    ts_mp_pack_cstr (&pk, "q-000001");
    ts_mp_pack_cstr (&pk, "q-000002");
    ts_mp_pack_cstr (&pk, "model");   ts_mp_pack_cstr (&pk, "claude-3-5-sonnet");
    ts_mp_pack_cstr (&pk, "reward");
    msgpack_pack_array (&pk, 2);
    msgpack_pack_double (&pk, 0.2);
    msgpack_pack_nil (&pk);
    ts_mp_pack_cstr (&pk, "success"); msgpack_pack_true (&pk);
    ts_mp_pack_cstr (&pk, "created");
    msgpack_pack_array (&pk, 2);
    ts_mp_pack_cstr (&pk, "2026-03-01T00:00:00Z");
    msgpack_pack_int64 (&pk, INT64_C (1772409600000));
    ts_mp_pack_cstr (&pk, "sort");    ts_mp_pack_cstr (&pk, "-reward");
    ts_mp_pack_cstr (&pk, "limit");   msgpack_pack_uint32 (&pk, 20);
    ts_mp_pack_cstr (&pk, "fields");  ts_mp_pack_cstr (&pk, "record");
    s_seed (dir, n++, &b);

    /* a list with a cursor made with the target's key */
    ts_listing_t *l = malloc (sizeof *l);
    char err [256], cursor [2 * TS_ID_MAX_BYTES + 256];
    if (l && ts_listing_parse (l, b.data, b.size, 100, S_KEY, err, sizeof err) == 0) {
        ts_summary_t s = { 0 };
        s.id = "traj-1-42";
        s.id_len = 9;
        s.has_reward = true;
        s.reward = 0.5;
        s.has_created = true;
        s.created_ms = INT64_C (1772323200000);
        if (ts_listing_cursor (l, &s, S_KEY, cursor, sizeof cursor) == 0) {
            b.size = 0;
            msgpack_pack_map (&pk, 7);
            ts_mp_pack_cstr (&pk, "v");      msgpack_pack_int (&pk, 1);
            ts_mp_pack_cstr (&pk, "op");     ts_mp_pack_cstr (&pk, "list");
            ts_mp_pack_cstr (&pk, "group");
            msgpack_pack_array (&pk, 2);
            ts_mp_pack_cstr (&pk, "q-000001");
            ts_mp_pack_cstr (&pk, "q-000002");
            ts_mp_pack_cstr (&pk, "model");  ts_mp_pack_cstr (&pk, "claude-3-5-sonnet");
            ts_mp_pack_cstr (&pk, "sort");   ts_mp_pack_cstr (&pk, "id");
            ts_mp_pack_cstr (&pk, "limit");  msgpack_pack_uint32 (&pk, 20);
            ts_mp_pack_cstr (&pk, "cursor"); ts_mp_pack_cstr (&pk, cursor);
            s_seed (dir, n++, &b);
        }
    }
    free (l);

    /* a protocol header, as the workers get it */
    b.size = 0;
    msgpack_pack_map (&pk, 6);
    ts_mp_pack_cstr (&pk, "v");      msgpack_pack_int (&pk, 1);
    ts_mp_pack_cstr (&pk, "t");      ts_mp_pack_cstr (&pk, "rlist");
    ts_mp_pack_cstr (&pk, "rid");    msgpack_pack_uint64 (&pk, 12);
    ts_mp_pack_cstr (&pk, "shards");
    msgpack_pack_array (&pk, 2);
    msgpack_pack_uint32 (&pk, 0);
    msgpack_pack_uint32 (&pk, 2);
    ts_mp_pack_cstr (&pk, "cur");
    msgpack_pack_array (&pk, 3);
    msgpack_pack_int64 (&pk, INT64_C (1772323200000));
    ts_mp_pack_cstr (&pk, "traj-1-42");
    msgpack_pack_int64 (&pk, INT64_C (1772323200000));
    ts_mp_pack_cstr (&pk, "ok");     msgpack_pack_true (&pk);
    s_seed (dir, n++, &b);

    /* a count with one group and a created range in milliseconds */
    b.size = 0;
    msgpack_pack_map (&pk, 4);
    ts_mp_pack_cstr (&pk, "v");       msgpack_pack_int (&pk, 1);
    ts_mp_pack_cstr (&pk, "op");      ts_mp_pack_cstr (&pk, "count");
    ts_mp_pack_cstr (&pk, "group");   ts_mp_pack_cstr (&pk, "q-7");
    ts_mp_pack_cstr (&pk, "created");
    msgpack_pack_array (&pk, 2);
    msgpack_pack_nil (&pk);
    msgpack_pack_double (&pk, 1.5e12);
    s_seed (dir, n++, &b);
    ts_buf_free (&b);
}

/*  Seeds the first corpus directory on the command line when it is empty. */
int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
    for (int i = 1; i < *argc; i++) {
        const char *arg = (*argv) [i];
        if (arg [0] == '-')
            continue;
        DIR *d = opendir (arg);
        if (!d)
            return 0;               /* a file to run: no corpus to seed */
        bool empty = true;
        struct dirent *e;
        while (empty && (e = readdir (d)))
            empty = e->d_name [0] == '.';
        closedir (d);
        if (empty)
            s_write_seeds (arg);
        return 0;
    }
    return 0;
}

/* --- the target ---------------------------------------------------------------- */

/*  A summary drawn from the input's bytes (so the cursor varies with it). */
static ts_summary_t
s_summary_from (const uint8_t *data, size_t size, char *idbuf)
{
    ts_summary_t s = { 0 };
    uint64_t h = 0;
    for (size_t i = 0; i < size; i++)
        h = h * 1099511628211u + data [i];
    size_t idlen = size % (TS_ID_MAX_BYTES + 1);
    memcpy (idbuf, data, idlen);
    s.id = idbuf;
    s.id_len = (uint32_t) idlen;
    s.has_reward = h & 1;
    double r;
    memcpy (&r, &h, sizeof r);
    s.reward = isfinite (r) ? r : (double) (int64_t) h;
    s.has_created = h & 2;
    s.created_ms = (int64_t) (h >> 1) * ((h & 4) ? -1 : 1);
    s.ingested_ms = (int64_t) (h >> 3);
    s.success = TS_SUCCESS_UNKNOWN;
    return s;
}

/*  The input's top-level map without its "cursor" pairs, plus "cursor":
 *  `cursor`, into `out`. False when the map does not walk to its end (a
 *  malformed pair: the parse read only what came before it). */
static bool
s_with_cursor (const uint8_t *data, size_t size, const char *cursor, ts_buf_t *out)
{
    ts_mp_reader_t r;
    uint32_t n, kept = 0;
    ts_buf_t pairs = { 0 };
    ts_mp_reader_init (&r, data, size);
    if (ts_mp_read_map (&r, &n))
        return false;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *start = r.p;
        ts_mp_reader_t k = r;
        ts_mp_item_t key;
        if (ts_mp_next (&k, &key) || ts_mp_skip (&r) || ts_mp_skip (&r)) {
            ts_buf_free (&pairs);
            return false;
        }
        if (ts_mp_item_is_str (&key, "cursor"))
            continue;
        ts_buf_append (&pairs, start, (size_t) (r.p - start));
        kept++;
    }
    msgpack_packer pk;
    msgpack_packer_init (&pk, out, ts_buf_packer_write);
    msgpack_pack_map (&pk, kept + 1);
    if (pairs.size)
        ts_buf_append (out, pairs.data, pairs.size);
    ts_mp_pack_cstr (&pk, "cursor");
    ts_mp_pack_cstr (&pk, cursor);
    ts_buf_free (&pairs);
    return true;
}

static void
s_check_refusal (int rc, const char *err, const uint8_t *data, size_t size)
{
    if (rc == 0)
        return;
    if (rc != TS_EBADREQ)
        s_die ("ts_listing_parse returned another code than TS_EBADREQ", data, size);
    if (!memchr (err, 0, 256) || strncmp (err, "field \"", 7))
        s_die ("a refusal that names no field", data, size);
}

static void
s_fuzz_listing (const uint8_t *data, size_t size)
{
    static ts_listing_t l, l2, l0;
    char err [256], err2 [256], cursor [2 * TS_ID_MAX_BYTES + 256];
    memset (err, 0, sizeof err);
    int rc = ts_listing_parse (&l, data, size, 100, S_KEY, err, sizeof err);
    s_check_refusal (rc, err, data, size);
    /* the workers' call (key 0) ignores the cursor: it refuses no more */
    memset (err2, 0, sizeof err2);
    int rc0 = ts_listing_parse (&l0, data, size, 1000, 0, err2, sizeof err2);
    s_check_refusal (rc0, err2, data, size);
    if (rc == 0 && rc0 != 0)
        s_die ("key 0 refused what the api's key accepted", data, size);
    if (rc == 0 && l0.filter_hash != l.filter_hash)
        s_die ("the filter hash depends on the key", data, size);
    if (rc)
        return;
    if (l.limit < 1 || l.limit > TS_QUERY_MAX_LIMIT || l.filter.ngroups > TS_QUERY_MAX_GROUPS
    ||  l.sort.order > TS_ORDER_ID || l.filter.success < -1 || l.filter.success > 1)
        s_die ("accepted fields out of range", data, size);
    for (uint32_t i = 0; i < l.filter.ngroups; i++)
        if (l.filter.group_lens [i]
        &&  ((const uint8_t *) l.filter.groups [i] < data
             || (const uint8_t *) l.filter.groups [i] + l.filter.group_lens [i] > data + size))
            s_die ("a group that does not point into the request", data, size);

    /* a cursor after a summary, in place of the request's own */
    char idbuf [TS_ID_MAX_BYTES];
    ts_summary_t s = s_summary_from (data, size, idbuf);
    if (ts_listing_cursor (&l, &s, S_KEY, cursor, sizeof cursor))
        s_die ("ts_listing_cursor failed", data, size);
    ts_buf_t req = { 0 };
    if (s_with_cursor (data, size, cursor, &req)) {
        memset (err, 0, sizeof err);
        rc = ts_listing_parse (&l2, req.data, req.size, 100, S_KEY, err, sizeof err);
        if (rc) {
            fprintf (stderr, "cursor %s: %s\n", cursor, err);
            s_die ("a cursor of the same request is refused", data, size);
        }
        const ts_sort_t *so = &l2.sort;
        if (!so->has_cursor || l2.filter_hash != l.filter_hash
        ||  so->order != l.sort.order || so->desc != l.sort.desc || l2.limit != l.limit
        ||  so->cur_id_len != s.id_len || memcmp (so->cur_id, s.id, s.id_len))
            s_die ("the cursor does not round-trip", data, size);
        if (so->order == TS_ORDER_CREATED && so->cur_time != ts_summary_time (&s))
            s_die ("the cursor's time does not round-trip", data, size);
        if (so->order == TS_ORDER_REWARD
        &&  (so->cur_no_reward != !s.has_reward
             || (s.has_reward && memcmp (&so->cur_reward, &s.reward, sizeof s.reward))))
            s_die ("the cursor's reward does not round-trip", data, size);
        if (ts_sort_after_cursor (so, &s))
            s_die ("the summary is after its own cursor", data, size);
        rc = ts_listing_parse (&l2, req.data, req.size, 100, S_KEY ^ 1, err, sizeof err);
        if (rc != TS_EBADREQ || !strstr (err, "\"cursor\""))
            s_die ("a cursor under another key is accepted", data, size);
    }
    ts_buf_free (&req);
}

/*  The shard map (ts_shardmap.h) from a "map": 0 or
 *  TS_EPROTO, and an accepted map is within its bounds (owners name a slot
 *  or -1, every name and peer terminated). */
static void
s_fuzz_shardmap (const ts_hdrin_t *in, const uint8_t *data, size_t size)
{
    static ts_shardmap_t m;
    int rc = ts_shardmap_decode (in, &m);
    if (rc != 0 && rc != TS_EPROTO)
        s_die ("ts_shardmap_decode returned an unknown code", data, size);
    if (rc)
        return;
    if (in->msg != TS_MSG_MAP
    ||  m.nshards == 0 || m.nshards > TS_MAX_SHARDS || m.nworkers > TS_MAX_WORKERS)
        s_die ("a shard map accepted out of bounds", data, size);
    for (unsigned s = 0; s < m.nshards; s++)
        if (m.owners [s] < -1 || m.owners [s] >= (int) m.nworkers)
            s_die ("a shard map with an owner outside its workers", data, size);
    for (unsigned w = 0; w < m.nworkers; w++)
        if (!memchr (m.workers [w].name, 0, sizeof m.workers [w].name)
        ||  !memchr (m.workers [w].peer, 0, sizeof m.workers [w].peer))
            s_die ("a shard map with an unterminated name or peer", data, size);
}

/*  Whether a decoded string or array lies inside the frame. */
static bool
s_inside (const void *p, size_t len, const uint8_t *data, size_t size)
{
    const uint8_t *q = p;
    return !p || len == 0 || (q >= data && q + len <= data + size);
}

/*  Every typed decoder on the header, read as a message of each type in
 *  turn: 0 or TS_EPROTO; what decodes points into the frame, and encodes
 *  into a header that decodes to the same values. */
static void
s_fuzz_wire (const ts_hdrin_t *parsed, const uint8_t *data, size_t size)
{
    static ts_hdr_t h;
    /* the api's "map" request, outside the table (the answer shares its
     * type) */
    ts_wire_mapreq_t mq;
    ts_hdrin_t asked = *parsed;
    asked.msg = TS_MSG_MAP;
    int mrc = ts_wire_mapreq_decode (&asked, &mq);
    if (mrc != 0 && mrc != TS_EPROTO)
        s_die ("the map request's decoder returned an unknown code", data, size);
    for (int t = 1; t < TS_MSG_COUNT; t++) {
        if (!ts_wire_typed ((ts_msg_t) t))
            continue;
        ts_hdrin_t in = *parsed;
        in.msg = (ts_msg_t) t;
        ts_wire_any_t m, back;
        int rc = ts_wire_decode (&in, &m);
        if (rc != 0 && rc != TS_EPROTO)
            s_die ("a message decoder returned an unknown code", data, size);
        if (rc)
            continue;
        /* every borrowed field of every message lies in the frame: the
         * structs are checked through the fields they share */
        const ts_wire_str_t *strs [] = {
            &m.chunk.job, &m.chunk.src, &m.chunk.profile, &m.chunk.file, &m.chunk.fid,
        };
        if (t == TS_MSG_CHUNK)
            for (size_t i = 0; i < sizeof strs / sizeof strs [0]; i++)
                if (!s_inside (strs [i]->ptr, strs [i]->len, data, size))
                    s_die ("a decoded string outside the frame", data, size);
        if ((t == TS_MSG_RLIST || t == TS_MSG_RCOUNT || t == TS_MSG_RSEARCH)
        &&  (!s_inside (m.rlist.shards.items, m.rlist.shards.len, data, size)
             || !s_inside (m.rlist.cur.items, m.rlist.cur.len, data, size)))
            s_die ("a decoded array outside the frame", data, size);
        if (t == TS_MSG_RRES && !s_inside (m.rres.msg.ptr, m.rres.msg.len, data, size))
            s_die ("a decoded string outside the frame", data, size);
        if (t == TS_MSG_CHUNKDONE
        &&  (!s_inside (m.chunkdone.rejects.items, m.chunkdone.rejects.len, data, size)
             || !s_inside (m.chunkdone.seqs.items, m.chunkdone.seqs.len, data, size)))
            s_die ("a decoded array outside the frame", data, size);
        ts_wire_encode (&h, (ts_msg_t) t, &m);
        ts_hdrin_t again;
        if (ts_hdr_parse (&again, h.buf.data, h.buf.size) || again.msg != (ts_msg_t) t
        ||  ts_wire_decode (&again, &back))
            s_die ("a decoded message does not decode again once encoded", data, size);
        if (!ts_wire_equal ((ts_msg_t) t, &m, &back))
            s_die ("a decoded message comes back with other values", data, size);
    }
}

static void
s_fuzz_header (const uint8_t *data, size_t size)
{
    ts_hdrin_t in;
    int rc = ts_hdr_parse (&in, data, size);
    if (rc != 0 && rc != TS_EPROTO && rc != TS_EVERSION)
        s_die ("ts_hdr_parse returned an unknown code", data, size);
    if (rc == 0 && (!in.type || strlen (in.type) >= sizeof in.type_buf || in.version != 1))
        s_die ("an accepted header without its type or version", data, size);
    if (rc == 0 && in.msg != TS_MSG_UNKNOWN && strcmp (ts_msg_name (in.msg), in.type))
        s_die ("a header's type looked up as another one", data, size);
    if (rc == 0 && in.msg == TS_MSG_UNKNOWN && ts_msg_lookup (in.type, strlen (in.type)))
        s_die ("a known type left unknown", data, size);
    /* the typed decoders (ts_wire.h): 0 or TS_EPROTO, whatever the header */
    if (rc == 0)
        s_fuzz_wire (&in, data, size);
    if (rc == 0)
        s_fuzz_shardmap (&in, data, size);
    static const char *const keys [] = {
        "v", "t", "rid", "id", "shard", "shards", "cur", "count", "more", "n", "ok", "code",
        "msg", "epoch", "nshards", "limit", "cursor", ""
    };
    volatile uint64_t sink = 0;
    for (size_t i = 0; i < sizeof keys / sizeof keys [0]; i++) {
        char buf [24];
        uint32_t len = 0;
        ts_mp_reader_t r;
        sink += (uint64_t) ts_hdr_get_int (&in, keys [i], -1);
        sink += ts_hdr_get_uint (&in, keys [i], 1);
        double d = ts_hdr_get_double (&in, keys [i], 0.5);
        sink += (uint64_t) (d == d);
        sink += ts_hdr_get_bool (&in, keys [i], true);
        const char *p = ts_hdr_get_str (&in, keys [i], &len);
        if (p && len && ((const uint8_t *) p < data || (const uint8_t *) p + len > data + size))
            s_die ("a string that does not point into the header", data, size);
        if (p && len)
            sink += (uint8_t) p [len - 1];
        if (ts_hdr_copy_str (&in, keys [i], buf, sizeof buf)) {
            if (!memchr (buf, 0, sizeof buf))
                s_die ("a copied string without its NUL", data, size);
            if (!p)
                s_die ("ts_hdr_copy_str found what ts_hdr_get_str did not", data, size);
        }
        if (ts_hdr_find (&in, keys [i], &r)) {
            ts_mp_item_t it;
            if (r.p < (const uint8_t *) data || r.end != data + size)
                s_die ("a value reader outside the header", data, size);
            if (ts_mp_next (&r, &it) == 0)
                sink += it.type;
        }
    }
    (void) sink;
}

static void
s_fuzz_envelope (const uint8_t *data, size_t size)
{
    static ts_listing_t l;
    ts_request_t rq;
    char err [300];
    memset (err, 0, sizeof err);
    int rc = ts_request_parse (&rq, data, size, S_KEY, &l, err, sizeof err);
    if (rc && rc != TS_EBADREQ && rc != TS_ETOOBIG && rc != TS_EVERSION && rc != TS_EUNKNOWNOP)
        s_die ("ts_request_parse returned a code the api cannot answer with", data, size);
    if (rc && (!memchr (err, 0, sizeof err) || !err [0]))
        s_die ("ts_request_parse refused without a message", data, size);
    if (rc == 0 && !ts_op_name (rq.op))
        s_die ("ts_request_parse accepted an op out of range", data, size);
    if (rc == 0 && rq.op == TS_OP_GET && (!rq.id || !rq.id_len || rq.id_len > TS_ID_MAX_BYTES))
        s_die ("ts_request_parse accepted a get without a valid id", data, size);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    s_fuzz_listing (data, size);
    s_fuzz_envelope (data, size);
    s_fuzz_header (data, size);
    return 0;
}
