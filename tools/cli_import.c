/*  cli_import.c: `trajstore import FILE...`: runs trajstore-producer on
 *  each file in turn against the stack of the data directory, and exits
 *  with the worst of their statuses (0 < 1 < 2). The producer prints its
 *  own report; this command adds nothing to it but a heading per file
 *  when there are several (never in --json, where each report is one
 *  line a consumer reads on its own).
 */
#include "cli_common.h"
#include "ts_error.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/*  Runs the producer on one file; returns its exit status (0, 1, 2; a
 *  crash or a signal counts as 2). */
static int
s_run_producer (const char *producer, const ts_cli_paths_t *p, const char *profile,
                bool json, bool quiet, const char *file)
{
    char *argv [12];
    int a = 0;
    argv [a++] = (char *) producer;
    argv [a++] = "--data";
    argv [a++] = (char *) p->data;
    if (profile) {
        argv [a++] = "--profile";
        argv [a++] = (char *) profile;
    }
    if (json)
        argv [a++] = "--json";
    if (quiet)
        argv [a++] = "--quiet";
    argv [a++] = "--";                  /* a file may be named "-x" */
    argv [a++] = (char *) file;
    argv [a] = NULL;

    fflush (NULL);
    pid_t pid = fork ();
    if (pid < 0) {
        fprintf (stderr, "trajstore import: fork: %s\n", strerror (errno));
        return 2;
    }
    if (pid == 0) {
        execv (producer, argv);
        fprintf (stderr, "trajstore import: cannot run %s: %s\n", producer, strerror (errno));
        _exit (2);
    }
    /* Ctrl-C reaches the producer too (same process group): it stops and
     * reports what was committed; we wait for that report, not die first */
    void (*old_int) (int) = signal (SIGINT, SIG_IGN);
    int status = 0;
    while (waitpid (pid, &status, 0) < 0 && errno == EINTR)
        ;
    signal (SIGINT, old_int);
    if (WIFEXITED (status))
        return WEXITSTATUS (status) <= 2 ? WEXITSTATUS (status) : 2;
    fprintf (stderr, "trajstore import: the producer for %s died of signal %d\n",
             file, WIFSIGNALED (status) ? WTERMSIG (status) : 0);
    return 2;
}

int
ts_cli_cmd_import (int argc, char **argv)
{
    static struct option opts [] = {
        { "data", required_argument, 0, 'd' }, { "profile", required_argument, 0, 'p' },
        { "json", no_argument, 0, 'j' }, { "quiet", no_argument, 0, 'q' },
        { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 }
    };
    const char *data = NULL, *profile = NULL;
    bool json = false, quiet = false;
    int c;
    /* "+": options end at the first file, so a file list is taken as is */
    while ((c = getopt_long (argc, argv, "+h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': data = optarg; break;
        case 'p': profile = optarg; break;
        case 'j': json = true; break;
        case 'q': quiet = true; break;
        case 'h': ts_cli_usage (stdout, "import"); return 0;
        default: ts_cli_usage (stderr, "import"); return 2;
        }
    }
    if (optind >= argc) {
        fprintf (stderr, "trajstore import: no file to import\n");
        ts_cli_usage (stderr, "import");
        return 2;
    }
    ts_cli_paths_t p;
    int rc = ts_cli_paths_init (&p, data, false);
    if (rc) {
        fprintf (stderr, "trajstore import: bad data directory: %s\n", ts_strerror (rc));
        return 2;
    }
    char producer [TS_PATH_MAX];
    if (ts_cli_find_binary ("trajstore-producer", "producer", producer, sizeof producer)) {
        fprintf (stderr, "trajstore import: trajstore-producer not found next to trajstore nor on PATH\n");
        return 2;
    }
    /* a producer waits a long time for an aggregator that may come back;
     * when none runs at all, say so at once instead */
    zframe_t *reply = NULL;
    if (ts_cli_request (p.query, TS_MSG_STATUS, TS_CLI_ANSWER_MS, &reply)) {
        fprintf (stderr, "trajstore import: no aggregator answers on %s; "
                 "start the stack with: trajstore up --data %s\n", p.query, p.data);
        return 2;
    }
    zframe_destroy (&reply);

    int worst = 0, nfiles = argc - optind;
    for (int i = optind; i < argc; i++) {
        if (nfiles > 1 && !json) {
            printf ("%s== %s\n", i > optind ? "\n" : "", argv [i]);
            fflush (stdout);
        }
        int status = s_run_producer (producer, &p, profile, json, quiet, argv [i]);
        if (status > worst)
            worst = status;
    }
    return worst;
}
