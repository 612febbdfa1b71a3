/*  ts_io.h: file reads that finish what they start. */
#ifndef TS_IO_H
#define TS_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/*  pread until `size` bytes at offset `off` of fd are read, an interrupted
 *  read retried: the number read (less only at the end of the file), or
 *  -errno. */
ssize_t ts_pread_full (int fd, void *buf, size_t size, uint64_t off);

#ifdef __cplusplus
}
#endif
#endif
