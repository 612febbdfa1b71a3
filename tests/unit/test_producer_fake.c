/*  test_producer_fake.c: trajstore-producer against a fake aggregator.
 *
 *  The fake binds the ingest ROUTER in a temporary directory, runs the real
 *  producer binary (its path is argv [1], or $TS_PRODUCER_BIN) on a
 *  generated dump, and answers its chunks the way the aggregator would:
 *  an ack counting each chunk's lines as blank (empty), rejected (the line
 *  contains "BAD"), duplicate ("DUP") or imported. It can misbehave on
 *  purpose: drop the first copy of a chunk (the producer must resend it),
 *  hold acks and send them back in reverse order, repeat every ack, send
 *  acks of another job, send garbage, nack a chunk, or say nothing.
 *  Then it checks the producer's exit status, its --json report and its
 *  rejects file against what it generated.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ts_error.h"
#include "ts_msg.h"
#include "ts_proto.h"
#include "ts_record.h"
#include "test_util.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include <zmq.h>

#define MAX_CHUNKS     4096
#define RUN_LIMIT_MS   60000     /* a producer run never takes this long */
#define STALL_MS       30        /* held acks go back after this much quiet */
#define S_LOST         3         /* chunks a "restarting" fake loses */

static const char *s_producer;   /* the binary under test */
static char s_root [256];        /* the test's temporary directory */
static unsigned s_case;

/* --- helpers ------------------------------------------------------------------- */

/*  A new directory for one case: s_root/cN. */
static void
s_case_dir (char *dir, size_t size)
{
    snprintf (dir, size, "%s/c%u", s_root, ++s_case);
    assert_int_equal (mkdir (dir, 0755), 0);
}

static void
s_write (const char *path, const void *data, size_t len)
{
    FILE *f = fopen (path, "wb");
    assert_non_null (f);
    assert_int_equal (fwrite (data, 1, len, f), len);
    assert_int_equal (fclose (f), 0);
}

/*  The whole file, NUL-terminated (size in *len); NULL when absent. */
static char *
s_read (const char *path, size_t *len)
{
    ts_buf_t b = { 0 };
    if (ts_buf_append_file (&b, path)) {
        ts_buf_free (&b);
        return NULL;
    }
    ts_buf_append (&b, "", 1);
    if (len)
        *len = b.size - 1;
    return b.data;
}

/*  Starts the producer with `args` (NULL-terminated), stdin from
 *  `stdin_path` (NULL: /dev/null), stdout and stderr into files. */
static pid_t
s_spawn (const char *const *args, const char *stdin_path, const char *out, const char *err)
{
    const char *argv [64];
    size_t n = 0;
    argv [n++] = s_producer;
    for (; *args && n < 63; args++)
        argv [n++] = *args;
    argv [n] = NULL;
    pid_t pid = fork ();
    assert_true (pid >= 0);
    if (pid == 0) {
        int in = open (stdin_path ? stdin_path : "/dev/null", O_RDONLY);
        int o = open (out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open (err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (in < 0 || o < 0 || e < 0)
            _exit (120);
        dup2 (in, 0);
        dup2 (o, 1);
        dup2 (e, 2);
        execv (s_producer, (char *const *) argv);
        _exit (121);
    }
    return pid;
}

/*  A number from the one-line JSON report; fails the test when missing. */
static uint64_t
s_json_uint (const char *json, const char *key)
{
    char pat [64];
    snprintf (pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr (json, pat);
    if (!p)
        fail_msg ("no \"%s\" in the report: %s", key, json);
    return strtoull (p + strlen (pat), NULL, 10);
}

/*  Checks the report has exactly the keys promised and that they add up. */
static void
s_check_report_shape (const char *json)
{
    static const char *keys [] = {
        "lines", "imported", "duplicates", "rejected", "blank", "bytes", "seconds",
        "mb_per_s", "job", "rejects_file", "warned", "warnings"
    };
    assert_int_equal (json [0], '{');
    size_t count = 0;
    const char *warnings = strstr (json, "\"warnings\":");     /* the last key: its inside */
    for (const char *p = json; (p = strstr (p, "\":")) != NULL && (!warnings || p <= warnings + 10);
         p += 2)                                                /* is not counted */
        count++;
    assert_int_equal (count, sizeof keys / sizeof keys [0]);
    for (size_t i = 0; i < sizeof keys / sizeof keys [0]; i++) {
        char pat [64];
        snprintf (pat, sizeof pat, "\"%s\":", keys [i]);
        if (!strstr (json, pat))
            fail_msg ("no \"%s\" in the report: %s", keys [i], json);
    }
    assert_true (strchr (json, '\n') == json + strlen (json) - 1);   /* one line */
    assert_int_equal (s_json_uint (json, "lines"),
                      s_json_uint (json, "imported") + s_json_uint (json, "duplicates")
                      + s_json_uint (json, "rejected") + s_json_uint (json, "blank"));
}

/* --- the generated dump ----------------------------------------------------------- */

#define REASON_SENT   "not a record:\tcontains BAD"    /* a tab: the file has a space */
#define REASON_FILED  "not a record: contains BAD"

typedef struct {
    ts_buf_t text;                /* the file */
    ts_buf_t kept;                /* the file without the over-long lines */
    ts_buf_t rejects;             /* the rejects file expected */
    uint64_t lines, imported, duplicates, rejected, blank;
} dump_t;

static void
s_dump_free (dump_t *d)
{
    ts_buf_free (&d->text);
    ts_buf_free (&d->kept);
    ts_buf_free (&d->rejects);
}

/*  `n` lines: blank ones, BAD ones, DUP ones, one longer than a chunk
 *  (`long_line`) and one over the limit (`over_line`, with `line_max`) when
 *  not 0; the last line has no newline. */
static void
s_dump (dump_t *d, unsigned n, bool with_bad, unsigned long_line, unsigned over_line,
        size_t line_max)
{
    memset (d, 0, sizeof *d);
    uint64_t x = 0x2545F4914F6CDD1Dull;
    char line [16384];
    for (unsigned i = 1; i <= n; i++) {
        int len;
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        bool bad = false, over = false;
        if (i % 50 == 0 && i != n)
            len = 0;
        else
        if (with_bad && i % 97 == 0)
            len = snprintf (line, sizeof line, "{\"id\":%u,\"BAD\":true}", i), bad = true;
        else
        if (with_bad && i % 101 == 0)
            len = snprintf (line, sizeof line, "{\"id\":%u,\"DUP\":true}", i);
        else
        if (i == long_line || i == over_line) {
            size_t pad = i == long_line ? 3000 : 8000;
            len = snprintf (line, sizeof line, "{\"id\":%u,\"pad\":\"", i);
            memset (line + len, 'p', pad);
            len += (int) pad;
            len += snprintf (line + len, sizeof line - (size_t) len, "\"}");
            over = i == over_line;
        }
        else {
            len = snprintf (line, sizeof line, "{\"id\":%u,\"text\":\"", i);
            size_t words = 2 + (size_t) (x % 40);
            for (size_t w = 0; w < words; w++)
                len += snprintf (line + len, sizeof line - (size_t) len, "lorem%u ",
                                 (unsigned) ((x >> w) % 1000));
            len += snprintf (line + len, sizeof line - (size_t) len, "\"}");
        }
        bool last = i == n;
        ts_buf_append (&d->text, line, (size_t) len);
        if (!last)
            ts_buf_append (&d->text, "\n", 1);
        if (!over) {
            ts_buf_append (&d->kept, line, (size_t) len);
            if (!last)
                ts_buf_append (&d->kept, "\n", 1);
        }
        d->lines++;
        char head [64];
        if (over) {
            d->rejected++;
            int h = snprintf (head, sizeof head, "%u\tline longer than %zu bytes\t", i, line_max);
            ts_buf_append (&d->rejects, head, (size_t) h);
            ts_buf_append (&d->rejects, line, 1024);
            ts_buf_append (&d->rejects, "...\n", 4);
        }
        else
        if (len == 0)
            d->blank++;
        else
        if (bad) {
            d->rejected++;
            int h = snprintf (head, sizeof head, "%u\t%s\t", i, REASON_FILED);
            ts_buf_append (&d->rejects, head, (size_t) h);
            ts_buf_append (&d->rejects, line, (size_t) len);
            ts_buf_append (&d->rejects, "\n", 1);
        }
        else
        if (strstr (line, "DUP"))
            d->duplicates++;
        else
            d->imported++;
    }
}

/* --- the fake aggregator ---------------------------------------------------------- */

typedef struct {
    /* behaviour */
    int64_t  drop_first;          /* chunk whose first copy gets no answer, -1 */
    int64_t  nack;                /* chunk answered with a nack, -1 */
    bool     silent;              /* answers nothing */
    bool     hold;                /* holds acks until the producer stalls, then
                                     sends them back newest first */
    bool     repeat;              /* sends every ack twice */
    bool     noise;               /* garbage and another job's ack first */
    bool     warn;                /* every line of a chunk gets a field warning */
    bool     refuse_refs;         /* nacks NO_INPUT a chunk sent as a reference */
    bool     change_file;         /* ... after adding a line to the file */
    int      lose_after_pings;    /* once it answered this many pings (-1:
                                     never), the first copies of the next
                                     S_LOST chunks get no answer, and then it
                                     "restarts" (a new incarnation in pongs) */
    unsigned lost;
    uint64_t lost_chunk [3];
    uint64_t inc;                 /* incarnation its pongs carry */
    unsigned pings;
    const char *job;
    /* what it saw */
    unsigned refs, refused;       /* chunks sent as references, refused */
    ts_buf_t readbuf;             /* the lines of a reference, read here */
    unsigned copies [MAX_CHUNKS];
    bool     answered [MAX_CHUNKS];
    ts_buf_t payload [MAX_CHUNKS];
    uint64_t line0 [MAX_CHUNKS], lines [MAX_CHUNKS];
    bool     last [MAX_CHUNKS];   /* its header said the input ends with it */
    uint64_t nchunks;             /* highest chunk number + 1 */
    unsigned outstanding, max_outstanding;
    uint64_t acked_lines;
    bool     done;
    uint64_t done_chunks, done_lines, done_bytes;
    char     src [256], profile [64];
    bool     header_ok;
    /* acks held back: identity and header of each */
    ts_buf_t held_id [MAX_CHUNKS], held_hdr [MAX_CHUNKS];
    bool     held_first [MAX_CHUNKS];   /* the chunk's first answer */
    unsigned nheld;
} fake_t;

static fake_t *
s_fake_new (const char *job)
{
    fake_t *f = calloc (1, sizeof *f);
    assert_non_null (f);
    f->drop_first = -1;
    f->nack = -1;
    f->lose_after_pings = -1;
    f->inc = 1;
    f->job = job;
    f->header_ok = true;
    return f;
}

static void
s_fake_free (fake_t *f)
{
    for (unsigned i = 0; i < MAX_CHUNKS; i++) {
        ts_buf_free (&f->payload [i]);
        ts_buf_free (&f->held_id [i]);
        ts_buf_free (&f->held_hdr [i]);
    }
    ts_buf_free (&f->readbuf);
    free (f);
}

static void
s_send2 (void *sock, const void *id, size_t id_len, const void *hdr, size_t hdr_len)
{
    assert_true (zmq_send (sock, id, id_len, ZMQ_SNDMORE) >= 0);
    assert_true (zmq_send (sock, hdr, hdr_len, 0) >= 0);
}

/*  Builds the ack of a chunk: each line blank, BAD, DUP or imported. */
static void
s_ack (fake_t *f, ts_hdr_t *h, const char *job, uint64_t chunk, const ts_buf_t *payload,
       uint64_t line0)
{
    uint64_t lines = 0, blank = 0, dup = 0, imported = 0;
    uint64_t bad [4096];
    size_t nbad = 0;
    const char *p = payload->data, *end = p + payload->size;
    while (p < end) {
        const char *nl = memchr (p, '\n', (size_t) (end - p));
        const char *e = nl ? nl : end;
        size_t len = (size_t) (e - p);
        if (len == 0)
            blank++;
        else
        if (memmem (p, len, "BAD", 3)) {
            assert_true (nbad < 4096);
            bad [nbad++] = line0 + lines;
        }
        else
        if (memmem (p, len, "DUP", 3))
            dup++;
        else
            imported++;
        lines++;
        p = nl ? nl + 1 : end;
    }
    ts_hdr_begin (h, TS_MSG_ACK, f->warn ? 9 : 8);
    if (f->warn) {
        ts_hdr_key (h, "warnings");
        msgpack_pack_array (&h->pk, 1);
        msgpack_pack_array (&h->pk, 4);
        ts_mp_pack_cstr (&h->pk, "reward");
        ts_mp_pack_cstr (&h->pk, "/reward: expected a number, got string");
        msgpack_pack_uint64 (&h->pk, lines);
        msgpack_pack_uint64 (&h->pk, line0);
    }
    ts_hdr_str (h, "job", job);
    ts_hdr_uint (h, "chunk", chunk);
    ts_hdr_uint (h, "lines", lines);
    ts_hdr_uint (h, "blank", blank);
    ts_hdr_uint (h, "imported", imported);
    ts_hdr_uint (h, "duplicates", dup);
    ts_hdr_uint (h, "rejected", nbad);
    ts_hdr_key (h, "rejects");
    msgpack_pack_array (&h->pk, (uint32_t) nbad);
    for (size_t i = nbad; i-- > 0; ) {           /* newest first: the producer sorts */
        msgpack_pack_array (&h->pk, 2);
        msgpack_pack_uint64 (&h->pk, bad [i]);
        ts_mp_pack_cstr (&h->pk, REASON_SENT);
    }
    (void) f;
}

static void
s_fake_on_chunk (fake_t *f, void *sock, zmq_msg_t *id, const ts_hdrin_t *in,
                 const void *payload, size_t payload_len)
{
    uint64_t chunk = ts_hdr_get_uint (in, "chunk", UINT64_MAX);
    assert_true (chunk < MAX_CHUNKS);
    uint64_t line0 = ts_hdr_get_uint (in, "line0", 0);
    uint64_t lines = ts_hdr_get_uint (in, "lines", 0);
    char job [80] = "";
    ts_hdr_copy_str (in, "job", job, sizeof job);
    char file [512];
    if (ts_hdr_copy_str (in, "file", file, sizeof file)) {
        /* a reference: the lines are read from the file, as a worker does
         * (or refused, as by a worker on another machine) */
        f->refs++;
        if (f->refuse_refs) {
            f->refused++;
            FILE *fp = f->change_file ? fopen (file, "ab") : NULL;
            if (fp) {
                fputs ("{\"id\": \"late\"}\n", fp);
                fclose (fp);
                f->change_file = false;
            }
            ts_hdr_t h = { 0 };
            ts_hdr_begin (&h, TS_MSG_NACK, 4);
            ts_hdr_str (&h, "job", job);
            ts_hdr_uint (&h, "chunk", chunk);
            ts_hdr_str (&h, "code", "NO_INPUT");
            ts_hdr_str (&h, "msg", "fake: cannot read the file here");
            s_send2 (sock, zmq_msg_data (id), zmq_msg_size (id), h.buf.data, h.buf.size);
            ts_hdr_free (&h);
            return;
        }
        assert_int_equal (payload_len, 0);
        uint64_t off = ts_hdr_get_uint (in, "off", 0), bytes = ts_hdr_get_uint (in, "bytes", 0);
        FILE *fp = fopen (file, "rb");
        assert_non_null (fp);
        f->readbuf.size = 0;
        assert_int_equal (ts_buf_reserve (&f->readbuf, bytes + 1), 0);
        assert_int_equal (fseeko (fp, (off_t) off, SEEK_SET), 0);
        assert_int_equal (fread (f->readbuf.data, 1, bytes, fp), bytes);
        fclose (fp);
        payload = f->readbuf.data;
        payload_len = bytes;
    }
    ts_hdr_copy_str (in, "src", f->src, sizeof f->src);
    ts_hdr_copy_str (in, "profile", f->profile, sizeof f->profile);
    if (strcmp (job, f->job) != 0 || ts_hdr_get_uint (in, "bytes", 0) != payload_len
        || line0 == 0 || lines == 0)
        f->header_ok = false;
    if (f->copies [chunk]++ == 0) {
        ts_buf_append (&f->payload [chunk], payload, payload_len);
        f->last [chunk] = ts_hdr_get_bool (in, "last", false);
        f->line0 [chunk] = line0;
        f->lines [chunk] = lines;
        if (chunk + 1 > f->nchunks)
            f->nchunks = chunk + 1;
        f->outstanding++;
        if (f->outstanding > f->max_outstanding)
            f->max_outstanding = f->outstanding;
    }
    else
    if (payload_len != f->payload [chunk].size
        || memcmp (payload, f->payload [chunk].data, payload_len) != 0)
        f->header_ok = false;                   /* a resend must be the same */

    if (f->noise && chunk == 0 && f->copies [0] == 1) {
        ts_hdr_t h = { 0 };
        s_send2 (sock, zmq_msg_data (id), zmq_msg_size (id), "garbage", 7);
        ts_hdr_begin (&h, TS_MSG_ACK, 8);            /* another job's: must not count */
        ts_hdr_str (&h, "job", "someone-else");
        ts_hdr_uint (&h, "chunk", 0);
        ts_hdr_uint (&h, "lines", 1000);
        ts_hdr_uint (&h, "blank", 0);
        ts_hdr_uint (&h, "imported", 1000);
        ts_hdr_uint (&h, "duplicates", 0);
        ts_hdr_uint (&h, "rejected", 0);
        ts_hdr_key (&h, "rejects");
        msgpack_pack_array (&h.pk, 0);
        s_send2 (sock, zmq_msg_data (id), zmq_msg_size (id), h.buf.data, h.buf.size);
        ts_hdr_free (&h);
    }
    if (f->silent)
        return;
    if ((int64_t) chunk == f->drop_first && f->copies [chunk] == 1)
        return;
    if (f->lose_after_pings >= 0 && f->pings >= (unsigned) f->lose_after_pings
    &&  f->lost < S_LOST && f->copies [chunk] == 1) {
        f->lost_chunk [f->lost++] = chunk;
        if (f->lost == S_LOST)
            f->inc++;                           /* "restarted": those are lost */
        return;
    }
    ts_hdr_t h = { 0 };
    if ((int64_t) chunk == f->nack) {
        ts_hdr_begin (&h, TS_MSG_NACK, 4);
        ts_hdr_str (&h, "job", job);
        ts_hdr_uint (&h, "chunk", chunk);
        ts_hdr_str (&h, "code", "NO_SPACE");
        ts_hdr_str (&h, "msg", "no space left on device: /fake/shards/shard-003.kct");
    }
    else
        s_ack (f, &h, job, chunk, &f->payload [chunk], line0);
    bool first = !f->answered [chunk];
    if (first) {
        f->answered [chunk] = true;
        if ((int64_t) chunk != f->nack)
            f->acked_lines += lines;
    }
    if (f->hold) {
        assert_true (f->nheld < MAX_CHUNKS);
        ts_buf_append (&f->held_id [f->nheld], zmq_msg_data (id), zmq_msg_size (id));
        ts_buf_append (&f->held_hdr [f->nheld], h.buf.data, h.buf.size);
        f->held_first [f->nheld] = first;
        f->nheld++;
    }
    else {
        f->outstanding -= first;
        s_send2 (sock, zmq_msg_data (id), zmq_msg_size (id), h.buf.data, h.buf.size);
        if (f->repeat)
            s_send2 (sock, zmq_msg_data (id), zmq_msg_size (id), h.buf.data, h.buf.size);
    }
    ts_hdr_free (&h);
}

static void
s_fake_release (fake_t *f, void *sock)
{
    while (f->nheld > 0) {
        f->nheld--;
        f->outstanding -= f->held_first [f->nheld];
        s_send2 (sock, f->held_id [f->nheld].data, f->held_id [f->nheld].size,
                 f->held_hdr [f->nheld].data, f->held_hdr [f->nheld].size);
        if (f->repeat)
            s_send2 (sock, f->held_id [f->nheld].data, f->held_id [f->nheld].size,
                     f->held_hdr [f->nheld].data, f->held_hdr [f->nheld].size);
        f->held_id [f->nheld].size = f->held_hdr [f->nheld].size = 0;
    }
}

/*  Serves the producer `pid` on `sock` until it exits; returns its exit
 *  status (-1 when killed by a signal). Calls `poke` once, after the first
 *  chunk, when not NULL. */
static int
s_fake_run (fake_t *f, void *sock, pid_t pid, void (*poke) (pid_t))
{
    int64_t start = ts_mono_ms (), last_msg = start, exited_at = 0;
    int status = 0;
    bool exited = false, poked = false;
    for (;;) {
        zmq_pollitem_t item = { sock, 0, ZMQ_POLLIN, 0 };
        int rc = zmq_poll (&item, 1, 10);
        int64_t now = ts_mono_ms ();
        if (rc > 0) {
            zmq_msg_t id, hdr, payload;
            zmq_msg_init (&id);
            zmq_msg_init (&hdr);
            zmq_msg_init (&payload);
            assert_true (zmq_msg_recv (&id, sock, 0) >= 0);
            assert_true (zmq_msg_more (&id));
            assert_true (zmq_msg_recv (&hdr, sock, 0) >= 0);
            bool two = zmq_msg_more (&hdr);
            if (two)
                assert_true (zmq_msg_recv (&payload, sock, 0) >= 0);
            ts_hdrin_t in;
            assert_int_equal (ts_hdr_parse (&in, zmq_msg_data (&hdr), zmq_msg_size (&hdr)), 0);
            if (strcmp (in.type, "chunk") == 0) {
                assert_true (two);
                s_fake_on_chunk (f, sock, &id, &in, zmq_msg_data (&payload),
                                 zmq_msg_size (&payload));
                if (poke && !poked) {
                    poke (pid);
                    poked = true;
                }
            }
            else
            if (strcmp (in.type, "done") == 0) {
                char job [80] = "";
                ts_hdr_copy_str (&in, "job", job, sizeof job);
                assert_string_equal (job, f->job);
                f->done = true;
                f->done_chunks = ts_hdr_get_uint (&in, "chunks", 0);
                f->done_lines = ts_hdr_get_uint (&in, "lines", 0);
                f->done_bytes = ts_hdr_get_uint (&in, "bytes", 0);
            }
            else
            if (strcmp (in.type, "ping") == 0) {
                ts_hdr_t h = { 0 };
                ts_hdr_begin (&h, TS_MSG_PONG, 1);
                ts_hdr_uint (&h, "inc", f->inc);
                s_send2 (sock, zmq_msg_data (&id), zmq_msg_size (&id), h.buf.data, h.buf.size);
                ts_hdr_free (&h);
                f->pings++;
            }
            else
                fail_msg ("unexpected message type %s", in.type);
            zmq_msg_close (&id);
            zmq_msg_close (&hdr);
            zmq_msg_close (&payload);
            last_msg = now;
            continue;
        }
        if (f->hold && f->nheld > 0 && now - last_msg >= STALL_MS)
            s_fake_release (f, sock);
        if (!exited && waitpid (pid, &status, WNOHANG) == pid) {
            exited = true;
            exited_at = now;
        }
        if (exited && now - exited_at > 100)     /* and its last words are in */
            break;
        if (now - start > RUN_LIMIT_MS) {
            kill (pid, SIGKILL);
            waitpid (pid, &status, 0);
            fail_msg ("the producer did not finish in %d ms", RUN_LIMIT_MS);
        }
    }
    return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

typedef struct {
    char dir [300];
    char endpoint [400];
    char out [400], err [400];
    void *ctx, *sock;
} rig_t;

static void
s_rig (rig_t *r, bool bind)
{
    memset (r, 0, sizeof *r);
    s_case_dir (r->dir, sizeof r->dir);
    snprintf (r->endpoint, sizeof r->endpoint, "ipc://%s/ingest.sock", r->dir);
    snprintf (r->out, sizeof r->out, "%s/out", r->dir);
    snprintf (r->err, sizeof r->err, "%s/err", r->dir);
    r->ctx = zmq_ctx_new ();
    assert_non_null (r->ctx);
    if (bind) {
        r->sock = zmq_socket (r->ctx, ZMQ_ROUTER);
        assert_non_null (r->sock);
        int zero = 0;
        zmq_setsockopt (r->sock, ZMQ_LINGER, &zero, sizeof zero);
        assert_int_equal (zmq_bind (r->sock, r->endpoint), 0);
    }
}

static void
s_rig_close (rig_t *r)
{
    if (r->sock)
        zmq_close (r->sock);
    zmq_ctx_term (r->ctx);
}

/*  Prints what the producer said, to explain a failure. */
static void
s_show (const rig_t *r)
{
    char *out = s_read (r->out, NULL), *err = s_read (r->err, NULL);
    print_message ("--- producer stdout:\n%s--- producer stderr:\n%s---\n",
                   out ? out : "", err ? err : "");
    free (out);
    free (err);
}

/*  A dump (s_dump's arguments) written to the rig's dump.jsonl, whose
 *  path goes in `input` (400 bytes). */
static void
s_rig_dump (const rig_t *r, dump_t *d, char *input, unsigned n, bool with_bad,
            unsigned long_line, unsigned over_line, size_t line_max)
{
    s_dump (d, n, with_bad, long_line, over_line, line_max);
    snprintf (input, 400, "%s/dump.jsonl", r->dir);
    s_write (input, d->text.data, d->text.size);
}

/*  Runs the producer with `args` (stdin from `stdin_path`, or none) against
 *  fake `f`, which calls `poke` once the import is under way; shows what
 *  the producer said when its exit code is not `expect` (or when asked:
 *  TS_TEST_VERBOSE). Returns the exit code. */
static int
s_rig_run (const rig_t *r, fake_t *f, const char *const *args, const char *stdin_path,
           void (*poke) (pid_t), int expect)
{
    pid_t pid = s_spawn (args, stdin_path, r->out, r->err);
    int code = s_fake_run (f, r->sock, pid, poke);
    if (code != expect || getenv ("TS_TEST_VERBOSE"))
        s_show (r);
    return code;
}

/*  The producer's stdout: one JSON report of the documented shape (free it). */
static char *
s_rig_report (const rig_t *r)
{
    char *json = s_read (r->out, NULL);
    assert_non_null (json);
    s_check_report_shape (json);
    return json;
}

/* --- tests ------------------------------------------------------------------------ */

static void
test_import_with_rejects (void **state)
{
    (void) state;
    rig_t r;
    s_rig (&r, true);
    dump_t d;
    char input [400];
    s_rig_dump (&r, &d, input, 1500, true, 333, 777, 5000);

    fake_t *f = s_fake_new ("job-1");
    f->drop_first = 2;
    f->hold = true;
    f->repeat = true;
    f->noise = true;
    const char *args [] = {
        "--data", r.dir, "--ingest", r.endpoint, "--job", "job-1", "--profile", "tau,model=/agent",
        "--window", "4", "--max-line", "5000", "--chunk-bytes", "2048", "--resend-ms", "300",
        "--timeout", "30", "--json", "--quiet", input, NULL
    };
    assert_int_equal (s_rig_run (&r, f, args, NULL, NULL, 1), 1);

    /* what the fake received (read from the file: chunks of a plain file
     * go as references over an ipc endpoint) */
    assert_true (f->header_ok);
    assert_true (f->refs > 0);
    assert_string_equal (f->src, input);
    /* the profile with the run: the file's name (ts_profile_import_spec) */
    assert_string_equal (f->profile, "tau,model=/agent,run=dump");
    assert_true (f->copies [2] >= 2);                   /* the resend */
    assert_true (f->max_outstanding <= 4);
    assert_int_equal (f->max_outstanding, 4);           /* the window was used */
    ts_buf_t all = { 0 };
    uint64_t expect_line = 1, lines = 0, bytes = 0;
    bool alone = false;
    for (uint64_t c = 0; c < f->nchunks; c++) {
        assert_true (f->copies [c] >= 1);
        if (expect_line == 777)
            expect_line++;                              /* the skipped line */
        assert_int_equal (f->line0 [c], expect_line);
        expect_line += f->lines [c];
        lines += f->lines [c];
        bytes += f->payload [c].size;
        if (f->line0 [c] == 333 && f->lines [c] == 1)
            alone = true;                               /* longer than a chunk */
        assert_int_equal (f->last [c], c + 1 == f->nchunks);   /* only the last */
        ts_buf_append (&all, f->payload [c].data, f->payload [c].size);
    }
    assert_true (alone);
    assert_int_equal (expect_line, 1501);
    assert_int_equal (all.size, d.kept.size);
    assert_memory_equal (all.data, d.kept.data, all.size);
    assert_true (f->done);
    assert_int_equal (f->done_chunks, f->nchunks);
    assert_int_equal (f->done_lines, lines);
    assert_int_equal (f->done_bytes, bytes);

    /* the report */
    char *json = s_rig_report (&r);
    assert_int_equal (s_json_uint (json, "lines"), d.lines);
    assert_int_equal (s_json_uint (json, "imported"), d.imported);
    assert_int_equal (s_json_uint (json, "duplicates"), d.duplicates);
    assert_int_equal (s_json_uint (json, "rejected"), d.rejected);
    assert_int_equal (s_json_uint (json, "blank"), d.blank);
    assert_int_equal (s_json_uint (json, "bytes"), d.text.size);
    assert_non_null (strstr (json, "\"job\":\"job-1\""));
    char rejects [500], pat [600];
    snprintf (rejects, sizeof rejects, "%s/rejects/job-1.tsv", r.dir);
    snprintf (pat, sizeof pat, "\"rejects_file\":\"%s\"", rejects);
    assert_non_null (strstr (json, pat));

    /* the rejects file: every rejected line, in line order, with its text */
    size_t len;
    char *text = s_read (rejects, &len);
    assert_non_null (text);
    assert_int_equal (len, d.rejects.size);
    assert_memory_equal (text, d.rejects.data, len);

    free (text);
    free (json);
    ts_buf_free (&all);
    s_fake_free (f);
    s_dump_free (&d);
    s_rig_close (&r);
}

/*  The aggregator restarts mid-import and loses the chunks queued in it:
 *  its pongs carry a new incarnation, and the producer sends everything in
 *  flight again at once. The resend timeout is a minute and the producer
 *  gives up after 30 s without an ack, so only that path can finish. */
static void
test_aggregator_restart (void **state)
{
    (void) state;
    rig_t r;
    s_rig (&r, true);
    dump_t d;
    char input [400];
    s_rig_dump (&r, &d, input, 3000, false, 0, 0, 0);
    fake_t *f = s_fake_new ("job-r");
    f->hold = true;                     /* acks after a stall: the import lasts */
    f->lose_after_pings = 2;
    const char *args [] = {
        "--data", r.dir, "--ingest", r.endpoint, "--job", "job-r", "--window", "4",
        "--chunk-bytes", "2048", "--resend-ms", "60000", "--timeout", "30", "--json", input, NULL
    };
    int code = s_rig_run (&r, f, args, NULL, NULL, 0);
    if (code != 0)
        fprintf (stderr, "pings %u, inc %llu\n", f->pings, (unsigned long long) f->inc);
    assert_int_equal (code, 0);
    assert_true (f->pings >= 2);
    assert_int_equal (f->lost, S_LOST);
    for (int i = 0; i < S_LOST; i++)                    /* lost, then sent again */
        assert_int_equal (f->copies [f->lost_chunk [i]], 2);
    assert_int_equal (f->copies [0], 1);                /* acked: not sent again */
    char *err = s_read (r.err, NULL);
    assert_non_null (err);
    assert_non_null (strstr (err, "the aggregator restarted"));
    char *json = s_rig_report (&r);
    assert_int_equal (s_json_uint (json, "imported"), d.imported);
    assert_int_equal (s_json_uint (json, "lines"), d.lines);
    free (err);
    free (json);
    s_fake_free (f);
    s_dump_free (&d);
    s_rig_close (&r);
}

static void
test_clean_import_from_stdin_gzip (void **state)
{
    (void) state;
    rig_t r;
    s_rig (&r, true);
    dump_t d;
    s_dump (&d, 800, false, 0, 0, 0);
    /* gzip it with zlib, and feed it on stdin */
    char gzpath [400];
    snprintf (gzpath, sizeof gzpath, "%s/dump.jsonl.gz", r.dir);
    gzFile gz = gzopen (gzpath, "wb");
    assert_non_null (gz);
    assert_int_equal (gzwrite (gz, d.text.data, (unsigned) d.text.size), (int) d.text.size);
    assert_int_equal (gzclose (gz), Z_OK);

    fake_t *f = s_fake_new ("job-2");
    const char *args [] = {
        "--data", r.dir, "--ingest", r.endpoint, "--job", "job-2", "--chunk-bytes", "4096",
        "--run", "piped", "--set", "model=m", "--json", "-", NULL
    };
    assert_int_equal (s_rig_run (&r, f, args, gzpath, NULL, 0), 0);
    assert_string_equal (f->src, "-");
    assert_string_equal (f->profile, "default,run=piped,set.model=m");
    assert_true (f->done);
    char *json = s_rig_report (&r);
    assert_int_equal (s_json_uint (json, "lines"), 800);
    assert_int_equal (s_json_uint (json, "imported"), d.imported);
    assert_int_equal (s_json_uint (json, "blank"), d.blank);
    assert_int_equal (s_json_uint (json, "rejected"), 0);
    assert_non_null (strstr (json, "\"rejects_file\":null"));
    char rejects [500];
    snprintf (rejects, sizeof rejects, "%s/rejects/job-2.tsv", r.dir);
    assert_int_equal (access (rejects, F_OK), -1);        /* no empty file left */
    /* not a terminal, not --quiet: plain progress lines may be on stderr,
     * and nothing else is there */
    char *err = s_read (r.err, NULL);
    for (char *line = err; line && *line; ) {
        char *nl = strchr (line, '\n');
        assert_true (strncmp (line, "progress: ", 10) == 0);
        line = nl ? nl + 1 : line + strlen (line);
    }
    free (err);
    free (json);
    s_fake_free (f);
    s_dump_free (&d);
    s_rig_close (&r);
}

static void
test_nack (void **state)
{
    (void) state;
    rig_t r;
    s_rig (&r, true);
    dump_t d;
    char input [400];
    s_rig_dump (&r, &d, input, 1500, true, 0, 0, 0);
    fake_t *f = s_fake_new ("job-3");
    f->nack = 3;
    const char *args [] = {
        "--data", r.dir, "--ingest", r.endpoint, "--job", "job-3", "--window", "4",
        "--chunk-bytes", "2048", "--json", "--quiet", input, NULL
    };
    assert_int_equal (s_rig_run (&r, f, args, NULL, NULL, 2), 2);
    assert_false (f->done);                             /* an incomplete job */
    assert_true (f->nchunks < 20);                      /* it stopped sending */
    char *err = s_read (r.err, NULL);
    assert_non_null (strstr (err, "no space left on device: /fake/shards/shard-003.kct"));
    char *json = s_rig_report (&r);
    /* the report counts what was acknowledged, and only that */
    assert_int_equal (s_json_uint (json, "lines"), f->acked_lines);
    assert_true (s_json_uint (json, "lines") < d.lines);
    free (err);
    free (json);
    s_fake_free (f);
    s_dump_free (&d);
    s_rig_close (&r);
}

/*  The workers cannot read the file (another machine's file system): the
 *  first refusal makes the producer send the lines themselves, that chunk
 *  again and every chunk after it, read back from the file, and the import
 *  completes exactly. With `changed`, the file changed before that: the
 *  lines it holds now are not the ones cut, so the import ends, saying why. */
static void
s_refs_refused (bool changed)
{
    rig_t r;
    s_rig (&r, true);
    dump_t d;
    char input [400];
    s_rig_dump (&r, &d, input, 1500, !changed, 0, 0, 0);
    fake_t *f = s_fake_new ("job-r");
    f->refuse_refs = true;
    f->change_file = changed;
    const char *args [] = {
        "--data", r.dir, "--ingest", r.endpoint, "--job", "job-r", "--window", "4",
        "--chunk-bytes", "2048", "--json", "--quiet", input, NULL
    };
    int want = changed ? 2 : 1;
    assert_int_equal (s_rig_run (&r, f, args, NULL, NULL, want), want);
    char *err = s_read (r.err, NULL);
    char *json = s_rig_report (&r);
    if (changed) {
        if (!strstr (err, "cannot read chunk 0 (lines 1-") || !strstr (err, "changed during the import"))
            fail_msg ("stderr: %s", err);
    }
    else {
        assert_true (f->refused >= 1 && f->refused <= 4);     /* at most a window of them */
        assert_true (f->header_ok);
        ts_buf_t all = { 0 };
        for (uint64_t c = 0; c < f->nchunks; c++) {
            assert_true (f->payload [c].size > 0);            /* read back: none lost */
            ts_buf_append (&all, f->payload [c].data, f->payload [c].size);
        }
        assert_int_equal (all.size, d.kept.size);
        assert_memory_equal (all.data, d.kept.data, all.size);
        ts_buf_free (&all);
        assert_non_null (strstr (err, "fake: cannot read the file here; sending the lines themselves"));
        assert_int_equal (s_json_uint (json, "lines"), d.lines);
        assert_int_equal (s_json_uint (json, "imported"), d.imported);
        assert_int_equal (s_json_uint (json, "rejected"), d.rejected);
    }
    free (err);
    free (json);
    s_fake_free (f);
    s_dump_free (&d);
    s_rig_close (&r);
}

static void
test_refs_refused (void **state)
{
    (void) state;
    s_refs_refused (false);
}

static void
test_refs_refused_file_changed (void **state)
{
    (void) state;
    s_refs_refused (true);
}

static void
test_no_aggregator (void **state)
{
    (void) state;
    rig_t r;
    s_rig (&r, false);                                  /* nobody binds */
    dump_t d;
    char input [400];
    s_rig_dump (&r, &d, input, 100, false, 0, 0, 0);
    const char *args [] = {
        "--data", r.dir, "--ingest", r.endpoint, "--timeout", "1", "--json", input, NULL
    };
    int64_t t0 = ts_mono_ms ();
    pid_t pid = s_spawn (args, NULL, r.out, r.err);
    int status;
    assert_int_equal (waitpid (pid, &status, 0), pid);
    assert_true (WIFEXITED (status));
    if (WEXITSTATUS (status) != 2)
        s_show (&r);
    assert_int_equal (WEXITSTATUS (status), 2);
    assert_true (ts_mono_ms () - t0 < 10000);
    char *err = s_read (r.err, NULL);
    assert_non_null (strstr (err, "no acknowledgement"));
    assert_non_null (strstr (err, r.endpoint));
    char *json = s_rig_report (&r);
    assert_int_equal (s_json_uint (json, "lines"), 0);
    free (err);
    free (json);
    s_dump_free (&d);
    s_rig_close (&r);
}

static void
s_term (pid_t pid)
{
    kill (pid, SIGTERM);
}

static void
test_sigterm (void **state)
{
    (void) state;
    rig_t r;
    s_rig (&r, true);
    dump_t d;
    char input [400];
    s_rig_dump (&r, &d, input, 1500, false, 0, 0, 0);
    fake_t *f = s_fake_new ("job-5");
    f->silent = true;
    const char *args [] = {
        "--data", r.dir, "--ingest", r.endpoint, "--job", "job-5", "--chunk-bytes", "2048",
        "--json", "--quiet", input, NULL
    };
    assert_int_equal (s_rig_run (&r, f, args, NULL, s_term, 2), 2);
    char *json = s_rig_report (&r);                     /* the partial report */
    assert_int_equal (s_json_uint (json, "lines"), 0);
    char *err = s_read (r.err, NULL);
    assert_non_null (strstr (err, "interrupted"));
    free (err);
    free (json);
    s_fake_free (f);
    s_dump_free (&d);
    s_rig_close (&r);
}

/*  --strict goes into the profile; the acks' field warnings add up in the
 *  report, each kind with its first line. */
static void
test_warnings_and_strict (void **state)
{
    (void) state;
    rig_t r;
    s_rig (&r, true);
    dump_t d;
    char input [400];
    s_rig_dump (&r, &d, input, 300, false, 0, 0, 0);
    fake_t *f = s_fake_new ("job-w");
    f->warn = true;
    const char *args [] = {
        "--data", r.dir, "--ingest", r.endpoint, "--job", "job-w", "--chunk-bytes", "4096",
        "--strict", "--json", "--quiet", input, NULL
    };
    assert_int_equal (s_rig_run (&r, f, args, NULL, NULL, 0), 0);
    assert_string_equal (f->profile, "default,strict=1,run=dump");
    char *json = s_rig_report (&r);
    assert_int_equal (s_json_uint (json, "warned"), 300);
    assert_non_null (strstr (json, "\"warnings\":{\"reward\":{\"/reward: expected a number, "
                                   "got string\":{\"count\":300,\"first_line\":1}}}"));
    free (json);
    s_fake_free (f);
    s_dump_free (&d);
    s_rig_close (&r);
}

static void
test_bad_usage (void **state)
{
    (void) state;
    rig_t r;
    s_rig (&r, false);
    char missing [400];
    snprintf (missing, sizeof missing, "%s/missing.jsonl", r.dir);
    const char *cases [][8] = {
        { "--data", r.dir, missing, NULL },
        { "--data", r.dir, "--window", "zero", missing, NULL },
        { "--data", r.dir, "--job", "../etc", missing, NULL },
        { "--data", r.dir, NULL },
        { "--data", r.dir, "--no-such-option", missing, NULL },
        { "--data", r.dir, "--profile", "bogus", missing, NULL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        pid_t pid = s_spawn (cases [i], NULL, r.out, r.err);
        int status;
        assert_int_equal (waitpid (pid, &status, 0), pid);
        assert_true (WIFEXITED (status));
        assert_int_equal (WEXITSTATUS (status), 2);
        char *err = s_read (r.err, NULL);
        assert_true (strlen (err) > 0);
        if (i == 0)
            assert_non_null (strstr (err, missing));   /* names the file */
        if (i == 5)
            assert_non_null (strstr (err, "unknown profile 'bogus'"));
        free (err);
    }
    s_rig_close (&r);
}

/* --- main --------------------------------------------------------------------------- */

static int
s_setup (void **state)
{
    (void) state;
    const char *tmp = getenv ("TMPDIR");
    snprintf (s_root, sizeof s_root, "%s/tsprod.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    return mkdtemp (s_root) ? 0 : -1;
}

static int
s_teardown (void **state)
{
    (void) state;
    tu_rmtree (s_root);
    return 0;
}

int
main (int argc, char *argv [])
{
    s_producer = argc > 1 ? argv [1] : getenv ("TS_PRODUCER_BIN");
    if (!s_producer || access (s_producer, X_OK) != 0) {
        fprintf (stderr, "usage: test_producer_fake PATH-OF-trajstore-producer\n");
        return 2;
    }
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_import_with_rejects),
        cmocka_unit_test (test_aggregator_restart),
        cmocka_unit_test (test_clean_import_from_stdin_gzip),
        cmocka_unit_test (test_nack),
        cmocka_unit_test (test_refs_refused),
        cmocka_unit_test (test_refs_refused_file_changed),
        cmocka_unit_test (test_no_aggregator),
        cmocka_unit_test (test_sigterm),
        cmocka_unit_test (test_warnings_and_strict),
        cmocka_unit_test (test_bad_usage),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
