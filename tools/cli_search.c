/*  cli_search.c: `trajstore search 'WORDS' [FILTERS] [--limit N] [--order
 *  newest|relevance] [--after CURSOR]`: the records whose steps hold every word (a "quoted
 *  phrase" consecutively), with the step of the first hit and a snippet
 *  around it (the protocol's "search", docs/PROTOCOL.md; the query
 *  language, docs/SEARCH.md). On a terminal: a summary line and the
 *  snippet under it a hit; else (or --json) one JSON object a hit.
 */
#include "cli_query.h"
#include "ts_search.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    const char *order;
    const char *after;          /* the "next" of the page before */
} s_search_extra_t;

static int
s_extra (const char *cmd, int c, const char *arg, void *ctx)
{
    s_search_extra_t *x = ctx;
    if (c == O_AFTER) {
        x->after = arg;
        return 0;
    }
    if (c != O_ORDER)
        return 1;
    if (strcmp (arg, "newest") && strcmp (arg, "relevance")) {
        fprintf (stderr, "trajstore %s: --order wants newest or relevance, not '%s'\n", cmd, arg);
        return 2;
    }
    x->order = arg;
    return 0;
}

/*  One hit for a person: id, group, model, reward, success, step, then
 *  the snippet indented. */
static void
s_print_hit (ts_mp_reader_t item)
{
    char id [TS_ID_MAX_BYTES + 1] = "-", group [TS_GROUP_MAX_BYTES + 1] = "-";
    char model [TS_MODEL_MAX_BYTES + 1] = "-", reward [40], snippet [1024] = "";
    double d;
    cq_get_str (&item, "id", id, sizeof id);
    cq_get_str (&item, "group", group, sizeof group);
    cq_get_str (&item, "model", model, sizeof model);
    cq_cut (group, S_TEXT_MAX);
    cq_cut (model, S_TEXT_MAX);
    bool has = cq_get_double (&item, "reward", &d);
    cq_format_num (has, d, reward, sizeof reward);
    int ok = cq_get_bool (&item, "success");
    uint64_t step = cq_get_uint (&item, "step");
    cq_get_str (&item, "snippet", snippet, sizeof snippet);
    printf ("%s  group %s  model %s  reward %s  success %s  step %llu\n    %s\n", id, group,
            model, reward, ok < 0 ? "-" : ok ? "yes" : "no", (unsigned long long) step, snippet);
}

int
ts_cli_cmd_search (int argc, char **argv)
{
    static const struct option opts [] = {
        S_COMMON_OPTS, S_FILTER_OPTS,
        { "order", required_argument, 0, O_ORDER }, { "after", required_argument, 0, O_AFTER },
        { 0, 0, 0, 0 }
    };
    s_common_t co = { 0 };
    s_filter_t *f = cq_filter_new ("search");
    if (!f)
        return 1;
    s_search_extra_t x = { NULL, NULL };
    s_client_t c;
    int rc = cq_start ("search", argc, argv, opts, &co, f, s_extra, &x, 1, &c);
    if (rc) {
        free (f);
        return cq_done (rc);
    }
    if (f->sort) {
        fprintf (stderr, "trajstore search: --sort does not apply: --order newest|relevance\n");
        cq_client_close (&c);
        free (f);
        return 2;
    }
    const char *words = argv [optind];
    bool human = !co.json && isatty (STDOUT_FILENO);
    ts_req_t q = { 0 };
    ts_req_begin (&q, "search");
    ts_req_key (&q, "q");
    ts_mp_pack_cstr (&q.pk, words);
    if (x.order) {
        ts_req_key (&q, "order");
        ts_mp_pack_cstr (&q.pk, x.order);
    }
    if (x.after) {
        ts_req_key (&q, "after");
        ts_mp_pack_cstr (&q.pk, x.after);
    }
    cq_pack_listing (&q, f, f->limit, NULL);
    if ((rc = cq_client_call (&c, &q)) == 0) {
        ts_mp_reader_t items;
        uint32_t n;
        if (!ts_mp_reader_map_find (&c.map, "items", &items) || ts_mp_read_array (&items, &n)) {
            fprintf (stderr, "trajstore search: the api's answer has no items\n");
            rc = 2;
        }
        for (uint32_t i = 0; rc == 0 && i < n; i++) {
            if (human)
                s_print_hit (items);
            else if (!cq_print_json_value ("search", items, false))
                rc = 1;
            if (ts_mp_skip (&items))
                break;
        }
        if (rc == 0 && human && n == 0)
            printf ("(no records match)\n");
        char next [TS_SEARCH_CURSOR_MAX] = "";
        if (rc == 0 && cq_get_bool (&c.map, "more") == 1) {
            if (cq_get_str (&c.map, "next", next, sizeof next))
                fprintf (stderr, "next page: --after %s\n", next);
            else
                fprintf (stderr, "more records match: --limit N (at most %d) shows more\n",
                         TS_QUERY_MAX_LIMIT);
        }
        if (rc == 0 && fflush (stdout)) {
            fprintf (stderr, "trajstore search: cannot write the output: %s\n", strerror (errno));
            rc = 1;
        }
    }
    ts_buf_free (&q.body);
    cq_client_close (&c);
    free (f);
    return rc;
}
