/*
 * trajstore_gen.c - trajstore-gen: fast, deterministic generator of realistic
 * JSONL dumps of LLM-agent trajectories, to feed and benchmark the importer.
 *
 * One JSON object per line, Python json.dumps-style separators. Record n's
 * content depends only on (seed, n) and a group's question only on
 * (seed, group), so --dup-rate/--bad-rate change which lines are duplicated
 * or broken, never what a good record looks like.
 *
 * Speed matters (benchmarks want GBs): all free text comes from fragments
 * JSON-escaped once at startup and memcpy'd, there is no per-character work
 * on the hot path, and output goes through one large stdio buffer.
 */
#include "ts_build.h"
#include "ts_json_out.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define F(lit) { lit, sizeof(lit) - 1, 0 }  /* raw text, escaped at startup */
#define FJ(lit) { lit, sizeof(lit) - 1, 1 } /* already JSON-escaped */
#define S_LIT(b, lit) s_put((b), "" lit, sizeof(lit) - 1) /* literals only */
#define BIGNUM "123456789012345678901234567890"

struct frag { const char *s; size_t n; int json; };
struct sbuf { char *p; size_t len, cap; };
struct rng { uint64_t s; };

enum { P_DEFAULT, P_TAU };
/* Bad-line kinds, used in rotation so every kind shows up even at low rates. */
enum { B_NONE = -1, B_TRUNC, B_COMMA, B_QUOTE, B_NAN, B_ARRAY, B_UTF8,
       B_SURR, B_RTYPE, B_BIGNUM, B_KINDS };

struct opts {
    uint64_t records, seed, per_group;
    double dup, bad;
    int profile, random;
    const char *out;
};

/* ---- growable line buffer ---------------------------------------------- */

static void s_reserve(struct sbuf *b, size_t extra)
{
    if (b->p && b->len + extra <= b->cap) /* never memcpy to NULL, even 0 bytes */
        return;
    size_t cap = b->cap ? b->cap : 65536;
    while (cap < b->len + extra)
        cap *= 2;
    if (!(b->p = realloc(b->p, cap))) {
        fputs("trajstore-gen: out of memory\n", stderr);
        exit(1);
    }
    b->cap = cap;
}

static inline void s_put(struct sbuf *b, const char *s, size_t n)
{
    s_reserve(b, n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void s_puts(struct sbuf *b, const char *s) { s_put(b, s, strlen(s)); }

/* Several strings in a row, NULL-terminated; keeps the record code short. */
static void s_cat(struct sbuf *b, ...)
{
    va_list ap;
    va_start(ap, b);
    for (const char *s; (s = va_arg(ap, const char *));)
        s_puts(b, s);
    va_end(ap);
}

/* printf for the few non-text fields; once or twice per record is cheap. */
__attribute__((format(printf, 2, 3)))
static void s_fmt(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    s_reserve(b, 128);
    va_start(ap, fmt);
    int n = vsnprintf(b->p + b->len, 128, fmt, ap);
    va_end(ap);
    b->len += n < 128 ? (size_t)n : 127;
}

static void s_putu(struct sbuf *b, uint64_t v)
{
    char t[24];
    int i = 24;
    do {
        t[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    s_put(b, t + i, (size_t)(24 - i));
}

/* ---- PRNG: splitmix64 to seed, xorshift64* per stream -------------------- */

static uint64_t s_mix(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

/* An independent stream per (seed, purpose, index) keeps records stable. */
static struct rng s_rng_for(uint64_t seed, uint64_t stream, uint64_t idx)
{
    struct rng r = { s_mix(s_mix(seed) ^ s_mix(stream * 0x100000001B3ULL + idx)) };
    r.s += !r.s; /* xorshift must never hold state 0 */
    return r;
}

static inline uint64_t s_next(struct rng *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 0x2545F4914F6CDD1DULL;
}

/* Multiply-shift instead of modulo: no division, negligible bias. */
static inline uint32_t s_below(struct rng *r, uint32_t n)
{
    return (uint32_t)(((s_next(r) >> 32) * n) >> 32);
}

static inline double s_unit(struct rng *r)
{
    return (double)(s_next(r) >> 11) * 0x1.0p-53;
}

/* ---- text banks: written as raw text for readability, JSON-escaped once
 * by s_escape_banks() so the hot path is a plain memcpy. ------------------- */

/* Plain words: no quote/backslash, so they are safe inside nested JSON too. */
static const char *const s_words[] = {
    "organic", "green", "tea", "wireless", "headphones", "cotton", "shirt",
    "blue", "large", "cabinet", "drawer", "apple", "mug", "countertop",
    "director", "film", "born", "river", "capital", "population", "parser",
    "overflow", "config", "timeout", "cache", "retry", "order", "refund",
    "flight", "seat", "upgrade", "baggage", "address", "laptop", "charger",
    "café", "naïve", "jalapeño", "Zürich", "東京", "データ", "🚀", "über",
    "résumé", "señor", "Ελληνικά", "Привет", "smörgåsbord", "✓", "€",
};

static struct frag s_think[] = {
    F("Let me think about this step by step. "),
    F("I need to search for the item first before I can compare prices. "),
    F("The observation lists three candidates; the second one matches the size constraint. "),
    F("Thought: the user asked for \"organic\" options, so I will filter on that attribute. "),
    F("Action: click[Buy Now]\n"),
    F("I'll check the café menu for prices in € before answering. "),
    F("Here is the fix:\n```python\ndef solve(xs):\n\treturn sorted(xs)[::-1]\n```\n"),
    F("The file lives at C:\\Users\\agent\\data.csv on the Windows box. "),
    F("Hmm, that didn't work. Let me try a different query 🤔. "),
    F("日本語のテキストも正しく処理できます。 "),
    F("Wait — the previous result was truncated, so I should scroll down. "),
    F("Plan:\n1. search\n2. open the top result\n3. verify the \"price\" field\n"),
    F("The regex should be `^\\\\d+$`, not `^\\d+$`. "),
    F("Observation confirms the task is done 🚀. "),
    F("Ich prüfe noch einmal die Größe: naïve approach first. "),
    F("The tool returned an error (code 429); backing off and retrying. "),
    F("Final answer: the capital is Zürich — wait, no, it is Bern. "),
    FJ("Escaped unicode works too: caf\\u00e9 and \\ud83d\\ude80. "),
};

static struct frag s_obs_web[] = {
    F("[SEP] Back to Search [SEP] Page 1 (Total results: 50) [SEP] Next > [SEP] "),
    F("B09XYZ1234 [SEP] Organic Green Tea, 100 bags [SEP] $12.99 [SEP] "),
    F("B07QRS5678 [SEP] Wireless Headphones – noise cancelling [SEP] $59.00 [SEP] "),
    F("size [SEP] small [SEP] medium [SEP] large [SEP] x-large [SEP] "),
    F("Description: 100% cotton, machine washable.\nRating: ★★★★☆ (1,284)\n"),
    F("{\"asin\": \"B0C1234567\", \"title\": \"Café Bustelo \\\"Espresso\\\"\", \"price\": 7.49}\n"),
};
static struct frag s_obs_alf[] = {
    F("You are in the middle of a room. Looking quickly around you, you see a cabinet 1, a drawer 2, and a countertop 1.\n"),
    F("You open the drawer 2. The drawer 2 is open. In it, you see a mug 1.\n"),
    F("Nothing happens.\n"),
    F("You pick up the apple 1 from the countertop 1.\n"),
    F("On the shelf 3, you see a vase 2, a keychain 1, and a creditcard 3.\n"),
};
static struct frag s_obs_qa[] = {
    F("Search[Zürich] -> Zürich is the largest city in Switzerland and the capital of the canton of Zürich. "),
    F("Could not find [Tōkyō Tower]. Similar: ['Tokyo Tower', 'Tokyo Skytree']. "),
    F("Lookup[born] -> (Result 1 / 2) He was born on 12 May 1907 in Dublin. "),
    F("東京都（とうきょうと）は、日本の首都である。 "),
    F("The film was directed by Jean-Luc Godard and released in 1960.\n"),
};
static struct frag s_obs_swe[] = {
    F("Traceback (most recent call last):\n  File \"src/parser.py\", line 42, in parse\n    raise ValueError(\"bad token\")\nValueError: bad token\n"),
    F("\x1b[32mPASSED\x1b[0m tests/test_cache.py::test_retry\n"),
    F("\x1b[31mFAILED\x1b[0m tests/test_config.py::test_timeout - AssertionError\n"),
    F("diff --git a/src/cache.c b/src/cache.c\n@@ -10,7 +10,7 @@\n-\tif (n > cap)\n+\tif (n >= cap)\n"),
    F("$ ls -la src/\ntotal 48\n-rw-r--r-- 1 agent agent 2048 cache.c\n"),
    F("grep: warning: \"TODO\" matched 3 files in C:\\repo\\src\n"),
};
static struct frag s_obs_tau[] = {
    F("{\"order_id\": \"#W2378156\", \"user_id\": \"yusuf_rossi_9620\", \"status\": \"delivered\", \"items\": [{\"name\": \"Mechanical Keyboard\", \"price\": 262.47}]}\n"),
    F("{\"reservation_id\": \"4WQ150\", \"origin\": \"DTW\", \"destination\": \"LAX\", \"cabin\": \"economy\", \"passengers\": [{\"first_name\": \"Chen\", \"last_name\": \"Jackson\"}]}\n"),
    F("Error: order not found\n"),
    F("{\"name\": {\"first_name\": \"Sofía\", \"last_name\": \"Müller\"}, \"address\": {\"city\": \"Zürich\", \"zip\": \"8001\"}}\n"),
    F("Transfer successful\n"),
    F("{\"flights\": [{\"flight_number\": \"HAT170\", \"date\": \"2024-05-16\", \"price\": 129}]}\n"),
};

static struct frag s_followup[] = {
    F("Please continue."), F("That is not what I asked for, try again."),
    F("Can you double-check the price?"), F("Thanks! Merci beaucoup 🙏"),
    F("Yes, go ahead.\nConfirm: yes"),
};

static const char *const s_models[] = { "gpt-4o-2024-08-06",
    "claude-3-5-sonnet", "llama-3.1-70b-instruct", "qwen2.5-72b" };
static const char *const s_tags[] = { "train", "eval", "v2", "rerun",
    "long-horizon", "hard", "ablation" };
static const char *const s_temps[] = { "0.0", "0.2", "0.7", "1.0" };

static const char *const t_web[] = { "search", "click" };
static const char *const t_alf[] = { "go_to", "take", "put", "open" };
static const char *const t_qa[] = { "search", "lookup", "finish" };
static const char *const t_swe[] = { "bash", "edit_file", "run_tests" };
static const char *const t_ret[] = { "find_user_id_by_name_zip",
    "get_order_details", "return_delivered_order_items",
    "transfer_to_human_agents" };
static const char *const t_air[] = { "get_user_details",
    "get_reservation_details", "update_reservation_flights",
    "cancel_reservation" };

/* An environment: its tool observations, tools, and question template
 * (question = qpre + words + qmid + number + qpost, already JSON-escaped). */
struct env {
    const char *name, *argkey;
    const struct frag *obs;
    size_t nobs;
    const char *const *tools;
    size_t ntools;
    const char *qpre, *qmid, *qpost;
};

#define ENV(n, k, o, t, a, b, c) { n, k, o, NELEM(o), t, NELEM(t), a, b, c }
static const struct env s_envs[] = {
    ENV("webshop", "query", s_obs_web, t_web, "i am looking for ",
        ", and price lower than ", ".00 dollars"),
    ENV("alfworld", "target", s_obs_alf, t_alf,
        "You are in the middle of a room.\\nYour task is to: put some ",
        " in cabinet ", "."),
    ENV("hotpotqa", "query", s_obs_qa, t_qa, "Question: what links ",
        " with the \\\"", "\\\" entry?"),
    ENV("swe-bench", "command", s_obs_swe, t_swe, "Fix the issue: ",
        ". The failing test is tests/test_", ".py"),
    /* tau-bench domains, only used with --profile tau */
    ENV("retail", "order_id", s_obs_tau, t_ret, "You want to ",
        " for your order #W", ". You are polite but firm."),
    ENV("airline", "reservation_id", s_obs_tau, t_air, "You want to ",
        " on reservation ", ". You prefer economy, ☕ matters."),
};

static const char s_sys_rules[] =
    "\\n\\nRules:\\n- Think before acting.\\n- Call at most one tool per turn "
    "unless the calls are independent.\\n- Never invent \\\"facts\\\"; cite the "
    "observation.\\n- Answer in the user's language (English, Français, "
    "日本語…).\\n- Paths use forward slashes, not C:\\\\ style.\\n\\t(end of rules)";

/* JSON-escape every raw fragment once (leaked on purpose: lives until exit). */
static void s_escape_bank(struct frag *bank, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        ts_buf_t e = { 0 };
        if (bank[i].json)
            continue;
        if (ts_json_escape(&e, bank[i].s, strlen(bank[i].s)) || e.size < 2) {
            fputs("trajstore-gen: out of memory\n", stderr);
            exit(1);
        }
        /* the fragment goes inside a string: its quotes stay out */
        memmove(e.data, e.data + 1, e.size - 2);
        bank[i] = (struct frag){ e.data, e.size - 2, 1 };
    }
}

static void s_escape_banks(void)
{
    struct { struct frag *f; size_t n; } all[] = {
        { s_think, NELEM(s_think) }, { s_obs_web, NELEM(s_obs_web) },
        { s_obs_alf, NELEM(s_obs_alf) }, { s_obs_qa, NELEM(s_obs_qa) },
        { s_obs_swe, NELEM(s_obs_swe) }, { s_obs_tau, NELEM(s_obs_tau) },
        { s_followup, NELEM(s_followup) } };
    for (size_t i = 0; i < NELEM(all); i++)
        s_escape_bank(all[i].f, all[i].n);
}

/* ---- record generation --------------------------------------------------- */

/* Per-record state: rng, the pending in-string corruption, tool call ids. */
struct gen {
    struct sbuf *b;
    struct rng r;
    const struct env *env;
    int bad, inject, tau;
    char call[2][32];
};

/* Emit text from a bank until about `budget` bytes, mixing in numbers and
 * words so lines don't compress unrealistically well. */
static void s_text(struct gen *g, const struct frag *bank, size_t nbank,
                   size_t budget)
{
    struct sbuf *b = g->b;
    size_t start = b->len;
    if (g->inject) {
        /* Corruption inside an otherwise fine line is what importers miss. */
        if (g->bad == B_UTF8)
            S_LIT(b, "caf\xff ");
        else
            S_LIT(b, "\\ud800 ");
        g->inject = 0;
    }
    do {
        const struct frag *f = &bank[s_below(&g->r, (uint32_t)nbank)];
        s_put(b, f->s, f->n);
        uint32_t x = s_below(&g->r, 8);
        if (x == 0) {
            S_LIT(b, "#");
            s_putu(b, s_below(&g->r, 1000000));
            S_LIT(b, " ");
        } else if (x == 1) {
            s_cat(b, s_words[s_below(&g->r, NELEM(s_words))], " ", NULL);
        }
    } while (b->len - start < budget);
}

static void s_words_n(struct sbuf *b, struct rng *r, int n)
{
    for (int i = 0; i < n; i++)
        s_cat(b, i ? " " : "", s_words[s_below(r, NELEM(s_words))], NULL);
}

/* The group's question: identical for every record of the group. */
static void s_question(struct sbuf *b, uint64_t seed, uint64_t group,
                       const struct env *e)
{
    struct rng r = s_rng_for(seed, 3, group);
    s_puts(b, e->qpre);
    s_words_n(b, &r, 4 + (int)s_below(&r, 6));
    s_puts(b, e->qmid);
    s_putu(b, 10 + s_below(&r, 990));
    s_puts(b, e->qpost);
}

static void s_tool_call(struct gen *g, int k)
{
    static const char al[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    struct sbuf *b = g->b;
    char *id = g->call[k]; /* kept: the matching tool step echoes it back */
    memcpy(id, "call_", 5);
    for (int i = 5; i < 29; i++)
        id[i] = al[s_below(&g->r, 62)];
    id[29] = 0;
    s_cat(b, "{\"id\": \"", id, "\", \"type\": \"function\", \"function\": "
          "{\"name\": \"", g->env->tools[s_below(&g->r, (uint32_t)g->env->ntools)],
          "\", \"arguments\": \"", NULL);
    if (g->env->argkey[0] == 'c' && s_below(&g->r, 3) == 0) {
        /* A JSON string holding JSON holding quotes: escapes two deep. */
        S_LIT(b, "{\\\"command\\\": \\\"grep -rn \\\\\\\"TODO\\\\\\\" src/\\\"}");
    } else {
        s_cat(b, "{\\\"", g->env->argkey, "\\\": \\\"", NULL);
        s_words_n(b, &g->r, 1 + (int)s_below(&g->r, 4));
        S_LIT(b, "\\\"}");
    }
    S_LIT(b, "\"}}");
}

static void s_open_step(struct sbuf *b, const char *role)
{
    s_cat(b, "{\"role\": \"", role, "\", \"content\": \"", NULL);
}

/* One trajectory of exactly `nsteps` steps spending about `budget` bytes:
 * [system] user, then assistant(+tool_calls)/tool pairs, follow-ups, answer. */
static void s_trajectory(struct gen *g, uint64_t seed, uint64_t group,
                         int nsteps, size_t budget)
{
    struct sbuf *b = g->b;
    int done = 0;
    S_LIT(b, "[");
    if (nsteps >= 3 && s_below(&g->r, 10) < 7) {
        s_open_step(b, "system");
        s_cat(b, "You are a helpful agent acting in the ", g->env->name,
              " environment. Available tools: ", NULL);
        for (size_t i = 0; i < g->env->ntools; i++)
            s_cat(b, i ? ", " : "", g->env->tools[i], NULL);
        s_put(b, s_sys_rules, sizeof s_sys_rules - 1);
        S_LIT(b, "\"}, ");
        done++;
    }
    s_open_step(b, "user");
    s_question(b, seed, group, g->env);
    S_LIT(b, "\"}");
    done++;

    size_t start = b->len;
    while (done < nsteps) {
        int left = nsteps - done;
        size_t spent = b->len - start;
        size_t per = spent < budget ? (budget - spent) / (size_t)left : 16;
        per = per * (50 + s_below(&g->r, 100)) / 100 + 16;
        uint32_t roll = s_below(&g->r, 100);
        S_LIT(b, ", ");
        if (left >= 2 && roll < 75) {
            int ncalls = (left >= 3 && roll < 8) ? 2 : 1;
            if (g->tau && s_below(&g->r, 2)) { /* litellm emits null here */
                S_LIT(b, "{\"role\": \"assistant\", \"content\": null");
            } else {
                s_open_step(b, "assistant");
                s_text(g, s_think, NELEM(s_think), per / 2);
                S_LIT(b, "\"");
            }
            S_LIT(b, ", \"tool_calls\": [");
            for (int k = 0; k < ncalls; k++) {
                s_puts(b, k ? ", " : "");
                s_tool_call(g, k);
            }
            S_LIT(b, "]}");
            for (int k = 0; k < ncalls; k++) {
                S_LIT(b, ", ");
                s_open_step(b, "tool");
                s_text(g, g->env->obs, g->env->nobs, per * 3 / 2 / (size_t)ncalls);
                s_cat(b, "\", \"tool_call_id\": \"", g->call[k], "\"}", NULL);
            }
            done += 1 + ncalls;
        } else {
            s_open_step(b, "assistant");
            s_text(g, s_think, NELEM(s_think), per);
            S_LIT(b, "\"}");
            done++;
            if (left >= 2 && roll < 90) {
                S_LIT(b, ", ");
                s_open_step(b, "user");
                s_text(g, s_followup, NELEM(s_followup), 1);
                S_LIT(b, "\"}");
                done++;
            }
        }
    }
    S_LIT(b, "]");
}

/* Reward literal: mostly exact 0.0/1.0, sometimes k/100 or repr-style
 * thirds/eighths; 0 and 1 keep their ".0" so they still read as floats. */
static double s_reward(struct rng *r, double p_success, char *lit, size_t cap)
{
    static const double fr[] = { 0.375, 0.5, 0.25, 0.125, 1.0 / 3, 2.0 / 3, 0.875 };
    uint32_t x = s_below(r, 10), k = 1 + s_below(r, 99);
    double v = s_unit(r) < p_success ? 1.0 : x < 7 ? 0.0
             : x < 9 ? k / 100.0 : fr[k % NELEM(fr)];
    snprintf(lit, cap, "%.1f", v);
    for (int p = 15; p <= 17 && strtod(lit, NULL) != v; p++) /* like repr() */
        snprintf(lit, cap, "%.*g", p, v);
    return v;
}

/* ISO 8601 UTC with milliseconds. Civil-from-days (H. Hinnant) instead of
 * gmtime_r: no per-call timezone lock, same output on every libc. */
static void s_put_time(struct sbuf *b, int64_t ms)
{
    int64_t secs = ms / 1000, days = secs / 86400, sod = secs % 86400;
    int64_t z = days + 719468, era = z / 146097, doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153, d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9, y = yoe + era * 400 + (m <= 2);
    s_fmt(b, "\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\"", (int)y, (int)m, (int)d,
          (int)(sod / 3600), (int)(sod / 60 % 60), (int)(sod % 60),
          (int)(ms % 1000));
}

/* Fresh record number n. Bad kinds that live inside the record are baked in
 * here; line-level ones are applied afterwards by s_mangle(). */
static void s_record(struct sbuf *b, const struct opts *o, uint64_t n, int bad)
{
    struct gen g = { .b = b, .r = s_rng_for(o->seed, 1, n), .bad = bad,
                     .inject = bad == B_UTF8 || bad == B_SURR,
                     .tau = o->profile == P_TAU };
    uint64_t group = n / o->per_group;
    /* --order random: any group at any line (records/per-group of them,
     * so 100,000 groups at 1M), as several trial files merged would. */
    struct rng orr = s_rng_for(o->seed, 5, n);
    uint64_t ngroups = o->records / o->per_group + 1;
    if (o->random)
        group = (uint64_t)(s_unit(&orr) * (double)ngroups);
    /* Default dumps interleave groups a little; tau (task_id, trial) is exact. */
    else if (!g.tau && s_below(&g.r, 10) == 0) {
        group += s_below(&g.r, 7);
        group = group >= 3 ? group - 3 : 0;
    }
    struct rng gr = s_rng_for(o->seed, 2, group);
    g.env = g.tau ? &s_envs[4 + s_below(&gr, 2)] : &s_envs[s_below(&gr, 4)];
    double p_success = s_unit(&gr); /* per-group difficulty */

    /* Lognormal size: median ~3.3 KB, long tail, clipped to ~1..15 KB. */
    double u1 = 1.0 - s_unit(&g.r), u2 = s_unit(&g.r);
    double target = exp(8.02 + 0.6 * sqrt(-2.0 * log(u1)) *
                                  cos(6.283185307179586 * u2));
    target = target < 1100 ? 1100 : target > 14000 ? 14000 : target;
    int nsteps = (int)(target / 500) + (int)s_below(&g.r, 5);
    nsteps = nsteps < 2 ? 2 : nsteps > 30 ? 30 : nsteps;

    char rlit[32];
    double reward = s_reward(&g.r, p_success, rlit, sizeof rlit);
    if (o->random && reward < 1.0 && s_below(&orr, 10) < 8) {
        /* partial credit from a reward model: continuous, 5 decimals
         * (~6,800 distinct values per 10,000 records); 1 stays exact */
        reward = (double)(1 + s_below(&orr, 99998)) / 100000.0;
        snprintf(rlit, sizeof rlit, "%.5f", reward);
    }
    const char *rout = bad == B_NAN ? "NaN" : bad == B_RTYPE ? "\"high\"" : rlit;

    s_puts(b, bad == B_ARRAY ? "[" : "");
    if (g.tau) {
        struct rng tr = s_rng_for(o->seed, 4, group);
        S_LIT(b, "{\"task_id\": ");
        if (bad == B_BIGNUM)
            S_LIT(b, BIGNUM);
        else
            s_putu(b, group);
        s_fmt(b, ", \"trial\": %llu", (unsigned long long)(n % o->per_group));
        s_cat(b, ", \"reward\": ", rout, ", \"info\": {\"task\": {\"user_id\": \"",
              s_words[s_below(&tr, 35)], "_", s_words[s_below(&tr, 35)], NULL);
        s_fmt(b, "_%04u\", \"actions\": [", (unsigned)s_below(&tr, 10000));
        for (int i = 0, na = 1 + (int)s_below(&tr, 3); i < na; i++) {
            s_cat(b, i ? ", " : "", "{\"name\": \"",
                  g.env->tools[s_below(&tr, (uint32_t)g.env->ntools)],
                  "\", \"kwargs\": {\"", g.env->argkey, "\": \"", NULL);
            s_fmt(b, "#W%07u\"}}", (unsigned)s_below(&tr, 10000000));
        }
        S_LIT(b, "], \"instruction\": \"");
        s_question(b, o->seed, group, g.env);
        s_fmt(b, "\", \"outputs\": []}, \"source\": \"user\", \"user_cost\": "
              "0.0%03u, \"reward_info\": {\"reward\": ", 100 + s_below(&g.r, 900));
        s_cat(b, rlit, ", \"info\": {\"r_actions\": ",
              reward >= 1.0 ? "true" : "false", NULL);
        s_fmt(b, ", \"gt_data_hash\": \"%016llx\"}, \"actions\": []}}, \"traj\": ",
              (unsigned long long)s_next(&tr));
        s_trajectory(&g, o->seed, group, nsteps, (size_t)target - 900);
        S_LIT(b, "}");
    } else {
        /* uuid-looking id whose first 64 bits are a bijection of n: unique by
         * construction, not by luck. */
        uint64_t hi = s_mix(n ^ s_mix(o->seed)), lo = s_mix(hi ^ 0xABCDEF);
        s_fmt(b, "{\"id\": \"%08llx-%04llx-%04llx-%04llx-%012llx\", "
              "\"data_id\": \"q-%06llu\", \"model\": \"",
              (unsigned long long)(hi >> 32), (unsigned long long)(hi >> 16 & 0xffff),
              (unsigned long long)(hi & 0xffff), (unsigned long long)(lo >> 48),
              (unsigned long long)(lo & 0xffffffffffffULL), (unsigned long long)group);
        s_cat(b, s_models[s_below(&g.r, NELEM(s_models))], "\", \"created_at\": ", NULL);
        /* ~2.5 s apart with +-4 s jitter: increasing-ish, not sorted. */
        int64_t jitter = (int64_t)s_below(&g.r, 8000) - 4000;
        if (o->random) /* anywhere in the 180 days before the ordered start */
            s_put_time(b, 1772323200000LL - 180LL * 86400000 +
                              (int64_t)(s_unit(&orr) * 180.0 * 86400000.0) + jitter);
        else
            s_put_time(b, 1772323200000LL + (int64_t)n * 2500 + jitter);
        int ok = (reward >= 1.0) ^ (s_below(&g.r, 100) == 0); /* dumps lie */
        s_cat(b, ", \"reward\": ", rout, ", \"is_success\": ", ok ? "true" : "false",
              ", \"trajectory\": ", NULL);
        size_t traj_start = b->len;
        s_trajectory(&g, o->seed, group, nsteps, (size_t)target - 600);
        size_t traj_len = b->len - traj_start;
        s_cat(b, ", \"metadata\": {\"env\": \"", g.env->name, "\", \"temperature\": ",
              s_temps[s_below(&g.r, NELEM(s_temps))],
              ", \"max_steps\": 30, \"tags\": [", NULL);
        for (int i = 0, nt = (int)s_below(&g.r, 4); i < nt; i++)
            s_cat(b, i ? ", \"" : "\"", s_tags[s_below(&g.r, NELEM(s_tags))], "\"", NULL);
        S_LIT(b, "], \"seed\": ");
        if (bad == B_BIGNUM)
            S_LIT(b, BIGNUM);
        else
            s_putu(b, s_next(&g.r) >> 33);
        s_fmt(b, ", \"tokens\": {\"prompt\": %u, \"completion\": %u}}}",
              (unsigned)(traj_len / 4 + s_below(&g.r, 200)),
              (unsigned)(traj_len / 12 + s_below(&g.r, 100)));
    }
    s_puts(b, bad == B_ARRAY ? "]" : "");
}

/* Line-level breakage, easier to apply to the finished text. */
static void s_mangle(struct sbuf *b, int bad, struct rng *r)
{
    if (bad == B_TRUNC) {
        /* Cut on an ASCII byte so the line is truncated, not also bad UTF-8. */
        size_t cut = b->len / 4 + s_below(r, (uint32_t)(b->len / 2));
        while (cut > 1 && (unsigned char)b->p[cut - 1] >= 0x80)
            cut--;
        b->len = cut;
    } else if (bad == B_COMMA) {
        b->p[b->len - 1] = ',';
        S_LIT(b, "}");
    } else if (bad == B_QUOTE) { /* {'id': '...', ...: first pair only */
        for (size_t i = 0; i < b->len && b->p[i] != ','; i++)
            if (b->p[i] == '"')
                b->p[i] = '\'';
    }
}

/* ---- command line --------------------------------------------------------- */

static const char s_usage[] =
    "usage: trajstore-gen [--records N] [--seed S] [--per-group K] [--out FILE]\n"
    "                     [--dup-rate F] [--bad-rate F] [--profile default|tau]\n"
    "                     [--order ordered|random]\n"
    "       trajstore-gen --help | --version\n"
    "Writes N JSONL trajectory records (default 10000, ~4 KB each) to stdout.\n"
    "  --seed S        output is deterministic per seed (default 1)\n"
    "  --per-group K   about K records per data_id / task_id (default 10)\n"
    "  --dup-rate F    fraction of lines that exactly repeat an earlier line\n"
    "  --bad-rate F    fraction of lines replaced by a malformed line (rotating\n"
    "                  kinds); also adds blank lines, not counted in N\n"
    "  --profile tau   tau-bench style {task_id, trial, reward, info, traj}\n"
    "  --order random  the worst order for indexes: created times random over\n"
    "                  180 days, partial rewards continuous (4 decimals), any\n"
    "                  group on any line (default ordered: times increasing,\n"
    "                  a group's attempts together, rewards from few values)\n";

static void s_die_usage(const char *msg, const char *arg)
{
    fprintf(stderr, "trajstore-gen: %s%s%s\n%s", msg, arg ? ": " : "",
            arg ? arg : "", s_usage);
    exit(2);
}

static uint64_t s_parse_u64(const char *opt, const char *v)
{
    char *end;
    unsigned long long x = strtoull(v, &end, 10);
    if (!*v || *v == '-' || *end)
        s_die_usage("expected a non-negative integer for", opt);
    return (uint64_t)x;
}

static double s_parse_rate(const char *opt, const char *v)
{
    char *end;
    double x = strtod(v, &end);
    if (!*v || *end || !(x >= 0.0 && x <= 1.0))
        s_die_usage("expected a rate in [0,1] for", opt);
    return x;
}

/* Accepts both "--opt value" and "--opt=value". */
static void s_parse_args(int argc, char **argv, struct opts *o)
{
    static const char *const names[] = { "--records", "--seed", "--per-group",
        "--out", "--dup-rate", "--bad-rate", "--profile", "--order" };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *eq = strchr(a, '='), *v;
        size_t nl = eq ? (size_t)(eq - a) : strlen(a), k = 0;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(s_usage, stdout);
            exit(0);
        }
        while (k < NELEM(names) && (strlen(names[k]) != nl || strncmp(a, names[k], nl)))
            k++;
        if (k == NELEM(names))
            s_die_usage("unknown argument", a);
        if (!(v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL)))
            s_die_usage("missing value for", names[k]);
        switch (k) {
        case 0: o->records = s_parse_u64(names[k], v); break;
        case 1: o->seed = s_parse_u64(names[k], v); break;
        case 2: o->per_group = s_parse_u64(names[k], v); break;
        case 3: o->out = v; break;
        case 4: o->dup = s_parse_rate(names[k], v); break;
        case 5: o->bad = s_parse_rate(names[k], v); break;
        case 7:
            if (strcmp(v, "ordered") && strcmp(v, "random"))
                s_die_usage("--order must be ordered or random, not", v);
            o->random = !strcmp(v, "random");
            break;
        default:
            if (strcmp(v, "default") && strcmp(v, "tau"))
                s_die_usage("--profile must be default or tau, not", v);
            o->profile = strcmp(v, "tau") ? P_DEFAULT : P_TAU;
        }
    }
    if (o->per_group == 0)
        s_die_usage("--per-group must be at least 1", NULL);
    if (o->dup + o->bad > 1.0)
        s_die_usage("--dup-rate + --bad-rate must not exceed 1", NULL);
}

#define POOL 128 /* recent good lines kept as sources for exact duplicates */

int main(int argc, char **argv)
{
    static char iobuf[1 << 20];
    struct opts o = { .records = 10000, .seed = 1, .per_group = 10 };
    if (ts_build_version_asked(argc, argv, "trajstore-gen"))
        return 0;
    s_parse_args(argc, argv, &o);
    s_escape_banks();

    FILE *out = o.out ? fopen(o.out, "wb") : stdout;
    if (!out) {
        perror(o.out);
        return 1;
    }
    setvbuf(out, iobuf, _IOFBF, sizeof iobuf);

    /* Line-level decisions use their own stream so record content does not
     * depend on the dup/bad rates. */
    struct rng ctl = s_rng_for(o.seed, 0, 0);
    struct sbuf line = { 0 }, pool[POOL] = { { 0 } };
    uint64_t fresh = 0, nbad = 0, npool = 0;
    for (uint64_t i = 0; i < o.records; i++) {
        double u = s_unit(&ctl);
        if (o.bad > 0 && s_unit(&ctl) < o.bad * 0.1)
            fputc('\n', out);
        if (u < o.dup && npool) {
            struct sbuf *d = &pool[s_below(&ctl, npool < POOL ? (uint32_t)npool : POOL)];
            fwrite(d->p, 1, d->len, out);
            continue;
        }
        int bad = (u >= o.dup && u < o.dup + o.bad) ? (int)(nbad++ % B_KINDS) : B_NONE;
        line.len = 0;
        s_record(&line, &o, fresh++, bad);
        s_mangle(&line, bad, &ctl);
        S_LIT(&line, "\n");
        fwrite(line.p, 1, line.len, out);
        if (bad == B_NONE && o.dup > 0) {
            struct sbuf *d = &pool[npool++ % POOL];
            d->len = 0;
            s_put(d, line.p, line.len);
        }
    }
    if (fflush(out) || ferror(out) || (out != stdout && fclose(out))) {
        perror("trajstore-gen: write");
        return 1;
    }
    free(line.p); /* keeps sanitizer builds (TS_SANITIZE) quiet */
    for (int i = 0; i < POOL; i++)
        free(pool[i].p);
    return 0;
}
