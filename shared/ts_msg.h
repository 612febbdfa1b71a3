/*  ts_msg.h: building and reading protocol headers (ts_proto.h).
 *
 *  A header is a msgpack map with string keys. Writers use ts_hdr_t, a
 *  packer over a growing buffer. Readers use ts_hdr_find, which looks a
 *  key up among the map's top-level keys (headers are small), and the
 *  typed getters, which return a default when the key is absent or of
 *  another type, so a malformed header degrades into a clear error at the
 *  caller rather than a crash.
 */
#ifndef TS_MSG_H
#define TS_MSG_H

#include "ts_mp.h"
#include "ts_proto.h"
#include "ts_record.h"
#include <czmq.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    ts_buf_t        buf;
    msgpack_packer  pk;
    uint32_t        declared;   /* pairs ts_hdr_begin announced */
    uint32_t        written;    /* pairs added since */
} ts_hdr_t;

/*  Starts a header of type `type` with `nfields` more key/value pairs to
 *  come (each ts_hdr_* call below adds one pair). The count is checked:
 *  ts_hdr_send and ts_hdr_msg refuse a header whose pairs do not match
 *  it (a msgpack map with a wrong count misreads everything after it). */
void ts_hdr_begin (ts_hdr_t *h, ts_msg_t type, uint32_t nfields);
/*  True when the header holds as many pairs as ts_hdr_begin announced. */
bool ts_hdr_is_complete (const ts_hdr_t *h);
/*  Appends `npairs` key/value pairs already packed (`len` bytes). */
void ts_hdr_pairs (ts_hdr_t *h, const void *pairs, size_t len, uint32_t npairs);
void ts_hdr_str (ts_hdr_t *h, const char *key, const char *value);
void ts_hdr_strn (ts_hdr_t *h, const char *key, const char *value, size_t len);
void ts_hdr_int (ts_hdr_t *h, const char *key, int64_t value);
void ts_hdr_uint (ts_hdr_t *h, const char *key, uint64_t value);
void ts_hdr_bool (ts_hdr_t *h, const char *key, bool value);
void ts_hdr_double (ts_hdr_t *h, const char *key, double value);
/*  Adds the key; the caller then packs the value with h->pk. */
void ts_hdr_key (ts_hdr_t *h, const char *key);
void ts_hdr_free (ts_hdr_t *h);

/*  Builds a message of the header (copied) and an optional payload
 *  (copied; NULL for none). Returns a new zmsg_t the caller owns, or NULL
 *  for an incomplete header. */
zmsg_t *ts_hdr_msg (ts_hdr_t *h, const void *payload, size_t payload_len);

/*  Sends header + payload on `sock` (after the identity frame `to`, when
 *  not NULL: for ROUTER sockets). Frees nothing of the caller's; the
 *  header stays reusable. Returns 0 or -1. */
int ts_hdr_send (ts_hdr_t *h, void *sock, zframe_t *to, const void *payload, size_t payload_len);

/*  A received header. */
typedef struct {
    const char *data;
    size_t      len;
    uint32_t    nfields;
    ts_msg_t    msg;       /* the type; TS_MSG_UNKNOWN for a name not known */
    const char *type;      /* "t", NUL-terminated copy in type_buf */
    char        type_buf [24];
    int64_t     version;
} ts_hdrin_t;

/*  Decodes the header frame: a map with "v" == TS_PROTO_VERSION and a
 *  string "t". Returns 0, TS_EPROTO (not a map, no type) or TS_EVERSION. */
int ts_hdr_parse (ts_hdrin_t *in, const void *data, size_t len);

/*  A DEALER connected to `endpoint` with no high-water marks and no
 *  linger (the api's and the workers' sockets to each other). NULL when
 *  it cannot be made or connected. */
zsock_t *ts_dealer_new (const char *endpoint);

/*  One message received: the sender's routing id (ROUTER sockets), the
 *  header frame and its decoding, and the frames after it. */
typedef struct {
    zframe_t  *from;       /* NULL on a DEALER socket, or none came */
    zframe_t  *head;       /* the header frame, which `in` borrows */
    zmsg_t    *rest;       /* the frames after it (payloads) */
    ts_hdrin_t in;
    int        rc;         /* ts_hdr_parse's answer; TS_EPROTO: no header */
} ts_recv_t;

/*  Receives one message from `sock` (a ROUTER when `router`: the routing
 *  id comes first) and decodes its header. Returns false when nothing was
 *  received. Whatever comes back is freed by ts_recv_free; a caller that
 *  keeps a frame takes it (sets the field to NULL, or pops it off rest). */
bool ts_recv (ts_recv_t *rv, void *sock, bool router);
void ts_recv_free (ts_recv_t *rv);

/*  Finds `key`; on success the reader is positioned at the value. */
bool ts_hdr_find (const ts_hdrin_t *in, const char *key, ts_mp_reader_t *value);

int64_t  ts_hdr_get_int (const ts_hdrin_t *in, const char *key, int64_t dflt);
uint64_t ts_hdr_get_uint (const ts_hdrin_t *in, const char *key, uint64_t dflt);
double   ts_hdr_get_double (const ts_hdrin_t *in, const char *key, double dflt);
bool     ts_hdr_get_bool (const ts_hdrin_t *in, const char *key, bool dflt);
/*  A string value, borrowed from the header; NULL when absent. */
const char *ts_hdr_get_str (const ts_hdrin_t *in, const char *key, uint32_t *len);
/*  Copies a string value into buf (NUL-terminated, truncated); returns
 *  false when absent or not a string. */
bool ts_hdr_copy_str (const ts_hdrin_t *in, const char *key, char *buf, size_t size);

/*  Large payloads sent without a copy. ZeroMQ keeps a reference to the
 *  bytes of a zero-copy frame until its I/O thread has written them, which
 *  may be after the sender is done with them (a resent chunk acknowledged
 *  while its second copy still waits in a pipe). A ts_zref_t counts every
 *  holder of one malloc'd block, ZeroMQ's frames included (atomically: they
 *  let go from the I/O thread); whoever lets go last frees it. */
typedef struct ts_zref ts_zref_t;
struct ts_zref {
    char   *data;
    size_t  size;
    unsigned _Atomic refs;
};

/*  Takes `data` (from malloc) with one reference, the caller's. NULL when
 *  out of memory (data is then still the caller's). */
ts_zref_t *ts_zref_new (char *data, size_t size);
/*  One more holder; returns z. */
ts_zref_t *ts_zref_ref (ts_zref_t *z);
/*  Lets go of a reference, freeing the block if it was the last; nulls *z. */
void ts_zref_unref (ts_zref_t **z);
/*  Lets go of a reference; if it was the last, returns the block, the
 *  caller's again (to reuse), else NULL (the last holder frees it). */
char *ts_zref_reclaim (ts_zref_t **z);
/*  Sends the whole block as one frame without copying it (flags as for
 *  zmq_send: ZMQ_SNDMORE, ZMQ_DONTWAIT). Returns 0, or -1 (errno from
 *  ZeroMQ) with nothing sent. */
int ts_zref_send (ts_zref_t *z, void *sock, int flags);

/*  The map key of a chunk of a job: the job id, a NUL, the chunk number's
 *  8 bytes. `key` holds at least strlen (job) + 9 bytes. Returns its length. */
size_t ts_chunk_key (char *key, const char *job, uint64_t chunk);

#ifdef __cplusplus
}
#endif
#endif
