/*  trajstore-http: the HTTP/JSON gateway and web viewer (ts_http.h,
 *  docs/HTTP.md). main reads the options, finds the viewer's files and the
 *  token, serves until SIGTERM or SIGINT. */
#include "ts_config.h"
#include "ts_daemon.h"
#include "ts_http.h"
#include "ts_log.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static volatile bool s_stop;

static void
s_usage (FILE *out)
{
    fprintf (out,
        "usage: trajstore-http [--data DIR] [--api EP] [--http ADDR] [--static DIR]\n"
        "                      [--token-file FILE | --token TOKEN | --no-auth]\n"
        "                      [--allow-host NAME[,NAME...]]\n"
        "                      [--max-connections N] [--log-level debug|info|warn|error]\n"
        "Serves the JSON endpoints (/v1/...) and the viewer on ADDR: --http, else\n"
        "$TRAJSTORE_HTTP, else %s (HOST:PORT, [IPv6]:PORT or PORT; port 0 picks a\n"
        "free one; the URL goes to DATA/http.addr). --api defaults to $TRAJSTORE_API,\n"
        "else ipc://DATA/api.sock. A bind that is not loopback needs a bearer token\n"
        "(--token-file, --token or $TRAJSTORE_HTTP_TOKEN) or --no-auth. Without a token\n"
        "only requests to localhost, 127.0.0.1 or [::1] are answered (DNS rebinding),\n"
        "and to the names of --allow-host (\"*\": any). --static\n"
        "defaults to $TRAJSTORE_HTTP_STATIC, else ../share/trajstore/static next to\n"
        "this program, else the source tree's http/static.\n", TS_HTTP_DEFAULT_ADDR);
}

/*  The viewer's folder: the flag, the environment, the installed layout
 *  (bin/../share/trajstore/static), the source tree (a build's program). */
static const char *
s_static_dir (const char *flag, char *buf, size_t size)
{
    const char *env = getenv ("TRAJSTORE_HTTP_STATIC");
    if (flag)
        return flag;
    if (env && *env)
        return env;
    char exe [PATH_MAX];
    ssize_t n = readlink ("/proc/self/exe", exe, sizeof exe - 1);
    struct stat st;
    if (n > 0) {
        exe [n] = 0;
        char *slash = strrchr (exe, '/');
        if (slash) {
            *slash = 0;
            snprintf (buf, size, "%s/../share/trajstore/static", exe);
            if (stat (buf, &st) == 0 && S_ISDIR (st.st_mode))
                return buf;
        }
    }
    return TS_HTTP_SOURCE_STATIC;
}

/*  The first line of a token file, without its newline. */
static int
s_read_token (const char *path, char *buf, size_t size)
{
    FILE *f = fopen (path, "r");
    if (!f) {
        fprintf (stderr, "trajstore-http: --token-file %s: %s\n", path, strerror (errno));
        return -1;
    }
    bool ok = fgets (buf, (int) size, f) != NULL;
    fclose (f);
    buf [strcspn (buf, "\r\n")] = 0;
    if (!ok || !buf [0]) {
        fprintf (stderr, "trajstore-http: --token-file %s: empty\n", path);
        return -1;
    }
    return 0;
}

int
main (int argc, char **argv)
{
    const char *data = NULL, *addr = NULL, *static_flag = NULL;
    const char *token = NULL, *token_file = NULL, *allow_hosts = NULL;
    bool no_auth = false;
    unsigned max_conns = TS_HTTP_MAX_CONNS;
    ts_log_level_t level = TS_LOG_INFO;
    ts_daemon_ep_t api = { .name = "api" };
    const ts_opt_t opts [] = {
        { "api", TS_OPT_STR, &api.flag, 0, 0 },
        { "http", TS_OPT_STR, &addr, 0, 0 },
        { "static", TS_OPT_STR, &static_flag, 0, 0 },
        { "token", TS_OPT_STR, &token, 0, 0 },
        { "token-file", TS_OPT_STR, &token_file, 0, 0 },
        { "no-auth", TS_OPT_FLAG, &no_auth, 0, 0 },
        { "max-connections", TS_OPT_UINT, &max_conns, 1, 1024 },
        { "allow-host", TS_OPT_STR, &allow_hosts, 0, 0 },
    };
    int rc = ts_daemon_args (argc, argv, "trajstore-http", s_usage, opts, 8, &data, &level);
    if (rc >= 0)
        return rc;
    ts_log_init ("http", level);
    char tok [512];
    if (token_file) {
        if (s_read_token (token_file, tok, sizeof tok))
            return 2;
        token = tok;
    }
    const char *env_token = getenv ("TRAJSTORE_HTTP_TOKEN");
    if (!token && env_token && *env_token)
        token = env_token;
    if (!addr) {
        const char *env = getenv ("TRAJSTORE_HTTP");
        addr = env && *env ? env : TS_HTTP_DEFAULT_ADDR;
    }
    char dir [TS_PATH_MAX], target [TS_PATH_MAX + 32];
    char addr_file [TS_PATH_MAX + 16], sdir [PATH_MAX + 64];
    if (ts_daemon_paths (data, dir, &api, 1))
        return 2;
    snprintf (addr_file, sizeof addr_file, "%s/http.addr", dir);
    ts_daemon_signals (&s_stop);

    char err [600];
    ts_http_config_t cfg = {
        .addr = addr, .api = ts_config_connectable (api.ep, target, sizeof target),
        .static_dir = s_static_dir (static_flag, sdir, sizeof sdir), .token = token,
        .no_auth = no_auth, .allow_hosts = allow_hosts, .addr_file = addr_file, .max_connections = max_conns,
        .answer_ms = TS_HTTP_ANSWER_MS
    };
    struct stat st;
    if (stat (dir, &st))
        cfg.addr_file = NULL;           /* no data directory here (another host's api) */
    ts_http_t *http = ts_http_start (&cfg, err, sizeof err);
    if (!http) {
        ts_error ("%s", err);
        return 2;
    }
    ts_info ("serving %s (api %s, viewer %s%s)", ts_http_url (http), api.ep, cfg.static_dir,
             token ? ", bearer token required" : "");
    while (!s_stop)
        usleep (100 * 1000);
    ts_info ("stopping");
    ts_http_stop (&http);
    return 0;
}
