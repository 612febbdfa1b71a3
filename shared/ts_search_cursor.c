/*  ts_search_cursor.c: a search's pages (ts_search.h, docs/SEARCH.md): the
 *  "after" cursor of the page that ends with a hit, and reading it back
 *  into the query (ts_search_run passes the hits before it).
 */
#include "ts_search.h"
#include "ts_error.h"
#include "ts_msg.h"
#include "ts_mp.h"

#include <stdio.h>
#include <string.h>

int
ts_search_after_parse (ts_search_query_t *q, ts_search_order_t order, ts_mp_reader_t *r,
                       char *err, size_t esz)
{
    ts_mp_item_t it;
    uint8_t raw [TS_SEARCH_CURSOR_MAX / 2];
    uint32_t n, idlen;
    uint64_t o, hash;
    const char *id;
    ts_mp_reader_t rd;
    if (ts_mp_next (r, &it) || it.type != TS_MP_STR || it.len < 3 || memcmp (it.ptr, "s1.", 3)
    ||  (it.len - 3) / 2 > sizeof raw || ts_unhex (it.ptr + 3, it.len - 3, raw))
        goto bad;
    ts_mp_reader_init (&rd, raw, (it.len - 3) / 2);
    if (ts_mp_read_array (&rd, &n) || n != 5 || ts_mp_read_uint (&rd, &o)
    ||  ts_mp_read_double (&rd, &q->after_score) || ts_mp_read_int (&rd, &q->after_time)
    ||  ts_mp_read_str (&rd, &id, &idlen) || idlen > TS_ID_MAX_BYTES
    ||  ts_mp_read_uint (&rd, &hash) || rd.p != rd.end)
        goto bad;
    if (o != (uint64_t) order || hash != q->hash) {
        snprintf (err, esz, "field \"after\": the cursor is of another search (its q, order "
                  "and filters must stay the same)");
        return TS_EBADREQ;
    }
    memcpy (q->after_id, id ? id : "", idlen);
    q->after_id [idlen] = 0;
    q->after_id_len = idlen;
    q->has_after = true;
    return 0;
bad:
    snprintf (err, esz, "field \"after\": want the \"next\" string of the page before");
    return TS_EBADREQ;
}

int
ts_search_cursor (const ts_search_query_t *q, ts_search_order_t order, double score,
                  int64_t time, const char *id, size_t id_len, char *buf, size_t size)
{
    ts_buf_t raw = { 0 };
    msgpack_packer pk;
    msgpack_packer_init (&pk, &raw, ts_buf_packer_write);
    int rc = msgpack_pack_array (&pk, 5) || msgpack_pack_uint64 (&pk, (uint64_t) order)
          || msgpack_pack_double (&pk, score) || msgpack_pack_int64 (&pk, time)
          || ts_mp_pack_strn (&pk, id, id_len) || msgpack_pack_uint64 (&pk, q->hash)
          || 3 + 2 * raw.size + 1 > size ? TS_ENOMEM : 0;
    if (rc == 0) {
        memcpy (buf, "s1.", 3);
        ts_hex ((const uint8_t *) raw.data, raw.size, buf + 3);
    }
    ts_buf_free (&raw);
    return rc;
}
