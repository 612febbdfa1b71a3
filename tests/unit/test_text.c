/*  test_text.c: the full-text tokenizer (ts_text.h): words, identifiers
 *  and their parts with their positions, case and accent folding for
 *  Latin, Greek and Cyrillic (precomposed and decomposed), CJK bigrams,
 *  long tokens, invalid UTF-8, and the byte ranges snippets are cut from.
 *  The end-to-end oracle (tests/e2e/e2e_search.py) checks the same rules
 *  against Python's unicodedata over a whole fixture.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "ts_text.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    char out [4096];        /* "tok@pos " ... ('+' marks a part) */
    size_t len;
    size_t off [64], end [64];
    int n;
} s_acc_t;

static int
s_emit (void *arg, const char *tok, size_t len, uint32_t pos, ts_tok_kind_t kind,
        size_t off, size_t end)
{
    s_acc_t *a = arg;
    a->len += (size_t) snprintf (a->out + a->len, sizeof a->out - a->len, "%s%.*s@%u ",
                                 kind == TS_TOK_PART ? "+" : "", (int) len, tok, pos);
    if (a->n < 64) {
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
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
