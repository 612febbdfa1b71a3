/*  ts_mp.h: a zero-copy, bounds-checked msgpack pull reader, and small
 *  helpers around msgpack-c's packer.
 *
 *  Writing goes through msgpack-c (msgpack_packer over a msgpack_sbuffer).
 *  Reading untrusted bytes (wire frames, stored records) goes through this
 *  reader instead of msgpack_unpack: it allocates nothing, never recurses
 *  (so no nesting limit of its own), points into the input for strings, and
 *  reports truncated or malformed input as an error instead of reading past
 *  the end. Borrowed pointers stay valid as long as the input buffer does.
 */
#ifndef TS_MP_H
#define TS_MP_H

#include "ts_buf.h"

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    TS_MP_NIL, TS_MP_BOOL, TS_MP_UINT, TS_MP_INT, TS_MP_FLOAT,
    TS_MP_STR, TS_MP_BIN, TS_MP_ARRAY, TS_MP_MAP, TS_MP_EXT
} ts_mp_type_t;

/*  One decoded item. For STR/BIN/EXT, `ptr`/`len` borrow the input; for
 *  ARRAY/MAP, `len` is the element (pair) count and the elements follow. */
typedef struct {
    ts_mp_type_t type;
    bool     b;
    uint64_t u;          /* UINT: value */
    int64_t  i;          /* INT (negative only, as msgpack encodes): value */
    double   f;          /* FLOAT: value (float32 widened) */
    const char *ptr;
    uint32_t len;
    int8_t   ext_type;
} ts_mp_item_t;

typedef struct {
    const uint8_t *p;
    const uint8_t *end;
} ts_mp_reader_t;

/*  Start reading `len` bytes at `data`. */
void ts_mp_reader_init (ts_mp_reader_t *r, const void *data, size_t len);

/*  Reads the next item header into *item. Returns 0, or TS_EPROTO when the
 *  input is truncated or uses a reserved byte (0xc1). A container's count
 *  is checked against the bytes left (every element needs one byte), so a
 *  forged count cannot make a caller loop for long. */
int ts_mp_next (ts_mp_reader_t *r, ts_mp_item_t *item);

/*  Skips one whole value (containers included) without recursion. */
int ts_mp_skip (ts_mp_reader_t *r);

/*  True when every byte has been read. */
bool ts_mp_at_end (const ts_mp_reader_t *r);

/*  Typed readers: 0 on success, TS_EPROTO when the next item is not of that
 *  type (the reader is then left in an unspecified position). */
int ts_mp_read_str (ts_mp_reader_t *r, const char **ptr, uint32_t *len);
int ts_mp_read_uint (ts_mp_reader_t *r, uint64_t *value);
int ts_mp_read_int (ts_mp_reader_t *r, int64_t *value);
int ts_mp_read_double (ts_mp_reader_t *r, double *value);   /* int or float */
int ts_mp_read_array (ts_mp_reader_t *r, uint32_t *count);
int ts_mp_read_map (ts_mp_reader_t *r, uint32_t *count);

/*  True when the item is a string equal to the NUL-terminated `s`. */
bool ts_mp_item_is_str (const ts_mp_item_t *item, const char *s);

/*  Appends the key/value pairs of the msgpack map in `data` to `out` as
 *  they are, all but those whose key is one of `skip` (a NULL-terminated
 *  list); stops at the first pair that does not decode. Returns how many
 *  pairs it appended (0 when `data` is not a map). */
uint32_t ts_mp_map_copy_pairs (const void *data, size_t len, const char *const *skip,
                               ts_buf_t *out);
/*  The same against `n` bytes (a key looked for many times, measured once). */
bool ts_mp_item_is_strn (const ts_mp_item_t *item, const char *s, size_t n);

/*  Packs a NUL-terminated string, or a byte range, as a msgpack str. */
int ts_mp_pack_cstr (msgpack_packer *pk, const char *s);
int ts_mp_pack_strn (msgpack_packer *pk, const char *s, size_t len);

/*  Finds `key` among the top-level keys of the msgpack map in `data` and
 *  positions `value` at its value. False when absent or malformed. */
bool ts_mp_map_find (const void *data, size_t len, const char *key, ts_mp_reader_t *value);

/*  The same for the map at the reader's position (the reader is not moved). */
bool ts_mp_reader_map_find (const ts_mp_reader_t *map, const char *key, ts_mp_reader_t *value);

/*  Copies the string value of `key` in the map at the reader's position
 *  into buf (cut to fit `size`, at least 1, NUL-terminated). False, and
 *  buf "", when the key is absent or its value is not a string. */
bool ts_mp_reader_map_copy_str (const ts_mp_reader_t *map, const char *key, char *buf, size_t size);

/*  Depth of the deepest container in one value (1 for a flat map).
 *  Returns the depth, or TS_EPROTO for malformed input. */
int ts_mp_depth (const void *data, size_t len);

#ifdef __cplusplus
}
#endif
#endif
