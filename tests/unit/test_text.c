/*  test_text.c: the full-text tokenizer (ts_text.h): words, identifiers
 *  and their parts with their positions, case and accent folding for
 *  Latin, Greek and Cyrillic (precomposed and decomposed), CJK bigrams,
 *  long tokens, invalid UTF-8, and the byte ranges snippets are cut from;
 *  the ASCII fast path against the general path on random strings.
 *  The end-to-end oracle (tests/e2e/e2e_search.py) checks the same rules
 *  against Python's unicodedata over a whole fixture.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "ts_text.h"
#include "ts_text_int.h"

#include <stdio.h>
#include <string.h>

#define S_ACC_MAX 1024              /* tokens whose ranges are kept */

typedef struct {
    char out [65536];       /* "tok@pos " ... ('+' marks a part) */
    size_t len;
    size_t off [S_ACC_MAX], end [S_ACC_MAX];
    int n;
} s_acc_t;

static int
s_emit (void *arg, const char *tok, size_t len, uint32_t pos, ts_tok_kind_t kind,
        size_t off, size_t end)
{
    s_acc_t *a = arg;
    int w = snprintf (a->out + a->len, sizeof a->out - a->len, "%s%.*s@%u ",
                      kind == TS_TOK_PART ? "+" : "", (int) len, tok, pos);
    assert_true (w > 0 && (size_t) w < sizeof a->out - a->len);
    a->len += (size_t) w;
    if (a->n < S_ACC_MAX) {
        a->off [a->n] = off;
        a->end [a->n] = end;
    }
    a->n++;
    return 0;
}

static uint32_t
s_tok (const char *text, s_acc_t *a)
{
    memset (a, 0, sizeof *a);
    uint32_t pos = 0;
    assert_int_equal (ts_text_tokens (text, strlen (text), &pos, s_emit, a), 0);
    return pos;
}

static void
s_expect (const char *text, const char *want, uint32_t next)
{
    s_acc_t a;
    uint32_t pos = s_tok (text, &a);
    if (strcmp (a.out, want))
        fail_msg ("'%s' gave '%s', expected '%s'", text, a.out, want);
    assert_int_equal (pos, next);
}

static void
test_words (void **state)
{
    (void) state;
    s_expect ("Hello, World!", "hello@0 world@1 ", 2);
    s_expect ("  ", "", 0);
    s_expect ("end. Next", "end@0 next@1 ", 2);
    s_expect ("don't stop-me", "don@0 t@1 stop@2 me@3 ", 4);
    s_expect ("error 42x", "error@0 42x@1 ", 2);
    s_expect ("__init__ _x", "init@0 x@1 ", 2);
}

static void
test_identifiers (void **state)
{
    (void) state;
    s_expect ("ModuleNotFoundError: x",
              "modulenotfounderror@0 +module@0 +not@1 +found@2 +error@3 x@4 ", 5);
    s_expect ("os.path.join(a)", "os.path.join@0 +os@0 +path@1 +join@2 a@3 ", 4);
    s_expect ("HTTPServer", "httpserver@0 +http@0 +server@1 ", 2);
    s_expect ("my_var2 getX", "my_var2@0 +my@0 +var2@1 getx@2 +get@2 +x@3 ", 4);
    s_expect ("3.14", "3.14@0 +3@0 +14@1 ", 2);
    s_expect ("UPPER lower", "upper@0 lower@1 ", 2);
}

static void
test_folding (void **state)
{
    (void) state;
    s_expect ("Café CRÈME brûlée", "cafe@0 creme@1 brulee@2 ", 3);
    s_expect ("Cafe\xcc\x81", "cafe@0 ", 1);                /* decomposed */
    s_expect ("ΣΟΦΊΑ σοφία", "σοφια@0 σοφια@1 ", 2);
    s_expect ("Ёлка МОСКВА", "елка@0 москва@1 ", 2);
    s_expect ("Straße", "strasse@0 ", 1);                   /* casefold */
    s_expect ("ÆSIR", "æsir@0 ", 1);
    s_expect ("naïveÉtat", "naiveetat@0 +naive@0 +etat@1 ", 2);
}

static void
test_cjk (void **state)
{
    (void) state;
    s_expect ("北京大学", "北京@0 京大@1 大学@2 ", 3);
    s_expect ("a北b", "a@0 北@1 b@2 ", 3);
    s_expect ("中文，测试", "中文@0 测试@1 ", 2);
    s_expect ("Python编程语言", "python@0 编程@1 程语@2 语言@3 ", 4);
    s_expect ("カタカナ", "カタ@0 タカ@1 カナ@2 ", 3);
}

static void
test_limits (void **state)
{
    (void) state;
    char big [200];
    memset (big, 'a', 100);
    strcpy (big + 100, " tail");
    s_expect (big, "tail@1 ", 2);                    /* too long: skipped */
    s_expect ("ab\xff" "cd \xe2\x82", "ab@0 cd@1 ", 2);  /* invalid bytes separate */
    s_expect ("x \xf0\x9f\x98\x80 y", "x@0 y@1 ", 2);   /* emoji separate */
    /* a word of more than 256 characters is cut, never overflows */
    char huge [1200];
    for (int i = 0; i < 1100; i++)
        huge [i] = (char) ('a' + (i % 3 == 0 ? 'B' - 'a' - 32 + 32 : 0));
    huge [1100] = 0;
    s_acc_t a;
    s_tok (huge, &a);
    assert_true (a.n > 0);
}

static void
test_offsets (void **state)
{
    (void) state;
    s_acc_t a;
    const char *t = "see Café_Noir.";
    s_tok (t, &a);
    assert_string_equal (a.out, "see@0 cafe_noir@1 +cafe@1 +noir@2 ");
    assert_int_equal (a.off [1], 4);
    assert_int_equal (a.end [1], strlen (t) - 1);    /* not the final '.' */
    assert_int_equal (a.off [2], 4);
    assert_int_equal (a.end [2], 4 + strlen ("Café"));
    assert_int_equal (a.off [3], 4 + strlen ("Café_"));
}

/*  Random strings of pieces where the two paths could part: capitals
 *  inside and first, connectors before ASCII, non-ASCII and separators,
 *  accents (precomposed and combining), CJK, invalid bytes, long words
 *  (the 64-byte token and 256-unit word limits): the same tokens, positions
 *  and byte ranges. */
static void
test_fast_path (void **state)
{
    (void) state;
    static const char *pieces [] = {
        "a", "b", "z", "Q", "A", "0", "7", "_", ".", " ", "-", "/", "\n", "\xc3\xa9",
        "\xc3\x89", "\xcc\x81", "\xe5\x8c\x97", "\xe4\xba\xac", "\xff", "\xc3",
        "\xce\xa3", "\xf0\x9f\x98\x80", "get", "User", "HTTP", "x_y", "os.path",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    };
    const size_t np = sizeof pieces / sizeof pieces [0];
    uint64_t x = 0x9E3779B97F4A7C15ull;
    static s_acc_t fast, gen;
    char text [2048];
    for (int round = 0; round < 20000; round++) {
        size_t len = 0;
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        int npieces = (int) (x % 64);
        for (int k = 0; k < npieces; k++) {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            /* mostly letters, digits and connectors; one round in 8 long
             * words (over 64 bytes, over 256 units) */
            size_t pi = (x >> 8) % 4 == 0 ? (x >> 16) % np : (x >> 16) % 11;
            if (round % 8 == 0 && (x >> 40) % 2)
                pi = np - 1;
            const char *pc = pieces [pi];
            size_t pl = strlen (pc);
            if (len + pl >= sizeof text)
                break;
            memcpy (text + len, pc, pl);
            len += pl;
        }
        uint32_t p1 = 3, p2 = 3;
        memset (&fast, 0, sizeof fast);
        memset (&gen, 0, sizeof gen);
        assert_int_equal (ts_text_tokens (text, len, &p1, s_emit, &fast), 0);
        assert_int_equal (ts_text_tokens_general (text, len, &p2, s_emit, &gen), 0);
        assert_true (fast.n <= S_ACC_MAX);
        if (p1 != p2 || strcmp (fast.out, gen.out) || fast.n != gen.n
        ||  memcmp (fast.off, gen.off, sizeof fast.off) || memcmp (fast.end, gen.end, sizeof fast.end))
            fail_msg ("'%.*s': fast '%s' (next %u), general '%s' (next %u)", (int) len, text,
                      fast.out, p1, gen.out, p2);
    }
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_words),
        cmocka_unit_test (test_identifiers),
        cmocka_unit_test (test_folding),
        cmocka_unit_test (test_cjk),
        cmocka_unit_test (test_limits),
        cmocka_unit_test (test_offsets),
        cmocka_unit_test (test_fast_path),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
