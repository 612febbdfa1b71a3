/*  ts_text.c: the full-text tokenizer (ts_text.h). */
#include "ts_text.h"
#include "ts_text_int.h"

#include <stdbool.h>
#include <string.h>

enum { C_SEP = 0, C_WORD, C_CONN, C_CJK };

#define S_WORD_UNITS 256        /* a longer word is cut into pieces */

typedef struct {
    uint32_t off, end;          /* source bytes */
    uint16_t foff;              /* folded bytes in the word's buffer */
    uint8_t  flen;
    uint8_t  cls;               /* TS_TC_ bits, or 0 for a connector */
} s_unit_t;

/*  Decodes one code point at s[0..len): its value and byte count; an
 *  invalid or truncated sequence is one byte of value 0xFFFD. */
static uint32_t
s_decode (const unsigned char *s, size_t len, size_t *n)
{
    unsigned char c = s [0];
    if (c < 0x80) {
        *n = 1;
        return c;
    }
    uint32_t cp;
    size_t need;
    if (c >= 0xC2 && c <= 0xDF)      { cp = c & 0x1F; need = 2; }
    else if (c >= 0xE0 && c <= 0xEF) { cp = c & 0x0F; need = 3; }
    else if (c >= 0xF0 && c <= 0xF4) { cp = c & 0x07; need = 4; }
    else { *n = 1; return 0xFFFD; }
    if (len < need) { *n = 1; return 0xFFFD; }
    for (size_t i = 1; i < need; i++) {
        if ((s [i] & 0xC0) != 0x80) { *n = 1; return 0xFFFD; }
        cp = (cp << 6) | (s [i] & 0x3F);
    }
    if ((need == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF)))
    ||  (need == 4 && (cp < 0x10000 || cp > 0x10FFFF))) {
        *n = 1;
        return 0xFFFD;
    }
    *n = need;
    return cp;
}

static bool
s_is_cjk (uint32_t cp)
{
    return (cp >= 0x3040 && cp <= 0x30FF) || (cp >= 0x31F0 && cp <= 0x31FF)
        || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x4E00 && cp <= 0x9FFF)
        || (cp >= 0xAC00 && cp <= 0xD7AF) || (cp >= 0x1100 && cp <= 0x11FF)
        || (cp >= 0x3130 && cp <= 0x318F) || (cp >= 0xF900 && cp <= 0xFAFF)
        || (cp >= 0x20000 && cp <= 0x3FFFF);
}

/*  Punctuation and symbol blocks above the table: separators. */
static bool
s_is_sep (uint32_t cp)
{
    return (cp >= 0x2000 && cp <= 0x2BFF) || (cp >= 0x2E00 && cp <= 0x2E7F)
        || (cp >= 0x3000 && cp <= 0x303F) || (cp >= 0xFE30 && cp <= 0xFE4F)
        || (cp >= 0xFF00 && cp <= 0xFF0F) || (cp >= 0xFF1A && cp <= 0xFF20)
        || (cp >= 0xFF3B && cp <= 0xFF40) || (cp >= 0xFF5B && cp <= 0xFF65)
        || (cp >= 0xFFF0 && cp <= 0xFFFF) || (cp >= 0xE000 && cp <= 0xF8FF)
        || (cp >= 0x1F000 && cp <= 0x1FAFF);
}

/*  The class of a code point (C_*), with its TS_TC_ bits and folded
 *  bytes for a word character. */
static int
s_class (uint32_t cp, const unsigned char *src, size_t n, uint8_t *bits,
         const char **fold, uint8_t *flen)
{
    if (cp == '_' || cp == '.') {
        *fold = (const char *) src;
        *flen = 1;
        return C_CONN;
    }
    if (cp < 0x530) {
        const ts_text_fold_t *t = &ts_text_fold_table [cp];
        if (!t->cls)
            return C_SEP;
        *bits = t->cls;
        *fold = t->fold;
        *flen = t->len;
        return C_WORD;
    }
    if (cp == 0xFFFD && n == 1)
        return C_SEP;
    if (s_is_cjk (cp)) {
        *fold = (const char *) src;
        *flen = (uint8_t) n;
        return C_CJK;
    }
    if (s_is_sep (cp))
        return C_SEP;
    *bits = TS_TC_WORD;
    *fold = (const char *) src;
    *flen = (uint8_t) n;
    return C_WORD;
}

/*  Is unit u a letter in lower case (not upper, not a digit, not a mark)? */
static bool
s_lower (const s_unit_t *u)
{
    return u->cls && !(u->cls & (TS_TC_UPPER | TS_TC_DIGIT | TS_TC_MARK));
}

/*  Emits one word of n units (folded bytes in fb): the whole, then its
 *  parts when it has several. */
static int
s_word (const s_unit_t *u, int n, const char *fb, uint32_t *pos,
        ts_text_emit_fn *emit, void *arg)
{
    /* connectors at the end were never added; the whole word */
    size_t wlen = (size_t) u [n - 1].foff + u [n - 1].flen;
    int rc = 0;
    /* the parts: cut at connectors and camelCase boundaries */
    int starts [S_WORD_UNITS], ends [S_WORD_UNITS], k = 0;
    int i = 0;
    while (i < n) {
        if (!u [i].cls) {               /* a connector */
            i++;
            continue;
        }
        int a = i, prev = -1;
        while (i < n && u [i].cls) {
            if (i > a && (u [i].cls & TS_TC_UPPER) && prev >= 0) {
                bool cut = !(u [prev].cls & TS_TC_UPPER);
                if (!cut && (u [prev].cls & TS_TC_UPPER)) {
                    int nx = i + 1;
                    while (nx < n && (u [nx].cls & TS_TC_MARK))
                        nx++;
                    cut = nx < n && s_lower (&u [nx]);
                }
                if (cut) {
                    starts [k] = a;
                    ends [k++] = i;
                    a = i;
                }
            }
            if (!(u [i].cls & TS_TC_MARK))
                prev = i;
            i++;
        }
        starts [k] = a;
        ends [k++] = i;
    }
    if (wlen > 0 && wlen <= TS_TEXT_TOKEN_MAX)
        rc = emit (arg, fb, wlen, *pos, TS_TOK_WORD, u [0].off, u [n - 1].end);
    if (k > 1)
        for (int j = 0; j < k && !rc; j++) {
            const s_unit_t *a = &u [starts [j]], *b = &u [ends [j] - 1];
            size_t plen = (size_t) b->foff + b->flen - a->foff;
            if (plen > 0 && plen <= TS_TEXT_TOKEN_MAX)
                rc = emit (arg, fb + a->foff, plen, *pos + (uint32_t) j, TS_TOK_PART, a->off, b->end);
        }
    *pos += k > 1 ? (uint32_t) k : 1;
    return rc;
}

/*  The ASCII fast path: most of the text an agent's steps hold is ASCII,
 *  and most of its words are plain (lower case and digits, or one capital
 *  first, no connector): such a word is one token, emitted from the text
 *  itself (or its first byte folded), with no decode, no units and no
 *  copy. Anything else (a connector inside, a capital further on, a byte
 *  over 0x7F, a word of S_WORD_UNITS bytes or more) returns false and the
 *  general path below takes the word from its start, so both paths cut
 *  and fold the same (test_text compares them on random strings). */
static bool
s_ascii_word (const unsigned char *s, size_t len, size_t i, size_t *end)
{
    size_t j = i + 1;
    for (; j < len; j++) {
        unsigned char c = s [j];
        if (c >= 0x80)
            return false;
        uint8_t cls = ts_text_fold_table [c].cls;
        if (cls) {
            if (cls & TS_TC_UPPER)
                return false;
            continue;
        }
        if (c == '_' || c == '.') {
            /* a connector: inside the word if a word character follows */
            if (j + 1 < len && (s [j + 1] >= 0x80 || ts_text_fold_table [s [j + 1]].cls))
                return false;
        }
        break;
    }
    if (j - i >= S_WORD_UNITS)
        return false;
    *end = j;
    return true;
}

static int
s_tokens (const char *text, size_t len, uint32_t *pos, ts_text_emit_fn *emit, void *arg,
          bool fast)
{
    const unsigned char *s = (const unsigned char *) text;
    s_unit_t units [S_WORD_UNITS];
    char fb [S_WORD_UNITS * 8];
    size_t i = 0;
    int rc = 0;
    while (i < len && !rc) {
        if (fast && s [i] < 0x80) {
            const ts_text_fold_t *t = &ts_text_fold_table [s [i]];
            size_t end;
            if (!t->cls) {              /* a separator, or a connector first */
                i++;
                continue;
            }
            if (s_ascii_word (s, len, i, &end)) {
                size_t wlen = end - i;
                if (wlen <= TS_TEXT_TOKEN_MAX) {
                    const char *w = text + i;
                    if (t->cls & TS_TC_UPPER) {
                        fb [0] = t->fold [0];
                        memcpy (fb + 1, text + i + 1, wlen - 1);
                        w = fb;
                    }
                    rc = emit (arg, w, wlen, *pos, TS_TOK_WORD, i, end);
                }
                (*pos)++;
                i = end;
                continue;
            }
        }
        size_t n;
        uint32_t cp = s_decode (s + i, len - i, &n);
        uint8_t bits = 0, flen = 0;
        const char *fold = NULL;
        int c = s_class (cp, s + i, n, &bits, &fold, &flen);
        if (c == C_CJK) {
            /* a run of them: overlapping bigrams */
            size_t prev_off = i, prev_n = n, at = i + n;
            bool lone = true;
            while (at < len && !rc) {
                size_t m;
                uint32_t cp2 = s_decode (s + at, len - at, &m);
                if (!s_is_cjk (cp2))
                    break;
                lone = false;
                rc = emit (arg, text + prev_off, prev_n + m, *pos, TS_TOK_CJK, prev_off, at + m);
                (*pos)++;
                prev_off = at;
                prev_n = m;
                at += m;
            }
            if (lone && !rc) {
                rc = emit (arg, text + i, n, *pos, TS_TOK_CJK, i, i + n);
                (*pos)++;
            }
            i = at;
            continue;
        }
        if (c != C_WORD || (bits & TS_TC_MARK)) {
            i += n;
            continue;
        }
        /* a word: word characters, and connectors between two of them */
        int nu = 0;
        size_t fl = 0;
        while (i < len) {
            cp = s_decode (s + i, len - i, &n);
            c = s_class (cp, s + i, n, &bits, &fold, &flen);
            if (c == C_CONN) {
                size_t m;
                if (i + 1 >= len)
                    break;
                uint32_t nx = s_decode (s + i + 1, len - i - 1, &m);
                uint8_t b2 = 0, f2 = 0;
                const char *fo2;
                if (s_class (nx, s + i + 1, m, &b2, &fo2, &f2) != C_WORD || (b2 & TS_TC_MARK))
                    break;
                bits = 0;               /* a connector unit */
            }
            else if (c != C_WORD)
                break;
            if (nu == S_WORD_UNITS)
                break;                  /* the rest is another word */
            units [nu] = (s_unit_t) { (uint32_t) i, (uint32_t) (i + n), (uint16_t) fl, flen, bits };
            if (flen == 1)              /* most are: no call to memcpy */
                fb [fl] = fold [0];
            else
                memcpy (fb + fl, fold, flen);
            fl += flen;
            nu++;
            i += n;
        }
        if (nu > 0)
            rc = s_word (units, nu, fb, pos, emit, arg);
    }
    return rc;
}

int
ts_text_tokens (const char *text, size_t len, uint32_t *pos, ts_text_emit_fn *emit, void *arg)
{
    return s_tokens (text, len, pos, emit, arg, true);
}

int
ts_text_tokens_general (const char *text, size_t len, uint32_t *pos, ts_text_emit_fn *emit,
                        void *arg)
{
    return s_tokens (text, len, pos, emit, arg, false);
}
