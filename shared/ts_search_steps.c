/*  ts_search_steps.c: the text of a record's steps (ts_search_int.h): the
 *  profile's steps pointer resolved, each string of each step walked, and
 *  one record's tokens grouped by term (the checker's view of a record).
 */
#include "ts_search_int.h"
#include "ts_store_int.h"
#include "ts_error.h"
#include "ts_mp.h"
#include "ts_profile.h"

#include <stdlib.h>
#include <string.h>

#define S_DEPTH 64                      /* records nest at most 28 levels */


/*  Positions `r` at the value of one JSON pointer in the msgpack value at
 *  r ("" the whole value; a segment "*" the first member or element). */
static bool
s_pointer (ts_mp_reader_t *r, const char *ptr, size_t plen)
{
    size_t i = 0;
    if (plen == 0)
        return true;
    if (ptr [0] != '/')
        return false;
    while (i < plen) {
        char seg [TS_POINTER_MAX];
        size_t sl = 0;
        i++;                            /* the '/' */
        while (i < plen && ptr [i] != '/' && sl < sizeof seg) {
            if (ptr [i] == '~' && i + 1 < plen && (ptr [i + 1] == '0' || ptr [i + 1] == '1')) {
                seg [sl++] = ptr [i + 1] == '0' ? '~' : '/';
                i += 2;
            }
            else
                seg [sl++] = ptr [i++];
        }
        ts_mp_item_t it;
        if (ts_mp_next (r, &it))
            return false;
        bool star = sl == 1 && seg [0] == '*';
        if (it.type == TS_MP_MAP) {
            bool found = false;
            for (uint32_t k = 0; k < it.len && !found; k++) {
                ts_mp_item_t key;
                if (ts_mp_next (r, &key))
                    return false;
                if (star || (key.type == TS_MP_STR && key.len == sl && !memcmp (key.ptr, seg, sl)))
                    found = true;
                else if (ts_mp_skip (r))
                    return false;
            }
            if (!found)
                return false;
        }
        else if (it.type == TS_MP_ARRAY) {
            uint64_t idx = 0;
            if (!star) {
                if (sl == 0 || sl > 9)
                    return false;
                for (size_t k = 0; k < sl; k++) {
                    if (seg [k] < '0' || seg [k] > '9')
                        return false;
                    idx = idx * 10 + (uint64_t) (seg [k] - '0');
                }
            }
            if (idx >= it.len)
                return false;
            for (uint64_t k = 0; k < idx; k++)
                if (ts_mp_skip (r))
                    return false;
        }
        else
            return false;
    }
    return true;
}

/*  Walks the strings of one value that are not map keys, in order. */
static int
s_walk_value (ts_mp_reader_t *r, uint32_t step, search_str_fn *fn, void *arg)
{
    struct { uint64_t left; bool map, key_next; } st [S_DEPTH];
    int depth = 0, rc = 0;
    uint32_t pos = 0;
    do {
        ts_mp_item_t it;
        if (ts_mp_next (r, &it))
            return TS_ECORRUPT;
        bool key = false;
        if (depth > 0) {
            if (st [depth - 1].map) {
                key = st [depth - 1].key_next;
                st [depth - 1].key_next = !key;
            }
            st [depth - 1].left--;
        }
        if (it.type == TS_MP_STR && !key && it.len > 0) {
            if ((rc = fn (arg, step, it.ptr, it.len, &pos)))
                return rc;
            pos++;                      /* no phrase across two strings */
        }
        if ((it.type == TS_MP_ARRAY || it.type == TS_MP_MAP) && it.len > 0) {
            if (depth == S_DEPTH)
                return TS_ECORRUPT;
            st [depth].left = it.type == TS_MP_MAP ? 2 * (uint64_t) it.len : it.len;
            st [depth].map = it.type == TS_MP_MAP;
            st [depth].key_next = true;
            depth++;
        }
        while (depth > 0 && st [depth - 1].left == 0)
            depth--;
    } while (depth > 0);
    return 0;
}

int
search_walk_steps (const char *obj, size_t olen, const char *spec, size_t slen, int64_t only,
              const char **used, size_t *used_len, search_str_fn *fn, void *arg)
{
    *used = spec;
    *used_len = 0;
    size_t a = 0;
    while (a <= slen) {
        size_t b = a;
        while (b < slen && spec [b] != '|')
            b++;
        ts_mp_reader_t r;
        ts_mp_reader_init (&r, obj, olen);
        if (b > a && s_pointer (&r, spec + a, b - a)) {
            *used = spec + a;
            *used_len = b - a;
            ts_mp_item_t it;
            ts_mp_reader_t peek = r;
            if (ts_mp_next (&peek, &it) || it.type != TS_MP_ARRAY)
                return 0;
            r = peek;
            for (uint32_t i = 0; i < it.len; i++) {
                if (only >= 0 && i != (uint64_t) only) {
                    if (ts_mp_skip (&r))
                        return TS_ECORRUPT;
                    continue;
                }
                int rc = s_walk_value (&r, i, fn, arg);
                if (rc)
                    return rc;
                if (only >= 0)
                    break;
            }
            return 0;
        }
        a = b + 1;
    }
    return 0;
}

/* --- one record's terms, grouped ------------------------------------------ */

static int
s_tok_emit (void *arg, const char *tok, size_t len, uint32_t pos, ts_tok_kind_t kind,
            size_t off, size_t end)
{
    (void) kind; (void) off; (void) end;
    search_rec_t *r = arg;
    if (search_grow (&r->toks, &r->cap, r->ntoks + 1, sizeof *r->toks, 1024))
        return TS_ENOMEM;
    r->toks [r->ntoks] = (search_tok_t) { (uint32_t) r->arena.size, (uint32_t) len, r->step, pos,
                                          (uint32_t) r->ntoks };
    r->ntoks++;
    return ts_buf_append (&r->arena, tok, len) ? TS_ENOMEM : 0;
}

static int
s_rec_str (void *arg, uint32_t step, const char *s, size_t len, uint32_t *pos)
{
    search_rec_t *r = arg;
    r->step = step;
    return ts_text_tokens (s, len, pos, s_tok_emit, r);
}

static const char *s_sort_arena;

static int
s_tok_cmp (const void *a, const void *b)
{
    const search_tok_t *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp (s_sort_arena + x->off, s_sort_arena + y->off, n);
    if (c)
        return c;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

int
search_record_terms (search_rec_t *r, const char *obj, size_t olen, const char *spec,
                     size_t slen, const char **used, size_t *used_len, search_group_fn *fn, void *arg)
{
    r->arena.size = 0;
    r->ntoks = 0;
    int rc = search_walk_steps (obj, olen, spec, slen, -1, used, used_len, s_rec_str, r);
    if (rc)
        return rc;
    s_sort_arena = r->arena.data;       /* the worker's one thread */
    if (r->ntoks)                       /* toks is NULL before the first token */
        qsort (r->toks, r->ntoks, sizeof *r->toks, s_tok_cmp);
    for (size_t i = 0; i < r->ntoks && !rc; ) {
        size_t j = i;
        r->npairs = 0;
        while (j < r->ntoks && r->toks [j].len == r->toks [i].len
           &&  !memcmp (r->arena.data + r->toks [j].off, r->arena.data + r->toks [i].off, r->toks [i].len)) {
            if (search_grow (&r->pairs, &r->pairs_cap, r->npairs + 1, sizeof *r->pairs, 256))
                return TS_ENOMEM;
            uint64_t pr = (uint64_t) r->toks [j].step << 32 | r->toks [j].pos;
            /* a word and its one part at the same place count once */
            if (r->npairs == 0 || r->pairs [r->npairs - 1] != pr)
                r->pairs [r->npairs++] = pr;
            j++;
        }
        rc = fn (arg, r->arena.data + r->toks [i].off, r->toks [i].len, r->pairs, r->npairs);
        i = j;
    }
    return rc;
}

void
search_rec_free (search_rec_t *r)
{
    ts_buf_free (&r->arena);
    free (r->toks);
    free (r->pairs);
    memset (r, 0, sizeof *r);
}

