/*  cli_query.h: what the read commands of the `trajstore` CLI share (not
 *  a public API): the api client and its reply readers (cli_client.c), the
 *  options and filters of the commands (cli_query.c), and the commands:
 *  get, list, count, export (cli_query.c); stats, groups, job, health,
 *  check (cli_report.c); search (cli_search.c).
 */
#ifndef CLI_QUERY_H
#define CLI_QUERY_H

#include "cli_common.h"
#include "ts_mp.h"
#include "ts_query.h"
#include "ts_record.h"
#include "ts_request.h"

#include <czmq.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define S_ANSWER_MS      15000       /* patience for one reply */
#define S_LIST_PAGE      100         /* list's default page */
#define S_ALL_PAGE       1000        /* list --all's default page */
#define S_EXPORT_PAGE    1000        /* export's default page */
#define S_TEXT_MAX       40          /* widest group or model in a table */
#define S_BAR_WIDTH      40          /* the histogram's longest bar */

typedef struct {
    const char *cmd;                 /* "list": names the command in messages */
    bool        local;               /* the endpoint is the data directory's */
    char        endpoint [TS_PATH_MAX];
    char        data [TS_PATH_MAX];
    zsock_t    *sock;
    uint64_t    rid;                 /* of the request in flight */
    int64_t     answer_ms;           /* patience for one reply (0: S_ANSWER_MS) */
    zframe_t   *reply;               /* the last good reply, owned */
    ts_mp_reader_t map;              /* its top-level map */
} s_client_t;
enum {
    O_DATA = 256, O_API, O_JSON, O_TABLE, O_HELP, O_GROUP, O_MODEL, O_REWARD, O_SUCCESS,
    O_FAILURE, O_CREATED, O_SORT, O_LIMIT, O_CURSOR, O_RECORDS, O_ALL, O_ONLY, O_OFFSET,
    O_QUIET, O_RUN, O_ORDER, O_LABEL, O_NO_LABEL, O_AUTHOR, O_REMOVE, O_WHERE, O_IMPORT, O_WITH_LABELS,
    O_BY, O_PER_MODEL, O_REQUEST, O_JOB, O_REJECTS, O_AFTER
};

#define S_COMMON_OPTS \
    { "data", required_argument, 0, O_DATA }, { "api", required_argument, 0, O_API }, \
    { "json", no_argument, 0, O_JSON }, { "help", no_argument, 0, O_HELP }

#define S_FILTER_OPTS \
    { "group", required_argument, 0, O_GROUP }, { "model", required_argument, 0, O_MODEL }, \
    { "reward", required_argument, 0, O_REWARD }, { "success", no_argument, 0, O_SUCCESS }, \
    { "failure", no_argument, 0, O_FAILURE }, { "created", required_argument, 0, O_CREATED }, \
    { "sort", required_argument, 0, O_SORT }, { "limit", required_argument, 0, O_LIMIT }, \
    { "run", required_argument, 0, O_RUN }, { "label", required_argument, 0, O_LABEL }, \
    { "no-label", required_argument, 0, O_NO_LABEL }

typedef struct {
    const char *data, *api;
    bool        json, table, help;
} s_common_t;

typedef struct {
    const char *groups [TS_QUERY_MAX_GROUPS];
    int         ngroups;
    const char *model;
    const char *run;
    bool        has_reward, has_lo, has_hi;
    double      lo, hi;
    int         success;            /* -1: any */
    bool        has_created, has_from, has_to;
    int64_t     from, to;
    const char *labels [TS_QUERY_MAX_LABELS];  /* --label KEY[=VALUE], --no-label KEY */
    bool        no_label [TS_QUERY_MAX_LABELS];
    int         nlabels;
    const char *sort;
    uint32_t    limit;              /* 0: the command's default */
    const char *cursor;
    bool        records;
} s_filter_t;

/* cli_client.c */
int cq_client_open (s_client_t *c, const char *cmd, const char *data_flag, const char *api_flag);
void cq_client_close (s_client_t *c);
int cq_client_call (s_client_t *c, ts_req_t *q);
bool cq_get_double (const ts_mp_reader_t *map, const char *key, double *v);
bool cq_get_int (const ts_mp_reader_t *map, const char *key, int64_t *v);
uint64_t cq_get_uint (const ts_mp_reader_t *map, const char *key);
int cq_get_bool (const ts_mp_reader_t *map, const char *key);
bool cq_get_str (const ts_mp_reader_t *map, const char *key, char *buf, size_t size);
bool cq_write_line (const char *cmd, const char *data, size_t len);
bool cq_print_json_value (const char *cmd, ts_mp_reader_t r, bool skip_envelope);
void cq_print_pretty (FILE *out, const char *s, size_t n);
void cq_format_iso (int64_t ms, char *buf, size_t size);
void cq_format_num (bool has, double v, char *buf, size_t size);
void cq_format_ratio (bool has, double v, char *buf, size_t size);
void cq_cut (char *s, int width);
int cq_rows (const s_client_t *c, const char *cmd, const char *key, ts_mp_reader_t *rows, uint32_t *n);
int cq_print_rows (const char *cmd, ts_mp_reader_t rows, uint32_t n);
int cq_name_width (ts_mp_reader_t rows, uint32_t n, const char *key, int min);

/* cli_labels.c: stats and groups with --by label:KEY hand over here */
int ts_cli_labels_run (const char *cmd, int argc, char **argv);
bool cq_wants_by_label (int argc, char **argv);
int cq_show_labels (s_client_t *c, const char *id);
int cq_export_with_labels (s_client_t *c, const s_filter_t *f, const char *member, uint32_t limit);

/* cli_query.c */
/*  A new filter, nothing filtered (the caller frees it); NULL after saying
 *  "out of memory" for command `cmd`. */
s_filter_t *cq_filter_new (const char *cmd);
/*  Packs the listing fields of `f` (and `cursor`, when not NULL). */
void cq_pack_listing (ts_req_t *q, const s_filter_t *f, uint32_t limit, const char *cursor);
bool cq_parse_uint (const char *s, uint64_t lo, uint64_t hi, uint64_t *v);
bool cq_sort_valid (const char *s, const char *const *names);
int cq_start (const char *cmd, int argc, char **argv, const struct option *opts, s_common_t *co, s_filter_t *f, int (*extra) (const char *, int, const char *, void *), void *ctx, int nargs, s_client_t *c);
int cq_done (int rc);
bool cq_filter_used (const s_filter_t *f);
int cq_parse_args (const char *cmd, int argc, char **argv, const struct option *opts, s_common_t *co, s_filter_t *f, int (*extra) (const char *cmd, int c, const char *arg, void *ctx), void *ctx);

#endif
