/*  ts_search_codec.c: the postings' encoding (ts_search_int.h): varints
 *  and the decoding of an F value, one record's posting at a time.
 */
#include "ts_search_int.h"
#include "ts_store_int.h"
#include "ts_error.h"

#include <stdlib.h>
#include <string.h>

/* --- varints ------------------------------------------------------------- */

size_t
search_varint (char *out, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        out [n++] = (char) (v | 0x80);
        v >>= 7;
    }
    out [n++] = (char) v;
    return n;
}

int
search_put_varint (ts_buf_t *b, uint64_t v)
{
    char tmp [10];
    return ts_buf_append (b, tmp, search_varint (tmp, v));
}

bool
search_get_varint (const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t c = *(*p)++;
        x |= (uint64_t) (c & 0x7F) << shift;
        if (!(c & 0x80)) {
            *v = x;
            return true;
        }
    }
    return false;
}

int
search_grow (void *arr, size_t *cap, size_t need, size_t size, size_t first)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : first;
    while (c < need)
        c *= 2;
    void *x = realloc (*(void **) arr, c * size);
    if (!x)
        return TS_ENOMEM;
    *(void **) arr = x;
    *cap = c;
    return 0;
}

/* --- an F value ------------------------------------------------------------ */

int
search_times_decode (const uint8_t *p, const uint8_t *end, uint64_t seg, search_times_t *t)
{
    uint64_t seq = seg;
    int64_t time = 0;
    t->n = 0;
    while (p < end) {
        uint64_t d, z;
        if (!search_get_varint (&p, end, &d) || !search_get_varint (&p, end, &z)
        ||  (t->n > 0 && d == 0))
            return TS_ECORRUPT;
        if (search_grow (&t->at, &t->cap, t->n + 1, sizeof *t->at, 256))
            return TS_ENOMEM;
        seq += d;
        time += search_unzz (z);
        t->at [t->n++] = (struct search_time) { seq, time };
    }
    return 0;
}

void
search_times_free (search_times_t *t)
{
    free (t->at);
    memset (t, 0, sizeof *t);
}

/*  The index of seq in t from `from` on (both ascending), or t->n.
 *  Galloping from `from`: a common term's next record is a step or two
 *  on, a rare term's far. */
static size_t
s_times_find (const search_times_t *t, size_t from, uint64_t seq)
{
    size_t lo = from, hi = t->n, step = 1;
    while (lo + step < hi && t->at [lo + step].seq < seq) {
        lo += step;
        step *= 2;
    }
    if (lo + step < hi)
        hi = lo + step + 1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->at [mid].seq < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < t->n && t->at [lo].seq == seq ? lo : t->n;
}

int
search_block_decode (const uint8_t *p, const uint8_t *end, uint64_t first,
                     const search_times_t *times, search_post_fn *fn, void *arg)
{
    uint64_t seq = first;
    size_t at = 0;
    while (p < end) {
        uint64_t d, n;
        if (!search_get_varint (&p, end, &d) || !search_get_varint (&p, end, &n)
        ||  n == 0 || n > (uint64_t) (end - p))
            return TS_ECORRUPT;
        seq += d;
        int64_t time = 0;
        if (times) {
            if ((at = s_times_find (times, at, seq)) == times->n)
                return TS_ECORRUPT;
            time = times->at [at].time;
        }
        search_post_t post = { seq, time, (uint32_t) n, 0, p };
        for (uint64_t i = 0; i < 2 * n; i++) {
            uint64_t x;
            if (!search_get_varint (&p, end, &x))
                return TS_ECORRUPT;
        }
        post.plen = (uint32_t) (p - post.pos);
        int rc = fn (arg, &post);
        if (rc)
            return rc;
    }
    return 0;
}

size_t
search_positions (const search_post_t *p, uint64_t *out, size_t max)
{
    const uint8_t *at = p->pos, *end = p->pos + p->plen;
    uint32_t step = 0, pos = 0;
    size_t n = 0;
    for (uint32_t i = 0; i < p->tf && n < max; i++) {
        uint64_t ds, x;
        if (!search_get_varint (&at, end, &ds) || !search_get_varint (&at, end, &x))
            break;
        step += (uint32_t) ds;
        pos = ds == 0 && i ? pos + (uint32_t) x : (uint32_t) x;
        out [n++] = (uint64_t) step << 32 | pos;
    }
    return n;
}
