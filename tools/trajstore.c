/*  trajstore: the command line of a trajstore on one machine (the
 *  embedded default: nothing to install or configure). `trajstore up`
 *  starts the whole stack in the background, `status` shows it, `import`
 *  feeds it, `down` stops it. See cli_common.h for how the commands are
 *  built; docs/DESIGN.md, "Processes", for the processes they run.
 *
 *  main only finds the command in the table and hands it the rest of the
 *  line; each command parses its own options.
 */
#include "cli_common.h"
#include "ts_build.h"
#include "ts_profile.h"

#include <czmq.h>
#include <stdio.h>
#include <string.h>

/* the read commands, clients of trajstore-api (cli_query.c) */
int ts_cli_cmd_get (int argc, char **argv);
int ts_cli_cmd_list (int argc, char **argv);
int ts_cli_cmd_count (int argc, char **argv);
int ts_cli_cmd_export (int argc, char **argv);
int ts_cli_cmd_stats (int argc, char **argv);
int ts_cli_cmd_groups (int argc, char **argv);
int ts_cli_cmd_job (int argc, char **argv);
int ts_cli_cmd_health (int argc, char **argv);
int ts_cli_cmd_check (int argc, char **argv);
int ts_cli_cmd_drop (int argc, char **argv);
int ts_cli_cmd_compact (int argc, char **argv);
int ts_cli_cmd_runs (int argc, char **argv);
int ts_cli_cmd_compare (int argc, char **argv);
int ts_cli_cmd_search (int argc, char **argv);      /* cli_search.c */
int ts_cli_cmd_label (int argc, char **argv);      /* cli_labels.c */
int ts_cli_cmd_labels (int argc, char **argv);     /* cli_labels.c */

typedef struct {
    const char *name;
    int (*run) (int argc, char **argv);
    const char *synopsis;       /* options and arguments */
    const char *summary;
} s_command_t;

static const s_command_t s_commands [] = {
    { "up", ts_cli_cmd_up,
      "[--workers N] [--data DIR] [--shards N] [--log-level L]\n"
      "                 [--http ADDR | --no-http] [--compress none|fast|small]",
      "start the aggregator, N workers (default 2), the api and the HTTP gateway\n"
      "and viewer (on ADDR: default $TRAJSTORE_HTTP, else 127.0.0.1:7480) in the\n"
      "background, under a supervisor that restarts them; returns once the stack\n"
      "is ready. --compress: how new records are stored, kept by the store\n"
      "(default small: zstd with a dictionary per shard)" },
    { "down", ts_cli_cmd_down,
      "[--data DIR]",
      "stop the stack (workers first, the aggregator last)" },
    { "status", ts_cli_cmd_status,
      "[--data DIR] [--json]",
      "processes, restarts, shards per worker, epoch, queue and recent jobs" },
    { "import", ts_cli_cmd_import,
      "[--data DIR] [--profile SPEC] [--run NAME] [--run-per-file] [--set KEY=VALUE]...\n"
      "                 [--id auto|line|content] [--strict] [--join FILE:KEY] [--json]\n"
      "                 [--quiet] [--dry-run] [--no-text-index] FILE...",
      "import JSONL dumps (.gz, .zst, or - for stdin), one after the other, each\n"
      "into a run: --run NAME (all files; stdin needs it), else each file its own\n"
      "run named after it (--run-per-file; with --run PREFIX: PREFIX/NAME), but\n"
      "SWE-agent .traj files one run named after their directory.\n"
      "--set model=M (and other KEY=VALUE: run metadata) for records naming none.\n"
      "--id: auto keeps a per-attempt id the records carry and names the others by\n"
      "run and line; line always does; content: the id field, else a hash.\n"
      ".json and .traj files are JSON documents: one record, an array of records,\n"
      "or an inspect_ai log (its samples). A mapped field whose value has the wrong\n"
      "type is left unknown and counted as a warning (--strict: the line is\n"
      "rejected). --join FILE:KEY adds the members of FILE's record with the same\n"
      "KEY (JSONL, an array, or a SWE-bench report's resolved_ids). --dry-run: how\n"
      "the first records map and which profile fits best; needs no stack, stores\n"
      "nothing. --no-text-index: the steps are not indexed for `search`" },
    { "label", ts_cli_cmd_label,
      "[--data DIR] [--api ENDPOINT] [--author NAME] [--json] [--quiet]\n"
      "                 (ID | --where FILTERS) [KEY=VALUE]... [--remove KEY]...\n"
      "                 | --import FILE",
      "label records: KEY=VALUE on record ID, or on every record the filters match\n"
      "(counted), --remove KEY takes a label off; --import FILE reads label lines\n"
      "{\"id\", \"key\", \"value\"} (value null removes; \"author\" optional), what an\n"
      "LLM-judge script writes. Labels are imported like records: acknowledged only\n"
      "once committed, a repeated import changes nothing (duplicates), unknown ids\n"
      "are rejected with their line. --author: default $USER. History is kept;\n"
      "the latest value of a key counts; the record itself never changes" },
    { "labels", ts_cli_cmd_labels,
      "[--data DIR] [--api ENDPOINT] [FILTERS] [--by KEY] [--per-model] [--json|--table]\n"
      "                 [ID]",
      "label keys and values with, per value, the records that have it, their\n"
      "successes, success rate and mean reward (--by: one key's values; --per-model:\n"
      "split by model; FILTERS: as list's, over the labelled records); with ID, that\n"
      "record's labels (author, time) and their history" },
    { "get", ts_cli_cmd_get,
      "[--data DIR] [--api ENDPOINT] [--json] ID",
      "the record with that id, as its original JSON (indented on a terminal,\n"
      "followed by its labels; one line with --json or into a pipe)" },
    { "list", ts_cli_cmd_list,
      "[--data DIR] [--api ENDPOINT] [FILTERS] [--sort S] [--limit N] [--cursor C]\n"
      "                 [--records] [--all] [--json|--table]",
      "records matching the filters, newest first: a table on a terminal, else one\n"
      "JSON summary a line (--records: with the record under \"record\"). The next\n"
      "page's cursor goes to stderr; --all pages through everything.\n"
      "FILTERS: [--group G]... [--model M] [--run R] [--reward LO:HI] [--success|--failure]\n"
      "         [--created FROM:TO] (bounds may be empty; times are epoch ms or ISO 8601)\n"
      "         [--label KEY=VALUE|KEY]... [--no-label KEY]... (latest label values)\n"
      "--sort: -created (default), created, reward, -reward, id, -id" },
    { "search", ts_cli_cmd_search,
      "[--data DIR] [--api ENDPOINT] [FILTERS] [--limit N] [--order newest|relevance]\n"
      "                 [--after CURSOR] [--json] 'WORDS'",
      "records whose steps hold every word (a \"quoted phrase\": consecutively), newest\n"
      "first or by relevance, with the step of the first hit and a snippet around it\n"
      "(default limit 20; --after the cursor printed with a page: the next one). Case\n"
      "and accents are ignored; identifiers match whole or by their parts\n"
      "(ModuleNotFoundError, found); CJK text matches by bigrams. FILTERS as list's" },
    { "count", ts_cli_cmd_count,
      "[--data DIR] [--api ENDPOINT] [FILTERS] [--json]",
      "the number of records matching the filters (as list's)" },
    { "export", ts_cli_cmd_export,
      "[--data DIR] [--api ENDPOINT] [FILTERS] [--sort S] [--limit N] [--quiet]\n"
      "                 [--with-labels KEY]",
      "the matching records as their original JSON lines on stdout, fetched N\n"
      "(default 1000) at a time; progress on stderr when it is a terminal.\n"
      "--with-labels KEY: each record with one more member KEY holding its labels\n"
      "{key: value} (one labels request a record: slower)" },
    { "stats", ts_cli_cmd_stats,
      "[--data DIR] [--api ENDPOINT] [--run RUN] [--json]\n"
      "                 | [--by label:KEY] [--per-model] [FILTERS] [--json|--table]",
      "records, groups, success rate, reward summary and histogram, steps, per model\n"
      "(--run: one run's, and its records per model). --by label:KEY: per value of\n"
      "label KEY, its records, successes, success rate and mean reward (--per-model:\n"
      "per model too), over the records FILTERS select" },
    { "groups", ts_cli_cmd_groups,
      "[--data DIR] [--api ENDPOINT] [--only pass|fail|mixed] [--sort COL|-COL]\n"
      "                 [--limit N] [--offset N] [--run RUN] [--label KEY[=VALUE]]...\n"
      "                 [--no-label KEY]... [--json|--table]\n"
      "                 | [--by label:KEY] [--per-model] [FILTERS]",
      "per group: records, successes, success rate, reward mean and max, pass@1/5/10\n"
      "(COL: group, records, successes, success_rate, reward_mean, reward_max,\n"
      "pass@1, pass@5, pass@10); --label/--no-label: over the records with (without)\n"
      "that label only. --by label:KEY: the records grouped by the value of label KEY\n"
      "instead, as stats --by label:KEY" },
    { "runs", ts_cli_cmd_runs,
      "[--data DIR] [--api ENDPOINT] [--json|--table]",
      "every import run: records, groups, success rate, mean reward, pass@1/5/10\n"
      "averaged over its groups, last import time, --set metadata and files" },
    { "compare", ts_cli_cmd_compare,
      "[--data DIR] [--api ENDPOINT] [--limit N] [--json|--table] RUN_A RUN_B",
      "two runs side by side: per common group both sides' attempts, success rate\n"
      "and the change in rate and pass@k (B - A), largest change first; both runs'\n"
      "totals; how many groups only one side has (--json: which)" },
    { "drop", ts_cli_cmd_drop,
      "[--data DIR] [--api ENDPOINT] [--json] --run RUN",
      "remove a run's records with all their index entries and totals (statistics\n"
      "then equal a recount); a shard killed mid-drop finishes it when reopened" },
    { "compact", ts_cli_cmd_compact,
      "[--data DIR] [--api ENDPOINT] [--json]",
      "give back the records-file space of dropped records (reads keep working)" },
    { "job", ts_cli_cmd_job,
      "[--data DIR] [--api ENDPOINT] [--json] JOB",
      "an import job's progress and counts (the id `import` printed)" },
    { "health", ts_cli_cmd_health,
      "[--data DIR] [--api ENDPOINT] [--json]",
      "the api's and the aggregator's view: workers, shards, queue, requests" },
    { "check", ts_cli_cmd_check,
      "[--data DIR] [--api ENDPOINT] [--json]",
      "verify every shard: records against index entries against totals; exit 1\n"
      "when anything is wrong (it says what and where)" },
    { "supervise", ts_cli_cmd_supervise,
      "[--workers N] [--data DIR] [--shards N] [--log-level L]\n"
      "                 [--http ADDR | --no-http]",
      "run the supervisor in the foreground (what `up` starts in the background;\n"
      "for containers and service managers)" },
    { "help", NULL,
      "[COMMAND]",
      "this text, or one command's" },
    { "version", NULL,
      "",
      "the version, the key layout it writes, and the libraries built against\n"
      "(also: trajstore --version)" },
};

#define S_NCOMMANDS (sizeof s_commands / sizeof s_commands [0])

static const s_command_t *
s_find (const char *name)
{
    for (size_t i = 0; i < S_NCOMMANDS; i++)
        if (!strcmp (s_commands [i].name, name))
            return &s_commands [i];
    return NULL;
}

static void
s_print_command (FILE *out, const s_command_t *cmd)
{
    fprintf (out, "  trajstore %s%s%s\n", cmd->name, *cmd->synopsis ? " " : "", cmd->synopsis);
    const char *line = cmd->summary;
    while (*line) {
        const char *nl = strchr (line, '\n');
        int len = nl ? (int) (nl - line) : (int) strlen (line);
        fprintf (out, "      %.*s\n", len, line);
        line += len + (nl ? 1 : 0);
    }
}

void
ts_cli_usage (FILE *out, const char *command)
{
    const s_command_t *cmd = command ? s_find (command) : NULL;
    if (cmd) {
        fprintf (out, "usage:\n");
        s_print_command (out, cmd);
        fprintf (out, "(trajstore help: every command)\n");
        return;
    }
    fprintf (out, "usage: trajstore COMMAND [OPTIONS]\n\ncommands:\n");
    for (size_t i = 0; i < S_NCOMMANDS; i++)
        s_print_command (out, &s_commands [i]);
    fprintf (out,
        "\nThe data directory is --data DIR, else $TRAJSTORE_DATA, else\n"
        "$XDG_DATA_HOME/trajstore, else ~/.local/share/trajstore. It holds the shards,\n"
        "the sockets, supervisor.pid, supervisor.state and logs/<process>.log.\n"
        "The api endpoint of the read commands is --api ENDPOINT, else $TRAJSTORE_API,\n"
        "else ipc://DATA/api.sock.\n"
        "Exit status: 0 success, 1 failure, 2 bad usage or no answer.\n");
}

int
main (int argc, char **argv)
{
    /* our signals are ours: czmq must not install its own handlers */
    zsys_handler_set (NULL);
    if (argc < 2) {
        ts_cli_usage (stderr, NULL);
        return 2;
    }
    const char *name = argv [1];
    if (!strcmp (name, "help") || !strcmp (name, "--help") || !strcmp (name, "-h")) {
        if (argc > 2 && !s_find (argv [2])) {
            fprintf (stderr, "trajstore: unknown command '%s'\n", argv [2]);
            ts_cli_usage (stderr, NULL);
            return 2;
        }
        ts_cli_usage (stdout, argc > 2 ? argv [2] : NULL);
        return 0;
    }
    /* for the shell's completion (packaging/completion/trajstore.bash):
     * what it cannot read from `trajstore help` */
    if (!strcmp (name, "__complete") && argc == 3 && !strcmp (argv [2], "profiles")) {
        for (int i = 0; ts_profile_names [i]; i++)
            printf ("%s\n", ts_profile_names [i]);
        return 0;
    }
    if (!strcmp (name, "version") || !strcmp (name, "--version")) {
        if (argc > 2) {
            ts_cli_usage (stderr, "version");
            return 2;
        }
        ts_build_print_version (stdout, "trajstore");
        return 0;
    }
    const s_command_t *cmd = s_find (name);
    if (!cmd || !cmd->run) {
        fprintf (stderr, "trajstore: unknown command '%s'\n", name);
        ts_cli_usage (stderr, NULL);
        return 2;
    }
    /* getopt names the program in its messages by argv [0] */
    static char prog [64];
    snprintf (prog, sizeof prog, "trajstore %s", cmd->name);
    argv [1] = prog;
    return cmd->run (argc - 1, argv + 1);
}
