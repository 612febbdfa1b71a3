/*  cli_import.c: `trajstore import FILE...`: runs trajstore-producer on
 *  each file in turn against the stack of the data directory, and exits
 *  with the worst of their statuses (0 < 1 < 2). The producer prints its
 *  own report; this command adds nothing to it but a heading per file
 *  when there are several (never in --json, where each report is one
 *  line a consumer reads on its own).
 *
 *  A JSON document (.json, .traj) and any file with --join go through
 *  cli_docin.h first: this process splits it into one record a line and
 *  writes them into a pipe that is the producer's stdin (its run is still
 *  named after the file). --dry-run maps the first records without a stack
 *  (cli_dryrun.c).
 *
 *  Runs: `--run NAME` puts every file into run NAME; without it each file
 *  is a run of its own, named after it (the producer's default);
 *  `--run-per-file` says so explicitly, and with `--run PREFIX` names each
 *  file's run PREFIX/NAME (a model's six trial files: gpt4/trial_0 ...).
 *  A SWE-agent trajectory (.traj, .traj.json) is one instance of a run
 *  whose files share a directory: without --run or --run-per-file its run
 *  is named after that directory (cli_docin_traj_run), so the .traj files
 *  of one command (or of several) form one run; its records are then
 *  named RUN:FILE:LINE when they have no per-attempt id.
 *  --set, --id and --no-text-index pass on to every producer.
 */
#include "cli_common.h"
#include "cli_docin.h"
#include "ts_error.h"
#include "ts_profile.h"
#include "ts_proto.h"

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
    const char *producer, *profile, *id;
    const char *sets [TS_PROFILE_SETS];
    int         nsets;
    bool        json, quiet, strict, no_text;
} s_import_t;

/*  Writes records down the pipe to the producer, one a line. */
static int
s_pipe_emit (void *arg, const char *rec, size_t len, const ts_jsondoc_member_t *m, int n)
{
    (void) m; (void) n;
    int fd = *(int *) arg;
    struct iovec_like { const char *p; size_t n; } parts [2] = { { rec, len }, { "\n", 1 } };
    for (int i = 0; i < 2; i++)
        while (parts [i].n) {
            ssize_t w = write (fd, parts [i].p, parts [i].n);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                return w < 0 ? -errno : -EIO;
            parts [i].p += w;
            parts [i].n -= (size_t) w;
        }
    return 0;
}

static int
s_run_producer (const s_import_t *im, const ts_cli_paths_t *p, const char *run,
                const char *file, cli_join_t *join)
{
    const char *producer = im->producer, *profile = im->profile;
    bool json = im->json, quiet = im->quiet;
    bool convert = join || (strcmp (file, "-") && cli_docin_is_document (file));
    int pfd [2] = { -1, -1 };
    if (convert && pipe (pfd)) {
        fprintf (stderr, "trajstore import: pipe: %s\n", strerror (errno));
        return 2;
    }
    /* the producer reads a converted document from stdin: the run is still
     * named after the file, unless one was given */
    char own [TS_RUN_FILE_MAX + 1];
    if (convert && ts_profile_run_of_path (file, own, sizeof own)) {
        fprintf (stderr, "trajstore import: cannot name a run after %s: give --run NAME\n", file);
        return 2;
    }
    if (convert && !run) {
        if (strlen (own) > TS_RUN_NAME_MAX) {
            fprintf (stderr, "trajstore import: cannot name a run after %s: give --run NAME\n", file);
            return 2;
        }
        run = own;
    }
    /* the producer reads "-": a file that shares its run with others is
     * named in the profile (file=), which keeps its records' RUN:FILE:LINE
     * ids apart from the other files' and lists it among the run's files */
    char spec [TS_PROFILE_SPEC_MAX];
    if (convert && !ts_profile_run_is_namesake (run, own)) {
        if (snprintf (spec, sizeof spec, "%s,file=%s", profile ? profile : "default", own)
            >= (int) sizeof spec) {
            fprintf (stderr, "trajstore import: the profile and the name of %s are too long\n", file);
            return 2;
        }
        profile = spec;
    }
    char *argv [18 + 2 * TS_PROFILE_SETS];
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
    if (im->id) {
        argv [a++] = "--id";
        argv [a++] = (char *) im->id;
    }
    for (int i = 0; i < im->nsets; i++) {
        argv [a++] = "--set";
        argv [a++] = (char *) im->sets [i];
    }
    if (json)
        argv [a++] = "--json";
    if (quiet)
        argv [a++] = "--quiet";
    if (im->strict)
        argv [a++] = "--strict";
    if (im->no_text)
        argv [a++] = "--no-text-index";
    argv [a++] = "--";                  /* a file may be named "-x" */
    argv [a++] = convert ? "-" : (char *) file;
    argv [a] = NULL;

    fflush (NULL);
    pid_t pid = fork ();
    if (pid < 0) {
        fprintf (stderr, "trajstore import: fork: %s\n", strerror (errno));
        return 2;
    }
    if (pid == 0) {
        if (convert) {
            dup2 (pfd [0], STDIN_FILENO);
            close (pfd [0]);
            close (pfd [1]);
        }
        execv (producer, argv);
        fprintf (stderr, "trajstore import: cannot run %s: %s\n", producer, strerror (errno));
        _exit (2);
    }
    /* Ctrl-C reaches the producer too (same process group): it stops and
     * reports what was committed; we wait for that report, not die first */
    void (*old_int) (int) = signal (SIGINT, SIG_IGN);
    int conv = 0;
    if (convert) {
        close (pfd [0]);
        void (*old_pipe) (int) = signal (SIGPIPE, SIG_IGN);
        uint64_t records = 0, matched = 0;
        conv = cli_docin_run (file, TS_LINE_MAX_DEFAULT, join, 0, s_pipe_emit, &pfd [1],
                              &records, &matched);
        close (pfd [1]);
        signal (SIGPIPE, old_pipe);
        if (!quiet)
            fprintf (stderr, "trajstore import: %s: %" PRIu64 " records, one a line (line N "
                     "of the report is record N)%s\n", file, records,
                     conv ? "; the rest was not imported" : "");
        if (join && !quiet)
            fprintf (stderr, "trajstore import: --join: %" PRIu64 " of %" PRIu64 " records "
                     "matched\n", matched, records);
    }
    int status = 0;
    while (waitpid (pid, &status, 0) < 0 && errno == EINTR)
        ;
    signal (SIGINT, old_int);
    if (WIFEXITED (status))
        return conv ? 2 : WEXITSTATUS (status) <= 2 ? WEXITSTATUS (status) : 2;
    fprintf (stderr, "trajstore import: the producer for %s died of signal %d\n",
             file, WIFSIGNALED (status) ? WTERMSIG (status) : 0);
    return 2;
}

/*  The run a file imports into: --run's (NULL: the file's own name), or
 *  with --run-per-file and --run PREFIX, PREFIX/NAME (in `buf`), or for a
 *  .traj without either, its directory's name (in `buf`); NULL with a
 *  message when that name cannot be made. */
static const char *
s_file_run (const char *run_flag, bool per_file, const char *path, char *buf, size_t size)
{
    if (!run_flag && !per_file && cli_docin_is_traj (path)) {
        if (cli_docin_traj_run (path, buf, size) || strlen (buf) > TS_RUN_NAME_MAX) {
            fprintf (stderr, "trajstore import: cannot name a run after the directory of %s: "
                     "give --run NAME or --run-per-file\n", path);
            return NULL;
        }
        return buf;
    }
    if (!(per_file && run_flag))
        return run_flag;
    char own [TS_RUN_FILE_MAX + 1];
    if (ts_profile_run_of_path (path, own, sizeof own)
    ||  snprintf (buf, size, "%s/%s", run_flag, own) > TS_RUN_NAME_MAX) {
        fprintf (stderr, "trajstore import: cannot name a run %s/ after %s\n", run_flag, path);
        return NULL;
    }
    return buf;
}

/*  True when s_file_run makes the run's name (so NULL from it is an error). */
static bool
s_file_run_named (const char *run_flag, bool per_file, const char *path)
{
    return (per_file && run_flag) || (!run_flag && !per_file && cli_docin_is_traj (path));
}

int
ts_cli_cmd_import (int argc, char **argv)
{
    static struct option opts [] = {
        { "data", required_argument, 0, 'd' }, { "profile", required_argument, 0, 'p' },
        { "json", no_argument, 0, 'j' }, { "quiet", no_argument, 0, 'q' },
        { "strict", no_argument, 0, 's' }, { "join", required_argument, 0, 'J' },
        { "dry-run", no_argument, 0, 'n' },
        { "run", required_argument, 0, 'r' }, { "run-per-file", no_argument, 0, 'F' },
        { "set", required_argument, 0, 'S' }, { "id", required_argument, 0, 'i' },
        { "no-text-index", no_argument, 0, 'T' },
        { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 }
    };
    const char *data = NULL, *join_spec = NULL, *run_flag = NULL;
    s_import_t im = { 0 };
    bool dry_run = false, per_file = false;
    int c;
    /* "+": options end at the first file, so a file list is taken as is */
    while ((c = getopt_long (argc, argv, "+h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': data = optarg; break;
        case 'p': im.profile = optarg; break;
        case 'j': im.json = true; break;
        case 'q': im.quiet = true; break;
        case 's': im.strict = true; break;
        case 'T': im.no_text = true; break;
        case 'J': join_spec = optarg; break;
        case 'n': dry_run = true; break;
        case 'r': run_flag = optarg; break;
        case 'F': per_file = true; break;
        case 'i': im.id = optarg; break;
        case 'S':
            if (im.nsets == TS_PROFILE_SETS) {
                fprintf (stderr, "trajstore import: at most %d --set options\n", TS_PROFILE_SETS);
                return 2;
            }
            im.sets [im.nsets++] = optarg;
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
    cli_join_t *join = NULL;
    if (join_spec) {
        char err [1400];
        join = cli_join_load (join_spec, TS_LINE_MAX_DEFAULT, err, sizeof err);
        if (!join) {
            fprintf (stderr, "trajstore import: %s\n", err);
            return 2;
        }
    }
    if (dry_run) {
        int worst = 0;
        for (int i = optind; i < argc; i++) {
            char run [TS_RUN_NAME_MAX + 2];
            const char *r = s_file_run (run_flag, per_file, argv [i], run, sizeof run);
            int status = !r && s_file_run_named (run_flag, per_file, argv [i]) ? 2
                       : ts_cli_import_dry_run (argv [i], im.profile, im.strict, r, im.sets,
                                                im.nsets, im.id, join, im.json);
            if (status > worst)
                worst = status;
        }
        cli_join_destroy (&join);
        return worst;
    }
    ts_cli_paths_t p;
    int rc = ts_cli_paths_init (&p, data, false);
    char producer [TS_PATH_MAX];
    if (rc)
        fprintf (stderr, "trajstore import: bad data directory: %s\n", ts_strerror (rc));
    else if (ts_cli_find_binary ("trajstore-producer", "producer", producer, sizeof producer)) {
        fprintf (stderr, "trajstore import: trajstore-producer not found next to trajstore nor on PATH\n");
        rc = 2;
    }
    /* a producer waits a long time for an aggregator that may come back;
     * when none runs at all, say so at once instead */
    zframe_t *reply = NULL;
    if (rc == 0 && ts_cli_request (p.query, TS_MSG_STATUS, TS_CLI_ANSWER_MS, &reply)) {
        fprintf (stderr, "trajstore import: no aggregator answers on %s; "
                 "start the stack with: trajstore up --data %s\n", p.query, p.data);
        rc = 2;
    }
    zframe_destroy (&reply);
    if (rc) {
        cli_join_destroy (&join);
        return 2;
    }
    im.producer = producer;
    int worst = 0, nfiles = argc - optind;
    for (int i = optind; i < argc; i++) {
        char run [TS_RUN_NAME_MAX + 2];
        const char *r = s_file_run (run_flag, per_file, argv [i], run, sizeof run);
        if (!r && s_file_run_named (run_flag, per_file, argv [i])) {
            cli_join_destroy (&join);
            return 2;
        }
        if (nfiles > 1 && !im.json) {
            printf ("%s== %s\n", i > optind ? "\n" : "", argv [i]);
            fflush (stdout);
        }
        int status = s_run_producer (&im, &p, r, argv [i], join);
        if (status > worst)
            worst = status;
    }
    cli_join_destroy (&join);
    return worst;
}
