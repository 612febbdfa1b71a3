/*  ts_build.h: what this build of trajstore is: its version (the git
 *  describe of the tree it was built from, cmake/ts_version_of.cmake), the
 *  versions of the libraries it was built against, the key layout it
 *  writes (ts_key.h), and where `make install` puts it (the CLI's fallback
 *  for finding its programs, the gateway's for its static files).
 *
 *  Every program answers --version with ts_build_print_version.
 */
#ifndef TS_BUILD_H
#define TS_BUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/*  The version, e.g. "0.1.0+git58.gb019b02" (".dirty" when the tree had
 *  uncommitted changes), or the release number of a tagged release. */
const char *ts_build_version (void);

/*  The directories the build was configured to install into: programs
 *  (e.g. /usr/local/bin) and read-only data (e.g. /usr/local/share/trajstore). */
const char *ts_build_bindir (void);
const char *ts_build_datadir (void);

/*  Prints `program`'s version, the key layout and protocol versions, and
 *  the library versions built against (and those loaded at run time where
 *  they differ) to `out`. */
void ts_build_print_version (FILE *out, const char *program);

/*  For a program's main: when argv [1] is --version, prints the version
 *  to stdout and returns true (main then exits 0). */
bool ts_build_version_asked (int argc, char **argv, const char *program);

/*  Finds a sibling program `name` (e.g. "trajstore-worker"): in the
 *  directory of this executable, then in ../<subdir>/ of it (the build
 *  tree's layout, where each program has its folder), then in the
 *  directory `make install` puts programs in (ts_build_bindir), then on
 *  $PATH. Writes its path into buf. Returns 0 or TS_ENOTFOUND. */
int ts_build_find_binary (const char *name, const char *subdir, char *buf, size_t size);

#ifdef __cplusplus
}
#endif

#endif
