/*  ts_text.h: the full-text tokenizer (docs/SEARCH.md says what is indexed
 *  and how a query matches).
 *
 *  Text is UTF-8 (invalid bytes are separators). It is cut into tokens:
 *
 *  - a word is a run of letters, digits and combining marks, with `_` and
 *    `.` kept inside it when a word character follows ("os.path.join",
 *    "my_var", "3.14"); it is emitted whole, and when it holds `_`, `.` or
 *    a camelCase boundary ("getUserName", "HTTPServer") its parts are
 *    emitted too: the whole at position p, the parts at p, p+1, ..., and
 *    the next token after the last part. So a phrase of the parts
 *    ("get user name") matches where the identifier is written.
 *  - Han, kana and Hangul are cut into overlapping bigrams ("北京大学" ->
 *    北京 京大 大学, at consecutive positions); a lone such character is
 *    one token.
 *  - Folding: case folded and accents dropped (Unicode casefold, then NFD
 *    without combining marks) for U+0000..U+052F: Latin, Greek, Cyrillic
 *    ("Café" = "cafe", "ΣΟΦΊΑ" = "σοφια", "Ёлка" = "елка"). Other scripts
 *    are kept as written. The table is generated (scripts/gen_textfold.py).
 *  - A token longer than TS_TEXT_TOKEN_MAX bytes (folded) is not emitted
 *    (a base64 blob, a hash); its position is still taken.
 *
 *  Everything else (space, punctuation, symbols, emoji) separates.
 */
#ifndef TS_TEXT_H
#define TS_TEXT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TS_TEXT_TOKEN_MAX 64

typedef enum {
    TS_TOK_WORD = 0,    /* a whole word (identifier included) */
    TS_TOK_PART = 1,    /* a part of an identifier */
    TS_TOK_CJK  = 2     /* a bigram (or lone character) of Han, kana, Hangul */
} ts_tok_kind_t;

/*  Called for each token: its folded bytes (borrowed for the call), its
 *  position, and where it is in the text ([off, end) bytes). 0 to go on,
 *  anything else stops the walk and is returned. */
typedef int (ts_text_emit_fn) (void *arg, const char *tok, size_t len, uint32_t pos,
                               ts_tok_kind_t kind, size_t off, size_t end);

/*  Tokenizes `len` bytes of `text`; the first token is at position *pos,
 *  and *pos is left after the last one. Returns 0 or what emit returned. */
int ts_text_tokens (const char *text, size_t len, uint32_t *pos,
                    ts_text_emit_fn *emit, void *arg);

#ifdef __cplusplus
}
#endif
#endif
