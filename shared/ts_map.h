/*  ts_map.h: a hash map from byte strings to pointers (open addressing,
 *  linear probing, tombstones; keys are copied, values are the caller's).
 *  czmq's zhashx wants NUL-terminated keys; group names may hold NUL, so
 *  the processes use this instead.
 */
#ifndef TS_MAP_H
#define TS_MAP_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ts_map ts_map_t;

/*  A new empty map, or NULL. `free_value` (may be NULL) is called on values
 *  removed by ts_map_delete or left at ts_map_destroy. */
ts_map_t *ts_map_new (void (*free_value) (void *));
void ts_map_destroy (ts_map_t **self_p);

/*  The value of a key, or NULL. */
void *ts_map_get (const ts_map_t *self, const void *key, size_t len);

/*  Inserts or replaces (the old value is freed). 0 or TS_ENOMEM. */
int ts_map_put (ts_map_t *self, const void *key, size_t len, void *value);

/*  Removes a key; frees its value. True if it was there. */
bool ts_map_delete (ts_map_t *self, const void *key, size_t len);

/*  Removes a key without freeing its value, which is returned (or NULL). */
void *ts_map_take (ts_map_t *self, const void *key, size_t len);

size_t ts_map_size (const ts_map_t *self);

/*  Iteration: start with *pos = 0; returns false at the end. The map must
 *  not change during the walk, except through ts_map_delete/take of the
 *  entry just returned. key, len and value may each be NULL (not wanted). */
bool ts_map_next (const ts_map_t *self, size_t *pos, const void **key, size_t *len, void **value);

/*  Empties the map (values freed). */
void ts_map_clear (ts_map_t *self);

#ifdef __cplusplus
}
#endif
#endif
