/*  ts_jsondoc.c: the JSON document splitter (ts_jsondoc.h). A byte-at-a-
 *  time state machine over strings and nesting; the record being read is
 *  the only thing buffered. */
#include "ts_jsondoc.h"
#include "ts_error.h"
#include "ts_record.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum {
    S_TOP,          /* between top-level values */
    S_ARRAY,        /* in a top-level array, between elements */
    S_RECORD,       /* in a record (object or array), buffering it */
    S_SCALAR,       /* in a scalar element of an array, buffering it */
    S_SAMPLES,      /* in an inspect_ai log's samples, between samples */
    S_SKIP          /* in the rest of a log after its samples */
} s_state_t;

typedef struct {
    size_t key, key_len, val, val_len;
} s_member_t;

#define S_AGAIN 1           /* s_record_byte: the byte is the list's */

struct ts_jsondoc {
    size_t   max;
    ts_jsondoc_emit_fn *emit;
    void    *arg;
    s_state_t state;
    int      depth;         /* nesting in the document */
    int      base;          /* depth outside the record being read */
    int      list_depth;    /* depth of the array whose elements are records */
    bool     in_str, esc;
    bool     top_object;    /* the record is a top-level object (may be a log) */
    bool     sample;        /* the record is an inspect_ai sample */
    /* top-level members of the record */
    bool     key_next, in_key, val_pending, in_val;
    s_member_t members [TS_JSONDOC_MEMBERS];
    int      nmembers;
    ts_buf_t cur;           /* the record's text */
    ts_buf_t out;           /* a sample with the log's eval in front */
    ts_buf_t eval;          /* the log's eval object */
    bool     have_eval, saw_log;
    uint64_t off, records;
    int      failed;
    char     err [256];
};

ts_jsondoc_t *
ts_jsondoc_new (size_t record_max, ts_jsondoc_emit_fn *emit, void *arg)
{
    ts_jsondoc_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->max = record_max;
    self->emit = emit;
    self->arg = arg;
    return self;
}

void
ts_jsondoc_destroy (ts_jsondoc_t **self_p)
{
    if (self_p && *self_p) {
        ts_buf_free (&(*self_p)->cur);
        ts_buf_free (&(*self_p)->out);
        ts_buf_free (&(*self_p)->eval);
        free (*self_p);
        *self_p = NULL;
    }
}

static int
s_fail (ts_jsondoc_t *self, const char *what)
{
    snprintf (self->err, sizeof self->err, "byte %" PRIu64 ", record %" PRIu64 ": %s",
              self->off, self->records + 1, what);
    self->failed = TS_EBADLINE;
    return TS_EBADLINE;
}

static void
s_record_begin (ts_jsondoc_t *self, s_state_t state)
{
    self->state = state;
    self->cur.size = 0;
    self->base = self->depth;
    self->nmembers = 0;
    self->key_next = self->in_key = self->val_pending = self->in_val = false;
}

static bool
s_key_is (const ts_jsondoc_t *self, const s_member_t *m, const char *key)
{
    return m->key_len == strlen (key) && !memcmp (self->cur.data + m->key, key, m->key_len);
}

/*  The value of the member being read ends before `end`. */
static void
s_value_end (ts_jsondoc_t *self, size_t end)
{
    if (!self->in_val)
        return;
    self->in_val = false;
    s_member_t *m = &self->members [self->nmembers - 1];
    m->val_len = end - m->val;
    if (self->top_object && !self->have_eval && s_key_is (self, m, "eval")) {
        self->eval.size = 0;
        self->have_eval = ts_buf_append (&self->eval, self->cur.data + m->val, m->val_len) == 0;
    }
}

static int
s_emit (ts_jsondoc_t *self)
{
    ts_jsondoc_member_t list [TS_JSONDOC_MEMBERS + 1];
    int n = 0;
    const char *text = self->cur.data ? self->cur.data : "";
    size_t len = self->cur.size;
    size_t shift = 0;
    if (self->sample && self->have_eval && len >= 2 && text [0] == '{') {
        /* {"eval":<the log's eval>, <the sample's members>} */
        self->out.size = 0;
        bool empty = len == 2;
        if (ts_buf_append (&self->out, "{\"eval\":", 8)
        ||  ts_buf_append (&self->out, self->eval.data, self->eval.size)
        ||  ts_buf_append (&self->out, empty ? "}" : ",", 1)
        ||  (!empty && ts_buf_append (&self->out, text + 1, len - 1)))
            return s_fail (self, "out of memory");
        shift = 8 + self->eval.size + 1 - 1;
        list [n++] = (ts_jsondoc_member_t) { self->out.data + 2, 4, self->out.data + 8,
                                             self->eval.size };
        text = self->out.data;
        len = self->out.size;
    }
    for (int i = 0; i < self->nmembers && n < TS_JSONDOC_MEMBERS; i++) {
        const s_member_t *m = &self->members [i];
        list [n++] = (ts_jsondoc_member_t) { text + shift + m->key, m->key_len,
                                             text + shift + m->val, m->val_len };
    }
    if (len > self->max) {
        char what [96];
        snprintf (what, sizeof what, "the record is larger than %zu bytes (--max-line)", self->max);
        return s_fail (self, what);
    }
    self->records++;
    int rc = self->emit (self->arg, text, len, list, text [0] == '{' ? n : 0);
    if (rc)
        self->failed = rc;
    return rc;
}

static bool
s_space (char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*  One byte of a record being buffered (S_RECORD, S_SCALAR). */
static int
s_record_byte (ts_jsondoc_t *self, char c)
{
    int rd = self->depth - self->base;          /* 1: the record's own members */
    if (self->in_str) {
        if (c == '\n')
            c = '\r';                           /* stays invalid, stays one line */
        if (ts_buf_append (&self->cur, &c, 1))
            return s_fail (self, "out of memory");
        if (self->esc)
            self->esc = false;
        else if (c == '\\')
            self->esc = true;
        else if (c == '"') {
            self->in_str = false;
            if (self->in_key) {
                self->in_key = false;
                s_member_t *m = &self->members [self->nmembers - 1];
                m->key_len = self->cur.size - 1 - m->key;
            }
        }
        return 0;
    }
    if (s_space (c))
        return 0;
    if (self->state == S_SCALAR && (c == ',' || c == ']')) {
        int rc = s_emit (self);
        self->state = self->sample ? S_SAMPLES : S_ARRAY;
        return rc ? rc : S_AGAIN;               /* the list takes the ',' or ']' */
    }
    if (rd == 1 && self->val_pending) {         /* a member's value starts */
        self->val_pending = false;
        self->in_val = true;
        self->members [self->nmembers - 1].val = self->cur.size;
        if (self->top_object && c == '[' && self->have_eval
        &&  s_key_is (self, &self->members [self->nmembers - 1], "samples")) {
            /* an inspect_ai log: its samples are the records */
            self->saw_log = true;
            self->depth++;
            self->list_depth = self->depth;
            self->state = S_SAMPLES;
            return 0;
        }
    }
    if (ts_buf_append (&self->cur, &c, 1))
        return s_fail (self, "out of memory");
    if (self->cur.size > self->max + 1) {
        char what [96];
        snprintf (what, sizeof what, "the record is larger than %zu bytes (--max-line)", self->max);
        return s_fail (self, what);
    }
    switch (c) {
    case '"':
        self->in_str = true;
        if (rd == 1 && self->key_next && self->cur.data [0] == '{') {
            self->key_next = false;
            if (self->nmembers < TS_JSONDOC_MEMBERS) {
                self->in_key = true;
                self->members [self->nmembers++] = (s_member_t) { self->cur.size, 0, 0, 0 };
            }
        }
        break;
    case '{': case '[':
        self->depth++;
        if (self->depth - self->base == 1 && c == '{')
            self->key_next = true;
        break;
    case '}': case ']':
        if (rd == 1)
            s_value_end (self, self->cur.size - 1);
        self->depth--;
        if (self->depth < self->base)
            return s_fail (self, "a closing bracket without its opening one");
        if (self->depth == self->base) {        /* the record is complete */
            int rc = s_emit (self);
            self->state = self->sample ? S_SAMPLES : self->base ? S_ARRAY : S_TOP;
            return rc;
        }
        break;
    case ':':
        if (rd == 1 && self->nmembers && !self->in_val
        &&  self->members [self->nmembers - 1].val == 0 && self->cur.data [0] == '{')
            self->val_pending = true;
        break;
    case ',':
        if (rd == 1) {
            s_value_end (self, self->cur.size - 1);
            self->key_next = self->cur.data [0] == '{';
        }
        break;
    default:
        break;
    }
    return 0;
}

int
ts_jsondoc_feed (ts_jsondoc_t *self, const char *buf, size_t len)
{
    if (self->failed)
        return self->failed;
    for (size_t i = 0; i < len; i++, self->off++) {
        char c = buf [i];
        int rc;
    again:
        rc = 0;
        switch (self->state) {
        case S_TOP:
            if (s_space (c))
                break;
            if (c == '[') {
                self->depth = 1;
                self->list_depth = 1;
                self->state = S_ARRAY;
            }
            else if (c == '{') {
                self->top_object = true;
                self->sample = false;
                self->have_eval = false;
                s_record_begin (self, S_RECORD);
                rc = s_record_byte (self, c);
            }
            else
                rc = s_fail (self, "a JSON document here holds objects, or arrays of them");
            break;
        case S_ARRAY:
        case S_SAMPLES:
            if (s_space (c) || c == ',')
                break;
            if (c == ']') {
                self->depth--;
                if (self->state == S_SAMPLES) {
                    self->state = S_SKIP;       /* the rest of the log */
                    self->in_str = self->esc = false;
                }
                else
                    self->state = S_TOP;
                break;
            }
            self->top_object = false;
            self->sample = self->state == S_SAMPLES;
            s_record_begin (self, c == '{' || c == '[' ? S_RECORD : S_SCALAR);
            rc = s_record_byte (self, c);
            break;
        case S_RECORD:
        case S_SCALAR:
            rc = s_record_byte (self, c);
            break;
        case S_SKIP:
            if (self->in_str) {
                if (self->esc)
                    self->esc = false;
                else if (c == '\\')
                    self->esc = true;
                else if (c == '"')
                    self->in_str = false;
            }
            else if (c == '"')
                self->in_str = true;
            else if (c == '{' || c == '[')
                self->depth++;
            else if (c == '}' || c == ']') {
                if (--self->depth == 0)
                    self->state = S_TOP;
            }
            break;
        }
        if (rc == S_AGAIN)
            goto again;
        if (rc) {
            self->off++;
            return rc;
        }
    }
    return 0;
}

int
ts_jsondoc_finish (ts_jsondoc_t *self)
{
    if (self->failed)
        return self->failed;
    if (self->state == S_SCALAR)
        return s_fail (self, "the document ends inside an array (truncated?)");
    if (self->state != S_TOP)
        return s_fail (self, self->in_str ? "the document ends inside a string (truncated?)"
                                          : "the document ends inside a record (truncated?)");
    return 0;
}

const char *
ts_jsondoc_error (const ts_jsondoc_t *self)
{
    return self->err;
}

uint64_t
ts_jsondoc_records (const ts_jsondoc_t *self)
{
    return self->records;
}

bool
ts_jsondoc_saw_log (const ts_jsondoc_t *self)
{
    return self->saw_log;
}
