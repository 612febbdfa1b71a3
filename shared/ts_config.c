/*  ts_config.c: data directory, endpoints, shard paths (ts_config.h). */
#include "ts_config.h"
#include "ts_error.h"

#include <ctype.h>
#include <stdbool.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int
s_fit (int n, size_t size)
{
    return n < 0 || (size_t) n >= size ? TS_ETOOBIG : 0;
}

int
ts_config_data_dir (const char *flag, char *buf, size_t size)
{
    const char *env;
    if (flag && *flag)
        return s_fit (snprintf (buf, size, "%s", flag), size);
    if ((env = getenv ("TRAJSTORE_DATA")) && *env)
        return s_fit (snprintf (buf, size, "%s", env), size);
    if ((env = getenv ("XDG_DATA_HOME")) && *env)
        return s_fit (snprintf (buf, size, "%s/trajstore", env), size);
    env = getenv ("HOME");
    return s_fit (snprintf (buf, size, "%s/.local/share/trajstore", env && *env ? env : "."), size);
}

int
ts_config_endpoint (const char *flag, const char *name, const char *data_dir,
                    char *buf, size_t size)
{
    char var [64];
    int n = snprintf (var, sizeof var, "TRAJSTORE_%s", name);
    for (int i = 10; i < n; i++)
        var [i] = (char) toupper ((unsigned char) var [i]);
    const char *env = getenv (var);
    if (flag && *flag)
        return s_fit (snprintf (buf, size, "%s", flag), size);
    if (env && *env)
        return s_fit (snprintf (buf, size, "%s", env), size);
    int rc = s_fit (snprintf (buf, size, "ipc://%s/%s.sock", data_dir, name), size);
    if (rc == 0 && strlen (buf) - 6 > 107)
        rc = TS_ETOOBIG;
    return rc;
}

int
ts_config_mkdirs (const char *path)
{
    char tmp [TS_PATH_MAX];
    if (snprintf (tmp, sizeof tmp, "%s", path) >= (int) sizeof tmp)
        return -ENAMETOOLONG;
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir (tmp, 0755) && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir (tmp, 0755) && errno != EEXIST)
        return -errno;
    return 0;
}

int
ts_config_shard_path (const char *data_dir, unsigned n, char *buf, size_t size)
{
    return s_fit (snprintf (buf, size, "%s/shards/shard-%03u.kct", data_dir, n), size);
}

int
ts_config_compress_read (const char *data_dir, ts_compress_t *mode, char *err, size_t err_size)
{
    char path [TS_PATH_MAX + 16], word [16] = "";
    snprintf (path, sizeof path, "%s/compress", data_dir);
    *mode = TS_COMPRESS_DEFAULT;
    FILE *f = fopen (path, "r");
    if (!f) {
        if (errno == ENOENT)
            return 0;
        int e = errno;
        snprintf (err, err_size, "%s: %s", path, strerror (e));
        return -e;
    }
    int n = fscanf (f, "%15s", word);
    fclose (f);
    if (n != 1 || ts_compress_parse (word, mode)) {
        *mode = TS_COMPRESS_DEFAULT;
        snprintf (err, err_size, "%s: \"%s\" is not a compression (none, fast or small); "
                  "new records are compressed \"%s\"", path, word,
                  ts_compress_name (TS_COMPRESS_DEFAULT));
        return TS_EINVAL;
    }
    return 0;
}

int
ts_config_compress_write (const char *data_dir, ts_compress_t mode, char *err, size_t err_size)
{
    char path [TS_PATH_MAX + 16], tmp [TS_PATH_MAX + 32];
    snprintf (path, sizeof path, "%s/compress", data_dir);
    snprintf (tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen (tmp, "w");
    bool ok = f && fprintf (f, "%s\n", ts_compress_name (mode)) >= 0 && !fflush (f)
           && !fsync (fileno (f));
    int e = errno;
    if (f && fclose (f) && ok) {
        ok = false;
        e = errno;
    }
    if (ok && rename (tmp, path)) {
        ok = false;
        e = errno;
    }
    if (!ok) {
        snprintf (err, err_size, "%s: cannot write: %s", path, strerror (e));
        return -e;
    }
    return 0;
}

const char *
ts_config_connectable (const char *endpoint, char *out, size_t size)
{
    static const char *const wild [] = { "tcp://*:", "tcp://0.0.0.0:" };
    for (int i = 0; i < 2; i++) {
        size_t n = strlen (wild [i]);
        if (!strncmp (endpoint, wild [i], n)) {
            snprintf (out, size, "tcp://127.0.0.1:%s", endpoint + n);
            return out;
        }
    }
    snprintf (out, size, "%s", endpoint);
    return out;
}
