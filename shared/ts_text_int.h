/*  ts_text_int.h: the tokenizer's generated table (ts_text_fold.c). */
#ifndef TS_TEXT_INT_H
#define TS_TEXT_INT_H

#include "ts_text.h"

#include <stdint.h>

enum { TS_TC_WORD = 1, TS_TC_MARK = 2, TS_TC_UPPER = 4, TS_TC_DIGIT = 8 };

typedef struct {
    uint8_t cls;        /* TS_TC_ bits; 0: a separator */
    uint8_t len;        /* bytes of the folded form */
    char    fold [8];   /* casefold, NFD, marks dropped */
} ts_text_fold_t;

/*  U+0000 .. U+052F */
extern const ts_text_fold_t ts_text_fold_table [0x530];

/*  ts_text_tokens without its ASCII fast path: what the fast path must
 *  equal (test_text). */
int ts_text_tokens_general (const char *text, size_t len, uint32_t *pos,
                            ts_text_emit_fn *emit, void *arg);

#endif
