/*  ts_config.h: where things are: the data directory and the endpoints.
 *
 *  Data directory: --data DIR, else $TRAJSTORE_DATA, else
 *  $XDG_DATA_HOME/trajstore, else $HOME/.local/share/trajstore.
 *  Endpoint NAME ("ingest", "control", "query", "api"): its flag, else
 *  $TRAJSTORE_<NAME> (upper case), else ipc://DATA/NAME.sock.
 *  Shard files live in DATA/shards/shard-NNN.kct; the store's compression
 *  setting in DATA/compress.
 */
#ifndef TS_CONFIG_H
#define TS_CONFIG_H

#include "ts_store.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TS_PATH_MAX 1024

/*  The data directory: `flag` if not NULL, else the environment. Writes a
 *  NUL-terminated path into buf. Returns 0 or TS_ETOOBIG. */
int ts_config_data_dir (const char *flag, char *buf, size_t size);

/*  An endpoint: `flag` if not NULL, else $TRAJSTORE_<NAME>, else the ipc
 *  socket in `data_dir`. Returns 0 or TS_ETOOBIG (ipc paths are limited to
 *  107 bytes by the kernel: a longer one is an error, named in the text). */
int ts_config_endpoint (const char *flag, const char *name, const char *data_dir,
                        char *buf, size_t size);

/*  The endpoint to connect to for one given to bind: a wildcard tcp host
 *  (tcp://\*:P, tcp://0.0.0.0:P) becomes tcp://127.0.0.1:P, so a command
 *  run beside a process (in its container) reaches it through the same
 *  variable the process binds with. Anything else is copied. Returns
 *  `out`. */
const char *ts_config_connectable (const char *endpoint, char *out, size_t size);

/*  Creates a directory and its parents (mode 0755). 0 or -errno. */
int ts_config_mkdirs (const char *path);

/*  The store's compression of new records (docs/DESIGN.md, "Compressed
 *  records"): DATA/compress, one word (none, fast, small), written by
 *  `trajstore up --compress` and read by the workers as they open a shard;
 *  TS_COMPRESS_DEFAULT when the file is absent. Read: 0, or TS_EINVAL /
 *  -errno with a message naming the file in err (*mode is then the
 *  default). Write: 0 or -errno, with the message. */
int ts_config_compress_read (const char *data_dir, ts_compress_t *mode, char *err,
                             size_t err_size);
int ts_config_compress_write (const char *data_dir, ts_compress_t mode, char *err,
                              size_t err_size);

/*  Path of shard `n`'s file. */
int ts_config_shard_path (const char *data_dir, unsigned n, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif
