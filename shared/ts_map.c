/*  ts_map.c: byte-keyed hash map (ts_map.h). */
#include "ts_map.h"
#include "ts_error.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

typedef struct {
    char    *key;        /* NULL: empty; s_tomb: deleted */
    size_t   len;
    uint64_t hash;
    void    *value;
} s_entry_t;

struct ts_map {
    s_entry_t *e;
    size_t cap, size, tombs;
    void (*free_value) (void *);
};

static char s_tomb_mark;
#define s_tomb (&s_tomb_mark)

ts_map_t *
ts_map_new (void (*free_value) (void *))
{
    ts_map_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->cap = 16;
    self->e = calloc (self->cap, sizeof *self->e);
    if (!self->e) {
        free (self);
        return NULL;
    }
    self->free_value = free_value;
    return self;
}

void
ts_map_clear (ts_map_t *self)
{
    assert (self);
    for (size_t i = 0; i < self->cap; i++) {
        s_entry_t *e = &self->e [i];
        if (e->key && e->key != s_tomb) {
            if (self->free_value && e->value)
                self->free_value (e->value);
            free (e->key);
        }
        e->key = NULL;
    }
    self->size = self->tombs = 0;
}

void
ts_map_destroy (ts_map_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ts_map_t *self = *self_p;
    ts_map_clear (self);
    free (self->e);
    free (self);
    *self_p = NULL;
}

static s_entry_t *
s_find (const ts_map_t *self, const void *key, size_t len, uint64_t h)
{
    size_t i = (size_t) h & (self->cap - 1);
    for (;;) {
        s_entry_t *e = &self->e [i];
        if (!e->key)
            return NULL;
        if (e->key != s_tomb && e->hash == h && e->len == len && !memcmp (e->key, key, len))
            return e;
        i = (i + 1) & (self->cap - 1);
    }
}

void *
ts_map_get (const ts_map_t *self, const void *key, size_t len)
{
    assert (self && (key || len == 0));
    s_entry_t *e = s_find (self, key, len, XXH3_64bits (key, len));
    return e ? e->value : NULL;
}

static int
s_grow (ts_map_t *self)
{
    size_t cap = self->size * 4 > self->cap ? self->cap * 2 : self->cap;
    s_entry_t *old = self->e;
    size_t oldcap = self->cap;
    s_entry_t *e = calloc (cap, sizeof *e);
    if (!e)
        return TS_ENOMEM;
    self->e = e;
    self->cap = cap;
    self->tombs = 0;
    for (size_t i = 0; i < oldcap; i++) {
        if (!old [i].key || old [i].key == s_tomb)
            continue;
        size_t j = (size_t) old [i].hash & (cap - 1);
        while (e [j].key)
            j = (j + 1) & (cap - 1);
        e [j] = old [i];
    }
    free (old);
    return 0;
}

int
ts_map_put (ts_map_t *self, const void *key, size_t len, void *value)
{
    assert (self && (key || len == 0));
    uint64_t h = XXH3_64bits (key, len);
    s_entry_t *e = s_find (self, key, len, h);
    if (e) {
        if (self->free_value && e->value && e->value != value)
            self->free_value (e->value);
        e->value = value;
        return 0;
    }
    if ((self->size + self->tombs + 1) * 4 > self->cap * 3 && s_grow (self))
        return TS_ENOMEM;
    char *copy = malloc (len ? len : 1);
    if (!copy)
        return TS_ENOMEM;
    if (len)
        memcpy (copy, key, len);
    size_t i = (size_t) h & (self->cap - 1);
    while (self->e [i].key && self->e [i].key != s_tomb)
        i = (i + 1) & (self->cap - 1);
    if (self->e [i].key == s_tomb)
        self->tombs--;
    self->e [i].key = copy;
    self->e [i].len = len;
    self->e [i].hash = h;
    self->e [i].value = value;
    self->size++;
    return 0;
}

void *
ts_map_take (ts_map_t *self, const void *key, size_t len)
{
    assert (self && (key || len == 0));
    s_entry_t *e = s_find (self, key, len, XXH3_64bits (key, len));
    if (!e)
        return NULL;
    void *v = e->value;
    free (e->key);
    e->key = s_tomb;
    e->value = NULL;
    self->size--;
    self->tombs++;
    return v;
}

bool
ts_map_delete (ts_map_t *self, const void *key, size_t len)
{
    assert (self && (key || len == 0));
    s_entry_t *e = s_find (self, key, len, XXH3_64bits (key, len));
    if (!e)
        return false;
    void *v = ts_map_take (self, key, len);
    if (self->free_value && v)
        self->free_value (v);
    return true;
}

size_t
ts_map_size (const ts_map_t *self)
{
    assert (self);
    return self->size;
}

bool
ts_map_next (const ts_map_t *self, size_t *pos, const void **key, size_t *len, void **value)
{
    assert (self && pos);
    while (*pos < self->cap) {
        s_entry_t *e = &self->e [(*pos)++];
        if (e->key && e->key != s_tomb) {
            if (key) *key = e->key;
            if (len) *len = e->len;
            if (value) *value = e->value;
            return true;
        }
    }
    return false;
}
