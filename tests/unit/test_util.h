/*  test_util.h: small helpers shared by the unit tests (header only: each
 *  test is one program, tests/README.md).
 */
#ifndef TEST_UTIL_H
#define TEST_UTIL_H

#include "ts_store.h"

#include <ftw.h>
#include <kclangc.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/*  splitmix64: a PRNG of our own, so that fixed seeds make every run test
 *  the same values, independent of the C library's rand(). */
static inline uint64_t
tu_splitmix64 (uint64_t *state)
{
    uint64_t z = (*state += UINT64_C (0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C (0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C (0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/*  A child process with a pipe to its parent: in the child returns 0 and
 *  *fd is the write end; in the parent returns the child's pid and *fd is
 *  the read end; -1 when the pipe or the fork fails. */
static inline pid_t
tu_fork_pipe (int *fd)
{
    int fds [2];
    if (pipe (fds))
        return -1;
    pid_t pid = fork ();
    if (pid < 0) {
        close (fds [0]);
        close (fds [1]);
        return -1;
    }
    close (fds [pid == 0 ? 0 : 1]);
    *fd = fds [pid == 0 ? 1 : 0];
    return pid;
}

static inline int
tu_rm_entry (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st; (void) flag; (void) ftw;
    remove (path);
    return 0;                   /* on with the rest, whatever one refuses */
}

/*  Removes a directory and everything in it (a test's scratch folder),
 *  also one a test made read-only. */
static inline void
tu_rmtree (const char *dir)
{
    chmod (dir, 0700);
    nftw (dir, tu_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/*  Opens the shard tree at `path` with Kyoto Cabinet alone (a test that
 *  reads or damages it behind the store's back), with the compressor its
 *  pages are written with (TS_STORE_ZCOMP): true when open. */
static inline bool
tu_kc_open (KCDB *db, const char *path, uint32_t mode)
{
    char full [PATH_MAX + 32];
    snprintf (full, sizeof full, "%s" TS_STORE_ZCOMP, path);
    return kcdbopen (db, full, mode);
}

#endif
