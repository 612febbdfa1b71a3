/*  ts_http_route.c: the gateway's routes, and the api request each HTTP
 *  request becomes (ts_http.h, docs/HTTP.md). Nothing here speaks HTTP:
 *  the server (ts_http.c) gives the URL and its query parameters, and
 *  sends what comes back.
 *
 *  Every route is a row of s_routes: its path, the api op it becomes, and
 *  the query parameters it takes, each of a type of s_params (how its text
 *  becomes a msgpack field). A parameter a route does not take, or one
 *  given twice that cannot repeat, is refused by name (400), so a typo
 *  never silently widens a listing. GET /v1 lists the routes and their
 *  parameters from the same table: the test that checks the OpenAPI
 *  description against the server reads it.
 */
#include "ts_http.h"
#include "ts_json_out.h"
#include "ts_mp.h"
#include "ts_parse.h"
#include "ts_profile.h"
#include "ts_record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- parameters and routes --------------------------------------------------------- */

typedef enum {
    P_STR,          /* one string */
    P_STRS,         /* repeatable: a string, or an array of them when repeated */
    P_BOOL,         /* true/false/1/0 */
    P_RANGE,        /* "lo:hi", either side empty: [lo|nil, hi|nil] numbers */
    P_TIMES,        /* "from..to" (or "from:to" of epoch ms): ints or ISO strings */
    P_UINT          /* a non-negative integer */
} s_ptype_t;

typedef struct {
    const char *name;
    s_ptype_t   type;
    const char *field;                   /* the request field it becomes */
} s_param_t;

static const s_param_t s_params [] = {
    { "group", P_STRS, "group" }, { "run", P_STR, "run" }, { "model", P_STR, "model" },
    { "success", P_BOOL, "success" }, { "reward", P_RANGE, "reward" },
    { "created", P_TIMES, "created" }, { "sort", P_STR, "sort" }, { "limit", P_UINT, "limit" },
    { "cursor", P_STR, "cursor" }, { "fields", P_STR, "fields" }, { "only", P_STR, "only" },
    { "offset", P_UINT, "offset" }, { "page", P_UINT, "limit" }, { "a", P_STR, "a" },
    { "b", P_STR, "b" }, { "q", P_STR, "q" }, { "order", P_STR, "order" },
    { "label", P_STRS, "label" }, { "no_label", P_STRS, "no_label" },
    { "key", P_STR, "key" }, { "per_model", P_BOOL, "per_model" }, { "after", P_STR, "after" },
    { NULL, P_STR, NULL }
};

#define S_FILTERS "group", "run", "model", "success", "reward", "created", "label", "no_label"

static const ts_hroute_t s_routes [] = {
    { "/v1/records", TS_HROUTE_API, "list", NULL,
      { S_FILTERS, "sort", "limit", "cursor", "fields", NULL } },
    { "/v1/records/{id}", TS_HROUTE_API, "get", "id", { NULL } },
    { "/v1/count", TS_HROUTE_API, "count", NULL, { S_FILTERS, NULL } },
    { "/v1/search", TS_HROUTE_API, "search", NULL, { "q", S_FILTERS, "order", "limit", "after", NULL } },
    { "/v1/export", TS_HROUTE_EXPORT, "export", NULL, { S_FILTERS, "sort", "page", NULL } },
    { "/v1/stats", TS_HROUTE_API, "stats", NULL, { "run", NULL } },
    { "/v1/groups", TS_HROUTE_API, "groups", NULL,
      { "run", "only", "sort", "limit", "offset", "label", "no_label", NULL } },
    { "/v1/runs", TS_HROUTE_API, "runs", NULL, { NULL } },
    { "/v1/runs/compare", TS_HROUTE_API, "compare", NULL, { "a", "b", NULL } },
    { "/v1/jobs/{job}", TS_HROUTE_API, "job", "job", { NULL } },
    { "/v1/health", TS_HROUTE_API, "health", NULL, { NULL } },
    { "/v1/labels", TS_HROUTE_API, "labels", NULL, { S_FILTERS, "key", "per_model", NULL } },
    { "/v1/labels/{id}", TS_HROUTE_API, "labels", "id", { NULL } },
    { "/v1/profiles", TS_HROUTE_PROFILES, NULL, NULL, { NULL } },
    { "/v1/openapi.json", TS_HROUTE_OPENAPI, NULL, NULL, { NULL } },
    { "/v1", TS_HROUTE_INDEX, NULL, NULL, { NULL } },
    { NULL, TS_HROUTE_INDEX, NULL, NULL, { NULL } }
};

/*  POST /v1/labels: the op "label" with "where", the query's filters. */
const ts_hroute_t ts_hroute_label_where = {
    "/v1/labels", TS_HROUTE_API, "label", NULL, { S_FILTERS, NULL }
};

static const s_param_t *
s_param (const char *name)
{
    for (int i = 0; s_params [i].name; i++)
        if (!strcmp (s_params [i].name, name))
            return &s_params [i];
    return NULL;
}

static bool
s_route_takes (const ts_hroute_t *r, const char *name)
{
    for (int i = 0; r->params [i]; i++)
        if (!strcmp (r->params [i], name))
            return true;
    return false;
}

const ts_hroute_t *
ts_hroute_find (const char *url, const char **arg)
{
    *arg = NULL;
    size_t ulen = strlen (url);
    if (ulen > 3 && url [ulen - 1] == '/')
        ulen--;                           /* "/v1/stats/" is "/v1/stats" */
    for (int i = 0; s_routes [i].path; i++) {
        const char *p = s_routes [i].path, *brace = strchr (p, '{');
        if (!brace) {
            if (strlen (p) == ulen && !strncmp (p, url, ulen))
                return &s_routes [i];
            continue;
        }
        size_t pre = (size_t) (brace - p);
        if (ulen > pre && !strncmp (p, url, pre)) {
            *arg = url + pre;             /* everything after: ids may hold '/' */
            return &s_routes [i];
        }
    }
    return NULL;
}

static int
s_count_of (const ts_hargs_t *a, const char *name)
{
    int n = 0;
    for (int i = 0; i < a->n; i++)
        n += !strcmp (a->key [i], name);
    return n;
}

static bool
s_all_digits (const char *s, size_t n)
{
    size_t i = n > 0 && s [0] == '-' ? 1 : 0;
    if (i == n || n > 18)
        return false;
    for (; i < n; i++)
        if (s [i] < '0' || s [i] > '9')
            return false;
    return true;
}

/*  One time bound: nil, epoch ms, or the text for the api to read as ISO 8601. */
static void
s_pack_time (msgpack_packer *pk, const char *s, size_t n)
{
    if (n == 0)
        msgpack_pack_nil (pk);
    else if (s_all_digits (s, n)) {
        char tmp [24];
        memcpy (tmp, s, n);
        tmp [n] = 0;
        msgpack_pack_int64 (pk, strtoll (tmp, NULL, 10));
    }
    else
        ts_mp_pack_strn (pk, s, n);
}

/*  Adds the value(s) of parameter `p` to the request; 0 or 400 in *a. */
static int
s_pack_param (const s_param_t *p, const ts_hargs_t *args, ts_req_t *q, ts_hanswer_t *a)
{
    int count = s_count_of (args, p->name);
    if (count > 1 && p->type != P_STRS) {
        ts_hanswer_error (a, 400, "BAD_REQUEST", "parameter \"%s\": given %d times, once at most",
                          p->name, count);
        return -1;
    }
    const char *v = NULL;
    for (int i = 0; i < args->n && !v; i++)
        if (!strcmp (args->key [i], p->name))
            v = args->val [i];
    size_t n = strlen (v);
    ts_req_key (q, p->field);
    switch (p->type) {
    case P_STR:
        ts_mp_pack_strn (&q->pk, v, n);
        return 0;
    case P_STRS:
        if (count > 1)
            msgpack_pack_array (&q->pk, (size_t) count);
        for (int i = 0; i < args->n; i++)
            if (!strcmp (args->key [i], p->name))
                ts_mp_pack_cstr (&q->pk, args->val [i]);
        return 0;
    case P_BOOL:
        if (!strcmp (v, "true") || !strcmp (v, "1")) msgpack_pack_true (&q->pk);
        else if (!strcmp (v, "false") || !strcmp (v, "0")) msgpack_pack_false (&q->pk);
        else break;
        return 0;
    case P_RANGE: {
        bool hl, hh;
        double lo = 0, hi = 0;
        if (!ts_req_range (v, &hl, &lo, &hh, &hi))
            break;
        msgpack_pack_array (&q->pk, 2);
        if (hl) msgpack_pack_double (&q->pk, lo); else msgpack_pack_nil (&q->pk);
        if (hh) msgpack_pack_double (&q->pk, hi); else msgpack_pack_nil (&q->pk);
        return 0;
    }
    case P_TIMES: {
        /* ISO times hold colons: "from..to"; a single colon splits epoch ms */
        const char *sep = strstr (v, "..");
        size_t slen = 2;
        if (!sep && (sep = strchr (v, ':')) && !strchr (sep + 1, ':'))
            slen = 1;
        else if (!sep)
            break;
        msgpack_pack_array (&q->pk, 2);
        s_pack_time (&q->pk, v, (size_t) (sep - v));
        s_pack_time (&q->pk, sep + slen, strlen (sep + slen));
        return 0;
    }
    case P_UINT:
        if (n == 0 || n > 15 || strspn (v, "0123456789") != n)
            break;
        msgpack_pack_uint64 (&q->pk, strtoull (v, NULL, 10));
        return 0;
    }
    static const char *const want [] = {
        [P_STR] = "a string", [P_STRS] = "a string",
        [P_BOOL] = "true or false", [P_RANGE] = "LO:HI (numbers, either may be empty)",
        [P_TIMES] = "FROM..TO (epoch ms or ISO 8601, either may be empty)",
        [P_UINT] = "a non-negative integer"
    };
    ts_hanswer_error (a, 400, "BAD_REQUEST", "parameter \"%s\": want %s, got \"%.100s\"",
                      p->name, want [p->type], v);
    return -1;
}

int
ts_hroute_request (ts_hapi_t *api, const ts_hroute_t *r, const char *arg, const ts_hargs_t *args,
                   ts_req_t *q, ts_hanswer_t *a)
{
    if (args->too_many) {
        ts_hanswer_error (a, 400, "BAD_REQUEST", "more than %d query parameters", TS_HTTP_MAX_ARGS);
        return -1;
    }
    for (int i = 0; i < args->n; i++)
        if (!s_route_takes (r, args->key [i])) {
            char known [400] = "";
            for (int k = 0; r->params [k]; k++)
                snprintf (known + strlen (known), sizeof known - strlen (known), "%s%s",
                          k ? ", " : "", r->params [k]);
            ts_hanswer_error (a, 400, "BAD_REQUEST", "parameter \"%.100s\": %s takes %s%s",
                              args->key [i], r->path, known [0] ? "" : "no parameters",
                              known);
            return -1;
        }
    /* an api without runs would ignore the field and answer unfiltered */
    if (s_count_of (args, "run") > 0 && !ts_hapi_knows_runs (api)) {
        ts_hanswer_error (a, 501, "UNKNOWN_OP", "parameter \"run\": this trajstore-api does not "
                          "know runs (it answers the op \"runs\" with UNKNOWN_OP)");
        return -1;
    }
    ts_req_begin (q, r->op);
    if (r->id_field) {
        ts_req_key (q, r->id_field);
        ts_mp_pack_cstr (&q->pk, arg);
    }
    for (int k = 0; r->params [k]; k++)
        if (s_count_of (args, r->params [k]) > 0
        &&  s_pack_param (s_param (r->params [k]), args, q, a)) {
            ts_req_free (q);
            return -1;
        }
    return 0;
}

/* --- answers made here ----------------------------------------------------------------- */

void
ts_hroute_index (ts_hapi_t *api, ts_hanswer_t *a)
{
    ts_json_out_t j;
    a->status = 200;
    ts_json_out_init (&j, &a->body);
    ts_json_out_object_begin (&j);
    ts_json_out_key (&j, "endpoints");
    ts_json_out_array_begin (&j);
    for (int i = 0; s_routes [i].path; i++) {
        ts_json_out_object_begin (&j);
        ts_json_out_key (&j, "path");     ts_json_out_str (&j, s_routes [i].path);
        ts_json_out_key (&j, "op");       ts_json_out_str (&j, s_routes [i].op);
        ts_json_out_key (&j, "params");
        ts_json_out_array_begin (&j);
        for (int k = 0; s_routes [i].params [k]; k++)
            ts_json_out_str (&j, s_routes [i].params [k]);
        ts_json_out_array_end (&j);
        ts_json_out_object_end (&j);
    }
    ts_json_out_array_end (&j);
    /* what the api behind knows beyond protocol version 1's first ops */
    ts_json_out_key (&j, "api");
    ts_json_out_object_begin (&j);
    ts_json_out_key (&j, "runs");     ts_json_out_bool (&j, ts_hapi_knows_runs (api));
    ts_json_out_object_end (&j);
    ts_json_out_object_end (&j);
}

void
ts_hroute_profiles (ts_hanswer_t *a)
{
    ts_json_out_t j;
    a->status = 200;
    ts_json_out_init (&j, &a->body);
    ts_json_out_object_begin (&j);
    ts_json_out_key (&j, "profiles");
    ts_json_out_array_begin (&j);
    for (int i = 0; ts_profile_names [i]; i++) {
        ts_profile_t p;
        char err [256], spec [2048];
        if (ts_profile_parse (ts_profile_names [i], &p, err, sizeof err)
        ||  ts_profile_format (&p, spec, sizeof spec))
            continue;
        ts_json_out_object_begin (&j);
        ts_json_out_key (&j, "name");  ts_json_out_str (&j, ts_profile_names [i]);
        ts_json_out_key (&j, "spec");  ts_json_out_str (&j, spec);
        ts_json_out_key (&j, "steps");
        ts_json_out_array_begin (&j);
        for (int k = 0; k < p.steps.nalts; k++)
            ts_json_out_str (&j, p.steps.alts [k].parts [0]);
        ts_json_out_array_end (&j);
        ts_json_out_object_end (&j);
    }
    ts_json_out_array_end (&j);
    ts_json_out_object_end (&j);
}
