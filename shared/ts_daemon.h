/*  ts_daemon.h: what every long-running trajstore process does at start. */
#ifndef TS_DAEMON_H
#define TS_DAEMON_H

#include <stdbool.h>

/*  SIGINT and SIGTERM set *stop (the process finishes what it holds and
 *  leaves), SIGPIPE is ignored, and czmq is kept from installing handlers
 *  of its own. Call before creating any socket. */
void ts_daemon_signals (volatile bool *stop);

#endif
