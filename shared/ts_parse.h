/*  ts_parse.h: one input line -> one record (summary + msgpack object).
 *
 *  The parser is strict JSON (RFC 8259), built on simdjson's DOM parser
 *  (the fastest of the candidates measured: docs/DESIGN.md, "Decisions",
 *  and the commit that added it), with a small diagnostic pass on failure
 *  so that every bad line gets its own reason and column. A parser is not thread-safe: use
 *  one per thread.
 */
#ifndef TS_PARSE_H
#define TS_PARSE_H

#include "ts_profile.h"
#include "ts_record.h"

#ifdef __cplusplus
extern "C" {
#endif

/*  Bytes that must be readable (any value) after the end of a line passed
 *  to ts_parser_parse: simdjson reads ahead in blocks. A chunk buffer with
 *  this much slack at its end serves every line inside it. */
#define TS_PARSE_PADDING 64

typedef struct ts_parser ts_parser_t;

/*  A mapped field left unknown because its value did not fit (a string
 *  reward, an object where a time was expected): the record is stored
 *  without it. `field` is static ("reward"); `reason` names the pointer
 *  and the problem ("/reward: expected a number, got string"). */
#define TS_PARSE_WARNINGS_MAX 6         /* one per field but the id */
typedef struct {
    const char *field;
    char        reason [160];
} ts_parse_warning_t;

/*  A parser for records of `profile` (copied). NULL on allocation failure. */
ts_parser_t *ts_parser_new (const ts_profile_t *profile);

/*  Frees the parser and sets *self_p to NULL; safe on NULL. */
void ts_parser_destroy (ts_parser_t **self_p);

/*  Parses line number `lineno` (from 1) of its input (without its '\n'; a
 *  final '\r' is ignored) and appends the record, <summary><object> in
 *  msgpack, to `out`. The number names the record when its id comes from
 *  its line (ts_profile.h, attempt identity). *summary describes
 *  it; its strings stay valid until the next call on this parser.
 *  Returns 0; TS_EBADLINE with the reason in `reason` (out is left as it
 *  was); TS_ENOMEM. A mapped field other than the id whose value does
 *  not fit is left unknown in *summary, with a warning (ts_parser_warnings),
 *  unless the profile is strict. A line of only white space is the caller's to skip
 *  (ts_line_is_blank). */
int ts_parser_parse (ts_parser_t *self, const char *line, size_t len, uint64_t lineno,
                     int64_t ingested_ms, ts_buf_t *out, ts_summary_t *summary,
                     char *reason, size_t reason_size);

/*  The warnings of the last line parsed (0 to TS_PARSE_WARNINGS_MAX): valid
 *  until the next call on the parser. A strict profile has none: its
 *  misfits reject the line. */
int ts_parser_warnings (const ts_parser_t *self, const ts_parse_warning_t **list);

/*  Whether the last line parsed had an id under the profile (false: its id
 *  is the hash of its stored form). */
bool ts_parser_id_found (const ts_parser_t *self);

/*  Where the last line's stored id came from: its field, the run's line
 *  (RUN[:FILE]:LINE), or a hash of the record (ts_profile_record_id). */
ts_id_source_t ts_parser_id_source (const ts_parser_t *self);

/*  True when the line holds only spaces, tabs and a final '\r'. */
bool ts_line_is_blank (const char *line, size_t len);

/*  Strict JSON validation for diagnosis: the first problem in `text`, as
 *  "what, at column N" in `reason`. Returns 0 when the text is one valid
 *  JSON object, TS_EBADLINE otherwise. Slow path: used only after the fast
 *  parser refused a line. */
int ts_json_diagnose (const char *text, size_t len, char *reason, size_t reason_size);

#ifdef __cplusplus
}
#endif
#endif
