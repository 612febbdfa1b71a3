/*  cli_import.c: `trajstore import FILE...`: runs trajstore-producer on
 *  each file in turn against the stack of the data directory, and exits
 *  with the worst of their statuses (0 < 1 < 2). The producer prints its
 *  own report; this command adds nothing to it but a heading per file
 *  when there are several (never in --json, where each report is one
 *  line a consumer reads on its own).
 *
 *  Runs: `--run NAME` puts every file into run NAME; without it each file
 *  is a run of its own, named after it (the producer's default);
 *  `--run-per-file` says so explicitly, and with `--run PREFIX` names each
 *  file's run PREFIX/NAME (a model's six trial files: gpt4/trial_0 ...).
 *  --set and --id pass on to every producer.
 */
#include "cli_common.h"
#include "ts_error.h"
#include "ts_profile.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/*  Runs the producer on one file; returns its exit status (0, 1, 2; a
 *  crash or a signal counts as 2). */
typedef struct {
    const char *profile, *run, *id;
    const char *sets [TS_PROFILE_SETS];
    int         nsets;
    bool        json, quiet;
} s_import_opts_t;

static int
s_run_producer (const char *producer, const ts_cli_paths_t *p, const s_import_opts_t *o,
                const char *run, const char *file)
{
    char *argv [16 + 2 * TS_PROFILE_SETS];
    const char *profile = o->profile;
    bool json = o->json, quiet = o->quiet;
    int a = 0;
    argv [a++] = (char *) producer;
    argv [a++] = "--data";
    argv [a++] = (char *) p->data;
    if (profile) {
        argv [a++] = "--profile";
        argv [a++] = (char *) profile;
    }
    if (run) {
        argv [a++] = "--run";
        argv [a++] = (char *) run;
    }
    if (o->id) {
        argv [a++] = "--id";
        argv [a++] = (char *) o->id;
    }
    for (int i = 0; i < o->nsets; i++) {
        argv [a++] = "--set";
        argv [a++] = (char *) o->sets [i];
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
        { "run", required_argument, 0, 'r' }, { "run-per-file", no_argument, 0, 'F' },
        { "set", required_argument, 0, 's' }, { "id", required_argument, 0, 'i' },
        { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 }
    };
    const char *data = NULL;
    s_import_opts_t o = { 0 };
    bool per_file = false;
    int c;
    /* "+": options end at the first file, so a file list is taken as is */
    while ((c = getopt_long (argc, argv, "+h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': data = optarg; break;
        case 'p': o.profile = optarg; break;
        case 'j': o.json = true; break;
        case 'q': o.quiet = true; break;
        case 'r': o.run = optarg; break;
        case 'F': per_file = true; break;
        case 'i': o.id = optarg; break;
        case 's':
            if (o.nsets == TS_PROFILE_SETS) {
                fprintf (stderr, "trajstore import: at most %d --set options\n", TS_PROFILE_SETS);
                return 2;
            }
            o.sets [o.nsets++] = optarg;
            break;
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
        /* with --run-per-file and --run PREFIX: the run PREFIX/NAME */
        char run [TS_RUN_NAME_MAX + 2];
        const char *r = o.run;
        if (per_file && o.run) {
            char own [TS_RUN_FILE_MAX + 1];
            if (ts_profile_run_of_path (argv [i], own, sizeof own)
            ||  snprintf (run, sizeof run, "%s/%s", o.run, own) > TS_RUN_NAME_MAX) {
                fprintf (stderr, "trajstore import: cannot name a run %s/ after %s\n", o.run, argv [i]);
                return 2;
            }
            r = run;
        }
        if (nfiles > 1 && !o.json) {
            printf ("%s== %s\n", i > optind ? "\n" : "", argv [i]);
            fflush (stdout);
        }
        int status = s_run_producer (producer, &p, &o, r, argv [i]);
        if (status > worst)
            worst = status;
    }
    return worst;
}
