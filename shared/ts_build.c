/*  ts_build.c: the version and the build's facts (ts_build.h). The
 *  version comes from a header written at build time (ts_version_git.h,
 *  rewritten only when it changes); the library versions from pkg-config
 *  at configure time (TS_BUILT_* below, CMakeLists.txt of shared/). */
#include "ts_build.h"
#include "ts_key.h"
#include "ts_proto.h"
#include "ts_version_git.h"

#include "ts_error.h"

#include <kclangc.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <msgpack.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>
#include <zstd.h>

const char *
ts_build_version (void)
{
    return TS_BUILD_VERSION;
}

const char *
ts_build_bindir (void)
{
    return TS_INSTALL_BINDIR;
}

const char *
ts_build_datadir (void)
{
    return TS_INSTALL_DATADIR;
}

/*  "NAME BUILT" and, when the library loaded now is another version,
 *  " (running NOW)". */
static void
s_lib (FILE *out, const char *sep, const char *name, const char *built, const char *now)
{
    fprintf (out, "%s%s %s", sep, name, built);
    if (now && strcmp (now, built))
        fprintf (out, " (running %s)", now);
}

void
ts_build_print_version (FILE *out, const char *program)
{
    int major, minor, patch;
    zmq_version (&major, &minor, &patch);
    char zmq_now [32];
    snprintf (zmq_now, sizeof zmq_now, "%d.%d.%d", major, minor, patch);

    fprintf (out, "%s %s\n", program, TS_BUILD_VERSION);
    fprintf (out, "key layout %d (reads %d to %d), protocol %d\n",
             TS_KEY_LAYOUT, TS_KEY_LAYOUT_READ, TS_KEY_LAYOUT, TS_PROTO_VERSION);
    fprintf (out, "built against");
    s_lib (out, " ", "Kyoto Cabinet", TS_BUILT_KC, KCVERSION);
    s_lib (out, ", ", "ZeroMQ", TS_BUILT_ZMQ, zmq_now);
    s_lib (out, ", ", "CZMQ", TS_BUILT_CZMQ, NULL);
    s_lib (out, ", ", "msgpack-c", TS_BUILT_MSGPACK, msgpack_version ());
    s_lib (out, ", ", "simdjson", TS_BUILT_SIMDJSON, NULL);
    s_lib (out, ", ", "zstd", TS_BUILT_ZSTD, ZSTD_versionString ());
    fprintf (out, "\n");
}

bool
ts_build_version_asked (int argc, char **argv, const char *program)
{
    if (argc < 2 || strcmp (argv [1], "--version"))
        return false;
    ts_build_print_version (stdout, program);
    return true;
}

static bool
s_is_executable (const char *path)
{
    struct stat st;
    return stat (path, &st) == 0 && S_ISREG (st.st_mode) && access (path, X_OK) == 0;
}

int
ts_build_find_binary (const char *name, const char *subdir, char *buf, size_t size)
{
    char exe [PATH_MAX];
    ssize_t n = readlink ("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe [n] = 0;
        char *slash = strrchr (exe, '/');
        if (slash) {
            *slash = 0;
            if (snprintf (buf, size, "%s/%s", exe, name) < (int) size && s_is_executable (buf))
                return 0;
            if (subdir
            &&  snprintf (buf, size, "%s/../%s/%s", exe, subdir, name) < (int) size
            &&  s_is_executable (buf)) {
                char real [PATH_MAX];
                if (realpath (buf, real) && strlen (real) < size)
                    strcpy (buf, real);     /* a clean path for ps and logs */
                return 0;
            }
        }
    }
    /* installed elsewhere than the programs (a link to it, a copy) */
    if (snprintf (buf, size, "%s/%s", ts_build_bindir (), name) < (int) size
    &&  s_is_executable (buf))
        return 0;
    const char *path = getenv ("PATH");
    while (path && *path) {
        const char *end = strchr (path, ':');
        size_t len = end ? (size_t) (end - path) : strlen (path);
        if (len > 0 && snprintf (buf, size, "%.*s/%s", (int) len, path, name) < (int) size
        &&  s_is_executable (buf))
            return 0;
        path = end ? end + 1 : NULL;
    }
    return TS_ENOTFOUND;
}
