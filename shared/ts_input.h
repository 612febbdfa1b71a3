/*  ts_input.h: one input of an import: a file or stdin, read as bytes,
 *  decompressed on the fly when it is gzip or zstd.
 *
 *  The format is told by the first bytes of the input (magic numbers), never
 *  by the file name: 1f 8b is gzip (every member of a multi-member file is
 *  read, as gzip -d does), 28 b5 2f fd is zstd (every frame), anything else
 *  is read as it is. xz and bzip2 are recognised only to be refused with a
 *  clear message. Works on pipes: nothing is read twice and nothing seeks.
 *
 *  Lifecycle: ts_input_open, any number of ts_input_read, ts_input_destroy.
 *  One thread at a time. The input never logs: failures come back as a
 *  code, with a message that names the input in ts_input_errmsg.
 */
#ifndef TS_INPUT_H
#define TS_INPUT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ts_input ts_input_t;

typedef enum {
    TS_INPUT_PLAIN,
    TS_INPUT_GZIP,
    TS_INPUT_ZSTD
} ts_input_kind_t;

/*  Opens `path` ("-" for stdin) and reads its first bytes to tell its
 *  format (so it waits for them on a pipe). Returns the input, or NULL with
 *  *code set (-errno such as -ENOENT, -EACCES, -EISDIR, or -EINTR when a
 *  signal interrupted the wait; TS_EINVAL for a format that is not
 *  supported; TS_ENOMEM) and a message naming the path in `err` (may be
 *  NULL). */
ts_input_t *ts_input_open (const char *path, int *code, char *err, size_t err_size);

/*  Closes the file (not stdin) and frees; nulls *self_p; safe on NULL. */
void ts_input_destroy (ts_input_t **self_p);

/*  Reads up to `size` (> 0) decompressed bytes into `buf`. Returns how many
 *  (> 0), 0 at the end of the input, or a negative code: -EINTR when a
 *  signal interrupted a read before anything was read (nothing is lost: the
 *  call can be repeated), another -errno for a failed read, TS_ECORRUPT for
 *  compressed data that does not decode or ends too early (ts_input_errmsg
 *  says where). After any other error than -EINTR the input stays failed. */
ssize_t ts_input_read (ts_input_t *self, void *buf, size_t size);

/*  The format found at open. */
ts_input_kind_t ts_input_kind (const ts_input_t *self);

/*  The identity of the input's file as a string in `buf` (ts_file_id), when
 *  it is a regular file (not stdin, not a pipe): 0, or -1. */
int ts_input_file_id (const ts_input_t *self, char *buf, size_t size);

/*  A file's identity: device, inode, size and modification time to the
 *  nanosecond. A producer sends it with the chunks it sends as references
 *  (docs/INTERNALS.md), and a worker reads lines only from a file whose identity
 *  is the same: the file the producer cut the chunks from, unchanged. */
#define TS_FILE_ID_MAX 96
struct stat;
void ts_file_id (const struct stat *st, char *buf, size_t size);

/*  Name of a format: "plain", "gzip", "zstd". */
const char *ts_input_kind_name (ts_input_kind_t kind);

/*  Reads `size` bytes at offset `off` of a plain regular file input, as
 *  they are in the file, without moving where ts_input_read is: the
 *  number read (less at the end of the file), or -errno (-EINVAL for an
 *  input that is not a plain file). */
ssize_t ts_input_pread (const ts_input_t *self, void *buf, size_t size, uint64_t off);

/*  Bytes of the file (compressed bytes, for a compressed input) consumed so
 *  far: the numerator of a progress figure. */
uint64_t ts_input_consumed (const ts_input_t *self);

/*  Size of the file in bytes when it is a regular file, else -1 (a pipe, a
 *  terminal): the denominator of a progress figure. */
int64_t ts_input_total (const ts_input_t *self);

/*  The path given at open ("-" for stdin). */
const char *ts_input_path (const ts_input_t *self);

/*  Message of the last failure (names the input); "" when none. */
const char *ts_input_errmsg (const ts_input_t *self);

#ifdef __cplusplus
}
#endif
#endif
