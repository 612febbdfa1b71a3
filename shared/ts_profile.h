/*  ts_profile.h: where a record's indexed fields are, as JSON pointers.
 *
 *  A profile spec is a built-in name, optionally followed by overrides,
 *  or overrides alone (applied to "default"), separated by commas:
 *
 *      default
 *      tau
 *      default,reward=/info/reward_info/reward,group=/question_id
 *      success=reward>=0.5
 *
 *  Fields: id, group, model, reward, success, created, steps.
 *  A field's value is one or more alternatives separated by '|': the first
 *  alternative present in the record wins (`group=/task_id|/name`). An id
 *  alternative may join several pointers with '+' (`id=/task_id+/trial`):
 *  the parts' texts joined by ':' form the id. `success` is a pointer (bool
 *  or 0/1), `reward>=X`, or `/pointer==text` (a string compared to text).
 *  `coerce=1` accepts numbers written as strings for reward and "true" /
 *  "false" strings for success. `grades=1` reads inspect_ai's letter
 *  grades as rewards (C 1, I 0, P 0.5, N 0). An empty pointer list
 *  (`model=`) disables the field.
 *
 *  Pointers: a segment `*` takes the first member of an object or the
 *  first element of an array (inspect's scores: "/scores/" "*" "/value",
 *  the first scorer's value). A group or model pointer written `#/pointer` takes the 32 hex
 *  characters of the hash of the text there instead of the text (a long
 *  prompt as a group).
 *
 *  `strict=1`: a mapped field whose value has the wrong type rejects the
 *  line; without it (the default) the record is stored with that field
 *  unknown and a warning (ts_parser_warnings). The id's problems always
 *  reject.
 *
 *  `id_per_attempt=1` says that the profile's id names one attempt and
 *  nothing else, across runs (a uuid per sample); a profile whose id names
 *  the task (reflexion's `name`) or is only unique inside one run
 *  (tau's task_id+trial) has it 0. Overriding `id` sets it to 0 unless the
 *  same spec says `id_per_attempt=1`.
 */
#ifndef TS_PROFILE_H
#define TS_PROFILE_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TS_PROFILE_ALTS   4     /* alternatives a field */
#define TS_PROFILE_PARTS  4     /* parts of a composite id */
#define TS_POINTER_MAX    128   /* bytes of one JSON pointer */

typedef struct {
    int  nparts;
    char parts [TS_PROFILE_PARTS][TS_POINTER_MAX];
} ts_field_alt_t;

typedef struct {
    int nalts;
    ts_field_alt_t alts [TS_PROFILE_ALTS];
} ts_field_t;

typedef enum {
    TS_SUCCESS_FROM_FIELD,      /* bool or 0/1 at a pointer */
    TS_SUCCESS_REWARD_GE,       /* reward >= threshold */
    TS_SUCCESS_EQUALS           /* string at a pointer equals text */
} ts_success_kind_t;

typedef struct {
    char name [32];
    ts_field_t id, group, model, reward, success, created, steps;
    ts_success_kind_t success_kind;
    double success_threshold;
    char   success_equals [128];
    bool   coerce;
    bool   grades;              /* inspect_ai letter grades as rewards */
    bool   strict;              /* a misfit field rejects the line */
    bool   id_per_attempt;      /* the id names one attempt across runs */
} ts_profile_t;

/*  True when the profile's id names one attempt across runs (above); when
 *  false, a run must tell attempts apart (run + line number). */
static inline bool ts_profile_id_per_attempt (const ts_profile_t *p) { return p->id_per_attempt; }

/*  Fills *out from a spec (see above). Returns 0, or TS_EINVAL with a
 *  message in err naming the bad part. */
int ts_profile_parse (const char *spec, ts_profile_t *out, char *err, size_t err_size);

/*  The names of the built-in profiles, NULL-terminated. */
extern const char *const ts_profile_names [];

/*  Writes the profile back as a spec that ts_profile_parse accepts. */
int ts_profile_format (const ts_profile_t *p, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif
