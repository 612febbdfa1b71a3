/*  ts_store_meta.c: the numbers a shard keeps under one-byte keys, the
 *  mapping of Kyoto Cabinet's errors to ours, and the stored totals (parts
 *  of a shard: ts_store_int.h).
 */
#include "ts_store_int.h"
#include "ts_error.h"
#include "ts_key.h"
#include "ts_mp.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*  The number under a one-byte key ('P', 'V', 'N'): true when it holds one. */
bool
store_get_num (KCDB *db, const char *key, int64_t *v)
{
    char b [16];
    if (kcdbgetbuf (db, key, 1, b, sizeof b) != 8)
        return false;
    *v = ts_key_get_i64 (b);
    return true;
}

uint64_t
store_load_next_seq (KCDB *db)
{
    int64_t v;
    return store_get_num (db, s_next_key, &v) ? (uint64_t) v : 1;
}

const char *
ts_store_path (const ts_store_t *self)
{
    return self->path;
}

const char *
ts_store_errmsg (const ts_store_t *self)
{
    return self->errmsg;
}

/*  Maps Kyoto Cabinet's error to ours, with the message saved. */
int
store_kc_error (ts_store_t *self, const char *what)
{
    int saved = errno;
    int code = kcdbecode (self->db);
    snprintf (self->errmsg, sizeof self->errmsg, "%s: %s: %s (%s%s%s)", self->path, what,
              code == KCESYSTEM && saved ? strerror (saved) : kcecodename (code),
              kcdbemsg (self->db), code == KCESYSTEM && saved ? ", " : "",
              code == KCESYSTEM && saved ? kcecodename (code) : "");
    return store_kc_code (code, saved, kcdbemsg (self->db), false);
}

int
store_kc_code (int code, int saved, const char *msg, bool opening)
{
    if (opening) {
        /* a file that is not a Kyoto Cabinet B+ tree (errno is whatever
         * KC's last system call left: not the reason) */
        if (code == KCEBROKEN || (code == KCEINVALID && strstr (msg, "magic")))
            return TS_ECORRUPT;
        if (saved == EACCES && !strstr (msg, "lock"))
            return -EACCES;
        /* with KCOTRYLOCK a lock held elsewhere fails fcntl ("fcntl
         * failed"): errno may be another call's by then (ASan builds) */
        if (saved == EAGAIN || saved == EACCES || strstr (msg, "lock") || strstr (msg, "fcntl"))
            return TS_ELOCKED;
        if (saved == ENOSPC)
            return -ENOSPC;
        if (code == KCENOPERM || saved == EROFS || saved == EPERM)
            return -EACCES;
        return saved == ENOENT ? -ENOENT : TS_ESTORE;
    }
    if (code == KCESYSTEM && (saved == ENOSPC || saved == EDQUOT || strstr (msg, "space")))
        return -ENOSPC;
    if (code == KCENOPERM || (code == KCESYSTEM && saved == EACCES))
        return -EACCES;
    if (code == KCEBROKEN)
        return TS_ECORRUPT;
    return TS_ESTORE;
}

/*  Writes the number under a one-byte key; `what` names it in an error. */
int
store_set_num (ts_store_t *self, const char *key, int64_t v, const char *what)
{
    char b [8];
    ts_key_put_i64 (b, v);
    return kcdbset (self->db, key, 1, b, 8) ? 0 : store_kc_error (self, what);
}

static int
s_get_totals (ts_store_t *self, const char *key, size_t klen, ts_totals_t *out)
{
    size_t vlen;
    char *v = kcdbget (self->db, key, klen, &vlen);
    if (!v) {
        ts_totals_init (out);
        return kcdbecode (self->db) == KCENOREC ? TS_ENOTFOUND : store_kc_error (self, "get totals");
    }
    int rc = ts_totals_unpack (v, vlen, out, NULL);
    kcfree (v);
    return rc ? TS_ECORRUPT : 0;
}

int
ts_store_totals (ts_store_t *self, ts_totals_t *out)
{
    assert (self && out);
    char key [1] = { TS_TAG_SHARD_TOTALS };
    int rc = s_get_totals (self, key, 1, out);
    return rc == TS_ENOTFOUND ? 0 : rc;
}

int
ts_store_group_totals (ts_store_t *self, const char *group, size_t len, ts_totals_t *out)
{
    assert (self && (group || len == 0) && out);
    char key [TS_KEY_MAX];
    if (len > TS_GROUP_MAX_BYTES)
        return TS_ENOTFOUND;
    int rc = s_get_totals (self, key, ts_key_group_totals (key, group, len), out);
    /* and what waits for the next pass (ts_store_ids.c) */
    const ts_totals_t *w = ts_map_size (self->qpend) ? ts_map_get (self->qpend, group, len) : NULL;
    if (w && w->count && (rc == 0 || rc == TS_ENOTFOUND)) {
        ts_totals_merge (out, w);
        rc = 0;
    }
    return rc;
}

int
ts_store_model_totals (ts_store_t *self, const char *model, size_t len, ts_totals_t *out)
{
    assert (self && (model || len == 0) && out);
    char key [TS_KEY_MAX];
    if (len > TS_MODEL_MAX_BYTES)
        return TS_ENOTFOUND;
    return s_get_totals (self, key, ts_key_model_totals (key, model, len), out);
}
