/*  main.c: trajstore-producer, the importer's front: imports one JSONL
 *  dump (plain, gzip or zstd; a file or stdin) into a running trajstore.
 *
 *  This file only reads options, installs the signal handlers, builds the
 *  producer (ts_producer.h), runs it, prints its report and maps the result
 *  to the exit status: 0 every line imported (or a duplicate, or blank),
 *  1 some lines rejected (the rest committed), 2 the import could not
 *  finish, or the usage was wrong.
 */
#include "ts_producer.h"
#include "ts_labels.h"
#include "ts_profile.h"

#include "ts_chunker.h"
#include "ts_build.h"
#include "ts_config.h"
#include "ts_error.h"
#include "ts_log.h"
#include "ts_proto.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { EXIT_DONE = 0, EXIT_REJECTS = 1, EXIT_FAILED = 2 };

static volatile sig_atomic_t s_stop = 0;

static void
s_on_signal (int sig)
{
    (void) sig;
    s_stop = 1;
}

static void
s_usage (FILE *out)
{
    fprintf (out,
"usage: trajstore-producer [options] FILE|-\n"
"Imports a JSONL dump (one trajectory a line; plain, gzip or zstd, told by\n"
"its first bytes) into a running trajstore. FILE \"-\" reads stdin.\n"
"\n"
"  --data DIR        data directory (default: $TRAJSTORE_DATA, else\n"
"                    $XDG_DATA_HOME/trajstore, else ~/.local/share/trajstore)\n"
"  --ingest ENDPOINT the aggregator's ingest endpoint (default:\n"
"                    $TRAJSTORE_INGEST, else ipc://DATA/ingest.sock)\n"
"  --job ID          job id (default: 32 random hex characters)\n"
"  --profile SPEC    record profile the workers parse with (default: default)\n"
"  --strict          a mapped field whose value has the wrong type rejects\n"
"                    the line (default: the record is stored with that field\n"
"                    unknown, and the report counts a warning)\n"
"  --run NAME        the run the records belong to (default: the file's name\n"
"                    without directory and .jsonl/.json/.gz/.zst; stdin needs it)\n"
"  --set KEY=VALUE   a constant for records that do not name it (repeatable):\n"
"                    model=NAME fills the model; other keys are run metadata\n"
"  --no-text-index   the records' steps are not indexed for full-text search\n"
"                    (trajstore search does not find them; imports faster)\n"
"  --id MODE         attempt identity: auto (default: a per-attempt id the\n"
"                    record carries, else run and line), line, or content (the\n"
"                    record's id field when present, else a hash of it)\n"
"  --labels AUTHOR   the lines are labels of stored records, {\"id\", \"key\",\n"
"                    \"value\"} (value null removes it), set by AUTHOR unless a\n"
"                    line names its \"author\" (trajstore label --import)\n"
"  --window N        chunks in flight (default: %d)\n"
"  --max-line BYTES  longer lines are rejected (default: %uM; K, M, G suffixes)\n"
"  --rejects PATH    rejects file (default: DATA/rejects/ID.tsv)\n"
"  --timeout S       give up when nothing was acknowledged for S seconds\n"
"                    (default: %d; 0: wait forever)\n"
"  --send-bytes      chunks of a plain file always carry their lines (by\n"
"                    default, with an ipc:// endpoint, workers read them from\n"
"                    the file themselves)\n"
"  --quiet           no progress display\n"
"  --json            the final report as one JSON object\n"
"  --log-level L     debug, info, warn (default), error\n"
"  --help            this text\n"
"  --version         the version, the key layout and the libraries built against\n"
"\n"
"Exit status: 0 every line imported, duplicate or blank; 1 some lines\n"
"rejected (the rest is stored; see the rejects file); 2 the import did not\n"
"finish, or bad usage.\n",
             TS_WINDOW_CHUNKS, TS_LINE_MAX_DEFAULT >> 20, TS_PRODUCER_TIMEOUT_S);
}

static int
s_bad_usage (const char *fmt, const char *arg)
{
    fprintf (stderr, "trajstore-producer: ");
    fprintf (stderr, fmt, arg);
    fprintf (stderr, "\nTry 'trajstore-producer --help'.\n");
    return EXIT_FAILED;
}

/*  Parses a decimal count with an optional K, M or G suffix (powers of
 *  1024) into [lo, hi]. */
static bool
s_parse_size (const char *text, unsigned long long lo, unsigned long long hi,
              unsigned long long *value)
{
    char *end;
    errno = 0;
    if (!text || *text < '0' || *text > '9')
        return false;
    unsigned long long v = strtoull (text, &end, 10);
    if (errno)
        return false;
    unsigned shift = 0;
    switch (*end) {
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    default: break;
    }
    if (*end && !((*end == 'B' || *end == 'b') && end [1] == 0))
        return false;
    if (shift && v > (ULLONG_MAX >> shift))
        return false;
    v <<= shift;
    if (v < lo || v > hi)
        return false;
    *value = v;
    return true;
}

int
main (int argc, char *argv [])
{
    if (ts_build_version_asked (argc, argv, "trajstore-producer"))
        return 0;
    enum {
        OPT_DATA = 256, OPT_INGEST, OPT_JOB, OPT_PROFILE, OPT_WINDOW, OPT_MAX_LINE,
        OPT_REJECTS, OPT_QUIET, OPT_JSON, OPT_TIMEOUT, OPT_LOG_LEVEL, OPT_HELP,
        OPT_RESEND_MS, OPT_CHUNK_BYTES, OPT_SEND_BYTES, OPT_STRICT, OPT_RUN, OPT_SET, OPT_ID,
        OPT_NO_TEXT, OPT_LABELS
    };
    static const struct option longopts [] = {
        { "data",        required_argument, NULL, OPT_DATA },
        { "ingest",      required_argument, NULL, OPT_INGEST },
        { "job",         required_argument, NULL, OPT_JOB },
        { "profile",     required_argument, NULL, OPT_PROFILE },
        { "strict",      no_argument,       NULL, OPT_STRICT },
        { "run",         required_argument, NULL, OPT_RUN },
        { "set",         required_argument, NULL, OPT_SET },
        { "id",          required_argument, NULL, OPT_ID },
        { "no-text-index", no_argument,     NULL, OPT_NO_TEXT },
        { "labels",      required_argument, NULL, OPT_LABELS },
        { "window",      required_argument, NULL, OPT_WINDOW },
        { "max-line",    required_argument, NULL, OPT_MAX_LINE },
        { "rejects",     required_argument, NULL, OPT_REJECTS },
        { "quiet",       no_argument,       NULL, OPT_QUIET },
        { "send-bytes",  no_argument,       NULL, OPT_SEND_BYTES },
        { "json",        no_argument,       NULL, OPT_JSON },
        { "timeout",     required_argument, NULL, OPT_TIMEOUT },
        { "log-level",   required_argument, NULL, OPT_LOG_LEVEL },
        { "help",        no_argument,       NULL, OPT_HELP },
        /* hidden, for tests: */
        { "resend-ms",   required_argument, NULL, OPT_RESEND_MS },
        { "chunk-bytes", required_argument, NULL, OPT_CHUNK_BYTES },
        { NULL, 0, NULL, 0 }
    };
    const char *data_flag = NULL, *ingest_flag = NULL, *job_flag = NULL;
    const char *rejects_flag = NULL, *run_flag = NULL, *id_flag = NULL, *labels_flag = NULL;
    const char *sets [TS_PROFILE_SETS];
    int nsets = 0;
    bool quiet = false, json = false, strict = false, no_text = false;
    ts_log_level_t level = TS_LOG_WARN;
    ts_producer_opts_t opts = {
        .profile = "default",
        .window = TS_WINDOW_CHUNKS,
        .line_max = TS_LINE_MAX_DEFAULT,
        .chunk_bytes = TS_CHUNK_BYTES,
        .resend_ms = TS_CHUNK_RESEND_MS,
        .timeout_s = TS_PRODUCER_TIMEOUT_S,
    };
    unsigned long long v;
    int c;
    opterr = 0;
    while ((c = getopt_long (argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_DATA:      data_flag = optarg; break;
        case OPT_INGEST:    ingest_flag = optarg; break;
        case OPT_JOB:       job_flag = optarg; break;
        case OPT_PROFILE:   opts.profile = optarg; break;
        case OPT_RUN:       run_flag = optarg; break;
        case OPT_ID:        id_flag = optarg; break;
        case OPT_LABELS:    labels_flag = optarg; break;
        case OPT_SET:
            if (nsets == TS_PROFILE_SETS)
                return s_bad_usage ("at most %s --set options", "8");
            sets [nsets++] = optarg;
            break;
        case OPT_REJECTS:   rejects_flag = optarg; break;
        case OPT_QUIET:     quiet = true; break;
        case OPT_SEND_BYTES: opts.send_bytes = true; break;
        case OPT_JSON:      json = true; break;
        case OPT_STRICT:    strict = true; break;
        case OPT_NO_TEXT:   no_text = true; break;
        case OPT_WINDOW:
            if (!s_parse_size (optarg, 1, 1024, &v))
                return s_bad_usage ("--window wants a number from 1 to 1024, not '%s'", optarg);
            opts.window = (unsigned) v;
            break;
        case OPT_MAX_LINE:
            if (!s_parse_size (optarg, 1, 1ull << 32, &v))
                return s_bad_usage ("--max-line wants a size from 1 byte to 4G, not '%s'", optarg);
            opts.line_max = (size_t) v;
            break;
        case OPT_TIMEOUT:
            if (!s_parse_size (optarg, 0, 86400 * 7, &v))
                return s_bad_usage ("--timeout wants seconds (0 to 604800), not '%s'", optarg);
            opts.timeout_s = (unsigned) v;
            break;
        case OPT_RESEND_MS:
            if (!s_parse_size (optarg, 10, 3600 * 1000, &v))
                return s_bad_usage ("--resend-ms wants 10 to 3600000, not '%s'", optarg);
            opts.resend_ms = (unsigned) v;
            break;
        case OPT_CHUNK_BYTES:
            if (!s_parse_size (optarg, TS_CHUNK_MIN_BYTES, 1ull << 30, &v))
                return s_bad_usage ("--chunk-bytes wants a size from 16 to 1G, not '%s'", optarg);
            opts.chunk_bytes = (size_t) v;
            break;
        case OPT_LOG_LEVEL:
            if (!ts_log_level_parse (optarg, &level))
                return s_bad_usage ("--log-level wants debug, info, warn or error, not '%s'",
                                    optarg);
            break;
        case OPT_HELP:
            s_usage (stdout);
            return EXIT_DONE;
        default:
            return s_bad_usage ("unknown option or missing value: %s", argv [optind - 1]);
        }
    }
    if (optind != argc - 1)
        return s_bad_usage ("%s", optind >= argc ? "no input file given (a path, or - for stdin)"
                                                 : "give exactly one input file");
    opts.input = argv [optind];
    ts_log_init ("producer", level);

    /* the profile is checked here (ts_profile_import_spec parses it), so
     * that a bad one is one clear error instead of a refusal of every
     * chunk; --strict, --no-text-index, the run and the constants travel in the spec
     * (ts_profile.h) */
    char profile [1024];
    char spec [TS_PROFILE_SPEC_MAX], spec_err [512];
    if (labels_flag) {
        /* a label import (ts_labels.h): the lines are labels of stored
         * records, by the author named; no run, no profile */
        char why [200];
        if (run_flag || id_flag || nsets || strict || no_text)
            return s_bad_usage ("%s", "--labels takes no --run, --set, --id, --strict or "
                                "--no-text-index");
        if (strlen (labels_flag) > TS_LABEL_AUTHOR_MAX
        ||  (*labels_flag && ts_profile_check_text ("the author", labels_flag, TS_LABEL_AUTHOR_MAX,
                                                    why, sizeof why)))
            return s_bad_usage ("%s", "--labels: the author must be at most 128 bytes without "
                                "',' or control characters");
        snprintf (spec, sizeof spec, "labels,author=%s", labels_flag);
        opts.profile = spec;
    }
    else {
        if (snprintf (profile, sizeof profile, "%s%s%s", opts.profile, strict ? ",strict=1" : "",
                      no_text ? ",notext=1" : "")
            >= (int) sizeof profile)
            return s_bad_usage ("the profile is too long: %.40s...", opts.profile);
        ts_profile_t *prof = malloc (sizeof *prof);
        if (!prof)
            return s_bad_usage ("%s", "out of memory");
        int prc = ts_profile_parse (profile, prof, spec_err, sizeof spec_err);
        free (prof);
        if (prc)                        /* the user's own spec, named as given */
            return s_bad_usage ("bad --profile: %s", spec_err);
        if (ts_profile_import_spec (profile, opts.input, run_flag, sets, nsets, id_flag,
                                    spec, sizeof spec, spec_err, sizeof spec_err))
            return s_bad_usage ("%s", spec_err);
        opts.profile = spec;
    }

    char job [TS_PRODUCER_JOB_MAX + 1];
    if (job_flag) {
        if (!ts_producer_job_is_valid (job_flag))
            return s_bad_usage ("--job wants 1 to 64 characters of A-Z a-z 0-9 _ . - "
                                "(not starting with '.'), not '%s'", job_flag);
        snprintf (job, sizeof job, "%s", job_flag);
    }
    else
        ts_producer_job_random (job);
    opts.job = job;

    char data_dir [TS_PATH_MAX], endpoint [TS_PATH_MAX], rejects [TS_PATH_MAX];
    if (ts_config_data_dir (data_flag, data_dir, sizeof data_dir))
        return s_bad_usage ("the data directory path is too long: %s",
                            data_flag ? data_flag : "(from the environment)");
    if (ts_config_endpoint (ingest_flag, "ingest", data_dir, endpoint, sizeof endpoint))
        return s_bad_usage ("the ingest endpoint is too long (ipc paths are limited to 107 "
                            "bytes): %s", ingest_flag ? ingest_flag : data_dir);
    if (rejects_flag)
        snprintf (rejects, sizeof rejects, "%s", rejects_flag);
    else
    if (snprintf (rejects, sizeof rejects, "%s/rejects/%s.tsv", data_dir, job)
        >= (int) sizeof rejects)
        return s_bad_usage ("the data directory path is too long: %s", data_dir);
    opts.endpoint = endpoint;
    opts.rejects_path = rejects;
    opts.progress = quiet ? TS_PROGRESS_NONE
                  : isatty (STDERR_FILENO) ? TS_PROGRESS_BAR : TS_PROGRESS_LINES;

    struct sigaction sa;
    memset (&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;        /* no SA_RESTART: a blocked read returns */
    sigemptyset (&sa.sa_mask);
    sigaction (SIGINT, &sa, NULL);
    sigaction (SIGTERM, &sa, NULL);
    signal (SIGPIPE, SIG_IGN);

    int err;
    char emsg [512] = "";
    ts_producer_t *producer = ts_producer_new (&opts, &err, emsg, sizeof emsg);
    if (!producer) {
        if (s_stop)
            fprintf (stderr, "trajstore-producer: interrupted before the import started\n");
        else
            fprintf (stderr, "trajstore-producer: %s\n", emsg [0] ? emsg : ts_strerror (err));
        return EXIT_FAILED;
    }
    int rc = ts_producer_run (producer, &s_stop);
    ts_producer_report_t report;
    ts_producer_report (producer, &report);
    ts_producer_report_print (&report, stdout, json);
    ts_producer_destroy (&producer);
    if (rc)
        return EXIT_FAILED;
    return report.rejected > 0 ? EXIT_REJECTS : EXIT_DONE;
}
