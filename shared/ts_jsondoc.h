/*  ts_jsondoc.h: JSON documents -> one record a line.
 *
 *  Agent frameworks write their results as JSON documents as often as JSONL:
 *  a file holding one object (SWE-agent's .traj, mini-swe-agent's
 *  .traj.json), an array of records (tau-bench's results, reflexion's
 *  env_results_trial_N.json), an inspect_ai eval log exported as JSON
 *  ({version, status, eval, ..., samples: [...]}). The splitter reads such
 *  a document as a stream of bytes and hands over its records one at a
 *  time, each as compact JSON text on one line (white space outside
 *  strings dropped), so that the producer imports them like JSONL and
 *  line N of the import is record N of the document.
 *
 *  What is a record: each top-level object (so JSONL and concatenated
 *  objects split too), each element of a top-level array, and, in an
 *  inspect_ai log (an object whose "eval" member comes before a "samples"
 *  array), each sample, given the log's eval object as a first member
 *  "eval" (its task, model, created and run_id are then there for the
 *  profile: /eval/model). The rest of a log (plan, results, stats) is not a
 *  record and is skipped.
 *
 *  It does not validate JSON (the worker's parser does, and names the line
 *  = record): it only tracks strings and nesting. A raw line break inside
 *  a string (invalid JSON) becomes a raw CR, which the parser refuses too.
 *
 *  Memory: one record at a time (at most record_max bytes, else an error
 *  naming the record) plus the log's eval object; never the document.
 */
#ifndef TS_JSONDOC_H
#define TS_JSONDOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ts_jsondoc ts_jsondoc_t;

/*  One top-level member of a record: its key (without quotes, as written)
 *  and its value's text, both pointing into `rec`. */
typedef struct {
    const char *key;
    size_t      key_len;
    const char *val;
    size_t      val_len;
} ts_jsondoc_member_t;

#define TS_JSONDOC_MEMBERS 64   /* members listed per record (more are kept, unlisted) */

/*  Called once a record: `rec` (len bytes, no line break), its top-level
 *  members when it is an object (up to TS_JSONDOC_MEMBERS; nmembers 0
 *  otherwise). Returns 0 to go on, else that code stops the splitter. */
typedef int (ts_jsondoc_emit_fn) (void *arg, const char *rec, size_t len,
                                  const ts_jsondoc_member_t *members, int nmembers);

/*  A splitter handing records of at most record_max bytes to emit. */
ts_jsondoc_t *ts_jsondoc_new (size_t record_max, ts_jsondoc_emit_fn *emit, void *arg);
void ts_jsondoc_destroy (ts_jsondoc_t **self_p);

/*  Feeds the next `len` bytes of the document. 0, the code emit returned,
 *  or TS_EBADLINE with ts_jsondoc_error saying where (byte offset and
 *  record number) and what; after an error the splitter stays failed. */
int ts_jsondoc_feed (ts_jsondoc_t *self, const char *buf, size_t len);

/*  The document ended: TS_EBADLINE when it ends inside a record. */
int ts_jsondoc_finish (ts_jsondoc_t *self);

const char *ts_jsondoc_error (const ts_jsondoc_t *self);

/*  Records handed over so far. */
uint64_t ts_jsondoc_records (const ts_jsondoc_t *self);

/*  True once an inspect_ai log was recognised. */
bool ts_jsondoc_saw_log (const ts_jsondoc_t *self);

#ifdef __cplusplus
}
#endif
#endif
