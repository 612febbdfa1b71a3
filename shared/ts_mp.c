/*  ts_mp.c: zero-copy msgpack pull reader (see ts_mp.h for the contract,
 *  and the msgpack specification for the byte formats). */
#include "ts_mp.h"
#include "ts_error.h"
#include <string.h>

void
ts_mp_reader_init (ts_mp_reader_t *r, const void *data, size_t len)
{
    r->p = (const uint8_t *) data;
    r->end = r->p + len;
}

bool
ts_mp_at_end (const ts_mp_reader_t *r)
{
    return r->p >= r->end;
}

static uint64_t
s_be (const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/*  Takes a payload of `n` bytes; fails if fewer remain. */
static int
s_take (ts_mp_reader_t *r, size_t n, const uint8_t **out)
{
    if ((size_t) (r->end - r->p) < n)
        return TS_EPROTO;
    *out = r->p;
    r->p += n;
    return 0;
}

static int
s_sized (ts_mp_reader_t *r, ts_mp_item_t *it, ts_mp_type_t type, int lenbytes)
{
    const uint8_t *q;
    if (s_take (r, (size_t) lenbytes, &q))
        return TS_EPROTO;
    uint64_t n = s_be (q, lenbytes);
    if (type == TS_MP_EXT) {
        if (s_take (r, 1, &q))
            return TS_EPROTO;
        it->ext_type = (int8_t) q [0];
    }
    if (s_take (r, (size_t) n, &q))
        return TS_EPROTO;
    it->type = type;
    it->ptr = (const char *) q;
    it->len = (uint32_t) n;
    return 0;
}

static int
s_container (ts_mp_reader_t *r, ts_mp_item_t *it, ts_mp_type_t type, uint64_t n)
{
    uint64_t need = type == TS_MP_MAP ? 2 * n : n;
    if (need > (uint64_t) (r->end - r->p))
        return TS_EPROTO;
    it->type = type;
    it->len = (uint32_t) n;
    return 0;
}

int
ts_mp_next (ts_mp_reader_t *r, ts_mp_item_t *it)
{
    const uint8_t *q;
    if (s_take (r, 1, &q))
        return TS_EPROTO;
    uint8_t c = q [0];
    memset (it, 0, sizeof *it);
    if (c <= 0x7f) { it->type = TS_MP_UINT; it->u = c; return 0; }
    if (c >= 0xe0) { it->type = TS_MP_INT; it->i = (int8_t) c; return 0; }
    if ((c & 0xf0) == 0x80) return s_container (r, it, TS_MP_MAP, c & 0x0f);
    if ((c & 0xf0) == 0x90) return s_container (r, it, TS_MP_ARRAY, c & 0x0f);
    if ((c & 0xe0) == 0xa0) {
        if (s_take (r, c & 0x1f, &q))
            return TS_EPROTO;
        it->type = TS_MP_STR; it->ptr = (const char *) q; it->len = c & 0x1f;
        return 0;
    }
    switch (c) {
    case 0xc0: it->type = TS_MP_NIL; return 0;
    case 0xc2: it->type = TS_MP_BOOL; it->b = false; return 0;
    case 0xc3: it->type = TS_MP_BOOL; it->b = true; return 0;
    case 0xc4: return s_sized (r, it, TS_MP_BIN, 1);
    case 0xc5: return s_sized (r, it, TS_MP_BIN, 2);
    case 0xc6: return s_sized (r, it, TS_MP_BIN, 4);
    case 0xc7: return s_sized (r, it, TS_MP_EXT, 1);
    case 0xc8: return s_sized (r, it, TS_MP_EXT, 2);
    case 0xc9: return s_sized (r, it, TS_MP_EXT, 4);
    case 0xca: {
        if (s_take (r, 4, &q)) return TS_EPROTO;
        uint32_t bits = (uint32_t) s_be (q, 4);
        float f;
        memcpy (&f, &bits, 4);
        it->type = TS_MP_FLOAT; it->f = f;
        return 0;
    }
    case 0xcb: {
        if (s_take (r, 8, &q)) return TS_EPROTO;
        uint64_t bits = s_be (q, 8);
        memcpy (&it->f, &bits, 8);
        it->type = TS_MP_FLOAT;
        return 0;
    }
    case 0xcc: case 0xcd: case 0xce: case 0xcf: {
        int n = 1 << (c - 0xcc);
        if (s_take (r, (size_t) n, &q)) return TS_EPROTO;
        it->type = TS_MP_UINT; it->u = s_be (q, n);
        return 0;
    }
    case 0xd0: case 0xd1: case 0xd2: case 0xd3: {
        int n = 1 << (c - 0xd0);
        if (s_take (r, (size_t) n, &q)) return TS_EPROTO;
        uint64_t v = s_be (q, n);
        int64_t sv;
        if (n == 1) sv = (int8_t) v;
        else if (n == 2) sv = (int16_t) v;
        else if (n == 4) sv = (int32_t) v;
        else sv = (int64_t) v;
        if (sv >= 0) { it->type = TS_MP_UINT; it->u = (uint64_t) sv; }
        else { it->type = TS_MP_INT; it->i = sv; }
        return 0;
    }
    case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8: {
        int n = 1 << (c - 0xd4);
        if (s_take (r, 1, &q)) return TS_EPROTO;
        it->ext_type = (int8_t) q [0];
        if (s_take (r, (size_t) n, &q)) return TS_EPROTO;
        it->type = TS_MP_EXT; it->ptr = (const char *) q; it->len = (uint32_t) n;
        return 0;
    }
    case 0xd9: return s_sized (r, it, TS_MP_STR, 1);
    case 0xda: return s_sized (r, it, TS_MP_STR, 2);
    case 0xdb: return s_sized (r, it, TS_MP_STR, 4);
    case 0xdc: case 0xdd: {
        int n = c == 0xdc ? 2 : 4;
        if (s_take (r, (size_t) n, &q)) return TS_EPROTO;
        return s_container (r, it, TS_MP_ARRAY, s_be (q, n));
    }
    case 0xde: case 0xdf: {
        int n = c == 0xde ? 2 : 4;
        if (s_take (r, (size_t) n, &q)) return TS_EPROTO;
        return s_container (r, it, TS_MP_MAP, s_be (q, n));
    }
    default:
        return TS_EPROTO;     /* 0xc1 is never used */
    }
}

/*  Skipping is the hot path of every reader that looks for a key (a reply
 *  of 10,000 group rows is 200,000 items): it reads only the type byte and
 *  the length fields, without filling an item. Same checks as ts_mp_next. */
int
ts_mp_skip (ts_mp_reader_t *r)
{
    uint64_t pending = 1;             /* values still to read */
    const uint8_t *p = r->p, *end = r->end;
    while (pending > 0) {
        if (p >= end)
            return TS_EPROTO;
        uint8_t c = *p++;
        pending--;
        uint64_t size = 0, count = 0;   /* payload bytes; items inside */
        if (c <= 0x7f || c >= 0xe0)
            continue;
        if (c <= 0x8f)
            count = 2 * (uint64_t) (c & 0x0f);
        else if (c <= 0x9f)
            count = c & 0x0f;
        else if (c <= 0xbf)
            size = c & 0x1f;
        else {
            int lenbytes = 0, fixed = 0;
            switch (c) {
            case 0xc0: case 0xc2: case 0xc3: continue;
            case 0xc4: case 0xd9: lenbytes = 1; break;
            case 0xc5: case 0xda: lenbytes = 2; break;
            case 0xc6: case 0xdb: lenbytes = 4; break;
            case 0xc7: lenbytes = 1; fixed = 1; break;
            case 0xc8: lenbytes = 2; fixed = 1; break;
            case 0xc9: lenbytes = 4; fixed = 1; break;
            case 0xca: fixed = 4; break;
            case 0xcb: fixed = 8; break;
            case 0xcc: case 0xcd: case 0xce: case 0xcf: fixed = 1 << (c - 0xcc); break;
            case 0xd0: case 0xd1: case 0xd2: case 0xd3: fixed = 1 << (c - 0xd0); break;
            case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8: fixed = 1 + (1 << (c - 0xd4)); break;
            case 0xdc: case 0xdd: case 0xde: case 0xdf: {
                int n = c == 0xdc || c == 0xde ? 2 : 4;
                if ((size_t) (end - p) < (size_t) n)
                    return TS_EPROTO;
                count = s_be (p, n) * (c >= 0xde ? 2 : 1);
                p += n;
                break;
            }
            default: return TS_EPROTO;    /* 0xc1 is never used */
            }
            if (lenbytes) {
                if ((size_t) (end - p) < (size_t) lenbytes)
                    return TS_EPROTO;
                size = s_be (p, lenbytes);
                p += lenbytes;
            }
            size += (uint64_t) fixed;
        }
        if (count) {
            /* each item takes a byte at least: a count larger than what
             * is left is a lie, refused before it is believed */
            if (count > (uint64_t) (end - p))
                return TS_EPROTO;
            pending += count;
        } else if (size > (uint64_t) (end - p))
            return TS_EPROTO;
        p += size;
    }
    r->p = p;
    return 0;
}

int
ts_mp_depth (const void *data, size_t len)
{
    /* Explicit stack of remaining counts; depth is bounded by the input
     * length (each container takes at least one byte). */
    ts_mp_reader_t r;
    ts_mp_reader_init (&r, data, len);
    enum { MAXD = 4096 };
    uint64_t stack [MAXD];
    int top = 0, deepest = 0;
    uint64_t pending = 1;
    ts_mp_item_t it;
    for (;;) {
        while (pending == 0) {
            if (top == 0)
                return deepest;
            pending = stack [--top];
        }
        if (ts_mp_next (&r, &it))
            return TS_EPROTO;
        pending--;
        if ((it.type == TS_MP_ARRAY || it.type == TS_MP_MAP)) {
            if (top == MAXD)
                return MAXD;
            stack [top++] = pending;
            pending = it.type == TS_MP_MAP ? 2 * (uint64_t) it.len : it.len;
            if (top > deepest)
                deepest = top;
        }
    }
}

static int
s_expect (ts_mp_reader_t *r, ts_mp_item_t *it, ts_mp_type_t type)
{
    if (ts_mp_next (r, it) || it->type != type)
        return TS_EPROTO;
    return 0;
}

int
ts_mp_read_str (ts_mp_reader_t *r, const char **ptr, uint32_t *len)
{
    ts_mp_item_t it;
    if (s_expect (r, &it, TS_MP_STR))
        return TS_EPROTO;
    *ptr = it.ptr;
    *len = it.len;
    return 0;
}

int
ts_mp_read_uint (ts_mp_reader_t *r, uint64_t *value)
{
    ts_mp_item_t it;
    if (s_expect (r, &it, TS_MP_UINT))
        return TS_EPROTO;
    *value = it.u;
    return 0;
}

int
ts_mp_read_int (ts_mp_reader_t *r, int64_t *value)
{
    ts_mp_item_t it;
    if (ts_mp_next (r, &it))
        return TS_EPROTO;
    if (it.type == TS_MP_INT)
        *value = it.i;
    else if (it.type == TS_MP_UINT && it.u <= (uint64_t) INT64_MAX)
        *value = (int64_t) it.u;
    else
        return TS_EPROTO;
    return 0;
}

int
ts_mp_read_double (ts_mp_reader_t *r, double *value)
{
    ts_mp_item_t it;
    if (ts_mp_next (r, &it))
        return TS_EPROTO;
    if (it.type == TS_MP_FLOAT)
        *value = it.f;
    else if (it.type == TS_MP_INT)
        *value = (double) it.i;
    else if (it.type == TS_MP_UINT)
        *value = (double) it.u;
    else
        return TS_EPROTO;
    return 0;
}

int
ts_mp_read_array (ts_mp_reader_t *r, uint32_t *count)
{
    ts_mp_item_t it;
    if (s_expect (r, &it, TS_MP_ARRAY))
        return TS_EPROTO;
    *count = it.len;
    return 0;
}

int
ts_mp_read_map (ts_mp_reader_t *r, uint32_t *count)
{
    ts_mp_item_t it;
    if (s_expect (r, &it, TS_MP_MAP))
        return TS_EPROTO;
    *count = it.len;
    return 0;
}

bool
ts_mp_item_is_strn (const ts_mp_item_t *it, const char *s, size_t n)
{
    return it->type == TS_MP_STR && it->len == n && memcmp (it->ptr, s, n) == 0;
}

bool
ts_mp_item_is_str (const ts_mp_item_t *it, const char *s)
{
    return ts_mp_item_is_strn (it, s, strlen (s));
}

int
ts_mp_pack_strn (msgpack_packer *pk, const char *s, size_t len)
{
    if (msgpack_pack_str (pk, len) || msgpack_pack_str_body (pk, s, len))
        return TS_ENOMEM;
    return 0;
}

int
ts_mp_pack_cstr (msgpack_packer *pk, const char *s)
{
    return ts_mp_pack_strn (pk, s, strlen (s));
}

bool
ts_mp_reader_map_find (const ts_mp_reader_t *map, const char *key, ts_mp_reader_t *value)
{
    ts_mp_reader_t r = *map;
    uint32_t n;
    ts_mp_item_t k;
    size_t klen = strlen (key);
    if (ts_mp_read_map (&r, &n))
        return false;
    for (uint32_t i = 0; i < n; i++) {
        if (ts_mp_next (&r, &k))
            return false;
        if (ts_mp_item_is_strn (&k, key, klen)) {
            *value = r;
            return true;
        }
        /* a key that is a container: skip its contents */
        if (k.type == TS_MP_ARRAY || k.type == TS_MP_MAP) {
            uint64_t left = k.type == TS_MP_MAP ? 2 * (uint64_t) k.len : k.len;
            while (left--)
                if (ts_mp_skip (&r))
                    return false;
        }
        if (ts_mp_skip (&r))
            return false;
    }
    return false;
}

bool
ts_mp_map_find (const void *data, size_t len, const char *key, ts_mp_reader_t *value)
{
    ts_mp_reader_t r;
    ts_mp_reader_init (&r, data, len);
    return ts_mp_reader_map_find (&r, key, value);
}

uint32_t
ts_mp_map_copy_pairs (const void *data, size_t len, const char *const *skip, ts_buf_t *out)
{
    ts_mp_reader_t rd;
    uint32_t n, kept = 0;
    ts_mp_reader_init (&rd, data, len);
    if (ts_mp_read_map (&rd, &n))
        return 0;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *start = rd.p;
        ts_mp_item_t k;
        if (ts_mp_next (&rd, &k) || ts_mp_skip (&rd))
            break;
        bool skipped = false;
        for (int j = 0; skip && skip [j] && !skipped; j++)
            skipped = ts_mp_item_is_str (&k, skip [j]);
        if (skipped)
            continue;
        ts_buf_append (out, start, (size_t) (rd.p - start));
        kept++;
    }
    return kept;
}

bool
ts_mp_reader_map_copy_str (const ts_mp_reader_t *map, const char *key, char *buf, size_t size)
{
    ts_mp_reader_t r;
    const char *p;
    uint32_t n;
    buf [0] = 0;
    if (!ts_mp_reader_map_find (map, key, &r) || ts_mp_read_str (&r, &p, &n))
        return false;
    if (n >= size)
        n = (uint32_t) size - 1;
    memcpy (buf, p ? p : "", n);
    buf [n] = 0;
    return true;
}
