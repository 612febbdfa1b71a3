/*  ts_jsoncheck.c: strict JSON validation that explains itself.
 *
 *  simdjson (the fast path, ts_parse.cpp) says *that* a line is bad, often
 *  only as "improper structure". This recursive-descent checker runs after
 *  a refusal and finds *what* is wrong and where, so each rejected line
 *  gets its own reason: trailing comma, single quotes, NaN, trailing
 *  garbage, invalid UTF-8, lone surrogates, numbers that do not fit.
 *  It is never on the hot path.
 */
#include "ts_parse.h"
#include "ts_error.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const unsigned char *s;
    size_t len, pos;
    char  *reason;
    size_t reason_size;
    int    depth;
} s_ctx_t;

static int
s_fail (s_ctx_t *c, const char *what)
{
    snprintf (c->reason, c->reason_size, "%s at column %zu", what, c->pos + 1);
    return -1;
}

static void
s_ws (s_ctx_t *c)
{
    while (c->pos < c->len) {
        unsigned char ch = c->s [c->pos];
        if (ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r')
            break;
        c->pos++;
    }
}

static int s_value (s_ctx_t *c);

/*  One UTF-8 sequence at c->pos (first byte >= 0x80): strict, no overlong
 *  forms, no encoded surrogates, nothing above U+10FFFF. */
static int
s_utf8 (s_ctx_t *c)
{
    const unsigned char *p = c->s + c->pos;
    size_t left = c->len - c->pos;
    unsigned char b = p [0];
    int n;
    unsigned cp;
    if (b >= 0xc2 && b <= 0xdf) { n = 2; cp = b & 0x1f; }
    else if (b >= 0xe0 && b <= 0xef) { n = 3; cp = b & 0x0f; }
    else if (b >= 0xf0 && b <= 0xf4) { n = 4; cp = b & 0x07; }
    else if (b == 0xc0 || b == 0xc1) return s_fail (c, "overlong UTF-8 sequence");
    else return s_fail (c, "invalid UTF-8 byte");
    if (left < (size_t) n)
        return s_fail (c, "truncated UTF-8 sequence");
    for (int i = 1; i < n; i++) {
        if ((p [i] & 0xc0) != 0x80)
            return s_fail (c, "invalid UTF-8 sequence");
        cp = (cp << 6) | (p [i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000))
        return s_fail (c, "overlong UTF-8 sequence");
    if (cp >= 0xd800 && cp <= 0xdfff)
        return s_fail (c, "UTF-8 encoded surrogate");
    if (cp > 0x10ffff)
        return s_fail (c, "UTF-8 code point above U+10FFFF");
    c->pos += (size_t) n;
    return 0;
}

static int
s_hex4 (s_ctx_t *c, size_t at, unsigned *out)
{
    unsigned v = 0;
    if (at + 4 > c->len)
        return -1;
    for (int i = 0; i < 4; i++) {
        unsigned char h = c->s [at + (size_t) i];
        v <<= 4;
        if (h >= '0' && h <= '9') v |= h - '0';
        else if (h >= 'a' && h <= 'f') v |= h - 'a' + 10;
        else if (h >= 'A' && h <= 'F') v |= h - 'A' + 10;
        else return -1;
    }
    *out = v;
    return 0;
}

static int
s_string (s_ctx_t *c)
{
    c->pos++;                                   /* opening quote */
    while (c->pos < c->len) {
        unsigned char ch = c->s [c->pos];
        if (ch == '"') { c->pos++; return 0; }
        if (ch < 0x20)
            return s_fail (c, "control character inside a string (must be escaped)");
        if (ch >= 0x80) {
            if (s_utf8 (c))
                return -1;
            continue;
        }
        if (ch != '\\') { c->pos++; continue; }
        if (c->pos + 1 >= c->len)
            return s_fail (c, "unterminated string");
        unsigned char e = c->s [c->pos + 1];
        if (strchr ("\"\\/bfnrt", e) && e) { c->pos += 2; continue; }
        if (e != 'u')
            return s_fail (c, "invalid escape in a string");
        unsigned u, lo;
        if (s_hex4 (c, c->pos + 2, &u))
            return s_fail (c, "invalid \\u escape");
        if (u >= 0xdc00 && u <= 0xdfff)
            return s_fail (c, "lone surrogate (low half without a high half) in \\u escape");
        if (u >= 0xd800 && u <= 0xdbff) {
            if (c->pos + 12 > c->len || c->s [c->pos + 6] != '\\' || c->s [c->pos + 7] != 'u'
            ||  s_hex4 (c, c->pos + 8, &lo) || lo < 0xdc00 || lo > 0xdfff)
                return s_fail (c, "lone surrogate (high half without a low half) in \\u escape");
            c->pos += 12;
        }
        else
            c->pos += 6;
    }
    return s_fail (c, "unterminated string");
}

static int
s_number (s_ctx_t *c)
{
    size_t start = c->pos;
    bool is_float = false;
    if (c->s [c->pos] == '-')
        c->pos++;
    if (c->pos < c->len && (c->s [c->pos] == 'I' || c->s [c->pos] == 'N'))
        return s_fail (c, "Infinity/NaN is not JSON");
    if (c->pos >= c->len || c->s [c->pos] < '0' || c->s [c->pos] > '9')
        return s_fail (c, "invalid number");
    if (c->s [c->pos] == '0' && c->pos + 1 < c->len && c->s [c->pos + 1] >= '0' && c->s [c->pos + 1] <= '9')
        return s_fail (c, "number with a leading zero");
    while (c->pos < c->len && c->s [c->pos] >= '0' && c->s [c->pos] <= '9')
        c->pos++;
    if (c->pos < c->len && c->s [c->pos] == '.') {
        is_float = true;
        c->pos++;
        if (c->pos >= c->len || c->s [c->pos] < '0' || c->s [c->pos] > '9')
            return s_fail (c, "a digit must follow the decimal point");
        while (c->pos < c->len && c->s [c->pos] >= '0' && c->s [c->pos] <= '9')
            c->pos++;
    }
    if (c->pos < c->len && (c->s [c->pos] == 'e' || c->s [c->pos] == 'E')) {
        is_float = true;
        c->pos++;
        if (c->pos < c->len && (c->s [c->pos] == '+' || c->s [c->pos] == '-'))
            c->pos++;
        if (c->pos >= c->len || c->s [c->pos] < '0' || c->s [c->pos] > '9')
            return s_fail (c, "a digit must follow the exponent");
        while (c->pos < c->len && c->s [c->pos] >= '0' && c->s [c->pos] <= '9')
            c->pos++;
    }
    char buf [400];
    size_t n = c->pos - start;
    if (n >= sizeof buf) {
        c->pos = start;
        return s_fail (c, "number too long");
    }
    memcpy (buf, c->s + start, n);
    buf [n] = 0;
    errno = 0;
    if (is_float) {
        double v = strtod (buf, NULL);
        if (isinf (v)) {
            c->pos = start;
            return s_fail (c, "number out of the range of a 64-bit float");
        }
    }
    else if (buf [0] == '-') {
        (void) strtoll (buf, NULL, 10);
        if (errno == ERANGE) {
            c->pos = start;
            return s_fail (c, "integer does not fit 64 bits");
        }
    }
    else {
        (void) strtoull (buf, NULL, 10);
        if (errno == ERANGE) {
            c->pos = start;
            return s_fail (c, "integer does not fit 64 bits");
        }
    }
    return 0;
}

static int
s_literal (s_ctx_t *c, const char *word)
{
    size_t n = strlen (word);
    if (c->len - c->pos >= n && memcmp (c->s + c->pos, word, n) == 0) {
        c->pos += n;
        return 0;
    }
    return s_fail (c, "invalid literal");
}

static int
s_container (s_ctx_t *c, bool object)
{
    if (++c->depth > TS_MAX_DEPTH) {
        char what [64];
        snprintf (what, sizeof what, "nesting deeper than %d levels", TS_MAX_DEPTH);
        return s_fail (c, what);
    }
    c->pos++;
    s_ws (c);
    if (c->pos < c->len && c->s [c->pos] == (object ? '}' : ']')) {
        c->pos++;
        c->depth--;
        return 0;
    }
    for (;;) {
        s_ws (c);
        if (c->pos >= c->len)
            return s_fail (c, object ? "unclosed object (line truncated?)" : "unclosed array (line truncated?)");
        if (object) {
            unsigned char ch = c->s [c->pos];
            if (ch == '\'')
                return s_fail (c, "single-quoted string (JSON needs double quotes)");
            if (ch == '}')
                return s_fail (c, "trailing comma before '}'");
            if (ch != '"')
                return s_fail (c, "expected a string key");
            if (s_string (c))
                return -1;
            s_ws (c);
            if (c->pos >= c->len || c->s [c->pos] != ':')
                return s_fail (c, "expected ':' after the key");
            c->pos++;
            s_ws (c);
        }
        else if (c->s [c->pos] == ']')
            return s_fail (c, "trailing comma before ']'");
        if (s_value (c))
            return -1;
        s_ws (c);
        if (c->pos >= c->len)
            return s_fail (c, object ? "unclosed object (line truncated?)" : "unclosed array (line truncated?)");
        unsigned char ch = c->s [c->pos];
        if (ch == ',') { c->pos++; continue; }
        if (ch == (object ? '}' : ']')) { c->pos++; c->depth--; return 0; }
        return s_fail (c, object ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static int
s_value (s_ctx_t *c)
{
    s_ws (c);
    if (c->pos >= c->len)
        return s_fail (c, "expected a value (line truncated?)");
    unsigned char ch = c->s [c->pos];
    switch (ch) {
    case '{': return s_container (c, true);
    case '[': return s_container (c, false);
    case '"': return s_string (c);
    case '\'': return s_fail (c, "single-quoted string (JSON needs double quotes)");
    case 't': return s_literal (c, "true");
    case 'f': return s_literal (c, "false");
    case 'n': return s_literal (c, "null");
    case 'N': case 'I': return s_fail (c, "Infinity/NaN is not JSON");
    default:
        if (ch == '-' || (ch >= '0' && ch <= '9'))
            return s_number (c);
        return s_fail (c, "unexpected character");
    }
}

int
ts_json_diagnose (const char *text, size_t len, char *reason, size_t reason_size)
{
    s_ctx_t c = { (const unsigned char *) text, len, 0, reason, reason_size, 0 };
    s_ws (&c);
    if (c.pos < c.len && c.s [c.pos] != '{') {
        if (s_value (&c))
            return TS_EBADLINE;
        snprintf (reason, reason_size, "the line is not a JSON object");
        return TS_EBADLINE;
    }
    if (s_value (&c))
        return TS_EBADLINE;
    s_ws (&c);
    if (c.pos < c.len) {
        s_fail (&c, "unexpected characters after the object");
        return TS_EBADLINE;
    }
    return 0;
}
