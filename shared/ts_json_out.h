/*  ts_json_out.h: a small streaming JSON writer, for the programs' --json
 *  output (one object a line) and any other JSON we produce.
 *
 *  The writer appends to a ts_buf_t the caller owns; it places the commas
 *  and colons itself, so a caller only says what comes next:
 *
 *      ts_json_out_t j;
 *      ts_json_out_init (&j, &buf);
 *      ts_json_out_object_begin (&j);
 *      ts_json_out_key (&j, "pid");   ts_json_out_int (&j, 42);
 *      ts_json_out_key (&j, "name");  ts_json_out_str (&j, "w1");
 *      ts_json_out_object_end (&j);
 *      if (ts_json_out_error (&j)) ... else fwrite (buf.data, 1, buf.size, f);
 *
 *  Errors are sticky: after the first failure (TS_ENOMEM, or TS_EINVAL for
 *  a misuse such as nesting deeper than TS_JSON_OUT_MAX_DEPTH or closing
 *  what was not opened) every later call does nothing, and
 *  ts_json_out_error returns that first code, so a caller checks once at
 *  the end. Strings are always valid JSON text: '"', '\\' and control
 *  characters are escaped, and bytes that are not valid UTF-8 are written
 *  as U+FFFD, so a stray byte in a path or a log line cannot break a
 *  consumer's parser. Doubles that are not finite are written as null.
 */
#ifndef TS_JSON_OUT_H
#define TS_JSON_OUT_H

#include "ts_mp.h"
#include "ts_record.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*  Levels of object/array the writer itself opens. Values written from
 *  msgpack (ts_json_out_mp) may nest deeper: they do not use this stack. */
#define TS_JSON_OUT_MAX_DEPTH 32

typedef struct {
    ts_buf_t *out;                              /* borrowed, appended to */
    int       depth;
    bool      has_items [TS_JSON_OUT_MAX_DEPTH + 1];
    bool      is_object [TS_JSON_OUT_MAX_DEPTH + 1];
    bool      after_key;                        /* a value must follow */
    int       rc;                               /* first error, sticky */
} ts_json_out_t;

/*  Starts writing at the end of `out` (not cleared: the caller may have
 *  text there already). */
void ts_json_out_init (ts_json_out_t *j, ts_buf_t *out);

void ts_json_out_object_begin (ts_json_out_t *j);
void ts_json_out_object_end (ts_json_out_t *j);
void ts_json_out_array_begin (ts_json_out_t *j);
void ts_json_out_array_end (ts_json_out_t *j);

/*  The key of the next member; only inside an object. */
void ts_json_out_key (ts_json_out_t *j, const char *key);

/*  Values. A NULL string writes null. */
void ts_json_out_str (ts_json_out_t *j, const char *s);
void ts_json_out_strn (ts_json_out_t *j, const char *s, size_t len);
void ts_json_out_int (ts_json_out_t *j, int64_t v);
void ts_json_out_uint (ts_json_out_t *j, uint64_t v);
void ts_json_out_double (ts_json_out_t *j, double v);
void ts_json_out_bool (ts_json_out_t *j, bool v);
void ts_json_out_null (ts_json_out_t *j);

/*  Writes the next msgpack value of `r` (a whole value, containers
 *  included) as one JSON value and advances `r` past it. Scalars are
 *  written here (bin and ext as null); maps and arrays go through
 *  ts_mp_to_json (below), so their strings are escaped as stored
 *  records are. Returns 0, or TS_ECORRUPT when `r` does not hold a
 *  well-formed value (or a container holds bin or ext, or a non-string
 *  key): then nothing is written, `r` is left where it was, and the
 *  writer's state is unchanged, so the caller may write something else
 *  (null, say) in its place. TS_ENOMEM (sticky) when memory runs out. */
int ts_json_out_mp (ts_json_out_t *j, ts_mp_reader_t *r);

/*  0, or the first error (TS_ENOMEM, TS_EINVAL). TS_EINVAL also when
 *  containers are still open or a key awaits its value. */
int ts_json_out_error (const ts_json_out_t *j);

/*  Writes the JSON text of one msgpack value (a stored object) to `out`,
 *  growing it as needed; no trailing newline. Floats print in their
 *  shortest form that reads back to the same double, always with a '.' or
 *  an exponent so they stay floats; strings escape '"', '\\' and control
 *  characters as ts_json_escape does. Returns 0, TS_ECORRUPT for
 *  bytes that are not msgpack, or TS_ENOMEM. */
int ts_mp_to_json (const void *data, size_t len, ts_buf_t *out);

/*  Appends `len` bytes of `s` to `out` as a quoted JSON string, escaped as
 *  described above. Returns 0 or TS_ENOMEM. */
int ts_json_escape (ts_buf_t *out, const char *s, size_t len);

#ifdef __cplusplus
}
#endif
#endif
