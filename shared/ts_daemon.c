/*  ts_daemon.c: signal set-up of the long-running processes (ts_daemon.h). */
#include "ts_daemon.h"

#include <czmq.h>
#include <signal.h>
#include <string.h>

static volatile bool *s_stop;

static void
s_on_signal (int sig)
{
    (void) sig;
    if (s_stop)
        *s_stop = true;
}

void
ts_daemon_signals (volatile bool *stop)
{
    s_stop = stop;
    zsys_handler_set (NULL);
    struct sigaction sa;
    memset (&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigemptyset (&sa.sa_mask);
    sigaction (SIGINT, &sa, NULL);
    sigaction (SIGTERM, &sa, NULL);
    signal (SIGPIPE, SIG_IGN);
}
