/*  cli_docin.h: what `trajstore import` does to an input before the
 *  producer sees it: JSON documents (.json, .traj: one object, an array of
 *  records, an inspect_ai log) are split into one record a line
 *  (ts_jsondoc.h), and --join FILE:KEY adds the members of FILE's record
 *  with the same KEY to each record. The records go down a pipe into the
 *  producer's stdin, so nothing is written to disk and memory holds one
 *  record (at most --max-line, 64 MiB by default) plus the join table
 *  (the joined file, kept whole: a results file, small next to the dump).
 *
 *  The join file is JSONL, a JSON array of objects, or a SWE-bench harness
 *  run report ({"resolved_ids": [...], "unresolved_ids": [...], ...}),
 *  read as {KEY: id, "resolved": true|false} for every id listed there.
 *  A record's own members win: a joined member is added only when the
 *  record has no member of that name.
 */
#ifndef CLI_DOCIN_H
#define CLI_DOCIN_H

#include "ts_jsondoc.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cli_join cli_join_t;

/*  Loads `spec` (FILE:KEY). NULL with a message in err. */
cli_join_t *cli_join_load (const char *spec, size_t record_max, char *err, size_t err_size);
void cli_join_destroy (cli_join_t **self_p);

/*  Writes rec, with the joined members when its KEY matches, into `out`
 *  (a growing buffer: *out, *out_size). Returns the length written, or
 *  -1 when out of memory; *matched says whether a record matched. */
long cli_join_apply (cli_join_t *self, const char *rec, size_t len,
                     const ts_jsondoc_member_t *members, int nmembers,
                     char **out, size_t *out_size, bool *matched);

/*  True when the file should go through the splitter: a name ending in
 *  .json or .traj (before .gz / .zst). */
bool cli_docin_is_document (const char *path);

/*  True for a SWE-agent trajectory: a name ending in .traj or .traj.json
 *  (before .gz / .zst). */
bool cli_docin_is_traj (const char *path);

/*  The run of a SWE-agent trajectory imported without --run: its
 *  directory's name (the real path's), or the one above when the
 *  directory is named after the instance (SWE-agent and mini-swe-agent
 *  write RUN_DIR/<instance>/<instance>.traj). Into `out` (size bytes);
 *  -1 when no name can be made (the root, a name too long). */
int cli_docin_traj_run (const char *path, char *out, size_t size);

/*  Reads `path` (plain, gzip or zstd; "-" stdin) through the splitter and
 *  the join (may be NULL), calling emit for each record (after the join).
 *  `limit`: stop after that many records (0: all). 0, or 2 with a message
 *  naming the file, byte and record on stderr. *records: records handed
 *  over; *matched: records the join matched. */
int cli_docin_run (const char *path, size_t record_max, cli_join_t *join, uint64_t limit,
                   ts_jsondoc_emit_fn *emit, void *arg, uint64_t *records, uint64_t *matched);

#endif
