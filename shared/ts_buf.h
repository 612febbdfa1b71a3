/*  ts_buf.h: a growable byte buffer, and a msgpack-c packer that writes
 *  into one. The buffer owns its bytes; { 0 } is an empty buffer. */
#ifndef TS_BUF_H
#define TS_BUF_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    char  *data;
    size_t size;
    size_t cap;
} ts_buf_t;

/*  Room for `extra` more bytes; 0 or TS_ENOMEM (the buffer unchanged). */
int  ts_buf_reserve (ts_buf_t *b, size_t extra);
int  ts_buf_append (ts_buf_t *b, const void *data, size_t len);
/*  Appends the whole of the file at `path`. 0, TS_ENOMEM, or -errno (the
 *  file cannot be opened or read; what was read stays appended). */
int  ts_buf_append_file (ts_buf_t *b, const char *path);
/*  Frees the bytes and leaves an empty buffer. */
void ts_buf_free (ts_buf_t *b);

/*  A msgpack_packer write callback appending to the ts_buf_t in `data`:
 *  msgpack_packer_init (&pk, &buf, ts_buf_packer_write). */
int ts_buf_packer_write (void *data, const char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
