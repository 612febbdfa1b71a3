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
 *
 *  An import adds its context to the spec (trajstore-producer does, from
 *  --run, --set and --id); these items say nothing about where fields are:
 *
 *      run=NAME        the run every record of the import belongs to
 *      file=NAME       the input's name within the run, when a run has
 *                      several files (absent when the file is the run's
 *                      namesake or stdin)
 *      ids=MODE        attempt identity: auto (default), line or content
 *      set.KEY=VALUE   a constant for records that do not name it: "model"
 *                      fills the model; other keys are run metadata
 *      notext=1        the records' steps are not text-indexed (import
 *                      --no-text-index): the shards then hold no H entry
 *                      for them (ts_search.h)
 *
 *  Attempt identity (ts_profile_record_id says which id a record gets):
 *  two attempts are never one record unless they carry the same explicit
 *  per-attempt id. Under `auto` a record whose profile id is a per-attempt
 *  id (ts_profile_id_per_attempt) is stored under it; any other record of
 *  a run is stored under "RUN[:FILE]:LINE", so re-importing a file into
 *  its run finds duplicates and another run's lines are new attempts.
 *  `line` always uses the line; `content` is the store's behaviour before
 *  runs: the profile's id when present, else the hash of the record.
 *  Without a run, `auto` behaves as `content`.
 *  Run names and values cannot hold ',' (the spec's separator) nor control
 *  characters.
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
#define TS_PROFILE_SETS   8     /* set.KEY=VALUE items */
#define TS_SET_KEY_MAX    64
#define TS_SET_VALUE_MAX  256
#define TS_RUN_NAME_MAX   128   /* == TS_RUN_MAX_BYTES (ts_record.h) */
#define TS_RUN_FILE_MAX   256
#define TS_PROFILE_SPEC_MAX 1024 /* a spec as chunks carry it, with its NUL */
#define TS_TEXT_SPEC_MAX (TS_PROFILE_ALTS * (TS_POINTER_MAX + 1))  /* ts_profile_text_spec */

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

typedef enum { TS_IDS_AUTO = 0, TS_IDS_LINE, TS_IDS_CONTENT } ts_ids_mode_t;

typedef struct {
    char key [TS_SET_KEY_MAX];
    char value [TS_SET_VALUE_MAX];
} ts_profile_set_t;

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
    bool   id_given;            /* the spec's overrides set the id */
    bool   no_text;             /* notext=1: no full-text index (import
                                   --no-text-index; ts_search.h) */
    /* the import's context (see above) */
    char   run [TS_RUN_NAME_MAX + 1];
    char   file [TS_RUN_FILE_MAX + 1];
    ts_ids_mode_t ids;
    int    nsets;
    ts_profile_set_t sets [TS_PROFILE_SETS];
} ts_profile_t;

/*  True when the profile's id names one attempt across runs (above); when
 *  false, a run must tell attempts apart (run + line number). The one
 *  place that decides it: each built-in says it (default's /id and
 *  inspect's /uuid do; a task's name or index, reflexion's /name,
 *  AgentBench's /index, SWE-bench's /instance_id, or tau's task_id+trial,
 *  which repeats in every run, do not); a spec that overrides the id says
 *  it with id_per_attempt=1. */
static inline bool ts_profile_id_per_attempt (const ts_profile_t *p) { return p->id_per_attempt; }

/*  Fills *out from a spec (see above). Returns 0, or TS_EINVAL with a
 *  message in err naming the bad part. */
int ts_profile_parse (const char *spec, ts_profile_t *out, char *err, size_t err_size);

/*  The names of the built-in profiles, NULL-terminated. */
extern const char *const ts_profile_names [];


/*  Where a record's id comes from, given the alternative of the profile's
 *  id that the record holds (-1: none): attempt identity as above. */
typedef enum { TS_ID_FROM_FIELD, TS_ID_FROM_LINE, TS_ID_FROM_CONTENT } ts_id_source_t;
ts_id_source_t ts_profile_record_id (const ts_profile_t *p, int alt);

/*  The value of set.KEY, or NULL. */
const char *ts_profile_set_value (const ts_profile_t *p, const char *key);

/*  Checks a run name, a file name or a set value for the spec: 1..max
 *  bytes, no ',' and no control character. 0, or TS_EINVAL with the
 *  reason in err. */
int ts_profile_check_text (const char *what, const char *text, size_t max,
                           char *err, size_t err_size);

/*  The run a file imports into by default: its name without directory and
 *  without its .jsonl, .json, .traj, .gz, .zst suffixes ("logs/trial_0.jsonl.gz"
 *  -> "trial_0"). 0, or TS_EINVAL when nothing is left or it does not fit. */
int ts_profile_run_of_path (const char *path, char *out, size_t size);

/*  True when a file named `own` (ts_profile_run_of_path; "" for stdin) is
 *  its run's namesake: the run is `own`, or PREFIX/`own`. Records of any
 *  other file of a run are named RUN:FILE:LINE (file=, above). */
bool ts_profile_run_is_namesake (const char *run, const char *own);

/*  The spec an import of `input` (a path, "-" for stdin) sends with its
 *  chunks: `profile` (NULL: default) plus the context items: the run
 *  (`run`, else the input's ts_profile_run_of_path; stdin needs one), the
 *  file within the run (the input's run name, unless the run is named
 *  after it: equal to it, or ending in "/" and it), ids= from `ids` (NULL,
 *  "auto", "line", "content") and set.KEY=VALUE from each "KEY=VALUE" of
 *  `sets`. The result is parsed to check it. 0, or TS_EINVAL with the
 *  reason in err (naming the option: --run, --set, --id, --profile). */
int ts_profile_import_spec (const char *profile, const char *input, const char *run,
                            const char *const *sets, int nsets, const char *ids,
                            char *out, size_t size, char *err, size_t err_size);

/*  The steps pointer alternatives whose text the full-text index holds
 *  ("/traj|/messages", ts_search.h) into buf: their length, or 0 when
 *  nothing is indexed (notext=1, or no steps pointer). */
int ts_profile_text_spec (const ts_profile_t *p, char *buf, size_t size);

/*  Writes the profile back as a spec that ts_profile_parse accepts. */
int ts_profile_format (const ts_profile_t *p, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif
