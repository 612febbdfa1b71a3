/*  ts_error.h: trajstore's one error space.
 *
 *  Every action in shared/ returns 0 on success or a negative code: one of
 *  the TS_E* below, or -errno for a failed system call. ts_strerror turns
 *  either kind into text, ts_errname into a stable name for the wire.
 *  "Not found" is its own code (TS_ENOTFOUND), not a failure.
 */
#ifndef TS_ERROR_H
#define TS_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

enum {
    TS_OK          = 0,
    TS_EBASE       = -10000,
    TS_ENOTFOUND   = -10001,  /* no such record, key or object */
    TS_EBADLINE    = -10002,  /* an input line is not an acceptable record */
    TS_EBADREQ     = -10003,  /* a request is malformed or has bad fields */
    TS_ESTORE      = -10004,  /* the storage engine failed (see its message) */
    TS_ELOCKED     = -10005,  /* a shard file is held by another process */
    TS_ECORRUPT    = -10006,  /* stored bytes do not decode */
    TS_ENOMEM      = -10007,  /* allocation failed */
    TS_ETOOBIG     = -10008,  /* a line, frame or value exceeds its limit */
    TS_EPROTO      = -10009,  /* a message breaks the wire protocol */
    TS_ETIMEOUT    = -10010,  /* no answer in time */
    TS_EVERSION    = -10011,  /* unsupported protocol or format version */
    TS_EBUSY       = -10012,  /* the object is busy (shard moving, queue full) */
    TS_EINVAL      = -10013,  /* a bad argument or option value */
    TS_ENOSPC      = -10014,  /* the disk is full */
    TS_EINCONSISTENT = -10015, /* the consistency checker found a problem */
    TS_ENOINPUT    = -10016,  /* a chunk's lines cannot be read from its file here */
    TS_EUNKNOWNOP  = -10017,  /* a request names an operation there is none of */
    TS_EUNAVAILABLE = -10018, /* not now: statistics rebuilding, shards moving */
    TS_ENOTOWNER   = -10019   /* a read reached a worker that does not hold the shard */
};

/*  Text for a code from TS_E* or -errno. Never NULL; static storage. */
const char *ts_strerror (int code);

/*  Stable upper-case name ("NOT_FOUND", "BAD_REQUEST", "ERRNO") for replies. */
const char *ts_errname (int code);

#ifdef __cplusplus
}
#endif
#endif
