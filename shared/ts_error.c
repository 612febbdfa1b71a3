/*  ts_error.c: text and names for trajstore's error codes (ts_error.h). */
#include "ts_error.h"
#include <errno.h>
#include <string.h>

const char *
ts_strerror (int code)
{
    switch (code) {
    case TS_OK:           return "success";
    case TS_ENOTFOUND:    return "not found";
    case TS_EBADLINE:     return "bad input line";
    case TS_EBADREQ:      return "bad request";
    case TS_ESTORE:       return "storage engine error";
    case TS_ELOCKED:      return "shard file is locked by another process";
    case TS_ECORRUPT:     return "stored data does not decode";
    case TS_ENOMEM:       return "out of memory";
    case TS_ETOOBIG:      return "too large";
    case TS_EPROTO:       return "protocol error";
    case TS_ETIMEOUT:     return "timed out";
    case TS_EVERSION:     return "unsupported version";
    case TS_EBUSY:        return "busy";
    case TS_EINVAL:       return "invalid argument";
    case TS_ENOSPC:       return "no space left on device";
    case TS_EINCONSISTENT: return "inconsistent store";
    case TS_ENOINPUT:     return "the input file cannot be read here";
    case TS_EUNKNOWNOP:   return "unknown operation";
    case TS_EUNAVAILABLE: return "unavailable for now";
    case TS_ENOTOWNER:    return "the shard is not held here";
    default:
        if (code < 0 && code > TS_EBASE)
            return strerror (-code);
        return "unknown error";
    }
}

const char *
ts_errname (int code)
{
    switch (code) {
    case TS_OK:           return "OK";
    case TS_ENOTFOUND:    return "NOT_FOUND";
    case TS_EBADLINE:     return "BAD_LINE";
    case TS_EBADREQ:      return "BAD_REQUEST";
    case TS_ESTORE:       return "STORE";
    case TS_ELOCKED:      return "LOCKED";
    case TS_ECORRUPT:     return "CORRUPT";
    case TS_ENOMEM:       return "NO_MEMORY";
    case TS_ETOOBIG:      return "TOO_BIG";
    case TS_EPROTO:       return "PROTOCOL";
    case TS_ETIMEOUT:     return "TIMEOUT";
    case TS_EVERSION:     return "VERSION";
    case TS_EBUSY:        return "BUSY";
    case TS_EINVAL:       return "INVALID";
    case TS_ENOSPC:       return "NO_SPACE";
    case TS_EINCONSISTENT: return "INCONSISTENT";
    case TS_ENOINPUT:     return "NO_INPUT";
    case TS_EUNKNOWNOP:   return "UNKNOWN_OP";
    case TS_EUNAVAILABLE: return "UNAVAILABLE";
    case TS_ENOTOWNER:    return "NOT_OWNER";
    case -ENOSPC:         return "NO_SPACE";
    case -EDQUOT:         return "NO_SPACE";
    case -EACCES:         return "PERMISSION_DENIED";
    case -EPERM:          return "PERMISSION_DENIED";
    case -EROFS:          return "READ_ONLY";
    case -ENOENT:         return "NOT_FOUND";
    default:              return code < 0 && code > TS_EBASE ? "ERRNO" : "UNKNOWN";
    }
}
