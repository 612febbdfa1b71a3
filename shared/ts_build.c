/*  ts_build.c: the version and the build's facts (ts_build.h). The
 *  version comes from a header written at build time (ts_version_git.h,
 *  rewritten only when it changes); the library versions from pkg-config
 *  at configure time (TS_BUILT_* below, CMakeLists.txt of shared/). */
#include "ts_build.h"
#include "ts_key.h"
#include "ts_proto.h"
#include "ts_version_git.h"

#include <kclangc.h>
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
