/*  ts_io.c: file reads that finish what they start (ts_io.h). */
#include "ts_io.h"

#include <errno.h>
#include <unistd.h>

ssize_t
ts_pread_full (int fd, void *buf, size_t size, uint64_t off)
{
    size_t got = 0;
    while (got < size) {
        ssize_t r = pread (fd, (char *) buf + got, size - got, (off_t) (off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == 0)
            break;
        got += (size_t) r;
    }
    return (ssize_t) got;
}
