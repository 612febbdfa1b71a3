/*  ts_profile.c: built-in field profiles and the profile spec parser
 *  (the syntax is in ts_profile.h). */
#include "ts_profile.h"
#include "ts_error.h"
#include "ts_record.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const ts_profile_names [] = {
    "default", "tau", "swe", "agentbench", "reflexion", "verl", "verifiers", "inspect", NULL
};

/*  Each built-in is a spec of overrides over an empty profile. Where each
 *  framework writes these fields, and the fixture that checks it, is in
 *  tests/fixtures/README.md. */
static const char *const s_builtin [] = {
    /* default: the common agent-trajectory dump (trajstore-gen's) */
    "id=/id,group=/data_id,model=/model,reward=/reward,success=/is_success,"
    "created=/created_at,steps=/trajectory,id_per_attempt=1",
    /* tau-bench results / historical trajectories: one per (task, trial);
     * task_id+trial repeats in every run of the same tasks */
    "id=/task_id+/trial,group=/task_id,model=/model|/info/model,reward=/reward,"
    "success=reward>=1,created=/created_at|/timestamp,steps=/traj|/messages",
    /* SWE-agent .traj, mini-swe-agent .traj.json, SWE-bench predictions;
     * resolved comes from the SWE-bench report (import --join) */
    "id=/id|/instance_id+/model_name_or_path|/instance_id,group=/instance_id,"
    "model=/model_name_or_path|/info/config/model/model_name|/model,reward=/reward,"
    "success=/resolved,created=/created_at,steps=/trajectory|/messages|/history",
    /* AgentBench runs.jsonl: {index, output: {status, result, history}, time} */
    "id=/id|/index,group=/index|/task_id,model=/model|/agent,"
    "reward=/output/result/reward|/output/result/score|/reward,"
    "success=/output/result/result|/output/result/is_correct|/output/result/success|/is_success,"
    "created=/time|/created_at,steps=/output/history|/history",
    /* reflexion: ALFWorld/WebShop env_results_trial_N.json (name, memory,
     * is_success), programming runs .jsonl (task_id, is_solved) */
    "id=/task_id|/name,group=/task_id|/name,model=/model,reward=/reward,"
    "success=/is_solved|/is_success,created=/created_at,"
    "steps=/implementations|/trajectory|/history|/steps",
    /* verl rollout dumps ({step}.jsonl: input, output, score, step): the
     * prompt's hash is the group */
    "id=,group=#/input|#/prompt,model=/model,reward=/score|/reward,success=reward>=1,"
    "created=/created_at|/timestamp,steps=",
    /* verifiers (vf-eval results.jsonl) and prime-rl rollouts: vf-eval's
     * `id` is the example's index, shared by its rollouts (verifiers
     * utils/eval_utils.py, ids = [i // r ...]): the group, never the id */
    "id=/rollout_id,group=/group_id|/example_id|/id|#/prompt,model=/model|/policy_model,"
    "reward=/reward,success=reward>=1,created=/timestamp|/created_at,"
    "steps=/completion|/trajectory",
    /* inspect_ai eval log samples (import a log exported as JSON: each
     * sample gets the log's `eval` object) */
    "id=/uuid,group=/eval/task+/id,model=/output/model|/eval/model,"
    "reward=/scores/*/value,grades=1,success=reward>=1,created=/eval/created,"
    "steps=/messages,id_per_attempt=1",
};

static int
s_fail (char *err, size_t size, const char *fmt, const char *what)
{
    if (err && size)
        snprintf (err, size, fmt, what);
    return TS_EINVAL;
}

static int
s_parse_field (const char *val, ts_field_t *f, bool allow_parts, char *err, size_t size)
{
    memset (f, 0, sizeof *f);
    if (!*val)
        return 0;                       /* disabled */
    char buf [1024];
    if (strlen (val) >= sizeof buf)
        return s_fail (err, size, "field value too long: %.40s", val);
    strcpy (buf, val);
    char *save = NULL;
    for (char *alt = strtok_r (buf, "|", &save); alt; alt = strtok_r (NULL, "|", &save)) {
        if (f->nalts == TS_PROFILE_ALTS)
            return s_fail (err, size, "too many alternatives in '%s'", val);
        ts_field_alt_t *a = &f->alts [f->nalts++];
        char *psave = NULL;
        for (char *part = strtok_r (alt, "+", &psave); part; part = strtok_r (NULL, "+", &psave)) {
            if (!allow_parts && a->nparts == 1)
                return s_fail (err, size, "only an id or a group may join pointers "
                               "with '+': '%s'", val);
            if (a->nparts == TS_PROFILE_PARTS)
                return s_fail (err, size, "too many '+' parts in '%s'", val);
            if (part [0] != '/' && !(part [0] == '#' && part [1] == '/'))
                return s_fail (err, size, "a JSON pointer starts with '/' (or '#/' for "
                               "its text's hash): '%s'", part);
            if (strlen (part) >= TS_POINTER_MAX)
                return s_fail (err, size, "JSON pointer too long: '%.40s'", part);
            strcpy (a->parts [a->nparts++], part);
        }
        if (a->nparts == 0)
            return s_fail (err, size, "empty alternative in '%s'", val);
    }
    return 0;
}

static bool
s_flag (const char *val)
{
    return !strcmp (val, "1") || !strcmp (val, "true");
}

int
ts_profile_check_text (const char *what, const char *text, size_t max, char *err, size_t size)
{
    size_t len = strlen (text);
    if (len == 0 || len > max) {
        if (err && size)
            snprintf (err, size, "%s must have 1 to %zu bytes", what, max);
        return TS_EINVAL;
    }
    for (size_t i = 0; i < len; i++)
        if (text [i] == ',' || (unsigned char) text [i] < 0x20 || text [i] == 0x7f) {
            if (err && size)
                snprintf (err, size, "%s '%.60s' holds a ',' or a control character", what, text);
            return TS_EINVAL;
        }
    return 0;
}

static int
s_add_set (ts_profile_t *p, const char *key, const char *val, char *err, size_t size)
{
    int rc = ts_profile_check_text ("a set key", key, TS_SET_KEY_MAX - 1, err, size);
    if (rc == 0)
        rc = ts_profile_check_text ("a set value", val, TS_SET_VALUE_MAX - 1, err, size);
    if (rc)
        return rc;
    int i = 0;
    while (i < p->nsets && strcmp (p->sets [i].key, key))
        i++;                            /* a key set twice: the last wins */
    if (i == TS_PROFILE_SETS)
        return s_fail (err, size, "more than %s set.KEY items", "8");
    strcpy (p->sets [i].key, key);
    strcpy (p->sets [i].value, val);
    if (i == p->nsets)
        p->nsets++;
    return 0;
}

ts_id_source_t
ts_profile_record_id (const ts_profile_t *p, int alt)
{
    bool run = p->run [0] != 0;
    if (p->ids == TS_IDS_CONTENT || (!run && p->ids == TS_IDS_AUTO))
        return alt >= 0 ? TS_ID_FROM_FIELD : TS_ID_FROM_CONTENT;
    if (p->ids == TS_IDS_AUTO && alt >= 0 && ts_profile_id_per_attempt (p))
        return TS_ID_FROM_FIELD;
    return TS_ID_FROM_LINE;
}

const char *
ts_profile_set_value (const ts_profile_t *p, const char *key)
{
    for (int i = 0; i < p->nsets; i++)
        if (!strcmp (p->sets [i].key, key))
            return p->sets [i].value;
    return NULL;
}

static int
s_apply (ts_profile_t *p, const char *spec, char *err, size_t size)
{
    bool id_set = false, per_attempt_set = false;
    char buf [4096];
    if (strlen (spec) >= sizeof buf)
        return s_fail (err, size, "profile spec too long: %.40s", spec);
    strcpy (buf, spec);
    char *save = NULL;
    for (char *item = strtok_r (buf, ",", &save); item; item = strtok_r (NULL, ",", &save)) {
        char *eq = strchr (item, '=');
        if (!eq)
            return s_fail (err, size, "expected field=pointer, got '%s'", item);
        *eq = 0;
        const char *key = item, *val = eq + 1;
        int rc = 0;
        if (!strcmp (key, "id")) {
            rc = s_parse_field (val, &p->id, true, err, size);
            id_set = true;
        }
        else if (!strcmp (key, "group"))   rc = s_parse_field (val, &p->group, true, err, size);
        else if (!strcmp (key, "model"))   rc = s_parse_field (val, &p->model, false, err, size);
        else if (!strcmp (key, "reward"))  rc = s_parse_field (val, &p->reward, false, err, size);
        else if (!strcmp (key, "created")) rc = s_parse_field (val, &p->created, false, err, size);
        else if (!strcmp (key, "steps"))   rc = s_parse_field (val, &p->steps, false, err, size);
        else if (!strcmp (key, "coerce"))  p->coerce = s_flag (val);
        else if (!strcmp (key, "grades"))  p->grades = s_flag (val);
        else if (!strcmp (key, "strict"))  p->strict = s_flag (val);
        else if (!strcmp (key, "notext"))  p->no_text = s_flag (val);
        else if (!strcmp (key, "id_per_attempt")) {
            p->id_per_attempt = s_flag (val);
            per_attempt_set = true;
        }
        else if (!strcmp (key, "run") || !strcmp (key, "file")) {
            bool run = key [0] == 'r';
            size_t max = run ? TS_RUN_NAME_MAX : TS_RUN_FILE_MAX;
            if ((rc = ts_profile_check_text (key, val, max, err, size)) == 0)
                strcpy (run ? p->run : p->file, val);
        }
        else if (!strcmp (key, "ids")) {
            if (!strcmp (val, "auto"))         p->ids = TS_IDS_AUTO;
            else if (!strcmp (val, "line"))    p->ids = TS_IDS_LINE;
            else if (!strcmp (val, "content")) p->ids = TS_IDS_CONTENT;
            else
                return s_fail (err, size, "ids must be auto, line or content, not '%s'", val);
        }
        else if (!strncmp (key, "set.", 4))
            rc = s_add_set (p, key + 4, val, err, size);
        else if (!strcmp (key, "success")) {
            const char *eqeq = strstr (val, "==");
            memset (&p->success, 0, sizeof p->success);
            if (!strncmp (val, "reward>=", 8)) {
                char *end = NULL;
                p->success_threshold = strtod (val + 8, &end);
                if (end == val + 8 || *end)
                    return s_fail (err, size, "bad threshold in 'success=%s'", val);
                p->success_kind = TS_SUCCESS_REWARD_GE;
            }
            else if (eqeq) {
                size_t plen = (size_t) (eqeq - val);
                if (plen == 0 || plen >= TS_POINTER_MAX || val [0] != '/')
                    return s_fail (err, size, "bad 'success=%s' (want /pointer==text)", val);
                if (strlen (eqeq + 2) >= sizeof p->success_equals)
                    return s_fail (err, size, "comparison text too long in 'success=%s'", val);
                strcpy (p->success_equals, eqeq + 2);
                p->success.nalts = 1;
                p->success.alts [0].nparts = 1;
                memcpy (p->success.alts [0].parts [0], val, plen);
                p->success.alts [0].parts [0][plen] = 0;
                p->success_kind = TS_SUCCESS_EQUALS;
            }
            else {
                rc = s_parse_field (val, &p->success, false, err, size);
                p->success_kind = TS_SUCCESS_FROM_FIELD;
            }
        }
        else
            return s_fail (err, size, "unknown field '%s' (fields: id, group, model, "
                           "reward, success, created, steps, coerce, grades, strict, "
                           "id_per_attempt; run, file, ids, set.KEY)", key);
        if (rc)
            return rc;
    }
    if (id_set && !per_attempt_set)
        p->id_per_attempt = false;      /* another id: per attempt only if said */
    return 0;
}

int
ts_profile_parse (const char *spec, ts_profile_t *out, char *err, size_t size)
{
    memset (out, 0, sizeof *out);
    if (!spec || !*spec)
        spec = "default";
    /* a leading built-in name, then overrides */
    const char *comma = strchr (spec, ',');
    size_t nlen = comma ? (size_t) (comma - spec) : strlen (spec);
    int builtin = -1;
    for (int i = 0; ts_profile_names [i]; i++)
        if (strlen (ts_profile_names [i]) == nlen && !strncmp (spec, ts_profile_names [i], nlen))
            builtin = i;
    const char *overrides = spec;
    if (builtin >= 0)
        overrides = comma ? comma + 1 : "";
    else if (memchr (spec, '=', nlen) == NULL)
        return s_fail (err, size, "unknown profile '%s' (built-in: default, tau, swe, "
                       "agentbench, reflexion, verl, verifiers, inspect)", spec);
    else
        builtin = 0;
    snprintf (out->name, sizeof out->name, "%s", ts_profile_names [builtin]);
    int rc = s_apply (out, s_builtin [builtin], err, size);
    if (rc == 0 && *overrides) {
        /* the fields' part of the struct, from id to coerce: an override of
         * any of them makes the name "NAME+"; the import's context does not */
        size_t from = offsetof (ts_profile_t, id), to = offsetof (ts_profile_t, id_given);
        ts_profile_t *builtin = malloc (sizeof *builtin);
        if (!builtin)
            return TS_ENOMEM;
        *builtin = *out;
        rc = s_apply (out, overrides, err, size);
        out->id_given = memcmp (&builtin->id, &out->id, sizeof out->id) != 0;
        bool changed = memcmp ((char *) builtin + from, (char *) out + from, to - from) != 0;
        free (builtin);
        if (rc == 0 && changed && strlen (out->name) + 1 < sizeof out->name)
            strcat (out->name, "+");
    }
    return rc;
}

int
ts_profile_run_of_path (const char *path, char *out, size_t size)
{
    const char *base = strrchr (path, '/');
    base = base ? base + 1 : path;
    size_t len = strlen (base);
    static const char *const sfx [] = { ".gz", ".zst", ".jsonl", ".json", ".traj" };
    for (bool cut = true; cut; ) {
        cut = false;
        for (size_t i = 0; i < sizeof sfx / sizeof *sfx; i++) {
            size_t n = strlen (sfx [i]);
            if (len > n && !memcmp (base + len - n, sfx [i], n)) {
                len -= n;
                cut = true;
            }
        }
    }
    if (len == 0 || len >= size)
        return TS_EINVAL;
    memcpy (out, base, len);
    out [len] = 0;
    return 0;
}

/*  Appends ",text" to out (of size), or fails. */
static int
s_spec_add (char *out, size_t size, const char *a, const char *b)
{
    size_t used = strlen (out);
    int n = snprintf (out + used, size - used, ",%s%s", a, b);
    return n < 0 || (size_t) n >= size - used ? TS_ETOOBIG : 0;
}

bool
ts_profile_run_is_namesake (const char *run, const char *own)
{
    size_t rl = strlen (run), ol = strlen (own);
    return !own [0] || !strcmp (run, own)
        || (rl > ol && run [rl - ol - 1] == '/' && !strcmp (run + rl - ol, own));
}

int
ts_profile_import_spec (const char *profile, const char *input, const char *run,
                        const char *const *sets, int nsets, const char *ids,
                        char *out, size_t size, char *err, size_t err_size)
{
    char own [TS_RUN_FILE_MAX + 1] = "";
    bool stdin_input = !strcmp (input, "-");
    if (!stdin_input && ts_profile_run_of_path (input, own, sizeof own))
        return s_fail (err, err_size, "cannot name a run after '%s': give --run NAME", input);
    if (!run) {
        if (stdin_input)
            return s_fail (err, err_size, "%s", "stdin needs --run NAME (the run its records belong to)");
        if (strlen (own) > TS_RUN_NAME_MAX)
            return s_fail (err, err_size, "the file name '%s' is too long for a run name: give --run NAME", own);
        run = own;
    }
    char why [200];
    if (ts_profile_check_text ("the run name", run, TS_RUN_NAME_MAX, why, sizeof why))
        return s_fail (err, err_size, "--run: %s", why);
    bool namesake = ts_profile_run_is_namesake (run, own);
    if (snprintf (out, size, "%s", profile && *profile ? profile : "default") >= (int) size
    ||  s_spec_add (out, size, "run=", run)
    ||  (!namesake && s_spec_add (out, size, "file=", own)))
        return s_fail (err, err_size, "%s", "the profile with --run, --set and --id does not fit in a chunk header");
    if (ids && strcmp (ids, "auto") && strcmp (ids, "line") && strcmp (ids, "content"))
        return s_fail (err, err_size, "--id wants auto, line or content, not '%s'", ids);
    if (ids && s_spec_add (out, size, "ids=", ids))
        return s_fail (err, err_size, "%s", "the profile with --run, --set and --id does not fit in a chunk header");
    for (int i = 0; i < nsets; i++) {
        const char *eq = strchr (sets [i], '=');
        if (!eq || eq == sets [i] || !eq [1])
            return s_fail (err, err_size, "--set wants KEY=VALUE, not '%s'", sets [i]);
        if (ts_profile_check_text ("the --set text", sets [i], TS_SET_KEY_MAX + TS_SET_VALUE_MAX,
                                   why, sizeof why))
            return s_fail (err, err_size, "--set: %s", why);
        if (s_spec_add (out, size, "set.", sets [i]))
            return s_fail (err, err_size, "%s", "the profile with --run, --set and --id does not fit in a chunk header");
    }
    ts_profile_t *p = malloc (sizeof *p);
    if (!p)
        return TS_ENOMEM;
    char perr [256];
    int rc = ts_profile_parse (out, p, perr, sizeof perr);
    free (p);
    if (rc)
        return s_fail (err, err_size, "%s", perr);
    return 0;
}

static void
s_format_field (char **pp, size_t *left, const char *key, const ts_field_t *f)
{
    int n = snprintf (*pp, *left, "%s%s=", (*pp)[-1] ? "," : "", key);
    if (n < 0 || (size_t) n >= *left) { *left = 0; return; }
    *pp += n; *left -= (size_t) n;
    for (int a = 0; a < f->nalts; a++)
        for (int p = 0; p < f->alts [a].nparts; p++) {
            n = snprintf (*pp, *left, "%s%s", p ? "+" : (a ? "|" : ""), f->alts [a].parts [p]);
            if (n < 0 || (size_t) n >= *left) { *left = 0; return; }
            *pp += n; *left -= (size_t) n;
        }
}

/*  Appends ",KEYvalue" when value is not empty. */
static void
s_format_text (char **pp, size_t *left, const char *key, const char *value)
{
    if (!*left || !*value)
        return;
    int n = snprintf (*pp, *left, ",%s%s", key, value);
    if (n < 0 || (size_t) n >= *left) { *left = 0; return; }
    *pp += n; *left -= (size_t) n;
}

int
ts_profile_format (const ts_profile_t *p, char *buf, size_t size)
{
    if (size < 2)
        return TS_EINVAL;
    buf [0] = 0;
    char *w = buf + 1;          /* buf[0] == 0 marks "nothing written yet" */
    size_t left = size - 1;
    s_format_field (&w, &left, "id", &p->id);
    s_format_field (&w, &left, "group", &p->group);
    s_format_field (&w, &left, "model", &p->model);
    s_format_field (&w, &left, "reward", &p->reward);
    s_format_field (&w, &left, "created", &p->created);
    s_format_field (&w, &left, "steps", &p->steps);
    int n = 0;
    if (left) {
        char num [32];
        ts_format_double (p->success_threshold, num);    /* exact: %g kept 6 digits */
        if (p->success_kind == TS_SUCCESS_REWARD_GE)
            n = snprintf (w, left, ",success=reward>=%s", num);
        else if (p->success_kind == TS_SUCCESS_EQUALS)
            n = snprintf (w, left, ",success=%s==%s", p->success.alts [0].parts [0], p->success_equals);
        else
            s_format_field (&w, &left, "success", &p->success);
        if (n > 0 && (size_t) n < left) { w += n; left -= (size_t) n; }
        else if (n > 0) left = 0;
        static const char *const flags [] = { ",coerce=1", ",grades=1", ",strict=1",
                                              ",id_per_attempt=1", ",notext=1" };
        const bool on [] = { p->coerce, p->grades, p->strict, p->id_per_attempt, p->no_text };
        for (int i = 0; i < 5 && left; i++) {
            if (!on [i])
                continue;
            n = snprintf (w, left, "%s", flags [i]);
            if (n < 0 || (size_t) n >= left) left = 0;
            else { w += n; left -= (size_t) n; }
        }
    }
    s_format_text (&w, &left, "run=", p->run);
    s_format_text (&w, &left, "file=", p->file);
    s_format_text (&w, &left, "ids=", p->ids == TS_IDS_LINE ? "line"
                                    : p->ids == TS_IDS_CONTENT ? "content" : "");
    for (int i = 0; i < p->nsets; i++) {
        char key [TS_SET_KEY_MAX + 8];
        snprintf (key, sizeof key, "set.%s=", p->sets [i].key);
        s_format_text (&w, &left, key, p->sets [i].value);
    }
    memmove (buf, buf + 1, strlen (buf + 1) + 1);
    return left ? 0 : TS_ETOOBIG;
}

int
ts_profile_text_spec (const ts_profile_t *p, char *buf, size_t size)
{
    if (p->no_text || p->steps.nalts == 0 || size < 2)
        return 0;
    /* s_format_field writes ",steps=/a|/b" after a non-empty buffer */
    char tmp [TS_PROFILE_ALTS * (TS_POINTER_MAX + 1) + 16] = "x";
    char *w = tmp + 1;
    size_t left = sizeof tmp - 1;
    s_format_field (&w, &left, "steps", &p->steps);
    const char *at = strchr (tmp, '=') + 1;
    if (!left || strlen (at) >= size)
        return 0;
    strcpy (buf, at);
    return (int) strlen (buf);
}
