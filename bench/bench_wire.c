/*  bench_wire.c: the cost of a chunk's header on the hot path, typed
 *  (ts_wire.h: one table-driven encode, one pass to decode) against the
 *  field calls it replaced (ts_hdr_begin + a call a field; a ts_hdr_get_*
 *  a field, each a scan of the map from its start).
 *
 *  Usage: bench_wire [rounds]. Prints ns per encode + decode of a "chunk"
 *  sent by reference (11 fields), of a "chunkdone" with 100 rejects, and
 *  of the read path's headers (an "rget" and its "rres"; an "rlist" of 8
 *  shards and its "rres"), each way twice, A B A B, so that a busy
 *  machine's drift shows.
 */
#include "ts_wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static volatile uint64_t s_sink;

/*  The producer's and the aggregator's code before ts_wire. */
static void
s_chunk_by_hand (ts_hdr_t *h)
{
    ts_hdr_begin (h, TS_MSG_CHUNK, 11);
    ts_hdr_str (h, "job", "import-1234567");
    ts_hdr_uint (h, "chunk", 4711);
    ts_hdr_uint (h, "line0", 1234567);
    ts_hdr_uint (h, "lines", 250);
    ts_hdr_uint (h, "bytes", 1 << 20);
    ts_hdr_str (h, "src", "/data/runs/agent-traces-2026-12-07.jsonl");
    ts_hdr_str (h, "profile", "default,run=r1");
    ts_hdr_bool (h, "last", false);
    ts_hdr_str (h, "file", "/data/runs/agent-traces-2026-12-07.jsonl");
    ts_hdr_uint (h, "off", 123456789);
    ts_hdr_str (h, "fid", "2049:1234567:987654321:1733600000");
    ts_hdrin_t in;
    ts_hdr_parse (&in, h->buf.data, h->buf.size);
    char job [64], src [256], profile [1024];
    uint32_t fl, il;
    ts_hdr_copy_str (&in, "job", job, sizeof job);
    ts_hdr_copy_str (&in, "src", src, sizeof src);
    ts_hdr_copy_str (&in, "profile", profile, sizeof profile);
    s_sink += ts_hdr_get_uint (&in, "chunk", 0) + ts_hdr_get_uint (&in, "line0", 1)
            + ts_hdr_get_uint (&in, "lines", 0) + ts_hdr_get_uint (&in, "bytes", 0)
            + ts_hdr_get_bool (&in, "last", false) + ts_hdr_get_uint (&in, "off", 0)
            + (uintptr_t) ts_hdr_get_str (&in, "file", &fl) + (uintptr_t) ts_hdr_get_str (&in, "fid", &il);
}

static void
s_chunk_typed (ts_hdr_t *h)
{
    ts_wire_chunk_t m = {
        .job = ts_wire_cstr ("import-1234567"), .chunk = 4711, .line0 = 1234567, .lines = 250,
        .bytes = 1 << 20, .src = ts_wire_cstr ("/data/runs/agent-traces-2026-12-07.jsonl"),
        .profile = ts_wire_cstr ("default,run=r1"), .last = false, .by_ref = true,
        .file = ts_wire_cstr ("/data/runs/agent-traces-2026-12-07.jsonl"), .off = 123456789,
        .fid = ts_wire_cstr ("2049:1234567:987654321:1733600000"),
    };
    ts_wire_chunk_encode (h, &m);
    ts_hdrin_t in;
    ts_hdr_parse (&in, h->buf.data, h->buf.size);
    ts_wire_chunk_t d;
    if (ts_wire_chunk_decode (&in, &d) == 0)
        s_sink += d.chunk + d.off + d.job.len;
}

static ts_buf_t s_rejects;

static void
s_done_by_hand (ts_hdr_t *h)
{
    ts_hdr_begin (h, TS_MSG_CHUNKDONE, 10);
    ts_hdr_str (h, "job", "import-1234567");
    ts_hdr_uint (h, "chunk", 4711);
    ts_hdr_uint (h, "lines", 250);
    ts_hdr_uint (h, "blank", 0);
    ts_hdr_uint (h, "imported", 150);
    ts_hdr_uint (h, "duplicates", 0);
    ts_hdr_uint (h, "rejected", 100);
    ts_hdr_key (h, "rejects");
    msgpack_pack_array (&h->pk, 100);
    ts_buf_append (&h->buf, s_rejects.data, s_rejects.size);
    ts_hdr_key (h, "warnings");
    msgpack_pack_array (&h->pk, 0);
    ts_hdr_key (h, "seqs");
    msgpack_pack_array (&h->pk, 0);
    ts_hdrin_t in;
    ts_hdr_parse (&in, h->buf.data, h->buf.size);
    char job [64];
    ts_mp_reader_t r;
    ts_hdr_copy_str (&in, "job", job, sizeof job);
    s_sink += ts_hdr_get_uint (&in, "chunk", 0) + ts_hdr_get_int (&in, "code", 0)
            + ts_hdr_get_uint (&in, "lines", 0) + ts_hdr_get_uint (&in, "blank", 0)
            + ts_hdr_get_uint (&in, "imported", 0) + ts_hdr_get_uint (&in, "duplicates", 0)
            + ts_hdr_get_uint (&in, "rejected", 0) + ts_hdr_find (&in, "rejects", &r)
            + ts_hdr_find (&in, "warnings", &r) + ts_hdr_find (&in, "seqs", &r);
}

static void
s_done_typed (ts_hdr_t *h)
{
    ts_wire_chunkdone_t m = {
        .job = ts_wire_cstr ("import-1234567"), .chunk = 4711, .counted = true, .lines = 250,
        .imported = 150, .rejected = 100,
        .rejects = { s_rejects.data, s_rejects.size, 100 },
        .warnings = { "", 0, 0 }, .seqs = { "", 0, 0 },
    };
    ts_wire_chunkdone_encode (h, &m);
    ts_hdrin_t in;
    ts_hdr_parse (&in, h->buf.data, h->buf.size);
    ts_wire_chunkdone_t d;
    if (ts_wire_chunkdone_decode (&in, &d) == 0)
        s_sink += d.chunk + d.rejects.count;
}

/*  The api's "rget" and the worker's "rres", as they were built and read
 *  before ts_wire. */
static void
s_get_by_hand (ts_hdr_t *h)
{
    ts_hdr_begin (h, TS_MSG_RGET, 3);
    ts_hdr_uint (h, "rid", 123456);
    ts_hdr_uint (h, "shard", 5);
    ts_hdr_strn (h, "id", "traj-0000000042", 15);
    ts_hdrin_t in;
    ts_hdr_parse (&in, h->buf.data, h->buf.size);
    uint32_t idlen;
    s_sink += ts_hdr_get_uint (&in, "rid", 0) + ts_hdr_get_uint (&in, "shard", UINT64_MAX)
            + (uintptr_t) ts_hdr_get_str (&in, "id", &idlen);
    ts_hdr_begin (h, TS_MSG_RRES, 2);
    ts_hdr_uint (h, "rid", 123456);
    ts_hdr_bool (h, "ok", true);
    ts_hdr_parse (&in, h->buf.data, h->buf.size);
    char code [32] = "";
    ts_hdr_copy_str (&in, "code", code, sizeof code);
    s_sink += ts_hdr_get_uint (&in, "rid", UINT64_MAX) + (uint64_t) code [0];
}

static void
s_get_typed (ts_hdr_t *h)
{
    ts_wire_rget_encode (h, &(ts_wire_rget_t) { 123456, 5, { "traj-0000000042", 15 } });
    ts_hdrin_t in;
    ts_hdr_parse (&in, h->buf.data, h->buf.size);
    ts_wire_rget_t g;
    if (ts_wire_rget_decode (&in, &g) == 0)
        s_sink += g.rid + g.shard + g.id.len;
    ts_wire_rres_encode (h, &(ts_wire_rres_t) { .rid = 123456, .ok = true });
    ts_hdr_parse (&in, h->buf.data, h->buf.size);
    ts_wire_rres_t r;
    if (ts_wire_rres_decode (&in, &r) == 0)
        s_sink += r.rid + (uint64_t) r.failed;
}

static const char s_shards [] = { (char) 0x98, 0, 2, 4, 6, 8, 10, 12, 14 };

static void
s_list_by_hand (ts_hdr_t *h)
{
    ts_hdr_begin (h, TS_MSG_RLIST, 5);
    ts_hdr_uint (h, "rid", 123456);
    ts_hdr_uint (h, "limit", 100);
    ts_hdr_bool (h, "records", false);
    ts_hdr_key (h, "shards");
    ts_buf_append (&h->buf, s_shards, sizeof s_shards);
    ts_hdr_key (h, "cur");
    msgpack_pack_nil (&h->pk);
    ts_hdrin_t in;
    ts_hdr_parse (&in, h->buf.data, h->buf.size);
    ts_mp_reader_t r;
    s_sink += ts_hdr_get_uint (&in, "rid", 0) + ts_hdr_find (&in, "shards", &r)
            + ts_hdr_find (&in, "cur", &r) + ts_hdr_get_uint (&in, "limit", 100)
            + ts_hdr_get_bool (&in, "records", false);
    ts_hdr_begin (h, TS_MSG_RRES, 4);
    ts_hdr_uint (h, "rid", 123456);
    ts_hdr_bool (h, "ok", true);
    ts_hdr_uint (h, "n", 100);
    ts_hdr_bool (h, "more", true);
    ts_hdr_parse (&in, h->buf.data, h->buf.size);
    char code [32] = "";
    ts_hdr_copy_str (&in, "code", code, sizeof code);
    s_sink += ts_hdr_get_uint (&in, "rid", UINT64_MAX) + (uint64_t) code [0]
            + ts_hdr_get_bool (&in, "more", false);
}

static void
s_list_typed (ts_hdr_t *h)
{
    ts_wire_rlist_t m = { .rid = 123456, .limit = 100, .records = false,
                          .shards = ts_wire_array_packed (s_shards, sizeof s_shards) };
    ts_wire_rlist_encode (h, &m);
    ts_hdrin_t in;
    ts_hdr_parse (&in, h->buf.data, h->buf.size);
    ts_wire_rlist_t d;
    if (ts_wire_rlist_decode (&in, &d) == 0)
        s_sink += d.rid + d.shards.count + d.limit;
    ts_wire_rres_encode (h, &(ts_wire_rres_t) { .rid = 123456, .ok = true, .listed = true,
                                                .n = 100, .more = true });
    ts_hdr_parse (&in, h->buf.data, h->buf.size);
    ts_wire_rres_t r;
    if (ts_wire_rres_decode (&in, &r) == 0)
        s_sink += r.rid + r.more;
}

static double
s_time (void (*f) (ts_hdr_t *), ts_hdr_t *h, long rounds)
{
    double t0 = s_now ();
    for (long i = 0; i < rounds; i++)
        f (h);
    return (s_now () - t0) / (double) rounds;
}

int
main (int argc, char **argv)
{
    long rounds = argc > 1 ? atol (argv [1]) : 200000;
    msgpack_packer pk;
    msgpack_packer_init (&pk, &s_rejects, ts_buf_packer_write);
    for (int i = 0; i < 100; i++) {
        msgpack_pack_array (&pk, 2);
        msgpack_pack_uint64 (&pk, 1234567 + (uint64_t) i * 2);
        ts_mp_pack_cstr (&pk, "/reward: expected a number, got a string");
    }
    ts_hdr_t h = { 0 };
    for (int pass = 0; pass < 2; pass++) {
        printf ("chunk (by reference, 11 fields): by hand %.0f ns, typed %.0f ns\n",
                s_time (s_chunk_by_hand, &h, rounds), s_time (s_chunk_typed, &h, rounds));
        printf ("chunkdone (100 rejects):         by hand %.0f ns, typed %.0f ns\n",
                s_time (s_done_by_hand, &h, rounds), s_time (s_done_typed, &h, rounds));
        printf ("rget + rres:                     by hand %.0f ns, typed %.0f ns\n",
                s_time (s_get_by_hand, &h, rounds), s_time (s_get_typed, &h, rounds));
        printf ("rlist (8 shards) + rres:         by hand %.0f ns, typed %.0f ns\n",
                s_time (s_list_by_hand, &h, rounds), s_time (s_list_typed, &h, rounds));
    }
    ts_hdr_free (&h);
    ts_buf_free (&s_rejects);
    return 0;
}
